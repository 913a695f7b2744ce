//! `/etc/fstab` as text: parsing its entries, reading device specifications (`UUID=…`,
//! `/dev/disk/by-label/…`, `/dev/vda1`), and the one edit we make, adding the `iversion`
//! mount flag to ext4 lines. The edit touches only the options field of the lines it changes,
//! so comments, alignment and everything else survive byte for byte.

use std::borrow::Cow;
use std::ops::Range;

/// One mount line of an fstab, with fields as `mount(8)` reads them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FstabEntry {
    /// 1-based line number in the file.
    pub line: usize,
    /// First field, the device (`UUID=…`, `LABEL=…`, `/dev/vda1`), with octal escapes such
    /// as `\040` decoded; see [`DeviceSpec::parse`].
    pub spec: String,
    /// Second field, the mount point, with octal escapes decoded.
    pub mount_point: String,
    /// Third field, the filesystem type (`ext4`, `vfat`, `swap`, `auto`).
    pub fs_type: String,
    /// Fourth field split at commas; empty when the field is omitted (meaning `defaults`).
    pub options: Vec<String>,
    /// Fifth field (dump frequency), if present.
    pub dump: Option<String>,
    /// Sixth field (fsck pass number), if present.
    pub pass: Option<String>,
}

/// Parses the mount lines of an fstab.
///
/// Comments (first non-blank character `#`) and blank lines are skipped. Fields are
/// separated by any run of spaces and tabs; fields after the sixth are ignored. Lines with
/// fewer than three fields (device, mount point, type) are malformed and skipped, as
/// `mount -a` would refuse them anyway.
pub fn parse(text: &str) -> Vec<FstabEntry> {
    text.split('\n')
        .enumerate()
        .filter_map(|(index, line)| {
            let line = line.strip_suffix('\r').unwrap_or(line);
            let fields: Vec<&str> = field_ranges(line).map(|r| &line[r]).collect();
            if fields.len() < 3 {
                return None;
            }
            Some(FstabEntry {
                line: index + 1,
                spec: decode_octal(fields[0]),
                mount_point: decode_octal(fields[1]),
                fs_type: fields[2].to_owned(),
                options: fields.get(3).map(|o| o.split(',').map(str::to_owned).collect()).unwrap_or_default(),
                dump: fields.get(4).map(|s| (*s).to_owned()),
                pass: fields.get(5).map(|s| (*s).to_owned()),
            })
        })
        .collect()
}

/// Byte ranges of the fields of one fstab line; nothing for a comment or blank line.
fn field_ranges(line: &str) -> impl Iterator<Item = Range<usize>> + '_ {
    let is_sep = |b: u8| b == b' ' || b == b'\t';
    let bytes = line.as_bytes();
    let first = bytes.iter().position(|&b| !is_sep(b));
    let is_comment = first.is_none_or(|i| bytes[i] == b'#');
    let mut pos = if is_comment { bytes.len() } else { 0 };
    std::iter::from_fn(move || {
        while pos < bytes.len() && is_sep(bytes[pos]) {
            pos += 1;
        }
        if pos == bytes.len() {
            return None;
        }
        let start = pos;
        while pos < bytes.len() && !is_sep(bytes[pos]) {
            pos += 1;
        }
        Some(start..pos)
    })
}

/// Decodes fstab's octal escapes (`\040` space, `\011` tab, `\134` backslash), which
/// getmntent(3) and libmount decode in every field. Other backslashes stay as they are.
fn decode_octal(field: &str) -> String {
    decode_escapes(field, |rest| {
        let digits = rest.get(..3)?;
        if !digits.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
            return None;
        }
        let value = u8::try_from(u32::from_str_radix(digits, 8).ok()?).ok()?;
        Some((value, 3))
    })
}

/// Decodes udev's `\xHH` escapes in `/dev/disk/by-*` link names (`\x2f` for `/`, `\x20`
/// for a space).
fn decode_hex(name: &str) -> String {
    decode_escapes(name, |rest| {
        let digits = rest.strip_prefix('x')?.get(..2)?;
        if !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        Some((u8::from_str_radix(digits, 16).ok()?, 3))
    })
}

