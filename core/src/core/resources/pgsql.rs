//! The built-in resource type `builtin:pgsql`: a PostgreSQL server, the essential options of
//! `ocf:heartbeat:pgsql` (no replication), carried out by the agent with PostgreSQL's own
//! programs (`pg_ctl`, `pg_isready`) and signals, without a shell script.
//!
//! Owns the schema of its parameters (one typed definition, [`PgsqlSpec`], parsed once from the
//! `params` table with a clear problem per bad key, with the pgsql agent's names and defaults)
//! and every decision of the three actions as a pure state machine ([`PgsqlAction`]) fed with
//! what the driver (`shell::pgsql`) saw: the exit and output of each program, and which process
//! is this data directory's postmaster ([`find_postmaster`], from `/proc`). It does no I/O.
//!
//! How it differs from the pgsql agent, and why:
//!
//! - **The postmaster is found in `/proc`, not in `postmaster.pid`.** A data directory on a
//!   shared array carries the pid file of the node that ran it last; its pid means nothing here
//!   and may belong to any local process. The pgsql agent (`kill -0`) and `pg_ctl stop` trust
//!   it, so after a failover they can take an unrelated process for the server, and signal it.
//!   Here the postmaster is the `postgres` process whose working directory is the data
//!   directory and whose parent is not one too (the server `chdir`s into its data directory;
//!   its children inherit it). A stop signals that process; a start removes the stale pid
//!   file first when no postmaster runs (as the pgsql agent does).
//! - **No polling with a one-second sleep.** `pg_ctl start -w` returns when the server writes
//!   "ready" into its pid file (it checks ten times a second); a stop waits for the postmaster
//!   in [`STOP_POLL_MS`] steps. The pgsql agent waits in whole seconds, and forks `su` and `psql`
//!   for every check.
//! - **The monitor is `pg_isready`** (a connection attempt, no query and no login; the pgsql
//!   agent runs `select now()` through `psql`). `monitor_sql`, `monitor_user` and the
//!   replication options are not carried out.

#![forbid(unsafe_code)]

use super::program::{last_line, ProgramCall, ProgramExit, Resume, Step};
use super::{Action, Outcome};
use crate::time::Micros;

/// The parameters `builtin:pgsql` knows, with the pgsql agent's names and meanings.
pub const PARAMETERS: [&str; 9] =
    ["pgctl", "pgdata", "config", "pgdba", "pgport", "socketdir", "logfile", "start_opt", "stop_escalate"];
/// The pgsql agent's parameters the built-in type does not carry out (an error names them).
pub const UNSUPPORTED_PGSQL_PARAMETERS: [&str; 22] = [
    "psql",
    "pghost",
    "pglibs",
    "pgdb",
    "ctl_opt",
    "monitor_user",
    "monitor_password",
    "monitor_sql",
    "check_wal_receiver",
    "rep_mode",
    "node_list",
    "restore_command",
    "archive_cleanup_command",
    "recovery_end_command",
    "master_ip",
    "repuser",
    "primary_conninfo_opt",
    "restart_on_promote",
    "tmpdir",
    "xlog_check_count",
    "crm_attr_timeout",
    "stop_escalate_in_slave",
];
/// The pgsql agent's defaults.
pub const DEFAULT_PGCTL: &str = "/usr/bin/pg_ctl";
pub const DEFAULT_PGDATA: &str = "/var/lib/pgsql/data";
pub const DEFAULT_PGDBA: &str = "postgres";
pub const DEFAULT_PGPORT: u16 = 5432;
pub const DEFAULT_LOGFILE: &str = "/dev/null";
pub const DEFAULT_STOP_ESCALATE_S: u64 = 90;
/// Bound on `stop_escalate`.
pub const MAX_STOP_ESCALATE_S: u64 = 3600;
/// A stop's fast shutdown gets at most the stop timeout minus this before the immediate one
/// (the pgsql agent's rule: `stop_escalate` is cut to `timeout − 10 s`).
pub const STOP_ESCALATE_RESERVE_MS: u64 = 10_000;
/// How often a stop looks whether the server is gone.
pub const STOP_POLL_MS: u64 = 100;
/// Bound on a user name (`pgdba`).
pub const MAX_USER_BYTES: usize = 32;
/// `rm`, which removes a stale `postmaster.pid` (as the data directory's owner).
pub const RM: &str = "/bin/rm";
/// `touch` and `chown`: a start makes sure the server's user can write `logfile` (creating it
/// for that user when it cannot, as the pgsql agent's `check_log_file` does).
pub const TOUCH: &str = "/bin/touch";
pub const CHOWN: &str = "/bin/chown";
/// OCF "insufficient privileges".
pub const OCF_ERR_PERM: i32 = 4;
/// The file name of the server's executable (`/usr/lib/postgresql/15/bin/postgres` on Debian).
pub const SERVER_EXE_NAME: &str = "postgres";

/// OCF codes used here.
pub const OCF_ERR_GENERIC: i32 = 1;
pub const OCF_ERR_INSTALLED: i32 = 5;
pub const OCF_ERR_CONFIGURED: i32 = 6;
pub const OCF_NOT_RUNNING: i32 = 7;

