//! The policy decides: labels go exactly where the policy appraises (`--label policy`, the
//! default) or on every root-owned file (`--label all-root`); policies the kernel or the image
//! would reject are refused before any output exists; `ima policy check` and `ima policy default`.

use crate::util::check::{check_enabled, enable, key, key_u64, Expect};
use crate::util::command::TestCommand;
use crate::util::image::{Format, Layout, TestImage};
use crate::util::oracle::{evmctl_label_of, Ext4View};
use crate::util::tree::GuestTree;
use crate::util::{list_dir, TestDir};

#[test]
fn all_root_labels_root_files_and_names_the_others_not_root_owned() {
    let t = TestDir::new("all-root");
    let img = TestImage::build(t.path(), Layout::Gpt, Format::Qcow2, &GuestTree::debian());
    let before = img.fingerprint();
    let run = enable(&t, &img.path, "1", &["--label", "all-root"]);
    check_enabled(&t, &img, &run, &before, &Expect::default());
    let r = run.report();
    assert!(key_u64(&r, "labels.skipped.not_root_owned") > 0, "{r}");
    assert!(key(&r, "labels.skipped").get("not_appraised").is_none(), "{r}");
}

/// A policy that appraises only uid 1000's files: exactly those get labels (checked with
/// debugfs and evmctl), root's files get none, and the report counts the rule's files.
#[test]
fn labels_exactly_what_the_policy_appraises() {
    let t = TestDir::new("policy-select");
    let img = TestImage::build(t.path(), Layout::Gpt, Format::Raw, &GuestTree::debian());
    let pf = t.path().join("user-policy");
    std::fs::write(&pf, "dont_appraise fsmagic=0x4d44\nappraise fowner=1000\n").unwrap();
    let run = enable(&t, &img.path, "1", &["--policy", pf.to_str().unwrap()]);
    run.output.assert_exit(0);
    let r = run.report();
    let view = Ext4View::open(&run.out, img.root_offset, &t.sub("view"));
    let walk = view.walk();
    let user_files: Vec<_> = walk.iter().filter(|i| i.is_file() && i.uid == 1000).collect();
    let root_files: Vec<_> = walk.iter().filter(|i| i.is_file() && i.uid == 0).collect();
    assert!(!user_files.is_empty() && !root_files.is_empty());
    assert_eq!(key_u64(&r, "labels.files_total"), user_files.len() as u64, "{r}");
    let rules = key(&r, "labels.rules").as_array().unwrap();
    let rule = rules.iter().find(|x| x["rule"] == "appraise fowner=1000").expect("per-rule count");
    assert_eq!(rule["files"].as_u64(), Some(user_files.len() as u64));
    let dump = t.sub("dump");
    for f in &user_files {
        let host = view.dump_all(&[f.path.as_str()], &dump).pop().unwrap();
        let got = view.xattr(&f.path, "security.ima").unwrap_or_else(|| panic!("{} has no label", f.path));
        assert_eq!(got, evmctl_label_of(&host, "sha256"), "{}", f.path);
    }
    for f in root_files.iter().take(50) {
        assert_eq!(view.xattr(&f.path, "security.ima"), None, "{} is not appraised by this policy", f.path);
    }
}

/// An LSM rule cannot be checked offline without the image's kernel configuration, so it is a
/// warning; --deny-warnings turns it into a refusal, before any output is written.
#[test]
fn deny_warnings_refuses_before_writing() {
    let t = TestDir::new("deny-warnings");
    let img = TestImage::build(t.path(), Layout::Gpt, Format::Qcow2, &GuestTree::debian());
    let pf = t.path().join("lsm-policy");
    std::fs::write(&pf, "dont_appraise fsmagic=0x4d44\ndont_appraise fsmagic=0x9660\nappraise obj_type=etc_t\n")
        .unwrap();
    let out_dir = t.sub("out");
    let out = TestCommand::new()
        .args(["ima", "enable", "--deny-warnings", "--policy"])
        .arg(&pf)
        .arg("-i")
        .arg(&img.path)
        .arg("-o")
        .arg(out_dir.join("out.qcow2"))
        .run();
    out.assert_exit(2).assert_stderr_contains(&["lsm-rule-without-lsm", "line 3"]);
    assert!(list_dir(&out_dir).is_empty(), "nothing may be left: {:?}", list_dir(&out_dir));
}

#[test]
fn policy_check_reports_grammar_errors_with_positions() {
    let t = TestDir::new("policy-check");
    let pf = t.path().join("bad");
    std::fs::write(&pf, "appraise fowner=0 # root\nmeasure func=BPRM_CHECK template=ima-ng pcr=64\n").unwrap();
    let out = TestCommand::new().args(["ima", "policy", "check"]).arg(&pf).run();
    out.assert_exit(1).assert_stderr_contains(&["line 1:19", "line 2:"]);
    let good = t.path().join("good");
    std::fs::write(&good, "dont_appraise fsmagic=0x4d44\nappraise func=BPRM_CHECK fowner=0\n").unwrap();
    TestCommand::new().args(["ima", "policy", "check"]).arg(&good).run().assert_exit(0);
}

/// Against an image whose fstab mounts a vfat /boot/efi, a policy without the vfat exclusion
/// gets the exact line to add.
#[test]
fn policy_check_against_an_image_suggests_the_missing_exclusion() {
    let t = TestDir::new("policy-check-image");
    let img = TestImage::build(t.path(), Layout::Gpt, Format::Qcow2, &GuestTree::ubuntu());
    let pf = t.path().join("p");
    std::fs::write(&pf, "appraise fowner=0\n").unwrap();
    let out = TestCommand::new().args(["ima", "policy", "check", "--json", "--image"]).arg(&img.path).arg(&pf).run();
    out.assert_exit(0);
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let findings = v["findings"].as_array().unwrap();
    let vfat = findings
        .iter()
        .find(|f| f["code"] == "no-xattr-fs" && f["suggestion"].as_str().unwrap_or("").contains("0x4d44"));
    assert!(vfat.is_some(), "{v:#}");
    TestCommand::new()
        .args(["ima", "policy", "check", "--deny-warnings", "--image"])
        .arg(&img.path)
        .arg(&pf)
        .run()
        .assert_exit(1);
}

#[test]
fn policy_default_profiles_parse_and_differ() {
    let tcb = TestCommand::new().args(["ima", "policy", "default"]).run();
    tcb.assert_exit(0);
    let exec = TestCommand::new().args(["ima", "policy", "default", "--profile", "exec"]).run();
    exec.assert_exit(0);
    let (tcb, exec) = (tcb.stdout, exec.stdout);
    assert!(tcb.lines().any(|l| l == "appraise fowner=0"));
    assert!(exec.lines().any(|l| l == "appraise func=BPRM_CHECK fowner=0"));
    assert!(!exec.lines().any(|l| l == "appraise fowner=0"));
    for text in [tcb, exec] {
        let t = TestDir::new("profile");
        let p = t.path().join("p");
        std::fs::write(&p, text).unwrap();
        TestCommand::new().args(["ima", "policy", "check"]).arg(&p).run().assert_exit(0);
    }
}
