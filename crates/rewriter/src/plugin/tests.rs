use super::*;
use std::os::unix::fs::PermissionsExt;

const CONFIG: &str = "#cloud-config\nmerge_how:\n  - name: list\n    settings: [append]\n  - name: dict\n    settings: [no_replace, recurse_list]\nruncmd: [true]\n";
const SCRIPT: &str = "#!/bin/sh\nset -eu\necho hi\n";

/// Writes `content` at `root/rel`, creating folders.
fn put(root: &Path, rel: &str, content: &str) -> PathBuf {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(&p, content).unwrap();
    p
}

fn mkdir(root: &Path, rel: &str) -> PathBuf {
    let p = root.join(rel);
    std::fs::create_dir_all(&p).unwrap();
    p
}

fn names(plugins: &[Plugin]) -> Vec<&str> {
    plugins.iter().map(|p| p.name.as_str()).collect()
}

/// A full plugin of the plugins layout at `root/name`.
fn full_plugin(root: &Path, name: &str) {
    put(root, &format!("{name}/files/etc/motd"), "hello\n");
    put(root, &format!("{name}/pre-stage/host_run.sh"), SCRIPT);
    put(root, &format!("{name}/pre-stage/guest_run.sh"), SCRIPT);
    put(root, &format!("{name}/pre-stage/file_list"), "/etc/motd\n");
    put(root, &format!("{name}/post-stage/host_run.sh"), SCRIPT);
    put(root, &format!("{name}/post-stage/clean_up.sh"), SCRIPT);
    put(root, &format!("{name}/cloud-init/cloud-config/01-a.yaml"), CONFIG);
    put(root, &format!("{name}/cloud-init/x-shellscript/02-{name}.sh"), SCRIPT);
    put(root, &format!("{name}/cloud-init/x-shellscript/01-{name}.sh"), SCRIPT);
    put(root, &format!("{name}/README.md"), "doc\n");
}

fn errors_of(r: Result<(), Vec<PluginError>>) -> Vec<String> {
    r.err().unwrap_or_default().iter().map(|e| e.to_string()).collect()
}

#[test]
fn plugins_layout_is_read_fully() {
    let d = tempfile::tempdir().unwrap();
    full_plugin(d.path(), "05-full");
    mkdir(d.path(), "02-empty");
    put(d.path(), "README.md", "x");
    mkdir(d.path(), ".git/objects");
    let ps = discover(&[d.path().to_path_buf()]).unwrap();
    assert_eq!(names(&ps), ["02-empty", "05-full"]);
    let p = &ps[1];
    let dir = d.path().join("05-full");
    assert_eq!(p.order, 5);
    assert_eq!(p.dir, dir);
    assert_eq!(p.files.as_deref(), Some(&*dir.join("files")));
    assert_eq!(p.pre_host_run.as_deref(), Some(&*dir.join("pre-stage/host_run.sh")));
    assert_eq!(p.pre_guest_run.as_deref(), Some(&*dir.join("pre-stage/guest_run.sh")));
    assert_eq!(p.post_host_run.as_deref(), Some(&*dir.join("post-stage/host_run.sh")));
    assert_eq!(p.post_clean_up.as_deref(), Some(&*dir.join("post-stage/clean_up.sh")));
    assert_eq!(p.cloud_config, [dir.join("cloud-init/cloud-config/01-a.yaml")]);
    assert_eq!(
        p.shellscripts,
        [dir.join("cloud-init/x-shellscript/01-05-full.sh"), dir.join("cloud-init/x-shellscript/02-05-full.sh")]
    );
    assert!(!p.skipped);
    assert_eq!(p.guest_run_path(), "/opt/guest-scripts/05-full_guest_run.sh");
    assert_eq!(ps[0], Plugin::empty("02-empty", 2, &d.path().join("02-empty")));
    validate(&ps).unwrap();
}

