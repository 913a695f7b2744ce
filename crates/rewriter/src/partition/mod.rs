//! Partition tables (GPT through `gptman`, MBR through `mbrman`, or none: a bare filesystem)
//! and a quick look at what each partition holds. This layer speaks in byte ranges of the disk
//! and never opens a filesystem.

use crate::disk::{DiskImage, DiskReader};
use crate::error::{Error, Result};

/// Which kind of partition table the disk has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TableKind {
    /// GUID partition table.
    Gpt,
    /// DOS/MBR table (with logical partitions numbered from 5).
    Mbr,
    /// No table: the filesystem starts at byte 0.
    None,
}

impl std::fmt::Display for TableKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            TableKind::Gpt => "GPT",
            TableKind::Mbr => "MBR",
            TableKind::None => "no partition table",
        })
    }
}

/// What a quick look at the first bytes of a partition found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FsType {
    /// ext2 (no journal, no extents).
    Ext2,
    /// ext3 (journal, no extents).
    Ext3,
    /// ext4 (extents).
    Ext4,
    /// FAT12/16/32 (the EFI system partition).
    Vfat,
    /// XFS.
    Xfs,
    /// Btrfs.
    Btrfs,
    /// Linux swap.
    Swap,
    /// ISO 9660.
    Iso9660,
    /// Nothing we recognise (BIOS boot partitions, empty space...).
    Unknown,
}

impl FsType {
    /// The name `mount -t` and fstab use.
    pub fn name(self) -> &'static str {
        match self {
            FsType::Ext2 => "ext2",
            FsType::Ext3 => "ext3",
            FsType::Ext4 => "ext4",
            FsType::Vfat => "vfat",
            FsType::Xfs => "xfs",
            FsType::Btrfs => "btrfs",
            FsType::Swap => "swap",
            FsType::Iso9660 => "iso9660",
            FsType::Unknown => "unknown",
        }
    }

    /// Returns true if and only if this is a filesystem libext2fs can open.
    pub fn is_ext(self) -> bool {
        matches!(self, FsType::Ext2 | FsType::Ext3 | FsType::Ext4)
    }
}

/// One partition (or the whole disk when there is no table).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Partition {
    /// 1-based number as Linux names it (`vda1`); `None` for a bare filesystem.
    pub number: Option<u32>,
    /// First byte on the disk.
    pub start: u64,
    /// Length in bytes.
    pub size: u64,
    /// GPT unique partition GUID, or `SSSSSSSS-NN` for MBR (what `PARTUUID=` matches).
    pub part_uuid: Option<String>,
    /// GPT partition name (what `PARTLABEL=` matches).
    pub part_label: Option<String>,
    /// What the first bytes look like.
    pub fs_type: FsType,
    /// Filesystem UUID, for ext and vfat (what `UUID=` matches).
    pub fs_uuid: Option<String>,
    /// Filesystem label (what `LABEL=` matches).
    pub fs_label: Option<String>,
}

impl Partition {
    /// A short description for messages: `partition 1 (ext4, LABEL=cloudimg-rootfs)`.
    pub fn describe(&self) -> String {
        let mut what = vec![self.fs_type.name().to_string()];
        if let Some(l) = self.fs_label.as_deref().filter(|l| !l.is_empty()) {
            what.push(format!("LABEL={l}"));
        }
        if let Some(u) = &self.fs_uuid {
            what.push(format!("UUID={u}"));
        }
        match self.number {
            Some(n) => format!("partition {n} ({}, {} MiB)", what.join(", "), self.size >> 20),
            None => format!("whole disk ({})", what.join(", ")),
        }
    }
}

/// The disk's partitions as found.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PartitionTable {
    /// Kind of table.
    pub kind: TableKind,
    /// Partitions in table order (or the whole disk).
    pub partitions: Vec<Partition>,
}

/// Reads the partition table (GPT first, then MBR, else a bare filesystem) and looks at each
/// partition's first bytes.
pub fn read_partitions(disk: &DiskImage) -> Result<PartitionTable> {
    let mut reader = DiskReader::new(disk);
    let (kind, mut partitions) = if let Ok(gpt) = gptman::GPT::find_from(&mut reader) {
        let ss = gpt.sector_size;
        let parts = gpt
            .iter()
            .filter(|(_, p)| p.is_used())
            .map(|(i, p)| Partition {
                number: Some(i),
                start: p.starting_lba * ss,
                size: (p.ending_lba + 1 - p.starting_lba) * ss,
                part_uuid: Some(guid_string(&p.unique_partition_guid)),
                part_label: Some(p.partition_name.as_str().to_string()).filter(|s| !s.is_empty()),
                fs_type: FsType::Unknown,
                fs_uuid: None,
                fs_label: None,
            })
            .collect();
        (TableKind::Gpt, parts)
    } else if let Some(parts) = read_mbr(disk)? {
        (TableKind::Mbr, parts)
    } else {
        let whole = Partition {
            number: None,
            start: 0,
            size: disk.size(),
            part_uuid: None,
            part_label: None,
            fs_type: FsType::Unknown,
            fs_uuid: None,
            fs_label: None,
        };
        (TableKind::None, vec![whole])
    };
    for p in &mut partitions {
        if p.start.checked_add(p.size).is_none_or(|end| end > disk.size()) {
            return Err(Error::Partition(format!(
                "{} extends beyond the end of the {}-byte disk; the partition table is corrupt",
                p.describe(),
                disk.size()
            )));
        }
        identify(disk, p)?;
    }
    Ok(PartitionTable { kind, partitions })
}

