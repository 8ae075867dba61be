//! The LSI MegaCli-style dialect: `Key : value` blocks, every output ends with
//! `Exit Code: 0x00` (another code is a failure). The console prompt `MegaCli> ` is this
//! project's assumption (MegaCli itself runs from a shell; see docs/array.md).
//!
//! Owns the poll commands (logical drives with their disks, all disks, rebuild progress,
//! battery, enclosure), a block parser keyed on the lines that open a block
//! (`Virtual Drive:`, `Enclosure Device ID:`), and the event patterns. Any `Key : value` line
//! it does not use is known and ignored; other lines are counted as unknown.

#![forbid(unsafe_code)]

use super::model::{
    leading_int, name, percent_in, ArrayModel, Disk, DiskState, DriveState, LogicalDrive, Name, RaidLevel,
    Reading, Sensor, SensorKind,
};
use super::{key_value, Dialect, Marker, ParseStats};

pub struct MegaCli;

pub const COMMANDS: [&str; 5] = [
    "MegaCli -LDPDInfo -aALL",
    "MegaCli -PDList -aALL",
    "MegaCli -PDRbld -ShowProg -PhysDrv[ALL] -aALL",
    "MegaCli -AdpBbuCmd -GetBbuStatus -aALL",
    "MegaCli -EncInfo -aALL",
];

const EVENT_PATTERNS: [&str; 11] = [
    "State change on VD",
    "State change on PD",
    " is now ",
    "Rebuild automatically started on",
    "Rebuild complete on",
    "Rebuild failed on",
    "Global Hot Spare created on",
    "Removed: PD",
    "Inserted: PD",
    "Predictive failure: PD",
    "Battery needs replacement",
];

impl Dialect for MegaCli {
    fn name(&self) -> &'static str {
        "megacli"
    }
    fn prompt(&self) -> &'static str {
        "MegaCli> "
    }
    fn commands(&self) -> &'static [&'static str] {
        &COMMANDS
    }
    fn end_marker(&self, line: &str) -> Option<Marker> {
        let rest = line.trim().strip_prefix("Exit Code:")?.trim();
        Some(if rest == "0x00" { Marker::Success } else { Marker::Failure })
    }
    fn is_event(&self, line: &str) -> bool {
        EVENT_PATTERNS.iter().any(|p| line.contains(p))
    }
    fn is_reboot_banner(&self, line: &str) -> bool {
        let l = line.to_ascii_lowercase();
        l.contains("megaraid") && l.contains("bios")
    }
    fn parse(&self, _command: usize, lines: &[&str], model: &mut ArrayModel, stats: &mut ParseStats) {
        // Every command's output is the same block language; one parser serves them all.
        let mut p = BlockParser::default();
        for line in lines {
            p.line(line, model, stats);
        }
        p.flush_disk(model);
        p.flush_drive(model);
        p.flush_battery(model);
    }
}

#[derive(Default)]
struct BlockParser {
    drive: Option<(u16, Option<RaidLevel>, Option<DriveState>)>,
    /// The drive the current disk blocks belong to (`-LDPDInfo` nests disks under drives).
    owner: Option<u16>,
    disk: Option<(Option<u16>, Option<u16>, Option<DiskState>)>,
    battery: Option<(Option<Name>, bool)>,
    enclosure: Option<u16>,
    temperature_index: Option<i32>,
    fan_index: Option<i32>,
    psu_index: Option<i32>,
}

impl BlockParser {
    fn flush_drive(&mut self, model: &mut ArrayModel) {
        if let Some((id, Some(level), Some(state))) = self.drive.take() {
            model.put_drive(LogicalDrive { id, level, state, group: Name::new() });
        }
    }
    fn flush_disk(&mut self, model: &mut ArrayModel) {
        if let Some((enclosure, Some(slot), Some(state))) = self.disk.take() {
            let drive =
                if matches!(state, DiskState::Online | DiskState::Rebuilding) { self.owner } else { None };
            model.put_disk(Disk { enclosure, slot, state, drive, rebuild_percent: None });
        }
    }
    fn flush_battery(&mut self, model: &mut ArrayModel) {
        if let Some((state, replace)) = self.battery.take() {
            let state = state.unwrap_or_else(|| name("Unknown"));
            let mut sensor = Sensor::new(SensorKind::Battery, "BBU", Reading::Status(state));
            if replace && sensor.alarm.is_none() {
                sensor.alarm = Some(name("battery replacement required"));
            }
            model.put_sensor(sensor);
        }
    }

