//! Generic supervision bookkeeping (README §3.2), shared by every supervisor of the tree.
//!
//! ractor only tells a supervisor that a child stopped or failed; deciding what happens next
//! lives here:
//!
//! * [`RestartPolicy`]: `Permanent` children are restarted whatever the exit; `Transient`
//!   children only when they failed (a clean stop is final).
//! * [`RestartBudget`]: at most [`SupervisionConfig::max_restarts`] restarts of the same child
//!   within [`SupervisionConfig::window`] (5 in 60 s); one more means the child is hopeless and
//!   the supervisor escalates.
//! * [`backoff`] / [`restart_delay`]: 250 ms × 2^(n−1), capped at 30 s, with ±20 % jitter
//!   (randomness from `getrandom`). Supervisors schedule the restart message with
//!   `ActorRef::send_after`; no handler ever sleeps.
//! * [`ChildSet`]: per-supervisor map from child key to policy, budget and current actor id;
//!   [`ChildSet::on_event`] turns a [`SupervisionEvent`] into a [`Verdict`].
//!
//! Escalation: a supervisor that receives [`Verdict::Escalate`] stops itself with a failure
//! (returns an error from `handle_supervisor_evt`) so that its own parent sees `ActorFailed`.
//! Root, which has no parent, publishes the reason on `ActorTree::failure()` and stops.
//!
//! Everything except [`restart_delay`]'s random draw is pure and unit-tested without actors.

use std::collections::{HashMap, VecDeque};
use std::fmt::Debug;
use std::hash::Hash;
use std::time::{Duration, Instant};

use ractor::{ActorId, SupervisionEvent};

/// Whether a child is restarted after it stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestartPolicy {
    /// Restarted after any exit, clean or not.
    Permanent,
    /// Restarted only after a failure; a clean stop is final.
    Transient,
}

/// Restart budget and delay parameters. [`Default`] is the spec's (README §3.2); tests use
/// shorter delays.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SupervisionConfig {
    /// Restarts of the same child allowed within [`Self::window`] (5).
    pub max_restarts: u32,
    /// The sliding window of the budget (60 s).
    pub window: Duration,
    /// The delay before the first restart (250 ms); doubles for every further one.
    pub base_delay: Duration,
    /// The delay cap (30 s).
    pub max_delay: Duration,
    /// Relative jitter applied to every delay (0.2 = ±20 %).
    pub jitter: f64,
}

impl Default for SupervisionConfig {
    fn default() -> Self {
        Self {
            max_restarts: 5,
            window: Duration::from_secs(60),
            base_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(30),
            jitter: 0.2,
        }
    }
}

/// The un-jittered delay before restart number `n` (1-based): `base × 2^(n−1)`, capped.
pub fn backoff(cfg: &SupervisionConfig, n: u32) -> Duration {
    let exp = n.saturating_sub(1).min(31);
    cfg.base_delay
        .checked_mul(1u32 << exp)
        .unwrap_or(cfg.max_delay)
        .min(cfg.max_delay)
}

/// `delay` scaled by `1 + jitter × unit`, where `unit` is in `[-1, 1]` (clamped).
pub fn apply_jitter(delay: Duration, jitter: f64, unit: f64) -> Duration {
    let factor = 1.0 + jitter.clamp(0.0, 1.0) * unit.clamp(-1.0, 1.0);
    delay.mul_f64(factor.max(0.0))
}

/// The jittered delay before restart number `n`.
pub fn restart_delay(cfg: &SupervisionConfig, n: u32) -> Duration {
    apply_jitter(backoff(cfg, n), cfg.jitter, random_unit())
}

/// A uniformly distributed value in `[-1, 1]`; `0` when the OS has no randomness to give.
fn random_unit() -> f64 {
    match getrandom::u32() {
        Ok(r) => f64::from(r) / f64::from(u32::MAX) * 2.0 - 1.0,
        Err(_) => 0.0,
    }
}

/// The restart history of one child.
#[derive(Debug, Clone, Default)]
pub struct RestartBudget {
    restarts: VecDeque<Instant>,
}

impl RestartBudget {
    pub fn new() -> Self {
        Self::default()
    }

    /// Records a restart at `now` if the budget allows one. Returns the restart's number `n`
    /// within the window (1 for the first), or `None` when `max_restarts` restarts already
    /// happened within the window: the child must not be restarted again.
    pub fn try_restart(&mut self, now: Instant, cfg: &SupervisionConfig) -> Option<u32> {
        while let Some(first) = self.restarts.front() {
            if now.saturating_duration_since(*first) >= cfg.window {
                self.restarts.pop_front();
            } else {
                break;
            }
        }
        if self.restarts.len() >= cfg.max_restarts as usize {
            return None;
        }
        self.restarts.push_back(now);
        Some(self.restarts.len() as u32)
    }

