//! The PR write operations of data-model.md §6 (scm.md §6–§11), as [`Writer`] methods: each is
//! one `BEGIN IMMEDIATE` transaction returning a [`Written`] with the change-log rows its
//! triggers inserted.
//!
//! * [`Writer::apply_scm_observation`] — the facts of one observation: the `pr` row (guarded by
//!   owner: an observation never moves a PR), `pr_checks` per (name, commit), and review
//!   threads/comments per [`ThreadWrite`]. The acknowledged hashes are never touched here.
//! * [`Writer::ack_scm_hashes`] — stores the acknowledged hashes after the reaction succeeded.
//! * [`Writer::claim_pr`] — the claim transaction (scm.md §11): the only write that may change
//!   `pr.session_id`.
//! * [`Writer::record_nudge`] / [`Writer::reset_nudge_key`] — the dedup state of scm.md §9.4.
//!
//! Invariants: every input is validated before anything is written, and any failure (a SQLite
//! error mid-write included) rolls the whole transaction back, so an observation is stored
//! completely or not at all. Review "replace" writes upsert the threads before deleting the
//! missing ones, so a resolved flip fires `pr_review_thread_resolved` (an UPDATE), never a
//! delete plus `pr_review_thread_added`. Child rows are only rewritten when a column differs,
//! so `updated_at` tells when a row last changed.

use std::collections::HashSet;

use ao_protocol::scm::{CheckFact, PrFacts, ScmHashes, ScmObservation, ThreadFact, ThreadWrite};
use ao_protocol::{NudgeKind, SessionId, time};
use chrono::Duration;
use rusqlite::{OptionalExtension, Transaction, named_params};

use crate::error::{DbResult, StoreError};
use crate::rows::Written;
use crate::scm_rows::{AckedHashes, ClaimApplied, NudgeState, ScmApplied};
use crate::write::Writer;

/// At most this many comments of a review thread are stored (data-model.md §4.6).
pub const MAX_COMMENTS_PER_THREAD: usize = 5;

/// The `nudge_state` of a PR that was never nudged (and after a claim).
const EMPTY_NUDGE_STATE: &str = r#"{"seen":{},"attempts":{}}"#;

/// The integer and JSON columns of [`PrFacts`], converted (and so validated) before the
/// transaction starts.
struct FactParams {
    number: i64,
    additions: i64,
    deletions: i64,
    changed_files: i64,
    reasons: String,
}

fn to_i64(value: u64, what: &str) -> Result<i64, StoreError> {
    i64::try_from(value)
        .map_err(|_| StoreError::InvalidInput(format!("{what} {value} is out of range")))
}

impl FactParams {
    fn new(facts: &PrFacts) -> Result<Self, StoreError> {
        if facts.url.is_empty() {
            return Err(StoreError::InvalidInput("PR url is empty".into()));
        }
        Ok(Self {
            number: to_i64(facts.number, "PR number")?,
            additions: to_i64(facts.additions, "additions")?,
            deletions: to_i64(facts.deletions, "deletions")?,
            changed_files: to_i64(facts.changed_files, "changed files")?,
            reasons: serde_json::Value::from(facts.mergeability_reasons.clone()).to_string(),
        })
    }
}

fn parse_session(id: &str) -> Result<SessionId, StoreError> {
    SessionId::parse(id).map_err(|e| StoreError::InvalidInput(e.to_string()))
}

fn parse_stored_session(id: String) -> Result<SessionId, StoreError> {
    SessionId::parse(id).map_err(|e| StoreError::Corrupt(format!("pr.session_id: {e}")))
}

/// `Some(is_terminated)` of a session, `None` when it does not exist.
fn session_terminated(tx: &Transaction<'_>, id: &SessionId) -> Result<Option<bool>, StoreError> {
    tx.query_row(
        "SELECT is_terminated FROM sessions WHERE id = ?1",
        [id.as_str()],
        |r| r.get::<_, i64>(0),
    )
    .optional()
    .db()
    .map(|v| v.map(|t| t != 0))
}

