#!/bin/sh
# Generates a cloud-config part adding user CVM_USER (default: cvm) with sudo rights and the
# ssh public key CVM_AUTH_KEY. Without CVM_AUTH_KEY it does nothing.
set -eu

: "${PLUGIN_GENERATED_DIR:?PLUGIN_GENERATED_DIR must be set by the runner}"
CVM_USER="${CVM_USER:-cvm}"

if [ -z "${CVM_AUTH_KEY:-}" ]; then
    echo "04-user-authkey: CVM_AUTH_KEY is not set: no user added" >&2
    exit 0
fi

fail() {
    echo "04-user-authkey: $*" >&2
    exit 1
}

# A portable user name (useradd's default rule), at most 32 characters.
case "$CVM_USER" in
    ""|[!a-z_]*|*[!a-z0-9_-]*) fail "CVM_USER='$CVM_USER' is not a valid user name (a-z, 0-9, _ and -, starting with a letter or _)" ;;
esac
[ "${#CVM_USER}" -le 32 ] || fail "CVM_USER='$CVM_USER' is longer than 32 characters"

nl='
'
case "$CVM_AUTH_KEY" in
    *"$nl"*) fail "CVM_AUTH_KEY holds several lines: give one public key (the content of a .pub file)" ;;
    ssh-*" "*|ecdsa-*" "*|sk-*" "*) ;;
    *) fail "CVM_AUTH_KEY does not look like an ssh public key (ssh-ed25519 AAAA... comment)" ;;
esac

# YAML single-quoted scalar: double every single quote.
key=$(printf '%s' "$CVM_AUTH_KEY" | sed "s/'/''/g")

mkdir -p "$PLUGIN_GENERATED_DIR/cloud-config"
cat > "$PLUGIN_GENERATED_DIR/cloud-config/04-user.yaml" <<EOL
#cloud-config
merge_how:
  - name: list
    settings: [append]
  - name: dict
    settings: [no_replace, recurse_list]
users:
  - default
  - name: '$CVM_USER'
    groups: [sudo]
    sudo: 'ALL=(ALL) NOPASSWD:ALL'
    shell: /bin/bash
    lock_passwd: true
    ssh_authorized_keys:
      - '$key'
EOL
echo "04-user-authkey: user $CVM_USER with the given ssh key"
