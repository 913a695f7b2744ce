//! The safe layer against real filesystems made by `mkfs.ext4 -d`, checked with e2fsprogs'
//! own tools (`e2fsck -fn`, `debugfs`) rather than with this crate's reader.

use ext2fs::{BlockDevice, Code, FileKind, FileLayout, Filesystem, Ino, NewInode, OpenMode};
use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A filesystem image file, optionally at an offset (as inside a partitioned raw disk).
struct FileDevice {
    file: File,
    base: u64,
}

impl BlockDevice for FileDevice {
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> std::io::Result<()> {
        self.file.read_exact_at(buf, self.base + offset)
    }
    fn write_at(&mut self, offset: u64, buf: &[u8]) -> std::io::Result<()> {
        self.file.write_all_at(buf, self.base + offset)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.file.sync_data()
    }
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("cannot run {cmd:?} (install e2fsprogs): {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// debugfs exits 0 even when its request fails, so a failure shows only as empty output here.
fn debugfs(img: &Path, request: &str) -> String {
    let out = run(Command::new("debugfs").arg("-R").arg(request).arg(img));
    assert!(!out.is_empty(), "debugfs -R '{request}' printed nothing");
    out
}

/// Builds a 64 MiB ext4 from a small tree and gives some files xattrs with debugfs.
fn make_image(dir: &Path) -> PathBuf {
    let tree = dir.join("tree");
    std::fs::create_dir_all(tree.join("etc/sub")).unwrap();
    std::fs::write(tree.join("etc/fstab"), "LABEL=root / ext4 defaults 0 1\n").unwrap();
    std::fs::write(tree.join("etc/empty"), "").unwrap();
    std::fs::write(tree.join("etc/sub/big"), vec![0x5a; 3 << 20]).unwrap();
    std::os::unix::fs::symlink("fstab", tree.join("etc/link")).unwrap();
    std::fs::hard_link(tree.join("etc/fstab"), tree.join("etc/fstab.hard")).unwrap();
    let img = dir.join("fs.img");
    File::create(&img).unwrap().set_len(64 << 20).unwrap();
    run(Command::new("mkfs.ext4").args(["-q", "-F", "-L", "testroot", "-d"]).arg(&tree).arg(&img));
    run(Command::new("debugfs").args(["-w", "-R", "ea_set /etc/fstab user.keep hello"]).arg(&img));
    run(Command::new("debugfs")
        .args(["-w", "-R", "ea_set /etc/fstab security.selinux system_u:object_r:etc_t:s0"])
        .arg(&img));
    img
}

fn open(img: &Path, mode: OpenMode) -> Filesystem {
    let file = OpenOptions::new().read(true).write(mode == OpenMode::ReadWrite).open(img).unwrap();
    Filesystem::open(Box::new(FileDevice { file, base: 0 }), mode).unwrap()
}

#[test]
fn reads_walks_and_maps_a_real_filesystem() {
    let dir = tempfile::tempdir().unwrap();
    let img = make_image(dir.path());
    let fs = open(&img, OpenMode::ReadOnly);
    let sb = fs.superblock();
    assert_eq!(sb.label, "testroot");
    let blkid = run(Command::new("blkid").args(["-o", "value", "-s", "UUID"]).arg(&img));
    assert_eq!(sb.uuid_string(), blkid.trim());

    let fstab = fs.lookup("/etc/fstab").unwrap();
    assert_eq!(fs.read_file(fstab).unwrap(), b"LABEL=root / ext4 defaults 0 1\n");
    assert_eq!(fs.lookup_follow("/etc/link").unwrap(), fstab);
    assert_ne!(fs.lookup("/etc/link").unwrap(), fstab);
    assert_eq!(fs.lookup("/etc/nope").unwrap_err().code(), Code::NotFound);

    let mut seen = Vec::new();
    fs.walk(|e| {
        seen.push((e.path.to_string_lossy().into_owned(), e.meta.kind, e.meta.ino, e.meta.links));
        Ok(())
    })
    .unwrap();
    let names: Vec<&str> = seen.iter().map(|s| s.0.as_str()).collect();
    for want in
        ["/etc", "/etc/empty", "/etc/fstab", "/etc/fstab.hard", "/etc/link", "/etc/sub", "/etc/sub/big", "/lost+found"]
    {
        assert!(names.contains(&want), "{want} missing from {names:?}");
    }
    let hard: Vec<_> = seen.iter().filter(|s| s.2 == fstab).collect();
    assert_eq!(hard.len(), 2);
    assert!(hard.iter().all(|s| s.3 == 2 && s.1 == FileKind::Regular));

    // The block map read back by hand gives the same bytes as libext2fs' own reader.
    let big = fs.lookup("/etc/sub/big").unwrap();
    let FileLayout::Blocks { size, block_size, extents } = fs.layout(big).unwrap() else { panic!("inline?") };
    assert_eq!(size, 3 << 20);
    let raw = std::fs::read(&img).unwrap();
    let mut via_map = vec![0u8; size as usize];
    for e in &extents {
        let (bs, lo, po) = (block_size as usize, e.logical as usize, e.physical as usize);
        let n = (e.len as usize * bs).min(size as usize - lo * bs);
        via_map[lo * bs..lo * bs + n].copy_from_slice(&raw[po * bs..po * bs + n]);
    }
    assert_eq!(via_map, fs.read_file(big).unwrap());

    let attrs = fs.xattrs(fstab).unwrap();
    assert!(attrs.contains(&("user.keep".to_string(), b"hello".to_vec())), "{attrs:?}");
    assert_eq!(fs.xattr(fstab, "security.ima").unwrap(), None);
    fs.close().unwrap();
}

#[test]
fn writes_keep_other_xattrs_and_pass_e2fsck() {
    let dir = tempfile::tempdir().unwrap();
    let img = make_image(dir.path());
    let mut fs = open(&img, OpenMode::ReadWrite);
    let fstab = fs.lookup("/etc/fstab").unwrap();
    let label = [0x04u8, 0x04].iter().copied().chain(0..32).collect::<Vec<u8>>();
    fs.set_xattr(fstab, "security.ima", &label).unwrap();
    fs.write_file(fstab, b"LABEL=root / ext4 defaults,iversion 0 1\n", 1_700_000_000).unwrap();

    let t = 1_700_000_000;
    let d =
        fs.create("/etc/ima", NewInode { kind: FileKind::Directory, mode: 0o755, uid: 0, gid: 0, time: t }).unwrap();
    let p = fs
        .create("/etc/ima/ima-policy", NewInode { kind: FileKind::Regular, mode: 0o644, uid: 0, gid: 0, time: t })
        .unwrap();
    fs.write_file(p, b"appraise fowner=0\n", t).unwrap();
    let other = fs
        .create("/etc/owned", NewInode { kind: FileKind::Regular, mode: 0o600, uid: 70000, gid: 5, time: t })
        .unwrap();
    assert_eq!(
        fs.create("/etc/owned", NewInode { kind: FileKind::Regular, mode: 0o600, uid: 0, gid: 0, time: t })
            .unwrap_err()
            .code(),
        Code::Exists
    );
    // Many names in one directory force libext2fs to expand it.
    for i in 0..300 {
        fs.create(
            &format!("/etc/sub/f{i:04}"),
            NewInode { kind: FileKind::Regular, mode: 0o644, uid: 0, gid: 0, time: t },
        )
        .unwrap();
    }
    let meta = fs.metadata(other).unwrap();
    assert_eq!((meta.uid, meta.gid, meta.mode, meta.kind), (70000, 5, 0o600, FileKind::Regular));
    assert_ne!(d, Ino::ROOT);
    fs.close().unwrap();

    run(Command::new("e2fsck").arg("-fn").arg(&img));
    let ea = debugfs(&img, "ea_list /etc/fstab");
    assert!(ea.contains("user.keep") && ea.contains("hello"), "{ea}");
    assert!(ea.contains("security.selinux"), "{ea}");
    assert!(ea.contains("security.ima"), "{ea}");
    let got = debugfs(&img, "ea_get -x /etc/fstab security.ima");
    let hex: String = label.iter().map(|b| format!("{b:02x}")).collect();
    assert!(got.replace([' ', '\n'], "").contains(&hex), "{got}");
    assert_eq!(debugfs(&img, "cat /etc/fstab").trim_end(), "LABEL=root / ext4 defaults,iversion 0 1");
    assert_eq!(debugfs(&img, "cat /etc/ima/ima-policy").trim_end(), "appraise fowner=0");
    let stat = debugfs(&img, "stat /etc/owned");
    assert!(stat.contains("User: 70000") && stat.contains("Group:     5") || stat.contains("Group: 5"), "{stat}");
    assert!(debugfs(&img, "stat /etc/ima/ima-policy").contains("Mode:  0644"));
    assert!(debugfs(&img, "ls -l /etc/sub").contains("f0299"));
}

#[test]
fn refuses_a_filesystem_that_needs_journal_recovery() {
    let dir = tempfile::tempdir().unwrap();
    let img = make_image(dir.path());
    // Set the needs_recovery incompat bit (0x4) in the superblock at 1024 + 0x60.
    let f = OpenOptions::new().read(true).write(true).open(&img).unwrap();
    let mut b = [0u8; 4];
    f.read_exact_at(&mut b, 1024 + 0x60).unwrap();
    let v = u32::from_le_bytes(b) | 0x4;
    f.write_all_at(&v.to_le_bytes(), 1024 + 0x60).unwrap();
    // Fix the superblock checksum so that only the recovery flag is wrong.
    run(Command::new("debugfs").args(["-w", "-R", "dirty"]).arg(&img));
    let file = OpenOptions::new().read(true).open(&img).unwrap();
    let err = Filesystem::open(Box::new(FileDevice { file, base: 0 }), OpenMode::ReadOnly).err().expect("must refuse");
    assert_eq!(err.code(), Code::NeedsRecovery, "{err}");
    assert!(err.to_string().contains("e2fsck"), "{err}");
}

#[test]
fn not_an_ext_filesystem_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let img = dir.path().join("zeros");
    File::create(&img).unwrap().set_len(4 << 20).unwrap();
    let file = File::open(&img).unwrap();
    let err = Filesystem::open(Box::new(FileDevice { file, base: 0 }), OpenMode::ReadOnly).err().unwrap();
    assert_eq!(err.code(), Code::NotExt, "{err}");
}

#[test]
fn symlinks_and_removals_leave_a_clean_filesystem() {
    let dir = tempfile::tempdir().unwrap();
    let img = make_image(dir.path());
    let t = 1_700_000_000;
    let mut fs = open(&img, OpenMode::ReadWrite);
    let new = |kind| NewInode { kind, mode: 0o644, uid: 0, gid: 0, time: t };
    fs.symlink("/etc/short", "fstab", 0, 0, t).unwrap();
    let long_target = format!("/{}", "x".repeat(200));
    fs.symlink("/etc/long", &long_target, 1000, 1000, t).unwrap();
    // A tree with files (one with a big xattr that needs its own block), a nested dir, a link.
    fs.create("/var", new(FileKind::Directory)).unwrap();
    fs.create("/var/lib", new(FileKind::Directory)).unwrap();
    fs.create("/var/lib/cloud", new(FileKind::Directory)).unwrap();
    fs.create("/var/lib/cloud/instances", new(FileKind::Directory)).unwrap();
    for i in 0..50 {
        let f = fs.create(&format!("/var/lib/cloud/instances/f{i}"), new(FileKind::Regular)).unwrap();
        fs.write_file(f, &vec![b'a'; 5000 * i], t).unwrap();
        if i % 10 == 0 {
            fs.set_xattr(f, "user.big", &[7u8; 600]).unwrap();
        }
    }
    fs.symlink("/var/lib/cloud/instance", "/var/lib/cloud/instances", 0, 0, t).unwrap();
    fs.close().unwrap();
    run(Command::new("e2fsck").arg("-fn").arg(&img));
    assert!(
        debugfs(&img, "stat /etc/long").contains("Fast link dest")
            || debugfs(&img, "stat /etc/long").contains("Type: symlink")
    );

    let mut fs = open(&img, OpenMode::ReadWrite);
    let free_before = fs.superblock().free_blocks;
    fs.remove_all("/var/lib/cloud", t).unwrap();
    fs.remove("/etc/short", t).unwrap();
    fs.remove("/etc/fstab.hard", t).unwrap(); // one of two links: the inode stays
    assert_eq!(fs.lookup("/var/lib/cloud").unwrap_err().code(), Code::NotFound);
    assert!(fs.remove("/etc/sub", t).unwrap_err().to_string().contains("not empty"));
    let fstab = fs.lookup("/etc/fstab").unwrap();
    assert_eq!(fs.metadata(fstab).unwrap().links, 1);
    fs.close().unwrap();
    run(Command::new("e2fsck").arg("-fn").arg(&img));
    let fs = open(&img, OpenMode::ReadOnly);
    assert!(fs.superblock().free_blocks > free_before + 100, "the files' blocks are free again");
    assert!(debugfs(&img, "ls -l /var/lib").lines().all(|l| !l.contains("cloud")));
}