    /// Restarts recorded within the window ending at `now`.
    pub fn recent(&self, now: Instant, cfg: &SupervisionConfig) -> usize {
        self.restarts
            .iter()
            .filter(|t| now.saturating_duration_since(**t) < cfg.window)
            .count()
    }
}

/// How a child ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChildExit {
    /// A clean stop (or a kill), with ractor's reason if any.
    Stopped(Option<String>),
    /// A panic or an error returned from a handler.
    Failed(String),
}

impl ChildExit {
    fn describe(&self) -> String {
        match self {
            ChildExit::Stopped(Some(r)) => format!("stopped ({r})"),
            ChildExit::Stopped(None) => "stopped".to_string(),
            ChildExit::Failed(e) => format!("failed: {e}"),
        }
    }
}

/// What a supervisor must do about a child that ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict<K> {
    /// Schedule a restart of `key` after `delay` (this is restart number `attempt`).
    Restart {
        key: K,
        attempt: u32,
        delay: Duration,
    },
    /// The child is done (a transient child stopped cleanly); it is no longer supervised.
    Done { key: K },
    /// The child exceeded its restart budget: the supervisor must fail with `reason`.
    Escalate { key: K, reason: String },
}

#[derive(Debug)]
struct ChildEntry {
    policy: RestartPolicy,
    budget: RestartBudget,
    actor: Option<ActorId>,
}

/// The children of one supervisor, keyed by a stable name (`K`) that survives restarts.
#[derive(Debug)]
pub struct ChildSet<K> {
    cfg: SupervisionConfig,
    children: HashMap<K, ChildEntry>,
    by_actor: HashMap<ActorId, K>,
}

impl<K: Clone + Eq + Hash + Debug> ChildSet<K> {
    pub fn new(cfg: SupervisionConfig) -> Self {
        Self {
            cfg,
            children: HashMap::new(),
            by_actor: HashMap::new(),
        }
    }

    /// The budget parameters.
    pub fn config(&self) -> &SupervisionConfig {
        &self.cfg
    }

    /// Records that `key` now runs as `actor`. A key seen before keeps its restart history.
    pub fn started(&mut self, key: K, policy: RestartPolicy, actor: ActorId) {
        let entry = self.children.entry(key.clone()).or_insert(ChildEntry {
            policy,
            budget: RestartBudget::new(),
            actor: None,
        });
        entry.policy = policy;
        if let Some(old) = entry.actor.replace(actor) {
            self.by_actor.remove(&old);
        }
        self.by_actor.insert(actor, key);
    }

    /// Stops supervising `key` (an intentional stop): its exit will be ignored. Returns the
    /// actor id it was running as.
    pub fn forget(&mut self, key: &K) -> Option<ActorId> {
        let entry = self.children.remove(key)?;
        let actor = entry.actor?;
        self.by_actor.remove(&actor);
        Some(actor)
    }

    /// Whether `key` is supervised (running or waiting for a restart).
    pub fn contains(&self, key: &K) -> bool {
        self.children.contains_key(key)
    }

    /// Whether `key` is currently running (not waiting for a restart).
    pub fn is_running(&self, key: &K) -> bool {
        self.children.get(key).is_some_and(|e| e.actor.is_some())
    }

    /// The key of a running child.
    pub fn key_of(&self, actor: ActorId) -> Option<&K> {
        self.by_actor.get(&actor)
    }

    /// Decides about a child that ended. `None` when `actor` is not (or no longer) supervised.
    pub fn on_exit(
        &mut self,
        actor: ActorId,
        exit: &ChildExit,
        now: Instant,
    ) -> Option<Verdict<K>> {
        let key = self.by_actor.remove(&actor)?;
        let entry = self.children.get_mut(&key)?;
        entry.actor = None;
        if entry.policy == RestartPolicy::Transient && matches!(exit, ChildExit::Stopped(_)) {
            self.children.remove(&key);
            return Some(Verdict::Done { key });
        }
        Some(self.budgeted(key, &exit.describe(), now))
    }

