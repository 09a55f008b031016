//! The PrObserver: one per GitHub repository (scm.md §1, §4).
//!
//! Messages ([`ObserverMsg`]):
//! * `Poll`: a tick. Sent with `send_after` when the previous poll ends (the budget's gate
//!   decides the delay: 30 s ok, 120 s throttled, or until a pause/backoff/auth retry ends),
//!   plus a backstop ticker every `poll_ok`. A tick before the scheduled time, or while a poll
//!   runs, is a no-op. The first poll runs at start.
//! * `PollDone`: the poll task hands the caches back with the delay of the next tick.
//!
//! One poll ([`poll_once`], in a tracked task so the mailbox stays responsive): gate → token →
//! subjects from the read pool → repo guard (ETag) → discovery when the guard changed or the
//! set of observed session branches did (a session created after the last discovery must
//! find its already-open PR although GitHub reports no change) (forks skipped,
//! branch ownership of [`super::select`], a new PR persisted at once as a baseline with
//! `Preserve` and empty hashes) → base guards (one per distinct base branch of the subjects,
//! see below) → refresh candidates → GraphQL facts (batches of 25; a
//! `NotFound` PR becomes `closed`) → job-log tails only when the failed-check fingerprint
//! changed (else the stored tails are reused) → review threads when due → semantic diff
//! against the acknowledged hashes (unchanged → nothing written) → `apply_scm_observation` →
//! `SessionsHandle::pr_facts_changed` → `ack_scm_hashes` only after the reaction succeeded →
//! the first ETag of a base branch first seen in this poll's facts.
//! ETags, review memos and fingerprints advance only for refreshes that fully succeeded (a
//! base's ETag only when every refresh its change triggered did); the repo ETag only when the
//! whole poll did.
//!
//! Base guard (not in the spec): a PR usually becomes conflicting because its *base* branch
//! moved (another PR merged), which GitHub does not count as an update of the PR, so the repo
//! guard answers 304 and the conflict would wait for the periodic full refresh. So each poll
//! also sends one conditional `GET /branches/{base}` ([`GithubClient::base_guard`]) per
//! distinct base of the subjects, with the ETag cached per base (dropped once no subject uses
//! it). A changed base makes every subject on it a refresh candidate (which also sees a merge
//! into that base of a PR the repo guard hid). The base of a subject is known from its last
//! fetched facts ([`select::BaseMemo`]); a subject never fetched by this observer is a
//! candidate once. A base first seen in a poll's facts gets its ETag right after them, kept
//! only if the branch still points at the base commit the PRs reported (else the next poll's
//! unconditional guard refreshes them once more). Right after a move GitHub answers
//! `mergeable: UNKNOWN` until it has recomputed (lazily, once asked), so a subject whose last
//! fetched `mergeable` was `UNKNOWN` stays a candidate for at most
//! [`select::MERGEABLE_RETRIES`] more polls per head/base commit pair. A failed base guard
//! (a deleted branch is `NotFound`) is logged and retried next poll; the ETag it would have
//! replaced stays, so a move is not lost. Cost: one REST call per distinct base per poll,
//! nearly always a 304 (which GitHub does not charge).
//!
//! Periodic full refresh (not in the spec): the repo guard sees only the first page of
//! `pulls?sort=updated&per_page=1`, so merging or closing an open PR that is not the most
//! recently updated one answers 304 and would never be observed (its session would never
//! complete); likewise the check guard (`check-runs?per_page=1`) can miss changes of older
//! runs. So every subject is also a refresh candidate when [`ScmTimings::full_refresh`]
//! (5 min; max(5 min, 10× base) with `AO_GITHUB_POLL_INTERVAL`) has passed since the repo's
//! last full refresh ([`select::full_refresh_due`]). A poll refreshes everything when that
//! timer is due, when the repo guard changed, or as an observer's first poll (empty caches);
//! the poll's start time is recorded as the last full refresh only when the whole poll
//! succeeded. Cost: one GraphQL batch per 25 PRs every 5 min (~12 points/h for 50 PRs).
//!
//! Failure handling: bad data or a failed call is logged and retried next tick; the actor
//! never fails because of GitHub. `RateLimited` / `AuthFailed` / no token end the poll and
//! go to the shared budget. The caches live in the actor (empty after a restart, which means
//! one full poll).

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use ao_adapters::scm::{
    GithubClient, Guard, OpenPr, PrKey, PrSnapshot, RepoRef, ScmError, hashes, normalize,
    parse_origin,
};
use ao_protocol::scm::{PrFacts, ScmHashes, ScmObservation, ThreadWrite};
use ao_protocol::{CheckKind, CheckStatus, CiState, Mergeability, PrState, ReviewDecision};
use ao_store::{PrObserved, ReadPool, SessionFilter, StoreError};
use chrono::{DateTime, Utc};
use ractor::{Actor, ActorProcessingErr, ActorRef};
use tokio::task::JoinHandle;

