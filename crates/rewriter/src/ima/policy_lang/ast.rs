//! The syntax tree of an IMA policy, with the kernel's names for every keyword and the tables
//! the parser checks values against.

use std::fmt;

/// `PAGE_SIZE` on x86-64 and arm64 (4 KiB pages). `ima_write_policy` (ima_fs.c) cuts every
/// write() to `PAGE_SIZE - 1` bytes, and systemd writes one line per write() when loading the
/// policy line by line, so a line must be shorter than this.
pub const PAGE_SIZE: usize = 4096;

/// The longest line, in bytes without its `\n`, that survives a one-line write().
pub const MAX_LINE_BYTES: usize = PAGE_SIZE - 1;

/// The highest `pcr=` value: `INVALID_PCR` in ima_policy.c allows `0 ..
/// 8 * sizeof(measured_pcrs)`, and `measured_pcrs` is an `unsigned long` (64 bits).
pub const MAX_PCR: u32 = 63;

/// The kernel's `hash_algo_name[]` (crypto/hash_info.c), in `enum hash_algo` order. These are
/// the names `appraise_algos=` accepts (`ima_parse_appraise_algos` uses `match_string`).
pub const HASH_ALGO_NAMES: [&str; 23] = [
    "md4",
    "md5",
    "sha1",
    "rmd160",
    "sha256",
    "sha384",
    "sha512",
    "sha224",
    "rmd128",
    "rmd256",
    "rmd320",
    "wp256",
    "wp384",
    "wp512",
    "tgr128",
    "tgr160",
    "tgr192",
    "sm3",
    "streebog256",
    "streebog512",
    "sha3-256",
    "sha3-384",
    "sha3-512",
];

/// Names in [`HASH_ALGO_NAMES`] whose crypto implementation was removed from the kernel
/// (RIPEMD-128/256/320 in 5.11, Tiger in 5.12). `ima_parse_appraise_algos` also requires
/// `crypto_has_alg()`, so on every kernel of the target range (6.1+) these are rejected.
pub const REMOVED_HASH_ALGOS: [&str; 6] = ["rmd128", "rmd256", "rmd320", "tgr128", "tgr160", "tgr192"];

/// The kernel's built-in template descriptors (`builtin_templates[]` in ima_template.c) as
/// `(name, format)`. `template=` is looked up by `lookup_template_desc`, which matches either.
pub const BUILTIN_TEMPLATES: [(&str, &str); 8] = [
    ("ima", "d|n"),
    ("ima-ng", "d-ng|n-ng"),
    ("ima-ngv2", "d-ngv2|n-ng"),
    ("ima-sig", "d-ng|n-ng|sig"),
    ("ima-sigv2", "d-ngv2|n-ng|sig"),
    ("ima-buf", "d-ng|n-ng|buf"),
    ("ima-modsig", "d-ng|n-ng|sig|d-modsig|modsig"),
    ("evm-sig", "d-ng|n-ng|evmsig|xattrnames|xattrlengths|xattrvalues|iuid|igid|imode"),
];

/// Template field ids (`supported_fields[]` in ima_template.c). A `template=` value made of
/// these joined by `|` can name the custom template set with `ima_template_fmt=`.
pub const TEMPLATE_FIELDS: [&str; 16] = [
    "d",
    "n",
    "d-ng",
    "n-ng",
    "d-ngv2",
    "sig",
    "buf",
    "d-modsig",
    "modsig",
    "evmsig",
    "xattrnames",
    "xattrlengths",
    "xattrvalues",
    "iuid",
    "igid",
    "imode",
];

/// A kernel release, `major.minor`, to tell which kernels accept a rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub struct KernelVersion {
    /// Major version.
    pub major: u16,
    /// Minor version.
    pub minor: u16,
}

impl KernelVersion {
    /// `major.minor`.
    pub const fn new(major: u16, minor: u16) -> KernelVersion {
        KernelVersion { major, minor }
    }

    /// The oldest kernel this parser targets (Debian 12). Features at or below it need no note.
    pub const TARGET_MIN: KernelVersion = KernelVersion::new(6, 1);
    /// The newest kernel whose grammar the parser's checks follow (Ubuntu 24.04).
    pub const TARGET_MAX: KernelVersion = KernelVersion::new(6, 8);
}

