//! Booting a guest image under QEMU: UEFI (OVMF) with a private copy of the variable store, the
//! image as a virtio disk (through a throw-away qcow2 overlay by default), serial (`ttyS0`) and
//! virtio (`hvc0`) consoles captured to files, an overall deadline, and a clear [`Outcome`].
//! QEMU is always killed when the deadline passes or the runner is dropped early.

mod accel;
mod runner;

pub use accel::{probe_kvm, resolve_accel, Accel};
pub use runner::{create_overlay, kill_running, BootResult, Outcome, QemuRun};

use std::path::PathBuf;

/// Where OVMF's code and variable-store templates are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Firmware {
    /// Read-only code (pflash unit 0).
    pub code: PathBuf,
    /// Template of the variable store; each boot gets a private copy (pflash unit 1).
    pub vars: PathBuf,
}

impl Firmware {
    /// Looks for Debian's (package `ovmf`) and Fedora's firmware files.
    pub fn find() -> crate::Result<Firmware> {
        let pairs = [
            ("/usr/share/OVMF/OVMF_CODE_4M.fd", "/usr/share/OVMF/OVMF_VARS_4M.fd"),
            ("/usr/share/OVMF/OVMF_CODE.fd", "/usr/share/OVMF/OVMF_VARS.fd"),
            ("/usr/share/edk2/ovmf/OVMF_CODE.fd", "/usr/share/edk2/ovmf/OVMF_VARS.fd"),
        ];
        for (code, vars) in pairs {
            if std::path::Path::new(code).is_file() && std::path::Path::new(vars).is_file() {
                return Ok(Firmware { code: code.into(), vars: vars.into() });
            }
        }
        Err(crate::Error::Qemu(
            "no UEFI firmware found (looked for /usr/share/OVMF/OVMF_CODE*.fd); install it: `apt-get install ovmf`"
                .into(),
        ))
    }

    /// Gives a boot its private variable store at `to`, copied from the template.
    pub fn copy_vars(&self, to: &std::path::Path) -> crate::Result<()> {
        std::fs::copy(&self.vars, to)
            .map(drop)
            .map_err(|e| crate::Error::Qemu(format!("copying the UEFI variable store to {}: {e}", to.display())))
    }

    /// The QEMU arguments for the firmware: the code read-only, the private store `vars`.
    pub fn pflash_args(&self, vars: &std::path::Path) -> [String; 4] {
        [
            "-drive".into(),
            format!("if=pflash,format=raw,unit=0,readonly=on,file={}", self.code.display()),
            "-drive".into(),
            format!("if=pflash,format=raw,unit=1,file={}", vars.display()),
        ]
    }
}

/// The QEMU binary for x86_64 guests.
pub fn qemu_binary() -> crate::Result<PathBuf> {
    find_in_path("qemu-system-x86_64").ok_or_else(|| {
        crate::Error::Qemu("qemu-system-x86_64 not found; install it: `apt-get install qemu-system-x86`".into())
    })
}

fn find_in_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|d| d.join(name)).find(|p| p.is_file())
}
