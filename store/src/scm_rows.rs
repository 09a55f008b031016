//! Plain data types of the PR tables (data-model.md §4.3–4.6) that cross the store boundary:
//! [`PrDetail`] (one PR with its head-commit checks, review threads, comments and nudge state,
//! for the nudge evaluation and the PR summary), [`PrObserved`] (what a PR observer needs per
//! known PR of its repo), the persisted [`NudgeState`] (scm.md §9.4), and the results of the SCM
//! writes ([`ScmApplied`], [`ClaimApplied`]).
//!
//! Invariants: no rusqlite type appears in a public signature; the crate-private mappers turn
//! an unreadable stored value into [`StoreError::Corrupt`], never a panic. A `nudge_state` whose
//! JSON is valid but oddly shaped is read leniently (malformed entries are skipped), so a bad
//! entry can never block every nudge and summary of a session.

use std::collections::BTreeMap;

use ao_protocol::scm::PrFacts;
use ao_protocol::{CheckKind, CheckStatus, NudgeKind, SessionId};
use rusqlite::Row;
use serde_json::{Map, Value, json};

use crate::error::{DbResult, StoreError};
use crate::rows::{bool_col, corrupt, json_col, parse_col, u64_col};

/// The reply of [`crate::Writer::apply_scm_observation`] (scm.md §7 step 1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScmApplied {
    /// The owning session (the one the observation named).
    pub session_id: SessionId,
    /// Some observed hash differs from the acknowledged one stored for the PR (the review hash
    /// only when the observation carries one).
    pub changed: bool,
    /// scm.md §10: after this write the session has no PR in `open`/`draft` and at least one
    /// `merged`.
    pub complete: bool,
    /// The `pr` row was inserted by this write (a first observation).
    pub created: bool,
}

/// The reply of [`crate::Writer::claim_pr`] (scm.md §11 transaction).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimApplied {
    /// The claiming session, now the PR's owner.
    pub session_id: SessionId,
    /// The previous owner when it was a different session, live or not (`takenOverFrom`).
    pub taken_over_from: Option<SessionId>,
    /// Whether that previous owner is still live (it keeps running and only loses the PR).
    pub previous_owner_live: bool,
    /// The `pr` row did not exist before the claim.
    pub created: bool,
}

/// One `attempts` entry of [`NudgeState`]: deliveries of a key within a scope.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NudgeAttempt {
    pub count: u32,
    /// The head SHA for CI and conflict keys; `''` for review keys.
    pub scope: String,
}

/// `pr.nudge_state` (scm.md §9.4): `{"seen": {key: signature}, "attempts": {key: {count, scope}}}`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NudgeState {
    pub seen: BTreeMap<String, String>,
    pub attempts: BTreeMap<String, NudgeAttempt>,
}

impl NudgeState {
    /// Whether `key` was already delivered with exactly this signature.
    pub fn is_seen(&self, key: &str, signature: &str) -> bool {
        self.seen.get(key).is_some_and(|s| s == signature)
    }

    /// Deliveries of `key` counted in `scope` (0 when the stored scope differs).
    pub fn attempts_in(&self, key: &str, scope: &str) -> u32 {
        self.attempts
            .get(key)
            .filter(|a| a.scope == scope)
            .map_or(0, |a| a.count)
    }

    /// Whether `key` holds any state (seen or attempts).
    pub fn has_key(&self, key: &str) -> bool {
        self.seen.contains_key(key) || self.attempts.contains_key(key)
    }

    /// Applies one delivery: `seen[key] = signature`; the same scope adds 1, a new scope
    /// restarts the count at 1.
    pub(crate) fn record(&mut self, key: &str, signature: &str, scope: &str) {
        self.seen.insert(key.to_owned(), signature.to_owned());
        let entry = self.attempts.entry(key.to_owned()).or_default();
        if entry.scope == scope && entry.count > 0 {
            entry.count = entry.count.saturating_add(1);
        } else {
            entry.count = 1;
            scope.clone_into(&mut entry.scope);
        }
    }

    /// Forgets `key`; returns whether it held any state.
    pub(crate) fn remove(&mut self, key: &str) -> bool {
        let seen = self.seen.remove(key).is_some();
        let attempts = self.attempts.remove(key).is_some();
        seen || attempts
    }

