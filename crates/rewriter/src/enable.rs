//! The `ima enable` pipeline: copy the image, install the policy, set the kernel command line
//! (grub defaults and the current grub.cfg), add `iversion` to fstab, label every root-owned
//! file, verify every label on a fresh read, and only then put the output in place.
//!
//! The edits come before the labelling because the edited files are root-owned too: their
//! labels must match their final content.

use crate::disk::{DiskImage, ImageFormat, StagedOutput};
use crate::error::{Error, Result};
use crate::fs::GuestFs;
use crate::fstab::{self, DeviceSpec};
use crate::grub::{self, CmdlineChange};
use crate::guest::{self, RootChoice};
use crate::ima::label::{self, LabelSummary, Selection, VerifySummary};
use crate::ima::lint::{self, Finding, ImageFacts};
use crate::ima::policy_lang;
use crate::ima::profile::{self, Profile};
use crate::ima::{policy, AppraiseMode, HashAlgo};
use crate::kernel;
use crate::partition::{self, Partition, TableKind};
use crate::progress::Progress;
use ext2fs::OpenMode;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

/// Where the policy comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PolicySource {
    /// The embedded [`policy::default_policy`].
    Default,
    /// A file on the host.
    File(PathBuf),
}

/// Which files get labels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LabelScope {
    /// Exactly the files the policy may appraise (conservatively).
    Policy,
    /// Every root-owned regular file, whatever the policy (the seed's behaviour).
    AllRoot,
}

/// Whether to add `rootflags=i_version`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RootflagsIVersion {
    /// Only when the kernel grub boots is older than 6.1 (ext4 ignores the option since).
    Auto,
    /// Always (the root must still be ext4).
    Force,
}

/// Everything `ima enable` needs.
#[derive(Debug, Clone)]
pub struct EnableOptions {
    /// Input image (never modified).
    pub input: PathBuf,
    /// Output image (written only when everything succeeded).
    pub output: PathBuf,
    /// The policy to install.
    pub policy: PolicySource,
    /// `ima_appraise=`.
    pub mode: AppraiseMode,
    /// `ima_hash=` and the label algorithm.
    pub hash: HashAlgo,
    /// Add `iversion` to ext4 lines of fstab.
    pub iversion: bool,
    /// `rootflags=i_version` policy.
    pub rootflags_i_version: RootflagsIVersion,
    /// Root partition number chosen by the user (0: a bare filesystem).
    pub root_partition: Option<u32>,
    /// The default policy's profile, when no policy file is given.
    pub profile: Profile,
    /// Which files get labels.
    pub label: LabelScope,
    /// Refuse on lint warnings too, not only on errors.
    pub deny_warnings: bool,
}

/// What `ima enable` did; serialised as the `--report` JSON.
#[derive(Debug, Clone, serde::Serialize)]
pub struct EnableReport {
    /// Input image.
    pub input: PathBuf,
    /// Output image.
    pub output: PathBuf,
    /// Image format of both.
    pub format: ImageFormat,
    /// Partition table kind.
    pub partition_table: TableKind,
    /// The root filesystem.
    pub root: RootReport,
    /// `ima_appraise=` value.
    pub mode: AppraiseMode,
    /// Label and `ima_hash=` algorithm.
    pub hash: HashAlgo,
    /// The policy step.
    pub policy: PolicyReport,
    /// The kernel command line step.
    pub cmdline: CmdlineReport,
    /// The fstab step.
    pub fstab: FstabReport,
    /// Labels over all labelled filesystems.
    pub labels: LabelSummary,
    /// Per filesystem.
    pub filesystems: Vec<FilesystemReport>,
    /// The verification pass.
    pub verify: VerifySummary,
    /// Things the user should know that did not stop the run.
    pub warnings: Vec<String>,
    /// Wall-clock seconds of the whole run.
    pub seconds: f64,
}

/// The root filesystem in the report.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RootReport {
    /// Partition number (`None` for a bare filesystem).
    pub partition: Option<u32>,
    /// Filesystem UUID.
    pub uuid: Option<String>,
    /// Filesystem label.
    pub label: Option<String>,
    /// Byte offset on the disk.
    pub offset: u64,
    /// Why this one.
    pub reason: String,
}

