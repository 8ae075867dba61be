//! The Infortrend RAIDCmd-style dialect: prompt `RAIDCmd:> `, tables framed by lines of `-`,
//! every command ends with `CLI: Successful: N ... shown` and `Return: 0x0000` (another code is
//! a failure). The console may paint with VT100 escapes; the session strips them first.
//!
//! Owns the poll commands (`show ld`, `show disk`, `show enclosure`), their table parsers
//! (rows between the first and second `-` separator; multi-word states matched from a fixed
//! list), and the event pattern (`LG:0 Logical Drive NOTICE: ...`, `... ALERT: ...`). The exact
//! table layouts are unconfirmed (DEVICES.md); docs/array.md records the ones assumed here.

#![forbid(unsafe_code)]

use super::model::{
    leading_int, name, percent_in, ArrayModel, Disk, DiskState, DriveState, LogicalDrive, Name, RaidLevel,
    Reading, Sensor, SensorKind,
};
use super::{is_separator, Dialect, Marker, ParseStats};

pub struct Infortrend;

pub const COMMANDS: [&str; 3] = ["show ld", "show disk", "show enclosure"];
const CMD_LD: usize = 0;
const CMD_DISK: usize = 1;
const CMD_ENCLOSURE: usize = 2;

/// Disk states, longest first so that `Global Spare` wins over `Spare`.
const DISK_STATES: [(&str, DiskState); 12] = [
    ("rebuild in progress", DiskState::Rebuilding),
    ("missing drive", DiskState::Missing),
    ("failed drive", DiskState::Failed),
    ("global spare", DiskState::GlobalSpare),
    ("initializing", DiskState::Online),
    ("stand-by", DiskState::GlobalSpare),
    ("on-line", DiskState::Online),
    ("cloning", DiskState::Online),
    ("spare", DiskState::DedicatedSpare),
    ("used", DiskState::Unconfigured),
    ("new", DiskState::Unconfigured),
    ("none", DiskState::Unconfigured),
];

impl Dialect for Infortrend {
    fn name(&self) -> &'static str {
        "infortrend"
    }
    fn prompt(&self) -> &'static str {
        "RAIDCmd:> "
    }
    fn commands(&self) -> &'static [&'static str] {
        &COMMANDS
    }
    fn end_marker(&self, line: &str) -> Option<Marker> {
        let code = line.trim().strip_prefix("Return:")?.trim();
        Some(if code == "0x0000" { Marker::Success } else { Marker::Failure })
    }
    fn is_event(&self, line: &str) -> bool {
        let t = line.trim_start();
        t.starts_with("LG:")
            || t.starts_with("CHL:")
            || t.contains(" NOTICE: ")
            || t.contains(" ALERT: ")
            || t.contains(" WARNING: ")
    }
    fn is_reboot_banner(&self, line: &str) -> bool {
        let l = line.to_ascii_lowercase();
        l.contains("infortrend") && l.contains("boot")
    }
    fn parse(&self, command: usize, lines: &[&str], model: &mut ArrayModel, stats: &mut ParseStats) {
        let mut separators = 0;
        for line in lines {
            let t = line.trim();
            if t.is_empty() || t.starts_with("CLI:") {
                continue;
            }
            if is_separator(t, '-') {
                separators += 1;
                continue;
            }
            match (separators, command) {
                (0, _) => {} // header
                (1, CMD_LD) => parse_ld(t, model, stats),
                (1, CMD_DISK) => parse_disk(t, model, stats),
                (1, CMD_ENCLOSURE) => parse_enclosure(t, model, stats),
                _ => stats.unknown(line),
            }
        }
    }
}

/// ` 0      3A5F1E2C  P0   RAID5  2861056   Good`
fn parse_ld(row: &str, model: &mut ArrayModel, stats: &mut ParseStats) {
    let tokens: std::vec::Vec<&str> = row.split_whitespace().collect();
    if tokens.len() < 6 {
        return stats.unknown(row);
    }
    let id = tokens[0].parse::<u16>().ok();
    let level = RaidLevel::parse(tokens[3]);
    let status = tokens[5..].join(" ").to_ascii_lowercase();
    let state = if status.contains("off-line") || status.contains("offline") {
        Some(DriveState::Offline)
    } else if status.starts_with("good") {
        Some(DriveState::Optimal)
    } else if status.starts_with("rebuilding") {
        Some(DriveState::Rebuilding(percent_in(&status).unwrap_or(0)))
    } else if status.starts_with("initializing") {
        Some(DriveState::Initializing)
    } else if status.starts_with("degraded") || status.starts_with("drive missing") {
        Some(DriveState::Degraded)
    } else if status.starts_with("dead") || status.starts_with("invalid") || status.starts_with("incomplete")
    {
        Some(DriveState::Failed)
    } else {
        None
    };
    let (Some(id), Some(level), Some(state)) = (id, level, state) else {
        return stats.unknown(row);
    };
    model.put_drive(LogicalDrive { id, level, state, group: name(tokens[1]) });
}

