//! The parser: a port of the kernel's `ima_parse_add_rule`, `ima_parse_rule` and
//! `ima_validate_rule` (security/integrity/ima/ima_policy.c, 6.3–6.8; 6.1 differs only in lacking
//! `MMAP_CHECK_REQPROT`), reporting every bad line instead of stopping at the first.
//!
//! Within a line the kernel stops at the first bad token (`if (result < 0) break;`), and so does
//! this parser: one error per bad line, at the token the kernel would fail on. Checks that the
//! kernel makes only after the whole line (`ima_validate_rule`) are blamed on the first token
//! that set the offending flag.

use super::ast::{
    Action, AppraiseType, Condition, DigestType, Func, IdOp, Line, Mask, Opt, Policy, Rule, BUILTIN_TEMPLATES,
    HASH_ALGO_NAMES, MAX_LINE_BYTES, MAX_PCR, REMOVED_HASH_ALGOS, TEMPLATE_FIELDS,
};
use super::error::{ErrorKind, PolicyError};

// The kernel's rule flags (ima_policy.c and ima.h), kept only to port ima_validate_rule.
const IMA_FUNC: u32 = 0x0001;
const IMA_MASK: u32 = 0x0002;
const IMA_FSMAGIC: u32 = 0x0004;
const IMA_UID: u32 = 0x0008;
const IMA_FOWNER: u32 = 0x0010;
const IMA_FSUUID: u32 = 0x0020;
const IMA_INMASK: u32 = 0x0040;
const IMA_EUID: u32 = 0x0080;
const IMA_PCR: u32 = 0x0100;
const IMA_FSNAME: u32 = 0x0200;
const IMA_KEYRINGS: u32 = 0x0400;
const IMA_LABEL: u32 = 0x0800;
const IMA_VALIDATE_ALGOS: u32 = 0x1000;
const IMA_GID: u32 = 0x2000;
const IMA_EGID: u32 = 0x4000;
const IMA_FGROUP: u32 = 0x8000;
/// Newer than the target range (the `fs_subtype` patch).
const IMA_FS_SUBTYPE: u32 = 0x10000;
const IMA_DIGSIG_REQUIRED: u32 = 0x0100_0000;
const IMA_PERMIT_DIRECTIO: u32 = 0x0200_0000;
const IMA_MODSIG_ALLOWED: u32 = 0x2000_0000;
const IMA_CHECK_BLACKLIST: u32 = 0x4000_0000;
const IMA_VERITY_REQUIRED: u32 = 0x8000_0000;

/// `ima_validate_rule`, case NONE/FILE_CHECK/MMAP_CHECK/MMAP_CHECK_REQPROT/BPRM_CHECK/
/// CREDS_CHECK/POST_SETATTR/FIRMWARE_CHECK/POLICY_CHECK.
const ALLOWED_FILE_HOOKS: u32 = IMA_FUNC
    | IMA_MASK
    | IMA_FSMAGIC
    | IMA_UID
    | IMA_FOWNER
    | IMA_FSUUID
    | IMA_INMASK
    | IMA_EUID
    | IMA_PCR
    | IMA_FSNAME
    | IMA_FS_SUBTYPE
    | IMA_GID
    | IMA_EGID
    | IMA_FGROUP
    | IMA_DIGSIG_REQUIRED
    | IMA_PERMIT_DIRECTIO
    | IMA_VALIDATE_ALGOS
    | IMA_VERITY_REQUIRED;

/// `ima_validate_rule`, case MODULE_CHECK/KEXEC_KERNEL_CHECK/KEXEC_INITRAMFS_CHECK: the file
/// set without `digest_type=verity`, plus modsig and the blacklist flag.
const ALLOWED_MODSIG_HOOKS: u32 =
    (ALLOWED_FILE_HOOKS & !IMA_VERITY_REQUIRED) | IMA_MODSIG_ALLOWED | IMA_CHECK_BLACKLIST;

/// `ima_validate_rule`, case KEXEC_CMDLINE (measure/dont_measure only).
const ALLOWED_KEXEC_CMDLINE: u32 = IMA_FUNC
    | IMA_FSMAGIC
    | IMA_UID
    | IMA_FOWNER
    | IMA_FSUUID
    | IMA_EUID
    | IMA_PCR
    | IMA_FSNAME
    | IMA_FS_SUBTYPE
    | IMA_GID
    | IMA_EGID
    | IMA_FGROUP;

/// `ima_validate_rule`, case KEY_CHECK (measure/dont_measure only, no LSM conditions).
const ALLOWED_KEY_CHECK: u32 = IMA_FUNC | IMA_UID | IMA_GID | IMA_PCR | IMA_KEYRINGS;

/// `ima_validate_rule`, case CRITICAL_DATA (measure/dont_measure only, no LSM conditions).
const ALLOWED_CRITICAL_DATA: u32 = IMA_FUNC | IMA_UID | IMA_GID | IMA_PCR | IMA_LABEL;

/// `ima_validate_rule`, case SETXATTR_CHECK (appraise only, appraise_algos required).
const ALLOWED_SETXATTR_CHECK: u32 = IMA_FUNC | IMA_VALIDATE_ALGOS;