/// The policy step in the report.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PolicyReport {
    /// Guest path.
    pub path: String,
    /// `default (profile tcb)` or the host file.
    pub source: String,
    /// Whether the file was written (false: it already had this content).
    pub changed: bool,
    /// What the checks against this image found (errors refuse the run before this report).
    pub findings: Vec<Finding>,
}

/// The command line step in the report.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CmdlineReport {
    /// Parameters set.
    pub set: Vec<String>,
    /// Whether `rootflags=i_version` was added, and why (not).
    pub rootflags_i_version: bool,
    /// The reasoning for rootflags.
    pub rootflags_reason: String,
    /// Guest files changed (grub defaults, grub.cfg).
    pub files_changed: Vec<String>,
    /// The grub.cfg edited, if one was found.
    pub grub_cfg: Option<String>,
    /// `linux` lines changed in grub.cfg.
    pub grub_cfg_entries_changed: usize,
}

/// The fstab step in the report.
#[derive(Debug, Clone, serde::Serialize)]
pub struct FstabReport {
    /// Whether `iversion` was requested.
    pub iversion: bool,
    /// 1-based line numbers changed.
    pub changed_lines: Vec<usize>,
}

/// Labels of one filesystem.
#[derive(Debug, Clone, serde::Serialize)]
pub struct FilesystemReport {
    /// Where the guest mounts it.
    pub mount_point: String,
    /// Its partition.
    pub partition: Option<u32>,
    /// Labels written there.
    pub labels: LabelSummary,
}

impl EnableReport {
    /// Returns true if and only if every label checked out and nothing was left unlabelled.
    pub fn is_clean(&self) -> bool {
        self.verify.mismatches.is_empty() && self.labels.cannot_label.is_empty()
    }
}

/// What `ima enable` will do to an image, checked before anything is written.
pub struct ImaPlan {
    /// The policy to install (normalised: final newline).
    pub policy_bytes: Vec<u8>,
    /// Where it came from, for the report.
    pub policy_source: String,
    /// What the checks against the image found.
    pub findings: Vec<Finding>,
    /// Which files get labels.
    pub selection: Selection,
    /// The image's partitions.
    pub table: partition::PartitionTable,
    /// Its root filesystem.
    pub root: RootChoice,
    /// Its format.
    pub format: ImageFormat,
    /// Its qcow2 header (what the staged copy needs), for qcow2 images.
    pub qcow2: Option<crate::disk::Qcow2Header>,
}

impl ImaPlan {
    /// Re-reads the partitions of the image at `path` (a boot may have grown the root
    /// partition) so that the labels go through the current bounds.
    pub fn refresh_partitions(&mut self, path: &std::path::Path) -> Result<()> {
        let (table, root) = guest::reread_root(path, &self.root)?;
        self.table = table;
        self.root = root;
        Ok(())
    }
}

/// Reads `image` (read-only), finds its root and checks the policy against it.
pub fn plan(image: &std::path::Path, opts: &EnableOptions) -> Result<ImaPlan> {
    // Read the policy file before touching any image: a typo there is the cheapest error.
    let policy_file = match &opts.policy {
        PolicySource::File(path) => Some(read_policy_file(path)?),
        PolicySource::Default => None,
    };
    let (disk, table, root) = guest::locate_root(image, opts.root_partition)?;
    let format = disk.format();
    let qcow2 = disk.qcow2_header().cloned();
    tracing::info!("root filesystem: {} ({})", root.partition.describe(), root.reason);
    let facts = {
        let fs = GuestFs::open(disk.clone(), &root.partition, OpenMode::ReadOnly)?;
        guest::image_facts(&fs, None)?
    };
    let (policy_bytes, policy_source) = match policy_file {
        Some((bytes, name)) => (bytes, name),
        None => (
            profile::default_policy(opts.profile, Some(&facts)).into_bytes(),
            format!("default (profile {})", opts.profile.name()),
        ),
    };
    let (parsed_policy, mut findings) = check_policy(&policy_bytes, &policy_source, &facts, opts.deny_warnings)?;
    if let Some(f) = lint::hash_availability(&facts, opts.hash) {
        if f.refuses(opts.deny_warnings) {
            return Err(Error::Guest {
                path: facts.kernel.as_ref().map_or("/boot".into(), |k| format!("/boot/config-{}", k.release)),
                message: format!("{} (--hash {}). {}", f.message, opts.hash, f.suggestion.clone().unwrap_or_default()),
            });
        }
        findings.push(f);
    }
    let selection = match opts.label {
        LabelScope::Policy => Selection::Policy(Arc::new(parsed_policy)),
        LabelScope::AllRoot => Selection::RootOwned,
    };
    Ok(ImaPlan { policy_bytes, policy_source, findings, selection, table, root, format, qcow2 })
}

