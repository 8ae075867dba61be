//! A slow disk under a member. node-a's state directory (journal, highest generation seen) is
//! an ext4 file system on a loop device, and node-a's agent runs in a blkio cgroup (v1) that
//! lets it issue two write requests a second to that device, so every `fdatasync` waits about
//! a second in the kernel. Meanwhile two cables of node-a flap, so node-a has two records to
//! journal every few hundred milliseconds, far more than the disk takes.
//!
//! What it shows: the poll loop does not wait for the disk (the durable writer thread does).
//! Journal writes pile up (`journal_queue.waiting` in status) while node-a's heartbeats keep
//! going out on time: no peer declares it unreachable, no other link of the rack goes down,
//! node-a reports no scheduler stall, it keeps the service, nothing is fenced; and once the
//! disk catches up every transition node-a logged is in its journal, in order, none dropped.
//! Before the writer thread each record stalled the loop for one fsync, and three of them
//! (one flap) exceed the test timing's dead_ms of 600 ms.
//!
//! Needs root, a free loop device and the blkio controller, so it is `#[ignore]`d in the
//! process suite and run by `make test-slow-disk` (part of `make test`):
//!
//! ```text
//! cargo test -p ha-tests --test process_slow_disk -- --ignored --nocapture
//! ```

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use ha_tests::bench::{parse_link_transition, parse_member_transition};
use ha_tests::fixtures::{failover_rack_prepared, resources_state};
use ha_tests::harness::{link_counter, links_of, Rack, Timing, MEMBERS};
use serde_json::Value;

/// Size of the file system image behind the loop device.
const IMAGE_BYTES: u64 = 64 << 20;
/// Write requests per second the cgroup lets node-a's agent issue to the device.
const WRITE_IOPS: u32 = 1;
/// What one fdatasync must take on the throttled device for the test to mean anything.
const MIN_SLOW_FSYNC_MS: u128 = 300;
/// Flaps while the disk is slow.
const FLAPS: usize = 5;
/// The cables that flap, and the peer at their other end: node-a to node-b on serial, node-a
/// to the witness on UDP (each member stays reachable over its other link).
const FLAP_LINKS: [(u8, &str); 2] = [(3, "node-b"), (11, "witness")];

