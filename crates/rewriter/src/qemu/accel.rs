//! Choosing the accelerator. `/dev/kvm` can exist while KVM guests hang (nested virtualisation
//! that does not work, as on our CI machines), so `auto` starts the UEFI firmware under KVM
//! with a deadline and uses KVM only if it answers.

use super::qemu_binary;
use crate::error::{Error, Result};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The accelerator asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Accel {
    /// KVM if a probe guest runs under it, else TCG.
    Auto,
    /// Hardware virtualisation.
    Kvm,
    /// Software emulation: slow, works everywhere.
    Tcg,
}

impl Accel {
    /// The name QEMU's `-accel` takes.
    pub fn qemu_name(self) -> &'static str {
        match self {
            Accel::Kvm => "kvm",
            Accel::Tcg | Accel::Auto => "tcg",
        }
    }
}

/// Returns true if and only if the UEFI firmware we boot guests with runs under KVM: OVMF with
/// no disk prints its boot manager messages on COM1 within a second or two when KVM works. (On
/// our CI machines a one-sector BIOS guest runs fine under KVM, while OVMF stops at once with
/// "KVM internal error ... emulation failure": the probe must run the real firmware.)
pub fn probe_kvm(deadline: Duration) -> Result<bool> {
    if std::fs::OpenOptions::new().read(true).write(true).open("/dev/kvm").is_err() {
        return Ok(false);
    }
    let works = firmware_answers(Accel::Kvm, deadline)?;
    tracing::info!("KVM probe: {}", if works { "works" } else { "UEFI firmware does not run under KVM; using TCG" });
    Ok(works)
}

/// Boots OVMF without a disk under `accel` and says whether it printed its boot messages.
fn firmware_answers(accel: Accel, deadline: Duration) -> Result<bool> {
    let qemu = qemu_binary()?;
    let fw = super::Firmware::find()?;
    let dir = tempfile::tempdir().map_err(|e| Error::Qemu(format!("temporary directory: {e}")))?;
    let vars = dir.path().join("vars.fd");
    let serial = dir.path().join("serial.log");
    let stderr_path = dir.path().join("stderr.log");
    let stderr = std::fs::File::create(&stderr_path).map_err(|e| Error::Qemu(format!("KVM probe: {e}")))?;
    fw.copy_vars(&vars)?;
    let mut child = Command::new(qemu)
        .args(["-machine", "q35", "-accel", accel.qemu_name(), "-m", "256", "-nodefaults", "-display", "none"])
        .arg("-no-reboot")
        .args(fw.pflash_args(&vars))
        .arg("-serial")
        .arg(format!("file:{}", serial.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .map_err(|e| Error::Qemu(format!("starting the KVM probe: {e}")))?;
    let start = Instant::now();
    let answered = |p: &std::path::Path| {
        let text = std::fs::read(p).unwrap_or_default();
        text.windows(6).any(|w| w == b"BdsDxe") || text.windows(4).any(|w| w == b"UEFI")
    };
    let works = loop {
        if answered(&serial) {
            break true;
        }
        // QEMU keeps running, paused, after "KVM internal error": no need to wait it out.
        if std::fs::read_to_string(&stderr_path).is_ok_and(|e| e.contains("internal error")) {
            break false;
        }
        match child.try_wait() {
            Ok(Some(_)) => break answered(&serial),
            Ok(None) if start.elapsed() < deadline => std::thread::sleep(Duration::from_millis(50)),
            _ => break false,
        }
    };
    let _ = child.kill();
    let _ = child.wait();
    Ok(works)
}

/// Turns `auto` into `kvm` or `tcg`.
pub fn resolve_accel(asked: Accel) -> Result<Accel> {
    match asked {
        Accel::Auto => Ok(if probe_kvm(Duration::from_secs(20))? { Accel::Kvm } else { Accel::Tcg }),
        other => Ok(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The probe's "answered" test, on the accelerator that always works: under TCG, OVMF
    /// prints its boot manager lines. (Needs qemu-system-x86 and ovmf.)
    #[test]
    fn the_firmware_answers_under_tcg() {
        assert!(firmware_answers(Accel::Tcg, Duration::from_secs(120)).unwrap());
    }
}