    /// Reads the stored JSON leniently: entries of the wrong shape are skipped.
    pub(crate) fn from_json(value: &Value) -> Self {
        let mut out = Self::default();
        if let Some(seen) = value.get("seen").and_then(Value::as_object) {
            for (key, sig) in seen {
                if let Some(sig) = sig.as_str() {
                    out.seen.insert(key.clone(), sig.to_owned());
                }
            }
        }
        if let Some(attempts) = value.get("attempts").and_then(Value::as_object) {
            for (key, a) in attempts {
                let count = a
                    .get("count")
                    .and_then(Value::as_u64)
                    .and_then(|c| u32::try_from(c).ok());
                let scope = a.get("scope").and_then(Value::as_str);
                if let (Some(count), Some(scope)) = (count, scope) {
                    out.attempts.insert(
                        key.clone(),
                        NudgeAttempt {
                            count,
                            scope: scope.to_owned(),
                        },
                    );
                }
            }
        }
        out
    }

    /// The stored JSON form.
    pub(crate) fn to_json(&self) -> Value {
        let seen: Map<String, Value> = self
            .seen
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect();
        let attempts: Map<String, Value> = self
            .attempts
            .iter()
            .map(|(k, a)| (k.clone(), json!({"count": a.count, "scope": a.scope})))
            .collect();
        json!({"seen": seen, "attempts": attempts})
    }
}

/// The acknowledged semantic hashes of a PR (scm.md §7); `''` when never acknowledged.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AckedHashes {
    pub metadata: String,
    pub ci: String,
    pub review: String,
    pub review_partial: bool,
}

/// `last_nudge_*` of a PR that was nudged at least once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastNudge {
    pub at: String,
    pub kind: NudgeKind,
    pub key: String,
}

/// One `pr_checks` row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrCheckRow {
    pub name: String,
    pub commit_sha: String,
    pub kind: CheckKind,
    pub status: CheckStatus,
    pub conclusion: String,
    pub url: String,
    pub job_id: String,
    pub log_tail: String,
    pub log_hash: String,
    pub created_at: String,
    pub updated_at: String,
}

/// One `pr_review_threads` row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrThreadRow {
    pub thread_id: String,
    pub path: String,
    pub line: Option<i64>,
    pub resolved: bool,
    pub is_bot: bool,
    pub semantic_hash: String,
    pub updated_at: String,
}

/// One `pr_comment` row (`file`/`line`/`resolved` copied from its thread).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrCommentRow {
    pub comment_id: String,
    pub thread_id: String,
    pub author: String,
    pub is_bot: bool,
    pub file: String,
    pub line: Option<i64>,
    pub body: String,
    pub url: String,
    pub resolved: bool,
    pub created_at: String,
}

/// One PR with everything the nudge evaluation (scm.md §9) and the PR summary (§12) read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrDetail {
    pub session_id: SessionId,
    /// The fact columns, in the shape the GitHub client produces them.
    pub facts: PrFacts,
    /// The stored `provider` column (`github` in v1).
    pub provider: String,
    pub hashes: AckedHashes,
    pub observed_at: Option<String>,
    pub ci_observed_at: Option<String>,
    pub review_observed_at: Option<String>,
    pub nudge_state: NudgeState,
    /// `None` when the PR was never nudged.
    pub last_nudge: Option<LastNudge>,
    pub updated_at: String,
    /// The checks of the head commit (`commit_sha = head_sha`), sorted by name. Checks of
    /// older commits stay stored but are not read here.
    pub checks: Vec<PrCheckRow>,
    /// Review threads sorted by thread id.
    pub threads: Vec<PrThreadRow>,
    /// Stored comments sorted by file, line, creation time and id.
    pub comments: Vec<PrCommentRow>,
}

impl PrDetail {
    /// The PR's normalised URL (primary key).
    pub fn url(&self) -> &str {
        &self.facts.url
    }

    /// Whether the PR is `open` or `draft`.
    pub fn is_open(&self) -> bool {
        matches!(
            self.facts.state,
            ao_protocol::PrState::Open | ao_protocol::PrState::Draft
        )
    }

    /// The stored thread with this id.
    pub fn thread(&self, thread_id: &str) -> Option<&PrThreadRow> {
        self.threads.iter().find(|t| t.thread_id == thread_id)
    }
}

/// What a PR observer needs about one known PR of its repo (scm.md §4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrObserved {
    pub url: String,
    pub session_id: SessionId,
    pub number: u64,
    pub state: ao_protocol::PrState,
    pub source_branch: String,
    pub head_sha: String,
    pub review_decision: ao_protocol::ReviewDecision,
    pub hashes: AckedHashes,
    pub observed_at: Option<String>,
    pub ci_observed_at: Option<String>,
    pub review_observed_at: Option<String>,
}