/// What [`apply`] did.
pub struct Applied {
    /// Whether the policy file was written.
    pub policy_changed: bool,
    /// The command line step.
    pub cmdline: CmdlineReport,
    /// The fstab step.
    pub fstab: FstabReport,
    /// Labels per filesystem.
    pub filesystems: Vec<FilesystemReport>,
    /// The verification.
    pub verify: VerifySummary,
    /// Warnings.
    pub warnings: Vec<String>,
}

/// What [`configure`] did: everything but the labels.
pub struct Configured {
    /// Whether the policy file was written.
    pub policy_changed: bool,
    /// The command line step.
    pub cmdline: CmdlineReport,
    /// The fstab step.
    pub fstab: FstabReport,
    /// Warnings.
    pub warnings: Vec<String>,
    /// The other ext filesystems the guest mounts, by mount point: labelled and verified with
    /// the root.
    pub extra: Vec<(String, Partition)>,
}

/// Applies `plan` to the image at `path` in place (policy, command line, fstab, labels,
/// verification) and flushes it. Used on a staged copy: by `enable` and, as the last step, by
/// the plugin pipeline.
pub fn apply(path: &std::path::Path, plan: &ImaPlan, opts: &EnableOptions, progress: &dyn Progress) -> Result<Applied> {
    let Configured { policy_changed, cmdline, fstab, warnings, extra } = configure(path, plan, opts)?;
    let disk = Arc::new(DiskImage::open(path, true)?);
    let selection = &plan.selection;
    let mut filesystems = Vec::new();
    for (mp, p) in mounted(plan, &extra) {
        let mut fs = GuestFs::open(disk.clone(), &p, OpenMode::ReadWrite)?;
        let labels = label::label(&mut fs, opts.hash, selection, progress)?;
        filesystems.push(FilesystemReport { mount_point: mp, partition: p.number, labels });
        fs.close()?;
    }
    disk.flush()?;
    drop(disk);
    tracing::info!("labels written; verifying every label on a fresh read");
    let verify = verify_labels(path, plan, opts, progress)?;
    Ok(Applied { policy_changed, cmdline, fstab, filesystems, verify, warnings })
}

/// Installs the policy, sets the kernel command line (with `opts.mode`) and adds `iversion` to
/// fstab, in place, without labelling anything. `run --ima-label boot` uses it with mode `fix`
/// before the boot that labels.
pub fn configure(path: &std::path::Path, plan: &ImaPlan, opts: &EnableOptions) -> Result<Configured> {
    let (table, root) = (&plan.table, &plan.root);
    let disk = Arc::new(DiskImage::open(path, true)?);
    let mut warnings = Vec::new();
    let mut fs = GuestFs::open(disk.clone(), &root.partition, OpenMode::ReadWrite)?;
    if !fs.raw().superblock().has_xattrs {
        return Err(Error::Filesystem {
            location: fs.location().to_string(),
            cause: ext2fs::Error::new_public("check features", ext2fs::Code::NoXattrSupport, "the filesystem has no ext_attr feature, so it cannot hold IMA labels; enable it with `tune2fs -O ext_attr`"),
        });
    }
    let fstab_text = fs.read_text("/etc/fstab")?.unwrap_or_default();
    let extra = extra_filesystems(table, root, &fstab_text, &mut warnings);
    let policy_changed = install_policy(&mut fs, &plan.policy_bytes)?;
    tracing::info!("policy {}: {}", policy::POLICY_PATH, if policy_changed { "written" } else { "already in place" });
    let mut boot_fs = match extra.iter().find(|(mp, _)| mp == "/boot") {
        Some((_, p)) => Some(GuestFs::open(disk.clone(), p, OpenMode::ReadWrite)?),
        None => None,
    };
    let cmdline = set_cmdline(&mut fs, boot_fs.as_mut(), opts, &root.partition, &mut warnings)?;
    tracing::info!("kernel command line: {} ({})", cmdline.set.join(" "), cmdline.rootflags_reason);
    let fstab = edit_fstab(&mut fs, &fstab_text, opts.iversion)?;
    if let Some(b) = boot_fs {
        b.close()?;
    }
    fs.close()?;
    disk.flush()?;
    Ok(Configured { policy_changed, cmdline, fstab, warnings, extra })
}

