//! Fuzz `core::resources::filesystem::mountinfo::parse`, the edge where the kernel's
//! `/proc/self/mountinfo` becomes the mounts `builtin:filesystem` decides on: never panics,
//! stays within its bounds, an error names a line of the text, every mount came from one
//! line, and a path that holds no backslash comes back as it was written.

#![no_main]

use ha_agent::core::resources::filesystem::mountinfo::{parse, topmost, unescape, MAX_MOUNTS, MAX_MOUNTINFO_BYTES};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let lines = data.split(|&b| b == b'\n').count();
    match parse(data) {
        Err(e) => {
            assert!(e.line <= lines, "error on line {} of {lines}", e.line);
            assert!(e.line > 0 || data.len() > MAX_MOUNTINFO_BYTES);
        }
        Ok(mounts) => {
            assert!(mounts.len() <= MAX_MOUNTS && mounts.len() <= lines);
            for (m, line) in mounts.iter().zip(data.split(|&b| b == b'\n')) {
                let fields: Vec<&[u8]> = line.split(|&b| b == b' ').collect();
                assert_eq!(unescape(fields[4]).as_ref(), Ok(&m.mount_point));
                if !fields[4].contains(&b'\\') {
                    assert_eq!(fields[4], m.mount_point.as_slice());
                }
                let top = topmost(&mounts, &m.mount_point).expect("a listed mount point has a top");
                assert_eq!(top.mount_point, m.mount_point);
            }
        }
    }
});
