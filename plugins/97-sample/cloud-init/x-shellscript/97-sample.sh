#!/bin/sh
# An x-shellscript part: cloud-init runs it once, as root, late in the boot, in the order of the
# script names of all plugins (hence the two-digit prefix). A failure fails the run.
set -eu
echo "=========== example for customized x-shellscript (97-sample) ==========="
sh /opt/guest-scripts/97-sample_guest_run.sh
