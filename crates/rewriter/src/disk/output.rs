//! The output image: a copy of the input written under a temporary name next to the final
//! path, renamed into place only by [`StagedOutput::commit`]. Dropping it uncommitted removes
//! the temporary file, so a failed run leaves nothing behind and the input is never opened for
//! writing.

use super::probe::Qcow2Header;
use crate::error::{Error, Result};
use crate::progress::Progress;
use std::fs::File;
use std::io::ErrorKind;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};

/// Temporary outputs that exist right now, so that an interrupted run (Ctrl-C, SIGTERM) can
/// remove them: destructors do not run when a signal ends the process.
static LIVE: std::sync::Mutex<Vec<PathBuf>> = std::sync::Mutex::new(Vec::new());

fn live() -> std::sync::MutexGuard<'static, Vec<PathBuf>> {
    LIVE.lock().unwrap_or_else(|p| p.into_inner())
}

/// Removes every temporary output of this process (for a signal handler; then exit).
pub fn remove_live_temporaries() {
    for p in live().drain(..) {
        let _ = std::fs::remove_file(&p);
    }
}

/// An output image being prepared.
#[derive(Debug)]
pub struct StagedOutput {
    /// Always `Some` until `commit` takes it (an `Option` because `Drop` is implemented).
    temp: Option<tempfile::TempPath>,
    final_path: PathBuf,
    /// Permission bits of the input, given to the output at commit (like `cp`).
    mode: u32,
}

fn out_err(path: &Path, message: impl Into<String>) -> Error {
    Error::Output { path: path.to_owned(), message: message.into() }
}

fn io_message(e: &std::io::Error, doing: &str) -> String {
    const ENOSPC: i32 = 28;
    const EROFS: i32 = 30;
    match e.raw_os_error() {
        Some(ENOSPC) => {
            format!("no space left on the device while {doing}; free some space or write the output elsewhere with -o")
        }
        Some(EROFS) => format!("the filesystem is read-only ({doing}); write the output elsewhere with -o"),
        _ if e.kind() == ErrorKind::PermissionDenied => {
            format!("permission denied while {doing}; choose a writable directory with -o")
        }
        _ => format!("{doing}: {e}"),
    }
}

impl Drop for StagedOutput {
    fn drop(&mut self) {
        if let Some(t) = &self.temp {
            live().retain(|p| p != &**t);
        }
    }
}

impl StagedOutput {
    /// Copies `input` to a temporary file in `output`'s directory (holes stay holes). For a
    /// qcow2 whose backing file name is relative and would not resolve from the output's
    /// directory, the copy's header is pointed at the backing file's absolute path.
    pub fn copy_from(
        input: &Path,
        qcow2: Option<&Qcow2Header>,
        output: &Path,
        progress: &dyn Progress,
    ) -> Result<StagedOutput> {
        let name = output.file_name().ok_or_else(|| out_err(output, "not a file name"))?;
        let dir = match output.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
            _ => PathBuf::from("."),
        };
        match std::fs::metadata(&dir) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => return Err(out_err(output, format!("{} is not a directory", dir.display()))),
            Err(e) => return Err(out_err(output, format!("directory {}: {e}; create it first", dir.display()))),
        }
        let in_meta = std::fs::metadata(input).map_err(|e| Error::ImageIo {
            path: input.to_owned(),
            op: "stat".into(),
            cause: e,
        })?;
        if let Ok(out_meta) = std::fs::metadata(output) {
            if out_meta.dev() == in_meta.dev() && out_meta.ino() == in_meta.ino() {
                return Err(out_err(
                    output,
                    "is the input image itself; the input is never modified, choose another output path",
                ));
            }
        }
        let temp = tempfile::Builder::new()
            .prefix(&format!(".{}.", name.to_string_lossy()))
            .suffix(".tmp")
            .tempfile_in(&dir)
            .map_err(|e| out_err(output, io_message(&e, &format!("creating a temporary file in {}", dir.display()))))?;
        let (file, temp) = temp.into_parts();
        live().push(temp.to_path_buf());
        let src =
            File::open(input).map_err(|e| Error::ImageIo { path: input.to_owned(), op: "open".into(), cause: e })?;
        sparse_copy(&src, input, &file, output, in_meta.len(), progress)?;
        if let Some(h) = qcow2 {
            repoint_relative_backing(&file, h, input, &dir, output)?;
        }
        file.sync_all().map_err(|e| out_err(output, io_message(&e, "syncing the copy")))?;
        Ok(StagedOutput { temp: Some(temp), final_path: output.to_owned(), mode: in_meta.mode() & 0o777 })
    }

    /// Where the image is being prepared.
    pub fn path(&self) -> &Path {
        self.temp.as_deref().expect("present until commit")
    }

    /// The path it will have once committed.
    pub fn final_path(&self) -> &Path {
        &self.final_path
    }

    /// Syncs and renames the prepared image to its final path.
    pub fn commit(mut self) -> Result<()> {
        let final_path = self.final_path.clone();
        let temp = self.temp.take().expect("present until commit");
        live().retain(|p| p != &*temp);
        File::open(&*temp)
            .and_then(|f| {
                f.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(self.mode))?;
                f.sync_all()
            })
            .map_err(|e| out_err(&final_path, io_message(&e, "syncing")))?;
        temp.persist(&final_path)
            .map_err(|e| out_err(&final_path, io_message(&e.error, "renaming the finished image into place")))?;
        if let Some(dir) = final_path.parent().filter(|p| !p.as_os_str().is_empty()) {
            // Make the rename itself durable; failure here is not worth failing the run.
            let _ = File::open(dir).and_then(|d| d.sync_all());
        }
        Ok(())
    }
}

