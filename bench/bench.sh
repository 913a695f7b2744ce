#!/usr/bin/env bash
# Benchmark: `cvm-image-rewriter ima enable` against the conventional route
# (qemu-img convert to raw, loop mount, evmctl ima_hash -r), measured in the same run on the
# same cached test image. See bench/README.md.
#
#   bench/bench.sh [--runs N] [--files N] [--size-mb N] [--seed N] [--no-recompress]
#                  [--head | --bin PATH]
#
# Builds the working tree's release binary (--head: a clean export of the last commit instead,
# built under bench/work/; --bin: use that binary, no build). Must run as root (the evmctl
# baseline needs a loop mount).
set -euo pipefail

RUNS=3
FILES=15000
SIZE_MB=500
SEED=1
RECOMPRESS=1
BUILD=tree
BIN=""
GEN_VERSION=1 # bump when gen-tree.py or the disk layout changes: invalidates the cache

usage() {
    sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'
}

while [[ $# -gt 0 ]]; do
    case "$1" in
    --runs) RUNS="$2"; shift 2 ;;
    --files) FILES="$2"; shift 2 ;;
    --size-mb) SIZE_MB="$2"; shift 2 ;;
    --seed) SEED="$2"; shift 2 ;;
    --no-recompress) RECOMPRESS=0; shift ;;
    --head) BUILD=head; shift ;;
    --bin) BUILD=none; BIN=$(realpath "$2"); shift 2 ;;
    -h | --help) usage; exit 0 ;;
    *) echo "bench.sh: unknown argument: $1" >&2; usage >&2; exit 2 ;;
    esac
done
for v in RUNS FILES SIZE_MB SEED; do
    if ! [[ ${!v} =~ ^[0-9]+$ ]] || [[ ${!v} -lt 1 ]]; then
        echo "bench.sh: --${v,,} must be a positive integer" >&2
        exit 2
    fi
done

if [[ $(id -u) -ne 0 ]]; then
    echo "bench.sh: must run as root: the evmctl baseline loop-mounts the image, and the test image's files must be owned by root" >&2
    exit 2
fi

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$BENCH_DIR")
WORK="$BENCH_DIR/work"
KEY="f${FILES}-s${SIZE_MB}-seed${SEED}-v${GEN_VERSION}"
CACHE="$WORK/$KEY"
RUN="$WORK/run" # per-run scratch: outputs, raw copies, mount point
MNT="$RUN/mnt"

log() { printf '>> %s\n' "$*" >&2; }

# ---------------------------------------------------------------- cleanup
cleanup() {
    local rc=$?
    set +e
    if mountpoint -q "$MNT" 2>/dev/null; then umount "$MNT" || umount -l "$MNT"; fi
    # Loop devices still attached to our scratch files (mount -o loop normally frees them).
    local f dev
    for f in "$RUN/evm.raw" "$CACHE/build/disk.raw"; do
        [[ -e $f ]] || continue
        for dev in $(losetup -j "$f" -O NAME -n 2>/dev/null); do losetup -d "$dev"; done
    done
    rm -rf "$RUN"
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- tools
need() { command -v "$1" >/dev/null 2>&1; }
missing=()
need evmctl || missing+=(ima-evm-utils)
need qemu-img || missing+=(qemu-utils)
need sgdisk || missing+=(gdisk)
need mkfs.ext4 || missing+=(e2fsprogs)
need mkfs.vfat || missing+=(dosfstools)
need jq || missing+=(jq)
need python3 || missing+=(python3)
if [[ ${#missing[@]} -gt 0 ]]; then
    log "installing ${missing[*]}"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

COMMIT=$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo '?')
case $BUILD in
tree)
    log "building the release binary (working tree)"
    (cd "$REPO" && cargo build --release -q -p cvm-image-rewriter)
    BIN="$REPO/target/release/cvm-image-rewriter"
    if git -C "$REPO" diff --quiet HEAD -- 2>/dev/null; then SOURCE="commit $COMMIT"; else SOURCE="working tree on $COMMIT, with uncommitted changes"; fi
    ;;
head)
    log "building the release binary (clean export of HEAD $COMMIT)"
    full=$(git -C "$REPO" rev-parse HEAD)
    if [[ $(cat "$WORK/head-src/.commit" 2>/dev/null) != "$full" ]]; then
        rm -rf "$WORK/head-src"
        mkdir -p "$WORK/head-src"
        git -C "$REPO" archive HEAD | tar -x -C "$WORK/head-src"
        echo "$full" >"$WORK/head-src/.commit"
    fi
    (cd "$WORK/head-src" && CARGO_TARGET_DIR="$WORK/target" cargo build --release -q -p cvm-image-rewriter)
    BIN="$WORK/target/release/cvm-image-rewriter"
    SOURCE="commit $COMMIT (clean export)"
    ;;
none)
    [[ -x $BIN ]] || { echo "bench.sh: --bin $BIN: not an executable" >&2; exit 2; }
    SOURCE="given binary $BIN"
    ;;
