//! The rules of `builtin:filesystem`'s parameters and actions, one test per rule.

use super::mountinfo::parse;
use super::*;
use crate::core::resources::program::MAX_STEPS_PER_ACTION;

fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn spec() -> FilesystemSpec {
    FilesystemSpec::from_params(&params(&[
        ("device", "/dev/disk/by-label/pgdata"),
        ("directory", "/srv/pgsql/"),
        ("fstype", "ext4"),
        ("options", "noatime,data=ordered"),
    ]))
    .unwrap()
}

const OURS: DevNum = DevNum { major: 7, minor: 3 };

fn device() -> DeviceSeen {
    DeviceSeen::Block { rdev: OURS, resolved: "/dev/loop3".into() }
}

/// The host's mounts, plus `extra` lines.
fn mounts(extra: &str) -> Result<Vec<MountEntry>, String> {
    let text = format!("25 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n{extra}");
    Ok(parse(text.as_bytes()).unwrap())
}

const OURS_MOUNTED: &str = "40 25 7:3 / /srv/pgsql rw,noatime shared:30 - ext4 /dev/loop3 rw\n";
const OTHER_MOUNTED: &str = "41 25 8:17 / /srv/pgsql rw - xfs /dev/sdb1 rw\n";

fn seen(extra: &str) -> Seen {
    Seen { mounts: mounts(extra), device: device(), holders: None }
}

fn with_holders(extra: &str, pids: &[u32]) -> Seen {
    Seen { holders: Some(Holders { pids: pids.to_vec(), cut: false }), ..seen(extra) }
}

fn argv(step: &FsStep) -> Vec<String> {
    match step {
        FsStep::Step(Step::Run(call)) => {
            assert_eq!(call.as_user, None, "mount and umount run as the agent's user");
            call.argv.clone()
        }
        other => panic!("expected a program, got {other:?}"),
    }
}

fn result(step: &FsStep) -> (Outcome, String) {
    match step {
        FsStep::Step(Step::Done(r)) => (r.outcome, r.exit_reason.as_str().to_string()),
        other => panic!("expected the end, got {other:?}"),
    }
}

fn output(step: &FsStep) -> String {
    match step {
        FsStep::Step(Step::Done(r)) => r.output.clone(),
        other => panic!("expected the end, got {other:?}"),
    }
}

fn action(action: Action) -> FilesystemAction {
    action_of(spec(), action)
}

fn action_of(spec: FilesystemSpec, action: Action) -> FilesystemAction {
    let mut a = FilesystemAction::new(spec, action);
    if action != Action::ValidateAll {
        assert_eq!(a.begin(), FsStep::Look { holders_of: None }, "every action starts with a look");
    }
    a
}

const STOP_HOLDERS: FsStep = FsStep::Look { holders_of: Some(OURS) };

// --- parameters -------------------------------------------------------------------------------

#[test]
fn the_parameters_have_the_filesystem_agents_names_and_force_unmount_defaults_to_true() {
    let s = spec();
    assert_eq!(
        (s.device.as_str(), s.directory.as_str(), s.fstype.as_str()),
        ("/dev/disk/by-label/pgdata", "/srv/pgsql", "ext4"),
        "a trailing / of the directory is dropped (the mount list has none)"
    );
    assert_eq!(s.options.as_deref(), Some("noatime,data=ordered"));
    assert!(s.force_unmount);
    for (text, want) in [("false", false), ("no", false), ("TRUE", true), ("safe", true), ("0", false)] {
        let mut p = params(&[("device", "/dev/sdb1"), ("directory", "/mnt/a"), ("fstype", "xfs")]);
        p.push(("force_unmount".into(), text.into()));
        assert_eq!(FilesystemSpec::from_params(&p).unwrap().force_unmount, want, "{text}");
    }
}

