//! Property tests of the gate parsers (http-api.md §2): the `Host` header decides whether a
//! browser-driven request (DNS rebinding) reaches the API, and the bearer comparison decides
//! everything else. Both are total over arbitrary header bytes and accept exactly what the
//! spec allows.

use std::net::Ipv4Addr;

use proptest::prelude::*;

use super::host_allowed;
use crate::http::state::Token;

const PORT: u16 = 3001;

/// The spec's rule, written independently of the gate: an optional `:<port>` suffix whose
/// digits equal the bound port, then `localhost` (any case), `[::1]` or an IPv4 address in
/// 127.0.0.0/8.
fn allowed_by_spec(value: &str) -> bool {
    let host = match value.rsplit_once(':') {
        Some((host, port)) if !host.ends_with(':') && port.bytes().all(|b| b.is_ascii_digit()) => {
            if port.parse::<u16>() != Ok(PORT) {
                return false;
            }
            host
        }
        _ => value,
    };
    host.eq_ignore_ascii_case("localhost")
        || host == "[::1]"
        || host.parse::<Ipv4Addr>().is_ok_and(|ip| ip.is_loopback())
}

fn host_like() -> impl Strategy<Value = String> {
    let piece = prop::sample::select(vec![
        "localhost",
        "LocalHost",
        "127.0.0.1",
        "127.1",
        "127.255.255.254",
        "128.0.0.1",
        "0.0.0.0",
        "[::1]",
        "[::2]",
        "::1",
        "[",
        "]",
        ":",
        ":3001",
        ":3002",
        ":03001",
        ":",
        ".",
        "evil.example",
        "localhost.",
        "127.0.0.1.nip.io",
        "%00",
        " ",
        "@",
        "3001",
        "65536",
        "+",
    ]);
    prop_oneof![
        4 => prop::collection::vec(piece, 1..4).prop_map(|p| p.concat()),
        1 => any::<String>(),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn the_host_gate_admits_exactly_the_loopback_names_of_the_bound_port(value in host_like()) {
        prop_assert_eq!(host_allowed(&value, PORT), allowed_by_spec(&value), "{:?}", value);
    }

    #[test]
    fn every_loopback_ipv4_with_or_without_the_port_is_admitted(
        b in any::<u8>(), c in any::<u8>(), d in any::<u8>(), with_port in any::<bool>(),
    ) {
        let host = format!("127.{b}.{c}.{d}");
        let value = if with_port { format!("{host}:{PORT}") } else { host };
        prop_assert!(host_allowed(&value, PORT), "{}", value);
    }

    #[test]
    fn the_token_matches_only_itself(
        token in "[0-9a-f]{64}",
        other in prop::collection::vec(any::<u8>(), 0..80),
        flip in any::<prop::sample::Index>(),
    ) {
        let t = Token::new(token.clone());
        prop_assert!(t.matches(token.as_bytes()));
        prop_assert_eq!(t.matches(&other), other == token.as_bytes());
        let mut near = token.clone().into_bytes();
        let i = flip.index(near.len());
        near[i] ^= 0x01;
        prop_assert!(!t.matches(&near));
        prop_assert!(!t.matches(&near[..near.len() - 1]));
    }
}
