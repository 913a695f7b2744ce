//! The guest's filesystems: a [`Partition`] of a [`DiskImage`] opened through libext2fs (the
//! `ext2fs` crate), with errors that name the partition, and fast parallel-safe reads of file
//! data straight from the disk.

mod device;

pub use device::PartitionDevice;

use crate::disk::{DiskImage, FastReader, ImageFormat, Inflater};
use crate::error::{Error, Result};
use crate::partition::Partition;
use ext2fs::{FileKind, FileLayout, Filesystem, Ino, NewInode, OpenMode};
use std::sync::Arc;

/// An ext2/3/4 filesystem of the guest.
pub struct GuestFs {
    fs: Filesystem,
    disk: Arc<DiskImage>,
    partition: Partition,
    location: String,
    /// The libdeflate read path, for a read-only filesystem (shared with [`DataReader`]).
    fast: Option<Arc<FastReader>>,
}

/// The libdeflate read path for a qcow2 image, after writing imago's cached metadata back to
/// the file (the fast reader sees the file, not imago's cache); `None` for raw images and
/// qcow2 features it does not handle.
fn fast_reader(disk: &DiskImage) -> Result<Option<Arc<FastReader>>> {
    match disk.format() {
        ImageFormat::Qcow2 => {
            disk.write_back()?;
            Ok(FastReader::open(disk.path())?.map(Arc::new))
        }
        ImageFormat::Raw => Ok(None),
    }
}

impl GuestFs {
    /// Opens the ext filesystem in `partition`.
    pub fn open(disk: Arc<DiskImage>, partition: &Partition, mode: OpenMode) -> Result<GuestFs> {
        let location = partition.describe();
        let mut device = PartitionDevice::new(disk.clone(), partition.start, partition.size);
        let fast = if mode == OpenMode::ReadOnly { fast_reader(&disk)? } else { None };
        if let Some(f) = &fast {
            device = device.read_through(f.clone());
        }
        let fs = Filesystem::open(Box::new(device), mode)
            .map_err(|cause| Error::Filesystem { location: location.clone(), cause })?;
        Ok(GuestFs { fs, disk, partition: partition.clone(), location, fast })
    }

    /// The partition this filesystem lives in.
    pub fn partition(&self) -> &Partition {
        &self.partition
    }

    /// `partition 1 (ext4, ...)`, for messages.
    pub fn location(&self) -> &str {
        &self.location
    }

    /// The libext2fs handle, for operations this wrapper does not cover.
    pub fn raw(&self) -> &Filesystem {
        &self.fs
    }

    /// Wraps an `ext2fs` error with this filesystem's location.
    pub fn err(&self, source: ext2fs::Error) -> Error {
        let mut location = self.location.clone();
        if source.code() == ext2fs::Code::NoSpace {
            location = if source.is_device_error() {
                format!("the disk holding the output is full (while changing {location}); free space there or write the output elsewhere with -o")
            } else {
                format!("the guest filesystem in {location} is full; grow it first (qemu-img resize, then grow the partition and resize2fs)")
            };
        }
        Error::Filesystem { location, cause: source }
    }

    /// Resolves a path (following a final symlink); `None` if it does not exist.
    pub fn find(&self, path: &str) -> Result<Option<Ino>> {
        match self.fs.lookup_follow(path) {
            Ok(ino) => Ok(Some(ino)),
            Err(e) if e.code() == ext2fs::Code::NotFound => Ok(None),
            Err(e) => Err(self.err(e)),
        }
    }

    /// Reads a whole file by path; `None` if it does not exist.
    pub fn read(&self, path: &str) -> Result<Option<Vec<u8>>> {
        let Some(ino) = self.find(path)? else { return Ok(None) };
        let meta = self.fs.metadata(ino).map_err(|e| self.err(e))?;
        if meta.kind != FileKind::Regular {
            return Err(Error::Guest {
                path: path.into(),
                message: format!("is a {:?}, expected a regular file", meta.kind),
            });
        }
        self.fs.read_file(ino).map(Some).map_err(|e| self.err(e))
    }

    /// Reads a text file; `None` if it does not exist.
    pub fn read_text(&self, path: &str) -> Result<Option<String>> {
        match self.read(path)? {
            None => Ok(None),
            Some(b) => String::from_utf8(b)
                .map(Some)
                .map_err(|_| Error::Guest { path: path.into(), message: "is not valid UTF-8 text".into() }),
        }
    }