    /// A (re)start of `key` failed in `pre_start`: counts against the budget like a crash.
    /// `None` when `key` is not supervised.
    pub fn on_spawn_failed(&mut self, key: &K, reason: &str, now: Instant) -> Option<Verdict<K>> {
        let entry = self.children.get_mut(key)?;
        entry.actor = None;
        Some(self.budgeted(key.clone(), &format!("failed to start: {reason}"), now))
    }

    /// Registers a child that failed to start the first time (it has no actor id yet) and
    /// returns the verdict for that failure.
    pub fn on_first_spawn_failed(
        &mut self,
        key: K,
        policy: RestartPolicy,
        reason: &str,
        now: Instant,
    ) -> Verdict<K> {
        self.children.entry(key.clone()).or_insert(ChildEntry {
            policy,
            budget: RestartBudget::new(),
            actor: None,
        });
        self.budgeted(key, &format!("failed to start: {reason}"), now)
    }

    fn budgeted(&mut self, key: K, what: &str, now: Instant) -> Verdict<K> {
        let cfg = self.cfg;
        let Some(entry) = self.children.get_mut(&key) else {
            return Verdict::Done { key };
        };
        match entry.budget.try_restart(now, &cfg) {
            Some(attempt) => Verdict::Restart {
                key,
                attempt,
                delay: restart_delay(&cfg, attempt),
            },
            None => Verdict::Escalate {
                reason: format!(
                    "child {key:?} exceeded its restart budget ({} restarts within {:?}); last exit: {what}",
                    cfg.max_restarts, cfg.window
                ),
                key,
            },
        }
    }