use super::budget::{Gate, ReviewPolicy, ScmTimings};
use super::select::{self, BaseMemo, Fetched, ReviewMemo, SessionBranch};
use super::{SharedBudget, lock};
use crate::reducer::{ReducerHandle, is_pr_owned_elsewhere};
use crate::sessions::SessionsHandle;

/// Messages of a PrObserver.
pub(crate) enum ObserverMsg {
    Poll,
    PollDone {
        cache: Box<Cache>,
        next: Duration,
    },
    /// Panic inside the handler (fault injection).
    #[cfg(any(test, feature = "fault-injection"))]
    Fault,
}

/// Everything an observer is built from.
#[derive(Clone)]
pub(crate) struct ObserverCtx {
    pub(crate) repo: RepoRef,
    pub(crate) client: GithubClient,
    pub(crate) budget: SharedBudget,
    pub(crate) reader: ReadPool,
    pub(crate) reducer: ReducerHandle,
    pub(crate) sessions: SessionsHandle,
    pub(crate) timings: ScmTimings,
    pub(crate) write_timeout: Duration,
}

/// The per-repo caches (scm.md §4 step 10).
#[derive(Debug, Default)]
pub(crate) struct Cache {
    repo_etag: Option<String>,
    /// url → (head sha, check-runs ETag).
    checks: HashMap<String, (String, String)>,
    /// url → the last review-thread fetch.
    reviews: HashMap<String, ReviewMemo>,
    /// url → failed-check fingerprint whose logs were fetched successfully.
    fingerprints: HashMap<String, String>,
    /// The (session, branch) set of the last successful discovery: a new or renamed session
    /// branch re-runs discovery even when the repo guard answers 304.
    discovered_for: Option<BTreeSet<(String, String)>>,
    /// The start of the last fully successful poll that refreshed every subject (`None`
    /// after a restart: the first poll is a full one).
    last_full_refresh: Option<DateTime<Utc>>,
    /// url → the base branch and mergeability streak of the subject's last fetched facts
    /// (only subjects are kept).
    bases: HashMap<String, BaseMemo>,
    /// Base branch → the base guard's ETag, advanced only when every refresh its change
    /// triggered succeeded (only bases of subjects are kept).
    base_etags: HashMap<String, String>,
}

pub(crate) struct PrObserver;

pub(crate) struct ObserverState {
    ctx: Arc<ObserverCtx>,
    cache: Option<Box<Cache>>,
    polling: Option<JoinHandle<()>>,
    next_due: tokio::time::Instant,
    ticker: Option<JoinHandle<()>>,
}

impl Actor for PrObserver {
    type Msg = ObserverMsg;
    type State = ObserverState;
    type Arguments = ObserverCtx;

    async fn pre_start(
        &self,
        myself: ActorRef<ObserverMsg>,
        ctx: ObserverCtx,
    ) -> Result<ObserverState, ActorProcessingErr> {
        let ticker = myself.send_interval(ctx.timings.poll_ok, || ObserverMsg::Poll);
        let _ = myself.cast(ObserverMsg::Poll);
        Ok(ObserverState {
            ctx: Arc::new(ctx),
            cache: Some(Box::default()),
            polling: None,
            next_due: tokio::time::Instant::now(),
            ticker: Some(ticker),
        })
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<ObserverMsg>,
        state: &mut ObserverState,
    ) -> Result<(), ActorProcessingErr> {
        for task in [state.ticker.take(), state.polling.take()]
            .into_iter()
            .flatten()
        {
            task.abort();
        }
        Ok(())
    }