    fn line(&mut self, line: &str, model: &mut ArrayModel, stats: &mut ParseStats) {
        let t = line.trim();
        if t.is_empty() || t.starts_with("Adapter") || t.starts_with("Exit Code") || MegaCli.is_event(t) {
            return;
        }
        if let Some(rest) = t.strip_prefix("Rebuild Progress on Device at Enclosure") {
            return self.progress(rest, line, model, stats);
        }
        if t.starts_with("Get BBU Status Failed") {
            model.put_sensor(Sensor {
                kind: SensorKind::Battery,
                name: name("BBU"),
                reading: Reading::Status(name("unavailable")),
                alarm: Some(name("BBU status unavailable")),
            });
            return;
        }
        if t.contains("is not in rebuild process")
            || t.starts_with("Number of")
            || t.starts_with("Enclosure ") && t.ends_with(':')
        {
            return;
        }
        let Some((key, value)) = key_value(t) else {
            return stats.unknown(line);
        };
        match key {
            "Virtual Drive" => {
                self.flush_disk(model);
                self.flush_drive(model);
                match leading_int(value).and_then(|v| u16::try_from(v).ok()) {
                    Some(id) => {
                        self.drive = Some((id, None, None));
                        self.owner = Some(id);
                    }
                    None => stats.unknown(line),
                }
            }
            "RAID Level" => match (&mut self.drive, raid_level(value)) {
                (Some(d), Some(level)) => d.1 = Some(level),
                _ => stats.unknown(line),
            },
            "State" => match (&mut self.drive, drive_state(value)) {
                (Some(d), Some(state)) => d.2 = Some(state),
                _ => stats.unknown(line),
            },
            "Enclosure Device ID" => {
                self.flush_disk(model);
                let enclosure = leading_int(value).and_then(|v| u16::try_from(v).ok());
                self.disk = Some((enclosure, None, None));
            }
            "Slot Number" => match (&mut self.disk, leading_int(value).and_then(|v| u16::try_from(v).ok())) {
                (Some(d), Some(slot)) => d.1 = Some(slot),
                _ => stats.unknown(line),
            },
            "Firmware state" => match (&mut self.disk, disk_state(value)) {
                (Some(d), Some(state)) => d.2 = Some(state),
                _ => stats.unknown(line),
            },
            "Battery State" => self.battery.get_or_insert((None, false)).0 = Some(name(value)),
            "Battery Replacement required" => {
                self.battery.get_or_insert((None, false)).1 = value.eq_ignore_ascii_case("yes")
            }
            "Device ID" => self.enclosure = leading_int(value).and_then(|v| u16::try_from(v).ok()),
            "Temperature Sensor" => self.temperature_index = leading_int(value),
            "Temperature" if self.temperature_index.is_some() => {
                let sensor_name = format!(
                    "Enclosure {} Temp {}",
                    self.enclosure.unwrap_or(0),
                    self.temperature_index.unwrap_or(0)
                );
                let reading =
                    leading_int(value).map_or_else(|| Reading::Status(name(value)), Reading::Celsius);
                model.put_sensor(Sensor::new(SensorKind::Temperature, &sensor_name, reading));
            }
            "Fan" => self.fan_index = leading_int(value),
            "Fan Status" => {
                let sensor_name =
                    format!("Enclosure {} Fan {}", self.enclosure.unwrap_or(0), self.fan_index.unwrap_or(0));
                model.put_sensor(Sensor::new(SensorKind::Fan, &sensor_name, Reading::Status(name(value))));
            }
            "Power Supply" => self.psu_index = leading_int(value),
            "Power Supply Status" => {
                let sensor_name =
                    format!("Enclosure {} PSU {}", self.enclosure.unwrap_or(0), self.psu_index.unwrap_or(0));
                model.put_sensor(Sensor::new(
                    SensorKind::PowerSupply,
                    &sensor_name,
                    Reading::Status(name(value)),
                ));
            }
            _ => {} // the many other keys MegaCli prints: known, not used
        }
    }

