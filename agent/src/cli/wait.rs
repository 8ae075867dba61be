//! `--wait` of `move`, `standby`, `online` and `fence`: what happened between two status
//! documents of the witness, in the operator's words, and whether the asked state is reached.
//!
//! Owns the goal of each command (when it counts as done, and what is still missing) and the
//! steps shown as they happen (`stopping on node-a`, `node-a fenced: power off confirmed`,
//! `granted to node-b (generation 4)`, `running on node-b`). Pure: `main.rs` polls the socket,
//! keeps the time and prints.

#![forbid(unsafe_code)]

use serde_json::Value;

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
    pub fn new(verb: &str, node: &str, before: &Value) -> Option<Goal> {
        let node = node.to_string();
        let a = &before["authority"];
        Some(match verb {
            "move" => Goal::Move(node),
            "standby" => Goal::Standby(node),
            "online" => Goal::Online(node),
            "fence" => Goal::Fence {
                was_holder: a["holder"].as_str() == Some(node.as_str()),
                fences_before: a["last_fence"]["count"].as_u64().unwrap_or(0),
                node,
            },
            _ => return None,
        })
    }

    /// `None` once reached; else what is still missing (printed on a timeout).
    pub fn missing(&self, status: &Value) -> Option<String> {
        let a = &status["authority"];
        let holder = a["holder"].as_str();
        let resources =
            |n: &str| node(status, n).and_then(|v| v["resources_state"].as_str()).unwrap_or("unknown");
        let holder_runs = || holder.is_some_and(|h| resources(h) == "running");
        let busy = a["switching"] == true || a["fencing"].is_string();
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
                let standby = node(status, n).is_some_and(|v| v["standby"] == true);
                if !standby {
                    Some(format!("{n} is not in standby"))
                } else if holder == Some(n.as_str()) {
                    Some(format!("{n} still holds the service"))
                } else if !matches!(resources(n), "stopped") && reachable(status, n) {
                    Some(format!("{n}'s resources are {}", resources(n)))
                } else if holder.is_some() && !holder_runs() {
                    Some(format!("the service is not running yet on {}", holder.unwrap_or("-")))
                } else {
                    None
                }
            }
            Goal::Online(n) => {
                let v = node(status, n);
                let standby = v.is_some_and(|v| v["standby"] == true);
                let ready = v.is_some_and(|v| v["ready"] == true);
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
                let f = &a["last_fence"];
                let done = f["count"].as_u64().unwrap_or(0) > *fences_before
                    && f["node"].as_str() == Some(n.as_str())
                    && matches!(f["result"].as_str(), Some("confirmed" | "unconfirmed"));
                if !done {
                    let last = match (f["node"].as_str(), f["result"].as_str()) {
                        (Some(x), Some(r)) if x == n && f["count"].as_u64().unwrap_or(0) > *fences_before => {
                            format!(" (last attempt: {r})")
                        }
                        _ => String::new(),
                    };
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

fn node<'a>(status: &'a Value, name: &str) -> Option<&'a Value> {
    status["authority"]["nodes"].as_array()?.iter().find(|n| n["name"].as_str() == Some(name))
}

fn reachable(status: &Value, name: &str) -> bool {
    status["members"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|m| m["name"].as_str() == Some(name) && m["state"].as_str() == Some("reachable"))
}

