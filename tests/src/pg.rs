//! PostgreSQL 15 under Debian's unmodified resource agents, for `tests/tests/process_pgsql.rs`.
//!
//! [`PgRig`] builds two "machines" on this one: a network namespace per node (`hapg-PID-a`,
//! `hapg-PID-b`) joined by veth pairs to a bridge in the host namespace, where the witness and
//! the test's client run; the shared array (ext4 on a loop device) holding an initdb'd
//! PostgreSQL data directory; and the scripts the rack uses: `power` (cut or restore a node's
//! power: every process in its namespace dies, its NIC goes dark and the floating address it
//! held in RAM is gone) and `fence` (the relay stand-in following the fence-agents
//! convention, which calls `power`).
//!
//! Each node's agent is started by [`PgRig::command_prefix`]: `ip netns exec` (its own
//! network namespace and a private mount namespace, so that one node's Filesystem and IPaddr2
//! never see the other's mount and address), and in there a private tmpfs over the
//! PostgreSQL socket directory and over `/run/resource-agents` (every machine has its own
//! `/run`). A restarted agent gets a fresh mount namespace: what the "powered off" node had
//! mounted is gone with its processes. The agents' UDP heartbeats cross into the namespaces
//! through [`PgRig::udp_end_map`] (a datagram forwarder per UDP end): the cables of the
//! harness listen on the host's loopback.
//!
//! The observers: [`Client`] commits numbered rows through the floating address with `psql`
//! and records each acknowledgement; [`Sampler`] counts, every 50 ms, the postmasters running
//! on the data directory and the mount namespaces that have the array mounted.
//!
//! Dropping the rig kills every process in the namespaces (PostgreSQL included), deletes the
//! namespaces, bridge and veths, detaches the loop device and removes the directory (kept,
//! except the image, when the drop happens during a panic).

#![forbid(unsafe_code)]

use std::collections::{HashSet, VecDeque};
use std::ffi::OsString;
use std::fs;
use std::io::{self, Read as _};
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::os::fd::AsFd;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rustix::event::{PollFd, PollFlags, Timespec};

use crate::bench::stat_field;
use crate::harness::UdpEndMap;

/// Where Debian's `resource-agents` puts the OCF agents.
pub const OCF_DIR: &str = "/usr/lib/ocf/resource.d/heartbeat";
/// PostgreSQL 15's programs.
pub const PG_BIN: &str = "/usr/lib/postgresql/15/bin";
/// The port of our PostgreSQL (the Debian cluster may hold 5432 in the host namespace).
pub const PG_PORT: u16 = 54329;
/// The node's interface in its namespace (the same name on both nodes: one IPaddr2 `nic`).
pub const NIC: &str = "pgnet0";
/// Size of the shared array's image.
const IMAGE_BYTES: u64 = 256 << 20;
/// Bound on killing every process of a namespace (they must be gone, or the rig says so).
const KILL_TIMEOUT: Duration = Duration::from_secs(10);
/// Bound on one setup command (mkfs, initdb, the single-user backend).
const COMMAND_TIMEOUT: Duration = Duration::from_secs(120);
/// Bound on one client transaction: a `psql` still running this long is killed (a request
/// into a powered-off node's address would otherwise wait for TCP to give up).
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(4);
/// The client's pause after a failed attempt (the service is moving: no busy loop).
const RETRY_PAUSE: Duration = Duration::from_millis(50);
/// How often the sampler looks.
pub const SAMPLE_INTERVAL: Duration = Duration::from_millis(50);
/// Bound on one forwarder poll, so that it notices the rig's stop flag.
const FORWARD_POLL: Duration = Duration::from_millis(100);

/// Why the rig could not be built.
#[derive(Debug)]
pub enum Setup {
    /// Not root, or a tool or package missing: a skip where allowed.
    Unavailable(String),
    /// Something that should have worked did not.
    Failed(String),
}

/// What this test needs that may be missing: root, iproute2, util-linux, e2fsprogs, kmod and
/// psmisc (Filesystem checks for modprobe and fuser), resource-agents, PostgreSQL 15.
pub fn missing_prerequisites() -> Vec<String> {
    let mut missing = Vec::new();
    if !rustix::process::geteuid().is_root() {
        missing.push("root".to_string());
    }
    let on_path = |name: &str| {
        std::env::var_os("PATH")
            .map(|path| std::env::split_paths(&path).any(|dir| dir.join(name).is_file()))
            .unwrap_or(false)
            || ["/usr/sbin", "/sbin"].iter().any(|dir| Path::new(dir).join(name).is_file())
    };
    for tool in ["ip", "losetup", "mkfs.ext4", "mount", "umount", "runuser", "modprobe", "fuser"] {
        if !on_path(tool) {
            missing.push(tool.to_string());
        }
    }
    for agent in ["Filesystem", "IPaddr2", "pgsql"] {
        let path = Path::new(OCF_DIR).join(agent);
        if !path.is_file() {
            missing.push(format!("{} (package resource-agents)", path.display()));
        }
    }
    for program in ["initdb", "pg_ctl", "postgres", "psql"] {
        let path = Path::new(PG_BIN).join(program);
        if !path.is_file() {
            missing.push(format!("{} (package postgresql-15)", path.display()));
        }
    }
    if run("id", &["-u", "postgres"]).is_err() {
        missing.push("user postgres".to_string());
    }
    missing
}

