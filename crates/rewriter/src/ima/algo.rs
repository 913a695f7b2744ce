//! Hash algorithms IMA can label with, their kernel numbers (`enum hash_algo`,
//! include/uapi/linux/hash_info.h) and the exact `security.ima` bytes the kernel's fix mode
//! writes (`ima_fix_xattr`: `0x01 digest` up to sha1, `0x04 algo digest` above).

use sha2::Digest;

/// A hash algorithm for labels and `ima_hash=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum HashAlgo {
    /// SHA-1 (20 bytes); written as the legacy `0x01` type.
    Sha1,
    /// SHA-256 (32 bytes), the usual kernel default.
    Sha256,
    /// SHA-384 (48 bytes).
    Sha384,
    /// SHA-512 (64 bytes).
    Sha512,
    /// SM3-256 (32 bytes).
    Sm3,
}

/// `IMA_XATTR_DIGEST` (security/integrity/integrity.h).
pub const IMA_XATTR_DIGEST: u8 = 0x01;
/// `IMA_XATTR_DIGEST_NG`.
pub const IMA_XATTR_DIGEST_NG: u8 = 0x04;

impl HashAlgo {
    /// Every algorithm we support, in the order `--help` lists them.
    pub const ALL: [HashAlgo; 5] =
        [HashAlgo::Sha256, HashAlgo::Sha384, HashAlgo::Sha512, HashAlgo::Sha1, HashAlgo::Sm3];

    /// The name the kernel uses on its command line (`ima_hash=`) and in the measurement log.
    pub fn kernel_name(self) -> &'static str {
        match self {
            HashAlgo::Sha1 => "sha1",
            HashAlgo::Sha256 => "sha256",
            HashAlgo::Sha384 => "sha384",
            HashAlgo::Sha512 => "sha512",
            HashAlgo::Sm3 => "sm3",
        }
    }

    /// Parses a kernel name (`sm3-256` is the older spelling of `sm3`).
    pub fn from_name(name: &str) -> Option<HashAlgo> {
        Some(match name {
            "sha1" => HashAlgo::Sha1,
            "sha256" => HashAlgo::Sha256,
            "sha384" => HashAlgo::Sha384,
            "sha512" => HashAlgo::Sha512,
            "sm3" | "sm3-256" => HashAlgo::Sm3,
            _ => return None,
        })
    }

    /// The kernel's `enum hash_algo` number.
    pub fn kernel_id(self) -> u8 {
        match self {
            HashAlgo::Sha1 => 2,
            HashAlgo::Sha256 => 4,
            HashAlgo::Sha384 => 5,
            HashAlgo::Sha512 => 6,
            HashAlgo::Sm3 => 17,
        }
    }

    /// Digest length in bytes.
    pub fn digest_len(self) -> usize {
        match self {
            HashAlgo::Sha1 => 20,
            HashAlgo::Sha256 | HashAlgo::Sm3 => 32,
            HashAlgo::Sha384 => 48,
            HashAlgo::Sha512 => 64,
        }
    }

    /// A fresh incremental hasher.
    pub fn hasher(self) -> Hasher {
        match self {
            HashAlgo::Sha1 => Hasher::Sha1(sha1::Sha1::new()),
            HashAlgo::Sha256 => Hasher::Sha256(sha2::Sha256::new()),
            HashAlgo::Sha384 => Hasher::Sha384(sha2::Sha384::new()),
            HashAlgo::Sha512 => Hasher::Sha512(sha2::Sha512::new()),
            HashAlgo::Sm3 => Hasher::Sm3(sm3::Sm3::new()),
        }
    }

    /// The algorithm of an existing `security.ima` hash label, as the kernel's
    /// `ima_get_hash_algo` reads it (`0x01`: by length; `0x04`: the algorithm byte).
    pub fn of_label(value: &[u8]) -> Option<HashAlgo> {
        match value {
            [IMA_XATTR_DIGEST, rest @ ..] if rest.len() == 20 => Some(HashAlgo::Sha1),
            [IMA_XATTR_DIGEST_NG, id, rest @ ..] => {
                HashAlgo::ALL.into_iter().find(|a| a.kernel_id() == *id && a.digest_len() == rest.len())
            }
            _ => None,
        }
    }

    /// The `security.ima` value for `digest`, byte for byte as the kernel writes it.
    pub fn xattr_value(self, digest: &[u8]) -> Vec<u8> {
        debug_assert_eq!(digest.len(), self.digest_len());
        let mut v = Vec::with_capacity(2 + digest.len());
        if self.kernel_id() <= HashAlgo::Sha1.kernel_id() {
            v.push(IMA_XATTR_DIGEST);
        } else {
            v.push(IMA_XATTR_DIGEST_NG);
            v.push(self.kernel_id());
        }
        v.extend_from_slice(digest);
        v
    }
}