    async fn handle(
        &self,
        myself: ActorRef<ObserverMsg>,
        msg: ObserverMsg,
        state: &mut ObserverState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            ObserverMsg::Poll => {
                if state.polling.as_ref().is_some_and(|t| !t.is_finished()) {
                    return Ok(());
                }
                if tokio::time::Instant::now() < state.next_due {
                    return Ok(());
                }
                // A poll task that died without handing the caches back loses them: the next
                // poll is a full one.
                let cache = state.cache.take().unwrap_or_default();
                let ctx = Arc::clone(&state.ctx);
                let me = myself.clone();
                state.polling = Some(tokio::spawn(async move {
                    let (cache, next) = poll_once(&ctx, cache).await;
                    let _ = me.cast(ObserverMsg::PollDone { cache, next });
                }));
            }
            ObserverMsg::PollDone { cache, next } => {
                state.cache = Some(cache);
                state.polling = None;
                state.next_due = tokio::time::Instant::now() + next;
                myself.send_after(next, || ObserverMsg::Poll);
            }
            #[cfg(any(test, feature = "fault-injection"))]
            ObserverMsg::Fault => panic!("injected fault in the PR observer of {}", state.ctx.repo),
        }
        Ok(())
    }
}

/// Runs a store read on the blocking pool.
async fn read<T, F>(reader: &ReadPool, f: F) -> Result<T, String>
where
    T: Send + 'static,
    F: FnOnce(&ReadPool) -> Result<T, StoreError> + Send + 'static,
{
    let reader = reader.clone();
    match tokio::task::spawn_blocking(move || f(&reader)).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(e.to_string()),
        Err(e) => Err(format!("store read failed: {e}")),
    }
}

/// Why a poll ended early.
enum Stop {
    /// Rate limit / auth / token: recorded in the budget already.
    Budget,
    /// Anything else (logged, retried next tick).
    Failed(String),
}

/// Records a budget-relevant error; `true` when the poll must stop.
fn budget_error(ctx: &ObserverCtx, err: &ScmError) -> bool {
    let now = Utc::now();
    match err {
        ScmError::RateLimited {
            retry_after,
            reset_at,
        } => {
            tracing::warn!(repo = %ctx.repo, error = %err, "GitHub rate limit; backing off");
            lock(&ctx.budget).on_rate_limited(*retry_after, *reset_at, now);
            true
        }
        ScmError::AuthFailed { .. } => {
            tracing::warn!(repo = %ctx.repo, error = %err, "GitHub rejected the token");
            ctx.client.tokens().invalidate();
            lock(&ctx.budget).on_auth_failed(err.to_string(), now);
            true
        }
        ScmError::NoToken => {
            lock(&ctx.budget).on_no_token(now);
            true
        }
        _ => false,
    }
}

fn until_delay(until: DateTime<Utc>, now: DateTime<Utc>) -> Duration {
    (until - now)
        .to_std()
        .unwrap_or(Duration::ZERO)
        .max(Duration::from_millis(100))
}

/// One poll (see the module docs). Returns the caches and the delay of the next tick.
pub(crate) async fn poll_once(ctx: &ObserverCtx, mut cache: Box<Cache>) -> (Box<Cache>, Duration) {
    let now = Utc::now();
    let gate = lock(&ctx.budget).gate(now);
    let (interval, policy) = match gate {
        Gate::Skip { until } => return (cache, until_delay(until, now)),
        Gate::Run { interval, reviews } => (interval, reviews),
    };
    match ctx.client.tokens().token().await {
        Ok(Some(token)) => lock(&ctx.budget).on_token(token.source),
        Ok(None) => {
            lock(&ctx.budget).on_no_token(now);
            return (cache, ctx.timings.token_recheck);
        }
        Err(e) => {
            tracing::warn!(repo = %ctx.repo, error = %e, "cannot resolve the GitHub token");
            lock(&ctx.budget).on_error(e.to_string());
            return (cache, interval);
        }
    }
    match run_poll(ctx, &mut cache, policy).await {
        Ok(()) => lock(&ctx.budget).on_success(Utc::now()),
        Err(Stop::Budget) => {}
        Err(Stop::Failed(e)) => {
            tracing::warn!(repo = %ctx.repo, error = %e, "PR poll incomplete; retrying next tick");
            lock(&ctx.budget).on_error(e);
        }
    }
    // The next tick follows the budget as it is now (a rate limit may have just hit).
    let now = Utc::now();
    let next = match lock(&ctx.budget).gate(now) {
        Gate::Skip { until } => until_delay(until, now),
        Gate::Run { interval, .. } => interval,
    };
    (cache, next)
}

