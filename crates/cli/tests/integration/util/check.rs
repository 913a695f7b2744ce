//! Running `ima enable` on a fixture and checking the result against the contract, using only
//! the oracles in [`super::oracle`].

use super::image::TestImage;
use super::oracle::{self, Expected, Ext4View, Inode};
use super::{list_dir, to_hex, RunOutput, TestCommand, TestDir};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

pub const POLICY_PATH: &str = "/etc/ima/ima-policy";

/// What a successful run must have produced.
#[derive(Clone, Debug)]
pub struct Expect {
    pub hash: &'static str,
    pub mode: &'static str,
    pub rootflags: bool,
    pub iversion: bool,
    /// Exact policy bytes expected (None: the default policy).
    pub policy: Option<Vec<u8>>,
    /// Whether this is the first run on an unlabelled image (every label is new).
    pub first_run: bool,
}

impl Default for Expect {
    fn default() -> Self {
        Expect { hash: "sha256", mode: "enforce", rootflags: false, iversion: true, policy: None, first_run: true }
    }
}

/// One `ima enable` run: where its output and report went.
pub struct Run {
    pub out: PathBuf,
    pub out_dir: PathBuf,
    pub report_path: PathBuf,
    pub output: RunOutput,
}

impl Run {
    pub fn report(&self) -> Value {
        let text = std::fs::read_to_string(&self.report_path).unwrap_or_else(|e| {
            panic!("no report at {}: {e}\n{}", self.report_path.display(), self.output.describe_pub())
        });
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("report is not JSON: {e}\n{text}"))
    }
}

/// Runs `ima enable -i INPUT -o DIR/out-NAME/out.EXT --report DIR/report-NAME.json EXTRA...`.
pub fn enable(t: &TestDir, input: &Path, name: &str, extra: &[&str]) -> Run {
    let ext = input.extension().unwrap().to_string_lossy().into_owned();
    let out_dir = t.sub(&format!("out-{name}"));
    let out = out_dir.join(format!("out.{ext}"));
    let report_path = t.path().join(format!("report-{name}.json"));
    let output = TestCommand::new()
        .args(["ima", "enable", "-i"])
        .arg(input)
        .arg("-o")
        .arg(&out)
        .arg("--report")
        .arg(&report_path)
        .args(extra)
        .run();
    Run { out, out_dir, report_path, output }
}

/// Dotted-path lookup in the report, failing with the whole report when a key is missing.
pub fn key<'a>(v: &'a Value, path: &str) -> &'a Value {
    let mut cur = v;
    for part in path.split('.') {
        cur = cur
            .get(part)
            .unwrap_or_else(|| panic!("report has no key `{path}`:\n{}", serde_json::to_string_pretty(v).unwrap()));
    }
    cur
}

pub fn key_u64(v: &Value, path: &str) -> u64 {
    key(v, path).as_u64().unwrap_or_else(|| panic!("report key `{path}` is not a number: {}", key(v, path)))
}

/// What the checks found, for further assertions by individual tests.
pub struct Checked {
    pub view: Ext4View,
    pub walk: Vec<Inode>,
    /// security.ima of every entry (None when absent).
    pub labels: BTreeMap<String, Option<Vec<u8>>>,
    pub expected: Expected,
}

impl Checked {
    pub fn inode(&self, path: &str) -> &Inode {
        self.walk.iter().find(|i| i.path == path).unwrap_or_else(|| panic!("{path} is not in the output image"))
    }
    pub fn text(&self, path: &str) -> String {
        self.view.read_text(path).unwrap_or_else(|| panic!("{path} missing from the output"))
    }
}

/// Tokens of a kernel command line that the tool manages.
fn managed(tok: &str) -> bool {
    tok.starts_with("ima_appraise=") || tok.starts_with("ima_hash=") || tok.starts_with("rootflags=")
}

