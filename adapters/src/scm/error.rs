//! Error classes of the GitHub client (adapters.md §8) and the rate-limit headers (scm.md §8).
//!
//! [`classify`] maps a non-success HTTP answer to a [`ScmError`]; [`RateSnapshot::from_headers`]
//! reads `X-RateLimit-*`. Both are pure so the whole matrix is tested without a server.
//! No variant ever carries the token.

use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use reqwest::StatusCode;
use reqwest::header::HeaderMap;

/// Why a GitHub call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScmError {
    /// 304: the conditional request matched the ETag.
    #[error("not modified")]
    NotModified,
    /// 404, or a GraphQL `NOT_FOUND` for this alias.
    #[error("not found")]
    NotFound,
    /// 401, or a 403 that is not a rate limit.
    #[error("GitHub rejected the credentials (HTTP {status}): {message}")]
    AuthFailed { status: u16, message: String },
    /// 403 with rate-limit signs, 429, or a GraphQL `RATE_LIMITED`.
    #[error("GitHub rate limit hit{}{}", .retry_after.map(|d| format!(", retry after {}s", d.as_secs())).unwrap_or_default(), .reset_at.map(|t| format!(", resets at {}", ao_protocol::time::format(t))).unwrap_or_default())]
    RateLimited {
        /// `Retry-After`, when present.
        retry_after: Option<Duration>,
        /// `X-RateLimit-Reset`, when present.
        reset_at: Option<DateTime<Utc>>,
    },
    /// 5xx, network errors, timeouts, other GraphQL errors: retry on the next tick.
    #[error("transient GitHub error: {0}")]
    Transient(String),
    /// A 2xx answer that could not be decoded (bad JSON, missing fields, oversized body).
    #[error("malformed GitHub response: {0}")]
    Malformed(String),
    /// No token from any source (scm.md §2): GitHub is disabled until one appears.
    #[error("no GitHub token (set AO_GITHUB_TOKEN or GITHUB_TOKEN, or run gh auth login)")]
    NoToken,
}

impl ScmError {
    /// The same error with every occurrence of `secret` replaced by `<redacted>` (a server
    /// that echoes credentials must not make them leak into logs).
    pub fn redacted(self, secret: &str) -> Self {
        if secret.is_empty() {
            return self;
        }
        let scrub = |m: String| m.replace(secret, "<redacted>");
        match self {
            Self::AuthFailed { status, message } => Self::AuthFailed {
                status,
                message: scrub(message),
            },
            Self::Transient(m) => Self::Transient(scrub(m)),
            Self::Malformed(m) => Self::Malformed(scrub(m)),
            other => other,
        }
    }

    /// A stable one-word class, e.g. for `<log unavailable: <class>>` (scm.md §6.2).
    pub const fn class(&self) -> &'static str {
        match self {
            Self::NotModified => "not_modified",
            Self::NotFound => "not_found",
            Self::AuthFailed { .. } => "auth_failed",
            Self::RateLimited { .. } => "rate_limited",
            Self::Transient(_) => "transient",
            Self::Malformed(_) => "malformed",
            Self::NoToken => "no_token",
        }
    }
}

/// Which budget bucket a response counts against (scm.md §8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RateBucket {
    Rest,
    Graphql,
}

/// One response's `X-RateLimit-*` headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateSnapshot {
    /// `X-RateLimit-Resource` (`core`, `graphql`, `search`, …); inferred from the endpoint when
    /// the header is missing.
    pub resource: String,
    pub limit: u64,
    pub remaining: u64,
    pub used: u64,
    pub reset_at: Option<DateTime<Utc>>,
}