/// Other ext filesystems the guest mounts (a separate /boot, say): the seed's
/// `find / -fstype ext4` reaches them too, and grub.cfg may live there.
fn extra_filesystems(
    table: &partition::PartitionTable,
    root: &RootChoice,
    fstab_text: &str,
    warnings: &mut Vec<String>,
) -> Vec<(String, Partition)> {
    let entries = fstab::parse(fstab_text);
    let ext = |e: &&fstab::FstabEntry| e.mount_point != "/" && matches!(e.fs_type.as_str(), "ext4" | "ext3" | "ext2");
    let extra: Vec<(String, Partition)> = entries
        .iter()
        .filter(ext)
        .filter_map(|e| {
            let spec = DeviceSpec::parse(&e.spec);
            table
                .partitions
                .iter()
                .find(|p| p.fs_type.is_ext() && p != &&root.partition && guest::spec_matches(&spec, p))
                .map(|p| (e.mount_point.clone(), p.clone()))
        })
        .collect();
    for e in entries.iter().filter(ext) {
        if !extra.iter().any(|(mp, _)| mp == &e.mount_point) {
            warnings.push(format!(
                "fstab mounts {} ({}) on {}, but no partition of this disk matches it: its files are not labelled",
                e.spec, e.fs_type, e.mount_point
            ));
        }
    }
    extra
}

/// The root and the other ext filesystems, by mount point.
fn mounted<'a>(plan: &'a ImaPlan, extra: &'a [(String, Partition)]) -> impl Iterator<Item = (String, Partition)> + 'a {
    std::iter::once(("/".to_string(), plan.root.partition.clone())).chain(extra.iter().cloned())
}

/// The other ext filesystems the root's fstab mounts, as they are now in the image.
fn current_extras(disk: &Arc<DiskImage>, plan: &ImaPlan) -> Result<Vec<(String, Partition)>> {
    let fs = GuestFs::open(disk.clone(), &plan.root.partition, OpenMode::ReadOnly)?;
    let fstab_text = fs.read_text("/etc/fstab")?.unwrap_or_default();
    fs.close()?;
    Ok(extra_filesystems(&plan.table, &plan.root, &fstab_text, &mut Vec::new()))
}

/// Re-reads every label the plan selects on the root and the other ext filesystems of the
/// image at `path`, on freshly opened filesystems (nothing cached from a writing pass).
pub fn verify_labels(
    path: &std::path::Path,
    plan: &ImaPlan,
    opts: &EnableOptions,
    progress: &dyn Progress,
) -> Result<VerifySummary> {
    let disk = Arc::new(DiskImage::open(path, false)?);
    let extra = current_extras(&disk, plan)?;
    let mut verify = VerifySummary::default();
    for (mp, p) in mounted(plan, &extra) {
        let check = GuestFs::open(disk.clone(), &p, OpenMode::ReadOnly)?;
        let v = label::verify(&check, opts.hash, &plan.selection, progress)?;
        verify.files_checked += v.files_checked;
        verify.bytes_hashed += v.bytes_hashed;
        verify.seconds += v.seconds;
        verify.mismatches.extend(v.mismatches.into_iter().map(|mut m| {
            if mp != "/" {
                m.path = format!("{}{}", mp.trim_end_matches('/'), m.path);
            }
            m
        }));
        check.close()?;
    }
    Ok(verify)
}

