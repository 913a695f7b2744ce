#!/bin/sh
# pre-stage/guest_run.sh: copied into the guest as /opt/guest-scripts/97-sample_guest_run.sh.
# Nothing runs it by itself: this plugin's x-shellscript part does, during the cloud-init boot.
set -eu
echo "97-sample: guest_run.sh in the guest, kernel $(uname -r)"
