//! The qcow2 L1/L2 table entry format (QEMU's docs/interop/qcow2.txt), shared by the
//! truncation check at open and the fast read path.

/// Host offset bits of an L1 entry or a standard L2 entry.
pub(super) const OFFSET_MASK: u64 = 0x00ff_ffff_ffff_fe00;
/// L2 entry bit 62: the cluster is compressed.
pub(super) const COMPRESSED: u64 = 1 << 62;
/// Standard L2 entry bit 0: the cluster reads as zeros.
pub(super) const ZERO_FLAG: u64 = 1;

/// An L1 or L2 table: big-endian 64-bit entries.
pub(super) fn table(bytes: &[u8]) -> Vec<u64> {
    bytes.chunks_exact(8).map(|c| u64::from_be_bytes(c.try_into().expect("8 bytes"))).collect()
}

/// A compressed L2 entry: the host offset of the data and its stored length in 512-byte
/// sectors (an upper bound, counted from the sector the data starts in).
pub(super) fn compressed_extent(entry: u64, cluster_bits: u32) -> (u64, u64) {
    let x = 62 - (cluster_bits - 8);
    let host = entry & ((1u64 << x) - 1);
    let sectors = ((entry >> x) & ((1u64 << (cluster_bits - 8)) - 1)) + 1;
    (host, sectors)
}
