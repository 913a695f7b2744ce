//! Checking plugins before a run, and reading what a runner needs from them.

use super::discover::{entries, scan_cloud_init};
use super::{Plugin, PluginError};
use crate::cloudinit::{check_filename, Part};
use std::collections::HashMap;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

/// The `merge_how` every cloud-config part needs (upstream's `user-data.basic`): lists such as
/// `runcmd` are appended to, dictionaries merged without replacing earlier keys.
pub const MERGE_HOW: &str =
    "merge_how:\n  - name: list\n    settings: [append]\n  - name: dict\n    settings: [no_replace, recurse_list]\n";

fn is_regular_file(path: &Path) -> Result<(), PluginError> {
    match std::fs::metadata(path) {
        Ok(m) if m.is_file() => Ok(()),
        Ok(_) => {
            Err(PluginError::invalid(path, "must be a regular file (or a symlink to one): replace it with a file"))
        }
        Err(e) => Err(PluginError::io(path, e)),
    }
}

/// The file name of a part: two leading digits and a name make-mime and cloud-init agree on.
fn check_part_name(path: &Path) -> Result<String, PluginError> {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let b = name.as_bytes();
    if !(b.len() > 2 && b[0].is_ascii_digit() && b[1].is_ascii_digit()) {
        return Err(PluginError::invalid(
            path,
            "user-data part names must start with two digits (their order), e.g. 03-example.yaml or 55-another.sh: \
             rename it",
        ));
    }
    check_filename(name).map_err(|m| PluginError::invalid(path, m))?;
    Ok(name.to_string())
}

/// The content of part `path` as UTF-8 text (what make-mime reads), with its first line.
fn read_text(path: &Path) -> Result<String, PluginError> {
    is_regular_file(path)?;
    let bytes = std::fs::read(path).map_err(|e| PluginError::io(path, e))?;
    String::from_utf8(bytes).map_err(|e| {
        PluginError::invalid(
            path,
            format!(
                "is not UTF-8 text (byte {}): user-data parts must be UTF-8; convert it",
                e.utf8_error().valid_up_to()
            ),
        )
    })
}

fn first_line(text: &str) -> &str {
    text.split('\n').next().unwrap_or("")
}

/// Checks a cloud-config part: a regular UTF-8 file named `NN-...`, first line exactly
/// `#cloud-config`, and a top-level `merge_how:` key (upstream's rule: without it the part's
/// lists, such as `runcmd`, would replace the base user-data's instead of adding to them).
pub fn check_cloud_config(path: &Path) -> Result<(), PluginError> {
    check_part_name(path)?;
    let text = read_text(path)?;
    let first = first_line(&text);
    if first != "#cloud-config" {
        let crlf =
            if first.trim_end_matches('\r') == "#cloud-config" { " (it has DOS line ends: convert them)" } else { "" };
        return Err(PluginError::invalid(
            path,
            format!("a cloud-config part must start with the line #cloud-config, not {first:?}{crlf}"),
        ));
    }
    if !text.lines().any(|l| l.starts_with("merge_how:")) {
        return Err(PluginError::invalid(
            path,
            format!(
                "a cloud-config part needs a top-level merge_how key, or it replaces what earlier parts set; add\n\
                 {MERGE_HOW}(see https://cloudinit.readthedocs.io/en/latest/reference/merging.html)"
            ),
        ));
    }
    Ok(())
}

/// Checks an x-shellscript part: a regular UTF-8 file named `NN-...` whose first line starts
/// with `#!`.
pub fn check_shellscript(path: &Path) -> Result<(), PluginError> {
    check_part_name(path)?;
    let text = read_text(path)?;
    let first = first_line(&text);
    if !first.starts_with("#!") {
        return Err(PluginError::invalid(
            path,
            format!("an x-shellscript part must start with a #! line (e.g. #!/bin/sh), not {first:?}"),
        ));
    }
    Ok(())
}

/// Checks a host hook: a regular file (or a symlink to one). It need not be executable:
/// [`super::hook_command`] runs non-executable scripts with `bash`.
pub fn check_host_script(path: &Path) -> Result<(), PluginError> {
    is_regular_file(path)
}

/// What an entry of `files/` is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GuestFileKind {
    /// A folder (created if missing; an existing one is kept).
    Dir,
    /// A regular file (content copied; hard links are copied as separate files).
    File,
    /// A symlink, with its target as written (resolved by the guest, never on the host).
    Symlink(String),
}

/// One entry of a plugin's `files/`, and where it goes in the guest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuestFile {
    /// Absolute guest path, e.g. `/etc/motd`.
    pub guest_path: String,
    /// The entry on the host.
    pub host_path: PathBuf,
    /// What it is.
    pub kind: GuestFileKind,
    /// Permission bits on the host (`mode & 0o7777`; symlinks: 0o777). Ownership in the guest
    /// is the runner's choice (root).
    pub mode: u32,
}