/// The live observed sessions of this repo (scm.md §3).
async fn observed_sessions(ctx: &ObserverCtx) -> Result<Vec<SessionBranch>, String> {
    let host = ctx.client.config().host.clone();
    let repo = ctx.repo.clone();
    read(&ctx.reader, move |r| {
        let projects: HashSet<_> = r
            .list_projects(false)?
            .into_iter()
            .filter(|p| parse_origin(&p.repo_origin_url, &host).is_some_and(|o| o.same_repo(&repo)))
            .map(|p| p.id)
            .collect();
        let filter = SessionFilter {
            active: Some(true),
            ..SessionFilter::default()
        };
        Ok(r.list_sessions(&filter)?
            .into_iter()
            .filter(|s| projects.contains(&s.project_id) && !s.branch.is_empty())
            .map(|s| SessionBranch {
                session: s.id,
                num: s.num,
                branch: s.branch,
            })
            .collect())
    })
    .await
}

async fn stored_prs(ctx: &ObserverCtx) -> Result<Vec<PrObserved>, String> {
    let host = ctx.client.config().host.clone();
    let slug = ctx.repo.to_string();
    read(&ctx.reader, move |r| r.prs_of_repo(&host, &slug)).await
}

/// The facts of a freshly discovered PR (scm.md §4 step 3): number, url, refs, draft.
fn baseline_facts(ctx: &ObserverCtx, pr: &OpenPr) -> PrFacts {
    PrFacts {
        url: ctx.client.pr_url(&PrKey::new(ctx.repo.clone(), pr.number)),
        number: pr.number,
        state: if pr.draft {
            PrState::Draft
        } else {
            PrState::Open
        },
        review_decision: ReviewDecision::None,
        ci_state: CiState::Unknown,
        mergeability: Mergeability::Unknown,
        mergeability_reasons: Vec::new(),
        host: ctx.client.config().host.clone(),
        repo: ctx.repo.to_string(),
        head_repo: pr.head_repo.clone(),
        source_branch: pr.head_ref.clone(),
        target_branch: String::new(),
        head_sha: String::new(),
        base_sha: String::new(),
        merge_commit_sha: String::new(),
        title: String::new(),
        author: String::new(),
        html_url: pr.html_url.clone(),
        additions: 0,
        deletions: 0,
        changed_files: 0,
        is_draft: pr.draft,
        is_merged: false,
        is_closed: false,
        provider_state: "OPEN".to_string(),
        provider_mergeable: String::new(),
        provider_merge_state_status: String::new(),
        created_at_provider: None,
        updated_at_provider: None,
        merged_at_provider: None,
        closed_at_provider: None,
    }
}

