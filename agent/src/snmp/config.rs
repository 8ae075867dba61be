//! The TOML shape of the `[snmp]` section and its conversion into notifier targets.
//!
//! Owns the serde structs, their validation and the reading of key files (a passphrase per
//! file, readable by its owner only), for the notification targets and for the read-only
//! request responder (`listen`, `read_community`; SNMPv3 readers are the authPriv users of
//! the v3 targets). It does not own the rest of the configuration: the lead
//! plugs [`SnmpConfig`] into the main `Config` as an optional `snmp` table. Example:
//!
//! ```toml
//! [snmp]
//! alive_interval_ms = 300000
//! listen = "0.0.0.0:161"        # answer get/getnext/getbulk (off when absent)
//! read_community = "monitor"    # SNMPv2c readers (absent: v2c refused)
//!
//! [[snmp.targets]]
//! name = "nms"
//! version = "v2c"
//! address = "192.0.2.10:162"
//! kind = "inform"
//! community = "public"
//!
//! [[snmp.targets]]
//! name = "secure-nms"
//! version = "v3"
//! address = "192.0.2.11:162"
//! kind = "inform"
//! user = "rackha"
//! auth = "sha256"
//! auth_key_file = "/data/snmp/auth.key"
//! priv = "aes128"
//! priv_key_file = "/data/snmp/priv.key"
//! ```

#![forbid(unsafe_code)]

use std::io::Read;
use std::net::SocketAddr;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::notify::{Delivery, Security, Target, Version, MAX_TARGETS, MIN_ALIVE_INTERVAL_MS};
use super::pdu::MAX_COMMUNITY_BYTES;
use super::usm::{AuthProtocol, PrivProtocol, UsmUser, MAX_USER_NAME_BYTES, MIN_PASSWORD_BYTES};
use crate::problem::ProblemKind;
use crate::problem::{Found, KeyPath, Sink};

/// Bound on a key file's size.
pub const MAX_KEY_FILE_BYTES: u64 = 256;

