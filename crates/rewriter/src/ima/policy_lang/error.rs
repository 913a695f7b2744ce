//! Parse errors: where, which token, what kind, and a hint on how to fix it.

use std::fmt;

/// One problem in a policy. `Display` gives `line L:C: <message> `TOKEN`; hint: ...`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, thiserror::Error)]
#[error("line {line}:{column}: {kind} `{token}`; hint: {hint}")]
pub struct PolicyError {
    /// 1-based line number.
    pub line: usize,
    /// 1-based column (in characters) of the offending token.
    pub column: usize,
    /// The offending token as written (for whole-policy errors, empty or the line's start).
    pub token: String,
    /// What is wrong.
    pub kind: ErrorKind,
    /// How to fix it.
    pub hint: String,
}

/// The kinds of policy errors. Each names the kernel check it mirrors
/// (`ima_parse_rule`, `ima_validate_rule`, `ima_parse_add_rule`, `ima_check_policy` in
/// security/integrity/ima/ima_policy.c; `ima_write_policy` in ima_fs.c).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub enum ErrorKind {
    /// A token `policy_tokens` does not match (`Opt_err`).
    UnknownToken,
    /// A `#` after a rule: the kernel has no trailing comments, so it is an unknown token.
    TrailingComment,
    /// `key=` with nothing after it: `match_token`'s `%s` needs at least one character.
    EmptyValue,
    /// A second action token (`entry->action != UNKNOWN`).
    SecondAction,
    /// A rule without an action (`ima_validate_rule`: `action == UNKNOWN`).
    NoAction,
    /// A condition that may appear once appeared again (`uid`/`euid` and `gid`/`egid` share a
    /// slot).
    DuplicateCondition,
    /// `template=`, `appraise_algos=`, `keyrings=` or `label=` given twice.
    DuplicateOption,
    /// `func=` with a value that is no hook.
    UnknownFunc,
    /// `mask=` with a value that is no `MAY_*` bit.
    UnknownMask,
    /// `fsmagic=` that `kstrtoul(s, 16)` rejects.
    BadFsMagic,
    /// `fsuuid=` that `uuid_parse` rejects.
    BadFsUuid,
    /// An id (`uid`, `gid`, `fowner`…) or `pcr` that is no decimal number in range.
    BadNumber,
    /// `pcr=` outside 0..=63.
    PcrOutOfRange,
    /// `digest_type=` other than `verity`.
    UnknownDigestType,
    /// `appraise_type=` other than `imasig`, `imasig|modsig`, `sigv3`.
    UnknownAppraiseType,
    /// `appraise_flag=` without `blacklist` in it.
    BadAppraiseFlag,
    /// `appraise_algos=` with a name not in `hash_algo_name[]`.
    UnknownHashAlgo,
    /// `appraise_algos=` with an algorithm no 6.x kernel implements (`crypto_has_alg` fails).
    UnavailableHashAlgo,
    /// An empty item in a `|` or `,` separated list.
    EmptyListItem,
    /// `template=` naming no built-in template or format.
    UnknownTemplate,
    /// `template=` before the action token (checked when the token is parsed).
    TemplateBeforeAction,
    /// `template=` on an action other than `measure`.
    TemplateNotMeasure,
    /// `pcr=` on an action other than `measure`.
    PcrNotMeasure,
    /// `appraise_type`, `appraise_flag` or `appraise_algos` on an action other than `appraise`.
    AppraiseOptionNotAppraise,
    /// `digest_type=` after an `appraise_type=` (IMA_DIGSIG_REQUIRED already set).
    DigestTypeAfterAppraiseType,
    /// `appraise_type=imasig` or `imasig|modsig` after `digest_type=verity`.
    SignatureTypeWithVerity,
    /// `appraise_type=sigv3` without an earlier `digest_type=verity`.
    Sigv3WithoutVerity,
    /// A condition or option the rule's `func=` does not allow (`ima_validate_rule` table).
    NotAllowedWithFunc,
    /// An action the rule's `func=` does not allow.
    ActionNotAllowedWithFunc,
    /// `func=SETXATTR_CHECK` without `appraise_algos=`.
    SetxattrWithoutAlgos,
    /// `appraise_flag=check_blacklist` without `appraise_type=imasig|modsig`.
    BlacklistWithoutModsig,
    /// `appraise … digest_type=verity` without `appraise_type=sigv3`.
    VerityWithoutSignature,
    /// A line of `PAGE_SIZE` (4096) bytes or more.
    LineTooLong,
    /// A carriage return (a CRLF line ending): the kernel splits lines on `\n` only, so the
    /// `\r` sticks to the last token. Stricter than the kernel, which takes it into free-text
    /// values such as `fsname=` and fails everywhere else.
    CarriageReturn,
    /// A NUL byte: the kernel stops reading the line there.
    NulByte,
    /// No rules at all (`ima_check_policy`).
    EmptyPolicy,
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ErrorKind::UnknownToken => "unknown token",
            ErrorKind::TrailingComment => "comment after a rule",
            ErrorKind::EmptyValue => "empty value",
            ErrorKind::SecondAction => "second action",
            ErrorKind::NoAction => "rule has no action",
            ErrorKind::DuplicateCondition => "condition given twice",
            ErrorKind::DuplicateOption => "option given twice",
            ErrorKind::UnknownFunc => "unknown func",
            ErrorKind::UnknownMask => "unknown mask",
            ErrorKind::BadFsMagic => "bad fsmagic",
            ErrorKind::BadFsUuid => "bad fsuuid",
            ErrorKind::BadNumber => "bad number",
            ErrorKind::PcrOutOfRange => "pcr out of range",
            ErrorKind::UnknownDigestType => "unknown digest_type",
            ErrorKind::UnknownAppraiseType => "unknown appraise_type",
            ErrorKind::BadAppraiseFlag => "bad appraise_flag",
            ErrorKind::UnknownHashAlgo => "unknown hash algorithm",
            ErrorKind::UnavailableHashAlgo => "hash algorithm not available in 6.x kernels",
            ErrorKind::EmptyListItem => "empty list item",
            ErrorKind::UnknownTemplate => "unknown template",
            ErrorKind::TemplateBeforeAction => "template= before the action",
            ErrorKind::TemplateNotMeasure => "template= on a rule that is not `measure`",
            ErrorKind::PcrNotMeasure => "pcr= on a rule that is not `measure`",
            ErrorKind::AppraiseOptionNotAppraise => "appraise option on a rule that is not `appraise`",
            ErrorKind::DigestTypeAfterAppraiseType => "digest_type= after appraise_type=",
            ErrorKind::SignatureTypeWithVerity => "appraise_type incompatible with digest_type=verity",
            ErrorKind::Sigv3WithoutVerity => "appraise_type=sigv3 without digest_type=verity",
            ErrorKind::NotAllowedWithFunc => "not allowed with this func",
            ErrorKind::ActionNotAllowedWithFunc => "action not allowed with this func",
            ErrorKind::SetxattrWithoutAlgos => "SETXATTR_CHECK without appraise_algos=",
            ErrorKind::BlacklistWithoutModsig => "appraise_flag without appraise_type=imasig|modsig",
            ErrorKind::VerityWithoutSignature => "digest_type=verity on appraise without appraise_type=sigv3",
            ErrorKind::LineTooLong => "line too long",
            ErrorKind::CarriageReturn => "carriage return in",
            ErrorKind::NulByte => "NUL byte",
            ErrorKind::EmptyPolicy => "policy has no rules",
        })
    }
}