#[test]
fn stages_layout_maps_to_the_same_fields() {
    let d = tempfile::tempdir().unwrap();
    let r = d.path();
    put(r, "pre-stage/01-resize/host_run.sh", SCRIPT);
    put(r, "pre-stage/05-ro/files/etc/x", "x");
    put(r, "pre-stage/05-ro/host_run.sh", SCRIPT);
    put(r, "pre-stage/05-ro/guest_run.sh", SCRIPT);
    put(r, "pre-stage/05-ro/clean_up.sh", SCRIPT);
    put(r, "pre-stage/05-ro/file_list", "/etc/x\n");
    put(r, "pre-stage/05-ro/cloud-init/x-shellscript/01-ro.sh", SCRIPT);
    put(r, "pre-stage/05-ro/cloud-init/cloud-config/05-ro.yaml", CONFIG);
    put(r, "post-stage/05-ro/host_run.sh", SCRIPT);
    put(r, "post-stage/99-byebye/host_run.sh", SCRIPT);
    put(r, "post-stage/README.md", "x");
    put(r, "pre-stage/README.md", "x");
    // the tool's own folders beside the stages are not plugins
    put(r, "cloud-init/user-data.basic", CONFIG);
    put(r, "scripts/common.sh", SCRIPT);
    put(r, "run.sh", SCRIPT);
    let ps = discover(&[r.to_path_buf()]).unwrap();
    assert_eq!(names(&ps), ["01-resize", "05-ro", "99-byebye"]);
    let ro = &ps[1];
    let pre = r.join("pre-stage/05-ro");
    assert_eq!(ro.dir, pre);
    assert_eq!(ro.files.as_deref(), Some(&*pre.join("files")));
    assert_eq!(ro.pre_host_run.as_deref(), Some(&*pre.join("host_run.sh")));
    assert_eq!(ro.pre_guest_run.as_deref(), Some(&*pre.join("guest_run.sh")));
    assert_eq!(ro.post_clean_up.as_deref(), Some(&*pre.join("clean_up.sh")));
    assert_eq!(ro.post_host_run.as_deref(), Some(&*r.join("post-stage/05-ro/host_run.sh")));
    assert_eq!(ro.cloud_config.len(), 1);
    assert_eq!(ro.shellscripts.len(), 1);
    assert_eq!(ps[2].dir, r.join("post-stage/99-byebye"));
    assert_eq!(ps[2].post_host_run.as_deref(), Some(&*r.join("post-stage/99-byebye/host_run.sh")));
    assert_eq!(ps[0].pre_host_run.as_deref(), Some(&*r.join("pre-stage/01-resize/host_run.sh")));
    validate(&ps).unwrap();
}

#[test]
fn stages_layout_refuses_what_upstream_never_read() {
    let d = tempfile::tempdir().unwrap();
    put(d.path(), "post-stage/10-x/files/etc/a", "a");
    let e = discover(&[d.path().to_path_buf()]).unwrap_err().to_string();
    assert!(e.contains("post-stage/10-x/files") && e.contains("pre-stage/10-x/files"), "{e}");

    let d = tempfile::tempdir().unwrap();
    put(d.path(), "pre-stage/10-x/clean_up.sh", SCRIPT);
    put(d.path(), "post-stage/10-x/clean_up.sh", SCRIPT);
    let e = discover(&[d.path().to_path_buf()]).unwrap_err().to_string();
    assert!(e.contains("keep only one"), "{e}");

    let d = tempfile::tempdir().unwrap();
    put(d.path(), "pre-stage/10-x/host_run.sh", SCRIPT);
    mkdir(d.path(), "11-y");
    let e = discover(&[d.path().to_path_buf()]).unwrap_err().to_string();
    assert!(e.contains("11-y") && e.contains("mixes both layouts"), "{e}");
}

#[test]
fn a_single_plugin_given_as_the_folder_gets_a_hint() {
    let d = tempfile::tempdir().unwrap();
    full_plugin(d.path(), "05-full");
    let e = discover(&[d.path().join("05-full")]).unwrap_err().to_string();
    assert!(e.contains("05-full/pre-stage/") && e.contains("05-full looks like a plugin itself"), "{e}");
}

