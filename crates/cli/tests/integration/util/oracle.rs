//! Independent oracles: read an output image with e2fsprogs (`debugfs`, `e2fsck`), convert it
//! with `qemu-img`, and compute the labels the kernel would expect with `evmctl` (cross-checked
//! against coreutils `sha*sum` / `openssl dgst -sm3`).

use super::{from_hex, run, run_text, run_unchecked, tool};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// One directory entry as `debugfs ls -p` reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Inode {
    pub path: String,
    pub ino: u64,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub size: u64,
}

impl Inode {
    pub fn ftype(&self) -> u32 {
        self.mode & 0o170000
    }
    pub fn is_file(&self) -> bool {
        self.ftype() == 0o100000
    }
    pub fn is_dir(&self) -> bool {
        self.ftype() == 0o040000
    }
    pub fn is_symlink(&self) -> bool {
        self.ftype() == 0o120000
    }
    pub fn is_special(&self) -> bool {
        matches!(self.ftype(), 0o010000 | 0o020000 | 0o060000 | 0o140000)
    }
    /// What the tool must label: root-owned regular files.
    pub fn must_label(&self) -> bool {
        self.is_file() && self.uid == 0
    }
}

/// Detects an image's format with `qemu-img info`.
pub fn image_format(path: &Path) -> String {
    let info = run_text("qemu-img", &["info".as_ref(), "--output=json".as_ref(), path.as_os_str()]);
    let v: serde_json::Value = serde_json::from_str(&info).unwrap();
    v["format"].as_str().unwrap().to_string()
}

