//! The GitHub PR loop (scm.md §1–§8, §10): the ScmSupervisor, one PrObserver per GitHub repo,
//! and the shared [`RateBudget`].
//!
//! ```text
//! Root ── ScmSupervisor ── PrObserver (one per distinct owner/repo of the live projects)
//! ```
//!
//! * [`ScmShared`] is built once per tree from [`crate::config::ActorsConfig::scm`]: the one
//!   [`GithubClient`] (its `rate_sink` feeds the budget from every response) and the budget
//!   behind a mutex. It lives in the tree context, so `ActorTree::github_status()` reads it
//!   without a call and it survives ScmSupervisor restarts. No setup, or a client that cannot
//!   be built (https without the `tls` feature), leaves the budget disabled
//!   (`github.state = "disabled"`) and the supervisor idle.
//! * [`supervisor`]: rescans the live projects every `rescan` (60 s) and on `project_*` events,
//!   back-fills empty origins, and starts/stops observers.
//! * [`observer`]: one poll per tick (scm.md §4), its HTTP in a tracked task.
//! * [`select`]: the pure ownership/candidate/review-schedule rules; [`budget`]: the pure
//!   budget state machine.

pub mod budget;
pub(crate) mod observer;
pub mod select;
pub(crate) mod supervisor;

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use ao_adapters::scm::{ClientOptions, GithubClient, RateSink};
use ao_protocol::GithubStatus;
use chrono::Utc;

pub use budget::{Gate, RateBudget, ReviewPolicy, ScmTimings};

use crate::config::ActorsConfig;

/// The budget shared by every observer and the status route.
pub(crate) type SharedBudget = Arc<Mutex<RateBudget>>;

/// Locks the budget (a poisoned lock still holds valid data: every method keeps it consistent).
pub(crate) fn lock(budget: &SharedBudget) -> MutexGuard<'_, RateBudget> {
    budget.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The tree-wide GitHub state (see the module docs).
pub(crate) struct ScmShared {
    pub(crate) budget: SharedBudget,
    pub(crate) client: Option<GithubClient>,
    pub(crate) timings: ScmTimings,
}

impl ScmShared {
    pub(crate) fn build(cfg: &ActorsConfig) -> Self {
        let timings = cfg.scm_timings.clone();
        let budget: SharedBudget = Arc::new(Mutex::new(RateBudget::new(
            timings.clone(),
            cfg.scm.is_some(),
        )));
        let client = cfg.scm.as_ref().and_then(|setup| {
            let sink_budget = Arc::clone(&budget);
            let sink: RateSink = Arc::new(move |snap| lock(&sink_budget).record(&snap));
            let options = ClientOptions {
                rate_sink: Some(sink),
                timeout: timings.request_timeout,
                ..ClientOptions::default()
            };
            match GithubClient::new(setup.config.clone(), Arc::clone(&setup.tokens), options) {
                Ok(client) => Some(client),
                Err(e) => {
                    tracing::error!(error = %e, "cannot build the GitHub client; PR observation is disabled");
                    lock(&budget).disable(e.to_string());
                    None
                }
            }
        });
        Self {
            budget,
            client,
            timings,
        }
    }

    /// The `github` block of `GET /api/v1/status`.
    pub(crate) fn status(&self) -> GithubStatus {
        lock(&self.budget).status(Utc::now())
    }
}

#[cfg(test)]
mod observer_tests;
#[cfg(test)]
mod tests;