#[test]
fn order_is_numeric_then_by_name_across_folders() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    for n in ["98-ima", "10-ten", "02-b"] {
        mkdir(a.path(), n);
    }
    for n in ["02-a", "60-initrd"] {
        mkdir(b.path(), n);
    }
    let c = tempfile::tempdir().unwrap();
    put(c.path(), "pre-stage/03-old/host_run.sh", SCRIPT);
    let ps = discover(&[a.path().to_path_buf(), c.path().to_path_buf(), b.path().to_path_buf()]).unwrap();
    assert_eq!(names(&ps), ["02-a", "02-b", "03-old", "10-ten", "60-initrd", "98-ima"]);
    assert_eq!(ps.iter().map(|p| p.order).collect::<Vec<_>>(), [2, 2, 3, 10, 60, 98]);
}

#[test]
fn duplicate_names_across_folders_are_refused() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    mkdir(a.path(), "04-user");
    put(b.path(), "pre-stage/04-user/host_run.sh", SCRIPT);
    let e = discover(&[a.path().to_path_buf(), b.path().to_path_buf()]).unwrap_err();
    assert!(matches!(&e, PluginError::Duplicate { name, .. } if name == "04-user"), "{e}");
    assert!(e.to_string().contains("unique"), "{e}");
}

#[test]
fn bad_names_are_errors_naming_them() {
    for bad in ["1-one", "ab-x", "01_x", "01-", "001-x", "01-x y", "01--x"] {
        let d = tempfile::tempdir().unwrap();
        mkdir(d.path(), bad);
        mkdir(d.path(), "02-good");
        let e = discover(&[d.path().to_path_buf()]).unwrap_err();
        assert!(matches!(e, PluginError::Layout { .. }), "{bad}: {e}");
        assert_eq!(e.path(), d.path().join(bad), "{bad}");
        assert!(e.to_string().contains("NN-name"), "{e}");
    }
    // a plugin-looking name that is a file
    let d = tempfile::tempdir().unwrap();
    put(d.path(), "03-x.sh", SCRIPT);
    let e = discover(&[d.path().to_path_buf()]).unwrap_err().to_string();
    assert!(e.contains("03-x.sh") && e.contains("not a file"), "{e}");
    // missing folder
    let e = discover(&[d.path().join("nope")]).unwrap_err();
    assert!(matches!(e, PluginError::Io { .. }), "{e}");
    // hidden entries and READMEs are fine
    let d = tempfile::tempdir().unwrap();
    mkdir(d.path(), ".hidden");
    put(d.path(), ".gitignore", "");
    put(d.path(), "README", "");
    put(d.path(), "readme.txt", "");
    assert!(discover(&[d.path().to_path_buf()]).unwrap().is_empty());
}

#[test]
fn not_run_plugins_are_listed_skipped_and_not_checked() {
    let d = tempfile::tempdir().unwrap();
    full_plugin(d.path(), "97-sample");
    put(d.path(), "97-sample/NOT_RUN", "");
    put(d.path(), "97-sample/cloud-init/cloud-config/bad.yaml", "not a cloud-config\n");
    put(d.path(), "01-resize-image/pre-stage/host_run.sh", SCRIPT);
    put(d.path(), "01-resize-image/cloud-init/cloud-config/01-grow.yaml", CONFIG);
    put(d.path(), "01-resize-image/files/etc/x", "x");
    let ps = discover(&[d.path().to_path_buf()]).unwrap();
    assert!(ps[1].skipped && !ps[0].skipped);
    validate(&ps).unwrap();
    assert_eq!(
        listing(&ps),
        "01-resize-image: files/, pre-stage host_run.sh, 1 cloud-config part\n\
         97-sample: files/, pre-stage host_run.sh, pre-stage guest_run.sh, post-stage host_run.sh, \
         post-stage clean_up.sh, 2 cloud-config parts, 2 x-shellscript parts (skipped: NOT_RUN)\n"
    );
    let parts = collect_parts(&ps, |_| None).unwrap();
    assert_eq!(parts.len(), 1);
    // NOT_RUN in the post-stage half of the stages layout skips the plugin
    let d = tempfile::tempdir().unwrap();
    put(d.path(), "pre-stage/10-x/host_run.sh", SCRIPT);
    put(d.path(), "post-stage/10-x/NOT_RUN", "");
    assert!(discover(&[d.path().to_path_buf()]).unwrap()[0].skipped);
}