/// Checks that every `linux` line of the image's grub.cfg boots with `ima_appraise=<mode>`;
/// returns the grub.cfg's guest path, or an error naming what is wrong.
pub fn check_grub_cfg_mode(path: &std::path::Path, plan: &ImaPlan, mode: AppraiseMode) -> Result<String> {
    let disk = Arc::new(DiskImage::open(path, false)?);
    let extra = current_extras(&disk, plan)?;
    let boot = extra.iter().find(|(mp, _)| mp == "/boot").map(|(_, p)| p);
    let fs = GuestFs::open(disk.clone(), boot.unwrap_or(&plan.root.partition), OpenMode::ReadOnly)?;
    let Some(GrubCfg { shown, text, .. }) = read_grub_cfg(&fs, boot.is_some())? else {
        return Err(Error::Guest { path: "/boot/grub/grub.cfg".into(), message: "not found".into() });
    };
    let want = mode.kernel_name();
    let change = CmdlineChange { set: vec![("ima_appraise".into(), want.into())], remove: Vec::new() };
    let (_, wrong) = grub::edit_grub_cfg(&text, &change);
    let linux = linux_lines(&text);
    if linux == 0 || wrong > 0 {
        return Err(Error::Guest {
            path: shown,
            message: format!("{wrong} of {linux} linux line(s) do not boot with ima_appraise={want}"),
        });
    }
    Ok(shown)
}

/// The current grub.cfg of a guest.
struct GrubCfg {
    /// Its path in the filesystem it was read from.
    inner: String,
    /// Its path as the guest sees it.
    shown: String,
    text: String,
}

/// Reads grub.cfg (or grub2/grub.cfg) from `fs`: the separate /boot filesystem when
/// `on_boot_fs`, else the root.
fn read_grub_cfg(fs: &GuestFs, on_boot_fs: bool) -> Result<Option<GrubCfg>> {
    for candidate in ["/grub/grub.cfg", "/grub2/grub.cfg"] {
        let inner = if on_boot_fs { candidate.to_string() } else { format!("/boot{candidate}") };
        if let Some(text) = fs.read_text(&inner)? {
            let shown = if on_boot_fs { format!("/boot{inner}") } else { inner.clone() };
            return Ok(Some(GrubCfg { inner, shown, text }));
        }
    }
    Ok(None)
}

/// The `linux` lines of a grub.cfg.
fn linux_lines(text: &str) -> usize {
    text.lines().filter(|l| l.trim_start().starts_with("linux")).count()
}

/// Runs the pipeline. On error (or when the verification finds a wrong label) the output is
/// not created and the input is untouched.
pub fn enable(opts: &EnableOptions, progress: &dyn Progress) -> Result<EnableReport> {
    let started = Instant::now();
    let plan = plan(&opts.input, opts)?;
    tracing::info!("copying {} to a temporary file beside {}", opts.input.display(), opts.output.display());
    let staged = StagedOutput::copy_from(&opts.input, plan.qcow2.as_ref(), &opts.output, progress)?;
    let applied = apply(staged.path(), &plan, opts, progress)?;
    let report = EnableReport {
        input: opts.input.clone(),
        output: opts.output.clone(),
        format: plan.format,
        partition_table: plan.table.kind,
        root: root_report(&plan.root),
        mode: opts.mode,
        hash: opts.hash,
        policy: PolicyReport {
            path: policy::POLICY_PATH.into(),
            source: plan.policy_source.clone(),
            changed: applied.policy_changed,
            findings: plan.findings.clone(),
        },
        cmdline: applied.cmdline,
        fstab: applied.fstab,
        labels: sum_labels(&applied.filesystems),
        filesystems: applied.filesystems,
        verify: applied.verify,
        warnings: applied.warnings,
        seconds: started.elapsed().as_secs_f64(),
    };
    if report.is_clean() {
        staged.commit()?;
    }
    Ok(report)
}

/// Reads the facts the policy checks need from an image (read-only).
pub fn image_facts_of(image: &std::path::Path, root_partition: Option<u32>) -> Result<ImageFacts> {
    let (disk, _, root) = guest::locate_root(image, root_partition)?;
    let fs = GuestFs::open(disk, &root.partition, OpenMode::ReadOnly)?;
    guest::image_facts(&fs, None)
}

fn read_policy_file(path: &std::path::Path) -> Result<(Vec<u8>, String)> {
    let name = path.display().to_string();
    let bytes = std::fs::read(path)
        .map_err(|e| Error::Policy { source_name: name.clone(), message: format!("cannot be read: {e}") })?;
    Ok((policy::prepare(&bytes, &name)?, name))
}