/// Run `program args`, bounded by [`COMMAND_TIMEOUT`]: its stdout, or what went wrong.
pub fn run(program: &str, args: &[&str]) -> Result<String, String> {
    run_with_input(program, args, None)
}

fn run_with_input(program: &str, args: &[&str], input: Option<&str>) -> Result<String, String> {
    let what = format!("{program} {}", args.join(" "));
    let mut child = Command::new(program)
        .args(args)
        .stdin(if input.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("{what}: {e}"))?;
    if let (Some(text), Some(mut stdin)) = (input, child.stdin.take()) {
        use std::io::Write as _;
        stdin.write_all(text.as_bytes()).map_err(|e| format!("{what}: writing stdin: {e}"))?;
    }
    let (stdout, stderr) = (child.stdout.take(), child.stderr.take());
    let readers = [stdout.map(read_all), stderr.map(read_all)];
    let started = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if started.elapsed() < COMMAND_TIMEOUT => std::thread::sleep(Duration::from_millis(5)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("{what}: still running after {COMMAND_TIMEOUT:?}; killed"));
            }
            Err(e) => return Err(format!("{what}: waiting: {e}")),
        }
    };
    let [out, err] = readers.map(|r| r.map(|h| h.join().unwrap_or_default()).unwrap_or_default());
    if status.success() {
        Ok(out.trim().to_string())
    } else {
        Err(format!("{what}: {status}: {}{}", err.trim(), out.trim()))
    }
}

fn read_all(mut pipe: impl io::Read + Send + 'static) -> JoinHandle<String> {
    std::thread::spawn(move || {
        let mut text = String::new();
        let _ = pipe.read_to_string(&mut text);
        text
    })
}

/// Which programs carry out the group's resources.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kinds {
    /// Debian's unmodified Filesystem, IPaddr2 and pgsql scripts.
    Scripts,
    /// The agent's built-in types: builtin:filesystem, builtin:ipaddr, builtin:pgsql.
    Builtin,
}

