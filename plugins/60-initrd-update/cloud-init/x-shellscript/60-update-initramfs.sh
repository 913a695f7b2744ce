#!/bin/sh
# Rebuilds every initrd so that the hook /etc/initramfs-tools/hooks/cvm-initrd-files runs.
set -eu
if ! command -v update-initramfs >/dev/null 2>&1; then
    echo "60-initrd-update: update-initramfs not found: this plugin needs initramfs-tools" >&2
    exit 1
fi
update-initramfs -u -k all
