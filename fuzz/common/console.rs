//! Shared body of the console dialect fuzz targets (included by each target): any text, as
//! the output of any poll command, parses into a bounded model (or unknown lines) without
//! panicking, and the whole console session, fed the same bytes in arbitrary chunks, never
//! panics and never grows past its bounds.
//!
//! Input layout: byte 0 = command index (mod the dialect's command count), byte 1 = chunk
//! size for the session (0 means 1), then the text.

use ha_agent::devices::console::model::{ArrayModel, MAX_DISKS, MAX_LOGICAL_DRIVES, MAX_SENSORS};
use ha_agent::devices::console::session::{Session, SessionOptions};
use ha_agent::devices::console::{dialect_for, parse_output, DialectKind};
use ha_agent::time::Micros;

pub fn fuzz_dialect(kind: DialectKind, data: &[u8]) {
    let [command, chunk, text @ ..] = data else {
        return;
    };
    let dialect = dialect_for(kind);
    let command = usize::from(*command) % dialect.commands().len();
    let mut model = ArrayModel::default();
    let stats = parse_output(dialect, command, &String::from_utf8_lossy(text), &mut model);
    assert!(model.drives.len() <= MAX_LOGICAL_DRIVES && model.disks.len() <= MAX_DISKS);
    assert!(model.sensors.len() <= MAX_SENSORS);
    assert!(stats.unknown_lines as usize <= text.len());
    model.normalize();

    let options = SessionOptions {
        poll_interval_ms: 1000,
        command_timeout_ms: 100,
        password: Some("pw".into()),
    };
    let mut session = Session::new(dialect, options, Micros::ZERO);
    let mut now = Micros::ZERO;
    for piece in text.chunks(usize::from(*chunk).max(1)) {
        session.handle_bytes(now, piece);
        session.handle_timeout(now);
        while session.poll_transmit().is_some() {}
        while session.poll_event().is_some() {}
        if let Some(m) = session.poll_snapshot() {
            assert!(m.disks.len() <= MAX_DISKS);
        }
        now = now.plus_ms(7);
    }
}