/// The two nodes and the shared array. See the module documentation.
pub struct PgRig {
    /// Directory of the rig: image, mount point, socket directory, scripts, PostgreSQL logs.
    pub base: PathBuf,
    /// Network namespaces of node-a and node-b.
    pub netns: [String; 2],
    bridge: String,
    host_veths: [String; 2],
    /// `10.251.X`: the rack's LAN.
    net: String,
    /// The floating service address.
    pub vip: Ipv4Addr,
    image: PathBuf,
    /// The loop device of the shared array.
    pub loop_dev: Option<String>,
    /// The array's mount point (the same path in every namespace).
    pub mount: PathBuf,
    /// PostgreSQL's socket directory (a private tmpfs in each node's mount namespace).
    pub sockdir: PathBuf,
    host_mounted: bool,
    made_bridge: bool,
    made_netns: Vec<String>,
    made_veths: Vec<String>,
    stop: Arc<AtomicBool>,
    forwarders: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl PgRig {
    /// Build the namespaces, the LAN, the array and the database. Needs root.
    pub fn create() -> Result<PgRig, Setup> {
        let missing = missing_prerequisites();
        if !missing.is_empty() {
            return Err(Setup::Unavailable(format!("missing: {}", missing.join(", "))));
        }
        let pid = std::process::id();
        let base = std::env::temp_dir().join(format!("hapg-{pid}"));
        let _ = fs::remove_dir_all(&base);
        fs::create_dir_all(&base).map_err(|e| Setup::Failed(format!("{}: {e}", base.display())))?;
        // PostgreSQL (user postgres) writes its log here and checks the socket directory.
        let _ = fs::set_permissions(&base, fs::Permissions::from_mode(0o755));
        let net = free_subnet(pid).map_err(Setup::Failed)?;
        let mut rig = PgRig {
            mount: base.join("array"),
            sockdir: base.join("sock"),
            image: base.join("array.img"),
            base,
            netns: [format!("hapg-{pid}-a"), format!("hapg-{pid}-b")],
            bridge: format!("hapg{pid}br"),
            host_veths: [format!("hapg{pid}a"), format!("hapg{pid}b")],
            vip: format!("{net}.100").parse().expect("an IPv4 address"),
            net,
            loop_dev: None,
            host_mounted: false,
            made_bridge: false,
            made_netns: Vec::new(),
            made_veths: Vec::new(),
            stop: Arc::new(AtomicBool::new(false)),
            forwarders: Arc::new(Mutex::new(Vec::new())),
        };
        rig.build_network().map_err(Setup::Failed)?;
        rig.build_array().map_err(Setup::Failed)?;
        rig.write_scripts().map_err(Setup::Failed)?;
        Ok(rig)
    }

    fn build_network(&mut self) -> Result<(), String> {
        let net = self.net.clone();
        run("ip", &["link", "add", &self.bridge, "type", "bridge"])?;
        self.made_bridge = true;
        run("ip", &["addr", "add", &format!("{net}.1/24"), "dev", &self.bridge])?;
        run("ip", &["link", "set", &self.bridge, "up"])?;
        // A gratuitous ARP from the new holder updates the host's entry for the address at once.
        let _ = fs::write(format!("/proc/sys/net/ipv4/conf/{}/arp_accept", self.bridge), "1");
        for index in 0..2 {
            let ns = self.netns[index].clone();
            let host_end = self.host_veths[index].clone();
            let inner = format!("{host_end}i");
            run("ip", &["netns", "add", &ns])?;
            self.made_netns.push(ns.clone());
            run("ip", &["link", "add", &host_end, "type", "veth", "peer", "name", &inner])?;
            self.made_veths.push(host_end.clone());
            run("ip", &["link", "set", &inner, "netns", &ns])?;
            run("ip", &["-n", &ns, "link", "set", &inner, "name", NIC])?;
            run("ip", &["-n", &ns, "link", "set", "lo", "up"])?;
            run("ip", &["-n", &ns, "addr", "add", &format!("{net}.{}/24", 11 + index), "dev", NIC])?;
            run("ip", &["-n", &ns, "link", "set", NIC, "up"])?;
            run("ip", &["link", "set", &host_end, "master", &self.bridge, "up"])?;
        }
        Ok(())
    }

    fn build_array(&mut self) -> Result<(), String> {
        fs::File::create(&self.image)
            .and_then(|f| f.set_len(IMAGE_BYTES))
            .map_err(|e| format!("{}: {e}", self.image.display()))?;
        let dev = run("losetup", &["--find", "--show", &path_str(&self.image)])?;
        self.loop_dev = Some(dev.clone());
        run("mkfs.ext4", &["-q", "-E", "lazy_itable_init=0,lazy_journal_init=0", &dev])?;
        for dir in [&self.mount, &self.sockdir] {
            fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        }
        // The initdb happens on the host, before any node exists; the array is unmounted again
        // before the agents start.
        run("mount", &[&dev, &path_str(&self.mount)])?;
        self.host_mounted = true;
        let pgdata = path_str(&self.pgdata());
        run("install", &["-d", "-o", "postgres", "-g", "postgres", "-m", "0700", &pgdata])?;
        run(
            "runuser",
            &[
                "-u",
                "postgres",
                "--",
                &format!("{PG_BIN}/initdb"),
                "--no-sync",
                "-D",
                &pgdata,
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
            ],
        )?;
        let conf = format!(
            "\n# ha-tests: the PostgreSQL of process_pgsql.rs\nport = {PG_PORT}\nlisten_addresses = '*'\n\
             unix_socket_directories = '{}'\nshared_buffers = 16MB\nmax_connections = 30\n\
             min_wal_size = 32MB\nmax_wal_size = 64MB\nfsync = on\nsynchronous_commit = on\n\
             # After a crash, one syncfs of the array instead of an fsync of every file.\n\
             recovery_init_sync_method = syncfs\n",
            self.sockdir.display()
        );
        append(&self.config_file(), &conf)?;
        append(&self.pgdata().join("pg_hba.conf"), &format!("host all all {}.0/24 trust\n", self.net))?;
        run_with_input(
            "runuser",
            &["-u", "postgres", "--", &format!("{PG_BIN}/postgres"), "--single", "-D", &pgdata, "postgres"],
            Some(
                "CREATE TABLE acks (n integer PRIMARY KEY, server_started timestamptz DEFAULT pg_postmaster_start_time());\n",
            ),
        )?;
        run("umount", &[&path_str(&self.mount)])?;
        self.host_mounted = false;
        // For the nodes' private /run/resource-agents (the resource agents create it anyway).
        fs::create_dir_all("/run/resource-agents").map_err(|e| format!("/run/resource-agents: {e}"))?;
        Ok(())
    }

    fn write_scripts(&self) -> Result<(), String> {
        let power = POWER
            .replace("@BASE@", &path_str(&self.base))
            .replace("@NIC@", NIC)
            .replace("@VIP@", &self.vip.to_string());
        let fence = FENCE
            .replace("@BASE@", &path_str(&self.base))
            .replace("@NSA@", &self.netns[0])
            .replace("@NSB@", &self.netns[1]);
        for (name, text) in [("power", power), ("fence", fence)] {
            let path = self.base.join(name);
            fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
            fs::set_permissions(&path, fs::Permissions::from_mode(0o755))
                .map_err(|e| format!("{}: {e}", path.display()))?;
        }
        Ok(())
    }

    pub fn pgdata(&self) -> PathBuf {
        self.mount.join("pgdata")
    }

    pub fn config_file(&self) -> PathBuf {
        self.pgdata().join("postgresql.conf")
    }

    fn index(member: &str) -> usize {
        match member {
            "node-a" => 0,
            "node-b" => 1,
            other => panic!("{other} is not a node"),
        }
    }

    /// The network namespace of `member` (a node).
    pub fn netns_of(&self, member: &str) -> &str {
        &self.netns[Self::index(member)]
    }

    /// How the harness starts `member`'s agent: in its network namespace and a private mount
    /// namespace, with its own tmpfs over the socket directory and `/run/resource-agents`.
    pub fn command_prefix(&self, member: &str) -> Vec<OsString> {
        let sock = path_str(&self.sockdir);
        let boot = format!(
            "mount -t tmpfs -o mode=2775,size=1m hapg-sock '{sock}' && chown postgres:postgres '{sock}' && \
             mount -t tmpfs -o mode=0755,size=4m hapg-rsc /run/resource-agents && exec \"$@\""
        );
        ["ip", "netns", "exec", self.netns_of(member), "sh", "-c", &boot, "hapg-boot"]
            .iter()
            .map(OsString::from)
            .collect()
    }

    /// The harness's UDP ends of `member`: a forwarder per end between the cable on the host's
    /// loopback and the agent on its namespace's loopback (see the module documentation). The
    /// forwarders run at SCHED_FIFO `priority` (0: normal scheduling), as the cables should.
    pub fn udp_end_map(&self, member: &str, priority: u8) -> UdpEndMap {
        let netns = PathBuf::from("/run/netns").join(self.netns_of(member));
        let (stop, forwarders) = (self.stop.clone(), self.forwarders.clone());
        Box::new(move |id, host_side, cable_port| {
            let forwarder = Forwarder::open(&netns, host_side, cable_port)?;
            let (local, remote) = (forwarder.agent, forwarder.inner.local_addr()?);
            let stop = stop.clone();
            let handle = std::thread::Builder::new().name(format!("udp-fwd-{id}")).spawn(move || {
                if priority > 0 {
                    if let Err(e) = ha_agent::shell::sys::set_realtime_priority(priority) {
                        log::warn!("udp forwarder: no real-time priority ({e})");
                    }
                }
                forwarder.run(&stop)
            })?;
            forwarders.lock().unwrap_or_else(|p| p.into_inner()).push(handle);
            Ok((local, remote))
        })
    }

    /// The `[authority]` and `[resources]` of a node: Filesystem, IPaddr2 and pgsql as they are
    /// (`Kinds::Scripts`), or the same resources through the agent's built-in types
    /// (`Kinds::Builtin`: the script's `psql` and `pgdb` are not builtin:pgsql's).
    pub fn node_extra(&self, member: &str, kinds: Kinds) -> String {
        let dev = self.loop_dev.clone().unwrap_or_default();
        let (fs, ip, db, pg_extra) = match kinds {
            Kinds::Scripts => (
                format!("{OCF_DIR}/Filesystem"),
                format!("{OCF_DIR}/IPaddr2"),
                format!("{OCF_DIR}/pgsql"),
                format!(r#"psql = "{PG_BIN}/psql", pgdb = "postgres", "#),
            ),
            Kinds::Builtin => {
                ("builtin:filesystem".into(), "builtin:ipaddr".into(), "builtin:pgsql".into(), String::new())
            }
        };
        format!(
            r#"
[authority]
self_fence_ms = 2000
margin_ms = 1000

[resources]
max_restarts = 3
restart_window_s = 300

[[resources.group]]
name = "fs"
agent = "{fs}"
params = {{ device = "{dev}", directory = "{mount}", fstype = "ext4" }}
start_timeout_ms = 20000
stop_timeout_ms = 20000
monitor_timeout_ms = 10000
monitor_interval_ms = 1000

[[resources.group]]
name = "ip"
agent = "{ip}"
params = {{ ip = "{vip}", cidr_netmask = "24", nic = "{NIC}" }}
start_timeout_ms = 20000
stop_timeout_ms = 20000
monitor_timeout_ms = 10000
monitor_interval_ms = 1000

# stop_timeout_ms 30 s: pgsql waits stop_escalate = timeout - 10 s for a fast shutdown before
# it shuts down immediately (at 10 s or less it never tries the fast one).
[[resources.group]]
name = "db"
agent = "{db}"
params = {{ pgctl = "{PG_BIN}/pg_ctl", {pg_extra}pgdata = "{pgdata}", config = "{config}", pgport = "{PG_PORT}", socketdir = "{sock}", logfile = "{base}/postgres-{member}.log" }}
start_timeout_ms = 60000
stop_timeout_ms = 30000
monitor_timeout_ms = 10000
monitor_interval_ms = 1000
"#,
            mount = path_str(&self.mount),
            vip = self.vip,
            pgdata = path_str(&self.pgdata()),
            config = path_str(&self.config_file()),
            sock = path_str(&self.sockdir),
            base = path_str(&self.base),
        )
    }

    /// The witness's `[authority]` and its relay: the `fence` stand-in.
    pub fn witness_extra(&self) -> String {
        let fence = path_str(&self.base.join("fence"));
        let mut text = String::from(
            "\n[authority]\npreferred = \"node-a\"\nself_fence_ms = 2000\nmargin_ms = 1000\n\
             fence_retry_initial_ms = 500\nfence_retry_max_ms = 2000\n\n[relay]\n",
        );
        for node in ["node-a", "node-b"] {
            text.push_str(&format!(
                "\n[[relay.channels]]\nnode = \"{node}\"\nboard = \"command\"\ncommand = \"{fence}\"\nplug = \"{node}\"\ntimeout_ms = 15000\n"
            ));
        }
        text
    }

    /// Cut `member`'s power (the `power` script: what the relay's off does).
    pub fn power_off(&self, member: &str) -> Result<(), String> {
        run(&path_str(&self.base.join("power")), &["off", self.netns_of(member)]).map(|_| ())
    }

    /// The fence log: `ACTION PLUG` lines.
    pub fn fence_log(&self) -> String {
        fs::read_to_string(self.base.join("fence.log")).unwrap_or_default()
    }

    /// Whether the relay stand-in powered `member` on again since it was cut.
    pub fn powered_on(&self, member: &str) -> bool {
        self.base.join(format!("on-{}", self.netns_of(member))).exists()
    }

    /// Pids of the processes in `member`'s network namespace.
    pub fn processes_of(&self, member: &str) -> Vec<i32> {
        run("ip", &["netns", "pids", self.netns_of(member)])
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .collect()
    }

    /// Whether the floating address is on `member`'s interface.
    pub fn holds_vip(&self, member: &str) -> bool {
        run("ip", &["-n", self.netns_of(member), "-o", "-4", "addr", "show", "dev", NIC])
            .is_ok_and(|text| text.contains(&format!(" {}/", self.vip)))
    }

    /// Whether the host namespace (this process) has the address.
    pub fn host_has_vip(&self) -> bool {
        run("ip", &["-o", "-4", "addr", "show"]).is_ok_and(|text| text.contains(&format!(" {}/", self.vip)))
    }

    /// The postmasters running on the shared data directory, anywhere on this machine.
    pub fn postmasters(&self) -> Vec<i32> {
        postmasters_of(&self.pgdata())
    }

    /// Whether process `pid`'s mount namespace has the array mounted.
    pub fn mounted_for(&self, pid: i32) -> bool {
        mounted_in(pid, &self.mount)
    }

    /// The tail of `member`'s PostgreSQL log.
    pub fn postgres_log_tail(&self, member: &str, lines: usize) -> String {
        let text = fs::read_to_string(self.base.join(format!("postgres-{member}.log"))).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// `psql` through the floating address, bounded: its output (unaligned, tuples only).
    pub fn query(&self, sql: &str) -> Result<String, String> {
        let conn = connection_string(self.vip);
        run(&format!("{PG_BIN}/psql"), &[&conn, "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql])
    }

    /// Kill every process of `ns` until none is left (bounded).
    fn kill_namespace(ns: &str) -> Result<(), String> {
        let started = Instant::now();
        loop {
            let pids: Vec<i32> = match run("ip", &["netns", "pids", ns]) {
                Ok(text) => text.lines().filter_map(|l| l.trim().parse().ok()).collect(),
                Err(_) => return Ok(()),
            };
            if pids.is_empty() {
                return Ok(());
            }
            if started.elapsed() > KILL_TIMEOUT {
                return Err(format!("processes survive in {ns} after {KILL_TIMEOUT:?}: {pids:?}"));
            }
            for pid in pids {
                kill9(pid);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for PgRig {
    fn drop(&mut self) {
        let failed = std::thread::panicking();
        self.stop.store(true, Ordering::Relaxed);
        for handle in self.forwarders.lock().unwrap_or_else(|p| p.into_inner()).drain(..) {
            let _ = handle.join();
        }
        for ns in &self.made_netns {
            if let Err(problem) = PgRig::kill_namespace(ns) {
                eprintln!("pg rig: {problem}");
            }
        }
        // A postmaster outside the namespaces (none is started there, but make sure).
        let started = Instant::now();
        while !self.postmasters().is_empty() && started.elapsed() < KILL_TIMEOUT {
            self.postmasters().into_iter().for_each(kill9);
            std::thread::sleep(Duration::from_millis(20));
        }
        if self.host_mounted {
            let _ = run("umount", &["-l", &path_str(&self.mount)]);
        }
        for ns in &self.made_netns {
            let _ = run("ip", &["netns", "del", ns]);
        }
        for veth in &self.made_veths {
            // Gone with its peer's namespace, unless that step failed.
            let _ = run("ip", &["link", "del", veth]);
        }
        if self.made_bridge {
            let _ = run("ip", &["link", "del", &self.bridge]);
        }
        if let Some(dev) = &self.loop_dev {
            // The last mount went with its namespace; wait (bounded) for the kernel to let go.
            let started = Instant::now();
            while run("losetup", &["-d", dev]).is_err() && started.elapsed() < KILL_TIMEOUT {
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        let _ = fs::remove_file(&self.image);
        if failed {
            for member in ["node-a", "node-b"] {
                eprintln!(
                    "---- {member}: last lines of PostgreSQL's log ----\n{}",
                    self.postgres_log_tail(member, 30)
                );
            }
            eprintln!("---- fence log ----\n{}", self.fence_log());
            eprintln!("pg rig directory kept: {}", self.base.display());
        } else {
            let _ = fs::remove_dir_all(&self.base);
        }
    }
}

/// `power off|on|status NAMESPACE`: a node's power. Off: the NIC goes dark, every process in
/// the namespace dies (the agent, PostgreSQL, an action in flight: the mount namespace goes
/// with them, and the array's mount with it), the floating address in its RAM is gone.
const POWER: &str = r#"#!/bin/sh
# Power of one node of the PostgreSQL test: its network namespace (see tests/src/pg.rs).
base="@BASE@"; nic="@NIC@"; vip="@VIP@"
action="$1"; ns="$2"
case "$action" in
off)
    touch "$base/off-$ns"
    rm -f "$base/on-$ns"
    ip -n "$ns" link set "$nic" down || exit 1
    i=0
    while pids=$(ip netns pids "$ns") && [ -n "$pids" ]; do
        # shellcheck disable=SC2086
        kill -9 $pids 2>/dev/null
        i=$((i + 1))
        if [ "$i" -ge 500 ]; then echo "power off: processes survive in $ns: $pids" >&2; exit 1; fi
        sleep 0.01
    done
    ip -n "$ns" addr del "$vip/24" dev "$nic" 2>/dev/null
    exit 0 ;;
on)
    ip -n "$ns" link set "$nic" up || exit 1
    rm -f "$base/off-$ns"
    touch "$base/on-$ns"
    exit 0 ;;
status)
    [ -f "$base/off-$ns" ] && exit 2
    exit 0 ;;
esac
exit 1
"#;

/// The relay stand-in (fence-agents convention: key=value lines on stdin).
const FENCE: &str = r#"#!/bin/sh
# Relay stand-in of the PostgreSQL test: each plug is a node's power (see tests/src/pg.rs).
base="@BASE@"
action=""; plug=""
while IFS='=' read -r k v; do
    case "$k" in action) action="$v" ;; plug|port) plug="$v" ;; esac
done
echo "$action $plug" >> "$base/fence.log"
case "$plug" in
node-a) ns="@NSA@" ;;
node-b) ns="@NSB@" ;;
*) exit 1 ;;
esac
case "$action" in
off|on|status) exec "$base/power" "$action" "$ns" ;;
monitor) exec "$base/power" status "$ns" ;;
esac
exit 1
"#;

/// A `10.251.X` subnet no address or route of the host uses.
fn free_subnet(pid: u32) -> Result<String, String> {
    let routes = run("ip", &["-4", "route", "show", "table", "all"])?;
    let addrs = run("ip", &["-4", "-o", "addr", "show"])?;
    for step in 0..250u32 {
        let net = format!("10.251.{}", (pid + step) % 250 + 1);
        let prefix = format!("{net}.");
        if !routes.contains(&prefix) && !addrs.contains(&prefix) {
            return Ok(net);
        }
    }
    Err("no free 10.251.X.0/24 subnet".to_string())
}

fn append(path: &Path, text: &str) -> Result<(), String> {
    use std::io::Write as _;
    fs::OpenOptions::new()
        .append(true)
        .open(path)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .map_err(|e| format!("{}: {e}", path.display()))
}

fn path_str(path: &Path) -> String {
    path.display().to_string()
}

fn kill9(pid: i32) {
    if let Some(pid) = rustix::process::Pid::from_raw(pid) {
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
    }
}

fn proc_pids() -> Vec<i32> {
    fs::read_dir("/proc")
        .map(|dir| dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok()).collect())
        .unwrap_or_default()
}