const CHUNK: usize = 1 << 20;

/// Copies `len` bytes, skipping all-zero chunks so that they stay (or become) holes.
fn sparse_copy(
    src: &File,
    src_path: &Path,
    dst: &File,
    dst_path: &Path,
    len: u64,
    progress: &dyn Progress,
) -> Result<()> {
    dst.set_len(len).map_err(|e| out_err(dst_path, io_message(&e, "sizing the copy")))?;
    progress.start("copy", len);
    let mut buf = vec![0u8; CHUNK];
    let mut off = 0u64;
    while off < len {
        let n = CHUNK.min((len - off) as usize);
        src.read_exact_at(&mut buf[..n], off).map_err(|e| Error::ImageIo {
            path: src_path.to_owned(),
            op: format!("read at offset {off}"),
            cause: e,
        })?;
        if buf[..n].iter().any(|&b| b != 0) {
            dst.write_all_at(&buf[..n], off)
                .map_err(|e| out_err(dst_path, io_message(&e, "copying the input image")))?;
        }
        off += n as u64;
        progress.advance(n as u64);
    }
    progress.finish();
    Ok(())
}

/// A relative backing name is resolved from the image's own directory. When the output goes
/// to another directory, point the copy at the absolute path so that it keeps working.
fn repoint_relative_backing(file: &File, h: &Qcow2Header, input: &Path, out_dir: &Path, output: &Path) -> Result<()> {
    let Some(name) = &h.backing_file else { return Ok(()) };
    if Path::new(name).is_absolute() || name.contains(':') {
        return Ok(());
    }
    let in_dir = input.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let canon = |p: &Path| p.canonicalize().unwrap_or_else(|_| p.to_owned());
    if canon(in_dir) == canon(out_dir) {
        return Ok(());
    }
    let backing = in_dir.join(name).canonicalize().map_err(|e| Error::Image {
        path: input.to_owned(),
        message: format!("backing file {name}: {e}; the backing chain must be complete"),
    })?;
    let abs = backing.to_string_lossy().into_owned();
    let cluster = 1u64 << h.cluster_bits;
    if abs.len() > 1023 || h.backing_file_offset + abs.len() as u64 > cluster {
        return Err(out_err(output, format!("the input's backing file name {name} is relative and does not fit as an absolute path; write the output next to the input")));
    }
    let io = |e: std::io::Error| out_err(output, io_message(&e, "updating the backing file name"));
    file.write_all_at(abs.as_bytes(), h.backing_file_offset).map_err(io)?;
    file.write_all_at(&(abs.len() as u32).to_be_bytes(), 16).map_err(io)?;
    tracing::info!("output's backing file set to {abs}");
    Ok(())
}