/// The guest path for `rel`, a path relative to `files/`: `/` + its components. Fails for
/// anything that could leave the guest's root when written: `..`, `.`, a root or prefix
/// component, a non-UTF-8 or empty name.
pub fn guest_path(rel: &Path) -> Result<String, String> {
    let mut out = String::new();
    for c in rel.components() {
        match c {
            Component::Normal(n) => {
                let n = n.to_str().ok_or_else(|| format!("{} has a name that is not UTF-8", rel.display()))?;
                out.push('/');
                out.push_str(n);
            }
            other => {
                return Err(format!("{} has a {other:?} component, which would leave the guest's root", rel.display()))
            }
        }
    }
    if out.is_empty() {
        return Err("empty path".into());
    }
    Ok(out)
}

/// The tree under `files` (a plugin's `files/`), parents before children, sorted. Symlinks are
/// entries of their own (never followed); their targets may point anywhere: the guest resolves
/// them. Errors: special files (devices, FIFOs, sockets), names that are not UTF-8, unreadable
/// entries.
pub fn guest_files(files: &Path) -> Result<Vec<GuestFile>, Vec<PluginError>> {
    let mut out = Vec::new();
    let mut errors = Vec::new();
    walk(files, files, &mut out, &mut errors);
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

fn walk(root: &Path, dir: &Path, out: &mut Vec<GuestFile>, errors: &mut Vec<PluginError>) {
    let list = match entries(dir) {
        Ok(l) => l,
        Err(e) => return errors.push(e),
    };
    for (_, path) in list {
        let meta = match std::fs::symlink_metadata(&path) {
            Ok(m) => m,
            Err(e) => {
                errors.push(PluginError::io(&path, e));
                continue;
            }
        };
        let rel = path.strip_prefix(root).expect("walk stays under its root");
        let gp = match guest_path(rel) {
            Ok(g) => g,
            Err(m) => {
                errors.push(PluginError::invalid(&path, m));
                continue;
            }
        };
        let ft = meta.file_type();
        let mode = meta.permissions().mode() & 0o7777;
        let kind = if ft.is_dir() {
            GuestFileKind::Dir
        } else if ft.is_file() {
            GuestFileKind::File
        } else if ft.is_symlink() {
            match std::fs::read_link(&path) {
                Ok(t) => match t.into_os_string().into_string() {
                    Ok(t) if !t.is_empty() => GuestFileKind::Symlink(t),
                    _ => {
                        errors.push(PluginError::invalid(&path, "symlink target is empty or not UTF-8: fix the link"));
                        continue;
                    }
                },
                Err(e) => {
                    errors.push(PluginError::io(&path, e));
                    continue;
                }
            }
        } else {
            let what = if ft.is_block_device() {
                "a block device"
            } else if ft.is_char_device() {
                "a character device"
            } else if ft.is_fifo() {
                "a FIFO"
            } else if ft.is_socket() {
                "a socket"
            } else {
                "a special file"
            };
            errors.push(PluginError::invalid(
                &path,
                format!("is {what}: files/ may only hold regular files, folders and symlinks; remove it"),
            ));
            continue;
        };
        let is_dir = kind == GuestFileKind::Dir;
        out.push(GuestFile { guest_path: gp, host_path: path.clone(), kind, mode });
        if is_dir {
            walk(root, &path, out, errors);
        }
    }
}

/// Checks every plugin that is not skipped, collecting every problem: hooks are regular files;
/// cloud-config and x-shellscript parts pass [`check_cloud_config`] and [`check_shellscript`];
/// `cloud-init/` holds nothing else; `files/` passes [`guest_files`]; no two plugins put a folder
/// and a non-folder at the same guest path; x-shellscript names are unique across plugins
/// (cloud-init writes them all into one folder). Skipped plugins are not checked (upstream did
/// not read them either).
pub fn validate(plugins: &[Plugin]) -> Result<(), Vec<PluginError>> {
    let mut errors = Vec::new();
    let mut scripts: HashMap<String, PathBuf> = HashMap::new();
    let mut paths: HashMap<String, (bool, PathBuf)> = HashMap::new();
    for p in plugins.iter().filter(|p| !p.skipped) {
        for (_, hook) in p.hooks() {
            errors.extend(check_host_script(hook).err());
        }
        if let Some(files) = &p.files {
            match guest_files(files) {
                Ok(list) => {
                    for f in list {
                        let is_dir = f.kind == GuestFileKind::Dir;
                        if let Some((was_dir, first)) = paths.get(&f.guest_path) {
                            if *was_dir != is_dir {
                                errors.push(PluginError::invalid(
                                    &f.host_path,
                                    format!(
                                        "{} is a {} here but a {} in {}: the two plugins conflict; make them agree",
                                        f.guest_path,
                                        if is_dir { "folder" } else { "non-folder" },
                                        if *was_dir { "folder" } else { "non-folder" },
                                        first.display()
                                    ),
                                ));
                            }
                        } else {
                            paths.insert(f.guest_path.clone(), (is_dir, f.host_path.clone()));
                        }
                    }
                }
                Err(e) => errors.extend(e),
            }
        }
        if let Some(ci) = &p.cloud_init {
            match scan_cloud_init(ci) {
                Ok(scan) => errors.extend(scan.unknown.iter().map(|u| {
                    PluginError::invalid(
                        u,
                        "cloud-init/ may only hold the folders cloud-config/ and x-shellscript/: move or remove it",
                    )
                })),
                Err(e) => errors.push(e),
            }
        }
        for c in &p.cloud_config {
            errors.extend(check_cloud_config(c).err());
        }
        for s in &p.shellscripts {
            errors.extend(check_shellscript(s).err());
            note_script(&mut scripts, s, &mut errors);
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

/// Records x-shellscript `path`, or an error when another one has the same file name.
fn note_script(seen: &mut HashMap<String, PathBuf>, path: &Path, errors: &mut Vec<PluginError>) {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    if let Some(first) = seen.get(&name) {
        errors.push(PluginError::invalid(
            path,
            format!(
                "an x-shellscript part named {name} comes from {} too: cloud-init writes all scripts to one folder \
                 by name, so one would replace the other; rename one",
                first.display()
            ),
        ));
    } else {
        seen.insert(name, path.to_path_buf());
    }
}

/// Reads (and checks) one part file.
fn read_part(path: &Path, content_type: &str) -> Result<Part, PluginError> {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string();
    Ok(Part {
        filename: name,
        content_type: content_type.to_string(),
        content: std::fs::read(path).map_err(|e| PluginError::io(path, e))?,
    })
}

/// The user-data parts of every plugin that is not skipped, in run order: per plugin, its
/// cloud-config parts then its x-shellscript parts, each sorted by file name, read afresh from
/// the plugin's `cloud-init/` and from the folder `generated(plugin)` returns (the plugin's
/// `PLUGIN_GENERATED_DIR`, holding `cloud-config/` and `x-shellscript/`; call this after the
/// pre-stage hooks ran). Every part is checked; x-shellscript names must be unique across all
/// plugins; a name found both in `cloud-init/` and in the generated folder is an error.
pub fn collect_parts(
    plugins: &[Plugin],
    generated: impl Fn(&Plugin) -> Option<PathBuf>,
) -> Result<Vec<Part>, Vec<PluginError>> {
    let mut parts = Vec::new();
    let mut errors = Vec::new();
    let mut scripts: HashMap<String, PathBuf> = HashMap::new();
    for p in plugins.iter().filter(|p| !p.skipped) {
        let mut configs: Vec<PathBuf> = Vec::new();
        let mut shells: Vec<PathBuf> = Vec::new();
        for dir in p.cloud_init.iter().cloned().chain(generated(p)) {
            match scan_cloud_init(&dir) {
                Ok(scan) => {
                    errors.extend(scan.unknown.iter().map(|u| {
                        PluginError::invalid(
                            u,
                            "only cloud-config/ and x-shellscript/ may be here (generated parts go to \
                             $PLUGIN_GENERATED_DIR/cloud-config/ or /x-shellscript/)",
                        )
                    }));
                    configs.extend(scan.cloud_config);
                    shells.extend(scan.shellscripts);
                }
                Err(e) => errors.push(e),
            }
        }
        for (list, ctype, check) in [
            (&mut configs, "text/cloud-config", check_cloud_config as fn(&Path) -> Result<(), PluginError>),
            (&mut shells, "text/x-shellscript", check_shellscript),
        ] {
            list.sort_by(|a, b| a.file_name().cmp(&b.file_name()));
            for (i, path) in list.iter().enumerate() {
                if i > 0 && list[i - 1].file_name() == path.file_name() {
                    errors.push(PluginError::invalid(
                        path,
                        format!("{} has the same name: rename one of the two", list[i - 1].display()),
                    ));
                    continue;
                }
                if let Err(e) = check(path) {
                    errors.push(e);
                    continue;
                }
                if ctype == "text/x-shellscript" {
                    note_script(&mut scripts, path, &mut errors);
                }
                match read_part(path, ctype) {
                    Ok(part) => parts.push(part),
                    Err(e) => errors.push(e),
                }
            }
        }
    }
    if errors.is_empty() {
        Ok(parts)
    } else {
        Err(errors)
    }
}
