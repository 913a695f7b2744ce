//! Embedded default policies ("profiles"), optionally adapted to what the image mounts.
//!
//! Both profiles start with the exclusions of [`DEFAULT_EXCLUDED_FILESYSTEMS`] (the first
//! matching appraise/dont_appraise rule decides, so exclusions come first), then, when
//! [`ImageFacts`] are given, a `dont_appraise fsmagic=` for every filesystem in the image's fstab
//! that cannot hold `security.ima` and is not excluded yet. Nothing is ever dropped.
//!
//! * [`Profile::Tcb`]: the seed's intent, `appraise fowner=0` — every access (open for read or
//!   write, exec, mmap, kernel reads) to a root-owned file is appraised. Strongest, but it has the
//!   mutable-file trap: a file a root daemon creates and keeps open for writing (systemd-journald's
//!   `/var/log/journal/*/system.journal`) has no valid label until its last close, so every other
//!   root reader (`journalctl`) is denied with cause `missing-hash` in enforce mode.
//! * [`Profile::Exec`]: appraise what runs — exec, executable mmap, kernel modules, firmware,
//!   kexec images — of root-owned files, plus write-opens of root-owned files so that files
//!   created or replaced at run time (package upgrades) get a label at their last close. Plain
//!   read-only opens are never appraised, so readers of open journals are not refused.

use super::lint::ImageFacts;
use super::policy::DEFAULT_EXCLUDED_FILESYSTEMS;

/// A default policy to generate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    /// Exclusions + `appraise fowner=0` (what [`super::policy::default_policy`] writes).
    Tcb,
    /// Exclusions + appraise what runs (see the module docs).
    Exec,
}

impl Profile {
    /// Every profile.
    pub const ALL: [Profile; 2] = [Profile::Tcb, Profile::Exec];

    /// The profile's name (`tcb`, `exec`).
    pub fn name(self) -> &'static str {
        match self {
            Profile::Tcb => "tcb",
            Profile::Exec => "exec",
        }
    }

    /// The profile called `name`.
    pub fn from_name(name: &str) -> Option<Profile> {
        Profile::ALL.into_iter().find(|p| p.name() == name)
    }

    /// One line saying what the profile appraises.
    pub fn summary(self) -> &'static str {
        match self {
            Profile::Tcb => "every access to root-owned files (appraise fowner=0)",
            Profile::Exec => {
                "what runs: exec and executable mmap of root-owned files, kernel modules, firmware, kexec images; \
                 and write-opens of root-owned files so new files get labels"
            }
        }
    }
}

/// A filesystem type that cannot hold (or that we do not write) `security.ima` labels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NoXattrFs {
    /// The type names an fstab may use for it (`fuse.*` types match [`no_xattr_fs`] too).
    pub fstab_types: &'static [&'static str],
    /// The kernel's name of the type (`s_type->name`, what `fsname=` compares).
    pub kernel_name: &'static str,
    /// The superblock magic (`s_magic`, what `fsmagic=` compares).
    pub magic: u64,
    /// Why its files cannot be appraised.
    pub why: &'static str,
}