/// `pg_ctl status`: the data directory is not accessible (not mounted, wrong path).
const PG_CTL_STATUS_NO_DATA_DIR: i32 = 4;
/// `pg_isready`: the server rejects connections (starting up, shutting down).
const PG_ISREADY_REJECTING: i32 = 1;
/// `pg_isready`: no response.
const PG_ISREADY_NO_RESPONSE: i32 = 2;

/// One `builtin:pgsql` resource, as configured.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PgsqlSpec {
    /// `pgctl`: the `pg_ctl` of the server's version.
    pub pgctl: String,
    /// `pg_isready`, beside `pg_ctl`.
    pub pg_isready: String,
    /// `pgdata`: the data directory.
    pub pgdata: String,
    /// `config`: `postgresql.conf` when it is not in the data directory (Debian keeps it in
    /// `/etc/postgresql/VERSION/CLUSTER/`).
    pub config: Option<String>,
    /// `pgdba`: the user the server runs as, owner of the data directory.
    pub pgdba: String,
    /// `pgport`: the port `pg_isready` asks on (the server's own comes from its configuration).
    pub pgport: u16,
    /// `socketdir`: the Unix socket's directory for `pg_isready` (libpq's default when unset).
    pub socketdir: Option<String>,
    /// `logfile`: `pg_ctl -l`, the server's output before its own logging starts.
    pub logfile: String,
    /// `start_opt`: more server options, words separated by spaces.
    pub start_opt: Option<String>,
    /// `stop_escalate`: seconds of fast shutdown before an immediate one.
    pub stop_escalate_s: u64,
}

/// One bad parameter (the same shape as `builtin:ipaddr`'s).
pub use super::ipaddr::ParamProblem;

/// A path `pg_ctl` may put into the shell command line it runs the server with: absolute, and
/// of characters no shell treats specially.
fn is_plain_path(s: &str) -> bool {
    s.starts_with('/')
        && s.len() <= super::MAX_PARAM_VALUE_BYTES
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"/._-+@:,=".contains(&b))
}

/// Server options: words of characters no shell treats specially (`-c name=value` pairs).
fn is_plain_options(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_alphanumeric() || b" /._-+@:,=".contains(&b))
}

fn is_user_name(s: &str) -> bool {
    let mut bytes = s.bytes();
    matches!(bytes.next(), Some(b'a'..=b'z' | b'_'))
        && s.len() <= MAX_USER_BYTES
        && bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

impl PgsqlSpec {
    /// Parse the `params` table. Every problem is reported, each with its parameter.
    pub fn from_params(params: &[(String, String)]) -> Result<PgsqlSpec, Vec<ParamProblem>> {
        let mut problems = Vec::new();
        let mut problem = |param: &str, message: String, hint: &str| {
            problems.push(ParamProblem { param: param.to_string(), message, hint: hint.to_string() })
        };
        for p in super::ipaddr::unknown_parameters(
            "pgsql",
            "the pgsql agent's",
            "ocf:heartbeat:pgsql",
            params,
            &PARAMETERS,
            &UNSUPPORTED_PGSQL_PARAMETERS,
        ) {
            problem(&p.param, p.message, &p.hint);
        }
        let get = |name: &str| params.iter().find(|(k, _)| k == name).map(|(_, v)| v.trim().to_string());
        let mut path = |name: &str, default: Option<&str>| -> Option<String> {
            let value = get(name).or(default.map(str::to_string))?;
            if is_plain_path(&value) {
                Some(value)
            } else {
                problem(
                    name,
                    format!("{value:?} is not an absolute path of plain characters"),
                    "letters, digits and / . _ - + @ : , = only: pg_ctl passes it through a shell",
                );
                None
            }
        };
        let pgctl = path("pgctl", Some(DEFAULT_PGCTL)).unwrap_or_default();
        let pgdata = path("pgdata", Some(DEFAULT_PGDATA)).unwrap_or_default();
        let config = path("config", None);
        let socketdir = path("socketdir", None);
        let logfile = path("logfile", Some(DEFAULT_LOGFILE)).unwrap_or_default();
        let pgdba = get("pgdba").unwrap_or_else(|| DEFAULT_PGDBA.to_string());
        if !is_user_name(&pgdba) {
            problem(
                "pgdba",
                format!("{pgdba:?} is not a user name"),
                "a system user such as postgres: [a-z_][a-z0-9_-]*, at most 32 bytes",
            );
        }
        let pgport = match get("pgport") {
            None => DEFAULT_PGPORT,
            Some(text) => match text.parse::<u16>() {
                Ok(port) if port > 0 => port,
                _ => {
                    problem("pgport", format!("{text:?} is not a port"), "1..=65535, 5432 by default");
                    DEFAULT_PGPORT
                }
            },
        };
        let start_opt = get("start_opt").filter(|s| !s.is_empty());
        if let Some(text) = &start_opt {
            if !is_plain_options(text) || text.len() > super::MAX_PARAM_VALUE_BYTES {
                problem(
                    "start_opt",
                    format!("{text:?} holds characters a shell would interpret"),
                    "server options such as `-c work_mem=64MB`: letters, digits, spaces and / . _ - + @ : , =",
                );
            }
        }
        let stop_escalate_s = match get("stop_escalate") {
            None => DEFAULT_STOP_ESCALATE_S,
            Some(text) => match text.parse::<u64>() {
                Ok(s) if s <= MAX_STOP_ESCALATE_S => s,
                _ => {
                    problem(
                        "stop_escalate",
                        format!("{text:?} is not a number of seconds 0..={MAX_STOP_ESCALATE_S}"),
                        "seconds of fast shutdown before an immediate one (90 by default)",
                    );
                    DEFAULT_STOP_ESCALATE_S
                }
            },
        };
        if !problems.is_empty() {
            return Err(problems);
        }
        let dir = pgctl.rsplit_once('/').map_or("", |(dir, _)| dir);
        Ok(PgsqlSpec {
            pg_isready: format!("{dir}/pg_isready"),
            pgctl,
            pgdata,
            config,
            pgdba,
            pgport,
            socketdir,
            logfile,
            start_opt,
            stop_escalate_s,
        })
    }

    /// The `-o` of `pg_ctl start`: the configuration file and `start_opt`.
    fn server_options(&self) -> Option<String> {
        let mut words = Vec::new();
        if let Some(config) = &self.config {
            words.push(format!("-c config_file={config}"));
        }
        words.extend(self.start_opt.clone());
        (!words.is_empty()).then(|| words.join(" "))
    }
}

/// A process the driver found with the data directory as its working directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SeenProcess {
    pub pid: u32,
    pub ppid: Option<u32>,
    /// The file name of its executable (`None` when unreadable).
    pub exe_name: Option<String>,
}

