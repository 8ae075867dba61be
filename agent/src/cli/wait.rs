//! `--wait` of `move`, `standby`, `online` and `fence`: what happened between two status
//! documents of the witness, in the operator's words, and whether the asked state is reached.
//!
//! Owns the goal of each command (when it counts as done, and what is still missing) and the
//! steps shown as they happen (`stopping on node-a`, `node-a fenced: power off confirmed`,
//! `granted to node-b (generation 4)`, `running on node-b`). Pure: `main.rs` polls the socket,
//! keeps the time and prints.

#![forbid(unsafe_code)]

use crate::status::{FenceResult, Status, WitnessAuthority};

/// How often `--wait` asks the witness for its status.
pub const WAIT_POLL_MS: u64 = 100;

/// The asked state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Goal {
    /// `move NODE`: NODE holds the service and runs it.
    Move(String),
    /// `standby NODE`: NODE's resources stopped; the holder, if any, runs the service.
    Standby(String),
    /// `online NODE`: NODE may and can take the service (ready), or holds and runs it.
    Online(String),
    /// `fence NODE`: a fence of NODE confirmed after the command; if NODE held the service,
    /// the other node runs it.
    Fence { node: String, was_holder: bool, fences_before: u64 },
}

impl Goal {
    /// The goal of `verb NODE`, given the witness's status just before the command.
    pub fn new(verb: &str, node: &str, before: &Status) -> Option<Goal> {
        let node = node.to_string();
        let a = before.witness();
        Some(match verb {
            "move" => Goal::Move(node),
            "standby" => Goal::Standby(node),
            "online" => Goal::Online(node),
            "fence" => Goal::Fence {
                was_holder: a.and_then(|a| a.holder.as_deref()) == Some(node.as_str()),
                fences_before: a.and_then(|a| a.last_fence.as_ref()).map_or(0, |f| f.count),
                node,
            },
            _ => return None,
        })
    }

    /// `None` once reached; else what is still missing (printed on a timeout).
    pub fn missing(&self, status: &Status) -> Option<String> {
        let none = WitnessAuthority::default();
        let a = status.witness().unwrap_or(&none);
        let holder = a.holder.as_deref();
        let resources = |n: &str| a.node(n).and_then(|v| v.resources_state.as_deref()).unwrap_or("unknown");
        let holder_runs = || holder.is_some_and(|h| resources(h) == "running");
        let busy = a.switching || a.fencing.is_some();
        match self {
            Goal::Move(n) => {
                if holder != Some(n.as_str()) {
                    Some(format!("{n} does not hold the service yet (holder {})", holder.unwrap_or("none")))
                } else if resources(n) != "running" || busy {
                    Some(format!("{n} holds the service; its resources are {}", resources(n)))
                } else {
                    None
                }
            }
            Goal::Standby(n) => {
                let standby = a.node(n).is_some_and(|v| v.standby);
                if !standby {
                    Some(format!("{n} is not in standby"))
                } else if holder == Some(n.as_str()) {
                    Some(format!("{n} still holds the service"))
                } else if !matches!(resources(n), "stopped") && status.reachable(n) {
                    Some(format!("{n}'s resources are {}", resources(n)))
                } else if holder.is_some() && !holder_runs() {
                    Some(format!("the service is not running yet on {}", holder.unwrap_or("-")))
                } else {
                    None
                }
            }
            Goal::Online(n) => {
                let v = a.node(n);
                let standby = v.is_some_and(|v| v.standby);
                let ready = v.is_some_and(|v| v.ready == Some(true));
                let runs = holder == Some(n.as_str()) && resources(n) == "running";
                if standby {
                    Some(format!("{n} is still in standby"))
                } else if !ready && !runs {
                    Some(format!("{n} does not report itself ready (resources {})", resources(n)))
                } else {
                    None
                }
            }
            Goal::Fence { node: n, was_holder, fences_before } => {
                let f = a.last_fence.as_ref();
                let after = f.filter(|f| f.count > *fences_before && f.node == *n);
                let done = after.is_some_and(|f| {
                    matches!(
                        FenceResult::parse(&f.result),
                        Some(FenceResult::Confirmed | FenceResult::Unconfirmed)
                    )
                });
                if !done {
                    let last = after.map(|f| format!(" (last attempt: {})", f.result)).unwrap_or_default();
                    Some(format!("the power-off of {n} is not confirmed{last}"))
                } else if *was_holder && (holder == Some(n.as_str()) || !holder_runs()) {
                    Some(format!(
                        "the service does not run on another node yet (holder {})",
                        holder.unwrap_or("none")
                    ))
                } else {
                    None
                }
            }
        }
    }
}

