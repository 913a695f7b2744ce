//! Building guest disk images without root: `mkfs.ext4 -d` on a partition-sized file, a
//! `debugfs -w` script for owners/xattrs/special nodes, `sgdisk`/`sfdisk` for the partition
//! table, `mkfs.vfat` + mtools for the ESP, then `qemu-img convert` for qcow2 flavours.

use super::tree::GuestTree;
use super::{run, run_text, run_unchecked};
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

const MIB: u64 = 1 << 20;
pub const ROOT_UUID: &str = "0b5e5c3a-6a2b-4c8e-9f1d-2f7c3e1a9b42";
pub const ROOT_LABEL: &str = "cloudimg-rootfs";
pub const ROOT_PARTUUID_GPT: &str = "6b1c9e4a-0d3f-4a57-9e2b-5c8d7f1e2a3b";
pub const MBR_DISK_ID: &str = "0x1a2b3c4d";
pub const ESP_START: u64 = MIB;
pub const ESP_SIZE: u64 = 16 * MIB;
pub const ROOT_START: u64 = 17 * MIB;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// GPT: ESP (vfat) as partition 15 first on disk, ext4 root as partition 1 after it.
    Gpt,
    /// MBR: partition 1 vfat, partition 2 the ext4 root.
    Mbr,
    /// The whole disk is the ext4 filesystem.
    Bare,
    /// GPT with only the vfat ESP (partition 15): no ext4 at all.
    GptEspOnly,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Raw,
    Qcow2,
    Qcow2Compressed,
    /// A qcow2 overlay on a qcow2 base: the base holds the freshly made filesystem, the
    /// overlay the debugfs edits (owners, xattrs, device nodes).
    Qcow2Backing,
}

impl Format {
    pub fn ext(self) -> &'static str {
        match self {
            Format::Raw => "raw",
            _ => "qcow2",
        }
    }
    pub fn qemu_name(self) -> &'static str {
        match self {
            Format::Raw => "raw",
            _ => "qcow2",
        }
    }
}

pub struct ImageOptions {
    pub root_size: u64,
    pub label: String,
    pub uuid: String,
}

impl Default for ImageOptions {
    fn default() -> Self {
        ImageOptions { root_size: 96 * MIB, label: ROOT_LABEL.into(), uuid: ROOT_UUID.into() }
    }
}

/// A built guest image and what the oracles need to know about it.
pub struct TestImage {
    /// The input image to give to the tool.
    pub path: PathBuf,
    /// For [`Format::Qcow2Backing`], the backing file (must stay unchanged too).
    pub base: Option<PathBuf>,
    pub layout: Layout,
    pub format: Format,
    /// Byte offset of the root ext4 inside the (raw view of the) disk.
    pub root_offset: u64,
    /// 1-based partition number of the root, None for a bare filesystem.
    pub root_partition: Option<u32>,
    /// The tree the root was built from, and its host copy (`mkfs.ext4 -d` source).
    pub tree: GuestTree,
    pub host_tree: PathBuf,
}

