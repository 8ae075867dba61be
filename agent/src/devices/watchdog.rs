//! The hardware watchdog: the last line of self-fencing. If the agent hangs, or decides it
//! must fence itself and stops feeding, the hardware resets the machine.
//!
//! Owns opening the device (exactly one owner: the kernel refuses a second open with EBUSY,
//! reported as [`WatchdogError::AlreadyOwned`]), identifying it (GETSUPPORT), setting the
//! timeout and keeping the value the driver returns, reading the boot status (CARDRESET: the
//! last reset came from the watchdog), finding out whether it is `nowayout`, feeding it,
//! and the magic close on an orderly stop. The device is behind the small
//! [`WatchdogDevice`] trait so that everything but the ioctls is tested without hardware.
//! The [`decide`] feed policy (rule N3) is pure and lives in `ha_core::watchdog`, re-exported
//! here.
//!
//! It does not decide when to self-fence (the core does) and does not read the clock: the shell
//! passes `now` and the health timestamps.

#![forbid(unsafe_code)]

use std::fmt;
use std::fs::OpenOptions;
use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

pub use ha_core::watchdog::*;

use crate::devices::ioctl;

pub const DEFAULT_DEVICE: &str = "/dev/watchdog";

// Option and status bits (include/uapi/linux/watchdog.h).
pub const WDIOF_OVERHEAT: u32 = 0x0001;
pub const WDIOF_FANFAULT: u32 = 0x0002;
pub const WDIOF_EXTERN1: u32 = 0x0004;
pub const WDIOF_EXTERN2: u32 = 0x0008;
pub const WDIOF_POWERUNDER: u32 = 0x0010;
pub const WDIOF_CARDRESET: u32 = 0x0020;
pub const WDIOF_POWEROVER: u32 = 0x0040;
pub const WDIOF_SETTIMEOUT: u32 = 0x0080;
pub const WDIOF_MAGICCLOSE: u32 = 0x0100;
pub const WDIOF_PRETIMEOUT: u32 = 0x0200;
pub const WDIOF_ALARMONLY: u32 = 0x0400;
pub const WDIOF_KEEPALIVEPING: u32 = 0x8000;
/// The magic character that disarms the watchdog on close.
pub const MAGIC_CLOSE_BYTE: u8 = b'V';
/// Accepted range of configured timeouts.
pub const TIMEOUT_S_MIN: u32 = 1;
pub const TIMEOUT_S_MAX: u32 = 600;

/// What GETSUPPORT says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    pub identity: String,
    pub firmware_version: u32,
    pub options: u32,
}

/// The operations on an open watchdog device.
pub trait WatchdogDevice {
    fn get_support(&mut self) -> io::Result<Identity>;
    fn get_boot_status(&mut self) -> io::Result<u32>;
    /// Returns the timeout the driver actually set.
    fn set_timeout(&mut self, timeout_s: u32) -> io::Result<u32>;
    fn get_timeout(&mut self) -> io::Result<u32>;
    fn keepalive(&mut self) -> io::Result<()>;
    /// Write the magic close character (the close itself is dropping the device).
    fn write_magic(&mut self) -> io::Result<()>;
    /// Seconds until the reset (GETTIMELEFT); not every driver has it.
    fn get_time_left(&mut self) -> io::Result<u32> {
        Err(io::Error::from(io::ErrorKind::Unsupported))
    }
}

#[derive(Debug)]
pub enum WatchdogError {
    /// Another process owns the watchdog (EBUSY). Only one owner may exist.
    AlreadyOwned(PathBuf),
    NotFound(PathBuf),
    Io {
        what: &'static str,
        path: PathBuf,
        error: io::Error,
    },
}

impl fmt::Display for WatchdogError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WatchdogError::AlreadyOwned(p) => write!(
                f,
                "{}: already open by another process (EBUSY); exactly one owner may feed the watchdog \
                 (is a second agent or a watchdog daemon running?)",
                p.display()
            ),
            WatchdogError::NotFound(p) => {
                write!(f, "{}: no such watchdog device (is the driver loaded?)", p.display())
            }
            WatchdogError::Io { what, path, error } => write!(f, "{}: {what}: {error}", path.display()),
        }
    }
}

impl std::error::Error for WatchdogError {}

/// `/dev/watchdog*` through the kernel's ioctls.
pub struct LinuxWatchdog {
    fd: OwnedFd,
}