/// The current owner and acknowledged hashes of a PR, `None` when it is not stored.
fn current_pr(
    tx: &Transaction<'_>,
    url: &str,
) -> Result<Option<(SessionId, AckedHashes)>, StoreError> {
    let row = tx
        .query_row(
            "SELECT session_id, metadata_hash, ci_hash, review_hash, review_partial \
             FROM pr WHERE url = ?1",
            [url],
            |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    AckedHashes {
                        metadata: r.get(1)?,
                        ci: r.get(2)?,
                        review: r.get(3)?,
                        review_partial: r.get::<_, i64>(4)? != 0,
                    },
                ))
            },
        )
        .optional()
        .db()?;
    row.map(|(owner, hashes)| Ok((parse_stored_session(owner)?, hashes)))
        .transpose()
}

/// The error for a guarded PR write that matched no row: `NotFound` or `PrOwnedElsewhere`.
fn guard_error(tx: &Transaction<'_>, url: &str) -> StoreError {
    match current_pr(tx, url) {
        Ok(Some((owner, _))) => StoreError::PrOwnedElsewhere { owner },
        Ok(None) => StoreError::NotFound,
        Err(e) => e,
    }
}

/// Whether an observed hash differs from the acknowledged one (scm.md §7).
fn hashes_differ(stored: &AckedHashes, observed: &ScmHashes) -> bool {
    stored.metadata != observed.metadata
        || stored.ci != observed.ci
        || observed
            .review
            .as_ref()
            .is_some_and(|review| *review != stored.review)
}

/// scm.md §10: the session has no PR in `open`/`draft` and at least one `merged`.
fn session_complete(tx: &Transaction<'_>, session: &SessionId) -> Result<bool, StoreError> {
    let (open, merged): (i64, i64) = tx
        .query_row(
            "SELECT COALESCE(SUM(pr_state IN ('open', 'draft')), 0), \
             COALESCE(SUM(pr_state = 'merged'), 0) FROM pr WHERE session_id = ?1",
            [session.as_str()],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .db()?;
    Ok(open == 0 && merged > 0)
}

/// How [`upsert_pr`] treats an existing row.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Upsert {
    /// Observation: only the owner's row is updated (`WHERE pr.session_id = excluded.…`).
    Guarded,
    /// Claim: the owner changes to the claimer, the nudge state and acknowledged hashes reset.
    Claim,
}

const PR_FACT_COLUMNS: &[&str] = &[
    "number",
    "pr_state",
    "review_decision",
    "ci_state",
    "mergeability",
    "mergeability_reasons",
    "host",
    "repo",
    "head_repo",
    "source_branch",
    "target_branch",
    "head_sha",
    "base_sha",
    "merge_commit_sha",
    "title",
    "author",
    "html_url",
    "additions",
    "deletions",
    "changed_files",
    "is_draft",
    "is_merged",
    "is_closed",
    "provider_state",
    "provider_mergeable",
    "provider_merge_state_status",
    "created_at_provider",
    "updated_at_provider",
    "merged_at_provider",
    "closed_at_provider",
    "observed_at",
    "ci_observed_at",
    "updated_at",
];

fn upsert_pr_sql(mode: Upsert) -> String {
    let columns = PR_FACT_COLUMNS.join(", ");
    let values: Vec<String> = PR_FACT_COLUMNS.iter().map(|c| format!(":{c}")).collect();
    let mut set: Vec<String> = PR_FACT_COLUMNS
        .iter()
        .map(|c| format!("{c} = excluded.{c}"))
        .collect();
    set.push(
        "review_observed_at = COALESCE(excluded.review_observed_at, pr.review_observed_at)".into(),
    );
    let tail = match mode {
        Upsert::Guarded => "WHERE pr.session_id = excluded.session_id".to_owned(),
        Upsert::Claim => {
            set.push("session_id = excluded.session_id".into());
            set.push(format!("nudge_state = '{EMPTY_NUDGE_STATE}'"));
            set.push("metadata_hash = ''".into());
            set.push("ci_hash = ''".into());
            set.push("review_hash = ''".into());
            set.push("review_partial = 0".into());
            String::new()
        }
    };
    format!(
        "INSERT INTO pr (url, session_id, provider, review_observed_at, {columns}) \
         VALUES (:url, :session_id, 'github', :review_observed_at, {}) \
         ON CONFLICT(url) DO UPDATE SET {} {tail}",
        values.join(", "),
        set.join(", ")
    )
}

