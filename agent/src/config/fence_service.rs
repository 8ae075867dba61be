//! The `[fence_service]` TOML section: where the box listens for fence requests from other
//! clusters, the dedicated key, the clients allowed, and the plugs (relay channels) it
//! switches for them.
//!
//! Owns the serde structure and the rules that need only the section (each problem written
//! to a [`Sink`] at its typed key path). A plug is a `[[relay.channels]]`-shaped entry
//! ([`RelayChannelConfig`]) whose `node` is the plug's name as the other cluster knows its
//! node, so a plug is switched by exactly the drivers and the fence procedure of the box's
//! own fences. The rules that relate it to the rest of the file (witness only, no member of
//! the box's own cluster, no device shared with `[relay]` or a link) are in
//! `config::sections`; the key file is checked by `config::check`. It opens nothing.

#![forbid(unsafe_code)]

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use serde::Deserialize;

use super::path::{Found, KeyPath, Sink};
use crate::devices::config::RelayChannelConfig;
use crate::fencesvc::protocol::{MAX_LISTED_PLUGS, MAX_PLUG_BYTES};
use crate::fencesvc::server::MAX_CLIENTS;

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
    /// The plug that powers the node sending from each address (a key of this table is one of
    /// `clients`, its value a plug's name): while the box switches a node's own plug off, and
    /// for `FENCED_CLIENT_HOLD_MS` after, that node switches nothing (docs/fence-agent.md,
    /// "Fence races"). Addresses not named here (a management station) are never held.
    #[serde(default)]
    pub client_plugs: BTreeMap<IpAddr, String>,
    /// The plugs served: `node` is the plug's name.
    #[serde(default)]
    pub plugs: Vec<RelayChannelConfig>,
}

/// The hint of every `[fence_service]` problem.
pub const HINT: &str = "see docs/fence-agent.md for the keys of [fence_service]";

impl FenceServiceConfig {
    /// Writes every problem of the section to `sink`, each at its key.
    pub fn validate(&self, sink: &mut dyn Sink) {
        let top = KeyPath::root("fence_service");
        fn push(sink: &mut dyn Sink, path: KeyPath, message: String, hint: &str) {
            sink.found(Found::bad_value(path, message, hint));
        }
        if self.listen.port() == 0 {
            push(
                sink,
                top.key("listen"),
                format!("`listen` {} has no port", self.listen),
                "write an address and a port, e.g. \"0.0.0.0:7790\"",
            );
        }
        if self.clients.is_empty() || self.clients.len() > MAX_CLIENTS {
            push(
                sink,
                top.key("clients"),
                format!("`clients`: {} addresses, 1 to {MAX_CLIENTS} are needed", self.clients.len()),
                "list the addresses the other cluster's nodes send from, e.g. [\"10.0.0.11\", \"10.0.0.12\"]",
            );
        }
        for (i, client) in self.clients.iter().enumerate() {
            if client.is_unspecified() || client.is_multicast() {
                push(
                    sink,
                    top.key("clients").index(i),
                    format!("`clients`: {client} is not one host's address"),
                    "list each node's own address",
                );
            }
        }
        if self.plugs.is_empty() || self.plugs.len() > MAX_LISTED_PLUGS {
            push(
                sink,
                top.key("plugs"),
                format!("{} plugs, 1 to {MAX_LISTED_PLUGS} are needed", self.plugs.len()),
                "add a [[fence_service.plugs]] entry for each node of the other cluster",
            );
        }
        for (i, plug) in self.plugs.iter().enumerate() {
            let at = top.key("plugs").index(i);
            let name = plug.node.as_str();
            let fits = !name.is_empty()
                && name.len() <= MAX_PLUG_BYTES
                && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
            if !fits {
                push(
                    sink,
                    at.key("node"),
                    format!("`node` {name:?} is not a plug name"),
                    "the other cluster's node name: 1 to 32 letters, digits, '-', '_' or '.'",
                );
            }
            if self.plugs[..i].iter().any(|p| p.node == plug.node) {
                push(
                    sink,
                    at.key("node"),
                    format!("`node` {name:?} names two plugs"),
                    "give each plug its own name",
                );
            }
            plug.validate(&at, sink);
        }
        for (client, plug) in &self.client_plugs {
            let at = top.key("client_plugs").key(&client.to_string());
            if !self.clients.contains(client) {
                push(
                    sink,
                    at.clone(),
                    format!("`client_plugs`: {client} is not one of `clients`"),
                    "name the plug of each address in `clients` that is a node of the other cluster",
                );
            }
            if !self.plugs.iter().any(|p| p.node == *plug) {
                push(
                    sink,
                    at,
                    format!("`client_plugs`: {client} = {plug:?} is not a plug of [[fence_service.plugs]]"),
                    "the value is the `node` of the plug that powers that address's server",
                );
            }
        }
    }

    /// `client_plugs` as the server takes it: each address with its plug's index. Addresses
    /// whose plug is not served are left out (validation reports them).
    pub fn client_plug_indices(&self) -> Vec<(IpAddr, usize)> {
        (self.client_plugs.iter())
            .filter_map(|(ip, name)| Some((*ip, self.plugs.iter().position(|p| p.node == *name)?)))
            .collect()
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
        let mut found = Vec::new();
        c.validate(&mut found);
        assert_eq!(found, Vec::new());
        assert_eq!(c.key_file, PathBuf::from(DEFAULT_KEY_FILE));
        assert_eq!(c.plugs[0].node, "pm-a");
        assert!(c.client_plugs.is_empty());
    }

    #[test]
    fn client_plugs_name_clients_and_served_plugs() {
        let good = format!("{VALID}[fence_service.client_plugs]\n\"10.0.0.11\" = \"pm-a\"\n");
        let c = parse(&good);
        let mut found = Vec::new();
        c.validate(&mut found);
        assert_eq!(found, Vec::new());
        assert_eq!(c.client_plug_indices(), vec![("10.0.0.11".parse().unwrap(), 0)]);
        let bad = format!("{VALID}[fence_service.client_plugs]\n\"10.0.0.12\" = \"pm-z\"\n");
        let c = parse(&bad);
        let mut found = Vec::new();
        c.validate(&mut found);
        let messages: Vec<String> = found.iter().map(|f| format!("{}: {}", f.path, f.message)).collect();
        assert_eq!(messages.len(), 2, "{messages:?}");
        assert!(messages[0].contains("10.0.0.12 is not one of `clients`"), "{messages:?}");
        assert!(messages[1].contains("\"pm-z\" is not a plug"), "{messages:?}");
        assert!(c.client_plug_indices().is_empty());
    }

    #[test]
    fn every_rule_names_its_key() {
        let text = "[fence_service]\nlisten = \"0.0.0.0:0\"\nclients = [\"0.0.0.0\"]\n\
            [[fence_service.plugs]]\nnode = \"pm a\"\nboard = \"modbus\"\nchannel = 2\n\
            [[fence_service.plugs]]\nnode = \"pm a\"\nboard = \"gpio\"\n";
        let mut found = Vec::new();
        parse(text).validate(&mut found);
        let paths: Vec<String> = found.iter().map(|f| f.path.to_string()).collect();
        for expected in [
            "fence_service.listen",
            "fence_service.clients[0]",
            "fence_service.plugs[0].node",
            // A channel's own rules land on the key they are about (config::path).
            "fence_service.plugs[0].device",
            "fence_service.plugs[1].node",
            "fence_service.plugs[1].chip",
        ] {
            assert!(paths.iter().any(|p| p == expected), "{expected} missing from {paths:?}");
        }
    }
}
