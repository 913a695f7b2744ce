//! A parser and printer for the kernel's IMA policy language (the text written to
//! `/sys/kernel/security/ima/policy`, e.g. from `/etc/ima/ima-policy`), checking a policy
//! offline the way the kernel will at boot.
//!
//! The grammar and every check follow security/integrity/ima/ima_policy.c as of 6.3–6.8
//! (`policy_tokens`, `ima_parse_add_rule`, `ima_parse_rule`, `ima_validate_rule`,
//! `ima_check_policy`) and `ima_write_policy` in ima_fs.c; 6.1 differs only in lacking
//! `func=MMAP_CHECK_REQPROT`. See ima-kernel-facts.md §3.
//!
//! * Lexing: one rule per line; leading spaces and tabs skipped; a line whose first other
//!   character is `#`, or that is empty, is no rule; tokens split on space and tab;
//!   case-sensitive; an unknown token is an error (so is a trailing `# comment`).
//! * Any bad line makes the kernel refuse the whole policy (and systemd may then stop the boot),
//!   so [`parse`] reports every bad line, each as a [`PolicyError`] with line, column, token,
//!   kind and a hint.
//! * Tokens newer than the target range (`dont_audit`, `fs_subtype=`) are accepted;
//!   [`Rule::min_kernel`] and [`Rule::requirements`] tell which kernel or config a rule needs.
//!   Constraints that newer kernels relaxed (`sigv3` without `digest_type=verity`,
//!   `appraise_flag` without modsig) are still enforced, since every target kernel has them.
//! * Printing: a [`Policy`] parsed from text prints back byte for byte; a [`Rule`] prints in a
//!   canonical single-line form.
//!
//! Where this parser is stricter than the kernel, on purpose: a repeated `fsmagic=` or `fsuuid=`
//! is rejected even when the first value was 0 or the nil UUID (the kernel's duplicate check
//! tests the stored value), `fsuuid=` must be exactly 36 characters (the kernel ignores any
//! after), a NUL byte is rejected, and `LineTooLong` applies to comment lines too. Where the
//! kernel accepts repeats, so does the parser: `fsname=`, `pcr=`, `appraise_type=`,
//! `appraise_flag=`, `digest_type=` and `permit_directio` may repeat (the last wins, or the
//! flags add up).

mod ast;
mod builtin;
mod error;
mod parse;
mod print;
#[cfg(test)]
mod tests;

pub use ast::{
    Action, AppraiseType, Condition, DigestType, Func, IdOp, KernelVersion, Line, Mask, Opt, Policy, Requirement, Rule,
    BUILTIN_TEMPLATES, HASH_ALGO_NAMES, MAX_LINE_BYTES, MAX_PCR, PAGE_SIZE, REMOVED_HASH_ALGOS, SINCE_DONT_AUDIT,
    SINCE_FS_SUBTYPE, SINCE_MMAP_CHECK_REQPROT, SINCE_SHA3_ALGOS, TEMPLATE_FIELDS,
};
pub use builtin::{builtin, BUILTIN_NAMES};
pub use error::{ErrorKind, PolicyError};
pub use parse::{parse, parse_rule};
