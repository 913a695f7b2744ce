//! Choosing the accelerator. `/dev/kvm` can exist while KVM guests hang (nested virtualisation
//! that does not work, as on our CI machines), so `auto` boots a one-sector guest under KVM
//! with a deadline and uses KVM only if it answers.

use super::qemu_binary;
use crate::error::{Error, Result};
use std::io::Write;
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

/// A boot sector that writes `K` to COM1 and leaves QEMU through the isa-debug-exit device
/// (exit status (0 << 1) | 1 = 1). Under a working KVM this takes milliseconds.
fn probe_sector() -> Vec<u8> {
    let code: &[u8] = &[
        0xba, 0xf8, 0x03, // mov dx, 0x3f8
        0xb0, b'K', //       mov al, 'K'
        0xee, //             out dx, al
        0xba, 0xf4, 0x00, // mov dx, 0xf4
        0xb0, 0x00, //       mov al, 0
        0xee, //             out dx, al
        0xf4, //             hlt
        0xeb, 0xfd, //       jmp back to hlt
    ];
    let mut sector = vec![0u8; 512];
    sector[..code.len()].copy_from_slice(code);
    sector[510] = 0x55;
    sector[511] = 0xaa;
    sector
}

/// Returns true if and only if a tiny guest runs to completion under KVM within `deadline`.
pub fn probe_kvm(deadline: Duration) -> Result<bool> {
    if std::fs::OpenOptions::new().read(true).write(true).open("/dev/kvm").is_err() {
        return Ok(false);
    }
    let qemu = qemu_binary()?;
    let dir = tempfile::tempdir().map_err(|e| Error::Qemu(format!("temporary directory: {e}")))?;
    let disk = dir.path().join("probe.img");
    let serial = dir.path().join("serial.log");
    std::fs::File::create(&disk)
        .and_then(|mut f| f.write_all(&probe_sector()))
        .map_err(|e| Error::Qemu(format!("writing the KVM probe: {e}")))?;
    let mut child = Command::new(qemu)
        .args(["-accel", "kvm", "-machine", "pc", "-m", "32", "-nodefaults", "-display", "none", "-no-reboot"])
        .args(["-device", "isa-debug-exit,iobase=0xf4,iosize=0x04"])
        .arg("-serial")
        .arg(format!("file:{}", serial.display()))
        .arg("-drive")
        .arg(format!("file={},format=raw,if=ide", disk.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| Error::Qemu(format!("starting the KVM probe: {e}")))?;
    let start = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if start.elapsed() < deadline => std::thread::sleep(Duration::from_millis(20)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
        }
    };
    let printed = std::fs::read(&serial).unwrap_or_default().contains(&b'K');
    let works = status.and_then(|s| s.code()) == Some(1) && printed;
    tracing::info!("KVM probe: {}", if works { "works" } else { "does not answer; using TCG" });
    Ok(works)
}

/// Turns `auto` into `kvm` or `tcg`.
pub fn resolve_accel(asked: Accel) -> Result<Accel> {
    match asked {
        Accel::Auto => Ok(if probe_kvm(Duration::from_secs(10))? { Accel::Kvm } else { Accel::Tcg }),
        other => Ok(other),
    }
}
