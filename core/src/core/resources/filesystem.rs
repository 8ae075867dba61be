//! The built-in resource type `builtin:filesystem`: a block device's file system mounted on a
//! directory, the essentials of `ocf:heartbeat:Filesystem` with its parameter names, carried
//! out by the agent with util-linux's `mount` and `umount` and, for a busy unmount, signals to
//! the processes holding the file system, without a shell script.
//!
//! Owns the schema of its parameters (one typed definition, [`FilesystemSpec`], parsed once
//! from the `params` table with a clear problem per bad key) and every decision of the actions
//! as a pure state machine ([`FilesystemAction`]) fed with what the driver (`shell::filesystem`)
//! observed ([`Seen`]: the parsed mount list, the device node, the holders it was asked to
//! find) and the exits of the programs it ran. The `mountinfo` parser is [`mountinfo`]. It does
//! no I/O.
//!
//! How it differs from the Filesystem agent, and why:
//!
//! - **Mounted means: the kernel's mount list says so, for this device.** The mount point is
//!   looked up in `/proc/self/mountinfo` (the topmost mount on `directory`), and it is this
//!   resource's when its `major:minor` is the device node's `st_rdev` or its source is the
//!   device's resolved path. The Filesystem agent greps `/proc/mounts` for the directory only.
//!   A start over another file system fails (6, not configured) instead of stacking a mount.
//! - **No depth-10/20 monitor, no fsck, no status file.** The monitor reads the mount list
//!   (never the shared disk, which may hang); `statusfile_prefix`, `run_fsck`, `fast_stop`,
//!   `force_clones` and the check levels are refused with a pointer to the Filesystem agent.
//! - **The holders of a busy file system are found in `/proc`** (what Filesystem's
//!   `force_unmount=safe` does; `true` runs `fuser`, which may block on a dead NFS mount).
//!   They get SIGTERM, then SIGKILL after [`TERM_GRACE_MS`], each followed by a wait that
//!   ends as soon as none is left; the agent tries `umount` after each round, and fails the
//!   stop (1: the group stops failed and the node is fenced) when the file system stays
//!   mounted. Never a lazy unmount: a stop that succeeds has the file system unmounted.
//! - **Block devices only.** `device` is an absolute path (symbolic links such as
//!   `/dev/disk/by-label/NAME` are followed); NFS, CIFS, bind mounts and `-U`/`-L` are
//!   the Filesystem agent's.

#![forbid(unsafe_code)]

pub mod mountinfo;

use super::program::{last_line, ProgramCall, ProgramExit, Resume, Step};
use super::{Action, Outcome};
use crate::time::Micros;
use mountinfo::{topmost, DevNum, MountEntry};

/// The parameters `builtin:filesystem` knows, with the Filesystem agent's names and meanings.
pub const PARAMETERS: [&str; 5] = ["device", "directory", "fstype", "options", "force_unmount"];
/// Those a resource must give.
pub const REQUIRED: [&str; 3] = ["device", "directory", "fstype"];
/// The Filesystem agent's parameters (and check-level names) the built-in type does not carry
/// out (an error names them).
pub const UNSUPPORTED_FILESYSTEM_PARAMETERS: [&str; 9] = [
    "statusfile_prefix",
    "run_fsck",
    "fast_stop",
    "force_clones",
    "term_signals",
    "signal_delay",
    "OCF_CHECK_LEVEL",
    "depth",
    "check_level",
];
/// util-linux's programs (Debian's paths).
pub const MOUNT: &str = "/usr/bin/mount";
pub const UMOUNT: &str = "/usr/bin/umount";
/// Bound on `fstype` (the kernel's names are short: `ext4`, `xfs`, `fuse.sshfs`).
pub const MAX_FSTYPE_BYTES: usize = 32;
/// How often a busy stop looks whether the signalled holders are gone.
pub const HOLDER_POLL_MS: u64 = 200;
/// How long holders get after SIGTERM before SIGKILL.
pub const TERM_GRACE_MS: u64 = 1000;
/// How long holders get after SIGKILL before the stop fails.
pub const KILL_GRACE_MS: u64 = 1000;