impl RateSnapshot {
    /// Parses the headers; `None` unless both `Limit` and `Remaining` are present and numeric.
    /// `fallback` is the bucket of the endpoint, used when `Resource` is absent.
    pub fn from_headers(headers: &HeaderMap, fallback: RateBucket) -> Option<Self> {
        let limit = header_u64(headers, "x-ratelimit-limit")?;
        let remaining = header_u64(headers, "x-ratelimit-remaining")?;
        let used =
            header_u64(headers, "x-ratelimit-used").unwrap_or(limit.saturating_sub(remaining));
        let resource = header_str(headers, "x-ratelimit-resource")
            .filter(|r| !r.is_empty())
            .map_or_else(
                || match fallback {
                    RateBucket::Rest => "core".to_string(),
                    RateBucket::Graphql => "graphql".to_string(),
                },
                str::to_ascii_lowercase,
            );
        Some(Self {
            resource,
            limit,
            remaining,
            used,
            reset_at: reset_at(headers),
        })
    }

    /// The budget bucket: `graphql` → GraphQL, `core` → REST, anything else (search, …) → none.
    pub fn bucket(&self) -> Option<RateBucket> {
        match self.resource.as_str() {
            "graphql" => Some(RateBucket::Graphql),
            "core" => Some(RateBucket::Rest),
            _ => None,
        }
    }
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name)?.to_str().ok().map(str::trim)
}

fn header_u64(headers: &HeaderMap, name: &str) -> Option<u64> {
    header_str(headers, name)?.parse().ok()
}

fn reset_at(headers: &HeaderMap) -> Option<DateTime<Utc>> {
    let secs = i64::try_from(header_u64(headers, "x-ratelimit-reset")?).ok()?;
    Utc.timestamp_opt(secs, 0).single()
}

/// `Retry-After` as seconds or as an HTTP date (relative to `now`).
pub fn retry_after(headers: &HeaderMap, now: DateTime<Utc>) -> Option<Duration> {
    let v = header_str(headers, "retry-after")?;
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = DateTime::parse_from_rfc2822(v).ok()?.with_timezone(&Utc);
    Some((at - now).to_std().unwrap_or(Duration::ZERO))
}

/// The error class of a non-2xx answer (adapters.md §8). `body` is (the start of) the body.
pub fn classify(status: StatusCode, headers: &HeaderMap, body: &str) -> ScmError {
    let code = status.as_u16();
    let rate_limited = || ScmError::RateLimited {
        retry_after: retry_after(headers, Utc::now()),
        reset_at: reset_at(headers),
    };
    match code {
        304 => ScmError::NotModified,
        404 | 410 => ScmError::NotFound,
        401 => ScmError::AuthFailed {
            status: code,
            message: short_message(body),
        },
        403 => {
            let lower = body.to_ascii_lowercase();
            let by_words = ["rate limit", "abuse", "secondary"]
                .iter()
                .any(|w| lower.contains(w));
            if header_u64(headers, "x-ratelimit-remaining") == Some(0)
                || headers.contains_key("retry-after")
                || by_words
            {
                rate_limited()
            } else {
                ScmError::AuthFailed {
                    status: code,
                    message: short_message(body),
                }
            }
        }
        429 => rate_limited(),
        _ => ScmError::Transient(format!("HTTP {code}: {}", short_message(body))),
    }
}

/// GitHub's `message` field when the body is its JSON error, else the first 200 chars.
fn short_message(body: &str) -> String {
    let msg = serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("message")?.as_str().map(str::to_string))
        .unwrap_or_else(|| body.trim().to_string());
    msg.chars().take(200).collect()
}

