//! The `[fence_service]` TOML section: where the box listens for fence requests from other
//! clusters, the dedicated key, the clients allowed, and the plugs (relay channels) it
//! switches for them.
//!
//! Owns the serde structure and the rules that need only the section (each problem with its
//! key path, message and hint). A plug is a `[[relay.channels]]`-shaped entry
//! ([`RelayChannelConfig`]) whose `node` is the plug's name as the other cluster knows its
//! node, so a plug is switched by exactly the drivers and the fence procedure of the box's
//! own fences. The rules that relate it to the rest of the file (witness only, no member of
//! the box's own cluster, no device shared with `[relay]` or a link) are in
//! `config::sections`; the key file is checked by `config::check`. It opens nothing.

#![forbid(unsafe_code)]

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use serde::Deserialize;

use super::protocol::{MAX_LISTED_PLUGS, MAX_PLUG_BYTES};
use super::server::MAX_CLIENTS;
use crate::devices::config::RelayChannelConfig;

/// Default path of the fence key (a key file like the cluster key, with another key).
pub const DEFAULT_KEY_FILE: &str = "/etc/ha-agent/fence.key";
/// The port the service listens on by default, and the fence agent's default `ipport`.
pub const DEFAULT_PORT: u16 = 7790;

fn default_key_file() -> PathBuf {
    PathBuf::from(DEFAULT_KEY_FILE)
}

/// `[fence_service]`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FenceServiceConfig {
    /// The UDP address to listen on, `"0.0.0.0:7790"`.
    pub listen: SocketAddr,
    /// The dedicated key (hex, like `key_file`; never the cluster key). A relative path is
    /// resolved against the configuration file's directory.
    #[serde(default = "default_key_file")]
    pub key_file: PathBuf,
    /// Source addresses allowed to ask (the other cluster's nodes).
    pub clients: Vec<IpAddr>,
    /// The plugs served: `node` is the plug's name.
    #[serde(default)]
    pub plugs: Vec<RelayChannelConfig>,
}

/// The hint of every `[fence_service]` problem.
pub const HINT: &str = "see docs/fence-agent.md for the keys of [fence_service]";

impl FenceServiceConfig {
    /// Every problem: (key path, message, hint).
    pub fn validate(&self) -> Vec<(String, String, String)> {
        let mut problems = Vec::new();
        let mut push =
            |path: String, message: String, hint: &str| problems.push((path, message, hint.to_string()));
        if self.listen.port() == 0 {
            push(
                "fence_service.listen".into(),
                format!("`listen` {} has no port", self.listen),
                "write an address and a port, e.g. \"0.0.0.0:7790\"",
            );
        }
        if self.clients.is_empty() || self.clients.len() > MAX_CLIENTS {
            push(
                "fence_service.clients".into(),
                format!("`clients`: {} addresses, 1 to {MAX_CLIENTS} are needed", self.clients.len()),
                "list the addresses the other cluster's nodes send from, e.g. [\"10.0.0.11\", \"10.0.0.12\"]",
            );
        }
        for (i, client) in self.clients.iter().enumerate() {
            if client.is_unspecified() || client.is_multicast() {
                push(
                    format!("fence_service.clients[{i}]"),
                    format!("`clients`: {client} is not one host's address"),
                    "list each node's own address",
                );
            }
        }
        if self.plugs.is_empty() || self.plugs.len() > MAX_LISTED_PLUGS {
            push(
                "fence_service.plugs".into(),
                format!("{} plugs, 1 to {MAX_LISTED_PLUGS} are needed", self.plugs.len()),
                "add a [[fence_service.plugs]] entry for each node of the other cluster",
            );
        }
        for (i, plug) in self.plugs.iter().enumerate() {
            let at = format!("fence_service.plugs[{i}]");
            let name = plug.node.as_str();
            let fits = !name.is_empty()
                && name.len() <= MAX_PLUG_BYTES
                && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
            if !fits {
                push(
                    format!("{at}.node"),
                    format!("`node` {name:?} is not a plug name"),
                    "the other cluster's node name: 1 to 32 letters, digits, '-', '_' or '.'",
                );
            }
            if self.plugs[..i].iter().any(|p| p.node == plug.node) {
                push(
                    format!("{at}.node"),
                    format!("`node` {name:?} names two plugs"),
                    "give each plug its own name",
                );
            }
            let mut channel_problems = Vec::new();
            plug.validate(&at, &mut channel_problems);
            for text in channel_problems {
                let (path, message) = text.split_once(": ").unwrap_or((at.as_str(), text.as_str()));
                push(
                    path.to_string(),
                    message.to_string(),
                    "see docs/devices.md (Configuration) for a channel's keys",
                );
            }
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> FenceServiceConfig {
        #[derive(Deserialize)]
        struct File {
            fence_service: FenceServiceConfig,
        }
        toml::from_str::<File>(text).unwrap().fence_service
    }

    const VALID: &str = "[fence_service]\nlisten = \"0.0.0.0:7790\"\nclients = [\"10.0.0.11\"]\n\
        [[fence_service.plugs]]\nnode = \"pm-a\"\nboard = \"modbus\"\ndevice = \"/dev/ttyUSB0\"\nchannel = 2\n";

    #[test]
    fn a_valid_section_has_no_problem_and_the_defaults() {
        let c = parse(VALID);
        assert_eq!(c.validate(), Vec::new());
        assert_eq!(c.key_file, PathBuf::from(DEFAULT_KEY_FILE));
        assert_eq!(c.plugs[0].node, "pm-a");
    }

    #[test]
    fn every_rule_names_its_key() {
        let text = "[fence_service]\nlisten = \"0.0.0.0:0\"\nclients = [\"0.0.0.0\"]\n\
            [[fence_service.plugs]]\nnode = \"pm a\"\nboard = \"modbus\"\nchannel = 2\n\
            [[fence_service.plugs]]\nnode = \"pm a\"\nboard = \"gpio\"\n";
        let paths: Vec<String> = parse(text).validate().into_iter().map(|(p, ..)| p).collect();
        for expected in [
            "fence_service.listen",
            "fence_service.clients[0]",
            "fence_service.plugs[0].node",
            "fence_service.plugs[0]",
            "fence_service.plugs[1].node",
            "fence_service.plugs[1]",
        ] {
            assert!(paths.iter().any(|p| p == expected), "{expected} missing from {paths:?}");
        }
    }
}
