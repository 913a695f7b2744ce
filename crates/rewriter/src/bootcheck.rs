//! `boot-check`: boot a throw-away overlay of an image and let the guest kernel judge it.
//!
//! Before the boot, offline, into the overlay's root filesystem: a NoCloud seed (in
//! `/var/lib/cloud/seed/nocloud/`, labelled, so even a policy that appraises every root read
//! lets cloud-init read it), a report script, and a tamper probe: two root-owned files (an
//! executable and a data file) labelled and then altered, next to untouched labelled twins.
//! cloud-init runs the script in its final stage; the script writes what it saw to the serial
//! console and to a file, then the guest powers off. We read the file offline from the overlay
//! (the serial log when the filesystem was not cleanly unmounted) and decide.

use crate::cloudinit::{unique_instance_id, Seed};
use crate::disk::DiskImage;
use crate::error::{Error, Result};
use crate::fs::GuestFs;
use crate::grub;
use crate::guest;
use crate::ima::label::{label_file, XATTR_NAME};
use crate::ima::HashAlgo;
use crate::partition;
use crate::qemu::{create_overlay, resolve_accel, Accel, BootResult, Outcome, QemuRun};
use ext2fs::OpenMode;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

const PROBE_DIR: &str = "/opt/cvm-boot-check";
const RESULT_FILE: &str = "/var/lib/cvm-boot-check/result";
const LINE_PREFIX: &str = "CVMBC: ";
const END_MARKER: &str = "CVMBC-END";

/// What to boot and how.
#[derive(Debug, Clone)]
pub struct BootCheckOptions {
    /// The image to check (never modified: the boot writes to an overlay).
    pub image: PathBuf,
    /// Accelerator (`auto` probes KVM first).
    pub accel: Accel,
    /// Overall boot deadline.
    pub timeout: Duration,
    /// Keep the overlay and console logs here (otherwise a temporary directory).
    pub keep_logs: Option<PathBuf>,
    /// Stream the consoles to stderr.
    pub stream: bool,
    /// Guest memory in MiB.
    pub memory_mib: u32,
    /// Virtual CPUs.
    pub cpus: u32,
}

/// One IMA appraisal failure the kernel logged.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Denial {
    /// The file (`name=` of the audit record).
    pub path: String,
    /// `cause=` (missing-hash, invalid-hash, ...).
    pub cause: String,
    /// The process (`comm=`).
    pub comm: String,
}

/// One check and whether it passed.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Check {
    /// Short name.
    pub name: String,
    /// Passed?
    pub ok: bool,
    /// What was seen.
    pub detail: String,
}

/// Everything `boot-check` found.
#[derive(Debug, Clone, serde::Serialize)]
pub struct BootCheckReport {
    /// The image checked.
    pub image: PathBuf,
    /// How the boot went.
    pub boot: BootResult,
    /// The report script ran (cloud-init reached its final stage).
    pub reached_final_stage: bool,
    /// Guest uptime in seconds when the report script ran.
    pub final_stage_seconds: Option<f64>,
    /// `/proc/cmdline`.
    pub cmdline: Option<String>,
    /// The effective `ima_appraise=` (last one on the command line; the kernel default is enforce).
    pub ima_appraise: Option<String>,
    /// Whether the custom policy was loaded (systemd's log line, or the policy file gone).
    pub policy_loaded: Option<bool>,
    /// Entries in the IMA measurement list.
    pub measurements: Option<i64>,
    /// Appraisal failures during boot, without the tamper probe's own.
    pub denials: Vec<Denial>,
    /// The tamper probe's results: `exec_tampered`, `exec_intact`, `data_tampered`, `data_intact`.
    pub probe: BTreeMap<String, String>,
    /// Each check.
    pub checks: Vec<Check>,
    /// Every check passed.
    pub passed: bool,
}