fn run(program: &str, args: &[&str]) -> Result<String, String> {
    let out = Command::new(program).args(args).output().map_err(|e| format!("{program}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{program} {}: {}: {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// The throttled file system and cgroup; removed again on drop (after the rack's agents).
struct SlowDisk {
    image: PathBuf,
    loop_dev: Option<String>,
    mount: PathBuf,
    mounted: bool,
    cgroup: PathBuf,
}

impl SlowDisk {
    fn create() -> Result<SlowDisk, String> {
        let base = std::env::temp_dir().join(format!("ha-slow-disk-{}", std::process::id()));
        fs::create_dir_all(&base).map_err(|e| e.to_string())?;
        let mut disk = SlowDisk {
            image: base.join("state.img"),
            loop_dev: None,
            mount: base.join("mnt"),
            mounted: false,
            cgroup: PathBuf::from(format!("/sys/fs/cgroup/blkio/ha-slow-disk-{}", std::process::id())),
        };
        fs::File::create(&disk.image).and_then(|f| f.set_len(IMAGE_BYTES)).map_err(|e| e.to_string())?;
        let dev = run("losetup", &["--find", "--show", &disk.image.display().to_string()])?;
        disk.loop_dev = Some(dev.clone());
        // Inode tables and journal zeroed now, not by ext4lazyinit in the background after the
        // mount: that would compete with node-a's start-up writes (the journal's first segment
        // and its directory fsync happen before the agent's loop runs), and a start-up longer
        // than initdead_ms gets node-a fenced before it ever joins.
        run("mkfs.ext4", &["-q", "-E", "lazy_itable_init=0,lazy_journal_init=0", &dev])?;
        fs::create_dir_all(&disk.mount).map_err(|e| e.to_string())?;
        run("mount", &[&dev, &disk.mount.display().to_string()])?;
        disk.mounted = true;
        let major_minor = run("lsblk", &["-dno", "MAJ:MIN", &dev])?;
        fs::create_dir_all(&disk.cgroup)
            .map_err(|e| format!("{}: {e} (is the blkio controller mounted?)", disk.cgroup.display()))?;
        fs::write(
            disk.cgroup.join("blkio.throttle.write_iops_device"),
            format!("{} {WRITE_IOPS}\n", major_minor.trim()),
        )
        .map_err(|e| format!("throttling {dev}: {e}"))?;
        Ok(disk)
    }

    /// Move process `pid` (all its threads) into the throttled cgroup.
    fn add(&self, pid: u32) -> Result<(), String> {
        fs::write(self.cgroup.join("cgroup.procs"), format!("{pid}\n"))
            .map_err(|e| format!("cgroup.procs: {e}"))
    }

    /// One fdatasync of a small append, by a shell in the cgroup: proves the throttle works.
    fn probe_fsync_ms(&self) -> Result<u128, String> {
        let script = format!(
            "echo $$ > {}/cgroup.procs && exec dd if=/dev/zero of={}/probe bs=512 count=1 oflag=dsync conv=notrunc status=none",
            self.cgroup.display(),
            self.mount.display()
        );
        // The first write allocates the file; time the second.
        run("sh", &["-c", &script])?;
        let started = Instant::now();
        run("sh", &["-c", &script])?;
        Ok(started.elapsed().as_millis())
    }
}

impl Drop for SlowDisk {
    fn drop(&mut self) {
        if self.mounted {
            let _ = run("umount", &["-l", &self.mount.display().to_string()]);
        }
        if let Some(dev) = &self.loop_dev {
            let _ = run("losetup", &["-d", dev]);
        }
        // The agents are gone (the rack is dropped first); what node-a's resource started (the
        // test service's `sleep`) is still in the cgroup: kill it, then remove the cgroup.
        for _ in 0..50 {
            let procs = fs::read_to_string(self.cgroup.join("cgroup.procs")).unwrap_or_default();
            for pid in procs.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
                if let Some(pid) = rustix::process::Pid::from_raw(pid) {
                    let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
                }
            }
            if fs::remove_dir(&self.cgroup).is_ok() || !self.cgroup.exists() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = fs::remove_dir_all(self.image.parent().unwrap_or(Path::new("/nonexistent")));
    }
}

fn status(rack: &Rack, member: &str) -> Value {
    rack.try_status(member).unwrap_or_else(|e| panic!("{member}: status: {e}\n{}", rack.table()))
}

fn waiting(status: &Value) -> u64 {
    status["journal_queue"]["waiting"].as_u64().expect("journal_queue.waiting in status")
}

/// Lines of `path` from `offset` on.
fn log_since(path: &Path, offset: usize) -> Vec<String> {
    let text = fs::read_to_string(path).unwrap_or_default();
    text.get(offset..).unwrap_or("").lines().map(str::to_string).collect()
}

#[test]
#[ignore = "needs root, a loop device and the blkio cgroup: make test-slow-disk"]
fn a_slow_disk_under_a_member_never_delays_its_heartbeats_and_loses_no_record() {
    let disk = SlowDisk::create().unwrap_or_else(|e| panic!("cannot build the slow disk: {e}"));
    let probe_ms = disk.probe_fsync_ms().unwrap_or_else(|e| panic!("probe: {e}"));
    println!("one fdatasync on the throttled device: {probe_ms} ms");
    assert!(probe_ms >= MIN_SLOW_FSYNC_MS, "the throttle does not slow fsync ({probe_ms} ms)");

    let timing = Timing::default();
    let mount = disk.mount.clone();
    let mut rack = failover_rack_prepared(Rack::builder("slow-disk").timing(timing), |dir| {
        std::os::unix::fs::symlink(&mount, dir.join("state-node-a")).expect("state-node-a link");
    })
    .unwrap_or_else(|e| panic!("{e}"));
    let pid: u32 = fs::read_to_string(rack.dir().join("pid-node-a")).unwrap().trim().parse().unwrap();
    disk.add(pid).unwrap_or_else(|e| panic!("{e}"));

    // Everything up and node-a running the service; its highest generation seen went through
    // the slow disk before its resources started.
    rack.wait_for(Duration::from_secs(60), || {
        rack.everything_up()
            && rack.try_status("node-a").is_ok_and(|s| resources_state(&s).as_deref() == Some("running"))
    })
    .unwrap_or_else(|e| panic!("the cluster did not form with node-a holding: {e}\n{}", rack.table()));
    rack.wait_for(Duration::from_secs(60), || rack.try_status("node-a").is_ok_and(|s| waiting(&s) == 0))
        .unwrap_or_else(|e| panic!("node-a's start records did not reach the disk: {e}"));
    let witness = status(&rack, "witness");
    let generation = witness["authority"]["generation"].as_u64().unwrap();
    assert_eq!(witness["authority"]["holder"], "node-a");
    let before: Vec<(&str, Value)> = MEMBERS.iter().map(|m| (*m, status(&rack, m))).collect();
    let log_offsets: Vec<usize> = MEMBERS
        .iter()
        .map(|m| fs::read_to_string(rack.dir().join(format!("{m}.log"))).map(|t| t.len()).unwrap_or(0))
        .collect();
    let stalls_before = before[1].1["stalls"]["count"].as_u64().unwrap();
    let busy_before = before[1].1["stalls"]["busy_count"].as_u64().unwrap();
    println!("formed, node-a holds generation {generation}:\n{}", rack.table());

    // The flaps, with node-a's status read every 100 ms throughout.
    let cables: Vec<_> = FLAP_LINKS.iter().map(|(id, _)| rack.cable(*id)).collect();
    let mut max_waiting = 0;
    let mut watch = |rack: &Rack, for_ms: u64| {
        let until = Instant::now() + Duration::from_millis(for_ms);
        while Instant::now() < until {
            let s = status(rack, "node-a");
            max_waiting = max_waiting.max(waiting(&s));
            for m in s["members"].as_array().unwrap() {
                assert_eq!(m["state"], "reachable", "node-a lost a member while its disk was slow: {m}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    let started = Instant::now();
    for _ in 0..FLAPS {
        cables.iter().for_each(|c| c.cut());
        watch(&rack, timing.dead_ms + 400);
        cables.iter().for_each(|c| c.heal());
        watch(&rack, timing.dead_ms + 400);
    }
    println!(
        "{FLAPS} flaps of links {FLAP_LINKS:?} in {:?}; at most {max_waiting} writes waited",
        started.elapsed()
    );

    // Let the disk catch up.
    let drained = rack
        .wait_for(Duration::from_secs(120), || rack.try_status("node-a").is_ok_and(|s| waiting(&s) == 0))
        .unwrap_or_else(|e| panic!("node-a's journal queue did not drain: {e}"));
    println!("node-a's queue drained {drained:?} after the last flap");

    // The loop never waited: no unreachable member, no other link down, no stall.
    for (i, member) in MEMBERS.iter().enumerate() {
        let path = rack.dir().join(format!("{member}.log"));
        for line in log_since(&path, log_offsets[i]) {
            if let Some(t) = parse_member_transition(&line) {
                assert_ne!(t.to, "unreachable", "{member} declared {} unreachable: {line}", t.member);
            }
        }
    }
    for (member, old) in &before {
        let now = status(&rack, member);
        for id in links_of(member) {
            if FLAP_LINKS.iter().any(|(flapped, _)| *flapped == id) {
                continue;
            }
            assert_eq!(
                link_counter(&now, id, "downs"),
                link_counter(old, id, "downs"),
                "{member}: link {id} went down while node-a's disk was slow"
            );
        }
    }
    let node_a = status(&rack, "node-a");
    assert_eq!(node_a["stalls"]["count"].as_u64().unwrap(), stalls_before, "node-a's loop stalled");
    // Nor did it block in a system call: no iteration worked `stall_warn_ms` without sleeping.
    assert_eq!(
        node_a["stalls"]["busy_count"].as_u64().unwrap(),
        busy_before,
        "node-a's loop blocked (busy_max_us {})",
        node_a["stalls"]["busy_max_us"]
    );
    assert_eq!(resources_state(&node_a).as_deref(), Some("running"));
    let witness = status(&rack, "witness");
    assert_eq!(witness["authority"]["holder"], "node-a");
    assert_eq!(witness["authority"]["generation"].as_u64().unwrap(), generation, "a failover happened");
    let fence_log = fs::read_to_string(rack.dir().join("fence.log")).unwrap_or_default();
    assert!(!fence_log.lines().any(|l| l.starts_with("off")), "something was fenced:\n{fence_log}");
    assert!(
        max_waiting >= 3,
        "writes never piled up ({max_waiting}): the disk was not slow for the agent, so this showed nothing"
    );
    assert_eq!(node_a["journal_queue"]["dropped"], 0);

    // Every transition of the flapped links node-a logged is in its journal, in the same order.
    let batch = ha_agent::journal::read_dir(
        &disk.mount.join("journal"),
        ha_agent::journal::Since::AfterSeq(0),
        ha_agent::journal::MAX_READ_RECORDS,
    )
    .unwrap();
    let window = log_since(&rack.dir().join("node-a.log"), log_offsets[1]);
    for (id, peer) in FLAP_LINKS {
        let logged: Vec<String> = window
            .iter()
            .filter_map(|l| parse_link_transition(l))
            .filter(|t| t.id == id && t.peer == peer)
            .map(|t| format!("{} -> {}", t.from, t.to))
            .collect();
        // The journal words a transition `link ID TO (was FROM)` (shell::words); the log line
        // is the same record (shell::fanout), read here by the bench's parser.
        let mark = format!("link {id} ");
        let journaled: Vec<String> = batch
            .records
            .iter()
            .map(|r| r.to_string())
            .filter(|r| r.contains(peer))
            .filter_map(|r| {
                let (_, words) = r.split_once(&mark)?;
                let (to, rest) = words.split_once(" (was ")?;
                let from = rest.split(')').next()?;
                Some(format!("{from} -> {to}"))
            })
            .collect();
        println!(
            "node-a logged {} transitions of link {id}; its journal holds {}",
            logged.len(),
            journaled.len()
        );
        assert!(logged.len() >= FLAPS * 2, "the flaps of link {id} did not show in node-a's log: {logged:?}");
        // The journal also holds the transitions from the cluster's start, before the window.
        assert!(
            journaled.ends_with(&logged),
            "link {id}: journal and log differ:\n log: {logged:?}\n journal tail: {:?}",
            &journaled[journaled.len().saturating_sub(logged.len())..]
        );
    }
    let seqs: Vec<u64> = batch.records.iter().map(|r| r.seq).collect();
    assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1), "journal sequence has gaps: {seqs:?}");

    for (member, result) in rack.shutdown() {
        if let Err(e) = result {
            panic!("{member}: {e}");
        }
    }
    drop(rack);
    drop(disk);
}
