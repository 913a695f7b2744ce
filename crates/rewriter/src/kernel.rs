//! What the image's kernels support, read from plain text: release strings (from the names
//! of the files in `/boot`) and `/boot/config-<release>` Kconfig dumps. Decisions that depend
//! on the kernel version, such as whether `rootflags=i_version` still does anything, live
//! here so that callers never compare version numbers themselves.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::fmt;

/// A kernel release as `uname -r` prints it, with its numeric version parsed out.
///
/// Ordered by `(major, minor, patch)`, then by the full release string with runs of digits
/// compared as numbers (`-9-` before `-27-`), so that sorting a list puts the newest kernel
/// last.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct KernelVersion {
    /// First number of the version, e.g. `6` in `6.1.0-27-cloud-amd64`.
    pub major: u32,
    /// Second number, e.g. `1` in `6.1.0-27-cloud-amd64`.
    pub minor: u32,
    /// Third number, `0` when the release has only two (`6.12`).
    pub patch: u32,
    /// The whole release string, e.g. `6.1.0-27-cloud-amd64`; names `/boot/config-<release>`
    /// and `/lib/modules/<release>`.
    pub release: String,
}

impl Ord for KernelVersion {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.major, self.minor, self.patch)
            .cmp(&(other.major, other.minor, other.patch))
            .then_with(|| natural_cmp(&self.release, &other.release))
            // Natural order calls "01" and "1" equal; keep Ord consistent with Eq.
            .then_with(|| self.release.cmp(&other.release))
    }
}

impl PartialOrd for KernelVersion {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Compares two strings with runs of digits taken as numbers, so that Debian's ABI number
/// sorts `6.1.0-9-amd64` before `6.1.0-27-amd64`.
fn natural_cmp(a: &str, b: &str) -> Ordering {
    let (mut a, mut b) = (a, b);
    loop {
        let (Some(ca), Some(cb)) = (a.chars().next(), b.chars().next()) else {
            return a.len().cmp(&b.len());
        };
        if ca.is_ascii_digit() && cb.is_ascii_digit() {
            let (na, ra) = split_digits(a);
            let (nb, rb) = split_digits(b);
            let (na, nb) = (na.trim_start_matches('0'), nb.trim_start_matches('0'));
            // Without leading zeros, a longer run is a bigger number.
            let ord = na.len().cmp(&nb.len()).then_with(|| na.cmp(nb));
            if ord != Ordering::Equal {
                return ord;
            }
            (a, b) = (ra, rb);
        } else {
            if ca != cb {
                return ca.cmp(&cb);
            }
            (a, b) = (&a[ca.len_utf8()..], &b[cb.len_utf8()..]);
        }
    }
}

/// Splits a string into its leading run of ASCII digits and the rest.
fn split_digits(s: &str) -> (&str, &str) {
    let end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    s.split_at(end)
}

impl fmt::Display for KernelVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.release)
    }
}

/// Parses a kernel release string such as `6.1.0-27-cloud-amd64`, `5.15.0-91-generic`,
/// `6.8.0-1015-azure`, `4.19.0` or `6.12` (patch taken as 0).
///
/// The release must start with `MAJOR.MINOR[.PATCH]`; anything after the numbers (a `-`,
/// `+` or other suffix) is kept only in [`KernelVersion::release`]. Returns `None` for
/// anything else, including strings with whitespace or `/`: a release names files under
/// `/boot` and `/lib/modules`, and the image is untrusted input.
pub fn parse_release(release: &str) -> Option<KernelVersion> {
    if release.is_empty() || release.contains(|c: char| c.is_whitespace() || c == '/') {
        return None;
    }
    let numeric_end = release.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(release.len());
    // A trailing dot belongs to no number ("6.1." or "6.1.-rc1"); refuse it.
    let numbers: Vec<&str> = release[..numeric_end].split('.').collect();
    if !(2..=3).contains(&numbers.len()) || numbers.iter().any(|n| n.is_empty()) {
        return None;
    }
    let major = numbers[0].parse().ok()?;
    let minor = numbers[1].parse().ok()?;
    let patch = match numbers.get(2) {
        Some(n) => n.parse().ok()?,
        None => 0,
    };
    Some(KernelVersion { major, minor, patch, release: release.to_owned() })
}

/// File-name prefixes of kernel images in `/boot`: Debian and Ubuntu use `vmlinuz-`, some
/// architectures `vmlinux-`, and a few hand-built setups `bzImage-`.
const KERNEL_IMAGE_PREFIXES: [&str; 3] = ["vmlinuz-", "vmlinux-", "bzImage-"];

