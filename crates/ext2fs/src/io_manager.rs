//! A libext2fs `io_manager` whose channels do their I/O through a Rust [`BlockDevice`].
//!
//! libext2fs opens a device by *name* through a table of C callbacks. We register one such
//! table for the whole process; [`Filesystem::open`](crate::Filesystem::open) parks the device
//! in [`PENDING`] under a unique id and passes `rust-blockdev:<id>` as the name, and the `open`
//! callback takes it back out. Every callback runs the Rust code inside `catch_unwind`, because
//! unwinding across the C frames is undefined behaviour; a panic becomes an I/O error.

use crate::BlockDevice;
use ext2fs_sys as sys;
use std::collections::HashMap;
use std::ffi::{c_char, c_int, c_ulong, c_ulonglong, c_void, CStr};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

/// The last I/O failure of a channel, shared with its [`Filesystem`](crate::Filesystem) so
/// that errors can name the real cause (e.g. "No space left on device") instead of libext2fs'
/// generic "short write".
#[derive(Default)]
pub(crate) struct IoErrorSlot(Mutex<Option<String>>);

impl IoErrorSlot {
    fn set(&self, msg: String) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = Some(msg);
    }

    /// Takes the last recorded failure, if any.
    pub(crate) fn take(&self) -> Option<String> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).take()
    }
}

struct Pending {
    device: Box<dyn BlockDevice>,
    errors: Arc<IoErrorSlot>,
}

static PENDING: Mutex<Option<HashMap<u64, Pending>>> = Mutex::new(None);
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// Parks `device` until libext2fs opens it; returns the device name to pass to `ext2fs_open2`.
pub(crate) fn park(device: Box<dyn BlockDevice>, errors: Arc<IoErrorSlot>) -> String {
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    let mut pending = PENDING.lock().unwrap_or_else(|p| p.into_inner());
    pending.get_or_insert_with(HashMap::new).insert(id, Pending { device, errors });
    format!("rust-blockdev:{id}")
}

/// Drops a parked device that libext2fs never opened (e.g. the open failed early).
pub(crate) fn unpark(name: &str) {
    if let Some(id) = parse_name(name.as_bytes()) {
        let mut pending = PENDING.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(map) = pending.as_mut() {
            map.remove(&id);
        }
    }
}

fn parse_name(name: &[u8]) -> Option<u64> {
    std::str::from_utf8(name.strip_prefix(b"rust-blockdev:")?).ok()?.parse().ok()
}

/// Per-channel state, owned by the C `io_channel` through `private_data`.
struct Channel {
    device: Box<dyn BlockDevice>,
    errors: Arc<IoErrorSlot>,
    block_size: u64,
}

/// The process-wide manager table. It lives for the whole process (leaked once): libext2fs
/// keeps a pointer to it in every channel.
pub(crate) fn manager() -> sys::io_manager {
    static MANAGER: OnceLock<usize> = OnceLock::new();
    *MANAGER.get_or_init(|| {
        let table = sys::struct_io_manager {
            magic: sys::EXT2_ET_MAGIC_IO_MANAGER as sys::errcode_t,
            name: c"rust block device I/O manager".as_ptr(),
            open: Some(open),
            close: Some(close),
            set_blksize: Some(set_blksize),
            read_blk: Some(read_blk),
            write_blk: Some(write_blk),
            flush: Some(flush),
            write_byte: None,
            set_option: Some(set_option),
            get_stats: None,
            read_blk64: Some(read_blk64),
            write_blk64: Some(write_blk64),
            discard: None,
            cache_readahead: None,
            zeroout: None,
            reserved: Default::default(),
        };
        Box::into_raw(Box::new(table)) as usize
    }) as sys::io_manager
}

const EIO: sys::errcode_t = sys::EXT2_ET_SHORT_READ as sys::errcode_t;
const EIO_WRITE: sys::errcode_t = sys::EXT2_ET_SHORT_WRITE as sys::errcode_t;

/// Runs `f` on the channel's Rust state, turning an error or a panic into `fail`.
///
/// # Safety
/// `io` must be a channel created by [`open`] and not yet closed.
unsafe fn with_channel(
    io: sys::io_channel,
    fail: sys::errcode_t,
    f: impl FnOnce(&mut Channel) -> std::io::Result<()>,
) -> sys::errcode_t {
    // SAFETY: per the contract, private_data is the Box<Channel> installed by `open`, and
    // libext2fs uses a channel from one thread at a time.
    let chan = unsafe { &mut *((*io).private_data as *mut Channel) };
    match catch_unwind(AssertUnwindSafe(|| f(chan))) {
        Ok(Ok(())) => 0,
        Ok(Err(e)) => {
            let code = match e.raw_os_error() {
                Some(libc::ENOSPC) => libc::ENOSPC as sys::errcode_t,
                _ => fail,
            };
            chan.errors.set(e.to_string());
            code
        }
        Err(_) => {
            chan.errors.set("panic in block device".into());
            fail
        }
    }
}

