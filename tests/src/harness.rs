//! The process-level rack harness (being written).
