//! Fuzz the areca console dialect (the shared body: fuzz/common/console.rs).

#![no_main]

use ha_agent::devices::console::DialectKind;
use libfuzzer_sys::fuzz_target;

#[path = "../common/console.rs"]
mod console;

fuzz_target!(|data: &[u8]| console::fuzz_dialect(DialectKind::Areca, data));