impl LinuxWatchdog {
    /// Open the device. This starts the watchdog: from here on it must be fed.
    pub fn open(path: &Path) -> Result<LinuxWatchdog, WatchdogError> {
        match OpenOptions::new().write(true).custom_flags(libc::O_CLOEXEC).open(path) {
            Ok(f) => Ok(LinuxWatchdog { fd: OwnedFd::from(f) }),
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {
                Err(WatchdogError::AlreadyOwned(path.to_path_buf()))
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Err(WatchdogError::NotFound(path.to_path_buf())),
            Err(error) => Err(WatchdogError::Io { what: "open", path: path.to_path_buf(), error }),
        }
    }
}

/// The identity string of GETSUPPORT: NUL-terminated, untrusted.
pub fn identity_from_bytes(bytes: &[u8]) -> String {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    String::from_utf8_lossy(&bytes[..end]).trim().to_string()
}

impl WatchdogDevice for LinuxWatchdog {
    fn get_support(&mut self) -> io::Result<Identity> {
        let info = ioctl::wdioc_getsupport(&self.fd)?;
        Ok(Identity {
            identity: identity_from_bytes(&info.identity),
            firmware_version: info.firmware_version,
            options: info.options,
        })
    }
    fn get_boot_status(&mut self) -> io::Result<u32> {
        ioctl::wdioc_getbootstatus(&self.fd)
    }
    fn set_timeout(&mut self, timeout_s: u32) -> io::Result<u32> {
        ioctl::wdioc_settimeout(&self.fd, timeout_s)
    }
    fn get_timeout(&mut self) -> io::Result<u32> {
        ioctl::wdioc_gettimeout(&self.fd)
    }
    fn keepalive(&mut self) -> io::Result<()> {
        ioctl::wdioc_keepalive(&self.fd)
    }
    fn get_time_left(&mut self) -> io::Result<u32> {
        ioctl::wdioc_gettimeleft(&self.fd)
    }
    fn write_magic(&mut self) -> io::Result<()> {
        let n = rustix::io::write(&self.fd, &[MAGIC_CLOSE_BYTE])?;
        if n == 1 {
            Ok(())
        } else {
            Err(io::Error::from(io::ErrorKind::WriteZero))
        }
    }
}

/// What arming found; logged at start and advertised to the witness (`timeout_s`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArmedReport {
    pub identity: Identity,
    pub requested_timeout_s: u32,
    /// The timeout the driver really uses: the one to advertise and to plan with.
    pub timeout_s: u32,
    pub boot_status: u32,
    /// `None` when the sysfs files that tell are absent.
    pub nowayout: Option<bool>,
}

impl ArmedReport {
    pub fn last_reset_by_watchdog(&self) -> bool {
        self.boot_status & WDIOF_CARDRESET != 0
    }
    pub fn magic_close_supported(&self) -> bool {
        self.identity.options & WDIOF_MAGICCLOSE != 0
    }

    /// Lines for the log, most important first.
    pub fn messages(&self) -> Vec<String> {
        let mut m = vec![format!(
            "watchdog {:?} (firmware {}, options {:#06x}) armed with timeout {} s",
            self.identity.identity, self.identity.firmware_version, self.identity.options, self.timeout_s
        )];
        if self.timeout_s != self.requested_timeout_s {
            m.push(format!(
                "watchdog: asked for {} s, the driver set {} s; using {} s",
                self.requested_timeout_s, self.timeout_s, self.timeout_s
            ));
        }
        if self.last_reset_by_watchdog() {
            m.push("watchdog: THE LAST RESET CAME FROM THE WATCHDOG (boot status CARDRESET)".into());
        }
        match self.nowayout {
            Some(true) => m.push(
                "watchdog: WARNING: nowayout is set: the watchdog cannot be disarmed, even by an orderly \
                 stop; stopping the agent resets this machine within the timeout"
                    .into(),
            ),
            Some(false) if !self.magic_close_supported() => {
                m.push("watchdog: the driver does not announce magic close; closing it stops it".into())
            }
            Some(false) => {}
            None => {
                m.push("watchdog: cannot tell whether nowayout is set (no sysfs entry); assume it is".into())
            }
        }
        m
    }
}

/// How an orderly stop ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StopOutcome {
    /// Magic close written; the driver disarms on close.
    Disarmed,
    /// The watchdog keeps running: the machine resets within the timeout unless a new owner
    /// opens it and feeds it.
    LeftArmed(String),
}