/// Discovery (scm.md §4 step 3): persists new owned PRs as baselines. Returns the stored rows
/// of the PRs it created.
async fn discover(
    ctx: &ObserverCtx,
    stored: &[PrObserved],
    live: &[SessionBranch],
) -> Result<Vec<PrObserved>, Stop> {
    let open = match ctx.client.list_open_prs(&ctx.repo).await {
        Ok(open) => open,
        Err(e) if budget_error(ctx, &e) => return Err(Stop::Budget),
        Err(e) => return Err(Stop::Failed(format!("discovery: {e}"))),
    };
    let known: HashSet<u64> = stored.iter().map(|p| p.number).collect();
    let mut created = Vec::new();
    for pr in open
        .iter()
        .filter(|p| !p.is_fork() && !known.contains(&p.number))
    {
        let Some(owner) = select::owner_of(&pr.head_ref, live) else {
            continue;
        };
        let facts = baseline_facts(ctx, pr);
        let obs = ScmObservation {
            session_id: owner.session.to_string(),
            facts: facts.clone(),
            checks: Vec::new(),
            threads: ThreadWrite::Preserve,
            hashes: ScmHashes::default(),
        };
        match ctx
            .reducer
            .apply_scm_observation(obs, ctx.write_timeout)
            .await
        {
            Ok(_) => {
                tracing::info!(url = %facts.url, session = %owner.session, "PR discovered");
                created.push(PrObserved {
                    url: facts.url,
                    session_id: owner.session.clone(),
                    number: pr.number,
                    state: facts.state,
                    source_branch: pr.head_ref.clone(),
                    head_sha: String::new(),
                    review_decision: ReviewDecision::None,
                    hashes: ao_store::AckedHashes::default(),
                    observed_at: None,
                    ci_observed_at: None,
                    review_observed_at: None,
                });
            }
            Err(e) if is_pr_owned_elsewhere(&e) => {}
            Err(e) => return Err(Stop::Failed(format!("baseline of PR #{}: {e}", pr.number))),
        }
    }
    Ok(created)
}