/// Inserts or updates the `pr` row of `obs`; returns the number of rows written (0 when the
/// guard rejected the update).
fn upsert_pr(
    tx: &Transaction<'_>,
    session: &SessionId,
    obs: &ScmObservation,
    p: &FactParams,
    now: &str,
    mode: Upsert,
) -> Result<usize, StoreError> {
    let f = &obs.facts;
    let review_at = match obs.threads {
        ThreadWrite::Preserve => None,
        ThreadWrite::Replace(_) | ThreadWrite::Merge(_) => Some(now),
    };
    let sql = upsert_pr_sql(mode);
    let mut stmt = tx.prepare_cached(&sql).db()?;
    stmt.execute(named_params! {
        ":url": f.url,
        ":session_id": session.as_str(),
        ":review_observed_at": review_at,
        ":number": p.number,
        ":pr_state": f.state.as_str(),
        ":review_decision": f.review_decision.as_str(),
        ":ci_state": f.ci_state.as_str(),
        ":mergeability": f.mergeability.as_str(),
        ":mergeability_reasons": p.reasons,
        ":host": f.host,
        ":repo": f.repo,
        ":head_repo": f.head_repo,
        ":source_branch": f.source_branch,
        ":target_branch": f.target_branch,
        ":head_sha": f.head_sha,
        ":base_sha": f.base_sha,
        ":merge_commit_sha": f.merge_commit_sha,
        ":title": f.title,
        ":author": f.author,
        ":html_url": f.html_url,
        ":additions": p.additions,
        ":deletions": p.deletions,
        ":changed_files": p.changed_files,
        ":is_draft": f.is_draft,
        ":is_merged": f.is_merged,
        ":is_closed": f.is_closed,
        ":provider_state": f.provider_state,
        ":provider_mergeable": f.provider_mergeable,
        ":provider_merge_state_status": f.provider_merge_state_status,
        ":created_at_provider": f.created_at_provider,
        ":updated_at_provider": f.updated_at_provider,
        ":merged_at_provider": f.merged_at_provider,
        ":closed_at_provider": f.closed_at_provider,
        ":observed_at": now,
        ":ci_observed_at": now,
        ":updated_at": now,
    })
    .db()
}

fn write_check(
    tx: &Transaction<'_>,
    url: &str,
    c: &CheckFact,
    now: &str,
) -> Result<(), StoreError> {
    let mut stmt = tx
        .prepare_cached(
            "INSERT INTO pr_checks (pr_url, name, commit_sha, kind, status, conclusion, url, \
             job_id, log_tail, log_hash, created_at, updated_at) VALUES (:pr, :name, :commit, \
             :kind, :status, :conclusion, :url, :job, :tail, :hash, :now, :now) \
             ON CONFLICT(pr_url, name, commit_sha) DO UPDATE SET kind = excluded.kind, \
             status = excluded.status, conclusion = excluded.conclusion, url = excluded.url, \
             job_id = excluded.job_id, log_tail = excluded.log_tail, \
             log_hash = excluded.log_hash, updated_at = excluded.updated_at \
             WHERE pr_checks.kind IS NOT excluded.kind OR pr_checks.status IS NOT excluded.status \
             OR pr_checks.conclusion IS NOT excluded.conclusion \
             OR pr_checks.url IS NOT excluded.url OR pr_checks.job_id IS NOT excluded.job_id \
             OR pr_checks.log_tail IS NOT excluded.log_tail \
             OR pr_checks.log_hash IS NOT excluded.log_hash",
        )
        .db()?;
    stmt.execute(named_params! {
        ":pr": url,
        ":name": c.name,
        ":commit": c.commit_sha,
        ":kind": c.kind.as_str(),
        ":status": c.status.as_str(),
        ":conclusion": c.conclusion,
        ":url": c.url,
        ":job": c.job_id,
        ":tail": c.log_tail,
        ":hash": c.log_hash,
        ":now": now,
    })
    .db()?;
    Ok(())
}

fn upsert_thread(
    tx: &Transaction<'_>,
    url: &str,
    t: &ThreadFact,
    now: &str,
) -> Result<(), StoreError> {
    let mut stmt = tx
        .prepare_cached(
            "INSERT INTO pr_review_threads (pr_url, thread_id, path, line, resolved, is_bot, \
             semantic_hash, updated_at) VALUES (:pr, :thread, :path, :line, :resolved, :bot, \
             :hash, :now) ON CONFLICT(pr_url, thread_id) DO UPDATE SET path = excluded.path, \
             line = excluded.line, resolved = excluded.resolved, is_bot = excluded.is_bot, \
             semantic_hash = excluded.semantic_hash, updated_at = excluded.updated_at \
             WHERE pr_review_threads.path IS NOT excluded.path \
             OR pr_review_threads.line IS NOT excluded.line \
             OR pr_review_threads.resolved IS NOT excluded.resolved \
             OR pr_review_threads.is_bot IS NOT excluded.is_bot \
             OR pr_review_threads.semantic_hash IS NOT excluded.semantic_hash",
        )
        .db()?;
    stmt.execute(named_params! {
        ":pr": url,
        ":thread": t.thread_id,
        ":path": t.path,
        ":line": t.line,
        ":resolved": t.resolved,
        ":bot": t.is_bot,
        ":hash": t.semantic_hash,
        ":now": now,
    })
    .db()?;
    Ok(())
}

