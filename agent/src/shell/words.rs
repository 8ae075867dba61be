//! Events in an operator's words: one formatter for the log, the journal (`ha-agent log`),
//! the status screen's last events, which shows journal records, and the text of the traps
//! they cause.
//!
//! Owns the wording of every event the loop reports (authority notices, resource events, link
//! and member changes, fence and power-on outcomes, the fence service's commands, operator
//! commands' results, the array's events) and which journal kind, subject member and
//! log level each gets. Members and resources are named, never a bare id or a Rust debug form.
//! It does not decide anything or write anywhere: `shell::fanout` makes the one line (the
//! journal record) and the notification of each, and the loop carries them out.

#![forbid(unsafe_code)]

use crate::core::authority::Notice;
use crate::core::engine::Event;
use crate::core::membership;
use crate::devices::fence::FenceOutcome;
use crate::journal::Kind;

/// One event, worded: the journal record's kind and subject, its text, and the log level.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Words {
    pub kind: Kind,
    /// The member the event is about (printed after the kind), if not this member as a whole.
    pub member: Option<String>,
    pub text: String,
    pub level: log::Level,
}

/// Every core event. `me` is this member's name; `name` turns a member id into its name.
pub fn event(event: &Event, me: &str, name: &dyn Fn(u8) -> String) -> Words {
    match event {
        Event::Authority(n) => {
            Words { kind: notice_kind(*n), member: None, text: notice(*n, name), level: notice_level(*n) }
        }
        Event::Resources(e) => {
            use crate::core::resources::Event as R;
            let level = match e {
                R::ResourceFailed { .. } | R::GroupFailed | R::StopFailed { .. } => log::Level::Error,
                R::ResourceDegraded { .. } | R::ResourceRestarted { .. } => log::Level::Warn,
                _ => log::Level::Info,
            };
            Words { kind: Kind::Resource, member: Some(me.to_string()), text: e.to_string(), level }
        }
        Event::Membership(membership::Event::Link { id, peer, from, to }) => Words {
            kind: Kind::Link,
            member: Some(name(*peer)),
            text: format!("link {id} {} (was {})", to.as_str(), from.as_str()),
            level: if matches!(to, membership::LinkState::Down | membership::LinkState::Warn) {
                log::Level::Warn
            } else {
                log::Level::Info
            },
        },
        Event::Membership(membership::Event::Peer { peer, from, to }) => Words {
            kind: Kind::Membership,
            member: Some(name(*peer)),
            text: format!("{} (was {})", to.as_str(), from.as_str()),
            level: if *to == membership::PeerState::Unreachable {
                log::Level::Warn
            } else {
                log::Level::Info
            },
        },
    }
}

/// What the relay worker reports for a fence of `node`.
pub fn fence_outcome(node: &str, outcome: &FenceOutcome) -> Words {
    Words {
        kind: Kind::Fence,
        member: Some(node.to_string()),
        text: format!("relay: {outcome}"),
        level: match outcome {
            FenceOutcome::Confirmed => log::Level::Warn,
            _ => log::Level::Error,
        },
    }
}

/// What the relay worker reports for a power-on of `node`.
pub fn power_on(node: &str, error: Option<&str>) -> Words {
    match error {
        Some(e) => Words {
            kind: Kind::Fence,
            member: Some(node.to_string()),
            text: format!("relay: power on failed: {e}"),
            level: log::Level::Error,
        },
        None => Words {
            kind: Kind::Fence,
            member: Some(node.to_string()),
            text: "relay: powered on again".into(),
            level: log::Level::Info,
        },
    }
}

/// The fence service (another cluster's fencer, docs/fence-agent.md) took `action` on
/// `plug` from `client`.
pub fn fence_service_taken(plug: &str, action: &str, client: &str) -> Words {
    Words {
        kind: Kind::Fence,
        member: Some(plug.to_string()),
        text: format!("fence service: {action} asked by {client}"),
        level: if matches!(action, "off" | "reboot") { log::Level::Warn } else { log::Level::Info },
    }
}

/// The fence service's command `action` on `plug` finished: `result` in an operator's words.
pub fn fence_service_done(plug: &str, action: &str, result: &str, ok: bool) -> Words {
    Words {
        kind: Kind::Fence,
        member: Some(plug.to_string()),
        text: format!("fence service: {action}: {result}"),
        level: if ok { log::Level::Info } else { log::Level::Error },
    }
}

/// The fence service refused an authenticated request.
pub fn fence_service_refused(plug: &str, action: &str, client: &str, reason: &str) -> Words {
    Words {
        kind: Kind::Fence,
        member: (!plug.is_empty()).then(|| plug.to_string()),
        text: format!("fence service: {action} asked by {client} refused: {reason}"),
        level: log::Level::Warn,
    }
}

