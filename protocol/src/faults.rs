//! Fault injection for tests: one process-wide registry of armed faults, keyed by the name of
//! an injection point (compiled only with the `fault-injection` feature, which only
//! dev-dependencies enable; a release or user build has neither this module nor the points).
//!
//! A test arms a [`Fault`] at a [`point`] for the calls whose *subject* contains every one of
//! its needles ([`at`] builds the [`Plan`]), and gets an [`Armed`] guard that disarms it on
//! drop:
//!
//! ```ignore
//! // The second write transaction on this database fails as if the disk failed.
//! let io = faults::at(point::STORE_COMMIT).matching(&[data_dir]).skip(1).times(1).arm(Fault::Io);
//! ```
//!
//! Injection points ask the registry with [`fire`] and turn the fault into the error their real
//! failure would produce, so the code above them runs its real error path:
//!
//! | Point | Subject | Where |
//! |---|---|---|
//! | [`point::STORE_COMMIT`] | the database path | `ao_store`'s `Writer`: after the statements of a write transaction, before its `COMMIT` |
//! | [`point::PROCESS_RUN`] | `<program> <argv…>` | `ao_adapters::process`: before the child is started |
//! | [`point::GITHUB_SEND`] | the request URL | `ao_adapters::scm`'s client: before the request is sent |
//!
//! Invariants:
//! * Tests run in parallel in one process, so a fault only fires for subjects that contain all
//!   of its needles (a temp-dir path, a tmux socket name, a server port): tests never see each
//!   other's faults.
//! * [`fire`] never panics and holds the registry lock only to look up and count; with nothing
//!   armed it costs one uncontended lock.
//! * The first armed entry that matches decides (one still skipping lets the call through); a
//!   counted entry stops firing when spent.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

/// The names of the injection points.
pub mod point {
    /// A store write transaction, right before `COMMIT` (subject: the database path).
    pub const STORE_COMMIT: &str = "store.commit";
    /// A child process run (subject: the program and its arguments, space-separated).
    pub const PROCESS_RUN: &str = "process.run";
    /// A GitHub HTTP request (subject: the URL).
    pub const GITHUB_SEND: &str = "github.send";
}

/// What an injection point does when its fault fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Fail as when another connection holds the database's write lock (`SQLITE_BUSY`).
    Busy,
    /// Fail with an I/O error (`SQLITE_IOERR`; an I/O error of the child or request).
    Io,
    /// Do not answer: the call blocks for its own timeout, or for `timeout` when given (tests
    /// shorten the spec's 5 s–120 s), and then fails exactly like a call that timed out. At the
    /// store point: a lock held elsewhere for that long (SQLite's busy wait), then `Busy`.
    Hang { timeout: Option<Duration> },
    /// Panic at the point, as a bug there would (inside whatever actor handler or task made
    /// the call).
    Panic,
}

struct Entry {
    id: u64,
    point: &'static str,
    needles: Vec<String>,
    fault: Fault,
    /// Matching calls still to let through before the first firing.
    skip: u32,
    /// Firings left; `None` = until disarmed.
    remaining: Option<u32>,
    hits: Arc<AtomicU32>,
}

static REGISTRY: Mutex<Vec<Entry>> = Mutex::new(Vec::new());
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// The registry; a panic elsewhere while it was locked cannot leave it inconsistent (every
/// critical section is a single push, retain or field update).
fn registry() -> MutexGuard<'static, Vec<Entry>> {
    REGISTRY.lock().unwrap_or_else(PoisonError::into_inner)
}

/// An armed fault; dropping it disarms the fault.
#[derive(Debug)]
#[must_use = "dropping the guard disarms the fault at once"]
pub struct Armed {
    id: u64,
    hits: Arc<AtomicU32>,
}

impl Armed {
    /// How many calls this fault has failed (or hung) so far.
    pub fn hits(&self) -> u32 {
        self.hits.load(Ordering::SeqCst)
    }
}

impl Drop for Armed {
    fn drop(&mut self) {
        let id = self.id;
        registry().retain(|e| e.id != id);
    }
}

