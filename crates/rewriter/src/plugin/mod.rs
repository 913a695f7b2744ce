//! Plugins in the upstream *cvm-image-rewriter* layout, read from the host's file system: finding
//! them ([`discover`]), checking them before anything runs ([`validate`]), the listing printed
//! before a run ([`listing`]), and what a runner needs from each (guest files, user-data parts,
//! hook commands and their environment). Nothing here touches a disk image.
//!
//! # Layouts
//!
//! Every folder given to [`discover`] is read in one of two layouts:
//!
//! - **plugins** (upstream since 2024, `plugins/`): the folder holds one folder per plugin,
//!   `NN-name/`, each with any of
//!   ```text
//!   files/                           tree copied over the guest's root
//!   pre-stage/host_run.sh            on the host, before the boot
//!   pre-stage/guest_run.sh           copied to /opt/guest-scripts/NN-name_guest_run.sh
//!   post-stage/host_run.sh           on the host, after the boot
//!   post-stage/clean_up.sh           on the host, after every post-stage host_run.sh
//!   cloud-init/cloud-config/NN-*.yaml   cloud-config parts of the user-data
//!   cloud-init/x-shellscript/NN-*.sh    shell-script parts of the user-data
//!   NOT_RUN                          the plugin is listed but skipped
//!   ```
//! - **stages** (upstream Dec 2023, the tool's top folder): the folder holds `pre-stage/NN-name/`
//!   and `post-stage/NN-name/` (other entries, such as the tool's own `cloud-init/` and
//!   `scripts/`, are ignored). Upstream's `run.sh` of that time read, from `pre-stage/NN-name/`:
//!   `files/`, `host_run.sh` (before the boot), `guest_run.sh` and `cloud-init/`; and from
//!   `post-stage/NN-name/` only `host_run.sh` (after the boot). We map them to the same
//!   [`Plugin`] fields as the new layout, merging `pre-stage/X` and `post-stage/X` of the same
//!   name into one plugin. `pre-stage/X/clean_up.sh` (upstream removed the parts its
//!   `host_run.sh` generated; the new layout moved it to `post-stage/clean_up.sh`) becomes
//!   [`Plugin::post_clean_up`]. `files/`, `guest_run.sh` or `cloud-init/` under `post-stage/X`
//!   were never read upstream and are refused rather than silently ignored. A `NOT_RUN` in either
//!   half skips the whole plugin (upstream skipped only that half).
//!
//! Plugin folder names are `NN-name`: two digits, a dash, then letters, digits, `.`, `_`, `-`.
//! Any other entry is an error naming it, except hidden entries (`.git`) and `README*` files.
//! Plugins run in the order of `NN` (then name) across all folders given; the same name twice
//! is an error.
//!
//! # Running hooks
//!
//! [`hook_command`] runs a script directly when it is executable (so its `#!` line counts) and
//! with `bash` when it is not (upstream did `chmod +x` on the plugin's own files; we do not
//! modify plugin folders). [`hook_env`] is the environment a runner gives each hook:
//! `GUEST_IMG` (the output image being rewritten, as upstream), `PLUGIN_NAME`, `PLUGIN_DIR` (the
//! plugin's folder), `PLUGIN_GENERATED_DIR` (an empty folder, owned by the runner, where
//! `pre-stage/host_run.sh` may write generated parts as `cloud-config/NN-*.yaml` and
//! `x-shellscript/NN-*.sh`; [`collect_parts`] reads them after the pre-stage). Plugin settings
//! (`GUEST_SIZE`, `CVM_USER`, `CVM_AUTH_KEY`, ...) come from the runner's own environment.
//!
//! # User-data order
//!
//! [`collect_parts`] returns, plugin by plugin, each plugin's cloud-config parts then its
//! x-shellscript parts (upstream's `make-mime -a` order). cloud-init merges the cloud-configs
//! (hence `merge_how`) and writes every x-shellscript to `/var/lib/cloud/instance/scripts/NAME`,
//! then runs them sorted by NAME: script names must therefore be unique across plugins, and
//! their `NN` prefix, not the plugin's, decides when they run.

mod discover;
mod validate;

pub use discover::discover;
pub use validate::{
    check_cloud_config, check_host_script, check_shellscript, collect_parts, guest_files, guest_path, validate,
    GuestFile, GuestFileKind, MERGE_HOW,
};

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

/// One plugin, as found on the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plugin {
    /// The folder name, e.g. `98-ima-enable-simple`.
    pub name: String,
    /// Its two-digit prefix, e.g. 98.
    pub order: u32,
    /// The plugin's folder (stages layout: `pre-stage/NAME`, or `post-stage/NAME` when there is
    /// no pre-stage half).
    pub dir: PathBuf,
    /// `files/`: a tree copied over the guest's root.
    pub files: Option<PathBuf>,
    /// Run on the host before the boot.
    pub pre_host_run: Option<PathBuf>,
    /// Copied into the guest as `/opt/guest-scripts/NAME_guest_run.sh` (nothing runs it by
    /// itself: one of the plugin's x-shellscript parts may).
    pub pre_guest_run: Option<PathBuf>,
    /// Run on the host after the boot.
    pub post_host_run: Option<PathBuf>,
    /// Run on the host after every plugin's `post_host_run`.
    pub post_clean_up: Option<PathBuf>,
    /// The plugin's `cloud-init/` folder, when it has one.
    pub cloud_init: Option<PathBuf>,
    /// `cloud-init/cloud-config/*`, sorted by name (as found by [`discover`]; parts generated by
    /// `host_run.sh` are read later by [`collect_parts`]).
    pub cloud_config: Vec<PathBuf>,
    /// `cloud-init/x-shellscript/*`, sorted by name.
    pub shellscripts: Vec<PathBuf>,
    /// A `NOT_RUN` file is present: listed, but nothing of it runs.
    pub skipped: bool,
}

