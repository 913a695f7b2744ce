//! The library's error type. Each variant says where the problem is (image file, partition,
//! guest path) and its message says what to do next where we know.

use std::path::PathBuf;

/// Everything that can go wrong in the library.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The disk image file itself: cannot be opened, is not an image, uses an unsupported
    /// feature, is truncated.
    #[error("{path}: {message}")]
    Image {
        /// The image file.
        path: PathBuf,
        /// What is wrong and what to do.
        message: String,
    },
    /// Reading or writing the image file failed.
    #[error("{path}: {op}: {cause}")]
    ImageIo {
        /// The image file.
        path: PathBuf,
        /// What we were doing.
        op: String,
        /// The cause.
        cause: std::io::Error,
    },
    /// The partition table is unreadable, or no root filesystem could be chosen.
    #[error("{0}")]
    Partition(String),
    /// A filesystem operation failed.
    #[error("{location}: {cause}")]
    Filesystem {
        /// Which filesystem, e.g. `partition 1 (ext4, LABEL=cloudimg-rootfs)`.
        location: String,
        /// The libext2fs failure.
        cause: ext2fs::Error,
    },
    /// A file inside the guest has content we cannot work with.
    #[error("{path} in the image: {message}")]
    Guest {
        /// Guest path, e.g. `/etc/default/grub`.
        path: String,
        /// What is wrong and what to do.
        message: String,
    },
    /// The IMA policy given by the user is unusable.
    #[error("IMA policy {source_name}: {message}")]
    Policy {
        /// Where the policy came from (a host path, or "default").
        source_name: String,
        /// What is wrong and what to do.
        message: String,
    },
    /// A plugin is invalid or one of its host hooks failed.
    #[error("{0}")]
    Plugin(String),
    /// The cloud-init boot did not do its job.
    #[error("{0}")]
    CloudInit(String),
    /// Running QEMU failed (missing binary or firmware, cannot start).
    #[error("{0}")]
    Qemu(String),
    /// The output file cannot be written.
    #[error("output {path}: {message}")]
    Output {
        /// The output path.
        path: PathBuf,
        /// What is wrong and what to do.
        message: String,
    },
}

/// Result with the library's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
