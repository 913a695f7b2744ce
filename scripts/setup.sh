#!/usr/bin/env bash
# Installs what cvm-image-rewriter needs on Debian 12 (run as root, or with sudo available):
#   scripts/setup.sh           build and run the tool
#   scripts/setup.sh --tests   also everything the test suite uses (image tools, oracles, QEMU)
set -euo pipefail

tests=0
for arg in "$@"; do
    case "$arg" in
        --tests) tests=1 ;;
        *) echo "usage: $0 [--tests]" >&2; exit 2 ;;
    esac
done

sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "setup.sh: run as root or install sudo" >&2; exit 1; }
    sudo_cmd=(sudo)
fi

# Build: a C toolchain for the -sys crates, libext2fs to link against.
packages=(build-essential pkg-config libext2fs-dev e2fsprogs ca-certificates curl)
command -v qemu-img >/dev/null || packages+=(qemu-utils)
if [ "$tests" = 1 ]; then
    # Test fixtures and independent oracles: partitioning, vfat, xattr tools, evmctl,
    # unshare (util-linux) for the disk-full test, mmdebstrap + QEMU/OVMF for the real guest,
    # cloud-init for `make-mime` (the MIME user-data reference) and `schema`.
    packages+=(gdisk fdisk dosfstools mtools attr ima-evm-utils util-linux openssl
               mmdebstrap grub-efi-amd64-bin grub2-common qemu-system-x86 ovmf cloud-init)
fi

apt_install() {
    echo "setup.sh: installing $*"
    "${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@"
}
"${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
apt_install "${packages[@]}"
# qemu-system-x86 from Debian 12 replaces a newer qemu-utils (e.g. from backports) with
# nothing; make sure qemu-img is there afterwards.
command -v qemu-img >/dev/null || apt_install qemu-utils

# Rust: Debian 12's rustc is too old; use rustup's stable toolchain when cargo is missing.
if ! command -v cargo >/dev/null; then
    if [ -x "$HOME/.cargo/bin/cargo" ]; then
        echo "setup.sh: cargo is in ~/.cargo/bin; add it to PATH: . \"\$HOME/.cargo/env\""
    else
        echo "setup.sh: installing the Rust toolchain with rustup"
        curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal --component clippy,rustfmt
        echo "setup.sh: run '. \"\$HOME/.cargo/env\"' (or open a new shell) to put cargo on PATH"
    fi
fi
echo "setup.sh: done"
