//! The NoCloud seed: what cloud-init reads on first boot of an instance.

use crate::error::{Error, Result};
use std::io::{Seek, SeekFrom, Write};
use std::path::Path;

/// The files of a NoCloud seed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seed {
    /// `user-data`: a cloud-config, a script, or MIME multipart.
    pub user_data: Vec<u8>,
    /// `meta-data`: at least `instance-id`.
    pub meta_data: Vec<u8>,
    /// Optional `network-config`.
    pub network_config: Option<Vec<u8>>,
}

/// A new instance id, so that cloud-init treats the boot as a first boot and runs everything.
pub fn unique_instance_id(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    format!("{prefix}-{nanos:x}-{}", std::process::id())
}

impl Seed {
    /// A seed with `user_data` and a meta-data naming a fresh instance and `hostname`.
    pub fn new(user_data: impl Into<Vec<u8>>, instance_id: &str, hostname: &str) -> Seed {
        let meta = format!("instance-id: {instance_id}\nlocal-hostname: {hostname}\n");
        Seed { user_data: user_data.into(), meta_data: meta.into_bytes(), network_config: None }
    }

    /// The files as (name, content), in the order they are written.
    pub fn files(&self) -> Vec<(&'static str, &[u8])> {
        let mut f = vec![("user-data", &self.user_data[..]), ("meta-data", &self.meta_data[..])];
        if let Some(n) = &self.network_config {
            f.push(("network-config", &n[..]));
        }
        f
    }

    /// Writes a FAT image labelled `cidata` holding the files (what cloud-init's ds-identify and
    /// the NoCloud data source look for), built in memory: no mkfs, no mount, no root.
    pub fn write_vfat(&self, path: &Path) -> Result<()> {
        let err = |e: std::io::Error| Error::Output {
            path: path.to_owned(),
            message: format!("writing the cidata seed: {e}"),
        };
        let payload: usize = self.files().iter().map(|(_, c)| c.len()).sum();
        let size = ((payload as u64 * 2 + (1 << 20)).next_multiple_of(1 << 20)).max(2 << 20);
        let mut file =
            std::fs::OpenOptions::new().read(true).write(true).create(true).truncate(true).open(path).map_err(err)?;
        file.set_len(size).map_err(err)?;
        let serial =
            (std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
                as u32)
                ^ std::process::id();
        fatfs::format_volume(
            &mut file,
            fatfs::FormatVolumeOptions::new().volume_label(*b"cidata     ").volume_id(serial),
        )
        .map_err(err)?;
        file.seek(SeekFrom::Start(0)).map_err(err)?;
        {
            let fs = fatfs::FileSystem::new(&mut file, fatfs::FsOptions::new()).map_err(err)?;
            for (name, content) in self.files() {
                let mut f = fs.root_dir().create_file(name).map_err(err)?;
                f.truncate().map_err(err)?;
                f.write_all(content).map_err(err)?;
                f.flush().map_err(err)?;
            }
            fs.unmount().map_err(err)?;
        }
        file.sync_all().map_err(err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instance_ids_are_unique() {
        assert_ne!(unique_instance_id("iid"), unique_instance_id("iid"));
    }

    /// Checked with mtools, independent of the fatfs crate that wrote it.
    #[test]
    fn vfat_seed_is_labelled_cidata_and_holds_the_files() {
        let d = tempfile::tempdir().unwrap();
        let img = d.path().join("seed.img");
        let seed = Seed::new("#cloud-config\nruncmd: [echo hi]\n", "iid-test-1", "guest");
        seed.write_vfat(&img).unwrap();
        let run = |args: &[&str]| {
            let out = std::process::Command::new(args[0])
                .args(&args[1..])
                .output()
                .unwrap_or_else(|e| panic!("{} (install mtools): {e}", args[0]));
            assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
            String::from_utf8_lossy(&out.stdout).into_owned()
        };
        let i = format!("{}", img.display());
        assert!(run(&["mlabel", "-s", "-i", &i, "::"]).contains("cidata"));
        assert_eq!(run(&["mtype", "-i", &i, "::user-data"]), "#cloud-config\nruncmd: [echo hi]\n");
        assert!(run(&["mtype", "-i", &i, "::meta-data"]).contains("instance-id: iid-test-1"));
    }
}