/// Filesystems whose root-owned files an appraise rule must not cover: the kernel returns
/// INTEGRITY_UNKNOWN for an inode without xattr support, which enforce mode turns into EACCES
/// (ima-kernel-facts.md §2.3), and network or FUSE filesystems whose content the image does not
/// carry.
///
/// Magic numbers checked against `/usr/include/linux/magic.h` on the build machine: 0x4d44
/// (MSDOS_SUPER_MAGIC), 0x9660 (ISOFS_SUPER_MAGIC), 0x15013346 (UDF_SUPER_MAGIC), 0x2011bab0
/// (EXFAT_SUPER_MAGIC), 0x73717368 (SQUASHFS_MAGIC), 0x6969 (NFS_SUPER_MAGIC), 0xff534d42
/// (CIFS_SUPER_MAGIC; `cifs_read_super` sets it for every dialect, smb3 included), 0x65735546
/// (FUSE_SUPER_MAGIC), 0x01021997 (V9FS_MAGIC). Checked in kernel source: 0x5346544e
/// (NTFS_SB_MAGIC, the legacy ntfs driver) and 0x7366746e (ntfs3's `ntfs_fill_super`). virtiofs
/// is a FUSE filesystem (`virtio_fs_fill_super` → `fuse_fill_super_common` sets
/// FUSE_SUPER_MAGIC); 0x6a656a63, sometimes listed for it, is Docker Desktop's "fakeowner"
/// filesystem, not virtiofs.
pub const NO_XATTR_FILESYSTEMS: &[NoXattrFs] = &[
    NoXattrFs {
        fstab_types: &["vfat", "msdos", "fat", "umsdos"],
        kernel_name: "vfat",
        magic: 0x4d44,
        why: "FAT has no xattrs (EFI system partition, NoCloud cidata)",
    },
    NoXattrFs {
        fstab_types: &["iso9660"],
        kernel_name: "iso9660",
        magic: 0x9660,
        why: "ISO 9660 has no xattrs (config drive, NoCloud cidata)",
    },
    NoXattrFs { fstab_types: &["udf"], kernel_name: "udf", magic: 0x1501_3346, why: "UDF has no xattrs in Linux" },
    NoXattrFs { fstab_types: &["exfat"], kernel_name: "exfat", magic: 0x2011_bab0, why: "exFAT has no xattrs" },
    NoXattrFs {
        fstab_types: &["ntfs"],
        kernel_name: "ntfs",
        magic: 0x5346_544e,
        why: "NTFS (legacy driver): no security.ima labels",
    },
    NoXattrFs {
        fstab_types: &["ntfs3"],
        kernel_name: "ntfs3",
        magic: 0x7366_746e,
        why: "NTFS (ntfs3 driver): not labelled by cvm-image-rewriter",
    },
    NoXattrFs {
        fstab_types: &["squashfs"],
        kernel_name: "squashfs",
        magic: 0x7371_7368,
        why: "read-only images that carry no IMA labels",
    },
    NoXattrFs {
        fstab_types: &["nfs", "nfs4"],
        kernel_name: "nfs",
        magic: 0x6969,
        why: "network filesystem: no security.ima, content not in the image",
    },
    NoXattrFs {
        fstab_types: &["cifs", "smb3", "smbfs"],
        kernel_name: "cifs",
        magic: 0xff53_4d42,
        why: "network filesystem: no security.ima, content not in the image",
    },
    NoXattrFs {
        fstab_types: &["fuse", "fuseblk", "virtiofs", "ntfs-3g", "sshfs"],
        kernel_name: "fuse",
        magic: 0x6573_5546,
        why: "FUSE (also virtiofs): labels are not trustworthy or not present",
    },
    NoXattrFs {
        fstab_types: &["9p"],
        kernel_name: "9p",
        magic: 0x0102_1997,
        why: "9p host share: no security.ima, content not in the image",
    },
];

/// The entry of [`NO_XATTR_FILESYSTEMS`] for an fstab type name (`vfat`, `nfs4`,
/// `fuse.sshfs`, ...), if it is one.
pub fn no_xattr_fs(fs_type: &str) -> Option<&'static NoXattrFs> {
    let t = if fs_type.starts_with("fuse.") { "fuse" } else { fs_type };
    NO_XATTR_FILESYSTEMS.iter().find(|fs| fs.fstab_types.contains(&t))
}

/// The kernel's name for an fstab type (`nfs4` stays `nfs4`, `fuse.sshfs` becomes `fuse`),
/// for [`super::select::FileFacts::fsname`]. Empty when unsure (then `fsname=` "may match").
pub fn kernel_fs_name(fs_type: &str) -> String {
    match fs_type {
        "vfat" | "msdos" | "iso9660" | "udf" | "exfat" | "ntfs" | "ntfs3" | "squashfs" | "nfs" | "nfs4" | "cifs"
        | "smb3" | "9p" | "fuse" | "fuseblk" | "ext2" | "ext3" | "ext4" | "xfs" | "btrfs" | "f2fs" | "tmpfs" => {
            fs_type.to_string()
        }
        "virtiofs" | "sshfs" => "fuse".to_string(),
        "ntfs-3g" => "fuseblk".to_string(),
        t if t.starts_with("fuse.") => "fuse".to_string(),
        _ => String::new(),
    }
}

/// The `dont_appraise fsmagic=` lines (with a comment line each) the image's fstab calls for
/// beyond [`DEFAULT_EXCLUDED_FILESYSTEMS`]: one per magic, in fstab order.
pub fn extra_exclusions(facts: &ImageFacts) -> Vec<(u64, String)> {
    let mut out: Vec<(u64, String)> = Vec::new();
    for e in &facts.fstab {
        let Some(fs) = no_xattr_fs(&e.fs_type) else { continue };
        if DEFAULT_EXCLUDED_FILESYSTEMS.iter().any(|(_, m, _)| u64::from(*m) == fs.magic)
            || out.iter().any(|(m, _)| *m == fs.magic)
        {
            continue;
        }
        out.push((fs.magic, format!("{} at {} (fstab line {}): {}", e.fs_type, e.mount_point, e.line, fs.why)));
    }
    out
}

