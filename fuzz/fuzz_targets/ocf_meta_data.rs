//! Fuzz `core::resources::meta_data::MetaData::parse` on arbitrary bytes (what an OCF agent
//! prints for `meta-data`): it returns meta-data or an error, never panics; what it returns is
//! within its bounds, and parsing is a function of the bytes (the same input, the same answer).

#![no_main]

use ha_agent::core::resources::meta_data::{MetaData, MAX_ACTIONS, MAX_META_NAME_BYTES, MAX_PARAMETERS};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let parsed = MetaData::parse(data);
    if let Ok(meta) = &parsed {
        assert!(meta.parameters.len() <= MAX_PARAMETERS);
        assert!(meta.actions.len() <= MAX_ACTIONS);
        for p in &meta.parameters {
            assert!(!p.name.is_empty() && p.name.len() <= MAX_META_NAME_BYTES);
            assert!(meta.parameter(&p.name).is_some());
        }
        for a in &meta.actions {
            assert!(!a.is_empty() && a.len() <= MAX_META_NAME_BYTES);
            assert!(meta.advertises(a));
        }
    }
    assert_eq!(MetaData::parse(data), parsed);
});
