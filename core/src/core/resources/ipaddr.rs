//! The built-in resource type `builtin:ipaddr`: a floating IP address, the essential options of
//! `ocf:heartbeat:IPaddr2`, carried out by the agent itself over netlink (no script, no fork).
//!
//! Owns the schema of its parameters (one typed definition, [`IpAddrSpec`], parsed once from
//! the `params` table with a clear problem per bad key) and every decision of the three
//! actions as pure functions of what the kernel reported: which interface and prefix a start
//! uses ([`plan_start`]), whether a monitor finds the address running ([`monitor`]), what a
//! stop must delete ([`plan_stop`]), and the announcements' schedule. It does no I/O: the
//! netlink requests, the reply parser and the gratuitous ARP / neighbour advertisement frames
//! are `shell::ipaddr`, which feeds these functions the interfaces and addresses it read.

#![forbid(unsafe_code)]

use core::net::{IpAddr, Ipv4Addr};

use super::{exit_reason, ExitReason, Outcome};

/// The parameters `builtin:ipaddr` knows, with IPaddr2's names and meanings.
pub const PARAMETERS: [&str; 7] =
    ["ip", "cidr_netmask", "nic", "broadcast", "arp_count", "arp_interval", "check_link_status"];
/// IPaddr2 parameters the built-in type does not carry out (an error names them as such).
pub const UNSUPPORTED_IPADDR2_PARAMETERS: [&str; 14] = [
    "iflabel",
    "lvs_support",
    "lvs_ipv6_addrlabel",
    "lvs_ipv6_addrlabel_value",
    "mac",
    "clusterip_hash",
    "unique_clone_address",
    "arp_count_refresh",
    "arp_bg",
    "arp_sender",
    "send_arp_opts",
    "flush_routes",
    "run_arping",
    "preferred_lft",
];
/// IPaddr2's default number of gratuitous ARPs (`arp_count`).
pub const DEFAULT_ARP_COUNT: u32 = 5;
/// Bound on `arp_count`.
pub const MAX_ARP_COUNT: u32 = 64;
/// IPaddr2's default pause between announcements (`arp_interval`, milliseconds).
pub const DEFAULT_ARP_INTERVAL_MS: u64 = 200;
/// Bounds on `arp_interval`.
pub const MIN_ARP_INTERVAL_MS: u64 = 1;
pub const MAX_ARP_INTERVAL_MS: u64 = 10_000;
/// `IFNAMSIZ` minus its NUL: the longest interface name Linux accepts.
pub const MAX_INTERFACE_NAME_BYTES: usize = 15;

/// OCF code of a start whose interface does not exist on this node: "not configured", a hard
/// failure (no local restart can create it; the service belongs on the other node).
pub const OCF_ERR_CONFIGURED: i32 = 6;
/// OCF code of a monitor or stop that could not ask the kernel, or found a broken interface.
pub const OCF_ERR_GENERIC: i32 = 1;

pub type InterfaceName = heapless::String<MAX_INTERFACE_NAME_BYTES>;

/// One `builtin:ipaddr` resource, as configured.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IpAddrSpec {
    /// `ip`: the floating address, IPv4 or IPv6.
    pub ip: IpAddr,
    /// `cidr_netmask`: prefix length (a dotted IPv4 netmask is accepted too). `None`: the
    /// prefix of the interface's address whose subnet holds `ip`, as IPaddr2 finds it.
    pub prefix_len: Option<u8>,
    /// `nic`. `None`: the interface with an address whose subnet holds `ip`.
    pub nic: Option<InterfaceName>,
    /// `broadcast` (IPv4 only). `None`: computed from the prefix (`ip addr add ... brd +`).
    pub broadcast: Option<Ipv4Addr>,
    /// Gratuitous ARPs (IPv4) or unsolicited neighbour advertisements (IPv6) after a start.
    pub arp_count: u32,
    /// Pause between two of them.
    pub arp_interval_ms: u64,
    /// `check_link_status` (IPaddr2's default true): a monitor fails when the interface is down.
    pub check_link_status: bool,
}

/// One bad parameter: which, what is wrong, what to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParamProblem {
    /// The parameter's name (`params.NAME`), or `""` for the table as a whole.
    pub param: String,
    pub message: String,
    pub hint: String,
}