/// OCF codes used here.
pub const OCF_ERR_GENERIC: i32 = 1;
pub const OCF_ERR_INSTALLED: i32 = 5;
pub const OCF_ERR_CONFIGURED: i32 = 6;

/// One bad parameter (the same shape as `builtin:ipaddr`'s).
pub use super::ipaddr::ParamProblem;

/// One `builtin:filesystem` resource, as configured.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FilesystemSpec {
    /// `device`: the block device (a path; symbolic links are followed).
    pub device: String,
    /// `directory`: the mount point, absolute, without a trailing `/`.
    pub directory: String,
    /// `fstype`: `mount -t`.
    pub fstype: String,
    /// `options`: `mount -o`.
    pub options: Option<String>,
    /// `force_unmount`: signal the processes holding the file system when `umount` fails
    /// (true by default, as in the Filesystem agent).
    pub force_unmount: bool,
}

fn has_control(s: &str) -> bool {
    s.chars().any(char::is_control)
}

/// Why `directory` is not a usable mount point, or its normal form (no trailing `/`).
fn mount_point(text: &str) -> Result<String, &'static str> {
    if !text.starts_with('/') {
        return Err("is not an absolute path");
    }
    let trimmed = text.trim_end_matches('/');
    if trimmed.is_empty() {
        return Err("is the root directory");
    }
    if trimmed[1..].split('/').any(|c| c.is_empty() || c == "." || c == "..") {
        return Err("has an empty, `.` or `..` component");
    }
    Ok(trimmed.to_string())
}

fn parse_bool(text: &str) -> Option<bool> {
    match text.to_ascii_lowercase().as_str() {
        "true" | "yes" | "on" | "1" => Some(true),
        "false" | "no" | "off" | "0" => Some(false),
        // Filesystem's "safe" finds the holders in /proc instead of with fuser: what this type
        // always does.
        "safe" => Some(true),
        _ => None,
    }
}

impl FilesystemSpec {
    /// Parse the `params` table. Every problem is reported, each with its parameter.
    pub fn from_params(params: &[(String, String)]) -> Result<FilesystemSpec, Vec<ParamProblem>> {
        let mut problems = Vec::new();
        let mut problem = |param: &str, message: String, hint: &str| {
            problems.push(ParamProblem { param: param.to_string(), message, hint: hint.to_string() })
        };
        for p in super::ipaddr::unknown_parameters(
            "filesystem",
            "the Filesystem agent's",
            "ocf:heartbeat:Filesystem",
            params,
            &PARAMETERS,
            &UNSUPPORTED_FILESYSTEM_PARAMETERS,
        ) {
            problem(&p.param, p.message, &p.hint);
        }
        let get = |name: &str| {
            params
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let example = "params = { device = \"/dev/disk/by-label/pgdata\", directory = \"/srv/pgsql\", fstype = \"ext4\" }";
        let mut required = |name: &str| {
            let value = get(name);
            if value.is_none() {
                problem("", format!("builtin:filesystem needs the parameter `{name}`"), example);
            }
            value
        };
        let (device, directory, fstype) = (required("device"), required("directory"), required("fstype"));
        let device = device.filter(|d| {
            let ok = d.starts_with('/') && !has_control(d);
            if !ok {
                problem(
                    "device",
                    format!("{d:?} is not the path of a block device"),
                    "such as /dev/disk/by-label/pgdata; for NFS, CIFS or -U/-L use ocf:heartbeat:Filesystem",
                );
            }
            ok
        });
        let directory = directory.and_then(|d| match mount_point(&d) {
            Ok(normal) if !has_control(&normal) => Some(normal),
            Ok(_) => {
                problem("directory", format!("{d:?} holds a control character"), "a plain absolute path");
                None
            }
            Err(why) => {
                problem(
                    "directory",
                    format!("{d:?} {why}"),
                    "the mount point: an absolute path other than /, such as /srv/pgsql",
                );
                None
            }
        });
        let fstype = fstype.filter(|t| {
            let ok = t.len() <= MAX_FSTYPE_BYTES
                && !t.starts_with('-')
                && t.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._+-".contains(&b));
            if !ok {
                problem("fstype", format!("{t:?} is not a file system type"), "such as ext4 or xfs");
            }
            ok
        });
        let options = get("options");
        if let Some(o) = &options {
            if o.chars().any(|c| c.is_control() || c.is_whitespace()) {
                problem(
                    "options",
                    format!("{o:?} holds spaces or control characters"),
                    "mount options separated by commas, such as noatime,data=ordered",
                );
            }
        }
        let force_unmount = match get("force_unmount") {
            None => true,
            Some(text) => parse_bool(&text).unwrap_or_else(|| {
                problem(
                    "force_unmount",
                    format!("{text:?} is not true or false"),
                    "true (the default: signal the processes that keep the file system busy) or false",
                );
                true
            }),
        };
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(FilesystemSpec {
            device: device.expect("no problem: given"),
            directory: directory.expect("no problem: given"),
            fstype: fstype.expect("no problem: given"),
            options,
            force_unmount,
        })
    }
}

/// What the driver found at the `device` path (following symbolic links).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DeviceSeen {
    /// A block device with this `st_rdev`; `resolved` is its path with links resolved.
    Block { rdev: DevNum, resolved: String },
    /// No such file (or a dangling link).
    Missing,
    /// Something other than a block device.
    NotBlock,
    /// It could not be looked at (the error's text).
    Unreadable(String),
}