/// The token each flag comes from, for hints.
const FLAG_NAMES: [(u32, &str); 21] = [
    (IMA_FUNC, "func"),
    (IMA_MASK, "mask"),
    (IMA_INMASK, "mask=^"),
    (IMA_FSMAGIC, "fsmagic"),
    (IMA_FSNAME, "fsname"),
    (IMA_FS_SUBTYPE, "fs_subtype"),
    (IMA_FSUUID, "fsuuid"),
    (IMA_UID, "uid"),
    (IMA_EUID, "euid"),
    (IMA_GID, "gid"),
    (IMA_EGID, "egid"),
    (IMA_FOWNER, "fowner"),
    (IMA_FGROUP, "fgroup"),
    (IMA_KEYRINGS, "keyrings"),
    (IMA_LABEL, "label"),
    (IMA_PCR, "pcr"),
    (IMA_DIGSIG_REQUIRED, "appraise_type"),
    (IMA_MODSIG_ALLOWED, "appraise_type=imasig|modsig"),
    (IMA_CHECK_BLACKLIST, "appraise_flag"),
    (IMA_VALIDATE_ALGOS, "appraise_algos"),
    (IMA_VERITY_REQUIRED, "digest_type"),
];

/// Keys written `key=value`, in `policy_tokens` order (ids are handled separately).
const VALUE_KEYS: [&str; 18] = [
    "obj_user",
    "obj_role",
    "obj_type",
    "subj_user",
    "subj_role",
    "subj_type",
    "func",
    "mask",
    "fsmagic",
    "fsname",
    "fs_subtype",
    "fsuuid",
    "digest_type",
    "appraise_type",
    "appraise_flag",
    "appraise_algos",
    "pcr",
    "template",
];
/// `keyrings=` and `label=` come last in `policy_tokens`.
const LIST_KEYS: [&str; 2] = ["keyrings", "label"];
/// Keys taking `=`, `<` or `>` and a decimal id.
const ID_KEYS: [&str; 6] = ["uid", "euid", "gid", "egid", "fowner", "fgroup"];
const LSM_KEYS: [&str; 6] = ["obj_user", "obj_role", "obj_type", "subj_user", "subj_role", "subj_type"];

/// Parses a whole policy. Blank lines and comment lines are kept so that `to_string()` gives
/// the text back byte for byte. Reports every bad line (one error each, plus `LineTooLong`),
/// and `EmptyPolicy` when the text has no rule line at all (`ima_check_policy`).
pub fn parse(text: &str) -> Result<Policy, Vec<PolicyError>> {
    let (body, final_newline) = match text.strip_suffix('\n') {
        Some(body) => (body, true),
        None => (text, false),
    };
    let raw_lines: Vec<&str> = if text.is_empty() { Vec::new() } else { body.split('\n').collect() };

    let mut rules = Vec::new();
    let mut lines = Vec::with_capacity(raw_lines.len());
    let mut errors = Vec::new();
    let mut rule_lines = 0usize;

    for (i, raw) in raw_lines.iter().enumerate() {
        let line_no = i + 1;
        if raw.len() > MAX_LINE_BYTES {
            let first = tokenize(raw).first().map(|t| t.text).unwrap_or("");
            errors.push(PolicyError {
                line: line_no,
                column: 1,
                token: first.chars().take(40).collect(),
                kind: ErrorKind::LineTooLong,
                hint: format!(
                    "the line is {} bytes; the kernel takes at most {MAX_LINE_BYTES} bytes per write() \
                     (ima_write_policy cuts at PAGE_SIZE - 1) and systemd writes one line per write(): split \
                     the rule or shorten it",
                    raw.len()
                ),
            });
        }
        if let Some(pos) = raw.find('\0') {
            errors.push(PolicyError {
                line: line_no,
                column: raw[..pos].chars().count() + 1,
                token: "\\0".into(),
                kind: ErrorKind::NulByte,
                hint: "the kernel reads policy lines as C strings and stops at a NUL byte, which breaks its \
                       line accounting; remove it"
                    .into(),
            });
            if classify(raw) == LineClass::Rule {
                rule_lines += 1;
            }
            continue;
        }
        match classify(raw) {
            LineClass::Blank => lines.push(Line::Blank((*raw).to_string())),
            LineClass::Comment => lines.push(Line::Comment((*raw).to_string())),
            LineClass::Rule => {
                rule_lines += 1;
                match parse_rule_line(line_no, raw) {
                    Ok(rule) => {
                        lines.push(Line::Rule { index: rules.len(), text: Some((*raw).to_string()) });
                        rules.push(rule);
                    }
                    Err(e) => errors.push(e),
                }
            }
        }
    }

    if rule_lines == 0 {
        errors.push(PolicyError {
            line: 1,
            column: 1,
            token: String::new(),
            kind: ErrorKind::EmptyPolicy,
            hint: "the kernel rejects a policy without rules (ima_check_policy) and keeps the previous one; an \
                   empty or comment-only /etc/ima/ima-policy must not be installed"
                .into(),
        });
    }

    if errors.is_empty() {
        Ok(Policy { rules, lines, final_newline })
    } else {
        errors.sort_by_key(|e| (e.line, e.column));
        Err(errors)
    }
}

