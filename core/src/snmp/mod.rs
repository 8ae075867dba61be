//! SNMP, the pure part: the BER subset, PDUs and messages, USM, the notification model and the
//! sans-I/O notifier with the format of its durable queue.
//!
//! - [`ber`]: the BER subset SNMP uses, typed values, a checked reader that never panics.
//! - [`pdu`]: PDUs and SNMPv1/v2c community messages; notification varbind order; the v1
//!   translation.
//! - [`usm`]: SNMPv3 messages with USM: keys, HMAC, AES-CFB, engine parameters.
//! - [`mib`]: the notification model ([`mib::Notification`]) and its OIDs, mirroring
//!   `agent/mib/RACK-HA-MIB.txt`.
//! - [`notify`]: the sans-I/O notifier: targets, queues, inform retries, engine discovery.
//! - [`queue_store`]: the format of the file of pending informs (encode, checked decode).
//!
//! The readable objects, the command responder (they speak the configuration's roles), the
//! `[snmp]` section and the durable write of the queue stay in `ha-agent`'s `snmp`, which
//! re-exports these modules. None of these reads a clock, opens a socket or draws random
//! numbers; the shell does.

#![forbid(unsafe_code)]

pub mod ber;
pub mod mib;
pub mod notify;
pub mod pdu;
pub mod queue_store;
pub mod usm;
