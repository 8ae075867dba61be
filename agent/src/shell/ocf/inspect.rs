//! Asking resource agents about themselves, outside the loop's actions: is the script installed
//! and executable, and what does `AGENT meta-data` say (parsed by `core::resources::meta_data`).
//! `check-config` uses it through [`InstalledAgents`]; the running node learns in a helper
//! thread ([`MetaDataProbe`]) which agents advertise validate-all, at start and after a reload.
//!
//! Owns those short-lived children: all of one group's agents run at once, each in a clean
//! environment (`PATH`, `OCF_ROOT`, the OCF version, type and provider), stdin from
//! `/dev/null`, stderr discarded, in its own process group; at most
//! [`META_DATA_TIMEOUT_MS`] for all of them together and [`MAX_META_DATA_BYTES`] of output
//! each, after which the group is killed. It decides nothing: the configuration check judges
//! the parameters, the core decides what validate-all means.

#![forbid(unsafe_code)]

use std::io::{self, Read};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rustix::event::{poll, PollFd, PollFlags, Timespec};
use rustix::process::{kill_process_group, Pid, Signal};

use crate::config::{AgentInspector, AgentReport};
use crate::core::resources::agent::Builtin;
use crate::core::resources::meta_data::Parameter;
use crate::core::resources::meta_data::{MetaData, MetaDataError, MAX_META_DATA_BYTES};
use crate::core::resources::{Agent, Outcome, ResourceSpec, Validation};

/// Bound on the time all meta-data reads of one group take together.
pub const META_DATA_TIMEOUT_MS: u64 = 5_000;
/// While children run, the reads are looked at this often (an exit is noticed within it).
const META_DATA_POLL_MS: u64 = 20;
/// Stack of the helper thread (it holds no large buffer: output goes to the heap).
const PROBE_STACK_BYTES: usize = 128 * 1024;

/// Why an agent's meta-data could not be had.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MetaDataFailure {
    /// The script could not be started.
    Spawn(String),
    /// It did not finish within [`META_DATA_TIMEOUT_MS`] (its process group was killed).
    TimedOut,
    /// It printed more than [`MAX_META_DATA_BYTES`] (its process group was killed).
    TooLarge,
    /// It exited with something else than 0.
    Exit(Outcome),
    /// Reading its output failed.
    Read(String),
    /// What it printed is not OCF meta-data.
    Parse(MetaDataError),
}

impl core::fmt::Display for MetaDataFailure {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            MetaDataFailure::Spawn(e) => write!(f, "cannot run it: {e}"),
            MetaDataFailure::TimedOut => write!(f, "no answer within {META_DATA_TIMEOUT_MS} ms"),
            MetaDataFailure::TooLarge => write!(f, "more than {MAX_META_DATA_BYTES} bytes of output"),
            MetaDataFailure::Exit(outcome) => write!(f, "meta-data ended with {outcome}"),
            MetaDataFailure::Read(e) => write!(f, "reading its output failed: {e}"),
            MetaDataFailure::Parse(e) => write!(f, "its output is not OCF meta-data: {e}"),
        }
    }
}

/// Whether `agent`'s script is there and executable: `Err` with the report that says why not.
pub fn installed(agent: &Agent) -> Result<(), AgentReport> {
    if agent.builtin().is_some() {
        return Ok(()); // part of this program
    }
    let path = agent.path();
    let metadata = std::fs::metadata(&path).map_err(|e| {
        AgentReport::Missing(match e.kind() {
            io::ErrorKind::NotFound => "no such file".to_string(),
            _ => e.to_string(),
        })
    })?;
    if metadata.is_dir() {
        return Err(AgentReport::NotExecutable("a directory".into()));
    }
    if !metadata.is_file() {
        return Err(AgentReport::NotExecutable("not a regular file".into()));
    }
    let mode = metadata.permissions().mode() & 0o7777;
    let executable =
        mode & 0o111 != 0 && rustix::fs::access(path.as_str(), rustix::fs::Access::EXEC_OK).is_ok();
    if !executable {
        return Err(AgentReport::NotExecutable(format!("mode {mode:04o}, not executable")));
    }
    Ok(())
}

/// The real machine, for `check-config`.
pub struct InstalledAgents;

impl AgentInspector for InstalledAgents {
    fn inspect(&self, agents: &[Agent]) -> Vec<AgentReport> {
        let checked: Vec<Result<(), AgentReport>> = agents.iter().map(installed).collect();
        let runnable: Vec<Agent> =
            agents.iter().zip(&checked).filter(|(_, c)| c.is_ok()).map(|(a, _)| a.clone()).collect();
        let mut meta_data = read_meta_data(&runnable).into_iter();
        let reports = checked
            .into_iter()
            .map(|c| match c {
                Err(report) => report,
                Ok(()) => match meta_data.next().expect("one answer per runnable agent") {
                    // Executable by its mode, refused by the kernel (not a script, no interpreter).
                    Err(MetaDataFailure::Spawn(e)) => {
                        AgentReport::NotExecutable(format!("a file that cannot be executed: {e}"))
                    }
                    answer => AgentReport::Installed(answer.map_err(|e| e.to_string())),
                },
            })
            .collect();
        assert!(meta_data.next().is_none());
        reports
    }
}

