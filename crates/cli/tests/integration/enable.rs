//! `ima enable` on every layout x format, with every hash algorithm, idempotency, policies,
//! fstab options and root finding. All checks go through `util::check::check_enabled`, whose
//! expectations come from e2fsck/debugfs/qemu-img/evmctl/coreutils/sh only.

use crate::util::check::{check_enabled, enable, key, key_u64, Expect};
use crate::util::image::{Format, Layout, TestImage, ROOT_PARTUUID_GPT, ROOT_UUID};
use crate::util::tree::{GuestTree, STANDARD_FSTAB};
use crate::util::{to_hex, TestDir};

fn matrix(layout: Layout, format: Format) {
    let t = TestDir::new("enable");
    // Alternate Debian-like and Ubuntu-like guests across the matrix.
    let tree =
        if matches!(format, Format::Qcow2 | Format::Qcow2Backing) { GuestTree::ubuntu() } else { GuestTree::debian() };
    let img = TestImage::build(t.path(), layout, format, &tree);
    let before = img.fingerprint();
    let run = enable(&t, &img.path, "1", &[]);
    check_enabled(&t, &img, &run, &before, &Expect::default());
}

#[test]
fn gpt_raw() {
    matrix(Layout::Gpt, Format::Raw);
}
#[test]
fn gpt_qcow2() {
    matrix(Layout::Gpt, Format::Qcow2);
}
#[test]
fn gpt_qcow2_compressed() {
    matrix(Layout::Gpt, Format::Qcow2Compressed);
}
#[test]
fn gpt_qcow2_backing() {
    matrix(Layout::Gpt, Format::Qcow2Backing);
}
#[test]
fn mbr_raw() {
    matrix(Layout::Mbr, Format::Raw);
}
#[test]
fn mbr_qcow2() {
    matrix(Layout::Mbr, Format::Qcow2);
}
#[test]
fn mbr_qcow2_compressed() {
    matrix(Layout::Mbr, Format::Qcow2Compressed);
}
#[test]
fn mbr_qcow2_backing() {
    matrix(Layout::Mbr, Format::Qcow2Backing);
}
#[test]
fn bare_raw() {
    matrix(Layout::Bare, Format::Raw);
}
#[test]
fn bare_qcow2() {
    matrix(Layout::Bare, Format::Qcow2);
}
#[test]
fn bare_qcow2_compressed() {
    matrix(Layout::Bare, Format::Qcow2Compressed);
}
#[test]
fn bare_qcow2_backing() {
    matrix(Layout::Bare, Format::Qcow2Backing);
}

fn with_hash(hash: &'static str, prefix: &str) {
    let t = TestDir::new(&format!("hash-{hash}"));
    let img = TestImage::build(t.path(), Layout::Gpt, Format::Qcow2, &GuestTree::ubuntu());
    let before = img.fingerprint();
    let run = enable(&t, &img.path, "1", &["--hash", hash]);
    let c = check_enabled(&t, &img, &run, &before, &Expect { hash, ..Expect::default() });
    // The documented layout, independent of evmctl: header bytes and total length.
    let digest_len = match hash {
        "sha1" => 20,
        "sha256" | "sm3" => 32,
        "sha384" => 48,
        "sha512" => 64,
        _ => unreachable!(),
    };
    let l = c.labels["/usr/bin/bash"].clone().unwrap();
    assert!(to_hex(&l).starts_with(prefix), "{hash} label {} should start with {prefix}", to_hex(&l));
    assert_eq!(l.len(), prefix.len() / 2 + digest_len, "{hash} label length");
}

#[test]
fn hash_sha256_explicit() {
    with_hash("sha256", "0404");
}
#[test]
fn hash_sha384() {
    with_hash("sha384", "0405");
}
#[test]
fn hash_sha512() {
    with_hash("sha512", "0406");
}
#[test]
fn hash_sha1() {
    with_hash("sha1", "01");
}
#[test]
fn hash_sm3() {
    with_hash("sm3", "0411");
}

