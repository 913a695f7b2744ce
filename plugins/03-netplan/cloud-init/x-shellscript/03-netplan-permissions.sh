#!/bin/sh
# netplan wants its files readable by root only (git cannot record mode 0600 for files/).
# On guests without netplan (Debian) the file is inert and this only tightens its mode.
set -eu
f=/etc/netplan/90-cvm-dhcp.yaml
if [ -e "$f" ]; then
    chmod 600 "$f"
fi
