//! The canonical array model every dialect maps onto: logical drives, physical disks and the
//! controller's environment (battery, temperatures, fans, power supplies).
//!
//! Owns the types, their bounds, the name helpers used in notifications and the rules shared
//! by every dialect (sensor thresholds, "a degraded drive with a rebuilding member is
//! rebuilding"). It does not parse controller output (the dialects do) and does not compare
//! two models (`core::array` does).

#![forbid(unsafe_code)]

use heapless::Vec;

/// Bound on logical drives per controller.
pub const MAX_LOGICAL_DRIVES: usize = 16;
/// Bound on physical disks (slots) per controller.
pub const MAX_DISKS: usize = 48;
/// Bound on environment sensors per controller.
pub const MAX_SENSORS: usize = 24;
/// Bound on a name (sensor, raid-group, reason) in bytes; longer names are truncated.
pub const MAX_NAME_BYTES: usize = 48;
/// A temperature at or above this raises an alarm (controller and enclosure sensors).
pub const TEMPERATURE_ALARM_C: i32 = 70;
/// A fan below this speed is stopped or failing.
pub const FAN_MIN_RPM: i32 = 500;
/// A battery charge below this percentage cannot hold the cache through an outage.
pub const BATTERY_MIN_PERCENT: i32 = 30;

/// A bounded name; [`name`] truncates on a character boundary.
pub type Name = heapless::String<MAX_NAME_BYTES>;