/// The mount point, as the driver found or made it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MountPoint {
    /// A directory at `directory` itself.
    Ready,
    /// A directory, but the path goes through a symbolic link: its resolved path.
    Resolves(String),
    /// It could not be made (the error's text).
    Failed(String),
}

/// The processes holding a file system (from `/proc`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Holders {
    pub pids: Vec<u32>,
    /// The scan was cut at its bound: there may be more.
    pub cut: bool,
}

/// What the driver observed for one decision.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Seen {
    /// The parsed `/proc/self/mountinfo`, or why it could not be read or parsed.
    pub mounts: Result<Vec<MountEntry>, String>,
    pub device: DeviceSeen,
    /// The holders of the device asked for in [`FsStep::Look`], if any was.
    pub holders: Option<Holders>,
}

/// The signals a busy stop sends to the holders.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HolderSignal {
    Term,
    Kill,
}

impl HolderSignal {
    pub fn as_str(self) -> &'static str {
        match self {
            HolderSignal::Term => "SIGTERM",
            HolderSignal::Kill => "SIGKILL",
        }
    }
}

/// What the state machine asks of its driver next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FsStep {
    /// Read the mount list and the device node (and, when given, find the processes holding
    /// the file system with this device number), then call [`FilesystemAction::seen`].
    Look { holders_of: Option<DevNum> },
    /// Create the mount point (and its parents), resolve its path, then call
    /// [`FilesystemAction::made_directory`].
    MakeDirectory,
    /// Send this signal to these pids, then call [`FilesystemAction::signalled`].
    Signal { pids: Vec<u32>, signal: HolderSignal },
    /// A step for the runner (a program, a wait, the end).
    Step(Step),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Begin,
    StartMkdir,
    StartMount,
    StartConfirm,
    /// stop: `umount` runs.
    Umount,
    StopConfirm,
    /// stop: `umount` failed; looking for the holders.
    FindHolders,
    /// stop: signalled; waiting for the holders to go.
    Draining,
    /// stop: looking whether the holders are gone.
    DrainLook,
    Over,
}

/// How far a busy stop has gone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Escalation {
    None,
    Term { since: Micros },
    Kill { since: Micros },
}

/// One action of one `builtin:filesystem` resource.
#[derive(Clone, Debug)]
pub struct FilesystemAction {
    spec: FilesystemSpec,
    action: Action,
    phase: Phase,
    /// stop: the device number of the file system being unmounted.
    mounted: Option<DevNum>,
    escalation: Escalation,
    /// stop: the last line of the last failed `umount`.
    umount_why: String,
    /// What was done besides the programs (signals), for the result's output.
    notes: String,
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn describe(m: &MountEntry) -> String {
    format!("{} ({}, {})", text(&m.source), text(&m.fstype), m.dev)
}

impl FilesystemAction {
    pub fn new(spec: FilesystemSpec, action: Action) -> FilesystemAction {
        FilesystemAction {
            spec,
            action,
            phase: Phase::Begin,
            mounted: None,
            escalation: Escalation::None,
            umount_why: String::new(),
            notes: String::new(),
        }
    }

