//! Which program drives a resource: `ocf:PROVIDER:TYPE` (an agent installed under
//! [`OCF_ROOT`]), an absolute path, or `builtin:TYPE` (a resource type the agent carries out
//! itself, without a script: [`Builtin`]), parsed once at the configuration's edge into
//! [`Agent`].
//!
//! Owns the syntax of the `agent` key, the rules on provider and type names, and what follows
//! from the name alone: the script's path, `OCF_RESOURCE_TYPE` and `OCF_RESOURCE_PROVIDER`. It
//! does not look at the file system (whether the script exists is `check-config`'s question on
//! the node, and the runner's at run time) and it does not run anything.

#![forbid(unsafe_code)]

use super::MAX_AGENT_PATH_BYTES;

/// `OCF_ROOT`: where the OCF agents and their shell library are installed.
pub const OCF_ROOT: &str = "/usr/lib/ocf";
/// The directory of the agents of provider P is `OCF_ROOT/resource.d/P`.
pub const OCF_AGENTS_DIR: &str = "/usr/lib/ocf/resource.d";
/// Bound on a provider or type name.
pub const MAX_AGENT_WORD_BYTES: usize = 64;

/// A provider or type name: 1..=[`MAX_AGENT_WORD_BYTES`] of `[A-Za-z0-9_.-]`, starting with a
/// letter or digit (so never `.`, `..` or anything with `/`).
pub type AgentWord = heapless::String<MAX_AGENT_WORD_BYTES>;

/// The prefix of a built-in resource type's name.
pub const BUILTIN_PREFIX: &str = "builtin:";

/// A resource type the agent carries out itself, without a script.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Builtin {
    /// `builtin:ipaddr`: a floating IP address over netlink, in-process, no fork
    /// (`core::resources::ipaddr`).
    IpAddr,
    /// `builtin:filesystem`: a file system mounted on a directory, `mount` and `umount` run
    /// directly (`core::resources::filesystem`).
    Filesystem,
    /// `builtin:pgsql`: a PostgreSQL server, `pg_ctl` and `pg_isready` run directly
    /// (`core::resources::pgsql`).
    Pgsql,
}

impl Builtin {
    /// Every built-in type, for hints.
    pub const ALL: [Builtin; 3] = [Builtin::IpAddr, Builtin::Filesystem, Builtin::Pgsql];

    /// The `TYPE` of `builtin:TYPE`.
    pub fn as_str(self) -> &'static str {
        match self {
            Builtin::IpAddr => "ipaddr",
            Builtin::Filesystem => "filesystem",
            Builtin::Pgsql => "pgsql",
        }
    }

    /// Whether its actions are sequences of program calls (`core::resources::program`) rather
    /// than carried out in-process at once.
    pub fn runs_programs(self) -> bool {
        match self {
            Builtin::IpAddr => false,
            Builtin::Filesystem | Builtin::Pgsql => true,
        }
    }
}

/// The program that carries out a resource's actions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Agent {
    /// `ocf:PROVIDER:TYPE`: the script `/usr/lib/ocf/resource.d/PROVIDER/TYPE`.
    Ocf { provider: AgentWord, agent_type: AgentWord },
    /// An absolute path (at most [`MAX_AGENT_PATH_BYTES`], no NUL byte).
    Path(String),
    /// `builtin:TYPE`: carried out by the agent itself (`shell::ipaddr`).
    Builtin(Builtin),
}

/// Why a text is not an agent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AgentError {
    /// Neither `ocf:...` nor an absolute path (another class such as `lsb:` or `systemd:`, or a
    /// relative path).
    NotOcfOrPath,
    /// `ocf:` without exactly a provider and a type.
    OcfShape,
    /// The provider is not a valid name.
    BadProvider,
    /// The type is not a valid name.
    BadType,
    /// The path (given or resolved) is longer than [`MAX_AGENT_PATH_BYTES`], or holds a NUL byte.
    BadPath,
    /// `builtin:` with a type the agent does not have.
    UnknownBuiltin,
}

impl AgentError {
    pub fn as_str(self) -> &'static str {
        match self {
            AgentError::NotOcfOrPath => "neither ocf:PROVIDER:TYPE nor an absolute path",
            AgentError::OcfShape => "an OCF agent is named ocf:PROVIDER:TYPE",
            AgentError::BadProvider => "the provider is not a valid name",
            AgentError::BadType => "the type is not a valid name",
            AgentError::BadPath => "the path is too long or holds a NUL byte",
            AgentError::UnknownBuiltin => "there is no such built-in resource type",
        }
    }
}

