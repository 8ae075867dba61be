//! The update command's I/O edge on the box: the kernel command line, the partitions by GPT
//! name (`/sys/class/block/*/uevent`), the EFI system partition mounted for the time of a
//! command (`mount`, `umount`), the environment block's two copies read and rewritten in
//! place one after the other (the choice and the seal are [`super::grubenv`]'s), the slot
//! written, synced and read back, the reboot.
//!
//! Owns nothing of the decisions: every "may I" is [`super::plan`]'s, every parse is
//! [`super::manifest`]'s or [`super::grubenv`]'s. Nothing is written before the update file's
//! HMAC, size and SHA-256 are checked ([`check_file`]).

#![forbid(unsafe_code)]

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

use super::grubenv::{self, GrubEnv, Which, GRUBENV_BYTES};
use super::manifest::{Header, MAX_HEADER_BYTES};

/// Where the ESP is mounted while a command needs it (a directory of the read-only root).
pub const ESP_MOUNT: &str = "/efi";
/// The ESP's GPT name (board/x86_64/genimage.cfg).
pub const ESP_PARTNAME: &str = "esp";
/// The environment block, relative to the ESP (GRUB's $prefix/grubenv).
pub const GRUBENV_PATH: &str = "EFI/BOOT/grubenv";
/// Its second copy, written after the first (grub.cfg reads it when the first is torn).
pub const GRUBENV_BACKUP_PATH: &str = "EFI/BOOT/grubenv.bak";
/// Bytes per read, write and sync of a slot; one progress line each.
pub const CHUNK_BYTES: usize = 1 << 20;

/// The device node of the partition whose GPT name is `name`.
pub fn partition_by_name(name: &str) -> Result<PathBuf, String> {
    let dir = std::fs::read_dir("/sys/class/block").map_err(|e| format!("/sys/class/block: {e}"))?;
    for entry in dir.flatten() {
        let Ok(uevent) = std::fs::read_to_string(entry.path().join("uevent")) else { continue };
        if uevent.lines().any(|l| l.strip_prefix("PARTNAME=") == Some(name)) {
            if let Some(dev) = uevent.lines().find_map(|l| l.strip_prefix("DEVNAME=")) {
                return Ok(PathBuf::from("/dev").join(dev));
            }
        }
    }
    Err(format!("no partition named {name}"))
}

/// A partition's size in bytes (its `size` in 512-byte sectors).
pub fn partition_size_bytes(dev: &Path) -> Result<u64, String> {
    let name = dev.file_name().and_then(|n| n.to_str()).ok_or("bad device name")?;
    let text = std::fs::read_to_string(format!("/sys/class/block/{name}/size"))
        .map_err(|e| format!("size of {}: {e}", dev.display()))?;
    text.trim().parse::<u64>().map(|s| s * 512).map_err(|e| format!("size of {}: {e}", dev.display()))
}

/// Whether `dev` is mounted (by its node's name in /proc/mounts).
pub fn is_mounted(dev: &Path) -> bool {
    let dev = dev.to_string_lossy();
    std::fs::read_to_string("/proc/mounts")
        .map(|m| m.lines().any(|l| l.split_whitespace().next() == Some(&*dev)))
        .unwrap_or(false)
}

/// The ESP, mounted at ESP_MOUNT until dropped (left as it was if it was mounted already).
pub struct Esp {
    unmount: bool,
}

