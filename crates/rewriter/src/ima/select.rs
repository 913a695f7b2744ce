//! Which files a policy appraises, decided offline and conservatively.
//!
//! The kernel (`ima_match_policy` in ima_policy.c) walks the rules in order for every access
//! and the **first** rule of the appraise/dont_appraise class whose conditions all match
//! decides (ima-kernel-facts.md §2.6). An access is a hook (`func`), an access mask, a process
//! (uid/euid/suid/gid/egid/sgid, capabilities, LSM label) and a file (owner, group, filesystem).
//!
//! Offline we know the file but not the process, so this module asks: could **any** access the
//! kernel makes to this file reach a matching `appraise` rule before a matching `dont_appraise`
//! rule? Each rule's conditions are evaluated three-valued:
//!
//! * `func=` and `mask=` are decided exactly for every access in [`ALL_ACCESSES`] (a finite list
//!   of every hook and mask the kernel passes for a regular file), so
//!   `dont_appraise func=BPRM_CHECK` followed by `appraise func=BPRM_CHECK` is "not appraised".
//! * File conditions are decided: `fowner`, `fgroup` (with `=`, `<`, `>`), `fsmagic`, `fsname`
//!   and `fsuuid` (when [`FileFacts`] knows the filesystem's name and UUID).
//! * Process conditions (`uid`, `euid`, `gid`, `egid`), LSM labels (`subj_*`, `obj_*`: the
//!   file's label is not known offline either) and `fs_subtype=` are "may match": an `appraise`
//!   rule with such a condition makes the file appraised (some process matches it), while a
//!   `dont_appraise` rule with one does not stop the search (some process does not match it).
//!
//! The answer is therefore sound: whenever some concrete access would be appraised,
//! [`appraised`] says so. It is exact for policies without process, LSM or `fs_subtype`
//! conditions (a property test compares it with a literal evaluation of the kernel's rules over
//! concrete accesses).

use super::policy_lang::{Action, Condition, Func, IdOp, Mask, Policy, Rule};

/// `MAY_EXEC` in an access mask (include/linux/fs.h).
pub const MAY_EXEC: u8 = 0x1;
/// `MAY_WRITE` in an access mask.
pub const MAY_WRITE: u8 = 0x2;
/// `MAY_READ` in an access mask.
pub const MAY_READ: u8 = 0x4;
/// `MAY_APPEND` in an access mask.
pub const MAY_APPEND: u8 = 0x8;

/// The bit of a `mask=` value.
pub fn mask_bit(mask: Mask) -> u8 {
    match mask {
        Mask::Exec => MAY_EXEC,
        Mask::Write => MAY_WRITE,
        Mask::Read => MAY_READ,
        Mask::Append => MAY_APPEND,
    }
}

/// One way the kernel reaches `process_measurement` for a regular file: the hook and the mask
/// it passes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Access {
    /// The hook.
    pub func: Func,
    /// `MAY_*` bits.
    pub mask: u8,
}

impl Access {
    /// An access.
    pub const fn new(func: Func, mask: u8) -> Access {
        Access { func, mask }
    }
}

/// A read-only `open()` (`O_RDONLY`): what `journalctl`, `cat` or a daemon reading its
/// configuration does.
pub const FILE_READ: Access = Access::new(Func::FileCheck, MAY_READ);