fn is_word(s: &str) -> bool {
    s.len() <= MAX_AGENT_WORD_BYTES
        && s.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

fn word(s: &str, error: AgentError) -> Result<AgentWord, AgentError> {
    if !is_word(s) {
        return Err(error);
    }
    AgentWord::try_from(s).map_err(|_| error)
}

impl Agent {
    /// Parse the `agent` key: `ocf:PROVIDER:TYPE` or an absolute path.
    pub fn parse(text: &str) -> Result<Agent, AgentError> {
        if let Some(name) = text.strip_prefix(BUILTIN_PREFIX) {
            return Builtin::ALL
                .into_iter()
                .find(|b| b.as_str() == name)
                .map(Agent::Builtin)
                .ok_or(AgentError::UnknownBuiltin);
        }
        if let Some(rest) = text.strip_prefix("ocf:") {
            let mut parts = rest.split(':');
            let (Some(provider), Some(agent_type), None) = (parts.next(), parts.next(), parts.next()) else {
                return Err(AgentError::OcfShape);
            };
            let agent = Agent::Ocf {
                provider: word(provider, AgentError::BadProvider)?,
                agent_type: word(agent_type, AgentError::BadType)?,
            };
            if agent.path().len() > MAX_AGENT_PATH_BYTES {
                return Err(AgentError::BadPath);
            }
            return Ok(agent);
        }
        if !text.starts_with('/') {
            return Err(AgentError::NotOcfOrPath);
        }
        if text.len() > MAX_AGENT_PATH_BYTES || text.contains('\0') {
            return Err(AgentError::BadPath);
        }
        Ok(Agent::Path(text.to_string()))
    }

    /// A path agent (tests and simulations). Panics on a text that is not an absolute path.
    pub fn path_of(text: &str) -> Agent {
        let agent = Agent::parse(text).expect("an absolute agent path");
        assert!(matches!(agent, Agent::Path(_)));
        agent
    }

    /// The script to execute; for a built-in type, its name (`builtin:TYPE`), which is no file.
    pub fn path(&self) -> String {
        match self {
            Agent::Ocf { provider, agent_type } => format!("{OCF_AGENTS_DIR}/{provider}/{agent_type}"),
            Agent::Path(path) => path.clone(),
            Agent::Builtin(builtin) => format!("{BUILTIN_PREFIX}{}", builtin.as_str()),
        }
    }

    /// The built-in type, when the agent runs no script.
    pub fn builtin(&self) -> Option<Builtin> {
        match self {
            Agent::Builtin(builtin) => Some(*builtin),
            _ => None,
        }
    }

    /// `OCF_RESOURCE_TYPE`: the type, or the path's last component.
    pub fn agent_type(&self) -> &str {
        match self {
            Agent::Ocf { agent_type, .. } => agent_type,
            Agent::Path(path) => path.rsplit('/').next().unwrap_or(""),
            Agent::Builtin(builtin) => builtin.as_str(),
        }
    }

    /// `OCF_RESOURCE_PROVIDER`: the provider of an `ocf:` agent, or of a path inside
    /// `/usr/lib/ocf/resource.d/PROVIDER/`; `None` for any other path.
    pub fn provider(&self) -> Option<&str> {
        match self {
            Agent::Ocf { provider, .. } => Some(provider),
            Agent::Path(path) => {
                let rest = path.strip_prefix(OCF_AGENTS_DIR)?.strip_prefix('/')?;
                let (provider, agent_type) = rest.split_once('/')?;
                (is_word(provider) && is_word(agent_type)).then_some(provider)
            }
            Agent::Builtin(_) => None,
        }
    }

    /// Within the bounds [`Agent::parse`] enforces (the core asserts it).
    pub fn is_valid(&self) -> bool {
        match self {
            Agent::Ocf { provider, agent_type } => {
                is_word(provider) && is_word(agent_type) && self.path().len() <= MAX_AGENT_PATH_BYTES
            }
            Agent::Path(path) => {
                path.starts_with('/') && path.len() <= MAX_AGENT_PATH_BYTES && !path.contains('\0')
            }
            Agent::Builtin(_) => true,
        }
    }
}

/// As written in the configuration: `ocf:PROVIDER:TYPE` or the path.
impl core::fmt::Display for Agent {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Agent::Ocf { provider, agent_type } => write!(f, "ocf:{provider}:{agent_type}"),
            Agent::Path(path) => f.write_str(path),
            Agent::Builtin(builtin) => write!(f, "{BUILTIN_PREFIX}{}", builtin.as_str()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ocf_names_resolve_under_the_ocf_root() {
        let agent = Agent::parse("ocf:heartbeat:IPaddr2").unwrap();
        assert_eq!(agent.path(), "/usr/lib/ocf/resource.d/heartbeat/IPaddr2");
        assert_eq!(agent.agent_type(), "IPaddr2");
        assert_eq!(agent.provider(), Some("heartbeat"));
        assert_eq!(agent.to_string(), "ocf:heartbeat:IPaddr2");
        assert!(agent.is_valid());
    }

    #[test]
    fn absolute_paths_keep_working_and_know_their_provider_inside_the_ocf_tree() {
        let agent = Agent::parse("/usr/lib/ha-agent/resources/dummy").unwrap();
        assert_eq!(agent, Agent::Path("/usr/lib/ha-agent/resources/dummy".into()));
        assert_eq!(agent.path(), "/usr/lib/ha-agent/resources/dummy");
        assert_eq!(agent.agent_type(), "dummy");
        assert_eq!(agent.provider(), None);
        let inside = Agent::parse("/usr/lib/ocf/resource.d/heartbeat/Dummy").unwrap();
        assert_eq!((inside.provider(), inside.agent_type()), (Some("heartbeat"), "Dummy"));
        let deeper = Agent::parse("/usr/lib/ocf/resource.d/heartbeat/sub/Dummy").unwrap();
        assert_eq!(deeper.provider(), None);
    }

    #[test]
    fn builtin_types_are_named_builtin_type_and_run_no_script() {
        let agent = Agent::parse("builtin:ipaddr").unwrap();
        assert_eq!(agent, Agent::Builtin(Builtin::IpAddr));
        assert_eq!(agent.builtin(), Some(Builtin::IpAddr));
        assert_eq!((agent.agent_type(), agent.provider()), ("ipaddr", None));
        assert_eq!(agent.to_string(), "builtin:ipaddr");
        assert!(agent.is_valid());
        assert_eq!(Agent::parse("builtin:IPaddr2"), Err(AgentError::UnknownBuiltin));
        assert_eq!(Agent::parse("builtin:"), Err(AgentError::UnknownBuiltin));
        assert_eq!(Agent::parse("ocf:heartbeat:IPaddr2").unwrap().builtin(), None);
    }

    #[test]
    fn names_that_could_leave_the_agents_directory_are_refused() {
        for (text, error) in [
            ("ocf:heartbeat", AgentError::OcfShape),
            ("ocf:a:b:c", AgentError::OcfShape),
            ("ocf::Dummy", AgentError::BadProvider),
            ("ocf:..:Dummy", AgentError::BadProvider),
            ("ocf:.hidden:Dummy", AgentError::BadProvider),
            ("ocf:heart/beat:Dummy", AgentError::BadProvider),
            ("ocf:heartbeat:", AgentError::BadType),
            ("ocf:heartbeat:..", AgentError::BadType),
            ("ocf:heartbeat:../../../bin/sh", AgentError::BadType),
            ("ocf:heartbeat:Dum my", AgentError::BadType),
            ("ocf:heartbeat:Dummy\0", AgentError::BadType),
            ("lsb:postgresql", AgentError::NotOcfOrPath),
            ("Dummy", AgentError::NotOcfOrPath),
            ("", AgentError::NotOcfOrPath),
        ] {
            assert_eq!(Agent::parse(text), Err(error), "{text:?}");
        }
        let long = format!("ocf:heartbeat:{}", "a".repeat(MAX_AGENT_WORD_BYTES + 1));
        assert_eq!(Agent::parse(&long), Err(AgentError::BadType));
        let long_path = format!("/{}", "a".repeat(MAX_AGENT_PATH_BYTES));
        assert_eq!(Agent::parse(&long_path), Err(AgentError::BadPath));
        assert_eq!(Agent::parse("/bin/\0sh"), Err(AgentError::BadPath));
    }
}
