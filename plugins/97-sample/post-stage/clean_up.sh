#!/bin/sh
# post-stage/clean_up.sh: runs on the host after every plugin's post-stage host_run.sh, to undo
# host-side changes. (Generated parts need no clean-up: the runner owns
# $PLUGIN_GENERATED_DIR and removes it.)
set -eu
echo "97-sample: post-stage clean_up"
