//! The library behind `cvm-image-rewriter`.
//!
//! Layers, each calling only the one below it:
//! - [`disk`]: a guest disk image (qcow2 through imago, or raw) as a block device;
//! - [`partition`]: GPT, MBR or no partition table; finding the root filesystem;
//! - [`fs`]: an ext4 inside a partition, opened through libext2fs (the `ext2fs` crate);
//! - features that edit what is inside: [`ima`] (policy and labels), [`grub`], [`fstab`],
//!   [`kernel`] (what the image's kernels support);
//! - [`enable`]: the `ima enable` pipeline that ties them together for the CLI.
#![forbid(unsafe_code)]

pub mod fstab;
pub mod grub;
pub mod kernel;
