//! Field updates of the appliance's disk (docs/image.md, "Root slots and field updates"): two
//! root slots, A and B, each a squashfs holding the root, the kernel and the initramfs; GRUB's
//! environment block on the ESP says which one is committed and which one is tried once.
//! `ha-agent update`:
//!
//! - `pack SQUASHFS --key FILE --version V --output FILE`: make an update file (the build
//!   machine's side): a manifest (version, size, SHA-256) with its HMAC-SHA-256, then the
//!   squashfs ([`manifest`]).
//! - `apply FILE`: check the file completely (HMAC with the box's update key, size, SHA-256)
//!   before anything is written; write the slot not running, read it back; mark it to be tried
//!   once; reboot.
//! - `commit`: on a trial boot, once the agent has answered and heard its peers for
//!   COMMIT_STABLE_MS, make the running slot the committed one (`/usr/sbin/ha-update-commit` runs it at every boot, and
//!   reboots to the committed slot when the trial does not get there in time).
//! - `status`: the slots, their releases, which one booted, which one is committed.
//! - `repair`: the environment block's two copies made equal (init runs it at every boot from
//!   a slot: a later torn write then falls back one step, never further).
//!
//! Pure parts: [`grubenv`] (the block's format), [`manifest`] (the update file's header),
//! [`plan`] (every decision). [`device`] is the I/O edge. This module only sequences them and
//! prints. The data partition is never opened.

#![forbid(unsafe_code)]

pub mod device;
pub mod grubenv;
pub mod manifest;
pub mod plan;

use std::path::Path;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use crate::cli::{EXIT_OK, EXIT_REFUSED, EXIT_TIMEOUT, EXIT_USAGE};
use plan::{Commit, Slot, Slots};

/// The update key on the data partition (through /etc/ha-agent): hex, like the cluster key.
pub const DEFAULT_KEY_PATH: &str = "/etc/ha-agent/update.key";
/// How often `commit --wait` asks the agent.
pub const COMMIT_POLL_MS: u64 = 1000;
/// A trial commits only after the agent was ready (and heard its peers) at every poll for this
/// long: three times the default watchdog timeout (10 s), so that an agent that arms the
/// watchdog and then hangs is reset by it, not committed.
pub const COMMIT_STABLE_MS: u64 = 30_000;
/// The running release (written by the image's build).
pub const IMAGE_INFO_PATH: &str = "/etc/ha-image";

/// The options of `ha-agent update` (from the command table's parse).
#[derive(Default)]
pub struct Options<'a> {
    pub key: Option<&'a str>,
    pub version: Option<&'a str>,
    pub output: Option<&'a str>,
    pub no_reboot: bool,
    /// `commit --wait`: seconds to wait for the agent to be ready and to hear its peers.
    pub wait_s: Option<u64>,
    pub no_peers: bool,
}

const WHO: &str = "ha-agent update";

fn refused(what: &str, why: impl std::fmt::Display) -> i32 {
    eprintln!("{WHO} {what}: refused: {why}");
    EXIT_REFUSED
}

fn load_key(o: &Options) -> Result<Vec<u8>, String> {
    let path = o.key.unwrap_or(DEFAULT_KEY_PATH);
    crate::config::load_key(Path::new(path))
        .map(|k| k.0.to_vec())
        .map_err(|p| format!("update key {path}: {}", p.message))
}

fn booted() -> Result<Slot, String> {
    let cmdline = std::fs::read_to_string("/proc/cmdline").map_err(|e| format!("/proc/cmdline: {e}"))?;
    plan::booted_slot(&cmdline).ok_or_else(|| {
        "this system did not boot from a root slot (no ha.slot= on the kernel command line)".into()
    })
}

/// `ha-agent update ACTION [FILE]`; `status` gets the agent's status document (for `commit`).
pub fn main(
    operands: &[String],
    o: &Options,
    status: &mut dyn FnMut() -> Result<serde_json::Value, String>,
) -> i32 {
    let file = operands.get(1).map(String::as_str);
    match (operands.first().map(String::as_str), file) {
        (Some("status"), None) => status_main(),
        (Some("apply"), Some(f)) => apply_main(Path::new(f), o),
        (Some("commit"), None) => commit_main(o, status),
        (Some("repair"), None) => repair_main(),
        (Some("pack"), Some(f)) => pack_main(Path::new(f), o),
        _ => {
            eprintln!("{WHO}: usage: update status | update apply FILE | update commit [--wait[=SECONDS]] [--no-peers] | update repair | update pack SQUASHFS --key FILE --version V --output FILE");
            EXIT_USAGE
        }
    }
}

