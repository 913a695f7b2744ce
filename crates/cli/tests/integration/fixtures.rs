//! Self-tests of the fixtures and oracles (they do not run the tool): every layout and format
//! builds, is a clean ext4 where expected, and has the owners, xattrs and node types asked for.

use crate::util::image::{Format, Layout, TestImage};
use crate::util::oracle::{self, Ext4View};
use crate::util::tree::{GuestTree, Kind};
use crate::util::TestDir;

fn check_fixture(layout: Layout, format: Format) {
    let t = TestDir::new("fixture");
    let tree = GuestTree::ubuntu();
    let img = TestImage::build(t.path(), layout, format, &tree);
    assert_eq!(oracle::image_format(&img.path), format.qemu_name());
    if format != Format::Raw {
        oracle::qemu_img_check(&img.path);
    }
    let view = Ext4View::open(&img.path, img.root_offset, &t.sub("scratch"));
    view.assert_fsck_clean();
    let walk = view.walk();
    for (path, e) in &tree.entries {
        let i = walk.iter().find(|i| &i.path == path).unwrap_or_else(|| panic!("{path} missing from fixture"));
        match &e.kind {
            Kind::HardLink { to } => {
                let target = walk.iter().find(|j| &j.path == to).unwrap();
                assert_eq!(i.ino, target.ino, "{path} is not a hard link of {to}");
            }
            k => {
                assert_eq!((i.uid, i.gid), (e.uid, e.gid), "owner of {path}");
                let want = match k {
                    Kind::File { .. } => 0o100000,
                    Kind::Dir { .. } => 0o040000,
                    Kind::Symlink { .. } => 0o120000,
                    Kind::Fifo => 0o010000,
                    Kind::CharDev { .. } => 0o020000,
                    Kind::BlockDev { .. } => 0o060000,
                    Kind::Socket => 0o140000,
                    Kind::HardLink { .. } => unreachable!(),
                };
                assert_eq!(i.ftype(), want, "type of {path}: mode {:o}", i.mode);
            }
        }
        for (name, value) in &e.xattrs {
            assert_eq!(view.xattr(path, name).as_deref(), Some(value.as_slice()), "xattr {name} on {path}");
        }
    }
    // Every directory is root-owned unless asked otherwise; nothing is labelled yet.
    for i in &walk {
        if !tree.entries.contains_key(&i.path) {
            assert!(i.is_dir(), "unexpected entry {}", i.path);
            assert_eq!(i.uid, 0, "implicit dir {} must be root-owned", i.path);
        }
    }
    let paths: Vec<&str> = walk.iter().map(|i| i.path.as_str()).collect();
    assert!(view.xattrs(&paths, "security.ima").iter().all(|v| v.is_none()), "fixture already has labels");
    // The oracle works on it (and its two halves agree).
    let files: Vec<&oracle::Inode> = walk.iter().filter(|i| i.must_label()).collect();
    assert!(files.len() > 15);
    let exp = oracle::expected_labels(&view, &files, "sha256", &|p| img.host_path(p));
    assert_eq!(exp.labels.len(), files.len());
    assert_eq!(
        crate::util::to_hex(&exp.labels["/etc/motd"]),
        "0404e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "empty-file label must be the empty-string digest"
    );
}

#[test]
fn fixture_gpt_raw() {
    check_fixture(Layout::Gpt, Format::Raw);
}
#[test]
fn fixture_mbr_qcow2() {
    check_fixture(Layout::Mbr, Format::Qcow2);
}
#[test]
fn fixture_bare_compressed() {
    check_fixture(Layout::Bare, Format::Qcow2Compressed);
}
#[test]
fn fixture_gpt_backing() {
    check_fixture(Layout::Gpt, Format::Qcow2Backing);
}