#[test]
fn missing_required_parameters_are_each_reported() {
    let bad = FilesystemSpec::from_params(&params(&[("options", "ro")])).unwrap_err();
    let messages: Vec<&str> = bad.iter().map(|p| p.message.as_str()).collect();
    assert_eq!(
        messages,
        [
            "builtin:filesystem needs the parameter `device`",
            "builtin:filesystem needs the parameter `directory`",
            "builtin:filesystem needs the parameter `fstype`"
        ]
    );
    assert!(bad.iter().all(|p| p.param.is_empty()), "the table as a whole: {bad:?}");
    let blank =
        FilesystemSpec::from_params(&params(&[("device", " "), ("directory", "/a"), ("fstype", "ext4")]));
    assert_eq!(blank.unwrap_err()[0].message, "builtin:filesystem needs the parameter `device`");
}

#[test]
fn unsupported_and_unknown_parameters_are_refused_with_their_names() {
    let bad = FilesystemSpec::from_params(&params(&[
        ("device", "/dev/sdb1"),
        ("directory", "/mnt/a"),
        ("fstype", "ext4"),
        ("run_fsck", "no"),
        ("fast_stop", "yes"),
        ("statusfile_prefix", ".x"),
        ("OCF_CHECK_LEVEL", "20"),
        ("mountpoint", "/mnt/a"),
    ]))
    .unwrap_err();
    let named: Vec<&str> = bad.iter().map(|p| p.param.as_str()).collect();
    assert_eq!(named, ["run_fsck", "fast_stop", "statusfile_prefix", "OCF_CHECK_LEVEL", "mountpoint"]);
    assert!(bad[0].message.contains("does not carry out the Filesystem agent's `run_fsck`"), "{:?}", bad[0]);
    assert!(bad[0].hint.contains("ocf:heartbeat:Filesystem"), "{:?}", bad[0]);
    assert!(bad[4].hint.contains("device, directory, fstype, options, force_unmount"), "{:?}", bad[4]);
}

#[test]
fn bad_values_are_refused_with_their_parameter() {
    let refused = |pairs: &[(&str, &str)]| -> Vec<String> {
        let mut p = params(&[("device", "/dev/sdb1"), ("directory", "/mnt/a"), ("fstype", "ext4")]);
        for (k, v) in pairs {
            p.retain(|(name, _)| name != k);
            p.push((k.to_string(), v.to_string()));
        }
        match FilesystemSpec::from_params(&p) {
            Ok(_) => vec![],
            Err(problems) => problems.into_iter().map(|p| format!("{}: {}", p.param, p.message)).collect(),
        }
    };
    assert_eq!(refused(&[("directory", "/")]), ["directory: \"/\" is the root directory"]);
    assert_eq!(refused(&[("directory", "//")]), ["directory: \"//\" is the root directory"]);
    assert_eq!(refused(&[("directory", "mnt/a")]), ["directory: \"mnt/a\" is not an absolute path"]);
    assert_eq!(
        refused(&[("directory", "/mnt/../etc")]),
        ["directory: \"/mnt/../etc\" has an empty, `.` or `..` component"]
    );
    assert_eq!(
        refused(&[("directory", "/mnt//a")]),
        ["directory: \"/mnt//a\" has an empty, `.` or `..` component"]
    );
    assert_eq!(
        refused(&[("directory", "/mnt/a\nb")]),
        ["directory: \"/mnt/a\\nb\" holds a control character"]
    );
    assert_eq!(refused(&[("directory", "/mnt/a\0")]), ["directory: \"/mnt/a\\0\" holds a control character"]);
    assert_eq!(
        refused(&[("device", "server:/export")]),
        ["device: \"server:/export\" is not the path of a block device"]
    );
    assert_eq!(
        refused(&[("device", "/dev/sd\nb")]),
        ["device: \"/dev/sd\\nb\" is not the path of a block device"]
    );
    assert_eq!(refused(&[("fstype", "ext4 -o")]), ["fstype: \"ext4 -o\" is not a file system type"]);
    assert_eq!(refused(&[("fstype", "-o")]), ["fstype: \"-o\" is not a file system type"]);
    assert_eq!(
        refused(&[("options", "ro, noatime")]),
        ["options: \"ro, noatime\" holds spaces or control characters"]
    );
    assert_eq!(refused(&[("force_unmount", "maybe")]), ["force_unmount: \"maybe\" is not true or false"]);
    assert_eq!(refused(&[("directory", "/srv/my data"), ("fstype", "fuse.sshfs")]), Vec::<String>::new());
}

