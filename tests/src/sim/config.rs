//! The simulated members' configurations: real configuration files, parsed and validated by
//! the agent's own parser, then mapped to the engine's roles by the agent's own
//! `RoleConfig::from_config`, so that a simulated cluster is configured exactly as a real one.
//!
//! Owns the text: the process tests' generator (`harness::member_config`, the same members,
//! link plan and `[timing]` layout) with the simulator's timings, and the `[authority]`,
//! `[relay]` and `[resources]` sections that say what the simulator's constants say. It does
//! not run anything; the parsed configurations are cached per thread (they depend only on the
//! member and two switches of the scenario).

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use ha_agent::config::{self, Config};

use super::{
    group_spec, DEAD_MS, INITDEAD_MS, INTERVAL_MS, MARGIN_MS, MONITOR_INTERVAL_MS, MONITOR_TIMEOUT_MS,
    SELF_FENCE_MS, START_TIMEOUT_MS, STOP_TIMEOUT_MS, WARN_MS, WATCHDOG_MS,
};
use crate::harness::{self, EndConfig, LinkEnds, LinkKind, Timing, MEMBERS};

/// Fence retries of the simulated witness.
const FENCE_RETRY_INITIAL_MS: u64 = 500;
const FENCE_RETRY_MAX_MS: u64 = 4000;

/// The configuration text of member `index` (0 = witness): `fence_configured` gives the
/// witness a relay channel for each node, `auto_failback` moves the service back to node-a.
pub fn member_text(index: usize, fence_configured: bool, auto_failback: bool) -> String {
    let member = MEMBERS[index];
    let timing =
        Timing { interval_ms: INTERVAL_MS, warn_ms: WARN_MS, dead_ms: DEAD_MS, initdead_ms: INITDEAD_MS };
    let ends: Vec<LinkEnds> = harness::LINKS
        .iter()
        .map(|plan| {
            let end = |side: &str| match plan.kind {
                LinkKind::Serial => {
                    EndConfig::Serial { device: PathBuf::from(format!("/dev/sim-{}-{side}", plan.id)) }
                }
                LinkKind::Udp => {
                    let port = |s: &str| 40_000 + u16::from(plan.id) * 2 + u16::from(s == "b");
                    EndConfig::Udp {
                        local: SocketAddr::from((Ipv4Addr::LOCALHOST, port(side))),
                        remote: SocketAddr::from((
                            Ipv4Addr::LOCALHOST,
                            port(if side == "a" { "b" } else { "a" }),
                        )),
                    }
                }
            };
            LinkEnds { id: plan.id, a: end("a"), b: end("b") }
        })
        .collect();
    let socket = PathBuf::from(format!("/run/sim/{member}.sock"));
    let mut text = harness::member_config(member, timing, &socket, &ends);
    let stop_ms = group_spec().worst_case_stop_ms();
    let _ = writeln!(text, "\n[authority]\nself_fence_ms = {SELF_FENCE_MS}\nmargin_ms = {MARGIN_MS}");
    if index == 0 {
        let _ = writeln!(
            text,
            "preferred = \"node-a\"\nauto_failback = {auto_failback}\nstop_timeout_ms = {stop_ms}\n\
             unknown_fence_bound_ms = {}\nfence_retry_initial_ms = {FENCE_RETRY_INITIAL_MS}\n\
             fence_retry_max_ms = {FENCE_RETRY_MAX_MS}",
            SELF_FENCE_MS + stop_ms + WATCHDOG_MS
        );
        if fence_configured {
            let _ = writeln!(text, "\n[relay]");
            for node in &MEMBERS[1..] {
                let _ = writeln!(
                    text,
                    "\n[[relay.channels]]\nnode = \"{node}\"\nboard = \"command\"\ncommand = \"/sim/fence\"\n\
                     plug = \"{node}\"\ntimeout_ms = 2000"
                );
            }
        }
    } else {
        let group = group_spec();
        let _ = writeln!(
            text,
            "require_watchdog = true\n\n[watchdog]\ntimeout_s = {}\n\n[resources]\nmax_restarts = {}\n\
             restart_window_s = {}",
            WATCHDOG_MS / 1000,
            group.max_restarts,
            group.restart_window_ms / 1000
        );
        for r in &group.resources {
            let _ = writeln!(
                text,
                "\n[[resources.group]]\nname = \"{}\"\nagent = \"/sim/{}\"\nstart_timeout_ms = {START_TIMEOUT_MS}\n\
                 stop_timeout_ms = {STOP_TIMEOUT_MS}\nmonitor_timeout_ms = {MONITOR_TIMEOUT_MS}\n\
                 monitor_interval_ms = {MONITOR_INTERVAL_MS}",
                r.name, r.name
            );
        }
    }
    text
}