/// Running on its own output changes nothing: same labels, same grub/fstab/policy text,
/// 0 files newly labelled.
#[test]
fn idempotent_on_own_output() {
    let t = TestDir::new("idempotent");
    let img = TestImage::build(t.path(), Layout::Gpt, Format::Qcow2, &GuestTree::ubuntu());
    let before = img.fingerprint();
    let run1 = enable(&t, &img.path, "1", &[]);
    let c1 = check_enabled(&t, &img, &run1, &before, &Expect::default());
    let before2 = [(run1.out.clone(), crate::util::file_sha256(&run1.out))];
    let run2 = enable(&t, &run1.out, "2", &[]);
    run2.output.assert_exit(0);
    assert_eq!(crate::util::file_sha256(&run1.out), before2[0].1, "the first output (now input) was modified");
    let r = run2.report();
    assert_eq!(key_u64(&r, "labels.files_labelled"), 0, "second run labelled files again: {r}");
    assert_eq!(key_u64(&r, "labels.files_unchanged"), key_u64(&r, "labels.files_total"));
    assert!(key_u64(&r, "labels.files_total") > 20);
    assert_eq!(key(&r, "verify.mismatches").as_array().map(|a| a.len()), Some(0));
    let v2 = crate::util::oracle::Ext4View::open(&run2.out, img.root_offset, &t.sub("scratch-2"));
    v2.assert_fsck_clean();
    crate::util::oracle::qemu_img_check(&run2.out);
    let w2 = v2.walk();
    assert_eq!(
        w2.iter().map(|i| (&i.path, i.mode, i.uid, i.size)).collect::<Vec<_>>(),
        c1.walk.iter().map(|i| (&i.path, i.mode, i.uid, i.size)).collect::<Vec<_>>(),
        "second run changed the tree"
    );
    let paths: Vec<&str> = w2.iter().map(|i| i.path.as_str()).collect();
    let l2 = v2.xattrs(&paths, "security.ima");
    for (p, l) in paths.iter().zip(l2) {
        assert_eq!(l, c1.labels[*p], "label of {p} changed on the second run");
    }
    for p in [
        "/etc/fstab",
        "/etc/default/grub",
        "/etc/default/grub.d/50-cloudimg-settings.cfg",
        "/boot/grub/grub.cfg",
        "/etc/ima/ima-policy",
    ] {
        assert_eq!(v2.read_text(p), c1.view.read_text(p), "{p} changed on the second run");
    }
}

/// Idempotency also holds for other modes/hashes given again (no duplicate tokens), and a
/// re-run with a different hash relabels every file.
#[test]
fn rerun_with_other_hash_relabels() {
    let t = TestDir::new("rerun-hash");
    let img = TestImage::build(t.path(), Layout::Bare, Format::Raw, &GuestTree::debian());
    let run1 = enable(&t, &img.path, "1", &["--mode", "log"]);
    run1.output.assert_exit(0);
    let run2 = enable(&t, &run1.out, "2", &["--hash", "sha512", "--mode", "fix"]);
    // grub/fstab are compared with the ORIGINAL texts: the tokens must have been replaced,
    // not added again.
    run2.output.assert_exit(0);
    let r = run2.report();
    assert_eq!(key_u64(&r, "labels.files_unchanged"), 0, "every sha256 label must be rewritten as sha512: {r}");
    let c = crate::util::oracle::Ext4View::open(&run2.out, 0, &t.sub("scratch-2"));
    let walk = c.walk();
    let (wrong, _, _) = crate::util::check::label_problems(&c, &walk, "sha512", &|p| img.host_path(p));
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    let e = Expect { hash: "sha512", mode: "fix", ..Expect::default() };
    crate::util::check::check_fstab(STANDARD_FSTAB, &c.read_text("/etc/fstab").unwrap(), &e);
    crate::util::check::check_grub_cfg(
        &img.tree.text("/boot/grub/grub.cfg").unwrap(),
        &c.read_text("/boot/grub/grub.cfg").unwrap(),
        &e,
    );
    let (d, _) = crate::util::check::effective_grub(
        &[("/etc/default/grub".to_string(), c.read_text("/etc/default/grub").unwrap())].into_iter().collect(),
        &t.sub("scratch-3"),
    );
    crate::util::check::check_cmdline("quiet", &d, &e, "GRUB_CMDLINE_LINUX_DEFAULT after re-run");
}

#[test]
fn custom_policy_installed_verbatim() {
    let t = TestDir::new("policy");
    let img = TestImage::build(t.path(), Layout::Gpt, Format::Raw, &GuestTree::debian());
    let before = img.fingerprint();
    let policy = "dont_appraise fsmagic=0x9fa0\ndont_appraise fsmagic=0x4d44\nappraise func=BPRM_CHECK fowner=0\n";
    let pf = t.path().join("my-policy");
    std::fs::write(&pf, policy).unwrap();
    let run = enable(&t, &img.path, "1", &["--policy", pf.to_str().unwrap()]);
    check_enabled(&t, &img, &run, &before, &Expect { policy: Some(policy.as_bytes().to_vec()), ..Expect::default() });
}

