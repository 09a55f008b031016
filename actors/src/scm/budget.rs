//! [`RateBudget`]: the shared GitHub rate-limit budget and poll gate of scm.md §8.
//!
//! One budget per tree, shared by every PrObserver (behind a mutex, see
//! [`super::SharedBudget`]). It keeps the `rest` and `graphql` buckets from **every**
//! [`RateSnapshot`] (the GithubClient's `rate_sink` feeds [`RateBudget::record`], 304s
//! included), and the error state of the last polls. Before each tick an observer asks
//! [`RateBudget::gate`] whether to run and how long to wait before the next tick:
//!
//! | condition | gate | `github.state` |
//! |---|---|---|
//! | no token | skip, re-check after `token_recheck` (5 min) | `disabled` |
//! | auth failed | skip until `auth_retry` (5 min) after the failure | `auth_failed` |
//! | rate limited | skip until `backoffUntil` (Retry-After, else reset when remaining = 0, else 60 s doubling ≤ 15 min) | `backoff` |
//! | r < 0.05 or remaining < 100 | skip until `resetAt + 5 s` | `throttled` |
//! | 0.05 ≤ r < 0.20 | run every 120 s, review refreshes only for `changes_requested` | `throttled` |
//! | otherwise | run every 30 s | `ok` |
//!
//! `r = remaining / limit` of the most constrained bucket. The backoff exponent resets after a
//! successful poll. Every method takes `now`, so the whole machine is tested with a fake clock.

use std::time::Duration;

use ao_adapters::scm::{RateBucket, RateSnapshot, TokenSource};
use ao_protocol::{GithubState, GithubStatus, RateWindow, time};
use chrono::{DateTime, Utc};

/// The timings of the GitHub loop (scm.md §1, §4, §8). [`Default`] is the spec's; tests
/// shorten them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScmTimings {
    /// Poll interval while the budget is healthy (30 s).
    pub poll_ok: Duration,
    /// Poll interval while throttled (120 s).
    pub poll_throttled: Duration,
    /// How often the ScmSupervisor rescans the projects (60 s).
    pub rescan: Duration,
    /// A `changes_requested` PR's review threads are fetched again after this (2 min).
    pub review_refresh: Duration,
    /// The first rate-limit backoff (60 s); doubled per consecutive failure.
    pub backoff_base: Duration,
    /// The backoff cap (15 min).
    pub backoff_cap: Duration,
    /// After an auth failure, retry after this (5 min).
    pub auth_retry: Duration,
    /// Without a token, check again after this (5 min).
    pub token_recheck: Duration,
    /// Added to `resetAt` before a paused budget polls again (5 s).
    pub reset_margin: Duration,
    /// The bound of the `PrFactsChanged` reaction (5 s).
    pub react_timeout: Duration,
    /// Every subject of a repo is refreshed when this has passed since the repo's last fully
    /// successful full refresh (5 min; not in the spec, see the PrObserver's module docs).
    pub full_refresh: Duration,
    /// The total time of one GitHub request, body included (30 s, adapters.md §8).
    pub request_timeout: Duration,
}

impl Default for ScmTimings {
    fn default() -> Self {
        Self {
            poll_ok: Duration::from_secs(30),
            poll_throttled: Duration::from_secs(120),
            rescan: Duration::from_secs(60),
            review_refresh: Duration::from_secs(120),
            backoff_base: Duration::from_secs(60),
            backoff_cap: Duration::from_secs(900),
            auth_retry: Duration::from_secs(300),
            token_recheck: Duration::from_secs(300),
            reset_margin: Duration::from_secs(5),
            react_timeout: Duration::from_secs(5),
            full_refresh: Duration::from_secs(300),
            request_timeout: Duration::from_secs(30),
        }
    }
}

impl ScmTimings {
    /// The spec's timings scaled to a base poll interval (`AO_GITHUB_POLL_INTERVAL`, 30 s by
    /// default, which gives exactly [`Default`]): throttled polls every 4× base (30 s → 120 s),
    /// review refreshes every 4× base (≤ 2 min), the project rescan and the first rate-limit
    /// backoff every 2× base (≤ 60 s), the full refresh every max(5 min, 10× base), the auth
    /// retry and the no-token re-check every 10× base (≤ 5 min), and a request may take the
    /// base interval, at least 5 s and at most 30 s (a request never outlives a poll interval
    /// by much). The other timings keep their spec values.
    pub fn with_poll_interval(base: Duration) -> Self {
        let base = base.max(Duration::from_millis(1));
        let minute = Duration::from_secs(60);
        let default = Self::default();
        Self {
            poll_ok: base,
            poll_throttled: base.saturating_mul(4),
            rescan: base.saturating_mul(2).min(minute),
            review_refresh: base.saturating_mul(4).min(2 * minute),
            backoff_base: base.saturating_mul(2).min(minute),
            full_refresh: base.saturating_mul(10).max(5 * minute),
            auth_retry: base.saturating_mul(10).min(default.auth_retry),
            token_recheck: base.saturating_mul(10).min(default.token_recheck),
            request_timeout: base.clamp(Duration::from_secs(5), default.request_timeout),
            ..default
        }
    }
}

