//! Integration tests of the `cvm-image-rewriter` binary against real guest disk images built
//! with e2fsprogs, gdisk/fdisk, dosfstools/mtools and qemu-img, checked with independent
//! oracles (e2fsck, debugfs, qemu-img check, evmctl, coreutils, sh).

mod util;

mod edge_files;
mod enable;
mod errors;
mod fixtures;
mod grub;
mod policy;
mod run;