// --- start ------------------------------------------------------------------------------------

#[test]
fn a_start_makes_the_mount_point_mounts_and_confirms_in_the_mount_list() {
    let mut a = action(Action::Start);
    assert_eq!(a.seen(Micros(0), &seen("")), FsStep::MakeDirectory);
    let mount = a.made_directory(MountPoint::Ready);
    assert_eq!(
        argv(&mount),
        [
            "/usr/bin/mount",
            "-t",
            "ext4",
            "-o",
            "noatime,data=ordered",
            "/dev/disk/by-label/pgdata",
            "/srv/pgsql"
        ]
    );
    assert_eq!(a.exited(ProgramExit::Code(0), ""), FsStep::Look { holders_of: None });
    let end = a.seen(Micros(0), &seen(OURS_MOUNTED));
    assert_eq!(result(&end).0, Outcome::Success);
    assert_eq!(output(&end), "mounted /dev/disk/by-label/pgdata on /srv/pgsql: /dev/loop3 (ext4, 7:3)");
}

#[test]
fn a_start_without_options_passes_no_dash_o() {
    let s = FilesystemSpec::from_params(&params(&[
        ("device", "/dev/sdb1"),
        ("directory", "/mnt/a"),
        ("fstype", "xfs"),
    ]))
    .unwrap();
    let mut a = action_of(s, Action::Start);
    a.seen(Micros(0), &seen(""));
    assert_eq!(
        argv(&a.made_directory(MountPoint::Ready)),
        ["/usr/bin/mount", "-t", "xfs", "/dev/sdb1", "/mnt/a"]
    );
}

#[test]
fn a_start_of_a_mounted_file_system_succeeds_without_mounting() {
    let mut a = action(Action::Start);
    let end = a.seen(Micros(0), &seen(OURS_MOUNTED));
    assert_eq!(result(&end).0, Outcome::Success);
    assert_eq!(output(&end), "/dev/disk/by-label/pgdata is already mounted on /srv/pgsql");
}

#[test]
fn a_mount_of_the_same_device_is_recognised_by_its_resolved_path_when_the_numbers_differ() {
    // btrfs reports an anonymous device number in the mount list; the source names the device.
    let mut a = action(Action::Start);
    let btrfs = "40 25 0:52 / /srv/pgsql rw - btrfs /dev/loop3 rw\n";
    assert_eq!(result(&a.seen(Micros(0), &seen(btrfs))).0, Outcome::Success);
}

#[test]
fn a_start_over_another_file_system_is_not_configured() {
    let mut a = action(Action::Start);
    let (outcome, reason) = result(&a.seen(Micros(0), &seen(OTHER_MOUNTED)));
    assert_eq!(outcome, Outcome::Failed(OCF_ERR_CONFIGURED));
    assert!(outcome.is_hard_failure());
    assert_eq!(reason, "another file system is mounted on /srv/pgsql: /dev/sdb1 (xfs, 8:17)");
}

#[test]
fn a_start_with_a_missing_device_is_not_installed() {
    let mut a = action(Action::Start);
    let missing = Seen { device: DeviceSeen::Missing, ..seen("") };
    let (outcome, reason) = result(&a.seen(Micros(0), &missing));
    assert_eq!(outcome, Outcome::Failed(OCF_ERR_INSTALLED));
    assert_eq!(reason, "the device /dev/disk/by-label/pgdata does not exist on this node");
    let mut a = action(Action::Start);
    let not_block = Seen { device: DeviceSeen::NotBlock, ..seen("") };
    assert_eq!(result(&a.seen(Micros(0), &not_block)).0, Outcome::Failed(OCF_ERR_INSTALLED));
    let mut a = action(Action::Start);
    let unreadable = Seen { device: DeviceSeen::Unreadable("Permission denied".into()), ..seen("") };
    assert_eq!(result(&a.seen(Micros(0), &unreadable)).0, Outcome::Failed(OCF_ERR_GENERIC));
}