/// The names in `params` a built-in type does not take: each one the script it stands for
/// has but the type does not carry out (`script_words`: how the message names that script,
/// `script_agent`: its `agent` line), or one nobody has (with the list of `known`). The same
/// rule for every built-in type.
pub fn unknown_parameters(
    builtin: &str,
    script_words: &str,
    script_agent: &str,
    params: &[(String, String)],
    known: &[&str],
    unsupported: &[&str],
) -> Vec<ParamProblem> {
    let mut problems = Vec::new();
    for (name, _) in params.iter().filter(|(name, _)| !known.contains(&name.as_str())) {
        problems.push(if unsupported.contains(&name.as_str()) {
            ParamProblem {
                param: name.clone(),
                message: format!("builtin:{builtin} does not carry out {script_words} `{name}`"),
                hint: format!("use agent = \"{script_agent}\" for it, or leave it out"),
            }
        } else {
            ParamProblem {
                param: name.clone(),
                message: format!("builtin:{builtin} has no parameter `{name}`"),
                hint: format!("its parameters: {}", known.join(", ")),
            }
        });
    }
    problems
}

fn prefix_bound(ip: IpAddr) -> u8 {
    if ip.is_ipv4() {
        32
    } else {
        128
    }
}

/// A dotted IPv4 netmask's prefix length (contiguous ones only).
fn netmask_prefix(mask: Ipv4Addr) -> Option<u8> {
    let bits = u32::from(mask);
    let ones = bits.leading_ones();
    (bits.checked_shl(ones).unwrap_or(0) == 0).then_some(ones as u8)
}

fn is_interface_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_INTERFACE_NAME_BYTES
        && s != "."
        && s != ".."
        && !s.bytes().any(|b| b == 0 || b == b'/' || b == b':' || b.is_ascii_whitespace())
}