    /// ` 252, Slot 0 Completed 4% in 4 Minutes.`
    fn progress(&mut self, rest: &str, line: &str, model: &mut ArrayModel, stats: &mut ParseStats) {
        let enclosure = leading_int(rest).and_then(|v| u16::try_from(v).ok());
        let slot =
            rest.split_once("Slot").and_then(|(_, s)| leading_int(s)).and_then(|v| u16::try_from(v).ok());
        let percent = rest.split_once("Completed").and_then(|(_, s)| percent_in(s));
        let (Some(slot), Some(percent)) = (slot, percent) else {
            return stats.unknown(line);
        };
        match model.disks.iter_mut().find(|d| d.key() == (enclosure, slot)) {
            Some(d) => d.rebuild_percent = Some(percent),
            None => {
                let disk = Disk {
                    enclosure,
                    slot,
                    state: DiskState::Rebuilding,
                    drive: None,
                    rebuild_percent: Some(percent),
                };
                model.put_disk(disk);
            }
        }
    }
}

/// `Primary-5, Secondary-0, RAID Level Qualifier-3`.
fn raid_level(value: &str) -> Option<RaidLevel> {
    let field = |k: &str| value.split(',').find_map(|p| p.trim().strip_prefix(k).and_then(leading_int));
    let primary = field("Primary-")?;
    let secondary = field("Secondary-").unwrap_or(0);
    Some(match (primary, secondary) {
        (0, 0) => RaidLevel::Raid0,
        (1, 0) => RaidLevel::Raid1,
        (5, 0) => RaidLevel::Raid5,
        (6, 0) => RaidLevel::Raid6,
        (1, 3) => RaidLevel::Raid10,
        (5, 3) => RaidLevel::Raid50,
        _ => RaidLevel::Other,
    })
}

fn drive_state(value: &str) -> Option<DriveState> {
    let v = value.trim().to_ascii_lowercase();
    Some(match v.as_str() {
        "optimal" => DriveState::Optimal,
        "degraded" => DriveState::Degraded,
        "partially degraded" => DriveState::PartiallyDegraded,
        "offline" => DriveState::Offline,
        "failed" => DriveState::Failed,
        _ if v.starts_with("rebuild") => DriveState::Rebuilding(percent_in(&v).unwrap_or(0)),
        _ if v.starts_with("initializ") => DriveState::Initializing,
        _ => return None,
    })
}