impl Plugin {
    /// A plugin with nothing in it yet.
    pub(crate) fn empty(name: &str, order: u32, dir: &Path) -> Plugin {
        Plugin {
            name: name.to_string(),
            order,
            dir: dir.to_path_buf(),
            files: None,
            pre_host_run: None,
            pre_guest_run: None,
            post_host_run: None,
            post_clean_up: None,
            cloud_init: None,
            cloud_config: Vec::new(),
            shellscripts: Vec::new(),
            skipped: false,
        }
    }

    /// The guest path `pre_guest_run` is copied to: `/opt/guest-scripts/NAME_guest_run.sh`.
    pub fn guest_run_path(&self) -> String {
        format!("/opt/guest-scripts/{}_guest_run.sh", self.name)
    }

    /// The host scripts as (label, path), in the order they appear in a run.
    pub fn hooks(&self) -> Vec<(&'static str, &Path)> {
        let all = [
            ("pre-stage host_run.sh", &self.pre_host_run),
            ("pre-stage guest_run.sh", &self.pre_guest_run),
            ("post-stage host_run.sh", &self.post_host_run),
            ("post-stage clean_up.sh", &self.post_clean_up),
        ];
        all.into_iter().filter_map(|(l, p)| p.as_deref().map(|p| (l, p))).collect()
    }
}

/// What is wrong with a plugin folder, with the path and what to do.
#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    /// A file or folder cannot be read.
    #[error("{}: {cause}", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// The cause.
        cause: std::io::Error,
    },
    /// The folder structure is wrong (names, layout).
    #[error("{}: {message}", path.display())]
    Layout {
        /// The offending entry.
        path: PathBuf,
        /// What is wrong and what to do.
        message: String,
    },
    /// Two plugins have the same name.
    #[error(
        "plugin {name} is both {} and {}: plugin names must be unique, rename or remove one",
        first.display(),
        second.display()
    )]
    Duplicate {
        /// The plugin name.
        name: String,
        /// Where it was found first.
        first: PathBuf,
        /// Where it was found again.
        second: PathBuf,
    },
    /// A file of a plugin is unusable (found by [`validate`]).
    #[error("{}: {message}", path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong and what to do.
        message: String,
    },
}

impl PluginError {
    /// The path the error is about.
    pub fn path(&self) -> &Path {
        match self {
            PluginError::Io { path, .. } | PluginError::Layout { path, .. } | PluginError::Invalid { path, .. } => path,
            PluginError::Duplicate { second, .. } => second,
        }
    }

    pub(crate) fn io(path: &Path, cause: std::io::Error) -> PluginError {
        PluginError::Io { path: path.to_path_buf(), cause }
    }

    pub(crate) fn invalid(path: &Path, message: impl Into<String>) -> PluginError {
        PluginError::Invalid { path: path.to_path_buf(), message: message.into() }
    }
}

/// The listing printed before a run, one line per plugin:
/// `01-resize-image: files/, pre-stage host_run.sh, 1 cloud-config part`, with
/// ` (skipped: NOT_RUN)` for skipped plugins.
pub fn listing(plugins: &[Plugin]) -> String {
    let mut out = String::new();
    for p in plugins {
        let mut items: Vec<String> = Vec::new();
        if p.files.is_some() {
            items.push("files/".into());
        }
        items.extend(p.hooks().into_iter().map(|(l, _)| l.to_string()));
        let count = |n: usize, what: &str| format!("{n} {what} part{}", if n == 1 { "" } else { "s" });
        if !p.cloud_config.is_empty() {
            items.push(count(p.cloud_config.len(), "cloud-config"));
        }
        if !p.shellscripts.is_empty() {
            items.push(count(p.shellscripts.len(), "x-shellscript"));
        }
        if items.is_empty() {
            items.push("nothing to do".into());
        }
        out.push_str(&format!("{}: {}", p.name, items.join(", ")));
        if p.skipped {
            out.push_str(" (skipped: NOT_RUN)");
        }
        out.push('\n');
    }
    out
}

/// The command that runs hook `script`: the script itself when it is executable, else
/// `bash SCRIPT`. The caller sets the current folder and [`hook_env`].
pub fn hook_command(script: &Path) -> Command {
    use std::os::unix::fs::PermissionsExt;
    let executable = std::fs::metadata(script).map(|m| m.permissions().mode() & 0o111 != 0).unwrap_or(false);
    if executable {
        Command::new(script)
    } else {
        let mut c = Command::new("bash");
        c.arg(script);
        c
    }
}

/// The environment variables a runner sets for every hook of `plugin` (in addition to its own
/// environment, which carries the plugin settings): `GUEST_IMG`, `PLUGIN_NAME`, `PLUGIN_DIR`,
/// `PLUGIN_GENERATED_DIR`.
pub fn hook_env(plugin: &Plugin, guest_img: &Path, generated_dir: &Path) -> Vec<(&'static str, OsString)> {
    vec![
        ("GUEST_IMG", guest_img.as_os_str().to_owned()),
        ("PLUGIN_NAME", plugin.name.clone().into()),
        ("PLUGIN_DIR", plugin.dir.as_os_str().to_owned()),
        ("PLUGIN_GENERATED_DIR", generated_dir.as_os_str().to_owned()),
    ]
}

#[cfg(test)]
mod tests;
