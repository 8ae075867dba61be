//! net-snmp's command-line tools as a management station, for the process tests that ask a
//! running agent over SNMP (`process_snmp_get`, `process_fence_service`).
//!
//! Owns the MIB search path (the IETF base modules fetched by `scripts/fetch-base-mibs.sh`,
//! then `agent/mib`) and [`Station`]: one agent address, a private net-snmp directory, and the
//! tools run with RACK-HA-MIB loaded and parseable output. It knows nothing of what the agent
//! should answer; the tests compare.

#![forbid(unsafe_code)]

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Command, Output};

/// Bound on one net-snmp tool run, in seconds (with one retry).
pub const TOOL_TIMEOUT_S: &str = "2";

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// The MIB search path: the IETF base modules (fetched) and ours.
pub fn mib_dirs() -> String {
    let status = Command::new("bash").arg(repo_root().join("scripts/fetch-base-mibs.sh")).status();
    assert!(status.is_ok_and(|s| s.success()), "fetching the base MIBs failed: run `make setup`");
    format!("{}:{}", repo_root().join("out/mibs").display(), repo_root().join("agent/mib").display())
}

/// The DateAndTime net-snmp prints for Unix time `ms` (UTC, decisecond, no field padded),
/// computed with date(1).
pub fn date_and_time(ms: u64) -> String {
    let out = Command::new("date")
        .env("TZ", "UTC")
        .args(["-u", "-d", &format!("@{}", ms / 1000), "+%Y-%-m-%-d,%-H:%-M:%-S"])
        .output()
        .unwrap();
    format!("{}.{},+0:0", String::from_utf8_lossy(&out.stdout).trim(), (ms % 1000) / 100)
}

/// A management station asking one agent.
#[derive(Clone)]
pub struct Station {
    /// The MIB search path ([`mib_dirs`]).
    pub mibs: String,
    /// The agent's address as net-snmp takes it (`udp:127.0.0.1:PORT`).
    pub agent: String,
    /// A directory of the test's: net-snmp's persistent and configuration files go under it.
    pub dir: PathBuf,
}

impl Station {
    /// `tool` with the MIB, `security`, the agent's address, then `args` (objects, values).
    /// Output options: -OQs `name.index = value`; -Oe enumerations as numbers; -OU no units.
    pub fn run(&self, tool: &str, security: &[&str], args: &[&str]) -> Output {
        Command::new(tool)
            // A private persistent directory: net-snmp caches engine boots there.
            .env("SNMP_PERSISTENT_DIR", self.dir.join("snmp-persist"))
            .env("SNMPCONFPATH", self.dir.join("snmp-conf"))
            .args([
                "-M",
                &self.mibs,
                "-m",
                "RACK-HA-MIB",
                "-t",
                TOOL_TIMEOUT_S,
                "-r",
                "1",
                "-OQs",
                "-Oe",
                "-OU",
            ])
            .args(security)
            .arg(&self.agent)
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("{tool} missing ({e}): run `make setup` (Debian package snmp)"))
    }

    /// `tool` with `security`, then the object names; output `name.index = value` lines, as a
    /// map from `name.index` to the value (quotes removed). Err when the tool failed.
    pub fn query(
        &self,
        tool: &str,
        security: &[&str],
        objects: &[&str],
    ) -> Result<BTreeMap<String, String>, String> {
        let output = self.run(tool, security, objects);
        let stdout = String::from_utf8_lossy(&output.stdout).to_string();
        let stderr = String::from_utf8_lossy(&output.stderr).to_string();
        if !output.status.success() {
            return Err(format!("{tool} failed ({}): {stderr}\n{stdout}", output.status));
        }
        let mut values = BTreeMap::new();
        for line in stdout.lines().filter(|l| !l.trim().is_empty()) {
            let (name, value) = line.split_once(" = ").ok_or_else(|| format!("{tool}: odd line {line:?}"))?;
            // The walk reached the end of the agent's view (rackHaObjects is its last subtree):
            // net-snmp prints the endOfMibView it received; that is not an object.
            if value.starts_with("No more variables left in this MIB View") {
                continue;
            }
            values.insert(name.trim().to_string(), value.trim().trim_matches('"').to_string());
        }
        Ok(values)
    }
}
