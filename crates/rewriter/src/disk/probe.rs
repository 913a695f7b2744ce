//! Recognising what an image file is before handing it to imago: qcow2 features imago cannot
//! handle, other formats, truncated qcow2 files, and files that are not disk images at all.
//! Each refusal says which `qemu-img` command fixes it.

use super::qcow2_entry::{self, COMPRESSED, OFFSET_MASK};
use crate::error::{Error, Result};
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;

/// The formats we read and write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ImageFormat {
    /// A plain disk image.
    Raw,
    /// QEMU copy-on-write v2/v3.
    Qcow2,
}

impl std::fmt::Display for ImageFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ImageFormat::Raw => "raw",
            ImageFormat::Qcow2 => "qcow2",
        })
    }
}

/// The parts of a qcow2 header we check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Qcow2Header {
    /// 2 or 3.
    pub version: u32,
    /// log2 of the cluster size.
    pub cluster_bits: u32,
    /// Virtual disk size in bytes.
    pub size: u64,
    /// Backing file name as stored (relative names are relative to the image's directory).
    pub backing_file: Option<String>,
    /// Offset of the backing file name in the header cluster.
    pub backing_file_offset: u64,
    /// Offset of the L1 table.
    pub l1_table_offset: u64,
    /// Entries in the L1 table.
    pub l1_size: u32,
    /// Offset of the refcount table.
    pub refcount_table_offset: u64,
    /// Incompatible feature bits (v3).
    pub incompatible_features: u64,
}

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes(b[at..at + 4].try_into().unwrap())
}

fn be64(b: &[u8], at: usize) -> u64 {
    u64::from_be_bytes(b[at..at + 8].try_into().unwrap())
}

fn refuse(path: &Path, message: String) -> Error {
    Error::Image { path: path.to_owned(), message }
}

fn read_exact(file: &File, path: &Path, buf: &mut [u8], at: u64, what: &str) -> Result<()> {
    file.read_exact_at(buf, at).map_err(|e| {
        if e.kind() == std::io::ErrorKind::UnexpectedEof {
            refuse(
                path,
                format!("the file ends before its {what} (truncated?); the image cannot be used, get an intact copy"),
            )
        } else {
            Error::ImageIo { path: path.to_owned(), op: format!("read {what}"), cause: e }
        }
    })
}

/// Looks at the start of `path` and says which format it is, refusing what we cannot handle.
pub fn probe(path: &Path) -> Result<(ImageFormat, Option<Qcow2Header>)> {
    let file = File::open(path).map_err(|e| Error::ImageIo { path: path.to_owned(), op: "open".into(), cause: e })?;
    let meta = file.metadata().map_err(|e| Error::ImageIo { path: path.to_owned(), op: "stat".into(), cause: e })?;
    if !meta.is_file() {
        return Err(refuse(path, "not a regular file; give a qcow2 or raw disk image file".into()));
    }
    let len = meta.len();
    let mut head = vec![0u8; 4608.min(len as usize)];
    read_exact(&file, path, &mut head, 0, "first sectors")?;
    let convert = |from: &str| {
        format!(
            "this is a {from} image; convert it first: `qemu-img convert -O qcow2 {} converted.qcow2`",
            path.display()
        )
    };
    let starts = |magic: &[u8]| head.starts_with(magic);
    if starts(b"QFI\xfb") {
        let header = check_qcow2(&file, path, len)?;
        return Ok((ImageFormat::Qcow2, Some(header)));
    }
    if starts(b"KDMV") || starts(b"# Disk DescriptorFile") {
        return Err(refuse(path, convert("VMDK")));
    }
    if starts(b"vhdxfile") {
        return Err(refuse(path, convert("VHDX")));
    }
    if starts(b"conectix") {
        return Err(refuse(path, convert("VHD (vpc)")));
    }
    if starts(b"QED\0") {
        return Err(refuse(path, convert("QED")));
    }
    if head.len() >= 68 && head[64..68] == 0xbeda107fu32.to_le_bytes() {
        return Err(refuse(path, convert("VDI")));
    }
    let mbr = head.len() >= 512 && head[510] == 0x55 && head[511] == 0xaa;
    let gpt = (head.len() >= 520 && &head[512..520] == b"EFI PART")
        || (head.len() >= 4104 && &head[4096..4104] == b"EFI PART");
    let ext = head.len() >= 1082 && head[1080] == 0x53 && head[1081] == 0xef;
    if mbr || gpt || ext {
        return Ok((ImageFormat::Raw, None));
    }
    Err(refuse(
        path,
        "not a disk image: no qcow2 header, no partition table (MBR or GPT) and no ext2/3/4 superblock; give a qcow2 or raw image of a whole disk or of an ext4 filesystem".into(),
    ))
}

