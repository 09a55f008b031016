//! Timestamps on the wire and in SQLite: RFC 3339 UTC with millisecond precision
//! (`2026-07-01T09:00:00.123Z`), so string order equals time order.

use chrono::{DateTime, SecondsFormat, Utc};

/// Formats an instant the way every timestamp in `ao` is written.
pub fn format(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// The current time, formatted with [`format`].
pub fn now() -> String {
    format(Utc::now())
}

/// Parses a timestamp written by [`format`] (any RFC 3339 string is accepted).
pub fn parse(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_is_millisecond_utc_and_round_trips() {
        let t = parse("2026-07-01T09:00:00.123Z").expect("valid timestamp");
        assert_eq!(format(t), "2026-07-01T09:00:00.123Z");
        let n = now();
        assert_eq!(n.len(), 24, "{n}");
        assert!(n.ends_with('Z'));
    }
}