/// Parses one rule (a single line; its `line` is 1).
pub fn parse_rule(text: &str) -> Result<Rule, PolicyError> {
    if let Some(pos) = text.find(['\n', '\0']) {
        return Err(PolicyError {
            line: 1,
            column: text[..pos].chars().count() + 1,
            token: text[pos..].chars().take(1).collect::<String>().escape_default().to_string(),
            kind: if text[pos..].starts_with('\0') { ErrorKind::NulByte } else { ErrorKind::UnknownToken },
            hint: "a rule is one line: use `parse` for a whole policy".into(),
        });
    }
    if classify(text) != LineClass::Rule {
        return Err(PolicyError {
            line: 1,
            column: 1,
            token: text.to_string(),
            kind: ErrorKind::NoAction,
            hint: "a blank or comment line is no rule".into(),
        });
    }
    parse_rule_line(1, text)
}

impl std::str::FromStr for Rule {
    type Err = PolicyError;

    fn from_str(s: &str) -> Result<Rule, PolicyError> {
        parse_rule(s)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LineClass {
    Blank,
    Comment,
    Rule,
}

/// `ima_parse_add_rule`: skip leading spaces and tabs; `#` or end of line means no rule.
fn classify(line: &str) -> LineClass {
    let rest = line.trim_start_matches([' ', '\t']);
    if rest.is_empty() {
        LineClass::Blank
    } else if rest.starts_with('#') {
        LineClass::Comment
    } else {
        LineClass::Rule
    }
}

#[derive(Debug, Clone, Copy)]
struct Tok<'a> {
    text: &'a str,
    /// 1-based, in characters.
    col: usize,
}

/// `strsep(&rule, " \t")`, skipping the empty pieces.
fn tokenize(line: &str) -> Vec<Tok<'_>> {
    let mut out = Vec::new();
    let mut start: Option<(usize, usize)> = None;
    for (col0, (i, ch)) in line.char_indices().enumerate() {
        if ch == ' ' || ch == '\t' {
            if let Some((s, c)) = start.take() {
                out.push(Tok { text: &line[s..i], col: c });
            }
        } else if start.is_none() {
            start = Some((i, col0 + 1));
        }
    }
    if let Some((s, c)) = start {
        out.push(Tok { text: &line[s..], col: c });
    }
    out
}

/// The state `ima_parse_rule` builds in `struct ima_rule_entry`, plus where each part came from.
#[derive(Default)]
struct Entry {
    action: Option<(Action, usize)>,
    flags: u32,
    /// (flags set, token index), in token order.
    flag_tokens: Vec<(u32, usize)>,
    func: Option<(Func, usize)>,
    mask: bool,
    fsmagic: bool,
    fs_subtype: bool,
    fsuuid: bool,
    uid: Option<&'static str>,
    gid: Option<&'static str>,
    fowner: bool,
    fgroup: bool,
    keyrings: bool,
    label: bool,
    template: bool,
    algos: bool,
    lsm: [bool; 6],
    first_lsm: Option<usize>,
    conditions: Vec<Condition>,
    options: Vec<Opt>,
}

impl Entry {
    fn set(&mut self, flags: u32, tok: usize) {
        self.flags |= flags;
        self.flag_tokens.push((flags, tok));
    }

    /// The first token that set any of `flags`.
    fn token_with(&self, flags: u32) -> Option<usize> {
        self.flag_tokens.iter().find(|(f, _)| f & flags != 0).map(|&(_, t)| t)
    }
}

