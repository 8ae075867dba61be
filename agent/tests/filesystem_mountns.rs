//! The built-in `builtin:filesystem` resource against the real kernel: an ext4 image on a loop
//! device, mounted and unmounted by the resource's actions carried out through the resource
//! runner (`shell::ocf::Runner`, as the agent runs them), checked in `/proc/self/mountinfo`.
//!
//! Each orchestrating test makes its own image and loop device, then runs this test binary
//! again inside a private mount namespace (`unshare --mount --propagation private <this
//! binary> --exact HELPER --ignored`), so that nothing it mounts is seen outside and the
//! mount goes with the namespace whatever happens. The helper carries out the actions and
//! asserts the rule; the orchestrator checks that it passed. Processes that keep the file
//! system busy are children of the helper with their working directory in it; the tests wait
//! for their ends (bounded) and check by which signal they ended.
//!
//! Without root, util-linux or e2fsprogs the tests print `SKIPPED: ...` and pass, unless
//! `HA_REQUIRE_MOUNTNS=1` is set (`make test-netns`), which turns the skip into a failure.

#![forbid(unsafe_code)]

use std::fs;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ha_agent::core::resources::agent::Builtin;
use ha_agent::core::resources::{Action, ActionRequest, Agent, Name, Outcome, ResourceSpec};
use ha_agent::shell::ocf::{Finished, Runner};
use ha_agent::time::Micros;

const ENV_REQUIRE: &str = "HA_REQUIRE_MOUNTNS";
const ENV_DEVICE: &str = "HA_FS_DEVICE";
const ENV_DIRECTORY: &str = "HA_FS_DIRECTORY";
const IMAGE_BYTES: u64 = 32 * 1024 * 1024;
/// Bound on one action (the runner's timeout: a hang fails the action, not the test run).
const ACTION_TIMEOUT_MS: u64 = 20_000;
/// Turns a runner that never reports into a failure.
const ACTION_DEADLINE: Duration = Duration::from_secs(30);
/// Bound on the wait for a signalled process to be reaped, and for the loop device to let go.
const EXIT_DEADLINE: Duration = Duration::from_secs(10);

// ---------------------------------------------------------------------------------------------
// Orchestration (the initial mount namespace).

fn run(program: &str, args: &[&str]) -> Result<String, String> {
    let output =
        Command::new(program).args(args).output().map_err(|e| format!("cannot run {program}: {e}"))?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).trim().to_string())
    } else {
        Err(format!("`{program} {}`: {}", args.join(" "), String::from_utf8_lossy(&output.stderr).trim()))
    }
}

fn skip_or_fail(why: &str) {
    if std::env::var(ENV_REQUIRE).as_deref() == Ok("1") {
        panic!("{ENV_REQUIRE}=1 but the mount namespace test cannot run: {why}");
    }
    eprintln!("SKIPPED: the filesystem mount namespace test needs root, util-linux and e2fsprogs: {why}");
}

struct Rig {
    base: PathBuf,
    loop_dev: Option<String>,
}

impl Rig {
    /// An empty directory, and (with `with_device`) an ext4 image on a loop device. `None`
    /// (after printing why) when that is not possible here and not required.
    fn create(tag: &str, with_device: bool) -> Option<Rig> {
        if !rustix::process::geteuid().is_root() {
            skip_or_fail("not root");
            return None;
        }
        for tool in ["unshare", "losetup", "mkfs.ext4", "mount", "umount"] {
            if run("sh", &["-c", &format!("command -v {tool}")]).is_err() {
                skip_or_fail(&format!("{tool} is missing"));
                return None;
            }
        }
        let base = std::env::temp_dir().join(format!("ha-fs-{}-{tag}", std::process::id()));
        let _ = fs::remove_dir_all(&base);
        fs::create_dir_all(&base).expect("the rig's directory");
        let mut rig = Rig { base, loop_dev: None };
        if with_device {
            let image = rig.base.join("array.img");
            fs::File::create(&image).and_then(|f| f.set_len(IMAGE_BYTES)).expect("the image");
            let image = image.display().to_string();
            match run("losetup", &["--find", "--show", &image]) {
                Ok(dev) => rig.loop_dev = Some(dev),
                Err(e) => {
                    skip_or_fail(&format!("no loop device: {e}"));
                    return None;
                }
            }
            let dev = rig.loop_dev.clone().unwrap();
            run("mkfs.ext4", &["-q", "-E", "lazy_itable_init=0,lazy_journal_init=0", &dev])
                .expect("mkfs.ext4");
        }
        Some(rig)
    }

