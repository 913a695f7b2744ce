//! Awkward files: hard links, empty, sparse, > 4 GiB sparse, a 1,000-entry directory,
//! non-root owners, special nodes and foreign xattrs.

use crate::util::check::{check_enabled, enable, key, Expect};
use crate::util::image::{Format, Layout, TestImage};
use crate::util::oracle::evmctl_label_of;
use crate::util::tree::{pseudo_random, GuestTree};
use crate::util::{to_hex, TestDir};

const BIG: u64 = (4 << 30) + 4097;

fn edge_tree() -> GuestTree {
    let mut t = GuestTree::debian();
    t.exec("/usr/bin/busybox", pseudo_random(20, 65_536))
        .hardlink("/usr/bin/sh-link1", "/usr/bin/busybox")
        .hardlink("/usr/sbin/sh-link2", "/usr/bin/busybox")
        .file("/etc/empty1", "")
        .file_mode("/etc/empty2-exec", "", 0o755)
        .sparse("/var/lib/holes.img", 10 << 20, b"tail-data")
        .sparse("/var/lib/all-hole.img", 1 << 20, b"")
        .sparse("/var/lib/huge-sparse.img", BIG, b"end of a file past 4 GiB\n")
        .file("/etc/exactly-4096", pseudo_random(21, 4096))
        .file("/etc/mode-0000", "unreadable by mode bits\n")
        .file("/home/user/empty", "")
        .owner("/home/user/empty", 1000, 1000)
        .xattr("/home/user/empty", "security.selinux", b"user_u:object_r:user_home_t:s0\0")
        .fifo("/home/user/fifo")
        .owner("/home/user/fifo", 1000, 1000)
        .symlink("/home/user/dangling", "/nonexistent/target");
    if let Some(e) = t.entries.get_mut("/etc/mode-0000") {
        if let crate::util::tree::Kind::File { mode, .. } = &mut e.kind {
            *mode = 0o000;
        }
    }
    for i in 0..1000 {
        t.file(&format!("/usr/share/many/f{i:04}"), format!("file number {i}\n").repeat(i % 7));
    }
    // Root-owned file with group 1000 (owner decides, not group).
    t.file("/etc/group-owned", "g\n").owner("/etc/group-owned", 0, 1000);
    // A uid-1000 file in a root dir, and a root file in a user dir.
    t.file("/home/user/rootfile", "root's file in a user dir\n");
    t
}

#[test]
fn edge_files_all_labelled_correctly() {
    let t = TestDir::new("edge");
    let tree = edge_tree();
    let img = TestImage::build(t.path(), Layout::Gpt, Format::Qcow2, &tree);
    let before = img.fingerprint();
    let run = enable(&t, &img.path, "1", &[]);
    let c = check_enabled(&t, &img, &run, &before, &Expect::default());
    let label = |p: &str| c.labels[p].clone().unwrap_or_else(|| panic!("{p} has no label"));

    // Hard links: one inode, one label, on every name.
    let l = label("/usr/bin/busybox");
    assert_eq!(label("/usr/bin/sh-link1"), l);
    assert_eq!(label("/usr/sbin/sh-link2"), l);
    assert_eq!(c.inode("/usr/bin/sh-link1").ino, c.inode("/usr/bin/busybox").ino);
    // Empty files: digest of the empty string.
    let empty = "0404e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    assert_eq!(to_hex(&label("/etc/empty1")), empty);
    assert_eq!(to_hex(&label("/etc/empty2-exec")), empty);
    assert!(c.labels["/home/user/empty"].is_none());
    assert!(c.labels["/home/user/fifo"].is_none());
    assert!(c.labels["/home/user/dangling"].is_none());
    assert!(label("/etc/mode-0000").len() == 34);
    assert!(label("/etc/group-owned").len() == 34);
    assert!(label("/home/user/rootfile").len() == 34);
    // Sparse files: hashed over their whole logical size (holes read as zeros).
    assert_eq!(c.inode("/var/lib/holes.img").size, 10 << 20);
    assert_eq!(label("/var/lib/holes.img"), evmctl_label_of(&img.host_path("/var/lib/holes.img"), "sha256"));
    assert_eq!(label("/var/lib/all-hole.img"), evmctl_label_of(&img.host_path("/var/lib/all-hole.img"), "sha256"));
    // > 4 GiB sparse file: size kept, label over all of it.
    assert_eq!(c.inode("/var/lib/huge-sparse.img").size, BIG);
    assert_eq!(label("/var/lib/huge-sparse.img"), c.expected.labels["/var/lib/huge-sparse.img"]);
    // The 1,000-entry directory: every file labelled (check_enabled compared each to evmctl).
    let many: Vec<_> = c.walk.iter().filter(|i| i.path.starts_with("/usr/share/many/")).collect();
    assert_eq!(many.len(), 1000);
    assert!(many.iter().all(|i| c.labels[&i.path].is_some()));
    // The report counts the big file's bytes (logical size).
    let r = run.report();
    assert!(key(&r, "labels.bytes_hashed").as_u64().unwrap() > BIG);
}
