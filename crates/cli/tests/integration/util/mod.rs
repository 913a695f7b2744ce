//! Shared helpers for the integration suite: external tools, temp dirs, the binary under test,
//! image fixtures and independent oracles (e2fsprogs, qemu-img, evmctl, coreutils).
//!
//! Nothing here uses the code under test: expected values come from e2fsprogs, qemu-img,
//! ima-evm-utils, coreutils/openssl and `sh` itself.
#![allow(dead_code)]

pub mod check;
pub mod command;
pub mod image;
pub mod oracle;
pub mod tree;

use std::ffi::OsStr;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

pub use command::{RunOutput, TestCommand};

/// The Debian package that provides each external tool the suite relies on.
fn package_of(tool: &str) -> &'static str {
    match tool {
        "mkfs.ext4" | "debugfs" | "e2fsck" | "dumpe2fs" => "e2fsprogs",
        "sgdisk" => "gdisk",
        "sfdisk" => "fdisk",
        "mkfs.vfat" => "dosfstools",
        "mmd" | "mcopy" | "mdir" => "mtools",
        "qemu-img" | "qemu-io" => "qemu-utils",
        "evmctl" => "ima-evm-utils",
        "getfattr" | "setfattr" => "attr",
        "openssl" => "openssl",
        "unshare" => "util-linux",
        "sh" => "dash",
        "sha1sum" | "sha256sum" | "sha384sum" | "sha512sum" | "ls" | "cat" => "coreutils",
        _ => "(unknown package)",
    }
}

/// Full path of an external tool; a missing tool FAILS the test, naming its Debian package.
pub fn tool(name: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut dirs: Vec<PathBuf> = std::env::split_paths(&path).collect();
    for extra in ["/usr/sbin", "/sbin", "/usr/bin", "/bin"] {
        dirs.push(PathBuf::from(extra));
    }
    for d in dirs {
        let p = d.join(name);
        if p.is_file() {
            return p;
        }
    }
    panic!(
        "required tool `{name}` is not installed: install the Debian package `{}` (apt-get install {})",
        package_of(name),
        package_of(name)
    );
}

/// Renders a command line for failure messages.
pub fn show(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for a in cmd.get_args() {
        s.push(' ');
        let a = a.to_string_lossy();
        if a.contains(' ') || a.is_empty() {
            s.push_str(&format!("'{a}'"));
        } else {
            s.push_str(&a);
        }
    }
    s
}

/// Runs a tool and returns its output whatever its exit status.
pub fn run_unchecked<S: AsRef<OsStr>>(name: &str, args: &[S]) -> Output {
    let mut cmd = Command::new(tool(name));
    cmd.args(args);
    cmd.output().unwrap_or_else(|e| panic!("cannot run `{}`: {e}", show(&cmd)))
}

/// Runs a tool, panicking with its full output when it fails; returns stdout.
pub fn run<S: AsRef<OsStr>>(name: &str, args: &[S]) -> Vec<u8> {
    let mut cmd = Command::new(tool(name));
    cmd.args(args);
    let out = cmd.output().unwrap_or_else(|e| panic!("cannot run `{}`: {e}", show(&cmd)));
    assert!(
        out.status.success(),
        "`{}` failed ({}):\nstdout: {}\nstderr: {}",
        show(&cmd),
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Like [`run`] but returns stdout as text.
pub fn run_text<S: AsRef<OsStr>>(name: &str, args: &[S]) -> String {
    String::from_utf8_lossy(&run(name, args)).into_owned()
}

/// Lower-case hex of bytes (no hex crate).
pub fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Parses hex (with optional `0x` and whitespace).
pub fn from_hex(s: &str) -> Vec<u8> {
    let s: String = s.trim().trim_start_matches("0x").chars().filter(|c| !c.is_whitespace()).collect();
    assert!(s.len() % 2 == 0, "odd-length hex {s:?}");
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap_or_else(|_| panic!("bad hex {s:?}")))
        .collect()
}

/// SHA-256 of a file, used only to show that inputs are never modified.
pub fn file_sha256(path: &Path) -> String {
    use sha2::{Digest, Sha256};
    let mut f = std::fs::File::open(path).unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    to_hex(&h.finalize())
}

/// Sorted names in a directory (for "nothing left behind" checks).
pub fn list_dir(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read_dir {}: {e}", dir.display()))
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// Where per-test temp dirs live: the system temp dir when it supports `user.*` xattrs (evmctl
/// `--xattr-user` needs them), else /var/tmp.
fn temp_base() -> &'static PathBuf {
    static BASE: OnceLock<PathBuf> = OnceLock::new();
    BASE.get_or_init(|| {
        let candidates = [std::env::temp_dir(), PathBuf::from("/var/tmp")];
        for base in &candidates {
            let probe = match tempfile::Builder::new().prefix("cvmir-probe-").tempdir_in(base) {
                Ok(p) => p,
                Err(_) => continue,
            };
            let f = probe.path().join("probe");
            std::fs::write(&f, b"x").unwrap();
            let out = run_unchecked("setfattr", &[OsStr::new("-n"), OsStr::new("user.probe"), OsStr::new("-v"), OsStr::new("1"), f.as_os_str()]);
            if out.status.success() {
                return base.clone();
            }
        }
        panic!("neither {:?} nor /var/tmp supports user.* xattrs, which the evmctl oracle needs; set TMPDIR to a directory on ext4/xfs", std::env::temp_dir());
    })
}

/// A fresh temp dir for one test (removed on drop; kept if CVMIR_KEEP_TMP is set).
pub struct TestDir {
    dir: Option<tempfile::TempDir>,
    path: PathBuf,
}

impl TestDir {
    pub fn new(name: &str) -> TestDir {
        let dir = tempfile::Builder::new()
            .prefix(&format!("cvmir-{name}-"))
            .tempdir_in(temp_base())
            .expect("create temp dir");
        let path = dir.path().to_path_buf();
        if std::env::var_os("CVMIR_KEEP_TMP").is_some() {
            let keep = dir.keep();
            eprintln!("keeping {}", keep.display());
            TestDir { dir: None, path: keep }
        } else {
            TestDir { dir: Some(dir), path }
        }
    }
    pub fn path(&self) -> &Path {
        &self.path
    }
    /// A subdirectory, created.
    pub fn sub(&self, name: &str) -> PathBuf {
        let p = self.path.join(name);
        std::fs::create_dir_all(&p).unwrap();
        p
    }
}

impl Drop for TestDir {
    fn drop(&mut self) {
        let _ = self.dir.take();
    }
}
