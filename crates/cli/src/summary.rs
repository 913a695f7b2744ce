//! The human summary of an `ima enable` run, printed on stderr.

use cvm_rewriter::enable::EnableReport;
use std::fmt::Write;

fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn megabytes(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}

/// The summary lines.
pub fn render(r: &EnableReport) -> String {
    let mut s = String::new();
    let root = match r.root.partition {
        Some(n) => format!("partition {n}"),
        None => "whole disk".into(),
    };
    let verdict = if r.is_clean() { "IMA appraisal enabled in" } else { "problems found; NOT written:" };
    let _ = writeln!(
        s,
        "cvm-image-rewriter: {verdict} {} ({}, {}, root {root})",
        r.output.display(),
        r.format,
        r.partition_table
    );
    let _ = writeln!(
        s,
        "  policy     {} ({}){}",
        r.policy.path,
        r.policy.source,
        if r.policy.changed { "" } else { ", already in place" }
    );
    let files = if r.cmdline.files_changed.is_empty() {
        "already set".to_string()
    } else {
        format!("set in {}", r.cmdline.files_changed.join(", "))
    };
    let _ = writeln!(s, "  cmdline    {}: {files}", r.cmdline.set.join(" "));
    let _ = writeln!(
        s,
        "  rootflags  i_version {}: {}",
        if r.cmdline.rootflags_i_version { "set" } else { "not set" },
        r.cmdline.rootflags_reason
    );
    let fstab = match (r.fstab.iversion, r.fstab.changed_lines.is_empty()) {
        (false, _) => "iversion not requested".to_string(),
        (true, true) => "iversion already on every ext4 line".to_string(),
        (true, false) => format!("iversion added on line(s) {:?}", r.fstab.changed_lines),
    };
    let _ = writeln!(s, "  fstab      {fstab}");
    let l = &r.labels;
    let skipped: Vec<String> = l.skipped.iter().map(|(k, v)| format!("{} {k}", thousands(*v))).collect();
    let _ = writeln!(
        s,
        "  labels     {} files labelled, {} already correct ({}), {} hashed; {} hard links; skipped: {}",
        thousands(l.files_labelled),
        thousands(l.files_unchanged),
        r.hash,
        megabytes(l.bytes_hashed),
        thousands(l.hard_links),
        if skipped.is_empty() { "none".into() } else { skipped.join(", ") }
    );
    for r in l.rules.iter().filter(|r| r.rule.starts_with("appraise")) {
        let _ = writeln!(s, "  rule       line {}: `{}` appraises {} files", r.line, r.rule, thousands(r.files));
    }
    let _ = writeln!(
        s,
        "  verify     {} labels re-read and re-hashed, {} wrong",
        thousands(r.verify.files_checked),
        r.verify.mismatches.len()
    );
    for f in &r.policy.findings {
        let _ = writeln!(
            s,
            "  {:<10} [{}]{} {}",
            f.severity.to_string(),
            f.code,
            f.line.map(|l| format!(" line {l}:")).unwrap_or_default(),
            f.message
        );
        if let Some(hint) = &f.suggestion {
            let _ = writeln!(s, "             hint: {hint}");
        }
    }
    for w in &r.warnings {
        let _ = writeln!(s, "  warning    {w}");
    }
    let _ = writeln!(
        s,
        "  time       {:.2} s (labelling {:.2} s, verification {:.2} s)",
        r.seconds, l.seconds, r.verify.seconds
    );
    s
}

/// What went wrong, one line per file (at most 50).
pub fn render_problems(r: &EnableReport) -> String {
    let mut s = String::new();
    for m in r.verify.mismatches.iter().take(50) {
        let _ = writeln!(
            s,
            "cvm-image-rewriter: wrong label: {}: expected {}, found {}",
            m.path,
            m.expected,
            m.found.as_deref().unwrap_or("no label")
        );
    }
    for p in r.labels.cannot_label.iter().take(50) {
        let _ = writeln!(s, "cvm-image-rewriter: cannot label {}: {}", p.path, p.reason);
    }
    let n = r.verify.mismatches.len() + r.labels.cannot_label.len();
    if n > 50 {
        let _ = writeln!(s, "cvm-image-rewriter: ... {} more (see --report)", n - 50);
    }
    s
}

/// The boot-check summary.
pub fn render_boot_check(r: &cvm_rewriter::bootcheck::BootCheckReport) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "cvm-image-rewriter: boot-check {}: {}",
        r.image.display(),
        if r.passed { "PASSED" } else { "FAILED" }
    );
    for c in &r.checks {
        let _ = writeln!(s, "  {} {:<14} {}", if c.ok { "ok  " } else { "FAIL" }, c.name, c.detail);
    }
    if let Some(c) = &r.cmdline {
        let _ = writeln!(s, "  cmdline    {c}");
    }
    let _ = writeln!(
        s,
        "  ima        appraise={}, custom policy loaded: {}, {} measurements",
        r.ima_appraise.as_deref().unwrap_or("?"),
        r.policy_loaded.map_or("?".to_string(), |b| b.to_string()),
        r.measurements.map_or("?".to_string(), |m| m.to_string())
    );
    for d in r.denials.iter().take(50) {
        let _ = writeln!(s, "  denied     {} (cause={}, comm={})", d.path, d.cause, d.comm);
    }
    let _ = writeln!(s, "  logs       {} {}", r.boot.serial_log.display(), r.boot.hvc_log.display());
    s
}
