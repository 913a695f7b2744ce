//! `cvm-image-rewriter`: the command line over the `cvm-rewriter` library.
//!
//! Exit status: 0 success, 1 the verification found problems, 2 any other error. Reports go to
//! stdout (`--json`) or a file (`--report`); the human summary and diagnostics go to stderr.
#![forbid(unsafe_code)]

mod args;
mod progress;
mod summary;

use anyhow::Context;
use args::{
    AccelArg, BootCheckArgs, Cli, Command, EnableArgs, Hash, ImaCommand, ImaLabelArg, LabelArg, Mode, PolicyCheckArgs,
    PolicyCommand, PolicyDefaultArgs, ProfileArg, RunArgs,
};
use clap::Parser;
use cvm_rewriter::enable::{self, EnableOptions, LabelScope, PolicySource, RootflagsIVersion};
use cvm_rewriter::ima::profile::Profile;
use cvm_rewriter::ima::{AppraiseMode, HashAlgo};
use cvm_rewriter::run::LabelMethod;
use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.verbose, cli.quiet);
    // A signal ends the process without running destructors: stop our guests and remove our
    // temporary outputs ourselves, so an interrupted run leaves nothing behind.
    let _ = ctrlc::set_handler(|| {
        cvm_rewriter::qemu::kill_running();
        cvm_rewriter::disk::remove_live_temporaries();
        eprintln!("cvm-image-rewriter: interrupted; no output written");
        std::process::exit(130);
    });
    match run(&cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("cvm-image-rewriter: error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn init_logging(verbose: u8, quiet: bool) {
    let level = match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "info",
        (false, _) => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("CVM_REWRITER_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(format!("{level},imago=warn")));
    let indicatif_layer = tracing_indicatif::IndicatifLayer::new();
    tracing_subscriber::registry()
        .with(filter)
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(indicatif_layer.get_stderr_writer())
                .with_target(false)
                .without_time(),
        )
        .with(indicatif_layer)
        .init();
}

fn run(cli: &Cli) -> anyhow::Result<ExitCode> {
    match &cli.command {
        Command::Ima(ImaCommand::Enable(args)) => enable_cmd(args, cli.quiet),
        Command::BootCheck(args) => boot_check_cmd(args, cli.verbose > 0, cli.quiet),
        Command::Run(args) => run_cmd(args, cli.verbose > 0, cli.quiet),
        Command::Ima(ImaCommand::Policy(PolicyCommand::Default(args))) => policy_default_cmd(args),
        Command::Ima(ImaCommand::Policy(PolicyCommand::Check(args))) => policy_check_cmd(args),
    }
}

fn mode_of(m: Mode) -> AppraiseMode {
    match m {
        Mode::Enforce => AppraiseMode::Enforce,
        Mode::Log => AppraiseMode::Log,
        Mode::Fix => AppraiseMode::Fix,
    }
}

fn hash_of(h: Hash) -> HashAlgo {
    match h {
        Hash::Sha256 => HashAlgo::Sha256,
        Hash::Sha384 => HashAlgo::Sha384,
        Hash::Sha512 => HashAlgo::Sha512,
        Hash::Sha1 => HashAlgo::Sha1,
        Hash::Sm3 => HashAlgo::Sm3,
    }
}

fn enable_cmd(args: &EnableArgs, quiet: bool) -> anyhow::Result<ExitCode> {
    let opts = EnableOptions {
        input: args.input.clone(),
        output: args.output.clone(),
        policy: args.policy.clone().map_or(PolicySource::Default, PolicySource::File),
        mode: mode_of(args.mode),
        hash: hash_of(args.hash),
        iversion: !args.no_iversion,
        rootflags_i_version: if args.rootflags_i_version { RootflagsIVersion::Force } else { RootflagsIVersion::Auto },
        root_partition: args.root_partition,
        profile: profile_of(args.profile),
        label: match args.label {
            LabelArg::Policy => LabelScope::Policy,
            LabelArg::AllRoot => LabelScope::AllRoot,
        },
        deny_warnings: args.deny_warnings,
    };
    if !args.input.exists() {
        anyhow::bail!("input image {} does not exist", args.input.display());
    }
    let bars = progress::Bars::new(!quiet && std::io::stderr().is_terminal());
    let report = enable::enable(&opts, &bars)
        .with_context(|| format!("ima enable: {} -> {}", args.input.display(), args.output.display()))?;
    let json = serde_json::to_string_pretty(&report).context("serialising the report")?;
    if let Some(path) = &args.report {
        std::fs::write(path, format!("{json}\n"))
            .with_context(|| format!("writing the report to {}", path.display()))?;
    }
    if args.json {
        println!("{json}");
    }
    if !quiet {
        eprint!("{}", summary::render(&report));
    }
    if report.is_clean() {
        Ok(ExitCode::SUCCESS)
    } else {
        eprint!("{}", summary::render_problems(&report));
        Ok(ExitCode::from(1))
    }
}

fn boot_check_cmd(args: &BootCheckArgs, stream: bool, quiet: bool) -> anyhow::Result<ExitCode> {
    use cvm_rewriter::bootcheck::{boot_check, BootCheckOptions};
    let opts = BootCheckOptions {
        image: args.image.clone(),
        accel: accel_of(args.accel),
        timeout: args.timeout,
        keep_logs: args.keep_logs.clone(),
        stream,
        memory_mib: args.memory,
        cpus: args.cpus,
    };
    if !quiet {
        eprintln!("cvm-image-rewriter: booting {} (deadline {} s)...", args.image.display(), args.timeout.as_secs());
    }
    let report = boot_check(&opts).with_context(|| format!("boot-check {}", args.image.display()))?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report).context("serialising the report")?);
    }
    if !quiet {
        eprint!("{}", summary::render_boot_check(&report));
    }
    Ok(if report.passed { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

fn profile_of(p: ProfileArg) -> Profile {
    match p {
        ProfileArg::Tcb => Profile::Tcb,
        ProfileArg::Exec => Profile::Exec,
    }
}

/// The facts of `--image IMG`, when given, for the policy commands.
fn facts_of(
    image: Option<&std::path::Path>,
    root_partition: Option<u32>,
) -> anyhow::Result<Option<cvm_rewriter::ima::lint::ImageFacts>> {
    image
        .map(|img| enable::image_facts_of(img, root_partition).with_context(|| format!("reading {}", img.display())))
        .transpose()
}

fn policy_default_cmd(args: &PolicyDefaultArgs) -> anyhow::Result<ExitCode> {
    let facts = facts_of(args.image.as_deref(), args.root_partition)?;
    let text = cvm_rewriter::ima::profile::default_policy(profile_of(args.profile), facts.as_ref());
    std::io::stdout().write_all(text.as_bytes()).context("writing to stdout")?;
    Ok(ExitCode::SUCCESS)
}

fn policy_check_cmd(args: &PolicyCheckArgs) -> anyhow::Result<ExitCode> {
    use cvm_rewriter::ima::lint::{lint, Severity};
    use cvm_rewriter::ima::policy_lang;
    let name = args.file.display().to_string();
    let bytes = std::fs::read(&args.file).with_context(|| format!("reading the policy {name}"))?;
    let facts = facts_of(args.image.as_deref(), args.root_partition)?;
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let mut out = serde_json::Map::new();
    let (errors, findings) = match policy_lang::parse(&text) {
        Err(errors) => (errors.iter().map(|e| e.to_string()).collect::<Vec<_>>(), Vec::new()),
        Ok(p) => {
            let mut errs = Vec::new();
            if let Err(e) = cvm_rewriter::ima::policy::prepare(&bytes, &name) {
                errs.push(e.to_string());
            }
            (errs, lint(&p, facts.as_ref()))
        }
    };
    let failed = !errors.is_empty() || findings.iter().any(|f| f.refuses(args.deny_warnings));
    if args.json {
        out.insert("file".into(), name.clone().into());
        out.insert("errors".into(), serde_json::to_value(&errors)?);
        out.insert("findings".into(), serde_json::to_value(&findings)?);
        out.insert("ok".into(), (!failed).into());
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        for e in &errors {
            eprintln!("{name}: error: {e}");
        }
        for f in &findings {
            eprintln!("{name}: {f}");
        }
        eprintln!(
            "cvm-image-rewriter: {name}: {} error(s), {} warning(s), {} note(s){}",
            errors.len() + findings.iter().filter(|f| f.severity == Severity::Error).count(),
            findings.iter().filter(|f| f.severity == Severity::Warning).count(),
            findings.iter().filter(|f| f.severity == Severity::Note).count(),
            if args.image.is_none() { " (grammar only; add --image IMG to check it against an image)" } else { "" }
        );
    }
    Ok(if failed { ExitCode::from(1) } else { ExitCode::SUCCESS })
}

fn accel_of(a: AccelArg) -> cvm_rewriter::qemu::Accel {
    use cvm_rewriter::qemu::Accel;
    match a {
        AccelArg::Auto => Accel::Auto,
        AccelArg::Kvm => Accel::Kvm,
        AccelArg::Tcg => Accel::Tcg,
    }
}

/// `rewriter.toml` for `run`: every flag as a key.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RunConfig {
    input: Option<std::path::PathBuf>,
    output: Option<std::path::PathBuf>,
    #[serde(default)]
    plugins: Vec<std::path::PathBuf>,
    timeout: Option<String>,
    accel: Option<AccelArg>,
    keep_logs: Option<std::path::PathBuf>,
    memory: Option<u32>,
    cpus: Option<u32>,
    ima_label: Option<ImaLabelArg>,
    ima_mode: Option<Mode>,
    ima_hash: Option<Hash>,
    ima_policy: Option<std::path::PathBuf>,
}

/// The run's settings: flags, then the config file, then defaults.
struct RunSettings {
    input: std::path::PathBuf,
    output: std::path::PathBuf,
    plugins: Vec<std::path::PathBuf>,
    timeout: std::time::Duration,
    accel: AccelArg,
    keep_logs: Option<std::path::PathBuf>,
    memory: u32,
    cpus: u32,
    /// IMA settings given as flags or config keys; they override the IMA plugin's.
    ima_label: Option<ImaLabelArg>,
    ima_mode: Option<Mode>,
    ima_hash: Option<Hash>,
    ima_policy: Option<std::path::PathBuf>,
}

fn run_settings(args: &RunArgs) -> anyhow::Result<RunSettings> {
    let (cfg, base) = match &args.config {
        Some(path) => {
            let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
            let cfg: RunConfig = toml::from_str(&text).with_context(|| format!("{}", path.display()))?;
            (cfg, path.parent().map(|p| p.to_path_buf()).unwrap_or_default())
        }
        None => (RunConfig::default(), std::path::PathBuf::new()),
    };
    let rel = |p: std::path::PathBuf| if p.is_absolute() { p } else { base.join(p) };
    let timeout = match (&args.timeout, &cfg.timeout) {
        (Some(t), _) => *t,
        (None, Some(t)) => args::parse_duration(t).map_err(|e| anyhow::anyhow!("config timeout: {e}"))?,
        (None, None) => std::time::Duration::from_secs(20 * 60),
    };
    let plugins =
        if args.plugins.is_empty() { cfg.plugins.into_iter().map(rel).collect() } else { args.plugins.clone() };
    if plugins.is_empty() {
        anyhow::bail!("no plugin folder given: use --plugins DIR (or `plugins = [...]` in --config)");
    }
    Ok(RunSettings {
        input: args
            .input
            .clone()
            .or(cfg.input.map(rel))
            .context("no input image: use -i IN (or `input` in --config)")?,
        output: args
            .output
            .clone()
            .or(cfg.output.map(rel))
            .context("no output image: use -o OUT (or `output` in --config)")?,
        plugins,
        timeout,
        accel: args.accel.or(cfg.accel).unwrap_or(AccelArg::Auto),
        keep_logs: args.keep_logs.clone().or(cfg.keep_logs.map(rel)),
        memory: args.memory.or(cfg.memory).unwrap_or(2048),
        cpus: args.cpus.or(cfg.cpus).unwrap_or(2),
        ima_label: args.ima_label.or(cfg.ima_label),
        ima_mode: args.ima_mode.or(cfg.ima_mode),
        ima_hash: args.ima_hash.or(cfg.ima_hash),
        ima_policy: args.ima_policy.clone().or(cfg.ima_policy.map(rel)),
    })
}

/// The IMA step's settings: the 98-ima-enable-simple plugin's (`key=value` lines of its
/// ima.conf, its policy file), overridden by the --ima-* flags and config keys; `None` when
/// neither the plugin nor any of those asks for IMA.
fn ima_settings(s: &RunSettings) -> anyhow::Result<Option<(EnableOptions, LabelMethod)>> {
    let plugins = cvm_rewriter::plugin::discover(&s.plugins).map_err(|e| anyhow::anyhow!("{e}"))?;
    let plugin = plugins.iter().find(|p| !p.skipped && cvm_rewriter::run::is_ima_plugin(p));
    let flagged = s.ima_label.is_some() || s.ima_mode.is_some() || s.ima_hash.is_some() || s.ima_policy.is_some();
    if plugin.is_none() && !flagged {
        return Ok(None);
    }
    let mut mode = AppraiseMode::Enforce;
    let mut hash = HashAlgo::Sha256;
    let mut method = LabelMethod::Offline;
    let mut policy = None;
    if let Some(p) = plugin {
        read_ima_conf(&p.dir.join("ima.conf"), &mut mode, &mut hash, &mut method)?;
        policy = p.files.as_ref().map(|f| f.join("etc/ima/ima-policy")).filter(|f| f.is_file());
    }
    let mode = s.ima_mode.map(mode_of).unwrap_or(mode);
    let hash = s.ima_hash.map(hash_of).unwrap_or(hash);
    let method = match s.ima_label {
        Some(ImaLabelArg::Offline) => LabelMethod::Offline,
        Some(ImaLabelArg::Boot) => LabelMethod::Boot,
        None => method,
    };
    let policy = s.ima_policy.clone().or(policy);
    Ok(Some((
        EnableOptions {
            input: s.input.clone(),
            output: s.output.clone(),
            policy: policy.map_or(PolicySource::Default, PolicySource::File),
            mode,
            hash,
            iversion: true,
            rootflags_i_version: RootflagsIVersion::Auto,
            root_partition: None,
            profile: Profile::Tcb,
            label: LabelScope::Policy,
            deny_warnings: false,
        },
        method,
    )))
}

/// Reads the IMA plugin's ima.conf (absent: defaults) into the settings.
fn read_ima_conf(
    conf_path: &std::path::Path,
    mode: &mut AppraiseMode,
    hash: &mut HashAlgo,
    method: &mut LabelMethod,
) -> anyhow::Result<()> {
    let conf = match std::fs::read_to_string(conf_path) {
        Ok(c) => c,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e).with_context(|| format!("reading {}", conf_path.display())),
    };
    for (n, line) in conf.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (k, v) = line
            .split_once('=')
            .ok_or_else(|| anyhow::anyhow!("{}:{}: expected key=value", conf_path.display(), n + 1))?;
        match (k.trim(), v.trim()) {
            ("mode", "enforce") => *mode = AppraiseMode::Enforce,
            ("mode", "log") => *mode = AppraiseMode::Log,
            ("mode", "fix") => *mode = AppraiseMode::Fix,
            ("hash", h) => {
                *hash = HashAlgo::from_name(h)
                    .ok_or_else(|| anyhow::anyhow!("{}:{}: unknown hash {h}", conf_path.display(), n + 1))?
            }
            ("label", "offline") => *method = LabelMethod::Offline,
            ("label", "boot") => *method = LabelMethod::Boot,
            (k, v) => anyhow::bail!(
                "{}:{}: unknown setting {k}={v} (mode=enforce|log|fix, hash=sha256|..., label=offline|boot)",
                conf_path.display(),
                n + 1
            ),
        }
    }
    Ok(())
}
fn run_cmd(args: &RunArgs, stream: bool, quiet: bool) -> anyhow::Result<ExitCode> {
    use cvm_rewriter::run::{run, RunOptions};
    let s = run_settings(args)?;
    let ima = ima_settings(&s)?;
    let opts = RunOptions {
        input: s.input.clone(),
        output: s.output.clone(),
        plugin_dirs: s.plugins.clone(),
        timeout: s.timeout,
        accel: accel_of(s.accel),
        keep_logs: s.keep_logs.clone(),
        stream,
        memory_mib: s.memory,
        cpus: s.cpus,
        ima: ima.as_ref().map(|(o, _)| o.clone()),
        ima_label: ima.as_ref().map_or(LabelMethod::Offline, |(_, m)| *m),
    };
    let bars = progress::Bars::new(!quiet && std::io::stderr().is_terminal());
    let listing = |text: &str| {
        if !quiet {
            eprint!("cvm-image-rewriter: plugins:\n{text}");
        }
    };
    let report =
        run(&opts, &bars, &listing).with_context(|| format!("run: {} -> {}", s.input.display(), s.output.display()))?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report).context("serialising the report")?);
    }
    if !quiet {
        eprintln!("cvm-image-rewriter: {} written in {:.0} s", s.output.display(), report.seconds);
        if let Some(b) = &report.boot {
            eprintln!(
                "  boot       {:?} after {:.0} s under {}; data source {}",
                b.outcome,
                b.seconds,
                b.accel.qemu_name(),
                report.datasource.as_deref().unwrap_or("?")
            );
        }
        if let Some(i) = &report.ima {
            match &i.guest_pass {
                Some(pass) => eprintln!(
                    "  ima        labelled in the boot by the guest kernel ({} files opened), {} verified, {}",
                    pass.files_opened,
                    i.files_checked,
                    i.cmdline.join(" ")
                ),
                None => eprintln!(
                    "  ima        {} labels written, {} verified, {}",
                    i.files_labelled,
                    i.files_checked,
                    i.cmdline.join(" ")
                ),
            }
            for w in &i.warnings {
                eprintln!("  warning    {w}");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