/// Runs a debugfs script in write mode and fails on any error line (debugfs exits 0 anyway).
pub fn debugfs_write(spec: &str, script: &str, scratch: &Path) {
    let cmdfile = scratch.join(format!("debugfs-{}.cmd", std::process::id()));
    std::fs::write(&cmdfile, script).unwrap();
    let out = run_unchecked("debugfs", &["-w".as_ref(), "-f".as_ref(), cmdfile.as_os_str(), spec.as_ref()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let errors: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty() && !l.starts_with("debugfs ")).collect();
    assert!(
        out.status.success() && errors.is_empty(),
        "debugfs -w -f {} {spec} reported errors:\n{}\nscript:\n{script}",
        cmdfile.display(),
        errors.join("\n")
    );
    let _ = std::fs::remove_file(&cmdfile);
}

/// Copies `src` into `dst` at `offset`, skipping all-zero MiB chunks (dst starts as a hole).
fn copy_into(src: &Path, dst: &Path, offset: u64) {
    let mut s = File::open(src).unwrap();
    let mut d = OpenOptions::new().write(true).open(dst).unwrap();
    let mut buf = vec![0u8; MIB as usize];
    let mut pos = 0u64;
    loop {
        let mut n = 0;
        while n < buf.len() {
            let k = s.read(&mut buf[n..]).unwrap();
            if k == 0 {
                break;
            }
            n += k;
        }
        if n == 0 {
            break;
        }
        if buf[..n].iter().any(|&b| b != 0) {
            d.seek(SeekFrom::Start(offset + pos)).unwrap();
            d.write_all(&buf[..n]).unwrap();
        }
        pos += n as u64;
    }
}

fn make_esp(path: &Path, scratch: &Path) {
    File::create(path).unwrap().set_len(ESP_SIZE).unwrap();
    run("mkfs.vfat", &["-n".as_ref(), "UEFI".as_ref(), "-i".as_ref(), "4E2F1A0C".as_ref(), path.as_os_str()]);
    let efi = scratch.join("BOOTX64.EFI");
    std::fs::write(&efi, super::tree::pseudo_random(99, 20_000)).unwrap();
    let img = format!("{}", path.display());
    run("mmd", &["-i", &img, "::/EFI", "::/EFI/BOOT"]);
    run("mcopy", &["-i", &img, &efi.display().to_string(), "::/EFI/BOOT/BOOTX64.EFI"]);
}

fn make_ext4(path: &Path, tree: &GuestTree, host_tree: &Path, scratch: &Path, opts: &ImageOptions) -> String {
    let script = tree.materialize(host_tree, &scratch.join("xattr-values"));
    File::create(path).unwrap().set_len(opts.root_size).unwrap();
    run(
        "mkfs.ext4",
        &[
            "-q".as_ref(),
            "-F".as_ref(),
            "-T".as_ref(),
            "default".as_ref(),
            "-E".as_ref(),
            "root_owner=0:0".as_ref(),
            "-L".as_ref(),
            opts.label.as_ref(),
            "-U".as_ref(),
            opts.uuid.as_ref(),
            "-d".as_ref(),
            host_tree.as_os_str(),
            path.as_os_str(),
        ],
    );
    script
}

impl TestImage {
    pub fn build(dir: &Path, layout: Layout, format: Format, tree: &GuestTree) -> TestImage {
        Self::build_with(dir, layout, format, tree, &ImageOptions::default())
    }

    /// Builds under `dir/fixture/` and puts the input at `dir/in.{raw,qcow2}`.
    pub fn build_with(dir: &Path, layout: Layout, format: Format, tree: &GuestTree, opts: &ImageOptions) -> TestImage {
        let fx = dir.join("fixture");
        std::fs::create_dir_all(&fx).unwrap();
        let host_tree = fx.join("tree");
        let root_file = fx.join("root.ext4");
        let disk = fx.join("disk.raw");
        let has_root = layout != Layout::GptEspOnly;
        let script = if has_root { make_ext4(&root_file, tree, &host_tree, &fx, opts) } else { String::new() };
        let (root_offset, root_partition) = match layout {
            Layout::Bare => {
                std::fs::rename(&root_file, &disk).unwrap();
                (0, None)
            }
            Layout::Gpt | Layout::GptEspOnly => {
                let total = ROOT_START + if has_root { opts.root_size } else { 0 } + MIB;
                File::create(&disk).unwrap().set_len(total).unwrap();
                let mut args: Vec<String> = vec![
                    "-o".into(),
                    "-n".into(),
                    format!("15:{}:{}", ESP_START / 512, (ESP_START + ESP_SIZE) / 512 - 1),
                    "-t".into(),
                    "15:ef00".into(),
                    "-c".into(),
                    "15:EFI System".into(),
                ];
                if has_root {
                    args.extend([
                        "-n".into(),
                        format!("1:{}:{}", ROOT_START / 512, (ROOT_START + opts.root_size) / 512 - 1),
                        "-t".into(),
                        "1:8300".into(),
                        "-u".into(),
                        format!("1:{ROOT_PARTUUID_GPT}"),
                    ]);
                }
                args.push(disk.display().to_string());
                run("sgdisk", &args);
                let esp = fx.join("esp.vfat");
                make_esp(&esp, &fx);
                copy_into(&esp, &disk, ESP_START);
                if has_root {
                    copy_into(&root_file, &disk, ROOT_START);
                }
                (ROOT_START, if has_root { Some(1) } else { None })
            }
            Layout::Mbr => {
                let total = ROOT_START + opts.root_size + MIB;
                File::create(&disk).unwrap().set_len(total).unwrap();
                let script = format!(
                    "label: dos\nlabel-id: {MBR_DISK_ID}\nstart={}, size={}, type=ef\nstart={}, size={}, type=83\n",
                    ESP_START / 512,
                    ESP_SIZE / 512,
                    ROOT_START / 512,
                    opts.root_size / 512
                );
                let mut child = std::process::Command::new(super::tool("sfdisk"))
                    .arg("-q")
                    .arg(&disk)
                    .stdin(std::process::Stdio::piped())
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .unwrap();
                child.stdin.take().unwrap().write_all(script.as_bytes()).unwrap();
                let out = child.wait_with_output().unwrap();
                assert!(out.status.success(), "sfdisk failed: {}", String::from_utf8_lossy(&out.stderr));
                let esp = fx.join("esp.vfat");
                make_esp(&esp, &fx);
                copy_into(&esp, &disk, ESP_START);
                copy_into(&root_file, &disk, ROOT_START);
                (ROOT_START, Some(2))
            }
        };
        let _ = std::fs::remove_file(&root_file);
        let spec = format!("{}?offset={root_offset}", disk.display());

        // For a backing chain, the base is the disk before the debugfs edits.
        let mut base = None;
        if format == Format::Qcow2Backing {
            let b = dir.join("base.qcow2");
            run("qemu-img", &["convert".as_ref(), "-O".as_ref(), "qcow2".as_ref(), disk.as_os_str(), b.as_os_str()]);
            base = Some(b);
        }
        if has_root {
            debugfs_write(&spec, &script, &fx);
            let out = run_unchecked("e2fsck", &["-fn", &spec]);
            assert!(
                out.status.success(),
                "fixture is not a clean ext4: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let path = dir.join(format!("in.{}", format.ext()));
        match format {
            Format::Raw => std::fs::rename(&disk, &path).unwrap(),
            Format::Qcow2 => {
                run(
                    "qemu-img",
                    &["convert".as_ref(), "-O".as_ref(), "qcow2".as_ref(), disk.as_os_str(), path.as_os_str()],
                );
            }
            Format::Qcow2Compressed => {
                run(
                    "qemu-img",
                    &[
                        "convert".as_ref(),
                        "-c".as_ref(),
                        "-O".as_ref(),
                        "qcow2".as_ref(),
                        disk.as_os_str(),
                        path.as_os_str(),
                    ],
                );
            }
            Format::Qcow2Backing => {
                // Only clusters that differ from the base land in the overlay; the backing
                // reference is the relative name "base.qcow2" (same directory).
                let out = std::process::Command::new(super::tool("qemu-img"))
                    .current_dir(dir)
                    .args(["convert", "-O", "qcow2", "-B", "base.qcow2", "-F", "qcow2"])
                    .arg(&disk)
                    .arg(&path)
                    .output()
                    .unwrap();
                assert!(out.status.success(), "qemu-img convert -B failed: {}", String::from_utf8_lossy(&out.stderr));
                let info = run_text("qemu-img", &["info".as_ref(), "--output=json".as_ref(), path.as_os_str()]);
                assert!(info.contains("\"backing-filename\": \"base.qcow2\""), "overlay has no backing file: {info}");
            }
        }
        let _ = std::fs::remove_file(&disk);
        TestImage { path, base, layout, format, root_offset, root_partition, tree: tree.clone(), host_tree }
    }

    /// The host copy of a guest file (the `mkfs.ext4 -d` source).
    pub fn host_path(&self, guest: &str) -> PathBuf {
        self.host_tree.join(&guest[1..])
    }

    /// sha256 of the input and of its backing file, to prove the tool never writes them.
    pub fn fingerprint(&self) -> Vec<(PathBuf, String)> {
        let mut v = vec![(self.path.clone(), super::file_sha256(&self.path))];
        if let Some(b) = &self.base {
            v.push((b.clone(), super::file_sha256(b)));
        }
        v
    }
}
