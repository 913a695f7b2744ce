#!/bin/sh
# Grows the image file to GUEST_SIZE (e.g. 50G) before the boot; the cloud-config part of this
# plugin then grows the root partition and its filesystem inside the guest.
set -eu

if [ -z "${GUEST_SIZE:-}" ]; then
    echo "01-resize-image: GUEST_SIZE is not set: image size unchanged" >&2
    exit 0
fi
: "${GUEST_IMG:?GUEST_IMG must name the image being rewritten}"

case "$GUEST_SIZE" in
    +*|-*)
        echo "01-resize-image: GUEST_SIZE=$GUEST_SIZE: give the new total size (e.g. 50G), not a difference" >&2
        exit 1
        ;;
esac

# qemu-img refuses to shrink without --shrink: a GUEST_SIZE below the current size fails here,
# before the guest's partitions could be cut.
qemu-img resize "$GUEST_IMG" "$GUEST_SIZE"
echo "01-resize-image: $GUEST_IMG resized to $GUEST_SIZE"