esac

# ---------------------------------------------------------------- test image (cached)
# GPT like Debian's cloud images: p14 BIOS boot, p15 ESP (vfat), p1 root ext4 from 128 MiB.
ROOT_START_SECTOR=262144
OFFSET=$((ROOT_START_SECTOR * 512))

make_image() {
    local b="$CACHE/build"
    rm -rf "$CACHE"
    mkdir -p "$b"
    log "generating the tree ($FILES files, $SIZE_MB MB, seed $SEED) under $b/tree"
    python3 "$BENCH_DIR/gen-tree.py" --tree "$b/tree" --files "$FILES" --size-mb "$SIZE_MB" --seed "$SEED" >"$b/tree.json"
    local bytes fs_mb disk_mb
    bytes=$(jq .bytes "$b/tree.json")
    # Content + 20% + 256 MiB of room, like a cloud image before growpart, in whole MiB.
    fs_mb=$(((bytes * 12 / 10 + FILES * 4096) / 1048576 + 256))
    log "mkfs.ext4 -d: ${fs_mb} MiB root filesystem"
    E2FSPROGS_FAKE_TIME=1700000000 mkfs.ext4 -q -F -L cloudimg-rootfs \
        -U 3b8a8d0c-5ae0-4b6a-9c8e-5e6f7a8b9c0d -E hash_seed=6f1d6b7e-2c5a-4f0e-8a31-3c1d2b4e5f60 \
        -d "$b/tree" "$b/root.ext4" "${fs_mb}M" >"$b/mkfs.log" 2>&1 || { cat "$b/mkfs.log" >&2; exit 1; }
    rm -rf "$b/tree"
    mkfs.vfat -C -n EFI -i B0B0CAFE "$b/esp.vfat" $((124 * 1024)) >/dev/null
    disk_mb=$((128 + fs_mb + 1))
    truncate -s "${disk_mb}M" "$b/disk.raw"
    sgdisk --disk-guid=5d4a1f70-1d3c-4c7e-9b1a-2f3e4d5c6b7a \
        -n 14:2048:8191 -t 14:EF02 -c 14:bios -u 14:6a1e2b3c-0000-4000-8000-000000000014 \
        -n 15:8192:$((ROOT_START_SECTOR - 1)) -t 15:EF00 -c 15:esp -u 15:6a1e2b3c-0000-4000-8000-000000000015 \
        -n 1:${ROOT_START_SECTOR}:0 -t 1:8300 -c 1:root -u 1:6a1e2b3c-0000-4000-8000-000000000001 \
        "$b/disk.raw" >/dev/null
    dd if="$b/esp.vfat" of="$b/disk.raw" bs=1M seek=4 conv=notrunc,sparse status=none
    dd if="$b/root.ext4" of="$b/disk.raw" bs=1M seek=$((OFFSET / 1048576)) conv=notrunc,sparse status=none
    rm -f "$b/root.ext4" "$b/esp.vfat"
    log "qemu-img convert -c -O qcow2 (compressed)"
    qemu-img convert -c -O qcow2 "$b/disk.raw" "$b/bench.qcow2"
    mv "$b/disk.raw" "$CACHE/bench.raw"
    mv "$b/bench.qcow2" "$CACHE/bench.qcow2"
    mv "$b/tree.json" "$CACHE/tree.json"
    rm -f "$b/mkfs.log"
    rmdir "$b"
}

if [[ -f $CACHE/bench.qcow2 && -f $CACHE/bench.raw && -f $CACHE/tree.json ]]; then
    log "using the cached image $CACHE"
else
    make_image
fi
ln -sfn "$KEY/bench.qcow2" "$WORK/bench.qcow2"
ln -sfn "$KEY/bench.raw" "$WORK/bench.raw"
QCOW="$CACHE/bench.qcow2"
RAW="$CACHE/bench.raw"

rm -rf "$RUN"
mkdir -p "$MNT"