impl fmt::Display for KernelVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// `MMAP_CHECK_REQPROT` (commit "ima: Introduce MMAP_CHECK_REQPROT hook").
pub const SINCE_MMAP_CHECK_REQPROT: KernelVersion = KernelVersion::new(6, 3);
/// `sha3-256/384/512` in `hash_algo_name[]` ("crypto: FIPS 202 SHA-3 register in hash info for
/// IMA"). Believed to be 6.7; not checked against a release.
pub const SINCE_SHA3_ALGOS: KernelVersion = KernelVersion::new(6, 7);
/// `dont_audit` ("ima: add dont_audit action to suppress audit actions", posted September
/// 2025). The release is assumed, not verified: the first merge window after posting.
pub const SINCE_DONT_AUDIT: KernelVersion = KernelVersion::new(6, 19);
/// `fs_subtype=` ("ima: add fs_subtype condition for distinguishing FUSE instances", same
/// series as `dont_audit`; release assumed, not verified).
pub const SINCE_FS_SUBTYPE: KernelVersion = KernelVersion::new(6, 19);

/// A parsed policy: its rules and, to print it back byte for byte, every line of the text.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Policy {
    /// The rules in file order (the kernel matches them in this order).
    pub rules: Vec<Rule>,
    /// Every line of the text, rule lines pointing into `rules`.
    pub lines: Vec<Line>,
    /// Whether the text ended with `\n`. The kernel's path load (`ima_read_policy`) counts a
    /// `\n` after every line, so a policy file should end with one; a linter can warn.
    pub final_newline: bool,
}

/// One line of policy text.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub enum Line {
    /// Empty, or only spaces and tabs (kept verbatim).
    Blank(String),
    /// First non-blank character is `#` (kept verbatim, leading blanks included).
    Comment(String),
    /// A rule: index into [`Policy::rules`], and the original text when parsed from text
    /// (`None` prints the rule's canonical form).
    Rule {
        /// Index into [`Policy::rules`].
        index: usize,
        /// The line as written, printed as is: set it to `None` after editing the rule so that
        /// the rule's canonical form is printed instead.
        text: Option<String>,
    },
}

/// One rule: `action [condition ...] [option ...]`. Conditions and options keep the order of
/// their tokens on the line (the kernel cares about order for `template=` and `digest_type=`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Rule {
    /// 1-based line number in the text (1 for a rule parsed on its own).
    pub line: usize,
    /// The rule's single action.
    pub action: Action,
    /// What the rule matches on.
    pub conditions: Vec<Condition>,
    /// How a matched access is handled.
    pub options: Vec<Opt>,
}

/// The action tokens of `policy_tokens`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub enum Action {
    /// `measure`
    Measure,
    /// `dont_measure`
    DontMeasure,
    /// `appraise`
    Appraise,
    /// `dont_appraise`
    DontAppraise,
    /// `audit`
    Audit,
    /// `dont_audit` (newer than the target range: see [`SINCE_DONT_AUDIT`]).
    DontAudit,
    /// `hash`
    Hash,
    /// `dont_hash`
    DontHash,
}

impl Action {
    /// Every action.
    pub const ALL: [Action; 8] = [
        Action::Measure,
        Action::DontMeasure,
        Action::Appraise,
        Action::DontAppraise,
        Action::Audit,
        Action::DontAudit,
        Action::Hash,
        Action::DontHash,
    ];

    /// The policy keyword.
    pub fn keyword(self) -> &'static str {
        match self {
            Action::Measure => "measure",
            Action::DontMeasure => "dont_measure",
            Action::Appraise => "appraise",
            Action::DontAppraise => "dont_appraise",
            Action::Audit => "audit",
            Action::DontAudit => "dont_audit",
            Action::Hash => "hash",
            Action::DontHash => "dont_hash",
        }
    }

    /// The action spelled `keyword` (case-sensitive).
    pub fn from_keyword(keyword: &str) -> Option<Action> {
        Action::ALL.into_iter().find(|a| a.keyword() == keyword)
    }
}

