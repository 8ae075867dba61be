//! The rack HA controller's pure core: every decision and every byte layout, without I/O.
//!
//! `ha-core` holds what the agent decides and how it encodes it, as sans-I/O code: functions
//! and state machines that take `(now, input)` and return actions and their next deadline. It
//! never reads a clock, opens a file, a socket or a port, spawns a thread, handles a signal or
//! draws randomness; `ha-agent`'s shell (or the deterministic simulator in `tests/src/sim/`)
//! does and drives this crate. The compiler keeps that boundary: the crate forbids `unsafe`,
//! its dependencies are pure (heapless, serde, postcard, hashes and ciphers, COBS, the `log`
//! facade), and `make check-layers` fails on `std::fs`, `std::net`, `std::thread`,
//! `std::time`, `Instant`, `SystemTime` or `unsafe` under `core/src/` and on a cycle between
//! its top-level modules. Layers, lower first (a module uses only those above it):
//!
//! - [`time`]: the monotonic microsecond clock type the core is driven with.
//! - [`wire`]: the heartbeat frame format (header, postcard body, truncated HMAC-SHA-256) and
//!   the serial framing (COBS + CRC-32). Pure functions on byte slices.
//! - [`console`]: the RAID controller console session (a sans-I/O state machine), the
//!   canonical array model and the CLI dialects' parsers.
//! - [`relay`]: the relay channel trait and the serial boards' pure codecs; [`fence`]: the
//!   fence procedure and the relay health check; [`watchdog`]: the feed decision (rule N3).
//! - [`snmp`]: BER, PDUs, USM, the MIB's notifications, the sans-I/O notifier and the format
//!   of its durable queue.
//! - [`core`]: failure detection, the authority (witness arbitration, node rules, fence
//!   decisions) and the protocol messages they exchange (carried by [`wire`]), the resource
//!   group, array state diffing, and the engine that wires one member's core together.
//!
//! It does not own the configuration file (`ha-agent`'s `config` parses it and produces the
//! plain data types the core takes, such as [`core::membership::Timing`]), the drivers, the
//! journal, the control socket or the command line.

#![forbid(unsafe_code)]

pub mod console;
pub mod core;
pub mod fence;
pub mod relay;
pub mod snmp;
pub mod time;
pub mod watchdog;
pub mod wire;
