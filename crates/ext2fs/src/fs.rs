//! The [`Filesystem`] handle: opening, superblock facts, inodes, file contents, directories,
//! extended attributes and data layout. Every `unsafe` call into libext2fs lives in this file
//! or in `io_manager.rs`.

use crate::error::{Code, Error, Result};
use crate::io_manager::{self, IoErrorSlot};
use crate::{BlockDevice, DirEntry, Extent, FileKind, FileLayout, Ino, Metadata, NewInode, Superblock};
use ext2fs_sys as sys;
use std::ffi::{c_char, c_int, c_uint, c_void, CStr, CString};
use std::ptr;
use std::sync::{Arc, Once};

/// How to open a filesystem.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenMode {
    /// Nothing is ever written to the device.
    ReadOnly,
    /// Writes allowed; block and inode bitmaps are loaded so that allocation works.
    ReadWrite,
}

// Superblock bits the C headers expose only as macros or inline functions.
const INCOMPAT_RECOVER: u32 = 0x0004;
const INCOMPAT_JOURNAL_DEV: u32 = 0x0008;
const COMPAT_EXT_ATTR: u32 = 0x0008;
const INCOMPAT_EXTENTS: u32 = 0x0040;
const INCOMPAT_INLINE_DATA: u32 = 0x8000;
const STATE_VALID: u16 = 0x0001;
const STATE_ERROR: u16 = 0x0002;

pub(crate) fn register_error_table() {
    static ONCE: Once = Once::new();
    // SAFETY: registers com_err's static ext2 error table; idempotent behind Once.
    ONCE.call_once(|| unsafe { sys::initialize_ext2_error_table() });
}

/// An open ext2/3/4 filesystem.
///
/// libext2fs handles are not thread-safe, so `Filesystem` is `Send` but not `Sync`: use it
/// from one thread at a time, and read file data in parallel through [`Filesystem::layout`] and
/// your own access to the device.
pub struct Filesystem {
    raw: sys::ext2_filsys,
    io_errors: Arc<IoErrorSlot>,
    mode: OpenMode,
}

// SAFETY: the ext2_filsys and everything it owns (including our io channel, whose BlockDevice
// is Send) are only touched through &self/&mut self of this one owner, never shared.
unsafe impl Send for Filesystem {}

impl Filesystem {
    /// Opens the filesystem on `device` (offset 0 is the start of the filesystem).
    ///
    /// Refuses a filesystem whose journal needs recovery, that records errors, that was not
    /// cleanly unmounted or that has orphan inodes pending: changing it could lose data, and
    /// reading it would show stale contents. Run `e2fsck` on such a filesystem first.
    pub fn open(device: Box<dyn BlockDevice>, mode: OpenMode) -> Result<Filesystem> {
        register_error_table();
        let io_errors = Arc::new(IoErrorSlot::default());
        let name = io_manager::park(device, io_errors.clone());
        let cname = CString::new(name.clone()).expect("device name has no NUL");
        let mut flags = sys::EXT2_FLAG_64BITS as c_int;
        if mode == OpenMode::ReadWrite {
            flags |= sys::EXT2_FLAG_RW as c_int;
        }
        let mut raw: sys::ext2_filsys = ptr::null_mut();
        // SAFETY: valid C string, our manager table, out-pointer to a local.
        let rc =
            unsafe { sys::ext2fs_open2(cname.as_ptr(), ptr::null(), flags, 0, 0, io_manager::manager(), &mut raw) };
        if rc != 0 {
            io_manager::unpark(&name);
            return Err(Error::from_errcode("open filesystem", rc, io_errors.take()));
        }
        let fs = Filesystem { raw, io_errors, mode };
        fs.check_state()?;
        if mode == OpenMode::ReadWrite {
            // SAFETY: raw is a valid open filesystem.
            fs.check("read allocation bitmaps", unsafe { sys::ext2fs_read_bitmaps(fs.raw) })?;
        }
        Ok(fs)
    }

    fn check(&self, op: impl Into<String>, rc: sys::errcode_t) -> Result<()> {
        if rc == 0 {
            Ok(())
        } else {
            Err(Error::from_errcode(op, rc, self.io_errors.take()))
        }
    }

    fn sb(&self) -> &sys::ext2_super_block {
        // SAFETY: super_ is valid for the lifetime of the open filesystem.
        unsafe { &*(*self.raw).super_ }
    }

