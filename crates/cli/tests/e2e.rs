//! End to end: a real Debian bookworm guest (tests/fixtures/build-debian-guest.sh), IMA enabled
//! offline by `ima enable`, booted under QEMU by `boot-check`; the guest kernel is the judge.
//!
//! Needs root (mmdebstrap), qemu-system-x86 and ovmf (scripts/setup.sh --tests). Boots run one
//! at a time (two cores, TCG): each test holds `BOOT_LOCK`. Expect about 2-3 minutes per boot.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};

static BOOT_LOCK: Mutex<()> = Mutex::new(());

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_cvm-image-rewriter")
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

fn work_dir() -> PathBuf {
    let d = repo_root().join("target/e2e");
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Builds (or takes from the script's cache) the Debian guest in the given layout.
fn fixture(layout: &str) -> PathBuf {
    static BUILT: OnceLock<Mutex<Vec<String>>> = OnceLock::new();
    let built = BUILT.get_or_init(|| Mutex::new(Vec::new()));
    let mut built = built.lock().unwrap_or_else(|p| p.into_inner());
    let out = work_dir().join(format!("debian-{layout}.qcow2"));
    if !built.contains(&layout.to_string()) {
        let script = repo_root().join("tests/fixtures/build-debian-guest.sh");
        let o = Command::new(&script).args(["--layout", layout]).arg(&out).output().expect("run build-debian-guest.sh");
        assert!(
            o.status.success(),
            "building the {layout} fixture failed (needs root and scripts/setup.sh --tests):\n{}",
            String::from_utf8_lossy(&o.stderr)
        );
        built.push(layout.to_string());
    }
    out
}

fn run(cmd: &mut Command) -> (i32, String, String) {
    let o = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn enable(input: &Path, output: &Path, hash: &str) -> Value {
    let _ = std::fs::remove_file(output);
    let (code, out, err) = run(Command::new(bin())
        .args(["ima", "enable", "-q", "--json", "--hash", hash, "-i"])
        .arg(input)
        .arg("-o")
        .arg(output));
    assert_eq!(code, 0, "ima enable failed: {err}");
    serde_json::from_str(&out).unwrap()
}

fn boot_check(image: &Path, logs: &Path) -> (i32, Value, String) {
    let (code, out, err) = run(Command::new(bin())
        .args(["boot-check", "--accel", "auto", "--timeout", "15m", "--json", "--keep-logs"])
        .arg(logs)
        .arg(image));
    let report: Value =
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("boot-check printed no JSON ({e}); stderr:\n{err}"));
    (code, report, err)
}

fn check_named(report: &Value, name: &str) -> bool {
    report["checks"].as_array().unwrap().iter().any(|c| c["name"] == name && c["ok"] == true)
}

/// The whole promise: labelled offline, the guest boots in enforce mode with the custom policy,
/// nothing is denied, and tampered files are refused.
fn enforce_boots_clean(layout: &str, hash: &str) {
    let base = fixture(layout);
    let _boot = BOOT_LOCK.lock().unwrap_or_else(|p| p.into_inner());
    let out = work_dir().join(format!("ima-{layout}-{hash}.qcow2"));
    let report = enable(&base, &out, hash);
    assert!(report["labels"]["files_total"].as_u64().unwrap() > 5000, "{report}");
    assert_eq!(report["verify"]["mismatches"].as_array().unwrap().len(), 0);
    let logs = work_dir().join(format!("logs-{layout}-{hash}"));
    let (code, bc, err) = boot_check(&out, &logs);
    assert_eq!(code, 0, "boot-check failed:\n{err}\n{bc:#}");
    assert_eq!(bc["passed"], true);
    assert_eq!(bc["reached_final_stage"], true);
    assert_eq!(bc["ima_appraise"], "enforce");
    assert_eq!(bc["policy_loaded"], true);
    assert_eq!(bc["denials"].as_array().unwrap().len(), 0, "{bc:#}");
    let cmdline = bc["cmdline"].as_str().unwrap();
    assert!(cmdline.contains("ima_appraise=enforce") && cmdline.contains(&format!("ima_hash={hash}")), "{cmdline}");
    assert!(check_named(&bc, "tamper_probe"), "{bc:#}");
    for probe in ["exec_tampered", "data_tampered"] {
        assert!(bc["probe"][probe].as_str().unwrap().contains("Permission denied"), "{bc:#}");
    }
    let _ = std::fs::remove_file(&out);
}

#[test]
fn ubuntu_layout_sha256_boots_in_enforce_mode() {
    enforce_boots_clean("ubuntu", "sha256");
}

#[test]
fn debian_layout_sha256_boots_in_enforce_mode() {
    enforce_boots_clean("debian", "sha256");
}

#[test]
fn ubuntu_layout_sha384_boots_in_enforce_mode() {
    enforce_boots_clean("ubuntu", "sha384");
}

#[test]
fn debian_layout_sha384_boots_in_enforce_mode() {
    enforce_boots_clean("debian", "sha384");
}

/// The check can fail: one binary that boot executes (systemd-sysctl, run by
/// systemd-sysctl.service) gets a wrong label after `ima enable`, written with debugfs; the
/// guest kernel must deny it and boot-check must say so and exit 1.
#[test]
fn a_wrong_label_on_a_file_boot_executes_is_reported() {
    let base = fixture("ubuntu");
    let _boot = BOOT_LOCK.lock().unwrap_or_else(|p| p.into_inner());
    let dir = work_dir();
    let labelled = dir.join("neg.qcow2");
    enable(&base, &labelled, "sha256");
    let raw = dir.join("neg.raw");
    let (code, _, err) = run(Command::new("qemu-img").args(["convert", "-O", "raw"]).arg(&labelled).arg(&raw));
    assert_eq!(code, 0, "{err}");
    let (_, table, _) = run(Command::new("sgdisk").arg("-i").arg("1").arg(&raw));
    let first: u64 = table
        .lines()
        .find_map(|l| l.strip_prefix("First sector: "))
        .and_then(|l| l.split_whitespace().next())
        .unwrap()
        .parse()
        .unwrap();
    let target = "/usr/lib/systemd/systemd-sysctl";
    let bad = dir.join("bad-label");
    let mut value = vec![0x04u8, 0x04];
    value.extend([0x41u8; 32]);
    std::fs::write(&bad, &value).unwrap();
    let spec = format!("{}?offset={}", raw.display(), first * 512);
    let (code, _, err) = run(Command::new("debugfs")
        .arg("-w")
        .arg("-R")
        .arg(format!("ea_set -f {} {target} security.ima", bad.display()))
        .arg(&spec));
    assert!(code == 0 && !err.contains("rror"), "debugfs: {err}");
    let (_, got, _) = run(Command::new("debugfs").arg("-R").arg(format!("ea_get -x {target} security.ima")).arg(&spec));
    assert!(got.replace([' ', '\n'], "").contains(&"41".repeat(32)), "label not changed: {got}");

    let (code, bc, err) = boot_check(&raw, &dir.join("logs-neg"));
    assert_eq!(code, 1, "boot-check must fail:\n{err}\n{bc:#}");
    assert_eq!(bc["passed"], false);
    let denials = bc["denials"].as_array().unwrap();
    assert!(denials.iter().any(|d| d["path"] == target && d["cause"] == "invalid-hash"), "{bc:#}");
    assert!(err.contains(target), "the summary names the file: {err}");
    let _ = std::fs::remove_file(&raw);
    let _ = std::fs::remove_file(&labelled);
}

/// A plugin set on top of the shipped plugins: a cloud-config runcmd and two x-shellscripts
/// that leave marks in the guest, in an order cloud-init guarantees (scripts by name, then
/// runcmd).
fn marks_plugin(dir: &Path) {
    let p = dir.join("20-marks/cloud-init");
    std::fs::create_dir_all(p.join("cloud-config")).unwrap();
    std::fs::create_dir_all(p.join("x-shellscript")).unwrap();
    std::fs::write(
        p.join("cloud-config/20-marks.yaml"),
        "#cloud-config\nmerge_how:\n - name: list\n   settings: [append]\n - name: dict\n   settings: [no_replace, recurse_list]\nruncmd:\n - [sh, -c, \"echo runcmd >> /var/lib/cvm-marks\"]\n",
    )
    .unwrap();
    std::fs::write(p.join("x-shellscript/21-first.sh"), "#!/bin/sh\nset -eu\necho first >> /var/lib/cvm-marks\n")
        .unwrap();
    std::fs::write(p.join("x-shellscript/22-second.sh"), "#!/bin/sh\nset -eu\necho second >> /var/lib/cvm-marks\n")
        .unwrap();
}

fn copy_tree(from: &Path, to: &Path) {
    let (code, _, err) = run(Command::new("cp").arg("-a").arg(from).arg(to));
    assert_eq!(code, 0, "cp: {err}");
}

/// A fresh folder `name` under target/e2e with a `plugins` folder holding copies of the
/// named shipped plugins; returns both.
fn plugin_set(name: &str, shipped: &[&str]) -> (PathBuf, PathBuf) {
    let dir = work_dir().join(name);
    let _ = std::fs::remove_dir_all(&dir);
    let plugins = dir.join("plugins");
    std::fs::create_dir_all(&plugins).unwrap();
    for p in shipped {
        copy_tree(&repo_root().join("plugins").join(p), &plugins.join(p));
    }
    (dir, plugins)
}

/// `run` on `base` with `plugins` into `dir/out.qcow2` (console logs in `dir/logs`); returns
/// the output path and the JSON report, after asserting success.
fn run_pipeline(
    base: &Path,
    dir: &Path,
    plugins: &Path,
    extra: &[&str],
    env: &[(&str, &str)],
) -> (PathBuf, Value, String) {
    let out = dir.join("out.qcow2");
    let (code, json, err) = run(Command::new(bin())
        .args(["run", "--json", "--accel", "auto", "--timeout", "30m"])
        .args(extra)
        .envs(env.iter().copied())
        .arg("-i")
        .arg(base)
        .arg("-o")
        .arg(&out)
        .arg("--plugins")
        .arg(plugins)
        .arg("--keep-logs")
        .arg(dir.join("logs")));
    assert_eq!(code, 0, "run failed:\n{err}");
    (out, serde_json::from_str(&json).unwrap(), err)
}

/// Reads one file of the root filesystem of `image` with debugfs (qcow2 converted to raw).
fn guest_read(image: &Path, scratch: &Path, request: &str) -> String {
    let raw = scratch.join("view.raw");
    let (code, _, err) = run(Command::new("qemu-img").args(["convert", "-O", "raw"]).arg(image).arg(&raw));
    assert_eq!(code, 0, "{err}");
    let (_, out, _) =
        run(Command::new("debugfs").arg("-R").arg(request).arg(format!("{}?offset=68157440", raw.display())));
    let _ = std::fs::remove_file(&raw);
    out
}

/// The issue's "done when": `run --plugins plugins/` with every shipped plugin (GUEST_SIZE,
/// CVM_USER and CVM_AUTH_KEY set) plus marks. One boot does the guest work, each plugin's
/// effect is read back offline (marks in cloud-init's order), cloud-init leaves no instance
/// state, IMA is applied last (the file the boot created is labelled), and the result passes
/// boot-check.
#[test]
fn run_with_the_shipped_plugins_boots_once_and_labels_last() {
    let base = fixture("ubuntu");
    let _boot = BOOT_LOCK.lock().unwrap_or_else(|p| p.into_inner());
    let (dir, plugins) = plugin_set("run-ok", &[]);
    std::fs::remove_dir(&plugins).unwrap();
    copy_tree(&repo_root().join("plugins"), &plugins);
    marks_plugin(&plugins);
    let key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAm8W1cVfQxYlJ+3Q0r0eJk8n4m7y0yG2y1G9vZb6Qm2 e2e@cvm";
    let env = [("GUEST_SIZE", "4G"), ("CVM_USER", "cvmtest"), ("CVM_AUTH_KEY", key)];
    let (out, report, err) = run_pipeline(&base, &dir, &plugins, &[], &env);
    for name in ["01-resize-image", "60-initrd-update", "20-marks", "97-sample"] {
        assert!(err.contains(name), "listing names {name}: {err}");
    }
    assert!(err.contains("NOT_RUN"), "listing: {err}");
    assert!(report["datasource"].as_str().unwrap().contains("NoCloud"), "{report:#}");
    assert_eq!(report["ima"]["mismatches"], 0);
    assert_eq!(report["ima"]["method"], "offline");

    let scratch = dir.join("scratch");
    std::fs::create_dir_all(&scratch).unwrap();
    assert_eq!(guest_read(&out, &scratch, "cat /var/lib/cvm-marks"), "first\nsecond\nruncmd\n");
    // 01-resize-image: the disk, the partition and the ext4 grew in the boot.
    let (_, info, _) = run(Command::new("qemu-img").args(["info", "--output=json"]).arg(&out));
    let info: Value = serde_json::from_str(&info).unwrap();
    assert_eq!(info["virtual-size"], 4u64 << 30, "{info:#}");
    let stats = guest_read(&out, &scratch, "stats -h");
    let blocks: u64 = stats
        .lines()
        .find_map(|l| l.strip_prefix("Block count:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no block count in {stats}"));
    assert!(blocks * 4096 > (3u64 << 30), "the root filesystem grew: {blocks} blocks");
    assert!(guest_read(&out, &scratch, "cat /etc/motd").contains("confidential VM"), "02-motd-welcome");
    assert!(guest_read(&out, &scratch, "stat /etc/netplan/90-cvm-dhcp.yaml").contains("Mode:  0600"), "03-netplan");
    assert!(guest_read(&out, &scratch, "cat /etc/passwd").contains("cvmtest:"), "04-user-authkey");
    assert!(guest_read(&out, &scratch, "cat /home/cvmtest/.ssh/authorized_keys").contains(key), "04-user-authkey");
    assert!(guest_read(&out, &scratch, "stat /etc/readonly_file_demo").contains("Mode:  0444"), "05-readonly-data");
    assert!(guest_read(&out, &scratch, "ls /etc/udev/rules.d").contains("tdx"), "07-device-permission");
    assert!(guest_read(&out, &scratch, "cat /usr/lib/tmpfiles.d/ccnp.conf").contains("/run/ccnp/uds"), "08");
    assert!(initrd_contains(&out, &scratch, b"cvm-initrd-example"), "60-initrd-update: the file is in the initrd");
    let cloud = guest_read(&out, &scratch, "ls /var/lib/cloud");
    for gone in ["instances", "instance", "data", "sem", "seed"] {
        assert!(!cloud.split_whitespace().any(|n| n == gone), "/var/lib/cloud still has {gone}: {cloud}");
    }
    assert!(!guest_read(&out, &scratch, "ls /var/log").contains("cloud-init"), "cloud-init logs removed");
    let label = guest_read(&out, &scratch, "ea_get -x /var/lib/cvm-marks security.ima");
    let want = {
        use sha2::Digest;
        let d = sha2::Sha256::digest(b"first\nsecond\nruncmd\n");
        format!("0404{}", d.iter().map(|b| format!("{b:02x}")).collect::<String>())
    };
    assert!(label.replace([' ', '\n'], "").contains(&want), "the file the boot created is labelled: {label}");

    let (code, bc, err) = boot_check(&out, &dir.join("logs-check"));
    assert_eq!(code, 0, "boot-check of the run's output:\n{err}\n{bc:#}");
}

/// Whether the newest /boot/initrd.img-* holds `needle` in its gzip cpio: read with debugfs
/// and Python's zlib, not our code.
fn initrd_contains(image: &Path, scratch: &Path, needle: &[u8]) -> bool {
    let listing = guest_read(image, scratch, "ls -l /boot");
    let name = listing
        .split_whitespace()
        .filter(|w| w.starts_with("initrd.img-"))
        .max()
        .unwrap_or_else(|| panic!("no initrd in /boot: {listing}"))
        .to_string();
    let dumped = scratch.join("initrd");
    let _ = std::fs::remove_file(&dumped);
    guest_read(image, scratch, &format!("dump /boot/{name} {}", dumped.display()));
    // The gzip member after any uncompressed early cpio; trailing padding is ignored.
    let script = "import sys, zlib\nd = open(sys.argv[1], 'rb').read()\ni = d.find(b'\\x1f\\x8b\\x08')\nsys.stdout.write(str(sys.argv[2].encode() in zlib.decompressobj(31).decompress(d[i:])))";
    let (code, out, err) =
        run(Command::new("python3").args(["-c", script]).arg(&dumped).arg(std::str::from_utf8(needle).unwrap()));
    assert_eq!(code, 0, "{err}");
    out == "True"
}

/// A failing x-shellscript: `run` exits non-zero, shows the guest's own error line, and
/// writes no output.
#[test]
fn run_fails_with_the_guests_error_when_a_script_fails() {
    let base = fixture("ubuntu");
    let _boot = BOOT_LOCK.lock().unwrap_or_else(|p| p.into_inner());
    let dir = work_dir().join("run-fail");
    let _ = std::fs::remove_dir_all(&dir);
    let p = dir.join("plugins/30-fail/cloud-init/x-shellscript");
    std::fs::create_dir_all(&p).unwrap();
    std::fs::write(p.join("31-fail.sh"), "#!/bin/sh\necho 'cvm-test: deliberate failure' >&2\nexit 3\n").unwrap();
    let out = dir.join("out.qcow2");
    let (code, _, err) = run(Command::new(bin())
        .args(["run", "--accel", "auto", "--timeout", "20m", "-i"])
        .arg(&base)
        .arg("-o")
        .arg(&out)
        .arg("--plugins")
        .arg(dir.join("plugins")));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("31-fail.sh") && err.contains("deliberate failure"), "the guest's error is shown:\n{err}");
    assert!(!out.exists());
    let left: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert!(left.iter().all(|n| !n.to_string_lossy().contains("tmp")), "no temporary output left: {left:?}");
}

/// Mounts the root filesystem of `image` read-only (converted to raw in `scratch`) while `f`
/// runs; the host kernel reads the labels, not our code.
fn with_mounted_root<T>(image: &Path, scratch: &Path, name: &str, f: impl FnOnce(&Path) -> T) -> T {
    let raw = scratch.join(format!("{name}.raw"));
    let mnt = scratch.join(format!("{name}.mnt"));
    std::fs::create_dir_all(&mnt).unwrap();
    let (code, _, err) = run(Command::new("qemu-img").args(["convert", "-O", "raw"]).arg(image).arg(&raw));
    assert_eq!(code, 0, "{err}");
    let (code, _, err) =
        run(Command::new("mount").args(["-t", "ext4", "-o", "ro,noload,loop,offset=68157440"]).arg(&raw).arg(&mnt));
    assert_eq!(code, 0, "mount {}: {err}", raw.display());
    let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(&mnt)));
    let (code, _, err) = run(Command::new("umount").arg(&mnt));
    let _ = std::fs::remove_file(&raw);
    assert_eq!(code, 0, "umount: {err}");
    out.unwrap_or_else(|p| std::panic::resume_unwind(p))
}