impl IpAddrSpec {
    /// Parse the `params` table. Every problem is reported, each with its parameter.
    pub fn from_params(params: &[(String, String)]) -> Result<IpAddrSpec, Vec<ParamProblem>> {
        let mut problems = Vec::new();
        let mut problem = |param: &str, message: String, hint: String| {
            problems.push(ParamProblem { param: param.to_string(), message, hint })
        };
        let get = |name: &str| params.iter().find(|(k, _)| k == name).map(|(_, v)| v.trim());
        for p in unknown_parameters(
            "ipaddr",
            "IPaddr2's",
            "ocf:heartbeat:IPaddr2",
            params,
            &PARAMETERS,
            &UNSUPPORTED_IPADDR2_PARAMETERS,
        ) {
            problem(&p.param, p.message, p.hint);
        }
        let ip = match get("ip") {
            None => {
                problem(
                    "",
                    "builtin:ipaddr needs the parameter `ip`".into(),
                    "params = { ip = \"10.0.0.10\", cidr_netmask = \"24\" }".into(),
                );
                None
            }
            Some(text) => match text.parse::<IpAddr>() {
                Ok(ip)
                    if ip.is_unspecified() || ip.is_multicast() || ip == IpAddr::V4(Ipv4Addr::BROADCAST) =>
                {
                    problem("ip", format!("{text} cannot be a host's address"), "a unicast address".into());
                    None
                }
                Ok(ip) => Some(ip),
                Err(_) => {
                    problem(
                        "ip",
                        format!("{text:?} is not an IP address"),
                        "an IPv4 address (10.0.0.10) or an IPv6 address (fd00::10), without a prefix".into(),
                    );
                    None
                }
            },
        };
        let mut prefix_len = None;
        if let Some(text) = get("cidr_netmask") {
            let bound = ip.map_or(128, prefix_bound);
            match (text.parse::<u8>(), text.parse::<Ipv4Addr>()) {
                (Ok(p), _) if p <= bound => prefix_len = Some(p),
                (_, Ok(mask)) if ip.is_none_or(|ip| ip.is_ipv4()) && netmask_prefix(mask).is_some() => {
                    prefix_len = netmask_prefix(mask)
                }
                _ => problem(
                    "cidr_netmask",
                    format!("{text:?} is not a prefix length 0..={bound}"),
                    "a prefix length such as 24 (IPv4 also takes a netmask such as 255.255.255.0)".into(),
                ),
            }
        }
        let nic = match get("nic") {
            None => None,
            Some(text) => {
                let name = InterfaceName::try_from(text).ok().filter(|_| is_interface_name(text));
                if name.is_none() {
                    problem(
                        "nic",
                        format!("{text:?} is not a network interface name"),
                        format!(
                            "1 to {MAX_INTERFACE_NAME_BYTES} bytes without '/', ':' or spaces (IPaddr2's nic:label is not supported)"
                        ),
                    );
                }
                name
            }
        };
        let mut broadcast = None;
        if let Some(text) = get("broadcast") {
            match (ip, text.parse::<Ipv4Addr>()) {
                (Some(IpAddr::V6(_)), _) => problem(
                    "broadcast",
                    "an IPv6 address has no broadcast address".into(),
                    "leave broadcast out".into(),
                ),
                (_, Ok(address)) => broadcast = Some(address),
                (_, Err(_)) => problem(
                    "broadcast",
                    format!("{text:?} is not an IPv4 address"),
                    "leave it out: it is computed from the prefix".into(),
                ),
            }
        }
        let arp_count = match get("arp_count") {
            None => DEFAULT_ARP_COUNT,
            Some(text) => match text.parse::<u32>() {
                Ok(n) if n <= MAX_ARP_COUNT => n,
                _ => {
                    problem(
                        "arp_count",
                        format!("{text:?} is outside 0..={MAX_ARP_COUNT}"),
                        format!("the number of gratuitous ARPs after a start; IPaddr2's default is {DEFAULT_ARP_COUNT}"),
                    );
                    DEFAULT_ARP_COUNT
                }
            },
        };
        let arp_interval_ms = match get("arp_interval") {
            None => DEFAULT_ARP_INTERVAL_MS,
            Some(text) => match text.parse::<u64>() {
                Ok(n) if (MIN_ARP_INTERVAL_MS..=MAX_ARP_INTERVAL_MS).contains(&n) => n,
                _ => {
                    problem(
                        "arp_interval",
                        format!("{text:?} is outside {MIN_ARP_INTERVAL_MS}..={MAX_ARP_INTERVAL_MS} (milliseconds)"),
                        format!("IPaddr2's default is {DEFAULT_ARP_INTERVAL_MS} ms"),
                    );
                    DEFAULT_ARP_INTERVAL_MS
                }
            },
        };
        let check_link_status = match get("check_link_status") {
            None => true,
            Some(text) => match text.to_ascii_lowercase().as_str() {
                "true" | "yes" | "1" | "on" => true,
                "false" | "no" | "0" | "off" => false,
                _ => {
                    problem(
                        "check_link_status",
                        format!("{text:?} is not a boolean"),
                        "true or false".into(),
                    );
                    true
                }
            },
        };
        match ip {
            Some(ip) if problems.is_empty() => Ok(IpAddrSpec {
                ip,
                prefix_len,
                nic,
                broadcast,
                arp_count,
                arp_interval_ms,
                check_link_status,
            }),
            _ => Err(problems),
        }
    }
}

/// A network interface, as the kernel reported it (`RTM_NEWLINK`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Link {
    pub index: u32,
    pub name: InterfaceName,
    /// `IFF_UP` is set.
    pub up: bool,
    /// The operational state says the link cannot carry traffic (`IF_OPER_DOWN` or
    /// `IF_OPER_LOWERLAYERDOWN`).
    pub lower_down: bool,
    /// Its Ethernet address, when it has one (`IFLA_ADDRESS` of 6 bytes).
    pub mac: Option<[u8; 6]>,
}

/// An address of an interface, as the kernel reported it (`RTM_NEWADDR`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Address {
    pub index: u32,
    pub ip: IpAddr,
    pub prefix_len: u8,
}

fn in_subnet(ip: IpAddr, net: IpAddr, prefix_len: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(b)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(prefix_len.min(32))).unwrap_or(0);
            u32::from(a) & mask == u32::from(b) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(b)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(prefix_len.min(128))).unwrap_or(0);
            u128::from(a) & mask == u128::from(b) & mask
        }
        _ => false,
    }
}