impl Esp {
    pub fn mount() -> Result<Esp, String> {
        let mounted = std::fs::read_to_string("/proc/mounts")
            .map(|m| m.lines().any(|l| l.split_whitespace().nth(1) == Some(ESP_MOUNT)))
            .unwrap_or(false);
        if mounted {
            return Ok(Esp { unmount: false });
        }
        let dev = partition_by_name(ESP_PARTNAME)?;
        let out = Command::new("mount")
            .args(["-t", "vfat", "-o", "rw,noatime"])
            .arg(&dev)
            .arg(ESP_MOUNT)
            .output()
            .map_err(|e| format!("mount: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "cannot mount the ESP {} on {ESP_MOUNT}: {}",
                dev.display(),
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(Esp { unmount: true })
    }

    fn env_paths(&self) -> [PathBuf; 2] {
        [Path::new(ESP_MOUNT).join(GRUBENV_PATH), Path::new(ESP_MOUNT).join(GRUBENV_BACKUP_PATH)]
    }

    /// The block to believe and which copy it is ([`grubenv::choose`]).
    pub fn read_env_copy(&self) -> Result<(Which, GrubEnv), String> {
        let [primary, backup] = self.env_paths();
        let read = |path: &Path| std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()));
        let first = read(&primary)?;
        let second = match read(&backup) {
            Ok(bytes) => Some(GrubEnv::parse(&bytes)),
            Err(_) if !backup.exists() => None,
            Err(e) => return Err(e),
        };
        grubenv::choose(GrubEnv::parse(&first), second).map_err(|e| format!("{}: {e}", primary.display()))
    }

    pub fn read_env(&self) -> Result<GrubEnv, String> {
        self.read_env_copy().map(|(_, env)| env)
    }

    /// Seal `env` with a number above every seal number either copy holds now (so that no
    /// block this writes over has its number: a tear always shows) and write it over both
    /// copies in place (same size, same blocks: GRUB writes them by their block lists), the
    /// first then the second, each synced before the next is touched: a power cut tears at
    /// most one of them. A missing second copy (a disk made before it existed) is created.
    pub fn write_env(&self, env: &GrubEnv) -> Result<(), String> {
        let [primary, backup] = self.env_paths();
        let on_disk = [&primary, &backup]
            .iter()
            .filter_map(|p| std::fs::read(p).ok())
            .filter_map(|bytes| GrubEnv::parse(&bytes).ok())
            .flat_map(|e| grubenv::seal_numbers(&e))
            .max();
        let mut sealed = env.clone();
        sealed.seal(on_disk.into_iter().chain(env.sealed()).max().unwrap_or(0) + 1);
        let block = sealed.encode().map_err(|e| format!("{}: {e}", primary.display()))?;
        assert_eq!(block.len(), GRUBENV_BYTES);
        write_in_place(&primary, &block, false)?;
        write_in_place(&backup, &block, true)
    }

    /// Make both copies hold the block GRUB believes: the other copy is overwritten with the
    /// believed one's exact bytes, and the believed one is not touched (a power cut meanwhile
    /// can only tear the copy that was stale anyway). Copies without a seal (a disk made before
    /// it) are sealed and both written. Returns the copy written, or `None` when they were equal.
    pub fn repair_env(&self) -> Result<Option<&'static str>, String> {
        let (which, env) = self.read_env_copy()?;
        let [primary, backup] = self.env_paths();
        let (from, to, name) = match which {
            Which::Unsealed => {
                self.write_env(&env)?;
                return Ok(Some("both"));
            }
            Which::Primary => (primary, backup, GRUBENV_BACKUP_PATH),
            Which::Backup => (backup, primary, GRUBENV_PATH),
        };
        let block = std::fs::read(&from).map_err(|e| format!("{}: {e}", from.display()))?;
        assert_eq!(block.len(), GRUBENV_BYTES, "a believed copy parsed, so it has the block's size");
        if std::fs::read(&to).is_ok_and(|other| other == block) {
            return Ok(None);
        }
        write_in_place(&to, &block, true)?;
        Ok(Some(name))
    }
}

/// Write `block` over the start of `path` in place and sync it: the same clusters (a truncate
/// would free and reallocate them, and GRUB writes the block by its block list). `create`:
/// a missing file is made (the second copy on a disk made before it existed).
fn write_in_place(path: &Path, block: &[u8], create: bool) -> Result<(), String> {
    let mut f = OpenOptions::new()
        .write(true)
        .create(create)
        .truncate(false)
        .open(path)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    f.write_all(block).and_then(|_| f.sync_all()).map_err(|e| format!("{}: {e}", path.display()))
}

impl Drop for Esp {
    fn drop(&mut self) {
        if self.unmount {
            let _ = Command::new("umount").arg(ESP_MOUNT).status();
        }
    }
}