/// ` 1     0    0   953869    0       On-Line         SEAGATE ST31000`
fn parse_disk(row: &str, model: &mut ArrayModel, stats: &mut ParseStats) {
    let tokens: std::vec::Vec<&str> = row.split_whitespace().collect();
    if tokens.len() < 6 {
        return stats.unknown(row);
    }
    let slot = tokens[0].parse::<u16>().ok();
    let drive = tokens[4].parse::<u16>().ok();
    let status = tokens[5..].join(" ").to_ascii_lowercase();
    let state = DISK_STATES.iter().find(|(word, _)| status.starts_with(word)).map(|(_, s)| *s);
    let (Some(slot), Some(state)) = (slot, state) else {
        return stats.unknown(row);
    };
    let rebuild_percent = if state == DiskState::Rebuilding { percent_in(&status) } else { None };
    model.put_disk(Disk { enclosure: None, slot, state, drive, rebuild_percent });
}

/// ` Temperature  0      OK          38 C`
fn parse_enclosure(row: &str, model: &mut ArrayModel, stats: &mut ParseStats) {
    let tokens: std::vec::Vec<&str> = row.split_whitespace().collect();
    if tokens.len() < 3 {
        return stats.unknown(row);
    }
    let kind = match tokens[0].to_ascii_lowercase().as_str() {
        "temperature" => SensorKind::Temperature,
        "fan" => SensorKind::Fan,
        "psu" | "power" => SensorKind::PowerSupply,
        "battery" | "bbu" => SensorKind::Battery,
        _ => return stats.unknown(row),
    };
    let Some(index) = leading_int(tokens[1]) else {
        return stats.unknown(row);
    };
    let sensor_name = format!("{} {index}", tokens[0]);
    let status = tokens[2];
    let value = tokens[3..].join(" ");
    let reading = match (kind, leading_int(&value)) {
        (SensorKind::Temperature, Some(c)) => Reading::Celsius(c),
        (SensorKind::Fan, Some(r)) => Reading::Rpm(r),
        (SensorKind::Battery, Some(p)) if value.contains('%') => Reading::Percent(p),
        _ => Reading::Status(name(status)),
    };
    let mut sensor = Sensor::new(kind, &sensor_name, reading);
    if !super::model::status_is_healthy(status) {
        let reason: Name = name(&format!("{} {status}", kind.as_str()));
        sensor.alarm = Some(reason);
    }
    model.put_sensor(sensor);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::console::{parse_cycle, parse_output};

    const LD: &str = "\x1b[2J\x1b[H Index  ID        LV   RAID   Size(MB)  Status
----------------------------------------------------
 0      3A5F1E2C  P0   RAID5  2861056   Rebuilding 60%
 1      0BADF00D  P1   RAID1  953869    Good (off-line)
----------------------------------------------------
CLI: Successful: 2 logical drive(s) shown
Return: 0x0000
";

    const DISK: &str = " Slot  Chl  ID  Size(MB)  LG_DRV  Status                 Vendor and Product ID
-------------------------------------------------------------------------------
 1     0    0   953869    0       On-Line                SEAGATE ST31000
 2     0    1   953869    0       Failed Drive           SEAGATE ST31000
 5     0    4   953869    0       Rebuild in Progress    SEAGATE ST31000
 6     0    5   953869    NONE    Global Spare           SEAGATE ST31000
 7     0    6   953869    NONE    \x1b[1mSmoking\x1b[0m           SEAGATE ST31000
-------------------------------------------------------------------------------
CLI: Successful: 5 disk(s) shown
Return: 0x0000
";

    const ENC: &str = " Type         Index  Status      Value
--------------------------------------------
 Temperature  0      OK          38 C
 Fan          0      Failure     0 RPM
 PSU          0      OK          -
 Battery      0      OK          100%
--------------------------------------------
Return: 0x0000
";

    #[test]
    fn full_cycle_with_escapes() {
        let (m, stats) = parse_cycle(&Infortrend, &[LD, DISK, ENC]);
        assert_eq!(m.drives.len(), 2);
        assert_eq!(m.drive(0).unwrap().state, DriveState::Rebuilding(60));
        assert_eq!(m.drive(1).unwrap().state, DriveState::Offline);
        assert_eq!(m.disks.len(), 4);
        assert_eq!(m.disk((None, 5)).unwrap().state, DiskState::Rebuilding);
        assert_eq!(m.disk((None, 5)).unwrap().rebuild_percent, Some(60));
        assert_eq!(m.disk((None, 6)).unwrap().state, DiskState::GlobalSpare);
        assert_eq!(m.disk((None, 2)).unwrap().state, DiskState::Failed);
        assert!(m.sensor("Fan 0").unwrap().alarm.is_some());
        assert!(m.sensor("Temperature 0").unwrap().alarm.is_none());
        assert_eq!(m.sensor("Battery 0").unwrap().reading, Reading::Percent(100));
        assert_eq!(stats.unknown_lines, 1, "the smoking disk");
    }

    #[test]
    fn truncated_output() {
        let mut m = ArrayModel::default();
        let stats = parse_output(&Infortrend, CMD_LD, " Index ID\n------------\n 0 3A5F P0 RAI", &mut m);
        assert!(m.drives.is_empty());
        assert_eq!(stats.unknown_lines, 1);
    }

    #[test]
    fn events_and_markers() {
        assert!(Infortrend.is_event("LG:0 Logical Drive NOTICE: Starting Rebuild"));
        assert!(Infortrend.is_event("LG:0 ALERT: Inconsistent Parity Encountered Block 000000084"));
        assert!(!Infortrend.is_event(" 1     0    0   953869    0       On-Line"));
        assert_eq!(Infortrend.end_marker("Return: 0x0000"), Some(Marker::Success));
        assert_eq!(Infortrend.end_marker("Return: 0x000C"), Some(Marker::Failure));
    }
}