/// What a start must add.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StartPlan {
    pub index: u32,
    pub interface: InterfaceName,
    pub prefix_len: u8,
    /// The IPv4 broadcast address to set (none for IPv6, /31 and /32).
    pub broadcast: Option<Ipv4Addr>,
    /// The address is already there with this prefix: nothing to add (announce anyway).
    pub already_present: bool,
    /// The interface's Ethernet address, for the announcements.
    pub mac: Option<[u8; 6]>,
}

/// Why a start cannot go ahead: the OCF code and the exit reason.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    pub outcome: Outcome,
    /// The exit reason (cut to `MAX_EXIT_REASON_BYTES` where it becomes one).
    pub reason: String,
}

fn refuse(code: i32, text: &str) -> Refusal {
    Refusal { outcome: Outcome::Failed(code), reason: text.to_string() }
}

/// The interface and prefix a start uses: `nic` (which must exist), or the interface holding
/// an address whose subnet holds `ip` (the first by index, as IPaddr2's findif picks the route).
pub fn plan_start(spec: &IpAddrSpec, links: &[Link], addresses: &[Address]) -> Result<StartPlan, Refusal> {
    let holder = |a: &&Address| a.ip != spec.ip && in_subnet(spec.ip, a.ip, a.prefix_len);
    let link = match &spec.nic {
        Some(nic) => links.iter().find(|l| l.name == *nic).ok_or_else(|| {
            refuse(OCF_ERR_CONFIGURED, &format!("network interface {nic} does not exist on this node"))
        })?,
        None => {
            let mut candidates: Vec<&Address> = addresses.iter().filter(holder).collect();
            candidates.sort_by_key(|a| a.index);
            let index = candidates.first().map(|a| a.index).ok_or_else(|| {
                refuse(OCF_ERR_CONFIGURED, &format!("no interface has a subnet holding {}: set nic", spec.ip))
            })?;
            links.iter().find(|l| l.index == index).ok_or_else(|| {
                refuse(OCF_ERR_GENERIC, &format!("interface {index} vanished while {} was added", spec.ip))
            })?
        }
    };
    let prefix_len = match spec.prefix_len {
        Some(p) => p,
        None => {
            addresses.iter().filter(|a| a.index == link.index).find(holder).map(|a| a.prefix_len).ok_or_else(
                || {
                    refuse(
                        OCF_ERR_CONFIGURED,
                        &format!(
                            "no address of {} has a subnet holding {}: set cidr_netmask",
                            link.name, spec.ip
                        ),
                    )
                },
            )?
        }
    };
    assert!(prefix_len <= prefix_bound(spec.ip), "prefix within the family's bound");
    let broadcast = match spec.ip {
        IpAddr::V4(ip) if prefix_len <= 30 => {
            Some(spec.broadcast.unwrap_or_else(|| Ipv4Addr::from(u32::from(ip) | (u32::MAX >> prefix_len))))
        }
        IpAddr::V4(_) => spec.broadcast,
        IpAddr::V6(_) => None,
    };
    let already_present =
        addresses.iter().any(|a| a.index == link.index && a.ip == spec.ip && a.prefix_len == prefix_len);
    Ok(StartPlan {
        index: link.index,
        interface: link.name.clone(),
        prefix_len,
        broadcast,
        already_present,
        mac: link.mac,
    })
}

/// Where the address is (to delete it), or `None` when it is absent: a stop of an absent
/// address succeeds, as OCF requires. With `nic`, only that interface counts.
pub fn plan_stop(spec: &IpAddrSpec, links: &[Link], addresses: &[Address]) -> Option<Address> {
    let nic_index = spec.nic.as_ref().map(|nic| links.iter().find(|l| l.name == *nic).map(|l| l.index));
    addresses
        .iter()
        .find(|a| a.ip == spec.ip && nic_index.is_none_or(|index| index == Some(a.index)))
        .copied()
}