fn read_mbr(disk: &DiskImage) -> Result<Option<Vec<Partition>>> {
    let mut sector = [0u8; 512];
    if disk.size() < 512 {
        return Ok(None);
    }
    disk.read_at(0, &mut sector)?;
    if sector[510] != 0x55 || sector[511] != 0xaa {
        return Ok(None);
    }
    // A FAT or NTFS boot sector also ends in 55 AA: an MBR has only 0x00/0x80 boot flags.
    if (0..4).any(|i| !matches!(sector[446 + i * 16], 0x00 | 0x80)) {
        return Ok(None);
    }
    let mut reader = DiskReader::new(disk);
    let Ok(mbr) = mbrman::MBR::read_from(&mut reader, 512) else { return Ok(None) };
    let sig = u32::from_le_bytes(mbr.header.disk_signature);
    let parts: Vec<Partition> = mbr
        .iter()
        .filter(|(_, p)| p.is_used() && !matches!(p.sys, 0x05 | 0x0f | 0x85))
        .map(|(i, p)| Partition {
            number: Some(i as u32),
            start: p.starting_lba as u64 * 512,
            size: p.sectors as u64 * 512,
            part_uuid: Some(format!("{sig:08x}-{i:02x}")),
            part_label: None,
            fs_type: FsType::Unknown,
            fs_uuid: None,
            fs_label: None,
        })
        .collect();
    if parts.is_empty() {
        return Ok(None);
    }
    Ok(Some(parts))
}

/// Formats a GPT GUID stored in its mixed-endian on-disk form.
fn guid_string(b: &[u8; 16]) -> String {
    format!(
        "{:08x}-{:04x}-{:04x}-{:02x}{:02x}-{}",
        u32::from_le_bytes([b[0], b[1], b[2], b[3]]),
        u16::from_le_bytes([b[4], b[5]]),
        u16::from_le_bytes([b[6], b[7]]),
        b[8],
        b[9],
        b[10..].iter().map(|x| format!("{x:02x}")).collect::<String>()
    )
}

/// Recognises the filesystem from its magic numbers, and reads UUID and label of ext and vfat.
fn identify(disk: &DiskImage, p: &mut Partition) -> Result<()> {
    let mut head = vec![0u8; (68 * 1024).min(p.size as usize)];
    disk.read_at(p.start, &mut head)?;
    let at = |o: usize, magic: &[u8]| head.len() >= o + magic.len() && &head[o..o + magic.len()] == magic;
    if at(1080, &[0x53, 0xef]) {
        let sb = &head[1024..2048];
        let compat = u32::from_le_bytes(sb[0x5c..0x60].try_into().unwrap());
        let incompat = u32::from_le_bytes(sb[0x60..0x64].try_into().unwrap());
        p.fs_type = if incompat & 0x40 != 0 {
            FsType::Ext4
        } else if compat & 0x4 != 0 {
            FsType::Ext3
        } else {
            FsType::Ext2
        };
        let uuid: [u8; 16] = sb[0x68..0x78].try_into().unwrap();
        p.fs_uuid = Some(plain_uuid(&uuid));
        let label = &sb[0x78..0x88];
        let end = label.iter().position(|&c| c == 0).unwrap_or(16);
        p.fs_label = Some(String::from_utf8_lossy(&label[..end]).into_owned());
    } else if at(0, b"XFSB") {
        p.fs_type = FsType::Xfs;
    } else if at(65536 + 64, b"_BHRfS_M") {
        p.fs_type = FsType::Btrfs;
    } else if at(4086, b"SWAPSPACE2") {
        p.fs_type = FsType::Swap;
    } else if at(32769, b"CD001") {
        p.fs_type = FsType::Iso9660;
    } else if at(510, &[0x55, 0xaa]) && (at(54, b"FAT1") || at(82, b"FAT32")) {
        p.fs_type = FsType::Vfat;
        let (id_at, label_at) = if at(82, b"FAT32") { (67, 71) } else { (39, 43) };
        let id = u32::from_le_bytes(head[id_at..id_at + 4].try_into().unwrap());
        p.fs_uuid = Some(format!("{:04X}-{:04X}", id >> 16, id & 0xffff));
        p.fs_label = Some(String::from_utf8_lossy(&head[label_at..label_at + 11]).trim_end().to_string());
    }
    Ok(())
}

fn plain_uuid(b: &[u8; 16]) -> String {
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!("{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gpt_guids_use_the_mixed_endian_layout() {
        // The ESP type GUID C12A7328-F81F-11D2-BA4B-00A0C93EC93B as stored on disk.
        let b = [0x28, 0x73, 0x2a, 0xc1, 0x1f, 0xf8, 0xd2, 0x11, 0xba, 0x4b, 0x00, 0xa0, 0xc9, 0x3e, 0xc9, 0x3b];
        assert_eq!(guid_string(&b), "c12a7328-f81f-11d2-ba4b-00a0c93ec93b");
    }
}