#[test]
fn a_mount_point_that_cannot_be_made_is_not_installed() {
    let mut a = action(Action::Start);
    a.seen(Micros(0), &seen(""));
    let (outcome, reason) = result(&a.made_directory(MountPoint::Failed("File exists (os error 17)".into())));
    assert_eq!(outcome, Outcome::Failed(OCF_ERR_INSTALLED));
    assert_eq!(reason, "cannot create the mount point /srv/pgsql: File exists (os error 17)");
}

#[test]
fn a_mount_point_reached_through_a_symbolic_link_is_not_configured() {
    // Mounted there, it would be listed at the link's target: the monitor and the stop, which
    // look for `directory`, would not see it, and a stop would leave it mounted.
    let mut a = action(Action::Start);
    a.seen(Micros(0), &seen(""));
    let (outcome, reason) = result(&a.made_directory(MountPoint::Resolves("/data/pgsql".into())));
    assert_eq!(outcome, Outcome::Failed(OCF_ERR_CONFIGURED));
    assert_eq!(reason, "/srv/pgsql is reached through a symbolic link (it is /data/pgsql): use that path");
}

#[test]
fn a_failed_mount_fails_with_its_last_line() {
    let mut a = action(Action::Start);
    a.seen(Micros(0), &seen(""));
    a.made_directory(MountPoint::Ready);
    let out = "mount: /srv/pgsql: wrong fs type, bad option, bad superblock on /dev/loop3.\n";
    let (outcome, reason) = result(&a.exited(ProgramExit::Code(32), out));
    assert_eq!(outcome, Outcome::Failed(OCF_ERR_GENERIC));
    assert_eq!(
        reason,
        "mount failed: mount: /srv/pgsql: wrong fs type, bad option, bad superblock on /dev/loop3."
    );
    let mut a = action(Action::Start);
    a.seen(Micros(0), &seen(""));
    a.made_directory(MountPoint::Ready);
    assert_eq!(result(&a.exited(ProgramExit::NotStarted(5), "cannot run")).0, Outcome::Failed(5));
}

#[test]
fn a_mount_that_exits_zero_but_is_not_in_the_list_fails() {
    let mut a = action(Action::Start);
    a.seen(Micros(0), &seen(""));
    a.made_directory(MountPoint::Ready);
    a.exited(ProgramExit::Code(0), "");
    let (outcome, reason) = result(&a.seen(Micros(0), &seen("")));
    assert_eq!(outcome, Outcome::Failed(OCF_ERR_GENERIC));
    assert!(reason.contains("is not a mount point"), "{reason}");
}

#[test]
fn an_unreadable_mount_list_fails_every_action() {
    for act in [Action::Start, Action::Stop, Action::Monitor] {
        let mut a = action(act);
        let broken = Seen { mounts: Err("mountinfo line 3: an empty field".into()), ..seen("") };
        let (outcome, reason) = result(&a.seen(Micros(0), &broken));
        assert_eq!(outcome, Outcome::Failed(OCF_ERR_GENERIC), "{act:?}");
        assert_eq!(reason, "cannot read the mount list: mountinfo line 3: an empty field");
    }
}

// --- monitor ----------------------------------------------------------------------------------

#[test]
fn a_monitor_is_success_when_mounted_and_not_running_when_not_a_mount_point() {
    let mut a = action(Action::Monitor);
    assert_eq!(result(&a.seen(Micros(0), &seen(OURS_MOUNTED))).0, Outcome::Success);
    let mut a = action(Action::Monitor);
    assert_eq!(result(&a.seen(Micros(0), &seen(""))), (Outcome::NotRunning, String::new()));
}

#[test]
fn a_monitor_fails_when_the_device_is_gone_or_another_is_mounted() {
    let mut a = action(Action::Monitor);
    let gone = Seen { device: DeviceSeen::Missing, ..seen(OURS_MOUNTED) };
    let (outcome, reason) = result(&a.seen(Micros(0), &gone));
    assert_eq!(outcome, Outcome::Failed(OCF_ERR_GENERIC));
    assert_eq!(
        reason,
        "/srv/pgsql holds /dev/loop3 (ext4, 7:3), but the block device /dev/disk/by-label/pgdata is gone"
    );
    let mut a = action(Action::Monitor);
    let (outcome, reason) = result(&a.seen(Micros(0), &seen(OTHER_MOUNTED)));
    assert_eq!(outcome, Outcome::Failed(OCF_ERR_GENERIC));
    assert_eq!(
        reason,
        "another file system is mounted on /srv/pgsql: /dev/sdb1 (xfs, 8:17), not /dev/disk/by-label/pgdata (7:3)"
    );
}

