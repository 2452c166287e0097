//! The egress policy of `fetch`: which destinations a script may reach. An address is
//! classified (loopback, private, link-local, CGNAT, unique-local, cloud metadata, …; IPv4
//! embedded in IPv6 is classified as the IPv4 address it carries) and refused unless it is
//! public, or private and `allow_private` is set, or matched by an `allow` rule; `deny` rules
//! win over everything. The check runs on the addresses a host name actually resolved to —
//! [`PolicyResolver`] is the HTTP client's DNS resolver — and on literal IP addresses before
//! each request, so redirects and DNS names pointing inwards are caught alike.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use ipnet::IpNet;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use crate::config::EgressConfig;

/// What kind of address an IP is, as far as egress is concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AddressClass {
    /// Globally routable: allowed by default.
    Public,
    /// `127.0.0.0/8`, `::1`.
    Loopback,
    /// RFC 1918 (`10/8`, `172.16/12`, `192.168/16`) and deprecated IPv6 site-local.
    Private,
    /// `169.254.0.0/16`, `fe80::/10`.
    LinkLocal,
    /// Carrier-grade NAT, `100.64.0.0/10`.
    Cgnat,
    /// IPv6 unique-local, `fc00::/7`.
    UniqueLocal,
    /// Cloud instance-metadata endpoints (`169.254.169.254`, `169.254.170.2`, `fd00:ec2::254`).
    Metadata,
    /// `0.0.0.0/8`, `::`: "this host", which reaches the local machine.
    Unspecified,
    /// `224.0.0.0/4`, `ff00::/8`.
    Multicast,
    /// `255.255.255.255`.
    Broadcast,
    /// Reserved, documentation, benchmarking and protocol-assignment ranges.
    Reserved,
}

impl AddressClass {
    /// True for the classes `allow_private = true` opens.
    fn opened_by_allow_private(self) -> bool {
        matches!(
            self,
            AddressClass::Loopback
                | AddressClass::Private
                | AddressClass::LinkLocal
                | AddressClass::Cgnat
                | AddressClass::UniqueLocal
        )
    }
}

impl fmt::Display for AddressClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AddressClass::Public => "a public address",
            AddressClass::Loopback => "a loopback address",
            AddressClass::Private => "a private address",
            AddressClass::LinkLocal => "a link-local address",
            AddressClass::Cgnat => "a carrier-grade NAT (CGNAT) address",
            AddressClass::UniqueLocal => "a unique-local IPv6 address",
            AddressClass::Metadata => "a cloud metadata address",
            AddressClass::Unspecified => "an unspecified (this-host) address",
            AddressClass::Multicast => "a multicast address",
            AddressClass::Broadcast => "the broadcast address",
            AddressClass::Reserved => "a reserved address",
        })
    }
}

/// The class of `ip`.
pub fn classify(ip: IpAddr) -> AddressClass {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

fn classify_v4(ip: Ipv4Addr) -> AddressClass {
    let [a, b, c, d] = ip.octets();
    match (a, b, c, d) {
        (169, 254, 169, 254) | (169, 254, 170, 2) => AddressClass::Metadata,
        (0, ..) => AddressClass::Unspecified,
        (127, ..) => AddressClass::Loopback,
        (10, ..) | (192, 168, ..) => AddressClass::Private,
        (172, b, ..) if (16..32).contains(&b) => AddressClass::Private,
        (169, 254, ..) => AddressClass::LinkLocal,
        (100, b, ..) if (64..128).contains(&b) => AddressClass::Cgnat,
        (255, 255, 255, 255) => AddressClass::Broadcast,
        (224..=239, ..) => AddressClass::Multicast,
        (240..=255, ..) => AddressClass::Reserved,
        // Protocol assignments, documentation (TEST-NET-1/2/3), benchmarking (198.18/15).
        (192, 0, 0 | 2, _) | (198, 51, 100, _) | (203, 0, 113, _) => AddressClass::Reserved,
        (198, 18 | 19, ..) => AddressClass::Reserved,
        _ => AddressClass::Public,
    }
}

fn classify_v6(ip: Ipv6Addr) -> AddressClass {
    if ip.is_unspecified() {
        return AddressClass::Unspecified;
    }
    if ip.is_loopback() {
        return AddressClass::Loopback;
    }
    // IPv4 carried in IPv6: mapped (::ffff:a.b.c.d), compatible (::a.b.c.d), NAT64
    // (64:ff9b::/96) and 6to4 (2002:AABB:CCDD::/48) all reach the IPv4 address inside.
    if let Some(v4) = embedded_v4(ip) {
        return classify_v4(v4);
    }
    let s = ip.segments();
    if s == [0xfd00, 0x0ec2, 0, 0, 0, 0, 0, 0x0254] {
        return AddressClass::Metadata;
    }
    match s[0] {
        0xfc00..=0xfdff => AddressClass::UniqueLocal,
        0xfe80..=0xfebf => AddressClass::LinkLocal,
        0xfec0..=0xfeff => AddressClass::Private,
        0xff00..=0xffff => AddressClass::Multicast,
        // Documentation (2001:db8::/32), discard-only (100::/64), the rest of ::/8.
        0x2001 if s[1] == 0x0db8 => AddressClass::Reserved,
        0x0100 if s[1..4] == [0, 0, 0] => AddressClass::Reserved,
        0x0000..=0x00ff => AddressClass::Reserved,
        _ => AddressClass::Public,
    }
}

/// The IPv4 address an IPv6 address carries, for the forms that route to it.
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let low = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    match s {
        [0, 0, 0, 0, 0, 0xffff, ..] | [0, 0, 0, 0, 0, 0, ..] => Some(low),
        [0x64, 0xff9b, 0, 0, 0, 0, ..] => Some(low),
        [0x2002, hi, lo, ..] => Some(Ipv4Addr::new(
            (hi >> 8) as u8,
            hi as u8,
            (lo >> 8) as u8,
            lo as u8,
        )),
        _ => None,
    }
}

