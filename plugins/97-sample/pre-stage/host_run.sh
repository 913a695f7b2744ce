#!/bin/sh
# pre-stage/host_run.sh: runs on the host before the guest boots, after files/ were copied
# into the image. It may edit the image file ($GUEST_IMG, not in use by anything else now) or
# generate user-data parts into $PLUGIN_GENERATED_DIR/cloud-config/ and
# $PLUGIN_GENERATED_DIR/x-shellscript/ (names starting with two digits).
set -eu

echo "97-sample: pre-stage host_run: plugin $PLUGIN_NAME in $PLUGIN_DIR, image $GUEST_IMG"

mkdir -p "$PLUGIN_GENERATED_DIR/cloud-config"
cat > "$PLUGIN_GENERATED_DIR/cloud-config/97-sample-generated.yaml" <<EOL
#cloud-config
merge_how:
  - name: list
    settings: [append]
  - name: dict
    settings: [no_replace, recurse_list]
write_files:
  - path: /etc/cvm-sample-generated
    content: |
      Written by cloud-init from a part generated on the host by 97-sample.
EOL
