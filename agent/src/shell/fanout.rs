//! The fan-out of what the loop reports: from one engine event (or a relay worker's result) to
//! its effects, the log line with its level, the journal record and the SNMP notification, all
//! in the words of [`super::words`]. One line serves all three: the log line is the journal
//! record as `ha-agent log` prints it (without sequence and time), and a trap carries the same
//! line as its text (its other varbinds keep their typed objects).
//!
//! Pure: it reads no clock, writes nowhere and owns no state but what the caller lends it (the
//! [`Moving`] memory that names a failover or switchover when the grant that ends it comes).
//! The loop carries the effects out (`shell::Agent::fan_out`). It does not decide anything
//! about the cluster, and it does not word the agent's own lines (start, stop, reload,
//! transports), nor the array's events and the relay board's health, which have their own.

#![forbid(unsafe_code)]

use crate::core::authority::Notice;
use crate::core::engine::Event;
use crate::core::membership;
use crate::journal::Event as JournalEvent;
use crate::shell::notify::resource_notification;
use crate::shell::words::{self, Words};
use crate::snmp::mib::Notification;

/// What one event makes the loop do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Effects {
    pub level: log::Level,
    /// The one line: logged as it is, and the text of the notification, if any.
    pub line: String,
    pub journal: JournalEvent,
    /// Sent with `line` as its text.
    pub notification: Option<Notification>,
}

/// Why the service is changing hands, until the next grant says where it went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MoveKind {
    /// The holder was lost (fence or watchdog deadline).
    Failover,
    /// Graceful switchover (operator move, standby, failback).
    Switchover,
    /// The holder's resource group failed and stopped.
    ResourceFailure,
}

/// The node a failover or switchover moves the service from, until the grant that ends it.
pub type Moving = Option<(u8, MoveKind)>;

/// The effects of a core event. `me` is this member's name; `name` turns a member id into its
/// name; `moving` is the caller's memory of a move under way (read and updated here).
pub fn event(event: &Event, me: &str, name: &dyn Fn(u8) -> String, moving: &mut Moving) -> Effects {
    let w = words::event(event, me, name);
    let (fields, notification): (Vec<(&str, &str)>, Option<Notification>) = match event {
        Event::Authority(notice) => (Vec::new(), notice_notification(*notice, me, name, moving)),
        Event::Resources(e) => {
            let fields = e.exit_reason().map(|r| vec![("exit_reason", r)]).unwrap_or_default();
            (fields, resource_notification(me, e))
        }
        Event::Membership(membership::Event::Link { id, peer, from, to }) => {
            // Up and down are notified; warn is only logged. A link that comes up at start is
            // not news; one that never came up is.
            use membership::LinkState::{Down, Init};
            let member = name(*peer);
            let link = format!("{id}");
            let n = match (*from, *to) {
                (f, Down) if f.is_alive() || f == Init => Some(Notification::LinkDown { member, link }),
                (Down, t) if t.is_alive() => Some(Notification::LinkUp { member, link }),
                _ => None,
            };
            (Vec::new(), n)
        }
        Event::Membership(membership::Event::Peer { peer, to, .. }) => {
            let member = name(*peer);
            let n = match to {
                membership::PeerState::Reachable => Some(Notification::MemberUp { member }),
                membership::PeerState::Unreachable => Some(Notification::MemberDown { member }),
                membership::PeerState::Unknown => None,
            };
            (Vec::new(), n)
        }
    };
    effects(&w, &fields, notification)
}

/// The effects of something the shell did on its own (a relay worker's result, the fence
/// service's commands, an operator's command, a reload): the line of `w`, logged and
/// journaled, and `notification` carrying it when there is one.
pub fn worded(w: &Words, notification: Option<Notification>) -> Effects {
    effects(w, &[], notification)
}

