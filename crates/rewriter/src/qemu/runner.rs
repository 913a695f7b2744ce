//! One QEMU boot: command line, console capture, deadline, outcome.

use super::{qemu_binary, Accel, Firmware};
use crate::error::{Error, Result};
use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How a boot ended.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case", tag = "outcome")]
pub enum Outcome {
    /// The guest powered off (or rebooted: `-no-reboot` turns a reboot into an exit too).
    PoweredOff,
    /// The deadline passed; QEMU was killed.
    TimedOut,
    /// QEMU failed or died.
    Crashed {
        /// Exit status and the end of QEMU's stderr.
        detail: String,
    },
}

/// The result of [`QemuRun::run`].
#[derive(Debug, Clone, serde::Serialize)]
pub struct BootResult {
    /// How it ended.
    #[serde(flatten)]
    pub outcome: Outcome,
    /// Accelerator used.
    pub accel: Accel,
    /// Wall-clock seconds from QEMU's start to its end.
    pub seconds: f64,
    /// Everything the guest wrote on ttyS0.
    pub serial_log: PathBuf,
    /// Everything the guest wrote on hvc0.
    pub hvc_log: PathBuf,
}

/// A boot to run.
#[derive(Debug, Clone)]
pub struct QemuRun {
    /// The disk to boot (usually a throw-away overlay, see [`create_overlay`]).
    pub disk: PathBuf,
    /// Extra read-only raw drives (a NoCloud seed, say).
    pub extra_drives: Vec<PathBuf>,
    /// `kvm` or `tcg` (resolve `auto` first with [`super::resolve_accel`]).
    pub accel: Accel,
    /// Guest memory in MiB.
    pub memory_mib: u32,
    /// Virtual CPUs.
    pub cpus: u32,
    /// Overall deadline.
    pub timeout: Duration,
    /// Where console logs, sockets and the firmware variable store go.
    pub work_dir: PathBuf,
    /// Copy the consoles to stderr as they come.
    pub stream: bool,
    /// Under KVM: if the guest prints nothing on either console for this long, kill it and
    /// boot again under TCG. `/dev/kvm` can pass a tiny probe yet hang a real UEFI guest
    /// (nested virtualisation), and a guest that does boot prints within seconds.
    pub kvm_silence_fallback: Option<Duration>,
}

/// QEMU processes running now, so that an interrupted run can stop them (see [`kill_running`]).
static RUNNING: std::sync::Mutex<Vec<u32>> = std::sync::Mutex::new(Vec::new());

fn running() -> std::sync::MutexGuard<'static, Vec<u32>> {
    RUNNING.lock().unwrap_or_else(|p| p.into_inner())
}

/// Kills every QEMU this process started (for a signal handler; then exit).
pub fn kill_running() {
    for pid in running().drain(..) {
        let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
    }
}

/// Kills QEMU if the runner leaves early (error, panic): no orphaned guest keeps running.
struct ChildGuard(Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let pid = self.0.id();
        running().retain(|p| *p != pid);
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// Accepts one connection from QEMU on `listener` and copies it to `log` (and stderr).
fn capture(listener: UnixListener, log: PathBuf, stream: bool) -> JoinHandle<std::io::Result<()>> {
    std::thread::spawn(move || {
        let mut out = std::fs::File::create(&log)?;
        let (mut conn, _) = listener.accept()?;
        let mut buf = [0u8; 8192];
        loop {
            let n = match conn.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(_) => break,
            };
            out.write_all(&buf[..n])?;
            if stream {
                let _ = std::io::stderr().write_all(&buf[..n]);
            }
        }
        out.flush()
    })
}

impl QemuRun {
    /// The QEMU arguments (without the binary), for logs and tests.
    pub fn args(&self, fw: &Firmware, vars: &Path, serial_sock: &Path, hvc_sock: &Path) -> Vec<String> {
        let fmt = if is_qcow2(&self.disk) { "qcow2" } else { "raw" };
        let mut a: Vec<String> = vec![
            "-machine".into(),
            "q35".into(),
            "-accel".into(),
            self.accel.qemu_name().into(),
            "-m".into(),
            self.memory_mib.to_string(),
            "-smp".into(),
            self.cpus.to_string(),
            "-nodefaults".into(),
            "-display".into(),
            "none".into(),
            "-no-reboot".into(),
        ];
        a.extend(fw.pflash_args(vars));
        a.extend([
            "-drive".into(),
            format!("file={},if=virtio,format={fmt},cache=unsafe", self.disk.display()),
            "-chardev".into(),
            format!("socket,id=ser0,path={}", serial_sock.display()),
            "-serial".into(),
            "chardev:ser0".into(),
            "-device".into(),
            "virtio-serial-pci".into(),
            "-chardev".into(),
            format!("socket,id=hvc0,path={}", hvc_sock.display()),
            "-device".into(),
            "virtconsole,chardev=hvc0".into(),
            "-nic".into(),
            "user,model=virtio-net-pci".into(),
            "-device".into(),
            "virtio-rng-pci".into(),
        ]);
        if self.accel == Accel::Tcg {
            a.extend(["-cpu".into(), "max".into()]);
        }
        for d in &self.extra_drives {
            a.extend(["-drive".into(), format!("file={},if=virtio,format=raw,readonly=on", d.display())]);
        }
        a
    }

