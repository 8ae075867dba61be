//! The array summary for `ha-agent status`: each logical drive (with how many more disk
//! failures it survives), each disk, the environment, and when the console last answered, as
//! the status document's `array` (`crate::status::ArrayStatus`) and as text lines.
//!
//! Owns only rendering; it reads a model, the monitor's redundancy of each drive and a few
//! console facts, and decides nothing.

#![forbid(unsafe_code)]

use super::model::{ArrayModel, Disk, LogicalDrive};
use crate::core::array::Redundancy;
use crate::status::{self, ArrayStatus};
use crate::time::Micros;

/// What the status shows besides the model.
#[derive(Clone, Copy, Debug)]
pub struct ConsoleFacts<'a> {
    pub dialect: &'a str,
    pub device: &'a str,
    pub lost: bool,
    pub wrong_baud: bool,
    pub last_answer_at: Option<Micros>,
    pub now: Micros,
}

fn age_ms(facts: &ConsoleFacts<'_>) -> Option<u64> {
    facts.last_answer_at.map(|t| facts.now.since_us(t) / 1000)
}

/// The redundancy of drive `id` in `redundancy` (unknown when absent).
fn redundancy_of(redundancy: &[(u16, Redundancy)], id: u16) -> Redundancy {
    redundancy.iter().find(|(d, _)| *d == id).map_or(Redundancy::Unknown, |(_, r)| *r)
}

/// The array's own number: the fewest more failures any drive survives, a drive that lost
/// data counting as 0; None when no drive's is known.
pub fn array_survivable(redundancy: &[(u16, Redundancy)]) -> Option<u8> {
    redundancy
        .iter()
        .filter_map(|(_, r)| match r {
            Redundancy::Survives(n) => Some(*n),
            Redundancy::DataLost => Some(0),
            Redundancy::Unknown => None,
        })
        .min()
}

/// The array's part of the status document (`crate::status::ArrayStatus`). `redundancy`: each
/// drive's, from the monitor (`ArrayMonitor::redundancy`).
pub fn to_status(
    model: Option<&ArrayModel>,
    redundancy: &[(u16, Redundancy)],
    facts: &ConsoleFacts<'_>,
) -> ArrayStatus {
    let console = status::Console {
        dialect: facts.dialect.to_owned(),
        device: facts.device.to_owned(),
        state: if facts.lost {
            status::ConsoleState::Lost
        } else if facts.last_answer_at.is_some() {
            status::ConsoleState::Answering
        } else {
            status::ConsoleState::Unknown
        }
        .as_str()
        .to_owned(),
        wrong_baud: facts.wrong_baud,
        last_answer_ms_ago: age_ms(facts),
    };
    let Some(m) = model else {
        return ArrayStatus { console, ..Default::default() };
    };
    let drives = m
        .drives
        .iter()
        .map(|d| status::Drive {
            name: LogicalDrive::display_name(d.id).as_str().to_owned(),
            id: d.id,
            raid_level: d.level.as_str().to_owned(),
            state: d.state.label().to_string(),
            rebuild_percent: match d.state {
                super::model::DriveState::Rebuilding(p) => Some(p),
                _ => None,
            },
            survivable_failures: redundancy_of(redundancy, d.id).survivable(),
        })
        .collect();
    let disks = m
        .disks
        .iter()
        .map(|d| status::Disk {
            name: Disk::display_name(d.key()).as_str().to_owned(),
            enclosure: d.enclosure,
            slot: d.slot,
            state: d.state.as_str().to_owned(),
            drive: d.drive.map(|id| LogicalDrive::display_name(id).as_str().to_owned()),
            rebuild_percent: d.rebuild_percent,
        })
        .collect();
    let environment = m
        .sensors
        .iter()
        .map(|s| status::Sensor {
            name: s.name.as_str().to_owned(),
            kind: s.kind.as_str().to_owned(),
            reading: s.reading.to_string(),
            alarm: s.alarm.as_ref().map(|a| a.as_str().to_owned()),
        })
        .collect();
    ArrayStatus { console, survivable_failures: array_survivable(redundancy), drives, disks, environment }
}