/// Incompatible feature bits of qcow2 v3 (docs/interop/qcow2.txt in QEMU).
const DIRTY: u64 = 1 << 0;
const CORRUPT: u64 = 1 << 1;
const EXTERNAL_DATA: u64 = 1 << 2;
const COMPRESSION_TYPE: u64 = 1 << 3;
const EXTENDED_L2: u64 = 1 << 4;

fn check_qcow2(file: &File, path: &Path, len: u64) -> Result<Qcow2Header> {
    let mut h = [0u8; 112];
    let n = (len as usize).min(h.len());
    read_exact(file, path, &mut h[..n], 0, "qcow2 header")?;
    if n < 72 {
        return Err(refuse(path, "the qcow2 header is cut short (truncated file); get an intact copy".into()));
    }
    let p = path.display();
    let version = be32(&h, 4);
    if version != 2 && version != 3 {
        return Err(refuse(path, format!("qcow2 version {version} is not supported (2 and 3 are)")));
    }
    let backing_file_offset = be64(&h, 8);
    let backing_file_size = be32(&h, 16);
    let cluster_bits = be32(&h, 20);
    if !(9..=21).contains(&cluster_bits) {
        return Err(refuse(path, format!("invalid qcow2 cluster size 2^{cluster_bits}; the image is corrupt")));
    }
    let crypt = be32(&h, 32);
    if crypt != 0 {
        return Err(refuse(
            path,
            format!("the qcow2 image is encrypted (method {crypt}); decrypt it first: `qemu-img convert --object secret,id=sec0,file=PASSFILE --image-opts driver=qcow2,file.filename={p},encrypt.key-secret=sec0 -O qcow2 plain.qcow2`"),
        ));
    }
    let incompatible = if version >= 3 && n >= 80 { be64(&h, 72) } else { 0 };
    let fix = |what: &str, how: String| refuse(path, format!("the qcow2 image {what}; {how}"));
    if incompatible & CORRUPT != 0 {
        return Err(fix("is marked corrupt", format!("repair a copy with `qemu-img check -r all COPY.qcow2`, or convert it: `qemu-img convert -O qcow2 {p} fixed.qcow2`")));
    }
    if incompatible & DIRTY != 0 {
        return Err(fix("is marked dirty (lazy refcounts were not written back)", format!("write a clean copy with `qemu-img convert -O qcow2 {p} clean.qcow2` (or run `qemu-img check -r all` on a copy)")));
    }
    if incompatible & COMPRESSION_TYPE != 0 {
        return Err(fix("uses a compression type other than zlib (zstd)", format!("convert it: `qemu-img convert -O qcow2 -o compression_type=zlib {p} zlib.qcow2` (add -c to keep it compressed)")));
    }
    if incompatible & EXTENDED_L2 != 0 {
        return Err(fix(
            "uses extended L2 entries (subclusters)",
            format!("convert it: `qemu-img convert -O qcow2 -o extended_l2=off {p} plain.qcow2`"),
        ));
    }
    let unknown = incompatible & !(DIRTY | CORRUPT | EXTERNAL_DATA | COMPRESSION_TYPE | EXTENDED_L2);
    if unknown != 0 {
        return Err(fix(
            &format!("uses unknown incompatible features (bits {unknown:#x})"),
            format!("convert it: `qemu-img convert -O qcow2 {p} plain.qcow2`"),
        ));
    }
    let backing_file = if backing_file_offset != 0 && backing_file_size != 0 {
        if backing_file_size > 1023 {
            return Err(refuse(
                path,
                format!("backing file name of {backing_file_size} bytes is invalid; the image is corrupt"),
            ));
        }
        let mut name = vec![0u8; backing_file_size as usize];
        read_exact(file, path, &mut name, backing_file_offset, "backing file name")?;
        Some(String::from_utf8(name).map_err(|_| {
            refuse(path, "the backing file name is not UTF-8; rebase the image with `qemu-img rebase -u -b NEW`".into())
        })?)
    } else {
        None
    };
    let header = Qcow2Header {
        version,
        cluster_bits,
        size: be64(&h, 24),
        backing_file,
        backing_file_offset,
        l1_size: be32(&h, 36),
        l1_table_offset: be64(&h, 40),
        refcount_table_offset: be64(&h, 48),
        incompatible_features: incompatible,
    };
    check_qcow2_extent(file, path, len, &header)?;
    Ok(header)
}

