//! Watchdog arming, stop and the feed policy, without hardware.

use super::*;

#[derive(Default)]
struct FakeDevice {
    options: u32,
    boot_status: u32,
    /// The driver rounds or clamps: it returns this instead of the request.
    driver_timeout_s: Option<u32>,
    timeout_s: u32,
    keepalives: u32,
    magic: u32,
    fail_magic: bool,
}

impl WatchdogDevice for &mut FakeDevice {
    fn get_support(&mut self) -> io::Result<Identity> {
        Ok(Identity { identity: "i6300ESB timer".into(), firmware_version: 0, options: self.options })
    }
    fn get_boot_status(&mut self) -> io::Result<u32> {
        Ok(self.boot_status)
    }
    fn set_timeout(&mut self, timeout_s: u32) -> io::Result<u32> {
        self.timeout_s = self.driver_timeout_s.unwrap_or(timeout_s);
        Ok(self.timeout_s)
    }
    fn get_timeout(&mut self) -> io::Result<u32> {
        Ok(self.timeout_s)
    }
    fn keepalive(&mut self) -> io::Result<()> {
        self.keepalives += 1;
        Ok(())
    }
    fn write_magic(&mut self) -> io::Result<()> {
        if self.fail_magic {
            return Err(io::Error::from(io::ErrorKind::BrokenPipe));
        }
        self.magic += 1;
        Ok(())
    }
}

const FULL: u32 = WDIOF_SETTIMEOUT | WDIOF_MAGICCLOSE | WDIOF_KEEPALIVEPING;

#[test]
fn arm_uses_the_timeout_the_driver_returns_and_feeds_once() {
    let mut dev = FakeDevice { options: FULL, driver_timeout_s: Some(12), ..FakeDevice::default() };
    let wd = Watchdog::arm(&mut dev, 10, Some(false)).unwrap();
    assert_eq!(wd.report().timeout_s, 12);
    assert_eq!(wd.report().requested_timeout_s, 10);
    assert!(wd.report().messages().iter().any(|m| m.contains("asked for 10 s, the driver set 12 s")));
    assert!(!wd.report().last_reset_by_watchdog());
    drop(wd);
    assert_eq!(dev.keepalives, 1);
}

#[test]
fn without_settimeout_the_current_timeout_is_kept() {
    let mut dev = FakeDevice { options: WDIOF_MAGICCLOSE, timeout_s: 30, ..FakeDevice::default() };
    let wd = Watchdog::arm(&mut dev, 10, Some(false)).unwrap();
    assert_eq!(wd.report().timeout_s, 30);
}

#[test]
fn a_watchdog_reset_is_reported() {
    let mut dev = FakeDevice { options: FULL, boot_status: WDIOF_CARDRESET, ..FakeDevice::default() };
    let wd = Watchdog::arm(&mut dev, 10, Some(false)).unwrap();
    assert!(wd.report().last_reset_by_watchdog());
    assert!(wd.report().messages().iter().any(|m| m.contains("LAST RESET CAME FROM THE WATCHDOG")));
}

#[test]
fn orderly_stop_writes_magic_unless_nowayout() {
    let mut dev = FakeDevice { options: FULL, ..FakeDevice::default() };
    let wd = Watchdog::arm(&mut dev, 10, Some(false)).unwrap();
    assert_eq!(wd.stop(), StopOutcome::Disarmed);
    assert_eq!(dev.magic, 1);

    let mut dev = FakeDevice { options: FULL, ..FakeDevice::default() };
    let wd = Watchdog::arm(&mut dev, 10, Some(true)).unwrap();
    assert!(wd.report().messages().iter().any(|m| m.contains("WARNING: nowayout")));
    assert!(matches!(wd.stop(), StopOutcome::LeftArmed(m) if m.contains("resets within 10 s")));
    assert_eq!(dev.magic, 0, "no pointless magic close under nowayout");

    let mut dev = FakeDevice { options: FULL, fail_magic: true, ..FakeDevice::default() };
    let wd = Watchdog::arm(&mut dev, 10, None).unwrap();
    assert!(matches!(wd.stop(), StopOutcome::LeftArmed(m) if m.contains("magic close failed")));
}

#[test]
fn nowayout_is_read_from_the_watchdog_class_or_the_driver_module() {
    let dir = std::env::temp_dir().join(format!("ha-wd-sysfs-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let class = dir.join("class/watchdog/watchdog0");
    std::fs::create_dir_all(&class).unwrap();
    assert_eq!(read_nowayout(Path::new("/dev/watchdog"), &dir), None);
    // Module parameter through the driver link.
    std::fs::create_dir_all(dir.join("module/i6300esb/parameters")).unwrap();
    std::fs::write(dir.join("module/i6300esb/parameters/nowayout"), "Y\n").unwrap();
    std::fs::create_dir_all(class.join("device/driver")).unwrap();
    std::os::unix::fs::symlink(dir.join("module/i6300esb"), class.join("device/driver/module")).unwrap();
    assert_eq!(read_nowayout(Path::new("/dev/watchdog"), &dir), Some(true));
    // The core's own attribute wins.
    std::fs::write(class.join("nowayout"), "0\n").unwrap();
    assert_eq!(read_nowayout(Path::new("/dev/watchdog0"), &dir), Some(false));
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(parse_nowayout("maybe"), None);
}

#[test]
fn identity_bytes_are_untrusted() {
    let mut raw = [0u8; 32];
    raw[..9].copy_from_slice(b"Software ");
    raw[9] = b'W';
    assert_eq!(identity_from_bytes(&raw), "Software W");
    assert_eq!(identity_from_bytes(&[0xFF; 32]).chars().count(), 32);
}

#[test]
fn opening_a_missing_device_says_so() {
    let e = LinuxWatchdog::open(Path::new("/nonexistent/watchdog")).err().unwrap();
    assert!(matches!(e, WatchdogError::NotFound(_)), "{e}");
    let e = WatchdogError::AlreadyOwned("/dev/watchdog".into());
    assert!(e.to_string().contains("exactly one owner"));
}