/// What changed from `before` to `now`, one line each, in the order an operator follows it:
/// what went down (stopping, stopped, unreachable), the fence, the grant, what came up.
pub fn steps(before: &Value, now: &Value) -> Vec<String> {
    let (mut down, mut up, mut middle) = (Vec::new(), Vec::new(), Vec::new());
    let (a0, a1) = (&before["authority"], &now["authority"]);
    for n in now["authority"]["nodes"].as_array().into_iter().flatten() {
        let Some(name) = n["name"].as_str() else { continue };
        let old = node(before, name);
        let was = |key: &str| old.map_or(Value::Null, |o| o[key].clone());
        if n["standby"] != was("standby") && n["standby"].is_boolean() {
            if n["standby"] == true {
                down.push(format!("{name} in standby"));
            } else {
                up.push(format!("{name} online"));
            }
        }
        let r0 = reachable(before, name);
        let r1 = reachable(now, name);
        if r0 && !r1 {
            down.push(format!("{name} unreachable"));
        } else if r1 && !r0 {
            up.push(format!("{name} reachable"));
        }
        if n["resources_state"] != was("resources_state") {
            match n["resources_state"].as_str() {
                Some(state @ ("starting" | "running")) => up.push(format!("{state} on {name}")),
                Some(state) => down.push(format!("{state} on {name}")),
                None => {}
            }
        }
    }
    if a1["switching"] == true && a0["switching"] != true {
        middle.push("switchover started".into());
    }
    if a1["fencing"] != a0["fencing"] {
        if let Some(n) = a1["fencing"].as_str() {
            middle.push(format!("fencing {n}"));
        }
    }
    if a1["last_fence"]["count"] != a0["last_fence"]["count"] {
        let f = &a1["last_fence"];
        let n = f["node"].as_str().unwrap_or("?");
        middle.push(match f["result"].as_str() {
            Some("confirmed") => format!("{n} fenced: power off confirmed"),
            Some("unconfirmed") => format!("{n} fenced: power off not confirmed by read-back"),
            _ => format!("fence of {n} failed; retrying"),
        });
    }
    if a1["generation"] != a0["generation"] || a1["holder"] != a0["holder"] {
        match a1["holder"].as_str() {
            Some(h) => middle.push(format!("granted to {h} (generation {})", a1["generation"])),
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
    use serde_json::json;

    fn status(holder: &str, gen: u64, a: &str, b: &str) -> Value {
        json!({
            "members": [{"name": "node-a", "state": "reachable"}, {"name": "node-b", "state": "reachable"}],
            "authority": {"holder": holder, "generation": gen, "switching": false, "fencing": null,
                "last_fence": null,
                "nodes": [{"name": "node-a", "resources_state": a, "ready": a == "stopped", "standby": false},
                          {"name": "node-b", "resources_state": b, "ready": b == "stopped", "standby": false}]}
        })
    }

    #[test]
    fn a_move_is_followed_step_by_step_until_the_target_runs() {
        let s0 = status("node-a", 3, "running", "stopped");
        let goal = Goal::new("move", "node-b", &s0).unwrap();
        assert!(goal.missing(&s0).unwrap().contains("node-b does not hold the service yet (holder node-a)"));
        let s1 = status("node-a", 3, "stopping", "stopped");
        assert_eq!(steps(&s0, &s1), vec!["stopping on node-a"]);
        let s2 = status("node-b", 4, "stopped", "starting");
        assert_eq!(
            steps(&s1, &s2),
            vec!["stopped on node-a", "granted to node-b (generation 4)", "starting on node-b"]
        );
        assert!(goal.missing(&s2).unwrap().contains("resources are starting"));
        let s3 = status("node-b", 4, "stopped", "running");
        assert_eq!(steps(&s2, &s3), vec!["running on node-b"]);
        assert_eq!(goal.missing(&s3), None);
        assert!(steps(&s3, &s3).is_empty());
    }

    #[test]
    fn a_fence_counts_only_a_confirmation_after_the_command() {
        let mut s0 = status("node-a", 3, "running", "stopped");
        s0["authority"]["last_fence"] = json!({"node": "node-a", "result": "confirmed", "count": 1});
        let goal = Goal::new("fence", "node-a", &s0).unwrap();
        assert!(goal.missing(&s0).unwrap().contains("not confirmed"), "an older fence does not count");
        let mut s1 = s0.clone();
        s1["authority"]["fencing"] = json!("node-a");
        s1["authority"]["last_fence"] = json!({"node": "node-a", "result": "failed", "count": 2});
        assert_eq!(steps(&s0, &s1), vec!["fencing node-a", "fence of node-a failed; retrying"]);
        assert!(goal.missing(&s1).unwrap().contains("last attempt: failed"));
        let mut s2 = status("node-b", 4, "stopped", "running");
        s2["members"][0]["state"] = json!("unreachable");
        s2["authority"]["last_fence"] = json!({"node": "node-a", "result": "confirmed", "count": 3});
        assert!(steps(&s1, &s2).contains(&"node-a fenced: power off confirmed".to_string()));
        assert!(steps(&s1, &s2).contains(&"node-a unreachable".to_string()));
        assert_eq!(goal.missing(&s2), None);
    }

    #[test]
    fn standby_and_online_wait_for_what_the_nodes_report() {
        let mut s = status("node-b", 4, "stopped", "running");
        let standby = Goal::new("standby", "node-a", &s).unwrap();
        assert_eq!(standby.missing(&s).as_deref(), Some("node-a is not in standby"));
        s["authority"]["nodes"][0]["standby"] = json!(true);
        s["authority"]["nodes"][0]["ready"] = json!(false);
        assert_eq!(standby.missing(&s), None);
        let online = Goal::new("online", "node-a", &s).unwrap();
        assert_eq!(online.missing(&s).as_deref(), Some("node-a is still in standby"));
        s["authority"]["nodes"][0]["standby"] = json!(false);
        assert!(online.missing(&s).unwrap().contains("does not report itself ready"));
        s["authority"]["nodes"][0]["ready"] = json!(true);
        assert_eq!(online.missing(&s), None);
    }
}
