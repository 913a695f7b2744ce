//! The kernel's built-in policies (`ima_policy=` on the command line) as policy text, from the
//! rule tables in ima_policy.c (6.3–6.8): `dont_measure_rules` + `default_measurement_rules`
//! (`tcb`), `default_appraise_rules` (`appraise_tcb`), `secure_boot_rules`,
//! `critical_data_rules`. See ima-kernel-facts.md §3.3.

/// `ima_policy=tcb`: the dont_measure list, then default_measurement_rules.
const TCB: &str = "\
dont_measure fsmagic=0x9fa0
dont_measure fsmagic=0x62656572
dont_measure fsmagic=0x64626720
dont_measure fsmagic=0x1021994
dont_measure fsmagic=0x1cd1
dont_measure fsmagic=0x42494e4d
dont_measure fsmagic=0x73636673
dont_measure fsmagic=0xf97cff8c
dont_measure fsmagic=0x43415d53
dont_measure fsmagic=0x27e0eb
dont_measure fsmagic=0x63677270
dont_measure fsmagic=0x6e736673
dont_measure fsmagic=0xde5e81e4
measure func=MMAP_CHECK mask=MAY_EXEC
measure func=BPRM_CHECK mask=MAY_EXEC
measure func=FILE_CHECK mask=^MAY_READ euid=0
measure func=FILE_CHECK mask=^MAY_READ uid=0
measure func=MODULE_CHECK
measure func=FIRMWARE_CHECK
measure func=POLICY_CHECK
";

/// `ima_policy=appraise_tcb` without the CONFIG_IMA_WRITE_POLICY-only
/// `appraise func=POLICY_CHECK appraise_type=imasig` line, and in its
/// !CONFIG_IMA_APPRAISE_SIGNED_INIT form (`appraise fowner=0`).
const APPRAISE_TCB: &str = "\
dont_appraise fsmagic=0x9fa0
dont_appraise fsmagic=0x62656572
dont_appraise fsmagic=0x64626720
dont_appraise fsmagic=0x1021994
dont_appraise fsmagic=0x858458f6
dont_appraise fsmagic=0x1cd1
dont_appraise fsmagic=0x42494e4d
dont_appraise fsmagic=0x73636673
dont_appraise fsmagic=0xf97cff8c
dont_appraise fsmagic=0x43415d53
dont_appraise fsmagic=0x6e736673
dont_appraise fsmagic=0xde5e81e4
dont_appraise fsmagic=0x27e0eb
dont_appraise fsmagic=0x63677270
appraise fowner=0
";

/// `ima_policy=secure_boot`.
const SECURE_BOOT: &str = "\
appraise func=MODULE_CHECK appraise_type=imasig
appraise func=FIRMWARE_CHECK appraise_type=imasig
appraise func=KEXEC_KERNEL_CHECK appraise_type=imasig
appraise func=POLICY_CHECK appraise_type=imasig
";

/// `ima_policy=critical_data`.
const CRITICAL_DATA: &str = "measure func=CRITICAL_DATA\n";

/// The names [`builtin`] knows, as `ima_policy=` spells them.
pub const BUILTIN_NAMES: [&str; 4] = ["tcb", "appraise_tcb", "secure_boot", "critical_data"];

/// The built-in policy `name` (`tcb`, `appraise_tcb`, `secure_boot`, `critical_data`) as policy
/// text, one rule per line, ending with `\n`.
pub fn builtin(name: &str) -> Option<&'static str> {
    match name {
        "tcb" => Some(TCB),
        "appraise_tcb" => Some(APPRAISE_TCB),
        "secure_boot" => Some(SECURE_BOOT),
        "critical_data" => Some(CRITICAL_DATA),
        _ => None,
    }
}
