//! The array summary for `ha-agent status`: each logical drive, each disk, the environment,
//! and when the console last answered, as JSON and as text lines.
//!
//! Owns only rendering; it reads a model and a few console facts and decides nothing.

#![forbid(unsafe_code)]

use serde_json::{json, Value};

use super::model::{ArrayModel, Disk, LogicalDrive};
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

pub fn to_json(model: Option<&ArrayModel>, facts: &ConsoleFacts<'_>) -> Value {
    let console = json!({
        "dialect": facts.dialect,
        "device": facts.device,
        "state": if facts.lost { "lost" } else if facts.last_answer_at.is_some() { "answering" } else { "unknown" },
        "wrong_baud": facts.wrong_baud,
        "last_answer_ms_ago": age_ms(facts),
    });
    let Some(m) = model else {
        return json!({ "console": console, "drives": [], "disks": [], "environment": [] });
    };
    let drives: Vec<Value> = m
        .drives
        .iter()
        .map(|d| {
            let percent = match d.state {
                super::model::DriveState::Rebuilding(p) => Some(p),
                _ => None,
            };
            json!({
                "name": LogicalDrive::display_name(d.id).as_str(),
                "id": d.id,
                "raid_level": d.level.as_str(),
                "state": d.state.label(),
                "rebuild_percent": percent,
            })
        })
        .collect();
    let disks: Vec<Value> = m
        .disks
        .iter()
        .map(|d| {
            json!({
                "name": Disk::display_name(d.key()).as_str(),
                "enclosure": d.enclosure,
                "slot": d.slot,
                "state": d.state.as_str(),
                "drive": d.drive.map(|id| LogicalDrive::display_name(id).as_str().to_owned()),
                "rebuild_percent": d.rebuild_percent,
            })
        })
        .collect();
    let environment: Vec<Value> = m
        .sensors
        .iter()
        .map(|s| {
            json!({
                "name": s.name.as_str(),
                "kind": s.kind.as_str(),
                "reading": s.reading.to_string(),
                "alarm": s.alarm.as_ref().map(|a| a.as_str().to_owned()),
            })
        })
        .collect();
    json!({ "console": console, "drives": drives, "disks": disks, "environment": environment })
}

pub fn to_text(model: Option<&ArrayModel>, facts: &ConsoleFacts<'_>) -> Vec<String> {
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
        out.push(format!(
            "  {} RAID {}: {}",
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
        let v = to_json(Some(&m), &facts);
        assert_eq!(v["console"]["last_answer_ms_ago"], 2500);
        assert_eq!(v["drives"][0]["state"], "degraded");
        assert_eq!(v["drives"][0]["raid_level"], "5");
        assert_eq!(v["disks"][1]["name"], "e1/s2");
        assert_eq!(v["disks"][1]["state"], "failed");
        assert_eq!(v["environment"][0]["alarm"], "over temperature: 75 C");
        let text = to_text(Some(&m), &facts);
        assert_eq!(text[0], "array console /dev/ttyS1 (areca): ok, last answered 2500 ms ago");
        assert_eq!(text[1], "  ld1 RAID 5: degraded");
        assert!(text.iter().any(|l| l == "  disk e1/s2: failed"));
        assert!(text.iter().any(|l| l.contains("ALARM: over temperature")));
        let none = to_text(None, &ConsoleFacts { lost: true, last_answer_at: None, ..facts });
        assert_eq!(none, vec!["array console /dev/ttyS1 (areca): LOST, never answered", "  no reading yet"]);
    }
}