/// The start of a fault plan: the injection point it applies to.
pub fn at(point: &'static str) -> Plan {
    Plan {
        point,
        needles: Vec::new(),
        skip: 0,
        times: None,
    }
}

/// Where, for which calls and how often a fault fires; built with [`at`], armed with
/// [`Plan::arm`].
#[derive(Debug, Clone)]
#[must_use = "a plan does nothing until it is armed"]
pub struct Plan {
    point: &'static str,
    needles: Vec<String>,
    skip: u32,
    times: Option<u32>,
}

impl Plan {
    /// Only calls whose subject contains every one of `needles`.
    pub fn matching(mut self, needles: &[&str]) -> Self {
        self.needles = needles.iter().map(|n| (*n).to_string()).collect();
        self
    }

    /// Lets the first `n` matching calls through (e.g. the first writes of a spawn).
    pub fn skip(mut self, n: u32) -> Self {
        self.skip = n;
        self
    }

    /// Fires for `n` calls, then disarms itself (default: until the guard is dropped).
    pub fn times(mut self, n: u32) -> Self {
        self.times = Some(n);
        self
    }

    /// Arms `fault`; dropping the returned guard disarms it.
    pub fn arm(self, fault: Fault) -> Armed {
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        let hits = Arc::new(AtomicU32::new(0));
        registry().push(Entry {
            id,
            point: self.point,
            needles: self.needles,
            fault,
            skip: self.skip,
            remaining: self.times,
            hits: Arc::clone(&hits),
        });
        Armed { id, hits }
    }
}

/// Called by the injection point `point` for a call about `subject`: the fault to inject, if
/// one is armed for it.
pub fn fire(point: &str, subject: &str) -> Option<Fault> {
    let mut entries = registry();
    let entry = entries.iter_mut().find(|e| {
        e.point == point
            && e.remaining != Some(0)
            && e.needles.iter().all(|n| subject.contains(n.as_str()))
    })?;
    if entry.skip > 0 {
        entry.skip -= 1;
        return None;
    }
    if let Some(left) = entry.remaining.as_mut() {
        *left -= 1;
    }
    entry.hits.fetch_add(1, Ordering::SeqCst);
    Some(entry.fault)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fault_fires_only_at_its_point_for_matching_subjects() {
        let armed = at("test.a").matching(&["alpha", "beta"]).arm(Fault::Busy);
        assert_eq!(fire("test.a", "x alpha y beta"), Some(Fault::Busy));
        assert_eq!(fire("test.a", "alpha only"), None);
        assert_eq!(fire("test.b", "alpha beta"), None);
        assert_eq!(fire("test.a", "beta alpha"), Some(Fault::Busy));
        assert_eq!(armed.hits(), 2);
        drop(armed);
        assert_eq!(fire("test.a", "alpha beta"), None);
    }

    #[test]
    fn skipped_calls_pass_and_a_counted_fault_is_spent_after_its_firings() {
        let hang = Fault::Hang {
            timeout: Some(Duration::from_millis(5)),
        };
        let armed = at("test.counted")
            .matching(&["gamma"])
            .skip(1)
            .times(2)
            .arm(hang);
        assert_eq!(fire("test.counted", "gamma"), None);
        assert_eq!(fire("test.counted", "gamma"), Some(hang));
        assert_eq!(fire("test.counted", "gamma"), Some(hang));
        assert_eq!(fire("test.counted", "gamma"), None);
        assert_eq!(armed.hits(), 2);
    }

    #[test]
    fn the_first_matching_fault_wins() {
        let first = at("test.order")
            .matching(&["delta"])
            .times(1)
            .arm(Fault::Io);
        let second = at("test.order").matching(&["delta"]).arm(Fault::Busy);
        assert_eq!(fire("test.order", "delta"), Some(Fault::Io));
        assert_eq!(fire("test.order", "delta"), Some(Fault::Busy));
        assert_eq!((first.hits(), second.hits()), (1, 1));
    }
}