/// Member `index`'s configuration, parsed and validated by `config::parse_str`; panics with
/// the problems if the text is invalid (a bug of this module).
pub fn member_config(index: usize, fence_configured: bool, auto_failback: bool) -> Rc<Config> {
    thread_local! {
        static CACHE: RefCell<HashMap<(usize, bool, bool), Rc<Config>>> = RefCell::new(HashMap::new());
    }
    CACHE.with(|cache| {
        cache
            .borrow_mut()
            .entry((index, fence_configured, auto_failback))
            .or_insert_with(|| {
                let text = member_text(index, fence_configured, auto_failback);
                let origin = Path::new("/etc/ha-agent").join(format!("{}.toml", MEMBERS[index]));
                let cfg = config::parse_str(&text, &origin).unwrap_or_else(|problems| {
                    panic!("simulated configuration invalid: {problems:?}\n{text}")
                });
                if index > 0 {
                    assert_eq!(
                        cfg.resources.as_ref(),
                        Some(&group_spec()),
                        "the simulated group as configured"
                    );
                }
                Rc::new(cfg)
            })
            .clone()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ha_agent::config::role::{FromConfig, Restored};
    use ha_agent::core::authority::fence::FenceConfig;
    use ha_agent::core::authority::node::NodeConfig;
    use ha_agent::core::authority::witness::{Stored, WitnessConfig};
    use ha_agent::core::authority::AuthorityTiming;
    use ha_agent::core::engine::RoleConfig;

    use crate::sim::{NODE_A, NODE_B, WITNESS};

    /// The roles as the simulator built them by hand before it used the configuration.
    fn by_hand(i: usize, fence_configured: bool, auto_failback: bool, restored: Restored) -> RoleConfig {
        let timing = AuthorityTiming {
            interval_ms: INTERVAL_MS,
            dead_ms: DEAD_MS,
            initdead_ms: INITDEAD_MS,
            self_fence_ms: SELF_FENCE_MS,
            stop_timeout_ms: group_spec().worst_case_stop_ms(),
            margin_ms: MARGIN_MS,
        };
        if i == 0 {
            RoleConfig::Witness {
                config: WitnessConfig {
                    me: WITNESS,
                    nodes: [NODE_A, NODE_B],
                    timing,
                    fence: FenceConfig {
                        retry_initial_ms: 500,
                        retry_max_ms: 4000,
                        trust_unconfirmed: false,
                    },
                    fence_enabled: fence_configured,
                    power_on_after_fence: true,
                    preferred: Some(NODE_A),
                    auto_failback,
                    wait_for_all: false,
                    unknown_fence_bound_ms: SELF_FENCE_MS + group_spec().worst_case_stop_ms() + WATCHDOG_MS,
                },
                stored: restored.stored,
            }
        } else {
            RoleConfig::Node {
                config: NodeConfig {
                    me: [WITNESS, NODE_A, NODE_B][i],
                    witness: WITNESS,
                    peer: if i == 1 { NODE_B } else { NODE_A },
                    timing,
                    watchdog_ms: WATCHDOG_MS,
                    require_watchdog: true,
                },
                group: group_spec(),
                seen: restored.seen,
                adopted: restored.adopted,
            }
        }
    }

    #[test]
    fn the_configured_roles_are_the_simulated_cluster() {
        let restored = Restored { stored: Some(Stored::announced(4, NODE_B)), seen: 3, adopted: Some(3) };
        for i in 0..3 {
            for fence_configured in [false, true] {
                for auto_failback in [false, true] {
                    let cfg = member_config(i, fence_configured, auto_failback);
                    let configured = RoleConfig::from_config(&cfg, restored, WATCHDOG_MS);
                    let expected = by_hand(i, fence_configured, auto_failback, restored);
                    assert_eq!(
                        format!("{configured:?}"),
                        format!("{expected:?}"),
                        "member {i}, fence {fence_configured}, failback {auto_failback}"
                    );
                }
            }
        }
    }
}
