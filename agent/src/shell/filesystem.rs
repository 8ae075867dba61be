//! The driver of `builtin:filesystem` (decisions: `core::resources::filesystem`): reads the
//! mount list (`/proc/self/mountinfo`) and looks at the device node when the state machine
//! asks, creates the mount point, finds the processes holding a busy file system in `/proc`
//! and signals them, and hands the runner the programs to run (`mount`, `umount`) and the
//! waits.
//!
//! Everything it does itself answers from the kernel's memory or the local root file system:
//! procfs, a `stat` of the device node (devtmpfs), a `mkdir` of the mount point (before the
//! mount, on the local disk). It never reads the shared file system: a mount replays a
//! journal and an unmount writes back dirty data, for seconds on a slow array, so those run
//! as child processes while the loop keeps sending heartbeats.

#![forbid(unsafe_code)]

use std::fs;
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, MetadataExt};

use rustix::process::Signal;

use super::builtin_steps::{signal_pid, BuiltinAction, Misconfigured};
use super::procs;
use crate::core::resources::filesystem::mountinfo::{self, DevNum, MAX_MOUNTINFO_BYTES};
use crate::core::resources::filesystem::{
    DeviceSeen, FilesystemAction, FilesystemSpec, FsStep, HolderSignal, Holders, MountPoint, Seen,
};
use crate::core::resources::program::{ProgramExit, Step};
use crate::core::resources::{ActionRequest, ResourceSpec};
use crate::time::Micros;

/// The mount list of the agent's own mount namespace.
pub const MOUNTINFO_PATH: &str = "/proc/self/mountinfo";
/// Bound on the looks, signals and directory creations between two steps for the runner (a
/// busy stop signals and looks once or twice; anything more is a bug).
const MAX_INNER_STEPS: usize = 8;

struct Driver {
    machine: FilesystemAction,
    device: String,
    directory: String,
    begun: bool,
}

pub fn begin(request: &ActionRequest, resource: &ResourceSpec) -> Box<dyn BuiltinAction> {
    let params: Vec<(String, String)> = resource.params.iter().cloned().collect();
    match FilesystemSpec::from_params(&params) {
        Ok(spec) => Box::new(Driver {
            device: spec.device.clone(),
            directory: spec.directory.clone(),
            machine: FilesystemAction::new(spec, request.action),
            begun: false,
        }),
        Err(problems) => Misconfigured::boxed(&problems),
    }
}

/// The mount list, read (bounded) and parsed.
pub fn read_mounts() -> Result<Vec<mountinfo::MountEntry>, String> {
    let file = fs::File::open(MOUNTINFO_PATH).map_err(|e| format!("{MOUNTINFO_PATH}: {e}"))?;
    let mut text = Vec::new();
    // One byte over the bound, so that a longer list is refused rather than cut.
    file.take(MAX_MOUNTINFO_BYTES as u64 + 1)
        .read_to_end(&mut text)
        .map_err(|e| format!("{MOUNTINFO_PATH}: {e}"))?;
    mountinfo::parse(&text).map_err(|e| e.to_string())
}

/// What is at the device path (symbolic links followed; `/dev` is devtmpfs).
pub fn look_at_device(device: &str) -> DeviceSeen {
    match fs::metadata(device) {
        Ok(m) if m.file_type().is_block_device() => DeviceSeen::Block {
            rdev: DevNum::from_dev_t(m.rdev()),
            resolved: fs::canonicalize(device)
                .map(|p| p.display().to_string())
                .unwrap_or_else(|_| device.into()),
        },
        Ok(_) => DeviceSeen::NotBlock,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => DeviceSeen::Missing,
        Err(e) => DeviceSeen::Unreadable(e.to_string()),
    }
}

/// Create `directory` and its parents (on the local root file system: nothing is mounted on
/// it yet), and resolve its path.
pub fn make_mount_point(directory: &str) -> MountPoint {
    if let Err(e) = fs::create_dir_all(directory) {
        return MountPoint::Failed(e.to_string());
    }
    match fs::canonicalize(directory) {
        Ok(path) if path.as_os_str() == directory => MountPoint::Ready,
        Ok(path) => MountPoint::Resolves(path.display().to_string()),
        Err(e) => MountPoint::Failed(e.to_string()),
    }
}

impl Driver {
    fn look(&self, holders_of: Option<DevNum>) -> Seen {
        Seen {
            mounts: read_mounts(),
            device: look_at_device(&self.device),
            holders: holders_of.map(|dev| {
                let (pids, cut) = procs::holding_device(dev.to_dev_t());
                Holders { pids, cut }
            }),
        }
    }

    fn send(&mut self, pids: &[u32], signal: HolderSignal) {
        let sig = match signal {
            HolderSignal::Term => Signal::TERM,
            HolderSignal::Kill => Signal::KILL,
        };
        for &pid in pids {
            match signal_pid(pid, sig) {
                // A holder that exited meanwhile is what the signal was for.
                Ok(()) | Err(rustix::io::Errno::SRCH) => {}
                Err(e) => self.machine.note(&format!("{} to pid {pid} not sent: {e}", signal.as_str())),
            }
        }
    }
}

impl BuiltinAction for Driver {
    fn next(&mut self, now: Micros, previous: Option<(ProgramExit, &str)>) -> Step {
        let mut step = crate::core::resources::program::resume(&mut self.machine, &mut self.begun, previous);
        for _ in 0..MAX_INNER_STEPS {
            step = match step {
                FsStep::Look { holders_of } => self.machine.seen(now, &self.look(holders_of)),
                FsStep::MakeDirectory => {
                    let made = make_mount_point(&self.directory);
                    self.machine.made_directory(made)
                }
                FsStep::Signal { pids, signal } => {
                    self.send(&pids, signal);
                    self.machine.signalled()
                }
                FsStep::Step(step) => return step,
            };
        }
        panic!(
            "builtin:filesystem: more than {MAX_INNER_STEPS} looks, signals and directories without a step"
        );
    }
}