/// imago reads past the end of a file as zeros, so a truncated qcow2 would silently yield
/// zeros where data should be. Check that every cluster the L1 and L2 tables point to lies
/// inside the file (what `qemu-img check` reports as "offset beyond end of file").
fn check_qcow2_extent(file: &File, path: &Path, len: u64, h: &Qcow2Header) -> Result<()> {
    let truncated = |what: &str, off: u64| {
        refuse(path, format!("{what} at offset {off} lies beyond the end of the file ({len} bytes): the qcow2 file is truncated; get an intact copy (`qemu-img check` shows the damage)"))
    };
    let cluster = 1u64 << h.cluster_bits;
    let l1_bytes = h.l1_size as u64 * 8;
    if h.l1_table_offset.saturating_add(l1_bytes) > len {
        return Err(truncated("the L1 table", h.l1_table_offset));
    }
    if h.refcount_table_offset >= len {
        return Err(truncated("the refcount table", h.refcount_table_offset));
    }
    let mut l1 = vec![0u8; l1_bytes as usize];
    read_exact(file, path, &mut l1, h.l1_table_offset, "L1 table")?;
    let mut l2 = vec![0u8; cluster as usize];
    for e in qcow2_entry::table(&l1) {
        let l2_off = e & OFFSET_MASK;
        if l2_off == 0 {
            continue;
        }
        if l2_off + cluster > len {
            return Err(truncated("an L2 table", l2_off));
        }
        read_exact(file, path, &mut l2, l2_off, "L2 table")?;
        for entry in qcow2_entry::table(&l2) {
            let (off, end) = if entry & COMPRESSED != 0 {
                let (off, _) = qcow2_entry::compressed_extent(entry, h.cluster_bits);
                (off, off + 1)
            } else {
                let off = entry & OFFSET_MASK;
                (off, off + cluster)
            };
            if off != 0 && end > len.next_multiple_of(512) {
                return Err(truncated("a data cluster", off));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn write(dir: &Path, name: &str, bytes: &[u8]) -> std::path::PathBuf {
        let p = dir.join(name);
        std::fs::File::create(&p).unwrap().write_all(bytes).unwrap();
        p
    }

    #[test]
    fn recognises_foreign_formats_and_non_images() {
        let d = tempfile::tempdir().unwrap();
        let vmdk = write(d.path(), "a.vmdk", b"KDMV\x01\0\0\0 rest of header.........");
        let err = probe(&vmdk).unwrap_err().to_string();
        assert!(err.contains("VMDK") && err.contains("qemu-img convert"), "{err}");
        let text = write(d.path(), "notes.txt", &b"hello world\n".repeat(500));
        let err = probe(&text).unwrap_err().to_string();
        assert!(err.contains("not a disk image"), "{err}");
        let mut mbr = vec![0u8; 1024];
        mbr[510] = 0x55;
        mbr[511] = 0xaa;
        let raw = write(d.path(), "disk.raw", &mbr);
        assert_eq!(probe(&raw).unwrap().0, ImageFormat::Raw);
        let empty = write(d.path(), "empty", b"");
        assert!(probe(&empty).unwrap_err().to_string().contains("not a disk image"));
    }

    #[test]
    fn refuses_qcow2_features_imago_cannot_handle() {
        let d = tempfile::tempdir().unwrap();
        let mut h = vec![0u8; 512];
        h[..4].copy_from_slice(b"QFI\xfb");
        h[4..8].copy_from_slice(&3u32.to_be_bytes());
        h[20..24].copy_from_slice(&16u32.to_be_bytes());
        for (bit, word) in [(0u64, "dirty"), (1, "corrupt"), (3, "zstd"), (4, "extended L2")] {
            let mut img = h.clone();
            img[72..80].copy_from_slice(&(1u64 << bit).to_be_bytes());
            let p = write(d.path(), "x.qcow2", &img);
            let err = probe(&p).unwrap_err().to_string();
            assert!(err.contains(word) && err.contains("qemu-img"), "{bit}: {err}");
        }
        let mut img = h.clone();
        img[32..36].copy_from_slice(&1u32.to_be_bytes());
        let p = write(d.path(), "x.qcow2", &img);
        assert!(probe(&p).unwrap_err().to_string().contains("encrypted"));
    }
}
