//! The roles' core configuration, from a configuration and the restored durable state.
//!
//! Owns one pure mapping, [`FromConfig::from_config`]: a validated [`Config`] and what the
//! member restored from its state directory ([`Restored`]) give the engine's [`RoleConfig`]
//! (the witness's arbitration and fence settings, or the node's rules and resource group) and
//! the [`AuthorityTiming`] both roles derive their deadlines from. The shell calls it at start
//! (`shell::authority::role_config`, after reading the state files) and the simulator calls it
//! for every simulated start with a configuration parsed from text by [`super::parse_str`], so
//! a simulated cluster is configured exactly as a real one. It reads no file: the shell does.

#![forbid(unsafe_code)]

use super::{Config, Role};
use crate::core::authority::fence::FenceConfig;
use crate::core::authority::node::NodeConfig;
use crate::core::authority::witness::{Stored, WitnessConfig};
use crate::core::authority::AuthorityTiming;
use crate::core::engine::RoleConfig;
use crate::core::resources::GroupSpec;

/// What a member restored from its durable state before the engine starts. The shell reads
/// only what the member's role uses: `stored` on the witness, `seen` and `adopted` on a node.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Restored {
    /// Witness: its generation and holder (None: missing or unreadable, rule W4).
    pub stored: Option<Stored>,
    /// Node: the highest generation it has seen.
    pub seen: u64,
    /// Node: the generation under which a previous agent left the resources running on this
    /// boot, to take over instead of stopping them.
    pub adopted: Option<u64>,
}

/// Built from a configuration: implemented by the engine's [`RoleConfig`].
pub trait FromConfig {
    /// `watchdog_ms`: the timeout the watchdog driver really set (0 without one).
    fn from_config(cfg: &Config, restored: Restored, watchdog_ms: u64) -> Self;
}

/// The timings both roles use; `stop_timeout_ms` is the witness's configured bound or a node's
/// own group's worst-case stop.
pub fn authority_timing(cfg: &Config, stop_timeout_ms: u64) -> AuthorityTiming {
    AuthorityTiming {
        interval_ms: cfg.timing.interval_ms,
        dead_ms: cfg.timing.dead_ms,
        initdead_ms: cfg.timing.initdead_ms,
        self_fence_ms: cfg.authority.self_fence_ms,
        stop_timeout_ms,
        margin_ms: cfg.authority.margin_ms,
    }
}

fn empty_group() -> GroupSpec {
    GroupSpec { resources: heapless::Vec::new(), max_restarts: 0, restart_window_ms: 1000 }
}

impl FromConfig for RoleConfig {
    fn from_config(cfg: &Config, restored: Restored, watchdog_ms: u64) -> RoleConfig {
        let me = cfg.me();
        let node_ids: Vec<u8> = cfg.members.iter().filter(|m| m.role == Role::Node).map(|m| m.id.0).collect();
        assert_eq!(node_ids.len(), 2, "validated: two nodes");
        let id_of = |name: &str| cfg.members.iter().find(|m| m.name == name).map(|m| m.id.0);
        match me.role {
            Role::Witness => {
                let relay = cfg.relay.as_ref();
                let channel_for =
                    |id: u8| relay.is_some_and(|r| r.channels.iter().any(|c| id_of(&c.node) == Some(id)));
                let trust_unconfirmed = relay.is_some_and(|r| {
                    !r.channels.is_empty() && r.channels.iter().all(|c| c.trust_unconfirmed)
                });
                RoleConfig::Witness {
                    config: WitnessConfig {
                        me: me.id.0,
                        nodes: [node_ids[0], node_ids[1]],
                        timing: authority_timing(cfg, cfg.authority.stop_timeout_ms),
                        fence: FenceConfig {
                            retry_initial_ms: cfg.authority.fence_retry_initial_ms,
                            retry_max_ms: cfg.authority.fence_retry_max_ms,
                            trust_unconfirmed,
                        },
                        fence_enabled: node_ids.iter().all(|&id| channel_for(id)),
                        power_on_after_fence: cfg.authority.power_on_after_fence,
                        preferred: cfg.authority.preferred.as_deref().and_then(id_of),
                        auto_failback: cfg.authority.auto_failback,
                        wait_for_all: cfg.authority.wait_for_all,
                        unknown_fence_bound_ms: cfg.authority.unknown_fence_bound_ms,
                    },
                    stored: restored.stored,
                }
            }
            Role::Node => {
                let group = cfg.resources.clone().unwrap_or_else(empty_group);
                let stop_ms = group.worst_case_stop_ms();
                let witness = cfg
                    .members
                    .iter()
                    .find(|m| m.role == Role::Witness)
                    .map(|m| m.id.0)
                    .expect("validated: a witness");
                let peer = *node_ids.iter().find(|&&id| id != me.id.0).expect("validated: a peer node");
                RoleConfig::Node {
                    config: NodeConfig {
                        me: me.id.0,
                        witness,
                        peer,
                        timing: authority_timing(cfg, stop_ms),
                        watchdog_ms,
                        require_watchdog: cfg.authority.require_watchdog,
                    },
                    group,
                    seen: restored.seen,
                    adopted: restored.adopted,
                }
            }
        }
    }
}