/// Every access the kernel can make to a regular file, as `(func, mask)`:
///
/// * `FILE_CHECK` (`ima_file_check`): the open's `acc_mode & (MAY_READ|MAY_WRITE|MAY_EXEC|
///   MAY_APPEND)`; every non-zero combination is listed (a superset of what `open()`, `execve()`'s
///   open and `uselib()` produce, which keeps the answer sound).
/// * `BPRM_CHECK`, `CREDS_CHECK`, `MMAP_CHECK`, `MMAP_CHECK_REQPROT`: `MAY_EXEC`.
/// * Kernel reads (`ima_post_read_file`): `MODULE_CHECK`, `FIRMWARE_CHECK`,
///   `KEXEC_KERNEL_CHECK`, `KEXEC_INITRAMFS_CHECK`, `POLICY_CHECK` with `MAY_READ`.
///
/// Not listed: `KEXEC_CMDLINE`, `KEY_CHECK`, `CRITICAL_DATA` (buffers, not files),
/// `SETXATTR_CHECK` (checks the algorithm of a label write, appraises nothing) and the internal
/// `POST_SETATTR` lookup (it decides whether `chmod`/`chown` keeps `security.ima`, not whether an
/// access is appraised).
pub const ALL_ACCESSES: [Access; 24] = [
    Access::new(Func::FileCheck, 1),
    Access::new(Func::FileCheck, 2),
    Access::new(Func::FileCheck, 3),
    Access::new(Func::FileCheck, 4),
    Access::new(Func::FileCheck, 5),
    Access::new(Func::FileCheck, 6),
    Access::new(Func::FileCheck, 7),
    Access::new(Func::FileCheck, 8),
    Access::new(Func::FileCheck, 9),
    Access::new(Func::FileCheck, 10),
    Access::new(Func::FileCheck, 11),
    Access::new(Func::FileCheck, 12),
    Access::new(Func::FileCheck, 13),
    Access::new(Func::FileCheck, 14),
    Access::new(Func::FileCheck, 15),
    Access::new(Func::BprmCheck, MAY_EXEC),
    Access::new(Func::CredsCheck, MAY_EXEC),
    Access::new(Func::MmapCheck, MAY_EXEC),
    Access::new(Func::MmapCheckReqprot, MAY_EXEC),
    Access::new(Func::ModuleCheck, MAY_READ),
    Access::new(Func::FirmwareCheck, MAY_READ),
    Access::new(Func::KexecKernelCheck, MAY_READ),
    Access::new(Func::KexecInitramfsCheck, MAY_READ),
    Access::new(Func::PolicyCheck, MAY_READ),
];

/// What is known offline about a regular file.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FileFacts {
    /// Owner (`fowner=` compares this).
    pub uid: u32,
    /// Group (`fgroup=`).
    pub gid: u32,
    /// Permission bits (IMA does not match on them; kept for callers' reports).
    pub mode: u16,
    /// The filesystem's `s_magic` (`fsmagic=`).
    pub fsmagic: u64,
    /// The filesystem's UUID as text (`fsuuid=`), `None` when unknown: `fsuuid=` then "may match".
    pub fsuuid: Option<String>,
    /// The kernel's name of the filesystem type (`fsname=`, e.g. `ext4`, `vfat`); empty when
    /// unknown: `fsname=` then "may match".
    pub fsname: String,
}

impl FileFacts {
    /// A file owned by root (uid 0, gid 0, mode 0644) on a filesystem with this magic and type
    /// name, UUID unknown: what a root daemon reads at boot.
    pub fn root_owned(fsmagic: u64, fsname: &str) -> FileFacts {
        FileFacts { uid: 0, gid: 0, mode: 0o644, fsmagic, fsuuid: None, fsname: fsname.to_string() }
    }
}

/// The verdict for one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Appraisal {
    /// Some access to the file may reach an `appraise` rule first.
    pub appraised: bool,
    /// The deciding rule's index in [`Policy::rules`]: when appraised, the first `appraise` rule
    /// some access reaches; otherwise the first `dont_appraise` rule that exempts some access for
    /// every process, or `None` when no rule of the class matches any access.
    pub rule_index: Option<usize>,
    /// The deciding rule's line number ([`Rule::line`]).
    pub rule_line: Option<usize>,
}

/// Three-valued match.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tri {
    No,
    Maybe,
    Yes,
}

fn id_matches(op: IdOp, actual: u32, value: u32) -> bool {
    match op {
        IdOp::Eq => actual == value,
        IdOp::Gt => actual > value,
        IdOp::Lt => actual < value,
    }
}

/// Parses a UUID the way `uuid_parse` reads it (8-4-4-4-12 hex digits, any case) into bytes.
fn uuid_bytes(s: &str) -> Option<[u8; 16]> {
    let s = s.trim();
    let b = s.as_bytes();
    if b.len() != 36 || [8, 13, 18, 23].iter().any(|&i| b[i] != b'-') {
        return None;
    }
    let hex: Vec<u8> = b.iter().copied().filter(|&c| c != b'-').collect();
    if hex.len() != 32 {
        return None;
    }
    let mut out = [0u8; 16];
    for (i, pair) in hex.chunks(2).enumerate() {
        let text = std::str::from_utf8(pair).ok()?;
        out[i] = u8::from_str_radix(text, 16).ok()?;
    }
    Some(out)
}

