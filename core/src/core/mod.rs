//! The sans-I/O core: pure state machines driven with `(now, input)`.
//!
//! Owns every decision the agent makes. Today that is failure detection ([`membership`]);
//! arbitration, grants, fencing, resources and array state will live here too. It owns no
//! clock, file descriptor, signal or randomness: the shell (or a simulator) passes the time in
//! and carries the returned actions out. Handlers do a bounded amount of work per call.

#![forbid(unsafe_code)]

pub mod array;
pub mod authority;
pub mod engine;
pub mod membership;
pub mod mutation;
pub mod resources;