/// An operator's command was carried out (`accepted`) or refused with `reason`.
pub fn operator_result(what: &str, refused: Option<&str>) -> Words {
    Words {
        kind: Kind::Operator,
        member: None,
        text: match refused {
            None => format!("{what}: accepted"),
            Some(reason) => format!("{what}: refused: {reason}"),
        },
        level: log::Level::Warn,
    }
}

/// A relay board's health check: it stopped answering after `failures` checks.
pub fn relay_board_unreachable(node: &str, failures: u32, error: &str) -> Words {
    Words {
        kind: Kind::Fence,
        member: Some(node.to_string()),
        text: format!("relay board stopped answering ({failures} checks): {error}"),
        level: log::Level::Error,
    }
}

/// A relay board's health check: it answers again, reading `state`.
pub fn relay_board_answers(node: &str, state: &str) -> Words {
    Words {
        kind: Kind::Fence,
        member: Some(node.to_string()),
        text: format!("relay board answers again (reads {state})"),
        level: log::Level::Warn,
    }
}

/// This member's agent started.
pub fn agent_started(member: &str) -> Words {
    Words {
        kind: Kind::Agent,
        member: Some(member.to_string()),
        text: "started".into(),
        level: log::Level::Info,
    }
}

/// The last reset of this machine came from its hardware watchdog.
pub fn watchdog_reset_at_boot(member: &str) -> Words {
    Words {
        kind: Kind::Agent,
        member: Some(member.to_string()),
        text: "the last reset of this machine came from the watchdog".into(),
        level: log::Level::Error,
    }
}

/// This member's agent stops on a signal, and what becomes of the service (`how`).
pub fn agent_stopping(member: &str, how: &str) -> Words {
    Words {
        kind: Kind::Agent,
        member: Some(member.to_string()),
        text: format!("stopping on signal: {how}"),
        level: log::Level::Warn,
    }
}

/// A reload of the configuration: applied (`Ok`, what changed) or refused (`Err`, why).
pub fn reload(result: &Result<String, String>) -> Words {
    let (text, level) = match result {
        Ok(text) => (text.clone(), log::Level::Info),
        Err(reason) => {
            (format!("reload refused: {reason}; keeping the running configuration"), log::Level::Error)
        }
    };
    Words { kind: Kind::Configuration, member: None, text, level }
}

/// Something the array's controller reported (a drive, a disk, a sensor, the console).
pub fn array_event(label: &str) -> Words {
    Words { kind: Kind::Array, member: None, text: label.to_string(), level: log::Level::Warn }
}

fn notice_kind(notice: Notice) -> Kind {
    match notice {
        Notice::FenceRequested { .. }
        | Notice::FenceSucceeded { .. }
        | Notice::FenceFailed { .. }
        | Notice::FenceUnconfirmed { .. }
        | Notice::PoweredOnNoCandidate { .. } => Kind::Fence,
        Notice::QuorumLost | Notice::QuorumRegained => Kind::Membership,
        Notice::WatchdogStarved => Kind::Watchdog,
        Notice::Maintenance { .. } => Kind::Operator,
        _ => Kind::Grant,
    }
}

fn notice_level(notice: Notice) -> log::Level {
    match notice {
        Notice::FenceFailed { .. } | Notice::SelfFenceArmed | Notice::WatchdogStarved => log::Level::Error,
        Notice::Granted { .. }
        | Notice::HolderLost { .. }
        | Notice::Maintenance { .. }
        | Notice::HolderStopped { .. }
        | Notice::LeftStopped { .. } => log::Level::Warn,
        _ => log::Level::Info,
    }
}