#[test]
fn a_monitor_looks_at_the_topmost_of_stacked_mounts() {
    let stacked = format!("{OURS_MOUNTED}42 40 8:17 / /srv/pgsql rw - xfs /dev/sdb1 rw\n");
    let mut a = action(Action::Monitor);
    assert_eq!(result(&a.seen(Micros(0), &seen(&stacked))).0, Outcome::Failed(OCF_ERR_GENERIC));
    // A mount elsewhere (below the directory) is not the directory's.
    let below = "43 25 7:3 / /srv/pgsql/sub rw - ext4 /dev/loop3 rw\n";
    let mut a = action(Action::Monitor);
    assert_eq!(result(&a.seen(Micros(0), &seen(below))).0, Outcome::NotRunning);
}

#[test]
fn validate_all_is_success_without_a_look() {
    let mut a = FilesystemAction::new(spec(), Action::ValidateAll);
    assert_eq!(result(&a.begin()).0, Outcome::Success);
}

// --- stop -------------------------------------------------------------------------------------

#[test]
fn a_stop_of_an_unmounted_file_system_succeeds_at_once() {
    let mut a = action(Action::Stop);
    let end = a.seen(Micros(0), &seen(""));
    assert_eq!(result(&end).0, Outcome::Success);
    assert_eq!(output(&end), "/srv/pgsql is not mounted");
}

#[test]
fn a_stop_unmounts_and_confirms_in_the_mount_list() {
    let mut a = action(Action::Stop);
    assert_eq!(argv(&a.seen(Micros(0), &seen(OURS_MOUNTED))), ["/usr/bin/umount", "/srv/pgsql"]);
    assert_eq!(a.exited(ProgramExit::Code(0), ""), FsStep::Look { holders_of: None });
    assert_eq!(result(&a.seen(Micros(0), &seen(""))).0, Outcome::Success);
}

#[test]
fn a_stop_unmounts_whatever_is_mounted_on_the_directory() {
    // As the Filesystem agent does: the mount point must be free when the group has stopped,
    // even when the device's node is gone (the array vanished) and cannot be compared.
    let mut a = action(Action::Stop);
    let gone = Seen { device: DeviceSeen::Missing, ..seen(OTHER_MOUNTED) };
    assert_eq!(argv(&a.seen(Micros(0), &gone)), ["/usr/bin/umount", "/srv/pgsql"]);
}

#[test]
fn a_stop_fails_when_the_directory_is_still_a_mount_point_after_umount() {
    let mut a = action(Action::Stop);
    a.seen(Micros(0), &seen(OURS_MOUNTED));
    a.exited(ProgramExit::Code(0), "");
    let (outcome, reason) = result(&a.seen(Micros(0), &seen(OURS_MOUNTED)));
    assert_eq!(outcome, Outcome::Failed(OCF_ERR_GENERIC));
    assert!(reason.contains("still a mount point"), "{reason}");
}

#[test]
fn a_busy_stop_without_force_unmount_fails_and_signals_nobody() {
    let mut s = spec();
    s.force_unmount = false;
    let mut a = action_of(s, Action::Stop);
    a.seen(Micros(0), &seen(OURS_MOUNTED));
    let (outcome, reason) = result(&a.exited(ProgramExit::Code(32), "umount: /srv/pgsql: target is busy.\n"));
    assert_eq!(outcome, Outcome::Failed(OCF_ERR_GENERIC));
    assert_eq!(reason, "force_unmount is false: umount: /srv/pgsql: target is busy.");
}