/// The `func=` hooks (`enum ima_hooks` that `ima_parse_rule` accepts).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub enum Func {
    /// `FILE_CHECK`, legacy spelling `PATH_CHECK`.
    FileCheck,
    /// `MODULE_CHECK`
    ModuleCheck,
    /// `FIRMWARE_CHECK`
    FirmwareCheck,
    /// `MMAP_CHECK`, legacy spelling `FILE_MMAP`.
    MmapCheck,
    /// `MMAP_CHECK_REQPROT` (6.3+).
    MmapCheckReqprot,
    /// `BPRM_CHECK`
    BprmCheck,
    /// `CREDS_CHECK`
    CredsCheck,
    /// `KEXEC_KERNEL_CHECK`
    KexecKernelCheck,
    /// `KEXEC_INITRAMFS_CHECK`
    KexecInitramfsCheck,
    /// `KEXEC_CMDLINE`
    KexecCmdline,
    /// `POLICY_CHECK`
    PolicyCheck,
    /// `KEY_CHECK` (needs CONFIG_IMA_MEASURE_ASYMMETRIC_KEYS).
    KeyCheck,
    /// `CRITICAL_DATA`
    CriticalData,
    /// `SETXATTR_CHECK`
    SetxattrCheck,
}

impl Func {
    /// Every hook.
    pub const ALL: [Func; 14] = [
        Func::FileCheck,
        Func::ModuleCheck,
        Func::FirmwareCheck,
        Func::MmapCheck,
        Func::MmapCheckReqprot,
        Func::BprmCheck,
        Func::CredsCheck,
        Func::KexecKernelCheck,
        Func::KexecInitramfsCheck,
        Func::KexecCmdline,
        Func::PolicyCheck,
        Func::KeyCheck,
        Func::CriticalData,
        Func::SetxattrCheck,
    ];

    /// The canonical name.
    pub fn name(self) -> &'static str {
        match self {
            Func::FileCheck => "FILE_CHECK",
            Func::ModuleCheck => "MODULE_CHECK",
            Func::FirmwareCheck => "FIRMWARE_CHECK",
            Func::MmapCheck => "MMAP_CHECK",
            Func::MmapCheckReqprot => "MMAP_CHECK_REQPROT",
            Func::BprmCheck => "BPRM_CHECK",
            Func::CredsCheck => "CREDS_CHECK",
            Func::KexecKernelCheck => "KEXEC_KERNEL_CHECK",
            Func::KexecInitramfsCheck => "KEXEC_INITRAMFS_CHECK",
            Func::KexecCmdline => "KEXEC_CMDLINE",
            Func::PolicyCheck => "POLICY_CHECK",
            Func::KeyCheck => "KEY_CHECK",
            Func::CriticalData => "CRITICAL_DATA",
            Func::SetxattrCheck => "SETXATTR_CHECK",
        }
    }

    /// The backwards-compatible alias, if the hook has one (`PATH_CHECK`, `FILE_MMAP`).
    pub fn legacy_name(self) -> Option<&'static str> {
        match self {
            Func::FileCheck => Some("PATH_CHECK"),
            Func::MmapCheck => Some("FILE_MMAP"),
            _ => None,
        }
    }

    /// The hook spelled `name`, and whether that is the legacy alias.
    pub fn from_name(name: &str) -> Option<(Func, bool)> {
        Func::ALL.into_iter().find_map(|f| {
            if f.name() == name {
                Some((f, false))
            } else if f.legacy_name() == Some(name) {
                Some((f, true))
            } else {
                None
            }
        })
    }
}

/// The `mask=` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub enum Mask {
    /// `MAY_EXEC`
    Exec,
    /// `MAY_WRITE`
    Write,
    /// `MAY_READ`
    Read,
    /// `MAY_APPEND`
    Append,
}

impl Mask {
    /// Every mask.
    pub const ALL: [Mask; 4] = [Mask::Exec, Mask::Write, Mask::Read, Mask::Append];

    /// The policy name.
    pub fn name(self) -> &'static str {
        match self {
            Mask::Exec => "MAY_EXEC",
            Mask::Write => "MAY_WRITE",
            Mask::Read => "MAY_READ",
            Mask::Append => "MAY_APPEND",
        }
    }

    /// The mask spelled `name`.
    pub fn from_name(name: &str) -> Option<Mask> {
        Mask::ALL.into_iter().find(|m| m.name() == name)
    }
}

/// The comparison of an id condition: `uid=0`, `uid>999`, `uid<1000`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub enum IdOp {
    /// `=`
    Eq,
    /// `>`
    Gt,
    /// `<`
    Lt,
}

