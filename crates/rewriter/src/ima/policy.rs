//! The IMA policy file installed at `/etc/ima/ima-policy` (systemd loads it at boot): the
//! embedded default, and the checks a user-supplied policy must pass before it goes in.

use crate::error::{Error, Result};

/// Where systemd looks for the custom policy (src/core/ima-setup.c).
pub const POLICY_PATH: &str = "/etc/ima/ima-policy";

/// Filesystems whose files are never appraised by the default policy, with why.
///
/// The first matching appraise/dont_appraise rule wins, so these come before `appraise`.
/// Pseudo filesystems are the kernel's own appraise_tcb list. The rest cannot store
/// `security.ima` (no xattrs, or kernel-generated content) yet a cloud guest mounts them and
/// root reads from them at boot; under `appraise fowner=0` in enforce mode every such read would
/// get EACCES (ima_appraise_measurement returns INTEGRITY_UNKNOWN without IOP_XATTR).
pub const DEFAULT_EXCLUDED_FILESYSTEMS: &[(&str, u32, &str)] = &[
    ("proc", 0x9fa0, "kernel pseudo filesystem"),
    ("sysfs", 0x62656572, "kernel pseudo filesystem"),
    ("debugfs", 0x64626720, "kernel pseudo filesystem"),
    ("tmpfs", 0x01021994, "memory filesystem, content created at run time"),
    ("ramfs", 0x858458f6, "memory filesystem, content created at run time"),
    ("devpts", 0x1cd1, "kernel pseudo filesystem"),
    ("binfmt_misc", 0x42494e4d, "kernel pseudo filesystem"),
    ("securityfs", 0x73636673, "kernel pseudo filesystem"),
    ("selinuxfs", 0xf97cff8c, "kernel pseudo filesystem"),
    ("smackfs", 0x43415d53, "kernel pseudo filesystem"),
    ("nsfs", 0x6e736673, "kernel pseudo filesystem"),
    ("efivarfs", 0xde5e81e4, "kernel pseudo filesystem"),
    ("cgroup", 0x27e0eb, "kernel pseudo filesystem"),
    ("cgroup2", 0x63677270, "kernel pseudo filesystem"),
    ("tracefs", 0x74726163, "kernel pseudo filesystem"),
    ("bpf", 0xcafe4a11, "kernel pseudo filesystem"),
    ("configfs", 0x62656570, "kernel pseudo filesystem"),
    ("pstore", 0x6165676c, "kernel pseudo filesystem, read by systemd-pstore at boot"),
    ("mqueue", 0x19800202, "kernel pseudo filesystem"),
    ("hugetlbfs", 0x958458f6, "memory filesystem"),
    ("autofs", 0x0187, "automount placeholder"),
    ("vfat", 0x4d44, "no xattrs: the EFI system partition at /boot/efi"),
    ("iso9660", 0x9660, "no xattrs: cloud-init's config drive / NoCloud cidata"),
    ("squashfs", 0x73717368, "read-only images (snaps) that carry no IMA labels"),
];

/// The default policy: the seed's intent (appraise every file owned by root) with the
/// filesystems above excluded first; the `tcb` profile without image facts.
pub fn default_policy() -> String {
    super::profile::default_policy(super::profile::Profile::Tcb, None)
}

/// Checks a policy and normalises it for installation: rejects what the kernel would reject
/// as a whole file (no rules, NUL bytes, non-text) and adds the final newline the kernel's
/// path loader needs (ima_read_policy counts every byte; a missing `\n` fails the load).
pub fn prepare(text: &[u8], source_name: &str) -> Result<Vec<u8>> {
    let err = |message: String| Error::Policy { source_name: source_name.to_string(), message };
    let text = std::str::from_utf8(text)
        .map_err(|e| err(format!("is not UTF-8 text (byte {}); give a text policy file", e.valid_up_to())))?;
    if let Some(pos) = text.find('\0') {
        return Err(err(format!("contains a NUL byte at offset {pos}; give a text policy file")));
    }
    let rules = text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).count();
    if rules == 0 {
        return Err(err(
            "has no rules (empty, or only comments); the kernel rejects an empty policy and an empty /etc/ima/ima-policy can stop the boot. Start from `cvm-image-rewriter ima policy default`".into(),
        ));
    }
    for (i, line) in text.lines().enumerate() {
        if line.len() >= 4095 {
            return Err(err(format!(
                "line {} is {} bytes long; the kernel accepts at most 4094 per rule",
                i + 1,
                line.len()
            )));
        }
    }
    // The kernel rejects the whole policy for one bad token (and systemd then stops the boot):
    // check every line against its grammar before the image is written.
    if let Err(errors) = super::policy_lang::parse(text) {
        let list: Vec<String> = errors.iter().map(|e| format!("  {e}")).collect();
        let n = errors.len();
        return Err(err(format!(
            "the kernel would reject it ({n} error{}):\n{}",
            if n == 1 { "" } else { "s" },
            list.join("\n")
        )));
    }
    let mut out = text.as_bytes().to_vec();
    if !out.ends_with(b"\n") {
        out.push(b'\n');
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_policy_excludes_first_and_appraises_root_last() {
        let p = default_policy();
        let rules: Vec<&str> = p.lines().filter(|l| !l.starts_with('#')).collect();
        assert_eq!(rules.last(), Some(&"appraise fowner=0"));
        assert!(rules.contains(&"dont_appraise fsmagic=0x4d44"));
        assert!(rules.contains(&"dont_appraise fsmagic=0x9660"));
        assert!(rules[..rules.len() - 1].iter().all(|r| r.starts_with("dont_appraise fsmagic=0x")));
        assert!(p.ends_with('\n'));
        assert_eq!(prepare(p.as_bytes(), "default").unwrap(), p.as_bytes());
    }

    #[test]
    fn empty_comment_only_and_binary_policies_are_refused() {
        for bad in [&b""[..], b"\n\n", b"# nothing\n  # here\n", b"appraise\0fowner=0\n", b"\xff\xfe"] {
            let e = prepare(bad, "p.txt").unwrap_err().to_string();
            assert!(e.starts_with("IMA policy p.txt: "), "{e}");
        }
    }

    #[test]
    fn grammar_errors_name_line_and_column() {
        let e =
            prepare(b"dont_appraise fsmagic=0x9fa0\nappraise fowner=0 # root files\n", "p").unwrap_err().to_string();
        assert!(e.contains("line 2:"), "{e}");
        assert!(e.contains("kernel would reject"), "{e}");
    }

    #[test]
    fn a_missing_final_newline_is_added() {
        assert_eq!(prepare(b"appraise fowner=0", "x").unwrap(), b"appraise fowner=0\n");
    }
}