// ---- crate-private row mappers -------------------------------------------------------------

fn hashes_from_row(row: &Row<'_>) -> Result<AckedHashes, StoreError> {
    Ok(AckedHashes {
        metadata: row.get("metadata_hash").db()?,
        ci: row.get("ci_hash").db()?,
        review: row.get("review_hash").db()?,
        review_partial: bool_col(row, "review_partial")?,
    })
}

pub(crate) const PR_DETAIL_COLUMNS: &str = "url, session_id, number, pr_state, review_decision, \
     ci_state, mergeability, mergeability_reasons, provider, host, repo, head_repo, \
     source_branch, target_branch, head_sha, base_sha, merge_commit_sha, title, author, html_url, \
     additions, deletions, changed_files, is_draft, is_merged, is_closed, provider_state, \
     provider_mergeable, provider_merge_state_status, created_at_provider, updated_at_provider, \
     merged_at_provider, closed_at_provider, metadata_hash, ci_hash, review_hash, review_partial, \
     observed_at, ci_observed_at, review_observed_at, nudge_state, last_nudge_at, \
     last_nudge_kind, last_nudge_key, updated_at";

/// Maps a `pr` row selected with [`PR_DETAIL_COLUMNS`]; the child lists start empty.
pub(crate) fn pr_detail_from_row(row: &Row<'_>) -> Result<PrDetail, StoreError> {
    let reasons = json_col(row, "mergeability_reasons")?;
    let mergeability_reasons = match reasons {
        Value::Array(items) => items
            .into_iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect(),
        other => return Err(corrupt("mergeability_reasons", other)),
    };
    let facts = PrFacts {
        url: row.get("url").db()?,
        number: u64_col(row, "number")?,
        state: parse_col(row, "pr_state")?,
        review_decision: parse_col(row, "review_decision")?,
        ci_state: parse_col(row, "ci_state")?,
        mergeability: parse_col(row, "mergeability")?,
        mergeability_reasons,
        host: row.get("host").db()?,
        repo: row.get("repo").db()?,
        head_repo: row.get("head_repo").db()?,
        source_branch: row.get("source_branch").db()?,
        target_branch: row.get("target_branch").db()?,
        head_sha: row.get("head_sha").db()?,
        base_sha: row.get("base_sha").db()?,
        merge_commit_sha: row.get("merge_commit_sha").db()?,
        title: row.get("title").db()?,
        author: row.get("author").db()?,
        html_url: row.get("html_url").db()?,
        additions: u64_col(row, "additions")?,
        deletions: u64_col(row, "deletions")?,
        changed_files: u64_col(row, "changed_files")?,
        is_draft: bool_col(row, "is_draft")?,
        is_merged: bool_col(row, "is_merged")?,
        is_closed: bool_col(row, "is_closed")?,
        provider_state: row.get("provider_state").db()?,
        provider_mergeable: row.get("provider_mergeable").db()?,
        provider_merge_state_status: row.get("provider_merge_state_status").db()?,
        created_at_provider: row.get("created_at_provider").db()?,
        updated_at_provider: row.get("updated_at_provider").db()?,
        merged_at_provider: row.get("merged_at_provider").db()?,
        closed_at_provider: row.get("closed_at_provider").db()?,
    };
    let last_nudge_at: Option<String> = row.get("last_nudge_at").db()?;
    let kind: String = row.get("last_nudge_kind").db()?;
    let last_nudge = match last_nudge_at {
        Some(at) if !kind.is_empty() => Some(LastNudge {
            at,
            kind: kind.parse().map_err(|e| corrupt("last_nudge_kind", e))?,
            key: row.get("last_nudge_key").db()?,
        }),
        _ => None,
    };
    Ok(PrDetail {
        session_id: parse_col(row, "session_id")?,
        facts,
        provider: row.get("provider").db()?,
        hashes: hashes_from_row(row)?,
        observed_at: row.get("observed_at").db()?,
        ci_observed_at: row.get("ci_observed_at").db()?,
        review_observed_at: row.get("review_observed_at").db()?,
        nudge_state: NudgeState::from_json(&json_col(row, "nudge_state")?),
        last_nudge,
        updated_at: row.get("updated_at").db()?,
        checks: Vec::new(),
        threads: Vec::new(),
        comments: Vec::new(),
    })
}

pub(crate) const CHECK_COLUMNS: &str = "name, commit_sha, kind, status, conclusion, url, job_id, \
     log_tail, log_hash, created_at, updated_at";