fn status_main() -> i32 {
    let booted = booted().ok();
    let esp = match device::Esp::mount() {
        Ok(e) => e,
        Err(e) => return refused("status", e),
    };
    let (which, slots) = match esp
        .read_env_copy()
        .and_then(|(which, env)| Slots::from_env(&env).map(|s| (which, s)).map_err(|e| e.to_string()))
    {
        Ok(s) => s,
        Err(e) => return refused("status", e),
    };
    match which {
        grubenv::Which::Primary => {}
        grubenv::Which::Backup => println!(
            "environment block: {} is torn; read its copy {} (the next update or commit rewrites both)",
            device::GRUBENV_PATH,
            device::GRUBENV_BACKUP_PATH
        ),
        grubenv::Which::Unsealed => println!(
            "environment block: {} has no seal (a disk made before its second copy); the next update or commit seals both",
            device::GRUBENV_PATH
        ),
    }
    if let Ok(info) = std::fs::read_to_string(IMAGE_INFO_PATH) {
        if let Some(v) = info.lines().find_map(|l| l.strip_prefix("VERSION=")) {
            println!("running release: {v}");
        }
    }
    for line in plan::describe(&slots, booted) {
        println!("{line}");
    }
    EXIT_OK
}

/// `update repair`: the environment block's two copies made equal; silent when they were.
fn repair_main() -> i32 {
    let esp = match device::Esp::mount() {
        Ok(e) => e,
        Err(e) => return refused("repair", e),
    };
    match esp.repair_env() {
        Ok(None) => EXIT_OK,
        Ok(Some(written)) => {
            println!("update: environment block: {written} rewritten from the copy GRUB believes");
            EXIT_OK
        }
        Err(e) => refused("repair", e),
    }
}

fn apply_main(path: &Path, o: &Options) -> i32 {
    // Everything about the file first: nothing is written to a refused file's account.
    let key = match load_key(o) {
        Ok(k) => k,
        Err(e) => return refused("apply", e),
    };
    let mut checked = match device::check_file(path, &key) {
        Ok(c) => c,
        Err(e) => return refused("apply", format!("{}: {e}", path.display())),
    };
    let m = checked.header.manifest.clone();
    println!(
        "update: {} checked: release {}, {} bytes, SHA-256 {}",
        path.display(),
        m.version,
        m.size_bytes,
        m.sha256_hex()
    );
    let booted = match booted() {
        Ok(b) => b,
        Err(e) => return refused("apply", e),
    };
    let esp = match device::Esp::mount() {
        Ok(e) => e,
        Err(e) => return refused("apply", e),
    };
    let slots = match esp.read_env().and_then(|env| Slots::from_env(&env).map_err(|e| e.to_string())) {
        Ok(s) => s,
        Err(e) => return refused("apply", e),
    };
    let target = match plan::target(&slots, booted) {
        Ok(t) => t,
        Err(r) => return refused("apply", r),
    };
    let dev = match device::partition_by_name(target.partname()) {
        Ok(d) => d,
        Err(e) => return refused("apply", e),
    };
    match device::partition_size_bytes(&dev) {
        Ok(size) if size >= m.size_bytes => {}
        Ok(size) => {
            return refused(
                "apply",
                format!(
                    "slot {} ({}) holds {size} bytes, the release needs {}",
                    target.letter(),
                    dev.display(),
                    m.size_bytes
                ),
            )
        }
        Err(e) => return refused("apply", e),
    }
    if device::is_mounted(&dev) {
        return refused("apply", format!("{} (slot {}) is mounted", dev.display(), target.letter()));
    }
    // From here on the slot is written: first the block forgets it (a power cut leaves the
    // committed slot the only one GRUB boots).
    let mut env = match esp.read_env() {
        Ok(e) => e,
        Err(e) => return refused("apply", e),
    };
    let before = plan::before_write(&slots, target);
    before.to_env(&mut env);
    if let Err(e) = esp.write_env(&env) {
        return refused("apply", e);
    }
    println!("update: writing slot {} ({}) with release {}", target.letter(), dev.display(), m.version);
    let mut progress =
        |done: u64, total: u64| println!("update: slot {}: {done} of {total} MiB written", target.letter());
    if let Err(e) = device::write_slot(&mut checked, &dev, &mut progress) {
        eprintln!(
            "{WHO} apply: failed: {e}; slot {} holds no release, slot {} stays committed",
            target.letter(),
            slots.committed.letter()
        );
        return EXIT_REFUSED;
    }
    let after = plan::after_write(&before, target, &m.version);
    after.to_env(&mut env);
    if let Err(e) = esp.write_env(&env) {
        return refused("apply", e);
    }
    drop(esp);
    println!(
        "update: slot {} holds release {} (read back); it is tried once at the next boot, slot {} stays committed until then",
        target.letter(),
        m.version,
        slots.committed.letter()
    );
    if o.no_reboot {
        println!("update: --no-reboot: reboot to try it");
        return EXIT_OK;
    }
    println!("update: rebooting");
    match device::reboot() {
        Ok(()) => EXIT_OK,
        Err(e) => refused("apply", e),
    }
}