#[test]
fn fixture_partition_tables() {
    let t = TestDir::new("fixture-pt");
    let tree = GuestTree::debian();
    let gpt = TestImage::build(&t.sub("gpt"), Layout::Gpt, Format::Raw, &tree);
    let out = crate::util::run_text("sgdisk", &["-p".as_ref(), gpt.path.as_os_str()]);
    assert!(out.contains("EF00") && out.contains("8300"), "{out}");
    let mbr = TestImage::build(&t.sub("mbr"), Layout::Mbr, Format::Raw, &tree);
    let out = crate::util::run_text("sfdisk", &["-d".as_ref(), mbr.path.as_os_str()]);
    assert!(out.contains("type=83") && out.contains("type=ef"), "{out}");
    let esp_only = TestImage::build(&t.sub("esp"), Layout::GptEspOnly, Format::Raw, &tree);
    let out = crate::util::run_text("sgdisk", &["-p".as_ref(), esp_only.path.as_os_str()]);
    assert!(out.contains("EF00") && !out.contains("8300"), "{out}");
    let img = format!("{}@@{}", esp_only.path.display(), crate::util::image::ESP_START);
    let dir = crate::util::run_text("mdir", &["-i", &img, "::/EFI/BOOT"]);
    assert!(dir.contains("BOOTX64"), "{dir}");
}

/// The disk-full test relies on user namespaces and a tiny tmpfs.
#[test]
fn fixture_unshare_tmpfs_is_small() {
    let t = TestDir::new("fixture-unshare");
    let mnt = t.sub("mnt");
    let script = format!(
        "mount -t tmpfs -o size=8m tmpfs {m} && (head -c 20000000 /dev/zero > {m}/f; echo rc=$?); ls -A {m}",
        m = mnt.display()
    );
    let out = crate::util::run_unchecked("unshare", &["--user", "--map-root-user", "--mount", "sh", "-c", &script]);
    let so = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "unshare failed (user namespaces disabled?): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(so.contains("rc=1"), "writing 20 MB to an 8 MiB tmpfs should fail: {so}");
}

/// The label oracle catches what it must: a correct labelling passes; a wrong digest, a wrong
/// algorithm byte, a missing label and a label on a non-root file are each reported.
#[test]
fn label_oracle_detects_mistakes() {
    use crate::util::check::label_problems;
    use crate::util::image::debugfs_write;
    let t = TestDir::new("oracle-mutation");
    let img = TestImage::build(t.path(), Layout::Bare, Format::Raw, &GuestTree::debian());
    let scratch = t.sub("scratch");
    let view = Ext4View::open(&img.path, 0, &scratch);
    let walk = view.walk();
    let files: Vec<&oracle::Inode> = walk.iter().filter(|i| i.must_label()).collect();
    let exp = oracle::expected_labels(&view, &files, "sha256", &|p| img.host_path(p));
    let mut script = String::new();
    for (i, (path, label)) in exp.labels.iter().enumerate() {
        let f = scratch.join(format!("l{i}"));
        std::fs::write(&f, label).unwrap();
        script.push_str(&format!("ea_set -f {} {path} security.ima\n", f.display()));
    }
    debugfs_write(&view.spec(), &script, &scratch);
    let (wrong, _, _) = label_problems(&view, &walk, "sha256", &|p| img.host_path(p));
    assert!(wrong.is_empty(), "{wrong:?}");
    // A sha512 oracle rejects the sha256 labels.
    let (wrong, _, _) = label_problems(&view, &walk, "sha512", &|p| img.host_path(p));
    assert_eq!(wrong.len(), files.len());

    let bad = scratch.join("bad");
    let mut flipped = exp.labels["/usr/bin/ls"].clone();
    *flipped.last_mut().unwrap() ^= 1;
    std::fs::write(&bad, &flipped).unwrap();
    let mut algo = exp.labels["/etc/passwd"].clone();
    algo[1] = 0x05;
    let bad2 = scratch.join("bad2");
    std::fs::write(&bad2, &algo).unwrap();
    debugfs_write(
        &view.spec(),
        &format!(
            "ea_set -f {} /usr/bin/ls security.ima\nea_set -f {} /etc/passwd security.ima\nea_rm /etc/hostname security.ima\nea_set -f {} /home/user/notes.txt security.ima\nea_set -f {} /usr/bin/sh security.ima\n",
            bad.display(),
            bad2.display(),
            bad.display(),
            bad.display()
        ),
        &scratch,
    );
    let (wrong, _, _) = label_problems(&view, &walk, "sha256", &|p| img.host_path(p));
    let joined = wrong.join("\n");
    assert_eq!(wrong.len(), 5, "{joined}");
    for p in ["/usr/bin/ls", "/etc/passwd", "/etc/hostname", "/home/user/notes.txt", "/usr/bin/sh"] {
        assert!(joined.contains(p), "{p} not reported: {joined}");
    }
}

