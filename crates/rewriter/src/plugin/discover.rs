//! Finding plugins in folders of either layout (see the module documentation).

use super::{Plugin, PluginError};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The two-digit order of a plugin folder name `NN-name`, or `None` when the name is not one.
pub(crate) fn parse_name(name: &str) -> Option<u32> {
    let b = name.as_bytes();
    let ok = b.len() >= 4
        && b[0].is_ascii_digit()
        && b[1].is_ascii_digit()
        && b[2] == b'-'
        && b[3].is_ascii_alphanumeric()
        && b[3..].iter().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'-'));
    ok.then(|| u32::from(b[0] - b'0') * 10 + u32::from(b[1] - b'0'))
}

/// Entries we never treat as plugins or parts: hidden ones and READMEs.
pub(crate) fn ignored(name: &str) -> bool {
    name.starts_with('.') || name.to_ascii_lowercase().starts_with("readme")
}

/// The entries of folder `dir` as (name, path), sorted by name.
pub(crate) fn entries(dir: &Path) -> Result<Vec<(String, PathBuf)>, PluginError> {
    let rd = std::fs::read_dir(dir).map_err(|e| PluginError::io(dir, e))?;
    let mut out = Vec::new();
    for e in rd {
        let e = e.map_err(|e| PluginError::io(dir, e))?;
        let path = e.path();
        let name = e.file_name().into_string().map_err(|_| PluginError::Layout {
            path: path.clone(),
            message: "the name is not UTF-8: rename it".into(),
        })?;
        out.push((name, path));
    }
    out.sort();
    Ok(out)
}

fn is_dir(path: &Path) -> bool {
    std::fs::metadata(path).map(|m| m.is_dir()).unwrap_or(false)
}

fn exists(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok()
}

fn some_if_exists(path: PathBuf) -> Option<PathBuf> {
    exists(&path).then_some(path)
}

/// `path` when it is a folder, `None` when absent, an error when it is something else.
fn optional_dir(path: PathBuf) -> Result<Option<PathBuf>, PluginError> {
    if !exists(&path) {
        Ok(None)
    } else if is_dir(&path) {
        Ok(Some(path))
    } else {
        Err(PluginError::Layout { path, message: "must be a folder: remove it or make it one".into() })
    }
}

/// The part files of a `cloud-init/` folder: (cloud-config, x-shellscript, other entries).
pub(crate) struct CloudInitDir {
    pub cloud_config: Vec<PathBuf>,
    pub shellscripts: Vec<PathBuf>,
    pub unknown: Vec<PathBuf>,
}

/// Reads a `cloud-init/` folder (a plugin's, or a generated one). Missing is empty.
pub(crate) fn scan_cloud_init(dir: &Path) -> Result<CloudInitDir, PluginError> {
    let mut out = CloudInitDir { cloud_config: Vec::new(), shellscripts: Vec::new(), unknown: Vec::new() };
    if !exists(dir) {
        return Ok(out);
    }
    for (name, path) in entries(dir)? {
        if ignored(&name) {
            continue;
        }
        let list = match name.as_str() {
            "cloud-config" => &mut out.cloud_config,
            "x-shellscript" => &mut out.shellscripts,
            _ => {
                out.unknown.push(path);
                continue;
            }
        };
        if !is_dir(&path) {
            out.unknown.push(path);
            continue;
        }
        for (n, p) in entries(&path)? {
            if !ignored(&n) {
                list.push(p);
            }
        }
    }
    Ok(out)
}

/// Fills in the cloud-init parts of `p` from `dir/cloud-init`.
fn read_cloud_init(p: &mut Plugin, dir: &Path) -> Result<(), PluginError> {
    if let Some(ci) = optional_dir(dir.join("cloud-init"))? {
        let scan = scan_cloud_init(&ci)?;
        p.cloud_config = scan.cloud_config;
        p.shellscripts = scan.shellscripts;
        p.cloud_init = Some(ci);
    }
    Ok(())
}

/// A plugin folder of the plugins layout.
fn load_plugin(name: &str, order: u32, dir: &Path) -> Result<Plugin, PluginError> {
    let mut p = Plugin::empty(name, order, dir);
    p.files = optional_dir(dir.join("files"))?;
    p.pre_host_run = some_if_exists(dir.join("pre-stage/host_run.sh"));
    p.pre_guest_run = some_if_exists(dir.join("pre-stage/guest_run.sh"));
    p.post_host_run = some_if_exists(dir.join("post-stage/host_run.sh"));
    p.post_clean_up = some_if_exists(dir.join("post-stage/clean_up.sh"));
    read_cloud_init(&mut p, dir)?;
    p.skipped = exists(&dir.join("NOT_RUN"));
    Ok(p)
}