    /// Names in a directory (empty if the directory does not exist).
    pub fn list_dir(&self, path: &str) -> Result<Vec<String>> {
        let Some(ino) = self.find(path)? else { return Ok(Vec::new()) };
        let entries = self.fs.read_dir(ino).map_err(|e| self.err(e))?;
        Ok(entries.into_iter().map(|e| String::from_utf8_lossy(&e.name).into_owned()).collect())
    }

    /// Writes `data` to `path`: an existing file keeps its inode, owner, mode and extended
    /// attributes; a new one is created with `mode` and root ownership. Missing parent
    /// directories are created (0755, root). Returns true if and only if anything changed.
    pub fn write(&mut self, path: &str, data: &[u8], mode: u16) -> Result<bool> {
        let now = now();
        if let Some(ino) = self.find(path)? {
            if self.fs.read_file(ino).map_err(|e| self.err(e))? == data {
                return Ok(false);
            }
            self.fs.write_file(ino, data, now).map_err(|e| self.err(e))?;
            return Ok(true);
        }
        let parent = path.rsplit_once('/').map(|(p, _)| p).unwrap_or("");
        self.mkdir_all(if parent.is_empty() { "/" } else { parent })?;
        let new = NewInode { kind: FileKind::Regular, mode, uid: 0, gid: 0, time: now };
        let ino = self.fs.create(path, new).map_err(|e| self.err(e))?;
        self.fs.write_file(ino, data, now).map_err(|e| self.err(e))?;
        Ok(true)
    }

    /// Creates a directory and its missing parents (0755, owned by root).
    pub fn mkdir_all(&mut self, path: &str) -> Result<()> {
        let mut cur = String::new();
        for part in path.split('/').filter(|s| !s.is_empty()) {
            cur.push('/');
            cur.push_str(part);
            match self.find(&cur)? {
                Some(ino) => {
                    let kind = self.fs.metadata(ino).map_err(|e| self.err(e))?.kind;
                    if kind != FileKind::Directory {
                        return Err(Error::Guest {
                            path: cur,
                            message: format!("is a {kind:?}, expected a directory"),
                        });
                    }
                }
                None => {
                    let new = NewInode { kind: FileKind::Directory, mode: 0o755, uid: 0, gid: 0, time: now() };
                    self.fs.create(&cur, new).map_err(|e| self.err(e))?;
                }
            }
        }
        Ok(())
    }

    /// Mutable access to the libext2fs handle.
    pub fn raw_mut(&mut self) -> &mut Filesystem {
        &mut self.fs
    }

    /// A reader of file data that works without the libext2fs handle, so it can be used from
    /// many threads at once. Writes made so far are written back to the image file first: the
    /// reader may bypass imago (see [`crate::disk::FastReader`]).
    pub fn data_reader(&self) -> Result<DataReader> {
        let cluster = self.disk.qcow2_header().map(|h| 1u64 << h.cluster_bits);
        // A read-only filesystem already has one; after writes, a fresh one sees them.
        let fast = match &self.fast {
            Some(f) => Some(f.clone()),
            None => fast_reader(&self.disk)?,
        };
        Ok(DataReader {
            disk: self.disk.clone(),
            start: self.partition.start,
            size: self.partition.size,
            cluster,
            fast,
        })
    }

    /// Writes everything back and closes.
    pub fn close(self) -> Result<()> {
        let location = self.location;
        self.fs.close().map_err(|cause| Error::Filesystem { location, cause })
    }
}

/// Reads file contents from their [`FileLayout`] straight from the disk image (no libext2fs),
/// so many threads can read at once. Holes and unwritten extents read as zeros, as the kernel
/// would return them.
#[derive(Clone)]
pub struct DataReader {
    disk: Arc<DiskImage>,
    start: u64,
    size: u64,
    /// qcow2 cluster size: small reads go through a per-thread cluster cache (see [`ReadScratch`]).
    cluster: Option<u64>,
    /// The libdeflate read path for qcow2, when the image allows it.
    fast: Option<Arc<FastReader>>,
}

const READ_CHUNK: u64 = 1 << 20;