/// The agent's start (boot `boot`), and a reset by the watchdog before it when `reset`.
pub fn startup(me: &str, boot: u64, reset: bool) -> Vec<Effects> {
    let started = Notification::AgentStarted { member: me.to_string() };
    let mut all = vec![effects(&words::agent_started(me), &[("boot", &boot.to_string())], Some(started))];
    if reset {
        let n = Notification::WatchdogResetAtBoot { member: me.to_string() };
        all.push(effects(&words::watchdog_reset_at_boot(me), &[], Some(n)));
    }
    all
}

fn effects(w: &Words, fields: &[(&str, &str)], notification: Option<Notification>) -> Effects {
    let mut journal = JournalEvent::new(w.kind, &w.text);
    if let Some(m) = &w.member {
        journal = journal.with_member(m);
    }
    for (k, v) in fields {
        journal = journal.with_field(k, v);
    }
    Effects { level: w.level, line: journal.to_string(), journal, notification }
}

/// The notification an authority notice deserves, if any.
fn notice_notification(
    notice: Notice,
    me: &str,
    name: &dyn Fn(u8) -> String,
    moving: &mut Moving,
) -> Option<Notification> {
    let me = me.to_string();
    Some(match notice {
        Notice::HolderLost { node, .. } => {
            *moving = Some((node, MoveKind::Failover));
            Notification::FailoverStarted { member: "-".into(), from: name(node) }
        }
        Notice::SwitchoverStarted { from, .. } => {
            *moving = Some((from, MoveKind::Switchover));
            return None;
        }
        // The holder stopped by itself (its agent is leaving): the grant that follows is a
        // switchover without a fence.
        Notice::HolderStopped { node, .. } => {
            *moving = Some((node, MoveKind::Switchover));
            return None;
        }
        Notice::Granted { node, .. } => match moving.take() {
            Some((from, MoveKind::Failover)) => {
                Notification::FailoverCompleted { member: name(node), from: name(from) }
            }
            Some((from, MoveKind::Switchover)) if from == node => return None,
            Some((from, MoveKind::Switchover)) => {
                Notification::Switchover { member: name(node), from: name(from) }
            }
            // Granted again to the node whose group failed (no other was ready): no move.
            Some((from, MoveKind::ResourceFailure)) if from == node => return None,
            Some((from, MoveKind::ResourceFailure)) => {
                Notification::ResourceMoved { member: name(node), from: name(from), resource: "group".into() }
            }
            None => return None,
        },
        Notice::FenceSucceeded { node } => Notification::FenceSucceeded { member: name(node) },
        Notice::FenceUnconfirmed { node } => Notification::FenceUnconfirmed { member: name(node) },
        Notice::FenceFailed { node, attempt } => Notification::FenceFailed {
            member: name(node),
            reason: format!("attempt {attempt} failed; retrying"),
        },
        Notice::ResourcesFailed { node } => {
            *moving = Some((node, MoveKind::ResourceFailure));
            Notification::ResourceFailed {
                member: name(node),
                resource: "group".into(),
                reason: "restarts exhausted".into(),
            }
        }
        Notice::SelfFenceArmed => Notification::SelfFenceArmed { member: me },
        Notice::QuorumLost => Notification::QuorumLost { member: me },
        Notice::QuorumRegained => Notification::QuorumRegained { member: me },
        Notice::Maintenance { on: true } => Notification::MaintenanceOn { member: me },
        Notice::Maintenance { on: false } => Notification::MaintenanceOff { member: me },
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::resources::{exit_reason, Action, Event as R, Outcome};
    use crate::devices::fence::FenceOutcome;
    use crate::journal::Kind;
    use membership::{LinkState, PeerState};

    fn name(id: u8) -> String {
        ["witness", "node-a", "node-b"]
            .get(usize::from(id).wrapping_sub(1))
            .map_or(format!("#{id}"), |n| n.to_string())
    }

    fn run(events: &[Event], moving: &mut Moving) -> Vec<Effects> {
        events.iter().map(|e| event(e, "witness", &name, moving)).collect()
    }

    fn mib(e: &Effects) -> Option<&'static str> {
        e.notification.as_ref().map(|n| n.info().mib_name)
    }

    #[test]
    fn one_line_for_log_journal_and_trap() {
        let mut moving = None;
        let down = Event::Membership(membership::Event::Link {
            id: 3,
            peer: 3,
            from: LinkState::Warn,
            to: LinkState::Down,
        });
        let e = event(&down, "node-a", &name, &mut moving);
        assert_eq!(e.line, "link node-b link 3 down (was warn)");
        assert_eq!(e.line, e.journal.to_string(), "the log line is the journal record");
        assert_eq!(e.journal.kind(), Kind::Link);
        assert_eq!(e.level, log::Level::Warn);
        assert_eq!(mib(&e), Some("rackHaLinkDown"));
        let lost = Event::Membership(membership::Event::Peer {
            peer: 2,
            from: PeerState::Reachable,
            to: PeerState::Unreachable,
        });
        let e = event(&lost, "witness", &name, &mut moving);
        assert_eq!(e.line, "membership node-a unreachable (was reachable)");
        assert_eq!(mib(&e), Some("rackHaMemberDown"));
        assert_eq!(moving, None, "membership changes move nothing");
    }

    #[test]
    fn links_coming_up_at_start_and_warnings_are_not_notified() {
        let link = |from, to| Event::Membership(membership::Event::Link { id: 1, peer: 2, from, to });
        let effects = run(
            &[
                link(LinkState::Init, LinkState::Up),
                link(LinkState::Up, LinkState::Warn),
                link(LinkState::Warn, LinkState::Down),
                link(LinkState::Down, LinkState::Up),
                link(LinkState::Init, LinkState::Down),
            ],
            &mut None,
        );
        let got: Vec<_> = effects.iter().map(mib).collect();
        assert_eq!(got, [None, None, Some("rackHaLinkDown"), Some("rackHaLinkUp"), Some("rackHaLinkDown")]);
        assert_eq!(effects[0].level, log::Level::Info);
        assert_eq!(effects[1].level, log::Level::Warn);
    }

    #[test]
    fn a_failover_and_a_switchover_are_named_when_the_grant_comes() {
        let mut moving = None;
        let effects = run(
            &[
                Event::Authority(Notice::HolderLost { node: 2, generation: 1 }),
                Event::Authority(Notice::FenceSucceeded { node: 2 }),
                Event::Authority(Notice::Granted { node: 3, generation: 2 }),
                Event::Authority(Notice::SwitchoverStarted { from: 3, to: 2, generation: 3 }),
                Event::Authority(Notice::Granted { node: 2, generation: 3 }),
                Event::Authority(Notice::HolderStopped { node: 2, generation: 3 }),
                Event::Authority(Notice::Granted { node: 2, generation: 4 }),
                Event::Authority(Notice::Granted { node: 3, generation: 5 }),
            ],
            &mut moving,
        );
        let got: Vec<_> = effects.iter().map(mib).collect();
        assert_eq!(
            got,
            [
                Some("rackHaFailoverStarted"),
                Some("rackHaFenceSucceeded"),
                Some("rackHaFailoverCompleted"),
                None,
                Some("rackHaSwitchover"),
                None,
                None, // granted again to the node that stopped: no move
                None, // nothing under way
            ]
        );
        assert_eq!(
            effects[2].notification,
            Some(Notification::FailoverCompleted { member: "node-b".into(), from: "node-a".into() })
        );
        assert_eq!(effects[2].line, "grant granted the service to node-b under generation 2");
        assert_eq!(effects[1].journal.kind(), Kind::Fence);
        assert_eq!(moving, None);
    }

    #[test]
    fn a_failed_group_moves_the_service_or_not() {
        let mut moving = None;
        let effects = run(
            &[
                Event::Authority(Notice::ResourcesFailed { node: 2 }),
                Event::Authority(Notice::Granted { node: 3, generation: 2 }),
                Event::Authority(Notice::ResourcesFailed { node: 3 }),
                Event::Authority(Notice::Granted { node: 3, generation: 3 }),
            ],
            &mut moving,
        );
        let got: Vec<_> = effects.iter().map(mib).collect();
        assert_eq!(
            got,
            [Some("rackHaResourceFailed"), Some("rackHaResourceMoved"), Some("rackHaResourceFailed"), None]
        );
    }

    #[test]
    fn resource_events_carry_the_exit_reason_as_a_field_and_in_the_trap_text() {
        let failed = Event::Resources(R::ResourceFailed {
            resource: 0,
            name: "db".try_into().unwrap(),
            action: Action::Monitor,
            outcome: Outcome::Failed(1),
            exit_reason: exit_reason("cannot connect"),
        });
        let e = event(&failed, "node-a", &name, &mut None);
        assert_eq!(e.level, log::Level::Error);
        assert!(e.line.starts_with("resource node-a db: monitor failed: exit 1"), "{}", e.line);
        assert!(e.line.ends_with(" exit_reason=cannot connect"), "{}", e.line);
        assert_eq!(mib(&e), Some("rackHaResourceFailed"));
        let started = Event::Resources(R::ResourceStarted { resource: 0, name: "db".try_into().unwrap() });
        let e = event(&started, "node-a", &name, &mut None);
        assert_eq!((e.line.as_str(), e.notification), ("resource node-a db started", None));
    }

    #[test]
    fn relay_results_are_logged_and_journaled_in_the_same_words() {
        let e = worded(
            &words::fence_outcome("node-a", &FenceOutcome::Failed("relay still reads on".into())),
            None,
        );
        assert_eq!(e.line, "fence node-a relay: failed: relay still reads on");
        assert_eq!(e.level, log::Level::Error);
        assert_eq!(e.notification, None);
        assert_eq!(
            worded(&words::power_on("node-a", None), None).line,
            "fence node-a relay: powered on again"
        );
        assert_eq!(
            worded(&words::power_on("node-a", Some("no answer")), None).line,
            "fence node-a relay: power on failed: no answer"
        );
    }

    #[test]
    fn operator_results_and_array_events_have_one_line_for_log_journal_and_trap() {
        let e = worded(&words::operator_result("move node-b", Some("node-b is in standby")), None);
        assert_eq!(e.line, "operator move node-b: refused: node-b is in standby");
        assert_eq!(e.line, e.journal.to_string());
        assert_eq!(e.notification, None);
        let drive = Notification::LogicalDriveFailed { member: "witness".into(), drive: "ld0".into() };
        let e = worded(&words::array_event("logical drive ld0 failed"), Some(drive.clone()));
        assert_eq!(e.line, "array logical drive ld0 failed");
        assert_eq!(e.line, e.journal.to_string());
        assert_eq!(e.notification, Some(drive));
    }

    #[test]
    fn the_shells_own_events_have_one_line_for_log_journal_and_trap() {
        let stopping =
            Notification::AgentStopping { member: "node-a".into(), how: "handing the service over".into() };
        let e = worded(&words::agent_stopping("node-a", "handing the service over"), Some(stopping));
        assert_eq!(e.line, "agent node-a stopping on signal: handing the service over");
        assert_eq!(e.line, e.journal.to_string());
        assert!(e.notification.is_some());
        let e = worded(&words::reload(&Err("2 problem(s)".into())), None);
        assert_eq!(e.line, "config reload refused: 2 problem(s); keeping the running configuration");
        assert_eq!(e.level, log::Level::Error);
        let e = worded(&words::relay_board_unreachable("node-b", 3, "no answer"), None);
        assert_eq!(e.line, "fence node-b relay board stopped answering (3 checks): no answer");
    }

    #[test]
    fn the_start_is_one_line_and_a_watchdog_reset_another() {
        let quiet = startup("witness", 3, false);
        assert_eq!(quiet.len(), 1);
        assert_eq!(quiet[0].line, "agent witness started boot=3");
        assert!(matches!(quiet[0].notification, Some(Notification::AgentStarted { .. })));
        let reset = startup("witness", 4, true);
        assert_eq!(reset[1].line, "agent witness the last reset of this machine came from the watchdog");
        assert_eq!(reset[1].level, log::Level::Error);
    }
}