/// Which review-thread refreshes a running tick may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReviewPolicy {
    /// Every due refresh (budget healthy).
    All,
    /// Only PRs whose decision is `changes_requested` (throttled).
    ChangesRequestedOnly,
}

/// What an observer does at a tick.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    /// Poll now; the next tick is `interval` later.
    Run {
        interval: Duration,
        reviews: ReviewPolicy,
    },
    /// Skip this tick; try again at `until`.
    Skip { until: DateTime<Utc> },
}

/// One bucket as last reported.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Bucket {
    limit: u64,
    remaining: u64,
    used: u64,
    reset_at: Option<DateTime<Utc>>,
}

impl Bucket {
    fn window(&self) -> RateWindow {
        RateWindow {
            limit: self.limit,
            remaining: self.remaining,
            used: self.used,
            reset_at: self.reset_at.map(time::format),
        }
    }
}

/// The token state as last seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TokenState {
    /// Not resolved yet.
    Unknown,
    /// No source had a token (checked at this time).
    Missing(DateTime<Utc>),
    /// A token from this source.
    Present(TokenSource),
}

/// The shared budget (see the module docs).
#[derive(Debug, Clone)]
pub struct RateBudget {
    timings: ScmTimings,
    /// `false` when the tree has no GitHub setup (or no usable client): always `disabled`.
    enabled: bool,
    rest: Option<Bucket>,
    graphql: Option<Bucket>,
    token: TokenState,
    /// The last auth failure, while it stands.
    auth_failed_at: Option<DateTime<Utc>>,
    /// End of the current rate-limit backoff.
    backoff_until: Option<DateTime<Utc>>,
    /// Consecutive rate-limit failures (for the doubling backoff).
    backoff_attempts: u32,
    last_poll_at: Option<DateTime<Utc>>,
    last_error: Option<String>,
}

fn add(at: DateTime<Utc>, d: Duration) -> DateTime<Utc> {
    chrono::Duration::from_std(d).map_or(at, |d| at + d)
}

impl RateBudget {
    /// A budget; `enabled = false` reports `disabled` forever.
    pub fn new(timings: ScmTimings, enabled: bool) -> Self {
        Self {
            timings,
            enabled,
            rest: None,
            graphql: None,
            token: TokenState::Unknown,
            auth_failed_at: None,
            backoff_until: None,
            backoff_attempts: 0,
            last_poll_at: None,
            last_error: None,
        }
    }

    /// GitHub cannot be used at all (e.g. the client could not be built): `disabled` with
    /// `reason` as `lastError`.
    pub fn disable(&mut self, reason: String) {
        self.enabled = false;
        self.last_error = Some(reason);
    }

    /// Whether GitHub is configured at all.
    pub fn is_enabled(&self) -> bool {
        self.enabled
    }

    /// The timings in use.
    pub fn timings(&self) -> &ScmTimings {
        &self.timings
    }

    /// One response's rate headers (the `rate_sink`). Other resources (search, …) are ignored.
    pub fn record(&mut self, snap: &RateSnapshot) {
        let bucket = Bucket {
            limit: snap.limit,
            remaining: snap.remaining,
            used: snap.used,
            reset_at: snap.reset_at,
        };
        match snap.bucket() {
            Some(RateBucket::Rest) => self.rest = Some(bucket),
            Some(RateBucket::Graphql) => self.graphql = Some(bucket),
            None => {}
        }
    }

    /// A token was resolved.
    pub fn on_token(&mut self, source: TokenSource) {
        self.token = TokenState::Present(source);
    }

    /// No source has a token (scm.md §2): idle until the next re-check.
    pub fn on_no_token(&mut self, now: DateTime<Utc>) {
        if !matches!(self.token, TokenState::Missing(_)) {
            tracing::warn!(
                "no GitHub token (set AO_GITHUB_TOKEN or GITHUB_TOKEN, or run gh auth login); \
                 PR observation is disabled"
            );
        }
        self.token = TokenState::Missing(now);
    }