/// Postmasters on `pgdata`: processes whose command line is `.../postgres ... -D PGDATA ...`
/// and whose parent is not one (a child the postmaster just forked has its command line until
/// it sets its own title; a zombie has none).
pub fn postmasters_of(pgdata: &Path) -> Vec<i32> {
    let want = pgdata.as_os_str().as_encoded_bytes();
    let servers: Vec<(i32, Option<i32>)> = proc_pids()
        .into_iter()
        .filter(|pid| {
            let Ok(cmdline) = fs::read(format!("/proc/{pid}/cmdline")) else { return false };
            let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
            let is_postgres =
                args.first().is_some_and(|a| a.ends_with(b"/postgres") || *a == &b"postgres"[..]);
            is_postgres && args.windows(2).any(|w| w[0] == &b"-D"[..] && w[1] == want)
        })
        .map(|pid| {
            let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            (pid, stat_field(&stat, 4).and_then(|ppid| ppid.parse().ok()))
        })
        .collect();
    servers
        .iter()
        .filter(|(_, ppid)| !servers.iter().any(|(pid, _)| Some(*pid) == *ppid))
        .map(|(pid, _)| *pid)
        .collect()
}

/// Whether `mount` is a mount point in `pid`'s mount namespace.
pub fn mounted_in(pid: i32, mount: &Path) -> bool {
    let want = mount.display().to_string();
    fs::read_to_string(format!("/proc/{pid}/mountinfo"))
        .is_ok_and(|text| text.lines().any(|line| line.split(' ').nth(4) == Some(want.as_str())))
}