    fn check_state(&self) -> Result<()> {
        let sb = self.sb();
        let how = "run `e2fsck -f` on it (or boot the guest and shut it down cleanly) and try again";
        if sb.s_feature_incompat & INCOMPAT_JOURNAL_DEV != 0 {
            return Err(Error::new(
                "open filesystem",
                Code::UnsupportedFeature,
                "this is an external journal device, not a filesystem",
            ));
        }
        if sb.s_feature_incompat & INCOMPAT_RECOVER != 0 {
            return Err(Error::new(
                "open filesystem",
                Code::NeedsRecovery,
                format!("the journal needs recovery (the filesystem was not cleanly unmounted); {how}"),
            ));
        }
        if sb.s_state & STATE_ERROR != 0 {
            return Err(Error::new(
                "open filesystem",
                Code::NotClean,
                format!("the superblock records filesystem errors; {how}"),
            ));
        }
        if sb.s_state & STATE_VALID == 0 {
            return Err(Error::new(
                "open filesystem",
                Code::NotClean,
                format!("the filesystem was not cleanly unmounted; {how}"),
            ));
        }
        if sb.s_last_orphan != 0 {
            return Err(Error::new(
                "open filesystem",
                Code::NotClean,
                format!("orphan inodes are waiting to be released; {how}"),
            ));
        }
        Ok(())
    }

    /// Facts from the superblock.
    pub fn superblock(&self) -> Superblock {
        let sb = self.sb();
        let label_len = sb.s_volume_name.iter().position(|&c| c == 0).unwrap_or(sb.s_volume_name.len());
        let label: Vec<u8> = sb.s_volume_name[..label_len].to_vec();
        // SAFETY: valid superblock pointer.
        let free_blocks = unsafe { sys::ext2fs_free_blocks_count((*self.raw).super_) };
        Superblock {
            uuid: sb.s_uuid,
            label: String::from_utf8_lossy(&label).into_owned(),
            block_size: 1024u32 << sb.s_log_block_size,
            inode_size: sb.s_inode_size,
            free_blocks,
            free_inodes: sb.s_free_inodes_count,
            has_xattrs: sb.s_feature_compat & COMPAT_EXT_ATTR != 0,
            has_extents: sb.s_feature_incompat & INCOMPAT_EXTENTS != 0,
            has_inline_data: sb.s_feature_incompat & INCOMPAT_INLINE_DATA != 0,
            is_ext4_like: sb.s_feature_incompat & INCOMPAT_EXTENTS != 0,
        }
    }

    /// The mode this filesystem was opened in.
    pub fn mode(&self) -> OpenMode {
        self.mode
    }

    fn require_rw(&self, op: &str) -> Result<()> {
        if self.mode == OpenMode::ReadWrite {
            Ok(())
        } else {
            Err(Error::new(op, Code::Other, "the filesystem was opened read-only"))
        }
    }

    /// Resolves an absolute path; symbolic links in the middle are followed, a final one is not.
    pub fn lookup(&self, path: &str) -> Result<Ino> {
        self.namei(path, false)
    }

    /// Resolves an absolute path, following a final symbolic link too.
    pub fn lookup_follow(&self, path: &str) -> Result<Ino> {
        self.namei(path, true)
    }

    fn namei(&self, path: &str, follow: bool) -> Result<Ino> {
        let op = || format!("look up {path}");
        let c = CString::new(path).map_err(|_| Error::new(op(), Code::NotFound, "path contains a NUL byte"))?;
        let root = sys::EXT2_ROOT_INO;
        let mut ino = 0;
        // SAFETY: valid fs and C string; out-pointer to a local.
        let rc = unsafe {
            if follow {
                sys::ext2fs_namei_follow(self.raw, root, root, c.as_ptr(), &mut ino)
            } else {
                sys::ext2fs_namei(self.raw, root, root, c.as_ptr(), &mut ino)
            }
        };
        self.check(op(), rc)?;
        Ok(Ino(ino))
    }

    /// Returns true if and only if `path` exists (a dangling final symlink counts as existing).
    pub fn exists(&self, path: &str) -> Result<bool> {
        match self.lookup(path) {
            Ok(_) => Ok(true),
            Err(e) if e.code() == Code::NotFound => Ok(false),
            Err(e) => Err(e),
        }
    }

    fn read_inode(&self, ino: Ino) -> Result<sys::ext2_inode> {
        let mut inode = sys::ext2_inode::default();
        // SAFETY: valid fs; inode is a properly sized out-buffer.
        let rc = unsafe { sys::ext2fs_read_inode(self.raw, ino.0, &mut inode) };
        self.check(format!("read inode {}", ino.0), rc)?;
        Ok(inode)
    }

    fn write_inode(&self, ino: Ino, inode: &mut sys::ext2_inode) -> Result<()> {
        // SAFETY: valid fs and inode buffer.
        let rc = unsafe { sys::ext2fs_write_inode(self.raw, ino.0, inode) };
        self.check(format!("write inode {}", ino.0), rc)
    }

