//! `run`: the upstream plugin pipeline, checked.
//!
//! Order: discover and validate the plugins (nothing runs before every plugin is valid) and
//! check the IMA plan against the input; copy the input to a staged output; per plugin, its
//! `files/` overlay (offline), its pre-stage `host_run.sh` (image closed, `GUEST_IMG` set) and
//! its `guest_run.sh` copy; then, only when some part needs the guest, one boot with a NoCloud
//! seed planted in the image (base user-data last: it powers off and has no password), whose
//! result cloud-init's own files tell; then the per-instance cloud-init state and our seed are
//! removed; post-stage hooks; and IMA, offline and last, so every file the boot changed is
//! labelled with its final content. With [`LabelMethod::Boot`], the guest kernel labels in fix
//! mode during that boot instead, and the host checks every label afterwards. The output is
//! renamed into place only at the end.

use crate::cloudinit::{multipart, random_boundary, unique_instance_id, Part, Seed};
use crate::disk::{DiskImage, StagedOutput};
use crate::enable::{self, Applied, Configured, EnableOptions, ImaPlan};
use crate::error::{Error, Result};
use crate::fs::GuestFs;
use crate::guest::{self, RootChoice};
use crate::ima::boot_label::{self, PassReport};
use crate::ima::AppraiseMode;
use crate::plugin::{self, GuestFileKind, Plugin};
use crate::progress::Progress;
use crate::qemu::{resolve_accel, Accel, BootResult, Outcome, QemuRun};
use ext2fs::OpenMode;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Everything `run` needs.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Input image (never modified).
    pub input: PathBuf,
    /// Output image, written only when everything succeeded.
    pub output: PathBuf,
    /// Plugin folders, in the order given.
    pub plugin_dirs: Vec<PathBuf>,
    /// Deadline of the cloud-init boot.
    pub timeout: Duration,
    /// Accelerator for the boot.
    pub accel: Accel,
    /// Keep the boot's console logs here.
    pub keep_logs: Option<PathBuf>,
    /// Stream the guest consoles to stderr.
    pub stream: bool,
    /// Guest memory in MiB.
    pub memory_mib: u32,
    /// Guest CPUs.
    pub cpus: u32,
    /// The IMA step's options (input/output are ignored: it works on the staged image), or
    /// `None` for no IMA step.
    pub ima: Option<EnableOptions>,
    /// How the IMA step labels files.
    pub ima_label: LabelMethod,
}

/// How `run` labels files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LabelMethod {
    /// Offline, after the boot and the post-stage hooks, straight into the ext4 (the default).
    #[default]
    Offline,
    /// By the guest kernel, in the cloud-init boot: `ima_appraise=fix`, a pass that opens every
    /// file, then the final mode for the next boot (the seed's method; not under Secure Boot).
    /// Labels on filesystems we cannot write offline too; the host verifies the ext4 ones.
    Boot,
}

/// What the run did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RunReport {
    /// Plugins found, in order, with what they have (the listing printed first).
    pub plugins: Vec<String>,
    /// The boot, when there was one.
    pub boot: Option<BootResult>,
    /// cloud-init's data source in the boot (`DataSourceNoCloud`...).
    pub datasource: Option<String>,
    /// The IMA step.
    pub ima: Option<ImaStep>,
    /// Wall-clock seconds.
    pub seconds: f64,
}

/// The IMA step of a run.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ImaStep {
    /// Who wrote the labels.
    pub method: LabelMethod,
    /// Files labelled offline over all filesystems (0 with the boot method: the kernel wrote
    /// them, see `guest_pass`).
    pub files_labelled: u64,
    /// With the boot method: what the pass in the guest reported.
    pub guest_pass: Option<PassReport>,
    /// Labels verified.
    pub files_checked: u64,
    /// Wrong labels (the run fails if any).
    pub mismatches: usize,
    /// The command line set.
    pub cmdline: Vec<String>,
    /// What the user should know (a grub.cfg without linux lines, an fstab entry that matches
    /// no partition, ...).
    pub warnings: Vec<String>,
}