/// What the driver saw in `/proc` before a decision: the server processes of this data
/// directory, or that the scan failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Seen {
    Processes(Vec<SeenProcess>),
    /// The scan could not see every process (cut at its bound): nothing can be concluded.
    Incomplete,
}

/// The postmaster among the server's processes: a `postgres` whose parent is not one of them.
/// Other processes sitting in the data directory (an operator's shell) are not servers.
pub fn find_postmaster(processes: &[SeenProcess]) -> Option<u32> {
    let servers: Vec<&SeenProcess> =
        processes.iter().filter(|p| p.exe_name.as_deref() == Some(SERVER_EXE_NAME)).collect();
    servers.iter().find(|p| !servers.iter().any(|q| Some(q.pid) == p.ppid)).map(|p| p.pid)
}

/// Whether any server process of the data directory is left (a stop waits for all of them).
fn any_server(processes: &[SeenProcess]) -> bool {
    processes.iter().any(|p| p.exe_name.as_deref() == Some(SERVER_EXE_NAME))
}

/// The signals a stop sends to the postmaster (PostgreSQL's shutdown modes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShutdownSignal {
    /// SIGINT: fast shutdown (sessions ended, a checkpoint written).
    Fast,
    /// SIGQUIT: immediate shutdown (no checkpoint: crash recovery at the next start).
    Immediate,
}

/// What the state machine asks of its driver next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PgsqlStep {
    /// Scan `/proc` and call [`PgsqlAction::seen`].
    Look,
    /// A step for the runner (a program, a wait, the end).
    Step(Step),
    /// Send this signal to this pid, then call [`PgsqlAction::seen`] after a fresh look.
    Signal { pid: u32, signal: ShutdownSignal },
    /// Look whether this pid is a process that has exited and not been reaped (or is exiting),
    /// and call [`PgsqlAction::exiting`].
    CheckExiting { pid: u32 },
}

/// The pid in `pg_ctl status`'s "server is running (PID: N)", bounded; `None` otherwise.
pub fn pg_ctl_status_pid(output: &str) -> Option<u32> {
    const MAX_SCANNED_BYTES: usize = 4096;
    let mut end = output.len().min(MAX_SCANNED_BYTES);
    while !output.is_char_boundary(end) {
        end -= 1;
    }
    let rest = output[..end].split_once("(PID: ")?.1;
    let (digits, _) = rest.split_once(')')?;
    // As pg_ctl prints a pid: decimal digits, no sign, no leading zero.
    if digits.starts_with('0') || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse::<u32>().ok()
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Begin,
    /// start: `pg_ctl status`, to learn whether the data directory is there.
    StartStatus,
    /// start: the pid file names a live pid but no server runs here: is it a server of an
    /// earlier start still exiting (a zombie its parent has not reaped yet)?
    StartExiting {
        pid: u32,
    },
    /// start: waiting for that process to be gone.
    StartWaitExit {
        pid: u32,
    },
    /// start: removing a stale pid file.
    StartRemovePid,
    /// start: `touch logfile` as the server's user (can it write it?).
    StartLogTouch,
    /// start: it cannot: `touch` as root, then `chown` to the server's user.
    StartLogCreate,
    StartLogChown,
    /// start: `pg_ctl start -w`.
    StartServer,
    /// start: looking for the postmaster that pg_ctl reported started.
    StartCheck,
    /// start or monitor: `pg_isready` against a running postmaster.
    IsReady {
        pid: u32,
    },
    /// stop: signalled, waiting for every server process to go.
    Stopping {
        escalated: bool,
    },
    Over,
}

