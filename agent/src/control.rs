//! Control socket protocol.
#![forbid(unsafe_code)]
