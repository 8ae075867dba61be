//! Durable state of the shell: the boot counter, written with the full durable discipline
//! (write a temporary file, fsync it, rename it over the old one, fsync the directory).
//!
//! Owns the file format (one decimal number and a newline) and the write discipline; it does
//! not decide what the counter means (the wire and the core do).

#![forbid(unsafe_code)]

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// Name of the boot counter file in the state directory.
pub const BOOT_FILE: &str = "boot";
/// Bound on the boot counter file's size.
const MAX_BOOT_FILE_BYTES: u64 = 64;

/// Write `bytes` to `dir/name` durably: after this returns, a power cut leaves either the old
/// or the new content, never a mix.
pub fn write_durable(dir: &Path, name: &str, bytes: &[u8]) -> io::Result<()> {
    let tmp = dir.join(format!(".{name}.tmp"));
    let final_path = dir.join(name);
    {
        let mut f = OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    fs::rename(&tmp, &final_path)?;
    File::open(dir)?.sync_all()?;
    Ok(())
}

/// Read the stored counter, if any. A corrupt file is reported as `Ok(None)` with a warning:
/// the wall-clock floor below still yields a higher counter.
fn read_boot(dir: &Path) -> io::Result<Option<u64>> {
    let path = dir.join(BOOT_FILE);
    let file = match File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let mut text = String::new();
    file.take(MAX_BOOT_FILE_BYTES).read_to_string(&mut text)?;
    match text.trim().parse::<u64>() {
        Ok(n) => Ok(Some(n)),
        Err(_) => {
            log::warn!("{}: not a boot counter, starting from the clock floor", path.display());
            Ok(None)
        }
    }
}

/// Compute, store durably and return this start's boot counter: one more than the stored
/// value, and never less than the wall clock in seconds. The floor keeps the counter rising
/// even when the state partition was lost or replaced (peers reject a lower counter as a
/// replay); the wall clock is used only for this floor, never for timing.
pub fn next_boot(dir: &Path, wall_clock_secs: u64) -> io::Result<u64> {
    fs::create_dir_all(dir)?;
    let stored = read_boot(dir)?;
    let next = stored.map_or(1, |n| n.saturating_add(1)).max(wall_clock_secs).max(1);
    assert!(stored.is_none_or(|s| next > s) || next == u64::MAX);
    write_durable(dir, BOOT_FILE, format!("{next}\n").as_bytes())?;
    Ok(next)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tempdir(name: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("ha-state-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn boot_counter_rises_and_survives_restarts() {
        let d = tempdir("rise");
        assert_eq!(next_boot(&d, 0).unwrap(), 1);
        assert_eq!(next_boot(&d, 0).unwrap(), 2);
        assert_eq!(fs::read_to_string(d.join(BOOT_FILE)).unwrap(), "2\n");
        // The wall clock is a floor, and the counter never goes back below the stored value.
        assert_eq!(next_boot(&d, 1000).unwrap(), 1000);
        assert_eq!(next_boot(&d, 10).unwrap(), 1001);
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn corrupt_or_lost_counter_still_rises_above_the_clock_floor() {
        let d = tempdir("corrupt");
        fs::create_dir_all(&d).unwrap();
        fs::write(d.join(BOOT_FILE), "garbage").unwrap();
        assert_eq!(next_boot(&d, 5000).unwrap(), 5000);
        assert!(!d.join(".boot.tmp").exists());
        fs::remove_dir_all(&d).unwrap();
    }
}
