//! SNMP: how the rack tells an operator's network management station about every event that
//! matters (notifications), and answers its questions (read-only `get`, `getnext`, `getbulk`).
//!
//! Layered like the rest of the crate, each module saying what it owns and what it does not.
//! The pure protocol modules ([`ber`], [`pdu`], [`usm`], [`mib`], [`notify`] and the format of
//! [`queue_store`]) live in `ha_core::snmp` and are re-exported here:
//!
//! - [`ber`]: the BER subset SNMP uses, typed values, a checked reader that never panics.
//! - [`pdu`]: PDUs and SNMPv1/v2c community messages; notification varbind order; the v1
//!   translation.
//! - [`usm`]: SNMPv3 messages with USM: keys, HMAC, AES-CFB, engine parameters.
//! - [`mib`]: the notification model ([`mib::Notification`]) and its OIDs, mirroring
//!   `agent/mib/RACK-HA-MIB.txt`.
//! - [`notify`]: the sans-I/O notifier: targets, queues, inform retries, engine discovery.
//! - [`objects`]: the readable objects (cluster, members, links, relays, array, the
//!   responder's and the fence service's counters): the sorted [`objects::MibView`] of the
//!   status document (`crate::status::Status`).
//! - [`responder`]: the sans-I/O command responder: v2c community and v3 USM checks, get,
//!   getnext, getbulk, every set refused, bounded.
//! - [`queue_store`]: the durable file of pending informs (the only module here that does I/O;
//!   its format is `ha_core::snmp::queue_store`).
//! - [`config`]: the TOML shape of the `[snmp]` section.
//!
//! None of these reads a clock, opens a socket or draws random numbers; the shell does.

#![forbid(unsafe_code)]

pub use ha_core::snmp::{ber, mib, notify, pdu, usm};

pub mod config;
pub mod objects;
mod queue_file;
pub mod responder;

/// The file of pending informs: its format (`ha_core::snmp::queue_store`) and its durable
/// write and load ([`queue_file`]).
pub mod queue_store {
    pub use super::queue_file::{load, save};
    pub use ha_core::snmp::queue_store::*;
}
