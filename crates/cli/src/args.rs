//! The command line as given (clap derive). Validation that needs no I/O happens here; the rest
//! in `main.rs` when the options are turned into library calls.

use clap::{Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// Make a Linux guest disk image ready for confidential VMs.
#[derive(Debug, Parser)]
#[command(name = "cvm-image-rewriter", version, about, long_about = None)]
pub struct Cli {
    /// More log output (-v: steps, -vv: details).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// No progress bars and no summary; errors only.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// IMA appraisal: label files offline, install a policy, set the kernel command line.
    #[command(subcommand)]
    Ima(ImaCommand),
    /// Boot a throw-away copy of an image under QEMU and check IMA in the running guest.
    ///
    /// Plants a NoCloud seed, a report script and a tamper probe (a root-owned executable and
    /// data file altered after labelling, next to intact twins) into an overlay, boots it with
    /// UEFI, and reports: cloud-init's final stage reached, /proc/cmdline and the effective
    /// ima_appraise mode, whether the custom policy was loaded, the number of measurements,
    /// every appraisal denial, and whether the tampered files were refused. IMAGE is not modified.
    #[command(after_help = "\
Examples:
  cvm-image-rewriter boot-check debian-ima.qcow2
  cvm-image-rewriter boot-check out.qcow2 --accel tcg --timeout 15m --json --keep-logs logs/

Exit status: 0 every check passed, 1 a check failed, 2 error (no QEMU, unreadable image, ...).")]
    BootCheck(BootCheckArgs),
    /// Run plugin folders against an image: files overlays, host hooks, one cloud-init boot
    /// when needed (checked), then IMA offline and last.
    ///
    /// Plugins are `NN-name` folders (both upstream layouts); a NOT_RUN file skips one. The
    /// listing of what will run is printed first; every plugin is validated before anything
    /// runs. The boot's result is read from cloud-init's own files; its per-instance state and
    /// the seed are removed afterwards. IMA runs when the 98-ima-enable-simple plugin is
    /// active (settings from its ima.conf, policy from its files/etc/ima/ima-policy) or an
    /// --ima-* flag is given (the flags override the plugin's settings).
    #[command(after_help = "\
Examples:
  cvm-image-rewriter run -i debian.qcow2 -o debian-cvm.qcow2 --plugins plugins/
  cvm-image-rewriter run -i in.qcow2 -o out.qcow2 --plugins plugins/ --plugins my-plugins/ --timeout 20m
  cvm-image-rewriter run --config rewriter.toml --ima-hash sha384
  cvm-image-rewriter run -i in.qcow2 -o out.qcow2 --plugins plugins/ --ima-label boot

Exit status: 0 success, 2 any error (a plugin invalid or failing, the boot or cloud-init
failing, a wrong IMA label); the output is written only on success.")]
    Run(RunArgs),
}

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// Input disk image. Never modified. (Config key: `input`.)
    #[arg(short, long, value_name = "IN")]
    pub input: Option<PathBuf>,
    /// Output disk image, written only on success. (`output`)
    #[arg(short, long, value_name = "OUT")]
    pub output: Option<PathBuf>,
    /// A plugin folder, repeatable; plugins from all folders run in NN order. (`plugins`, a list)
    #[arg(long = "plugins", value_name = "DIR")]
    pub plugins: Vec<PathBuf>,
    /// Deadline of the cloud-init boot: 900, 15m, 1h [default: 20m]. (`timeout`)
    #[arg(long, value_parser = parse_duration)]
    pub timeout: Option<std::time::Duration>,
    /// Accelerator for the boot [default: auto]. (`accel`)
    #[arg(long, value_enum)]
    pub accel: Option<AccelArg>,
    /// Keep the boot's console logs in DIR. (`keep_logs`)
    #[arg(long, value_name = "DIR")]
    pub keep_logs: Option<PathBuf>,
    /// Guest memory in MiB [default: 2048]. (`memory`)
    #[arg(long)]
    pub memory: Option<u32>,
    /// Guest CPUs [default: 2]. (`cpus`)
    #[arg(long)]
    pub cpus: Option<u32>,
    /// How the IMA step labels files: offline after the boot (default), or by the guest kernel
    /// in the cloud-init boot (ima_appraise=fix, one pass opening every file, then the final
    /// mode for the next boot: the seed's method, for filesystems other than ext4; not under
    /// Secure Boot). The host verifies every ext4 label either way. (`ima_label`)
    #[arg(long, value_enum)]
    pub ima_label: Option<ImaLabelArg>,
    /// ima_appraise= for the delivered image [default: the IMA plugin's ima.conf, or
    /// enforce]. (`ima_mode`)
    #[arg(long, value_enum)]
    pub ima_mode: Option<Mode>,
    /// Label algorithm and ima_hash= [default: ima.conf, or sha256]. (`ima_hash`)
    #[arg(long, value_enum)]
    pub ima_hash: Option<Hash>,
    /// IMA policy file [default: the IMA plugin's files/etc/ima/ima-policy, or the built-in
    /// default]. (`ima_policy`)
    #[arg(long, value_name = "FILE")]
    pub ima_policy: Option<PathBuf>,
    /// Read settings from a TOML file: the keys named in this help; flags override them.
    /// Paths in it are relative to the file's folder.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Print the report as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, clap::Args)]
pub struct BootCheckArgs {
    /// The image to boot (qcow2 or raw). Not modified: the boot writes to an overlay.
    pub image: PathBuf,
    /// Accelerator: auto probes KVM with a tiny guest and falls back to TCG.
    #[arg(long, value_enum, default_value_t = AccelArg::Auto)]
    pub accel: AccelArg,
    /// Overall boot deadline: 600, 90s, 10m, 1h.
    #[arg(long, default_value = "10m", value_parser = parse_duration)]
    pub timeout: std::time::Duration,
    /// Print the report as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// Keep the overlay, console logs (ttyS0.log, hvc0.log) and QEMU's stderr in DIR.
    #[arg(long, value_name = "DIR")]
    pub keep_logs: Option<PathBuf>,
    /// Guest memory in MiB.
    #[arg(long, default_value_t = 2048)]
    pub memory: u32,
    /// Guest CPUs.
    #[arg(long, default_value_t = 2)]
    pub cpus: u32,
}

#[derive(Debug, Clone, Copy, ValueEnum, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AccelArg {
    /// KVM if a probe guest answers under it, else TCG.
    Auto,
    /// Hardware virtualisation.
    Kvm,
    /// Software emulation.
    Tcg,
}