/// The text of `profile`, adapted to `facts` when given. Always parses with
/// [`super::policy_lang::parse`] and ends with `\n`.
pub fn default_policy(profile: Profile, facts: Option<&ImageFacts>) -> String {
    let mut p = format!(
        "# IMA policy written by cvm-image-rewriter (profile `{}`: {}).\n\
         # systemd loads /etc/ima/ima-policy at boot. The first matching appraise or\n\
         # dont_appraise rule decides, so the exclusions come first. Comments must stay on lines\n\
         # of their own: the kernel rejects the whole policy for any unknown token.\n",
        profile.name(),
        profile.summary()
    );
    for (name, magic, why) in DEFAULT_EXCLUDED_FILESYSTEMS {
        p.push_str(&format!("# {name}: {why}\ndont_appraise fsmagic={magic:#x}\n"));
    }
    if let Some(facts) = facts {
        for (magic, why) in extra_exclusions(facts) {
            p.push_str(&format!("# {why}\ndont_appraise fsmagic={magic:#x}\n"));
        }
    }
    match profile {
        Profile::Tcb => p.push_str(
            "# Appraise every file owned by root: each needs a valid security.ima label.\nappraise fowner=0\n",
        ),
        Profile::Exec => p.push_str(
            "# Programs and shared libraries owned by root: execve() and mmap(PROT_EXEC).\n\
             appraise func=BPRM_CHECK fowner=0\n\
             appraise func=MMAP_CHECK mask=MAY_EXEC fowner=0\n\
             # What the kernel itself loads. With these rules, enforce mode also refuses init_module()\n\
             # without a file descriptor (unless module signatures are enforced), kexec_load() (use\n\
             # kexec_file_load, `kexec -s`) and the sysfs firmware fallback (ima_load_data).\n\
             appraise func=MODULE_CHECK\n\
             appraise func=FIRMWARE_CHECK\n\
             appraise func=KEXEC_KERNEL_CHECK\n\
             appraise func=KEXEC_INITRAMFS_CHECK\n\
             # Opening a root-owned file for writing: a new file (a package upgrade's replacement\n\
             # binary or library) passes and gets its hash written at its last close; without this\n\
             # rule it would stay unlabelled and could not be executed. Read-only opens are not\n\
             # appraised, so readers of files open for writing (journalctl) are never refused.\n\
             appraise func=FILE_CHECK mask=^MAY_WRITE fowner=0\n",
        ),
    }
    p
}

#[cfg(test)]
mod tests {
    use super::super::policy;
    use super::super::policy_lang::{parse, Action, Rule};
    use super::super::select::{appraised, appraised_for, FileFacts, FILE_READ};
    use super::*;
    use crate::fstab;

    fn facts(fstab_text: &str) -> ImageFacts {
        ImageFacts { fstab: fstab::parse(fstab_text), ..ImageFacts::default() }
    }

    const FSTAB: &str = "\
UUID=0b3f2c1e-7a8d-4e2f-9c01-5d6e7f809112 / ext4 rw,discard,errors=remount-ro 0 1
UUID=7A1B-22C3 /boot/efi vfat umask=0077 0 1
server:/export /srv/nfs nfs4 defaults 0 0
//host/share /mnt/share cifs credentials=/etc/cred 0 0
host0 /mnt/host 9p trans=virtio 0 0
myfs /mnt/vfs virtiofs defaults 0 0
sshfs#me@host:/ /mnt/ssh fuse.sshfs defaults 0 0
/dev/sdb1 /mnt/usb exfat defaults 0 0
/dev/sr0 /media/cdrom iso9660 ro,noauto 0 0
/swapfile none swap sw 0 0
";

    fn rules(text: &str) -> Vec<Rule> {
        parse(text).unwrap_or_else(|e| panic!("{text}\n{e:?}")).rules
    }

