//! IMA appraisal: hash algorithms and label bytes ([`algo`]), the policy file ([`policy`]), and
//! offline labelling and verification of a filesystem ([`label`]), or labelling by the kernel in a
//! boot ([`boot_label`]).

pub mod algo;
pub mod boot_label;
pub mod label;
pub mod lint;
pub mod policy;
pub mod policy_lang;
pub mod profile;
pub mod select;

pub use algo::HashAlgo;

/// The kernel's appraisal modes (`ima_appraise=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AppraiseMode {
    /// Deny access to files whose label is missing or wrong.
    Enforce,
    /// Allow, but audit failures.
    Log,
    /// Allow and (re)write labels on access (ignored by the kernel under Secure Boot).
    Fix,
}

impl AppraiseMode {
    /// The value of `ima_appraise=`.
    pub fn kernel_name(self) -> &'static str {
        match self {
            AppraiseMode::Enforce => "enforce",
            AppraiseMode::Log => "log",
            AppraiseMode::Fix => "fix",
        }
    }
}