/// The mount namespaces (one pid of each) in which `mount` is mounted, on this machine.
pub fn namespaces_mounting(mount: &Path) -> Vec<i32> {
    let mut seen = HashSet::new();
    let mut found = Vec::new();
    for pid in proc_pids() {
        let Ok(ns) = fs::read_link(format!("/proc/{pid}/ns/mnt")) else { continue };
        if seen.insert(ns) && mounted_in(pid, mount) {
            found.push(pid);
        }
    }
    found
}

/// One UDP end of a node: `outer` (host namespace) where the cable sends the node's datagrams,
/// `inner` (node's namespace) where the agent sends its own, `agent` the agent's address there.
struct Forwarder {
    outer: UdpSocket,
    inner: UdpSocket,
    cable: SocketAddr,
    agent: SocketAddr,
}

impl Forwarder {
    fn open(netns: &Path, host_side: SocketAddr, cable: SocketAddr) -> io::Result<Forwarder> {
        let outer = UdpSocket::bind(host_side)?;
        let netns = netns.to_path_buf();
        // A socket belongs to the network namespace it was made in: make these two in a thread
        // that moved into the node's namespace (and ends there).
        let (inner, agent) = std::thread::spawn(move || -> io::Result<(UdpSocket, SocketAddr)> {
            let file = fs::File::open(&netns)?;
            rustix::thread::move_into_link_name_space(
                file.as_fd(),
                Some(rustix::thread::LinkNameSpaceType::Network),
            )?;
            let inner = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))?;
            // The agent's own address: free now, bound by the agent when it starts.
            let agent = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))?.local_addr()?;
            Ok((inner, agent))
        })
        .join()
        .map_err(|_| io::Error::other("the namespace thread panicked"))??;
        outer.set_nonblocking(true)?;
        inner.set_nonblocking(true)?;
        Ok(Forwarder { outer, inner, cable, agent })
    }

    fn run(self, stop: &AtomicBool) {
        let timeout = Timespec { tv_sec: 0, tv_nsec: FORWARD_POLL.as_nanos() as i64 };
        let mut buf = [0u8; 2048];
        while !stop.load(Ordering::Relaxed) {
            let mut fds = [PollFd::new(&self.inner, PollFlags::IN), PollFd::new(&self.outer, PollFlags::IN)];
            if rustix::event::poll(&mut fds, Some(&timeout)).is_err() {
                continue;
            }
            // Drain both ways; a send error (nobody listening yet) drops the datagram, as a
            // cable would.
            while let Ok(n) = self.inner.recv(&mut buf) {
                let _ = self.outer.send_to(&buf[..n], self.cable);
            }
            while let Ok(n) = self.outer.recv(&mut buf) {
                let _ = self.inner.send_to(&buf[..n], self.agent);
            }
        }
    }
}

