//! The Areca-style CLI dialect: prompt `CLI> `, every output ends with
//! `GuiErrMsg<0x00>: Success.` (another code is a failure), tables framed by lines of `=`.
//!
//! Owns the poll commands (`vsf info`, `disk info`, `hw info`), their table parsers (rows are
//! the lines between the first and second `=` separator, parsed from anchors that do not move
//! when names contain spaces), the login command (`set password=...`) and the event pattern.
//! It does not talk to the port (the session does). Formats: docs/array.md.

#![forbid(unsafe_code)]

use super::model::{
    leading_int, name, percent_in, ArrayModel, Disk, DiskState, DriveState, LogicalDrive, RaidLevel, Reading,
    Sensor, SensorKind,
};
use super::{is_separator, key_value, Dialect, Marker, ParseStats};

pub struct Areca;

pub const COMMANDS: [&str; 3] = ["vsf info", "disk info", "hw info"];
const CMD_VSF: usize = 0;
const CMD_DISK: usize = 1;
const CMD_HW: usize = 2;

/// Event names the controller prints on its own (some wordings unconfirmed, see DEVICES.md).
const EVENT_NAMES: [&str; 13] = [
    "Device Inserted",
    "Device Removed",
    "Device Failed",
    "Time Out Error",
    "Reading Error",
    "RAID powered on",
    "Start Rebuilding",
    "Complete Rebuild",
    "Rebuilding Failed",
    "Volume Degraded",
    "Volume Failed",
    "Over Temperature",
    "Fan Failed",
];

impl Dialect for Areca {
    fn name(&self) -> &'static str {
        "areca"
    }
    fn prompt(&self) -> &'static str {
        "CLI> "
    }
    fn commands(&self) -> &'static [&'static str] {
        &COMMANDS
    }
    fn end_marker(&self, line: &str) -> Option<Marker> {
        let t = line.trim();
        if !t.starts_with("GuiErrMsg<") {
            return None;
        }
        Some(if t.starts_with("GuiErrMsg<0x00>") { Marker::Success } else { Marker::Failure })
    }
    fn is_event(&self, line: &str) -> bool {
        EVENT_NAMES.iter().any(|e| line.contains(e))
    }
    fn is_reboot_banner(&self, line: &str) -> bool {
        let l = line.to_ascii_lowercase();
        l.contains("areca") && (l.contains("boot") || l.contains("bios"))
    }
    fn login_command(&self, password: &str) -> Option<String> {
        Some(format!("set password={password}"))
    }
    fn needs_login(&self, line: &str) -> bool {
        line.contains("Password Required")
    }
    fn parse(&self, command: usize, lines: &[&str], model: &mut ArrayModel, stats: &mut ParseStats) {
        match command {
            CMD_VSF => parse_table(lines, stats, |row, stats| parse_vsf_row(row, model, stats)),
            CMD_DISK => parse_table(lines, stats, |row, stats| parse_disk_row(row, model, stats)),
            CMD_HW => parse_hw(lines, model, stats),
            _ => {}
        }
    }
}

/// Calls `row` for each line between the first and second `=` separator; lines before the
/// first separator are the header; anything after the second is unknown.
fn parse_table(lines: &[&str], stats: &mut ParseStats, mut row: impl FnMut(&str, &mut ParseStats)) {
    let mut separators = 0;
    for line in lines {
        if line.trim().is_empty() {
            continue;
        }
        if is_separator(line, '=') {
            separators += 1;
            continue;
        }
        match separators {
            0 => {} // header
            1 => row(line, stats),
            _ => stats.unknown(line),
        }
    }
}

fn drive_state(text: &str) -> Option<DriveState> {
    let t = text.trim().to_ascii_lowercase();
    Some(if t.starts_with("normal") || t.starts_with("checking") {
        DriveState::Optimal
    } else if t.starts_with("rebuild") {
        DriveState::Rebuilding(percent_in(&t).unwrap_or(0))
    } else if t.starts_with("initializ") {
        DriveState::Initializing
    } else if t.starts_with("partially") {
        DriveState::PartiallyDegraded
    } else if t.starts_with("degrade") {
        DriveState::Degraded
    } else if t.starts_with("fail") {
        DriveState::Failed
    } else if t.starts_with("offline") {
        DriveState::Offline
    } else {
        return None;
    })
}