/// Whether two UUID strings name the same UUID (`uuid_equal`); falls back to a case-insensitive
/// comparison when either is not in UUID form.
fn uuid_eq(a: &str, b: &str) -> bool {
    match (uuid_bytes(a), uuid_bytes(b)) {
        (Some(x), Some(y)) => x == y,
        _ => a.trim().eq_ignore_ascii_case(b.trim()),
    }
}

/// The conditions the kernel keeps: `fsname=` may repeat and the last one wins (`ima_parse_rule`
/// replaces `entry->fsname`); a valid rule repeats no other condition.
fn effective_conditions(rule: &Rule) -> impl Iterator<Item = &Condition> {
    let last_fsname = rule.conditions.iter().rposition(|c| matches!(c, Condition::FsName(_)));
    rule.conditions
        .iter()
        .enumerate()
        .filter(move |(i, c)| !matches!(c, Condition::FsName(_)) || Some(*i) == last_fsname)
        .map(|(_, c)| c)
}

/// The file-dependent part of a rule (everything but `func=` and `mask=`).
fn file_match(rule: &Rule, file: &FileFacts) -> Tri {
    let mut result = Tri::Yes;
    for c in effective_conditions(rule) {
        let t = match c {
            Condition::Func { .. } | Condition::Mask { .. } => Tri::Yes,
            Condition::FsMagic { value, .. } => tri(*value == file.fsmagic),
            Condition::FsName(name) => {
                if file.fsname.is_empty() {
                    Tri::Maybe
                } else {
                    tri(*name == file.fsname)
                }
            }
            Condition::FsUuid(uuid) => match &file.fsuuid {
                Some(actual) => tri(uuid_eq(uuid, actual)),
                None => Tri::Maybe,
            },
            Condition::Fowner { op, value } => tri(id_matches(*op, file.uid, *value)),
            Condition::Fgroup { op, value } => tri(id_matches(*op, file.gid, *value)),
            // The accessing process, the LSM labels and the FUSE subtype are unknown offline.
            Condition::FsSubtype(_)
            | Condition::Uid { .. }
            | Condition::Euid { .. }
            | Condition::Gid { .. }
            | Condition::Egid { .. }
            | Condition::ObjUser(_)
            | Condition::ObjRole(_)
            | Condition::ObjType(_)
            | Condition::SubjUser(_)
            | Condition::SubjRole(_)
            | Condition::SubjType(_) => Tri::Maybe,
        };
        match t {
            Tri::No => return Tri::No,
            Tri::Maybe => result = Tri::Maybe,
            Tri::Yes => {}
        }
    }
    result
}

fn tri(b: bool) -> Tri {
    if b {
        Tri::Yes
    } else {
        Tri::No
    }
}

/// An appraise-class rule with its hook and mask pulled out.
#[derive(Debug, Clone)]
struct ClassRule<'p> {
    index: usize,
    rule: &'p Rule,
    appraise: bool,
    func: Option<Func>,
    /// `(inverted, bit)`: `mask=MAY_X` needs the access mask to equal the bit (IMA_MASK);
    /// `mask=^MAY_X` needs it to include the bit (IMA_INMASK).
    mask: Option<(bool, u8)>,
}

impl ClassRule<'_> {
    fn matches_access(&self, access: Access) -> bool {
        if self.func.is_some_and(|f| f != access.func) {
            return false;
        }
        match self.mask {
            Some((false, bit)) => access.mask == bit,
            Some((true, bit)) => access.mask & bit != 0,
            None => true,
        }
    }
}

/// A policy prepared for deciding many files: the appraise/dont_appraise rules in order.
#[derive(Debug, Clone)]
pub struct Selector<'p> {
    policy: &'p Policy,
    rules: Vec<ClassRule<'p>>,
}