/// Parses the policy and lints it against the image: errors always refuse, warnings refuse
/// with `deny_warnings`; what remains goes into the report.
pub fn check_policy(
    bytes: &[u8],
    name: &str,
    facts: &ImageFacts,
    deny_warnings: bool,
) -> Result<(policy_lang::Policy, Vec<Finding>)> {
    let bytes = policy::prepare(bytes, name)?;
    let text = String::from_utf8(bytes).expect("prepare checked UTF-8");
    let parsed = policy_lang::parse(&text).map_err(|errors| Error::Policy {
        source_name: name.to_string(),
        message: errors.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("; "),
    })?;
    let findings = lint::lint(&parsed, Some(facts));
    let refusing: Vec<&Finding> = findings.iter().filter(|f| f.refuses(deny_warnings)).collect();
    if !refusing.is_empty() {
        let list: Vec<String> = refusing.iter().map(|f| format!("  {f}")).collect();
        return Err(Error::Policy {
            source_name: name.to_string(),
            message: format!(
                "would not work on this image ({} problem{}{}):\n{}",
                refusing.len(),
                if refusing.len() == 1 { "" } else { "s" },
                if deny_warnings { ", warnings denied" } else { "" },
                list.join("\n")
            ),
        });
    }
    Ok((parsed, findings))
}

fn install_policy(fs: &mut GuestFs, bytes: &[u8]) -> Result<bool> {
    let path = policy::POLICY_PATH;
    let mut changed = fs.write(path, bytes, 0o644)?;
    let ino = fs.find(path)?.expect("just written");
    let meta = fs.raw().metadata(ino).map_err(|e| fs.err(e))?;
    if (meta.uid, meta.gid, meta.mode) != (0, 0, 0o644) {
        let now =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as u32).unwrap_or(0);
        fs.raw_mut().set_owner_mode(ino, 0, 0, 0o644, now).map_err(|e| fs.err(e))?;
        changed = true;
    }
    Ok(changed)
}

const DEFAULT_GRUB: &str = "/etc/default/grub";
const DEFAULT_GRUB_D: &str = "/etc/default/grub.d";

fn grub_error(path: &str, e: grub::GrubError) -> Error {
    Error::Guest { path: path.into(), message: e.to_string() }
}