/// Inserts the first [`MAX_COMMENTS_PER_THREAD`] comments of `t` (their old rows must already
/// be deleted); `file`, `line` and `resolved` come from the thread.
fn insert_comments(
    tx: &Transaction<'_>,
    url: &str,
    t: &ThreadFact,
    now: &str,
) -> Result<(), StoreError> {
    let mut stmt = tx
        .prepare_cached(
            "INSERT INTO pr_comment (pr_url, comment_id, thread_id, author, is_bot, file, line, \
             body, url, resolved, created_at) VALUES (:pr, :id, :thread, :author, :bot, :file, \
             :line, :body, :url, :resolved, :created) \
             ON CONFLICT(pr_url, comment_id) DO UPDATE SET thread_id = excluded.thread_id, \
             author = excluded.author, is_bot = excluded.is_bot, file = excluded.file, \
             line = excluded.line, body = excluded.body, url = excluded.url, \
             resolved = excluded.resolved, created_at = excluded.created_at",
        )
        .db()?;
    for c in t.comments.iter().take(MAX_COMMENTS_PER_THREAD) {
        stmt.execute(named_params! {
            ":pr": url,
            ":id": c.comment_id,
            ":thread": t.thread_id,
            ":author": c.author,
            ":bot": c.is_bot,
            ":file": t.path,
            ":line": t.line,
            ":body": c.body,
            ":url": c.url,
            ":resolved": t.resolved,
            ":created": c.created_at.as_deref().unwrap_or(now),
        })
        .db()?;
    }
    Ok(())
}

/// Writes the checks and the review threads/comments of an observation (scm.md §6.1).
fn write_children(tx: &Transaction<'_>, obs: &ScmObservation, now: &str) -> Result<(), StoreError> {
    let url = obs.facts.url.as_str();
    for check in &obs.checks {
        write_check(tx, url, check, now)?;
    }
    match &obs.threads {
        ThreadWrite::Preserve => {}
        ThreadWrite::Replace(threads) => {
            for t in threads {
                upsert_thread(tx, url, t, now)?;
            }
            let keep: HashSet<&str> = threads.iter().map(|t| t.thread_id.as_str()).collect();
            let stored: Vec<String> = {
                let mut stmt = tx
                    .prepare_cached("SELECT thread_id FROM pr_review_threads WHERE pr_url = ?1")
                    .db()?;
                stmt.query_map([url], |r| r.get(0))
                    .db()?
                    .collect::<Result<_, _>>()
                    .db()?
            };
            for gone in stored.iter().filter(|id| !keep.contains(id.as_str())) {
                tx.execute(
                    "DELETE FROM pr_review_threads WHERE pr_url = ?1 AND thread_id = ?2",
                    (url, gone),
                )
                .db()?;
            }
            tx.execute("DELETE FROM pr_comment WHERE pr_url = ?1", [url])
                .db()?;
            for t in threads {
                insert_comments(tx, url, t, now)?;
            }
        }
        ThreadWrite::Merge(threads) => {
            for t in threads {
                upsert_thread(tx, url, t, now)?;
            }
            for t in threads {
                tx.execute(
                    "DELETE FROM pr_comment WHERE pr_url = ?1 AND thread_id = ?2",
                    (url, &t.thread_id),
                )
                .db()?;
            }
            for t in threads {
                insert_comments(tx, url, t, now)?;
            }
        }
    }
    Ok(())
}

/// `now`, or 1 ms after `prev` when `now` is not later, so `last_nudge_at` always changes and
/// every recorded nudge fires `nudge_delivered`.
fn strictly_after(prev: Option<&str>, now: String) -> String {
    match prev.and_then(time::parse) {
        Some(prev) if time::parse(&now).is_none_or(|n| n <= prev) => {
            time::format(prev + Duration::milliseconds(1))
        }
        _ => now,
    }
}