impl<'p> Selector<'p> {
    /// Prepares `policy`.
    pub fn new(policy: &'p Policy) -> Selector<'p> {
        let rules = policy
            .rules
            .iter()
            .enumerate()
            .filter(|(_, r)| matches!(r.action, Action::Appraise | Action::DontAppraise))
            .map(|(index, rule)| ClassRule {
                index,
                rule,
                appraise: rule.action == Action::Appraise,
                func: rule.func(),
                mask: rule.conditions.iter().find_map(|c| match c {
                    Condition::Mask { inverted, mask } => Some((*inverted, mask_bit(*mask))),
                    _ => None,
                }),
            })
            .collect();
        Selector { policy, rules }
    }

    /// Whether any access in [`ALL_ACCESSES`] to `file` may be appraised.
    pub fn appraised(&self, file: &FileFacts) -> Appraisal {
        self.appraised_for(file, &ALL_ACCESSES)
    }

    /// Whether any of `accesses` to `file` may be appraised.
    pub fn appraised_for(&self, file: &FileFacts, accesses: &[Access]) -> Appraisal {
        let file_matches: Vec<Tri> = self.rules.iter().map(|r| file_match(r.rule, file)).collect();
        let mut first_appraise: Option<usize> = None;
        let mut first_exempt: Option<usize> = None;
        for &access in accesses {
            for (r, &fm) in self.rules.iter().zip(&file_matches) {
                if fm == Tri::No || !r.matches_access(access) {
                    continue;
                }
                if r.appraise {
                    // Some process matches it (Yes, or Maybe: conservatively, some does).
                    first_appraise = Some(first_appraise.map_or(r.index, |i| i.min(r.index)));
                    break;
                }
                if fm == Tri::Yes {
                    first_exempt = Some(first_exempt.map_or(r.index, |i| i.min(r.index)));
                    break;
                }
                // A dont_appraise that only some processes match: the others go on.
            }
        }
        let rule_index = first_appraise.or(first_exempt);
        Appraisal {
            appraised: first_appraise.is_some(),
            rule_index,
            rule_line: rule_index.map(|i| self.policy.rules[i].line),
        }
    }
}

/// Whether `policy` may appraise `file` (any access, any process): see the module docs.
pub fn appraised(policy: &Policy, file: &FileFacts) -> Appraisal {
    Selector::new(policy).appraised(file)
}

/// Whether `policy` may appraise any of `accesses` to `file`, e.g. `&[FILE_READ]` for "is a
/// plain read-only open appraised".
pub fn appraised_for(policy: &Policy, file: &FileFacts, accesses: &[Access]) -> Appraisal {
    Selector::new(policy).appraised_for(file, accesses)
}

/// How many files each rule decides.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RuleCounts {
    /// Indexed like [`Policy::rules`]: for an `appraise` rule, the files it is the first to
    /// appraise; for a `dont_appraise` rule, the files it exempts; 0 for other rules.
    pub by_rule: Vec<usize>,
    /// Files some access may appraise.
    pub appraised: usize,
    /// Files no access appraises.
    pub not_appraised: usize,
    /// Files no appraise-class rule matches at all (included in `not_appraised`).
    pub unmatched: usize,
}