/// Parses `600`, `90s`, `10m` or `1h`.
pub fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    let (num, unit) = s.trim().split_at(s.trim().find(|c: char| !c.is_ascii_digit()).unwrap_or(s.trim().len()));
    let n: u64 = num.parse().map_err(|_| format!("`{s}` is not a duration; use e.g. 600, 90s, 10m or 1h"))?;
    let secs = match unit {
        "" | "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        _ => return Err(format!("`{s}`: unknown unit `{unit}`; use s, m or h")),
    };
    Ok(std::time::Duration::from_secs(secs))
}

#[derive(Debug, Subcommand)]
pub enum ImaCommand {
    /// Enable IMA appraisal in a guest image, offline.
    ///
    /// Copies IN to OUT (same format), then inside OUT's root ext4: installs the IMA policy at
    /// /etc/ima/ima-policy, sets ima_appraise= and ima_hash= in GRUB_CMDLINE_LINUX_DEFAULT and
    /// in the current /boot/grub/grub.cfg, adds iversion to ext4 lines of /etc/fstab, writes
    /// security.ima on every root-owned regular file, and re-reads every label to verify it.
    /// OUT appears only when all of this succeeded; IN is never modified.
    #[command(after_help = "\
Examples:
  cvm-image-rewriter ima enable -i debian-12.qcow2 -o debian-12-ima.qcow2
  cvm-image-rewriter ima enable -i jammy.img -o jammy-ima.img --hash sha384 --mode log
  cvm-image-rewriter ima enable -i in.qcow2 -o out.qcow2 --policy my-policy --report report.json

Exit status: 0 success, 1 the verification found wrong or missing labels (no output
written), 2 any other error (no output written).")]
    Enable(EnableArgs),
    /// Print the embedded default IMA policy.
    #[command(subcommand)]
    Policy(PolicyCommand),
}

#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Print the default policy `ima enable` installs when --policy is not given.
    #[command(after_help = "\
Examples:
  cvm-image-rewriter ima policy default > my-policy && $EDITOR my-policy
  cvm-image-rewriter ima policy default --profile exec --image debian.qcow2")]
    Default(PolicyDefaultArgs),
    /// Check a policy against the kernel's grammar and, with --image, against an image.
    ///
    /// Every line the kernel would reject is an error with line:column, the token and a hint.
    /// With --image: filesystems that cannot hold labels under an appraise rule, LSM rules
    /// without an LSM, kernel configuration that ignores or disables appraisal, signatures
    /// without keys, the mutable-file trap, and more (`ima enable` runs the same checks).
    #[command(after_help = "\