#[cfg(test)]
mod tests {
    use reqwest::header::{HeaderName, HeaderValue};

    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(
                HeaderName::from_bytes(k.as_bytes()).expect("name"),
                HeaderValue::from_str(v).expect("value"),
            );
        }
        h
    }

    #[test]
    fn status_matrix() {
        let none = headers(&[]);
        let st = |c: u16| StatusCode::from_u16(c).expect("status");
        assert_eq!(classify(st(304), &none, ""), ScmError::NotModified);
        assert_eq!(classify(st(404), &none, ""), ScmError::NotFound);
        assert_eq!(
            classify(st(401), &none, r#"{"message":"Bad credentials"}"#),
            ScmError::AuthFailed {
                status: 401,
                message: "Bad credentials".into()
            }
        );
        assert!(matches!(
            classify(
                st(403),
                &none,
                r#"{"message":"Resource not accessible by integration"}"#
            ),
            ScmError::AuthFailed { status: 403, .. }
        ));
        let reset = headers(&[
            ("x-ratelimit-remaining", "0"),
            ("x-ratelimit-reset", "1700000000"),
        ]);
        assert_eq!(
            classify(st(403), &reset, "{}"),
            ScmError::RateLimited {
                retry_after: None,
                reset_at: Utc.timestamp_opt(1_700_000_000, 0).single()
            }
        );
        assert_eq!(
            classify(st(403), &headers(&[("retry-after", "60")]), ""),
            ScmError::RateLimited {
                retry_after: Some(Duration::from_secs(60)),
                reset_at: None
            }
        );
        for words in [
            "API rate limit exceeded",
            "You have exceeded a SECONDARY rate limit",
            "abuse detection",
        ] {
            assert!(
                matches!(
                    classify(st(403), &none, words),
                    ScmError::RateLimited { .. }
                ),
                "{words}"
            );
        }
        assert!(matches!(
            classify(st(429), &none, ""),
            ScmError::RateLimited { .. }
        ));
        for c in [500, 502, 503, 504, 422, 400] {
            assert!(
                matches!(classify(st(c), &none, "x"), ScmError::Transient(_)),
                "{c}"
            );
        }
    }

    #[test]
    fn rate_snapshot_parsing() {
        let h = headers(&[
            ("x-ratelimit-limit", "5000"),
            ("x-ratelimit-remaining", "4990"),
            ("x-ratelimit-used", "10"),
            ("x-ratelimit-reset", "1700000000"),
            ("x-ratelimit-resource", "graphql"),
        ]);
        let s = RateSnapshot::from_headers(&h, RateBucket::Rest).expect("snapshot");
        assert_eq!(
            s,
            RateSnapshot {
                resource: "graphql".into(),
                limit: 5000,
                remaining: 4990,
                used: 10,
                reset_at: Utc.timestamp_opt(1_700_000_000, 0).single(),
            }
        );
        assert_eq!(s.bucket(), Some(RateBucket::Graphql));
        let partial = headers(&[("x-ratelimit-limit", "60"), ("x-ratelimit-remaining", "59")]);
        let s = RateSnapshot::from_headers(&partial, RateBucket::Rest).expect("snapshot");
        assert_eq!((s.resource.as_str(), s.used, s.reset_at), ("core", 1, None));
        assert_eq!(s.bucket(), Some(RateBucket::Rest));
        assert!(RateSnapshot::from_headers(&headers(&[]), RateBucket::Rest).is_none());
        let junk = headers(&[("x-ratelimit-limit", "x"), ("x-ratelimit-remaining", "1")]);
        assert!(RateSnapshot::from_headers(&junk, RateBucket::Rest).is_none());
    }

    #[test]
    fn retry_after_accepts_http_dates() {
        let now = Utc.timestamp_opt(1_700_000_000, 0).single().expect("time");
        let later = (now + chrono::Duration::seconds(90)).to_rfc2822();
        assert_eq!(
            retry_after(&headers(&[("retry-after", &later)]), now),
            Some(Duration::from_secs(90))
        );
        assert_eq!(retry_after(&headers(&[("retry-after", "soon")]), now), None);
    }

    #[test]
    fn classes_are_stable_words() {
        assert_eq!(ScmError::NotFound.class(), "not_found");
        assert_eq!(ScmError::Transient("x".into()).class(), "transient");
        assert_eq!(
            ScmError::RateLimited {
                retry_after: None,
                reset_at: None
            }
            .class(),
            "rate_limited"
        );
    }
}