fn set_cmdline(
    fs: &mut GuestFs,
    boot_fs: Option<&mut GuestFs>,
    opts: &EnableOptions,
    root: &Partition,
    warnings: &mut Vec<String>,
) -> Result<CmdlineReport> {
    // The grub defaults files, in the order grub-mkconfig sources them.
    let mut paths: Vec<String> = Vec::new();
    if fs.find(DEFAULT_GRUB)?.is_some() {
        paths.push(DEFAULT_GRUB.into());
    }
    let mut dropins: Vec<String> = fs.list_dir(DEFAULT_GRUB_D)?.into_iter().filter(|n| n.ends_with(".cfg")).collect();
    dropins.sort();
    paths.extend(dropins.into_iter().map(|n| format!("{DEFAULT_GRUB_D}/{n}")));
    let mut texts = Vec::new();
    for p in &paths {
        texts.push(fs.read_text(p)?.unwrap_or_default());
    }
    let files: Vec<(&str, &str)> = paths.iter().map(String::as_str).zip(texts.iter().map(String::as_str)).collect();
    if files.is_empty() {
        return Err(Error::Guest {
            path: DEFAULT_GRUB.into(),
            message: "not found (nor /etc/default/grub.d/*.cfg): the kernel command line is set through grub, and this image does not seem to boot with grub".into(),
        });
    }

    // rootflags=i_version: only for kernels that still honour it, and only on ext4.
    let boot_names: Vec<String> = match &boot_fs {
        Some(b) => b.list_dir("/")?,
        None => fs.list_dir("/boot")?,
    };
    let names: Vec<&str> = boot_names.iter().map(String::as_str).collect();
    let kernels = kernel::releases_from_boot_listing(&names);
    let newest = kernels.last();
    let root_is_ext4 = root.fs_type == crate::partition::FsType::Ext4;
    let (add_rootflags, rootflags_reason) = match (opts.rootflags_i_version, newest) {
        _ if !root_is_ext4 => {
            (false, format!("the root filesystem is {}, and i_version is an ext4 option", root.fs_type.name()))
        }
        (RootflagsIVersion::Force, _) => (true, "--rootflags-i-version".to_string()),
        (RootflagsIVersion::Auto, Some(k)) if kernel::honours_rootflags_i_version(k) => {
            (true, format!("kernel {} is older than 6.1: ext4 needs the i_version mount option", k.release))
        }
        (RootflagsIVersion::Auto, Some(k)) => {
            (false, format!("kernel {} always enables i_version on ext4 (since 6.1) and ignores the option", k.release))
        }
        (RootflagsIVersion::Auto, None) => {
            (false, "no kernel found in /boot; not adding it (use --rootflags-i-version to force)".to_string())
        }
    };
    let mut set = vec![
        ("ima_appraise".to_string(), opts.mode.kernel_name().to_string()),
        ("ima_hash".to_string(), opts.hash.kernel_name().to_string()),
    ];
    if add_rootflags {
        // Keep other rootflags the user has, adding i_version to them.
        let existing = grub::effective_default(&files)
            .map_err(|e| grub_error(DEFAULT_GRUB, e))?
            .and_then(|(_, a)| grub::parse_cmdline_param(&a.value, "rootflags"));
        let value = match existing {
            Some(v) if v.split(',').any(|o| o == "i_version") => v,
            Some(v) if !v.is_empty() => format!("{v},i_version"),
            _ => "i_version".to_string(),
        };
        set.push(("rootflags".to_string(), value));
    }
    let change = CmdlineChange { set: set.clone(), remove: Vec::new() };
    let mut files_changed = Vec::new();
    for (path, text) in grub::edit_defaults(&files, &change).map_err(|e| grub_error(DEFAULT_GRUB, e))? {
        fs.write(&path, text.as_bytes(), 0o644)?;
        files_changed.push(path);
    }

    // The offline update-grub: the same change on the linux lines of the current grub.cfg.
    let on_boot_fs = boot_fs.is_some();
    let cfg_fs: &mut GuestFs = boot_fs.unwrap_or(fs);
    let (grub_cfg, entries_changed) = match read_grub_cfg(cfg_fs, on_boot_fs)? {
        Some(GrubCfg { inner, shown, text }) => {
            let (new, n) = grub::edit_grub_cfg(&text, &change);
            if new != text {
                cfg_fs.write(&inner, new.as_bytes(), 0o644)?;
                files_changed.push(shown.clone());
            }
            if n == 0 && linux_lines(&text) == 0 {
                warnings.push(format!(
                    "{shown} has no linux lines: the new command line applies after the next update-grub in the guest"
                ));
            }
            (Some(shown), n)
        }
        None => {
            warnings.push(
                "no /boot/grub/grub.cfg found: the new command line applies after the next update-grub in the guest"
                    .into(),
            );
            (None, 0)
        }
    };
    Ok(CmdlineReport {
        set: set.iter().map(|(k, v)| format!("{k}={v}")).collect(),
        rootflags_i_version: add_rootflags,
        rootflags_reason,
        files_changed,
        grub_cfg,
        grub_cfg_entries_changed: entries_changed,
    })
}

fn edit_fstab(fs: &mut GuestFs, text: &str, iversion: bool) -> Result<FstabReport> {
    if !iversion {
        return Ok(FstabReport { iversion, changed_lines: Vec::new() });
    }
    let (new, changed_lines) = fstab::add_iversion(text);
    if new != text {
        fs.write("/etc/fstab", new.as_bytes(), 0o644)?;
    }
    Ok(FstabReport { iversion, changed_lines })
}

fn root_report(root: &RootChoice) -> RootReport {
    RootReport {
        partition: root.partition.number,
        uuid: root.partition.fs_uuid.clone(),
        label: root.partition.fs_label.clone(),
        offset: root.partition.start,
        reason: root.reason.clone(),
    }
}

fn sum_labels(filesystems: &[FilesystemReport]) -> LabelSummary {
    let mut total = LabelSummary::default();
    for f in filesystems {
        let l = &f.labels;
        total.files_labelled += l.files_labelled;
        total.files_unchanged += l.files_unchanged;
        total.files_total += l.files_total;
        total.hard_links += l.hard_links;
        total.bytes_hashed += l.bytes_hashed;
        total.seconds += l.seconds;
        for (k, v) in &l.skipped {
            *total.skipped.entry(k.clone()).or_default() += v;
        }
        total.cannot_label.extend(l.cannot_label.iter().cloned());
        for r in &l.rules {
            match total.rules.iter_mut().find(|t| t.line == r.line) {
                Some(t) => t.files += r.files,
                None => total.rules.push(r.clone()),
            }
        }
    }
    total
}
