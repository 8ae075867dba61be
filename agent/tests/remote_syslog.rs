//! Logs off the box, through the agent's own logger: with `[syslog]` parsed from a
//! configuration, `log::error!`, `warn!`, `info!` and `debug!` each reach a UDP collector on
//! loopback as one datagram whose PRI carries the configured facility and the record's
//! severity. (Its own process: the `log` facade takes one logger per process.)

use std::net::UdpSocket;
use std::path::Path;
use std::time::Duration;

use ha_agent::config;
use ha_agent::shell::logger;

/// Bound on waiting for each datagram.
const RECEIVE_LIMIT: Duration = Duration::from_secs(5);

/// The example node's configuration (docs/examples) with a `[syslog]` section.
const CONFIG: &str = concat!(
    include_str!("../../docs/examples/node-a.toml"),
    "\n[syslog]\ntarget = \"TARGET\"\nfacility = \"local0\"\n"
);

#[test]
fn each_severity_reaches_the_collector_with_its_pri() {
    let listener = UdpSocket::bind("127.0.0.1:0").unwrap();
    listener.set_read_timeout(Some(RECEIVE_LIMIT)).unwrap();
    let text = CONFIG.replace("TARGET", &listener.local_addr().unwrap().to_string());
    let cfg = config::parse_str(&text, Path::new("/etc/ha-agent/agent.toml")).unwrap_or_else(|problems| {
        panic!("{}", problems.iter().map(|p| p.to_string()).collect::<Vec<_>>().join("\n"))
    });
    std::env::set_var("HA_AGENT_LOG", "debug");
    logger::init(&cfg.me().name);
    logger::start_remote(cfg.syslog.as_ref(), &cfg.me().name);
    let mut buf = [0u8; 2048];
    let mut receive = || {
        let n = listener.recv(&mut buf).expect("a datagram within the limit");
        String::from_utf8(buf[..n].to_vec()).unwrap()
    };
    // The logger says where its lines go, at info (local0 = 16: 16 * 8 + 6).
    let first = receive();
    assert!(first.starts_with("<134>1 "), "{first:?}");
    assert!(first.contains(" node-a ha-agent "), "{first:?}");
    assert!(first.contains("log lines also go to the syslog collector"), "{first:?}");

    log::error!("fence of node-b failed");
    log::warn!("link 1 to witness is late");
    log::info!("resources running");
    log::debug!("heartbeat sent");
    for (pri, text) in [
        (131, "fence of node-b failed"),
        (132, "link 1 to witness is late"),
        (134, "resources running"),
        (135, "heartbeat sent"),
    ] {
        let got = receive();
        assert!(got.starts_with(&format!("<{pri}>1 ")), "{got:?} should have PRI {pri}");
        assert!(got.ends_with(&format!(" - - {text}")), "{got:?}");
    }
    assert_eq!(logger::remote_figures(), Some((5, 0)));
}