fn parse_rule_line(line_no: usize, line: &str) -> Result<Rule, PolicyError> {
    let toks = tokenize(line);
    let err = |ti: usize, kind: ErrorKind, hint: String| PolicyError {
        line: line_no,
        column: toks[ti].col,
        token: toks[ti].text.to_string(),
        kind,
        hint,
    };
    let mut e = Entry::default();

    for (ti, tok) in toks.iter().enumerate() {
        let t = tok.text;
        if t.contains('\r') {
            return Err(err(
                ti,
                ErrorKind::CarriageReturn,
                "the line has a carriage return: the kernel splits lines on `\\n` only, so DOS (CRLF) line \
                 endings break rules; convert the file to LF"
                    .into(),
            ));
        }
        if let Some(action) = Action::from_keyword(t) {
            if let Some((first, _)) = e.action {
                return Err(err(
                    ti,
                    ErrorKind::SecondAction,
                    format!("a rule has exactly one action and this one already has `{}`", first.keyword()),
                ));
            }
            e.action = Some((action, ti));
            continue;
        }
        if t == "permit_directio" {
            e.set(IMA_PERMIT_DIRECTIO, ti);
            e.options.push(Opt::PermitDirectio);
            continue;
        }
        let Some((key, sep, value)) = split_token(t) else {
            return Err(unknown_token(line_no, tok));
        };
        if value.is_empty() {
            return Err(err(
                ti,
                ErrorKind::EmptyValue,
                format!("`{key}{sep}` needs a value; the kernel does not recognise the token without one"),
            ));
        }
        match key {
            "func" => {
                if let Some((f, _)) = e.func {
                    return Err(err(
                        ti,
                        ErrorKind::DuplicateCondition,
                        format!("func= may appear once per rule (already func={}); write one rule per hook", f.name()),
                    ));
                }
                let Some((func, legacy_name)) = Func::from_name(value) else {
                    return Err(err(ti, ErrorKind::UnknownFunc, unknown_func_hint(value)));
                };
                e.func = Some((func, ti));
                e.set(IMA_FUNC, ti);
                e.conditions.push(Condition::Func { func, legacy_name });
            }
            "mask" => {
                if e.mask {
                    return Err(err(
                        ti,
                        ErrorKind::DuplicateCondition,
                        "mask= takes one value and may appear once per rule; write one rule per mask".into(),
                    ));
                }
                let (inverted, name) = match value.strip_prefix('^') {
                    Some(rest) => (true, rest),
                    None => (false, value),
                };
                let Some(mask) = Mask::from_name(name) else {
                    return Err(err(ti, ErrorKind::UnknownMask, unknown_mask_hint(name)));
                };
                e.mask = true;
                e.set(if inverted { IMA_INMASK } else { IMA_MASK }, ti);
                e.conditions.push(Condition::Mask { inverted, mask });
            }
            "fsmagic" => {
                if e.fsmagic {
                    return Err(err(
                        ti,
                        ErrorKind::DuplicateCondition,
                        "fsmagic= may appear once per rule; write one rule per filesystem".into(),
                    ));
                }
                let Some(magic) = kstrtoull(value, 16) else {
                    return Err(err(
                        ti,
                        ErrorKind::BadFsMagic,
                        "fsmagic= takes a hexadecimal number that fits 64 bits, `0x` optional (kstrtoul base 16), \
                         e.g. fsmagic=0x9fa0"
                            .into(),
                    ));
                };
                e.fsmagic = true;
                e.set(IMA_FSMAGIC, ti);
                e.conditions.push(Condition::FsMagic { value: magic, text: value.to_string() });
            }
            "fsname" => {
                // The kernel does not reject a second fsname= (the later one wins).
                e.set(IMA_FSNAME, ti);
                e.conditions.push(Condition::FsName(value.to_string()));
            }
            "fs_subtype" => {
                if e.fs_subtype {
                    return Err(err(ti, ErrorKind::DuplicateCondition, "fs_subtype= may appear once per rule".into()));
                }
                e.fs_subtype = true;
                e.set(IMA_FS_SUBTYPE, ti);
                e.conditions.push(Condition::FsSubtype(value.to_string()));
            }
            "fsuuid" => {
                if e.fsuuid {
                    return Err(err(ti, ErrorKind::DuplicateCondition, "fsuuid= may appear once per rule".into()));
                }
                if !is_uuid(value) {
                    return Err(err(
                        ti,
                        ErrorKind::BadFsUuid,
                        "fsuuid= takes a UUID as 8-4-4-4-12 hex digits (uuid_parse), e.g. \
                         fsuuid=6a3c1b36-2f7e-4d4b-9c55-0a1b2c3d4e5f"
                            .into(),
                    ));
                }
                e.fsuuid = true;
                e.set(IMA_FSUUID, ti);
                e.conditions.push(Condition::FsUuid(value.to_string()));
            }
            "keyrings" | "label" => {
                let is_keyrings = key == "keyrings";
                if (is_keyrings && e.keyrings) || (!is_keyrings && e.label) {
                    return Err(err(
                        ti,
                        ErrorKind::DuplicateOption,
                        format!("{key}= may appear once per rule; join the names with `|`"),
                    ));
                }
                let items: Vec<String> = value.split('|').map(str::to_string).collect();
                if items.iter().any(String::is_empty) {
                    return Err(err(
                        ti,
                        ErrorKind::EmptyListItem,
                        format!("{key}= is a `|` separated list without empty items (ima_alloc_rule_opt_list)"),
                    ));
                }
                if is_keyrings {
                    e.keyrings = true;
                    e.set(IMA_KEYRINGS, ti);
                    e.options.push(Opt::Keyrings(items));
                } else {
                    e.label = true;
                    e.set(IMA_LABEL, ti);
                    e.options.push(Opt::Label(items));
                }
            }
            "uid" | "euid" | "gid" | "egid" | "fowner" | "fgroup" => {
                let op = match sep {
                    '>' => IdOp::Gt,
                    '<' => IdOp::Lt,
                    _ => IdOp::Eq,
                };
                let slot = match key {
                    "uid" | "euid" => e.uid,
                    "gid" | "egid" => e.gid,
                    _ => None,
                };
                if let Some(prev) = slot {
                    let shared = if prev == key {
                        String::new()
                    } else {
                        format!(" (`{prev}` and `{key}` share one slot in the kernel's rule entry)")
                    };
                    return Err(err(
                        ti,
                        ErrorKind::DuplicateCondition,
                        format!("this rule already has `{prev}`{shared}; write a second rule instead"),
                    ));
                }
                if (key == "fowner" && e.fowner) || (key == "fgroup" && e.fgroup) {
                    return Err(err(ti, ErrorKind::DuplicateCondition, format!("{key} may appear once per rule")));
                }
                let value = match kstrtoull(value, 10) {
                    Some(v) if v < u64::from(u32::MAX) => v as u32,
                    _ => {
                        return Err(err(
                            ti,
                            ErrorKind::BadNumber,
                            format!(
                                "{key} takes a decimal id from 0 to 4294967294 (kstrtoul base 10; \
                                 4294967295 is the invalid id), e.g. {key}{sep}0"
                            ),
                        ))
                    }
                };
                let (flag, cond) = match key {
                    "uid" => (IMA_UID, Condition::Uid { op, value }),
                    "euid" => (IMA_EUID, Condition::Euid { op, value }),
                    "gid" => (IMA_GID, Condition::Gid { op, value }),
                    "egid" => (IMA_EGID, Condition::Egid { op, value }),
                    "fowner" => (IMA_FOWNER, Condition::Fowner { op, value }),
                    _ => (IMA_FGROUP, Condition::Fgroup { op, value }),
                };
                match key {
                    "uid" | "euid" => e.uid = Some(static_key(key)),
                    "gid" | "egid" => e.gid = Some(static_key(key)),
                    "fowner" => e.fowner = true,
                    _ => e.fgroup = true,
                }
                e.set(flag, ti);
                e.conditions.push(cond);
            }
            k if LSM_KEYS.contains(&k) => {
                let idx = LSM_KEYS.iter().position(|x| *x == k).unwrap_or(0);
                if e.lsm[idx] {
                    return Err(err(ti, ErrorKind::DuplicateCondition, format!("{k}= may appear once per rule")));
                }
                e.lsm[idx] = true;
                e.first_lsm.get_or_insert(ti);
                let v = value.to_string();
                e.conditions.push(match idx {
                    0 => Condition::ObjUser(v),
                    1 => Condition::ObjRole(v),
                    2 => Condition::ObjType(v),
                    3 => Condition::SubjUser(v),
                    4 => Condition::SubjRole(v),
                    _ => Condition::SubjType(v),
                });
            }
            "digest_type" => {
                if e.flags & IMA_DIGSIG_REQUIRED != 0 {
                    return Err(err(
                        ti,
                        ErrorKind::DigestTypeAfterAppraiseType,
                        "digest_type=verity must come before appraise_type= on the line, and cannot be combined \
                         with appraise_type=imasig or imasig|modsig"
                            .into(),
                    ));
                }
                if value != "verity" {
                    return Err(err(
                        ti,
                        ErrorKind::UnknownDigestType,
                        "the only digest_type is `verity` (the fs-verity file digest)".into(),
                    ));
                }
                e.set(IMA_VERITY_REQUIRED, ti);
                e.options.push(Opt::DigestType(DigestType::Verity));
            }
            "appraise_type" => {
                let Some(kind) = AppraiseType::from_name(value) else {
                    return Err(err(
                        ti,
                        ErrorKind::UnknownAppraiseType,
                        "appraise_type is one of `imasig`, `imasig|modsig`, `sigv3` (case-sensitive)".into(),
                    ));
                };
                let verity = e.flags & IMA_VERITY_REQUIRED != 0;
                match kind {
                    AppraiseType::ImaSig | AppraiseType::ImaSigModSig if verity => {
                        return Err(err(
                            ti,
                            ErrorKind::SignatureTypeWithVerity,
                            "after digest_type=verity the signature must be appraise_type=sigv3".into(),
                        ))
                    }
                    AppraiseType::SigV3 if !verity => {
                        return Err(err(
                            ti,
                            ErrorKind::Sigv3WithoutVerity,
                            "on 6.1–6.8 kernels sigv3 is only for fs-verity: put digest_type=verity before \
                             appraise_type=sigv3 (a 2026 patch series lets newer kernels take sigv3 alone)"
                                .into(),
                        ))
                    }
                    _ => {}
                }
                let flags = match kind {
                    AppraiseType::ImaSigModSig => IMA_DIGSIG_REQUIRED | IMA_MODSIG_ALLOWED,
                    _ => IMA_DIGSIG_REQUIRED,
                };
                e.set(flags, ti);
                e.options.push(Opt::AppraiseType(kind));
            }
            "appraise_flag" => {
                if !value.contains("blacklist") {
                    return Err(err(
                        ti,
                        ErrorKind::BadAppraiseFlag,
                        "the only appraise_flag is `check_blacklist` (the kernel accepts any value containing \
                         `blacklist`)"
                            .into(),
                    ));
                }
                e.set(IMA_CHECK_BLACKLIST, ti);
                e.options.push(Opt::AppraiseFlag(value.to_string()));
            }
            "appraise_algos" => {
                if e.algos {
                    return Err(err(
                        ti,
                        ErrorKind::DuplicateOption,
                        "appraise_algos= may appear once per rule; list the algorithms separated by `,`".into(),
                    ));
                }
                let items: Vec<String> = value.split(',').map(str::to_string).collect();
                for item in &items {
                    if item.is_empty() {
                        return Err(err(
                            ti,
                            ErrorKind::EmptyListItem,
                            "appraise_algos= is a `,` separated list without empty items".into(),
                        ));
                    }
                    if !HASH_ALGO_NAMES.contains(&item.as_str()) {
                        return Err(err(
                            ti,
                            ErrorKind::UnknownHashAlgo,
                            format!(
                                "`{item}` is not in the kernel's hash_algo_name list; use one of: {}",
                                HASH_ALGO_NAMES
                                    .iter()
                                    .filter(|n| !REMOVED_HASH_ALGOS.contains(n))
                                    .copied()
                                    .collect::<Vec<_>>()
                                    .join(" ")
                            ),
                        ));
                    }
                    if REMOVED_HASH_ALGOS.contains(&item.as_str()) {
                        return Err(err(
                            ti,
                            ErrorKind::UnavailableHashAlgo,
                            format!(
                                "`{item}` is still a hash_algo_name but its implementation left the kernel in 5.11/5.12, \
                                 so crypto_has_alg fails and the rule is rejected"
                            ),
                        ));
                    }
                }
                e.algos = true;
                e.set(IMA_VALIDATE_ALGOS, ti);
                e.options.push(Opt::AppraiseAlgos(items));
            }
            "pcr" => {
                let n = match kstrtoint(value) {
                    Some(n) => n,
                    None => {
                        return Err(err(
                            ti,
                            ErrorKind::BadNumber,
                            format!("pcr= takes a decimal number from 0 to {MAX_PCR} (kstrtoint)"),
                        ))
                    }
                };
                if !(0..=i64::from(MAX_PCR)).contains(&n) {
                    return Err(err(
                        ti,
                        ErrorKind::PcrOutOfRange,
                        format!("pcr= must be 0..={MAX_PCR} (one bit of measured_pcrs each); the TPM default is 10"),
                    ));
                }
                // The kernel does not reject a second pcr= (the later one wins).
                e.set(IMA_PCR, ti);
                e.options.push(Opt::Pcr(n as u32));
            }
            "template" => {
                match e.action {
                    None => {
                        return Err(err(
                            ti,
                            ErrorKind::TemplateBeforeAction,
                            "the kernel checks template= against the action when it reads the token: put `measure` \
                             first on the line"
                                .into(),
                        ))
                    }
                    Some((a, _)) if a != Action::Measure => {
                        return Err(err(
                            ti,
                            ErrorKind::TemplateNotMeasure,
                            format!(
                            "template= selects the measurement list format and is only valid with `measure`, not `{}`",
                            a.keyword()
                        ),
                        ))
                    }
                    _ => {}
                }
                if !is_template(value) {
                    return Err(err(
                        ti,
                        ErrorKind::UnknownTemplate,
                        format!(
                            "template= must name a built-in template ({}) or its format; `ima-cgpath` and other \
                             out-of-tree templates do not exist upstream",
                            BUILTIN_TEMPLATES.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(" ")
                        ),
                    ));
                }
                if e.template {
                    return Err(err(ti, ErrorKind::DuplicateOption, "template= may appear once per rule".into()));
                }
                e.template = true;
                e.options.push(Opt::Template(value.to_string()));
            }
            _ => return Err(unknown_token(line_no, tok)),
        }
    }

    validate(&e, &toks, line_no)?;
    let (action, _) = e.action.expect("validate checked the action");
    Ok(Rule { line: line_no, action, conditions: e.conditions, options: e.options })
}