    #[test]
    fn every_profile_parses_and_ends_with_newline() {
        let f = facts(FSTAB);
        for profile in Profile::ALL {
            for facts in [None, Some(&f), Some(&ImageFacts::default())] {
                let text = default_policy(profile, facts);
                assert!(text.ends_with('\n'), "{profile:?}");
                let p = parse(&text).unwrap_or_else(|e| panic!("{profile:?}: {e:?}\n{text}"));
                assert!(p.final_newline);
                assert_eq!(p.to_string(), text, "prints back byte for byte");
                // Exclusions first, appraise rules last.
                let first_appraise = p.rules.iter().position(|r| r.action == Action::Appraise).unwrap();
                assert!(p.rules[..first_appraise].iter().all(|r| r.action == Action::DontAppraise));
                assert!(p.rules[first_appraise..].iter().all(|r| r.action == Action::Appraise));
            }
        }
    }

    #[test]
    fn tcb_without_facts_has_the_rules_of_the_existing_default() {
        assert_eq!(rules(&default_policy(Profile::Tcb, None)), rules(&policy::default_policy()));
    }

    #[test]
    fn exec_profile_rules() {
        let text = default_policy(Profile::Exec, None);
        let appraise: Vec<String> =
            rules(&text).iter().filter(|r| r.action == Action::Appraise).map(|r| r.to_string()).collect();
        assert_eq!(
            appraise,
            [
                "appraise func=BPRM_CHECK fowner=0",
                "appraise func=MMAP_CHECK mask=MAY_EXEC fowner=0",
                "appraise func=MODULE_CHECK",
                "appraise func=FIRMWARE_CHECK",
                "appraise func=KEXEC_KERNEL_CHECK",
                "appraise func=KEXEC_INITRAMFS_CHECK",
                "appraise func=FILE_CHECK mask=^MAY_WRITE fowner=0",
            ]
        );
        let p = parse(&text).unwrap();
        let root_file = FileFacts::root_owned(0xef53, "ext4");
        assert!(appraised(&p, &root_file).appraised);
        assert!(!appraised_for(&p, &root_file, &[FILE_READ]).appraised, "plain reads are not appraised");
        let tcb = parse(&default_policy(Profile::Tcb, None)).unwrap();
        assert!(appraised_for(&tcb, &root_file, &[FILE_READ]).appraised);
    }

    #[test]
    fn fstab_filesystems_without_xattrs_are_excluded_once() {
        let f = facts(FSTAB);
        let extra: Vec<u64> = extra_exclusions(&f).into_iter().map(|(m, _)| m).collect();
        // vfat, iso9660 are in the defaults; virtiofs and fuse.sshfs share FUSE's magic.
        assert_eq!(extra, [0x6969, 0xff53_4d42, 0x0102_1997, 0x6573_5546, 0x2011_bab0]);
        for profile in Profile::ALL {
            let text = default_policy(profile, Some(&f));
            let p = parse(&text).unwrap();
            for magic in extra.iter().chain(&[0x4d44, 0x9660]) {
                let file = FileFacts::root_owned(*magic, "");
                let a = appraised(&p, &file);
                assert!(!a.appraised, "{profile:?} {magic:#x}: {a:?}");
            }
            assert!(text.contains("# nfs4 at /srv/nfs (fstab line 3): network filesystem"), "{text}");
            // Nothing dropped: every default rule is still there.
            let base = rules(&default_policy(profile, None));
            let adapted = rules(&text);
            for r in &base {
                assert!(adapted.iter().any(|a| a.to_string() == r.to_string()), "{r} dropped");
            }
            assert_eq!(adapted.len(), base.len() + extra.len());
        }
    }

    #[test]
    fn lookups() {
        assert_eq!(no_xattr_fs("fuse.sshfs").unwrap().magic, 0x6573_5546);
        assert_eq!(no_xattr_fs("virtiofs").unwrap().magic, 0x6573_5546);
        assert_eq!(no_xattr_fs("nfs4").unwrap().magic, 0x6969);
        assert_eq!(no_xattr_fs("msdos").unwrap().magic, 0x4d44);
        assert!(no_xattr_fs("ext4").is_none());
        assert!(no_xattr_fs("swap").is_none());
        assert_eq!(kernel_fs_name("fuse.sshfs"), "fuse");
        assert_eq!(kernel_fs_name("auto"), "");
        assert_eq!(Profile::from_name("exec"), Some(Profile::Exec));
        assert_eq!(Profile::from_name("TCB"), None);
        // Every magic in the table is unique.
        for (i, a) in NO_XATTR_FILESYSTEMS.iter().enumerate() {
            assert!(NO_XATTR_FILESYSTEMS[i + 1..].iter().all(|b| b.magic != a.magic));
        }
    }
}
