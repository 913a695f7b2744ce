//! Depth-first walk of the whole tree, in name order, with each entry's inode metadata.

use crate::{Error, FileKind, Filesystem, Ino, Metadata, Result};
use std::collections::HashSet;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

/// One entry met by [`Filesystem::walk`].
#[derive(Debug, Clone)]
pub struct WalkEntry {
    /// Absolute path inside the filesystem (`/etc/fstab`); raw bytes, not necessarily UTF-8.
    pub path: PathBuf,
    /// The inode's metadata (the inode decides the type, not the directory entry).
    pub meta: Metadata,
}

impl Filesystem {
    /// Visits every inode reachable from the root directory (the root itself excluded), parents
    /// before children, siblings in byte order of their names. A hard-linked file is visited
    /// once per name; use `meta.ino` to tell. A directory reached twice (only possible on a
    /// corrupt filesystem) is an error rather than an endless loop.
    pub fn walk(&self, mut visit: impl FnMut(&WalkEntry) -> Result<()>) -> Result<()> {
        let mut seen_dirs: HashSet<Ino> = HashSet::from([Ino::ROOT]);
        let mut stack: Vec<(Ino, PathBuf)> = vec![(Ino::ROOT, PathBuf::from("/"))];
        while let Some((dir, dir_path)) = stack.pop() {
            let mut entries = self.read_dir(dir)?;
            entries.sort_by(|a, b| a.name.cmp(&b.name));
            let mut subdirs = Vec::new();
            for e in entries {
                let path = dir_path.join(OsStr::from_bytes(&e.name));
                let meta = self.metadata(e.ino)?;
                let entry = WalkEntry { path, meta };
                visit(&entry)?;
                if entry.meta.kind == FileKind::Directory {
                    if !seen_dirs.insert(e.ino) {
                        return Err(Error::new(
                            format!("walk {}", entry.path.display()),
                            crate::Code::Corrupt,
                            format!("directory inode {} is linked twice; run e2fsck", e.ino.0),
                        ));
                    }
                    subdirs.push((e.ino, entry.path));
                }
            }
            // Reverse so that the stack pops them in name order.
            stack.extend(subdirs.into_iter().rev());
        }
        Ok(())
    }
}
