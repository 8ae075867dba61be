//! `check-config` on a node: each resource's agent as installed on this machine. The script
//! must be there and executable, and the configured parameters must be those its meta-data
//! declares: an unknown one is reported with the closest declared name, a required one that is
//! missing is reported too.
//!
//! Owns those rules and the explanation of each problem (with its line, like every other
//! problem) and of the one warning: meta-data that cannot be read, so that the parameters go
//! unchecked. It runs nothing itself: the caller passes an [`AgentInspector`]
//! (`shell::ocf::inspect::InstalledAgents` looks at the files and runs `meta-data`; tests can
//! stub it). Only a node's file is inspected: the witness runs no resources.

#![forbid(unsafe_code)]

use toml::de::DeTable;

use super::path::KeyPath;
use super::sections::span_of;
use super::{closest, Checker, ProblemKind};
use crate::core::resources::meta_data::MetaData;
use crate::core::resources::{Agent, GroupSpec};

/// Bound on the parameter names listed in one hint.
const MAX_LISTED_PARAMETERS: usize = 40;

/// Finds out how the agents of a group are installed on this machine.
pub trait AgentInspector {
    /// One report per agent, in the order given.
    fn inspect(&self, agents: &[Agent]) -> Vec<AgentReport>;
}

/// What the machine says about one agent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AgentReport {
    /// There is no such file, or it cannot be reached: why.
    Missing(String),
    /// There, but not an executable file: what it is.
    NotExecutable(String),
    /// Executable; its meta-data, or why it could not be read.
    Installed(Result<MetaData, String>),
}

/// Checks every resource of `group` (a node's, from the file whose tree is `root`).
pub(super) fn check_agents(
    checker: &mut Checker<'_>,
    root: &DeTable<'_>,
    group: &GroupSpec,
    inspector: &dyn AgentInspector,
) {
    let agents: Vec<Agent> = group.resources.iter().map(|r| r.agent.clone()).collect();
    let reports = inspector.inspect(&agents);
    assert_eq!(reports.len(), agents.len(), "one report per agent");
    for (index, (resource, report)) in group.resources.iter().zip(reports).enumerate() {
        let agent = &resource.agent;
        let path = agent.path();
        let agent_key = KeyPath::root("resources").key("group").index(index).key("agent");
        match report {
            AgentReport::Missing(why) => {
                let hint = match agent {
                    Agent::Ocf { provider, .. } => format!(
                        "install the package with the {provider} agents (Debian: resource-agents provides ocf:heartbeat:*), or correct the name: the {provider} agents of this machine are in /usr/lib/ocf/resource.d/{provider}/; without the script every action of this resource fails with OCF code 5 (not installed)"
                    ),
                    Agent::Path(_) => "install the script there, or correct the path; without it every action of this resource fails with OCF code 5 (not installed)".to_string(),
                    Agent::Builtin(_) => "a built-in type is part of ha-agent and is never missing".to_string(),
                };
                checker.push(
                    ProblemKind::AgentMissing,
                    span_of(root, &agent_key),
                    &agent_key.to_string(),
                    format!("the agent {agent} cannot be found: {path}: {why}"),
                    hint,
                );
            }
            AgentReport::NotExecutable(what) => checker.push(
                ProblemKind::AgentNotExecutable,
                span_of(root, &agent_key),
                &agent_key.to_string(),
                format!("the agent {agent} is not executable: {path} is {what}"),
                format!("it must be an executable file: chmod 755 {path}"),
            ),
            AgentReport::Installed(Err(why)) => checker.warn(
                ProblemKind::AgentMetaDataUnreadable,
                span_of(root, &agent_key),
                &agent_key.to_string(),
                format!("cannot read the meta-data of {agent} ({why}): its parameters are not checked"),
                format!(
                    "an OCF agent prints its XML description for `meta-data` (try: OCF_ROOT=/usr/lib/ocf {path} meta-data); without it the agent also gets no validate-all before start"
                ),
            ),
            AgentReport::Installed(Ok(meta)) => check_parameters(checker, root, index, agent, &resource.params, &meta),
        }
    }
}

fn check_parameters(
    checker: &mut Checker<'_>,
    root: &DeTable<'_>,
    index: usize,
    agent: &Agent,
    params: &[(String, String)],
    meta: &MetaData,
) {
    let declared: Vec<&str> = meta.parameters.iter().map(|p| p.name.as_str()).collect();
    let mut listed = declared.iter().take(MAX_LISTED_PARAMETERS).copied().collect::<Vec<_>>().join(", ");
    if declared.len() > MAX_LISTED_PARAMETERS {
        listed.push_str(&format!(" and {} more", declared.len() - MAX_LISTED_PARAMETERS));
    }
    for (name, _) in params {
        if meta.parameter(name).is_some() {
            continue;
        }
        let key = KeyPath::root("resources").key("group").index(index).key("params").key(name);
        let hint = match closest(name, &declared) {
            Some(close) => format!(
                "did you mean `{close}`? (the agent's meta-data lists its {} parameters)",
                declared.len()
            ),
            None if declared.is_empty() => format!("{agent} declares no parameters"),
            None => format!("the parameters of {agent}: {listed}"),
        };
        checker.push(
            ProblemKind::UnknownParameter,
            span_of(root, &key),
            &key.to_string(),
            format!("unknown parameter `{name}`: {agent} has no such parameter"),
            hint,
        );
    }
    for parameter in meta.parameters.iter().filter(|p| p.required) {
        if params.iter().any(|(name, _)| *name == parameter.name) {
            continue;
        }
        let key = KeyPath::root("resources").key("group").index(index).key("params");
        checker.push(
            ProblemKind::MissingParameter,
            span_of(root, &key),
            &key.to_string(),
            format!("required parameter `{}` of {agent} is missing", parameter.name),
            format!(
                "add it: params = {{ {} = \"...\" }} (its meaning is in the agent's meta-data: OCF_ROOT=/usr/lib/ocf {} meta-data)",
                parameter.name,
                agent.path()
            ),
        );
    }
}
