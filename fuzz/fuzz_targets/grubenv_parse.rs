//! Fuzz `update::grubenv::GrubEnv::parse` (GRUB's environment block on the ESP): arbitrary
//! bytes, and the same bytes as a block (the header, then the input, padded with `#` to 1024
//! bytes), never panic; a block that parses encodes to a block that parses to the same
//! variables; the seal and the choice between two copies ([`grubenv::choose`]) never panic,
//! and a sealed copy is the one chosen.

#![no_main]

use ha_agent::update::grubenv::{self, GrubEnv, Which, GRUBENV_BYTES, HEADER};
use libfuzzer_sys::fuzz_target;

fn check(block: &[u8]) {
    if let Ok(env) = GrubEnv::parse(block) {
        let again = env.encode().expect("what parsed from a block fits in a block");
        assert_eq!(again.len(), GRUBENV_BYTES);
        assert_eq!(GrubEnv::parse(&again).as_ref(), Ok(&env), "a parsed block must survive a re-encode");
        let _ = grubenv::seal_numbers(&env);
        let chosen = grubenv::choose(Ok(env.clone()), Some(GrubEnv::parse(&[]))).expect("a parsed block is chosen");
        assert_eq!(chosen.0 == Which::Primary, env.sealed().is_some(), "a sealed first copy is believed");
    }
    let _ = grubenv::choose(GrubEnv::parse(&[]), Some(GrubEnv::parse(block)));
}

fuzz_target!(|data: &[u8]| {
    check(data);
    let mut block = HEADER.to_vec();
    block.extend_from_slice(&data[..data.len().min(GRUBENV_BYTES - HEADER.len())]);
    block.resize(GRUBENV_BYTES, b'#');
    check(&block);
});