/// Replaces each backslash escape that `decode` recognises. `decode` gets the text after the
/// backslash and returns the byte and how many characters the escape used. Works on bytes so
/// that escaped UTF-8 sequences come out whole; invalid UTF-8 is replaced with U+FFFD.
fn decode_escapes(text: &str, decode: impl Fn(&str) -> Option<(u8, usize)>) -> String {
    if !text.contains('\\') {
        return text.to_owned();
    }
    let mut out = Vec::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        if text.as_bytes()[i] == b'\\' {
            if let Some((byte, used)) = decode(&text[i + 1..]) {
                out.push(byte);
                i += 1 + used;
                continue;
            }
        }
        out.push(text.as_bytes()[i]);
        i += 1;
    }
    match String::from_utf8(out) {
        Ok(s) => s,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    }
}

/// How an fstab line (or a `root=` kernel parameter) names its device.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum DeviceSpec {
    /// `UUID=…` or `/dev/disk/by-uuid/…`: the filesystem UUID, as written (compare it
    /// case-insensitively).
    Uuid(String),
    /// `LABEL=…` or `/dev/disk/by-label/…`: the filesystem label.
    Label(String),
    /// `PARTUUID=…` or `/dev/disk/by-partuuid/…`: the GPT partition GUID, or for MBR
    /// `<disk id>-<partition number>` (compare case-insensitively).
    PartUuid(String),
    /// `PARTLABEL=…` or `/dev/disk/by-partlabel/…`: the GPT partition name.
    PartLabel(String),
    /// Anything else, normally a device node such as `/dev/vda1` or `/dev/mapper/root`.
    Path(String),
}

impl DeviceSpec {
    /// Reads a device specification (an fstab first field, already octal-decoded as in
    /// [`FstabEntry::spec`]).
    ///
    /// `TAG=value` forms may quote the value in `"` or `'`, as libblkid allows. In
    /// `/dev/disk/by-*/` link names, udev's `\x2f`-style escapes are decoded. Anything not
    /// recognised, including an empty tag value, is a [`DeviceSpec::Path`].
    pub fn parse(spec: &str) -> DeviceSpec {
        const TAGS: [(&str, MakeSpec); 4] = [
            ("UUID=", DeviceSpec::Uuid),
            ("LABEL=", DeviceSpec::Label),
            ("PARTUUID=", DeviceSpec::PartUuid),
            ("PARTLABEL=", DeviceSpec::PartLabel),
        ];
        const LINKS: [(&str, MakeSpec); 4] = [
            ("/dev/disk/by-uuid/", DeviceSpec::Uuid),
            ("/dev/disk/by-label/", DeviceSpec::Label),
            ("/dev/disk/by-partuuid/", DeviceSpec::PartUuid),
            ("/dev/disk/by-partlabel/", DeviceSpec::PartLabel),
        ];
        for (tag, make) in TAGS {
            if let Some(value) = spec.strip_prefix(tag) {
                let value = unquote(value);
                if !value.is_empty() {
                    return make(value.to_owned());
                }
            }
        }
        for (dir, make) in LINKS {
            if let Some(name) = spec.strip_prefix(dir) {
                if !name.is_empty() && !name.contains('/') {
                    return make(decode_hex(name));
                }
            }
        }
        DeviceSpec::Path(spec.to_owned())
    }
}

/// Builds a [`DeviceSpec`] variant from its value.
type MakeSpec = fn(String) -> DeviceSpec;

/// Strips one matching pair of `"` or `'` around a tag value.
fn unquote(value: &str) -> &str {
    for q in ['"', '\''] {
        if let Some(inner) = value.strip_prefix(q).and_then(|v| v.strip_suffix(q)) {
            return inner;
        }
    }
    value
}