/// The embedded base user-data: the intent of upstream's `user-data.basic` (rebuild the initrd
/// and grub.cfg after the plugins' work, power off), with no default password and no ssh
/// password login. It is the last part, so its runcmd entries run after the plugins'.
pub const BASE_USER_DATA: &str = r#"#cloud-config
# cvm-image-rewriter: finish the guest-side work, then power off.
merge_how:
 - name: list
   settings: [append]
 - name: dict
   settings: [no_replace, recurse_list]
ssh_pwauth: false
disable_root: true
runcmd:
 - [update-initramfs, -u, -k, all]
 - [update-grub]
power_state:
  mode: poweroff
  delay: now
  timeout: 600
  condition: true
"#;

const SEED_DIR: &str = "/var/lib/cloud/seed/nocloud";

fn now() -> u32 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as u32).unwrap_or(0)
}

fn plugin_errors(errors: Vec<plugin::PluginError>) -> Error {
    let list: Vec<String> = errors.iter().map(|e| format!("  {e}")).collect();
    Error::Plugin(format!("{} problem(s) in the plugins:\n{}", errors.len(), list.join("\n")))
}

/// The upstream IMA plugin (`98-ima-enable-simple`), configured through its folder.
pub fn is_ima_plugin(p: &Plugin) -> bool {
    p.name.ends_with("-ima-enable-simple")
}

const POLICY: &str = "/etc/ima/ima-policy";
const POLICY_HELD: &str = "/etc/ima/ima-policy.cvm-image-rewriter-held";

/// Moves an existing IMA policy out of systemd's way for the boot (with `hold`), or back.
fn hold_policy(fs: &mut GuestFs, hold: bool) -> Result<bool> {
    let (from, to) = if hold { (POLICY, POLICY_HELD) } else { (POLICY_HELD, POLICY) };
    let Some(data) = fs.read(from)? else { return Ok(false) };
    fs.write(to, &data, 0o644)?;
    fs.raw_mut().remove(from, now()).map_err(|e| fs.err(e))?;
    Ok(true)
}

/// Opens the staged image and its root filesystem for writing.
fn open_root(path: &Path, root: &RootChoice) -> Result<(Arc<DiskImage>, GuestFs)> {
    let disk = Arc::new(DiskImage::open(path, true)?);
    let fs = GuestFs::open(disk.clone(), &root.partition, OpenMode::ReadWrite)?;
    Ok((disk, fs))
}

fn close_root(disk: Arc<DiskImage>, fs: GuestFs) -> Result<()> {
    fs.close()?;
    disk.flush()
}

/// Writes a plugin's `files/` tree into the guest, owned by root, modes kept.
fn overlay_files(fs: &mut GuestFs, p: &Plugin, files: &Path) -> Result<()> {
    let entries = plugin::guest_files(files).map_err(plugin_errors)?;
    let t = now();
    for f in entries {
        let io = |e: std::io::Error| Error::Plugin(format!("{}: {}: {e}", p.name, f.host_path.display()));
        match &f.kind {
            GuestFileKind::Dir => fs.mkdir_all(&f.guest_path)?,
            GuestFileKind::File => {
                let data = std::fs::read(&f.host_path).map_err(io)?;
                replace_non_file(fs, &f.guest_path, t)?;
                fs.write(&f.guest_path, &data, f.mode as u16)?;
                let ino = fs.find(&f.guest_path)?.expect("just written");
                fs.raw_mut().set_owner_mode(ino, 0, 0, f.mode as u16, t).map_err(|e| fs.err(e))?;
            }
            GuestFileKind::Symlink(target) => {
                if fs.raw().exists(&f.guest_path).map_err(|e| fs.err(e))? {
                    fs.raw_mut().remove(&f.guest_path, t).map_err(|e| fs.err(e))?;
                }
                let parent = f.guest_path.rsplit_once('/').map(|(d, _)| d).filter(|d| !d.is_empty()).unwrap_or("/");
                fs.mkdir_all(parent)?;
                fs.raw_mut().symlink(&f.guest_path, target, 0, 0, t).map_err(|e| fs.err(e))?;
            }
        }
    }
    Ok(())
}

