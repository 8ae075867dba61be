//! Wire formats: the authenticated heartbeat frame and the serial framing around it.
//!
//! Owns byte layouts only (documented in `docs/protocol.md`): [`frame`] turns a header and a
//! message into authenticated bytes and back, checking everything once at the edge;
//! [`serial`] adds COBS framing with a 0x00 delimiter and a CRC-32 so that line noise is told
//! apart from forgery; [`messages`] are the authority's messages a heartbeat carries. It does
//! not decide what a frame means (that is the core) and does not own sockets or ports (that is
//! `links`).
//!
//! CONTRACT (shared with the core, the shell and the tests; keep stable): the re-exports below.

#![forbid(unsafe_code)]

pub mod frame;
pub mod messages;
pub mod serial;

pub use frame::{
    cluster_id_for, decode, encode, ClusterKey, DecodeError, EncodeError, Header, Heartbeat, Message,
    HEADER_BYTES, MAC_BYTES, MAX_BODY_BYTES, MAX_FRAME_BYTES, VERSION,
};
pub use serial::{encode_serial, SerialDecoder, SerialError, MAX_SERIAL_BYTES};