/// Per-thread buffers for [`DataReader::read`]. Reading a small file out of a compressed qcow2
/// cluster inflates the whole cluster; files are read in disk order, so neighbours usually share
/// it. Keeping the last cluster read saves inflating it again for each of them.
#[derive(Default)]
pub struct ReadScratch {
    buf: Vec<u8>,
    cluster: Option<(u64, Vec<u8>)>,
    inflater: Inflater,
}

impl DataReader {
    /// Streams bytes `0..size` of the file to `sink`, in chunks of at most 1 MiB.
    pub fn read(&self, layout: &FileLayout, scratch: &mut ReadScratch, mut sink: impl FnMut(&[u8])) -> Result<()> {
        let (size, block_size, extents) = match layout {
            FileLayout::Inline(bytes) => {
                sink(bytes);
                return Ok(());
            }
            FileLayout::Blocks { size, block_size, extents } => (*size, *block_size as u64, extents),
        };
        scratch.buf.resize(READ_CHUNK as usize, 0);
        let mut pos = 0u64; // next file offset to emit
        for e in extents {
            let from = e.logical * block_size;
            if from >= size {
                break;
            }
            let to = ((e.logical + e.len) * block_size).min(size);
            emit_zeros(from, &mut pos, &mut scratch.buf, &mut sink);
            if e.unwritten {
                emit_zeros(to, &mut pos, &mut scratch.buf, &mut sink);
                continue;
            }
            let mut disk_off = e.physical * block_size + (pos - from);
            while pos < to {
                let n = (to - pos).min(READ_CHUNK) as usize;
                if disk_off + n as u64 > self.size {
                    return Err(Error::Image {
                        path: self.disk.path().to_owned(),
                        message: format!("a file's block at partition offset {disk_off} lies outside the partition; the filesystem is corrupt, run e2fsck"),
                    });
                }
                self.read_piece(self.start + disk_off, n, scratch)?;
                sink(&scratch.buf[..n]);
                pos += n as u64;
                disk_off += n as u64;
            }
        }
        emit_zeros(size, &mut pos, &mut scratch.buf, &mut sink);
        Ok(())
    }

    /// Fills `scratch.buf[..n]` with the disk bytes at `abs`, through the cluster cache when
    /// the piece is smaller than a cluster.
    fn read_piece(&self, abs: u64, n: usize, scratch: &mut ReadScratch) -> Result<()> {
        let Some(cluster) = self.cluster.filter(|c| (n as u64) < *c) else {
            return self.disk_read(abs, n, scratch);
        };
        let mut done = 0usize;
        while done < n {
            let at = abs + done as u64;
            let base = at - at % cluster;
            if scratch.cluster.as_ref().map(|(b, _)| *b) != Some(base) {
                let len = cluster.min(self.disk.size() - base) as usize;
                let mut data = scratch.cluster.take().map(|(_, d)| d).unwrap_or_default();
                data.resize(len, 0);
                match &self.fast {
                    Some(f) => f.read_at(base, &mut data, &mut scratch.inflater)?,
                    None => self.disk.read_at(base, &mut data)?,
                }
                scratch.cluster = Some((base, data));
            }
            let (_, data) = scratch.cluster.as_ref().expect("filled above");
            let within = (at - base) as usize;
            let take = (data.len() - within).min(n - done);
            scratch.buf[done..done + take].copy_from_slice(&data[within..within + take]);
            done += take;
        }
        Ok(())
    }
}

impl DataReader {
    /// Fills `scratch.buf[..n]` from the disk at `abs`, through the fast path when there is one.
    fn disk_read(&self, abs: u64, n: usize, scratch: &mut ReadScratch) -> Result<()> {
        match &self.fast {
            Some(f) => f.read_at(abs, &mut scratch.buf[..n], &mut scratch.inflater),
            None => self.disk.read_at(abs, &mut scratch.buf[..n]),
        }
    }
}

/// Feeds zeros for file bytes `pos..upto` (a hole or an unwritten extent).
fn emit_zeros(upto: u64, pos: &mut u64, buf: &mut [u8], sink: &mut dyn FnMut(&[u8])) {
    while *pos < upto {
        let n = (upto - *pos).min(READ_CHUNK) as usize;
        buf[..n].fill(0);
        sink(&buf[..n]);
        *pos += n as u64;
    }
}

fn now() -> u32 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as u32).unwrap_or(0)
}
