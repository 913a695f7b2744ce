//! The plugins shipped in the repository's `plugins/` folder: discovered and valid, scripts that
//! parse, cloud-configs cloud-init accepts, and the generating hooks run for real.

use super::super::*;
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Output};

fn shipped_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../plugins")
}

fn shipped() -> Vec<Plugin> {
    discover(&[shipped_dir()]).unwrap()
}

fn plugin(name: &str) -> Plugin {
    shipped().into_iter().find(|p| p.name == name).unwrap_or_else(|| panic!("no plugin {name}"))
}

fn run(cmd: &mut Command, what: &str) -> Output {
    cmd.output().unwrap_or_else(|e| panic!("cannot run {what}: {e}"))
}

/// `cloud-init schema -c FILE` accepts the cloud-config.
fn assert_cloud_init_accepts(path: &Path) {
    let out = run(
        Command::new("cloud-init").args(["schema", "-c"]).arg(path),
        "cloud-init schema (install the Debian package cloud-init)",
    );
    assert!(
        out.status.success(),
        "cloud-init schema refuses {}: {}{}",
        path.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Every file under `dir` whose first line starts with `#!`.
fn scripts_under(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            scripts_under(&p, out);
        } else if std::fs::read(&p).unwrap().starts_with(b"#!") {
            out.push(p);
        }
    }
}

#[test]
fn shipped_plugins_are_discovered_and_valid() {
    let ps = shipped();
    assert_eq!(
        ps.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(),
        [
            "01-resize-image",
            "02-motd-welcome",
            "03-netplan",
            "04-user-authkey",
            "05-readonly-data",
            "07-device-permission",
            "08-ccnp-uds-directory-permission",
            "60-initrd-update",
            "97-sample",
            "98-ima-enable-simple",
        ]
    );
    assert_eq!(ps.iter().filter(|p| p.skipped).map(|p| p.name.as_str()).collect::<Vec<_>>(), ["97-sample"]);
    validate(&ps).unwrap_or_else(|e| panic!("{e:#?}"));
    // the sample too, as if NOT_RUN were removed
    let all: Vec<Plugin> = ps.iter().cloned().map(|p| Plugin { skipped: false, ..p }).collect();
    validate(&all).unwrap_or_else(|e| panic!("{e:#?}"));
    let parts = collect_parts(&all, |_| None).unwrap();
    assert!(parts.len() >= 4, "{parts:?}");
    let listing = listing(&ps);
    assert!(listing.contains("01-resize-image: pre-stage host_run.sh\n"), "{listing}");
    assert!(listing.contains("98-ima-enable-simple: files/\n"), "{listing}");
    assert!(listing.contains("(skipped: NOT_RUN)"), "{listing}");
}

#[test]
fn shipped_scripts_parse_and_use_set_eu() {
    let mut scripts = Vec::new();
    scripts_under(&shipped_dir(), &mut scripts);
    assert!(scripts.len() >= 11, "{scripts:?}");
    for s in &scripts {
        let text = std::fs::read_to_string(s).unwrap();
        let shell = if text.starts_with("#!/bin/sh\n") {
            "sh"
        } else if text.starts_with("#!/bin/bash\n") {
            "bash"
        } else {
            panic!("{}: use #!/bin/sh or #!/bin/bash", s.display())
        };
        assert!(text.lines().any(|l| l == "set -eu"), "{}: no `set -eu` line", s.display());
        for sh in [shell, "bash"] {
            let out = run(Command::new(sh).arg("-n").arg(s), sh);
            assert!(out.status.success(), "{sh} -n {}: {}", s.display(), String::from_utf8_lossy(&out.stderr));
        }
        let mode = std::fs::metadata(s).unwrap().permissions().mode();
        assert!(mode & 0o111 != 0, "{} is not executable", s.display());
    }
}

#[test]
fn shipped_cloud_configs_pass_cloud_init_schema() {
    let mut n = 0;
    for p in shipped() {
        for c in &p.cloud_config {
            assert_cloud_init_accepts(c);
            n += 1;
        }
    }
    assert!(n >= 1);
}

#[test]
fn ima_plugin_holds_the_default_policy_and_settings_only() {
    let p = plugin("98-ima-enable-simple");
    let policy = std::fs::read_to_string(p.dir.join("files/etc/ima/ima-policy")).unwrap();
    assert_eq!(policy, crate::ima::policy::default_policy(), "regenerate with `cargo run -q -- ima policy default`");
    let conf = std::fs::read_to_string(p.dir.join("ima.conf")).unwrap();
    let settings: Vec<&str> = conf.lines().filter(|l| !l.starts_with('#') && !l.trim().is_empty()).collect();
    assert_eq!(settings, ["mode=enforce", "hash=sha256", "label=offline"]);
    assert!(p.hooks().is_empty() && p.cloud_init.is_none(), "{p:?}");
    let files = guest_files(p.files.as_deref().unwrap()).unwrap();
    let paths: Vec<&str> = files.iter().map(|f| f.guest_path.as_str()).collect();
    assert_eq!(paths, ["/etc", "/etc/ima", "/etc/ima/ima-policy"]);
}