/// Returns the partition number of a partition device node, or `None` for a whole disk or
/// a device that is not a plain partition.
///
/// `/dev/vda1` → 1, `/dev/sda15` → 15, `/dev/xvda2` → 2, `/dev/nvme0n1p3` → 3,
/// `/dev/mmcblk0p2` → 2, `/dev/disk/by-id/virtio-abc-part1` → 1; `/dev/vda`,
/// `/dev/nvme0n1`, `/dev/mmcblk0`, `/dev/mapper/x` → `None`. Follows the kernel's naming
/// rule: a disk whose name ends in a digit gets `p<N>` partitions, others get `<N>`; only
/// the sd/vd/xvd/hd families are trusted to use the second form, since `loop0` or `md0`
/// are whole devices.
pub fn partition_number_from_device_path(path: &str) -> Option<u32> {
    let name = path.strip_prefix("/dev/")?;
    let number = if let Some(link) = name.strip_prefix("disk/by-id/").or_else(|| name.strip_prefix("disk/by-path/")) {
        // udev's by-id and by-path links name partitions `<disk link>-part<N>`.
        let (_, n) = link.rsplit_once("-part")?;
        n
    } else if name.contains('/') {
        // /dev/mapper/*, /dev/md/*, volume groups: not a partition of a disk we can name.
        return None;
    } else {
        let (stem, n) = split_trailing_digits(name);
        // nvme0n1p3, mmcblk0p2, loop0p1: the disk name ends in a digit, then `p<N>`.
        let digit_named_disk = stem.strip_suffix('p').is_some_and(|disk| disk.ends_with(|c: char| c.is_ascii_digit()));
        if !digit_named_disk {
            let letters = ["xvd", "sd", "vd", "hd"].iter().find_map(|family| stem.strip_prefix(family))?;
            if letters.is_empty() || !letters.bytes().all(|b| b.is_ascii_lowercase()) {
                return None;
            }
        }
        n
    };
    if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) || number.starts_with('0') {
        return None;
    }
    number.parse().ok()
}

/// Splits a name into everything before its trailing ASCII digits and those digits.
fn split_trailing_digits(name: &str) -> (&str, &str) {
    let start = name.trim_end_matches(|c: char| c.is_ascii_digit()).len();
    name.split_at(start)
}

/// Returns the entry that mounts `/`: the last one, since a later line mounts over an
/// earlier one.
pub fn root_entry(entries: &[FstabEntry]) -> Option<&FstabEntry> {
    entries.iter().rev().find(|e| e.mount_point == "/")
}

/// Returns the entries whose filesystem type is exactly `fs_type`.
pub fn mounts_of_type<'a>(entries: &'a [FstabEntry], fs_type: &str) -> impl Iterator<Item = &'a FstabEntry> {
    // Owned, so that the iterator borrows only `entries`.
    let fs_type = fs_type.to_owned();
    entries.iter().filter(move |e| e.fs_type == fs_type)
}

/// The mount flag that keeps ext4's change counter on across remounts (see
/// `ima-kernel-facts.md` section 4.2: a VFS flag, spelled `iversion` in fstab, unlike the
/// ext4 `i_version` option on the kernel command line).
const IVERSION: &str = "iversion";

/// Adds the `iversion` flag to the options of every line whose type is exactly `ext4`, and
/// returns the new text with the 1-based numbers of the lines it changed.
///
/// `defaults` becomes `defaults,iversion`; a line whose options field is omitted gets
/// `\tdefaults,iversion` after its third field. Lines that already say `iversion` or
/// deliberately say `noiversion` are left alone, so a second run changes nothing. Only the
/// options field of a changed line is rewritten: comments, field alignment, trailing text,
/// line endings and a missing final newline are kept byte for byte.
pub fn add_iversion(text: &str) -> (String, Vec<usize>) {
    let mut out = String::with_capacity(text.len() + 16);
    let mut changed = Vec::new();
    for (index, line) in text.split_inclusive('\n').enumerate() {
        match add_iversion_to_line(line) {
            Some(new_line) => {
                out.push_str(&new_line);
                changed.push(index + 1);
            }
            None => out.push_str(line),
        }
    }
    (out, changed)
}