/// Decides every file in `files` and counts, per rule, the files it decides (see
/// [`Appraisal::rule_index`]). For a summary such as "line 27 `appraise fowner=0`: 41 093 files".
pub fn count_by_rule<'a, I>(policy: &Policy, files: I) -> RuleCounts
where
    I: IntoIterator<Item = &'a FileFacts>,
{
    let selector = Selector::new(policy);
    let mut counts = RuleCounts { by_rule: vec![0; policy.rules.len()], ..RuleCounts::default() };
    for file in files {
        let a = selector.appraised(file);
        if a.appraised {
            counts.appraised += 1;
        } else {
            counts.not_appraised += 1;
        }
        match a.rule_index {
            Some(i) => counts.by_rule[i] += 1,
            None => counts.unmatched += 1,
        }
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::super::policy_lang::{parse, IdOp, Line};
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    const EXT4: u64 = 0xef53;
    const VFAT: u64 = 0x4d44;
    const ISO: u64 = 0x9660;
    const TMPFS: u64 = 0x0102_1994;

    fn policy(text: &str) -> Policy {
        parse(text).unwrap_or_else(|e| panic!("{text}: {e:?}"))
    }

    fn file(uid: u32, gid: u32, fsmagic: u64, fsname: &str) -> FileFacts {
        FileFacts { uid, gid, mode: 0o644, fsmagic, fsuuid: Some(UUIDS[0].into()), fsname: fsname.into() }
    }

    #[test]
    fn appraise_tcb_style() {
        let p = policy("dont_appraise fsmagic=0x4d44\ndont_appraise fsname=tmpfs\nappraise fowner=0\n");
        let a = appraised(&p, &file(0, 0, EXT4, "ext4"));
        assert_eq!(a, Appraisal { appraised: true, rule_index: Some(2), rule_line: Some(3) });
        let a = appraised(&p, &file(0, 0, VFAT, "vfat"));
        assert_eq!(a, Appraisal { appraised: false, rule_index: Some(0), rule_line: Some(1) });
        let a = appraised(&p, &file(0, 0, TMPFS, "tmpfs"));
        assert_eq!(a, Appraisal { appraised: false, rule_index: Some(1), rule_line: Some(2) });
        let a = appraised(&p, &file(1000, 0, EXT4, "ext4"));
        assert_eq!(a, Appraisal { appraised: false, rule_index: None, rule_line: None });
    }

    #[test]
    fn dont_appraise_after_appraise_does_nothing() {
        let p = policy("appraise fowner=0\ndont_appraise fsmagic=0x4d44\n");
        assert!(appraised(&p, &file(0, 0, VFAT, "vfat")).appraised);
    }

    #[test]
    fn func_and_mask_are_decided_per_access() {
        // The exemption covers exactly the accesses the appraise rule covers.
        let p = policy("dont_appraise func=BPRM_CHECK\nappraise func=BPRM_CHECK fowner=0\n");
        assert!(!appraised(&p, &file(0, 0, EXT4, "ext4")).appraised);
        // The exemption covers only exec; reads still reach the appraise rule.
        let p = policy("dont_appraise func=BPRM_CHECK\nappraise fowner=0\n");
        assert_eq!(appraised(&p, &file(0, 0, EXT4, "ext4")).rule_line, Some(2));
        // mask=MAY_READ (exact) vs mask=^MAY_READ (included).
        let p = policy("dont_appraise func=FILE_CHECK mask=^MAY_READ\nappraise func=FILE_CHECK mask=MAY_READ\n");
        assert!(!appraised(&p, &file(0, 0, EXT4, "ext4")).appraised);
        let p = policy("dont_appraise func=FILE_CHECK mask=MAY_READ\nappraise func=FILE_CHECK mask=^MAY_READ\n");
        assert!(appraised(&p, &file(0, 0, EXT4, "ext4")).appraised);
        // Read-only opens only.
        let p = policy("appraise func=BPRM_CHECK fowner=0\n");
        assert!(!appraised_for(&p, &file(0, 0, EXT4, "ext4"), &[FILE_READ]).appraised);
        assert!(appraised(&p, &file(0, 0, EXT4, "ext4")).appraised);
    }

    #[test]
    fn process_and_lsm_conditions_are_conservative() {
        // An appraise rule some process matches: appraised.
        let p = policy("appraise uid=1000\n");
        assert!(appraised(&p, &file(0, 0, EXT4, "ext4")).appraised);
        let p = policy("appraise obj_type=etc_t\n");
        assert!(appraised(&p, &file(0, 0, EXT4, "ext4")).appraised);
        // A dont_appraise rule some process does not match does not exempt the file.
        let p = policy("dont_appraise euid=0\nappraise fowner=0\n");
        assert_eq!(appraised(&p, &file(0, 0, EXT4, "ext4")).rule_line, Some(2));
        let p = policy("dont_appraise subj_type=init_t\nappraise fowner=0\n");
        assert!(appraised(&p, &file(0, 0, EXT4, "ext4")).appraised);
    }

    #[test]
    fn id_operators_and_uuid() {
        let p = policy("dont_appraise fowner>999\nappraise fgroup<100\n");
        assert!(!appraised(&p, &file(1000, 0, EXT4, "ext4")).appraised);
        assert!(appraised(&p, &file(999, 99, EXT4, "ext4")).appraised);
        assert!(!appraised(&p, &file(999, 100, EXT4, "ext4")).appraised);
        let p = policy(&format!("dont_appraise fsuuid={}\nappraise\n", UUIDS[0].to_uppercase()));
        assert!(!appraised(&p, &file(0, 0, EXT4, "ext4")).appraised);
        let mut unknown = file(0, 0, EXT4, "ext4");
        unknown.fsuuid = None;
        assert!(appraised(&p, &unknown).appraised, "unknown UUID: the exemption may not apply");
        unknown.fsname.clear();
        let p = policy("appraise fsname=vfat\n");
        assert!(appraised(&p, &unknown).appraised, "unknown fsname: may match");
    }

    #[test]
    fn counts_per_rule() {
        let p = policy("dont_appraise fsmagic=0x4d44\nmeasure\nappraise fowner=0\n");
        let files =
            [file(0, 0, EXT4, "ext4"), file(0, 0, EXT4, "ext4"), file(0, 0, VFAT, "vfat"), file(5, 5, ISO, "x")];
        let c = count_by_rule(&p, &files);
        assert_eq!(c.by_rule, vec![1, 0, 2]);
        assert_eq!((c.appraised, c.not_appraised, c.unmatched), (2, 2, 1));
    }

    // ---- brute-force reference: the kernel's ima_match_rules, literally, over concrete accesses.

    const IDS: [u32; 6] = [0, 1, 999, 1000, 1001, 65534];
    const MAGICS: [u64; 4] = [EXT4, VFAT, ISO, TMPFS];
    const NAMES: [&str; 4] = ["ext4", "vfat", "iso9660", "tmpfs"];
    const UUIDS: [&str; 2] = ["0b3f2c1e-7a8d-4e2f-9c01-5d6e7f809112", "11111111-2222-3333-4444-555555555555"];
    /// Opaque LSM / fs_subtype conditions: each is true or false in a concrete world.
    const LSM_CONDS: [&str; 4] = ["subj_type=a", "obj_type=b", "subj_user=c", "fs_subtype=d"];

    #[derive(Debug, Clone, Copy)]
    struct Creds {
        uid: u32,
        euid: u32,
        suid: u32,
        gid: u32,
        egid: u32,
        sgid: u32,
        cap_setuid: bool,
        cap_setgid: bool,
    }

    fn cred_worlds() -> Vec<Creds> {
        let mut out = Vec::new();
        for &x in &IDS {
            for cap in [false, true] {
                out.push(Creds {
                    uid: x,
                    euid: x,
                    suid: x,
                    gid: x,
                    egid: x,
                    sgid: x,
                    cap_setuid: cap,
                    cap_setgid: cap,
                });
            }
        }
        // Set-id programs: real and effective ids differ.
        for (r, e, s) in [(1000, 0, 0), (0, 1000, 1000), (1000, 1001, 0), (65534, 1, 999)] {
            for cap in [false, true] {
                out.push(Creds {
                    uid: r,
                    euid: e,
                    suid: s,
                    gid: e,
                    egid: r,
                    sgid: s,
                    cap_setuid: cap,
                    cap_setgid: !cap,
                });
            }
        }
        out
    }

    fn lsm_key(c: &Condition) -> Option<String> {
        match c {
            Condition::FsSubtype(v) => Some(format!("fs_subtype={v}")),
            c if c.is_lsm() => {
                let v = match c {
                    Condition::ObjUser(v)
                    | Condition::ObjRole(v)
                    | Condition::ObjType(v)
                    | Condition::SubjUser(v)
                    | Condition::SubjRole(v)
                    | Condition::SubjType(v) => v,
                    _ => unreachable!(),
                };
                Some(format!("{}={v}", c.key()))
            }
            _ => None,
        }
    }

    /// `ima_match_rules` for one concrete access.
    fn kernel_match(rule: &Rule, file: &FileFacts, access: Access, cr: &Creds, lsm: &BTreeMap<String, bool>) -> bool {
        let op = |op: IdOp, a: u32, v: u32| id_matches(op, a, v);
        effective_conditions(rule).all(|c| match c {
            Condition::Func { func, .. } => *func == access.func,
            Condition::Mask { inverted: false, mask } => access.mask == mask_bit(*mask),
            Condition::Mask { inverted: true, mask } => access.mask & mask_bit(*mask) != 0,
            Condition::FsMagic { value, .. } => *value == file.fsmagic,
            Condition::FsName(n) => *n == file.fsname,
            Condition::FsUuid(u) => file.fsuuid.as_deref().is_some_and(|f| uuid_eq(u, f)),
            Condition::Uid { op: o, value } => op(*o, cr.uid, *value),
            Condition::Euid { op: o, value } => {
                if cr.cap_setuid {
                    op(*o, cr.euid, *value) || op(*o, cr.suid, *value) || op(*o, cr.uid, *value)
                } else {
                    op(*o, cr.euid, *value)
                }
            }
            Condition::Gid { op: o, value } => op(*o, cr.gid, *value),
            Condition::Egid { op: o, value } => {
                if cr.cap_setgid {
                    op(*o, cr.egid, *value) || op(*o, cr.sgid, *value) || op(*o, cr.gid, *value)
                } else {
                    op(*o, cr.egid, *value)
                }
            }
            Condition::Fowner { op: o, value } => op(*o, file.uid, *value),
            Condition::Fgroup { op: o, value } => op(*o, file.gid, *value),
            other => lsm[&lsm_key(other).unwrap()],
        })
    }

    /// The first appraise-class rule matching one concrete access: Some(index) if it appraises.
    fn kernel_decide(
        p: &Policy,
        file: &FileFacts,
        access: Access,
        cr: &Creds,
        lsm: &BTreeMap<String, bool>,
    ) -> Option<usize> {
        for (i, r) in p.rules.iter().enumerate() {
            if !matches!(r.action, Action::Appraise | Action::DontAppraise) {
                continue;
            }
            if kernel_match(r, file, access, cr, lsm) {
                return (r.action == Action::Appraise).then_some(i);
            }
        }
        None
    }

    /// Every concrete world; returns the smallest index of an appraise rule that decides some
    /// access, or None when no access is appraised.
    fn brute_force(p: &Policy, file: &FileFacts, creds: &[Creds], lsm_conds: &[&str]) -> Option<usize> {
        let keys: Vec<String> = lsm_conds.iter().map(|s| s.to_string()).collect();
        let mut best: Option<usize> = None;
        for bits in 0u32..(1 << keys.len()) {
            let lsm: BTreeMap<String, bool> =
                keys.iter().enumerate().map(|(i, k)| (k.clone(), bits & (1 << i) != 0)).collect();
            for cr in creds {
                for &access in &ALL_ACCESSES {
                    if let Some(i) = kernel_decide(p, file, access, cr, &lsm) {
                        best = Some(best.map_or(i, |b| b.min(i)));
                    }
                }
            }
        }
        best
    }

    fn arb_id_cond(key: &'static str) -> impl Strategy<Value = Condition> {
        (prop::sample::select(vec![IdOp::Eq, IdOp::Gt, IdOp::Lt]), prop::sample::select(IDS.to_vec())).prop_map(
            move |(op, value)| match key {
                "uid" => Condition::Uid { op, value },
                "euid" => Condition::Euid { op, value },
                "gid" => Condition::Gid { op, value },
                "egid" => Condition::Egid { op, value },
                "fowner" => Condition::Fowner { op, value },
                _ => Condition::Fgroup { op, value },
            },
        )
    }

    /// File conditions plus func/mask: decidable offline.
    fn arb_decidable_cond() -> BoxedStrategy<Condition> {
        let funcs: Vec<Func> = ALL_ACCESSES.iter().map(|a| a.func).chain([Func::SetxattrCheck]).collect();
        prop_oneof![
            prop::sample::select(funcs).prop_map(|func| Condition::Func { func, legacy_name: false }),
            (any::<bool>(), prop::sample::select(Mask::ALL.to_vec()))
                .prop_map(|(inverted, mask)| Condition::Mask { inverted, mask }),
            prop::sample::select(MAGICS.to_vec()).prop_map(Condition::fsmagic),
            prop::sample::select(NAMES.to_vec()).prop_map(|n| Condition::FsName(n.into())),
            prop::sample::select(UUIDS.to_vec()).prop_map(|u| Condition::FsUuid(u.into())),
            arb_id_cond("fowner"),
            arb_id_cond("fgroup"),
        ]
        .boxed()
    }

    fn arb_any_cond() -> BoxedStrategy<Condition> {
        prop_oneof![
            3 => arb_decidable_cond(),
            1 => arb_id_cond("uid"),
            1 => arb_id_cond("euid"),
            1 => arb_id_cond("gid"),
            1 => arb_id_cond("egid"),
            1 => prop::sample::select(LSM_CONDS.to_vec()).prop_map(|s| {
                let (k, v) = s.split_once('=').unwrap();
                let v = v.to_string();
                match k {
                    "subj_type" => Condition::SubjType(v),
                    "obj_type" => Condition::ObjType(v),
                    "subj_user" => Condition::SubjUser(v),
                    _ => Condition::FsSubtype(v),
                }
            }),
        ]
        .boxed()
    }

    fn arb_policy(cond: BoxedStrategy<Condition>) -> impl Strategy<Value = Policy> {
        let action = prop::sample::select(vec![Action::Appraise, Action::DontAppraise, Action::Measure]);
        let rule = (action, prop::collection::vec(cond, 0..4)).prop_map(|(action, mut conditions)| {
            // One condition per kernel slot (uid/euid and gid/egid share one), as the parser
            // enforces; fsname= may repeat.
            let slot = |c: &Condition| match c.key() {
                "euid" => "uid",
                "egid" => "gid",
                k => k,
            };
            let mut seen = Vec::new();
            conditions.retain(|c| {
                slot(c) == "fsname" || {
                    let fresh = !seen.contains(&slot(c));
                    seen.push(slot(c));
                    fresh
                }
            });
            Rule { line: 0, action, conditions, options: Vec::new() }
        });
        prop::collection::vec(rule, 1..8).prop_map(|rules| {
            let p = Policy::from_rules(rules);
            debug_assert!(p.lines.iter().all(|l| matches!(l, Line::Rule { .. })));
            p
        })
    }

    fn arb_file() -> impl Strategy<Value = FileFacts> {
        (
            prop::sample::select(IDS.to_vec()),
            prop::sample::select(IDS.to_vec()),
            0usize..MAGICS.len(),
            prop::sample::select(UUIDS.to_vec()),
        )
            .prop_map(|(uid, gid, fs, uuid)| FileFacts {
                uid,
                gid,
                mode: 0o755,
                fsmagic: MAGICS[fs],
                fsuuid: Some(uuid.into()),
                fsname: NAMES[fs].into(),
            })
    }

    /// Every policy of two single-condition rules from a pool covering each hook, each mask form,
    /// file conditions and no condition, against the reference.
    #[test]
    fn exact_for_every_two_rule_policy() {
        let mut conds: Vec<Vec<Condition>> = vec![vec![]];
        for a in ALL_ACCESSES.iter().filter(|a| a.func != Func::FileCheck).chain([&FILE_READ]) {
            conds.push(vec![Condition::Func { func: a.func, legacy_name: false }]);
        }
        for m in Mask::ALL {
            for inverted in [false, true] {
                conds.push(vec![Condition::Mask { inverted, mask: m }]);
            }
        }
        conds.push(vec![Condition::fsmagic(VFAT)]);
        conds.push(vec![Condition::FsName("ext4".into())]);
        conds.push(vec![Condition::Fowner { op: IdOp::Eq, value: 0 }]);
        conds.push(vec![Condition::Fgroup { op: IdOp::Gt, value: 999 }]);
        let mut pool = Vec::new();
        for c in &conds {
            for action in [Action::Appraise, Action::DontAppraise] {
                pool.push(Rule { line: 0, action, conditions: c.clone(), options: Vec::new() });
            }
        }
        let files = [file(0, 0, EXT4, "ext4"), file(1000, 1000, VFAT, "vfat")];
        let creds = [cred_worlds()[0]];
        for a in &pool {
            for b in &pool {
                let p = Policy::from_rules(vec![a.clone(), b.clone()]);
                for f in &files {
                    let reference = brute_force(&p, f, &creds, &[]);
                    let got = appraised(&p, f);
                    assert_eq!(got.appraised, reference.is_some(), "{p}{f:?}");
                    if reference.is_some() {
                        assert_eq!(got.rule_index, reference, "{p}{f:?}");
                    }
                }
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        /// Soundness: whenever some concrete access is appraised, `appraised()` says so.
        #[test]
        fn sound_against_brute_force(p in arb_policy(arb_any_cond()), files in prop::collection::vec(arb_file(), 1..4)) {
            let creds = cred_worlds();
            for f in &files {
                let reference = brute_force(&p, f, &creds, &LSM_CONDS);
                let got = appraised(&p, f);
                if let Some(i) = reference {
                    prop_assert!(got.appraised, "policy:\n{p}file {f:?}\nconcrete access appraised by rule {i}");
                    prop_assert!(got.rule_index.unwrap() <= i, "{p}{f:?}: {got:?} vs {i}");
                }
            }
        }

        /// Exactness without process, LSM or fs_subtype conditions.
        #[test]
        fn exact_for_decidable_policies(p in arb_policy(arb_decidable_cond()), files in prop::collection::vec(arb_file(), 1..4)) {
            let creds = [cred_worlds()[0]];
            for f in &files {
                let reference = brute_force(&p, f, &creds, &[]);
                let got = appraised(&p, f);
                prop_assert_eq!(got.appraised, reference.is_some(), "policy:\n{}file {:?}", p, f);
                if let Some(i) = reference {
                    prop_assert_eq!(got.rule_index, Some(i));
                }
            }
        }
    }
}
