//! The `[resources]` table of the configuration file: its serde shape, its defaults and its
//! validation into a [`GroupSpec`].
//!
//! Owns the schema of the resource group and every rule about it (bounds, names, the agent's
//! name parsed into an [`Agent`]). It does not read files (the main configuration loader
//! deserializes the table and calls [`ResourcesConfig::to_spec`]) and it does not check that
//! the agent scripts exist or know their parameters: that is only known on the node, where
//! `check-config` looks (`config::agents`) and a missing script fails its action with OCF
//! code 5 at run time. The reference is `docs/resources.md`.

#![forbid(unsafe_code)]

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::config::path::{Found, KeyPath, Sink};
use crate::core::resources::agent::{Agent, AgentError, MAX_AGENT_WORD_BYTES};
use crate::core::resources::{
    GroupSpec, Name, ResourceSpec, MAX_ACTION_TIMEOUT_MS, MAX_AGENT_PATH_BYTES, MAX_MONITOR_INTERVAL_MS,
    MAX_NAME_BYTES, MAX_PARAMS, MAX_PARAM_NAME_BYTES, MAX_PARAM_VALUE_BYTES, MAX_RESOURCES, MAX_RESTARTS,
    MAX_RESTART_WINDOW_MS,
};

pub const DEFAULT_MAX_RESTARTS: u32 = 3;
pub const DEFAULT_RESTART_WINDOW_S: u64 = 300;
pub const DEFAULT_START_TIMEOUT_MS: u64 = 20_000;
pub const DEFAULT_STOP_TIMEOUT_MS: u64 = 20_000;
pub const DEFAULT_MONITOR_TIMEOUT_MS: u64 = 10_000;
pub const DEFAULT_MONITOR_INTERVAL_MS: u64 = 10_000;

/// `[resources]`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResourcesConfig {
    #[serde(default = "default_max_restarts")]
    pub max_restarts: u32,
    #[serde(default = "default_restart_window_s")]
    pub restart_window_s: u64,
    /// `[[resources.group]]`, in start order.
    #[serde(default)]
    pub group: Vec<ResourceConfig>,
}

impl Default for ResourcesConfig {
    fn default() -> Self {
        ResourcesConfig {
            max_restarts: DEFAULT_MAX_RESTARTS,
            restart_window_s: DEFAULT_RESTART_WINDOW_S,
            group: Vec::new(),
        }
    }
}

/// One `[[resources.group]]` entry.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResourceConfig {
    pub name: String,
    /// `ocf:PROVIDER:TYPE` or an absolute path; parsed into an [`Agent`] by `to_spec`.
    pub agent: String,
    /// Passed as `OCF_RESKEY_<name>=<value>`; values are TOML strings.
    #[serde(default)]
    pub params: BTreeMap<String, String>,
    #[serde(default = "default_start_timeout_ms")]
    pub start_timeout_ms: u64,
    #[serde(default = "default_stop_timeout_ms")]
    pub stop_timeout_ms: u64,
    #[serde(default = "default_monitor_timeout_ms")]
    pub monitor_timeout_ms: u64,
    #[serde(default = "default_monitor_interval_ms")]
    pub monitor_interval_ms: u64,
}

fn default_max_restarts() -> u32 {
    DEFAULT_MAX_RESTARTS
}
fn default_restart_window_s() -> u64 {
    DEFAULT_RESTART_WINDOW_S
}
fn default_start_timeout_ms() -> u64 {
    DEFAULT_START_TIMEOUT_MS
}
fn default_stop_timeout_ms() -> u64 {
    DEFAULT_STOP_TIMEOUT_MS
}
fn default_monitor_timeout_ms() -> u64 {
    DEFAULT_MONITOR_TIMEOUT_MS
}
fn default_monitor_interval_ms() -> u64 {
    DEFAULT_MONITOR_INTERVAL_MS
}