/// One `allow` / `deny` entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EgressRule {
    /// An IP address or CIDR range.
    Net(IpNet),
    /// A host name, matched exactly (lowercase, no trailing dot).
    Host(String),
    /// `*.example.com`: any name ending in `.example.com` (not `example.com` itself).
    Suffix(String),
}

impl EgressRule {
    /// Parses a config entry; the error says what is wrong with it.
    pub fn parse(entry: &str) -> Result<EgressRule, String> {
        let entry = entry.trim();
        if let Ok(net) = entry.parse::<IpNet>() {
            return Ok(EgressRule::Net(net.trunc()));
        }
        if let Ok(ip) = entry.parse::<IpAddr>() {
            return Ok(EgressRule::Net(IpNet::from(ip)));
        }
        let name = entry.trim_end_matches('.').to_ascii_lowercase();
        let (suffix, host) = match name.strip_prefix("*.") {
            Some(rest) => (true, rest),
            None => (false, name.as_str()),
        };
        let valid = !host.is_empty()
            && host.split('.').all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && label
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            });
        if !valid {
            return Err(format!(
                "{entry:?} is not an IP address, CIDR range or host name \
                 (expected entries like \"10.1.2.0/24\", \"api.example.com\" or \"*.example.com\")"
            ));
        }
        Ok(if suffix {
            EgressRule::Suffix(format!(".{host}"))
        } else {
            EgressRule::Host(host.to_owned())
        })
    }

    fn matches_name(&self, name: &str) -> bool {
        match self {
            EgressRule::Net(_) => false,
            EgressRule::Host(host) => host == name,
            EgressRule::Suffix(suffix) => name.ends_with(suffix.as_str()),
        }
    }

    fn matches_ip(&self, ip: IpAddr) -> bool {
        matches!(self, EgressRule::Net(net) if net.contains(&ip))
    }
}

/// A destination the policy refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{host}{} is {why}", address.map(|a| format!(" ({a})")).unwrap_or_default())]
pub struct Denied {
    /// The host as the script named it.
    pub host: String,
    /// The address refused, when the refusal is about one.
    pub address: Option<IpAddr>,
    /// Why: the address class or the rule that matched.
    pub why: String,
}

/// The compiled egress policy of one script (or of every script without overrides).
#[derive(Debug)]
pub struct EgressPolicy {
    allow_private: bool,
    allow: Vec<EgressRule>,
    deny: Vec<EgressRule>,
}

impl EgressPolicy {
    /// The policy of `config`. Invalid entries were rejected when the config was loaded.
    pub fn new(config: &EgressConfig) -> Self {
        let rules = |list: &[String]| {
            list.iter()
                .filter_map(|entry| EgressRule::parse(entry).ok())
                .collect()
        };
        EgressPolicy {
            allow_private: config.allow_private,
            allow: rules(&config.allow),
            deny: rules(&config.deny),
        }
    }

    /// Checks a host name before it is resolved. `Ok(true)` when an `allow` rule names it (its
    /// addresses are then only checked against `deny`).
    pub fn check_name(&self, name: &str) -> Result<bool, Denied> {
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        if self.deny.iter().any(|rule| rule.matches_name(&name)) {
            return Err(Denied {
                host: name,
                address: None,
                why: "listed in egress.deny".to_owned(),
            });
        }
        Ok(self.allow.iter().any(|rule| rule.matches_name(&name)))
    }