/// The whole poll after the gate and the token check. `Ok` only when everything succeeded.
async fn run_poll(ctx: &ObserverCtx, cache: &mut Cache, policy: ReviewPolicy) -> Result<(), Stop> {
    let started = Utc::now();
    let full_due =
        select::full_refresh_due(cache.last_full_refresh, started, ctx.timings.full_refresh);
    let live = observed_sessions(ctx).await.map_err(Stop::Failed)?;
    let mut stored = stored_prs(ctx).await.map_err(Stop::Failed)?;

    // Step 2: repo guard.
    let (guard_changed, new_etag) = match ctx
        .client
        .repo_guard(&ctx.repo, cache.repo_etag.as_deref())
        .await
    {
        Ok(Guard::NotModified) => (false, None),
        Ok(Guard::Changed { etag, .. }) => (true, etag),
        Err(e) if budget_error(ctx, &e) => return Err(Stop::Budget),
        Err(e) => return Err(Stop::Failed(format!("repo guard: {e}"))),
    };

    let mut ok = true;
    let mut failures = Vec::new();
    // Step 3: discovery, when the guard changed or the observed session branches did.
    let branches: BTreeSet<(String, String)> = live
        .iter()
        .map(|s| (s.session.to_string(), s.branch.clone()))
        .collect();
    if guard_changed || cache.discovered_for.as_ref() != Some(&branches) {
        match discover(ctx, &stored, &live).await {
            Ok(created) => {
                stored.extend(created);
                cache.discovered_for = Some(branches);
            }
            Err(Stop::Budget) => return Err(Stop::Budget),
            Err(Stop::Failed(e)) => {
                ok = false;
                failures.push(e);
            }
        }
    }

    // Base guards (not in the spec): one conditional call per distinct base of the subjects.
    let subjects: Vec<PrObserved> = stored
        .into_iter()
        .filter(|p| select::is_subject(p, &live))
        .collect();
    cache
        .bases
        .retain(|url, _| subjects.iter().any(|p| p.url == *url));
    let guarded = bases_of(&cache.bases);
    cache.base_etags.retain(|base, _| guarded.contains(base));
    let mut moved = BTreeSet::new();
    let mut moved_etags = HashMap::new();
    for base in &guarded {
        let known = cache.base_etags.get(base).map(String::as_str);
        match ctx.client.base_guard(&ctx.repo, base, known).await {
            Ok(Guard::NotModified) => {}
            Ok(Guard::Changed { etag, .. }) => {
                moved.insert(base.clone());
                if let Some(etag) = etag {
                    moved_etags.insert(base.clone(), etag);
                }
            }
            Err(e) if budget_error(ctx, &e) => return Err(Stop::Budget),
            Err(e) => {
                tracing::warn!(repo = %ctx.repo, base = %base, error = %e, "base guard failed; retrying next poll");
            }
        }
    }

    // Step 4: candidates.
    let now = Utc::now();
    let mut candidates: Vec<(PrObserved, Option<(String, String)>)> = Vec::new();
    for pr in subjects {
        let mut check_changed = false;
        let mut check_etag = None;
        if !pr.head_sha.is_empty() {
            let known = cache
                .checks
                .get(&pr.url)
                .filter(|(sha, _)| *sha == pr.head_sha)
                .map(|(_, etag)| etag.as_str());
            match ctx.client.check_guard(&ctx.repo, &pr.head_sha, known).await {
                Ok(Guard::NotModified) => {}
                Ok(Guard::Changed { etag, .. }) => {
                    check_changed = true;
                    check_etag = etag.map(|e| (pr.head_sha.clone(), e));
                }
                Err(e) if budget_error(ctx, &e) => return Err(Stop::Budget),
                Err(e) => {
                    // Refresh it anyway: the check guard is only an optimisation.
                    tracing::debug!(url = %pr.url, error = %e, "check guard failed");
                    check_changed = true;
                }
            }
        }
        let review = select::review_due(
            &pr,
            cache.reviews.get(&pr.url),
            None,
            now,
            ctx.timings.review_refresh,
            policy,
        );
        if select::is_candidate(&pr, guard_changed, check_changed, review, full_due)
            || select::base_triggered(cache.bases.get(&pr.url), &moved)
        {
            candidates.push((pr, check_etag));
        }
    }
    // Every subject is a candidate: a successful poll counts as a full refresh.
    let full = full_due || guard_changed;

    // Step 5: GraphQL facts (the client batches by 25).
    let keys: Vec<PrKey> = candidates
        .iter()
        .map(|(p, _)| PrKey::new(ctx.repo.clone(), p.number))
        .collect();
    let results = if keys.is_empty() {
        Vec::new()
    } else {
        ctx.client.pr_facts(&keys).await
    };
    // Bases with a subject whose refresh failed: their new ETags wait.
    let mut failed_bases = HashSet::new();
    for ((pr, check_etag), result) in candidates.into_iter().zip(results) {
        let base_before = cache.bases.get(&pr.url).map(|m| m.base_ref.clone());
        let outcome = match result {
            Ok(snap) => {
                let f = &snap.facts;
                let memo = BaseMemo::observe(
                    cache.bases.get(&pr.url),
                    Fetched {
                        base_ref: &f.target_branch,
                        head_sha: &f.head_sha,
                        base_sha: &f.base_sha,
                        mergeable: &f.provider_mergeable,
                    },
                );
                cache.bases.insert(pr.url.clone(), memo);
                refresh(ctx, cache, &pr, snap, policy).await
            }
            Err(ScmError::NotFound) => match closed_snapshot(ctx, &pr).await {
                Ok(snap) => refresh(ctx, cache, &pr, snap, policy).await,
                Err(e) => Err(Stop::Failed(e)),
            },
            Err(e) if budget_error(ctx, &e) => return Err(Stop::Budget),
            Err(e) => Err(Stop::Failed(format!("facts of {}: {e}", pr.url))),
        };
        match outcome {
            Ok(()) => {
                if let Some(etag) = check_etag {
                    cache.checks.insert(pr.url.clone(), etag);
                }
            }
            Err(Stop::Budget) => return Err(Stop::Budget),
            Err(Stop::Failed(e)) => {
                ok = false;
                failures.push(e);
                failed_bases.extend(base_before);
                failed_bases.extend(cache.bases.get(&pr.url).map(|m| m.base_ref.clone()));
            }
        }
    }

    // Step 10 for the base guards: a moved base's ETag once all its refreshes succeeded; a
    // base first seen in this poll's facts gets its first ETag.
    for (base, etag) in moved_etags {
        if !failed_bases.contains(&base) {
            cache.base_etags.insert(base, etag);
        }
    }
    let learned: BTreeSet<String> = bases_of(&cache.bases)
        .into_iter()
        .filter(|b| !guarded.contains(b) && !failed_bases.contains(b))
        .collect();
    for base in learned {
        prime_base(ctx, cache, &base).await?;
    }

    if ok {
        if let Some(etag) = new_etag {
            cache.repo_etag = Some(etag);
        }
        if full {
            cache.last_full_refresh = Some(started);
        }
        Ok(())
    } else {
        Err(Stop::Failed(failures.join("; ")))
    }
}

