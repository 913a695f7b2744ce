//! cloud-init's NoCloud data source: the seed (user-data, meta-data) on a `cidata` vfat image
//! or as files for `/var/lib/cloud/seed/nocloud/` inside the guest.

mod mime;
mod seed;

pub use mime::{check_boundary, check_filename, multipart, random_boundary, Part};
pub use seed::{unique_instance_id, Seed};
