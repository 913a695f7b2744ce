//! Writing and checking `security.ima` labels on an ext4 filesystem offline.
//!
//! Three passes: walk the tree with libext2fs (one thread: it is not thread-safe) and map every
//! root-owned regular file's blocks; hash the contents on all cores straight from the disk
//! image; then write each label that differs. Hard links share an inode and are hashed once.
//! [`verify`] repeats the walk and the hashing on a freshly opened filesystem and compares.

use super::algo::{hex, HashAlgo};
use super::policy_lang::{Action, Policy};
use super::select::{FileFacts, Selector};
use crate::error::Result;
use crate::fs::{DataReader, GuestFs, ReadScratch};
use crate::progress::Progress;
use ext2fs::{FileKind, FileLayout, Ino};
use rayon::prelude::*;
use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Instant;

/// The xattr the kernel appraises.
pub const XATTR_NAME: &str = "security.ima";

/// Which files get a label.
#[derive(Debug, Clone, PartialEq)]
pub enum Selection {
    /// Every regular file owned by uid 0: the seed's `find / -fstype ext4 -type f -uid 0`.
    RootOwned,
    /// Exactly the regular files some access may appraise under this policy (see
    /// [`super::select`]; conservative: a file any rule could appraise is included).
    Policy(Arc<Policy>),
}

/// Files decided by one rule of the policy.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RuleCount {
    /// Line in the policy file.
    pub line: usize,
    /// The rule.
    pub rule: String,
    /// Regular files this rule is the first to appraise (or to exempt, for `dont_appraise`).
    pub files: u64,
}

/// A file to label.
#[derive(Debug, Clone)]
struct Target {
    ino: Ino,
    path: String,
    size: u64,
    layout: FileLayout,
    existing: Option<Vec<u8>>,
}

/// Counts of one labelling pass, as reported to the user.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct LabelSummary {
    /// Labels written by this run (missing or wrong before).
    pub files_labelled: u64,
    /// Files whose label was already correct.
    pub files_unchanged: u64,
    /// Files that carry a correct label now: labelled + unchanged.
    pub files_total: u64,
    /// Extra names of hard-linked files (hashed once, labelled once).
    pub hard_links: u64,
    /// Bytes of file content hashed.
    pub bytes_hashed: u64,
    /// Entries not labelled, by reason (`not_root_owned` or `not_appraised` for regular files
    /// the selection leaves out, `symlink`, `special`).
    pub skipped: BTreeMap<String, u64>,
    /// With a policy selection: for each appraise/dont_appraise rule, the files it decides.
    pub rules: Vec<RuleCount>,
    /// Root-owned files that cannot be labelled offline (e.g. fscrypt-encrypted), with why.
    pub cannot_label: Vec<Problem>,
    /// Wall-clock seconds of the pass.
    pub seconds: f64,
}

/// A file that failed.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Problem {
    /// Guest path.
    pub path: String,
    /// What is wrong.
    pub reason: String,
}

/// Outcome of [`verify`].
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct VerifySummary {
    /// Files whose label was re-read and re-computed.
    pub files_checked: u64,
    /// Bytes hashed again.
    pub bytes_hashed: u64,
    /// Files whose label is missing or differs from their content's digest.
    pub mismatches: Vec<Mismatch>,
    /// Wall-clock seconds.
    pub seconds: f64,
}

/// A wrong or missing label.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Mismatch {
    /// Guest path.
    pub path: String,
    /// The value the content calls for, hex.
    pub expected: String,
    /// The value found, hex (`None`: no label at all).
    pub found: Option<String>,
}