/// The script cloud-init runs. POSIX sh; every line of its output is also sent to ttyS0.
fn report_script() -> String {
    format!(
        r#"#!/bin/sh
# Written by cvm-image-rewriter boot-check. Reports what the guest kernel says, then exits.
out={RESULT_FILE}
mkdir -p "$(dirname "$out")"
probe() {{ # name command...: "ran" or "refused:<error>"
    name=$1; shift
    if err=$("$@" 2>&1 >/dev/null); then echo "$name=ran"; else echo "$name=refused:$(echo "$err" | tr '\n' ' ')"; fi
}}
{{
    echo "uptime=$(cut -d' ' -f1 /proc/uptime)"
    echo "cmdline=$(cat /proc/cmdline)"
    if [ -e /sys/kernel/security/ima/policy ]; then echo "policy_file=present"; else echo "policy_file=absent"; fi
    echo "policy_loaded_log=$(dmesg | grep -c 'Successfully loaded the IMA custom policy')"
    echo "policy_failed_log=$(dmesg | grep -c -e 'Failed to load the IMA custom policy' -e 'policy update failed')"
    echo "measurements=$(cat /sys/kernel/security/ima/runtime_measurements_count 2>/dev/null || echo -1)"
    probe exec_tampered {PROBE_DIR}/exec-tampered
    probe exec_intact {PROBE_DIR}/exec-intact
    probe data_tampered cat {PROBE_DIR}/data-tampered
    probe data_intact cat {PROBE_DIR}/data-intact
    dmesg | grep 'op=appraise_data' | sed 's/^/denial=/'
    echo "done=1"
}} > "$out" 2>&1
sync
sed 's/^/{LINE_PREFIX}/' "$out" > /dev/ttyS0
echo "{END_MARKER}" > /dev/ttyS0
"#
    )
}

fn user_data() -> String {
    format!(
        "#cloud-config\n\
         # cvm-image-rewriter boot-check\n\
         runcmd:\n  - [ /bin/sh, {PROBE_DIR}/report.sh ]\n\
         power_state:\n  mode: poweroff\n  delay: now\n  timeout: 120\n  condition: true\n"
    )
}

/// The tamper probe files: (name, content written and labelled, content after tampering, mode).
fn probe_files() -> Vec<(&'static str, &'static str, Option<&'static str>, u16)> {
    vec![
        ("exec-tampered", "#!/bin/sh\necho probe\n", Some("#!/bin/sh\necho tampered\n"), 0o755),
        ("exec-intact", "#!/bin/sh\necho probe\n", None, 0o755),
        ("data-tampered", "cvm-image-rewriter tamper probe\n", Some("cvm-image-rewriter tampered!!\n"), 0o644),
        ("data-intact", "cvm-image-rewriter tamper probe\n", None, 0o644),
    ]
}

/// The label algorithm the image uses (from the label of a file every image has), sha256 if none.
fn image_algo(fs: &GuestFs) -> Result<HashAlgo> {
    for path in ["/etc/fstab", "/etc/ima/ima-policy", "/bin/sh"] {
        if let Some(ino) = fs.find(path)? {
            if let Some(v) = fs.raw().xattr(ino, XATTR_NAME).map_err(|e| fs.err(e))? {
                if let Some(a) = HashAlgo::of_label(&v) {
                    return Ok(a);
                }
            }
        }
    }
    Ok(HashAlgo::Sha256)
}

/// Plants seed, script and probe into the overlay's root filesystem.
fn plant(overlay: &Path) -> Result<()> {
    let disk = Arc::new(DiskImage::open(overlay, true)?);
    let table = partition::read_partitions(&disk)?;
    let root = guest::find_root(&disk, &table, None)?;
    let mut fs = GuestFs::open(disk.clone(), &root.partition, OpenMode::ReadWrite)?;
    let algo = image_algo(&fs)?;
    let seed = Seed::new(user_data(), &unique_instance_id("iid-cvm-boot-check"), "cvm-boot-check");
    let mut planted: Vec<(String, Option<&str>)> = Vec::new();
    for (name, content) in seed.files() {
        let path = format!("/var/lib/cloud/seed/nocloud/{name}");
        fs.write(&path, content, 0o600)?;
        planted.push((path, None));
    }
    fs.write(&format!("{PROBE_DIR}/report.sh"), report_script().as_bytes(), 0o755)?;
    planted.push((format!("{PROBE_DIR}/report.sh"), None));
    for (name, content, tampered, mode) in probe_files() {
        let path = format!("{PROBE_DIR}/{name}");
        fs.write(&path, content.as_bytes(), mode)?;
        planted.push((path, tampered));
    }
    for (path, tampered) in &planted {
        let ino = fs.find(path)?.expect("just written");
        label_file(&mut fs, ino, algo)?;
        if let Some(t) = tampered {
            // Change the content after labelling; write() keeps the (now stale) label.
            fs.write(path, t.as_bytes(), 0o644)?;
        }
    }
    fs.close()?;
    disk.flush()
}