/// Returns the distinct kernel releases that have a kernel image in a `/boot` listing,
/// sorted ascending (newest last).
///
/// `names` are plain file names (`vmlinuz-6.1.0-27-cloud-amd64`, `config-…`,
/// `initrd.img-…`, `System.map-…`, `vmlinuz`, `grub`). Only `vmlinuz-*`, `vmlinux-*` and
/// `bzImage-*` count: a `config-*` without its kernel is a leftover, not a bootable kernel.
/// Names whose suffix is not a release (e.g. Fedora's `vmlinuz-0-rescue-<machine-id>`) are
/// skipped.
pub fn releases_from_boot_listing(names: &[&str]) -> Vec<KernelVersion> {
    let mut releases: Vec<KernelVersion> = names
        .iter()
        .filter_map(|name| KERNEL_IMAGE_PREFIXES.iter().find_map(|prefix| name.strip_prefix(prefix)))
        .filter_map(parse_release)
        .collect();
    releases.sort();
    releases.dedup();
    releases
}

/// Returns true if and only if `rootflags=i_version` on the kernel command line changes
/// anything for this kernel, i.e. the kernel is older than 6.1.
///
/// Before 6.1, ext4 kept the i_version counter only when mounted with its `i_version` option
/// (or the VFS `iversion` flag). Linux 6.1 commit 1ff20307393e ("ext4: unconditionally
/// enable the i_version counter") turned it on for every ext4 mount and made `i_version` a
/// removed option that is accepted with the warning "Ignoring removed i_version option".
/// Source: `/work/shared/docs/ima-kernel-facts.md` section 4.2. The fstab `iversion` flag is
/// a separate matter: it still helps on 6.1–6.15 against the remount bug fixed by
/// f2326fd14a22, so callers add it regardless of this answer.
pub fn honours_rootflags_i_version(v: &KernelVersion) -> bool {
    (v.major, v.minor) < (6, 1)
}

/// The symbols of a Kconfig dump such as `/boot/config-6.1.0-27-cloud-amd64`.
///
/// Only symbols that are set are kept; `# CONFIG_X is not set` and absent symbols both
/// read as unset. When a symbol appears twice the last line wins, as in Kconfig itself.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KernelConfig {
    /// Symbol name without the `CONFIG_` prefix → raw value as written (`y`, `m`, `10`,
    /// `"sha256"` with its quotes).
    values: BTreeMap<String, String>,
    /// Symbols written as `# CONFIG_X is not set`.
    unset: std::collections::BTreeSet<String>,
}

impl KernelConfig {
    /// Parses the text of a `/boot/config-*` file. Never fails: lines that are neither
    /// `CONFIG_X=value` nor `# CONFIG_X is not set` (headers, blank lines) are ignored.
    pub fn parse(text: &str) -> KernelConfig {
        let mut values = BTreeMap::new();
        let mut unset = std::collections::BTreeSet::new();
        for line in text.lines() {
            let line = line.trim();
            if let Some(rest) = line.strip_prefix("# CONFIG_") {
                if let Some(name) = rest.strip_suffix(" is not set") {
                    values.remove(name);
                    unset.insert(name.to_owned());
                }
            } else if let Some(rest) = line.strip_prefix("CONFIG_") {
                if let Some((name, value)) = rest.split_once('=') {
                    if !name.is_empty() {
                        values.insert(name.to_owned(), value.to_owned());
                    }
                }
            }
        }
        KernelConfig { values, unset }
    }

    /// Returns true if and only if the config says `# CONFIG_NAME is not set` (a full config
    /// lists every symbol; absent means the text was partial).
    pub fn is_explicitly_unset(&self, name: &str) -> bool {
        self.unset.contains(name.strip_prefix("CONFIG_").unwrap_or(name))
    }

    /// Returns the raw value of a symbol (`y`, `m`, `10`, `"sha256"` with its quotes), or
    /// `None` if it is not set. `name` may be given with or without the `CONFIG_` prefix.
    pub fn get(&self, name: &str) -> Option<&str> {
        let name = name.strip_prefix("CONFIG_").unwrap_or(name);
        self.values.get(name).map(String::as_str)
    }

    /// Returns true if and only if the symbol is built in (`y`) or a module (`m`).
    pub fn is_enabled(&self, name: &str) -> bool {
        matches!(self.get(name), Some("y" | "m"))
    }