# ---------------------------------------------------------------- timing helpers
# `times` must run in this shell (not in a $(...) subshell) to see this shell's children;
# children_cs FILE reads its second line (children's user and system time) in centiseconds.
children_cs() { awk 'NR == 2 { split($1, u, /[ms]/); split($2, s, /[ms]/); printf "%d", (u[1] * 60 + u[2] + s[1] * 60 + s[2]) * 100 + 0.5 }' "$1"; }
# Every timed command runs after a `sync` (untimed), so that dirty pages of the previous run
# are not written back during the next one. Times are wall clock, in nanoseconds.
# CPU: user + system time of the command's processes (from `times`, in this shell: a function
# call, not a subshell), less sensitive than wall clock to other load on a shared machine; it
# misses work done in kernel threads (the loop device's, for c).
declare -A BEST BEST_CPU
time_once() { # NAME CMD...: runs CMD, keeps the best wall and CPU times under NAME
    local name=$1 t0 t1 dt c0 c1 dc
    shift
    sync
    times >"$RUN/times.a"
    t0=$(date +%s%N)
    "$@"
    t1=$(date +%s%N)
    times >"$RUN/times.b"
    dt=$((t1 - t0))
    c0=$(children_cs "$RUN/times.a")
    c1=$(children_cs "$RUN/times.b")
    dc=$(((c1 - c0) * 10000000)) # centiseconds -> ns
    if [[ -z ${BEST[$name]:-} || $dt -lt ${BEST[$name]} ]]; then BEST[$name]=$dt; fi
    if [[ -z ${BEST_CPU[$name]:-} || $dc -lt ${BEST_CPU[$name]} ]]; then BEST_CPU[$name]=$dc; fi
    printf '>>   %-14s run %d: %s s (CPU %s s)\n' "$name" "$i" "$(secs "$dt")" "$(secs "$dc")" >&2
}
secs() { awk -v n="$1" 'BEGIN { printf "%.2f", n / 1e9 }'; }

# ---------------------------------------------------------------- warm-up
# To tell whether other processes competed for the CPUs: all CPU time used on the machine
# during the timed part, minus what this script's children used.
busy_jiffies() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9 }' /proc/stat; }
BUSY0=$(busy_jiffies)
times >"$RUN/times0"
OURS0=$(children_cs "$RUN/times0")
T_START=$(date +%s%N)
log "warming the page cache with every input (no cache dropping: all figures are warm-cache)"
for f in "$QCOW" "$RAW" "$BIN" "$(command -v evmctl || true)" "$(command -v qemu-img || true)"; do
    if [[ -n $f && -f $f ]]; then cat "$f" >/dev/null; fi
done

# Times `ima enable` RUNS times from IN to OUT under NAME and keeps the report of the fastest
# run as BEST_JSON.
bench_enable() { # NAME IN OUT BEST_JSON
    local name=$1 in=$2 out=$3 best_json=$4 kept=999999999999999 i
    for ((i = 1; i <= RUNS; i++)); do
        rm -f "$out" "$RUN/r.json"
        time_once "$name" "$BIN" ima enable -q -i "$in" -o "$out" --report "$RUN/r.json"
        if [[ ${BEST[$name]} -lt $kept ]]; then
            kept=${BEST[$name]}
            cp "$RUN/r.json" "$best_json"
        fi
    done
}

# ---------------------------------------------------------------- a. ima enable qcow2 -> qcow2
log "a. ima enable qcow2 -> qcow2, $RUNS runs"
bench_enable enable_qcow2 "$QCOW" "$RUN/out.qcow2" "$RUN/best-qcow2.json"
rm -f "$RUN/out.qcow2"

# ---------------------------------------------------------------- e. ima enable raw -> raw
log "e. ima enable raw -> raw, $RUNS runs"
bench_enable enable_raw "$RAW" "$RUN/out.raw" "$RUN/best-raw.json"
# out.raw of the last run stays for the cross-check against evmctl's labels (after c).

# ---------------------------------------------------------------- b. qemu-img convert -O raw
log "b. qemu-img convert -O raw, $RUNS runs"
for ((i = 1; i <= RUNS; i++)); do
    rm -f "$RUN/x.raw"
    time_once convert_raw qemu-img convert -O raw "$QCOW" "$RUN/x.raw"
done