#[test]
fn listing_of_an_empty_plugin() {
    let d = tempfile::tempdir().unwrap();
    mkdir(d.path(), "50-nothing");
    let ps = discover(&[d.path().to_path_buf()]).unwrap();
    assert_eq!(listing(&ps), "50-nothing: nothing to do\n");
}

/// One plugin `10-p` with one part `name` of `content` in `cloud-init/<kind>/`; the validation
/// errors, each of which must name the part's path.
fn part_errors(kind: &str, name: &str, content: &[u8]) -> Vec<String> {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("10-p/cloud-init").join(kind).join(name);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(&p, content).unwrap();
    let errs = errors_of(validate(&discover(&[d.path().to_path_buf()]).unwrap()));
    for e in &errs {
        assert!(e.contains(&p.display().to_string()), "error without the path: {e}");
    }
    errs
}

fn config_errors(name: &str, content: &[u8]) -> Vec<String> {
    part_errors("cloud-config", name, content)
}

fn script_errors(name: &str, content: &[u8]) -> Vec<String> {
    part_errors("x-shellscript", name, content)
}

fn one_error_containing(errs: Vec<String>, what: &str) {
    assert_eq!(errs.len(), 1, "{errs:#?}");
    assert!(errs[0].contains(what), "expected {what:?} in {}", errs[0]);
}

#[test]
fn cloud_config_parts_are_checked() {
    assert!(config_errors("10-ok.yaml", CONFIG.as_bytes()).is_empty());
    one_error_containing(config_errors("10-a.yaml", b"runcmd: [true]\nmerge_how: []\n"), "#cloud-config");
    one_error_containing(config_errors("10-a.yaml", b" #cloud-config\nmerge_how: []\n"), "#cloud-config");
    one_error_containing(config_errors("10-a.yaml", b"#cloud-config\r\nmerge_how: []\r\n"), "DOS line ends");
    one_error_containing(config_errors("10-a.yaml", b"#cloud-config\nruncmd: [true]\n"), "merge_how");
    one_error_containing(config_errors("10-a.yaml", b"#cloud-config\n# merge_how: []\n"), "settings: [append]");
    one_error_containing(config_errors("a.yaml", CONFIG.as_bytes()), "two digits");
    one_error_containing(config_errors("1-a.yaml", CONFIG.as_bytes()), "two digits");
    one_error_containing(config_errors("10-a\"b.yaml", CONFIG.as_bytes()), "printable ASCII");
    one_error_containing(config_errors("10-a.yaml", b"#cloud-config\nmerge_how: []\n# \xff\n"), "UTF-8");
}

#[test]
fn shellscript_parts_are_checked() {
    assert!(script_errors("10-ok.sh", SCRIPT.as_bytes()).is_empty());
    assert!(script_errors("10-py", b"#!/usr/bin/python3\nprint(1)\n").is_empty());
    one_error_containing(script_errors("10-a.sh", b"echo no shebang\n"), "#!");
    one_error_containing(script_errors("10-a.sh", b""), "#!");
    one_error_containing(script_errors("a.sh", SCRIPT.as_bytes()), "two digits");
    one_error_containing(script_errors("10-\u{e9}.sh", SCRIPT.as_bytes()), "printable ASCII");
    one_error_containing(script_errors("10-a.sh", b"#!/bin/sh\necho \xc3\n"), "UTF-8");
}

#[test]
fn part_folders_hold_only_parts() {
    let d = tempfile::tempdir().unwrap();
    put(d.path(), "10-p/cloud-init/jinja/10-a.j2", "x");
    put(d.path(), "10-p/cloud-init/user-data", "x");
    mkdir(d.path(), "10-p/cloud-init/x-shellscript/10-dir.sh");
    let errs = errors_of(validate(&discover(&[d.path().to_path_buf()]).unwrap()));
    assert_eq!(errs.len(), 3, "{errs:#?}");
    assert!(errs.iter().filter(|e| e.contains("may only hold the folders")).count() == 2, "{errs:#?}");
    assert!(errs.iter().any(|e| e.contains("10-dir.sh") && e.contains("regular file")), "{errs:#?}");
}

