//! A small, safe API over e2fsprogs' `libext2fs`: open an ext2/3/4 filesystem that lives on
//! any [`BlockDevice`] (a partition inside a qcow2 image, say), read and replace files, create
//! files and directories, walk the tree, and get, set and list extended attributes.
//!
//! All `unsafe` code of the project lives in this crate (`fs.rs` and `io_manager.rs`); callers
//! see plain data types. libext2fs is not thread-safe, so [`Filesystem`] is `Send` but not
//! `Sync`; to read many files in parallel, ask for their [`FileLayout`] and read the blocks from
//! the device yourself.

mod error;
mod fs;
mod io_manager;
mod walk;

pub use error::{Code, Error, Result};
pub use fs::{Filesystem, OpenMode};
pub use walk::WalkEntry;

/// Byte-addressed storage that holds a filesystem, starting at offset 0.
///
/// Implementations are called from libext2fs callbacks on the thread that uses the
/// [`Filesystem`]. A short device must return an error, not partial data.
pub trait BlockDevice: Send {
    /// Fills `buf` with the bytes at `offset`.
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> std::io::Result<()>;
    /// Writes `buf` at `offset`.
    fn write_at(&mut self, offset: u64, buf: &[u8]) -> std::io::Result<()>;
    /// Makes previous writes durable (as far as the device can).
    fn flush(&mut self) -> std::io::Result<()>;
}

/// An inode number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Ino(pub u32);

impl Ino {
    /// The root directory.
    pub const ROOT: Ino = Ino(2);
}

/// What an inode is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FileKind {
    /// A regular file.
    Regular,
    /// A directory.
    Directory,
    /// A symbolic link.
    Symlink,
    /// A character device node.
    CharDevice,
    /// A block device node.
    BlockDevice,
    /// A named pipe.
    Fifo,
    /// A Unix socket.
    Socket,
    /// Anything else (a corrupt or unknown type).
    Unknown,
}

impl FileKind {
    /// From the `S_IFMT` bits of an inode mode.
    pub fn from_mode(mode: u16) -> FileKind {
        match mode & 0o170000 {
            0o100000 => FileKind::Regular,
            0o040000 => FileKind::Directory,
            0o120000 => FileKind::Symlink,
            0o020000 => FileKind::CharDevice,
            0o060000 => FileKind::BlockDevice,
            0o010000 => FileKind::Fifo,
            0o140000 => FileKind::Socket,
            _ => FileKind::Unknown,
        }
    }

    /// From the file type byte of a directory entry (`EXT2_FT_*`).
    pub fn from_dirent_type(t: u8) -> FileKind {
        match t {
            1 => FileKind::Regular,
            2 => FileKind::Directory,
            3 => FileKind::CharDevice,
            4 => FileKind::BlockDevice,
            5 => FileKind::Fifo,
            6 => FileKind::Socket,
            7 => FileKind::Symlink,
            _ => FileKind::Unknown,
        }
    }
}

/// Facts from the superblock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Superblock {
    /// Filesystem UUID, as stored (big-endian byte order, as `blkid` prints it).
    pub uuid: [u8; 16],
    /// Volume label (may be empty).
    pub label: String,
    /// Block size in bytes.
    pub block_size: u32,
    /// On-disk inode size in bytes.
    pub inode_size: u16,
    /// Free blocks.
    pub free_blocks: u64,
    /// Free inodes.
    pub free_inodes: u32,
    /// The `ext_attr` feature: extended attributes can be stored.
    pub has_xattrs: bool,
    /// The `extent` feature.
    pub has_extents: bool,
    /// The `inline_data` feature.
    pub has_inline_data: bool,
    /// Uses ext4-only features (extents): the kernel mounts it as ext4.
    pub is_ext4_like: bool,
}

impl Superblock {
    /// The UUID in the usual 8-4-4-4-12 lower-case form.
    pub fn uuid_string(&self) -> String {
        let h: String = self.uuid.iter().map(|b| format!("{b:02x}")).collect();
        format!("{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32])
    }
}

/// Inode metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Metadata {
    /// The inode number.
    pub ino: Ino,
    /// What it is.
    pub kind: FileKind,
    /// Permission bits (including setuid/setgid/sticky), without the type bits.
    pub mode: u16,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Size in bytes.
    pub size: u64,
    /// Hard link count.
    pub links: u16,
    /// Inode flags (`EXT4_*_FL`).
    pub flags: u32,
    /// Modification time, seconds since the epoch.
    pub mtime: u32,
}

impl Metadata {
    /// Returns true if and only if the file's data is encrypted (fscrypt): its bytes on disk
    /// are not what the kernel hashes.
    pub fn is_encrypted(&self) -> bool {
        self.flags & ext2fs_sys::EXT4_ENCRYPT_FL != 0
    }
}

/// One entry of a directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirEntry {
    /// The name, as raw bytes (ext4 names need not be UTF-8).
    pub name: Vec<u8>,
    /// The inode it points to.
    pub ino: Ino,
    /// The type recorded in the entry (may be `Unknown` on filesystems without `filetype`).
    pub kind: FileKind,
}

/// What to create with [`Filesystem::create`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NewInode {
    /// `Regular` or `Directory`.
    pub kind: FileKind,
    /// Permission bits.
    pub mode: u16,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Access, change and modification time, seconds since the epoch.
    pub time: u32,
}

/// A run of contiguous blocks of a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Extent {
    /// First block within the file.
    pub logical: u64,
    /// First block on the device.
    pub physical: u64,
    /// Number of blocks.
    pub len: u64,
    /// Allocated but never written: reads as zeros whatever the blocks hold.
    pub unwritten: bool,
}

/// Where a regular file's bytes are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileLayout {
    /// Stored inside the inode (`inline_data`): here are the bytes.
    Inline(Vec<u8>),
    /// Stored in blocks. Bytes `0..size`; blocks not covered by an extent are holes (zeros).
    Blocks {
        /// File size in bytes.
        size: u64,
        /// Filesystem block size in bytes.
        block_size: u32,
        /// Mapped runs, sorted by logical block.
        extents: Vec<Extent>,
    },
}
