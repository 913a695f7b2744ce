//! Checks of a parsed IMA policy against what an image holds: its fstab, its kernel and that
//! kernel's config, its IMA keys, its init system. Each [`Finding`] has a stable code, the policy
//! line it is about, a message saying what will happen at boot and why, and where possible the
//! exact change that avoids it.
//!
//! Sources: ima-kernel-facts.md §2 (appraisal), §3 (policy loading, LSM labels, signed policies,
//! systemd) and §6 (distro kernel configs).

use super::policy_lang::{Action, AppraiseType, Func, Opt, Policy, Rule, BUILTIN_TEMPLATES, TEMPLATE_FIELDS};
use super::profile::{kernel_fs_name, no_xattr_fs};
use super::select::{appraised, appraised_for, Appraisal, FileFacts, FILE_READ};
use crate::fstab::{DeviceSpec, FstabEntry};
use crate::kernel::{KernelConfig, KernelVersion};
use std::fmt;

/// What the caller read from the image (plain data; every field may be left empty).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageFacts {
    /// The guest's `/etc/fstab` entries.
    pub fstab: Vec<FstabEntry>,
    /// The kernel that will boot (the newest in `/boot`), if known.
    pub kernel: Option<KernelVersion>,
    /// Its `/boot/config-<release>`, if present.
    pub kernel_config: Option<KernelConfig>,
    /// Paths of the certificates under `/etc/keys/ima/`.
    pub ima_keys: Vec<String>,
    /// Whether the image boots systemd (the only loader of `/etc/ima/ima-policy`).
    pub has_systemd: bool,
    /// Modules the initramfs loads (`/etc/initramfs-tools/modules`, dracut's `add_drivers`).
    pub initramfs_modules: Vec<String>,
}

impl Default for ImageFacts {
    /// Nothing known, except that systemd is assumed (every supported cloud image has it).
    fn default() -> ImageFacts {
        ImageFacts {
            fstab: Vec::new(),
            kernel: None,
            kernel_config: None,
            ima_keys: Vec::new(),
            has_systemd: true,
            initramfs_modules: Vec::new(),
        }
    }
}

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The policy will not load, or appraisal will not happen at all.
    Error,
    /// Something will be denied or silently not work as intended.
    Warning,
    /// Worth knowing; nothing breaks.
    Note,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Note => "note",
        })
    }
}

/// One problem found.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Finding {
    /// How bad.
    pub severity: Severity,
    /// Stable identifier, e.g. `no-xattr-fs`.
    pub code: &'static str,
    /// The policy line it is about (1-based), if any.
    pub line: Option<usize>,
    /// What will happen, and why.
    pub message: String,
    /// What to change, e.g. the exact rule to add and where.
    pub suggestion: Option<String>,
}

impl Finding {
    /// Whether this finding refuses a run: errors always, warnings with `deny_warnings`.
    pub fn refuses(&self, deny_warnings: bool) -> bool {
        self.severity == Severity::Error || (deny_warnings && self.severity == Severity::Warning)
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(l) => write!(f, "{} [{}] line {l}: {}", self.severity, self.code, self.message)?,
            None => write!(f, "{} [{}]: {}", self.severity, self.code, self.message)?,
        }
        if let Some(s) = &self.suggestion {
            write!(f, " — {s}")?;
        }
        Ok(())
    }
}

/// Every finding code [`lint`] can produce.
pub const CODES: [&str; 19] = [
    "no-xattr-fs",
    "fs-not-labelled",
    "lsm-rule-without-lsm",
    "template-not-upstream",
    "imasig-without-key",
    "appraise-compiled-out",
    "appraise-bootparam-off",
    "policy-write-once",
    "arch-policy",
    "policy-check-appraise",
    "kernel-too-old",
    "kernel-config-missing",
    "mutable-files",
    "no-final-newline",
    "no-systemd",
    "no-appraise-rule",
    "lsm-not-default",
    "kernel-load-side-effects",
    "hash-not-built-in",
];

/// `EXT4_SUPER_MAGIC`.
const EXT4_MAGIC: u64 = 0xef53;
/// Out-of-tree templates (ima-kernel-facts.md §5.3): unknown to every stock kernel.
const OUT_OF_TREE_TEMPLATES: [&str; 2] = ["ima-cgpath", "ima-dep-cgn"];
/// Local filesystems that hold xattrs but that cvm-image-rewriter does not label, with magic
/// numbers from `/usr/include/linux/magic.h`.
const UNLABELLED_XATTR_FS: [(&str, u64); 3] = [("xfs", 0x5846_5342), ("btrfs", 0x9123_683e), ("f2fs", 0xf2f5_2010)];

fn finding(
    severity: Severity,
    code: &'static str,
    line: Option<usize>,
    message: String,
    suggestion: Option<String>,
) -> Finding {
    Finding { severity, code, line, message, suggestion }
}

fn first_appraise_line(policy: &Policy) -> Option<usize> {
    policy.rules.iter().find(|r| r.action == Action::Appraise).map(|r| r.line)
}

fn rule_at(policy: &Policy, a: &Appraisal) -> String {
    a.rule_index.map(|i| policy.rules[i].to_string()).unwrap_or_default()
}

fn before(policy: &Policy) -> String {
    match first_appraise_line(policy) {
        Some(l) => format!("before line {l} (the first appraise rule)"),
        None => "before the appraise rules".to_string(),
    }
}

/// Checks `policy`, alone or against `facts`. Findings come sorted by severity, then line.
pub fn lint(policy: &Policy, facts: Option<&ImageFacts>) -> Vec<Finding> {
    let mut out = Vec::new();
    check_newline(policy, &mut out);
    check_no_appraise(policy, &mut out);
    check_no_xattr_fs(policy, facts, &mut out);
    check_unlabelled_fs(policy, facts, &mut out);
    check_lsm(policy, facts.and_then(|f| f.kernel_config.as_ref()), &mut out);
    check_templates(policy, &mut out);
    check_signatures(policy, facts, &mut out);
    check_policy_check(policy, facts.and_then(|f| f.kernel_config.as_ref()), &mut out);
    check_mutable_files(policy, &mut out);
    check_exec_side_effects(policy, &mut out);
    if let Some(facts) = facts {
        if let Some(config) = &facts.kernel_config {
            check_kernel_config(policy, config, &mut out);
        }
        if let Some(kernel) = &facts.kernel {
            check_kernel_version(policy, kernel, &mut out);
        }
        if !facts.has_systemd {
            out.push(finding(
                Severity::Warning,
                "no-systemd",
                None,
                "the image has no systemd, and nothing else loads /etc/ima/ima-policy: the kernel keeps its \
                 built-in policy (ima_policy= on the command line, or none). dracut's 98integrity module reads \
                 /etc/sysconfig/ima-policy instead; initramfs-tools has no IMA loader"
                    .into(),
                Some(
                    "load it from an early boot script: `echo /etc/ima/ima-policy > /sys/kernel/security/ima/policy`"
                        .into(),
                ),
            ));
        }
    }
    out.sort_by(|a, b| (a.severity, a.line, a.code).cmp(&(b.severity, b.line, b.code)));
    out
}

