#!/usr/bin/python3
# cvm-image-rewriter `run --ima-label boot`: the label pass, run by cloud-init after every other
# script of the boot (runparts sorts by name, and "zz-" comes after "runcmd").
#
# The kernel runs with ima_appraise=fix and the custom policy: opening a file that the policy
# appraises makes the kernel hash it and write its security.ima. This one process opens every
# regular file of every local filesystem once (the kernel decides which ones to label; a `dd`
# per file, as upstream does, costs a fork each), then sets the next boot's ima_appraise= to
# the final mode and runs update-grub. Files written after this pass are relabelled by the
# kernel when they are closed (fix mode). The host checks every label offline afterwards.
import glob
import os
import re
import subprocess
import sys

FINAL_MODE = "@FINAL_MODE@"
TAG = "cvm-image-rewriter label pass"
# Filesystems that hold xattrs on a disk; pseudo filesystems and vfat are left alone.
LOCAL = {"ext2", "ext3", "ext4", "xfs", "btrfs", "f2fs", "jfs", "reiserfs"}
EFI_SECURE_BOOT = "/sys/firmware/efi/efivars/SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8c"


def fail(message):
    print(f"{TAG}: error: {message}", file=sys.stderr, flush=True)
    sys.exit(1)


cmdline = open("/proc/cmdline").read().split()
if "ima_appraise=fix" not in cmdline:
    fail("the kernel was not booted with ima_appraise=fix, so it writes no labels; command line: " + " ".join(cmdline))
if os.path.exists(EFI_SECURE_BOOT) and open(EFI_SECURE_BOOT, "rb").read()[-1:] == b"\x01":
    fail("UEFI Secure Boot is on: the kernel ignores ima_appraise=fix and writes no labels; "
         "label offline instead (run --ima-label offline)")


def unescape(field):
    # /proc/self/mountinfo writes space, tab, newline and backslash as octal escapes.
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


mounts = []
for line in open("/proc/self/mountinfo"):
    left, right = line.split(" - ", 1)
    if right.split()[0] in LOCAL:
        mounts.append((unescape(left.split()[4]), right.split()[0]))

opened = 0
errors = 0
walked = []
seen = set()
flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | getattr(os, "O_NOATIME", 0)
for top, fstype in mounts:
    dev = os.stat(top).st_dev
    if dev in seen:  # a bind mount of a filesystem already walked
        continue
    seen.add(dev)
    walked.append(f"{top} ({fstype})")
    stack = [top]
    while stack:
        folder = stack.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError as e:
            errors += 1
            print(f"{TAG}: {folder}: {e}", file=sys.stderr, flush=True)
            continue
        for entry in entries:
            try:
                if entry.is_dir(follow_symlinks=False):
                    # Stay on this filesystem: other mounts are walked on their own.
                    if entry.stat(follow_symlinks=False).st_dev == dev:
                        stack.append(entry.path)
                elif entry.is_file(follow_symlinks=False):
                    os.close(os.open(entry.path, flags))
                    opened += 1
            except OSError as e:
                errors += 1
                print(f"{TAG}: {entry.path}: {e}", file=sys.stderr, flush=True)
if errors:
    fail(f"{errors} file(s) or folder(s) could not be opened (listed above): they would stay unlabelled")

switched = []
if FINAL_MODE != "fix":
    defaults = ["/etc/default/grub"] + sorted(glob.glob("/etc/default/grub.d/*.cfg"))
    for path in [p for p in defaults if os.path.isfile(p)]:
        with open(path) as f:
            text = f.read()
        new = re.sub(r"(?<![\w.-])ima_appraise=fix(?![\w.-])", "ima_appraise=" + FINAL_MODE, text)
        if new != text:
            with open(path, "w") as f:
                f.write(new)
            switched.append(path)
    if not switched:
        fail("no grub defaults file sets ima_appraise=fix any more (did a plugin rewrite it?): "
             "cannot switch the next boot to ima_appraise=" + FINAL_MODE)
    done = subprocess.run(["update-grub"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if done.returncode != 0:
        fail("update-grub failed:\n" + done.stdout)

print(f"{TAG}: opened {opened} files on {', '.join(walked)}; next boot: ima_appraise={FINAL_MODE}"
      + (f" (set in {', '.join(switched)})" if switched else ""), flush=True)
