//! Test tooling for the rack HA controller, used by the process-level tests in `tests/` and by
//! the `rack-demo` binary.
//!
//! - [`cable`]: a fault-injecting proxy for serial cables (pty pairs) and UDP paths, controlled
//!   at run time (cut, delay, corrupt, inject, record). It moves opaque bytes and knows nothing
//!   about the heartbeat format.
//! - [`harness`]: a [`harness::Rack`] of three real `ha-agent` processes (witness, node-a,
//!   node-b) joined by six cables, with their configurations, key and logs in a temporary
//!   directory, and `ha-agent status --json` as the only window into them.
//!
//! - [`net_snmp`]: net-snmp's tools as a management station, for the tests that ask over SNMP.
//! - [`relay_sim`]: relay boards (LCUS, KMtronic, Numato, Modbus RTU) on ptys, with fault
//!   modes, for the relay driver tests.
//! - [`sim`]: the deterministic cluster simulator on the real core (`make sim`).
//!
//! Nothing here is part of the agent; the agent is driven only through its binary and files.

#![forbid(unsafe_code)]

pub mod bench;
pub mod cable;
pub mod console_sim;
pub mod fixtures;
pub mod harness;
pub mod net_snmp;
pub mod pg;
pub mod relay_sim;
pub mod sim;
pub mod topology;
