//! Kernel command line edits: Debian `/etc/default/grub`, Ubuntu drop-ins, replacing old
//! values, modes, and the `rootflags=i_version` rule.

use crate::util::check::{check_enabled, enable, Checked, Expect};
use crate::util::image::{Format, Layout, TestImage};
use crate::util::tree::{grub_cfg, pseudo_random, GuestTree, DEBIAN_GRUB};
use crate::util::TestDir;

fn run_check(name: &str, tree: &GuestTree, args: &[&str], e: &Expect) -> (TestDir, Checked) {
    let t = TestDir::new(name);
    let img = TestImage::build(t.path(), Layout::Gpt, Format::Raw, tree);
    let before = img.fingerprint();
    let run = enable(&t, &img.path, "1", args);
    let c = check_enabled(&t, &img, &run, &before, e);
    (t, c)
}

/// The value assigned to GRUB_CMDLINE_LINUX_DEFAULT in one file (last assignment), unquoted.
fn assigned(text: &str) -> Option<String> {
    text.lines()
        .rev()
        .find_map(|l| l.trim_start().strip_prefix("GRUB_CMDLINE_LINUX_DEFAULT="))
        .map(|v| v.trim().trim_matches(|c| c == '"' || c == '\'').to_string())
}

#[test]
fn debian_default_grub_only() {
    let tree = GuestTree::debian();
    let (_t, c) = run_check("grub-debian", &tree, &[], &Expect::default());
    let text = c.text("/etc/default/grub");
    let v = assigned(&text).expect("assignment kept");
    assert!(v.split_whitespace().any(|t| t == "quiet"), "{v}");
    assert!(v.contains("ima_appraise=enforce") && v.contains("ima_hash=sha256"), "{text}");
    assert!(
        !c.walk.iter().any(|i| i.path.starts_with("/etc/default/grub.d")),
        "no drop-in directory should be created"
    );
}

/// Ubuntu cloud images: the drop-in's assignment is the effective one, so it must carry the
/// tokens (a non-.cfg file in grub.d is not sourced by grub and must not count).
#[test]
fn ubuntu_dropin() {
    let mut tree = GuestTree::ubuntu();
    tree.file("/etc/default/grub.d/99-notes.txt", "GRUB_CMDLINE_LINUX_DEFAULT=\"not sourced\"\n");
    let (_t, c) = run_check("grub-ubuntu", &tree, &[], &Expect::default());
    let dropin = c.text("/etc/default/grub.d/50-cloudimg-settings.cfg");
    let v = assigned(&dropin).unwrap();
    let toks: Vec<&str> = v.split_whitespace().collect();
    assert!(toks.contains(&"console=tty1") && toks.contains(&"console=ttyS0"), "{dropin}");
    assert!(toks.contains(&"ima_appraise=enforce") && toks.contains(&"ima_hash=sha256"), "{dropin}");
    assert_eq!(c.text("/etc/default/grub.d/99-notes.txt"), "GRUB_CMDLINE_LINUX_DEFAULT=\"not sourced\"\n");
}

/// Single-quoted assignment and an assignment in a later drop-in that overrides an earlier one.
#[test]
fn later_dropin_wins_and_single_quotes() {
    let mut tree = GuestTree::ubuntu();
    tree.file("/etc/default/grub.d/60-override.cfg", "GRUB_CMDLINE_LINUX_DEFAULT='console=hvc0 quiet'\n");
    let (_t, c) = run_check("grub-later", &tree, &[], &Expect::default());
    let v = assigned(&c.text("/etc/default/grub.d/60-override.cfg")).unwrap();
    assert!(v.contains("ima_appraise=enforce"), "{v}");
}

/// Old `ima_appraise=fix ima_hash=sha1` (and an old rootflags) are replaced, never duplicated.
#[test]
fn existing_values_replaced() {
    let mut tree = GuestTree::debian();
    tree.file(
        "/etc/default/grub",
        DEBIAN_GRUB.replace(
            "GRUB_CMDLINE_LINUX_DEFAULT=\"quiet\"",
            "GRUB_CMDLINE_LINUX_DEFAULT=\"quiet ima_appraise=fix ima_hash=sha1\"",
        ),
    );
    tree.file("/boot/grub/grub.cfg", grub_cfg("6.1.0-27-cloud-amd64", "ima_appraise=fix ima_hash=sha1"));
    let (_t, c) = run_check("grub-replace", &tree, &[], &Expect::default());
    let v = assigned(&c.text("/etc/default/grub")).unwrap();
    assert!(!v.contains("=fix") && !v.contains("sha1"), "{v}");
    let cfg = c.text("/boot/grub/grub.cfg");
    assert_eq!(cfg.matches("ima_appraise=fix").count(), 0);
    // The recovery entry keeps its line exactly (it had no ima tokens in the fixture).
    assert!(cfg.contains("ro single console=tty0 console=ttyS0,115200\n"), "{cfg}");
}

#[test]
fn mode_log() {
    run_check("grub-log", &GuestTree::ubuntu(), &["--mode", "log"], &Expect { mode: "log", ..Expect::default() });
}

#[test]
fn mode_fix() {
    run_check("grub-fix", &GuestTree::debian(), &["--mode", "fix"], &Expect { mode: "fix", ..Expect::default() });
}

#[test]
fn mode_enforce_explicit() {
    run_check("grub-enforce", &GuestTree::debian(), &["--mode", "enforce"], &Expect::default());
}

fn with_kernels(kernels: &[&str], grub_kernel: &str) -> GuestTree {
    let mut t = GuestTree::debian();
    t.remove("/boot/vmlinuz-6.1.0-27-cloud-amd64")
        .remove("/boot/initrd.img-6.1.0-27-cloud-amd64")
        .remove("/boot/config-6.1.0-27-cloud-amd64");
    for (i, k) in kernels.iter().enumerate() {
        t.file(&format!("/boot/vmlinuz-{k}"), pseudo_random(500 + i as u64, 50_000));
        t.file(&format!("/boot/initrd.img-{k}"), pseudo_random(600 + i as u64, 20_000));
    }
    t.file("/boot/grub/grub.cfg", grub_cfg(grub_kernel, ""));
    t
}

/// Only a 5.15 kernel: rootflags=i_version is needed and added.
#[test]
fn rootflags_added_for_old_kernel() {
    let tree = with_kernels(&["5.15.0-91-generic"], "5.15.0-91-generic");
    run_check("rootflags-515", &tree, &[], &Expect { rootflags: true, ..Expect::default() });
}

/// 6.1 kernel: no rootflags.
#[test]
fn rootflags_absent_for_61() {
    let tree = with_kernels(&["6.1.0-27-cloud-amd64"], "6.1.0-27-cloud-amd64");
    run_check("rootflags-61", &tree, &[], &Expect::default());
}

/// The newest kernel decides: 5.15 and 6.1 both present -> no rootflags.
#[test]
fn rootflags_newest_kernel_decides() {
    let tree = with_kernels(&["5.15.0-91-generic", "6.1.0-27-cloud-amd64"], "6.1.0-27-cloud-amd64");
    run_check("rootflags-both", &tree, &[], &Expect::default());
}

/// --rootflags-i-version forces it even with a 6.1 kernel.
#[test]
fn rootflags_forced() {
    run_check(
        "rootflags-forced",
        &GuestTree::debian(),
        &["--rootflags-i-version"],
        &Expect { rootflags: true, ..Expect::default() },
    );
}