    /// Owner, mode, size and the rest of an inode.
    pub fn metadata(&self, ino: Ino) -> Result<Metadata> {
        let inode = self.read_inode(ino)?;
        Ok(metadata_of(ino, &inode))
    }

    /// Reads a whole regular file.
    pub fn read_file(&self, ino: Ino) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        self.read_file_with(ino, |chunk| {
            out.extend_from_slice(chunk);
            Ok(())
        })?;
        Ok(out)
    }

    /// Streams a regular file's bytes (0..size, holes as zeros) to `sink` in chunks.
    pub fn read_file_with(&self, ino: Ino, mut sink: impl FnMut(&[u8]) -> Result<()>) -> Result<u64> {
        let op = || format!("read inode {}", ino.0);
        let mut file: sys::ext2_file_t = ptr::null_mut();
        // SAFETY: valid fs, out-pointer to a local.
        self.check(op(), unsafe { sys::ext2fs_file_open(self.raw, ino.0, 0, &mut file) })?;
        let mut buf = vec![0u8; 1 << 20];
        let mut total = 0u64;
        let result = loop {
            let mut got: c_uint = 0;
            // SAFETY: file is open; buf has buf.len() writable bytes.
            let rc =
                unsafe { sys::ext2fs_file_read(file, buf.as_mut_ptr() as *mut c_void, buf.len() as c_uint, &mut got) };
            if rc != 0 {
                break Err(Error::from_errcode(op(), rc, self.io_errors.take()));
            }
            if got == 0 {
                break Ok(total);
            }
            total += got as u64;
            if let Err(e) = sink(&buf[..got as usize]) {
                break Err(e);
            }
        };
        // SAFETY: file is open and closed exactly once.
        let rc = unsafe { sys::ext2fs_file_close(file) };
        let total = result?;
        self.check(op(), rc)?;
        Ok(total)
    }

    /// Replaces a regular file's contents, keeping its inode, owner, mode and extended
    /// attributes; modification and change times become `now` (seconds since the epoch).
    pub fn write_file(&mut self, ino: Ino, data: &[u8], now: u32) -> Result<()> {
        let op = || format!("write inode {}", ino.0);
        self.require_rw(&op())?;
        let mut file: sys::ext2_file_t = ptr::null_mut();
        // SAFETY: valid fs; out-pointer to a local.
        self.check(op(), unsafe { sys::ext2fs_file_open(self.raw, ino.0, sys::EXT2_FILE_WRITE as c_int, &mut file) })?;
        let result = (|| {
            // SAFETY: file is open for writing.
            self.check(op(), unsafe { sys::ext2fs_file_set_size2(file, 0) })?;
            let mut done = 0usize;
            while done < data.len() {
                let chunk = &data[done..(done + (1 << 30)).min(data.len())];
                let mut written: c_uint = 0;
                // SAFETY: chunk is valid for chunk.len() bytes.
                let rc = unsafe {
                    sys::ext2fs_file_write(file, chunk.as_ptr() as *const c_void, chunk.len() as c_uint, &mut written)
                };
                self.check(op(), rc)?;
                if written == 0 {
                    return Err(Error::new(op(), Code::Io, "libext2fs wrote nothing"));
                }
                done += written as usize;
            }
            Ok(())
        })();
        // SAFETY: closed exactly once; this also flushes the file's buffer.
        let rc = unsafe { sys::ext2fs_file_close(file) };
        result?;
        self.check(op(), rc)?;
        let mut inode = self.read_inode(ino)?;
        inode.i_mtime = now;
        inode.i_ctime = now;
        self.write_inode(ino, &mut inode)
    }

    /// Sets owner, group and permission bits of an inode (like chown + chmod).
    pub fn set_owner_mode(&mut self, ino: Ino, uid: u32, gid: u32, mode: u16, now: u32) -> Result<()> {
        self.require_rw("chown/chmod")?;
        let mut inode = self.read_inode(ino)?;
        set_owner(&mut inode, uid, gid);
        inode.i_mode = (inode.i_mode & 0o170000) | (mode & 0o7777);
        inode.i_ctime = now;
        self.write_inode(ino, &mut inode)
    }

    /// Checks that a new entry can be made at `path` (writable, parent exists, name free) and
    /// returns the parent directory and the name as a C string.
    fn new_entry(&self, path: &str, op: &dyn Fn() -> String) -> Result<(Ino, CString)> {
        self.require_rw(&op())?;
        let (parent, name) =
            split_parent(path).ok_or_else(|| Error::new(op(), Code::Other, "not an absolute path with a file name"))?;
        let parent_ino = self.lookup_follow(parent)?;
        if self.exists(path)? {
            return Err(Error::new(op(), Code::Exists, "already exists"));
        }
        let cname = CString::new(name).map_err(|_| Error::new(op(), Code::Other, "name contains a NUL byte"))?;
        Ok((parent_ino, cname))
    }

    /// Creates an empty regular file or a directory named by the absolute `path` (its parent
    /// must exist) with the given owner and permission bits.
    pub fn create(&mut self, path: &str, new: NewInode) -> Result<Ino> {
        let op = || format!("create {path}");
        let (parent_ino, cname) = self.new_entry(path, &op)?;
        let ino = match new.kind {
            FileKind::Directory => {
                self.retry_dir_full(
                    parent_ino,
                    || {
                        // SAFETY: valid fs and C string; inum 0 lets libext2fs allocate.
                        unsafe { sys::ext2fs_mkdir(self.raw, parent_ino.0, 0, cname.as_ptr()) }
                    },
                    &op,
                )?;
                self.lookup(path)?
            }
            FileKind::Regular => self.create_regular(parent_ino, &cname, new.mode, &op)?,
            other => return Err(Error::new(op(), Code::WrongFileType, format!("cannot create a {other:?}"))),
        };
        let mut inode = self.read_inode(ino)?;
        set_owner(&mut inode, new.uid, new.gid);
        inode.i_mode = (inode.i_mode & 0o170000) | (new.mode & 0o7777);
        inode.i_atime = new.time;
        inode.i_ctime = new.time;
        inode.i_mtime = new.time;
        self.write_inode(ino, &mut inode)?;
        Ok(ino)
    }

    /// A directory with no room for a new entry is expanded by one block, then retried.
    fn retry_dir_full(&self, dir: Ino, mut f: impl FnMut() -> sys::errcode_t, op: &dyn Fn() -> String) -> Result<()> {
        let mut rc = f();
        if rc == sys::EXT2_ET_DIR_NO_SPACE as sys::errcode_t {
            // SAFETY: valid fs and directory inode.
            self.check(op(), unsafe { sys::ext2fs_expand_dir(self.raw, dir.0) })?;
            rc = f();
        }
        self.check(op(), rc)
    }

    /// libext2fs has no "create file" call (debugfs' do_write_internal is not exported); this
    /// is the same sequence: allocate, link, account, initialise the inode and its extent tree.
    fn create_regular(&self, parent: Ino, name: &CStr, mode: u16, op: &dyn Fn() -> String) -> Result<Ino> {
        let mut ino: sys::ext2_ino_t = 0;
        let file_mode = (sys::LINUX_S_IFREG as u16 | (mode & 0o7777)) as c_int;
        // SAFETY: valid fs; NULL map means the filesystem's own inode bitmap.
        self.check(op(), unsafe { sys::ext2fs_new_inode(self.raw, parent.0, file_mode, ptr::null_mut(), &mut ino) })?;
        self.retry_dir_full(
            parent,
            || {
                // SAFETY: valid fs, directory, C string and freshly allocated inode number.
                unsafe { sys::ext2fs_link(self.raw, parent.0, name.as_ptr(), ino, sys::EXT2_FT_REG_FILE as c_int) }
            },
            op,
        )?;
        // SAFETY: marks the inode in use in the bitmaps and group counters.
        unsafe { sys::ext2fs_inode_alloc_stats2(self.raw, ino, 1, 0) };
        let mut inode = sys::ext2_inode { i_mode: file_mode as u16, i_links_count: 1, ..Default::default() };
        if self.superblock().has_extents {
            let mut handle: sys::ext2_extent_handle_t = ptr::null_mut();
            // SAFETY: opening an extent handle on an in-memory inode initialises its extent
            // header in i_block (and sets EXT4_EXTENTS_FL); the handle is freed right away.
            unsafe {
                self.check(op(), sys::ext2fs_extent_open2(self.raw, ino, &mut inode, &mut handle))?;
                sys::ext2fs_extent_free(handle);
            }
        }
        // SAFETY: valid fs, inode buffer; write_new_inode fills the large-inode extra fields.
        self.check(op(), unsafe { sys::ext2fs_write_new_inode(self.raw, ino, &mut inode) })?;
        Ok(Ino(ino))
    }

    /// Creates a symbolic link at the absolute `path` pointing to `target` (not checked: the
    /// guest resolves it), owned by `uid:gid`.
    pub fn symlink(&mut self, path: &str, target: &str, uid: u32, gid: u32, time: u32) -> Result<Ino> {
        let op = || format!("create symlink {path}");
        let (parent_ino, cname) = self.new_entry(path, &op)?;
        let ctarget = CString::new(target).map_err(|_| Error::new(op(), Code::Other, "target contains a NUL byte"))?;
        self.retry_dir_full(
            parent_ino,
            || {
                // SAFETY: valid fs, parent directory and C strings; inode 0 lets libext2fs allocate.
                unsafe { sys::ext2fs_symlink(self.raw, parent_ino.0, 0, cname.as_ptr(), ctarget.as_ptr()) }
            },
            &op,
        )?;
        let ino = self.lookup(path)?;
        let mut inode = self.read_inode(ino)?;
        set_owner(&mut inode, uid, gid);
        inode.i_atime = time;
        inode.i_ctime = time;
        inode.i_mtime = time;
        self.write_inode(ino, &mut inode)?;
        Ok(ino)
    }

    /// Removes the entry at `path`: a file, symlink or special file, or an empty directory.
    /// When the last link goes, the inode, its blocks and its extended-attribute block are freed
    /// (what debugfs' `rm`/`rmdir` do, plus the attribute block).
    pub fn remove(&mut self, path: &str, now: u32) -> Result<()> {
        let op = || format!("remove {path}");
        self.require_rw(&op())?;
        let (parent, name) =
            split_parent(path).ok_or_else(|| Error::new(op(), Code::Other, "not an absolute path with a file name"))?;
        let parent_ino = self.lookup_follow(parent)?;
        let ino = self.lookup(path)?;
        let mut inode = self.read_inode(ino)?;
        let is_dir = FileKind::from_mode(inode.i_mode) == FileKind::Directory;
        if is_dir && !self.read_dir(ino)?.is_empty() {
            return Err(Error::new(op(), Code::Other, "the directory is not empty"));
        }
        let cname = CString::new(name).map_err(|_| Error::new(op(), Code::Other, "name contains a NUL byte"))?;
        // SAFETY: valid fs, directory, C string and inode number.
        self.check(op(), unsafe { sys::ext2fs_unlink(self.raw, parent_ino.0, cname.as_ptr(), ino.0, 0) })?;
        if is_dir {
            // The directory's ".." was a link to the parent.
            let mut p = self.read_inode(parent_ino)?;
            p.i_links_count = p.i_links_count.saturating_sub(1);
            p.i_mtime = now;
            p.i_ctime = now;
            self.write_inode(parent_ino, &mut p)?;
            inode.i_links_count = 0;
        } else {
            inode.i_links_count = inode.i_links_count.saturating_sub(1);
        }
        if inode.i_links_count > 0 {
            inode.i_ctime = now;
            return self.write_inode(ino, &mut inode);
        }
        self.release_inode(ino, &mut inode, is_dir, now, &op)
    }

    fn release_inode(
        &mut self,
        ino: Ino,
        inode: &mut sys::ext2_inode,
        is_dir: bool,
        now: u32,
        op: &dyn Fn() -> String,
    ) -> Result<()> {
        // SAFETY: valid fs and inode buffer; punch frees every data and index block.
        unsafe {
            if sys::ext2fs_inode_has_valid_blocks2(self.raw, inode) != 0
                || inode.i_flags & sys::EXT4_INLINE_DATA_FL != 0
            {
                self.check(op(), sys::ext2fs_punch(self.raw, ino.0, inode, ptr::null_mut(), 0, !0u64))?;
            }
            let acl = sys::ext2fs_file_acl_block(self.raw, inode);
            if acl != 0 {
                let mut count: u32 = 0;
                self.check(
                    op(),
                    sys::ext2fs_adjust_ea_refcount3(self.raw, acl, ptr::null_mut(), -1, &mut count, ino.0),
                )?;
                if count == 0 {
                    sys::ext2fs_block_alloc_stats2(self.raw, acl, -1);
                }
                sys::ext2fs_file_acl_block_set(self.raw, inode, 0);
            }
        }
        inode.i_links_count = 0;
        inode.i_dtime = now;
        self.write_inode(ino, inode)?;
        // SAFETY: marks the inode free in the bitmap and group counters.
        unsafe { sys::ext2fs_inode_alloc_stats2(self.raw, ino.0, -1, is_dir as c_int) };
        Ok(())
    }

    /// Removes `path` and, for a directory, everything below it. Missing is not an error.
    pub fn remove_all(&mut self, path: &str, now: u32) -> Result<()> {
        let ino = match self.lookup(path) {
            Ok(ino) => ino,
            Err(e) if e.code() == Code::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        if self.metadata(ino)?.kind == FileKind::Directory {
            for entry in self.read_dir(ino)? {
                let name = String::from_utf8_lossy(&entry.name).into_owned();
                self.remove_all(&format!("{}/{name}", path.trim_end_matches('/')), now)?;
            }
        }
        self.remove(path, now)
    }

    /// The entries of a directory, without `.` and `..`.
    pub fn read_dir(&self, dir: Ino) -> Result<Vec<DirEntry>> {
        unsafe extern "C" fn collect(
            _dir: sys::ext2_ino_t,
            _entry: c_int,
            dirent: *mut sys::ext2_dir_entry,
            _offset: c_int,
            _blocksize: c_int,
            _buf: *mut c_char,
            priv_data: *mut c_void,
        ) -> c_int {
            // SAFETY: libext2fs passes a valid entry and our Vec pointer; name_len's low byte
            // is the length of `name` within the entry, the high byte the file type.
            unsafe {
                let out = &mut *(priv_data as *mut Vec<DirEntry>);
                let len = ((*dirent).name_len & 0xff) as usize;
                let name = std::slice::from_raw_parts((*dirent).name.as_ptr() as *const u8, len);
                if name != b"." && name != b".." && (*dirent).inode != 0 {
                    out.push(DirEntry {
                        name: name.to_vec(),
                        ino: Ino((*dirent).inode),
                        kind: FileKind::from_dirent_type(((*dirent).name_len >> 8) as u8),
                    });
                }
            }
            0
        }
        let mut out: Vec<DirEntry> = Vec::new();
        // SAFETY: valid fs and directory; the callback only pushes into `out`, which outlives
        // the call, and cannot panic except on allocation failure (which aborts).
        let rc = unsafe {
            sys::ext2fs_dir_iterate2(
                self.raw,
                dir.0,
                0,
                ptr::null_mut(),
                Some(collect),
                &mut out as *mut Vec<DirEntry> as *mut c_void,
            )
        };
        self.check(format!("read directory inode {}", dir.0), rc)?;
        Ok(out)
    }

    /// All extended attributes of an inode, as full names (`security.ima`, `user.x`) and raw values.
    pub fn xattrs(&self, ino: Ino) -> Result<Vec<(String, Vec<u8>)>> {
        unsafe extern "C" fn collect(name: *mut c_char, value: *mut c_char, len: usize, data: *mut c_void) -> c_int {
            // SAFETY: libext2fs passes a NUL-terminated name and a value of `len` bytes.
            unsafe {
                let out = &mut *(data as *mut Vec<(String, Vec<u8>)>);
                let name = CStr::from_ptr(name).to_string_lossy().into_owned();
                let value =
                    if len == 0 { Vec::new() } else { std::slice::from_raw_parts(value as *const u8, len).to_vec() };
                out.push((name, value));
            }
            0 // XATTR_CONTINUE
        }
        let op = format!("list extended attributes of inode {}", ino.0);
        let mut out = Vec::new();
        self.with_xattrs(ino, &op, |h| {
            // SAFETY: open, read handle; the callback only pushes into `out`.
            unsafe { sys::ext2fs_xattrs_iterate(h, Some(collect), &mut out as *mut _ as *mut c_void) }
        })?;
        Ok(out)
    }

    /// One extended attribute, or `None` if the inode does not have it.
    pub fn xattr(&self, ino: Ino, name: &str) -> Result<Option<Vec<u8>>> {
        let op = format!("read extended attribute {name} of inode {}", ino.0);
        let cname = CString::new(name).map_err(|_| Error::new(op.clone(), Code::Other, "name contains a NUL byte"))?;
        let mut value: *mut c_void = ptr::null_mut();
        let mut len = 0usize;
        let mut found = true;
        self.with_xattrs(ino, &op, |h| {
            // SAFETY: open, read handle; out-pointers to locals.
            let rc = unsafe { sys::ext2fs_xattr_get(h, cname.as_ptr(), &mut value, &mut len) };
            if rc == sys::EXT2_ET_EA_KEY_NOT_FOUND as sys::errcode_t {
                found = false;
                0
            } else {
                rc
            }
        })?;
        if !found {
            return Ok(None);
        }
        // SAFETY: on success libext2fs returns a buffer of `len` bytes from ext2fs_get_mem (malloc)
        // that we own and free here.
        let bytes = unsafe {
            let v = if len == 0 { Vec::new() } else { std::slice::from_raw_parts(value as *const u8, len).to_vec() };
            libc::free(value);
            v
        };
        Ok(Some(bytes))
    }

    /// Sets one extended attribute; every other attribute of the inode is kept.
    pub fn set_xattr(&mut self, ino: Ino, name: &str, value: &[u8]) -> Result<()> {
        let op = format!("set extended attribute {name} on inode {}", ino.0);
        self.require_rw(&op)?;
        let cname = CString::new(name).map_err(|_| Error::new(op.clone(), Code::Other, "name contains a NUL byte"))?;
        self.with_xattrs(ino, &op, |h| {
            // SAFETY: the handle was read first (with_xattrs), so writing it back keeps the other
            // attributes; value is valid for value.len() bytes.
            unsafe { sys::ext2fs_xattr_set(h, cname.as_ptr(), value.as_ptr() as *const c_void, value.len()) }
        })
    }

    /// Removes one extended attribute (no error if it was absent).
    pub fn remove_xattr(&mut self, ino: Ino, name: &str) -> Result<()> {
        let op = format!("remove extended attribute {name} from inode {}", ino.0);
        self.require_rw(&op)?;
        let cname = CString::new(name).map_err(|_| Error::new(op.clone(), Code::Other, "name contains a NUL byte"))?;
        self.with_xattrs(ino, &op, |h| {
            // SAFETY: read handle; libext2fs returns 0 for a missing key.
            unsafe { sys::ext2fs_xattr_remove(h, cname.as_ptr()) }
        })
    }

    /// Opens and reads the inode's attribute set (always read first: libext2fs writes back the
    /// whole set, so an unread handle would drop the others), runs `f`, closes.
    fn with_xattrs(
        &self,
        ino: Ino,
        op: &str,
        f: impl FnOnce(*mut sys::ext2_xattr_handle) -> sys::errcode_t,
    ) -> Result<()> {
        let mut h: *mut sys::ext2_xattr_handle = ptr::null_mut();
        // SAFETY: valid fs; out-pointer to a local.
        self.check(op, unsafe { sys::ext2fs_xattrs_open(self.raw, ino.0, &mut h) })?;
        // SAFETY: h is open.
        let mut rc = unsafe { sys::ext2fs_xattrs_read(h) };
        if rc == 0 {
            rc = f(h);
        }
        // SAFETY: h is open and closed exactly once.
        let close_rc = unsafe { sys::ext2fs_xattrs_close(&mut h) };
        self.check(op, rc)?;
        self.check(op, close_rc)
    }

    /// Where a regular file's bytes are, so that they can be read without libext2fs (in
    /// parallel, straight from the device). Small files stored inside the inode come back whole.
    pub fn layout(&self, ino: Ino) -> Result<FileLayout> {
        let op = || format!("map the blocks of inode {}", ino.0);
        let mut inode = self.read_inode(ino)?;
        let size = inode_size(&inode);
        if inode.i_flags & sys::EXT4_INLINE_DATA_FL != 0 {
            return Ok(FileLayout::Inline(self.read_file(ino)?));
        }
        let mut extents: Vec<Extent> = Vec::new();
        if inode.i_flags & sys::EXT4_EXTENTS_FL != 0 {
            let mut handle: sys::ext2_extent_handle_t = ptr::null_mut();
            // SAFETY: valid fs and inode copy; handle freed below on every path.
            self.check(op(), unsafe { sys::ext2fs_extent_open2(self.raw, ino.0, &mut inode, &mut handle) })?;
            let mut flags = sys::EXT2_EXTENT_ROOT as c_int;
            let result = loop {
                let mut e = sys::ext2fs_extent::default();
                // SAFETY: open handle, out-buffer.
                let rc = unsafe { sys::ext2fs_extent_get(handle, flags, &mut e) };
                flags = sys::EXT2_EXTENT_NEXT_LEAF as c_int;
                if rc == sys::EXT2_ET_EXTENT_NO_NEXT as sys::errcode_t {
                    break Ok(());
                }
                if rc != 0 {
                    break Err(Error::from_errcode(op(), rc, self.io_errors.take()));
                }
                if e.e_flags & sys::EXT2_EXTENT_FLAGS_LEAF == 0 {
                    continue;
                }
                push_run(
                    &mut extents,
                    e.e_lblk,
                    e.e_pblk,
                    e.e_len as u64,
                    e.e_flags & sys::EXT2_EXTENT_FLAGS_UNINIT != 0,
                );
            };
            // SAFETY: handle is open; freed once.
            unsafe { sys::ext2fs_extent_free(handle) };
            result?;
        } else {
            unsafe extern "C" fn each_block(
                _fs: sys::ext2_filsys,
                blocknr: *mut sys::blk64_t,
                blockcnt: sys::e2_blkcnt_t,
                _ref_blk: sys::blk64_t,
                _ref_offset: c_int,
                priv_data: *mut c_void,
            ) -> c_int {
                // SAFETY: libext2fs passes our Vec and a valid block number pointer.
                unsafe {
                    let out = &mut *(priv_data as *mut Vec<Extent>);
                    if blockcnt >= 0 && *blocknr != 0 {
                        push_run(out, blockcnt as u64, *blocknr, 1, false);
                    }
                }
                0
            }
            let flags = (sys::BLOCK_FLAG_DATA_ONLY | sys::BLOCK_FLAG_READ_ONLY) as c_int;
            // SAFETY: valid fs and inode; the callback only pushes into `extents`.
            let rc = unsafe {
                sys::ext2fs_block_iterate3(
                    self.raw,
                    ino.0,
                    flags,
                    ptr::null_mut(),
                    Some(each_block),
                    &mut extents as *mut _ as *mut c_void,
                )
            };
            self.check(op(), rc)?;
        }
        Ok(FileLayout::Blocks { size, block_size: self.superblock().block_size, extents })
    }

    /// Writes all pending changes to the device.
    pub fn flush(&mut self) -> Result<()> {
        if self.mode == OpenMode::ReadOnly {
            return Ok(());
        }
        // SAFETY: valid fs.
        let rc = unsafe { sys::ext2fs_flush(self.raw) };
        self.check("flush filesystem", rc)
    }

    /// Writes pending changes and closes, reporting any failure (dropping closes too, but can
    /// only log).
    pub fn close(mut self) -> Result<()> {
        let rc = self.close_raw();
        std::mem::forget(self);
        rc
    }

    fn close_raw(&mut self) -> Result<()> {
        if self.raw.is_null() {
            return Ok(());
        }
        // SAFETY: valid fs; ext2fs_close_free flushes (when opened RW and dirty), closes the io
        // channel and frees everything, then nulls the pointer.
        let rc = unsafe { sys::ext2fs_close_free(&mut self.raw) };
        self.raw = ptr::null_mut();
        self.check("close filesystem", rc)
    }
}