impl std::fmt::Display for HashAlgo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.kernel_name())
    }
}

/// An incremental hash of one of the [`HashAlgo`]s.
pub enum Hasher {
    /// SHA-1.
    Sha1(sha1::Sha1),
    /// SHA-256.
    Sha256(sha2::Sha256),
    /// SHA-384.
    Sha384(sha2::Sha384),
    /// SHA-512.
    Sha512(sha2::Sha512),
    /// SM3.
    Sm3(sm3::Sm3),
}

impl Hasher {
    /// Feeds bytes.
    pub fn update(&mut self, data: &[u8]) {
        match self {
            Hasher::Sha1(h) => h.update(data),
            Hasher::Sha256(h) => h.update(data),
            Hasher::Sha384(h) => h.update(data),
            Hasher::Sha512(h) => h.update(data),
            Hasher::Sm3(h) => h.update(data),
        }
    }

    /// The digest.
    pub fn finish(self) -> Vec<u8> {
        match self {
            Hasher::Sha1(h) => h.finalize().to_vec(),
            Hasher::Sha256(h) => h.finalize().to_vec(),
            Hasher::Sha384(h) => h.finalize().to_vec(),
            Hasher::Sha512(h) => h.finalize().to_vec(),
            Hasher::Sm3(h) => h.finalize().to_vec(),
        }
    }
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest(a: HashAlgo, data: &[u8]) -> String {
        let mut h = a.hasher();
        h.update(data);
        hex(&h.finish())
    }

    #[test]
    fn empty_input_digests_match_the_known_values() {
        // The kernel hashes an empty file as the empty string (ima_calc_file_hash_tfm).
        assert_eq!(digest(HashAlgo::Sha256, b""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
        assert_eq!(digest(HashAlgo::Sha1, b""), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
        assert_eq!(digest(HashAlgo::Sm3, b"abc"), "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0");
    }

    #[test]
    fn xattr_layout_follows_ima_fix_xattr() {
        for a in HashAlgo::ALL {
            let d = vec![0xabu8; a.digest_len()];
            let v = a.xattr_value(&d);
            match a {
                HashAlgo::Sha1 => assert_eq!(v[0], 0x01),
                _ => assert_eq!(&v[..2], &[0x04, a.kernel_id()]),
            }
            assert_eq!(&v[v.len() - d.len()..], &d[..]);
            assert_eq!(HashAlgo::from_name(a.kernel_name()), Some(a));
            assert_eq!(HashAlgo::of_label(&v), Some(a));
        }
        assert_eq!(HashAlgo::Sha256.xattr_value(&[0; 32]).len(), 34);
        assert_eq!(HashAlgo::Sha384.xattr_value(&[0; 48]).len(), 50);
        assert_eq!(HashAlgo::Sha512.xattr_value(&[0; 64]).len(), 66);
        assert_eq!((HashAlgo::Sm3.kernel_id(), HashAlgo::Sha384.kernel_id()), (17, 5));
    }
}
