//! Bad input and hostile environments: exit 2, a clear `cvm-image-rewriter: ` message, the
//! input untouched, and nothing (no output, no temporary file) left in OUT's directory.

use crate::util::check::enable;
use crate::util::command::BIN;
use crate::util::image::{Format, Layout, TestImage};
use crate::util::tree::{pseudo_random, GuestTree};
use crate::util::{file_sha256, list_dir, tool, RunOutput, TestCommand, TestDir};
use std::path::Path;

/// Runs `ima enable` on `input` with `extra`, expecting failure: exit 2, nothing left in the
/// output dir, input unchanged. Returns the run for message checks.
fn fails(t: &TestDir, input: &Path, name: &str, extra: &[&str]) -> RunOutput {
    let before = if input.exists() { Some(file_sha256(input)) } else { None };
    let run = enable(t, input, name, extra);
    run.output.assert_error();
    assert_eq!(
        list_dir(&run.out_dir),
        Vec::<String>::new(),
        "files left in OUT's directory after a failure\n{}",
        run.output.describe_pub()
    );
    if let Some(b) = before {
        assert_eq!(file_sha256(input), b, "input modified by a failed run");
    }
    run.output
}

fn small_image(t: &TestDir, layout: Layout, format: Format) -> TestImage {
    TestImage::build(t.path(), layout, format, &GuestTree::debian())
}

#[test]
fn missing_input() {
    let t = TestDir::new("err-missing");
    let input = t.path().join("does-not-exist.qcow2");
    let out = fails(&t, &input, "1", &[]);
    out.assert_stderr_contains(&["does-not-exist.qcow2"]).assert_stderr_any(&[
        "no such file",
        "not found",
        "does not exist",
    ]);
}

#[test]
fn random_bytes_input() {
    let t = TestDir::new("err-random");
    let input = t.path().join("random.raw");
    std::fs::write(&input, pseudo_random(7, 8 << 20)).unwrap();
    let out = fails(&t, &input, "1", &[]);
    out.assert_stderr_contains(&["random.raw"]).assert_stderr_any(&["ext4", "partition", "filesystem", "file system"]);
}

#[test]
fn text_file_input() {
    let t = TestDir::new("err-text");
    let input = t.path().join("notes.raw");
    std::fs::write(&input, "this is not a disk image\n".repeat(100)).unwrap();
    let out = fails(&t, &input, "1", &[]);
    out.assert_stderr_contains(&["notes.raw"]).assert_stderr_any(&[
        "ext4",
        "partition",
        "filesystem",
        "file system",
        "small",
        "short",
    ]);
}

#[test]
fn truncated_qcow2() {
    let t = TestDir::new("err-truncated");
    let img = small_image(&t, Layout::Gpt, Format::Qcow2);
    let len = std::fs::metadata(&img.path).unwrap().len();
    std::fs::OpenOptions::new().write(true).open(&img.path).unwrap().set_len(len / 2).unwrap();
    let out = fails(&t, &img.path, "1", &[]);
    out.assert_stderr_contains(&["in.qcow2"]).assert_stderr_any(&["truncated", "beyond the end", "end of file"]);
}

#[test]
fn gpt_without_ext4() {
    let t = TestDir::new("err-noext4");
    let img = small_image(&t, Layout::GptEspOnly, Format::Qcow2);
    let out = fails(&t, &img.path, "1", &[]);
    // Lists the partitions it found (the ESP is partition 15).
    out.assert_stderr_contains(&["15", "--root-partition"]).assert_stderr_any(&["ext4", "root"]);
}

#[test]
fn ext4_without_fstab() {
    let t = TestDir::new("err-nofstab");
    let mut tree = GuestTree::debian();
    tree.remove("/etc/fstab");
    let img = TestImage::build(t.path(), Layout::Bare, Format::Raw, &tree);
    let out = fails(&t, &img.path, "1", &[]);
    out.assert_stderr_contains(&["fstab", "--root-partition"]);
}

