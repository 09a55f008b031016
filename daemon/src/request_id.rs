//! Request ids (http-api.md §1): an inbound `X-Request-Id` of 1–128 visible ASCII characters is
//! reused as is; otherwise the daemon generates `req_<26-char ULID>`.
//!
//! The ULID is written here rather than pulled in as a crate: 48 bits of Unix milliseconds
//! followed by 80 random bits from the OS CSPRNG, encoded as 26 Crockford base32 characters,
//! most significant first (so ids sort by creation time at millisecond granularity).

use std::time::{SystemTime, UNIX_EPOCH};

/// The Crockford base32 alphabet (no I, L, O, U).
const CROCKFORD: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// Whether an inbound `X-Request-Id` value may be reused: 1–128 visible ASCII characters.
pub fn is_valid(value: &[u8]) -> bool {
    (1..=128).contains(&value.len()) && value.iter().all(|b| (0x21..=0x7e).contains(b))
}

/// A fresh `req_<ULID>` id.
pub fn generate() -> String {
    let millis = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    let mut random = [0u8; 10];
    if getrandom::fill(&mut random).is_err() {
        // The OS CSPRNG failing is not a reason to fail a request: fall back to the clock's
        // sub-millisecond bits. Request ids are identifiers, not secrets.
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        random[..4].copy_from_slice(&nanos.to_be_bytes());
    }
    format!("req_{}", ulid(millis as u64, random))
}

/// Encodes a ULID from its two parts: the low 48 bits of `millis` and 80 random bits.
pub fn ulid(millis: u64, random: [u8; 10]) -> String {
    let mut value: u128 = u128::from(millis & 0xFFFF_FFFF_FFFF) << 80;
    for (i, b) in random.iter().enumerate() {
        value |= u128::from(*b) << (72 - 8 * i);
    }
    // 26 characters × 5 bits = 130 bits: the first character carries the top 3 bits.
    (0..26)
        .map(|i| {
            let shift = 125 - 5 * i;
            char::from(CROCKFORD[((value >> shift) & 0x1F) as usize])
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ulid_encoding_matches_the_reference_layout() {
        assert_eq!(ulid(0, [0; 10]), "00000000000000000000000000");
        assert_eq!(ulid(u64::MAX, [0xFF; 10]), "7ZZZZZZZZZZZZZZZZZZZZZZZZZ");
        // Reference value from the ULID spec's example timestamp 1469918176385 (0x01563E3AB5D1)
        // whose time part encodes as 01ARYZ6S41.
        assert!(ulid(1_469_918_176_385, [0; 10]).starts_with("01ARYZ6S41"));
        assert_eq!(
            ulid(0, [0, 0, 0, 0, 0, 0, 0, 0, 0, 1]),
            "00000000000000000000000001"
        );
    }

    #[test]
    fn generated_ids_are_valid_sortable_and_distinct() {
        let a = generate();
        let b = generate();
        assert_eq!(a.len(), 30, "{a}");
        assert!(a.starts_with("req_"));
        assert!(is_valid(a.as_bytes()));
        assert_ne!(a, b);
        assert!(a[4..].bytes().all(|c| CROCKFORD.contains(&c)));
    }

    #[test]
    fn inbound_ids_must_be_visible_ascii_up_to_128() {
        assert!(is_valid(b"abc-123"));
        assert!(is_valid(&[b'x'; 128]));
        assert!(!is_valid(&[b'x'; 129]));
        assert!(!is_valid(b""));
        assert!(!is_valid(b"has space"));
        assert!(!is_valid("ü".as_bytes()));
    }
}