/// Every regular file's `security.ima` (hex, or None) and content sha256, read by Python
/// through the host kernel.
fn labels_of(root: &Path) -> serde_json::Map<String, Value> {
    let script = r#"
import hashlib, json, os, sys
root = sys.argv[1]
out = {}
for d, dirs, files in os.walk(root):
    for name in files:
        p = os.path.join(d, name)
        if os.path.islink(p) or not os.path.isfile(p):
            continue
        try:
            label = os.getxattr(p, "security.ima", follow_symlinks=False).hex()
        except OSError:
            label = None
        with open(p, "rb") as f:
            digest = hashlib.sha256(f.read()).hexdigest()
        out[os.path.relpath(p, root)] = [label, digest]
json.dump(out, sys.stdout)
"#;
    let (code, out, err) = run(Command::new("python3").arg("-c").arg(script).arg(root));
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    v.as_object().unwrap().clone()
}

/// `run --ima-label boot`, the seed's method done right: the guest kernel labels in fix mode
/// during the cloud-init boot, one pass opens every file, the next boot is switched to
/// enforce. Every label equals the offline path's for each file the boot did not change, every
/// label matches its file's content, and the result boots clean in enforce mode.
#[test]
fn run_with_boot_labelling_gives_the_offline_labels() {
    let base = fixture("ubuntu");
    let _boot = BOOT_LOCK.lock().unwrap_or_else(|p| p.into_inner());
    let (dir, plugins) = plugin_set("run-boot-label", &["02-motd-welcome", "98-ima-enable-simple"]);
    let (out, report, _) = run_pipeline(&base, &dir, &plugins, &["--ima-label", "boot"], &[]);
    let ima = &report["ima"];
    assert_eq!(ima["method"], "boot", "{report:#}");
    assert_eq!(ima["files_labelled"], 0, "nothing labelled offline: {report:#}");
    assert!(ima["guest_pass"]["files_opened"].as_u64().unwrap() > 5000, "{report:#}");
    assert!(ima["files_checked"].as_u64().unwrap() > 5000, "{report:#}");
    assert!(ima["cmdline"].as_array().unwrap().iter().any(|p| p == "ima_appraise=enforce"), "{report:#}");
    let serial = std::fs::read_to_string(dir.join("logs/ttyS0.log")).unwrap();
    assert!(serial.contains("ima_appraise=fix"), "the labelling boot ran in fix mode");

    let offline = dir.join("offline.qcow2");
    enable(&base, &offline, "sha256");
    let scratch = dir.join("scratch");
    std::fs::create_dir_all(&scratch).unwrap();
    let booted = with_mounted_root(&out, &scratch, "boot", labels_of);
    let reference = with_mounted_root(&offline, &scratch, "offline", labels_of);
    let (mut same, mut differ, mut wrong) = (0, Vec::new(), Vec::new());
    for (path, b) in &booted {
        let (label, digest) = (b[0].as_str(), b[1].as_str().unwrap());
        // Whatever labelled it, a label must be the content's digest.
        if let Some(l) = label {
            if l != format!("0404{digest}") {
                wrong.push(path.clone());
            }
        }
        let Some(r) = reference.get(path) else { continue };
        if r[1] != b[1] || r[0].is_null() {
            continue; // changed by the boot or a plugin, or not appraised
        }
        if r[0] == b[0] {
            same += 1;
        } else {
            differ.push(format!("{path}: offline {} boot {:?}", r[0], label));
        }
    }
    assert!(wrong.is_empty(), "labels that do not match their content: {wrong:?}");
    assert!(
        differ.is_empty(),
        "{} unchanged files labelled differently, e.g. {:?}",
        differ.len(),
        &differ[..differ.len().min(10)]
    );
    assert!(same > 5000, "only {same} unchanged labelled files compared");

    let (code, bc, err) = boot_check(&out, &dir.join("logs-check"));
    assert_eq!(code, 0, "boot-check of the boot-labelled output:\n{err}\n{bc:#}");
    assert_eq!(bc["ima_appraise"], "enforce");
    let _ = std::fs::remove_file(&offline);
}