#[test]
fn shipped_files_land_where_upstream_put_them() {
    let all: Vec<String> = shipped()
        .iter()
        .filter_map(|p| p.files.clone())
        .flat_map(|f| guest_files(&f).unwrap())
        .filter(|g| g.kind == GuestFileKind::File)
        .map(|g| format!("{} {:o}", g.guest_path, g.mode & 0o111))
        .collect();
    for want in [
        "/etc/motd 0",
        "/etc/netplan/90-cvm-dhcp.yaml 0",
        "/etc/readonly_file_demo 0",
        "/etc/udev/rules.d/90-tdx.rules 0",
        "/usr/lib/tmpfiles.d/ccnp.conf 0",
        "/etc/initramfs-tools/hooks/cvm-initrd-files 111",
        "/etc/cvm-initrd/files/etc/cvm-initrd-example 0",
        "/etc/ima/ima-policy 0",
    ] {
        assert!(all.iter().any(|a| a == want), "{want} not in {all:#?}");
    }
    let rules = std::fs::read_to_string(plugin("07-device-permission").dir.join("files/etc/udev/rules.d/90-tdx.rules"));
    assert!(rules.unwrap().contains("SUBSYSTEM==\"misc\", KERNEL==\"tdx_guest\", MODE=\"0666\"\n"));
}

/// Runs hook `script` of `p` as a runner would, with `extra` environment variables.
fn run_hook(p: &Plugin, script: &Path, generated: &Path, extra: &[(&str, &str)]) -> Output {
    let mut cmd = hook_command(script);
    cmd.current_dir(&p.dir);
    cmd.envs(hook_env(p, Path::new("/nonexistent/guest.img"), generated).into_iter().map(|(k, v)| (k.to_string(), v)));
    for v in ["GUEST_SIZE", "CVM_USER", "CVM_AUTH_KEY"] {
        cmd.env_remove(v);
    }
    cmd.envs(extra.iter().copied());
    run(&mut cmd, &script.display().to_string())
}