/// The distinct, non-empty base branches of the memos.
fn bases_of(memos: &HashMap<String, BaseMemo>) -> BTreeSet<String> {
    memos
        .values()
        .map(|m| m.base_ref.clone())
        .filter(|b| !b.is_empty())
        .collect()
}

/// The first ETag of a base learned from this poll's facts (fetched after them). It is kept
/// only when the branch still points at the base commit every subject on it reported: then
/// the facts already describe that tip, and a later move changes the ETag. Otherwise (moved
/// meanwhile, or GitHub's `baseRefOid` lags) the next poll's guard, which has no ETag,
/// answers "changed" and refreshes those subjects once more. Only budget errors stop the poll.
async fn prime_base(ctx: &ObserverCtx, cache: &mut Cache, base: &str) -> Result<(), Stop> {
    match ctx.client.base_guard(&ctx.repo, base, None).await {
        Ok(Guard::Changed {
            etag: Some(etag),
            tip_sha: Some(tip),
            ..
        }) => {
            let current = cache
                .bases
                .values()
                .filter(|m| m.base_ref == base)
                .all(|m| m.base_sha == tip);
            if current {
                cache.base_etags.insert(base.to_string(), etag);
            }
        }
        Ok(_) => {}
        Err(e) if budget_error(ctx, &e) => return Err(Stop::Budget),
        Err(e) => {
            tracing::debug!(repo = %ctx.repo, base = %base, error = %e, "base guard failed; retrying next poll");
        }
    }
    Ok(())
}

/// A PR whose alias answered NotFound: its stored facts, marked `closed`.
async fn closed_snapshot(ctx: &ObserverCtx, pr: &PrObserved) -> Result<PrSnapshot, String> {
    let url = pr.url.clone();
    let detail = read(&ctx.reader, move |r| r.pr_detail(&url))
        .await?
        .ok_or_else(|| format!("PR {} vanished from the store", pr.url))?;
    let mut facts = detail.facts;
    facts.state = PrState::Closed;
    facts.is_closed = true;
    facts.provider_state = "CLOSED".to_string();
    Ok(PrSnapshot {
        facts,
        checks: Vec::new(),
    })
}

