//! Finding the guest's root filesystem: the ext4 whose own `/etc/fstab` names it as `/`.

use crate::disk::DiskImage;
use crate::error::{Error, Result};
use crate::fs::GuestFs;
use crate::fstab::{self, DeviceSpec};
use crate::partition::{Partition, PartitionTable};
use ext2fs::OpenMode;
use std::sync::Arc;

/// The chosen root filesystem and why.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RootChoice {
    /// The partition.
    pub partition: Partition,
    /// How it was chosen, for logs and the report: `fstab: LABEL=cloudimg-rootfs` or
    /// `--root-partition 1`.
    pub reason: String,
}

/// Returns true if and only if `spec` (from an fstab) designates `p`.
pub fn spec_matches(spec: &DeviceSpec, p: &Partition) -> bool {
    let eq = |a: &Option<String>, b: &str| a.as_deref().is_some_and(|a| a.eq_ignore_ascii_case(b));
    match spec {
        DeviceSpec::Uuid(u) => eq(&p.fs_uuid, u),
        DeviceSpec::Label(l) => p.fs_label.as_deref() == Some(l.as_str()),
        DeviceSpec::PartUuid(u) => eq(&p.part_uuid, u),
        DeviceSpec::PartLabel(l) => p.part_label.as_deref() == Some(l.as_str()),
        DeviceSpec::Path(path) => match (fstab::partition_number_from_device_path(path), p.number) {
            (Some(n), Some(m)) => n == m,
            // `/dev/vda` (no number) names the whole disk: a bare filesystem.
            (None, None) => path.starts_with("/dev/") && !path.starts_with("/dev/mapper/"),
            _ => false,
        },
    }
}

/// Finds `root` again in a re-read partition table, by partition number and filesystem UUID:
/// a boot that grew the root partition (growpart) moved its end, and reading the grown
/// filesystem through the old bounds fails.
pub fn refind_root(table: &PartitionTable, root: &RootChoice) -> Result<RootChoice> {
    let old = &root.partition;
    let same = |p: &&Partition| p.fs_uuid == old.fs_uuid && p.fs_type.is_ext();
    let found = table
        .partitions
        .iter()
        .filter(same)
        .find(|p| p.number == old.number)
        .or_else(|| table.partitions.iter().find(same))
        .ok_or_else(|| {
            Error::Partition(format!(
                "the root filesystem ({}) is no longer on the disk after the guest's work. {}",
                old.describe(),
                listing(table, &[])
            ))
        })?;
    if found.size != old.size || found.start != old.start {
        tracing::info!("root filesystem now {}", found.describe());
    }
    Ok(RootChoice { partition: found.clone(), reason: root.reason.clone() })
}

/// Re-reads the partition table of the image at `path` and finds `root` again (see
/// [`refind_root`]).
pub fn reread_root(path: &std::path::Path, root: &RootChoice) -> Result<(PartitionTable, RootChoice)> {
    let disk = Arc::new(DiskImage::open(path, false)?);
    let table = crate::partition::read_partitions(&disk)?;
    let root = refind_root(&table, root)?;
    Ok((table, root))
}

/// Opens the image at `path` read-only, reads its partitions and picks its root (see
/// [`find_root`]).
pub fn locate_root(
    path: &std::path::Path,
    forced: Option<u32>,
) -> Result<(Arc<DiskImage>, PartitionTable, RootChoice)> {
    let disk = Arc::new(DiskImage::open(path, false)?);
    let table = crate::partition::read_partitions(&disk)?;
    let root = find_root(&disk, &table, forced)?;
    Ok((disk, table, root))
}

/// Picks the root filesystem: `forced` (a partition number, 0 for a bare filesystem) wins;
/// otherwise the one ext filesystem whose `/etc/fstab` `/` entry names itself.
pub fn find_root(disk: &Arc<DiskImage>, table: &PartitionTable, forced: Option<u32>) -> Result<RootChoice> {
    if let Some(n) = forced {
        let p = table.partitions.iter().find(|p| p.number.unwrap_or(0) == n).ok_or_else(|| {
            Error::Partition(format!("--root-partition {n}: no such partition. {}", listing(table, &[])))
        })?;
        if !p.fs_type.is_ext() {
            return Err(Error::Partition(format!(
                "--root-partition {n}: {} is not an ext2/3/4 filesystem; only ext4 roots can be labelled offline",
                p.describe()
            )));
        }
        return Ok(RootChoice { partition: p.clone(), reason: format!("--root-partition {n}") });
    }
    let mut notes: Vec<(u32, String)> = Vec::new();
    let mut matches = Vec::new();
    for p in table.partitions.iter().filter(|p| p.fs_type.is_ext()) {
        let key = p.number.unwrap_or(0);
        let fs = match GuestFs::open(disk.clone(), p, OpenMode::ReadOnly) {
            Ok(fs) => fs,
            Err(e) => {
                notes.push((key, format!("cannot be opened: {e}")));
                continue;
            }
        };
        let text = match fs.read_text("/etc/fstab") {
            Ok(Some(t)) => t,
            Ok(None) => {
                notes.push((key, "has no /etc/fstab".into()));
                continue;
            }
            Err(e) => {
                notes.push((key, format!("/etc/fstab unreadable: {e}")));
                continue;
            }
        };
        let entries = fstab::parse(&text);
        match fstab::root_entry(&entries) {
            None => notes.push((key, "its /etc/fstab has no / entry".into())),
            Some(root) if spec_matches(&DeviceSpec::parse(&root.spec), p) => {
                matches.push(RootChoice {
                    partition: p.clone(),
                    reason: format!("its /etc/fstab mounts {} on /", root.spec),
                });
            }
            Some(root) => {
                notes.push((key, format!("its /etc/fstab mounts {} on /, which is another filesystem", root.spec)))
            }
        }
    }
    match matches.len() {
        1 => Ok(matches.pop().expect("one")),
        0 => Err(Error::Partition(format!(
            "no root filesystem found: no ext4 names itself as / in its own /etc/fstab. {} {}",
            listing(table, &notes),
            choose_hint(table)
        ))),
        _ => {
            let which: Vec<String> = matches.iter().map(|m| m.partition.describe()).collect();
            Err(Error::Partition(format!(
                "several root filesystems found ({}); choose one with --root-partition N.",
                which.join("; ")
            )))
        }
    }
}