/// `  1 ARC-1880-VOL#000 Raid Set # 000  Raid5   3000.0GB 00/00/00   Normal`: anchored on the
/// `Ch/Id/Lun` token; the level and capacity are just before it, the state after it.
fn parse_vsf_row(row: &str, model: &mut ArrayModel, stats: &mut ParseStats) {
    let tokens: std::vec::Vec<&str> = row.split_whitespace().collect();
    let lun = tokens
        .iter()
        .position(|t| t.split('/').count() == 3 && t.split('/').all(|p| p.parse::<u16>().is_ok()));
    let (Some(i), Some(id)) = (lun, tokens.first().and_then(|t| t.parse::<u16>().ok())) else {
        return stats.unknown(row);
    };
    if i < 4 || i + 1 >= tokens.len() {
        return stats.unknown(row);
    }
    let (Some(level), Some(state)) =
        (RaidLevel::parse(tokens[i - 2]), drive_state(&tokens[i + 1..].join(" ")))
    else {
        return stats.unknown(row);
    };
    let group = name(&tokens[2..i - 2].join(" "));
    model.put_drive(LogicalDrive { id, level, state, group });
}

fn is_capacity(token: &str) -> bool {
    let t = token.to_ascii_uppercase();
    let digits = t.trim_end_matches("GB").trim_end_matches("TB").trim_end_matches("MB");
    digits.len() < t.len() && !digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit() || c == '.')
}

/// `  3  01  Slot#3  ST1000NM0033   1000.2GB  Raid Set # 000`: slot from `Slot#N`, usage after
/// the capacity token.
fn parse_disk_row(row: &str, model: &mut ArrayModel, stats: &mut ParseStats) {
    let tokens: std::vec::Vec<&str> = row.split_whitespace().collect();
    let slot = tokens.get(2).and_then(|t| t.strip_prefix("Slot#")).and_then(|s| s.parse::<u16>().ok());
    let enclosure = tokens.get(1).and_then(|t| t.parse::<u16>().ok());
    let capacity = tokens.iter().skip(3).position(|t| is_capacity(t)).map(|p| p + 3);
    let (Some(slot), Some(enclosure), Some(c)) = (slot, enclosure, capacity) else {
        return stats.unknown(row);
    };
    let usage = tokens[c + 1..].join(" ");
    let model_name = tokens[3..c].join(" ");
    let (state, group): (DiskState, &str) = match usage.as_str() {
        "" => return stats.unknown(row),
        "N.A." if model_name == "N.A." || model_name.is_empty() => return, // empty slot
        "N.A." | "Free" | "Pass Through" | "JBOD" => (DiskState::Unconfigured, ""),
        "Failed" => (DiskState::Failed, ""),
        "HotSpare[Global]" => (DiskState::GlobalSpare, ""),
        u if u.starts_with("HotSpare") => {
            (DiskState::DedicatedSpare, u.trim_start_matches("HotSpare").trim_matches(['[', ']']))
        }
        u if u.contains("Rebuild") => {
            (DiskState::Rebuilding, u.split_once("Rebuild").map_or("", |(_, g)| g.trim()))
        }
        u => (DiskState::Online, u),
    };
    let drive =
        if group.is_empty() { None } else { model.drives.iter().find(|d| d.group == group).map(|d| d.id) };
    let rebuild_percent = if state == DiskState::Rebuilding { percent_in(&usage) } else { None };
    model.put_disk(Disk { enclosure: Some(enclosure), slot, state, drive, rebuild_percent });
}