/// A plugin's name, or the error for an entry that should have been a plugin folder.
/// `given` is the folder given to [`discover`], named in a hint when it looks like a plugin.
fn plugin_name(name: &str, path: &Path, given: &Path) -> Result<u32, PluginError> {
    let hint = if parse_name(given.file_name().and_then(|n| n.to_str()).unwrap_or("")).is_some() {
        format!(" ({} looks like a plugin itself: give the folder that holds it)", given.display())
    } else {
        String::new()
    };
    let order = parse_name(name).ok_or_else(|| PluginError::Layout {
        path: path.to_path_buf(),
        message: format!(
            "not a plugin folder name: plugins are folders named NN-name (two digits, a dash, a name of letters, \
             digits, '.', '_', '-'), e.g. 42-my-plugin; rename it, or move it out{hint}"
        ),
    })?;
    if !is_dir(path) {
        return Err(PluginError::Layout {
            path: path.to_path_buf(),
            message: format!("a plugin must be a folder, not a file; move it out{hint}"),
        });
    }
    Ok(order)
}

/// The plugins of one folder in the plugins layout.
fn discover_plugins_layout(root: &Path) -> Result<Vec<Plugin>, PluginError> {
    let mut out = Vec::new();
    for (name, path) in entries(root)? {
        if ignored(&name) {
            continue;
        }
        let order = plugin_name(&name, &path, root)?;
        out.push(load_plugin(&name, order, &path)?);
    }
    Ok(out)
}

/// The plugins of one folder in the stages layout (`pre-stage/NN-x`, `post-stage/NN-x`).
fn discover_stages_layout(root: &Path) -> Result<Vec<Plugin>, PluginError> {
    for (name, path) in entries(root)? {
        if parse_name(&name).is_some() && is_dir(&path) {
            return Err(PluginError::Layout {
                path,
                message: format!(
                    "{} mixes both layouts (plugin folders beside pre-stage/ or post-stage/): move NN-name \
                     plugin folders into a plugins folder of their own, or into pre-stage/ and post-stage/",
                    root.display()
                ),
            });
        }
    }
    let mut plugins: BTreeMap<String, Plugin> = BTreeMap::new();
    let pre = root.join("pre-stage");
    if let Some(pre) = optional_dir(pre)? {
        for (name, path) in entries(&pre)? {
            if ignored(&name) {
                continue;
            }
            let order = plugin_name(&name, &path, root)?;
            let mut p = Plugin::empty(&name, order, &path);
            p.files = optional_dir(path.join("files"))?;
            p.pre_host_run = some_if_exists(path.join("host_run.sh"));
            p.pre_guest_run = some_if_exists(path.join("guest_run.sh"));
            p.post_clean_up = some_if_exists(path.join("clean_up.sh"));
            read_cloud_init(&mut p, &path)?;
            p.skipped = exists(&path.join("NOT_RUN"));
            plugins.insert(name, p);
        }
    }
    let post = root.join("post-stage");
    if let Some(post) = optional_dir(post)? {
        for (name, path) in entries(&post)? {
            if ignored(&name) {
                continue;
            }
            let order = plugin_name(&name, &path, root)?;
            for unread in ["files", "guest_run.sh", "cloud-init"] {
                if exists(&path.join(unread)) {
                    return Err(PluginError::Layout {
                        path: path.join(unread),
                        message: format!(
                            "post-stage plugins only have host_run.sh and clean_up.sh ({unread} was never read \
                             here): move it to {}",
                            pre_path(root, &name, unread).display()
                        ),
                    });
                }
            }
            let p = plugins.entry(name.clone()).or_insert_with(|| Plugin::empty(&name, order, &path));
            p.post_host_run = some_if_exists(path.join("host_run.sh"));
            if let Some(c) = some_if_exists(path.join("clean_up.sh")) {
                if let Some(first) = &p.post_clean_up {
                    return Err(PluginError::Layout {
                        path: c,
                        message: format!("{} has a clean_up.sh too: keep only one", first.display()),
                    });
                }
                p.post_clean_up = Some(c);
            }
            p.skipped |= exists(&path.join("NOT_RUN"));
        }
    }
    Ok(plugins.into_values().collect())
}

fn pre_path(root: &Path, name: &str, entry: &str) -> PathBuf {
    root.join("pre-stage").join(name).join(entry)
}

/// Whether `dir` is in the stages layout.
fn is_stages_layout(dir: &Path) -> bool {
    is_dir(&dir.join("pre-stage")) || is_dir(&dir.join("post-stage"))
}

/// Finds the plugins of every folder in `dirs` (either layout, see the module documentation),
/// ordered by their number, then name. Fails on the first structural problem: a folder that
/// cannot be read, an entry not named `NN-name`, a plugin name found twice.
pub fn discover(dirs: &[PathBuf]) -> Result<Vec<Plugin>, PluginError> {
    let mut all: Vec<Plugin> = Vec::new();
    for dir in dirs {
        let meta = std::fs::metadata(dir).map_err(|e| PluginError::io(dir, e))?;
        if !meta.is_dir() {
            return Err(PluginError::Layout {
                path: dir.clone(),
                message: "is not a folder: give a folder of plugins (NN-name/ folders, or pre-stage/ and post-stage/)"
                    .into(),
            });
        }
        let found = if is_stages_layout(dir) { discover_stages_layout(dir)? } else { discover_plugins_layout(dir)? };
        for p in found {
            if let Some(first) = all.iter().find(|q| q.name == p.name) {
                return Err(PluginError::Duplicate { name: p.name, first: first.dir.clone(), second: p.dir });
            }
            all.push(p);
        }
    }
    all.sort_by(|a, b| (a.order, &a.name).cmp(&(b.order, &b.name)));
    Ok(all)
}