#[test]
fn custom_policy_gets_final_newline() {
    let t = TestDir::new("policy-nl");
    let img = TestImage::build(t.path(), Layout::Bare, Format::Qcow2, &GuestTree::debian());
    let before = img.fingerprint();
    let pf = t.path().join("my-policy");
    std::fs::write(&pf, "dont_appraise fsmagic=0x4d44\nappraise fowner=0").unwrap();
    let run = enable(&t, &img.path, "1", &["--policy", pf.to_str().unwrap()]);
    let want = b"dont_appraise fsmagic=0x4d44\nappraise fowner=0\n".to_vec();
    check_enabled(&t, &img, &run, &before, &Expect { policy: Some(want), ..Expect::default() });
}

#[test]
fn no_iversion_leaves_fstab_alone() {
    let t = TestDir::new("no-iversion");
    let img = TestImage::build(t.path(), Layout::Gpt, Format::Qcow2, &GuestTree::debian());
    let before = img.fingerprint();
    let run = enable(&t, &img.path, "1", &["--no-iversion"]);
    let c = check_enabled(&t, &img, &run, &before, &Expect { iversion: false, ..Expect::default() });
    assert_eq!(c.text("/etc/fstab"), STANDARD_FSTAB);
}

fn with_root_spec(spec: &str) -> GuestTree {
    let mut t = GuestTree::debian();
    t.file("/etc/fstab", STANDARD_FSTAB.replace("LABEL=cloudimg-rootfs\t/", &format!("{spec}\t/")));
    t
}

fn root_found(layout: Layout, spec: &str) {
    let t = TestDir::new("rootspec");
    let img = TestImage::build(t.path(), layout, Format::Raw, &with_root_spec(spec));
    let before = img.fingerprint();
    let run = enable(&t, &img.path, "1", &[]);
    check_enabled(&t, &img, &run, &before, &Expect::default());
}

#[test]
fn root_by_uuid_mbr() {
    root_found(Layout::Mbr, &format!("UUID={ROOT_UUID}"));
}
#[test]
fn root_by_partuuid_gpt() {
    root_found(Layout::Gpt, &format!("PARTUUID={ROOT_PARTUUID_GPT}"));
}
#[test]
fn root_by_partuuid_mbr() {
    root_found(Layout::Mbr, "PARTUUID=1a2b3c4d-02");
}
#[test]
fn root_by_device_path_gpt() {
    root_found(Layout::Gpt, "/dev/vda1");
}
#[test]
fn root_by_device_path_mbr() {
    root_found(Layout::Mbr, "/dev/vda2");
}

/// fstab names a root that is not on this disk: exit 2 listing the partitions; with
/// `--root-partition 1` it works.
#[test]
fn root_partition_override() {
    let t = TestDir::new("root-override");
    let img = TestImage::build(
        t.path(),
        Layout::Gpt,
        Format::Qcow2,
        &with_root_spec("UUID=99999999-8888-7777-6666-555555555555"),
    );
    let before = img.fingerprint();
    let run = enable(&t, &img.path, "1", &[]);
    run.output.assert_error().assert_stderr_contains(&["15", "--root-partition"]);
    assert!(crate::util::list_dir(&run.out_dir).is_empty(), "output left behind after a failure");
    let run = enable(&t, &img.path, "2", &["--root-partition", "1"]);
    check_enabled(&t, &img, &run, &before, &Expect::default());
}

/// `--root-partition` naming a vfat or nonexistent partition is an error (exit 2).
#[test]
fn root_partition_override_wrong() {
    let t = TestDir::new("root-override-bad");
    let img = TestImage::build(t.path(), Layout::Gpt, Format::Raw, &GuestTree::debian());
    let before = img.fingerprint();
    for (n, name) in [("15", "a"), ("7", "b")] {
        let run = enable(&t, &img.path, name, &["--root-partition", n]);
        run.output.assert_error().assert_stderr_contains(&[n]);
        assert!(crate::util::list_dir(&run.out_dir).is_empty(), "output left behind after a failure");
    }
    assert_eq!(img.fingerprint(), before);
}

/// `-q`: errors only, so a successful run prints nothing on stderr; `-v` still succeeds.
#[test]
fn quiet_and_verbose() {
    let t = TestDir::new("quiet");
    let img = TestImage::build(t.path(), Layout::Bare, Format::Raw, &GuestTree::debian());
    let run = enable(&t, &img.path, "q", &["-q"]);
    run.output.assert_exit(0);
    assert_eq!(run.output.stderr.trim(), "", "-q should print nothing on success");
    let run = enable(&t, &img.path, "v", &["-v"]);
    run.output.assert_exit(0);
    assert!(!run.output.stderr.trim().is_empty(), "-v should log something");
}