#[test]
fn gpt_ext4_without_fstab() {
    let t = TestDir::new("err-nofstab-gpt");
    let mut tree = GuestTree::debian();
    tree.remove("/etc/fstab");
    let img = TestImage::build(t.path(), Layout::Gpt, Format::Raw, &tree);
    let out = fails(&t, &img.path, "1", &[]);
    out.assert_stderr_contains(&["--root-partition"]);
}

#[test]
fn policy_missing() {
    let t = TestDir::new("err-policy");
    let img = small_image(&t, Layout::Bare, Format::Raw);
    let p = t.path().join("no-such-policy");
    let out = fails(&t, &img.path, "1", &["--policy", p.to_str().unwrap()]);
    out.assert_stderr_contains(&["no-such-policy"]).assert_stderr_any(&["no such file", "not found", "does not exist"]);
}

#[test]
fn policy_empty() {
    let t = TestDir::new("err-policy-empty");
    let img = small_image(&t, Layout::Bare, Format::Raw);
    let p = t.path().join("empty-policy");
    std::fs::write(&p, "").unwrap();
    let out = fails(&t, &img.path, "1", &["--policy", p.to_str().unwrap()]);
    out.assert_stderr_contains(&["empty-policy", "empty"]);
}

#[test]
fn policy_is_a_directory() {
    let t = TestDir::new("err-policy-dir");
    let img = small_image(&t, Layout::Bare, Format::Raw);
    let p = t.sub("policy-dir");
    let out = fails(&t, &img.path, "1", &["--policy", p.to_str().unwrap()]);
    out.assert_stderr_contains(&["policy-dir"]);
}

#[test]
fn unknown_hash() {
    let t = TestDir::new("err-hash");
    let img = small_image(&t, Layout::Bare, Format::Raw);
    let before = file_sha256(&img.path);
    let run = enable(&t, &img.path, "1", &["--hash", "md5x"]);
    run.output.assert_exit(2).assert_stderr_contains(&["md5x"]);
    assert!(list_dir(&run.out_dir).is_empty());
    assert_eq!(file_sha256(&img.path), before);
}

#[test]
fn unknown_mode() {
    let t = TestDir::new("err-mode");
    let img = small_image(&t, Layout::Bare, Format::Raw);
    let run = enable(&t, &img.path, "1", &["--mode", "permissive"]);
    run.output.assert_exit(2).assert_stderr_contains(&["permissive"]);
    assert!(list_dir(&run.out_dir).is_empty());
}

#[test]
fn output_dir_missing() {
    let t = TestDir::new("err-outdir");
    let img = small_image(&t, Layout::Gpt, Format::Qcow2);
    let before = file_sha256(&img.path);
    let listing = list_dir(t.path());
    let out = t.path().join("no-such-dir").join("out.qcow2");
    let run = TestCommand::new().args(["ima", "enable", "-i"]).arg(&img.path).arg("-o").arg(&out).run();
    run.assert_error().assert_stderr_contains(&["no-such-dir"]).assert_stderr_any(&[
        "no such file",
        "does not exist",
        "create it",
    ]);
    assert_eq!(list_dir(t.path()), listing, "something was created");
    assert_eq!(file_sha256(&img.path), before);
}

/// Unwritable even for root: /proc.
#[test]
fn output_unwritable_even_for_root() {
    let t = TestDir::new("err-proc");
    let img = small_image(&t, Layout::Bare, Format::Raw);
    let run = TestCommand::new().args(["ima", "enable", "-i"]).arg(&img.path).args(["-o", "/proc/cvmir-out.raw"]).run();
    run.assert_error().assert_stderr_contains(&["/proc"]);
    assert!(!Path::new("/proc/cvmir-out.raw").exists());
}