/// An update file whose header was parsed, authenticated and whose payload matched its size
/// and SHA-256.
pub struct CheckedFile {
    pub header: Header,
    file: File,
}

/// Check an update file completely before anything is written: the header's HMAC with `key`,
/// the payload's size and SHA-256, and that it is a squashfs.
pub fn check_file(path: &Path, key: &[u8]) -> Result<CheckedFile, String> {
    let mut file = File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut head = Vec::with_capacity(MAX_HEADER_BYTES);
    (&mut file)
        .take(MAX_HEADER_BYTES as u64)
        .read_to_end(&mut head)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let header = Header::parse(&head).map_err(|e| e.to_string())?;
    header.verify(&head, key).map_err(|e| e.to_string())?;
    let m = &header.manifest;
    let len = file.metadata().map_err(|e| e.to_string())?.len();
    let payload = len.saturating_sub(header.payload_offset as u64);
    if payload != m.size_bytes {
        return Err(format!(
            "the file holds {payload} bytes of slot image, its manifest says {}",
            m.size_bytes
        ));
    }
    file.seek(SeekFrom::Start(header.payload_offset as u64)).map_err(|e| e.to_string())?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; CHUNK_BYTES];
    let mut first = true;
    loop {
        let n = file.read(&mut buf).map_err(|e| format!("{}: {e}", path.display()))?;
        if n == 0 {
            break;
        }
        if first && !buf[..n].starts_with(b"hsqs") {
            return Err("the slot image is not a squashfs".into());
        }
        first = false;
        hasher.update(&buf[..n]);
    }
    if hasher.finalize().as_slice() != m.sha256 {
        return Err(format!(
            "the slot image's SHA-256 is not the manifest's {}: the file is damaged",
            m.sha256_hex()
        ));
    }
    Ok(CheckedFile { header, file })
}

/// Write the checked payload to `dev` (1 MiB at a time, each synced, `progress` told the MiB
/// done), then read it back and compare the SHA-256 with the manifest's.
pub fn write_slot(
    checked: &mut CheckedFile,
    dev: &Path,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<(), String> {
    let m = checked.header.manifest.clone();
    let size = m.size_bytes;
    let mut out = OpenOptions::new().write(true).open(dev).map_err(|e| format!("{}: {e}", dev.display()))?;
    checked.file.seek(SeekFrom::Start(checked.header.payload_offset as u64)).map_err(|e| e.to_string())?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; CHUNK_BYTES];
    let mut done = 0u64;
    let total_mib = size.div_ceil(CHUNK_BYTES as u64);
    while done < size {
        let want = (size - done).min(CHUNK_BYTES as u64) as usize;
        checked.file.read_exact(&mut buf[..want]).map_err(|e| format!("reading the update file: {e}"))?;
        hasher.update(&buf[..want]);
        out.write_all(&buf[..want])
            .and_then(|_| out.sync_data())
            .map_err(|e| format!("writing {}: {e}", dev.display()))?;
        done += want as u64;
        progress(done.div_ceil(CHUNK_BYTES as u64), total_mib);
    }
    if hasher.finalize().as_slice() != m.sha256 {
        return Err("the update file changed while it was written".into());
    }
    drop(out);
    let mut back = File::open(dev).map_err(|e| format!("{}: {e}", dev.display()))?;
    let mut hasher = Sha256::new();
    let mut left = size;
    while left > 0 {
        let want = left.min(CHUNK_BYTES as u64) as usize;
        back.read_exact(&mut buf[..want]).map_err(|e| format!("reading back {}: {e}", dev.display()))?;
        hasher.update(&buf[..want]);
        left -= want as u64;
    }
    if hasher.finalize().as_slice() != m.sha256 {
        return Err(format!("{} does not read back what was written", dev.display()));
    }
    Ok(())
}

/// Sync and ask init to reboot (BusyBox `reboot`: init runs the shutdown scripts).
pub fn reboot() -> Result<(), String> {
    let status = Command::new("reboot").status().map_err(|e| format!("reboot: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("reboot exited with {status}"))
    }
}