/// `qemu-img check` must be clean (exit 0) for a qcow2.
pub fn qemu_img_check(path: &Path) {
    let out = run_unchecked("qemu-img", &["check".as_ref(), path.as_os_str()]);
    assert!(
        out.status.success(),
        "qemu-img check {} failed ({}): {}{}",
        path.display(),
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A read-only view of the ext4 at `offset` in a raw copy of an image.
pub struct Ext4View {
    pub raw: PathBuf,
    pub offset: u64,
    pub scratch: PathBuf,
}

impl Ext4View {
    /// Opens `image` (raw or qcow2); a qcow2 is first converted to raw under `scratch`.
    pub fn open(image: &Path, offset: u64, scratch: &Path) -> Ext4View {
        std::fs::create_dir_all(scratch).unwrap();
        let fmt = image_format(image);
        let raw = if fmt == "raw" {
            image.to_path_buf()
        } else {
            let raw = scratch.join("view.raw");
            run("qemu-img", &["convert".as_ref(), "-O".as_ref(), "raw".as_ref(), image.as_os_str(), raw.as_os_str()]);
            raw
        };
        Ext4View { raw, offset, scratch: scratch.to_path_buf() }
    }

    pub fn spec(&self) -> String {
        format!("{}?offset={}", self.raw.display(), self.offset)
    }

    /// `e2fsck -fn` must report a clean filesystem.
    pub fn assert_fsck_clean(&self) {
        let out = run_unchecked("e2fsck", &["-fn", &self.spec()]);
        assert!(
            out.status.success(),
            "e2fsck -fn {} found problems ({}):\n{}{}",
            self.spec(),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Runs debugfs (read-only) on a list of commands in one process; returns stdout split
    /// into one section per command (the echoed "debugfs: CMD" line is the separator).
    pub fn batch(&self, cmds: &[String]) -> Vec<String> {
        if cmds.is_empty() {
            return vec![];
        }
        let cmdfile = self.scratch.join("batch.cmd");
        std::fs::write(&cmdfile, cmds.join("\n") + "\n").unwrap();
        let out = Command::new(tool("debugfs")).arg("-f").arg(&cmdfile).arg(self.spec()).output().unwrap();
        assert!(out.status.success(), "debugfs failed: {}", String::from_utf8_lossy(&out.stderr));
        let stdout = String::from_utf8_lossy(&out.stdout);
        let mut sections: Vec<String> = Vec::with_capacity(cmds.len());
        let mut idx: isize = -1;
        for line in stdout.split_inclusive('\n') {
            let next = cmds.get((idx + 1) as usize);
            if let Some(next) = next {
                if line.trim_end_matches('\n') == format!("debugfs: {next}") {
                    idx += 1;
                    sections.push(String::new());
                    continue;
                }
            }
            assert!(idx >= 0, "unexpected debugfs output before first command: {line:?}");
            sections[idx as usize].push_str(line);
        }
        assert_eq!(sections.len(), cmds.len(), "debugfs did not echo every command; stdout:\n{stdout}");
        sections
    }

    /// Runs one debugfs request; returns (stdout bytes, stderr text).
    pub fn request(&self, req: &str) -> (Vec<u8>, String) {
        let out = Command::new(tool("debugfs")).arg("-R").arg(req).arg(self.spec()).output().unwrap();
        (out.stdout, String::from_utf8_lossy(&out.stderr).into_owned())
    }

    /// A file's bytes, or None when debugfs cannot find it.
    pub fn read(&self, path: &str) -> Option<Vec<u8>> {
        let dest = self.scratch.join("read.tmp");
        let _ = std::fs::remove_file(&dest);
        let (_, err) = self.request(&format!("dump {path} {}", dest.display()));
        if err.lines().any(|l| !l.starts_with("debugfs ") && !l.trim().is_empty()) {
            return None;
        }
        let data = std::fs::read(&dest).ok()?;
        let _ = std::fs::remove_file(&dest);
        Some(data)
    }

    pub fn read_text(&self, path: &str) -> Option<String> {
        self.read(path).map(|b| String::from_utf8(b).unwrap_or_else(|_| panic!("{path} is not UTF-8")))
    }

    /// Every entry of the filesystem (BFS, one debugfs process per directory level).
    pub fn walk(&self) -> Vec<Inode> {
        let mut all = Vec::new();
        let mut level = vec!["/".to_string()];
        while !level.is_empty() {
            let cmds: Vec<String> = level.iter().map(|d| format!("ls -p {d}")).collect();
            let sections = self.batch(&cmds);
            let mut next = Vec::new();
            for (dir, out) in level.iter().zip(sections) {
                for line in out.lines() {
                    if line.trim().is_empty() {
                        continue;
                    }
                    let f: Vec<&str> = line.split('/').collect();
                    assert!(f.len() >= 7 && f[0].is_empty(), "cannot parse debugfs ls -p line {line:?}");
                    let name = f[5];
                    if name == "." || name == ".." {
                        continue;
                    }
                    let path = if dir == "/" { format!("/{name}") } else { format!("{dir}/{name}") };
                    let ino = Inode {
                        path: path.clone(),
                        ino: f[1].parse().unwrap(),
                        mode: u32::from_str_radix(f[2], 8).unwrap(),
                        uid: f[3].parse().unwrap(),
                        gid: f[4].parse().unwrap(),
                        size: f[6].parse().unwrap_or(0),
                    };
                    if ino.is_dir() && name != "lost+found" {
                        next.push(path);
                    }
                    all.push(ino);
                }
            }
            level = next;
        }
        all.sort_by(|a, b| a.path.cmp(&b.path));
        all
    }

    /// The value of xattr `name` on each path (None when absent), in one debugfs run.
    pub fn xattrs(&self, paths: &[&str], name: &str) -> Vec<Option<Vec<u8>>> {
        let cmds: Vec<String> = paths.iter().map(|p| format!("ea_get -x {p} {name}")).collect();
        let sections = self.batch(&cmds);
        sections
            .iter()
            .zip(paths)
            .map(|(s, p)| {
                let line = s.lines().find(|l| l.starts_with(&format!("{name} (")))?;
                let (head, hex) = line.split_once(" = ").unwrap_or_else(|| panic!("bad ea_get line for {p}: {line:?}"));
                let len: usize = head[name.len() + 2..head.len() - 1].parse().unwrap();
                let v = from_hex(hex);
                assert_eq!(v.len(), len, "ea_get length mismatch for {p}: {line:?}");
                Some(v)
            })
            .collect()
    }

    pub fn xattr(&self, path: &str, name: &str) -> Option<Vec<u8>> {
        self.xattrs(&[path], name).pop().unwrap()
    }

    /// Dumps files (one debugfs run) into `dest/0`, `dest/1`, ... in order.
    pub fn dump_all(&self, paths: &[&str], dest: &Path) -> Vec<PathBuf> {
        std::fs::create_dir_all(dest).unwrap();
        let targets: Vec<PathBuf> = (0..paths.len()).map(|i| dest.join(i.to_string())).collect();
        let cmds: Vec<String> = paths.iter().zip(&targets).map(|(p, t)| format!("dump {p} {}", t.display())).collect();
        self.batch(&cmds);
        for (p, t) in paths.iter().zip(&targets) {
            assert!(t.exists(), "debugfs could not dump {p}");
        }
        targets
    }
}

/// The bytes a kernel (and evmctl) writes for an IMA hash label: the header before the digest.
pub fn label_prefix(algo: &str) -> Vec<u8> {
    match algo {
        "sha1" => vec![0x01],
        "sha256" => vec![0x04, 0x04],
        "sha384" => vec![0x04, 0x05],
        "sha512" => vec![0x04, 0x06],
        "sm3" => vec![0x04, 0x11],
        other => panic!("no label prefix for {other}"),
    }
}

/// Digests (raw bytes) of host files with coreutils (`sha*sum`) or `openssl dgst -sm3`.
pub fn digests(algo: &str, files: &[PathBuf]) -> Vec<Vec<u8>> {
    let mut res = Vec::with_capacity(files.len());
    for chunk in files.chunks(500) {
        let out = if algo == "sm3" {
            let mut args: Vec<std::ffi::OsString> = vec!["dgst".into(), "-sm3".into(), "-r".into()];
            args.extend(chunk.iter().map(|p| p.as_os_str().to_owned()));
            run_text("openssl", &args)
        } else {
            run_text(&format!("{algo}sum"), &chunk.iter().map(|p| p.as_os_str()).collect::<Vec<_>>())
        };
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), chunk.len(), "{algo} digest output: {out}");
        for (line, f) in lines.iter().zip(chunk) {
            let (hex, name) = line.split_once(' ').unwrap();
            assert!(
                name.trim_start_matches(['*', ' ']) == f.to_str().unwrap(),
                "digest line {line:?} is not for {}",
                f.display()
            );
            res.push(from_hex(hex));
        }
    }
    res
}

/// What `evmctl ima_hash --xattr-user -a ALGO` writes for every file under `dir` (recursively),
/// by relative path.
pub fn evmctl_labels(dir: &Path, algo: &str) -> BTreeMap<String, Vec<u8>> {
    run(
        "evmctl",
        &["ima_hash".as_ref(), "-r".as_ref(), "--xattr-user".as_ref(), "-a".as_ref(), algo.as_ref(), dir.as_os_str()],
    );
    let out = Command::new(tool("getfattr"))
        .current_dir(dir)
        .args(["-R", "-h", "-d", "-m", "^user\\.ima$", "-e", "hex", "."])
        .output()
        .unwrap();
    assert!(out.status.success(), "getfattr failed: {}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    let mut map = BTreeMap::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        if let Some(f) = line.strip_prefix("# file: ") {
            current = Some(f.trim_start_matches("./").to_string());
        } else if let Some(v) = line.strip_prefix("user.ima=") {
            map.insert(current.clone().expect("value before file"), from_hex(v));
        }
    }
    map
}

/// evmctl's label for one (possibly huge, sparse) host file, via `-n` (print, no xattr).
pub fn evmctl_label_of(file: &Path, algo: &str) -> Vec<u8> {
    let out = run_text("evmctl", &["ima_hash".as_ref(), "-n".as_ref(), "-a".as_ref(), algo.as_ref(), file.as_os_str()]);
    from_hex(out.lines().find(|l| !l.trim().is_empty()).expect("evmctl printed nothing"))
}

/// Files bigger than this are not dumped from the image: their expected label is computed on
/// the fixture's host copy (and their size and tail bytes are checked in the image).
pub const DUMP_LIMIT: u64 = 64 << 20;

/// Expected labels plus the dumped copies of the (small) files, for content checks.
pub struct Expected {
    pub labels: BTreeMap<String, Vec<u8>>,
    pub dumped: BTreeMap<String, PathBuf>,
}

/// The expected `security.ima` of each given regular file of `view`, from evmctl, cross-checked
/// against the label prefix + coreutils/openssl digest. `host_copy` gives the host file for
/// files above [`DUMP_LIMIT`].
pub fn expected_labels(view: &Ext4View, files: &[&Inode], algo: &str, host_copy: &dyn Fn(&str) -> PathBuf) -> Expected {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let dump_dir = view.scratch.join(format!("dump-{algo}-{n}"));
    let _ = std::fs::remove_dir_all(&dump_dir);
    let small: Vec<&Inode> = files.iter().copied().filter(|f| f.size <= DUMP_LIMIT).collect();
    let paths: Vec<&str> = small.iter().map(|f| f.path.as_str()).collect();
    let dumped = view.dump_all(&paths, &dump_dir);
    let evm = evmctl_labels(&dump_dir, algo);
    let sums = digests(algo, &dumped);
    let prefix = label_prefix(algo);
    let mut labels = BTreeMap::new();
    let mut dumped_map = BTreeMap::new();
    for (i, f) in small.iter().enumerate() {
        let label = evm.get(&i.to_string()).unwrap_or_else(|| panic!("evmctl gave no label for {}", f.path)).clone();
        let mut manual = prefix.clone();
        manual.extend_from_slice(&sums[i]);
        assert_eq!(
            super::to_hex(&label),
            super::to_hex(&manual),
            "oracles disagree (evmctl vs {algo}sum) on {}",
            f.path
        );
        let len = std::fs::metadata(&dumped[i]).unwrap().len();
        assert_eq!(len, f.size, "dumped size of {} differs from its inode size", f.path);
        labels.insert(f.path.clone(), label);
        dumped_map.insert(f.path.clone(), dumped[i].clone());
    }
    for f in files.iter().filter(|f| f.size > DUMP_LIMIT) {
        let host = host_copy(&f.path);
        assert_eq!(std::fs::metadata(&host).unwrap().len(), f.size, "size of {} changed", f.path);
        labels.insert(f.path.clone(), evmctl_label_of(&host, algo));
    }
    Expected { labels, dumped: dumped_map }
}