#[test]
fn host_scripts_must_be_regular_files_but_need_not_be_executable() {
    let d = tempfile::tempdir().unwrap();
    let s = put(d.path(), "10-p/pre-stage/host_run.sh", "echo from bash\n");
    std::fs::set_permissions(&s, std::fs::Permissions::from_mode(0o644)).unwrap();
    mkdir(d.path(), "10-p/post-stage/host_run.sh");
    std::os::unix::fs::symlink("nowhere", d.path().join("10-p/post-stage/clean_up.sh")).unwrap();
    let ps = discover(&[d.path().to_path_buf()]).unwrap();
    let errs = errors_of(validate(&ps));
    assert_eq!(errs.len(), 2, "{errs:#?}");
    assert!(errs[0].contains("post-stage/host_run.sh") && errs[0].contains("regular file"), "{errs:#?}");
    assert!(errs[1].contains("post-stage/clean_up.sh"), "{errs:#?}");
    // not executable: run with bash
    let c = hook_command(&s);
    assert_eq!(c.get_program(), "bash");
    let out = hook_command(&s).output().unwrap();
    assert_eq!(out.stdout, b"from bash\n");
    std::fs::set_permissions(&s, std::fs::Permissions::from_mode(0o755)).unwrap();
    assert_eq!(hook_command(&s).get_program(), s.as_os_str());
}

#[test]
fn files_tree_keeps_symlinks_and_refuses_special_files() {
    let d = tempfile::tempdir().unwrap();
    let f = d.path().join("10-p/files");
    let exe = put(&f, "usr/local/bin/tool", SCRIPT);
    std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
    put(&f, "etc/motd", "hi\n");
    std::os::unix::fs::symlink("/etc/passwd", f.join("etc/abs-link")).unwrap();
    std::os::unix::fs::symlink("../../../../../../outside", f.join("etc/rel-link")).unwrap();
    std::os::unix::fs::symlink("/", f.join("etc/root-dir-link")).unwrap();
    let ps = discover(&[d.path().to_path_buf()]).unwrap();
    validate(&ps).unwrap();
    let list = guest_files(&f).unwrap();
    let summary: Vec<(String, GuestFileKind)> = list.iter().map(|g| (g.guest_path.clone(), g.kind.clone())).collect();
    assert_eq!(
        summary,
        [
            ("/etc".to_string(), GuestFileKind::Dir),
            ("/etc/abs-link".to_string(), GuestFileKind::Symlink("/etc/passwd".into())),
            ("/etc/motd".to_string(), GuestFileKind::File),
            ("/etc/rel-link".to_string(), GuestFileKind::Symlink("../../../../../../outside".into())),
            ("/etc/root-dir-link".to_string(), GuestFileKind::Symlink("/".into())),
            ("/usr".to_string(), GuestFileKind::Dir),
            ("/usr/local".to_string(), GuestFileKind::Dir),
            ("/usr/local/bin".to_string(), GuestFileKind::Dir),
            ("/usr/local/bin/tool".to_string(), GuestFileKind::File),
        ]
    );
    assert_eq!(list.last().unwrap().mode, 0o755);

    // a socket and a FIFO
    let sock = f.join("etc/sock");
    let _listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    let fifo = f.join("etc/fifo");
    let st = std::process::Command::new("mkfifo").arg(&fifo).status().expect("mkfifo (coreutils)");
    assert!(st.success());
    let errs = errors_of(validate(&ps));
    assert_eq!(errs.len(), 2, "{errs:#?}");
    assert!(errs[0].contains("etc/fifo") && errs[0].contains("a FIFO"), "{errs:#?}");
    assert!(errs[1].contains("etc/sock") && errs[1].contains("a socket"), "{errs:#?}");
}

#[test]
fn guest_paths_never_leave_the_root() {
    assert_eq!(guest_path(Path::new("etc/motd")).unwrap(), "/etc/motd");
    for bad in ["../etc/passwd", "etc/../../x", "/etc/passwd", "./etc", ""] {
        assert!(guest_path(Path::new(bad)).is_err(), "{bad}");
    }
}

#[test]
fn files_must_be_a_folder() {
    let d = tempfile::tempdir().unwrap();
    put(d.path(), "10-p/files", "oops");
    let e = discover(&[d.path().to_path_buf()]).unwrap_err().to_string();
    assert!(e.contains("10-p/files") && e.contains("must be a folder"), "{e}");
}