    /// The device as a resource names it: through a symbolic link, as /dev/disk/by-label/ is.
    fn device_link(&self) -> String {
        let link = self.base.join("by-label-array");
        let _ = fs::remove_file(&link);
        std::os::unix::fs::symlink(self.loop_dev.as_ref().expect("a device"), &link).expect("symlink");
        link.display().to_string()
    }

    /// Run `helper` in a private mount namespace; panics with its output when it failed.
    fn in_namespace(&self, helper: &str, device: &str, directory: &Path) {
        let exe = std::env::current_exe().expect("path of this test binary");
        let output = Command::new("unshare")
            .args(["--mount", "--propagation", "private"])
            .arg(exe)
            .args(["--exact", helper, "--ignored", "--nocapture", "--test-threads=1"])
            .env(ENV_DEVICE, device)
            .env(ENV_DIRECTORY, directory)
            .stdin(Stdio::null())
            .output()
            .expect("run unshare");
        let transcript = format!(
            "status {}\nstdout:\n{}\nstderr:\n{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        eprintln!("{helper}:\n{transcript}");
        assert!(output.status.success(), "{helper} failed in its mount namespace:\n{transcript}");
        assert!(
            String::from_utf8_lossy(&output.stdout).contains("1 passed"),
            "{helper} did not run:\n{transcript}"
        );
        // The namespace is gone with the helper: nothing stays mounted out here.
        assert!(!mounted_at(directory), "{} is mounted outside the namespace", directory.display());
    }
}

impl Drop for Rig {
    fn drop(&mut self) {
        if let Some(dev) = &self.loop_dev {
            // The last mount went with its namespace; wait (bounded) for the kernel to let go.
            let started = Instant::now();
            while let Err(e) = run("losetup", &["-d", dev]) {
                if started.elapsed() > EXIT_DEADLINE {
                    eprintln!("cleanup: {e}");
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        let _ = fs::remove_dir_all(&self.base);
    }
}

#[test]
fn a_start_mounts_the_device_a_second_start_and_the_monitor_agree_and_a_stop_unmounts() {
    let Some(rig) = Rig::create("cycle", true) else { return };
    let device = rig.device_link();
    // Not there yet: the start creates it.
    rig.in_namespace("cycle_helper", &device, &rig.base.join("mnt/array"));
}

#[test]
fn a_busy_stop_signals_the_holders_and_unmounts_when_force_unmount_is_true() {
    let Some(rig) = Rig::create("force", true) else { return };
    let device = rig.device_link();
    rig.in_namespace("force_unmount_helper", &device, &rig.base.join("array"));
}

#[test]
fn a_busy_stop_fails_and_leaves_the_file_system_mounted_when_force_unmount_is_false() {
    let Some(rig) = Rig::create("noforce", true) else { return };
    let device = rig.device_link();
    rig.in_namespace("no_force_unmount_helper", &device, &rig.base.join("array"));
}

#[test]
fn a_start_with_a_missing_device_is_not_installed() {
    let Some(rig) = Rig::create("missing", false) else { return };
    let device = rig.base.join("no-such-device").display().to_string();
    rig.in_namespace("missing_device_helper", &device, &rig.base.join("array"));
}

// ---------------------------------------------------------------------------------------------
// Helpers (run by the tests above inside a private mount namespace).

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is set by the orchestrating test"))
}

/// Whether `/proc/self/mountinfo` lists `directory` as a mount point (its fifth field).
fn mounted_at(directory: &Path) -> bool {
    let info = fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
    let want = directory.display().to_string().replace(' ', "\\040");
    info.lines().any(|l| l.split(' ').nth(4) == Some(want.as_str()))
}

/// The fstype and source of the mount on `directory`, from `/proc/self/mountinfo`.
fn mount_of(directory: &Path) -> Option<(String, String)> {
    let info = fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
    let want = directory.display().to_string();
    info.lines().rev().find(|l| l.split(' ').nth(4) == Some(want.as_str())).map(|l| {
        let after: Vec<&str> = l.split(" - ").nth(1).unwrap_or("").split(' ').collect();
        (after[0].to_string(), after.get(1).unwrap_or(&"").to_string())
    })
}

/// Carry out one action of a `builtin:filesystem` resource with `params` through the runner.
fn act(action: Action, params: &[(&str, &str)]) -> Finished {
    let mut list = heapless::Vec::new();
    for (k, v) in params {
        list.push((k.to_string(), v.to_string())).expect("few params");
    }
    let spec = ResourceSpec {
        name: Name::try_from("array").unwrap(),
        agent: Agent::Builtin(Builtin::Filesystem),
        params: list,
        start_timeout_ms: ACTION_TIMEOUT_MS,
        stop_timeout_ms: ACTION_TIMEOUT_MS,
        monitor_timeout_ms: ACTION_TIMEOUT_MS,
        monitor_interval_ms: 10_000,
    };
    let request = ActionRequest {
        id: 1,
        resource: 0,
        action,
        timeout_ms: ACTION_TIMEOUT_MS,
        interval_ms: 0,
        generation: 1,
    };
    let origin = Instant::now();
    let now = || Micros::from_ms(1).plus_us(origin.elapsed().as_micros() as u64);
    let mut runner = Runner::new();
    runner.spawn(now(), &request, &spec).expect("a free slot");
    loop {
        let mut finished = runner.poll_children(now());
        if let Some(f) = finished.pop() {
            assert!(finished.is_empty(), "one action, one result");
            eprintln!(
                "{}: {} after {} ms ({}):\n{}",
                action.as_str(),
                f.outcome,
                f.elapsed_ms,
                f.exit_reason.as_str(),
                f.output.trim_end()
            );
            return f;
        }
        assert!(origin.elapsed() < ACTION_DEADLINE, "{} never finished", action.as_str());
        let due = runner.next_deadline().expect("an action in progress has a deadline");
        std::thread::sleep(Duration::from_micros(due.since_us(now()).clamp(1_000, 50_000)));
    }
}

/// A process with its working directory in `directory` (SIGTERM ignored when `stubborn`: an
/// ignored disposition survives `exec`).
fn holder(directory: &Path, stubborn: bool) -> Child {
    let script = if stubborn { "trap '' TERM; exec sleep 60" } else { "exec sleep 60" };
    let child = Command::new("sh")
        .args(["-c", script])
        .current_dir(directory)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn a holder");
    // It holds the directory from its fork on (cwd is inherited); wait (bounded) for the exec
    // so that what is signalled is `sleep` with its disposition set.
    let started = Instant::now();
    let exe = PathBuf::from(format!("/proc/{}/exe", child.id()));
    while !fs::read_link(&exe).map(|p| p.ends_with("sleep")).unwrap_or(false) {
        assert!(started.elapsed() < EXIT_DEADLINE, "the holder never became sleep");
        std::thread::sleep(Duration::from_millis(5));
    }
    child
}

/// The signal `child` was ended by (bounded wait).
fn ended_by(child: &mut Child) -> Option<i32> {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return status.signal();
        }
        assert!(started.elapsed() < EXIT_DEADLINE, "pid {} never ended", child.id());
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn params<'a>(device: &'a str, directory: &'a str, force_unmount: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("device", device),
        ("directory", directory),
        ("fstype", "ext4"),
        ("options", "noatime"),
        ("force_unmount", force_unmount),
    ]
}

#[test]
#[ignore = "run by the mount namespace tests inside a private mount namespace"]
fn cycle_helper() {
    let (device, dir) = (env(ENV_DEVICE), PathBuf::from(env(ENV_DIRECTORY)));
    let resolved = fs::canonicalize(&device).unwrap().display().to_string();
    let p = params(&device, dir.to_str().unwrap(), "true");
    assert!(!dir.exists(), "the mount point is made by the start");
    assert_eq!(act(Action::Monitor, &p).outcome, Outcome::NotRunning);
    assert_eq!(act(Action::Stop, &p).outcome, Outcome::Success, "a stop of what is not mounted");

    let start = act(Action::Start, &p);
    assert_eq!(start.outcome, Outcome::Success, "{}", start.output);
    assert!(start.output.contains("$ /usr/bin/mount -t ext4 -o noatime"), "{}", start.output);
    assert_eq!(mount_of(&dir), Some(("ext4".into(), resolved.clone())));
    let again = act(Action::Start, &p);
    assert_eq!(again.outcome, Outcome::Success);
    assert!(again.output.contains("already mounted"), "{}", again.output);
    assert!(!again.output.contains("$ /usr/bin/mount"), "no second mount: {}", again.output);
    assert_eq!(act(Action::Monitor, &p).outcome, Outcome::Success);

    let stop = act(Action::Stop, &p);
    assert_eq!(stop.outcome, Outcome::Success, "{}", stop.output);
    assert!(!mounted_at(&dir), "unmounted");
    assert_eq!(act(Action::Monitor, &p).outcome, Outcome::NotRunning);
    assert_eq!(act(Action::Stop, &p).outcome, Outcome::Success, "a second stop");

    // Another file system on the mount point: the start refuses it, the monitor fails.
    run("mount", &["-t", "tmpfs", "-o", "size=1m", "other", dir.to_str().unwrap()]).expect("mount a tmpfs");
    let refused = act(Action::Start, &p);
    assert_eq!(refused.outcome, Outcome::Failed(6));
    assert!(
        refused
            .exit_reason
            .as_str()
            .starts_with(&format!("another file system is mounted on {}: other (tmpfs", dir.display())),
        "{}",
        refused.exit_reason.as_str()
    );
    assert_eq!(act(Action::Monitor, &p).outcome, Outcome::Failed(1));
    assert_eq!(mount_of(&dir).map(|m| m.0), Some("tmpfs".into()), "the start mounted nothing over it");

    // A mount point reached through a symbolic link: refused before anything is mounted.
    let real = dir.parent().unwrap().join("real");
    let link = dir.parent().unwrap().join("link");
    fs::create_dir_all(&real).unwrap();
    std::os::unix::fs::symlink(&real, &link).unwrap();
    let through = link.join("array");
    let p = params(&device, through.to_str().unwrap(), "true");
    let refused = act(Action::Start, &p);
    assert_eq!(refused.outcome, Outcome::Failed(6), "{}", refused.output);
    assert!(
        refused.exit_reason.as_str().contains("is reached through a symbolic link"),
        "{}",
        refused.output
    );
    assert!(!mounted_at(&real.join("array")), "nothing was mounted at the link's target");
}

#[test]
#[ignore = "run by the mount namespace tests inside a private mount namespace"]
fn force_unmount_helper() {
    let (device, dir) = (env(ENV_DEVICE), PathBuf::from(env(ENV_DIRECTORY)));
    let p = params(&device, dir.to_str().unwrap(), "true");
    assert_eq!(act(Action::Start, &p).outcome, Outcome::Success);
    fs::write(dir.join("file"), b"data").unwrap();
    let mut polite = holder(&dir, false);
    let mut stubborn = holder(&dir, true);
    let stop = act(Action::Stop, &p);
    assert_eq!(stop.outcome, Outcome::Success, "{}", stop.output);
    assert!(!mounted_at(&dir), "unmounted");
    assert!(
        stop.output.contains(&format!("SIGTERM to pid {}, {}", polite.id(), stubborn.id()))
            || stop.output.contains(&format!("SIGTERM to pid {}, {}", stubborn.id(), polite.id())),
        "both holders got SIGTERM:\n{}",
        stop.output
    );
    assert!(stop.output.contains(&format!("SIGKILL to pid {} ", stubborn.id())), "{}", stop.output);
    assert_eq!(ended_by(&mut polite), Some(15));
    assert_eq!(ended_by(&mut stubborn), Some(9));
    // What was written is on the device: mount it again and read it.
    assert_eq!(act(Action::Start, &p).outcome, Outcome::Success);
    assert_eq!(fs::read(dir.join("file")).unwrap(), b"data");
    assert_eq!(act(Action::Stop, &p).outcome, Outcome::Success);
}

#[test]
#[ignore = "run by the mount namespace tests inside a private mount namespace"]
fn no_force_unmount_helper() {
    let (device, dir) = (env(ENV_DEVICE), PathBuf::from(env(ENV_DIRECTORY)));
    let p = params(&device, dir.to_str().unwrap(), "false");
    assert_eq!(act(Action::Start, &p).outcome, Outcome::Success);
    let mut busy = holder(&dir, false);
    let stop = act(Action::Stop, &p);
    assert_eq!(stop.outcome, Outcome::Failed(1), "{}", stop.output);
    assert_eq!(
        stop.exit_reason.as_str(),
        format!("force_unmount is false: umount: {}: target is busy.", dir.display())
    );
    assert!(mounted_at(&dir), "still mounted after the failed stop");
    assert!(busy.try_wait().unwrap().is_none(), "the holder was not signalled");
    assert_eq!(act(Action::Monitor, &p).outcome, Outcome::Success);
    busy.kill().unwrap();
    busy.wait().unwrap();
    assert_eq!(act(Action::Stop, &p).outcome, Outcome::Success);
    assert!(!mounted_at(&dir));
}

#[test]
#[ignore = "run by the mount namespace tests inside a private mount namespace"]
fn missing_device_helper() {
    let (device, dir) = (env(ENV_DEVICE), PathBuf::from(env(ENV_DIRECTORY)));
    let p = params(&device, dir.to_str().unwrap(), "true");
    let start = act(Action::Start, &p);
    assert_eq!(start.outcome, Outcome::Failed(5));
    assert!(start.outcome.is_hard_failure());
    assert_eq!(start.exit_reason.as_str(), format!("the device {device} does not exist on this node"));
    assert!(!dir.exists(), "nothing was made for a device that is not there");
    assert_eq!(act(Action::Monitor, &p).outcome, Outcome::NotRunning);
    assert_eq!(act(Action::Stop, &p).outcome, Outcome::Success);
}
