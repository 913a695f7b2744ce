//! The library behind `cvm-image-rewriter`.
//!
//! Layers, each calling only the one below it:
//! - [`disk`]: a guest disk image (qcow2 through imago, or raw) as a block device;
//! - [`partition`]: GPT, MBR or no partition table; finding the root filesystem;
//! - [`fs`]: an ext4 inside a partition, opened through libext2fs (the `ext2fs` crate);
//! - features that edit what is inside: [`ima`] (policy and labels), [`grub`], [`fstab`],
//!   [`kernel`] (what the image's kernels support);
//! - [`guest`]: which filesystem is the guest's root;
//! - [`enable`]: the `ima enable` pipeline that ties them together for the CLI.
#![forbid(unsafe_code)]

pub mod bootcheck;
pub mod cloudinit;
pub mod disk;
pub mod enable;
mod error;
pub mod fs;
pub mod fstab;
pub mod grub;
pub mod guest;
pub mod ima;
pub mod kernel;
pub mod partition;
pub mod plugin;
pub mod progress;
pub mod qemu;
pub mod run;

pub use error::{Error, Result};