/// `Key : value` lines of `hw info`.
fn parse_hw(lines: &[&str], model: &mut ArrayModel, stats: &mut ParseStats) {
    for line in lines {
        let t = line.trim();
        if t.is_empty() || is_separator(t, '=') || t.starts_with("The Hardware Monitor") {
            continue;
        }
        let Some((key, value)) = key_value(t) else {
            stats.unknown(line);
            continue;
        };
        let k = key.to_ascii_lowercase();
        let number = leading_int(value);
        let sensor = if k.contains("temp") {
            match number {
                Some(c) => Sensor::new(SensorKind::Temperature, key, Reading::Celsius(c)),
                None => Sensor::new(SensorKind::Temperature, key, Reading::Status(name(value))),
            }
        } else if k.contains("fan") {
            let sensor_name = key.split(" Speed").next().unwrap_or(key).trim();
            match number {
                Some(r) => Sensor::new(SensorKind::Fan, sensor_name, Reading::Rpm(r)),
                None => Sensor::new(SensorKind::Fan, sensor_name, Reading::Status(name(value))),
            }
        } else if k.contains("battery") {
            match number {
                Some(p) if value.contains('%') => {
                    Sensor::new(SensorKind::Battery, "Battery", Reading::Percent(p))
                }
                _ => Sensor::new(SensorKind::Battery, "Battery", Reading::Status(name(value))),
            }
        } else if k.contains("power") || k.contains("psu") {
            Sensor::new(SensorKind::PowerSupply, key, Reading::Status(name(value)))
        } else if value.ends_with('V') || key.ends_with('V') {
            continue; // voltages: known, not watched
        } else {
            stats.unknown(line);
            continue;
        };
        model.put_sensor(sensor);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::console::{parse_cycle, parse_output};

    const VSF: &str = "  # Name             Raid Name       Level   Capacity Ch/Id/Lun  State\r
===============================================================================\r
  1 ARC-1880-VOL#000 Raid Set # 000  Raid5   3000.0GB 00/00/00   Rebuilding(45.2%)\r
===============================================================================\r
GuiErrMsg<0x00>: Success.\r\n";

    const DISKS: &str = "  # Enc# Slot#   ModelName                        Capacity  Usage
===============================================================================
  1  01  Slot#1  ST1000NM0033-9ZM173             1000.2GB  Raid Set # 000
  2  01  Slot#2  ST1000NM0033-9ZM173             1000.2GB  Failed
  3  01  Slot#3  ST1000NM0033-9ZM173             1000.2GB  Raid Set # 000
  4  01  Slot#4  ST1000NM0033-9ZM173             1000.2GB  Raid Set # 000
  5  01  Slot#5  ST1000NM0033-9ZM173             1000.2GB  Rebuild Raid Set # 000
  6  01  Slot#6  N.A.                               0.0GB  N.A.
===============================================================================
GuiErrMsg<0x00>: Success.
";

    const HW: &str = "The Hardware Monitor Information
===========================================
Fan#1 Speed (RPM)   : 0
Battery Status      : 100%
CPU Temperature     : 52 C
Controller Temp.    : 40 C
12V                 : 12.160 V
Mystery Gauge       : 7
===========================================
GuiErrMsg<0x00>: Success.
";

    #[test]
    fn full_cycle() {
        let (m, stats) = parse_cycle(&Areca, &[VSF, DISKS, HW]);
        assert_eq!(m.drives.len(), 1);
        assert_eq!(m.drives[0].state, DriveState::Rebuilding(45));
        assert_eq!(m.drives[0].level, RaidLevel::Raid5);
        assert_eq!(m.disks.len(), 5, "the empty slot is not a disk");
        let rebuilding = m.disk((Some(1), 5)).unwrap();
        assert_eq!(
            (rebuilding.state, rebuilding.drive, rebuilding.rebuild_percent),
            (DiskState::Rebuilding, Some(1), Some(45))
        );
        assert_eq!(m.disk((Some(1), 2)).unwrap().state, DiskState::Failed);
        assert_eq!(m.disk((Some(1), 1)).unwrap().drive, Some(1));
        assert!(m.sensor("Fan#1").unwrap().alarm.is_some());
        assert!(m.sensor("Battery").unwrap().alarm.is_none());
        assert_eq!(m.sensor("Controller Temp.").unwrap().reading, Reading::Celsius(40));
        assert_eq!(stats.unknown_lines, 1);
        assert_eq!(stats.first_unknown.as_deref(), Some("Mystery Gauge       : 7"));
    }

    #[test]
    fn truncated_and_malformed_rows_are_counted_not_fatal() {
        let mut m = ArrayModel::default();
        let text =
            "  # Name Raid Name Level Capacity Ch/Id/Lun State\n=========\n  1 VOL Raid Set # 000 Raid5 30";
        let stats = parse_output(&Areca, CMD_VSF, text, &mut m);
        assert_eq!((m.drives.len(), stats.unknown_lines), (0, 1));
        let stats =
            parse_output(&Areca, CMD_DISK, "=========\n  x 01 Slot#z\n  1 01 Slot#1 M 1.0GB\n", &mut m);
        assert_eq!((m.disks.len(), stats.unknown_lines), (0, 2));
        let stats = parse_output(&Areca, CMD_VSF, "=========\n  1 V R Raid9 1GB 0/0/0 Normal\n", &mut m);
        assert_eq!((m.drives.len(), stats.unknown_lines), (0, 1), "unknown level");
    }

    #[test]
    fn events_and_markers() {
        assert!(Areca.is_event("2024-05-01 12:00:00  Enc#1 Slot#3  Device Failed"));
        assert!(!Areca.is_event("  2  01  Slot#2  ST1000  1000.2GB  Failed"));
        assert_eq!(Areca.end_marker("GuiErrMsg<0x00>: Success."), Some(Marker::Success));
        assert_eq!(Areca.end_marker("GuiErrMsg<0x08>: Password Required."), Some(Marker::Failure));
        assert!(Areca.needs_login("GuiErrMsg<0x08>: Password Required."));
    }
}