impl IdOp {
    /// The operator character.
    pub fn symbol(self) -> char {
        match self {
            IdOp::Eq => '=',
            IdOp::Gt => '>',
            IdOp::Lt => '<',
        }
    }
}

/// What a rule matches on.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub enum Condition {
    /// `func=`; `legacy_name` records the `PATH_CHECK` / `FILE_MMAP` spelling so printing
    /// gives back the text (ignored for hooks without an alias).
    Func {
        /// The hook.
        func: Func,
        /// Spelled with [`Func::legacy_name`].
        legacy_name: bool,
    },
    /// `mask=[^]MAY_…`. Without `^` the access mask must equal this bit (IMA_MASK); with `^`
    /// (`inverted`) it need only include it (IMA_INMASK).
    Mask {
        /// Written with a leading `^`.
        inverted: bool,
        /// The bit.
        mask: Mask,
    },
    /// `fsmagic=` (hex, `0x` optional, parsed like `kstrtoul(s, 16)`); `text` is the value as
    /// written, which is what gets printed. Build with [`Condition::fsmagic`].
    FsMagic {
        /// The magic number.
        value: u64,
        /// The value as written after `fsmagic=`.
        text: String,
    },
    /// `fsname=` (the filesystem type name, e.g. `ext4`).
    FsName(String),
    /// `fs_subtype=` (newer than the target range: see [`SINCE_FS_SUBTYPE`]).
    FsSubtype(String),
    /// `fsuuid=` (`uuid_parse` format, 8-4-4-4-12 hex digits), as written.
    FsUuid(String),
    /// `uid` (the task's real uid).
    Uid {
        /// Comparison.
        op: IdOp,
        /// Decimal id.
        value: u32,
    },
    /// `euid` (shares the uid slot: a rule has `uid` or `euid`, not both).
    Euid {
        /// Comparison.
        op: IdOp,
        /// Decimal id.
        value: u32,
    },
    /// `gid`
    Gid {
        /// Comparison.
        op: IdOp,
        /// Decimal id.
        value: u32,
    },
    /// `egid` (shares the gid slot).
    Egid {
        /// Comparison.
        op: IdOp,
        /// Decimal id.
        value: u32,
    },
    /// `fowner` (the file's owner).
    Fowner {
        /// Comparison.
        op: IdOp,
        /// Decimal id.
        value: u32,
    },
    /// `fgroup` (the file's group).
    Fgroup {
        /// Comparison.
        op: IdOp,
        /// Decimal id.
        value: u32,
    },
    /// `obj_user=` (LSM).
    ObjUser(String),
    /// `obj_role=` (LSM).
    ObjRole(String),
    /// `obj_type=` (LSM).
    ObjType(String),
    /// `subj_user=` (LSM).
    SubjUser(String),
    /// `subj_role=` (LSM).
    SubjRole(String),
    /// `subj_type=` (LSM).
    SubjType(String),
}

impl Condition {
    /// `fsmagic=` written as `0x` and lowercase hex, as `ima_policy_show` prints it.
    pub fn fsmagic(value: u64) -> Condition {
        Condition::FsMagic { value, text: format!("{value:#x}") }
    }

    /// The keyword before `=`, `<` or `>`.
    pub fn key(&self) -> &'static str {
        match self {
            Condition::Func { .. } => "func",
            Condition::Mask { .. } => "mask",
            Condition::FsMagic { .. } => "fsmagic",
            Condition::FsName(_) => "fsname",
            Condition::FsSubtype(_) => "fs_subtype",
            Condition::FsUuid(_) => "fsuuid",
            Condition::Uid { .. } => "uid",
            Condition::Euid { .. } => "euid",
            Condition::Gid { .. } => "gid",
            Condition::Egid { .. } => "egid",
            Condition::Fowner { .. } => "fowner",
            Condition::Fgroup { .. } => "fgroup",
            Condition::ObjUser(_) => "obj_user",
            Condition::ObjRole(_) => "obj_role",
            Condition::ObjType(_) => "obj_type",
            Condition::SubjUser(_) => "subj_user",
            Condition::SubjRole(_) => "subj_role",
            Condition::SubjType(_) => "subj_type",
        }
    }

    /// Whether this is an LSM condition (`obj_*`, `subj_*`).
    pub fn is_lsm(&self) -> bool {
        matches!(
            self,
            Condition::ObjUser(_)
                | Condition::ObjRole(_)
                | Condition::ObjType(_)
                | Condition::SubjUser(_)
                | Condition::SubjRole(_)
                | Condition::SubjType(_)
        )
    }
}