/// `Online, Spun Up`, `Hotspare, Spun Up`, `Unconfigured(good), Spun down`, `Rebuild`...
fn disk_state(value: &str) -> Option<DiskState> {
    let first = value.split(',').next().unwrap_or("").trim().to_ascii_lowercase();
    Some(match first.as_str() {
        "online" | "jbod" => DiskState::Online,
        "hotspare" => DiskState::GlobalSpare,
        "dedicated hotspare" => DiskState::DedicatedSpare,
        "rebuild" => DiskState::Rebuilding,
        "failed" | "offline" | "unconfigured(bad)" => DiskState::Failed,
        "missing" => DiskState::Missing,
        "unconfigured(good)" => DiskState::Unconfigured,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::console::{parse_cycle, parse_output};

    const LDPD: &str = "Adapter #0

Number of Virtual Disks: 1
Virtual Drive: 0 (Target Id: 0)
Name                :
RAID Level          : Primary-5, Secondary-0, RAID Level Qualifier-3
Size                : 2.727 TB
State               : Degraded
Number Of Drives    : 4
Span Depth          : 1
PD: 0 Information
Enclosure Device ID: 252
Slot Number: 0
Firmware state: Online, Spun Up
Media Error Count: 0
PD: 1 Information
Enclosure Device ID: 252
Slot Number: 4
Firmware state: Rebuild
PD: 2 Information
Enclosure Device ID: 252
Slot Number: 2
Firmware state: Online, Spun Up

Exit Code: 0x00
";

    const PDLIST: &str = "Adapter #0

Enclosure Device ID: 252
Slot Number: 3
Firmware state: Failed
Predictive Failure Count: 0
Enclosure Device ID: 252
Slot Number: 1
Firmware state: Online, Spun Up
this line is not megacli at all

Exit Code: 0x00
";

    const PROGRESS: &str = "Rebuild Progress on Device at Enclosure 252, Slot 4 Completed 37% in 4 Minutes.
Exit Code: 0x00
";

    const BBU: &str = "Get BBU Status Failed.

Exit Code: 0x01
";

    const ENC: &str = "    Number of enclosures on adapter 0 -- 1
    Enclosure 0:
    Device ID                     : 252
    Temperature Sensor            : 0
    Temperature                   : 74
    Fan                           : 0
    Fan Status                    : OK
    Power Supply                  : 1
    Power Supply Status           : Failed
Exit Code: 0x00
";

    #[test]
    fn full_cycle() {
        let (m, stats) = parse_cycle(&MegaCli, &[LDPD, PDLIST, PROGRESS, BBU, ENC]);
        assert_eq!(m.drives.len(), 1);
        assert_eq!((m.drives[0].level, m.drives[0].state), (RaidLevel::Raid5, DriveState::Rebuilding(37)));
        assert_eq!(m.disks.len(), 5);
        assert_eq!(m.disk((Some(252), 3)).unwrap().state, DiskState::Failed);
        assert_eq!(m.disk((Some(252), 4)).unwrap().drive, Some(0));
        assert_eq!(m.disk((Some(252), 1)).unwrap().drive, Some(0), "single drive owns listed members");
        assert!(m.sensor("BBU").unwrap().alarm.is_some());
        assert!(m.sensor("Enclosure 252 Temp 0").unwrap().alarm.is_some());
        assert!(m.sensor("Enclosure 252 Fan 0").unwrap().alarm.is_none());
        assert!(m.sensor("Enclosure 252 PSU 1").unwrap().alarm.is_some());
        assert_eq!(stats.unknown_lines, 1);
    }

    #[test]
    fn battery_replacement_and_levels() {
        let mut m = ArrayModel::default();
        parse_output(
            &MegaCli,
            3,
            "Battery State : Optimal\nBattery Replacement required : Yes\nExit Code: 0x00\n",
            &mut m,
        );
        assert_eq!(m.sensor("BBU").unwrap().alarm.as_deref(), Some("battery replacement required"));
        assert_eq!(raid_level("Primary-1, Secondary-3, RAID Level Qualifier-0"), Some(RaidLevel::Raid10));
        assert_eq!(raid_level("Secondary-3"), None);
    }

    #[test]
    fn truncated_blocks_add_nothing() {
        let mut m = ArrayModel::default();
        let stats = parse_output(
            &MegaCli,
            0,
            "Virtual Drive: 0 (Target Id: 0)\nRAID Level : Primary-5\nEnclosure Device ID: 252\nSlot Num",
            &mut m,
        );
        assert!(m.drives.is_empty() && m.disks.is_empty());
        assert_eq!(stats.unknown_lines, 1);
        let stats = parse_output(&MegaCli, 0, "State : Optimal\nSlot Number: 3\nVirtual Drive: x\n", &mut m);
        assert_eq!(stats.unknown_lines, 3);
    }

    #[test]
    fn events_and_markers() {
        assert!(MegaCli.is_event("State change on VD 00/0 from OPTIMAL(3) to DEGRADED(2)"));
        assert!(MegaCli.is_event("Rebuild automatically started on PD 03(e0xff/s3)"));
        assert!(!MegaCli.is_event("Firmware state: Rebuild"));
        assert_eq!(MegaCli.end_marker("Exit Code: 0x00"), Some(Marker::Success));
        assert_eq!(MegaCli.end_marker("Exit Code: 0x01"), Some(Marker::Failure));
    }
}