/// Byte offset and length of a libext2fs request: a negative count is a byte count.
fn span(chan: &Channel, block: u64, count: c_int) -> std::io::Result<(u64, usize)> {
    let len = if count < 0 { (count as i64).unsigned_abs() } else { count as u64 * chan.block_size };
    let off = block
        .checked_mul(chan.block_size)
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidInput, "block number overflows"))?;
    Ok((off, len as usize))
}

unsafe extern "C" fn open(name: *const c_char, _flags: c_int, ret: *mut sys::io_channel) -> sys::errcode_t {
    let bad_name = sys::EXT2_ET_BAD_DEVICE_NAME as sys::errcode_t;
    let result = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: libext2fs passes the NUL-terminated name we gave to ext2fs_open2.
        let cname = unsafe { CStr::from_ptr(name) };
        let id = parse_name(cname.to_bytes())?;
        let pending = PENDING.lock().unwrap_or_else(|p| p.into_inner()).as_mut()?.remove(&id)?;
        Some(Box::new(Channel { device: pending.device, errors: pending.errors, block_size: 1024 }))
    }));
    let Ok(Some(chan)) = result else { return bad_name };
    // SAFETY: the channel struct is allocated with calloc because libext2fs may free or inspect
    // it with its own allocator conventions; all pointers in it are ours until `close`.
    unsafe {
        let io = libc::calloc(1, std::mem::size_of::<sys::struct_io_channel>()) as sys::io_channel;
        if io.is_null() {
            return sys::EXT2_ET_NO_MEMORY as sys::errcode_t;
        }
        (*io).magic = sys::EXT2_ET_MAGIC_IO_CHANNEL as sys::errcode_t;
        (*io).manager = manager();
        (*io).name = libc::strdup(name);
        (*io).block_size = 1024;
        (*io).refcount = 1;
        (*io).private_data = Box::into_raw(chan) as *mut c_void;
        *ret = io;
    }
    0
}

unsafe extern "C" fn close(io: sys::io_channel) -> sys::errcode_t {
    // SAFETY: `io` comes from `open`; the refcount protocol is libext2fs' (unix_io does the same).
    unsafe {
        (*io).refcount -= 1;
        if (*io).refcount > 0 {
            return 0;
        }
        let chan = Box::from_raw((*io).private_data as *mut Channel);
        let result = catch_unwind(AssertUnwindSafe(|| {
            let mut chan = chan;
            let r = chan.device.flush();
            if let Err(e) = &r {
                chan.errors.set(e.to_string());
            }
            r.is_ok()
        }));
        libc::free((*io).name as *mut c_void);
        libc::free(io as *mut c_void);
        if matches!(result, Ok(true)) {
            0
        } else {
            EIO_WRITE
        }
    }
}

unsafe extern "C" fn set_blksize(io: sys::io_channel, blksize: c_int) -> sys::errcode_t {
    if blksize <= 0 {
        return sys::EXT2_ET_INVALID_ARGUMENT as sys::errcode_t;
    }
    // SAFETY: `io` comes from `open`.
    unsafe {
        (*io).block_size = blksize;
        with_channel(io, EIO, |c| {
            c.block_size = blksize as u64;
            Ok(())
        })
    }
}

unsafe extern "C" fn read_blk64(
    io: sys::io_channel,
    block: c_ulonglong,
    count: c_int,
    data: *mut c_void,
) -> sys::errcode_t {
    // SAFETY: `io` comes from `open`; libext2fs guarantees `data` holds the requested span.
    unsafe {
        with_channel(io, EIO, |c| {
            let (off, len) = span(c, block, count)?;
            let buf = std::slice::from_raw_parts_mut(data as *mut u8, len);
            c.device.read_at(off, buf)
        })
    }
}

unsafe extern "C" fn write_blk64(
    io: sys::io_channel,
    block: c_ulonglong,
    count: c_int,
    data: *const c_void,
) -> sys::errcode_t {
    // SAFETY: as for read_blk64.
    unsafe {
        with_channel(io, EIO_WRITE, |c| {
            let (off, len) = span(c, block, count)?;
            let buf = std::slice::from_raw_parts(data as *const u8, len);
            c.device.write_at(off, buf)
        })
    }
}

unsafe extern "C" fn read_blk(io: sys::io_channel, block: c_ulong, count: c_int, data: *mut c_void) -> sys::errcode_t {
    // SAFETY: forwarded unchanged.
    unsafe { read_blk64(io, block as c_ulonglong, count, data) }
}

unsafe extern "C" fn write_blk(
    io: sys::io_channel,
    block: c_ulong,
    count: c_int,
    data: *const c_void,
) -> sys::errcode_t {
    // SAFETY: forwarded unchanged.
    unsafe { write_blk64(io, block as c_ulonglong, count, data) }
}

unsafe extern "C" fn flush(io: sys::io_channel) -> sys::errcode_t {
    // SAFETY: `io` comes from `open`.
    unsafe { with_channel(io, EIO_WRITE, |c| c.device.flush()) }
}

unsafe extern "C" fn set_option(_io: sys::io_channel, _opt: *const c_char, _arg: *const c_char) -> sys::errcode_t {
    // We take no io_options: offsets are the BlockDevice's business.
    sys::EXT2_ET_INVALID_ARGUMENT as sys::errcode_t
}