#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SnmpConfig {
    #[serde(default)]
    pub targets: Vec<TargetConfig>,
    /// Interval of the "alive" notification; absent for none.
    pub alive_interval_ms: Option<u64>,
    /// Our SNMPv3 engine ID in hex (5..=32 bytes); by default derived from the member name.
    pub engine_id: Option<String>,
    /// agent-addr of SNMPv1 traps; by default 0.0.0.0.
    pub agent_address: Option<std::net::Ipv4Addr>,
    /// Where the read-only responder listens (UDP); absent: requests are not answered.
    pub listen: Option<SocketAddr>,
    /// The SNMPv2c community that may read; absent: v2c requests are refused.
    pub read_community: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VersionConfig {
    V1,
    V2c,
    V3,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KindConfig {
    Trap,
    Inform,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthConfig {
    Sha1,
    Sha256,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PrivConfig {
    Aes128,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetConfig {
    pub name: String,
    pub version: VersionConfig,
    pub address: SocketAddr,
    pub kind: KindConfig,
    pub community: Option<String>,
    pub user: Option<String>,
    pub auth: Option<AuthConfig>,
    pub auth_key_file: Option<PathBuf>,
    #[serde(rename = "priv")]
    pub privacy: Option<PrivConfig>,
    pub priv_key_file: Option<PathBuf>,
}

/// One problem with the `[snmp]` section: where (its typed key path, e.g.
/// `snmp.targets[1].auth_key_file`), what, and how to fix it.
pub type SnmpProblem = Found;

/// A bad value at `path`; the message names the key (`` `kind`: SNMPv1 has no inform ``).
fn problem(path: KeyPath, message: impl Into<String>, hint: impl Into<String>) -> SnmpProblem {
    let message = format!("`{}`: {}", path.last_key(), message.into());
    Found::bad_value(path, message, hint)
}

/// `snmp.KEY`.
fn snmp_key(key: &str) -> KeyPath {
    KeyPath::root("snmp").key(key)
}

/// `snmp.targets[INDEX].KEY`.
fn target_key(index: usize, key: &str) -> KeyPath {
    KeyPath::root("snmp").key("targets").index(index).key(key)
}

impl SnmpConfig {
    /// Check the section without touching the filesystem: writes every problem to `sink`.
    pub fn validate(&self, sink: &mut dyn Sink) {
        let problems = &mut Vec::new();
        if self.targets.len() > MAX_TARGETS {
            problems.push(problem(
                snmp_key("targets"),
                format!("{} targets, at most {MAX_TARGETS}", self.targets.len()),
                "remove targets",
            ));
        }
        if let Some(ms) = self.alive_interval_ms {
            if ms < MIN_ALIVE_INTERVAL_MS {
                problems.push(problem(
                    snmp_key("alive_interval_ms"),
                    format!("{ms} ms is too often"),
                    format!("use at least {MIN_ALIVE_INTERVAL_MS}"),
                ));
            }
        }
        if let Some(id) = &self.engine_id {
            if parse_engine_id(id).is_none() {
                problems.push(problem(
                    snmp_key("engine_id"),
                    "not 5 to 32 bytes of hex".to_string(),
                    "e.g. 800186a304726f636b or leave it out",
                ));
            }
        }
        self.validate_responder(problems);
        for (i, t) in self.targets.iter().enumerate() {
            let at = |key: &str| target_key(i, key);
            if t.name.is_empty() || self.targets[..i].iter().any(|o| o.name == t.name) {
                problems.push(problem(
                    at("name"),
                    format!("name {:?} is empty or repeated", t.name),
                    "give every target its own name",
                ));
            }
            if t.version == VersionConfig::V1 && t.kind == KindConfig::Inform {
                problems.push(problem(
                    at("kind"),
                    "SNMPv1 has no inform",
                    "use version = \"v2c\" or \"v3\", or kind = \"trap\"",
                ));
            }
            match t.version {
                VersionConfig::V1 | VersionConfig::V2c => {
                    match &t.community {
                        None => problems.push(problem(at("community"), "missing", "set community = \"...\"")),
                        Some(c) if c.is_empty() || c.len() > MAX_COMMUNITY_BYTES => problems.push(problem(
                            at("community"),
                            "empty or too long",
                            format!("1 to {MAX_COMMUNITY_BYTES} bytes"),
                        )),
                        Some(_) => {}
                    }
                    for (key, set) in [
                        ("user", t.user.is_some()),
                        ("auth", t.auth.is_some()),
                        ("auth_key_file", t.auth_key_file.is_some()),
                        ("priv", t.privacy.is_some()),
                        ("priv_key_file", t.priv_key_file.is_some()),
                    ] {
                        if set {
                            problems.push(problem(
                                at(key),
                                "only for version = \"v3\"",
                                "remove it or use version = \"v3\"",
                            ));
                        }
                    }
                }
                VersionConfig::V3 => {
                    if t.community.is_some() {
                        problems.push(problem(
                            at("community"),
                            "not used by SNMPv3",
                            "remove it; set user, auth and keys",
                        ));
                    }
                    match &t.user {
                        Some(u) if !u.is_empty() && u.len() <= MAX_USER_NAME_BYTES => {}
                        _ => problems.push(problem(
                            at("user"),
                            "missing, empty or longer than 32 bytes",
                            "set user = \"...\"",
                        )),
                    }
                    if t.auth.is_some() != t.auth_key_file.is_some() {
                        problems.push(problem(
                            at("auth_key_file"),
                            "auth and auth_key_file go together",
                            "set both or neither",
                        ));
                    }
                    if t.privacy.is_some() != t.priv_key_file.is_some() {
                        problems.push(problem(
                            at("priv_key_file"),
                            "priv and priv_key_file go together",
                            "set both or neither",
                        ));
                    }
                    if t.privacy.is_some() && t.auth.is_none() {
                        problems.push(problem(
                            at("priv"),
                            "privacy needs authentication",
                            "set auth = \"sha256\" and auth_key_file",
                        ));
                    }
                }
            }
        }
        for found in problems.drain(..) {
            sink.found(found);
        }
    }

    /// The v3 targets whose user reads (authentication and privacy both set).
    fn v3_readers(&self) -> impl Iterator<Item = (usize, &TargetConfig)> {
        self.targets.iter().enumerate().filter(|(_, t)| {
            t.version == VersionConfig::V3 && t.auth.is_some() && t.privacy.is_some() && t.user.is_some()
        })
    }

    fn validate_responder(&self, problems: &mut Vec<SnmpProblem>) {
        if let Some(c) = &self.read_community {
            if c.is_empty() || c.len() > MAX_COMMUNITY_BYTES {
                problems.push(problem(
                    snmp_key("read_community"),
                    "empty or too long",
                    format!("1 to {MAX_COMMUNITY_BYTES} bytes"),
                ));
            }
            if self.listen.is_none() {
                problems.push(problem(
                    snmp_key("read_community"),
                    "a read community without `listen` answers nothing",
                    "set listen = \"0.0.0.0:161\" or remove read_community",
                ));
            }
        }
        let Some(listen) = self.listen else { return };
        if listen.port() == 0 {
            problems.push(problem(
                snmp_key("listen"),
                "port 0 is not a port a station can ask",
                "use the SNMP port, e.g. listen = \"0.0.0.0:161\"",
            ));
        }
        if self.read_community.is_none() && self.v3_readers().next().is_none() {
            problems.push(problem(
                snmp_key("listen"),
                "nobody may read: no read_community and no SNMPv3 target with auth and priv",
                "set read_community = \"...\" (v2c) or add a v3 target with auth, priv and their key files",
            ));
        }
        // One user name, one set of keys: a request names only the user.
        for (i, t) in self.v3_readers() {
            let same_name = self.v3_readers().take_while(|(j, _)| *j < i).find(|(_, o)| o.user == t.user);
            if let Some((j, o)) = same_name {
                let keys =
                    |x: &TargetConfig| (x.auth, x.auth_key_file.clone(), x.privacy, x.priv_key_file.clone());
                if keys(o) != keys(t) {
                    problems.push(problem(
                        target_key(i, "user"),
                        format!(
                            "user {:?} is also snmp.targets[{j}]'s with other keys; a request names only the user",
                            t.user.as_deref().unwrap_or("")
                        ),
                        "give both targets the same auth, priv and key files, or another user name",
                    ));
                }
            }
        }
    }

    /// The SNMPv3 users that may read: the authPriv users of the v3 targets, once each.
    pub fn readers(targets: &[Target]) -> Vec<UsmUser> {
        let mut users: Vec<UsmUser> = Vec::new();
        for t in targets {
            if let Security::Usm(u) = &t.security {
                if u.auth.is_some() && u.privacy.is_some() && !users.iter().any(|o| o.name == u.name) {
                    users.push(u.clone());
                }
            }
        }
        users
    }

    /// Our engine ID: the configured one, or one derived from the member name.
    pub fn engine_id(&self, member: &str) -> Vec<u8> {
        self.engine_id
            .as_deref()
            .and_then(parse_engine_id)
            .unwrap_or_else(|| super::usm::engine_id_from_text(super::mib::ENTERPRISE_ARCS[6], member))
    }

    /// The notifier targets, reading key files with `read_key` (normally [`read_key_file`]).
    /// Call after [`SnmpConfig::validate`] returned no problem.
    pub fn targets(
        &self,
        read_key: impl Fn(&Path) -> Result<Vec<u8>, String>,
    ) -> Result<Vec<Target>, Vec<SnmpProblem>> {
        let mut targets = Vec::new();
        let mut problems = Vec::new();
        for (i, t) in self.targets.iter().enumerate() {
            let at = |key: &str| target_key(i, key);
            let security = match t.version {
                VersionConfig::V1 | VersionConfig::V2c => {
                    Security::Community(t.community.clone().unwrap_or_default().into_bytes())
                }
                VersionConfig::V3 => {
                    let mut key = |file: &Option<PathBuf>, name: &str| -> Option<Vec<u8>> {
                        let path = file.as_ref()?;
                        match read_key(path) {
                            Ok(k) => Some(k),
                            Err(message) => {
                                problems.push(Found::new(ProblemKind::KeyFileMissing, at(name), format!("{}: {message}", path.display()), "a file owned by root, mode 0600, holding one passphrase of 8 or more characters"));
                                None
                            }
                        }
                    };
                    let auth_pw = key(&t.auth_key_file, "auth_key_file");
                    let priv_pw = key(&t.priv_key_file, "priv_key_file");
                    let auth = t.auth.zip(auth_pw.as_ref()).map(|(a, pw)| {
                        let p = match a {
                            AuthConfig::Sha1 => AuthProtocol::HmacSha1_96,
                            AuthConfig::Sha256 => AuthProtocol::HmacSha256_192,
                        };
                        (p, pw.as_slice())
                    });
                    let privacy = t
                        .privacy
                        .zip(priv_pw.as_ref())
                        .map(|(PrivConfig::Aes128, pw)| (PrivProtocol::Aes128Cfb, pw.as_slice()));
                    if (t.auth.is_some() && auth.is_none()) || (t.privacy.is_some() && privacy.is_none()) {
                        continue; // the problem was recorded
                    }
                    Security::Usm(UsmUser::from_passwords(t.user.as_deref().unwrap_or("user"), auth, privacy))
                }
            };
            targets.push(Target {
                name: t.name.clone(),
                address: t.address,
                version: match t.version {
                    VersionConfig::V1 => Version::V1,
                    VersionConfig::V2c => Version::V2c,
                    VersionConfig::V3 => Version::V3,
                },
                delivery: match t.kind {
                    KindConfig::Trap => Delivery::Trap,
                    KindConfig::Inform => Delivery::Inform,
                },
                security,
            });
        }
        if problems.is_empty() {
            Ok(targets)
        } else {
            Err(problems)
        }
    }
}

fn parse_engine_id(text: &str) -> Option<Vec<u8>> {
    let text = text.trim().trim_start_matches("0x");
    if !text.len().is_multiple_of(2) || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let bytes: Vec<u8> = (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex checked"))
        .collect();
    (super::usm::MIN_ENGINE_ID_BYTES..=super::usm::MAX_ENGINE_ID_BYTES)
        .contains(&bytes.len())
        .then_some(bytes)
}

/// Read a USM passphrase from a key file: one line (a final newline is ignored), at least
/// [`MIN_PASSWORD_BYTES`] bytes, the file readable and writable by its owner only.
pub fn read_key_file(path: &Path) -> Result<Vec<u8>, String> {
    let file = std::fs::File::open(path).map_err(|e| format!("cannot open: {e}"))?;
    let meta = file.metadata().map_err(|e| format!("cannot inspect: {e}"))?;
    if meta.mode() & 0o077 != 0 {
        return Err(format!("mode {:o} lets others read it", meta.mode() & 0o777));
    }
    let mut bytes = Vec::new();
    file.take(MAX_KEY_FILE_BYTES + 1).read_to_end(&mut bytes).map_err(|e| format!("cannot read: {e}"))?;
    if bytes.len() as u64 > MAX_KEY_FILE_BYTES {
        return Err(format!("longer than {MAX_KEY_FILE_BYTES} bytes"));
    }
    while bytes.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
        bytes.pop();
    }
    if bytes.len() < MIN_PASSWORD_BYTES {
        return Err(format!("the passphrase is shorter than {MIN_PASSWORD_BYTES} characters"));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct Wrapper {
        snmp: SnmpConfig,
    }

    fn problems(config: &SnmpConfig) -> Vec<Found> {
        let mut found = Vec::new();
        config.validate(&mut found);
        found
    }

    const EXAMPLE: &str = r#"
[snmp]
alive_interval_ms = 300000

[[snmp.targets]]
name = "nms"
version = "v2c"
address = "192.0.2.10:162"
kind = "inform"
community = "public"

[[snmp.targets]]
name = "old"
version = "v1"
address = "192.0.2.12:162"
kind = "trap"
community = "public"

[[snmp.targets]]
name = "secure-nms"
version = "v3"
address = "192.0.2.11:162"
kind = "inform"
user = "rackha"
auth = "sha256"
auth_key_file = "/data/snmp/auth.key"
priv = "aes128"
priv_key_file = "/data/snmp/priv.key"
"#;

    #[test]
    fn the_documented_example_parses_and_converts() {
        let config: SnmpConfig = toml::from_str::<Wrapper>(EXAMPLE).unwrap().snmp;
        assert_eq!(problems(&config), vec![]);
        let targets = config.targets(|p| Ok(format!("pass-{}", p.display()).into_bytes())).unwrap();
        assert_eq!(targets.len(), 3);
        assert_eq!((targets[0].version, targets[0].delivery), (Version::V2c, Delivery::Inform));
        assert_eq!(targets[1].version, Version::V1);
        match &targets[2].security {
            Security::Usm(u) => {
                assert_eq!(u.name, b"rackha");
                assert_eq!(u.auth.as_ref().unwrap().0, AuthProtocol::HmacSha256_192);
                assert_eq!(u.privacy.as_ref().unwrap().0, PrivProtocol::Aes128Cfb);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(config.engine_id("node-a")[..5], [0x80, 0x01, 0x86, 0x9f, 0x04]);
    }

    #[test]
    fn mistakes_are_reported_with_their_location() {
        let bad = r#"
[snmp]
engine_id = "zz"
[[snmp.targets]]
name = "a"
version = "v1"
address = "192.0.2.10:162"
kind = "inform"
community = "public"
user = "x"
[[snmp.targets]]
name = "a"
version = "v3"
address = "192.0.2.11:162"
kind = "trap"
priv = "aes128"
priv_key_file = "/k"
"#;
        let config = toml::from_str::<Wrapper>(bad).unwrap().snmp;
        let locations: Vec<String> = problems(&config).into_iter().map(|p| p.path.to_string()).collect();
        assert_eq!(
            locations,
            [
                "snmp.engine_id",
                "snmp.targets[0].kind",
                "snmp.targets[0].user",
                "snmp.targets[1].name",
                "snmp.targets[1].user",
                "snmp.targets[1].priv",
            ]
        );
        assert!(toml::from_str::<Wrapper>("[snmp]\ncolour = 1\n").is_err(), "unknown keys are refused");
        assert!(toml::from_str::<Wrapper>(
            "[[snmp.targets]]\nname='a'\nversion='v4'\naddress='1.2.3.4:1'\nkind='trap'\n"
        )
        .is_err());
    }

    #[test]
    fn the_responder_needs_a_listen_address_and_a_reader() {
        let parse = |text: &str| toml::from_str::<Wrapper>(text).unwrap().snmp;
        let ok = parse("[snmp]\nlisten = \"127.0.0.1:1161\"\nread_community = \"monitor\"\n");
        assert_eq!(problems(&ok), vec![]);
        let v3_only = parse(&EXAMPLE.replace(
            "alive_interval_ms = 300000\n",
            "alive_interval_ms = 300000\nlisten = \"0.0.0.0:161\"\n",
        ));
        assert_eq!(problems(&v3_only), vec![]);
        let targets = v3_only.targets(|p| Ok(format!("pass-{}", p.display()).into_bytes())).unwrap();
        let readers = SnmpConfig::readers(&targets);
        assert_eq!(readers.iter().map(|u| u.name.clone()).collect::<Vec<_>>(), vec![b"rackha".to_vec()]);

        let locations =
            |c: &SnmpConfig| problems(c).into_iter().map(|p| p.path.to_string()).collect::<Vec<_>>();
        assert_eq!(locations(&parse("[snmp]\nlisten = \"0.0.0.0:161\"\n")), ["snmp.listen"]);
        assert_eq!(locations(&parse("[snmp]\nread_community = \"monitor\"\n")), ["snmp.read_community"]);
        assert_eq!(
            locations(&parse("[snmp]\nlisten = \"0.0.0.0:0\"\nread_community = \"\"\n")),
            ["snmp.read_community", "snmp.listen"]
        );
        let clash = format!(
            "{EXAMPLE}\n[[snmp.targets]]\nname = \"other\"\nversion = \"v3\"\naddress = \"192.0.2.13:162\"\nkind = \"trap\"\nuser = \"rackha\"\nauth = \"sha1\"\nauth_key_file = \"/k1\"\npriv = \"aes128\"\npriv_key_file = \"/k2\"\n"
        )
        .replace("alive_interval_ms = 300000\n", "alive_interval_ms = 300000\nlisten = \"0.0.0.0:161\"\n");
        assert_eq!(locations(&parse(&clash)), ["snmp.targets[3].user"]);
    }

    #[test]
    fn key_files_must_be_private_and_long_enough() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("ha-snmp-keys-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("auth.key");
        std::fs::write(&file, "authpass\n").unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(read_key_file(&file).unwrap_err().contains("others"));
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(read_key_file(&file).unwrap(), b"authpass");
        std::fs::write(&file, "short\n").unwrap();
        assert!(read_key_file(&file).unwrap_err().contains("shorter"));
        assert!(read_key_file(&dir.join("missing")).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