fn commit_main(o: &Options, status: &mut dyn FnMut() -> Result<serde_json::Value, String>) -> i32 {
    let booted = match booted() {
        Ok(b) => b,
        Err(e) => return refused("commit", e),
    };
    let slots = match device::Esp::mount()
        .and_then(|esp| esp.read_env())
        .and_then(|env| Slots::from_env(&env).map_err(|e| e.to_string()))
    {
        Ok(s) => s,
        Err(e) => return refused("commit", e),
    };
    match plan::commit(&slots, booted) {
        Err(r) => return refused("commit", r),
        Ok(Commit::Nothing) => {
            println!("update: slot {} is committed; nothing on trial", booted.letter());
            return EXIT_OK;
        }
        Ok(Commit::Commit(_)) => {}
    }
    // On trial: wait (bounded) for the agent to be ready and to have heard its peers, at every
    // poll for COMMIT_STABLE_MS.
    let start = Instant::now();
    let deadline = start + Duration::from_secs(o.wait_s.unwrap_or(0));
    let stable = Duration::from_millis(COMMIT_STABLE_MS);
    let mut ready_since: Option<Instant> = None;
    loop {
        let now = Instant::now();
        let last = match status().and_then(|s| plan::ready_for_commit(&s, !o.no_peers)) {
            Ok(()) => {
                let since = *ready_since.get_or_insert(now);
                if now.duration_since(since) >= stable {
                    println!(
                        "update: the agent was ready{} for {} s",
                        if o.no_peers { "" } else { " and heard its peers" },
                        stable.as_secs()
                    );
                    break;
                }
                format!(
                    "ready for {} s of the {} s asked",
                    now.duration_since(since).as_secs(),
                    stable.as_secs()
                )
            }
            Err(why) => {
                ready_since = None;
                why
            }
        };
        if now >= deadline {
            eprintln!(
                "{WHO} commit: slot {} not committed after {} s: {last}",
                booted.letter(),
                now.duration_since(start).as_secs()
            );
            return EXIT_TIMEOUT;
        }
        std::thread::sleep(Duration::from_millis(COMMIT_POLL_MS));
    }
    // Read the block again: it is written from what it says now.
    let esp = match device::Esp::mount() {
        Ok(e) => e,
        Err(e) => return refused("commit", e),
    };
    let mut env = match esp.read_env() {
        Ok(e) => e,
        Err(e) => return refused("commit", e),
    };
    let slots = match Slots::from_env(&env) {
        Ok(s) => s,
        Err(e) => return refused("commit", e),
    };
    match plan::commit(&slots, booted) {
        Err(r) => refused("commit", r),
        Ok(Commit::Nothing) => EXIT_OK,
        Ok(Commit::Commit(done)) => {
            done.to_env(&mut env);
            if let Err(e) = esp.write_env(&env) {
                return refused("commit", e);
            }
            println!(
                "update: slot {} committed (release {})",
                booted.letter(),
                done.version(booted).unwrap_or("unknown")
            );
            EXIT_OK
        }
    }
}

fn pack_main(squashfs: &Path, o: &Options) -> i32 {
    let (Some(version), Some(output)) = (o.version, o.output) else {
        eprintln!("{WHO} pack: --version and --output are required");
        return EXIT_USAGE;
    };
    if !manifest::valid_version(version) {
        eprintln!(
            "{WHO} pack: --version {version:?}: 1 to {} of A-Z a-z 0-9 . _ + -",
            manifest::MAX_VERSION_BYTES
        );
        return EXIT_USAGE;
    }
    let key = match o.key {
        Some(_) => match load_key(o) {
            Ok(k) => k,
            Err(e) => return refused("pack", e),
        },
        None => {
            eprintln!("{WHO} pack: --key is required");
            return EXIT_USAGE;
        }
    };
    let payload = match std::fs::read(squashfs) {
        Ok(p) => p,
        Err(e) => return refused("pack", format!("{}: {e}", squashfs.display())),
    };
    if !payload.starts_with(b"hsqs") {
        return refused("pack", format!("{} is not a squashfs", squashfs.display()));
    }
    let m = manifest::Manifest {
        version: version.to_string(),
        size_bytes: payload.len() as u64,
        sha256: Sha256::digest(&payload).into(),
    };
    let mut out = m.encode(&key);
    out.extend_from_slice(&payload);
    if let Err(e) = std::fs::write(output, &out) {
        return refused("pack", format!("{output}: {e}"));
    }
    println!(
        "update: {output}: release {version}, {} bytes of slot image, SHA-256 {}",
        m.size_bytes,
        m.sha256_hex()
    );
    EXIT_OK
}