fn choose_hint(table: &PartitionTable) -> &'static str {
    if table.kind == crate::partition::TableKind::None {
        "If this filesystem is the root, say so with --root-partition 0."
    } else {
        "Choose one with --root-partition N."
    }
}

fn listing(table: &PartitionTable, notes: &[(u32, String)]) -> String {
    let mut out = match table.kind {
        crate::partition::TableKind::None => "Found (no partition table):".to_string(),
        kind => format!("Found ({kind} partition table):"),
    };
    for p in &table.partitions {
        out.push_str(&format!(" {}", p.describe()));
        if let Some((_, note)) = notes.iter().find(|(n, _)| *n == p.number.unwrap_or(0)) {
            out.push_str(&format!(" — {note}"));
        }
        out.push(';');
    }
    out.pop();
    out.push('.');
    out
}

/// What the lints and the policy profiles need to know about the guest, read from its root.
pub fn image_facts(fs: &GuestFs, boot_fs: Option<&GuestFs>) -> Result<crate::ima::lint::ImageFacts> {
    let fstab = fstab::parse(&fs.read_text("/etc/fstab")?.unwrap_or_default());
    let (boot, prefix) = match boot_fs {
        Some(b) => (b, ""),
        None => (fs, "/boot"),
    };
    let names = boot.list_dir(if prefix.is_empty() { "/" } else { prefix })?;
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let kernel = crate::kernel::releases_from_boot_listing(&refs).pop();
    let kernel_config = match &kernel {
        Some(k) => {
            boot.read_text(&format!("{prefix}/config-{}", k.release))?.map(|t| crate::kernel::KernelConfig::parse(&t))
        }
        None => None,
    };
    let ima_keys = fs.list_dir("/etc/keys/ima")?.into_iter().map(|n| format!("/etc/keys/ima/{n}")).collect();
    let mut has_systemd = false;
    for p in ["/lib/systemd/systemd", "/usr/lib/systemd/systemd"] {
        has_systemd |= fs.find(p)?.is_some();
    }
    let mut initramfs_modules: Vec<String> = Vec::new();
    if let Some(text) = fs.read_text("/etc/initramfs-tools/modules")? {
        initramfs_modules.extend(
            text.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .filter_map(|l| l.split_whitespace().next())
                .map(str::to_string),
        );
    }
    for conf in fs.list_dir("/etc/dracut.conf.d")? {
        if let Some(text) = fs.read_text(&format!("/etc/dracut.conf.d/{conf}"))? {
            for line in text
                .lines()
                .filter(|l| l.trim_start().starts_with("add_drivers") || l.trim_start().starts_with("force_drivers"))
            {
                let value =
                    line.split_once('=').map(|(_, v)| v.trim().trim_matches(['"', '\'', '+', ' '])).unwrap_or("");
                initramfs_modules.extend(value.split_whitespace().map(str::to_string));
            }
        }
    }
    Ok(crate::ima::lint::ImageFacts { fstab, kernel, kernel_config, ima_keys, has_systemd, initramfs_modules })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::partition::{FsType, TableKind};

    fn part(number: u32, start: u64, size: u64, uuid: &str) -> Partition {
        Partition {
            number: Some(number),
            start,
            size,
            part_uuid: None,
            part_label: None,
            fs_type: FsType::Ext4,
            fs_uuid: Some(uuid.into()),
            fs_label: None,
        }
    }

    #[test]
    fn the_root_is_found_again_with_its_new_bounds() {
        let before = RootChoice { partition: part(1, 1 << 20, 100 << 20, "aa"), reason: "fstab".into() };
        let grown = PartitionTable {
            kind: TableKind::Gpt,
            partitions: vec![part(15, 4096, 512, "bb"), part(1, 1 << 20, 900 << 20, "aa")],
        };
        let after = refind_root(&grown, &before).unwrap();
        assert_eq!((after.partition.size, after.reason.as_str()), (900 << 20, "fstab"));
        let gone = PartitionTable { kind: TableKind::Gpt, partitions: vec![part(1, 1 << 20, 100 << 20, "cc")] };
        let e = refind_root(&gone, &before).unwrap_err().to_string();
        assert!(e.contains("no longer on the disk"), "{e}");
    }
}