    /// [`Self::on_exit`] for a ractor supervision event. Other events give `None`.
    pub fn on_event(&mut self, event: &SupervisionEvent, now: Instant) -> Option<Verdict<K>> {
        let (actor, exit) = match event {
            SupervisionEvent::ActorTerminated(cell, _, reason) => {
                (cell.get_id(), ChildExit::Stopped(reason.clone()))
            }
            SupervisionEvent::ActorFailed(cell, err) => {
                (cell.get_id(), ChildExit::Failed(err.to_string()))
            }
            _ => return None,
        };
        self.on_exit(actor, &exit, now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> SupervisionConfig {
        SupervisionConfig::default()
    }

    #[test]
    fn backoff_doubles_from_250_ms_and_caps_at_30_s() {
        let c = cfg();
        let ms = |n| backoff(&c, n).as_millis();
        assert_eq!(ms(1), 250);
        assert_eq!(ms(2), 500);
        assert_eq!(ms(3), 1000);
        assert_eq!(ms(5), 4000);
        assert_eq!(ms(8), 30_000); // 32 s capped
        assert_eq!(ms(40), 30_000);
        assert_eq!(ms(0), 250);
    }

    #[test]
    fn jitter_stays_within_twenty_percent() {
        let d = Duration::from_secs(1);
        assert_eq!(apply_jitter(d, 0.2, -1.0), Duration::from_millis(800));
        assert_eq!(apply_jitter(d, 0.2, 1.0), Duration::from_millis(1200));
        assert_eq!(apply_jitter(d, 0.2, 0.0), d);
        assert_eq!(apply_jitter(d, 0.2, 7.0), Duration::from_millis(1200));
        let c = cfg();
        for n in 1..=10 {
            let base = backoff(&c, n);
            let j = restart_delay(&c, n);
            assert!(
                j >= base.mul_f64(0.8) && j <= base.mul_f64(1.2),
                "{n}: {j:?}"
            );
        }
    }

    #[test]
    fn budget_allows_five_restarts_per_minute() {
        let c = cfg();
        let t0 = Instant::now();
        let mut b = RestartBudget::new();
        for n in 1..=5 {
            assert_eq!(
                b.try_restart(t0 + Duration::from_secs(n.into()), &c),
                Some(n)
            );
        }
        assert_eq!(b.try_restart(t0 + Duration::from_secs(10), &c), None);
        assert_eq!(b.recent(t0 + Duration::from_secs(10), &c), 5);
        // 60 s after the first restart, one slot frees up again; n counts the window only.
        assert_eq!(b.try_restart(t0 + Duration::from_secs(61), &c), Some(5));
        assert_eq!(b.try_restart(t0 + Duration::from_secs(61), &c), None);
        // Long after: a fresh budget.
        assert_eq!(b.try_restart(t0 + Duration::from_secs(600), &c), Some(1));
    }

    #[test]
    fn permanent_children_restart_after_any_exit_until_the_budget_is_spent() {
        let mut set = ChildSet::new(cfg());
        let now = Instant::now();
        set.started("reducer", RestartPolicy::Permanent, ActorId::Local(1));
        let v = set.on_exit(ActorId::Local(1), &ChildExit::Stopped(None), now);
        assert!(
            matches!(
                v,
                Some(Verdict::Restart {
                    key: "reducer",
                    attempt: 1,
                    ..
                })
            ),
            "{v:?}"
        );
        assert!(set.contains(&"reducer"));
        assert!(!set.is_running(&"reducer"));
        for (i, id) in (2..=5).enumerate() {
            set.started("reducer", RestartPolicy::Permanent, ActorId::Local(id));
            let v = set.on_exit(ActorId::Local(id), &ChildExit::Failed("boom".into()), now);
            let Some(Verdict::Restart { attempt, delay, .. }) = v else {
                panic!("expected a restart, got {v:?}");
            };
            assert_eq!(attempt as usize, i + 2);
            let base = backoff(&cfg(), attempt);
            assert!(delay >= base.mul_f64(0.8) && delay <= base.mul_f64(1.2));
        }
        set.started("reducer", RestartPolicy::Permanent, ActorId::Local(6));
        let v = set.on_exit(ActorId::Local(6), &ChildExit::Failed("boom".into()), now);
        let Some(Verdict::Escalate { key, reason }) = v else {
            panic!("expected escalation, got {v:?}");
        };
        assert_eq!(key, "reducer");
        assert!(
            reason.contains("restart budget") && reason.contains("boom"),
            "{reason}"
        );
    }

    #[test]
    fn transient_children_restart_only_after_failures() {
        let mut set = ChildSet::new(cfg());
        let now = Instant::now();
        set.started(7u32, RestartPolicy::Transient, ActorId::Local(10));
        let v = set.on_exit(ActorId::Local(10), &ChildExit::Failed("panic".into()), now);
        assert!(matches!(v, Some(Verdict::Restart { key: 7, .. })), "{v:?}");
        set.started(7u32, RestartPolicy::Transient, ActorId::Local(11));
        let v = set.on_exit(ActorId::Local(11), &ChildExit::Stopped(None), now);
        assert_eq!(v, Some(Verdict::Done { key: 7 }));
        assert!(!set.contains(&7));
    }

    #[test]
    fn forgotten_and_unknown_children_are_ignored() {
        let mut set = ChildSet::new(cfg());
        let now = Instant::now();
        set.started("p", RestartPolicy::Transient, ActorId::Local(1));
        assert_eq!(set.key_of(ActorId::Local(1)), Some(&"p"));
        assert_eq!(set.forget(&"p"), Some(ActorId::Local(1)));
        assert_eq!(
            set.on_exit(ActorId::Local(1), &ChildExit::Failed("x".into()), now),
            None
        );
        assert_eq!(
            set.on_exit(ActorId::Local(99), &ChildExit::Stopped(None), now),
            None
        );
    }

    #[test]
    fn spawn_failures_count_against_the_budget() {
        let c = SupervisionConfig {
            max_restarts: 1,
            ..cfg()
        };
        let mut set = ChildSet::new(c);
        let now = Instant::now();
        let v = set.on_first_spawn_failed("cdc", RestartPolicy::Permanent, "db gone", now);
        assert!(matches!(v, Verdict::Restart { attempt: 1, .. }), "{v:?}");
        let v = set.on_spawn_failed(&"cdc", "db gone", now);
        assert!(matches!(v, Some(Verdict::Escalate { .. })), "{v:?}");
        assert_eq!(set.on_spawn_failed(&"nobody", "x", now), None);
    }

    #[test]
    fn a_restart_keeps_the_history_of_the_key() {
        let mut set = ChildSet::new(SupervisionConfig {
            max_restarts: 2,
            ..cfg()
        });
        let now = Instant::now();
        set.started("a", RestartPolicy::Permanent, ActorId::Local(1));
        assert!(matches!(
            set.on_exit(ActorId::Local(1), &ChildExit::Failed(String::new()), now),
            Some(Verdict::Restart { attempt: 1, .. })
        ));
        set.started("a", RestartPolicy::Permanent, ActorId::Local(2));
        assert!(matches!(
            set.on_exit(ActorId::Local(2), &ChildExit::Failed(String::new()), now),
            Some(Verdict::Restart { attempt: 2, .. })
        ));
        set.started("a", RestartPolicy::Permanent, ActorId::Local(3));
        assert!(matches!(
            set.on_exit(ActorId::Local(3), &ChildExit::Failed(String::new()), now),
            Some(Verdict::Escalate { .. })
        ));
    }
}
