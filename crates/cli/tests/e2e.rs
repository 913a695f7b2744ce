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

/// `run` with the shipped plugins plus marks: one boot does the guest work (checked offline,
/// in order), cloud-init leaves no instance state, IMA is applied last (the file the boot
/// created is labelled), and the result passes boot-check.
#[test]
fn run_with_plugins_boots_once_and_labels_last() {
    let base = fixture("ubuntu");
    let _boot = BOOT_LOCK.lock().unwrap_or_else(|p| p.into_inner());
    let dir = work_dir().join("run-ok");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let plugins = dir.join("plugins");
    std::fs::create_dir_all(&plugins).unwrap();
    // A subset of the shipped plugins (each boot-time initramfs rebuild costs minutes under
    // TCG; 60-initrd-update would add a second one), plus the marks.
    for name in [
        "02-motd-welcome",
        "07-device-permission",
        "08-ccnp-uds-directory-permission",
        "97-sample",
        "98-ima-enable-simple",
    ] {
        copy_tree(&repo_root().join("plugins").join(name), &plugins.join(name));
    }
    marks_plugin(&plugins);
    let out = dir.join("out.qcow2");
    let (code, json, err) = run(Command::new(bin())
        .args(["run", "--json", "--accel", "auto", "--timeout", "20m", "-i"])
        .arg(&base)
        .arg("-o")
        .arg(&out)
        .arg("--plugins")
        .arg(&plugins)
        .arg("--keep-logs")
        .arg(dir.join("logs")));
    assert_eq!(code, 0, "run failed:\n{err}");
    assert!(err.contains("20-marks") && err.contains("97-sample") && err.contains("NOT_RUN"), "listing: {err}");
    let report: Value = serde_json::from_str(&json).unwrap();
    assert!(report["datasource"].as_str().unwrap().contains("NoCloud"), "{report:#}");
    assert_eq!(report["ima"]["mismatches"], 0);

    let scratch = dir.join("scratch");
    std::fs::create_dir_all(&scratch).unwrap();
    assert_eq!(guest_read(&out, &scratch, "cat /var/lib/cvm-marks"), "first\nsecond\nruncmd\n");
    assert!(!guest_read(&out, &scratch, "cat /etc/motd").is_empty(), "02-motd-welcome");
    assert!(guest_read(&out, &scratch, "ls /etc/udev/rules.d").contains("tdx"), "07-device-permission");
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