fn check_newline(policy: &Policy, out: &mut Vec<Finding>) {
    if !policy.final_newline {
        out.push(finding(
            Severity::Warning,
            "no-final-newline",
            (!policy.lines.is_empty()).then_some(policy.lines.len()),
            "the policy does not end with a newline: the kernel's path load (ima_read_policy) counts a \\n after \
             every line, so it fails with EINVAL and systemd falls back to writing line by line (or the boot \
             stops when a signed policy is required)"
                .into(),
            Some("end the file with a newline (`ima enable` adds it)".into()),
        ));
    }
}

fn check_no_appraise(policy: &Policy, out: &mut Vec<Finding>) {
    if !policy.rules.iter().any(|r| r.action == Action::Appraise) {
        out.push(finding(
            Severity::Warning,
            "no-appraise-rule",
            None,
            "the policy has no appraise rule: nothing is appraised, and the labels written are never checked".into(),
            Some("start from `cvm-image-rewriter ima policy default`".into()),
        ));
    }
}

/// Filesystems that cannot hold `security.ima`, from fstab plus the ones a cloud guest reads
/// without fstab (iso9660 and vfat config drives, the ESP), each with where it was seen.
fn no_xattr_candidates(facts: Option<&ImageFacts>) -> Vec<(u64, String, String, &'static str)> {
    let mut cands: Vec<(u64, String, String, &'static str)> = Vec::new();
    for e in facts.map(|f| f.fstab.as_slice()).unwrap_or_default() {
        let Some(fs) = no_xattr_fs(&e.fs_type) else { continue };
        let place = format!("{} at {} (fstab line {})", e.fs_type, e.mount_point, e.line);
        match cands.iter_mut().find(|c| c.0 == fs.magic) {
            Some(c) => c.2 = format!("{}, {place}", c.2),
            None => cands.push((fs.magic, kernel_fs_name(&e.fs_type), place, fs.why)),
        }
    }
    for (magic, name, place, why) in [
        (
            0x9660,
            "iso9660",
            "an iso9660 config drive or NoCloud cidata (not in fstab: cloud-init mounts it and reads it as root at \
             boot)",
            "ISO 9660 has no xattrs",
        ),
        (
            0x4d44,
            "vfat",
            "a vfat NoCloud cidata or EFI system partition (not in fstab: cloud-init reads cidata as root at boot; \
             systemd-gpt-auto-generator can mount the ESP)",
            "FAT has no xattrs",
        ),
    ] {
        if !cands.iter().any(|c| c.0 == magic) {
            cands.push((magic, name.to_string(), place.to_string(), why));
        }
    }
    cands
}

fn check_no_xattr_fs(policy: &Policy, facts: Option<&ImageFacts>, out: &mut Vec<Finding>) {
    for (magic, fsname, place, why) in no_xattr_candidates(facts) {
        let file = FileFacts::root_owned(magic, &fsname);
        let a = appraised(policy, &file);
        if !a.appraised {
            continue;
        }
        let what = if appraised_for(policy, &file, &[FILE_READ]).appraised {
            "every open of a root-owned file on it"
        } else {
            "every exec or executable mmap of a root-owned file on it"
        };
        out.push(finding(
            Severity::Warning,
            "no-xattr-fs",
            a.rule_line,
            format!(
                "{place}: {why}, so no security.ima; yet `{}` covers its root-owned files: in enforce mode {what} \
                 fails with EACCES (an inode without xattr support appraises as INTEGRITY_UNKNOWN)",
                rule_at(policy, &a)
            ),
            Some(format!("add `dont_appraise fsmagic={magic:#x}` {}", before(policy))),
        ));
    }
}

fn check_unlabelled_fs(policy: &Policy, facts: Option<&ImageFacts>, out: &mut Vec<Finding>) {
    for e in facts.map(|f| f.fstab.as_slice()).unwrap_or_default() {
        let Some(&(name, magic)) = UNLABELLED_XATTR_FS.iter().find(|(n, _)| *n == e.fs_type) else { continue };
        let uuid = match DeviceSpec::parse(&e.spec) {
            DeviceSpec::Uuid(u) if u.len() == 36 => Some(u),
            _ => None,
        };
        let file = FileFacts { fsuuid: uuid.clone(), ..FileFacts::root_owned(magic, name) };
        let a = appraised(policy, &file);
        if !a.appraised {
            continue;
        }
        // XFS's s_uuid is the UUID blkid (and so fstab) shows; btrfs and f2fs differ or may.
        let rule = match &uuid {
            Some(u) if name == "xfs" => format!("dont_appraise fsuuid={u}"),
            _ => format!("dont_appraise fsmagic={magic:#x}"),
        };
        out.push(finding(
            Severity::Warning,
            "fs-not-labelled",
            a.rule_line,
            format!(
                "{name} at {} (fstab line {}): cvm-image-rewriter labels ext4 only, so root-owned files there have \
                 no security.ima and `{}` denies them in enforce mode",
                e.mount_point,
                e.line,
                rule_at(policy, &a)
            ),
            Some(format!("label them another way, or add `{rule}` {}", before(policy))),
        ));
    }
}

fn lsm_conditions(rule: &Rule) -> Vec<String> {
    rule.conditions.iter().filter(|c| c.is_lsm()).map(|c| c.to_string()).collect()
}

fn check_lsm(policy: &Policy, config: Option<&KernelConfig>, out: &mut Vec<Finding>) {
    for rule in &policy.rules {
        let conds = lsm_conditions(rule);
        if conds.is_empty() {
            continue;
        }
        let conds = conds.join(" ");
        let consequence = "at the first custom policy load an LSM label the running LSM does not know makes \
                           ima_lsm_rule_init fail, the kernel rejects the whole policy, and systemd stops the boot";
        let suggestion = Some("remove the LSM conditions, or boot a kernel with SELinux (or Smack) active".to_string());
        let Some(config) = config else {
            out.push(finding(
                Severity::Warning,
                "lsm-rule-without-lsm",
                Some(rule.line),
                format!("`{conds}` needs SELinux or Smack and the kernel config is unknown: {consequence}"),
                suggestion,
            ));
            continue;
        };
        let built: Vec<&str> = [("SECURITY_SELINUX", "selinux"), ("SECURITY_SMACK", "smack")]
            .into_iter()
            .filter(|(sym, _)| config.is_enabled(sym))
            .map(|(_, name)| name)
            .collect();
        if built.is_empty() || !config.is_enabled("IMA_LSM_RULES") {
            let why = if built.is_empty() {
                "the kernel has neither SELinux nor Smack (CONFIG_SECURITY_SELINUX and CONFIG_SECURITY_SMACK are not \
                 set)"
            } else {
                "CONFIG_IMA_LSM_RULES is not set, so the kernel accepts no LSM condition"
            };
            out.push(finding(
                Severity::Error,
                "lsm-rule-without-lsm",
                Some(rule.line),
                format!("`{conds}`: {why}; {consequence}"),
                suggestion,
            ));
            continue;
        }
        // Built in, but is one of them started by default? CONFIG_LSM lists the LSMs the kernel
        // initialises unless `lsm=`/`security=` says otherwise (Ubuntu builds SELinux but runs AppArmor).
        if let Some(order) = config.string("LSM") {
            let active: Vec<&str> = order.split(',').map(str::trim).collect();
            if !built.iter().any(|b| active.contains(b)) {
                out.push(finding(
                    Severity::Warning,
                    "lsm-not-default",
                    Some(rule.line),
                    format!(
                        "`{conds}`: the kernel builds {} but CONFIG_LSM=\"{order}\" does not start it; unless the \
                         command line has lsm= or security= enabling it, {consequence}",
                        built.join(" and ")
                    ),
                    suggestion,
                ));
            }
        }
    }
}

fn is_known_template(t: &str) -> bool {
    BUILTIN_TEMPLATES.iter().any(|(n, f)| *n == t || *f == t)
}

fn check_templates(policy: &Policy, out: &mut Vec<Finding>) {
    for rule in &policy.rules {
        for o in &rule.options {
            let Opt::Template(t) = o else { continue };
            if OUT_OF_TREE_TEMPLATES.contains(&t.as_str()) {
                out.push(finding(
                    Severity::Warning,
                    "template-not-upstream",
                    Some(rule.line),
                    format!(
                        "template={t} is an out-of-tree template (Intel CCNP kernel patches; ima-kernel-facts.md \
                         §5.3): a stock kernel does not know it and rejects the rule, and with it the whole policy"
                    ),
                    Some(
                        "use template=ima-ng or ima-sig, or keep this rule only for kernels carrying the patch".into(),
                    ),
                ));
            } else if !is_known_template(t) {
                let fields = t.contains('|') && t.split('|').all(|f| TEMPLATE_FIELDS.contains(&f));
                let message = if fields {
                    format!(
                        "template={t} is no built-in template: the kernel finds it only if the command line has \
                         ima_template_fmt={t}; otherwise it rejects the rule, and with it the whole policy"
                    )
                } else {
                    format!("template={t} is unknown to the kernel, which rejects the rule and the whole policy")
                };
                out.push(finding(
                    Severity::Warning,
                    "template-not-upstream",
                    Some(rule.line),
                    message,
                    Some(format!("use a built-in template or add ima_template_fmt={t} to the kernel command line")),
                ));
            }
        }
    }
}

fn check_signatures(policy: &Policy, facts: Option<&ImageFacts>, out: &mut Vec<Finding>) {
    let Some(facts) = facts else { return };
    if !facts.ima_keys.is_empty() {
        return;
    }
    for rule in policy.rules.iter().filter(|r| r.action == Action::Appraise) {
        let Some(t) = rule.options.iter().find_map(|o| match o {
            Opt::AppraiseType(t) => Some(*t),
            _ => None,
        }) else {
            continue;
        };
        let what = match t {
            AppraiseType::ImaSig => "a signature (security.ima type 0x03)",
            AppraiseType::ImaSigModSig => "a signature (security.ima type 0x03 or an appended modsig)",
            AppraiseType::SigV3 => "an fs-verity signature (security.ima type 0x06)",
        };
        out.push(finding(
            Severity::Warning,
            "imasig-without-key",
            Some(rule.line),
            format!(
                "appraise_type={} requires {what} on every file this rule covers, but the image has no key under \
                 /etc/keys/ima/ and cvm-image-rewriter writes hashes only: in enforce mode each such access is \
                 denied (cause IMA-signature-required)",
                t.name()
            ),
            Some(
                "drop appraise_type= to accept the hashes written, or sign the files and provision the certificate \
                 (on .ima it must be signed by a trusted key: builtin, secondary or MOK)"
                    .into(),
            ),
        ));
    }
}

fn check_policy_check(policy: &Policy, config: Option<&KernelConfig>, out: &mut Vec<Finding>) {
    if let Some(c) = config {
        if c.is_enabled("IMA_APPRAISE_REQUIRE_POLICY_SIGS") {
            out.push(finding(
                Severity::Error,
                "policy-check-appraise",
                None,
                "CONFIG_IMA_APPRAISE_REQUIRE_POLICY_SIGS=y adds `appraise func=POLICY_CHECK appraise_type=imasig` \
                 before any custom rule: the policy can only be loaded by path, signed; cvm-image-rewriter does not \
                 sign /etc/ima/ima-policy, so the load fails with EACCES and systemd stops the boot"
                    .into(),
                Some("sign /etc/ima/ima-policy (evmctl ima_sign) with a key the kernel trusts".into()),
            ));
        } else if c.is_enabled("IMA_ARCH_POLICY")
            && c.is_enabled("INTEGRITY_MACHINE_KEYRING")
            && c.is_enabled("IMA_KEYRINGS_PERMIT_SIGNED_BY_BUILTIN_OR_SECONDARY")
        {
            out.push(finding(
                Severity::Warning,
                "policy-check-appraise",
                None,
                "with UEFI Secure Boot on, this kernel's arch policy (CONFIG_IMA_ARCH_POLICY with \
                 INTEGRITY_MACHINE_KEYRING and IMA_KEYRINGS_PERMIT_SIGNED_BY_BUILTIN_OR_SECONDARY) adds `appraise \
                 func=POLICY_CHECK appraise_type=imasig`: the unsigned /etc/ima/ima-policy then fails to load and \
                 systemd stops the boot"
                    .into(),
                Some("boot without Secure Boot, or sign /etc/ima/ima-policy".into()),
            ));
        }
    }
    for rule in policy.rules.iter().filter(|r| r.action == Action::Appraise && r.func() == Some(Func::PolicyCheck)) {
        let signed = rule.options.iter().any(|o| matches!(o, Opt::AppraiseType(_)));
        let message = if signed {
            "once this policy is active, every later policy load must be a signed file loaded by path (text writes \
             get EACCES): a second load in the same boot — such as systemd loading it again after leaving a systemd \
             initrd, with CONFIG_IMA_WRITE_POLICY=y — fails, and cvm-image-rewriter does not sign the policy"
        } else {
            "once this policy is active, every later policy load must be by path (text writes get EACCES) and the \
             policy file is appraised: a later load of an edited, unlabelled policy fails"
        };
        out.push(finding(
            Severity::Warning,
            "policy-check-appraise",
            Some(rule.line),
            message.into(),
            Some("remove the rule unless signed policies are provisioned".into()),
        ));
    }
}

fn check_mutable_files(policy: &Policy, out: &mut Vec<Finding>) {
    let file = FileFacts::root_owned(EXT4_MAGIC, "ext4");
    let a = appraised_for(policy, &file, &[FILE_READ]);
    if !a.appraised {
        return;
    }
    out.push(finding(
        Severity::Warning,
        "mutable-files",
        a.rule_line,
        format!(
            "`{}` appraises plain reads of root-owned files. Files a root daemon creates at boot and keeps open \
             for writing get their label only at their last close, so meanwhile other root readers are refused: \
             systemd-journald's /var/log/journal/*/system.journal makes journalctl fail (seen on Debian: \
             cause=missing-hash). A file left half-written by a crash is refused too. This is the price of \
             appraising every read",
            rule_at(policy, &a)
        ),
        Some(format!(
            "use the `exec` profile (appraises exec, executable mmap, kernel loads and write-opens, not plain \
             reads), or add `dont_appraise fgroup=<gid>` {} for a group that only such files have (journald's \
             files are root:systemd-journal; take the gid from the image's /etc/group)",
            before(policy)
        )),
    ));
}

/// `appraise func=MODULE_CHECK` / `KEXEC_KERNEL_CHECK` / `FIRMWARE_CHECK` also refuse the loads
/// that come without a file (`ima_load_data` in ima_main.c).
fn check_exec_side_effects(policy: &Policy, out: &mut Vec<Finding>) {
    for rule in policy.rules.iter().filter(|r| r.action == Action::Appraise) {
        let effect = match rule.func() {
            Some(Func::ModuleCheck) => {
                "init_module() (a module passed as a buffer, e.g. by a kmod that decompresses modules itself) is \
                 refused unless module signatures are enforced"
            }
            Some(Func::KexecKernelCheck) => {
                "kexec_load() is refused (kdump and `kexec -l` must use kexec_file_load, `kexec -s`)"
            }
            Some(Func::FirmwareCheck) => "the sysfs firmware fallback loader is refused",
            _ => continue,
        };
        out.push(finding(
            Severity::Note,
            "kernel-load-side-effects",
            Some(rule.line),
            format!("in enforce mode, with `{rule}` {effect} (ima_load_data)"),
            None,
        ));
    }
}

fn check_kernel_config(policy: &Policy, c: &KernelConfig, out: &mut Vec<Finding>) {
    if !c.is_enabled("IMA") {
        out.push(finding(
            Severity::Error,
            "appraise-compiled-out",
            None,
            "CONFIG_IMA is not set: the kernel has no IMA, the policy is never loaded and nothing is appraised".into(),
            Some("boot a kernel built with CONFIG_IMA=y and CONFIG_IMA_APPRAISE=y".into()),
        ));
        return;
    }
    if !c.is_enabled("IMA_APPRAISE") {
        out.push(finding(
            Severity::Error,
            "appraise-compiled-out",
            None,
            "CONFIG_IMA_APPRAISE is not set: appraise rules never act, nothing is appraised".into(),
            Some("boot a kernel built with CONFIG_IMA_APPRAISE=y".into()),
        ));
    } else if !c.is_enabled("IMA_APPRAISE_BOOTPARAM") {
        out.push(finding(
            Severity::Warning,
            "appraise-bootparam-off",
            None,
            "CONFIG_IMA_APPRAISE_BOOTPARAM is not set: ima_appraise= on the command line is ignored and the \
             kernel's default applies (enforce), so `log` and `fix` are impossible"
                .into(),
            None,
        ));
    }
    if !c.is_enabled("IMA_WRITE_POLICY") && !c.is_enabled("IMA_READ_POLICY") {
        out.push(finding(
            Severity::Note,
            "policy-write-once",
            None,
            "CONFIG_IMA_WRITE_POLICY and CONFIG_IMA_READ_POLICY are not set: the policy is loaded once per boot \
             (/sys/kernel/security/ima/policy disappears after the first successful load) and cannot be read back"
                .into(),
            None,
        ));
    }
    if c.is_enabled("IMA_ARCH_POLICY") {
        let mut rules = vec!["measure func=KEXEC_KERNEL_CHECK", "measure func=MODULE_CHECK"];
        if !c.is_enabled("KEXEC_SIG") {
            rules.push("appraise func=KEXEC_KERNEL_CHECK appraise_type=imasig");
        }
        if !c.is_enabled("MODULE_SIG") {
            rules.push("appraise func=MODULE_CHECK appraise_type=imasig");
        }
        out.push(finding(
            Severity::Note,
            "arch-policy",
            None,
            format!(
                "CONFIG_IMA_ARCH_POLICY=y: under UEFI Secure Boot the arch rules ({}) stay in force after the custom \
                 policy loads, and ima_appraise=fix / log are ignored (enforce only){}",
                rules.join("; "),
                if rules.len() > 2 {
                    "; its appraise rules require IMA signatures on modules or kexec kernels, which \
                     cvm-image-rewriter does not write"
                } else {
                    ""
                }
            ),
            None,
        ));
    }
    for rule in &policy.rules {
        for req in rule.requirements() {
            let Some(sym) = req.kconfig else { continue };
            if !c.is_enabled(sym) {
                out.push(finding(
                    Severity::Error,
                    "kernel-config-missing",
                    Some(rule.line),
                    format!(
                        "{} needs {sym}, which this kernel lacks: it rejects the rule, and with it the whole policy \
                         ({})",
                        req.what, req.note
                    ),
                    Some(format!("remove {} from the rule", req.what)),
                ));
            }
        }
    }
}

fn check_kernel_version(policy: &Policy, kernel: &KernelVersion, out: &mut Vec<Finding>) {
    for rule in &policy.rules {
        let Some(min) = rule.min_kernel() else { continue };
        if (u32::from(min.major), u32::from(min.minor)) <= (kernel.major, kernel.minor) {
            continue;
        }
        let what: Vec<String> = rule
            .requirements()
            .into_iter()
            .filter(|r| {
                r.min_kernel.is_some_and(|m| (u32::from(m.major), u32::from(m.minor)) > (kernel.major, kernel.minor))
            })
            .map(|r| r.what)
            .collect();
        out.push(finding(
            Severity::Warning,
            "kernel-too-old",
            Some(rule.line),
            format!(
                "{} needs Linux {min} or newer, but the image boots {}: the kernel rejects the rule, and with it the \
                 whole policy",
                what.join(", "),
                kernel.release
            ),
            Some("remove the rule or upgrade the image's kernel".into()),
        ));
    }
}

/// Whether the image's kernel can check labels made with `algo` at boot.
///
/// The algorithm must be usable the moment systemd loads the policy. Built in (`=y`) it is.
/// As a module (`=m`, Debian's SHA-384/512) the kernel would call modprobe to load it while
/// appraising a file, and modprobe is itself appraised with that algorithm: the boot
/// deadlocks (seen on Debian 12 with sha384 labels: kworkers blocked in process_measurement).
/// Loaded by the initramfs, before the policy, it works. Returns `None` when fine, else the
/// finding (an error when the boot would hang, a warning when the config is unknown).
pub fn hash_availability(facts: &ImageFacts, algo: super::HashAlgo) -> Option<Finding> {
    use super::HashAlgo;
    let (option, module) = match algo {
        HashAlgo::Sha1 => ("CRYPTO_SHA1", "sha1_generic"),
        HashAlgo::Sha256 => ("CRYPTO_SHA256", "sha256_generic"),
        HashAlgo::Sha384 | HashAlgo::Sha512 => ("CRYPTO_SHA512", "sha512_generic"),
        HashAlgo::Sm3 => ("CRYPTO_SM3_GENERIC", "sm3_generic"),
    };
    let finding = |severity, message: String, suggestion: String| Finding {
        severity,
        code: "hash-not-built-in",
        line: None,
        message,
        suggestion: Some(suggestion),
    };
    let Some(config) = &facts.kernel_config else {
        // IMA itself selects SHA-1, and SHA-256 is its usual default: both are built in.
        if matches!(algo, HashAlgo::Sha1 | HashAlgo::Sha256) {
            return None;
        }
        return Some(finding(
            Severity::Warning,
            format!("the image's kernel configuration is unknown: cannot check that {algo} is built in (CONFIG_{option}=y); a kernel that has it only as a module deadlocks at boot appraising {algo} labels"),
            "use --hash sha256 unless you know the kernel has it built in".into(),
        ));
    };
    let value = config.get(option).or_else(|| if algo == HashAlgo::Sm3 { config.get("CRYPTO_SM3") } else { None });
    match value {
        Some("y") => None,
        Some("m") if facts.initramfs_modules.iter().any(|m| m == module) => None,
        Some("m") => Some(finding(
            Severity::Error,
            format!("the image's kernel has {algo} only as a module (CONFIG_{option}=m): to appraise {algo} labels it would load {module} through modprobe, which is itself appraised with {algo}, and the boot hangs"),
            format!("use --hash sha256, or have the initramfs load the module before the policy: add `{module}` to /etc/initramfs-tools/modules and run update-initramfs in the guest (e.g. in a `run` plugin), then label"),
        )),
        _ if matches!(algo, HashAlgo::Sha1 | HashAlgo::Sha256) && !config.is_explicitly_unset(option) => None,
        _ if config.is_explicitly_unset(option) => Some(finding(
            Severity::Error,
            format!("the image's kernel has no {algo} (CONFIG_{option} is not set): every {algo} label would be refused"),
            "use --hash sha256".into(),
        )),
        _ => Some(finding(
            Severity::Warning,
            format!("the image's kernel configuration does not mention CONFIG_{option}: cannot check that {algo} is built in; a kernel that has it only as a module deadlocks at boot appraising {algo} labels"),
            "use --hash sha256 unless you know the kernel has it built in".into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::super::policy_lang::{parse, Line};
    use super::super::profile::{default_policy, Profile};
    use super::*;
    use crate::fstab;
    use crate::kernel::parse_release;

    fn policy(text: &str) -> Policy {
        parse(text).unwrap_or_else(|e| panic!("{text}: {e:?}"))
    }

    /// A config with these symbols `=y` (and `LSM="..."` when given).
    fn config(symbols: &[&str], lsm: Option<&str>) -> KernelConfig {
        let mut text: String = symbols.iter().map(|s| format!("CONFIG_{s}=y\n")).collect();
        if let Some(l) = lsm {
            text.push_str(&format!("CONFIG_LSM=\"{l}\"\n"));
        }
        KernelConfig::parse(&text)
    }

    /// Debian 12's IMA options (no SELinux, no Smack).
    const DEBIAN: &[&str] =
        &["IMA", "IMA_APPRAISE", "IMA_APPRAISE_BOOTPARAM", "IMA_WRITE_POLICY", "IMA_READ_POLICY", "IMA_LSM_RULES"];

    const FSTAB: &str = "\
UUID=0b3f2c1e-7a8d-4e2f-9c01-5d6e7f809112 / ext4 rw,discard,errors=remount-ro 0 1
UUID=7A1B-22C3 /boot/efi vfat umask=0077 0 1
";

    fn facts(fstab_text: &str, symbols: Option<&[&str]>) -> ImageFacts {
        ImageFacts {
            fstab: fstab::parse(fstab_text),
            kernel: parse_release("6.1.0-27-cloud-amd64"),
            kernel_config: symbols.map(|s| config(s, None)),
            ima_keys: Vec::new(),
            has_systemd: true,
            initramfs_modules: Vec::new(),
        }
    }

    #[test]
    fn hash_algorithms_must_be_built_in_or_loaded_by_the_initramfs() {
        use crate::ima::HashAlgo;
        let mut f = facts("", None);
        f.kernel_config = Some(crate::kernel::KernelConfig::parse(
            "CONFIG_CRYPTO_SHA256=y\nCONFIG_CRYPTO_SHA512=m\n# CONFIG_CRYPTO_SM3_GENERIC is not set\n",
        ));
        assert!(hash_availability(&f, HashAlgo::Sha256).is_none());
        let e = hash_availability(&f, HashAlgo::Sha384).expect("module only");
        assert_eq!((e.severity, e.code), (Severity::Error, "hash-not-built-in"));
        assert!(e.suggestion.unwrap().contains("sha512_generic"));
        assert_eq!(hash_availability(&f, HashAlgo::Sm3).map(|e| e.severity), Some(Severity::Error));
        let partial = crate::kernel::KernelConfig::parse("CONFIG_IMA=y\n");
        let mut g = facts("", None);
        g.kernel_config = Some(partial);
        assert!(hash_availability(&g, HashAlgo::Sha256).is_none(), "absent from a partial config");
        assert_eq!(hash_availability(&g, HashAlgo::Sha512).map(|e| e.severity), Some(Severity::Warning));
        f.initramfs_modules.push("sha512_generic".into());
        assert!(hash_availability(&f, HashAlgo::Sha512).is_none(), "loaded by the initramfs");
        f.kernel_config = None;
        assert_eq!(hash_availability(&f, HashAlgo::Sha384).map(|e| e.severity), Some(Severity::Warning));
        assert!(hash_availability(&f, HashAlgo::Sha256).is_none());
    }

    fn codes(findings: &[Finding]) -> Vec<&'static str> {
        findings.iter().map(|f| f.code).collect()
    }

    fn find<'a>(findings: &'a [Finding], code: &str) -> Vec<&'a Finding> {
        findings.iter().filter(|f| f.code == code).collect()
    }

    fn assert_known_codes(findings: &[Finding]) {
        for f in findings {
            assert!(CODES.contains(&f.code), "{f}");
            assert!(!f.message.is_empty());
        }
    }

    /// The case: a vfat /boot/efi in fstab, an LSM rule, a Debian kernel without SELinux.
    #[test]
    fn vfat_boot_efi_and_lsm_rule() {
        let p = policy("dont_appraise obj_type=var_log_t\nappraise fowner=0\n");
        let f = lint(&p, Some(&facts(FSTAB, Some(DEBIAN))));
        assert_known_codes(&f);

        let lsm = find(&f, "lsm-rule-without-lsm");
        assert_eq!(lsm.len(), 1, "{f:#?}");
        assert_eq!((lsm[0].severity, lsm[0].line), (Severity::Error, Some(1)));
        assert!(lsm[0].message.contains("obj_type=var_log_t"), "{}", lsm[0]);
        assert!(lsm[0].message.contains("neither SELinux nor Smack"), "{}", lsm[0]);

        let nx = find(&f, "no-xattr-fs");
        assert_eq!(nx.len(), 2, "vfat from fstab and iso9660 always: {f:#?}");
        let vfat = nx.iter().find(|x| x.message.contains("/boot/efi")).expect("vfat finding");
        assert_eq!((vfat.severity, vfat.line), (Severity::Warning, Some(2)));
        assert!(vfat.message.contains("fstab line 2"), "{vfat}");
        assert!(vfat.message.contains("every open"), "{vfat}");
        assert_eq!(
            vfat.suggestion.as_deref(),
            Some("add `dont_appraise fsmagic=0x4d44` before line 2 (the first appraise rule)")
        );
        let iso = nx.iter().find(|x| x.message.contains("iso9660")).expect("iso9660 finding");
        assert!(iso.suggestion.as_deref().unwrap().contains("dont_appraise fsmagic=0x9660"));

        // The dont_appraise obj_type= rule exempts only some accesses: reads are still appraised.
        let m = find(&f, "mutable-files");
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].line, Some(2));
        // Errors sort first.
        assert_eq!(f[0].severity, Severity::Error);
        // Debian's config: nothing else to say about it.
        for code in ["appraise-compiled-out", "appraise-bootparam-off", "policy-write-once", "arch-policy"] {
            assert!(!codes(&f).contains(&code), "{code}: {f:#?}");
        }
    }

    #[test]
    fn generated_profiles_are_clean_for_the_same_image() {
        let image = facts(FSTAB, Some(DEBIAN));
        for profile in Profile::ALL {
            let p = policy(&default_policy(profile, Some(&image)));
            let f = lint(&p, Some(&image));
            assert_known_codes(&f);
            let mut expected: Vec<&str> = Vec::new();
            match profile {
                Profile::Tcb => expected.push("mutable-files"),
                Profile::Exec => expected.extend(["kernel-load-side-effects"; 3]),
            }
            assert_eq!(codes(&f), expected, "{profile:?}: {f:#?}");
        }
    }

    #[test]
    fn no_xattr_fs_exec_only_policy_and_exemptions() {
        let p = policy("appraise func=BPRM_CHECK fowner=0\n");
        let f = lint(&p, None);
        let nx = find(&f, "no-xattr-fs");
        assert_eq!(nx.len(), 2);
        assert!(nx.iter().all(|x| x.message.contains("exec or executable mmap")), "{nx:#?}");
        // Exempted by magic or by name: silent.
        let p = policy("dont_appraise fsmagic=0x9660\ndont_appraise fsname=vfat\nappraise fowner=0\n");
        assert!(find(&lint(&p, None), "no-xattr-fs").is_empty());
        // Exempted for exec only: reads still reach the appraise rule.
        let p =
            policy("dont_appraise fsmagic=0x9660 func=BPRM_CHECK\ndont_appraise fsmagic=0x4d44\nappraise fowner=0\n");
        let nx = lint(&p, None).into_iter().filter(|x| x.code == "no-xattr-fs").collect::<Vec<_>>();
        assert_eq!(nx.len(), 1);
        assert_eq!(nx[0].line, Some(3));
        // Files not owned by root are not covered by fowner=0: still a finding for root files only.
        let p = policy("appraise fowner=1000\n");
        assert!(find(&lint(&p, None), "no-xattr-fs").is_empty());
    }

    #[test]
    fn no_xattr_fs_from_fstab_groups_mount_points() {
        let fstab = "/dev/vdb /a nfs4 defaults 0 0\nsrv:/x /b nfs defaults 0 0\nhost0 /c virtiofs defaults 0 0\n";
        let p = policy("appraise fowner=0\n");
        let f = lint(&p, Some(&facts(fstab, None)));
        let nx = find(&f, "no-xattr-fs");
        assert_eq!(nx.len(), 4, "nfs, fuse, iso9660, vfat: {nx:#?}");
        let nfs = nx.iter().find(|x| x.message.contains("nfs4 at /a")).unwrap();
        assert!(nfs.message.contains("nfs at /b"), "{nfs}");
        assert!(nfs.suggestion.as_deref().unwrap().contains("fsmagic=0x6969"));
        let fuse = nx.iter().find(|x| x.message.contains("virtiofs")).unwrap();
        assert!(fuse.suggestion.as_deref().unwrap().contains("fsmagic=0x65735546"));
    }

    #[test]
    fn unlabelled_xattr_filesystems() {
        let fstab =
            "UUID=0b3f2c1e-7a8d-4e2f-9c01-5d6e7f809112 /data xfs defaults 0 0\n/dev/vdc /srv btrfs defaults 0 0\n";
        let p = policy("appraise fowner=0\n");
        let f = lint(&p, Some(&facts(fstab, None)));
        let nl = find(&f, "fs-not-labelled");
        assert_eq!(nl.len(), 2);
        assert!(nl[0]
            .suggestion
            .as_deref()
            .unwrap()
            .contains("dont_appraise fsuuid=0b3f2c1e-7a8d-4e2f-9c01-5d6e7f809112"));
        assert!(nl[1].suggestion.as_deref().unwrap().contains("dont_appraise fsmagic=0x9123683e"));
        let p = policy("dont_appraise fsuuid=0b3f2c1e-7a8d-4e2f-9c01-5d6e7f809112\ndont_appraise fsname=btrfs\nappraise fowner=0\n");
        assert!(find(&lint(&p, Some(&facts(fstab, None))), "fs-not-labelled").is_empty());
    }

    #[test]
    fn lsm_rules_against_configs() {
        let p = policy("appraise fowner=0\nappraise subj_type=init_t func=BPRM_CHECK\n");
        // Unknown config: warning.
        let f = find(&lint(&p, None), "lsm-rule-without-lsm").into_iter().cloned().collect::<Vec<_>>();
        assert_eq!(f.len(), 1);
        assert_eq!((f[0].severity, f[0].line), (Severity::Warning, Some(2)));
        // SELinux built and started: silent.
        let mut image = facts("", None);
        image.kernel_config = Some(config(&[DEBIAN, &["SECURITY_SELINUX"]].concat(), Some("lockdown,yama,selinux")));
        let f = lint(&p, Some(&image));
        assert!(find(&f, "lsm-rule-without-lsm").is_empty() && find(&f, "lsm-not-default").is_empty(), "{f:#?}");
        // Ubuntu: SELinux and Smack built, AppArmor started.
        image.kernel_config = Some(config(
            &[DEBIAN, &["SECURITY_SELINUX", "SECURITY_SMACK", "SECURITY_APPARMOR"]].concat(),
            Some("landlock,lockdown,yama,integrity,apparmor"),
        ));
        let f = lint(&p, Some(&image));
        assert!(find(&f, "lsm-rule-without-lsm").is_empty());
        let nd = find(&f, "lsm-not-default");
        assert_eq!(nd.len(), 1);
        assert!(nd[0].message.contains("selinux and smack"), "{}", nd[0]);
        // SELinux built but IMA_LSM_RULES off: error.
        image.kernel_config =
            Some(config(&["IMA", "IMA_APPRAISE", "IMA_APPRAISE_BOOTPARAM", "SECURITY_SELINUX"], None));
        let f = find(&lint(&p, Some(&image)), "lsm-rule-without-lsm").into_iter().cloned().collect::<Vec<_>>();
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].severity, Severity::Error);
        assert!(f[0].message.contains("CONFIG_IMA_LSM_RULES"));
        // No LSM rule: silent whatever the config.
        let p = policy("appraise fowner=0\n");
        assert!(find(&lint(&p, Some(&facts("", Some(DEBIAN)))), "lsm-rule-without-lsm").is_empty());
    }

    #[test]
    fn templates() {
        // ima-cgpath never parses; build the rule directly, as a caller editing a policy could.
        let mut p = policy("measure func=BPRM_CHECK template=ima-ng\nappraise fowner=0\n");
        assert!(find(&lint(&p, None), "template-not-upstream").is_empty());
        p.rules[0].options = vec![Opt::Template("ima-cgpath".into())];
        p.lines[0] = Line::Rule { index: 0, text: None };
        let f = lint(&p, None);
        let t = find(&f, "template-not-upstream");
        assert_eq!(t.len(), 1);
        assert_eq!(t[0].line, Some(1));
        assert!(t[0].message.contains("out-of-tree"));
        // A field list that is no built-in template's format needs ima_template_fmt=.
        let p = policy("measure func=BPRM_CHECK template=d-ng|n-ng|iuid\nappraise fowner=0\n");
        let t = find(&lint(&p, None), "template-not-upstream").into_iter().cloned().collect::<Vec<_>>();
        assert_eq!(t.len(), 1);
        assert!(t[0].message.contains("ima_template_fmt=d-ng|n-ng|iuid"), "{}", t[0]);
        // The format of a built-in template is fine.
        let p = policy("measure func=BPRM_CHECK template=d-ng|n-ng|sig\nappraise fowner=0\n");
        assert!(find(&lint(&p, None), "template-not-upstream").is_empty());
    }

    #[test]
    fn signatures_without_keys() {
        let p =
            policy("appraise func=MODULE_CHECK appraise_type=imasig|modsig\nappraise fowner=0 appraise_type=imasig\n");
        let mut image = facts("", None);
        let f = lint(&p, Some(&image));
        let s = find(&f, "imasig-without-key");
        assert_eq!(s.iter().map(|x| x.line).collect::<Vec<_>>(), [Some(1), Some(2)]);
        assert!(s[1].message.contains("appraise_type=imasig "), "{}", s[1]);
        image.ima_keys.push("/etc/keys/ima/x509_ima.der".into());
        assert!(find(&lint(&p, Some(&image)), "imasig-without-key").is_empty());
        assert!(find(&lint(&p, None), "imasig-without-key").is_empty(), "keys unknown: silent");
        let p = policy("appraise fowner=0\n");
        assert!(find(&lint(&p, Some(&facts("", None))), "imasig-without-key").is_empty());
    }

    #[test]
    fn kernel_config_findings() {
        let p = policy("appraise fowner=0\n");
        let lint_with = |symbols: &[&str]| lint(&p, Some(&facts("", Some(symbols))));

        let f = lint_with(&["IMA"]);
        let c = find(&f, "appraise-compiled-out");
        assert_eq!((c.len(), c[0].severity), (1, Severity::Error));
        assert!(c[0].message.contains("CONFIG_IMA_APPRAISE"));
        let f = lint_with(&[]);
        assert!(find(&f, "appraise-compiled-out")[0].message.starts_with("CONFIG_IMA is not set"));
        assert!(find(&f, "policy-write-once").is_empty(), "nothing else when IMA is off");

        let f = lint_with(&["IMA", "IMA_APPRAISE", "IMA_WRITE_POLICY"]);
        assert_eq!(find(&f, "appraise-bootparam-off").len(), 1);
        assert!(find(&f, "policy-write-once").is_empty());

        // Ubuntu 24.04 amd64.
        let ubuntu = ["IMA", "IMA_APPRAISE", "IMA_APPRAISE_BOOTPARAM", "IMA_ARCH_POLICY", "MODULE_SIG", "KEXEC_SIG"];
        let f = lint_with(&ubuntu);
        let w = find(&f, "policy-write-once");
        assert_eq!((w.len(), w[0].severity), (1, Severity::Note));
        let a = find(&f, "arch-policy");
        assert_eq!((a.len(), a[0].severity), (1, Severity::Note));
        assert!(!a[0].message.contains("appraise func=MODULE_CHECK"), "MODULE_SIG=y: {}", a[0]);
        assert!(find(&f, "policy-check-appraise").is_empty());
        assert!(find(&f, "appraise-bootparam-off").is_empty());

        let f = lint_with(&[DEBIAN, &["IMA_ARCH_POLICY"]].concat());
        assert!(find(&f, "arch-policy")[0].message.contains("appraise func=MODULE_CHECK appraise_type=imasig"));

        let f = lint_with(&[DEBIAN, &["IMA_APPRAISE_REQUIRE_POLICY_SIGS"]].concat());
        let pc = find(&f, "policy-check-appraise");
        assert_eq!((pc.len(), pc[0].severity, pc[0].line), (1, Severity::Error, None));

        let f = lint_with(
            &[
                DEBIAN,
                &["IMA_ARCH_POLICY", "INTEGRITY_MACHINE_KEYRING", "IMA_KEYRINGS_PERMIT_SIGNED_BY_BUILTIN_OR_SECONDARY"],
            ]
            .concat(),
        );
        let pc = find(&f, "policy-check-appraise");
        assert_eq!((pc.len(), pc[0].severity), (1, Severity::Warning));
        assert!(pc[0].message.contains("Secure Boot"));

        // A rule needing a config option the kernel lacks.
        let p = policy("appraise func=MODULE_CHECK appraise_type=imasig|modsig\n");
        let mut image = facts("", Some(DEBIAN));
        image.ima_keys.push("k".into());
        let f = lint(&p, Some(&image));
        let k = find(&f, "kernel-config-missing");
        assert_eq!((k.len(), k[0].severity, k[0].line), (1, Severity::Error, Some(1)));
        assert!(k[0].message.contains("CONFIG_IMA_APPRAISE_MODSIG"), "{}", k[0]);
        image.kernel_config = Some(config(&[DEBIAN, &["IMA_APPRAISE_MODSIG"]].concat(), None));
        assert!(find(&lint(&p, Some(&image)), "kernel-config-missing").is_empty());
    }

    #[test]
    fn custom_policy_check_rule() {
        let p =
            policy("appraise func=POLICY_CHECK appraise_type=imasig\nappraise func=POLICY_CHECK\nappraise fowner=0\n");
        let f = lint(&p, None);
        let pc = find(&f, "policy-check-appraise");
        assert_eq!(pc.iter().map(|x| x.line).collect::<Vec<_>>(), [Some(1), Some(2)]);
        assert!(pc[0].message.contains("signed"));
        assert!(find(&lint(&policy("appraise fowner=0\n"), None), "policy-check-appraise").is_empty());
    }

    #[test]
    fn kernel_too_old() {
        let p = policy("appraise func=MMAP_CHECK_REQPROT fowner=0\nappraise fowner=0\n");
        let mut image = facts("", None);
        let f = lint(&p, Some(&image));
        let k = find(&f, "kernel-too-old");
        assert_eq!((k.len(), k[0].line), (1, Some(1)));
        assert!(k[0].message.contains("func=MMAP_CHECK_REQPROT needs Linux 6.3"), "{}", k[0]);
        assert!(k[0].message.contains("6.1.0-27-cloud-amd64"));
        image.kernel = parse_release("6.8.0-1015-azure");
        assert!(find(&lint(&p, Some(&image)), "kernel-too-old").is_empty());
        image.kernel = None;
        assert!(find(&lint(&p, Some(&image)), "kernel-too-old").is_empty());
    }

    #[test]
    fn mutable_files() {
        for (text, line) in [
            ("appraise fowner=0\n", Some(1)),
            ("appraise\n", Some(1)),
            ("appraise func=FILE_CHECK mask=^MAY_READ fowner=0\n", Some(1)),
            ("dont_appraise func=BPRM_CHECK\nappraise uid=0\n", Some(2)),
        ] {
            let f = lint(&policy(text), None);
            let m = find(&f, "mutable-files");
            assert_eq!(m.len(), 1, "{text}");
            assert_eq!((m[0].severity, m[0].line), (Severity::Warning, line), "{text}");
            assert!(m[0].message.contains("journal"));
            assert!(m[0].suggestion.as_deref().unwrap().contains("`exec` profile"));
        }
        for text in [
            "appraise func=BPRM_CHECK fowner=0\nappraise func=FILE_CHECK mask=^MAY_WRITE fowner=0\n",
            "appraise fowner=1000\n",
            "dont_appraise fowner=0\nappraise\n",
            "appraise func=FILE_CHECK mask=MAY_WRITE\n",
        ] {
            assert!(find(&lint(&policy(text), None), "mutable-files").is_empty(), "{text}");
        }
    }

    #[test]
    fn final_newline_systemd_and_no_appraise() {
        let p = policy("measure func=BPRM_CHECK\nappraise fowner=0");
        let f = find(&lint(&p, None), "no-final-newline").into_iter().cloned().collect::<Vec<_>>();
        assert_eq!((f.len(), f[0].line), (1, Some(2)));
        assert!(find(&lint(&policy("appraise fowner=0\n"), None), "no-final-newline").is_empty());

        let mut image = facts("", None);
        assert!(find(&lint(&p, Some(&image)), "no-systemd").is_empty());
        image.has_systemd = false;
        let s = lint(&p, Some(&image));
        let s = find(&s, "no-systemd");
        assert_eq!((s.len(), s[0].severity), (1, Severity::Warning));
        assert!(s[0].suggestion.as_deref().unwrap().contains("/sys/kernel/security/ima/policy"));
        assert!(find(&lint(&p, None), "no-systemd").is_empty(), "unknown image: silent");

        let f = lint(&policy("measure func=BPRM_CHECK\n"), None);
        assert_eq!(codes(&f), ["no-appraise-rule"]);
        assert!(find(&lint(&p, None), "no-appraise-rule").is_empty());
    }

    #[test]
    fn display_and_every_code_is_listed_once() {
        let f = Finding {
            severity: Severity::Warning,
            code: "no-xattr-fs",
            line: Some(3),
            message: "m".into(),
            suggestion: Some("s".into()),
        };
        assert_eq!(f.to_string(), "warning [no-xattr-fs] line 3: m — s");
        let mut sorted = CODES.to_vec();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), CODES.len());
        let src = include_str!("lint.rs");
        for code in CODES {
            assert!(src.matches(&format!("\"{code}\",")).count() >= 2, "{code} is produced somewhere");
        }
    }
}