fn static_key(key: &str) -> &'static str {
    match key {
        "uid" => "uid",
        "euid" => "euid",
        "gid" => "gid",
        _ => "egid",
    }
}

/// Splits `key=value`, `key>value`, `key<value` the way `match_token` would match
/// `policy_tokens`: `None` when no pattern has that key and separator.
fn split_token(t: &str) -> Option<(&str, char, &str)> {
    let pos = t.find(['=', '<', '>'])?;
    let key = &t[..pos];
    let sep = t[pos..].chars().next()?;
    let value = &t[pos + 1..];
    let known = if sep == '=' {
        VALUE_KEYS.contains(&key) || LIST_KEYS.contains(&key) || ID_KEYS.contains(&key)
    } else {
        ID_KEYS.contains(&key)
    };
    known.then_some((key, sep, value))
}

/// Every keyword and key the grammar knows, for "did you mean" hints.
fn all_keywords() -> Vec<String> {
    let mut out: Vec<String> = Action::ALL.iter().map(|a| a.keyword().to_string()).collect();
    out.push("permit_directio".into());
    out.extend(VALUE_KEYS.iter().chain(LIST_KEYS.iter()).chain(ID_KEYS.iter()).map(|k| format!("{k}=")));
    out
}

fn unknown_token(line_no: usize, tok: &Tok<'_>) -> PolicyError {
    let t = tok.text;
    let (kind, hint) = if t.starts_with('#') {
        (
            ErrorKind::TrailingComment,
            "the kernel only treats `#` as a comment at the start of a line; after a rule it is an unknown token \
             and the whole policy fails to load: move the comment to a line of its own"
                .to_string(),
        )
    } else {
        let head = match t.find(['=', '<', '>']) {
            Some(p) => &t[..=p],
            None => t,
        };
        let lower = head.to_ascii_lowercase();
        let keywords = all_keywords();
        let hint = if let Some(k) = keywords.iter().find(|k| k.to_ascii_lowercase() == lower && k.as_str() != head) {
            format!("policy tokens are case-sensitive: write `{k}`")
        } else {
            let key = head.trim_end_matches(['=', '<', '>']);
            format!(
                "`{key}` is not an IMA policy keyword, and the kernel rejects the whole policy for one unknown \
                 token; known: {}",
                keywords.join(" ")
            )
        };
        (ErrorKind::UnknownToken, hint)
    };
    PolicyError { line: line_no, column: tok.col, token: t.to_string(), kind, hint }
}