/// Reads the result file from the overlay after the boot; `None` if it cannot (unclean fs).
fn read_result_offline(overlay: &Path) -> Option<String> {
    let disk = Arc::new(DiskImage::open(overlay, false).ok()?);
    let table = partition::read_partitions(&disk).ok()?;
    let root = guest::find_root(&disk, &table, None).ok()?;
    let fs = GuestFs::open(disk, &root.partition, OpenMode::ReadOnly).ok()?;
    fs.read_text(RESULT_FILE).ok()?
}

fn read_result_serial(serial_log: &Path) -> Option<String> {
    let text = String::from_utf8_lossy(&std::fs::read(serial_log).ok()?).into_owned();
    let lines: Vec<&str> =
        text.lines().filter_map(|l| l.split_once(LINE_PREFIX).map(|(_, r)| r.trim_end_matches('\r'))).collect();
    (!lines.is_empty()).then(|| lines.join("\n") + "\n")
}

/// Parses an `audit: type=1800 ... op=appraise_data cause=invalid-hash comm="cat" name="/x" ...` line.
fn parse_denial(line: &str) -> Option<Denial> {
    let field = |key: &str| -> Option<String> {
        let at = line.find(&format!(" {key}="))? + key.len() + 2;
        let rest = &line[at..];
        Some(if let Some(q) = rest.strip_prefix('"') {
            q.split('"').next()?.to_string()
        } else {
            rest.split_whitespace().next()?.to_string()
        })
    };
    Some(Denial {
        path: field("name")?,
        cause: field("cause").unwrap_or_default(),
        comm: field("comm").unwrap_or_default(),
    })
}

/// Boots the image once and reports.
pub fn boot_check(opts: &BootCheckOptions) -> Result<BootCheckReport> {
    let temp = tempfile::tempdir().map_err(|e| Error::Qemu(format!("temporary directory: {e}")))?;
    let work = match &opts.keep_logs {
        Some(d) => {
            std::fs::create_dir_all(d).map_err(|e| Error::Output { path: d.clone(), message: e.to_string() })?;
            d.clone()
        }
        None => temp.path().to_owned(),
    };
    DiskImage::open(&opts.image, false)?; // refuse what we cannot read before anything else
    let overlay = work.join("overlay.qcow2");
    let _ = std::fs::remove_file(&overlay);
    create_overlay(&opts.image, &overlay)?;
    plant(&overlay)?;
    let accel = resolve_accel(opts.accel)?;
    let run = QemuRun {
        disk: overlay.clone(),
        extra_drives: Vec::new(),
        accel,
        memory_mib: opts.memory_mib,
        cpus: opts.cpus,
        timeout: opts.timeout,
        work_dir: work.clone(),
        stream: opts.stream,
        kvm_silence_fallback: (opts.accel == Accel::Auto).then(|| Duration::from_secs(90)),
    };
    let boot = run.run()?;
    let result = if boot.outcome == Outcome::PoweredOff { read_result_offline(&overlay) } else { None }
        .filter(|r| r.contains("done=1"))
        .or_else(|| read_result_serial(&boot.serial_log));
    Ok(judge(&opts.image, boot, result.as_deref()))
}