/// One `meta-data` run.
struct Reading {
    child: Child,
    pgid: Pid,
    /// Non-blocking; `None` once it reached its end.
    stdout: Option<ChildStdout>,
    bytes: Vec<u8>,
    result: Option<Result<MetaData, MetaDataFailure>>,
}

impl Reading {
    fn start(agent: &Agent) -> Result<Reading, MetaDataFailure> {
        let mut command = Command::new(agent.path());
        command
            .arg("meta-data")
            .env_clear()
            .envs(super::meta_data_environment(agent))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .current_dir("/")
            .process_group(0);
        crate::shell::sys::child_scheduling(&mut command);
        let mut child = command.spawn().map_err(|e| MetaDataFailure::Spawn(e.to_string()))?;
        let pgid = Pid::from_child(&child);
        let stdout = child.stdout.take().expect("piped");
        if let Err(e) = rustix::io::ioctl_fionbio(&stdout, true) {
            let _ = kill_process_group(pgid, Signal::KILL);
            let _ = child.wait();
            return Err(MetaDataFailure::Read(e.to_string()));
        }
        Ok(Reading { child, pgid, stdout: Some(stdout), bytes: Vec::new(), result: None })
    }

    /// Read what the pipe holds now; note the end, or output beyond the bound.
    fn drain(&mut self) {
        let Some(stdout) = self.stdout.as_mut() else { return };
        let mut buffer = [0u8; 8192];
        loop {
            match stdout.read(&mut buffer) {
                Ok(0) => {
                    self.stdout = None;
                    return;
                }
                Ok(n) => {
                    self.bytes.extend_from_slice(&buffer[..n]);
                    if self.bytes.len() > MAX_META_DATA_BYTES {
                        self.kill(MetaDataFailure::TooLarge);
                        return;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) => {
                    self.kill(MetaDataFailure::Read(e.to_string()));
                    return;
                }
            }
        }
    }

    /// Ends the run with `failure`: the process group is killed and the child reaped.
    fn kill(&mut self, failure: MetaDataFailure) {
        // The group id stays ours until the leader is reaped, below.
        let _ = kill_process_group(self.pgid, Signal::KILL);
        let _ = self.child.wait();
        self.stdout = None;
        self.result = Some(Err(failure));
    }

    /// Once the script exited: its output, parsed.
    fn check_exit(&mut self) {
        match self.child.try_wait() {
            Ok(None) => {}
            Ok(Some(status)) => {
                // A daemon it started may hold the pipe; what the script wrote is there now.
                self.drain();
                if self.result.is_some() {
                    return;
                }
                self.stdout = None;
                let outcome = super::exit_outcome(status);
                self.result = Some(match outcome {
                    Outcome::Success => MetaData::parse(&self.bytes).map_err(MetaDataFailure::Parse),
                    other => Err(MetaDataFailure::Exit(other)),
                });
            }
            Err(e) => self.kill(MetaDataFailure::Read(e.to_string())),
        }
    }
}

/// Run `AGENT meta-data` for every agent at once and parse the answers, in order. Blocks for at
/// most [`META_DATA_TIMEOUT_MS`] in all (plus reaping what it had to kill).
/// A built-in type's meta-data is this program's own description of it.
pub fn read_meta_data(agents: &[Agent]) -> Vec<Result<MetaData, MetaDataFailure>> {
    let scripts: Vec<Agent> = agents.iter().filter(|a| a.builtin().is_none()).cloned().collect();
    let mut answers = read_scripts_meta_data(&scripts).into_iter();
    let all = agents
        .iter()
        .map(|agent| match agent.builtin() {
            Some(builtin) => Ok(builtin_meta_data(builtin)),
            None => answers.next().expect("one answer per script"),
        })
        .collect();
    assert!(answers.next().is_none(), "every answer used");
    all
}

/// What a built-in type declares: its parameters (which are required) and its actions (no
/// validate-all: a built-in type's parameters are checked when the configuration is read).
pub fn builtin_meta_data(builtin: Builtin) -> MetaData {
    use crate::core::resources::{filesystem, ipaddr, pgsql};
    let (names, required): (&[&str], &[&str]) = match builtin {
        Builtin::IpAddr => (&ipaddr::PARAMETERS, &["ip"]),
        Builtin::Filesystem => (&filesystem::PARAMETERS, &filesystem::REQUIRED),
        Builtin::Pgsql => (&pgsql::PARAMETERS, &[]),
    };
    MetaData {
        name: builtin.as_str().to_string(),
        parameters: names
            .iter()
            .map(|name| Parameter { name: name.to_string(), required: required.contains(name) })
            .collect(),
        actions: ["start", "stop", "monitor", "meta-data"].map(String::from).to_vec(),
    }
}

fn read_scripts_meta_data(agents: &[Agent]) -> Vec<Result<MetaData, MetaDataFailure>> {
    let deadline = Instant::now() + Duration::from_millis(META_DATA_TIMEOUT_MS);
    let mut readings: Vec<Result<Reading, MetaDataFailure>> = agents.iter().map(Reading::start).collect();

    loop {
        let mut waiting = false;
        for reading in readings.iter_mut().flatten().filter(|r| r.result.is_none()) {
            reading.drain();
            if reading.result.is_none() {
                reading.check_exit();
            }
            waiting |= reading.result.is_none();
        }
        if !waiting {
            break;
        }
        let now = Instant::now();
        if now >= deadline {
            for reading in readings.iter_mut().flatten().filter(|r| r.result.is_none()) {
                reading.kill(MetaDataFailure::TimedOut);
            }
            break;
        }
        // Sleep until output arrives, or a short while (an exit shows no readiness on stdout
        // when a child of the script keeps the pipe open).
        let pause = (deadline - now).min(Duration::from_millis(META_DATA_POLL_MS));
        let timeout = Timespec { tv_sec: 0, tv_nsec: pause.subsec_nanos().into() };
        let mut fds: Vec<PollFd<'_>> = readings
            .iter()
            .flatten()
            .filter(|r| r.result.is_none())
            .filter_map(|r| r.stdout.as_ref())
            .map(|s| PollFd::new(s, PollFlags::IN))
            .collect();
        if fds.is_empty() {
            std::thread::sleep(pause);
        } else {
            let _ = poll(&mut fds, Some(&timeout));
        }
    }
    readings
        .into_iter()
        .map(|r| match r {
            Ok(reading) => reading.result.expect("every reading ended"),
            Err(failure) => Err(failure),
        })
        .collect()
}

/// What a [`MetaDataProbe`]'s answer means for each of `resources` (its agents, in order):
/// validate-all before each start, or not. Each finding is logged.
pub fn validations(resources: &[ResourceSpec], answer: Result<Answers, ()>) -> Vec<Validation> {
    let answers = answer.unwrap_or_default();
    let mut validations = Vec::with_capacity(resources.len());
    for (index, spec) in resources.iter().enumerate() {
        let (name, agent) = (&spec.name, &spec.agent);
        validations.push(match answers.get(index) {
            Some(Ok(meta)) if meta.advertises("validate-all") => {
                log::info!("resource {name}: {agent} advertises validate-all: it runs before each start");
                Validation::Advertised
            }
            Some(Ok(_)) => Validation::NotAdvertised,
            Some(Err(e)) => {
                log::warn!("resource {name}: meta-data of {agent}: {e}; no validate-all before start");
                Validation::NotAdvertised
            }
            None => {
                log::error!(
                    "resource {name}: the meta-data reader gave no answer; no validate-all before start"
                );
                Validation::NotAdvertised
            }
        });
    }
    validations
}

/// The meta-data of a group's agents, one answer per agent in order.
type Answers = Vec<Result<MetaData, MetaDataFailure>>;

/// Reads the meta-data of a group's agents in a helper thread (the loop must not wait for
/// agents); the loop polls for the answer. One slot, written once by the thread (a channel
/// would cost the static binary more for the same thing).
pub struct MetaDataProbe {
    answer: Arc<Mutex<Option<Answers>>>,
}

impl MetaDataProbe {
    pub fn start(agents: Vec<Agent>) -> io::Result<MetaDataProbe> {
        let answer = Arc::new(Mutex::new(None));
        let slot = Arc::clone(&answer);
        crate::shell::sys::spawn_thread(
            "ocf-meta-data",
            PROBE_STACK_BYTES,
            Box::new(move || {
                let answers = read_meta_data(&agents);
                *slot.lock().unwrap_or_else(|e| e.into_inner()) = Some(answers);
            }),
        )?;
        Ok(MetaDataProbe { answer })
    }

    /// The answer, one per agent in order, once it is there (`None` while the thread works).
    /// A thread that ended without answering gives `Some(Err(()))`.
    pub fn poll(&self) -> Option<Result<Answers, ()>> {
        let taken = self.answer.lock().unwrap_or_else(|e| e.into_inner()).take();
        match taken {
            Some(answers) => Some(Ok(answers)),
            None if Arc::strong_count(&self.answer) == 1 => Some(Err(())),
            None => None,
        }
    }
}