fn is_name(s: &str) -> bool {
    s.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
        && s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

fn is_param_name(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

impl ResourcesConfig {
    /// Validate into the core's [`GroupSpec`]; `None` when there is a problem. Every problem
    /// is written to `sink` at its key path (`resources.group[1].agent`).
    pub fn to_spec(&self, sink: &mut dyn Sink) -> Option<GroupSpec> {
        let mut found = 0usize;
        let mut problem = |path: KeyPath, message: String, hint: &str| {
            found += 1;
            sink.found(Found::bad_value(path, message, hint));
        };
        let top = KeyPath::root("resources");
        if self.max_restarts as usize > MAX_RESTARTS {
            problem(
                top.key("max_restarts"),
                format!("{} restarts is more than the bound {MAX_RESTARTS}", self.max_restarts),
                "a resource that fails this often belongs on the other node; lower max_restarts",
            );
        }
        let window_ms = self.restart_window_s.saturating_mul(1000);
        if window_ms == 0 || window_ms > MAX_RESTART_WINDOW_MS {
            problem(
                top.key("restart_window_s"),
                format!("{} s is outside 1..={}", self.restart_window_s, MAX_RESTART_WINDOW_MS / 1000),
                "restarts older than the window are forgotten; 300 s is a usual value",
            );
        }
        if self.group.len() > MAX_RESOURCES {
            problem(
                top.key("group"),
                format!("{} resources is more than the bound {MAX_RESOURCES}", self.group.len()),
                "combine resources into one agent script",
            );
        }
        let mut resources = heapless::Vec::new();
        for (i, r) in self.group.iter().enumerate() {
            let entry = top.key("group").index(i);
            let at = |field: &str| entry.key(field);
            let name = Name::try_from(r.name.as_str()).ok().filter(|_| is_name(&r.name));
            if name.is_none() {
                problem(
                    at("name"),
                    format!("{:?} is not a resource name", r.name),
                    &format!("1 to {MAX_NAME_BYTES} letters, digits, '_', '-' or '.', starting with a letter or digit"),
                );
            }
            if self.group[..i].iter().any(|other| other.name == r.name) {
                problem(
                    at("name"),
                    format!("{:?} is used twice", r.name),
                    "give every resource its own name",
                );
            }
            let agent = Agent::parse(&r.agent);
            if let Err(error) = agent {
                let hint = match error {
                    AgentError::NotOcfOrPath | AgentError::OcfShape => "write ocf:PROVIDER:TYPE for an agent in /usr/lib/ocf/resource.d (e.g. \"ocf:heartbeat:IPaddr2\"), or the absolute path of the script".to_string(),
                    AgentError::BadProvider | AgentError::BadType => format!(
                        "provider and type are 1 to {MAX_AGENT_WORD_BYTES} letters, digits, '_', '-' or '.', starting with a letter or digit"
                    ),
                    AgentError::BadPath => format!("the script's path is at most {MAX_AGENT_PATH_BYTES} bytes"),
                    AgentError::UnknownBuiltin => "the built-in types are: builtin:ipaddr (a floating IP address, like ocf:heartbeat:IPaddr2)".to_string(),
                };
                problem(at("agent"), format!("{:?} is not an agent: {}", r.agent, error.as_str()), &hint);
            }
            if r.params.len() > MAX_PARAMS {
                problem(
                    at("params"),
                    format!("{} parameters is more than the bound {MAX_PARAMS}", r.params.len()),
                    "pass a configuration file path as one parameter instead",
                );
            }
            let mut params = heapless::Vec::new();
            for (k, v) in &r.params {
                if !is_param_name(k) || k.len() > MAX_PARAM_NAME_BYTES {
                    problem(
                        at("params").key(k),
                        format!("{k:?} cannot be part of an environment variable name"),
                        &format!("1 to {MAX_PARAM_NAME_BYTES} letters, digits or '_'"),
                    );
                }
                if v.len() > MAX_PARAM_VALUE_BYTES || v.contains('\0') {
                    problem(
                        at("params").key(k),
                        "the value is too long or contains a NUL byte".into(),
                        &format!("at most {MAX_PARAM_VALUE_BYTES} bytes"),
                    );
                }
                let _ = params.push((k.clone(), v.clone()));
            }
            for (field, value) in [
                ("start_timeout_ms", r.start_timeout_ms),
                ("stop_timeout_ms", r.stop_timeout_ms),
                ("monitor_timeout_ms", r.monitor_timeout_ms),
            ] {
                if value == 0 || value > MAX_ACTION_TIMEOUT_MS {
                    problem(
                        at(field),
                        format!("{value} ms is outside 1..={MAX_ACTION_TIMEOUT_MS}"),
                        "a hung action is killed at its timeout; allow the slowest normal run plus margin",
                    );
                }
            }
            if r.monitor_interval_ms == 0 || r.monitor_interval_ms > MAX_MONITOR_INTERVAL_MS {
                problem(
                    at("monitor_interval_ms"),
                    format!("{} ms is outside 1..={MAX_MONITOR_INTERVAL_MS}", r.monitor_interval_ms),
                    "every resource is monitored; 10000 ms is a usual value",
                );
            }
            if let Ok(Agent::Builtin(builtin)) = &agent {
                use crate::core::resources::{agent::Builtin, filesystem, ipaddr, pgsql};
                let pairs: Vec<(String, String)> =
                    r.params.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
                let bad = match builtin {
                    Builtin::IpAddr => ipaddr::IpAddrSpec::from_params(&pairs).err(),
                    Builtin::Filesystem => filesystem::FilesystemSpec::from_params(&pairs).err(),
                    Builtin::Pgsql => pgsql::PgsqlSpec::from_params(&pairs).err(),
                };
                for p in bad.unwrap_or_default() {
                    let key = if p.param.is_empty() { at("params") } else { at("params").key(&p.param) };
                    problem(key, p.message, &p.hint);
                }
            }
            if let (Some(name), Ok(agent)) = (name, agent) {
                let _ = resources.push(ResourceSpec {
                    name,
                    agent,
                    params,
                    start_timeout_ms: r.start_timeout_ms,
                    stop_timeout_ms: r.stop_timeout_ms,
                    monitor_timeout_ms: r.monitor_timeout_ms,
                    monitor_interval_ms: r.monitor_interval_ms,
                });
            }
        }
        (found == 0).then_some(GroupSpec {
            resources,
            max_restarts: self.max_restarts,
            restart_window_ms: window_ms,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::resources as config;

    #[derive(serde::Deserialize)]
    struct File {
        resources: ResourcesConfig,
    }

    fn parse(text: &str) -> Result<ResourcesConfig, String> {
        toml::from_str::<File>(text).map(|f| f.resources).map_err(|e| e.to_string())
    }

    #[test]
    fn the_documented_example_parses_into_a_group() {
        let text = r#"
            [resources]
            max_restarts = 2
            restart_window_s = 120

            [[resources.group]]
            name = "ip"
            agent = "/usr/lib/ha/agents/ipaddr"
            params = { ip = "10.0.0.10", cidr_netmask = "24" }
            start_timeout_ms = 5000

            [[resources.group]]
            name = "db"
            agent = "/usr/lib/ha/agents/pgsql"
        "#;
        let spec = parse(text).unwrap().to_spec(&mut Vec::new()).unwrap();
        assert_eq!(spec.max_restarts, 2);
        assert_eq!(spec.restart_window_ms, 120_000);
        assert_eq!(spec.resources.len(), 2);
        let ip = &spec.resources[0];
        assert_eq!(ip.name.as_str(), "ip");
        assert_eq!(ip.start_timeout_ms, 5000);
        assert_eq!(ip.stop_timeout_ms, config::DEFAULT_STOP_TIMEOUT_MS);
        assert_eq!(
            ip.params.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect::<std::vec::Vec<_>>(),
            vec![("cidr_netmask", "24"), ("ip", "10.0.0.10")]
        );
        assert_eq!(spec.resources[1].monitor_interval_ms, config::DEFAULT_MONITOR_INTERVAL_MS);
    }

    #[test]
    fn unknown_keys_are_rejected() {
        let err = parse("[resources]\nmax_restart = 3\n").unwrap_err();
        assert!(err.contains("max_restart"), "{err}");
        let err = parse("[resources]\n[[resources.group]]\nname = \"a\"\nagent = \"/a\"\ntimeout = 1\n")
            .unwrap_err();
        assert!(err.contains("timeout"), "{err}");
    }

    #[test]
    fn every_bad_value_is_reported_with_its_location() {
        let text = r#"
            [resources]
            max_restarts = 100
            restart_window_s = 0
            [[resources.group]]
            name = "db"
            agent = "relative/path"
            params = { "bad-name" = "x" }
            stop_timeout_ms = 0
            [[resources.group]]
            name = "db"
            agent = "/ok"
            monitor_interval_ms = 0
        "#;
        let mut problems = std::vec::Vec::new();
        assert!(parse(text).unwrap().to_spec(&mut problems).is_none());
        let locations: std::vec::Vec<std::string::String> =
            problems.iter().map(|p| format!("agent.toml: {}", p.path)).collect();
        let locations: std::vec::Vec<&str> = locations.iter().map(|l| l.as_str()).collect();
        for expected in [
            "agent.toml: resources.max_restarts",
            "agent.toml: resources.restart_window_s",
            "agent.toml: resources.group[0].agent",
            "agent.toml: resources.group[0].params.bad-name",
            "agent.toml: resources.group[0].stop_timeout_ms",
            "agent.toml: resources.group[1].name",
            "agent.toml: resources.group[1].monitor_interval_ms",
        ] {
            assert!(locations.contains(&expected), "missing {expected} in {locations:?}");
        }
    }

    #[test]
    fn more_resources_than_the_bound_are_rejected() {
        let mut text = String::from("[resources]\n");
        for i in 0..=MAX_RESOURCES {
            text.push_str(&format!("[[resources.group]]\nname = \"r{i}\"\nagent = \"/a\"\n"));
        }
        let mut problems = std::vec::Vec::new();
        assert!(parse(&text).unwrap().to_spec(&mut problems).is_none());
        assert!(problems.iter().any(|p| format!("f: {}", p.path) == "f: resources.group"));
    }
}