/// `appraise_type=` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub enum AppraiseType {
    /// `imasig`: a signature (v2) is required.
    ImaSig,
    /// `imasig|modsig`: an xattr or an appended signature (needs CONFIG_IMA_APPRAISE_MODSIG).
    ImaSigModSig,
    /// `sigv3`: an fs-verity signature (needs `digest_type=verity` first on 6.1–6.8).
    SigV3,
}

impl AppraiseType {
    /// Every type.
    pub const ALL: [AppraiseType; 3] = [AppraiseType::ImaSig, AppraiseType::ImaSigModSig, AppraiseType::SigV3];

    /// The policy spelling.
    pub fn name(self) -> &'static str {
        match self {
            AppraiseType::ImaSig => "imasig",
            AppraiseType::ImaSigModSig => "imasig|modsig",
            AppraiseType::SigV3 => "sigv3",
        }
    }

    /// The type spelled `name`.
    pub fn from_name(name: &str) -> Option<AppraiseType> {
        AppraiseType::ALL.into_iter().find(|t| t.name() == name)
    }
}

/// `digest_type=` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub enum DigestType {
    /// `verity`: use the fs-verity file digest.
    Verity,
}

impl DigestType {
    /// The policy spelling.
    pub fn name(self) -> &'static str {
        match self {
            DigestType::Verity => "verity",
        }
    }
}

/// How a matched access is handled (and the data-measurement selectors `keyrings=`/`label=`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub enum Opt {
    /// `appraise_type=`
    AppraiseType(AppraiseType),
    /// `appraise_flag=` as written (the kernel accepts any value containing `blacklist`).
    AppraiseFlag(String),
    /// `appraise_algos=a,b,…` (names from [`HASH_ALGO_NAMES`]).
    AppraiseAlgos(Vec<String>),
    /// `keyrings=a|b` (with `func=KEY_CHECK`).
    Keyrings(Vec<String>),
    /// `label=a|b` (with `func=CRITICAL_DATA`).
    Label(Vec<String>),
    /// `template=` (a built-in template name or format).
    Template(String),
    /// `pcr=`
    Pcr(u32),
    /// `permit_directio`
    PermitDirectio,
    /// `digest_type=`
    DigestType(DigestType),
}

impl Opt {
    /// The keyword (before `=` when the option takes a value).
    pub fn key(&self) -> &'static str {
        match self {
            Opt::AppraiseType(_) => "appraise_type",
            Opt::AppraiseFlag(_) => "appraise_flag",
            Opt::AppraiseAlgos(_) => "appraise_algos",
            Opt::Keyrings(_) => "keyrings",
            Opt::Label(_) => "label",
            Opt::Template(_) => "template",
            Opt::Pcr(_) => "pcr",
            Opt::PermitDirectio => "permit_directio",
            Opt::DigestType(_) => "digest_type",
        }
    }
}

/// Something a rule needs beyond the grammar of the oldest target kernel: a newer kernel, a
/// kernel config option, or a runtime condition. For linters.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Requirement {
    /// The token or feature, e.g. `func=MMAP_CHECK_REQPROT`.
    pub what: String,
    /// The first kernel release that accepts it, if newer than [`KernelVersion::TARGET_MIN`].
    pub min_kernel: Option<KernelVersion>,
    /// The kernel config option it needs, if any.
    pub kconfig: Option<&'static str>,
    /// Why, in a few words.
    pub note: &'static str,
}

impl Rule {
    /// The rule's hook, if it has `func=`.
    pub fn func(&self) -> Option<Func> {
        self.conditions.iter().find_map(|c| match c {
            Condition::Func { func, .. } => Some(*func),
            _ => None,
        })
    }