fn unknown_func_hint(value: &str) -> String {
    let names: Vec<&str> = Func::ALL.iter().map(|f| f.name()).collect();
    if let Some(f) = Func::ALL.iter().find(|f| f.name().eq_ignore_ascii_case(value)) {
        return format!("func names are case-sensitive: write func={}", f.name());
    }
    format!("func= is one of: {} (or the aliases PATH_CHECK, FILE_MMAP)", names.join(" "))
}

fn unknown_mask_hint(value: &str) -> String {
    if let Some(m) = Mask::ALL.iter().find(|m| m.name().eq_ignore_ascii_case(value)) {
        return format!("mask names are case-sensitive: write mask={}", m.name());
    }
    "mask= is one of MAY_EXEC, MAY_WRITE, MAY_READ, MAY_APPEND, optionally after `^`; one per rule".into()
}

/// `kstrtoull(s, base)` (lib/kstrtox.c): optional `+`, for base 16 an optional `0x`/`0X`,
/// then at least one digit, nothing else, no overflow.
pub(crate) fn kstrtoull(s: &str, base: u32) -> Option<u64> {
    let s = s.strip_prefix('+').unwrap_or(s);
    let s = if base == 16 { s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")).unwrap_or(s) } else { s };
    if s.is_empty() || !s.chars().all(|c| c.is_digit(base)) {
        return None;
    }
    u64::from_str_radix(s, base).ok()
}

/// `kstrtoint(s, 10)`: `-` then digits, or what `kstrtoull` takes, within `int`.
fn kstrtoint(s: &str) -> Option<i64> {
    let n: i64 = match s.strip_prefix('-') {
        Some(rest) => {
            if rest.is_empty() || !rest.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            -i64::try_from(rest.parse::<u64>().ok()?).ok()?
        }
        None => i64::try_from(kstrtoull(s, 10)?).ok()?,
    };
    i32::try_from(n).ok().map(i64::from)
}

/// `uuid_is_valid` (lib/uuid.c): 36 characters, `-` at 8, 13, 18, 23, hex digits elsewhere.
/// Stricter than the kernel in one point: the kernel ignores characters after the 36th.
fn is_uuid(s: &str) -> bool {
    s.len() == 36
        && s.bytes().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_hexdigit(),
        })
}

