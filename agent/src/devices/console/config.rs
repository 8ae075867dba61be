//! The `[array]` TOML section: which controller dialect, which serial port, how often to poll.
//!
//! Owns the serde structure, its defaults and its validation (every problem written at its
//! typed key path to a [`Sink`]), and turning a valid section into [`SessionOptions`]
//! (reading the password file, bounded). It opens no port; the configuration loader
//! deserializes the section and runs [`ArrayConfig::validate`]. The reference is docs/array.md.

#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::problem::{Found, KeyPath, Sink};

use super::session::{SessionOptions, MAX_TX_BYTES};
use super::DialectKind;

/// Standard serial speeds accepted for controller consoles.
pub const BAUD_RATES: [u32; 8] = [1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200];
pub const POLL_INTERVAL_MS_MIN: u64 = 100;
pub const POLL_INTERVAL_MS_MAX: u64 = 3_600_000;
pub const COMMAND_TIMEOUT_MS_MIN: u64 = 50;
/// Bound on the password (it is sent as one console line).
pub const MAX_PASSWORD_BYTES: usize = 64;
const _: () = assert!(MAX_PASSWORD_BYTES + 16 < MAX_TX_BYTES);

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArrayConfig {
    pub dialect: DialectKind,
    /// The controller's console port, e.g. `/dev/ttyS1`.
    pub device: PathBuf,
    #[serde(default = "default_baud")]
    pub baud: u32,
    /// A file holding the console password (first line, without the newline). Optional.
    pub password_file: Option<PathBuf>,
    #[serde(default = "default_poll_interval_ms")]
    pub poll_interval_ms: u64,
    #[serde(default = "default_command_timeout_ms")]
    pub command_timeout_ms: u64,
}

fn default_baud() -> u32 {
    115200
}
fn default_poll_interval_ms() -> u64 {
    10_000
}
fn default_command_timeout_ms() -> u64 {
    5_000
}

impl ArrayConfig {
    /// Writes every problem, each at its key (`array.baud`), to `sink`.
    pub fn validate(&self, sink: &mut dyn Sink) {
        let mut problem = |key: &str, message: String| {
            sink.found(Found::bad_value(
                KeyPath::root("array").key(key),
                message,
                "see docs/array.md for the keys of [array]",
            ));
        };
        if self.device.as_os_str().is_empty() {
            problem("device", "must name the controller's serial port".into());
        }
        if !BAUD_RATES.contains(&self.baud) {
            problem("baud", format!("{} is not one of {BAUD_RATES:?}", self.baud));
        }
        if !(POLL_INTERVAL_MS_MIN..=POLL_INTERVAL_MS_MAX).contains(&self.poll_interval_ms) {
            problem(
                "poll_interval_ms",
                format!("{} outside {POLL_INTERVAL_MS_MIN}..={POLL_INTERVAL_MS_MAX}", self.poll_interval_ms),
            );
        }
        if self.command_timeout_ms < COMMAND_TIMEOUT_MS_MIN || self.command_timeout_ms > self.poll_interval_ms
        {
            problem(
                "command_timeout_ms",
                format!(
                    "{} must be at least {COMMAND_TIMEOUT_MS_MIN} and at most poll_interval_ms",
                    self.command_timeout_ms
                ),
            );
        }
    }

    /// Session options, with the password read from `password_file`.
    pub fn session_options(&self) -> Result<SessionOptions, String> {
        let password = match &self.password_file {
            Some(path) => Some(read_password(path)?),
            None => None,
        };
        Ok(SessionOptions {
            poll_interval_ms: self.poll_interval_ms,
            command_timeout_ms: self.command_timeout_ms,
            password,
        })
    }
}

/// The first line of `path`, bounded, printable ASCII only (it is typed on a console).
pub fn read_password(path: &Path) -> Result<String, String> {
    use std::io::Read;
    let file =
        std::fs::File::open(path).map_err(|e| format!("array.password_file: {}: {e}", path.display()))?;
    let mut bytes = Vec::new();
    file.take(MAX_PASSWORD_BYTES as u64 + 2)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("array.password_file: {}: {e}", path.display()))?;
    let line = bytes.split(|&b| b == b'\n').next().unwrap_or(&[]);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if line.is_empty() || line.len() > MAX_PASSWORD_BYTES || !line.iter().all(|b| (0x21..=0x7e).contains(b)) {
        return Err(format!(
            "array.password_file: {}: must hold 1 to {MAX_PASSWORD_BYTES} printable ASCII characters without spaces",
            path.display()
        ));
    }
    Ok(String::from_utf8_lossy(line).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_with_defaults_and_validates() {
        let c: ArrayConfig = toml::from_str("dialect = \"megacli\"\ndevice = \"/dev/ttyS1\"\n").unwrap();
        assert_eq!(
            (c.dialect, c.baud, c.poll_interval_ms, c.command_timeout_ms),
            (DialectKind::Megacli, 115200, 10_000, 5_000)
        );
        let mut found = Vec::new();
        c.validate(&mut found);
        assert!(found.is_empty());
        let bad: ArrayConfig =
            toml::from_str("dialect = \"areca\"\ndevice = \"\"\nbaud = 12345\npoll_interval_ms = 1000\ncommand_timeout_ms = 2000\n")
                .unwrap();
        let mut problems = Vec::new();
        bad.validate(&mut problems);
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert!(toml::from_str::<ArrayConfig>("dialect = \"adaptec\"\ndevice = \"/dev/x\"\n").is_err());
        assert!(
            toml::from_str::<ArrayConfig>("dialect = \"areca\"\ndevice = \"/dev/x\"\nspeed = 1\n").is_err()
        );
    }

    #[test]
    fn password_file() {
        let dir = std::env::temp_dir().join(format!("ha-array-pw-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let good = dir.join("good");
        std::fs::write(&good, "0000\n").unwrap();
        assert_eq!(read_password(&good).unwrap(), "0000");
        let bad = dir.join("bad");
        std::fs::write(&bad, "pass word\n").unwrap();
        assert!(read_password(&bad).is_err());
        std::fs::write(&bad, "x".repeat(200)).unwrap();
        assert!(read_password(&bad).is_err());
        assert!(read_password(&dir.join("missing")).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
