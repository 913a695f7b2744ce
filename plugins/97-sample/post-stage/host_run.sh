#!/bin/sh
# post-stage/host_run.sh: runs on the host after the guest powered off, with the same
# environment as pre-stage/host_run.sh. It may inspect or edit $GUEST_IMG.
set -eu
echo "97-sample: post-stage host_run: image $GUEST_IMG"
