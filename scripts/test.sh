#!/usr/bin/env bash
# The whole test suite: formatting, lints, unit tests, and integration tests that build real
# disk images (mkfs.ext4, sgdisk, qemu-img) and check results with e2fsck, debugfs, evmctl.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== cargo test"
cargo test --workspace --locked