    /// Everything the rule needs beyond the 6.1 grammar (see [`Requirement`]).
    pub fn requirements(&self) -> Vec<Requirement> {
        let mut out = Vec::new();
        if self.action == Action::DontAudit {
            out.push(Requirement {
                what: "dont_audit".into(),
                min_kernel: Some(SINCE_DONT_AUDIT),
                kconfig: None,
                note: "action added after 6.8; older kernels reject the token",
            });
        }
        for c in &self.conditions {
            match c {
                Condition::Func { func: Func::MmapCheckReqprot, .. } => out.push(Requirement {
                    what: "func=MMAP_CHECK_REQPROT".into(),
                    min_kernel: Some(SINCE_MMAP_CHECK_REQPROT),
                    kconfig: None,
                    note: "hook added in 6.3",
                }),
                Condition::Func { func: Func::KeyCheck, .. } => out.push(Requirement {
                    what: "func=KEY_CHECK".into(),
                    min_kernel: None,
                    kconfig: Some("CONFIG_IMA_MEASURE_ASYMMETRIC_KEYS"),
                    note: "rejected when the option is off",
                }),
                Condition::FsSubtype(_) => out.push(Requirement {
                    what: "fs_subtype=".into(),
                    min_kernel: Some(SINCE_FS_SUBTYPE),
                    kconfig: None,
                    note: "condition added after 6.8; older kernels reject the token",
                }),
                c if c.is_lsm() => out.push(Requirement {
                    what: format!("{}=", c.key()),
                    min_kernel: None,
                    kconfig: None,
                    note: "at the first custom policy load an LSM label the running LSM does not know \
                           rejects the whole policy (ima_lsm_rule_init)",
                }),
                _ => {}
            }
        }
        for o in &self.options {
            match o {
                Opt::AppraiseType(AppraiseType::ImaSigModSig) => out.push(Requirement {
                    what: "appraise_type=imasig|modsig".into(),
                    min_kernel: None,
                    kconfig: Some("CONFIG_IMA_APPRAISE_MODSIG"),
                    note: "rejected when the option is off",
                }),
                Opt::AppraiseFlag(_) => out.push(Requirement {
                    what: "appraise_flag=".into(),
                    min_kernel: None,
                    kconfig: Some("CONFIG_IMA_APPRAISE_MODSIG"),
                    note: "rejected when the option is off; deprecated in newer kernels",
                }),
                Opt::Keyrings(_) => out.push(Requirement {
                    what: "keyrings=".into(),
                    min_kernel: None,
                    kconfig: Some("CONFIG_IMA_MEASURE_ASYMMETRIC_KEYS"),
                    note: "rejected when the option is off",
                }),
                Opt::AppraiseAlgos(algos) => {
                    for a in algos {
                        if a.starts_with("sha3-") {
                            out.push(Requirement {
                                what: format!("appraise_algos={a}"),
                                min_kernel: Some(SINCE_SHA3_ALGOS),
                                kconfig: None,
                                note: "SHA-3 names joined hash_algo_name[] after 6.1",
                            });
                        }
                    }
                    out.push(Requirement {
                        what: "appraise_algos=".into(),
                        min_kernel: None,
                        kconfig: None,
                        note: "every algorithm must be available in the running kernel (crypto_has_alg)",
                    });
                }
                Opt::Template(t) if !BUILTIN_TEMPLATES.iter().any(|(n, f)| n == t || f == t) => out.push(Requirement {
                    what: format!("template={t}"),
                    min_kernel: None,
                    kconfig: None,
                    note: "a format that is no built-in template must equal the ima_template_fmt= boot option",
                }),
                _ => {}
            }
        }
        out
    }

    /// The first kernel release that accepts the rule, if newer than
    /// [`KernelVersion::TARGET_MIN`] (`None`: every target kernel does, config permitting).
    pub fn min_kernel(&self) -> Option<KernelVersion> {
        self.requirements().into_iter().filter_map(|r| r.min_kernel).max()
    }
}

impl Policy {
    /// A policy of `rules` only, printed in canonical form, one rule per line, ending with `\n` (empty: no text).
    /// Each rule's `line` is set to its line number.
    pub fn from_rules(mut rules: Vec<Rule>) -> Policy {
        for (i, r) in rules.iter_mut().enumerate() {
            r.line = i + 1;
        }
        let lines = (0..rules.len()).map(|index| Line::Rule { index, text: None }).collect();
        let final_newline = !rules.is_empty();
        Policy { rules, lines, final_newline }
    }

    /// The highest [`Rule::min_kernel`] of all rules.
    pub fn min_kernel(&self) -> Option<KernelVersion> {
        self.rules.iter().filter_map(Rule::min_kernel).max()
    }
}
