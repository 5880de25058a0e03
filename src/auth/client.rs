//! The client's address, for the timeline and the login throttle: the peer's address, or —
//! only when the peer is a proxy named in `TRUSTED_PROXIES` — the address it forwards in
//! `X-Forwarded-For`. A client can write that header itself, so it is never trusted otherwise.

use std::net::IpAddr;

use actix_web::HttpRequest;
use ipnet::IpNet;

pub fn address(req: &HttpRequest, trusted: &[IpNet]) -> String {
    let Some(peer) = req.peer_addr().map(|a| a.ip()) else {
        return String::new();
    };
    let forwarded: Vec<&str> = req
        .headers()
        .get_all("x-forwarded-for")
        .filter_map(|v| v.to_str().ok())
        .collect();
    resolve(peer, &forwarded, trusted).to_string()
}

/// Walks `X-Forwarded-For` from the right (each proxy appends the address it received from)
/// while the hops are trusted proxies; the first other address is the client.
pub fn resolve(peer: IpAddr, forwarded: &[&str], trusted: &[IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    let hops: Vec<&str> = forwarded
        .iter()
        .flat_map(|h| h.split(','))
        .map(str::trim)
        .collect();
    let mut client = peer;
    for hop in hops.iter().rev() {
        match hop.parse::<IpAddr>() {
            Ok(ip) => {
                client = ip;
                if !is_trusted(&ip) {
                    break;
                }
            }
            // Garbage (or an obfuscated name): stop at the last address we can vouch for.
            Err(_) => break,
        }
    }
    client
}

/// `TRUSTED_PROXIES`: addresses or CIDR ranges, separated by commas or spaces.
pub fn parse_trusted(raw: &str) -> Result<Vec<IpNet>, String> {
    raw.split([',', ' '])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<IpNet>()
                .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| format!("`{s}` is not an IP address or CIDR range"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn forwarded_addresses_count_only_from_trusted_proxies() {
        let trusted = parse_trusted("10.0.0.0/8, 192.0.2.1").unwrap();
        // Not a proxy of ours: its header is ignored.
        assert_eq!(
            resolve(ip("203.0.113.9"), &["198.51.100.1"], &trusted),
            ip("203.0.113.9")
        );
        // Our proxy forwards the client.
        assert_eq!(
            resolve(ip("10.1.2.3"), &["198.51.100.1"], &trusted),
            ip("198.51.100.1")
        );
        // A client that prepends a fake address gets its own address recorded.
        assert_eq!(
            resolve(
                ip("10.1.2.3"),
                &["1.2.3.4, 198.51.100.1, 192.0.2.1"],
                &trusted
            ),
            ip("198.51.100.1")
        );
        // Nothing forwarded, or garbage: the proxy's own address.
        assert_eq!(resolve(ip("10.1.2.3"), &[], &trusted), ip("10.1.2.3"));
        assert_eq!(
            resolve(ip("10.1.2.3"), &["unknown"], &trusted),
            ip("10.1.2.3")
        );
        assert_eq!(
            resolve(ip("10.1.2.3"), &["198.51.100.1"], &[]),
            ip("10.1.2.3")
        );
    }

    #[test]
    fn settings_are_addresses_or_ranges() {
        assert_eq!(parse_trusted("").unwrap(), vec![]);
        assert_eq!(parse_trusted("::1 127.0.0.1").unwrap().len(), 2);
        assert!(parse_trusted("10.0.0.0/33").is_err());
        assert!(parse_trusted("proxy.internal").is_err());
    }
}