    /// A 401 (or non-rate 403): the caller invalidates the token; polls stop for
    /// `auth_retry`.
    pub fn on_auth_failed(&mut self, message: String, now: DateTime<Utc>) {
        self.auth_failed_at = Some(now);
        self.last_error = Some(message);
    }

    /// A `RateLimited` answer: back off per scm.md §8.
    pub fn on_rate_limited(
        &mut self,
        retry_after: Option<Duration>,
        reset_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) {
        let exhausted = self
            .rest
            .iter()
            .chain(self.graphql.iter())
            .any(|b| b.remaining == 0);
        let until = if let Some(wait) = retry_after {
            add(now, wait)
        } else if let Some(reset) = reset_at.filter(|r| exhausted && *r > now) {
            add(reset, self.timings.reset_margin)
        } else {
            let exp = self.backoff_attempts.min(16);
            let wait = self
                .timings
                .backoff_base
                .saturating_mul(1u32 << exp)
                .min(self.timings.backoff_cap);
            add(now, wait)
        };
        self.backoff_attempts = self.backoff_attempts.saturating_add(1);
        self.backoff_until = Some(self.backoff_until.map_or(until, |u| u.max(until)));
        self.last_error = Some("GitHub rate limit hit".to_string());
    }

    /// Any other failed poll (kept for `lastError`).
    pub fn on_error(&mut self, message: String) {
        self.last_error = Some(message);
    }

    /// A poll that fully succeeded: the backoff exponent and the auth failure reset.
    pub fn on_success(&mut self, now: DateTime<Utc>) {
        self.backoff_attempts = 0;
        self.auth_failed_at = None;
        self.last_poll_at = Some(now);
        self.last_error = None;
    }

    /// The most constrained bucket's `(r, remaining, resetAt)`.
    fn tightest(&self) -> Option<(f64, u64, Option<DateTime<Utc>>)> {
        self.rest
            .iter()
            .chain(self.graphql.iter())
            .filter(|b| b.limit > 0)
            .map(|b| {
                #[allow(clippy::cast_precision_loss)]
                let r = b.remaining as f64 / b.limit as f64;
                (r, b.remaining, b.reset_at)
            })
            .min_by(|a, b| a.0.total_cmp(&b.0))
    }

    /// The pause of an exhausted budget: `Some(resetAt + margin)` while it lies ahead.
    fn paused_until(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let (r, remaining, reset_at) = self.tightest()?;
        if r >= 0.05 && remaining >= 100 {
            return None;
        }
        let until = add(reset_at?, self.timings.reset_margin);
        (until > now).then_some(until)
    }

    /// The decision of one tick (see the module docs).
    pub fn gate(&self, now: DateTime<Utc>) -> Gate {
        if !self.enabled {
            return Gate::Skip {
                until: add(now, self.timings.token_recheck),
            };
        }
        if let TokenState::Missing(at) = self.token {
            let until = add(at, self.timings.token_recheck);
            if until > now {
                return Gate::Skip { until };
            }
        }
        if let Some(at) = self.auth_failed_at {
            let until = add(at, self.timings.auth_retry);
            if until > now {
                return Gate::Skip { until };
            }
        }
        if let Some(until) = self.backoff_until.filter(|u| *u > now) {
            return Gate::Skip { until };
        }
        if let Some(until) = self.paused_until(now) {
            return Gate::Skip { until };
        }
        match self.tightest() {
            Some((r, _, _)) if r < 0.20 => Gate::Run {
                interval: self.timings.poll_throttled,
                reviews: ReviewPolicy::ChangesRequestedOnly,
            },
            _ => Gate::Run {
                interval: self.timings.poll_ok,
                reviews: ReviewPolicy::All,
            },
        }
    }

    /// `github.state` now.
    pub fn state(&self, now: DateTime<Utc>) -> GithubState {
        if !self.enabled || matches!(self.token, TokenState::Missing(_)) {
            return GithubState::Disabled;
        }
        if self.auth_failed_at.is_some() {
            return GithubState::AuthFailed;
        }
        if self.backoff_until.is_some_and(|u| u > now) {
            return GithubState::Backoff;
        }
        match self.tightest() {
            Some((r, remaining, _)) if r < 0.20 || remaining < 100 => GithubState::Throttled,
            _ => GithubState::Ok,
        }
    }

