//! Errors of the safe layer: a libext2fs `errcode_t` with the operation that failed and,
//! for I/O failures, the underlying cause reported by the [`BlockDevice`](crate::BlockDevice).

use ext2fs_sys as sys;
use std::ffi::CStr;
use std::fmt;

/// What went wrong, for the codes callers act on. Everything else is [`Code::Other`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Code {
    /// A path component does not exist.
    NotFound,
    /// The name already exists in the directory.
    Exists,
    /// No free blocks or inodes are left.
    NoSpace,
    /// The filesystem uses a feature libext2fs cannot handle.
    UnsupportedFeature,
    /// Not an ext2/3/4 filesystem (bad superblock magic).
    NotExt,
    /// Reading or writing the underlying block device failed.
    Io,
    /// Metadata failed a checksum or consistency check.
    Corrupt,
    /// The filesystem has no extended attribute support.
    NoXattrSupport,
    /// The journal must be replayed before the filesystem can be changed safely.
    NeedsRecovery,
    /// The superblock records errors, or the filesystem was not cleanly unmounted.
    NotClean,
    /// The operation does not apply to this kind of inode.
    WrongFileType,
    /// Any other libext2fs error.
    Other,
}

/// A failed libext2fs operation.
#[derive(Debug, Clone)]
pub struct Error {
    op: String,
    code: Code,
    raw: i64,
    message: String,
    device: bool,
}

/// Result of the safe layer.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// Builds an error from a libext2fs return code. `io_cause` is the block device's own
    /// message, when the failure came from it (it beats libext2fs' generic "short read").
    pub(crate) fn from_errcode(op: impl Into<String>, raw: sys::errcode_t, io_cause: Option<String>) -> Error {
        let code = classify(raw);
        // SAFETY: error_message returns a pointer to a static, NUL-terminated string for any code
        // (com_err formats unknown codes into a static buffer); the error tables are registered in
        // `Filesystem::open` before any call can fail.
        let text = unsafe { CStr::from_ptr(sys::error_message(raw)) }.to_string_lossy().into_owned();
        // When the block device itself failed, its own message says more than libext2fs' code.
        let (message, device) = match io_cause {
            Some(cause) if code == Code::Io || code == Code::NoSpace => {
                (format!("the underlying image failed: {cause}"), true)
            }
            _ => (text, false),
        };
        #[allow(clippy::useless_conversion)] // errcode_t is c_long: i64 here, i32 elsewhere
        let raw: i64 = raw.into();
        Error { op: op.into(), code, raw, message, device }
    }

    /// Builds an error that did not come from a libext2fs return code.
    pub(crate) fn new(op: impl Into<String>, code: Code, message: impl Into<String>) -> Error {
        Error { op: op.into(), code, raw: 0, message: message.into(), device: false }
    }

    /// Builds an error for a condition found by the caller (e.g. a missing feature).
    pub fn new_public(op: impl Into<String>, code: Code, message: impl Into<String>) -> Error {
        Error::new(op, code, message)
    }

    /// The classified code.
    pub fn code(&self) -> Code {
        self.code
    }

    /// The raw libext2fs `errcode_t` (0 when the error did not come from libext2fs).
    pub fn raw_code(&self) -> i64 {
        self.raw
    }

    /// Returns true if and only if the failure came from the block device (the image file on
    /// the host), not from the filesystem's own state.
    pub fn is_device_error(&self) -> bool {
        self.device
    }

    /// The operation that failed, e.g. `read /etc/fstab`.
    pub fn operation(&self) -> &str {
        &self.op
    }

    /// The message without the operation.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.op, self.message)
    }
}

impl std::error::Error for Error {}

fn classify(raw: sys::errcode_t) -> Code {
    #[allow(clippy::useless_conversion)] // errcode_t is c_long: i64 here, i32 elsewhere
    let raw: i64 = raw.into();
    let is = |c: u32| raw == c as i64;
    if is(sys::EXT2_ET_FILE_NOT_FOUND) || raw == libc::ENOENT as i64 {
        Code::NotFound
    } else if is(sys::EXT2_ET_FILE_EXISTS) || is(sys::EXT2_ET_DIR_EXISTS) || raw == libc::EEXIST as i64 {
        Code::Exists
    } else if is(sys::EXT2_ET_BLOCK_ALLOC_FAIL)
        || is(sys::EXT2_ET_INODE_ALLOC_FAIL)
        || is(sys::EXT2_ET_DIR_NO_SPACE)
        || is(sys::EXT2_ET_EA_NO_SPACE)
        || raw == libc::ENOSPC as i64
    {
        Code::NoSpace
    } else if is(sys::EXT2_ET_UNSUPP_FEATURE) || is(sys::EXT2_ET_RO_UNSUPP_FEATURE) {
        Code::UnsupportedFeature
    } else if is(sys::EXT2_ET_BAD_MAGIC) {
        Code::NotExt
    } else if is(sys::EXT2_ET_SHORT_READ) || is(sys::EXT2_ET_SHORT_WRITE) || raw == libc::EIO as i64 {
        Code::Io
    } else if is(sys::EXT2_ET_SB_CSUM_INVALID)
        || is(sys::EXT2_ET_INODE_CSUM_INVALID)
        || is(sys::EXT2_ET_DIR_CSUM_INVALID)
        || is(sys::EXT2_ET_EXTENT_CSUM_INVALID)
        || is(sys::EXT2_ET_EXT_ATTR_CSUM_INVALID)
        || is(sys::EXT2_ET_BLOCK_BITMAP_CSUM_INVALID)
        || is(sys::EXT2_ET_INODE_BITMAP_CSUM_INVALID)
        || is(sys::EXT2_ET_BAD_EA_HEADER)
        || is(sys::EXT2_ET_CORRUPT_SUPERBLOCK)
        || is(sys::EXT2_ET_GDESC_BAD_BLOCK_MAP)
    {
        Code::Corrupt
    } else if is(sys::EXT2_ET_MISSING_EA_FEATURE) {
        Code::NoXattrSupport
    } else if is(sys::EXT2_ET_NO_DIRECTORY) || is(sys::EXT2_ET_FILE_TOO_BIG) {
        Code::WrongFileType
    } else {
        Code::Other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_operation_and_keep_the_io_cause() {
        crate::fs::register_error_table();
        let e =
            Error::from_errcode("read /etc/fstab", sys::EXT2_ET_SHORT_READ as sys::errcode_t, Some("disk full".into()));
        assert_eq!(e.code(), Code::Io);
        let text = e.to_string();
        assert!(text.starts_with("read /etc/fstab: "), "{text}");
        assert!(text.ends_with(": disk full"), "{text}");
        assert!(e.is_device_error());
        let e = Error::from_errcode("lookup /x", sys::EXT2_ET_FILE_NOT_FOUND as sys::errcode_t, Some("ignored".into()));
        assert_eq!(e.code(), Code::NotFound);
        assert!(!e.to_string().contains("ignored"));
    }
}