/// Turns the guest's result lines into checks.
pub fn judge(image: &Path, boot: BootResult, result: Option<&str>) -> BootCheckReport {
    let mut kv: BTreeMap<String, String> = BTreeMap::new();
    let mut denials = Vec::new();
    for line in result.unwrap_or("").lines() {
        if let Some(d) = line.strip_prefix("denial=") {
            if let Some(d) = parse_denial(d) {
                if !d.path.starts_with(PROBE_DIR) {
                    denials.push(d);
                }
            }
        } else if let Some((k, v)) = line.split_once('=') {
            kv.insert(k.to_string(), v.to_string());
        }
    }
    let reached = kv.contains_key("done");
    let cmdline = kv.get("cmdline").cloned();
    let ima_appraise = cmdline
        .as_deref()
        .map(|c| grub::parse_cmdline_param(c, "ima_appraise").unwrap_or_else(|| "enforce (kernel default)".into()));
    let policy_loaded = reached.then(|| {
        kv.get("policy_loaded_log").is_some_and(|n| n != "0")
            || (kv.get("policy_file").map(String::as_str) == Some("absent")
                && kv.get("policy_failed_log").is_some_and(|n| n == "0"))
    });
    let probe: BTreeMap<String, String> = ["exec_tampered", "exec_intact", "data_tampered", "data_intact"]
        .iter()
        .filter_map(|k| kv.get(*k).map(|v| (k.to_string(), v.clone())))
        .collect();
    let refused = |k: &str| probe.get(k).is_some_and(|v| v.starts_with("refused") && v.contains("ermission denied"));
    let ran = |k: &str| probe.get(k).is_some_and(|v| v == "ran");
    let mut checks = vec![
        Check {
            name: "boot".into(),
            ok: boot.outcome == Outcome::PoweredOff,
            detail: format!("{:?} after {:.0} s under {}", boot.outcome, boot.seconds, boot.accel.qemu_name()),
        },
        Check {
            name: "final_stage".into(),
            ok: reached,
            detail: if reached {
                format!("cloud-init final stage at {} s of uptime", kv.get("uptime").map_or("?", |s| s.as_str()))
            } else {
                "the report script never ran (see the console logs)".into()
            },
        },
        Check {
            name: "policy_loaded".into(),
            ok: policy_loaded == Some(true),
            detail: format!(
                "systemd log lines: {}, policy file: {}",
                kv.get("policy_loaded_log").map_or("?", |s| s.as_str()),
                kv.get("policy_file").map_or("?", |s| s.as_str())
            ),
        },
        Check {
            name: "no_denials".into(),
            ok: reached && denials.is_empty(),
            detail: format!("{} appraisal failure(s) outside the probe", denials.len()),
        },
    ];
    checks.push(Check {
        name: "tamper_probe".into(),
        ok: refused("exec_tampered") && refused("data_tampered") && ran("exec_intact") && ran("data_intact"),
        detail: probe.iter().map(|(k, v)| format!("{k}: {v}")).collect::<Vec<_>>().join("; "),
    });
    let passed = checks.iter().all(|c| c.ok);
    BootCheckReport {
        image: image.to_owned(),
        final_stage_seconds: kv.get("uptime").and_then(|u| u.parse().ok()),
        measurements: kv.get("measurements").and_then(|m| m.trim().parse().ok()),
        boot,
        reached_final_stage: reached,
        cmdline,
        ima_appraise,
        policy_loaded,
        denials,
        probe,
        checks,
        passed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn boot(outcome: Outcome) -> BootResult {
        BootResult { outcome, accel: Accel::Tcg, seconds: 80.0, serial_log: "s".into(), hvc_log: "h".into() }
    }

    const GOOD: &str = "uptime=71.52\ncmdline=BOOT_IMAGE=/boot/vmlinuz root=UUID=x ro console=ttyS0 ima_appraise=enforce ima_hash=sha256\n\
        policy_file=absent\npolicy_loaded_log=1\npolicy_failed_log=0\nmeasurements=1534\n\
        exec_tampered=refused:/bin/sh: 1: /opt/cvm-boot-check/exec-tampered: Permission denied \nexec_intact=ran\n\
        data_tampered=refused:cat: /opt/cvm-boot-check/data-tampered: Permission denied \ndata_intact=ran\n\
        denial=[   60.1] audit: type=1800 audit(1.2:3): pid=1 uid=0 auid=4294967295 ses=4294967295 subj=unconfined op=appraise_data cause=invalid-hash comm=\"cat\" name=\"/opt/cvm-boot-check/data-tampered\" dev=\"vda1\" ino=5 res=0 errno=0\n\
        done=1\n";

    #[test]
    fn a_clean_enforcing_boot_passes() {
        let r = judge(Path::new("x"), boot(Outcome::PoweredOff), Some(GOOD));
        assert!(r.passed, "{:#?}", r.checks);
        assert_eq!(r.ima_appraise.as_deref(), Some("enforce"));
        assert_eq!(r.measurements, Some(1534));
        assert!(r.denials.is_empty(), "the probe's own denial is expected");
    }

    #[test]
    fn a_denial_or_an_unrefused_probe_fails() {
        let bad = GOOD.replace("done=1", "denial=audit: type=1800 op=appraise_data cause=missing-hash comm=\"systemd\" name=\"/usr/lib/x\" res=0\ndone=1");
        let r = judge(Path::new("x"), boot(Outcome::PoweredOff), Some(&bad));
        assert!(!r.passed);
        assert_eq!(
            r.denials,
            vec![Denial { path: "/usr/lib/x".into(), cause: "missing-hash".into(), comm: "systemd".into() }]
        );
        let log = GOOD.replace(
            "data_tampered=refused:cat: /opt/cvm-boot-check/data-tampered: Permission denied ",
            "data_tampered=ran",
        );
        assert!(!judge(Path::new("x"), boot(Outcome::PoweredOff), Some(&log)).passed);
        assert!(!judge(Path::new("x"), boot(Outcome::TimedOut), None).passed);
    }
}