/// The new text of one line (with its terminator), or `None` if it needs no change.
fn add_iversion_to_line(line: &str) -> Option<String> {
    let body_len = line.trim_end_matches(['\n', '\r']).len();
    let body = &line[..body_len];
    let fields: Vec<Range<usize>> = field_ranges(body).take(4).collect();
    if fields.len() < 3 || &body[fields[2].clone()] != "ext4" {
        return None;
    }
    let (at, insert): (Range<usize>, Cow<'_, str>) = match fields.get(3) {
        Some(options) => {
            let present = body[options.clone()].split(',').any(|o| o == IVERSION || o == "noiversion");
            if present {
                return None;
            }
            (options.end..options.end, Cow::Owned(format!(",{IVERSION}")))
        }
        None => (fields[2].end..fields[2].end, Cow::Owned(format!("\tdefaults,{IVERSION}"))),
    };
    let mut new_line = String::with_capacity(line.len() + insert.len());
    new_line.push_str(&line[..at.start]);
    new_line.push_str(&insert);
    new_line.push_str(&line[at.end..]);
    Some(new_line)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Debian 12 genericcloud image as built by debian-cloud-images.
    const DEBIAN_12: &str = "\
# /etc/fstab: static file system information.
PARTUUID=5e1b6ac5-e9e2-4d85-8d20-7a6c1d3f7b8a / ext4 rw,discard,errors=remount-ro,x-systemd.growfs 0 1
PARTUUID=0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d /boot/efi vfat defaults 0 0
";

    /// Ubuntu 22.04 cloud image.
    const UBUNTU_2204: &str = "\
LABEL=cloudimg-rootfs\t/\t ext4\tdiscard,errors=remount-ro\t0 1
LABEL=UEFI\t/boot/efi\tvfat\tumask=0077\t0 1
";

    /// An installer-made fstab with comments, alignment, swap, a space in a mount point,
    /// options omitted, and no final newline.
    const INSTALLER: &str = "\
# /etc/fstab: static file system information.
#
# Use 'blkid' to print the universally unique identifier for a
# device; this may be used with UUID= as a more robust way to name devices
# that works even if disks are added and removed. See fstab(5).
#
# systemd generates mount units based on this file, see systemd.mount(5).
# Please run 'systemctl daemon-reload' after making changes here.
#
# <file system> <mount point>   <type>  <options>       <dump>  <pass>
# / was on /dev/vda1 during installation
UUID=9c3e4a57-2b1d-4f6e-8a0c-7d5b3e1f2a94 /               ext4    errors=remount-ro 0       1
# /home was on /dev/vda3 during installation
UUID=\"1F2E3D4C-5B6A-4978-8695-A4B3C2D1E0F9\" /home           ext4    defaults        0       2
# swap was on /dev/vda5 during installation
UUID=0b1c2d3e-4f50-4617-8293-a4b5c6d7e8f9 none            swap    sw              0       0
/dev/sr0        /media/cdrom0   udf,iso9660 user,noauto     0       0
/dev/disk/by-label/My\\x20Data /srv/my\\040data ext4
tmpfs /tmp tmpfs mode=1777,nosuid,nodev 0 0
   /dev/vdb1 /mnt/old ext4 ro,noiversion 0 2
/dev/vdc1 /mnt/scratch ext4 noatime,iversion 0 2
/dev/vdd1 /mnt/weird ext4\tdefaults\t0\t2\t# trailing text
/dev/vde1 /mnt/other ext4dev defaults 0 2
/dev/vda1 /
/dev/vdf1 /srv ext4 defaults";

    #[test]
    fn parse_debian_12() {
        let entries = parse(DEBIAN_12);
        assert_eq!(
            entries,
            [
                FstabEntry {
                    line: 2,
                    spec: "PARTUUID=5e1b6ac5-e9e2-4d85-8d20-7a6c1d3f7b8a".into(),
                    mount_point: "/".into(),
                    fs_type: "ext4".into(),
                    options: vec!["rw".into(), "discard".into(), "errors=remount-ro".into(), "x-systemd.growfs".into()],
                    dump: Some("0".into()),
                    pass: Some("1".into()),
                },
                FstabEntry {
                    line: 3,
                    spec: "PARTUUID=0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d".into(),
                    mount_point: "/boot/efi".into(),
                    fs_type: "vfat".into(),
                    options: vec!["defaults".into()],
                    dump: Some("0".into()),
                    pass: Some("0".into()),
                },
            ]
        );
    }

    /// Line, spec, mount point, type, number of options, pass.
    type Summary<'a> = (usize, &'a str, &'a str, &'a str, usize, Option<&'a str>);

    #[test]
    fn parse_installer_fields() {
        let entries = parse(INSTALLER);
        let summary: Vec<Summary<'_>> = entries
            .iter()
            .map(|e| {
                (
                    e.line,
                    e.spec.as_str(),
                    e.mount_point.as_str(),
                    e.fs_type.as_str(),
                    e.options.len(),
                    e.pass.as_deref(),
                )
            })
            .collect();
        assert_eq!(
            summary,
            [
                (12, "UUID=9c3e4a57-2b1d-4f6e-8a0c-7d5b3e1f2a94", "/", "ext4", 1, Some("1")),
                (14, "UUID=\"1F2E3D4C-5B6A-4978-8695-A4B3C2D1E0F9\"", "/home", "ext4", 1, Some("2")),
                (16, "UUID=0b1c2d3e-4f50-4617-8293-a4b5c6d7e8f9", "none", "swap", 1, Some("0")),
                (17, "/dev/sr0", "/media/cdrom0", "udf,iso9660", 2, Some("0")),
                (18, "/dev/disk/by-label/My\\x20Data", "/srv/my data", "ext4", 0, None),
                (19, "tmpfs", "/tmp", "tmpfs", 3, Some("0")),
                (20, "/dev/vdb1", "/mnt/old", "ext4", 2, Some("2")),
                (21, "/dev/vdc1", "/mnt/scratch", "ext4", 2, Some("2")),
                (22, "/dev/vdd1", "/mnt/weird", "ext4", 1, Some("2")),
                (23, "/dev/vde1", "/mnt/other", "ext4dev", 1, Some("2")),
                (25, "/dev/vdf1", "/srv", "ext4", 1, None),
            ][..]
        );
    }

    #[test]
    fn parse_skips_short_and_comment_lines_and_handles_crlf() {
        let text = "#UUID=x / ext4 defaults 0 1\r\n  # indented comment\r\n\r\n/dev/vda1 /\r\nLABEL=root / ext4 defaults 0 1\r\n";
        let entries = parse(text);
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].line, 5);
        assert_eq!(entries[0].pass.as_deref(), Some("1"));
    }

    #[test]
    fn octal_escapes() {
        let cases = [
            ("/srv/my\\040data", "/srv/my data"),
            ("/a\\011b", "/a\tb"),
            ("/back\\134slash", "/back\\slash"),
            ("/caf\\303\\251", "/café"),
            ("/not\\08escape", "/not\\08escape"),
            ("/short\\04", "/short\\04"),
            ("/trailing\\", "/trailing\\"),
            ("/too\\777big", "/too\\777big"),
        ];
        for (input, expected) in cases {
            assert_eq!(decode_octal(input), expected, "{input}");
        }
    }

    #[test]
    fn device_specs() {
        use DeviceSpec::*;
        let cases = [
            ("UUID=9c3e4a57-2b1d-4f6e-8a0c-7d5b3e1f2a94", Uuid("9c3e4a57-2b1d-4f6e-8a0c-7d5b3e1f2a94".into())),
            ("UUID=\"1F2E3D4C-5B6A\"", Uuid("1F2E3D4C-5B6A".into())),
            ("LABEL=cloudimg-rootfs", Label("cloudimg-rootfs".into())),
            ("LABEL='my root'", Label("my root".into())),
            ("PARTUUID=5e1b6ac5-e9e2-4d85-8d20-7a6c1d3f7b8a", PartUuid("5e1b6ac5-e9e2-4d85-8d20-7a6c1d3f7b8a".into())),
            ("PARTUUID=4fbd7e29-01", PartUuid("4fbd7e29-01".into())),
            ("PARTLABEL=root", PartLabel("root".into())),
            ("/dev/disk/by-uuid/9c3e4a57-2b1d", Uuid("9c3e4a57-2b1d".into())),
            ("/dev/disk/by-label/My\\x20Data", Label("My Data".into())),
            ("/dev/disk/by-label/a\\x2fb", Label("a/b".into())),
            ("/dev/disk/by-partuuid/5e1b6ac5-e9e2", PartUuid("5e1b6ac5-e9e2".into())),
            ("/dev/disk/by-partlabel/EFI\\x20System", PartLabel("EFI System".into())),
            ("/dev/disk/by-id/virtio-root-part1", Path("/dev/disk/by-id/virtio-root-part1".into())),
            ("/dev/disk/by-label/", Path("/dev/disk/by-label/".into())),
            ("/dev/vda1", Path("/dev/vda1".into())),
            ("/dev/mapper/vg-root", Path("/dev/mapper/vg-root".into())),
            ("UUID=", Path("UUID=".into())),
            ("uuid=abc", Path("uuid=abc".into())),
            ("tmpfs", Path("tmpfs".into())),
        ];
        for (input, expected) in cases {
            assert_eq!(DeviceSpec::parse(input), expected, "{input}");
        }
    }

    #[test]
    fn partition_numbers() {
        let cases = [
            ("/dev/vda1", Some(1)),
            ("/dev/sda15", Some(15)),
            ("/dev/xvda2", Some(2)),
            ("/dev/hdb3", Some(3)),
            ("/dev/sdaa7", Some(7)),
            ("/dev/sdp1", Some(1)),
            ("/dev/nvme0n1p3", Some(3)),
            ("/dev/nvme10n2p14", Some(14)),
            ("/dev/mmcblk0p2", Some(2)),
            ("/dev/loop0p1", Some(1)),
            ("/dev/disk/by-id/virtio-root-part1", Some(1)),
            ("/dev/disk/by-path/pci-0000:00:04.0-part15", Some(15)),
            ("/dev/vda", None),
            ("/dev/sda", None),
            ("/dev/nvme0n1", None),
            ("/dev/mmcblk0", None),
            ("/dev/loop0", None),
            ("/dev/md0", None),
            ("/dev/sr0", None),
            ("/dev/dm-0", None),
            ("/dev/mapper/x", None),
            ("/dev/mapper/vg-root1", None),
            ("/dev/md/root1", None),
            ("/dev/disk/by-id/virtio-root", None),
            ("/dev/disk/by-label/data-part1", None),
            ("/dev/vda0", None),
            ("/dev/VDA1", None),
            ("vda1", None),
            ("/dev/", None),
            ("/dev/vda99999999999", None),
        ];
        for (input, expected) in cases {
            assert_eq!(partition_number_from_device_path(input), expected, "{input}");
        }
    }

    #[test]
    fn root_entry_last_wins_and_type_filter() {
        let entries = parse(INSTALLER);
        // Line 24 (`/dev/vda1 /`) has no type: malformed, so not a root entry.
        assert_eq!(root_entry(&entries).map(|e| e.line), Some(12));
        let twice = "LABEL=old / ext4 defaults 0 1\nLABEL=new / ext4 defaults 0 1\n";
        assert_eq!(root_entry(&parse(twice)).map(|e| e.spec.as_str()), Some("LABEL=new"));
        assert_eq!(root_entry(&parse(UBUNTU_2204)).map(|e| e.spec.as_str()), Some("LABEL=cloudimg-rootfs"));
        assert_eq!(root_entry(&parse("# empty\n")), None);
        let ext4: Vec<usize> = mounts_of_type(&entries, "ext4").map(|e| e.line).collect();
        assert_eq!(ext4, [12, 14, 18, 20, 21, 22, 25]);
        assert_eq!(mounts_of_type(&entries, "btrfs").count(), 0);
    }

    #[test]
    fn add_iversion_table() {
        let cases: &[(&str, &str, &[usize])] = &[
            (
                DEBIAN_12,
                "\
# /etc/fstab: static file system information.
PARTUUID=5e1b6ac5-e9e2-4d85-8d20-7a6c1d3f7b8a / ext4 rw,discard,errors=remount-ro,x-systemd.growfs,iversion 0 1
PARTUUID=0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d /boot/efi vfat defaults 0 0
",
                &[2],
            ),
            (
                UBUNTU_2204,
                "\
LABEL=cloudimg-rootfs\t/\t ext4\tdiscard,errors=remount-ro,iversion\t0 1
LABEL=UEFI\t/boot/efi\tvfat\tumask=0077\t0 1
",
                &[1],
            ),
            ("UUID=abc / ext4 defaults 0 1", "UUID=abc / ext4 defaults,iversion 0 1", &[1]),
            ("UUID=abc / ext4 defaults 0 1\r\n", "UUID=abc / ext4 defaults,iversion 0 1\r\n", &[1]),
            ("UUID=abc / ext4\n", "UUID=abc / ext4\tdefaults,iversion\n", &[1]),
            ("UUID=abc / ext4   \n", "UUID=abc / ext4\tdefaults,iversion   \n", &[1]),
            ("UUID=abc / xfs defaults 0 1\n", "UUID=abc / xfs defaults 0 1\n", &[]),
            ("#UUID=abc / ext4 defaults 0 1\n", "#UUID=abc / ext4 defaults 0 1\n", &[]),
            ("UUID=abc / EXT4 defaults 0 1\n", "UUID=abc / EXT4 defaults 0 1\n", &[]),
            ("", "", &[]),
        ];
        for &(input, expected, lines) in cases {
            let (out, changed) = add_iversion(input);
            assert_eq!(out, expected, "input:\n{input}");
            assert_eq!(changed, lines, "input:\n{input}");
        }
    }

    #[test]
    fn add_iversion_installer_fstab() {
        let (out, changed) = add_iversion(INSTALLER);
        assert_eq!(changed, [12, 14, 18, 22, 25]);
        let expected = INSTALLER
            .replace("ext4    errors=remount-ro 0", "ext4    errors=remount-ro,iversion 0")
            .replace("ext4    defaults        0", "ext4    defaults,iversion        0")
            .replace("/srv/my\\040data ext4\n", "/srv/my\\040data ext4\tdefaults,iversion\n")
            .replace("ext4\tdefaults\t0\t2\t# trailing", "ext4\tdefaults,iversion\t0\t2\t# trailing")
            .replace("/srv ext4 defaults", "/srv ext4 defaults,iversion");
        assert_eq!(out, expected);
        // Every line outside the changed ones is byte-identical.
        for (n, (a, b)) in INSTALLER.split('\n').zip(out.split('\n')).enumerate() {
            if !changed.contains(&(n + 1)) {
                assert_eq!(a, b, "line {}", n + 1);
            }
        }
        // The result parses to the same mounts with iversion added.
        for e in mounts_of_type(&parse(&out), "ext4") {
            if e.line != 20 {
                assert!(e.options.iter().any(|o| o == "iversion"), "line {}", e.line);
            }
        }
    }

    #[test]
    fn add_iversion_is_idempotent() {
        for input in [DEBIAN_12, UBUNTU_2204, INSTALLER, "UUID=a / ext4", "x / ext4\r\n"] {
            let (once, _) = add_iversion(input);
            let (twice, changed) = add_iversion(&once);
            assert_eq!(twice, once, "input:\n{input}");
            assert!(changed.is_empty(), "input:\n{input}");
        }
    }
}