/// What changed from `before` to `now`, one line each, in the order an operator follows it:
/// what went down (stopping, stopped, unreachable), the fence, the grant, what came up.
pub fn steps(before: &Status, now: &Status) -> Vec<String> {
    let (mut down, mut up, mut middle) = (Vec::new(), Vec::new(), Vec::new());
    let none = WitnessAuthority::default();
    let (a0, a1) = (before.witness().unwrap_or(&none), now.witness().unwrap_or(&none));
    for n in &a1.nodes {
        let name = n.name.as_str();
        let old = a0.node(name);
        if old.map(|o| o.standby) != Some(n.standby) {
            if n.standby {
                down.push(format!("{name} in standby"));
            } else {
                up.push(format!("{name} online"));
            }
        }
        let r0 = before.reachable(name);
        let r1 = now.reachable(name);
        if r0 && !r1 {
            down.push(format!("{name} unreachable"));
        } else if r1 && !r0 {
            up.push(format!("{name} reachable"));
        }
        if n.resources_state != old.and_then(|o| o.resources_state.clone()) {
            match n.resources_state.as_deref() {
                Some(state @ ("starting" | "running")) => up.push(format!("{state} on {name}")),
                Some(state) => down.push(format!("{state} on {name}")),
                None => {}
            }
        }
    }
    if a1.switching && !a0.switching {
        middle.push("switchover started".into());
    }
    if a1.fencing != a0.fencing {
        if let Some(n) = &a1.fencing {
            middle.push(format!("fencing {n}"));
        }
    }
    let count = |a: &WitnessAuthority| a.last_fence.as_ref().map(|f| f.count);
    if let (Some(f), true) = (&a1.last_fence, count(a1) != count(a0)) {
        let n = &f.node;
        middle.push(match FenceResult::parse(&f.result) {
            Some(FenceResult::Confirmed) => format!("{n} fenced: power off confirmed"),
            Some(FenceResult::Unconfirmed) => format!("{n} fenced: power off not confirmed by read-back"),
            _ => format!("fence of {n} failed; retrying"),
        });
    }
    if a1.generation != a0.generation || a1.holder != a0.holder {
        match &a1.holder {
            Some(h) => middle.push(format!("granted to {h} (generation {})", a1.generation)),
            None => middle.push("no holder".into()),
        }
    }
    down.extend(middle);
    down.extend(up);
    down
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    /// A test's JSON document as the status readers take it.
    fn typed(v: &Value) -> Status {
        serde_json::from_value(v.clone()).expect("a status document")
    }

    fn status(holder: &str, gen: u64, a: &str, b: &str) -> Value {
        json!({
            "members": [{"name": "node-a", "state": "reachable"}, {"name": "node-b", "state": "reachable"}],
            "authority": {"role": "witness", "holder": holder, "generation": gen, "switching": false, "fencing": null,
                "last_fence": null,
                "nodes": [{"name": "node-a", "resources_state": a, "ready": a == "stopped", "standby": false},
                          {"name": "node-b", "resources_state": b, "ready": b == "stopped", "standby": false}]}
        })
    }

    #[test]
    fn a_move_is_followed_step_by_step_until_the_target_runs() {
        let s0 = status("node-a", 3, "running", "stopped");
        let goal = Goal::new("move", "node-b", &typed(&s0)).unwrap();
        assert!(goal
            .missing(&typed(&s0))
            .unwrap()
            .contains("node-b does not hold the service yet (holder node-a)"));
        let s1 = status("node-a", 3, "stopping", "stopped");
        assert_eq!(steps(&typed(&s0), &typed(&s1)), vec!["stopping on node-a"]);
        let s2 = status("node-b", 4, "stopped", "starting");
        assert_eq!(
            steps(&typed(&s1), &typed(&s2)),
            vec!["stopped on node-a", "granted to node-b (generation 4)", "starting on node-b"]
        );
        assert!(goal.missing(&typed(&s2)).unwrap().contains("resources are starting"));
        let s3 = status("node-b", 4, "stopped", "running");
        assert_eq!(steps(&typed(&s2), &typed(&s3)), vec!["running on node-b"]);
        assert_eq!(goal.missing(&typed(&s3)), None);
        assert!(steps(&typed(&s3), &typed(&s3)).is_empty());
    }

    #[test]
    fn a_fence_counts_only_a_confirmation_after_the_command() {
        let mut s0 = status("node-a", 3, "running", "stopped");
        s0["authority"]["last_fence"] = json!({"node": "node-a", "result": "confirmed", "count": 1});
        let goal = Goal::new("fence", "node-a", &typed(&s0)).unwrap();
        assert!(
            goal.missing(&typed(&s0)).unwrap().contains("not confirmed"),
            "an older fence does not count"
        );
        let mut s1 = s0.clone();
        s1["authority"]["fencing"] = json!("node-a");
        s1["authority"]["last_fence"] = json!({"node": "node-a", "result": "failed", "count": 2});
        assert_eq!(
            steps(&typed(&s0), &typed(&s1)),
            vec!["fencing node-a", "fence of node-a failed; retrying"]
        );
        assert!(goal.missing(&typed(&s1)).unwrap().contains("last attempt: failed"));
        let mut s2 = status("node-b", 4, "stopped", "running");
        s2["members"][0]["state"] = json!("unreachable");
        s2["authority"]["last_fence"] = json!({"node": "node-a", "result": "confirmed", "count": 3});
        assert!(steps(&typed(&s1), &typed(&s2)).contains(&"node-a fenced: power off confirmed".to_string()));
        assert!(steps(&typed(&s1), &typed(&s2)).contains(&"node-a unreachable".to_string()));
        assert_eq!(goal.missing(&typed(&s2)), None);
    }

    #[test]
    fn standby_and_online_wait_for_what_the_nodes_report() {
        let mut s = status("node-b", 4, "stopped", "running");
        let standby = Goal::new("standby", "node-a", &typed(&s)).unwrap();
        assert_eq!(standby.missing(&typed(&s)).as_deref(), Some("node-a is not in standby"));
        s["authority"]["nodes"][0]["standby"] = json!(true);
        s["authority"]["nodes"][0]["ready"] = json!(false);
        assert_eq!(standby.missing(&typed(&s)), None);
        let online = Goal::new("online", "node-a", &typed(&s)).unwrap();
        assert_eq!(online.missing(&typed(&s)).as_deref(), Some("node-a is still in standby"));
        s["authority"]["nodes"][0]["standby"] = json!(false);
        assert!(online.missing(&typed(&s)).unwrap().contains("does not report itself ready"));
        s["authority"]["nodes"][0]["ready"] = json!(true);
        assert_eq!(online.missing(&typed(&s)), None);
    }
}
