//! Trusted proxies: the addresses whose `X-Forwarded-For` herald believes (the
//! client address read from it per request is `crate::server::caller`'s).
//!
//! A proxy appends the address it saw to `X-Forwarded-For`, so the header reads
//! `anything-the-client-wrote, ..., hop-seen-by-proxy-1, hop-seen-by-proxy-2` and the
//! TCP peer is the last proxy. The client is the rightmost address that is not a
//! trusted proxy: walking from the right, every trusted hop vouches for the one to
//! its left, and the first untrusted one is where the vouching ends. What stands
//! left of it was written by the client and is never read. A peer that is not a
//! trusted proxy is the client, whatever its headers say.

use super::ConfigError;
use std::net::IpAddr;

/// One address or CIDR block (`10.0.0.0/8`, `::1`, `fd00::/8`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Block {
    net: IpAddr,
    bits: u8,
}

impl Block {
    pub fn parse(text: &str) -> Result<Block, ConfigError> {
        let bad = || {
            ConfigError::Invalid(format!(
                "trusted_proxies: {text:?} is not an address or CIDR block"
            ))
        };
        let (addr, bits) = match text.trim().split_once('/') {
            Some((a, b)) => (a, Some(b.parse::<u8>().map_err(|_| bad())?)),
            None => (text.trim(), None),
        };
        let net = canonical(addr.parse::<IpAddr>().map_err(|_| bad())?);
        let max = if net.is_ipv4() { 32 } else { 128 };
        let bits = bits.unwrap_or(max);
        if bits > max {
            return Err(bad());
        }
        Ok(Block { net, bits })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.net, canonical(ip)) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                prefix(u32::from(n).into(), u32::from(a).into(), self.bits, 32)
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => prefix(n.into(), a.into(), self.bits, 128),
            _ => false,
        }
    }
}

/// Whether the first `bits` of `width`-bit `a` and `b` agree.
fn prefix(a: u128, b: u128, bits: u8, width: u32) -> bool {
    let shift = width - u32::from(bits);
    shift >= width || (a >> shift) == (b >> shift)
}

/// IPv4-mapped IPv6 (`::ffff:10.0.0.1`, as a dual-stack socket reports) as IPv4.
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// The proxies whose `X-Forwarded-For` is believed; empty: nobody's.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<Block>);

impl TrustedProxies {
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<TrustedProxies, ConfigError> {
        let blocks = entries
            .iter()
            .map(|e| e.as_ref())
            .filter(|e| !e.trim().is_empty())
            .map(Block::parse)
            .collect::<Result<_, _>>()?;
        Ok(TrustedProxies(blocks))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether connections from `ip` come through a trusted proxy.
    pub fn trusts(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|b| b.contains(ip))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn blocks_match_their_prefix_only() {
        let b = Block::parse("10.1.0.0/16").unwrap();
        assert!(b.contains(ip("10.1.255.3")));
        assert!(!b.contains(ip("10.2.0.1")));
        assert!(b.contains(ip("::ffff:10.1.0.9")), "v4-mapped counts as v4");
        assert!(Block::parse("0.0.0.0/0").unwrap().contains(ip("8.8.8.8")));
        assert!(Block::parse("fd00::/8").unwrap().contains(ip("fd12::1")));
        assert!(!Block::parse("::1").unwrap().contains(ip("::2")));
        assert!(Block::parse("127.0.0.1").unwrap().contains(ip("127.0.0.1")));
        for bad in ["10.0.0.0/33", "nginx", "10.0.0.0/x", "::/129"] {
            assert!(Block::parse(bad).is_err(), "{bad}");
        }
    }
}