# ---------------------------------------------------------------- c. evmctl over a loop mount
# A fresh copy of the raw image each run (untimed, synced), mounted with -o loop,offset; the
# timed part is `evmctl ima_hash -r` plus `sync -f` of that filesystem (the tool's figure
# includes fsyncing its output, too). evmctl recurses with -r and writes security.ima through
# setxattr. The copy is in the host page cache; the mounted filesystem's own cache starts empty.
evm_run() {
    evmctl ima_hash -r -a sha256 "$MNT" >/dev/null 2>"$RUN/evmctl.err"
    sync -f "$MNT"
}
# Cross-check: evmctl's label (setxattr in the loop mount) must equal the tool's (in out.raw,
# read with debugfs) on a sample of files, except those the tool edits before labelling.
cross_check() {
    local f rel evm tool n=0 bad=0
    while IFS= read -r f; do
        rel=${f#"$MNT"}
        case "$rel" in /etc/fstab | /etc/default/grub | /boot/grub/grub.cfg) continue ;; esac
        evm=$(getfattr --absolute-names --only-values -n security.ima "$f" | od -An -tx1 -v | tr -d ' \n')
        tool=$(debugfs -R "ea_get -x \"$rel\" security.ima" "$RUN/out.raw?offset=$OFFSET" 2>"$RUN/debugfs.err" |
            sed -n 's/^security.ima ([0-9]*) = //p' | tr -d ' ')
        n=$((n + 1))
        if [[ -z $evm || $evm != "$tool" ]]; then
            bad=$((bad + 1))
            echo "bench.sh: label mismatch on $rel: evmctl $evm, ima enable ${tool:-none}" >&2
            cat "$RUN/debugfs.err" >&2
        fi
    done < <(find "$MNT" -xdev -type f | sort | awk 'NR % 500 == 1')
    if [[ $bad -ne 0 ]]; then
        echo "bench.sh: $bad of $n sampled labels differ between evmctl and ima enable" >&2
        exit 1
    fi
    CROSS_CHECKED=$n
}
log "c. evmctl ima_hash -r over a loop mount, $RUNS runs"
for ((i = 1; i <= RUNS; i++)); do
    cp --sparse=always "$RAW" "$RUN/evm.raw"
    sync "$RUN/evm.raw"
    mount -o loop,offset="$OFFSET" "$RUN/evm.raw" "$MNT"
    time_once evmctl evm_run
    if ! getfattr --absolute-names -n security.ima -e hex "$MNT/etc/fstab" 2>/dev/null | grep -q '=0x0404'; then
        echo "bench.sh: evmctl did not label $MNT/etc/fstab; see $RUN/evmctl.err" >&2
        exit 1
    fi
    evm_labelled=$(find "$MNT" -xdev -type f -uid 0 | wc -l)
    if [[ $i -eq $RUNS ]]; then cross_check; fi
    umount "$MNT"
    rm -f "$RUN/evm.raw"
done

# ---------------------------------------------------------------- d. recompress (reference)
if [[ $RECOMPRESS -eq 1 ]]; then
    log "d. qemu-img convert -c -O qcow2 (recompress), $RUNS runs"
    for ((i = 1; i <= RUNS; i++)); do
        rm -f "$RUN/y.qcow2"
        time_once recompress qemu-img convert -c -O qcow2 "$RUN/x.raw" "$RUN/y.qcow2"
    done
    rm -f "$RUN/y.qcow2"
fi
rm -f "$RUN/x.raw" "$RUN/out.raw"
BUSY1=$(busy_jiffies)
times >"$RUN/times1"
OURS1=$(children_cs "$RUN/times1")
T_END=$(date +%s%N)
OTHER_CPU=$(awk -v b=$((BUSY1 - BUSY0)) -v o=$((OURS1 - OURS0)) -v hz="$(getconf CLK_TCK)" 'BEGIN { x = (b - o * hz / 100) / hz; if (x < 0) x = 0; printf "%.1f", x }')
WALL=$(awk -v n=$((T_END - T_START)) 'BEGIN { printf "%.0f", n / 1e9 }')

# ---------------------------------------------------------------- results
J="$RUN/best-qcow2.json"
NFILES=$(jq .labels.files_total "$J")
NBYTES=$(jq .labels.bytes_hashed "$J")
CPU=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
MEM=$(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)