/// Output on a full filesystem: an 8 MiB tmpfs in a private user+mount namespace. Exit 2, a
/// message about space, and nothing left on the tmpfs (listed from inside the namespace).
fn disk_full(format: Format) {
    let t = TestDir::new("err-full");
    let mut tree = GuestTree::debian();
    // Incompressible data well over 8 MiB, so any output format overflows the tmpfs.
    tree.file("/usr/lib/big-blob", pseudo_random(77, 20 << 20));
    let img = TestImage::build(t.path(), Layout::Gpt, format, &tree);
    let before = file_sha256(&img.path);
    let mnt = t.sub("full");
    let out = mnt.join(format!("out.{}", format.ext()));
    let script = format!(
        "mount -t tmpfs -o size=8m tmpfs '{m}' || exit 99\n'{bin}' ima enable -i '{i}' -o '{o}'\necho \"rc=$?\"\necho listing:\nls -A '{m}'\n",
        m = mnt.display(),
        bin = BIN,
        i = img.path.display(),
        o = out.display()
    );
    let run =
        TestCommand::program(tool("unshare")).args(["--user", "--map-root-user", "--mount", "sh", "-c", &script]).run();
    assert_ne!(run.code, Some(99), "cannot mount a tmpfs in a user namespace here:\n{}", run.describe_pub());
    run.assert_exit(0); // sh's status: the listing ran
    let (rc, listing) = run.stdout.split_once("listing:\n").unwrap();
    assert!(rc.trim().ends_with("rc=2"), "tool should exit 2 on a full disk:\n{}", run.describe_pub());
    assert_eq!(listing.trim(), "", "files left on the full filesystem:\n{}", run.describe_pub());
    run.assert_stderr_contains(&["cvm-image-rewriter: "]).assert_stderr_any(&["space", "ENOSPC", "disk full", "full"]);
    assert_eq!(file_sha256(&img.path), before);
}

#[test]
fn disk_full_raw() {
    disk_full(Format::Raw);
}

#[test]
fn disk_full_qcow2() {
    disk_full(Format::Qcow2);
}

/// A qcow2 with the "dirty" incompatible-feature bit (refcounts may be stale): refuse and
/// tell the user to run qemu-img.
#[test]
fn dirty_qcow2() {
    let t = TestDir::new("err-dirty");
    let img = small_image(&t, Layout::Gpt, Format::Qcow2);
    {
        use std::os::unix::fs::FileExt;
        let f = std::fs::OpenOptions::new().read(true).write(true).open(&img.path).unwrap();
        let mut hdr = [0u8; 104];
        f.read_exact_at(&mut hdr, 0).unwrap();
        assert_eq!(&hdr[0..4], b"QFI\xfb");
        assert_eq!(u32::from_be_bytes(hdr[4..8].try_into().unwrap()), 3, "need a v3 qcow2");
        hdr[79] |= 1;
        f.write_all_at(&hdr[79..80], 79).unwrap();
    }
    let out = fails(&t, &img.path, "1", &[]);
    out.assert_stderr_contains(&["qemu-img", "dirty"]);
}

/// A qcow2 marked corrupt (incompatible bit 1) is refused too.
#[test]
fn corrupt_bit_qcow2() {
    let t = TestDir::new("err-corrupt");
    let img = small_image(&t, Layout::Gpt, Format::Qcow2);
    {
        use std::os::unix::fs::FileExt;
        let f = std::fs::OpenOptions::new().read(true).write(true).open(&img.path).unwrap();
        let mut b = [0u8; 1];
        f.read_exact_at(&mut b, 79).unwrap();
        b[0] |= 2;
        f.write_all_at(&b, 79).unwrap();
    }
    let out = fails(&t, &img.path, "1", &[]);
    out.assert_stderr_contains(&["in.qcow2", "corrupt"]);
}

/// Backing file missing: a clear error naming it.
#[test]
fn missing_backing_file() {
    let t = TestDir::new("err-backing");
    let img = small_image(&t, Layout::Gpt, Format::Qcow2Backing);
    std::fs::remove_file(img.base.as_ref().unwrap()).unwrap();
    let out = fails(&t, &img.path, "1", &[]);
    out.assert_stderr_contains(&["base.qcow2"]).assert_stderr_any(&["no such file", "not found", "does not exist"]);
}

/// Refuses to overwrite its own input.
#[test]
fn output_same_as_input() {
    let t = TestDir::new("err-same");
    let img = small_image(&t, Layout::Bare, Format::Raw);
    let before = file_sha256(&img.path);
    let run = TestCommand::new().args(["ima", "enable", "-i"]).arg(&img.path).arg("-o").arg(&img.path).run();
    run.assert_error();
    assert_eq!(file_sha256(&img.path), before, "input overwritten");
}