/// One action of one `builtin:pgsql` resource.
#[derive(Clone, Debug)]
pub struct PgsqlAction {
    spec: PgsqlSpec,
    action: Action,
    timeout_ms: u64,
    phase: Phase,
    /// When a stop sends the immediate shutdown.
    escalate_at: Option<Micros>,
}

impl PgsqlAction {
    /// `timeout_ms` is the action's (bounds `pg_ctl -t`, `pg_isready -t` and the escalation).
    pub fn new(spec: PgsqlSpec, action: Action, timeout_ms: u64) -> PgsqlAction {
        PgsqlAction { spec, action, timeout_ms, phase: Phase::Begin, escalate_at: None }
    }

    fn done(&mut self, outcome: Outcome, reason: &str, output: impl Into<String>) -> PgsqlStep {
        self.phase = Phase::Over;
        PgsqlStep::Step(Step::done(outcome, reason, output))
    }

    fn failed(&mut self, code: i32, reason: impl Into<String>) -> PgsqlStep {
        self.phase = Phase::Over;
        PgsqlStep::Step(Step::failed(code, reason))
    }

    fn run(&mut self, phase: Phase, argv: Vec<String>, as_user: bool) -> PgsqlStep {
        self.phase = phase;
        let user = as_user.then(|| self.spec.pgdba.clone());
        PgsqlStep::Step(Step::Run(ProgramCall::new(argv, user)))
    }

    fn timeout_s(&self) -> u64 {
        (self.timeout_ms / 1000).max(1)
    }

    fn pg_isready(&mut self, pid: u32) -> PgsqlStep {
        let mut argv = vec![self.spec.pg_isready.clone(), "-q".into()];
        if let Some(dir) = &self.spec.socketdir {
            argv.extend(["-h".into(), dir.clone()]);
        }
        argv.extend(["-p".into(), self.spec.pgport.to_string(), "-t".into(), self.timeout_s().to_string()]);
        // It only connects (no login): the agent's own user will do.
        self.run(Phase::IsReady { pid }, argv, false)
    }

    fn pg_ctl(&self, args: &[&str]) -> Vec<String> {
        let mut argv = vec![self.spec.pgctl.clone()];
        argv.extend(args.iter().map(|s| s.to_string()));
        argv
    }

    /// What the driver saw in `/proc` (after [`PgsqlStep::Look`] or a signal, and before each
    /// stop poll).
    pub fn seen(&mut self, now: Micros, seen: &Seen) -> PgsqlStep {
        let Seen::Processes(processes) = seen else {
            return self.failed(
                OCF_ERR_GENERIC,
                "cannot tell whether PostgreSQL runs: the process scan was cut at its bound",
            );
        };
        let postmaster = find_postmaster(processes);
        match (self.phase, self.action) {
            (Phase::Begin, Action::Monitor) => match postmaster {
                None => {
                    self.done(Outcome::NotRunning, "", format!("no postmaster runs in {}", self.spec.pgdata))
                }
                Some(pid) => self.pg_isready(pid),
            },
            (Phase::Begin, Action::ValidateAll) => {
                self.done(Outcome::Success, "", "the parameters were checked when the configuration was read")
            }
            (Phase::Begin, Action::Start) => match postmaster {
                Some(pid) => self.pg_isready(pid),
                None => {
                    let argv = self.pg_ctl(&["status", "-D", &self.spec.pgdata.clone()]);
                    self.run(Phase::StartStatus, argv, true)
                }
            },
            (Phase::StartCheck, _) => match postmaster {
                Some(pid) => {
                    self.done(Outcome::Success, "", format!("PostgreSQL started: postmaster pid {pid}"))
                }
                None => {
                    self.failed(OCF_ERR_GENERIC, "pg_ctl reported the server started, but no postmaster runs")
                }
            },
            (Phase::Begin, Action::Stop) => match postmaster {
                None if !any_server(processes) => self.done(
                    Outcome::Success,
                    "",
                    format!("no postmaster runs in {}: stopped", self.spec.pgdata),
                ),
                // Server processes without their postmaster (it was killed): they end on their
                // own once they notice; wait for them like for a shutdown.
                None => {
                    self.phase = Phase::Stopping { escalated: true };
                    PgsqlStep::Step(Step::Wait { ms: STOP_POLL_MS })
                }
                Some(pid) => {
                    let fast_ms = (self.spec.stop_escalate_s * 1000)
                        .min(self.timeout_ms.saturating_sub(STOP_ESCALATE_RESERVE_MS));
                    self.escalate_at = Some(now.plus_ms(fast_ms));
                    let fast = fast_ms > 0;
                    self.phase = Phase::Stopping { escalated: !fast };
                    let signal = if fast { ShutdownSignal::Fast } else { ShutdownSignal::Immediate };
                    PgsqlStep::Signal { pid, signal }
                }
            },
            (Phase::Stopping { escalated }, _) => {
                if !any_server(processes) {
                    return self.done(Outcome::Success, "", "PostgreSQL stopped");
                }
                match (escalated, postmaster, self.escalate_at) {
                    (false, Some(pid), Some(at)) if now >= at => {
                        self.phase = Phase::Stopping { escalated: true };
                        PgsqlStep::Signal { pid, signal: ShutdownSignal::Immediate }
                    }
                    _ => PgsqlStep::Step(Step::Wait { ms: STOP_POLL_MS }),
                }
            }
            (phase, action) => panic!("builtin:pgsql: a look in phase {phase:?} of {action:?}"),
        }
    }

