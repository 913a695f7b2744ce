//! [`DiskImage`]: a qcow2 or raw image file as a flat, byte-addressed disk, through imago.

use super::probe::{probe, ImageFormat, Qcow2Header};
use crate::error::{Error, Result};
use imago::file::File as ImagoFile;
use imago::qcow2::Qcow2;
use imago::raw::Raw;
use imago::{FormatAccess, FormatDriverBuilder, PermissiveImplicitOpenGate};
use std::path::{Path, PathBuf};

/// An open disk image. `Sync`: reads may run on many threads at once (imago serialises what
/// it must internally), which is how file data is hashed in parallel.
pub struct DiskImage {
    access: FormatAccess<ImagoFile>,
    path: PathBuf,
    format: ImageFormat,
    qcow2: Option<Qcow2Header>,
    writable: bool,
}

impl DiskImage {
    /// Opens `path` after checking what it is ([`probe`]). A qcow2 backing chain is opened
    /// read-only, whatever `writable` says; only the top image is ever written.
    pub fn open(path: &Path, writable: bool) -> Result<DiskImage> {
        let (format, qcow2) = probe(path)?;
        let access = match format {
            ImageFormat::Qcow2 => {
                let q = Qcow2::<ImagoFile>::builder_path(path)
                    .write(writable)
                    .open(PermissiveImplicitOpenGate::default())
                    .map_err(|e| Error::Image {
                        path: path.to_owned(),
                        message: format!("cannot open as qcow2: {e}"),
                    })?;
                FormatAccess::new(q)
            }
            ImageFormat::Raw => {
                let r = Raw::<ImagoFile>::builder_path(path)
                    .write(writable)
                    .open(PermissiveImplicitOpenGate::default())
                    .map_err(|e| Error::ImageIo { path: path.to_owned(), op: "open".into(), cause: e })?;
                FormatAccess::new(r)
            }
        };
        Ok(DiskImage { access, path: path.to_owned(), format, qcow2, writable })
    }

    /// The image file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Its format.
    pub fn format(&self) -> ImageFormat {
        self.format
    }

    /// The qcow2 header facts, for qcow2 images.
    pub fn qcow2_header(&self) -> Option<&Qcow2Header> {
        self.qcow2.as_ref()
    }

    /// Virtual disk size in bytes.
    pub fn size(&self) -> u64 {
        self.access.size()
    }

    fn bounds(&self, offset: u64, len: usize, op: &str) -> Result<()> {
        match offset.checked_add(len as u64) {
            Some(end) if end <= self.size() => Ok(()),
            _ => Err(Error::ImageIo {
                path: self.path.clone(),
                op: format!("{op} {len} bytes at offset {offset}"),
                cause: std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    format!("beyond the end of the {} byte disk", self.size()),
                ),
            }),
        }
    }

    /// Reads `buf.len()` bytes at `offset` of the virtual disk.
    pub fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        self.bounds(offset, buf.len(), "read")?;
        let len = buf.len();
        self.access.read(buf, offset).map_err(|e| Error::ImageIo {
            path: self.path.clone(),
            op: format!("read {len} bytes at offset {offset}"),
            cause: e,
        })
    }

    /// Writes `buf` at `offset` of the virtual disk.
    pub fn write_at(&self, offset: u64, buf: &[u8]) -> Result<()> {
        if !self.writable {
            return Err(Error::Image {
                path: self.path.clone(),
                message: "internal error: write to an image opened read-only".into(),
            });
        }
        self.bounds(offset, buf.len(), "write")?;
        self.access.write(buf, offset).map_err(|e| Error::ImageIo {
            path: self.path.clone(),
            op: format!("write {} bytes at offset {offset}", buf.len()),
            cause: e,
        })
    }

    /// Writes imago's cached metadata back to the file (no fsync), so that another reader of the
    /// file, such as [`super::FastReader`], sees the current image.
    pub fn write_back(&self) -> Result<()> {
        self.access.flush().map_err(|e| Error::ImageIo { path: self.path.clone(), op: "flush".into(), cause: e })
    }

    /// Writes metadata and data back to the file and syncs it.
    pub fn flush(&self) -> Result<()> {
        let io = |op: &str, e| Error::ImageIo { path: self.path.clone(), op: op.into(), cause: e };
        self.access.flush().map_err(|e| io("flush", e))?;
        if self.writable {
            self.access.sync().map_err(|e| io("sync", e))?;
        }
        Ok(())
    }
}

impl std::fmt::Debug for DiskImage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DiskImage")
            .field("path", &self.path)
            .field("format", &self.format)
            .field("size", &self.size())
            .finish()
    }
}

/// `Read + Seek` over a disk, for parsers such as gptman and mbrman.
pub struct DiskReader<'a> {
    disk: &'a DiskImage,
    pos: u64,
}

impl<'a> DiskReader<'a> {
    /// A reader positioned at offset 0.
    pub fn new(disk: &'a DiskImage) -> Self {
        DiskReader { disk, pos: 0 }
    }
}

impl std::io::Read for DiskReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = (buf.len() as u64).min(self.disk.size().saturating_sub(self.pos)) as usize;
        if n == 0 {
            return Ok(0);
        }
        self.disk.read_at(self.pos, &mut buf[..n]).map_err(std::io::Error::other)?;
        self.pos += n as u64;
        Ok(n)
    }
}

impl std::io::Seek for DiskReader<'_> {
    fn seek(&mut self, to: std::io::SeekFrom) -> std::io::Result<u64> {
        let base = match to {
            std::io::SeekFrom::Start(x) => Some(x),
            std::io::SeekFrom::End(d) => self.disk.size().checked_add_signed(d),
            std::io::SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        self.pos = base.ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidInput, "seek before start"))?;
        Ok(self.pos)
    }
}