echo
echo "== cvm-image-rewriter ima enable benchmark"
echo "machine:  $(nproc) CPUs, $CPU, $MEM RAM, Linux $(uname -r)"
echo "tools:    $("$BIN" --version), $SOURCE"
echo "          $(qemu-img --version | head -1)"
echo "          evmctl $(evmctl --version 2>&1 | awk '{ print $2; exit }'), $(mke2fs -V 2>&1 | head -1)"
echo "image:    $QCOW"
echo "          qcow2 (compressed) $(du -m --apparent-size "$QCOW" | cut -f1) MB, raw $(du -m --apparent-size "$RAW" | cut -f1) MB virtual / $(du -m "$RAW" | cut -f1) MB allocated"
echo "          $NFILES root-owned regular files ($evm_labelled seen by find in the mounted copy), $(awk -v b="$NBYTES" 'BEGIN { printf "%.1f", b / 1e6 }') MB of content"
echo "method:   wall clock, best of $RUNS runs; every input read once before timing, so all figures"
echo "          are warm page cache (caches are not dropped); sync before each timed command"
echo "noise:    other processes and kernel threads (loop, writeback) used $OTHER_CPU CPU-seconds during the ${WALL} s of measuring$(awk -v x="$OTHER_CPU" -v w="$WALL" -v n="$(nproc)" 'BEGIN { if (x > 0.1 * w * n) print ": the machine was shared, figures are noisy" }')"
echo "check:    $CROSS_CHECKED sampled files carry the same security.ima from evmctl and from ima enable"
echo
printf '%-46s %9s %10s %9s %9s\n' "step" "seconds" "files/s" "MB/s" "CPU s"
row() { # LABEL NS CPU_NS
    awk -v l="$1" -v ns="$2" -v c="$3" -v f="$NFILES" -v b="$NBYTES" \
        'BEGIN { s = ns / 1e9; printf "%-46s %9.2f %10.0f %9.1f %9.2f\n", l, s, f / s, b / 1e6 / s, c / 1e9 }'
}
row "a. ima enable qcow2 -> qcow2" "${BEST[enable_qcow2]}" "${BEST_CPU[enable_qcow2]}"
row "e. ima enable raw -> raw" "${BEST[enable_raw]}" "${BEST_CPU[enable_raw]}"
row "b. qemu-img convert -O raw (decompress)" "${BEST[convert_raw]}" "${BEST_CPU[convert_raw]}"
row "c. evmctl ima_hash -r (loop mount) + sync" "${BEST[evmctl]}" "${BEST_CPU[evmctl]}"
CONV=$((BEST[convert_raw] + BEST[evmctl]))
row "b+c. convert + evmctl" "$CONV" "$((BEST_CPU[convert_raw] + BEST_CPU[evmctl]))"
if [[ $RECOMPRESS -eq 1 ]]; then
    row "d. qemu-img convert -c -O qcow2 (reference)" "${BEST[recompress]}" "${BEST_CPU[recompress]}"
    row "b+c+d. full conventional qcow2 -> qcow2" "$((CONV + BEST[recompress]))" "$((BEST_CPU[convert_raw] + BEST_CPU[evmctl] + BEST_CPU[recompress]))"
fi
echo "(seconds: wall clock, best run; CPU s: user + system time of the step's processes, lowest"
echo " run, which does not count kernel threads such as the loop device's that serve c)"

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2fx", b / a }'; }
echo
echo "speed-up of a. ima enable qcow2 -> qcow2 (time of the other / time of a; >1: a is faster)"
echo "  vs b+c convert + evmctl:   $(ratio "${BEST[enable_qcow2]}" "$CONV")"
echo "  vs b convert alone:        $(ratio "${BEST[enable_qcow2]}" "${BEST[convert_raw]}")"
echo "  vs c evmctl alone:         $(ratio "${BEST[enable_qcow2]}" "${BEST[evmctl]}")"
if [[ $RECOMPRESS -eq 1 ]]; then
    echo "  vs b+c+d (with recompress): $(ratio "${BEST[enable_qcow2]}" "$((CONV + BEST[recompress]))")"
fi
echo "  e. raw -> raw vs c evmctl: $(ratio "${BEST[enable_raw]}" "${BEST[evmctl]}")"
if [[ ${BEST[enable_qcow2]} -lt $CONV ]]; then verdict="MET"; else verdict="NOT MET"; fi
echo "target: ima enable qcow2 -> qcow2 faster than convert + evmctl together: $verdict"

phases() { # LABEL JSON
    jq -r --arg l "$1" '"  \($l): total \(.seconds * 100 | round / 100) s = labels \(.labels.seconds * 100 | round / 100) s (walk + hash + write) + verify \(.verify.seconds * 100 | round / 100) s (re-walk + re-hash) + rest \((.seconds - .labels.seconds - .verify.seconds) * 100 | round / 100) s (copy, edits, flush); \(.labels.files_labelled) labelled, \(.verify.files_checked) verified, \(.verify.mismatches | length) mismatches"' "$2"
}
echo
echo "phases from the tool's --report (best run):"
phases "qcow2 -> qcow2" "$RUN/best-qcow2.json"
phases "raw -> raw    " "$RUN/best-raw.json"
