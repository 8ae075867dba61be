//! `ha-agent status --check`: the Nagios verdict on one status document.
//!
//! Owns the rules that map what a member sees to OK, WARNING or CRITICAL and the one line a
//! monitoring station shows (`RACK-HA CRITICAL - node-b unreachable; ... | perfdata`). A pure
//! function of the status document (`crate::status::Status`, docs/status.md); it does not reach the agent (UNKNOWN, when
//! it cannot be reached, is `main.rs`'s answer).

#![forbid(unsafe_code)]

use super::{CHECK_CRITICAL, CHECK_OK, CHECK_UNKNOWN, CHECK_WARNING};
use crate::status::{Authority, Status};

/// The verdict: the exit code and the line to print.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verdict {
    pub code: i32,
    pub line: String,
}

fn label(code: i32) -> &'static str {
    match code {
        CHECK_OK => "OK",
        CHECK_WARNING => "WARNING",
        CHECK_CRITICAL => "CRITICAL",
        _ => "UNKNOWN",
    }
}

/// The line for an agent that could not be asked.
pub fn unknown(reason: &str) -> Verdict {
    Verdict { code: CHECK_UNKNOWN, line: format!("RACK-HA UNKNOWN - {}", reason.replace('\n', " ")) }
}

/// Judge one status document (the witness's tells the most; a node's judges what it sees).
pub fn verdict(status: &Status) -> Verdict {
    let mut critical: Vec<String> = Vec::new();
    let mut warning: Vec<String> = Vec::new();
    let members = &status.members;
    let links = &status.links;
    for m in members {
        if m.state == "unreachable" {
            critical.push(format!("{} unreachable", m.name.as_deref().unwrap_or("a member")));
        }
    }
    for l in links {
        if l.state == "down" {
            warning.push(format!("link {} to {} down", l.id, l.peer));
        }
    }
    let mut summary: Vec<String> = Vec::new();
    let mut maintenance = false;
    let mut generation = 0;
    match &status.authority {
        Some(Authority::Witness(a)) => {
            maintenance = a.maintenance;
            generation = a.generation;
            match &a.holder {
                Some(h) => summary.push(format!("holder {h} gen {}", a.generation)),
                None if a.startup => critical.push("no holder (starting up)".into()),
                None => critical.push("no holder".into()),
            }
            if let Some(f) = &a.last_fence {
                let pending = a.fencing.as_deref() == Some(f.node.as_str());
                if f.result == "failed" && pending {
                    critical.push(format!("fence of {} failing", f.node));
                }
            }
            for n in &a.nodes {
                let name = n.name.as_str();
                match n.resources_state.as_deref() {
                    // The service is down until it moves; a failed spare only costs redundancy.
                    Some("failed") if a.holder.as_deref() == Some(name) => {
                        critical.push(format!("resources failed on {name}"))
                    }
                    Some("failed") => warning.push(format!("resources failed on {name} (cleanup needed)")),
                    // They may still run: only a fence ends that.
                    Some("stop-failed") => critical.push(format!("resources failed to stop on {name}")),
                    _ => {}
                }
            }
            for d in &a.fence_devices {
                if d.state != "ok" {
                    warning.push(format!("relay of {} fails its health check", d.node));
                }
            }
        }
        Some(Authority::Node(a)) => {
            maintenance = a.maintenance;
            generation = a.acting_generation;
            if !a.quorum {
                critical.push("no quorum".into());
            }
            match a.resources_state.as_str() {
                "failed" => critical.push("resources failed".into()),
                "stop-failed" => critical.push("resources failed to stop".into()),
                "" => {}
                state => summary.push(format!("resources {state} gen {}", a.acting_generation)),
            }
            for r in &a.resources {
                if r.state == "degraded" {
                    warning.push(format!("{} degraded", r.name));
                }
            }
        }
        None => {}
    }
    if maintenance {
        warning.push("maintenance mode on".into());
    }
    if let Some(array) = &status.array {
        if array.console.state == crate::status::ConsoleState::Lost.as_str() {
            warning.push("array console lost".into());
        }
        for d in &array.drives {
            let name = &d.name;
            match d.state.as_str() {
                "optimal" | "initializing" | "" => {}
                s @ ("failed" | "offline") => critical.push(format!("array drive {name} {s}")),
                s => warning.push(format!("array drive {name} {s}")),
            }
        }
    }
    let reachable = members.iter().filter(|m| m.state == "reachable").count();
    let up = links.iter().filter(|l| matches!(l.state.as_str(), "up" | "warn")).count();
    summary.push(format!("{}/{} members", reachable + 1, members.len() + 1));
    summary.push(format!("{up}/{} links up", links.len()));
    let code = if !critical.is_empty() {
        CHECK_CRITICAL
    } else if !warning.is_empty() {
        CHECK_WARNING
    } else {
        CHECK_OK
    };
    let mut what: Vec<String> = critical;
    what.extend(warning);
    what.extend(summary);
    let perf =
        format!("members={} links_up={up};;;0;{} generation={generation}c", reachable + 1, links.len());
    Verdict { code, line: format!("RACK-HA {} - {} | {perf}", label(code), what.join(", ")) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    /// A test's JSON document as the status readers take it.
    fn typed(v: &Value) -> Status {
        serde_json::from_value(v.clone()).expect("a status document")
    }

    fn witness() -> Value {
        json!({
            "member": "witness",
            "members": [{"name": "node-a", "state": "reachable"}, {"name": "node-b", "state": "reachable"}],
            "links": [{"id": 1, "peer": "node-a", "state": "up"}, {"id": 2, "peer": "node-b", "state": "up"}],
            "authority": {"role": "witness", "holder": "node-a", "generation": 3, "startup": false,
                "maintenance": false, "fencing": null, "last_fence": null,
                "fence_devices": [{"node": "node-a", "state": "ok"}],
                "nodes": [{"name": "node-a", "resources_state": "running"}, {"name": "node-b", "resources_state": "stopped"}]},
            "array": null,
        })
    }

    #[test]
    fn a_healthy_rack_is_ok_with_a_summary_and_perfdata() {
        let v = verdict(&typed(&witness()));
        assert_eq!(v.code, CHECK_OK, "{}", v.line);
        assert_eq!(v.line, "RACK-HA OK - holder node-a gen 3, 3/3 members, 2/2 links up | members=3 links_up=2;;;0;2 generation=3c");
    }

    #[test]
    fn warnings_and_criticals_name_what_is_wrong() {
        let mut s = witness();
        s["links"][1]["state"] = json!("down");
        let v = verdict(&typed(&s));
        assert_eq!(v.code, CHECK_WARNING, "{}", v.line);
        assert!(v.line.starts_with("RACK-HA WARNING - link 2 to node-b down, "), "{}", v.line);
        let mut s = witness();
        s["authority"]["fence_devices"][0]["state"] = json!("unreachable");
        assert_eq!(verdict(&typed(&s)).code, CHECK_WARNING);
        let mut s = witness();
        s["array"] = json!({"console": {"state": "answering"}, "drives": [{"name": "ld1", "state": "rebuilding 40%"}]});
        let v = verdict(&typed(&s));
        assert!(v.code == CHECK_WARNING && v.line.contains("array drive ld1 rebuilding 40%"), "{}", v.line);
        let mut s = witness();
        s["members"][1]["state"] = json!("unreachable");
        s["links"][1]["state"] = json!("down");
        let v = verdict(&typed(&s));
        assert_eq!(v.code, CHECK_CRITICAL);
        assert!(
            v.line.starts_with("RACK-HA CRITICAL - node-b unreachable, link 2 to node-b down"),
            "{}",
            v.line
        );
        let mut s = witness();
        s["authority"]["nodes"][1]["resources_state"] = json!("failed");
        let v = verdict(&typed(&s));
        assert!(
            v.code == CHECK_WARNING && v.line.contains("resources failed on node-b (cleanup needed)"),
            "{}",
            v.line
        );
        s["authority"]["nodes"][0]["resources_state"] = json!("failed");
        assert!(
            verdict(&typed(&s)).line.starts_with("RACK-HA CRITICAL - resources failed on node-a"),
            "{}",
            verdict(&typed(&s)).line
        );
        s["authority"]["nodes"][1]["resources_state"] = json!("stop-failed");
        assert!(verdict(&typed(&s)).line.contains("resources failed to stop on node-b"));
        let mut s = witness();
        s["authority"]["holder"] = Value::Null;
        assert!(verdict(&typed(&s)).line.contains("CRITICAL - no holder"));
        let mut s = witness();
        s["authority"]["fencing"] = json!("node-b");
        s["authority"]["last_fence"] = json!({"node": "node-b", "result": "failed"});
        assert!(verdict(&typed(&s)).line.contains("CRITICAL - fence of node-b failing"));
        s["authority"]["fencing"] = Value::Null;
        assert_eq!(verdict(&typed(&s)).code, CHECK_OK, "a fence no longer wanted is not failing");
        assert_eq!(unknown("cannot connect").line, "RACK-HA UNKNOWN - cannot connect");
    }

    #[test]
    fn a_node_judges_its_quorum_and_its_resources() {
        let s = json!({
            "members": [{"name": "witness", "state": "reachable"}, {"name": "node-b", "state": "reachable"}],
            "links": [],
            "authority": {"role": "node", "quorum": true, "resources_state": "running", "acting_generation": 4,
                "resources": [{"name": "db", "state": "degraded"}]},
        });
        let v = verdict(&typed(&s));
        assert_eq!(v.code, CHECK_WARNING, "{}", v.line);
        assert!(v.line.contains("db degraded") && v.line.contains("resources running gen 4"), "{}", v.line);
        let mut s = s;
        s["authority"]["quorum"] = json!(false);
        assert_eq!(verdict(&typed(&s)).code, CHECK_CRITICAL);
    }
}