    /// Checks one address `host` resolved to (or is); `name_allowed` from [`Self::check_name`].
    pub fn check_address(&self, host: &str, ip: IpAddr, name_allowed: bool) -> Result<(), Denied> {
        let ip = ip.to_canonical();
        let denied = |why: String| Denied {
            host: host.to_owned(),
            address: Some(ip),
            why,
        };
        if self.deny.iter().any(|rule| rule.matches_ip(ip)) {
            return Err(denied("listed in egress.deny".to_owned()));
        }
        if name_allowed || self.allow.iter().any(|rule| rule.matches_ip(ip)) {
            return Ok(());
        }
        match classify(ip) {
            AddressClass::Public => Ok(()),
            class if self.allow_private && class.opened_by_allow_private() => Ok(()),
            class => Err(denied(format!(
                "{class}, which the egress policy refuses unless an operator allows it"
            ))),
        }
    }

    /// Checks a URL host that is an IP literal (the resolver never sees those).
    pub fn check_literal(&self, ip: IpAddr) -> Result<(), Denied> {
        self.check_address(&ip.to_string(), ip, false)
    }
}

/// The HTTP client's DNS resolver: resolves with the system resolver, then keeps only the
/// addresses the policy allows, so the connection can only go to an address that was checked.
pub struct PolicyResolver {
    /// The policy the client's requests are held to.
    pub policy: Arc<EgressPolicy>,
}