/// A file from `files/` replaces a symlink or special file of the same name (later wins), but
/// never a directory.
fn replace_non_file(fs: &mut GuestFs, path: &str, t: u32) -> Result<()> {
    let Ok(ino) = fs.raw().lookup(path) else { return Ok(()) };
    let kind = fs.raw().metadata(ino).map_err(|e| fs.err(e))?.kind;
    match kind {
        ext2fs::FileKind::Regular => Ok(()),
        ext2fs::FileKind::Directory => {
            Err(Error::Plugin(format!("{path}: a plugin file would replace a directory of the image")))
        }
        _ => fs.raw_mut().remove(path, t).map_err(|e| fs.err(e)),
    }
}

/// Runs one host hook with the upstream environment; its output is shown on failure.
fn run_hook(p: &Plugin, label: &str, script: &Path, staged: &Path, generated: &Path) -> Result<()> {
    tracing::info!("{}: {label}", p.name);
    let mut cmd = plugin::hook_command(script);
    cmd.current_dir(&p.dir);
    for (k, v) in plugin::hook_env(p, staged, generated) {
        cmd.env(k, v);
    }
    let out = cmd.output().map_err(|e| Error::Plugin(format!("{}: {label} {}: {e}", p.name, script.display())))?;
    if !out.status.success() {
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        let tail: Vec<&str> = text.lines().rev().take(30).collect::<Vec<_>>().into_iter().rev().collect();
        return Err(Error::Plugin(format!(
            "{}: {label} {} failed ({}); its output:\n{}",
            p.name,
            script.display(),
            out.status,
            tail.join("\n")
        )));
    }
    Ok(())
}