    fn done(&mut self, outcome: Outcome, reason: &str, output: impl Into<String>) -> FsStep {
        self.phase = Phase::Over;
        let output = format!("{}{}", self.notes, output.into());
        FsStep::Step(Step::done(outcome, reason, output))
    }

    fn failed(&mut self, code: i32, reason: impl Into<String>) -> FsStep {
        self.phase = Phase::Over;
        let reason = reason.into();
        let mut step = Step::failed(code, reason);
        if let Step::Done(result) = &mut step {
            result.output = format!("{}{}", self.notes, result.output);
        }
        FsStep::Step(step)
    }

    fn run(&mut self, phase: Phase, argv: Vec<String>) -> FsStep {
        self.phase = phase;
        FsStep::Step(Step::Run(ProgramCall::new(argv, None)))
    }

    fn umount(&mut self) -> FsStep {
        self.run(Phase::Umount, vec![UMOUNT.into(), self.spec.directory.clone()])
    }

    fn is_ours(&self, m: &MountEntry, device: &DeviceSeen) -> bool {
        match device {
            DeviceSeen::Block { rdev, resolved } => m.dev == *rdev || m.source == resolved.as_bytes(),
            _ => false,
        }
    }

    /// Some extra words for the driver's own records (a signal it could not send).
    pub fn note(&mut self, line: &str) {
        self.notes.push_str(line);
        self.notes.push('\n');
    }