impl Drop for Filesystem {
    fn drop(&mut self) {
        if let Err(e) = self.close_raw() {
            tracing::error!("closing filesystem: {e}");
        }
    }
}

/// Appends a run of blocks, merging it into the previous one when it continues it.
fn push_run(out: &mut Vec<Extent>, logical: u64, physical: u64, len: u64, unwritten: bool) {
    if let Some(last) = out.last_mut() {
        if last.unwritten == unwritten && last.logical + last.len == logical && last.physical + last.len == physical {
            last.len += len;
            return;
        }
    }
    out.push(Extent { logical, physical, len, unwritten });
}

fn inode_size(inode: &sys::ext2_inode) -> u64 {
    inode.i_size as u64 | (inode.i_size_high as u64) << 32
}

fn set_owner(inode: &mut sys::ext2_inode, uid: u32, gid: u32) {
    inode.i_uid = uid as u16;
    inode.i_gid = gid as u16;
    // The linux2 view of the osd2 union is the one Linux filesystems use (writing a Copy
    // union field is safe).
    inode.osd2.linux2.l_i_uid_high = (uid >> 16) as u16;
    inode.osd2.linux2.l_i_gid_high = (gid >> 16) as u16;
}

fn metadata_of(ino: Ino, inode: &sys::ext2_inode) -> Metadata {
    // SAFETY: reading the linux2 view of the osd2 union (plain integers).
    let (uid_high, gid_high) = unsafe { (inode.osd2.linux2.l_i_uid_high, inode.osd2.linux2.l_i_gid_high) };
    Metadata {
        ino,
        kind: FileKind::from_mode(inode.i_mode),
        mode: inode.i_mode & 0o7777,
        uid: inode.i_uid as u32 | (uid_high as u32) << 16,
        gid: inode.i_gid as u32 | (gid_high as u32) << 16,
        size: inode_size(inode),
        links: inode.i_links_count,
        flags: inode.i_flags,
        mtime: inode.i_mtime,
    }
}

