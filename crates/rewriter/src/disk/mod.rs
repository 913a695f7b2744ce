//! Disk images: qcow2 (through the `imago` crate) and raw files, seen as one flat disk.
//! This layer knows nothing of partitions or files: only byte offsets of the virtual disk.

mod fast_read;
mod image;
mod output;
mod probe;
mod qcow2_entry;

pub use fast_read::{FastReader, Inflater};
pub use image::{DiskImage, DiskReader};
pub use output::{remove_live_temporaries, StagedOutput};
pub use probe::{probe, ImageFormat, Qcow2Header};