/// The text oracles reject what they must.
mod text_oracles {
    use crate::util::check::{
        check_cmdline, check_default_policy, check_fstab, check_grub_cfg, effective_grub, Expect,
    };
    use crate::util::tree::{grub_cfg, DEBIAN_GRUB, STANDARD_FSTAB, UBUNTU_DROPIN};

    #[test]
    fn cmdline_ok() {
        check_cmdline("quiet ima_appraise=fix", "quiet ima_appraise=enforce ima_hash=sha256", &Expect::default(), "t");
    }
    #[test]
    #[should_panic(expected = "exactly one ima_appraise")]
    fn cmdline_duplicate() {
        check_cmdline(
            "quiet",
            "quiet ima_appraise=enforce ima_hash=sha256 ima_appraise=enforce",
            &Expect::default(),
            "t",
        );
    }
    #[test]
    #[should_panic(expected = "other tokens changed")]
    fn cmdline_lost_token() {
        check_cmdline("quiet splash", "quiet ima_appraise=enforce ima_hash=sha256", &Expect::default(), "t");
    }
    #[test]
    #[should_panic(expected = "want no rootflags")]
    fn cmdline_unwanted_rootflags() {
        check_cmdline(
            "quiet",
            "quiet ima_appraise=enforce ima_hash=sha256 rootflags=i_version",
            &Expect::default(),
            "t",
        );
    }
    #[test]
    #[should_panic(expected = "iversion exactly once")]
    fn fstab_double_iversion() {
        let bad = STANDARD_FSTAB.replace("discard,errors=remount-ro", "discard,errors=remount-ro,iversion,iversion");
        check_fstab(STANDARD_FSTAB, &bad, &Expect::default());
    }
    #[test]
    #[should_panic(expected = "fstab line changed")]
    fn fstab_vfat_touched() {
        let good = STANDARD_FSTAB
            .replace("discard,errors=remount-ro", "discard,errors=remount-ro,iversion")
            .replace("defaults,nofail 0 2", "defaults,nofail,iversion 0 2");
        check_fstab(STANDARD_FSTAB, &good, &Expect::default()); // must pass
        check_fstab(STANDARD_FSTAB, &good.replace("umask=0077", "umask=0077,iversion"), &Expect::default());
    }
    #[test]
    #[should_panic(expected = "not a normal linux line")]
    fn grub_cfg_recovery_touched() {
        let before = grub_cfg("6.1.0-27-cloud-amd64", "");
        let good = before.replace("115200 quiet\n", "115200 quiet ima_appraise=enforce ima_hash=sha256\n");
        check_grub_cfg(&before, &good, &Expect::default()); // must pass
        let after = good.replace("ro single", "ro single ima_appraise=enforce ima_hash=sha256");
        check_grub_cfg(&before, &after, &Expect::default());
    }
    #[test]
    #[should_panic(expected = "must come before")]
    fn policy_order() {
        check_default_policy("appraise fowner=0\ndont_appraise fsmagic=0x4d44\n");
    }
    #[test]
    fn effective_grub_sources_dropins() {
        let t = crate::util::TestDir::new("effective");
        let files = [
            ("/etc/default/grub".to_string(), DEBIAN_GRUB.to_string()),
            ("/etc/default/grub.d/50-cloudimg-settings.cfg".to_string(), UBUNTU_DROPIN.to_string()),
        ]
        .into_iter()
        .collect();
        let (d, l) = effective_grub(&files, t.path());
        assert_eq!(d, "console=tty1 console=ttyS0");
        assert!(l.starts_with("console=tty0"), "{l}");
    }
}
