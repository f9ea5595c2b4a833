//! Where deliveries may connect: public unicast addresses only, unless an operator allowlists a range.
//! Refusing private, loopback, link-local and other special ranges keeps webhook URLs from being used to
//! reach the platform's own network (SSRF).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

/// An address range such as `10.0.0.0/8` or `fd00::/8`; a bare address is a single-address range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

/// Why a string is not a CIDR range.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("`{0}` is not an address range like 10.0.0.0/8 or fd00::/8")]
pub struct InvalidCidr(pub String);

impl FromStr for Cidr {
    type Err = InvalidCidr;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        let bad = || InvalidCidr(raw.to_owned());
        let (addr, prefix) = raw.trim().split_once('/').unwrap_or((raw.trim(), ""));
        let network: IpAddr = addr.parse().map_err(|_| bad())?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix = if prefix.is_empty() {
            max
        } else {
            prefix.parse().map_err(|_| bad())?
        };
        if prefix > max {
            return Err(bad());
        }
        Ok(Self { network, prefix })
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

impl Cidr {
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.network, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => prefix_eq(
                u128::from(u32::from(net)) << 96,
                u128::from(u32::from(ip)) << 96,
                self.prefix,
            ),
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                prefix_eq(u128::from(net), u128::from(ip), self.prefix)
            }
            _ => false,
        }
    }
}

/// Whether the first `prefix` bits (counted from the top of a 128-bit value) agree.
fn prefix_eq(a: u128, b: u128, prefix: u8) -> bool {
    prefix == 0 || (a ^ b) >> (128 - u32::from(prefix)) == 0
}

/// Ranges no delivery may reach unless allowlisted: not routable on the public internet, or routed to
/// this host, its network, or the cloud metadata service.
const FORBIDDEN: &[&str] = &[
    "0.0.0.0/8",       // "this network"
    "10.0.0.0/8",      // private
    "100.64.0.0/10",   // carrier-grade NAT
    "127.0.0.0/8",     // loopback
    "169.254.0.0/16",  // link-local, including 169.254.169.254 (cloud metadata)
    "172.16.0.0/12",   // private
    "192.0.0.0/24",    // IETF protocol assignments
    "192.0.2.0/24",    // documentation (TEST-NET-1)
    "192.88.99.0/24",  // 6to4 relay anycast
    "192.168.0.0/16",  // private
    "198.18.0.0/15",   // benchmarking
    "198.51.100.0/24", // documentation (TEST-NET-2)
    "203.0.113.0/24",  // documentation (TEST-NET-3)
    "224.0.0.0/4",     // multicast
    "240.0.0.0/4",     // reserved, and broadcast
    "::/128",          // unspecified
    "::1/128",         // loopback
    "64:ff9b:1::/48",  // local-use NAT64
    "100::/64",        // discard
    "2001::/23",       // IETF protocol assignments, including Teredo
    "2001:db8::/32",   // documentation
    "2002::/16",       // 6to4
    "fc00::/7",        // unique local
    "fe80::/10",       // link-local
    "fec0::/10",       // site-local (deprecated)
    "ff00::/8",        // multicast
];

/// [`FORBIDDEN`], parsed once.
fn forbidden_ranges() -> &'static [Cidr] {
    static RANGES: std::sync::LazyLock<Vec<Cidr>> = std::sync::LazyLock::new(|| {
        FORBIDDEN
            .iter()
            .map(|c| c.parse().expect("the forbidden ranges are valid"))
            .collect()
    });
    &RANGES
}

/// The delivery address policy: the forbidden ranges, minus the operator's allowlist.
#[derive(Debug, Clone, Default)]
pub struct AddressPolicy {
    allowed: Vec<Cidr>,
}

/// An address the policy refuses.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("refused: {0} is a private, loopback, link-local or otherwise non-public address")]
pub struct Forbidden(pub IpAddr);

impl AddressPolicy {
    pub fn new(allowed: Vec<Cidr>) -> Self {
        Self { allowed }
    }

    /// Checks one address. IPv4 addresses embedded in IPv6 (mapped, compatible, NAT64) are judged as IPv4.
    pub fn check(&self, ip: IpAddr) -> Result<(), Forbidden> {
        let judged = embedded_ipv4(ip).map_or(ip, IpAddr::V4);
        if self
            .allowed
            .iter()
            .any(|c| c.contains(ip) || c.contains(judged))
        {
            return Ok(());
        }
        let forbidden = forbidden_ranges().iter().any(|c| c.contains(judged));
        if forbidden {
            Err(Forbidden(ip))
        } else {
            Ok(())
        }
    }
}

/// The IPv4 address inside an IPv4-mapped (`::ffff:a.b.c.d`), IPv4-compatible (`::a.b.c.d`) or
/// well-known NAT64 (`64:ff9b::a.b.c.d`) IPv6 address.
fn embedded_ipv4(ip: IpAddr) -> Option<Ipv4Addr> {
    let IpAddr::V6(v6) = ip else { return None };
    if let Some(v4) = v6.to_ipv4_mapped() {
        return Some(v4);
    }
    let bits = u128::from(v6);
    let low = Ipv4Addr::from((bits & 0xffff_ffff) as u32);
    let nat64 = u128::from(Ipv6Addr::new(0x64, 0xff9b, 0, 0, 0, 0, 0, 0));
    // `::` and `::1` stay IPv6 so they are judged as unspecified and loopback.
    let compatible = bits >> 32 == 0 && bits > 1;
    (compatible || bits >> 32 == nat64 >> 32).then_some(low)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn refuses_every_special_range() {
        let policy = AddressPolicy::default();
        for bad in [
            "10.0.0.1",
            "127.0.0.1",
            "169.254.169.254",
            "172.16.5.4",
            "192.168.1.1",
            "100.64.0.1",
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
            "192.0.2.10",
            "198.51.100.7",
            "203.0.113.9",
            "198.18.0.1",
            "::1",
            "::",
            "fe80::1",
            "fc00::1",
            "fd12:3456::1",
            "ff02::1",
            "2001:db8::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::127.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "2002:7f00:1::1",
        ] {
            assert!(policy.check(ip(bad)).is_err(), "{bad} must be refused");
        }
    }

    #[test]
    fn allows_public_unicast() {
        let policy = AddressPolicy::default();
        for good in [
            "93.184.216.34",
            "8.8.8.8",
            "1.1.1.1",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
        ] {
            assert!(policy.check(ip(good)).is_ok(), "{good} must be allowed");
        }
    }

    #[test]
    fn the_allowlist_opens_exceptions() {
        let policy = AddressPolicy::new(vec![
            "127.0.0.1/32".parse().unwrap(),
            "10.1.0.0/16".parse().unwrap(),
        ]);
        assert!(policy.check(ip("127.0.0.1")).is_ok());
        assert!(
            policy.check(ip("::ffff:127.0.0.1")).is_ok(),
            "the mapped form of an allowed address"
        );
        assert!(policy.check(ip("10.1.200.3")).is_ok());
        assert!(policy.check(ip("127.0.0.2")).is_err());
        assert!(policy.check(ip("10.2.0.1")).is_err());
    }

    #[test]
    fn parses_ranges() {
        assert_eq!(
            "10.0.0.0/8".parse::<Cidr>().unwrap().to_string(),
            "10.0.0.0/8"
        );
        assert_eq!("::1".parse::<Cidr>().unwrap().to_string(), "::1/128");
        for bad in ["", "10.0.0.0/33", "nope/8", "::/129"] {
            assert!(bad.parse::<Cidr>().is_err(), "{bad}");
        }
    }
}