/// `text` as a [`Name`], truncated to [`MAX_NAME_BYTES`] on a character boundary.
pub fn name(text: &str) -> Name {
    let mut out = Name::new();
    for c in text.chars() {
        if out.push(c).is_err() {
            break;
        }
    }
    out
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RaidLevel {
    Raid0,
    Raid1,
    Raid1E,
    Raid5,
    Raid6,
    Raid10,
    Raid50,
    /// A level the canonical model does not name (RAID 3, 60, JBOD...).
    Other,
}

impl RaidLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            RaidLevel::Raid0 => "0",
            RaidLevel::Raid1 => "1",
            RaidLevel::Raid1E => "1E",
            RaidLevel::Raid5 => "5",
            RaidLevel::Raid6 => "6",
            RaidLevel::Raid10 => "10",
            RaidLevel::Raid50 => "50",
            RaidLevel::Other => "other",
        }
    }
    /// Parse a level written as `5`, `Raid5`, `RAID 5`, `Raid1+0`, `RAID10`, `1E` (any case).
    pub fn parse(text: &str) -> Option<RaidLevel> {
        let t = text.trim().to_ascii_lowercase();
        let t = t.strip_prefix("raid").unwrap_or(&t).trim_start_matches([' ', '-']);
        Some(match t {
            "0" => RaidLevel::Raid0,
            "1" => RaidLevel::Raid1,
            "1e" => RaidLevel::Raid1E,
            "5" => RaidLevel::Raid5,
            "6" => RaidLevel::Raid6,
            "10" | "1+0" => RaidLevel::Raid10,
            "50" | "5+0" => RaidLevel::Raid50,
            "3" | "30" | "60" | "6+0" | "jbod" => RaidLevel::Other,
            _ => return None,
        })
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DriveState {
    Optimal,
    Degraded,
    PartiallyDegraded,
    /// Rebuild progress, 0..=100.
    Rebuilding(u8),
    Initializing,
    Failed,
    Offline,
}

impl DriveState {
    pub fn label(self) -> String {
        match self {
            DriveState::Optimal => "optimal".into(),
            DriveState::Degraded => "degraded".into(),
            DriveState::PartiallyDegraded => "partially degraded".into(),
            DriveState::Rebuilding(p) => format!("rebuilding {p}%"),
            DriveState::Initializing => "initializing".into(),
            DriveState::Failed => "failed".into(),
            DriveState::Offline => "offline".into(),
        }
    }
    /// Degraded in any form (including while rebuilding): redundancy is reduced.
    pub fn is_degraded(self) -> bool {
        matches!(self, DriveState::Degraded | DriveState::PartiallyDegraded | DriveState::Rebuilding(_))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DiskState {
    Online,
    GlobalSpare,
    DedicatedSpare,
    Rebuilding,
    Failed,
    Missing,
    Unconfigured,
}

impl DiskState {
    pub fn as_str(self) -> &'static str {
        match self {
            DiskState::Online => "online",
            DiskState::GlobalSpare => "global spare",
            DiskState::DedicatedSpare => "dedicated spare",
            DiskState::Rebuilding => "rebuilding",
            DiskState::Failed => "failed",
            DiskState::Missing => "missing",
            DiskState::Unconfigured => "unconfigured",
        }
    }
    pub fn is_spare(self) -> bool {
        matches!(self, DiskState::GlobalSpare | DiskState::DedicatedSpare)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogicalDrive {
    /// The controller's number for the drive (Areca volume set, MegaCli VD, Infortrend LD).
    pub id: u16,
    pub level: RaidLevel,
    pub state: DriveState,
    /// The dialect's name of the disk group behind the drive, when it has one (Areca raid set),
    /// used to attribute disks to the drive.
    pub group: Name,
}

impl LogicalDrive {
    /// The drive's name in events and notifications.
    pub fn display_name(id: u16) -> Name {
        name(&format!("ld{id}"))
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Disk {
    pub enclosure: Option<u16>,
    pub slot: u16,
    pub state: DiskState,
    /// The logical drive this disk belongs to (or rebuilds / is dedicated to), when known.
    pub drive: Option<u16>,
    /// Rebuild progress of this disk when the controller reports it per disk.
    pub rebuild_percent: Option<u8>,
}

impl Disk {
    /// A disk's identity: enclosure (if any) and slot.
    pub fn key(&self) -> (Option<u16>, u16) {
        (self.enclosure, self.slot)
    }
    /// The disk's name in events and notifications: `e252/s3` or `s3`.
    pub fn display_name(key: (Option<u16>, u16)) -> Name {
        match key.0 {
            Some(e) => name(&format!("e{e}/s{}", key.1)),
            None => name(&format!("s{}", key.1)),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SensorKind {
    Battery,
    Temperature,
    Fan,
    PowerSupply,
}

impl SensorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SensorKind::Battery => "battery",
            SensorKind::Temperature => "temperature",
            SensorKind::Fan => "fan",
            SensorKind::PowerSupply => "power supply",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reading {
    Celsius(i32),
    Rpm(i32),
    Percent(i32),
    /// A status word (`OK`, `Optimal`, `Failed`, `Non Operational`...).
    Status(Name),
}

impl core::fmt::Display for Reading {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Reading::Celsius(c) => write!(f, "{c} C"),
            Reading::Rpm(r) => write!(f, "{r} RPM"),
            Reading::Percent(p) => write!(f, "{p}%"),
            Reading::Status(s) => write!(f, "{s}"),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sensor {
    pub kind: SensorKind,
    /// The controller's name for the sensor (`Controller Temp.`, `Fan#1`, `PSU 0`).
    pub name: Name,
    pub reading: Reading,
    /// Why the sensor is in alarm; `None` while it is fine.
    pub alarm: Option<Name>,
}

impl Sensor {
    /// A sensor whose alarm follows the shared thresholds ([`TEMPERATURE_ALARM_C`],
    /// [`FAN_MIN_RPM`], [`BATTERY_MIN_PERCENT`]) or, for a status word, whether the word says
    /// healthy.
    pub fn new(kind: SensorKind, sensor_name: &str, reading: Reading) -> Sensor {
        let alarm = match (&reading, kind) {
            (Reading::Celsius(c), _) if *c >= TEMPERATURE_ALARM_C => {
                Some(name(&format!("over temperature: {c} C")))
            }
            (Reading::Rpm(r), _) if *r < FAN_MIN_RPM => Some(name(&format!("fan stopped: {r} RPM"))),
            (Reading::Percent(p), SensorKind::Battery) if *p < BATTERY_MIN_PERCENT => {
                Some(name(&format!("battery low: {p}%")))
            }
            (Reading::Status(s), _) if !status_is_healthy(s) => {
                Some(name(&format!("{} {}", kind.as_str(), s)))
            }
            _ => None,
        };
        Sensor { kind, name: name(sensor_name), reading, alarm }
    }
}

/// Whether a controller's status word means "fine". Unknown words count as an alarm: an
/// operator would rather read one needless alarm than miss a failing battery.
pub fn status_is_healthy(word: &str) -> bool {
    let w = word.trim().to_ascii_lowercase();
    matches!(
        w.as_str(),
        "ok" | "good" | "optimal" | "normal" | "present" | "charged" | "charging" | "ready" | "on" | "no"
    )
}

/// One consistent reading of the whole controller.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ArrayModel {
    pub drives: Vec<LogicalDrive, MAX_LOGICAL_DRIVES>,
    pub disks: Vec<Disk, MAX_DISKS>,
    pub sensors: Vec<Sensor, MAX_SENSORS>,
    /// Rows that did not fit the bounds above (dropped, counted).
    pub overflow: u32,
}

impl ArrayModel {
    pub fn drive(&self, id: u16) -> Option<&LogicalDrive> {
        self.drives.iter().find(|d| d.id == id)
    }
    pub fn disk(&self, key: (Option<u16>, u16)) -> Option<&Disk> {
        self.disks.iter().find(|d| d.key() == key)
    }
    pub fn sensor(&self, sensor_name: &str) -> Option<&Sensor> {
        self.sensors.iter().find(|s| s.name == sensor_name)
    }

    /// Add or replace the drive with the same id.
    pub fn put_drive(&mut self, drive: LogicalDrive) {
        if let Some(d) = self.drives.iter_mut().find(|d| d.id == drive.id) {
            *d = drive;
        } else if self.drives.push(drive).is_err() {
            self.overflow += 1;
        }
    }
    /// Add the disk, or merge it into the one in the same slot (a known drive membership or
    /// rebuild percentage is kept when the new row does not say).
    pub fn put_disk(&mut self, disk: Disk) {
        if let Some(d) = self.disks.iter_mut().find(|d| d.key() == disk.key()) {
            d.state = disk.state;
            d.drive = disk.drive.or(d.drive);
            d.rebuild_percent = disk.rebuild_percent.or(d.rebuild_percent);
        } else if self.disks.push(disk).is_err() {
            self.overflow += 1;
        }
    }
    /// Add or replace the sensor with the same name.
    pub fn put_sensor(&mut self, sensor: Sensor) {
        if let Some(s) = self.sensors.iter_mut().find(|s| s.name == sensor.name) {
            *s = sensor;
        } else if self.sensors.push(sensor).is_err() {
            self.overflow += 1;
        }
    }

    /// Rules shared by every dialect, applied once the whole reading is in:
    /// - a degraded drive with a rebuilding member is `Rebuilding(p)` (p from the disk, else 0);
    /// - a single drive owns every disk that names no drive but is a member or rebuilding;
    /// - disks and drives are sorted by identity so that diffs and status are stable.
    pub fn normalize(&mut self) {
        if self.drives.len() == 1 {
            let id = self.drives[0].id;
            for d in self.disks.iter_mut() {
                if d.drive.is_none() && matches!(d.state, DiskState::Online | DiskState::Rebuilding) {
                    d.drive = Some(id);
                }
            }
        }
        for drive in self.drives.iter_mut() {
            if matches!(drive.state, DriveState::Degraded | DriveState::PartiallyDegraded) {
                let rebuilding =
                    self.disks.iter().find(|d| d.state == DiskState::Rebuilding && d.drive == Some(drive.id));
                if let Some(disk) = rebuilding {
                    drive.state = DriveState::Rebuilding(disk.rebuild_percent.unwrap_or(0).min(100));
                }
            }
            if let DriveState::Rebuilding(p) = drive.state {
                drive.state = DriveState::Rebuilding(p.min(100));
                // The controller's drive-level percentage is the better one; copy it down.
                for d in self.disks.iter_mut() {
                    if d.state == DiskState::Rebuilding
                        && d.drive == Some(drive.id)
                        && d.rebuild_percent.is_none()
                    {
                        d.rebuild_percent = Some(p.min(100));
                    }
                }
            }
        }
        self.drives.sort_unstable_by_key(|d| d.id);
        self.disks.sort_unstable_by_key(|d| d.key());
    }
}

/// Parse a leading integer of `text` (`"52 C"`, `"2170"`, `"100%"`, `"45.2%"` -> 45).
pub fn leading_int(text: &str) -> Option<i32> {
    let t = text.trim();
    let (negative, t) = match t.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, t),
    };
    let digits: &str = &t[..t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len())];
    if digits.is_empty() || digits.len() > 9 {
        return None;
    }
    let v: i32 = digits.parse().ok()?;
    Some(if negative { -v } else { v })
}

/// A percentage in `text` such as `(45.2%)`, `45%` or `Completed 4%`: the integer before the
/// first `%`, clamped to 100.
pub fn percent_in(text: &str) -> Option<u8> {
    let end = text.find('%')?;
    let before = &text[..end];
    let before = before.trim_end();
    // Skip a fractional part: "45.2" -> "45".
    let whole = match before.rfind('.') {
        Some(dot) if before[dot + 1..].chars().all(|c| c.is_ascii_digit()) => &before[..dot],
        _ => before,
    };
    let start = whole.rfind(|c: char| !c.is_ascii_digit()).map_or(0, |i| i + 1);
    let digits = &whole[start..];
    if digits.is_empty() || digits.len() > 3 {
        return None;
    }
    digits.parse::<u16>().ok().map(|p| p.min(100) as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_and_numbers() {
        assert_eq!(RaidLevel::parse("Raid5"), Some(RaidLevel::Raid5));
        assert_eq!(RaidLevel::parse("Raid1+0"), Some(RaidLevel::Raid10));
        assert_eq!(RaidLevel::parse("RAID 6"), Some(RaidLevel::Raid6));
        assert_eq!(RaidLevel::parse("banana"), None);
        assert_eq!(percent_in("Rebuilding(45.2%)"), Some(45));
        assert_eq!(percent_in("Completed 4% in 4 Minutes."), Some(4));
        assert_eq!(percent_in("no percent"), None);
        assert_eq!(percent_in("%"), None);
        assert_eq!(percent_in("250%"), Some(100));
        assert_eq!(leading_int(" 52 C"), Some(52));
        assert_eq!(leading_int("-3"), Some(-3));
        assert_eq!(leading_int("C"), None);
        assert_eq!(leading_int("99999999999"), None);
    }

    #[test]
    fn thresholds_and_status_words() {
        assert!(Sensor::new(SensorKind::Temperature, "t", Reading::Celsius(TEMPERATURE_ALARM_C))
            .alarm
            .is_some());
        assert!(Sensor::new(SensorKind::Temperature, "t", Reading::Celsius(40)).alarm.is_none());
        assert!(Sensor::new(SensorKind::Fan, "f", Reading::Rpm(0)).alarm.is_some());
        assert!(Sensor::new(SensorKind::Battery, "b", Reading::Percent(100)).alarm.is_none());
        assert!(Sensor::new(SensorKind::Battery, "b", Reading::Status(name("Non Operational")))
            .alarm
            .is_some());
        assert!(Sensor::new(SensorKind::PowerSupply, "p", Reading::Status(name("OK"))).alarm.is_none());
    }

    #[test]
    fn normalize_marks_degraded_drive_with_rebuilding_member() {
        let mut m = ArrayModel::default();
        m.put_drive(LogicalDrive {
            id: 0,
            level: RaidLevel::Raid5,
            state: DriveState::Degraded,
            group: Name::new(),
        });
        m.put_disk(Disk {
            enclosure: None,
            slot: 4,
            state: DiskState::Rebuilding,
            drive: None,
            rebuild_percent: Some(40),
        });
        m.put_disk(Disk {
            enclosure: None,
            slot: 1,
            state: DiskState::Online,
            drive: None,
            rebuild_percent: None,
        });
        m.normalize();
        assert_eq!(m.drives[0].state, DriveState::Rebuilding(40));
        assert_eq!(m.disks[0].slot, 1);
        assert_eq!(m.disks[1].drive, Some(0));
    }

    #[test]
    fn names_truncate_on_char_boundary() {
        let long = "é".repeat(100);
        let n = name(&long);
        assert!(n.len() <= MAX_NAME_BYTES && n.chars().all(|c| c == 'é'));
    }
}