    /// The `github` block of `GET /api/v1/status` (http-api.md §5).
    pub fn status(&self, now: DateTime<Utc>) -> GithubStatus {
        let state = self.state(now);
        let interval = match self.gate(now) {
            Gate::Run { interval, .. } => interval,
            Gate::Skip { .. } if state == GithubState::Throttled => self.timings.poll_throttled,
            Gate::Skip { .. } => self.timings.poll_ok,
        };
        GithubStatus {
            state,
            token_source: match self.token {
                TokenState::Present(source) if self.enabled => Some(source.as_str().to_string()),
                _ => None,
            },
            poll_interval_seconds: interval.as_secs(),
            last_poll_at: self.last_poll_at.map(time::format),
            backoff_until: self.backoff_until.filter(|u| *u > now).map(time::format),
            last_error: self.last_error.clone(),
            rest: self.rest.as_ref().map(Bucket::window),
            graphql: self.graphql.as_ref().map(Bucket::window),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn poll_interval_scales_the_spec_timings() {
        assert_eq!(
            ScmTimings::with_poll_interval(Duration::from_secs(30)),
            ScmTimings::default()
        );
        let t = ScmTimings::with_poll_interval(Duration::from_secs(1));
        assert_eq!(t.poll_ok, Duration::from_secs(1));
        assert_eq!(t.poll_throttled, Duration::from_secs(4));
        assert_eq!(t.rescan, Duration::from_secs(2));
        assert_eq!(t.backoff_base, Duration::from_secs(2));
        assert_eq!(t.full_refresh, Duration::from_secs(300));
        assert_eq!(t.auth_retry, Duration::from_secs(10));
        assert_eq!(t.token_recheck, Duration::from_secs(10));
        assert_eq!(t.request_timeout, Duration::from_secs(5));
        let ten = ScmTimings::with_poll_interval(Duration::from_secs(10));
        assert_eq!(ten.request_timeout, Duration::from_secs(10));
        let slow = ScmTimings::with_poll_interval(Duration::from_secs(600));
        assert_eq!(slow.rescan, Duration::from_secs(60));
        assert_eq!(slow.review_refresh, Duration::from_secs(120));
        assert_eq!(slow.poll_throttled, Duration::from_secs(2400));
        assert_eq!(slow.full_refresh, Duration::from_secs(6000));
        assert_eq!(slow.auth_retry, Duration::from_secs(300));
        assert_eq!(slow.request_timeout, Duration::from_secs(30));
    }

    fn t0() -> DateTime<Utc> {
        time::parse("2026-01-01T00:00:00.000Z").expect("valid time")
    }

    fn snap(resource: &str, limit: u64, remaining: u64, reset: DateTime<Utc>) -> RateSnapshot {
        RateSnapshot {
            resource: resource.to_string(),
            limit,
            remaining,
            used: limit - remaining,
            reset_at: Some(reset),
        }
    }

    fn budget() -> RateBudget {
        let mut b = RateBudget::new(ScmTimings::default(), true);
        b.on_token(TokenSource::AoGithubToken);
        b
    }

    fn secs(s: i64) -> chrono::Duration {
        chrono::Duration::seconds(s)
    }

    #[test]
    fn disabled_without_setup_or_token() {
        let b = RateBudget::new(ScmTimings::default(), false);
        let s = b.status(t0());
        assert_eq!(s.state, GithubState::Disabled);
        assert_eq!(s.token_source, None);
        assert!(matches!(b.gate(t0()), Gate::Skip { .. }));

        let mut b = RateBudget::new(ScmTimings::default(), true);
        b.on_no_token(t0());
        assert_eq!(b.state(t0()), GithubState::Disabled);
        // Re-checked after 5 min: the gate opens again so the token is resolved anew.
        assert_eq!(
            b.gate(t0()),
            Gate::Skip {
                until: t0() + secs(300)
            }
        );
        assert!(matches!(b.gate(t0() + secs(300)), Gate::Run { .. }));
        b.on_token(TokenSource::Gh);
        let s = b.status(t0());
        assert_eq!(s.state, GithubState::Ok);
        assert_eq!(s.token_source.as_deref(), Some("gh"));
    }

    #[test]
    fn healthy_budget_polls_every_30s() {
        let mut b = budget();
        b.record(&snap("core", 5000, 4000, t0() + secs(3600)));
        b.record(&snap("graphql", 5000, 4999, t0() + secs(3600)));
        assert_eq!(
            b.gate(t0()),
            Gate::Run {
                interval: Duration::from_secs(30),
                reviews: ReviewPolicy::All
            }
        );
        let s = b.status(t0());
        assert_eq!(s.state, GithubState::Ok);
        assert_eq!(s.poll_interval_seconds, 30);
        assert_eq!(s.rest.expect("rest bucket").remaining, 4000);
        assert_eq!(s.graphql.expect("graphql bucket").used, 1);
    }

    #[test]
    fn most_constrained_bucket_throttles() {
        let mut b = budget();
        b.record(&snap("core", 5000, 4000, t0() + secs(3600)));
        b.record(&snap("graphql", 5000, 500, t0() + secs(3600)));
        assert_eq!(
            b.gate(t0()),
            Gate::Run {
                interval: Duration::from_secs(120),
                reviews: ReviewPolicy::ChangesRequestedOnly
            }
        );
        assert_eq!(b.state(t0()), GithubState::Throttled);
        assert_eq!(b.status(t0()).poll_interval_seconds, 120);
        // Search and other resources do not count.
        b.record(&snap("search", 30, 0, t0()));
        assert_eq!(b.state(t0()), GithubState::Throttled);
    }

    #[test]
    fn exhausted_budget_pauses_until_reset_plus_5s() {
        let mut b = budget();
        let reset = t0() + secs(600);
        b.record(&snap("core", 5000, 200, reset));
        assert_eq!(
            b.gate(t0()),
            Gate::Skip {
                until: reset + secs(5)
            }
        );
        assert_eq!(b.state(t0()), GithubState::Throttled);
        // Fewer than 100 remaining pauses even above 5 %.
        let mut b = budget();
        b.record(&snap("graphql", 1000, 99, reset));
        assert!(matches!(b.gate(t0()), Gate::Skip { .. }));
        // Once the reset (+5 s) has passed, polling resumes (the fresh headers will tell).
        assert!(matches!(b.gate(reset + secs(5)), Gate::Run { .. }));
    }

    #[test]
    fn rate_limited_prefers_retry_after_then_reset_then_doubling_backoff() {
        let mut b = budget();
        b.on_rate_limited(Some(Duration::from_secs(42)), None, t0());
        assert_eq!(
            b.gate(t0()),
            Gate::Skip {
                until: t0() + secs(42)
            }
        );
        let s = b.status(t0());
        assert_eq!(s.state, GithubState::Backoff);
        assert_eq!(
            s.backoff_until.as_deref(),
            Some(time::format(t0() + secs(42)).as_str())
        );

        // remaining = 0 → until the reset.
        let mut b = budget();
        let reset = t0() + secs(900);
        b.record(&snap("core", 5000, 0, reset));
        b.on_rate_limited(None, Some(reset), t0());
        assert_eq!(
            b.gate(t0()),
            Gate::Skip {
                until: reset + secs(5)
            }
        );
        assert_eq!(b.state(t0()), GithubState::Backoff);

        // Neither: 60, 120, 240 … capped at 15 min; reset after a successful poll.
        let mut b = budget();
        let mut now = t0();
        for expected in [60, 120, 240, 480, 900, 900] {
            b.on_rate_limited(None, None, now);
            assert_eq!(
                b.gate(now),
                Gate::Skip {
                    until: now + secs(expected)
                }
            );
            now += secs(expected);
        }
        assert!(matches!(b.gate(now), Gate::Run { .. }));
        assert_eq!(b.state(now), GithubState::Ok);
        b.on_success(now);
        b.on_rate_limited(None, None, now);
        assert_eq!(
            b.gate(now),
            Gate::Skip {
                until: now + secs(60)
            }
        );
    }

    #[test]
    fn auth_failure_retries_every_5_minutes() {
        let mut b = budget();
        b.on_auth_failed("bad credentials".into(), t0());
        let s = b.status(t0());
        assert_eq!(s.state, GithubState::AuthFailed);
        assert_eq!(s.last_error.as_deref(), Some("bad credentials"));
        assert_eq!(
            b.gate(t0() + secs(10)),
            Gate::Skip {
                until: t0() + secs(300)
            }
        );
        assert!(matches!(b.gate(t0() + secs(300)), Gate::Run { .. }));
        // Still auth_failed until a poll succeeds.
        assert_eq!(b.state(t0() + secs(300)), GithubState::AuthFailed);
        b.on_success(t0() + secs(301));
        let s = b.status(t0() + secs(301));
        assert_eq!(s.state, GithubState::Ok);
        assert_eq!(s.last_error, None);
        assert!(s.last_poll_at.is_some());
    }
}