    /// Whether the pid of [`PgsqlStep::CheckExiting`] is a process that has exited (or is
    /// exiting) and not been reaped. PostgreSQL refuses to start while the pid in its lock
    /// files lives, and a zombie does for `kill(pid, 0)`: wait until its parent reaps it (the
    /// action's timeout bounds the wait). Otherwise the pid file is stale: remove it.
    pub fn exiting(&mut self, exiting: bool) -> PgsqlStep {
        let Phase::StartExiting { pid } = self.phase else {
            panic!("builtin:pgsql: an exit check in phase {:?}", self.phase)
        };
        if exiting {
            self.phase = Phase::StartWaitExit { pid };
            return PgsqlStep::Step(Step::Wait { ms: STOP_POLL_MS });
        }
        self.remove_pid_file()
    }

    fn remove_pid_file(&mut self) -> PgsqlStep {
        let argv = vec![RM.into(), "-f".into(), format!("{}/postmaster.pid", self.spec.pgdata)];
        self.run(Phase::StartRemovePid, argv, true)
    }

    /// `pg_ctl start -w` as the server's user.
    fn start_server(&mut self) -> PgsqlStep {
        let timeout = self.timeout_s().to_string();
        let pgdata = self.spec.pgdata.clone();
        let logfile = self.spec.logfile.clone();
        let mut argv = self.pg_ctl(&["start", "-w", "-t", &timeout, "-D", &pgdata, "-l", &logfile]);
        if let Some(options) = self.spec.server_options() {
            argv.extend(["-o".into(), options]);
        }
        self.run(Phase::StartServer, argv, true)
    }
}

impl Resume for PgsqlAction {
    type Next = PgsqlStep;

    /// The first step: always a look at the processes.
    fn begin(&mut self) -> PgsqlStep {
        assert_eq!(self.phase, Phase::Begin, "begin once");
        PgsqlStep::Look
    }

    /// The program asked for ended with `exit`, having printed `output`.
    fn exited(&mut self, exit: ProgramExit, output: &str) -> PgsqlStep {
        let why = last_line(output).to_string();
        if let ProgramExit::NotStarted(code) = exit {
            return self.failed(code, format!("cannot run a PostgreSQL program: {why}"));
        }
        match self.phase {
            Phase::IsReady { pid } => match (exit, self.action) {
                (ProgramExit::Code(0), Action::Start) => {
                    self.done(Outcome::Success, "", format!("PostgreSQL already runs: postmaster pid {pid}"))
                }
                (ProgramExit::Code(0), _) => {
                    self.done(Outcome::Success, "", format!("accepting connections (postmaster pid {pid})"))
                }
                (ProgramExit::Code(PG_ISREADY_REJECTING), _) => self.failed(
                    OCF_ERR_GENERIC,
                    format!("the postmaster (pid {pid}) rejects connections: starting up or shutting down"),
                ),
                (ProgramExit::Code(PG_ISREADY_NO_RESPONSE), _) => self.failed(
                    OCF_ERR_GENERIC,
                    format!("the postmaster (pid {pid}) does not answer on port {}", self.spec.pgport),
                ),
                _ => self.failed(OCF_ERR_GENERIC, format!("pg_isready failed ({exit:?}): {why}")),
            },
            Phase::StartStatus => match exit {
                ProgramExit::Code(PG_CTL_STATUS_NO_DATA_DIR) => self.failed(
                    OCF_ERR_INSTALLED,
                    format!(
                        "the data directory {} is not accessible (is its file system mounted?)",
                        self.spec.pgdata
                    ),
                ),
                // 0: a pid file whose pid lives, yet no server of this directory runs here (the
                // scan said): a server still exiting, or an unrelated process (the pid file came
                // from the other node).
                ProgramExit::Code(0) => match pg_ctl_status_pid(output) {
                    Some(pid) => {
                        self.phase = Phase::StartExiting { pid };
                        PgsqlStep::CheckExiting { pid }
                    }
                    None => self.remove_pid_file(),
                },
                // 3 (not running): the pid file, if any, is stale.
                _ => self.remove_pid_file(),
            },
            Phase::StartRemovePid => {
                if !exit.success() {
                    return self
                        .failed(OCF_ERR_GENERIC, format!("cannot remove the stale postmaster.pid: {why}"));
                }
                if self.spec.logfile == DEFAULT_LOGFILE {
                    return self.start_server();
                }
                let argv = vec![TOUCH.into(), self.spec.logfile.clone()];
                self.run(Phase::StartLogTouch, argv, true)
            }
            Phase::StartLogTouch if exit.success() => self.start_server(),
            Phase::StartLogTouch => {
                let argv = vec![TOUCH.into(), self.spec.logfile.clone()];
                self.run(Phase::StartLogCreate, argv, false)
            }
            Phase::StartLogCreate | Phase::StartLogChown if !exit.success() => self.failed(
                OCF_ERR_PERM,
                format!("PostgreSQL cannot write its log file {}: {why}", self.spec.logfile),
            ),
            Phase::StartLogCreate => {
                let argv = vec![CHOWN.into(), format!("{}:", self.spec.pgdba), self.spec.logfile.clone()];
                self.run(Phase::StartLogChown, argv, false)
            }
            Phase::StartLogChown => self.start_server(),
            Phase::StartServer => {
                if exit.success() {
                    self.phase = Phase::StartCheck;
                    PgsqlStep::Look
                } else {
                    self.failed(OCF_ERR_GENERIC, format!("pg_ctl start failed: {why}"))
                }
            }
            phase => panic!("builtin:pgsql: a program's exit in phase {phase:?}"),
        }
    }