#[test]
fn a_busy_stop_terms_the_holders_waits_for_them_and_unmounts() {
    let mut a = action(Action::Stop);
    let t0 = Micros::from_ms(5_000);
    a.seen(t0, &seen(OURS_MOUNTED));
    assert_eq!(a.exited(ProgramExit::Code(32), "umount: /srv/pgsql: target is busy."), STOP_HOLDERS);
    assert_eq!(
        a.seen(t0, &with_holders(OURS_MOUNTED, &[301, 302])),
        FsStep::Signal { pids: vec![301, 302], signal: HolderSignal::Term }
    );
    assert_eq!(a.signalled(), FsStep::Step(Step::Wait { ms: HOLDER_POLL_MS }));
    assert_eq!(a.waited(), STOP_HOLDERS);
    // One is still there: wait on (the grace has not passed).
    assert_eq!(
        a.seen(t0.plus_ms(200), &with_holders(OURS_MOUNTED, &[302])),
        FsStep::Step(Step::Wait { ms: HOLDER_POLL_MS })
    );
    assert_eq!(a.waited(), STOP_HOLDERS);
    // Gone: umount again, at once.
    assert_eq!(
        argv(&a.seen(t0.plus_ms(400), &with_holders(OURS_MOUNTED, &[]))),
        ["/usr/bin/umount", "/srv/pgsql"]
    );
    a.exited(ProgramExit::Code(0), "");
    let end = a.seen(t0.plus_ms(450), &seen(""));
    assert_eq!(result(&end).0, Outcome::Success);
    assert_eq!(output(&end), "SIGTERM to pid 301, 302 (holding 7:3 on /srv/pgsql)\nunmounted /srv/pgsql");
}

#[test]
fn holders_that_outlast_the_term_grace_get_sigkill() {
    let mut a = action(Action::Stop);
    let t0 = Micros::from_ms(5_000);
    a.seen(t0, &seen(OURS_MOUNTED));
    a.exited(ProgramExit::Code(32), "busy");
    a.seen(t0, &with_holders(OURS_MOUNTED, &[301]));
    a.signalled();
    a.waited();
    assert_eq!(
        a.seen(t0.plus_ms(TERM_GRACE_MS), &with_holders(OURS_MOUNTED, &[301])),
        FsStep::Signal { pids: vec![301], signal: HolderSignal::Kill }
    );
    a.signalled();
    a.waited();
    a.seen(t0.plus_ms(TERM_GRACE_MS + 200), &with_holders(OURS_MOUNTED, &[]));
    a.exited(ProgramExit::Code(0), "");
    let end = a.seen(t0.plus_ms(TERM_GRACE_MS + 250), &seen(""));
    assert_eq!(
        output(&end),
        "SIGTERM to pid 301 (holding 7:3 on /srv/pgsql)\nSIGKILL to pid 301 (holding 7:3 on /srv/pgsql)\nunmounted /srv/pgsql"
    );
}

#[test]
fn a_umount_still_busy_after_the_term_round_sends_sigkill_to_the_new_holders() {
    let mut a = action(Action::Stop);
    a.seen(Micros(0), &seen(OURS_MOUNTED));
    a.exited(ProgramExit::Code(32), "busy");
    a.seen(Micros(0), &with_holders(OURS_MOUNTED, &[301]));
    a.signalled();
    a.waited();
    a.seen(Micros::from_ms(200), &with_holders(OURS_MOUNTED, &[]));
    assert_eq!(a.exited(ProgramExit::Code(32), "busy"), STOP_HOLDERS);
    assert_eq!(
        a.seen(Micros::from_ms(300), &with_holders(OURS_MOUNTED, &[400])),
        FsStep::Signal { pids: vec![400], signal: HolderSignal::Kill }
    );
}

#[test]
fn a_stop_fails_when_umount_fails_after_sigkill() {
    let mut a = action(Action::Stop);
    a.seen(Micros(0), &seen(OURS_MOUNTED));
    a.exited(ProgramExit::Code(32), "busy");
    a.seen(Micros(0), &with_holders(OURS_MOUNTED, &[301]));
    a.signalled();
    a.waited();
    a.seen(Micros::from_ms(TERM_GRACE_MS), &with_holders(OURS_MOUNTED, &[301]));
    a.signalled();
    a.waited();
    a.seen(Micros::from_ms(TERM_GRACE_MS + 200), &with_holders(OURS_MOUNTED, &[]));
    let (outcome, reason) = result(&a.exited(ProgramExit::Code(32), "umount: /srv/pgsql: target is busy."));
    assert_eq!(outcome, Outcome::Failed(OCF_ERR_GENERIC));
    assert_eq!(reason, "still busy after SIGKILL of its holders: umount: /srv/pgsql: target is busy.");
}