/// `lookup_template_desc`: a built-in name or format, or a format of known fields (which the
/// kernel finds only if it equals the `ima_template_fmt=` custom template).
fn is_template(s: &str) -> bool {
    BUILTIN_TEMPLATES.iter().any(|(n, f)| *n == s || *f == s)
        || (s.contains('|') && s.split('|').all(|f| TEMPLATE_FIELDS.contains(&f)))
}

fn flag_names(flags: u32) -> String {
    let mut names: Vec<&str> = FLAG_NAMES.iter().filter(|(f, _)| flags & f != 0).map(|&(_, n)| n).collect();
    names.dedup();
    names.join(", ")
}

/// `ima_validate_rule`, blaming the first token behind a rejected flag.
fn validate(e: &Entry, toks: &[Tok<'_>], line_no: usize) -> Result<(), PolicyError> {
    let err = |ti: usize, kind: ErrorKind, hint: String| PolicyError {
        line: line_no,
        column: toks[ti].col,
        token: toks[ti].text.to_string(),
        kind,
        hint,
    };
    let Some((action, action_tok)) = e.action else {
        return Err(err(
            0,
            ErrorKind::NoAction,
            "every rule needs exactly one action: measure, dont_measure, appraise, dont_appraise, audit, hash or \
             dont_hash"
                .into(),
        ));
    };

    if action != Action::Measure && e.flags & IMA_PCR != 0 {
        let ti = e.token_with(IMA_PCR).unwrap_or(action_tok);
        return Err(err(
            ti,
            ErrorKind::PcrNotMeasure,
            format!("pcr= only applies to `measure` rules, not `{}`", action.keyword()),
        ));
    }

    let appraise_only = IMA_DIGSIG_REQUIRED | IMA_MODSIG_ALLOWED | IMA_CHECK_BLACKLIST | IMA_VALIDATE_ALGOS;
    if action != Action::Appraise && e.flags & appraise_only != 0 {
        let ti = e.token_with(appraise_only).unwrap_or(action_tok);
        return Err(err(
            ti,
            ErrorKind::AppraiseOptionNotAppraise,
            format!(
                "appraise_type, appraise_flag and appraise_algos only apply to `appraise` rules, not `{}`",
                action.keyword()
            ),
        ));
    }

    let func = e.func.map(|(f, _)| f);
    let func_text = match func {
        Some(f) => format!("func={}", f.name()),
        None => "no func= (a rule for every hook)".to_string(),
    };
    let measure_only = || -> Result<(), PolicyError> {
        if matches!(action, Action::Measure | Action::DontMeasure) {
            Ok(())
        } else {
            Err(err(
                action_tok,
                ErrorKind::ActionNotAllowedWithFunc,
                format!("{func_text} only works with `measure` or `dont_measure`"),
            ))
        }
    };
    let allowed = match func {
        None
        | Some(Func::FileCheck)
        | Some(Func::MmapCheck)
        | Some(Func::MmapCheckReqprot)
        | Some(Func::BprmCheck)
        | Some(Func::CredsCheck)
        | Some(Func::FirmwareCheck)
        | Some(Func::PolicyCheck) => ALLOWED_FILE_HOOKS,
        Some(Func::ModuleCheck) | Some(Func::KexecKernelCheck) | Some(Func::KexecInitramfsCheck) => {
            ALLOWED_MODSIG_HOOKS
        }
        Some(Func::KexecCmdline) => {
            measure_only()?;
            ALLOWED_KEXEC_CMDLINE
        }
        Some(Func::KeyCheck) | Some(Func::CriticalData) => {
            measure_only()?;
            if func == Some(Func::KeyCheck) {
                ALLOWED_KEY_CHECK
            } else {
                ALLOWED_CRITICAL_DATA
            }
        }
        Some(Func::SetxattrCheck) => {
            if action != Action::Appraise {
                return Err(err(
                    action_tok,
                    ErrorKind::ActionNotAllowedWithFunc,
                    "func=SETXATTR_CHECK only works with `appraise`".into(),
                ));
            }
            if e.flags & IMA_VALIDATE_ALGOS == 0 {
                let ti = e.func.map(|(_, t)| t).unwrap_or(action_tok);
                return Err(err(
                    ti,
                    ErrorKind::SetxattrWithoutAlgos,
                    "func=SETXATTR_CHECK needs appraise_algos= (the algorithms a security.ima write may use)".into(),
                ));
            }
            ALLOWED_SETXATTR_CHECK
        }
    };

    if let Some(&(flags, ti)) = e.flag_tokens.iter().find(|(f, _)| f & !allowed != 0) {
        let bad = flags & !allowed;
        let hint = if bad & IMA_KEYRINGS != 0 {
            "keyrings= is only valid with func=KEY_CHECK".to_string()
        } else if bad & IMA_LABEL != 0 {
            "label= is only valid with func=CRITICAL_DATA".to_string()
        } else if bad & (IMA_MODSIG_ALLOWED | IMA_CHECK_BLACKLIST) != 0 {
            "appraise_type=imasig|modsig and appraise_flag= only work with func=MODULE_CHECK, KEXEC_KERNEL_CHECK or \
             KEXEC_INITRAMFS_CHECK (appended signatures)"
                .to_string()
        } else if bad & IMA_VERITY_REQUIRED != 0 {
            format!("digest_type=verity is not allowed with {func_text}")
        } else {
            format!(
                "`{}` cannot be used with {func_text}; ima_validate_rule allows only: {}",
                flag_names(bad),
                flag_names(allowed)
            )
        };
        return Err(err(ti, ErrorKind::NotAllowedWithFunc, hint));
    }

    if matches!(func, Some(Func::KeyCheck) | Some(Func::CriticalData)) {
        if let Some(ti) = e.first_lsm {
            return Err(err(
                ti,
                ErrorKind::NotAllowedWithFunc,
                format!("{func_text} rules cannot have LSM conditions"),
            ));
        }
    }

    if e.flags & IMA_CHECK_BLACKLIST != 0 && e.flags & IMA_MODSIG_ALLOWED == 0 {
        let ti = e.token_with(IMA_CHECK_BLACKLIST).unwrap_or(action_tok);
        return Err(err(
            ti,
            ErrorKind::BlacklistWithoutModsig,
            "on 6.1–6.8 kernels appraise_flag=check_blacklist needs appraise_type=imasig|modsig in the same rule \
             (newer kernels check the blacklist always and ignore the flag)"
                .into(),
        ));
    }

    if action == Action::Appraise && e.flags & IMA_VERITY_REQUIRED != 0 && e.flags & IMA_DIGSIG_REQUIRED == 0 {
        let ti = e.token_with(IMA_VERITY_REQUIRED).unwrap_or(action_tok);
        return Err(err(
            ti,
            ErrorKind::VerityWithoutSignature,
            "an appraise rule with digest_type=verity must require a signature: add appraise_type=sigv3 after it"
                .into(),
        ));
    }

    Ok(())
}