/// An authority notice in an operator's words.
pub fn notice(notice: Notice, name: &dyn Fn(u8) -> String) -> String {
    use crate::core::authority::StopReason;
    match notice {
        Notice::GenerationAdopted { generation } => {
            format!("adopted generation {generation} heard from a node")
        }
        Notice::Granted { node, generation } => {
            format!("granted the service to {} under generation {generation}", name(node))
        }
        Notice::SwitchoverStarted { from, to, generation } => {
            format!("switchover from {} to {} started (generation {generation})", name(from), name(to))
        }
        Notice::HolderLost { node, generation } => {
            format!("holder {} lost (generation {generation})", name(node))
        }
        Notice::FenceRequested { node, attempt } => format!("fencing {} (attempt {attempt})", name(node)),
        Notice::FenceSucceeded { node } => format!("{} fenced: power off confirmed", name(node)),
        Notice::FenceUnconfirmed { node } => {
            format!("{} fenced without read-back confirmation", name(node))
        }
        Notice::PoweredOnNoCandidate { node } => {
            format!("{} powered on again: no other node can take the service", name(node))
        }
        Notice::FenceFailed { node, attempt } => {
            format!("fence of {} failed (attempt {attempt}); retrying", name(node))
        }
        Notice::WatchdogDeadlinePassed { node } => {
            format!("watchdog deadline of {} passed: it cannot be running any more", name(node))
        }
        Notice::ResourcesFailed { node } => format!("the resource group failed on {}", name(node)),
        Notice::Starting { generation } => {
            format!("starting the resources under generation {generation}")
        }
        Notice::Stopping { generation, reason } => {
            let why = match reason {
                StopReason::Ordered => "ordered by the witness",
                StopReason::Standby => "standby",
                StopReason::NewerGeneration => "a newer generation exists",
                StopReason::QuorumLost => "quorum lost",
                StopReason::Unhealthy => "unhealthy",
                StopReason::Shutdown => "the agent is stopping",
            };
            format!("stopping the resources of generation {generation}: {why}")
        }
        Notice::SelfFenceArmed => "quorum lost for self_fence_ms: stopping the resources".to_string(),
        Notice::WatchdogStarved => {
            "resources not confirmed stopped: the watchdog is no longer fed".to_string()
        }
        Notice::WaitingForPeer { generation } => {
            format!("grant {generation} waits: the peer may still run the resources")
        }
        Notice::QuorumLost => "quorum lost".to_string(),
        Notice::QuorumRegained => "quorum regained".to_string(),
        Notice::HolderStopped { node, generation } => format!(
            "holder {} stopped the service of generation {generation} by itself: handed over without a fence",
            name(node)
        ),
        Notice::LeftStopped { node, generation } => format!(
            "{} went silent after reporting the service stopped (generation {generation}): not fenced",
            name(node)
        ),
        Notice::Maintenance { on: true } => {
            "maintenance mode on: resources are left alone, nothing fails over or moves".to_string()
        }
        Notice::Maintenance { on: false } => {
            "maintenance mode off: the cluster manages the service again".to_string()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::resources::{Action, Event as R, Outcome};

    fn name(id: u8) -> String {
        ["witness", "node-a", "node-b"]
            .get(usize::from(id).wrapping_sub(1))
            .map_or(format!("#{id}"), |n| n.to_string())
    }

    /// No Rust debug form and no bare id in any text: the words an operator reads.
    fn plain(text: &str) {
        for bad in ["{", "}", "Some(", "None", "::", "node: ", "resource: 0"] {
            assert!(!text.contains(bad), "{bad:?} in {text:?}");
        }
    }

    #[test]
    fn every_event_names_members_and_resources() {
        let events = [
            Event::Authority(Notice::Granted { node: 2, generation: 1 }),
            Event::Authority(Notice::FenceFailed { node: 3, attempt: 2 }),
            Event::Authority(Notice::SwitchoverStarted { from: 2, to: 3, generation: 4 }),
            Event::Resources(R::ResourceStarted { resource: 0, name: "svc".try_into().unwrap() }),
            Event::Resources(R::ResourceFailed {
                resource: 0,
                name: "svc".try_into().unwrap(),
                action: Action::Monitor,
                outcome: Outcome::Failed(7),
                exit_reason: Default::default(),
            }),
            Event::Membership(membership::Event::Link {
                id: 3,
                peer: 3,
                from: membership::LinkState::Up,
                to: membership::LinkState::Down,
            }),
            Event::Membership(membership::Event::Peer {
                peer: 2,
                from: membership::PeerState::Reachable,
                to: membership::PeerState::Unreachable,
            }),
        ];
        let worded: Vec<Words> = events.iter().map(|e| event(e, "node-a", &name)).collect();
        for w in &worded {
            plain(&w.text);
        }
        assert_eq!(worded[0].text, "granted the service to node-a under generation 1");
        assert_eq!(worded[1].text, "fence of node-b failed (attempt 2); retrying");
        assert_eq!(worded[1].kind, Kind::Fence);
        assert_eq!(worded[3].text, "svc started");
        assert_eq!(worded[3].member.as_deref(), Some("node-a"));
        assert_eq!(worded[4].text, "svc: monitor failed: exit 7 (not running)");
        assert_eq!(
            (worded[5].member.as_deref(), worded[5].text.as_str()),
            (Some("node-b"), "link 3 down (was up)")
        );
        assert_eq!(worded[6].text, "unreachable (was reachable)");
        let f = fence_outcome("node-a", &FenceOutcome::Failed("relay still reads on".into()));
        assert_eq!(f.text, "relay: failed: relay still reads on");
        assert_eq!(
            fence_outcome("node-a", &FenceOutcome::Confirmed).text,
            "relay: power off confirmed by read-back"
        );
        plain(&power_on("node-a", Some("no answer")).text);
    }
}