fn connection_string(vip: Ipv4Addr) -> String {
    format!(
        "host={vip} port={PG_PORT} dbname=postgres user=postgres connect_timeout=2 tcp_user_timeout=1500 application_name=hapg-client"
    )
}

/// What the client saw.
#[derive(Debug, Default)]
pub struct ClientLog {
    /// Acknowledged rows and when the acknowledgement arrived.
    pub acks: Vec<(u64, Instant)>,
    /// Attempts that were not acknowledged (their rows may or may not be in the table).
    pub failures: u64,
    /// The latest few error messages.
    pub last_errors: VecDeque<String>,
    /// Attempts killed at [`ATTEMPT_TIMEOUT`].
    pub timeouts: u64,
}

/// Commits row after row through the floating address, one `psql` (one connection, one
/// transaction) per row; a row whose `psql` exited 0 is acknowledged. A failed row is not
/// retried (its number is skipped), so that a row acknowledged twice cannot happen.
pub struct Client {
    stop: Arc<AtomicBool>,
    log: Arc<Mutex<ClientLog>>,
    thread: Option<JoinHandle<()>>,
}

impl Client {
    pub fn start(vip: Ipv4Addr) -> Client {
        let stop = Arc::new(AtomicBool::new(false));
        let log = Arc::new(Mutex::new(ClientLog::default()));
        let thread = {
            let (stop, log) = (stop.clone(), log.clone());
            std::thread::spawn(move || {
                let conn = connection_string(vip);
                let psql = format!("{PG_BIN}/psql");
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    n += 1;
                    let outcome = attempt(&psql, &conn, n);
                    let mut log = log.lock().unwrap_or_else(|p| p.into_inner());
                    match outcome {
                        Ok(()) => log.acks.push((n, Instant::now())),
                        Err((error, timed_out)) => {
                            log.failures += 1;
                            log.timeouts += u64::from(timed_out);
                            if log.last_errors.len() == 5 {
                                log.last_errors.pop_front();
                            }
                            log.last_errors.push_back(format!("row {n}: {error}"));
                            drop(log);
                            std::thread::sleep(RETRY_PAUSE);
                        }
                    }
                }
            })
        };
        Client { stop, log, thread: Some(thread) }
    }

    /// The latest acknowledgement: (row, when).
    pub fn last_ack(&self) -> Option<(u64, Instant)> {
        self.log.lock().unwrap_or_else(|p| p.into_inner()).acks.last().copied()
    }

    /// How many rows were acknowledged so far.
    pub fn ack_count(&self) -> usize {
        self.log.lock().unwrap_or_else(|p| p.into_inner()).acks.len()
    }

    /// A copy of the acknowledgement times.
    pub fn ack_times(&self) -> Vec<Instant> {
        self.log.lock().unwrap_or_else(|p| p.into_inner()).acks.iter().map(|(_, t)| *t).collect()
    }

    /// The latest errors, for messages.
    pub fn last_errors(&self) -> Vec<String> {
        self.log.lock().unwrap_or_else(|p| p.into_inner()).last_errors.iter().cloned().collect()
    }

    /// Stop (after the attempt in flight, bounded) and hand over the log.
    pub fn finish(mut self) -> ClientLog {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        std::mem::take(&mut *self.log.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// One row: `Ok` when `psql` exited 0 (the commit was acknowledged).
fn attempt(psql: &str, conn: &str, n: u64) -> Result<(), (String, bool)> {
    let sql = format!("INSERT INTO acks (n) VALUES ({n})");
    let mut child = Command::new(psql)
        .args([conn, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-c", &sql])
        .env_clear()
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| (format!("spawning psql: {e}"), false))?;
    let started = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(status)) => {
                if status.success() {
                    return Ok(());
                }
                let mut err = String::new();
                if let Some(mut pipe) = child.stderr.take() {
                    let _ = pipe.read_to_string(&mut err);
                }
                let first = err.lines().next().unwrap_or("").trim().to_string();
                return Err((format!("{status}: {first}"), false));
            }
            Ok(None) if started.elapsed() < ATTEMPT_TIMEOUT => std::thread::sleep(Duration::from_millis(2)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err((format!("no answer within {ATTEMPT_TIMEOUT:?}"), true));
            }
            Err(e) => return Err((format!("waiting for psql: {e}"), false)),
        }
    }
}