    /// What the driver observed after [`FsStep::Look`].
    pub fn seen(&mut self, now: Micros, seen: &Seen) -> FsStep {
        let dir = self.spec.directory.clone();
        let device = self.spec.device.clone();
        let mounts = match &seen.mounts {
            Ok(mounts) => mounts,
            Err(why) => return self.failed(OCF_ERR_GENERIC, format!("cannot read the mount list: {why}")),
        };
        let top = topmost(mounts, dir.as_bytes());
        match (self.phase, self.action) {
            (Phase::Begin, Action::Monitor) => match (top, &seen.device) {
                (None, _) => self.done(Outcome::NotRunning, "", format!("{dir} is not mounted")),
                (Some(m), DeviceSeen::Block { .. }) if self.is_ours(m, &seen.device) => {
                    self.done(Outcome::Success, "", format!("{device} is mounted on {dir}: {}", describe(m)))
                }
                (Some(m), DeviceSeen::Block { rdev, .. }) => self.failed(
                    OCF_ERR_GENERIC,
                    format!(
                        "another file system is mounted on {dir}: {}, not {device} ({rdev})",
                        describe(m)
                    ),
                ),
                (Some(m), DeviceSeen::Missing | DeviceSeen::NotBlock) => self.failed(
                    OCF_ERR_GENERIC,
                    format!("{dir} holds {}, but the block device {device} is gone", describe(m)),
                ),
                (Some(m), DeviceSeen::Unreadable(e)) => self.failed(
                    OCF_ERR_GENERIC,
                    format!("{dir} holds {}, but {device} cannot be looked at: {e}", describe(m)),
                ),
            },
            (Phase::Begin, Action::Start) => match (&seen.device, top) {
                (DeviceSeen::Missing, _) => {
                    self.failed(OCF_ERR_INSTALLED, format!("the device {device} does not exist on this node"))
                }
                (DeviceSeen::NotBlock, _) => {
                    self.failed(OCF_ERR_INSTALLED, format!("{device} is not a block device"))
                }
                (DeviceSeen::Unreadable(e), _) => {
                    self.failed(OCF_ERR_GENERIC, format!("cannot look at the device {device}: {e}"))
                }
                (DeviceSeen::Block { .. }, Some(m)) if self.is_ours(m, &seen.device) => {
                    self.done(Outcome::Success, "", format!("{device} is already mounted on {dir}"))
                }
                (DeviceSeen::Block { .. }, Some(m)) => self.failed(
                    OCF_ERR_CONFIGURED,
                    format!("another file system is mounted on {dir}: {}", describe(m)),
                ),
                (DeviceSeen::Block { .. }, None) => {
                    self.phase = Phase::StartMkdir;
                    FsStep::MakeDirectory
                }
            },
            (Phase::StartConfirm, _) => match top {
                Some(m) if self.is_ours(m, &seen.device) => {
                    self.done(Outcome::Success, "", format!("mounted {device} on {dir}: {}", describe(m)))
                }
                Some(m) => self.failed(
                    OCF_ERR_GENERIC,
                    format!("mount succeeded, but {dir} holds {} instead of {device}", describe(m)),
                ),
                None => self.failed(
                    OCF_ERR_GENERIC,
                    format!("mount succeeded, but {dir} is not a mount point (a symbolic link in its path?)"),
                ),
            },
            (Phase::Begin, Action::Stop) => match top {
                None => self.done(Outcome::Success, "", format!("{dir} is not mounted")),
                Some(m) => {
                    self.mounted = Some(m.dev);
                    self.umount()
                }
            },
            (Phase::StopConfirm, _) => match top {
                None => self.done(Outcome::Success, "", format!("unmounted {dir}")),
                Some(m) => self.failed(
                    OCF_ERR_GENERIC,
                    format!("umount succeeded, but {dir} is still a mount point: {}", describe(m)),
                ),
            },
            (Phase::FindHolders | Phase::DrainLook, _) => {
                if top.is_none() {
                    return self.done(Outcome::Success, "", format!("{dir} is not mounted any more"));
                }
                let holders = seen.holders.clone().expect("holders were asked for");
                if holders.pids.is_empty() {
                    if self.phase == Phase::DrainLook && !holders.cut {
                        return self.umount();
                    }
                    // No process to signal: a mount below the directory, or a kernel user
                    // (a swap file, a loop device) keeps it busy.
                    let why = if holders.cut {
                        "the process scan was cut at its bound"
                    } else {
                        "no process holds it"
                    };
                    return self.failed(OCF_ERR_GENERIC, format!("{why}: {}", self.umount_why));
                }
                let (signal, since, grace_ms) = match self.escalation {
                    Escalation::None => (Some(HolderSignal::Term), now, 0),
                    Escalation::Term { since } if self.phase == Phase::FindHolders => {
                        (Some(HolderSignal::Kill), since, 0)
                    }
                    Escalation::Term { since } => (None, since, TERM_GRACE_MS),
                    Escalation::Kill { since } => (None, since, KILL_GRACE_MS),
                };
                match signal {
                    Some(signal) => self.signal(now, holders.pids, signal),
                    None if now.since_us(since) < grace_ms * 1000 => {
                        self.phase = Phase::Draining;
                        FsStep::Step(Step::Wait { ms: HOLDER_POLL_MS })
                    }
                    None if matches!(self.escalation, Escalation::Term { .. }) => {
                        self.signal(now, holders.pids, HolderSignal::Kill)
                    }
                    None => self.failed(
                        OCF_ERR_GENERIC,
                        format!(
                            "{dir} stays busy: {} survived SIGKILL for {KILL_GRACE_MS} ms",
                            pid_list(&holders.pids)
                        ),
                    ),
                }
            }
            (phase, action) => panic!("builtin:filesystem: a look in phase {phase:?} of {action:?}"),
        }
    }

    fn signal(&mut self, now: Micros, pids: Vec<u32>, signal: HolderSignal) -> FsStep {
        self.escalation = match signal {
            HolderSignal::Term => Escalation::Term { since: now },
            HolderSignal::Kill => Escalation::Kill { since: now },
        };
        let line = format!(
            "{} to {} (holding {} on {})",
            signal.as_str(),
            pid_list(&pids),
            self.mounted.map(|d| d.to_string()).unwrap_or_default(),
            self.spec.directory
        );
        self.note(&line);
        self.phase = Phase::Draining;
        FsStep::Signal { pids, signal }
    }