/// Splits `/a/b/c` into (`/a/b`, `c`) and `/c` into (`/`, `c`).
fn split_parent(path: &str) -> Option<(&str, &str)> {
    let path = path.trim_end_matches('/');
    let i = path.rfind('/')?;
    let name = &path[i + 1..];
    if name.is_empty() || !path.starts_with('/') {
        return None;
    }
    Some((if i == 0 { "/" } else { &path[..i] }, name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_parent_handles_root_and_nested_paths() {
        assert_eq!(split_parent("/etc/ima/ima-policy"), Some(("/etc/ima", "ima-policy")));
        assert_eq!(split_parent("/etc"), Some(("/", "etc")));
        assert_eq!(split_parent("/etc/"), Some(("/", "etc")));
        assert_eq!(split_parent("relative"), None);
        assert_eq!(split_parent("/"), None);
    }

    #[test]
    fn runs_merge_only_when_contiguous_on_both_sides() {
        let mut v = Vec::new();
        push_run(&mut v, 0, 100, 1, false);
        push_run(&mut v, 1, 101, 2, false);
        push_run(&mut v, 3, 200, 1, false);
        push_run(&mut v, 4, 201, 1, true);
        assert_eq!(v.len(), 3);
        assert_eq!((v[0].logical, v[0].physical, v[0].len), (0, 100, 3));
        assert!(v[2].unwritten);
    }
}