#[test]
fn user_authkey_generates_a_valid_part() {
    let p = plugin("04-user-authkey");
    let hook = p.pre_host_run.clone().unwrap();
    let gen = tempfile::tempdir().unwrap();
    let key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE5gGJvUq8M0d3F8sQwY8K8Nn1u4z7bA0h7e1s6mR2Qx o'brien@host $HOME `x`";
    let out = run_hook(&p, &hook, gen.path(), &[("CVM_AUTH_KEY", key), ("CVM_USER", "alice")]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let parts = collect_parts(std::slice::from_ref(&p), |_| Some(gen.path().to_path_buf())).unwrap();
    assert_eq!(parts.len(), 1);
    assert_eq!(parts[0].filename, "04-user.yaml");
    let part = gen.path().join("cloud-config/04-user.yaml");
    assert_cloud_init_accepts(&part);
    // the key survives YAML quoting
    let py = "import sys, yaml, json; d = yaml.safe_load(open(sys.argv[1])); print(json.dumps(d['users']))";
    let out = run(Command::new("python3").args(["-c", py]).arg(&part), "python3 with yaml (python3-yaml)");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let users: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(users[0], "default");
    assert_eq!(users[1]["name"], "alice");
    assert_eq!(users[1]["ssh_authorized_keys"][0], key);

    // no key: nothing generated, success; bad settings: failure with a message
    let gen = tempfile::tempdir().unwrap();
    let out = run_hook(&p, &hook, gen.path(), &[]);
    assert!(out.status.success() && std::fs::read_dir(gen.path()).unwrap().next().is_none());
    for (user, key, msg) in [
        ("Bad User", "ssh-ed25519 AAAA x", "not a valid user name"),
        ("bob", "not a key", "does not look like an ssh public key"),
        ("bob", "ssh-ed25519 AAAA x\nssh-rsa BBBB y", "several lines"),
    ] {
        let out = run_hook(&p, &hook, gen.path(), &[("CVM_USER", user), ("CVM_AUTH_KEY", key)]);
        assert!(!out.status.success(), "{user} {key}");
        assert!(String::from_utf8_lossy(&out.stderr).contains(msg), "{}", String::from_utf8_lossy(&out.stderr));
    }
}

#[test]
fn readonly_data_generates_a_working_script() {
    let shipped = plugin("05-readonly-data");
    // a copy of the plugin whose file_list names paths in a temporary folder
    let d = tempfile::tempdir().unwrap();
    let r = tempfile::tempdir().unwrap();
    let root = r.path().join("it's a root");
    std::fs::create_dir_all(root.join("data dir/sub")).unwrap();
    std::fs::write(root.join("data dir/sub/f"), "x").unwrap();
    std::fs::write(root.join("single"), "x").unwrap();
    let pdir = d.path().join("05-readonly-data");
    std::fs::create_dir_all(pdir.join("pre-stage")).unwrap();
    std::fs::copy(shipped.pre_host_run.as_ref().unwrap(), pdir.join("pre-stage/host_run.sh")).unwrap();
    std::fs::write(
        pdir.join("pre-stage/file_list"),
        format!("# comment\n\n{}\n{}/", root.join("single").display(), root.join("data dir").display()),
    )
    .unwrap();
    let p = discover(&[d.path().to_path_buf()]).unwrap().into_iter().find(|p| p.name == "05-readonly-data").unwrap();
    let gen = tempfile::tempdir().unwrap();
    let out = run_hook(&p, p.pre_host_run.as_ref().unwrap(), gen.path(), &[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let parts = collect_parts(std::slice::from_ref(&p), |_| Some(gen.path().to_path_buf())).unwrap();
    assert_eq!(parts.len(), 1);
    let script = gen.path().join("x-shellscript/05-readonly-data.sh");
    let out = run(Command::new("sh").arg(&script), "sh");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let mode = |rel: &str| std::fs::metadata(root.join(rel)).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode("single"), 0o444);
    assert_eq!(mode("data dir"), 0o555);
    assert_eq!(mode("data dir/sub"), 0o555);
    assert_eq!(mode("data dir/sub/f"), 0o444);
    // a relative path is refused
    std::fs::write(pdir.join("pre-stage/file_list"), "etc/x\n").unwrap();
    let out = run_hook(&p, p.pre_host_run.as_ref().unwrap(), gen.path(), &[]);
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("not an absolute guest path"));
    // let the temporary folder be removed
    for rel in ["data dir", "data dir/sub"] {
        std::fs::set_permissions(root.join(rel), std::fs::Permissions::from_mode(0o755)).unwrap();
    }
}

#[test]
fn resize_image_grows_the_image_only_when_asked() {
    let p = plugin("01-resize-image");
    let hook = p.pre_host_run.clone().unwrap();
    let d = tempfile::tempdir().unwrap();
    let img = d.path().join("guest.qcow2");
    let out = run(Command::new("qemu-img").args(["create", "-q", "-f", "qcow2"]).arg(&img).arg("64M"), "qemu-img");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let size = || {
        let out = run(Command::new("qemu-img").args(["info", "--output=json"]).arg(&img), "qemu-img");
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        v["virtual-size"].as_u64().unwrap()
    };
    let gen = d.path().join("generated");
    let run_with = |extra: &[(&str, &str)]| {
        let mut cmd = hook_command(&hook);
        cmd.envs(hook_env(&p, &img, &gen).into_iter().map(|(k, v)| (k.to_string(), v)));
        cmd.env_remove("GUEST_SIZE").envs(extra.iter().copied());
        run(&mut cmd, "01-resize-image host_run.sh")
    };
    let script = gen.join("x-shellscript/01-resize-rootfs.sh");
    assert!(run_with(&[]).status.success());
    assert_eq!(size(), 64 << 20);
    assert!(!script.exists(), "no guest part without GUEST_SIZE");
    let out = run_with(&[("GUEST_SIZE", "128M")]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(size(), 128 << 20);
    // The guest part: a valid shell script the validator accepts.
    let text = std::fs::read_to_string(&script).unwrap();
    assert!(text.starts_with("#!/bin/sh\n") && text.contains("growpart") && text.contains("resize2fs"));
    let syntax = run(Command::new("sh").arg("-n").arg(&script), "sh -n");
    assert!(syntax.status.success(), "{}", String::from_utf8_lossy(&syntax.stderr));
    let parts = collect_parts(std::slice::from_ref(&p), |_| Some(gen.clone())).unwrap();
    assert_eq!(parts.iter().map(|p| p.filename.as_str()).collect::<Vec<_>>(), ["01-resize-rootfs.sh"]);
    // never shrinks
    assert!(!run_with(&[("GUEST_SIZE", "32M")]).status.success());
    assert!(!run_with(&[("GUEST_SIZE", "+1G")]).status.success());
    assert_eq!(size(), 128 << 20);
}
