//! `run` without a boot: plugins whose work is all offline (files/ overlays, host hooks) and
//! the IMA step; plugin validation before anything runs; `--config`. (The boot is tested in
//! tests/e2e.rs on the real guest.)

use crate::util::command::TestCommand;
use crate::util::image::{Format, Layout, TestImage};
use crate::util::oracle::{evmctl_label_of, Ext4View};
use crate::util::tree::GuestTree;
use crate::util::{list_dir, TestDir};
use std::path::Path;

fn write(path: &Path, content: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, content).unwrap();
}

/// Offline plugins: a files/ overlay with a file, a nested file, an executable and a symlink,
/// a host hook that sees GUEST_IMG, a later plugin overriding an earlier one's file, and IMA
/// (98-ima-enable-simple) applied last: every file the plugins wrote is labelled.
#[test]
fn offline_plugins_then_ima_without_a_boot() {
    let t = TestDir::new("run-offline");
    let img = TestImage::build(t.path(), Layout::Gpt, Format::Qcow2, &GuestTree::ubuntu());
    let before = img.fingerprint();
    let p = t.sub("plugins");
    write(&p.join("02-motd/files/etc/motd"), "first motd\n");
    write(&p.join("03-later/files/etc/motd"), "later plugin wins\n");
    write(&p.join("03-later/files/usr/local/share/cvm/deep/file.txt"), "deep\n");
    write(&p.join("03-later/files/usr/local/bin/hello"), "#!/bin/sh\necho hello\n");
    std::fs::set_permissions(
        p.join("03-later/files/usr/local/bin/hello"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    std::os::unix::fs::symlink("../share/cvm/deep/file.txt", p.join("03-later/files/usr/local/bin/link")).unwrap();
    let hook_log = t.path().join("hook.log");
    write(
        &p.join("04-hook/pre-stage/host_run.sh"),
        &format!(
            "#!/bin/sh\nset -eu\necho \"$PLUGIN_NAME $(basename \"$GUEST_IMG\" | cut -c1-5)\" > {}\n",
            hook_log.display()
        ),
    );
    write(&p.join("05-skipped/files/etc/skipped"), "must not appear\n");
    write(&p.join("05-skipped/NOT_RUN"), "");
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../plugins/98-ima-enable-simple");
    let (code, _, err) = {
        let o = std::process::Command::new("cp").arg("-a").arg(&repo).arg(&p).output().unwrap();
        (o.status.code(), (), String::from_utf8_lossy(&o.stderr).into_owned())
    };
    assert_eq!(code, Some(0), "{err}");

    let out = t.sub("out-run").join("out.qcow2");
    let report = t.path().join("report-run.json");
    let r = TestCommand::new()
        .args(["run", "--json", "-i"])
        .arg(&img.path)
        .arg("-o")
        .arg(&out)
        .arg("--plugins")
        .arg(&p)
        .run();
    r.assert_exit(0);
    assert!(r.stderr.contains("05-skipped") && r.stderr.contains("NOT_RUN"), "listing first: {}", r.stderr);
    std::fs::write(&report, &r.stdout).unwrap();
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert!(v["boot"].is_null(), "no part needs the guest, so no boot: {v}");
    assert_eq!(
        std::fs::read_to_string(&hook_log).unwrap().trim(),
        "04-hook .out.",
        "the hook ran on the staged output"
    );

    let view = Ext4View::open(&out, img.root_offset, &t.sub("view"));
    assert_eq!(view.read_text("/etc/motd").as_deref(), Some("later plugin wins\n"));
    assert_eq!(view.read_text("/usr/local/share/cvm/deep/file.txt").as_deref(), Some("deep\n"));
    assert!(view.read("/etc/skipped").is_none());
    let walk = view.walk();
    let hello = walk.iter().find(|i| i.path == "/usr/local/bin/hello").expect("hello");
    assert_eq!((hello.uid, hello.mode & 0o7777), (0, 0o755));
    let link = walk.iter().find(|i| i.path == "/usr/local/bin/link").expect("link");
    assert!(link.is_symlink());
    let (stat, _) = view.request("stat /usr/local/bin/link");
    assert!(
        String::from_utf8_lossy(&stat).contains("../share/cvm/deep/file.txt"),
        "{}",
        String::from_utf8_lossy(&stat)
    );

    // IMA came last: the plugins' files carry labels of their final content (evmctl agrees).
    let paths = ["/etc/motd", "/usr/local/bin/hello", "/usr/local/share/cvm/deep/file.txt"];
    let labels = view.xattrs(&paths, "security.ima");
    let dumped = view.dump_all(&paths, &t.sub("dump"));
    for ((path, label), host) in paths.iter().zip(&labels).zip(&dumped) {
        assert_eq!(label.as_deref(), Some(&evmctl_label_of(host, "sha256")[..]), "{path}");
    }
    assert_eq!(v["ima"]["mismatches"], 0);
    assert!(v["ima"]["files_labelled"].as_u64().unwrap() > 10);
    // The input is untouched.
    assert_eq!(img.fingerprint(), before);
}

#[test]
fn invalid_plugins_stop_the_run_before_anything_is_written() {
    let t = TestDir::new("run-invalid");
    let img = TestImage::build(t.path(), Layout::Bare, Format::Raw, &GuestTree::debian());
    let p = t.sub("plugins");
    write(&p.join("10-bad/cloud-init/cloud-config/10-x.yaml"), "runcmd: [echo no header]\n");
    write(&p.join("11-bad/cloud-init/x-shellscript/nodigits.sh"), "#!/bin/sh\n");
    let out_dir = t.sub("out");
    let r = TestCommand::new()
        .args(["run", "-i"])
        .arg(&img.path)
        .arg("-o")
        .arg(out_dir.join("o.raw"))
        .arg("--plugins")
        .arg(&p)
        .run();
    r.assert_exit(2).assert_stderr_contains(&["10-x.yaml", "#cloud-config", "nodigits.sh"]);
    assert!(list_dir(&out_dir).is_empty());
}

#[test]
fn config_file_gives_every_setting_and_flags_override() {
    let t = TestDir::new("run-config");
    let img = TestImage::build(t.path(), Layout::Gpt, Format::Raw, &GuestTree::debian());
    let p = t.sub("plugins");
    write(&p.join("02-motd/files/etc/motd"), "from config run\n");
    let cfg = t.path().join("rewriter.toml");
    let input = img.path.display();
    write(&cfg, &format!("input = \"{input}\"\noutput = \"cfg-out.raw\"\nplugins = [\"plugins\"]\ntimeout = \"5m\"\naccel = \"tcg\"\n"));
    TestCommand::new().args(["run", "-q", "--config"]).arg(&cfg).run().assert_exit(0);
    assert!(t.path().join("cfg-out.raw").exists(), "paths are relative to the config file");
    // A flag overrides the config's output.
    let other = t.path().join("flag-out.raw");
    TestCommand::new().args(["run", "-q", "--config"]).arg(&cfg).arg("-o").arg(&other).run().assert_exit(0);
    assert!(other.exists());
    // Unknown keys are errors naming the key.
    write(&cfg, &format!("input = \"{input}\"\ntimout = \"5m\"\n"));
    TestCommand::new().args(["run", "--config"]).arg(&cfg).run().assert_exit(2).assert_stderr_contains(&["timout"]);
}

/// The IMA step from config keys alone (no 98-ima-enable-simple plugin): `ima_mode` and
/// `ima_hash` reach the command line and the labels; a flag overrides a key; a bad ima.conf
/// setting is refused before anything is written.
#[test]
fn ima_settings_from_config_and_flags() {
    let t = TestDir::new("run-ima-settings");
    let img = TestImage::build(t.path(), Layout::Gpt, Format::Raw, &GuestTree::debian());
    let p = t.sub("plugins");
    write(&p.join("02-motd/files/etc/motd"), "ima from config\n");
    let cfg = t.path().join("rewriter.toml");
    write(
        &cfg,
        &format!(
            "input = \"{}\"\nplugins = [\"plugins\"]\nima_mode = \"log\"\nima_hash = \"sha512\"\nima_label = \"offline\"\n",
            img.path.display()
        ),
    );
    let out = t.path().join("out.raw");
    let r = TestCommand::new().args(["run", "--json", "--config"]).arg(&cfg).arg("-o").arg(&out).run();
    r.assert_exit(0);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["ima"]["method"], "offline");
    let cmdline: Vec<&str> = v["ima"]["cmdline"].as_array().unwrap().iter().map(|c| c.as_str().unwrap()).collect();
    assert!(cmdline.contains(&"ima_appraise=log") && cmdline.contains(&"ima_hash=sha512"), "{cmdline:?}");
    let view = Ext4View::open(&out, img.root_offset, &t.sub("view"));
    let label = view.xattrs(&["/etc/motd"], "security.ima").remove(0).expect("labelled");
    let host = view.dump_all(&["/etc/motd"], &t.sub("dump")).remove(0);
    assert_eq!(label, evmctl_label_of(&host, "sha512"));

    // The flag wins over the key.
    let out2 = t.path().join("out2.raw");
    let r = TestCommand::new()
        .args(["run", "--json", "--ima-mode", "enforce", "--config"])
        .arg(&cfg)
        .arg("-o")
        .arg(&out2)
        .run();
    r.assert_exit(0);
    assert!(r.stdout.contains("ima_appraise=enforce"), "{}", r.stdout);

    // A wrong ima.conf line names the file, the line and the allowed values.
    let ima = p.join("98-ima-enable-simple");
    write(&ima.join("ima.conf"), "mode=enforce\nlabel=sometimes\n");
    let out3 = t.sub("out3");
    TestCommand::new()
        .args(["run", "-i"])
        .arg(&img.path)
        .arg("-o")
        .arg(out3.join("o.raw"))
        .arg("--plugins")
        .arg(&p)
        .run()
        .assert_exit(2)
        .assert_stderr_contains(&["ima.conf:2", "label=sometimes", "offline|boot"]);
    assert!(list_dir(&out3).is_empty());
}

/// `--ima-label boot` needs a kernel that honours `ima_appraise=fix`: on one built without
/// CONFIG_IMA_APPRAISE_BOOTPARAM (this image's /boot/config-*), it is refused before any copy
/// or boot, with the way out.
#[test]
fn boot_labelling_is_refused_when_the_kernel_ignores_fix_mode() {
    let t = TestDir::new("run-boot-label-refused");
    let img = TestImage::build(t.path(), Layout::Gpt, Format::Qcow2, &GuestTree::debian());
    let p = t.sub("plugins");
    write(&p.join("02-motd/files/etc/motd"), "x\n");
    let out = t.sub("out");
    TestCommand::new()
        .args(["run", "--ima-label", "boot", "--accel", "tcg", "-i"])
        .arg(&img.path)
        .arg("-o")
        .arg(out.join("o.qcow2"))
        .arg("--plugins")
        .arg(&p)
        .run()
        .assert_exit(2)
        .assert_stderr_contains(&["--ima-label boot", "CONFIG_IMA_APPRAISE_BOOTPARAM", "--ima-label offline"]);
    assert!(list_dir(&out).is_empty());
}