impl Resolve for PolicyResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.policy.clone();
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let name_allowed = policy.check_name(&host)?;
            let mut allowed: Vec<SocketAddr> = Vec::new();
            let mut refused = None;
            for addr in tokio::net::lookup_host((host.as_str(), 0)).await? {
                match policy.check_address(&host, addr.ip(), name_allowed) {
                    Ok(()) => allowed.push(addr),
                    Err(denied) => {
                        refused.get_or_insert(denied);
                    }
                }
            }
            match refused {
                Some(denied) if allowed.is_empty() => Err(denied.into()),
                _ => Ok(Box::new(allowed.into_iter()) as Addrs),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn class(ip: &str) -> AddressClass {
        classify(ip.parse().unwrap())
    }

    #[test]
    fn ipv4_ranges_are_classified() {
        for (ip, expected) in [
            ("8.8.8.8", AddressClass::Public),
            ("1.1.1.1", AddressClass::Public),
            ("127.0.0.1", AddressClass::Loopback),
            ("127.255.255.254", AddressClass::Loopback),
            ("10.0.0.1", AddressClass::Private),
            ("172.16.0.1", AddressClass::Private),
            ("172.31.255.255", AddressClass::Private),
            ("172.32.0.1", AddressClass::Public),
            ("192.168.1.1", AddressClass::Private),
            ("169.254.1.1", AddressClass::LinkLocal),
            ("169.254.169.254", AddressClass::Metadata),
            ("169.254.170.2", AddressClass::Metadata),
            ("100.64.0.1", AddressClass::Cgnat),
            ("100.127.255.255", AddressClass::Cgnat),
            ("100.128.0.1", AddressClass::Public),
            ("100.63.255.255", AddressClass::Public),
            ("0.0.0.0", AddressClass::Unspecified),
            ("0.1.2.3", AddressClass::Unspecified),
            ("224.0.0.1", AddressClass::Multicast),
            ("239.255.255.255", AddressClass::Multicast),
            ("255.255.255.255", AddressClass::Broadcast),
            ("240.0.0.1", AddressClass::Reserved),
            ("192.0.2.1", AddressClass::Reserved),
            ("198.51.100.7", AddressClass::Reserved),
            ("203.0.113.9", AddressClass::Reserved),
            ("198.18.0.1", AddressClass::Reserved),
            ("192.0.0.8", AddressClass::Reserved),
        ] {
            assert_eq!(class(ip), expected, "{ip}");
        }
    }

    #[test]
    fn ipv6_ranges_are_classified_with_embedded_ipv4() {
        for (ip, expected) in [
            ("2606:4700:4700::1111", AddressClass::Public),
            ("::1", AddressClass::Loopback),
            ("::", AddressClass::Unspecified),
            ("fc00::1", AddressClass::UniqueLocal),
            ("fd12:3456::1", AddressClass::UniqueLocal),
            ("fd00:ec2::254", AddressClass::Metadata),
            ("fe80::1", AddressClass::LinkLocal),
            ("febf::1", AddressClass::LinkLocal),
            ("fec0::1", AddressClass::Private),
            ("ff02::1", AddressClass::Multicast),
            ("2001:db8::1", AddressClass::Reserved),
            ("100::1", AddressClass::Reserved),
            ("::ffff:127.0.0.1", AddressClass::Loopback),
            ("::ffff:169.254.169.254", AddressClass::Metadata),
            ("::ffff:10.1.2.3", AddressClass::Private),
            ("::ffff:8.8.8.8", AddressClass::Public),
            ("::127.0.0.1", AddressClass::Loopback),
            ("64:ff9b::a9fe:a9fe", AddressClass::Metadata),
            ("64:ff9b::808:808", AddressClass::Public),
            ("2002:7f00:1::1", AddressClass::Loopback),
            ("2002:c0a8:101::1", AddressClass::Private),
        ] {
            assert_eq!(class(ip), expected, "{ip}");
        }
    }

    fn policy(allow_private: bool, allow: &[&str], deny: &[&str]) -> EgressPolicy {
        EgressPolicy::new(&EgressConfig {
            allow_private,
            allow: allow.iter().map(|s| s.to_string()).collect(),
            deny: deny.iter().map(|s| s.to_string()).collect(),
            ..EgressConfig::default()
        })
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn the_default_policy_refuses_everything_but_public_addresses() {
        let p = policy(false, &[], &[]);
        assert!(p.check_literal(ip("93.184.216.34")).is_ok());
        let denied = p.check_literal(ip("127.0.0.1")).unwrap_err();
        assert_eq!(denied.address, Some(ip("127.0.0.1")));
        assert!(
            denied.to_string().contains("a loopback address"),
            "{denied}"
        );
        assert!(p.check_literal(ip("::ffff:192.168.0.1")).is_err());
        let denied = p.check_literal(ip("169.254.169.254")).unwrap_err();
        assert!(denied.why.contains("cloud metadata"), "{denied}");
        assert_eq!(p.check_name("example.com"), Ok(false));
    }

    #[test]
    fn allow_private_opens_private_ranges_but_not_metadata() {
        let p = policy(true, &[], &[]);
        for open in ["127.0.0.1", "10.0.0.1", "100.64.0.1", "fd00::1", "fe80::1"] {
            assert!(p.check_literal(ip(open)).is_ok(), "{open}");
        }
        for closed in ["169.254.169.254", "fd00:ec2::254", "0.0.0.0", "224.0.0.1"] {
            assert!(p.check_literal(ip(closed)).is_err(), "{closed}");
        }
    }

    #[test]
    fn allow_and_deny_rules_match_cidrs_and_names() {
        let p = policy(
            false,
            &[
                "10.1.2.0/24",
                "127.0.0.1",
                "api.internal.example",
                "*.corp.example",
            ],
            &["10.1.2.99", "bad.corp.example"],
        );
        assert!(p.check_literal(ip("10.1.2.3")).is_ok());
        assert!(p.check_literal(ip("::ffff:10.1.2.3")).is_ok());
        assert!(p.check_literal(ip("10.1.3.3")).is_err());
        assert!(p.check_literal(ip("127.0.0.1")).is_ok());
        assert!(p.check_literal(ip("127.0.0.2")).is_err());
        let denied = p.check_literal(ip("10.1.2.99")).unwrap_err();
        assert_eq!(denied.why, "listed in egress.deny");
        assert_eq!(p.check_name("API.internal.example."), Ok(true));
        assert_eq!(p.check_name("x.corp.example"), Ok(true));
        assert_eq!(p.check_name("corp.example"), Ok(false));
        assert!(p.check_name("bad.corp.example").is_err());
        // An allowed name may resolve anywhere, except to a denied address.
        assert!(
            p.check_address("api.internal.example", ip("10.9.9.9"), true)
                .is_ok()
        );
        assert!(
            p.check_address("api.internal.example", ip("10.1.2.99"), true)
                .is_err()
        );
    }

    #[test]
    fn rules_are_parsed_or_explained() {
        assert_eq!(
            EgressRule::parse("10.1.2.7/24"),
            Ok(EgressRule::Net("10.1.2.0/24".parse().unwrap()))
        );
        assert_eq!(
            EgressRule::parse("::1"),
            Ok(EgressRule::Net("::1/128".parse().unwrap()))
        );
        assert_eq!(
            EgressRule::parse("*.Example.com"),
            Ok(EgressRule::Suffix(".example.com".into()))
        );
        for bad in ["", "10.0.0.0/33", "http://x", "a..b", "*."] {
            assert!(EgressRule::parse(bad).is_err(), "{bad:?}");
        }
    }
}