#[test]
fn a_stop_fails_when_holders_survive_sigkill() {
    let mut a = action(Action::Stop);
    a.seen(Micros(0), &seen(OURS_MOUNTED));
    a.exited(ProgramExit::Code(32), "busy");
    a.seen(Micros(0), &with_holders(OURS_MOUNTED, &[301]));
    a.signalled();
    a.waited();
    let kill_at = Micros::from_ms(TERM_GRACE_MS);
    a.seen(kill_at, &with_holders(OURS_MOUNTED, &[301]));
    a.signalled();
    a.waited();
    let (outcome, reason) =
        result(&a.seen(kill_at.plus_ms(KILL_GRACE_MS), &with_holders(OURS_MOUNTED, &[301])));
    assert_eq!(outcome, Outcome::Failed(OCF_ERR_GENERIC));
    assert_eq!(reason, "/srv/pgsql stays busy: pid 301 survived SIGKILL for 1000 ms");
}

#[test]
fn a_busy_stop_with_no_holder_fails_at_once() {
    let mut a = action(Action::Stop);
    a.seen(Micros(0), &seen(OURS_MOUNTED));
    a.exited(ProgramExit::Code(32), "umount: /srv/pgsql: target is busy.");
    let (outcome, reason) = result(&a.seen(Micros(0), &with_holders(OURS_MOUNTED, &[])));
    assert_eq!(outcome, Outcome::Failed(OCF_ERR_GENERIC));
    assert!(reason == "no process holds it: umount: /srv/pgsql: target is busy.", "{reason}");
    let mut a = action(Action::Stop);
    a.seen(Micros(0), &seen(OURS_MOUNTED));
    a.exited(ProgramExit::Code(32), "busy");
    let cut = Seen { holders: Some(Holders { pids: vec![], cut: true }), ..seen(OURS_MOUNTED) };
    assert!(result(&a.seen(Micros(0), &cut)).1.contains("cut at its bound"));
}

#[test]
fn a_failed_umount_of_what_is_no_longer_mounted_is_a_stop() {
    let mut a = action(Action::Stop);
    a.seen(Micros(0), &seen(OURS_MOUNTED));
    a.exited(ProgramExit::Code(32), "umount: /srv/pgsql: not mounted.");
    assert_eq!(result(&a.seen(Micros(0), &with_holders("", &[]))).0, Outcome::Success);
}

#[test]
fn the_longest_busy_stop_fits_the_runners_step_bound() {
    // Holders that go only at the last poll of each round, and a umount that fails after the
    // SIGTERM round: the most steps a stop takes, every one counted (the runner bounds only
    // the program calls).
    let mut a = action(Action::Stop);
    let mut now = Micros(0);
    let busy = with_holders(OURS_MOUNTED, &[301]);
    a.seen(now, &seen(OURS_MOUNTED));
    a.exited(ProgramExit::Code(32), "busy");
    let mut step = a.seen(now, &busy);
    let mut steps = 1;
    for _ in 0..64 {
        step = match step {
            FsStep::Signal { .. } => a.signalled(),
            FsStep::Step(Step::Wait { ms }) => {
                steps += 1;
                now = now.plus_ms(ms);
                a.waited()
            }
            FsStep::Look { .. } => a.seen(now, &busy),
            FsStep::Step(Step::Run(_)) => {
                steps += 1;
                a.exited(ProgramExit::Code(32), "busy")
            }
            FsStep::Step(Step::Done(r)) => {
                steps += 1;
                assert_eq!(r.outcome, Outcome::Failed(OCF_ERR_GENERIC));
                break;
            }
            other => panic!("{other:?}"),
        };
    }
    assert!(steps <= MAX_STEPS_PER_ACTION, "{steps} steps");
}