/// A monitor's answer: running (0), not running (7), or failed (1) with a reason when the
/// configured interface is missing, or (with `check_link_status`) the address sits on an
/// interface that is down.
pub fn monitor(spec: &IpAddrSpec, links: &[Link], addresses: &[Address]) -> (Outcome, ExitReason) {
    if let Some(nic) = &spec.nic {
        if !links.iter().any(|l| l.name == *nic) {
            return (
                Outcome::Failed(OCF_ERR_GENERIC),
                exit_reason(&format!("network interface {nic} does not exist")),
            );
        }
    }
    let Some(found) = plan_stop(spec, links, addresses) else {
        return (Outcome::NotRunning, ExitReason::new());
    };
    let link = links.iter().find(|l| l.index == found.index);
    if spec.check_link_status {
        if let Some(link) = link.filter(|l| !l.up || l.lower_down) {
            return (
                Outcome::Failed(OCF_ERR_GENERIC),
                exit_reason(&format!("{} is on {}, which is down", spec.ip, link.name)),
            );
        }
    }
    (Outcome::Success, ExitReason::new())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn spec(pairs: &[(&str, &str)]) -> IpAddrSpec {
        IpAddrSpec::from_params(&params(pairs)).unwrap()
    }

    fn link(index: u32, name: &str, up: bool) -> Link {
        Link {
            index,
            name: name.try_into().unwrap(),
            up,
            lower_down: false,
            mac: Some([2, 0, 0, 0, 0, index as u8]),
        }
    }

    fn addr(index: u32, ip: &str, prefix_len: u8) -> Address {
        Address { index, ip: ip.parse().unwrap(), prefix_len }
    }

    #[test]
    fn ipaddr2_parameters_parse_into_one_typed_spec() {
        let s = spec(&[
            ("ip", "10.0.0.10"),
            ("cidr_netmask", "24"),
            ("nic", "eth1"),
            ("arp_count", "3"),
            ("arp_interval", "50"),
        ]);
        assert_eq!(s.ip, "10.0.0.10".parse::<IpAddr>().unwrap());
        assert_eq!((s.prefix_len, s.nic.as_deref()), (Some(24), Some("eth1")));
        assert_eq!((s.arp_count, s.arp_interval_ms, s.check_link_status), (3, 50, true));
        assert_eq!(spec(&[("ip", "10.0.0.10"), ("cidr_netmask", "255.255.252.0")]).prefix_len, Some(22));
        let v6 = spec(&[("ip", "fd00::10"), ("cidr_netmask", "64")]);
        assert_eq!(
            (v6.prefix_len, v6.arp_count, v6.arp_interval_ms),
            (Some(64), DEFAULT_ARP_COUNT, DEFAULT_ARP_INTERVAL_MS)
        );
    }

    #[test]
    fn bad_parameters_are_each_named_with_a_reason() {
        let problems = IpAddrSpec::from_params(&params(&[
            ("ip", "10.0.0.300"),
            ("cidr_netmask", "200"),
            ("nic", "eth0:1"),
            ("arp_count", "1000"),
            ("arp_interval", "0"),
            ("lvs_support", "true"),
            ("ipp", "1"),
        ]))
        .unwrap_err();
        let names: Vec<&str> = problems.iter().map(|p| p.param.as_str()).collect();
        for expected in ["ip", "cidr_netmask", "nic", "arp_count", "arp_interval", "lvs_support", "ipp"] {
            assert!(names.contains(&expected), "{expected} in {problems:#?}");
        }
        let lvs = problems.iter().find(|p| p.param == "lvs_support").unwrap();
        assert!(lvs.message.contains("does not carry out IPaddr2's"), "{lvs:?}");
        let missing = IpAddrSpec::from_params(&params(&[("nic", "eth0")])).unwrap_err();
        assert!(missing[0].message.contains("needs the parameter `ip`"));
        for (pairs, param) in [
            (&[("ip", "fd00::1"), ("cidr_netmask", "129")][..], "cidr_netmask"),
            (&[("ip", "fd00::1"), ("cidr_netmask", "255.255.255.0")][..], "cidr_netmask"),
            (&[("ip", "10.0.0.1"), ("cidr_netmask", "255.0.255.0")][..], "cidr_netmask"),
            (&[("ip", "fd00::1"), ("broadcast", "10.0.0.255")][..], "broadcast"),
            (&[("ip", "224.0.0.1")][..], "ip"),
            (&[("ip", "10.0.0.1/24")][..], "ip"),
        ] {
            let problems = IpAddrSpec::from_params(&params(pairs)).unwrap_err();
            assert_eq!(problems.len(), 1, "{pairs:?}: {problems:?}");
            assert_eq!(problems[0].param, param, "{pairs:?}");
        }
    }

    #[test]
    fn a_start_finds_the_interface_and_prefix_by_subnet_when_not_given() {
        let links = [link(1, "lo", true), link(2, "eth0", true), link(3, "eth1", true)];
        let addresses = [addr(1, "127.0.0.1", 8), addr(2, "192.168.1.5", 24), addr(3, "10.0.0.2", 16)];
        let plan = plan_start(&spec(&[("ip", "10.0.7.9")]), &links, &addresses).unwrap();
        assert_eq!((plan.index, plan.interface.as_str(), plan.prefix_len), (3, "eth1", 16));
        assert_eq!(plan.broadcast, Some("10.0.255.255".parse().unwrap()));
        assert!(!plan.already_present);
        let given = plan_start(
            &spec(&[("ip", "10.9.9.9"), ("cidr_netmask", "31"), ("nic", "eth0")]),
            &links,
            &addresses,
        )
        .unwrap();
        assert_eq!((given.index, given.prefix_len, given.broadcast), (2, 31, None));
        let none = plan_start(&spec(&[("ip", "172.16.0.1")]), &links, &addresses).unwrap_err();
        assert_eq!(none.outcome, Outcome::Failed(OCF_ERR_CONFIGURED));
        assert!(none.reason.contains("set nic"), "{none:?}");
        let no_prefix =
            plan_start(&spec(&[("ip", "172.16.0.1"), ("nic", "eth0")]), &links, &addresses).unwrap_err();
        assert!(no_prefix.reason.contains("set cidr_netmask"), "{no_prefix:?}");
        let missing = plan_start(
            &spec(&[("ip", "10.0.0.9"), ("cidr_netmask", "24"), ("nic", "eth9")]),
            &links,
            &addresses,
        )
        .unwrap_err();
        assert_eq!(missing.outcome, Outcome::Failed(OCF_ERR_CONFIGURED));
        assert!(missing.reason.contains("eth9 does not exist"), "{missing:?}");
        let mut with_vip = addresses.to_vec();
        with_vip.push(addr(3, "10.0.7.9", 16));
        assert!(plan_start(&spec(&[("ip", "10.0.7.9")]), &links, &with_vip).unwrap().already_present);
    }

    #[test]
    fn monitor_and_stop_see_the_address_only_where_it_belongs() {
        let links = [link(2, "eth0", true), link(3, "eth1", false)];
        let addresses = [addr(2, "10.0.0.2", 24), addr(3, "10.0.1.2", 24)];
        let s = spec(&[("ip", "10.0.0.10"), ("cidr_netmask", "24"), ("nic", "eth0")]);
        assert_eq!(monitor(&s, &links, &addresses).0, Outcome::NotRunning);
        assert_eq!(plan_stop(&s, &links, &addresses), None);
        let mut with_vip = addresses.to_vec();
        with_vip.push(addr(2, "10.0.0.10", 24));
        assert_eq!(monitor(&s, &links, &with_vip).0, Outcome::Success);
        assert_eq!(plan_stop(&s, &links, &with_vip), Some(addr(2, "10.0.0.10", 24)));
        // On another interface than nic: not ours to report or delete.
        let elsewhere = [addr(3, "10.0.0.10", 24)];
        assert_eq!(monitor(&s, &links, &elsewhere).0, Outcome::NotRunning);
        assert_eq!(plan_stop(&s, &links, &elsewhere), None);
        // Without nic, anywhere counts; on a down interface the monitor fails.
        let anywhere = spec(&[("ip", "10.0.0.10")]);
        let (outcome, reason) = monitor(&anywhere, &links, &elsewhere);
        assert_eq!(outcome, Outcome::Failed(OCF_ERR_GENERIC));
        assert!(reason.contains("eth1, which is down"), "{reason}");
        let unchecked = spec(&[("ip", "10.0.0.10"), ("check_link_status", "false")]);
        assert_eq!(monitor(&unchecked, &links, &elsewhere).0, Outcome::Success);
        let gone = spec(&[("ip", "10.0.0.10"), ("nic", "eth7")]);
        let (outcome, reason) = monitor(&gone, &links, &with_vip);
        assert_eq!(outcome, Outcome::Failed(OCF_ERR_GENERIC));
        assert!(reason.contains("eth7 does not exist"));
        assert_eq!(plan_stop(&gone, &links, &with_vip), None, "no interface, no address to stop");
    }
}