    /// The driver sent the signal asked for: wait for the holders to go.
    pub fn signalled(&mut self) -> FsStep {
        assert_eq!(self.phase, Phase::Draining, "signals only while draining");
        FsStep::Step(Step::Wait { ms: HOLDER_POLL_MS })
    }

    /// The driver made the mount point (after [`FsStep::MakeDirectory`]).
    pub fn made_directory(&mut self, result: MountPoint) -> FsStep {
        assert_eq!(self.phase, Phase::StartMkdir, "the mount point is made before the mount");
        let dir = &self.spec.directory;
        match result {
            MountPoint::Ready => {}
            MountPoint::Failed(e) => {
                let reason = format!("cannot create the mount point {dir}: {e}");
                return self.failed(OCF_ERR_INSTALLED, reason);
            }
            // The mount would be listed at the link's target, where no monitor or stop looks.
            MountPoint::Resolves(target) => {
                let reason =
                    format!("{dir} is reached through a symbolic link (it is {target}): use that path");
                return self.failed(OCF_ERR_CONFIGURED, reason);
            }
        }
        let mut argv = vec![MOUNT.into(), "-t".into(), self.spec.fstype.clone()];
        if let Some(options) = &self.spec.options {
            argv.extend(["-o".into(), options.clone()]);
        }
        argv.extend([self.spec.device.clone(), self.spec.directory.clone()]);
        self.run(Phase::StartMount, argv)
    }
}

fn or_exit(why: &str, exit: ProgramExit) -> String {
    if why.is_empty() {
        format!("{exit:?}")
    } else {
        why.to_string()
    }
}

fn pid_list(pids: &[u32]) -> String {
    let words: Vec<String> = pids.iter().map(u32::to_string).collect();
    format!("pid {}", words.join(", "))
}

impl Resume for FilesystemAction {
    type Next = FsStep;

    /// The first step: a look at the mount list (validate-all is over at once).
    fn begin(&mut self) -> FsStep {
        assert_eq!(self.phase, Phase::Begin, "begin once");
        if self.action == Action::ValidateAll {
            return self.done(
                Outcome::Success,
                "",
                "the parameters were checked when the configuration was read",
            );
        }
        FsStep::Look { holders_of: None }
    }

    /// The program asked for ended with `exit`, having printed `output`.
    fn exited(&mut self, exit: ProgramExit, output: &str) -> FsStep {
        let why = last_line(output).to_string();
        if let ProgramExit::NotStarted(code) = exit {
            return self.failed(
                code,
                format!("cannot run {}: {why}", if self.phase == Phase::StartMount { MOUNT } else { UMOUNT }),
            );
        }
        match self.phase {
            Phase::StartMount if exit.success() => {
                self.phase = Phase::StartConfirm;
                FsStep::Look { holders_of: None }
            }
            Phase::StartMount => {
                self.failed(OCF_ERR_GENERIC, format!("mount failed: {}", or_exit(&why, exit)))
            }
            Phase::Umount if exit.success() => {
                self.phase = Phase::StopConfirm;
                FsStep::Look { holders_of: None }
            }
            Phase::Umount => {
                self.umount_why = or_exit(&why, exit);
                if !self.spec.force_unmount {
                    return self
                        .failed(OCF_ERR_GENERIC, format!("force_unmount is false: {}", self.umount_why));
                }
                if let Escalation::Kill { .. } = self.escalation {
                    return self.failed(
                        OCF_ERR_GENERIC,
                        format!("still busy after SIGKILL of its holders: {}", self.umount_why),
                    );
                }
                self.phase = Phase::FindHolders;
                FsStep::Look { holders_of: self.mounted }
            }
            phase => panic!("builtin:filesystem: a program's exit in phase {phase:?}"),
        }
    }

    /// A wait is over: look again (only a busy stop waits).
    fn waited(&mut self) -> FsStep {
        assert_eq!(self.phase, Phase::Draining, "only a busy stop waits");
        self.phase = Phase::DrainLook;
        FsStep::Look { holders_of: self.mounted }
    }
}

#[cfg(test)]
mod tests;