pub(crate) fn check_from_row(row: &Row<'_>) -> Result<PrCheckRow, StoreError> {
    Ok(PrCheckRow {
        name: row.get("name").db()?,
        commit_sha: row.get("commit_sha").db()?,
        kind: parse_col(row, "kind")?,
        status: parse_col(row, "status")?,
        conclusion: row.get("conclusion").db()?,
        url: row.get("url").db()?,
        job_id: row.get("job_id").db()?,
        log_tail: row.get("log_tail").db()?,
        log_hash: row.get("log_hash").db()?,
        created_at: row.get("created_at").db()?,
        updated_at: row.get("updated_at").db()?,
    })
}

pub(crate) const THREAD_COLUMNS: &str =
    "thread_id, path, line, resolved, is_bot, semantic_hash, updated_at";

pub(crate) fn thread_from_row(row: &Row<'_>) -> Result<PrThreadRow, StoreError> {
    Ok(PrThreadRow {
        thread_id: row.get("thread_id").db()?,
        path: row.get("path").db()?,
        line: row.get("line").db()?,
        resolved: bool_col(row, "resolved")?,
        is_bot: bool_col(row, "is_bot")?,
        semantic_hash: row.get("semantic_hash").db()?,
        updated_at: row.get("updated_at").db()?,
    })
}

pub(crate) const COMMENT_COLUMNS: &str =
    "comment_id, thread_id, author, is_bot, file, line, body, url, resolved, created_at";

pub(crate) fn comment_from_row(row: &Row<'_>) -> Result<PrCommentRow, StoreError> {
    Ok(PrCommentRow {
        comment_id: row.get("comment_id").db()?,
        thread_id: row.get("thread_id").db()?,
        author: row.get("author").db()?,
        is_bot: bool_col(row, "is_bot")?,
        file: row.get("file").db()?,
        line: row.get("line").db()?,
        body: row.get("body").db()?,
        url: row.get("url").db()?,
        resolved: bool_col(row, "resolved")?,
        created_at: row.get("created_at").db()?,
    })
}

pub(crate) const PR_OBSERVED_COLUMNS: &str = "url, session_id, number, pr_state, source_branch, \
     head_sha, review_decision, metadata_hash, ci_hash, review_hash, review_partial, observed_at, \
     ci_observed_at, review_observed_at";

pub(crate) fn pr_observed_from_row(row: &Row<'_>) -> Result<PrObserved, StoreError> {
    Ok(PrObserved {
        url: row.get("url").db()?,
        session_id: parse_col(row, "session_id")?,
        number: u64_col(row, "number")?,
        state: parse_col(row, "pr_state")?,
        source_branch: row.get("source_branch").db()?,
        head_sha: row.get("head_sha").db()?,
        review_decision: parse_col(row, "review_decision")?,
        hashes: hashes_from_row(row)?,
        observed_at: row.get("observed_at").db()?,
        ci_observed_at: row.get("ci_observed_at").db()?,
        review_observed_at: row.get("review_observed_at").db()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nudge_state_round_trips_and_reads_leniently() {
        let mut st = NudgeState::default();
        st.record("ci:u:build", "abc:h1", "abc");
        st.record("ci:u:build", "abc:h2", "abc");
        st.record("review:u", "c1,c2", "");
        let v = st.to_json();
        assert_eq!(
            v,
            json!({"seen": {"ci:u:build": "abc:h2", "review:u": "c1,c2"},
                   "attempts": {"ci:u:build": {"count": 2, "scope": "abc"},
                                "review:u": {"count": 1, "scope": ""}}})
        );
        assert_eq!(NudgeState::from_json(&v), st);
        assert_eq!(st.attempts_in("ci:u:build", "abc"), 2);
        assert_eq!(st.attempts_in("ci:u:build", "def"), 0);
        assert!(st.is_seen("review:u", "c1,c2"));
        assert!(!st.is_seen("review:u", "c1"));

        let odd = json!({"seen": {"a": 1, "b": "x"}, "attempts": {"a": {"count": -1},
                         "b": {"count": 2, "scope": "s"}, "c": "nope"}});
        let read = NudgeState::from_json(&odd);
        assert_eq!(read.seen.len(), 1);
        assert_eq!(read.attempts.len(), 1);
        assert_eq!(read.attempts_in("b", "s"), 2);
        assert_eq!(NudgeState::from_json(&json!([1, 2])), NudgeState::default());

        assert!(st.remove("review:u"));
        assert!(!st.remove("review:u"));
        assert!(!st.has_key("review:u"));
    }
}