/// The tool's tokens are present exactly once with the right values, and every other token is
/// unchanged and in the same order.
pub fn check_cmdline(before: &str, after: &str, e: &Expect, what: &str) {
    let b: Vec<&str> = before.split_whitespace().collect();
    let a: Vec<&str> = after.split_whitespace().collect();
    let count = |prefix: &str| a.iter().filter(|t| t.starts_with(prefix)).count();
    assert_eq!(count("ima_appraise="), 1, "{what}: want exactly one ima_appraise= in {after:?}");
    assert!(
        a.contains(&format!("ima_appraise={}", e.mode).as_str()),
        "{what}: want ima_appraise={} in {after:?}",
        e.mode
    );
    assert_eq!(count("ima_hash="), 1, "{what}: want exactly one ima_hash= in {after:?}");
    assert!(a.contains(&format!("ima_hash={}", e.hash).as_str()), "{what}: want ima_hash={} in {after:?}", e.hash);
    if e.rootflags {
        assert_eq!(count("rootflags="), 1, "{what}: want exactly one rootflags= in {after:?}");
        assert!(a.contains(&"rootflags=i_version"), "{what}: want rootflags=i_version in {after:?}");
    } else {
        assert_eq!(
            count("rootflags="),
            0,
            "{what}: want no rootflags= (kernel >= 6.1, no --rootflags-i-version) in {after:?}"
        );
    }
    let keep_b: Vec<&str> = b.iter().copied().filter(|t| !managed(t)).collect();
    let keep_a: Vec<&str> = a.iter().copied().filter(|t| !managed(t)).collect();
    assert_eq!(keep_a, keep_b, "{what}: other tokens changed\nbefore: {before:?}\nafter:  {after:?}");
}