/// Steps 6–9 for one PR: logs, review threads, diff, persist, react, ack.
async fn refresh(
    ctx: &ObserverCtx,
    cache: &mut Cache,
    pr: &PrObserved,
    snap: PrSnapshot,
    policy: ReviewPolicy,
) -> Result<(), Stop> {
    let PrSnapshot { facts, mut checks } = snap;
    let mut complete_refresh = true;

    // Step 6: failure logs only when the failed-check fingerprint changed.
    let fingerprint = hashes::failed_check_fingerprint(&checks);
    let previous = cache
        .fingerprints
        .get(&pr.url)
        .cloned()
        .or_else(|| pr.hashes.ci.split_once(':').map(|(fp, _)| fp.to_string()));
    let needs_logs = checks.iter().any(|c| {
        c.status == CheckStatus::Failed && c.kind == CheckKind::CheckRun && !c.job_id.is_empty()
    });
    let mut logs_ok = true;
    // A previous fetch failed (sentinel `''`): the retry is written even though the hashes
    // (which exclude the tails) did not change.
    let retry_logs = needs_logs && previous.as_deref() == Some("");
    if needs_logs {
        if previous.as_deref() == Some(fingerprint.as_str()) {
            let url = pr.url.clone();
            let stored = read(&ctx.reader, move |r| r.pr_detail(&url))
                .await
                .map_err(Stop::Failed)?;
            if let Some(stored) = stored {
                for c in &mut checks {
                    if let Some(s) = stored
                        .checks
                        .iter()
                        .find(|s| s.name == c.name && s.commit_sha == c.commit_sha)
                    {
                        c.log_tail.clone_from(&s.log_tail);
                        c.log_hash.clone_from(&s.log_hash);
                    }
                }
            }
        } else {
            for c in checks.iter_mut().filter(|c| {
                c.status == CheckStatus::Failed
                    && c.kind == CheckKind::CheckRun
                    && !c.job_id.is_empty()
            }) {
                match ctx.client.job_log(&ctx.repo, &c.job_id).await {
                    Ok(raw) => {
                        c.log_tail = normalize::log_tail(&raw);
                        c.log_hash = normalize::log_hash(&c.log_tail);
                    }
                    Err(e) if budget_error(ctx, &e) => return Err(Stop::Budget),
                    Err(e) => {
                        logs_ok = false;
                        c.log_tail = normalize::log_unavailable(e.class());
                        c.log_hash = normalize::log_hash(&c.log_tail);
                    }
                }
            }
        }
    }

    // Step 7: review threads.
    let now = Utc::now();
    let due = select::review_due(
        pr,
        cache.reviews.get(&pr.url),
        Some(facts.review_decision),
        now,
        ctx.timings.review_refresh,
        policy,
    );
    let mut review_memo = None;
    let (threads, review_hash, partial) = if due {
        match ctx.client.review_threads(&ctx.repo, facts.number).await {
            Ok(t) => {
                let hash = hashes::review_hash(facts.review_decision, t.partial, &t.threads);
                review_memo = Some(ReviewMemo {
                    at: now,
                    failed: false,
                });
                let write = if t.partial {
                    ThreadWrite::Merge(t.threads)
                } else {
                    ThreadWrite::Replace(t.threads)
                };
                (write, Some(hash), t.partial)
            }
            Err(e) if budget_error(ctx, &e) => return Err(Stop::Budget),
            Err(e) => {
                tracing::warn!(url = %pr.url, error = %e, "review threads fetch failed");
                cache.reviews.insert(
                    pr.url.clone(),
                    ReviewMemo {
                        at: now,
                        failed: true,
                    },
                );
                complete_refresh = false;
                (ThreadWrite::Preserve, None, false)
            }
        }
    } else {
        (ThreadWrite::Preserve, None, false)
    };

    // Step 8: semantic diff against the acknowledged hashes.
    let observed = ScmHashes {
        metadata: hashes::metadata_hash(&facts),
        ci: hashes::ci_hash(&checks),
        review: review_hash,
        review_partial: partial,
    };
    let changed = retry_logs
        || observed.metadata != pr.hashes.metadata
        || observed.ci != pr.hashes.ci
        || observed
            .review
            .as_ref()
            .is_some_and(|r| *r != pr.hashes.review);
    if changed {
        // Step 9: persist, react, acknowledge.
        let url = facts.url.clone();
        let obs = ScmObservation {
            session_id: pr.session_id.to_string(),
            facts,
            checks,
            threads,
            hashes: observed.clone(),
        };
        let applied = match ctx
            .reducer
            .apply_scm_observation(obs, ctx.write_timeout)
            .await
        {
            Ok(applied) => applied,
            // Claimed by another session meanwhile: only claim moves PRs.
            Err(e) if is_pr_owned_elsewhere(&e) => return Ok(()),
            Err(e) => return Err(Stop::Failed(format!("persisting {url}: {e}"))),
        };
        ctx.sessions
            .pr_facts_changed(applied.session_id.clone(), applied.complete)
            .await
            .map_err(|e| {
                Stop::Failed(format!("reaction of {} to {url}: {e}", applied.session_id))
            })?;
        match ctx
            .reducer
            .ack_scm_hashes(
                &applied.session_id,
                url.clone(),
                observed,
                ctx.write_timeout,
            )
            .await
        {
            Ok(()) => {}
            Err(e) if is_pr_owned_elsewhere(&e) => return Ok(()),
            Err(e) => return Err(Stop::Failed(format!("acknowledging {url}: {e}"))),
        }
    }

    // Step 10: advance the memos of a fully successful refresh.
    if let Some(memo) = review_memo {
        cache.reviews.insert(pr.url.clone(), memo);
    }
    if logs_ok {
        cache.fingerprints.insert(pr.url.clone(), fingerprint);
    } else {
        cache.fingerprints.insert(pr.url.clone(), String::new());
    }
    if complete_refresh && logs_ok {
        Ok(())
    } else {
        Err(Stop::Failed(format!("refresh of {} incomplete", pr.url)))
    }
}