Examples:
  cvm-image-rewriter ima policy check my-policy
  cvm-image-rewriter ima policy check my-policy --image debian.qcow2 --json

Exit status: 0 no errors (and no warnings with --deny-warnings), 1 problems found, 2 error.")]
    Check(PolicyCheckArgs),
}

#[derive(Debug, clap::Args)]
pub struct PolicyDefaultArgs {
    /// tcb: appraise every file root owns (the seed's intent); exec: appraise what runs.
    #[arg(long, value_enum, default_value_t = ProfileArg::Tcb)]
    pub profile: ProfileArg,
    /// Adapt the policy to this image (exclude the filesystems its fstab mounts that cannot
    /// hold labels).
    #[arg(long, value_name = "IMG")]
    pub image: Option<PathBuf>,
    /// The image's root partition number, if it cannot be found through /etc/fstab.
    #[arg(long, value_name = "N")]
    pub root_partition: Option<u32>,
}

#[derive(Debug, clap::Args)]
pub struct PolicyCheckArgs {
    /// The policy file.
    pub file: PathBuf,
    /// Also check it against this image (its fstab, kernel and configuration).
    #[arg(long, value_name = "IMG")]
    pub image: Option<PathBuf>,
    /// The image's root partition number, if it cannot be found through /etc/fstab.
    #[arg(long, value_name = "N")]
    pub root_partition: Option<u32>,
    /// Treat warnings as errors.
    #[arg(long)]
    pub deny_warnings: bool,
    /// Print the findings as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ProfileArg {
    /// Appraise every file owned by root.
    Tcb,
    /// Appraise what runs: executables, executable mappings, modules, firmware, kexec.
    Exec,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LabelArg {
    /// Exactly the files the policy may appraise.
    Policy,
    /// Every root-owned regular file, whatever the policy.
    AllRoot,
}

#[derive(Debug, clap::Args)]
pub struct EnableArgs {
    /// Input disk image (qcow2 or raw: GPT, MBR or a bare ext4). Never modified.
    #[arg(short, long, value_name = "IN")]
    pub input: PathBuf,
    /// Output disk image, same format as the input. Written only on success.
    #[arg(short, long, value_name = "OUT")]
    pub output: PathBuf,
    /// IMA policy file to install (default: `cvm-image-rewriter ima policy default`).
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,
    /// The default policy's profile when --policy is not given.
    #[arg(long, value_enum, default_value_t = ProfileArg::Tcb, conflicts_with = "policy")]
    pub profile: ProfileArg,
    /// Which files get labels: what the policy may appraise, or every root-owned file.
    #[arg(long, value_enum, default_value_t = LabelArg::Policy)]
    pub label: LabelArg,
    /// Refuse to write the image when the policy checks give warnings, not only errors.
    #[arg(long)]
    pub deny_warnings: bool,
    /// Appraisal mode for the next boot (ima_appraise=).
    #[arg(long, value_enum, default_value_t = Mode::Enforce)]
    pub mode: Mode,
    /// Hash algorithm for the labels and ima_hash=.
    #[arg(long, value_enum, default_value_t = Hash::Sha256)]
    pub hash: Hash,
    /// Do not add `iversion` to the ext4 lines of /etc/fstab.
    #[arg(long)]
    pub no_iversion: bool,
    /// Add rootflags=i_version even if the image's kernel is 6.1 or newer (which ignores it).
    #[arg(long)]
    pub rootflags_i_version: bool,
    /// The root filesystem's partition number (0 for a disk without a partition table),
    /// instead of finding it through each filesystem's /etc/fstab.
    #[arg(long, value_name = "N")]
    pub root_partition: Option<u32>,
    /// Write the report as JSON to FILE.
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
    /// Print the report as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ImaLabelArg {
    /// Offline, straight into the ext4, after the boot.
    Offline,
    /// By the guest kernel in fix mode, in the cloud-init boot.
    Boot,
}

#[derive(Debug, Clone, Copy, ValueEnum, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Deny files whose label is missing or wrong.
    Enforce,
    /// Allow, but log appraisal failures.
    Log,
    /// Allow and let the kernel rewrite labels (ignored under Secure Boot).
    Fix,
}

#[derive(Debug, Clone, Copy, ValueEnum, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Hash {
    /// SHA-256 (labels 04 04 <32 bytes>).
    Sha256,
    /// SHA-384 (04 05 <48 bytes>).
    Sha384,
    /// SHA-512 (04 06 <64 bytes>).
    Sha512,
    /// SHA-1 (01 <20 bytes>), legacy.
    Sha1,
    /// SM3 (04 11 <32 bytes>).
    Sm3,
}