impl Writer {
    /// Applies one PR observation (scm.md §6.1, §7 step 1) in one transaction.
    ///
    /// Writes the `pr` fact columns (never the acknowledged hashes, never `session_id`),
    /// `observed_at` and `ci_observed_at` (= now), `review_observed_at` (= now for a
    /// `Replace`/`Merge` thread write; kept for `Preserve`), `updated_at`; one `pr_checks` row
    /// per (name, commit); and the threads/comments per [`ThreadWrite`].
    ///
    /// Errors (nothing written): an invalid session id or a number beyond SQLite's range →
    /// [`StoreError::InvalidInput`]; an absent session → [`StoreError::NotFound`]; a PR owned by
    /// another session → [`StoreError::PrOwnedElsewhere`].
    pub fn apply_scm_observation(
        &mut self,
        obs: &ScmObservation,
    ) -> Result<Written<ScmApplied>, StoreError> {
        let session = parse_session(&obs.session_id)?;
        let params = FactParams::new(&obs.facts)?;
        let url = obs.facts.url.as_str();
        self.write(|tx| {
            if session_terminated(tx, &session)?.is_none() {
                return Err(StoreError::NotFound);
            }
            let current = current_pr(tx, url)?;
            if let Some((owner, _)) = &current
                && *owner != session
            {
                return Err(StoreError::PrOwnedElsewhere {
                    owner: owner.clone(),
                });
            }
            let now = time::now();
            if upsert_pr(tx, &session, obs, &params, &now, Upsert::Guarded)? == 0 {
                return Err(guard_error(tx, url));
            }
            write_children(tx, obs, &now)?;
            let stored = current
                .as_ref()
                .map(|(_, hashes)| hashes.clone())
                .unwrap_or_default();
            Ok(ScmApplied {
                changed: hashes_differ(&stored, &obs.hashes),
                complete: session_complete(tx, &session)?,
                created: current.is_none(),
                session_id: session.clone(),
            })
        })
    }

    /// Stores the acknowledged hashes of a PR after its reaction succeeded (scm.md §7 step 3):
    /// `metadata_hash`, `ci_hash`, and — only when `hashes.review` is `Some` — `review_hash` and
    /// `review_partial`. Guarded by owner: an absent PR → [`StoreError::NotFound`], a PR owned
    /// by another session (claimed meanwhile) → [`StoreError::PrOwnedElsewhere`].
    pub fn ack_scm_hashes(
        &mut self,
        session: &SessionId,
        url: &str,
        hashes: &ScmHashes,
    ) -> Result<Written<()>, StoreError> {
        self.write(|tx| {
            let changed = tx
                .execute(
                    "UPDATE pr SET metadata_hash = :metadata, ci_hash = :ci, \
                     review_hash = COALESCE(:review, review_hash), \
                     review_partial = CASE WHEN :review IS NULL THEN review_partial \
                     ELSE :partial END, updated_at = :now \
                     WHERE url = :url AND session_id = :session",
                    named_params! {
                        ":metadata": hashes.metadata,
                        ":ci": hashes.ci,
                        ":review": hashes.review,
                        ":partial": hashes.review_partial,
                        ":now": time::now(),
                        ":url": url,
                        ":session": session.as_str(),
                    },
                )
                .db()?;
            if changed == 0 {
                return Err(guard_error(tx, url));
            }
            Ok(())
        })
    }