    /// Boots and waits for the guest to power off, or for the deadline.
    pub fn run(&self) -> Result<BootResult> {
        match self.run_once()? {
            None => {
                tracing::warn!("the guest printed nothing under KVM; booting again under TCG");
                let tcg = QemuRun { accel: Accel::Tcg, kvm_silence_fallback: None, ..self.clone() };
                Ok(tcg.run_once()?.expect("no fallback under TCG"))
            }
            Some(result) => Ok(result),
        }
    }

    /// One boot; `None` when it was cut short by the KVM silence fallback.
    fn run_once(&self) -> Result<Option<BootResult>> {
        let qemu = qemu_binary()?;
        let fw = Firmware::find()?;
        let io = |what: &str, e: std::io::Error| Error::Qemu(format!("{what}: {e}"));
        std::fs::create_dir_all(&self.work_dir).map_err(|e| io("creating the work directory", e))?;
        let vars = self.work_dir.join("OVMF_VARS.fd");
        fw.copy_vars(&vars)?;
        let serial_log = self.work_dir.join("ttyS0.log");
        let hvc_log = self.work_dir.join("hvc0.log");
        let serial_sock = self.work_dir.join("ttyS0.sock");
        let hvc_sock = self.work_dir.join("hvc0.sock");
        let _ = std::fs::remove_file(&serial_sock);
        let _ = std::fs::remove_file(&hvc_sock);
        let ser_listener = UnixListener::bind(&serial_sock).map_err(|e| io("console socket", e))?;
        let hvc_listener = UnixListener::bind(&hvc_sock).map_err(|e| io("console socket", e))?;
        let ser_thread = capture(ser_listener, serial_log.clone(), self.stream);
        let hvc_thread = capture(hvc_listener, hvc_log.clone(), self.stream);

        let args = self.args(&fw, &vars, &serial_sock, &hvc_sock);
        tracing::info!("qemu-system-x86_64 {}", args.join(" "));
        let stderr_path = self.work_dir.join("qemu.stderr");
        let stderr_file = std::fs::File::create(&stderr_path).map_err(|e| io("qemu stderr file", e))?;
        let started = Instant::now();
        let child = Command::new(&qemu)
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr_file)
            .spawn()
            .map_err(|e| io("starting qemu-system-x86_64", e))?;
        running().push(child.id());
        let mut guard = ChildGuard(child);
        let silence = if self.accel == Accel::Kvm { self.kvm_silence_fallback } else { None };
        let mut silent_kill = false;
        let status = loop {
            match guard.0.try_wait().map_err(|e| io("waiting for QEMU", e))? {
                Some(status) => break Some(status),
                None if started.elapsed() >= self.timeout => {
                    let _ = guard.0.kill();
                    let _ = guard.0.wait();
                    break None;
                }
                None if silence.is_some_and(|d| started.elapsed() >= d) && console_is_empty(&serial_log, &hvc_log) => {
                    let _ = guard.0.kill();
                    let _ = guard.0.wait();
                    silent_kill = true;
                    break None;
                }
                None => std::thread::sleep(Duration::from_millis(50)),
            }
        };
        let seconds = started.elapsed().as_secs_f64();
        // If QEMU died before connecting a console, unblock its accept() so the thread ends.
        for sock in [&serial_sock, &hvc_sock] {
            let _ = UnixStream::connect(sock);
        }
        let _ = ser_thread.join();
        let _ = hvc_thread.join();
        let _ = std::fs::remove_file(&serial_sock);
        let _ = std::fs::remove_file(&hvc_sock);
        if silent_kill {
            return Ok(None);
        }
        let outcome = match status {
            None => Outcome::TimedOut,
            Some(s) if s.success() => Outcome::PoweredOff,
            Some(s) => {
                let err = std::fs::read_to_string(&stderr_path).unwrap_or_default();
                let tail: Vec<&str> = err.lines().rev().take(5).collect();
                let tail: Vec<&str> = tail.into_iter().rev().collect();
                Outcome::Crashed { detail: format!("QEMU exited with {s}: {}", tail.join(" | ")) }
            }
        };
        Ok(Some(BootResult { outcome, accel: self.accel, seconds, serial_log, hvc_log }))
    }
}

fn console_is_empty(a: &Path, b: &Path) -> bool {
    let len = |p: &Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    len(a) == 0 && len(b) == 0
}

fn is_qcow2(path: &Path) -> bool {
    let mut magic = [0u8; 4];
    std::fs::File::open(path).and_then(|mut f| f.read_exact(&mut magic)).is_ok() && &magic == b"QFI\xfb"
}

/// Creates a qcow2 overlay at `overlay` whose backing file is `base` (absolute path), so that a
/// boot writes only to the overlay.
pub fn create_overlay(base: &Path, overlay: &Path) -> Result<()> {
    let base = base.canonicalize().map_err(|e| Error::Qemu(format!("{}: {e}", base.display())))?;
    let fmt = if is_qcow2(&base) { "qcow2" } else { "raw" };
    let out = Command::new("qemu-img")
        .args(["create", "-q", "-f", "qcow2", "-F", fmt, "-b"])
        .arg(&base)
        .arg(overlay)
        .output()
        .map_err(|e| Error::Qemu(format!("qemu-img (install qemu-utils): {e}")))?;
    if !out.status.success() {
        return Err(Error::Qemu(format!("qemu-img create overlay: {}", String::from_utf8_lossy(&out.stderr).trim())));
    }
    Ok(())
}