pub fn to_text(
    model: Option<&ArrayModel>,
    redundancy: &[(u16, Redundancy)],
    facts: &ConsoleFacts<'_>,
) -> Vec<String> {
    let mut out = Vec::new();
    let answered = match age_ms(facts) {
        Some(ms) => format!("last answered {ms} ms ago"),
        None => "never answered".to_owned(),
    };
    let state = if facts.lost { "LOST" } else { "ok" };
    let baud = if facts.wrong_baud { ", WRONG BAUD RATE?" } else { "" };
    out.push(format!("array console {} ({}): {state}, {answered}{baud}", facts.device, facts.dialect));
    let Some(m) = model else {
        out.push("  no reading yet".to_owned());
        return out;
    };
    for d in &m.drives {
        let survives = match redundancy_of(redundancy, d.id) {
            Redundancy::Survives(0) => ", NO REDUNDANCY: one more disk failure may lose data".to_owned(),
            Redundancy::Survives(n) => {
                format!(", survives {n} more disk failure{}", if n == 1 { "" } else { "s" })
            }
            Redundancy::DataLost => ", data lost".to_owned(),
            Redundancy::Unknown => String::new(),
        };
        out.push(format!(
            "  {} RAID {}: {}{survives}",
            LogicalDrive::display_name(d.id),
            d.level.as_str(),
            d.state.label()
        ));
    }
    for d in &m.disks {
        let member = d.drive.map(|id| format!(" ({})", LogicalDrive::display_name(id))).unwrap_or_default();
        out.push(format!("  disk {}: {}{member}", Disk::display_name(d.key()), d.state.as_str()));
    }
    for s in &m.sensors {
        let alarm = s.alarm.as_ref().map(|a| format!("  ALARM: {a}")).unwrap_or_default();
        out.push(format!("  {} {}: {}{alarm}", s.kind.as_str(), s.name, s.reading));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    /// The array's part of the status document as JSON, as `status --json` prints it.
    fn to_json(
        model: Option<&ArrayModel>,
        redundancy: &[(u16, Redundancy)],
        facts: &ConsoleFacts<'_>,
    ) -> Value {
        serde_json::to_value(to_status(model, redundancy, facts)).unwrap()
    }
    use crate::devices::console::{areca::Areca, parse_cycle};

    #[test]
    fn renders_drives_disks_environment_and_age() {
        let vsf = "=========\n  1 VOL#000 Raid Set # 000 Raid5 3000.0GB 00/00/00 Degraded\n=========\n";
        let disks = "=========\n  1 01 Slot#1 ST1 1000.2GB Raid Set # 000\n  2 01 Slot#2 ST1 1000.2GB Failed\n=========\n";
        let hw = "Controller Temp. : 75 C\n";
        let (m, _) = parse_cycle(&Areca, &[vsf, disks, hw]);
        let facts = ConsoleFacts {
            dialect: "areca",
            device: "/dev/ttyS1",
            lost: false,
            wrong_baud: false,
            last_answer_at: Some(Micros::from_ms(1000)),
            now: Micros::from_ms(3500),
        };
        let redundancy = [(1, Redundancy::Survives(0))];
        let v = to_json(Some(&m), &redundancy, &facts);
        assert_eq!(v["console"]["last_answer_ms_ago"], 2500);
        assert_eq!(v["drives"][0]["state"], "degraded");
        assert_eq!(v["drives"][0]["survivable_failures"], 0);
        assert_eq!(v["survivable_failures"], 0);
        assert_eq!(v["drives"][0]["raid_level"], "5");
        assert_eq!(v["disks"][1]["name"], "e1/s2");
        assert_eq!(v["disks"][1]["state"], "failed");
        assert_eq!(v["environment"][0]["alarm"], "over temperature: 75 C");
        let text = to_text(Some(&m), &redundancy, &facts);
        assert_eq!(text[0], "array console /dev/ttyS1 (areca): ok, last answered 2500 ms ago");
        assert_eq!(text[1], "  ld1 RAID 5: degraded, NO REDUNDANCY: one more disk failure may lose data");
        assert!(text.iter().any(|l| l == "  disk e1/s2: failed"));
        assert!(text.iter().any(|l| l.contains("ALARM: over temperature")));
        let none = to_text(None, &[], &ConsoleFacts { lost: true, last_answer_at: None, ..facts });
        assert_eq!(none, vec!["array console /dev/ttyS1 (areca): LOST, never answered", "  no reading yet"]);
        assert_eq!(to_json(None, &[], &facts)["survivable_failures"], Value::Null);
        // Unknown drives say null; the array's number is the worst known, a lost drive 0.
        let v = to_json(Some(&m), &[], &facts);
        assert_eq!(v["drives"][0]["survivable_failures"], Value::Null);
        assert_eq!(v["survivable_failures"], Value::Null);
        let several = [(1, Redundancy::Survives(2)), (2, Redundancy::Unknown), (3, Redundancy::Survives(1))];
        assert_eq!(array_survivable(&several), Some(1));
        assert_eq!(array_survivable(&[(1, Redundancy::Survives(2)), (2, Redundancy::DataLost)]), Some(0));
    }
}