    /// The claim transaction (scm.md §11): makes `obs.session_id` the owner of the PR.
    ///
    /// 1. When the current owner is another **live** session and `allow_takeover` is false →
    ///    [`StoreError::PrClaimedByActiveSession`] (nothing written).
    /// 2. Upserts the `pr` row including `session_id` (fires `pr_created`, or
    ///    `pr_session_changed` when the PR moves), writes the checks, threads and comments as
    ///    [`Writer::apply_scm_observation`] does, and resets `nudge_state`. The acknowledged
    ///    hashes are cleared too, so the next poll delivers the facts to the new owner as a
    ///    change (its reaction, then the ack).
    /// 3. `taken_over_from` is the previous owner when it was a different session.
    ///
    /// An absent claimer → [`StoreError::NotFound`]; invalid input →
    /// [`StoreError::InvalidInput`].
    pub fn claim_pr(
        &mut self,
        obs: &ScmObservation,
        allow_takeover: bool,
    ) -> Result<Written<ClaimApplied>, StoreError> {
        let session = parse_session(&obs.session_id)?;
        let params = FactParams::new(&obs.facts)?;
        let url = obs.facts.url.as_str();
        self.write(|tx| {
            if session_terminated(tx, &session)?.is_none() {
                return Err(StoreError::NotFound);
            }
            let previous = current_pr(tx, url)?.map(|(owner, _)| owner);
            let other = previous.as_ref().filter(|owner| **owner != session);
            let previous_owner_live = match other {
                Some(owner) => session_terminated(tx, owner)? == Some(false),
                None => false,
            };
            if let Some(owner) = other
                && previous_owner_live
                && !allow_takeover
            {
                return Err(StoreError::PrClaimedByActiveSession {
                    owner: owner.clone(),
                });
            }
            let now = time::now();
            upsert_pr(tx, &session, obs, &params, &now, Upsert::Claim)?;
            write_children(tx, obs, &now)?;
            Ok(ClaimApplied {
                session_id: session.clone(),
                taken_over_from: other.cloned(),
                previous_owner_live,
                created: previous.is_none(),
            })
        })
    }

    /// Records a delivered nudge (scm.md §9.4): `seen[key] = signature`; `attempts[key]` counts
    /// +1 in the same `scope` or restarts at 1 in a new one; `last_nudge_at` (now, strictly
    /// later than the previous value), `last_nudge_kind`, `last_nudge_key` — fires
    /// `nudge_delivered`. Returns the new state. Guarded by owner like
    /// [`Writer::ack_scm_hashes`].
    pub fn record_nudge(
        &mut self,
        session: &SessionId,
        url: &str,
        kind: NudgeKind,
        key: &str,
        signature: &str,
        scope: &str,
    ) -> Result<Written<NudgeState>, StoreError> {
        self.write(|tx| {
            let (mut state, last_at) = owned_nudge_state(tx, session, url)?;
            state.record(key, signature, scope);
            let at = strictly_after(last_at.as_deref(), time::now());
            tx.execute(
                "UPDATE pr SET nudge_state = :state, last_nudge_at = :at, \
                 last_nudge_kind = :kind, last_nudge_key = :key, updated_at = :now \
                 WHERE url = :url AND session_id = :session",
                named_params! {
                    ":state": state.to_json().to_string(),
                    ":at": at,
                    ":kind": kind.as_str(),
                    ":key": key,
                    ":now": time::now(),
                    ":url": url,
                    ":session": session.as_str(),
                },
            )
            .db()?;
            Ok(state)
        })
    }

    /// Removes `key` from the PR's `nudge_state` (`seen` and `attempts`), e.g. a review key
    /// whose condition cleared. Returns whether the key was present; an absent key writes
    /// nothing. Guarded by owner like [`Writer::ack_scm_hashes`].
    pub fn reset_nudge_key(
        &mut self,
        session: &SessionId,
        url: &str,
        key: &str,
    ) -> Result<Written<bool>, StoreError> {
        self.write(|tx| {
            let (mut state, _) = owned_nudge_state(tx, session, url)?;
            if !state.remove(key) {
                return Ok(false);
            }
            tx.execute(
                "UPDATE pr SET nudge_state = ?1, updated_at = ?2 WHERE url = ?3 AND session_id = ?4",
                (
                    state.to_json().to_string(),
                    time::now(),
                    url,
                    session.as_str(),
                ),
            )
            .db()?;
            Ok(true)
        })
    }
}

/// The nudge state and `last_nudge_at` of a PR owned by `session`.
fn owned_nudge_state(
    tx: &Transaction<'_>,
    session: &SessionId,
    url: &str,
) -> Result<(NudgeState, Option<String>), StoreError> {
    let row: Option<(String, String, Option<String>)> = tx
        .query_row(
            "SELECT session_id, nudge_state, last_nudge_at FROM pr WHERE url = ?1",
            [url],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()
        .db()?;
    let Some((owner, state, last_at)) = row else {
        return Err(StoreError::NotFound);
    };
    let owner = parse_stored_session(owner)?;
    if owner != *session {
        return Err(StoreError::PrOwnedElsewhere { owner });
    }
    let value: serde_json::Value = serde_json::from_str(&state)
        .map_err(|e| StoreError::Corrupt(format!("pr.nudge_state: {e}")))?;
    Ok((NudgeState::from_json(&value), last_at))
}