/// Sources /etc/default/grub then /etc/default/grub.d/*.cfg with `sh`, as grub-mkconfig does,
/// and returns (GRUB_CMDLINE_LINUX_DEFAULT, GRUB_CMDLINE_LINUX).
pub fn effective_grub(files: &BTreeMap<String, String>, scratch: &Path) -> (String, String) {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let root = scratch.join(format!("grub-src-{n}"));
    std::fs::create_dir_all(root.join("grub.d")).unwrap();
    for (path, text) in files {
        let rel = path.strip_prefix("/etc/default/").unwrap();
        std::fs::write(root.join(rel), text).unwrap();
    }
    let script = r#"set -e
GRUB_CMDLINE_LINUX_DEFAULT=; GRUB_CMDLINE_LINUX=
if [ -f "$1/grub" ]; then . "$1/grub"; fi
for f in "$1"/grub.d/*.cfg; do if [ -e "$f" ]; then . "$f"; fi; done
printf '%s\n%s\n' "$GRUB_CMDLINE_LINUX_DEFAULT" "$GRUB_CMDLINE_LINUX""#;
    let out = super::run_text("sh", &["-c".as_ref(), script.as_ref(), "sh".as_ref(), root.as_os_str()]);
    let mut lines = out.lines();
    let d = lines.next().unwrap_or("").to_string();
    let l = lines.next().unwrap_or("").to_string();
    let _ = std::fs::remove_dir_all(&root);
    (d, l)
}

/// The grub default files of a tree / image: /etc/default/grub and grub.d/*.cfg.
fn grub_files_of_tree(img: &TestImage) -> BTreeMap<String, String> {
    img.tree
        .entries
        .keys()
        .filter(|p| p.as_str() == "/etc/default/grub" || (p.starts_with("/etc/default/grub.d/") && p.ends_with(".cfg")))
        .map(|p| (p.clone(), img.tree.text(p).unwrap()))
        .collect()
}

pub fn grub_files_of_image(c: &Checked) -> BTreeMap<String, String> {
    c.walk
        .iter()
        .filter(|i| {
            i.path == "/etc/default/grub" || (i.path.starts_with("/etc/default/grub.d/") && i.path.ends_with(".cfg"))
        })
        .map(|i| (i.path.clone(), c.text(&i.path)))
        .collect()
}

/// (line index, is in a recovery entry) for each `linux` line of a grub.cfg.
pub fn linux_lines(cfg: &str) -> Vec<(usize, bool)> {
    let mut res = vec![];
    let mut recovery = false;
    for (i, l) in cfg.lines().enumerate() {
        let t = l.trim_start();
        if t.starts_with("menuentry ") {
            recovery = t.contains("recovery mode");
        }
        if t.starts_with("linux\t") || t.starts_with("linux ") || t.starts_with("linuxefi ") {
            res.push((i, recovery));
        }
    }
    res
}

/// Non-recovery `linux` lines gain the tokens; every other line is unchanged.
pub fn check_grub_cfg(before: &str, after: &str, e: &Expect) {
    let b: Vec<&str> = before.lines().collect();
    let a: Vec<&str> = after.lines().collect();
    assert_eq!(a.len(), b.len(), "grub.cfg gained or lost lines:\n{after}");
    let lines = linux_lines(before);
    assert!(!lines.is_empty());
    for (i, (bl, al)) in b.iter().zip(&a).enumerate() {
        match lines.iter().find(|(j, _)| *j == i) {
            Some((_, false)) => check_cmdline(bl, al, e, &format!("grub.cfg line {}", i + 1)),
            _ => assert_eq!(al, bl, "grub.cfg line {} (not a normal linux line) changed", i + 1),
        }
    }
    assert_eq!(after.ends_with('\n'), before.ends_with('\n'), "grub.cfg final newline changed");
}

/// Every ext4 line gains `iversion` once (unless --no-iversion); nothing else changes.
pub fn check_fstab(before: &str, after: &str, e: &Expect) {
    let b: Vec<&str> = before.lines().collect();
    let a: Vec<&str> = after.lines().collect();
    assert_eq!(a.len(), b.len(), "fstab gained or lost lines:\n{after}");
    for (bl, al) in b.iter().zip(&a) {
        let bf: Vec<&str> = bl.split_whitespace().collect();
        let is_ext4 = !bl.trim_start().starts_with('#') && bf.len() >= 4 && bf[2] == "ext4";
        if !is_ext4 || !e.iversion {
            assert_eq!(al, bl, "fstab line changed:\n{after}");
            continue;
        }
        let af: Vec<&str> = al.split_whitespace().collect();
        assert_eq!(af.len(), bf.len(), "fstab ext4 line fields changed: {al:?}");
        for k in [0, 1, 2, 4, 5] {
            if k < bf.len() {
                assert_eq!(af[k], bf[k], "fstab field {k} changed: {al:?}");
            }
        }
        let opts: Vec<&str> = af[3].split(',').collect();
        assert_eq!(
            opts.iter().filter(|o| **o == "iversion").count(),
            1,
            "fstab ext4 line needs iversion exactly once: {al:?}"
        );
        let keep_a: Vec<&str> = opts.iter().copied().filter(|o| *o != "iversion").collect();
        let keep_b: Vec<&str> = bf[3].split(',').filter(|o| *o != "iversion").collect();
        assert_eq!(keep_a, keep_b, "fstab options other than iversion changed: {al:?}");
    }
}

pub fn check_default_policy(text: &str) {
    assert!(text.ends_with('\n'), "policy must end with a newline: {text:?}");
    let rules: Vec<Vec<&str>> = text
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .filter(|t| !t.is_empty() && !t[0].starts_with('#'))
        .collect();
    let first_appraise = rules
        .iter()
        .position(|r| r[0] == "appraise" && r.contains(&"fowner=0"))
        .unwrap_or_else(|| panic!("default policy lacks `appraise fowner=0`:\n{text}"));
    let vfat = rules
        .iter()
        .position(|r| r[0] == "dont_appraise" && r.contains(&"fsmagic=0x4d44"))
        .unwrap_or_else(|| panic!("default policy lacks `dont_appraise fsmagic=0x4d44`:\n{text}"));
    assert!(
        vfat < first_appraise,
        "dont_appraise rules must come before the appraise rule (first match wins):\n{text}"
    );
    for (i, r) in rules.iter().enumerate() {
        if r[0] == "dont_appraise" {
            assert!(i < first_appraise, "dont_appraise after the appraise rule has no effect: {r:?}\n{text}");
        }
    }
}

/// Full check of a successful run: exit 0, same format, qemu-img check, input untouched,
/// nothing else left in OUT's directory, e2fsck clean, tree shape unchanged, file contents
/// unchanged (except the edited files), labels as evmctl computes them on every root-owned
/// regular file and on nothing else, other xattrs preserved, policy/grub/fstab as specified,
/// report consistent.
pub fn check_enabled(t: &TestDir, img: &TestImage, run: &Run, before: &[(PathBuf, String)], e: &Expect) -> Checked {
    run.output.assert_exit(0);
    // Input (and backing file) untouched.
    for (p, sum) in before {
        assert_eq!(&super::file_sha256(p), sum, "{} was modified by the tool", p.display());
    }
    // Output present, same format, nothing else in its directory.
    assert_eq!(
        list_dir(&run.out_dir),
        vec![run.out.file_name().unwrap().to_string_lossy().into_owned()],
        "OUT's directory should hold only OUT"
    );
    let want_fmt = oracle::image_format(&img.path);
    assert_eq!(oracle::image_format(&run.out), want_fmt, "output format differs from the input's");
    if want_fmt == "qcow2" {
        oracle::qemu_img_check(&run.out);
    }
    let scratch = t.sub(&format!("scratch-{}", run.out_dir.file_name().unwrap().to_string_lossy()));
    let view = Ext4View::open(&run.out, img.root_offset, &scratch);
    view.assert_fsck_clean();

    // Same entries as the input (plus the policy and its directory).
    let in_scratch = t.sub(&format!("scratch-in-{}", run.out_dir.file_name().unwrap().to_string_lossy()));
    let in_view = Ext4View::open(&img.path, img.root_offset, &in_scratch);
    let in_walk = in_view.walk();
    let walk = view.walk();
    let in_map: BTreeMap<&str, &Inode> = in_walk.iter().map(|i| (i.path.as_str(), i)).collect();
    for i in &walk {
        match in_map.get(i.path.as_str()) {
            Some(o) => {
                assert_eq!((i.mode, i.uid, i.gid), (o.mode, o.uid, o.gid), "mode/owner of {} changed", i.path);
                if !i.is_file() || !is_edited(&i.path) {
                    assert_eq!(i.size, o.size, "size of {} changed", i.path);
                }
            }
            None => {
                assert!(i.path == POLICY_PATH || i.path == "/etc/ima", "unexpected new entry {} in the output", i.path)
            }
        }
    }
    let out_paths: BTreeSet<&str> = walk.iter().map(|i| i.path.as_str()).collect();
    for o in &in_walk {
        assert!(out_paths.contains(o.path.as_str()), "{} disappeared from the output", o.path);
    }

    // Policy: 0644 root:root, contents.
    let pol = walk.iter().find(|i| i.path == POLICY_PATH).unwrap_or_else(|| panic!("{POLICY_PATH} not installed"));
    assert_eq!(pol.mode, 0o100644, "policy mode");
    assert_eq!(pol.uid, 0, "policy owner");
    let policy = view.read(POLICY_PATH).unwrap();
    match &e.policy {
        Some(want) => assert_eq!(
            String::from_utf8_lossy(&policy),
            String::from_utf8_lossy(want),
            "installed policy differs from --policy"
        ),
        None => check_default_policy(&String::from_utf8_lossy(&policy)),
    }

    // Labels: all entries' security.ima in one debugfs run.
    let (wrong, got, expected) = label_problems(&view, &walk, e.hash, &|p| img.host_path(p));
    assert!(wrong.is_empty(), "{} wrong labels ({} hash):\n{}", wrong.len(), e.hash, wrong.join("\n"));

    // Contents of files the tool must not edit are unchanged (dumped copy vs fixture source).
    for (path, dumped) in &expected.dumped {
        if is_edited(path) {
            continue;
        }
        if let Some(text) = img.tree.entries.get(path.as_str()) {
            if let super::tree::Kind::File { data: super::tree::Data::Bytes(b), .. } = &text.kind {
                let got = std::fs::read(dumped).unwrap();
                assert!(&got == b, "contents of {path} changed");
            }
        }
    }

    // Other xattrs preserved.
    for (path, entry) in &img.tree.entries {
        for (name, value) in &entry.xattrs {
            let v = view.xattr(path, name);
            assert_eq!(v.as_deref(), Some(value.as_slice()), "xattr {name} of {path} not preserved");
        }
    }

    let c = Checked { view, walk, labels: got, expected };

    // grub, grub.cfg, fstab.
    let (d_before, l_before) = effective_grub(&grub_files_of_tree(img), &scratch);
    let (d_after, l_after) = effective_grub(&grub_files_of_image(&c), &scratch);
    check_cmdline(&d_before, &d_after, e, "effective GRUB_CMDLINE_LINUX_DEFAULT");
    assert_eq!(l_after, l_before, "GRUB_CMDLINE_LINUX must not change");
    if let Some(cfg_before) = img.tree.text("/boot/grub/grub.cfg") {
        check_grub_cfg(&cfg_before, &c.text("/boot/grub/grub.cfg"), e);
    }
    check_fstab(&img.tree.text("/etc/fstab").unwrap(), &c.text("/etc/fstab"), e);

    // Report.
    let r = run.report();
    let unique_inodes: BTreeSet<u64> = c.walk.iter().filter(|i| i.must_label()).map(|i| i.ino).collect();
    let labelled = key_u64(&r, "labels.files_labelled");
    let unchanged = key_u64(&r, "labels.files_unchanged");
    let total = key_u64(&r, "labels.files_total");
    assert_eq!(total, labelled + unchanged, "files_total != labelled + unchanged in report");
    assert_eq!(total, unique_inodes.len() as u64, "files_total should be the number of root-owned regular inodes");
    if e.first_run {
        assert_eq!(unchanged, 0, "nothing was labelled before the first run");
        let bytes: u64 = c
            .walk
            .iter()
            .filter(|i| i.must_label())
            .map(|i| (i.ino, i.size))
            .collect::<BTreeMap<_, _>>()
            .values()
            .sum();
        assert_eq!(
            key_u64(&r, "labels.bytes_hashed"),
            bytes,
            "bytes_hashed should be the total size of the labelled files"
        );
    }
    let count = |f: &dyn Fn(&Inode) -> bool| {
        c.walk.iter().filter(|i| f(i)).map(|i| i.ino).collect::<BTreeSet<_>>().len() as u64
    };
    let skipped = key(&r, "labels.skipped");
    let sk = |k: &str| skipped.get(k).and_then(|v| v.as_u64()).unwrap_or(0);
    let non_root = count(&|i| i.is_file() && i.uid != 0);
    let symlinks = count(&|i| i.is_symlink());
    let special = count(&|i| i.is_special());
    // Under the default policy (`appraise fowner=0`) the non-root files are the ones the policy
    // does not appraise; with `--label all-root` they are skipped as not root-owned.
    let not_labelled = sk("not_root_owned") + sk("not_appraised");
    assert!(
        not_labelled >= non_root && non_root > 0,
        "skipped not_root_owned + not_appraised {not_labelled} < {non_root}: {skipped}"
    );
    assert!(sk("symlink") >= symlinks, "skipped.symlink {} < {symlinks}: {skipped}", sk("symlink"));
    assert!(sk("special") >= special, "skipped.special {} < {special}: {skipped}", sk("special"));
    assert_eq!(key_u64(&r, "verify.files_checked"), total, "verify.files_checked");
    assert_eq!(key(&r, "verify.mismatches").as_array().map(|a| a.len()), Some(0), "verify.mismatches should be empty");
    assert_eq!(key(&r, "hash").as_str(), Some(e.hash), "report hash");
    assert_eq!(key(&r, "mode").as_str(), Some(e.mode), "report mode");
    let part = key(&r, "root.partition");
    match img.root_partition {
        Some(n) => assert_eq!(part.as_u64(), Some(n as u64), "report root.partition"),
        None => assert!(part.is_null(), "report root.partition should be null for a bare filesystem, is {part}"),
    }
    c
}

/// Files the tool edits (their contents may change).
pub fn is_edited(path: &str) -> bool {
    path == "/etc/fstab"
        || path == "/boot/grub/grub.cfg"
        || path == "/etc/default/grub"
        || path.starts_with("/etc/default/grub.d/")
        || path == POLICY_PATH
}

/// Compares every entry's security.ima with the oracle: root-owned regular files must carry
/// exactly evmctl's label, everything else none. Returns the problems found, the labels read
/// and the oracle's expectations.
pub fn label_problems(
    view: &Ext4View,
    walk: &[Inode],
    algo: &str,
    host_copy: &dyn Fn(&str) -> PathBuf,
) -> (Vec<String>, BTreeMap<String, Option<Vec<u8>>>, Expected) {
    let paths: Vec<&str> = walk.iter().map(|i| i.path.as_str()).collect();
    let got: BTreeMap<String, Option<Vec<u8>>> =
        paths.iter().map(|p| p.to_string()).zip(view.xattrs(&paths, "security.ima")).collect();
    let to_label: Vec<&Inode> = walk.iter().filter(|i| i.must_label()).collect();
    let expected = oracle::expected_labels(view, &to_label, algo, host_copy);
    let mut wrong = vec![];
    for i in walk {
        let g = got[&i.path].as_ref();
        if i.must_label() {
            let want = &expected.labels[&i.path];
            if g != Some(want) {
                wrong.push(format!("{}: got {:?}, want {}", i.path, g.map(|v| to_hex(v)), to_hex(want)));
            }
        } else if let Some(v) = g {
            wrong.push(format!(
                "{} (mode {:o}, uid {}) must not be labelled, has {}",
                i.path,
                i.mode,
                i.uid,
                to_hex(v)
            ));
        }
    }
    (wrong, got, expected)
}