    /// Returns the value of a string symbol without its quotes and with Kconfig's `\"` and
    /// `\\` escapes decoded, e.g. `sha256` for `CONFIG_IMA_DEFAULT_HASH="sha256"`. Returns
    /// `None` if the symbol is unset or its value is not a quoted string.
    pub fn string(&self, name: &str) -> Option<String> {
        let inner = self.get(name)?.strip_prefix('"')?.strip_suffix('"')?;
        let mut out = String::with_capacity(inner.len());
        let mut chars = inner.chars();
        while let Some(c) = chars.next() {
            if c == '\\' {
                // Kconfig escapes only `"` and `\`; a lone trailing backslash stays as is.
                out.push(chars.next().unwrap_or('\\'));
            } else {
                out.push(c);
            }
        }
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Major, minor, patch.
    type Numbers = (u32, u32, u32);

    #[test]
    fn parse_release_table() {
        let cases: &[(&str, Option<Numbers>)] = &[
            ("6.1.0-27-cloud-amd64", Some((6, 1, 0))),
            ("5.15.0-91-generic", Some((5, 15, 0))),
            ("6.8.0-1015-azure", Some((6, 8, 0))),
            ("4.19.0", Some((4, 19, 0))),
            ("6.12", Some((6, 12, 0))),
            ("6.12-rc3", Some((6, 12, 0))),
            ("6.6.58+rpt-rpi-v8", Some((6, 6, 58))),
            ("5.14.0-427.13.1.el9_4.x86_64", Some((5, 14, 0))),
            ("", None),
            ("6", None),
            ("6.", None),
            ("6.1.", None),
            (".6.1", None),
            ("generic", None),
            ("0-rescue-8f3c0e", None),
            ("6.1.0 -27", None),
            ("6.1.0/../../etc", None),
            ("99999999999.1", None),
        ];
        for &(input, expected) in cases {
            let got = parse_release(input).map(|v| (v.major, v.minor, v.patch));
            assert_eq!(got, expected, "parse_release({input:?})");
            if let Some(v) = parse_release(input) {
                assert_eq!(v.release, input);
                assert_eq!(v.to_string(), input);
            }
        }
    }

    #[test]
    fn ordering_is_numeric_then_release() {
        let mut v: Vec<KernelVersion> =
            ["6.10.0-1-amd64", "6.1.0-27-cloud-amd64", "6.1.0-9-cloud-amd64", "5.15.0-91-generic", "6.2"]
                .iter()
                .map(|r| parse_release(r).unwrap())
                .collect();
        v.sort();
        let releases: Vec<&str> = v.iter().map(|k| k.release.as_str()).collect();
        // Same numeric version: the release string decides, its ABI number as a number.
        assert_eq!(
            releases,
            ["5.15.0-91-generic", "6.1.0-9-cloud-amd64", "6.1.0-27-cloud-amd64", "6.2", "6.10.0-1-amd64",]
        );
    }

    #[test]
    fn boot_listing_debian_12() {
        let names = [
            "System.map-6.1.0-27-cloud-amd64",
            "System.map-6.1.0-28-cloud-amd64",
            "config-6.1.0-27-cloud-amd64",
            "config-6.1.0-28-cloud-amd64",
            "grub",
            "initrd.img-6.1.0-27-cloud-amd64",
            "initrd.img-6.1.0-28-cloud-amd64",
            "vmlinuz-6.1.0-28-cloud-amd64",
            "vmlinuz-6.1.0-27-cloud-amd64",
        ];
        let got: Vec<String> = releases_from_boot_listing(&names).into_iter().map(|v| v.release).collect();
        assert_eq!(got, ["6.1.0-27-cloud-amd64", "6.1.0-28-cloud-amd64"]);
    }

    #[test]
    fn boot_listing_ubuntu_and_oddities() {
        let names = [
            "config-5.15.0-91-generic",
            "config-5.15.0-88-generic", // leftover config without a kernel
            "efi",
            "grub",
            "initrd.img",
            "initrd.img-5.15.0-91-generic",
            "initrd.img.old",
            "vmlinuz",
            "vmlinuz.old",
            "vmlinuz-5.15.0-91-generic",
            "vmlinux-5.15.0-91-generic", // same release twice: reported once
            "bzImage-6.12",
            "vmlinuz-0-rescue-0f1e2d3c4b5a69788796a5b4c3d2e1f0",
        ];
        let got: Vec<String> = releases_from_boot_listing(&names).into_iter().map(|v| v.release).collect();
        assert_eq!(got, ["5.15.0-91-generic", "6.12"]);
        assert!(releases_from_boot_listing(&[]).is_empty());
    }

    #[test]
    fn rootflags_i_version_cutoff() {
        let cases = [
            ("4.19.0", true),
            ("5.15.0-91-generic", true),
            ("6.0.19", true),
            ("6.1.0-27-cloud-amd64", false),
            ("6.8.0-1015-azure", false),
            ("6.12", false),
            ("7.0", false),
        ];
        for (release, expected) in cases {
            let v = parse_release(release).unwrap();
            assert_eq!(honours_rootflags_i_version(&v), expected, "{release}");
        }
    }

    /// An excerpt of a real Debian 12 `/boot/config-6.1.0-27-cloud-amd64`, plus a duplicate
    /// symbol to check that the last line wins.
    const DEBIAN_CONFIG: &str = r#"#
# Automatically generated file; DO NOT EDIT.
# Linux/x86 6.1.115 Kernel Configuration
#
CONFIG_CC_VERSION_TEXT="gcc-12 (Debian 12.2.0-14) 12.2.0"
CONFIG_LOCALVERSION=""
# CONFIG_LOCALVERSION_AUTO is not set
CONFIG_EXT4_FS=y
CONFIG_EXT4_USE_FOR_EXT2=y
CONFIG_EXT4_FS_POSIX_ACL=y
CONFIG_EXT4_FS_SECURITY=y
CONFIG_INTEGRITY=y
CONFIG_INTEGRITY_SIGNATURE=y
CONFIG_INTEGRITY_AUDIT=y
CONFIG_IMA=y
CONFIG_IMA_MEASURE_PCR_IDX=10
CONFIG_IMA_LSM_RULES=y
CONFIG_IMA_NG_TEMPLATE=y
# CONFIG_IMA_SIG_TEMPLATE is not set
CONFIG_IMA_DEFAULT_TEMPLATE="ima-ng"
# CONFIG_IMA_DEFAULT_HASH_SHA1 is not set
CONFIG_IMA_DEFAULT_HASH_SHA256=y
CONFIG_IMA_DEFAULT_HASH="sha256"
CONFIG_IMA_WRITE_POLICY=y
CONFIG_IMA_READ_POLICY=y
CONFIG_IMA_APPRAISE=y
# CONFIG_IMA_ARCH_POLICY is not set
CONFIG_IMA_APPRAISE_BOOTPARAM=y
CONFIG_IMA_APPRAISE_MODSIG=y
CONFIG_EVM=y
CONFIG_VIRTIO_BLK=m
CONFIG_CMDLINE="console=ttyS0 \"quoted\" back\\slash"
CONFIG_IMA_READ_POLICY=n
"#;

    #[test]
    fn config_values() {
        let c = KernelConfig::parse(DEBIAN_CONFIG);
        let cases: &[(&str, Option<&str>)] = &[
            ("CONFIG_IMA", Some("y")),
            ("IMA", Some("y")),
            ("IMA_MEASURE_PCR_IDX", Some("10")),
            ("IMA_DEFAULT_HASH", Some("\"sha256\"")),
            ("VIRTIO_BLK", Some("m")),
            ("IMA_ARCH_POLICY", None),
            ("CONFIG_IMA_SIG_TEMPLATE", None),
            ("IMA_DEFAULT_HASH_SHA512", None),
            ("LOCALVERSION", Some("\"\"")),
            ("IMA_READ_POLICY", Some("n")),
            ("", None),
        ];
        for &(name, expected) in cases {
            assert_eq!(c.get(name), expected, "get({name:?})");
        }
    }

    #[test]
    fn config_enabled_and_strings() {
        let c = KernelConfig::parse(DEBIAN_CONFIG);
        let enabled = [
            ("IMA_APPRAISE_BOOTPARAM", true),
            ("CONFIG_IMA_APPRAISE", true),
            ("VIRTIO_BLK", true),
            ("IMA_ARCH_POLICY", false),
            ("IMA_MEASURE_PCR_IDX", false),
            ("IMA_READ_POLICY", false),
            ("NOT_THERE", false),
        ];
        for (name, expected) in enabled {
            assert_eq!(c.is_enabled(name), expected, "is_enabled({name:?})");
        }
        let strings: &[(&str, Option<&str>)] = &[
            ("IMA_DEFAULT_HASH", Some("sha256")),
            ("CONFIG_IMA_DEFAULT_TEMPLATE", Some("ima-ng")),
            ("LOCALVERSION", Some("")),
            ("CMDLINE", Some(r#"console=ttyS0 "quoted" back\slash"#)),
            ("IMA", None),
            ("IMA_MEASURE_PCR_IDX", None),
            ("LOCALVERSION_AUTO", None),
        ];
        for &(name, expected) in strings {
            assert_eq!(c.string(name).as_deref(), expected, "string({name:?})");
        }
    }

    #[test]
    fn config_not_set_after_set_wins() {
        let c = KernelConfig::parse("CONFIG_IMA=y\n# CONFIG_IMA is not set\r\n");
        assert_eq!(c.get("IMA"), None);
        assert!(KernelConfig::parse("").values.is_empty());
    }
}