/// The longest gap between consecutive acknowledgements from the last one before `from` to
/// the first one after `to` (the client-visible outage of an event between the two).
pub fn longest_gap(acks: &[Instant], from: Instant, to: Instant) -> Option<Duration> {
    let first = acks.iter().rposition(|t| *t <= from)?;
    let last = acks.iter().position(|t| *t >= to)?;
    acks[first..=last].windows(2).map(|w| w[1] - w[0]).max()
}

/// What the sampler saw.
#[derive(Debug, Default)]
pub struct Samples {
    pub count: u64,
    pub max_postmasters: usize,
    pub max_mounts: usize,
    /// The first few instants with two postmasters or two mounts, described.
    pub violations: Vec<String>,
    /// The longest time between two samples (the sampler itself was late).
    pub longest_interval: Duration,
}

/// Every [`SAMPLE_INTERVAL`]: the postmasters on the data directory and the mount namespaces
/// that have the array mounted.
pub struct Sampler {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<Samples>>,
}

impl Sampler {
    pub fn start(pgdata: PathBuf, mount: PathBuf) -> Sampler {
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut samples = Samples::default();
                let started = Instant::now();
                let mut last = Instant::now();
                while !stop.load(Ordering::Relaxed) {
                    let postmasters = postmasters_of(&pgdata);
                    let mounts = namespaces_mounting(&mount);
                    samples.count += 1;
                    samples.max_postmasters = samples.max_postmasters.max(postmasters.len());
                    samples.max_mounts = samples.max_mounts.max(mounts.len());
                    if (postmasters.len() > 1 || mounts.len() > 1) && samples.violations.len() < 10 {
                        samples.violations.push(format!(
                            "at {:?}: postmasters {postmasters:?}, array mounted in the namespaces of {mounts:?}",
                            started.elapsed()
                        ));
                    }
                    let now = Instant::now();
                    samples.longest_interval = samples.longest_interval.max(now - last);
                    last = now;
                    std::thread::sleep(SAMPLE_INTERVAL);
                }
                samples
            })
        };
        Sampler { stop, thread: Some(thread) }
    }

    pub fn finish(mut self) -> Samples {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.take().and_then(|t| t.join().ok()).unwrap_or_default()
    }
}

impl Drop for Sampler {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_longest_gap_spans_the_last_ack_before_to_the_first_after() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let acks = [at(0), at(100), at(200), at(1200), at(1300), at(5000)];
        assert_eq!(longest_gap(&acks, at(150), at(1250)), Some(Duration::from_millis(1000)));
        assert_eq!(longest_gap(&acks, at(210), at(1300)), Some(Duration::from_millis(1000)));
        assert_eq!(longest_gap(&acks, at(1250), at(1300)), Some(Duration::from_millis(100)));
        assert_eq!(longest_gap(&acks, at(1250), at(6000)), None);
    }

    #[test]
    fn a_postmaster_is_recognised_by_its_data_directory() {
        // This process is no postmaster; a directory no process uses has none.
        assert!(postmasters_of(Path::new("/nonexistent/pgdata")).is_empty());
    }
}