/// Runs the pipeline.
pub fn run(opts: &RunOptions, progress: &dyn Progress, listing: &dyn Fn(&str)) -> Result<RunReport> {
    let started = Instant::now();
    let plugins = plugin::discover(&opts.plugin_dirs).map_err(|e| plugin_errors(vec![e]))?;
    listing(&plugin::listing(&plugins));
    plugin::validate(&plugins).map_err(plugin_errors)?;
    // The IMA plugin only configures the built-in IMA step: its policy must not be in the
    // image during the boot (the kernel would enforce it on unlabelled files).
    let active: Vec<&Plugin> = plugins.iter().filter(|p| !p.skipped && !is_ima_plugin(p)).collect();

    // Everything that can be checked without running anything, before copying the input.
    let mut ima_plan = match &opts.ima {
        Some(ima) => Some(enable::plan(&opts.input, ima)?),
        None => None,
    };
    if let (Some(plan), LabelMethod::Boot) = (&ima_plan, opts.ima_label) {
        if let Some(f) = plan.findings.iter().find(|f| f.code == "appraise-bootparam-off") {
            return Err(Error::Plugin(format!(
                "--ima-label boot cannot work on this image: {} Label offline instead (--ima-label offline).",
                f.message
            )));
        }
    }
    // The IMA plan already found the root; without IMA, find it here.
    let (mut root, qcow2) = match &ima_plan {
        Some(plan) => (plan.root.clone(), plan.qcow2.clone()),
        None => {
            let (disk, _, root) = guest::locate_root(&opts.input, None)?;
            (root, disk.qcow2_header().cloned())
        }
    };
    let staged = StagedOutput::copy_from(&opts.input, qcow2.as_ref(), &opts.output, progress)?;
    let work = tempfile::tempdir().map_err(|e| Error::Plugin(format!("temporary directory: {e}")))?;
    let generated_dir = |p: &Plugin| work.path().join("generated").join(&p.name);

    for p in &active {
        if let Some(files) = &p.files {
            tracing::info!("{}: files/ overlay", p.name);
            let (disk, mut fs) = open_root(staged.path(), &root)?;
            overlay_files(&mut fs, p, files)?;
            close_root(disk, fs)?;
        }
        if let Some(script) = &p.pre_host_run {
            let gen = generated_dir(p);
            std::fs::create_dir_all(&gen).map_err(|e| Error::Plugin(format!("{}: {e}", gen.display())))?;
            run_hook(p, "pre-stage host_run.sh", script, staged.path(), &gen)?;
        }
        if let Some(script) = &p.pre_guest_run {
            let data = std::fs::read(script).map_err(|e| Error::Plugin(format!("{}: {e}", script.display())))?;
            let (disk, mut fs) = open_root(staged.path(), &root)?;
            fs.write(&p.guest_run_path(), &data, 0o755)?;
            close_root(disk, fs)?;
        }
    }

    // With the boot method, the guest labels: the policy, fstab and ima_appraise=fix go in
    // now; the pass in the boot switches the next boot to the final mode.
    let boot_labelling = match (&opts.ima, &ima_plan, opts.ima_label) {
        (Some(ima_opts), Some(plan), LabelMethod::Boot) => {
            let fix = EnableOptions { mode: AppraiseMode::Fix, ..ima_opts.clone() };
            let configured = enable::configure(staged.path(), plan, &fix)?;
            tracing::info!("IMA configured for labelling in the boot: {}", configured.cmdline.set.join(" "));
            Some((ima_opts.mode, configured))
        }
        _ => None,
    };

    // The cloud-init stage, only when some part needs the guest.
    let parts = plugin::collect_parts(&plugins, |p| Some(generated_dir(p))).map_err(plugin_errors)?;
    let needs_guest = !parts.is_empty() || active.iter().any(|p| p.pre_guest_run.is_some()) || boot_labelling.is_some();
    let label_pass = boot_labelling.as_ref().map(|(mode, _)| *mode);
    let (boot, datasource, guest_pass) = if needs_guest {
        let stage = cloud_init_stage(opts, staged.path(), &mut root, parts, label_pass, work.path())?;
        (Some(stage.boot), stage.datasource, stage.label_pass)
    } else {
        tracing::info!("no plugin needs the guest: no boot");
        (None, None, None)
    };

    for p in &active {
        if let Some(script) = &p.post_host_run {
            run_hook(p, "post-stage host_run.sh", script, staged.path(), &generated_dir(p))?;
        }
    }
    for p in &active {
        if let Some(script) = &p.post_clean_up {
            run_hook(p, "post-stage clean_up.sh", script, staged.path(), &generated_dir(p))?;
        }
    }

    // IMA last, offline: every file the plugins and the boot changed gets its final label.
    // With the boot method, the kernel wrote the labels: check every one of them here. The
    // boot or a hook may have grown the root partition: read the partitions again first.
    if let Some(plan) = ima_plan.as_mut() {
        plan.refresh_partitions(staged.path())?;
    }
    let ima = match (&opts.ima, &ima_plan, boot_labelling) {
        (Some(ima_opts), Some(plan), None) => Some(label_offline(staged.path(), plan, ima_opts, progress)?),
        (Some(ima_opts), Some(plan), Some((mode, configured))) => {
            Some(check_boot_labels(staged.path(), plan, ima_opts, mode, configured, guest_pass, progress)?)
        }
        _ => None,
    };
    staged.commit()?;
    Ok(RunReport {
        plugins: plugins.iter().map(|p| p.name.clone()).collect(),
        boot,
        datasource,
        ima,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// The offline IMA step: policy, command line, fstab, labels, verification.
fn label_offline(staged: &Path, plan: &ImaPlan, ima_opts: &EnableOptions, progress: &dyn Progress) -> Result<ImaStep> {
    let Applied { filesystems, verify, cmdline, warnings, .. } = enable::apply(staged, plan, ima_opts, progress)?;
    if let Some(m) = verify.mismatches.first() {
        return Err(Error::Plugin(format!(
            "the IMA verification found {} wrong label(s), e.g. {}; the output was not written",
            verify.mismatches.len(),
            m.path
        )));
    }
    Ok(ImaStep {
        method: LabelMethod::Offline,
        files_labelled: filesystems.iter().map(|f| f.labels.files_labelled).sum(),
        guest_pass: None,
        files_checked: verify.files_checked,
        mismatches: 0,
        cmdline: cmdline.set,
        warnings,
    })
}

/// After a labelling boot: every label the kernel wrote is re-read and checked, and grub.cfg
/// must boot with the final mode.
fn check_boot_labels(
    staged: &Path,
    plan: &ImaPlan,
    ima_opts: &EnableOptions,
    mode: AppraiseMode,
    configured: Configured,
    guest_pass: Option<PassReport>,
    progress: &dyn Progress,
) -> Result<ImaStep> {
    tracing::info!("verifying every label the guest kernel wrote");
    let verify = enable::verify_labels(staged, plan, ima_opts, progress)?;
    if !verify.mismatches.is_empty() {
        let shown: Vec<String> = verify
            .mismatches
            .iter()
            .take(10)
            .map(|m| format!("  {} ({})", m.path, if m.found.is_some() { "wrong" } else { "missing" }))
            .collect();
        return Err(Error::Plugin(format!(
            "{} of {} file(s) the policy appraises have a missing or wrong label after the labelling boot:\n{}{}\n\
             They were changed after the pass (by a post-stage hook, say) or hidden from it (under a mount point \
             in the guest); an enforcing boot would deny them. Move that change into the guest, or label offline \
             (--ima-label offline). The output was not written.",
            verify.mismatches.len(),
            verify.files_checked,
            shown.join("\n"),
            if verify.mismatches.len() > shown.len() { "\n  ..." } else { "" }
        )));
    }
    let grub_cfg = enable::check_grub_cfg_mode(staged, plan, mode)?;
    tracing::info!("{grub_cfg}: the next boot has ima_appraise={}", mode.kernel_name());
    let fix = format!("ima_appraise={}", AppraiseMode::Fix.kernel_name());
    let last = format!("ima_appraise={}", mode.kernel_name());
    Ok(ImaStep {
        method: LabelMethod::Boot,
        files_labelled: 0,
        guest_pass,
        files_checked: verify.files_checked,
        mismatches: 0,
        cmdline: configured.cmdline.set.iter().map(|p| if *p == fix { last.clone() } else { p.clone() }).collect(),
        warnings: configured.warnings,
    })
}

/// What the cloud-init boot did.
struct Stage {
    boot: BootResult,
    datasource: Option<String>,
    label_pass: Option<PassReport>,
}

/// Plants the seed, boots the staged image once, checks cloud-init's verdict, cleans up.
/// With `label_pass` (the final appraisal mode), the boot also runs the IMA label pass last.
fn cloud_init_stage(
    opts: &RunOptions,
    staged: &Path,
    root: &mut RootChoice,
    mut parts: Vec<Part>,
    label_pass: Option<AppraiseMode>,
    work: &Path,
) -> Result<Stage> {
    parts.push(Part {
        filename: "zz-cvm-base.yaml".into(),
        content_type: "text/cloud-config".into(),
        content: BASE_USER_DATA.into(),
    });
    if let Some(mode) = label_pass {
        parts.push(Part {
            filename: boot_label::SCRIPT_NAME.into(),
            content_type: "text/x-shellscript".into(),
            content: boot_label::script(mode).into_bytes(),
        });
    }
    let user_data = multipart(&parts, &random_boundary());
    let seed = Seed::new(user_data, &unique_instance_id("iid-cvm-run"), "cvm-image-rewriter");
    {
        let (disk, mut fs) = open_root(staged, root)?;
        let had_seed_dir = fs.find(SEED_DIR)?.is_some();
        if had_seed_dir {
            return Err(Error::Plugin(format!(
                "the image already has a NoCloud seed in {SEED_DIR}; remove it first (it would be used instead of ours, or lost)"
            )));
        }
        for (name, content) in seed.files() {
            fs.write(&format!("{SEED_DIR}/{name}"), content, 0o600)?;
        }
        // The boot method needs the policy in this boot; otherwise the files the boot reads
        // carry no labels yet.
        if label_pass.is_none() && hold_policy(&mut fs, true)? {
            tracing::info!("{POLICY} held aside during the boot: the files the boot reads carry no labels yet");
        }
        close_root(disk, fs)?;
    }
    let logs = opts.keep_logs.clone().unwrap_or_else(|| work.join("boot"));
    let run = QemuRun {
        disk: staged.to_owned(),
        extra_drives: Vec::new(),
        accel: resolve_accel(opts.accel)?,
        memory_mib: opts.memory_mib,
        cpus: opts.cpus,
        timeout: opts.timeout,
        work_dir: logs,
        stream: opts.stream,
        kvm_silence_fallback: (opts.accel == Accel::Auto).then(|| Duration::from_secs(90)),
    };
    tracing::info!("booting the guest once for the cloud-init stage (deadline {} s)", opts.timeout.as_secs());
    let boot = run.run()?;
    if boot.outcome != Outcome::PoweredOff {
        return Err(Error::CloudInit(format!(
            "the cloud-init boot did not power off: {:?} after {:.0} s; console log: {}",
            boot.outcome,
            boot.seconds,
            boot.serial_log.display()
        )));
    }

    // The guest may have grown the root partition (01-resize-image): its old bounds are stale.
    *root = guest::reread_root(staged, root)?.1;
    let disk = Arc::new(DiskImage::open(staged, true)?);
    let mut fs = GuestFs::open(disk.clone(), &root.partition, OpenMode::ReadWrite)?;
    let result = fs.read_text("/var/lib/cloud/data/result.json")?;
    let output_log = fs.read_text("/var/log/cloud-init-output.log")?.unwrap_or_default();
    let verdict = check_result(result.as_deref(), &output_log);
    let datasource = verdict.as_ref().ok().cloned().flatten();
    verdict?;
    let pass = match label_pass {
        Some(_) => Some(boot_label::find_report(&output_log).ok_or_else(|| {
            Error::CloudInit(format!(
                "the IMA label pass ({}) did not report in the guest's cloud-init-output.log:\n{}",
                boot_label::SCRIPT_NAME,
                tail(&output_log, 30)
            ))
        })?),
        None => None,
    };
    // What `cloud-init clean --logs` removes, and our seed: the image must boot as a new
    // instance on its real cloud.
    let t = now();
    for entry in fs.list_dir("/var/lib/cloud")? {
        if entry != "seed" {
            fs.raw_mut().remove_all(&format!("/var/lib/cloud/{entry}"), t).map_err(|e| fs.err(e))?;
        }
    }
    fs.raw_mut().remove_all(SEED_DIR, t).map_err(|e| fs.err(e))?;
    if fs.list_dir("/var/lib/cloud/seed")?.is_empty() {
        fs.raw_mut().remove_all("/var/lib/cloud/seed", t).map_err(|e| fs.err(e))?;
    }
    for log in ["/var/log/cloud-init.log", "/var/log/cloud-init-output.log"] {
        fs.raw_mut().remove_all(log, t).map_err(|e| fs.err(e))?;
    }
    if label_pass.is_none() {
        hold_policy(&mut fs, false)?;
    }
    close_root(disk, fs)?;
    Ok(Stage { boot, datasource, label_pass: pass })
}

/// cloud-init's own verdict: `result.json` lists every error of the run. Returns the data
/// source on success; on failure, the errors and the guest's own error lines.
fn check_result(result: Option<&str>, output_log: &str) -> Result<Option<String>> {
    let Some(result) = result else {
        return Err(Error::CloudInit(format!(
            "cloud-init did not finish (no /var/lib/cloud/data/result.json). Last lines of cloud-init-output.log:\n{}",
            tail(output_log, 30)
        )));
    };
    let v: serde_json::Value = serde_json::from_str(result)
        .map_err(|e| Error::CloudInit(format!("/var/lib/cloud/data/result.json is not JSON: {e}")))?;
    let datasource = v["v1"]["datasource"].as_str().map(str::to_string);
    let errors: Vec<String> = v["v1"]["errors"]
        .as_array()
        .map(|a| a.iter().map(|e| e.as_str().unwrap_or("?").to_string()).collect())
        .unwrap_or_default();
    if !errors.is_empty() {
        // The lines that name the failure, and the end of the log, where a failing script's
        // own output is (its stderr goes there too).
        let tail_lines = tail(output_log, 40);
        let flagged: Vec<&str> = output_log
            .lines()
            .filter(|l| l.contains("rror") || l.contains("FAIL") || l.contains("Traceback") || l.contains("ailed"))
            .filter(|l| !tail_lines.contains(*l))
            .collect();
        let mut shown = flagged.join("\n");
        if !shown.is_empty() {
            shown.push_str("\n...\n");
        }
        shown.push_str(&tail_lines);
        return Err(Error::CloudInit(format!(
            "cloud-init reported {} error(s): {}\nThe guest's cloud-init-output.log:\n{}",
            errors.len(),
            errors.join("; "),
            shown
        )));
    }
    if datasource.as_deref().is_some_and(|d| d.contains("DataSourceNone")) {
        return Err(Error::CloudInit(
            "cloud-init did not read our seed (data source None): is NoCloud in its datasource_list?".into(),
        ));
    }
    Ok(datasource)
}

fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cloud_init_errors_are_reported_with_the_guests_lines() {
        let ok = r#"{"v1": {"datasource": "DataSourceNoCloud [seed=/var/lib/cloud/seed/nocloud]", "errors": []}}"#;
        assert!(check_result(Some(ok), "").unwrap().unwrap().contains("NoCloud"));
        let bad = r#"{"v1": {"datasource": "DataSourceNoCloud", "errors": ["('scripts_user', RuntimeError('Runparts: 1 failures (02-fail.sh) in 2 attempted commands'))"]}}"#;
        let log = "Cloud-init v. 22.4.2 running\nboom: this went wrong\n2024 - util.py[WARNING]: Failed running /var/lib/cloud/instance/scripts/02-fail.sh [3]\n";
        let e = check_result(Some(bad), log).unwrap_err().to_string();
        assert!(e.contains("1 error(s)") && e.contains("02-fail.sh") && e.contains("Failed running"), "{e}");
        assert!(e.contains("boom: this went wrong"), "the script's own output is shown: {e}");
        let long: String = (0..100).map(|i| format!("line {i}\n")).collect::<String>() + "util.py[WARNING]: Failed x\n";
        let early_failure = format!("early Traceback here\n{long}");
        let e = check_result(Some(bad), &early_failure).unwrap_err().to_string();
        assert!(e.contains("early Traceback here") && e.contains("line 99") && !e.contains("line 10\n"), "{e}");
        assert!(check_result(None, "last line").unwrap_err().to_string().contains("last line"));
        let none = r#"{"v1": {"datasource": "DataSourceNone", "errors": []}}"#;
        assert!(check_result(Some(none), "").is_err());
    }

    /// cloud-init's own schema check (package cloud-init), not ours: a YAML mistake here would
    /// make cloud-init drop the whole part, and the guest would never power off.
    #[test]
    fn the_base_user_data_is_valid_for_cloud_init() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("base.yaml");
        std::fs::write(&f, BASE_USER_DATA).unwrap();
        let out = std::process::Command::new("cloud-init")
            .args(["schema", "-c"])
            .arg(&f)
            .output()
            .expect("cloud-init (install the Debian package cloud-init)");
        assert!(
            out.status.success(),
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let yaml = std::process::Command::new("python3")
            .args(["-c", "import sys, yaml; d = yaml.safe_load(open(sys.argv[1])); assert d['power_state']['mode'] == 'poweroff', d; assert d['ssh_pwauth'] is False; assert len(d['runcmd']) == 2"])
            .arg(&f)
            .output()
            .expect("python3 with yaml (comes with cloud-init)");
        assert!(yaml.status.success(), "{}", String::from_utf8_lossy(&yaml.stderr));
    }

    #[test]
    fn the_base_user_data_powers_off_without_a_password() {
        assert!(BASE_USER_DATA.starts_with("#cloud-config\n"));
        assert!(BASE_USER_DATA.contains("merge_how"));
        assert!(BASE_USER_DATA.contains("mode: poweroff"));
        assert!(!BASE_USER_DATA.contains("password") && !BASE_USER_DATA.contains("chpasswd"));
        assert!(BASE_USER_DATA.contains("ssh_pwauth: false"));
    }
}