/// Walks the filesystem and collects what to hash, counting what is skipped.
fn collect(fs: &GuestFs, selection: &Selection, summary: &mut LabelSummary) -> Result<Vec<Target>> {
    let raw = fs.raw();
    let sb = raw.superblock();
    let selector = match selection {
        Selection::RootOwned => None,
        Selection::Policy(p) => Some(Selector::new(p)),
    };
    let mut by_rule: Vec<u64> = match selection {
        Selection::Policy(p) => vec![0; p.rules.len()],
        Selection::RootOwned => Vec::new(),
    };
    let fsname = fs.partition().fs_type.name();
    let mut seen: HashSet<Ino> = HashSet::new();
    let mut targets = Vec::new();
    let mut skip = |reason: &str| *summary.skipped.entry(reason.to_string()).or_default() += 1;
    let mut encrypted = Vec::new();
    let mut hard_links = 0;
    raw.walk(|e| {
        match e.meta.kind {
            FileKind::Directory => return Ok(()),
            FileKind::Symlink => skip("symlink"),
            FileKind::Regular => {
                if !seen.insert(e.meta.ino) {
                    hard_links += 1;
                    return Ok(());
                }
                let wanted = match &selector {
                    None => e.meta.uid == 0,
                    Some(sel) => {
                        let facts = FileFacts {
                            uid: e.meta.uid,
                            gid: e.meta.gid,
                            mode: e.meta.mode,
                            fsmagic: 0xef53,
                            fsuuid: Some(sb.uuid_string()),
                            fsname: fsname.to_string(),
                        };
                        let verdict = sel.appraised(&facts);
                        if let Some(i) = verdict.rule_index {
                            by_rule[i] += 1;
                        }
                        verdict.appraised
                    }
                };
                if !wanted {
                    skip(if selector.is_none() { "not_root_owned" } else { "not_appraised" });
                    return Ok(());
                }
                let path = e.path.to_string_lossy().into_owned();
                if e.meta.is_encrypted() {
                    encrypted.push(Problem {
                        path,
                        reason: "fscrypt-encrypted: its plaintext cannot be read offline".into(),
                    });
                    return Ok(());
                }
                let layout = raw.layout(e.meta.ino)?;
                let existing = raw.xattr(e.meta.ino, XATTR_NAME)?;
                targets.push(Target { ino: e.meta.ino, path, size: e.meta.size, layout, existing });
            }
            _ => skip("special"),
        }
        Ok(())
    })
    .map_err(|e| fs.err(e))?;
    summary.hard_links = hard_links;
    summary.cannot_label = encrypted;
    if let Selection::Policy(p) = selection {
        summary.rules = p
            .rules
            .iter()
            .zip(&by_rule)
            .filter(|(r, _)| matches!(r.action, Action::Appraise | Action::DontAppraise))
            .map(|(r, n)| RuleCount { line: r.line, rule: r.to_string(), files: *n })
            .collect();
    }
    // Read in disk order: neighbouring files share qcow2 clusters and readahead.
    targets.sort_by_key(|t| match &t.layout {
        FileLayout::Blocks { extents, .. } => extents.first().map_or(0, |e| e.physical),
        FileLayout::Inline(_) => 0,
    });
    Ok(targets)
}

/// Hashes every target on all cores; returns the digests in target order.
fn hash_all(
    reader: &DataReader,
    targets: &[Target],
    algo: HashAlgo,
    step: &str,
    progress: &dyn Progress,
) -> Result<Vec<Vec<u8>>> {
    let total: u64 = targets.iter().map(|t| t.size).sum();
    progress.start(step, total);
    let digests = targets
        .par_iter()
        .map_init(ReadScratch::default, |scratch, t| {
            let mut h = algo.hasher();
            reader.read(&t.layout, scratch, |chunk| {
                h.update(chunk);
                progress.advance(chunk.len() as u64);
            })?;
            Ok(h.finish())
        })
        .collect::<Result<Vec<_>>>();
    progress.finish();
    digests
}

/// Labels every selected file of `fs` with its content's digest in `algo`.
pub fn label(fs: &mut GuestFs, algo: HashAlgo, selection: &Selection, progress: &dyn Progress) -> Result<LabelSummary> {
    let started = Instant::now();
    let mut summary = LabelSummary::default();
    let targets = collect(fs, selection, &mut summary)?;
    let digests = hash_all(&fs.data_reader()?, &targets, algo, "hash", progress)?;
    progress.start("label", targets.len() as u64);
    for (t, digest) in targets.iter().zip(&digests) {
        let value = algo.xattr_value(digest);
        if t.existing.as_deref() == Some(&value[..]) {
            summary.files_unchanged += 1;
        } else {
            fs.raw_mut().set_xattr(t.ino, XATTR_NAME, &value).map_err(|e| fs.err(e))?;
            summary.files_labelled += 1;
        }
        summary.bytes_hashed += t.size;
        progress.advance(1);
    }
    progress.finish();
    summary.files_total = summary.files_labelled + summary.files_unchanged;
    summary.seconds = started.elapsed().as_secs_f64();
    Ok(summary)
}

/// Labels one file with the digest of its current content (read through libext2fs).
pub fn label_file(fs: &mut GuestFs, ino: Ino, algo: HashAlgo) -> Result<()> {
    let mut h = algo.hasher();
    fs.raw()
        .read_file_with(ino, |chunk| {
            h.update(chunk);
            Ok(())
        })
        .map_err(|e| fs.err(e))?;
    let value = algo.xattr_value(&h.finish());
    fs.raw_mut().set_xattr(ino, XATTR_NAME, &value).map_err(|e| fs.err(e))
}

/// Re-reads every selected file and its label and reports each one that does not match.
pub fn verify(fs: &GuestFs, algo: HashAlgo, selection: &Selection, progress: &dyn Progress) -> Result<VerifySummary> {
    let started = Instant::now();
    let mut scratch = LabelSummary::default();
    let targets = collect(fs, selection, &mut scratch)?;
    let digests = hash_all(&fs.data_reader()?, &targets, algo, "verify", progress)?;
    let mut out = VerifySummary::default();
    for (t, digest) in targets.iter().zip(&digests) {
        let expected = algo.xattr_value(digest);
        if t.existing.as_deref() != Some(&expected[..]) {
            out.mismatches.push(Mismatch {
                path: t.path.clone(),
                expected: hex(&expected),
                found: t.existing.as_deref().map(hex),
            });
        }
        out.files_checked += 1;
        out.bytes_hashed += t.size;
    }
    out.seconds = started.elapsed().as_secs_f64();
    Ok(out)
}