/// An armed watchdog and what arming found.
pub struct Watchdog<D: WatchdogDevice> {
    device: D,
    report: ArmedReport,
}

impl<D: WatchdogDevice> Watchdog<D> {
    /// Arm an open device: identify it, read the boot status, set the timeout (when the driver
    /// allows it) and keep what the driver returns, then feed it once.
    pub fn arm(mut device: D, requested_timeout_s: u32, nowayout: Option<bool>) -> io::Result<Watchdog<D>> {
        assert!((TIMEOUT_S_MIN..=TIMEOUT_S_MAX).contains(&requested_timeout_s));
        let identity = device.get_support()?;
        let boot_status = device.get_boot_status().unwrap_or(0);
        let timeout_s = if identity.options & WDIOF_SETTIMEOUT != 0 {
            device.set_timeout(requested_timeout_s)?
        } else {
            device.get_timeout()?
        };
        if timeout_s == 0 {
            return Err(io::Error::other("watchdog driver reports a timeout of 0 s"));
        }
        device.keepalive()?;
        Ok(Watchdog {
            device,
            report: ArmedReport { identity, requested_timeout_s, timeout_s, boot_status, nowayout },
        })
    }

    pub fn report(&self) -> &ArmedReport {
        &self.report
    }

    pub fn feed(&mut self) -> io::Result<()> {
        self.device.keepalive()
    }

    /// Seconds until the hardware resets the machine, where the driver tells.
    pub fn time_left_s(&mut self) -> Option<u32> {
        self.device.get_time_left().ok()
    }

    /// Orderly stop: write the magic character where that disarms it, then close.
    pub fn stop(mut self) -> StopOutcome {
        if self.report.nowayout == Some(true) {
            return StopOutcome::LeftArmed(format!(
                "nowayout: the watchdog stays armed; this machine resets within {} s",
                self.report.timeout_s
            ));
        }
        match self.device.write_magic() {
            Ok(()) if self.report.nowayout == Some(false) => StopOutcome::Disarmed,
            Ok(()) => StopOutcome::LeftArmed(format!(
                "magic close written, but nowayout is unknown: the machine may reset within {} s",
                self.report.timeout_s
            )),
            Err(e) => StopOutcome::LeftArmed(format!("magic close failed: {e}")),
        }
    }
}

/// Open and arm the device at `path`; `sysfs` is normally `/sys`.
pub fn open_and_arm(
    path: &Path,
    timeout_s: u32,
    sysfs: &Path,
) -> Result<Watchdog<LinuxWatchdog>, WatchdogError> {
    let device = LinuxWatchdog::open(path)?;
    let nowayout = read_nowayout(path, sysfs);
    Watchdog::arm(device, timeout_s, nowayout).map_err(|error| WatchdogError::Io {
        what: "arm",
        path: path.to_path_buf(),
        error,
    })
}

/// `Y`/`1` or `N`/`0`, as sysfs prints booleans and integers.
pub fn parse_nowayout(text: &str) -> Option<bool> {
    match text.trim() {
        "Y" | "y" | "1" => Some(true),
        "N" | "n" | "0" => Some(false),
        _ => None,
    }
}

/// Whether the watchdog at `device` is nowayout: first the watchdog core's own attribute
/// (`/sys/class/watchdog/watchdogN/nowayout`), then the driver module's parameter
/// (`/sys/module/<module>/parameters/nowayout`, found through the device's driver link).
/// `/dev/watchdog` is the legacy name of `watchdog0`.
pub fn read_nowayout(device: &Path, sysfs: &Path) -> Option<bool> {
    let resolved = std::fs::canonicalize(device).unwrap_or_else(|_| device.to_path_buf());
    let mut name = resolved.file_name()?.to_string_lossy().into_owned();
    if name == "watchdog" {
        name = "watchdog0".into();
    }
    let class = sysfs.join("class/watchdog").join(&name);
    if let Ok(text) = std::fs::read_to_string(class.join("nowayout")) {
        if let Some(v) = parse_nowayout(&text) {
            return Some(v);
        }
    }
    let module = std::fs::read_link(class.join("device/driver/module")).ok()?;
    let module = module.file_name()?;
    let text = std::fs::read_to_string(sysfs.join("module").join(module).join("parameters/nowayout")).ok()?;
    parse_nowayout(&text)
}

#[cfg(test)]
mod tests;