    /// A wait is over: a stop looks at the processes again; a start at the exiting pid.
    fn waited(&mut self) -> PgsqlStep {
        match self.phase {
            Phase::Stopping { .. } => PgsqlStep::Look,
            Phase::StartWaitExit { pid } => {
                self.phase = Phase::StartExiting { pid };
                PgsqlStep::CheckExiting { pid }
            }
            phase => panic!("builtin:pgsql: a wait in phase {phase:?}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn spec() -> PgsqlSpec {
        PgsqlSpec::from_params(&params(&[
            ("pgctl", "/usr/lib/postgresql/15/bin/pg_ctl"),
            ("pgdata", "/srv/pgsql/15/main"),
            ("config", "/etc/postgresql/15/main/postgresql.conf"),
            ("socketdir", "/var/run/postgresql"),
            ("stop_escalate", "20"),
        ]))
        .unwrap()
    }

    fn server(pid: u32, ppid: u32) -> SeenProcess {
        SeenProcess { pid, ppid: Some(ppid), exe_name: Some("postgres".into()) }
    }

    fn run_argv(step: &PgsqlStep) -> Vec<String> {
        match step {
            PgsqlStep::Step(Step::Run(call)) => call.argv.clone(),
            other => panic!("expected a program, got {other:?}"),
        }
    }

    fn outcome(step: &PgsqlStep) -> Outcome {
        match step {
            PgsqlStep::Step(Step::Done(r)) => r.outcome,
            other => panic!("expected the end, got {other:?}"),
        }
    }

    #[test]
    fn the_parameters_have_the_pgsql_agents_names_and_defaults() {
        let s = PgsqlSpec::from_params(&[]).unwrap();
        assert_eq!((s.pgctl.as_str(), s.pg_isready.as_str()), ("/usr/bin/pg_ctl", "/usr/bin/pg_isready"));
        assert_eq!(
            (s.pgdata.as_str(), s.pgdba.as_str(), s.pgport),
            ("/var/lib/pgsql/data", "postgres", 5432)
        );
        assert_eq!((s.logfile.as_str(), s.stop_escalate_s), ("/dev/null", 90));
        assert_eq!(spec().pg_isready, "/usr/lib/postgresql/15/bin/pg_isready");
    }

    #[test]
    fn a_value_a_shell_would_interpret_is_refused_with_its_parameter() {
        let bad = PgsqlSpec::from_params(&params(&[
            ("pgdata", "/srv/$(reboot)"),
            ("start_opt", "-c a=b; reboot"),
            ("pgdba", "Root"),
            ("pgport", "0"),
            ("psql", "/usr/bin/psql"),
            ("pgdta", "/x"),
            ("stop_escalate", "-1"),
        ]))
        .unwrap_err();
        let named: Vec<&str> = bad.iter().map(|p| p.param.as_str()).collect();
        assert_eq!(named, ["psql", "pgdta", "pgdata", "pgdba", "pgport", "start_opt", "stop_escalate"]);
        assert!(bad[0].message.contains("does not carry out"), "{:?}", bad[0]);
        assert!(bad[1].hint.contains("pgdata"), "{:?}", bad[1]);
    }

    #[test]
    fn the_postmaster_is_the_server_whose_parent_is_not_a_server() {
        let shell = SeenProcess { pid: 50, ppid: Some(1), exe_name: Some("bash".into()) };
        let found = [server(101, 100), server(100, 1), shell.clone(), server(102, 100)];
        assert_eq!(find_postmaster(&found), Some(100));
        assert_eq!(find_postmaster(&[shell]), None, "an operator's shell in the data directory is no server");
    }

    #[test]
    fn a_start_without_a_postmaster_removes_the_stale_pid_file_then_waits_for_ready() {
        let mut a = PgsqlAction::new(spec(), Action::Start, 60_000);
        assert_eq!(a.begin(), PgsqlStep::Look);
        let status = a.seen(Micros(0), &Seen::Processes(vec![]));
        assert_eq!(run_argv(&status)[1..], ["status", "-D", "/srv/pgsql/15/main"]);
        // pg_ctl status says "running": the pid in the file lives, but is no server here (it
        // came from the other node's last run) and is not exiting.
        let check = a.exited(ProgramExit::Code(0), "pg_ctl: server is running (PID: 4242)");
        assert_eq!(check, PgsqlStep::CheckExiting { pid: 4242 });
        let rm = a.exiting(false);
        assert_eq!(run_argv(&rm), ["/bin/rm", "-f", "/srv/pgsql/15/main/postmaster.pid"]);
        let start = a.exited(ProgramExit::Code(0), "");
        assert_eq!(
            run_argv(&start)[1..],
            [
                "start",
                "-w",
                "-t",
                "60",
                "-D",
                "/srv/pgsql/15/main",
                "-l",
                "/dev/null",
                "-o",
                "-c config_file=/etc/postgresql/15/main/postgresql.conf"
            ]
        );
        assert!(matches!(&start, PgsqlStep::Step(Step::Run(c)) if c.as_user.as_deref() == Some("postgres")));
        assert_eq!(a.exited(ProgramExit::Code(0), "server started"), PgsqlStep::Look);
        assert_eq!(outcome(&a.seen(Micros(0), &Seen::Processes(vec![server(300, 1)]))), Outcome::Success);
    }

    #[test]
    fn a_log_file_the_servers_user_cannot_write_is_created_for_it_before_the_start() {
        let mut p = params(&[("pgdata", "/d"), ("logfile", "/var/log/pg.log")]);
        let mut a = PgsqlAction::new(PgsqlSpec::from_params(&p).unwrap(), Action::Start, 60_000);
        a.begin();
        a.seen(Micros(0), &Seen::Processes(vec![]));
        a.exited(ProgramExit::Code(3), "");
        let touch = a.exited(ProgramExit::Code(0), "");
        assert_eq!(run_argv(&touch), ["/bin/touch", "/var/log/pg.log"]);
        assert!(matches!(&touch, PgsqlStep::Step(Step::Run(c)) if c.as_user.as_deref() == Some("postgres")));
        let as_root = a.exited(ProgramExit::Code(1), "touch: Permission denied");
        assert!(
            matches!(&as_root, PgsqlStep::Step(Step::Run(c)) if c.as_user.is_none() && c.argv[0] == "/bin/touch")
        );
        assert_eq!(
            run_argv(&a.exited(ProgramExit::Code(0), "")),
            ["/bin/chown", "postgres:", "/var/log/pg.log"]
        );
        assert_eq!(run_argv(&a.exited(ProgramExit::Code(0), ""))[1], "start");
        // A log file root cannot create either: insufficient privileges, a hard failure.
        p[1].1 = "/nonexistent/pg.log".into();
        let mut a = PgsqlAction::new(PgsqlSpec::from_params(&p).unwrap(), Action::Start, 60_000);
        a.begin();
        a.seen(Micros(0), &Seen::Processes(vec![]));
        a.exited(ProgramExit::Code(3), "");
        a.exited(ProgramExit::Code(0), "");
        a.exited(ProgramExit::Code(1), "");
        let end = a.exited(
            ProgramExit::Code(1),
            "touch: cannot touch '/nonexistent/pg.log': No such file or directory",
        );
        assert_eq!(outcome(&end), Outcome::Failed(OCF_ERR_PERM));
    }

    #[test]
    fn a_start_waits_for_a_server_of_an_earlier_start_that_is_still_exiting() {
        let mut a = PgsqlAction::new(spec(), Action::Start, 60_000);
        a.begin();
        a.seen(Micros(0), &Seen::Processes(vec![]));
        let running = "pg_ctl: server is running (PID: 4242)\n/usr/lib/postgresql/15/bin/postgres \"-D\"";
        assert_eq!(a.exited(ProgramExit::Code(0), running), PgsqlStep::CheckExiting { pid: 4242 });
        assert_eq!(a.exiting(true), PgsqlStep::Step(Step::Wait { ms: STOP_POLL_MS }));
        assert_eq!(a.waited(), PgsqlStep::CheckExiting { pid: 4242 });
        assert_eq!(a.exiting(true), PgsqlStep::Step(Step::Wait { ms: STOP_POLL_MS }));
        assert_eq!(a.waited(), PgsqlStep::CheckExiting { pid: 4242 });
        // Reaped, or an unrelated live process: the pid file is stale.
        assert_eq!(run_argv(&a.exiting(false))[0], RM);
    }

    #[test]
    fn the_pid_of_pg_ctl_status_is_read_from_its_own_words_only() {
        assert_eq!(pg_ctl_status_pid("pg_ctl: server is running (PID: 77)\n"), Some(77));
        assert_eq!(pg_ctl_status_pid("pg_ctl: no server running\n"), None);
        assert_eq!(pg_ctl_status_pid("(PID: 0)"), None);
        assert_eq!(pg_ctl_status_pid("(PID: 99999999999)"), None);
        assert_eq!(pg_ctl_status_pid("(PID: 12"), None);
        assert_eq!(pg_ctl_status_pid("(PID: +12)"), None);
        assert_eq!(pg_ctl_status_pid("(PID: 012)"), None);
    }

    #[test]
    fn a_start_on_a_missing_data_directory_is_a_hard_failure() {
        let mut a = PgsqlAction::new(spec(), Action::Start, 60_000);
        a.begin();
        a.seen(Micros(0), &Seen::Processes(vec![]));
        let end = a.exited(ProgramExit::Code(4), "pg_ctl: directory \"/srv/pgsql/15/main\" does not exist");
        assert_eq!(outcome(&end), Outcome::Failed(OCF_ERR_INSTALLED));
        assert!(outcome(&end).is_hard_failure());
    }

    #[test]
    fn a_failed_pg_ctl_start_fails_with_its_last_line() {
        let mut a = PgsqlAction::new(spec(), Action::Start, 60_000);
        a.begin();
        a.seen(Micros(0), &Seen::Processes(vec![]));
        a.exited(ProgramExit::Code(3), "");
        a.exited(ProgramExit::Code(0), "");
        match a
            .exited(ProgramExit::Code(1), "waiting for server to start....\npg_ctl: could not start server\n")
        {
            PgsqlStep::Step(Step::Done(r)) => {
                assert_eq!(r.outcome, Outcome::Failed(1));
                assert_eq!(r.exit_reason.as_str(), "pg_ctl start failed: pg_ctl: could not start server");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_start_of_a_running_server_checks_it_answers() {
        let mut a = PgsqlAction::new(spec(), Action::Start, 60_000);
        a.begin();
        let ready = a.seen(Micros(0), &Seen::Processes(vec![server(7, 1)]));
        assert_eq!(run_argv(&ready)[1..], ["-q", "-h", "/var/run/postgresql", "-p", "5432", "-t", "60"]);
        assert_eq!(outcome(&a.exited(ProgramExit::Code(0), "")), Outcome::Success);
    }

    #[test]
    fn a_monitor_says_not_running_without_a_postmaster_and_fails_when_it_does_not_answer() {
        let mut a = PgsqlAction::new(spec(), Action::Monitor, 20_000);
        a.begin();
        assert_eq!(outcome(&a.seen(Micros(0), &Seen::Processes(vec![]))), Outcome::NotRunning);
        let mut a = PgsqlAction::new(spec(), Action::Monitor, 20_000);
        a.begin();
        a.seen(Micros(0), &Seen::Processes(vec![server(7, 1)]));
        assert_eq!(outcome(&a.exited(ProgramExit::Code(2), "")), Outcome::Failed(1));
        let mut a = PgsqlAction::new(spec(), Action::Monitor, 20_000);
        a.begin();
        a.seen(Micros(0), &Seen::Processes(vec![server(7, 1)]));
        assert_eq!(outcome(&a.exited(ProgramExit::Code(0), "")), Outcome::Success);
        let mut a = PgsqlAction::new(spec(), Action::Monitor, 20_000);
        a.begin();
        assert!(matches!(
            a.seen(Micros(0), &Seen::Incomplete),
            PgsqlStep::Step(Step::Done(r)) if r.outcome == Outcome::Failed(1)
        ));
    }

    #[test]
    fn a_stop_signals_the_postmaster_fast_then_immediate_at_the_escalation() {
        // stop timeout 30 s, stop_escalate 20 s: fast for min(20, 30 − 10) = 20 s.
        let mut a = PgsqlAction::new(spec(), Action::Stop, 30_000);
        a.begin();
        let t0 = Micros::from_ms(1000);
        let running = Seen::Processes(vec![server(100, 1), server(101, 100)]);
        assert_eq!(a.seen(t0, &running), PgsqlStep::Signal { pid: 100, signal: ShutdownSignal::Fast });
        assert_eq!(a.seen(t0, &running), PgsqlStep::Step(Step::Wait { ms: STOP_POLL_MS }));
        assert_eq!(a.waited(), PgsqlStep::Look);
        assert_eq!(a.seen(t0.plus_ms(19_999), &running), PgsqlStep::Step(Step::Wait { ms: STOP_POLL_MS }));
        assert_eq!(
            a.seen(t0.plus_ms(20_000), &running),
            PgsqlStep::Signal { pid: 100, signal: ShutdownSignal::Immediate }
        );
        // A child still exiting after its postmaster: the stop waits for it too.
        let child_left = Seen::Processes(vec![server(101, 1)]);
        assert_eq!(a.seen(t0.plus_ms(20_100), &child_left), PgsqlStep::Step(Step::Wait { ms: STOP_POLL_MS }));
        assert_eq!(outcome(&a.seen(t0.plus_ms(20_200), &Seen::Processes(vec![]))), Outcome::Success);
    }

    #[test]
    fn a_stop_with_a_short_timeout_goes_straight_to_immediate_and_a_stopped_server_is_stopped() {
        let mut a = PgsqlAction::new(spec(), Action::Stop, 10_000);
        a.begin();
        assert_eq!(
            a.seen(Micros(0), &Seen::Processes(vec![server(100, 1)])),
            PgsqlStep::Signal { pid: 100, signal: ShutdownSignal::Immediate }
        );
        let mut a = PgsqlAction::new(spec(), Action::Stop, 10_000);
        a.begin();
        assert_eq!(outcome(&a.seen(Micros(0), &Seen::Processes(vec![]))), Outcome::Success);
    }

    #[test]
    fn a_program_that_cannot_run_fails_with_its_ocf_code() {
        let mut a = PgsqlAction::new(spec(), Action::Start, 60_000);
        a.begin();
        a.seen(Micros(0), &Seen::Processes(vec![]));
        assert_eq!(outcome(&a.exited(ProgramExit::NotStarted(5), "cannot run")), Outcome::Failed(5));
    }
}