#[test]
fn plugins_must_agree_on_folders_and_script_names() {
    let d = tempfile::tempdir().unwrap();
    put(d.path(), "10-a/files/etc/thing", "file");
    put(d.path(), "20-b/files/etc/thing/inside", "x");
    put(d.path(), "20-b/files/etc/motd", "b wins");
    put(d.path(), "10-a/files/etc/motd", "a");
    put(d.path(), "10-a/cloud-init/x-shellscript/50-run.sh", SCRIPT);
    put(d.path(), "20-b/cloud-init/x-shellscript/50-run.sh", SCRIPT);
    let errs = errors_of(validate(&discover(&[d.path().to_path_buf()]).unwrap()));
    assert_eq!(errs.len(), 2, "{errs:#?}");
    assert!(errs[0].contains("/etc/thing is a folder here but a non-folder"), "{errs:#?}");
    assert!(errs[1].contains("20-b/cloud-init/x-shellscript/50-run.sh") && errs[1].contains("10-a"), "{errs:#?}");
}

#[test]
fn parts_are_collected_with_generated_ones_in_order() {
    let d = tempfile::tempdir().unwrap();
    let gen = tempfile::tempdir().unwrap();
    put(d.path(), "20-b/cloud-init/x-shellscript/30-b.sh", SCRIPT);
    put(d.path(), "20-b/cloud-init/cloud-config/20-b.yaml", CONFIG);
    put(d.path(), "10-a/cloud-init/x-shellscript/90-a.sh", SCRIPT);
    put(gen.path(), "20-b/cloud-config/10-generated.yaml", CONFIG);
    put(gen.path(), "20-b/x-shellscript/40-generated.sh", SCRIPT);
    let ps = discover(&[d.path().to_path_buf()]).unwrap();
    let g = |p: &Plugin| Some(gen.path().join(&p.name));
    let parts = collect_parts(&ps, g).unwrap();
    let got: Vec<(&str, &str)> = parts.iter().map(|p| (p.filename.as_str(), p.content_type.as_str())).collect();
    assert_eq!(
        got,
        [
            ("90-a.sh", "text/x-shellscript"),
            ("10-generated.yaml", "text/cloud-config"),
            ("20-b.yaml", "text/cloud-config"),
            ("30-b.sh", "text/x-shellscript"),
            ("40-generated.sh", "text/x-shellscript"),
        ]
    );
    assert_eq!(parts[1].content, CONFIG.as_bytes());

    // generated parts are checked; names must not repeat
    put(gen.path(), "20-b/cloud-config/11-bad.yaml", "#cloud-config\n");
    put(gen.path(), "20-b/x-shellscript/30-b.sh", SCRIPT);
    put(gen.path(), "20-b/x-shellscript/90-a.sh", SCRIPT);
    put(gen.path(), "20-b/stray.yaml", CONFIG);
    let errs: Vec<String> = collect_parts(&ps, g).unwrap_err().iter().map(|e| e.to_string()).collect();
    assert_eq!(errs.len(), 4, "{errs:#?}");
    assert!(errs.iter().any(|e| e.contains("stray.yaml") && e.contains("PLUGIN_GENERATED_DIR")), "{errs:#?}");
    assert!(errs.iter().any(|e| e.contains("11-bad.yaml") && e.contains("merge_how")), "{errs:#?}");
    assert!(errs.iter().any(|e| e.contains("30-b.sh") && e.contains("same name")), "{errs:#?}");
    assert!(errs.iter().any(|e| e.contains("90-a.sh") && e.contains("one folder")), "{errs:#?}");
}

#[test]
fn hook_env_names_the_contract() {
    let p = Plugin::empty("04-user-authkey", 4, Path::new("/p/04-user-authkey"));
    let env = hook_env(&p, Path::new("/out.qcow2"), Path::new("/tmp/gen"));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.to_str().unwrap())).collect();
    assert_eq!(
        env,
        [
            ("GUEST_IMG", "/out.qcow2"),
            ("PLUGIN_NAME", "04-user-authkey"),
            ("PLUGIN_DIR", "/p/04-user-authkey"),
            ("PLUGIN_GENERATED_DIR", "/tmp/gen")
        ]
    );
}

mod shipped;
