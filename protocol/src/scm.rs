//! The SCM domain language (scm.md §5–7): normalised PR facts as the GitHub adapter produces them
//! and the store persists them. No I/O here; the GitHub client maps provider JSON into these
//! types, the PR observer passes them to the reducer, and `store` writes them.

use serde::{Deserialize, Serialize};

use crate::enums::{CheckKind, CheckStatus, CiState, Mergeability, PrState, ReviewDecision};

/// Normalised facts of one pull request (one GraphQL alias), scm.md §5.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PrFacts {
    /// Normalised `https://<host>/<owner>/<repo>/pull/<n>` (the `pr` primary key).
    pub url: String,
    pub number: u64,
    pub state: PrState,
    pub review_decision: ReviewDecision,
    pub ci_state: CiState,
    pub mergeability: Mergeability,
    /// Sorted in the fixed order of scm.md §5.
    pub mergeability_reasons: Vec<String>,
    /// Web host, e.g. `github.com`.
    pub host: String,
    /// Base repository `owner/name`.
    pub repo: String,
    /// Head repository `owner/name` (differs from `repo` for forks).
    pub head_repo: String,
    pub source_branch: String,
    pub target_branch: String,
    pub head_sha: String,
    pub base_sha: String,
    pub merge_commit_sha: String,
    pub title: String,
    pub author: String,
    pub html_url: String,
    pub additions: u64,
    pub deletions: u64,
    pub changed_files: u64,
    pub is_draft: bool,
    pub is_merged: bool,
    pub is_closed: bool,
    /// Raw provider values, kept for the metadata hash and diagnostics.
    pub provider_state: String,
    pub provider_mergeable: String,
    pub provider_merge_state_status: String,
    pub created_at_provider: Option<String>,
    pub updated_at_provider: Option<String>,
    pub merged_at_provider: Option<String>,
    pub closed_at_provider: Option<String>,
}

/// One check of a PR's head commit (`pr_checks`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckFact {
    pub name: String,
    pub commit_sha: String,
    pub kind: CheckKind,
    pub status: CheckStatus,
    /// Raw conclusion (CheckRun) or state (StatusContext), e.g. `FAILURE`.
    pub conclusion: String,
    pub url: String,
    /// Actions job database id, `''` when none.
    pub job_id: String,
    /// Normalised last 20 lines (scm.md §6.2); `''` when no log applies.
    pub log_tail: String,
    /// Hex SHA-256 of `log_tail` (`''` when the tail is empty).
    pub log_hash: String,
}

/// One comment of a review thread (`pr_comment`; at most the first 5 per thread).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CommentFact {
    pub comment_id: String,
    pub author: String,
    pub is_bot: bool,
    pub body: String,
    pub url: String,
    pub created_at: Option<String>,
}

/// One review thread (`pr_review_threads`) with its comments.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ThreadFact {
    pub thread_id: String,
    pub path: String,
    pub line: Option<i64>,
    pub resolved: bool,
    /// The thread's first comment is by a bot (`__typename == "Bot"`).
    pub is_bot: bool,
    /// scm.md §7 thread hash.
    pub semantic_hash: String,
    pub comments: Vec<CommentFact>,
}

/// How review threads of an observation are written (scm.md §6.1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "mode", content = "threads")]
pub enum ThreadWrite {
    /// Metadata and CI only; stored threads untouched.
    Preserve,
    /// A full snapshot: upsert, delete missing threads, replace comments.
    Replace(Vec<ThreadFact>),
    /// A partial window: upsert these threads, replace only their comments.
    Merge(Vec<ThreadFact>),
}

/// The semantic hashes of one observation (scm.md §7).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScmHashes {
    pub metadata: String,
    pub ci: String,
    /// `None` when review threads were not fetched this time (the stored hash stands).
    pub review: Option<String>,
    pub review_partial: bool,
}

/// One PR observation for `apply_scm_observation`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScmObservation {
    /// The owning session (the write is guarded: a PR owned by another session is not moved).
    pub session_id: String,
    pub facts: PrFacts,
    pub checks: Vec<CheckFact>,
    pub threads: ThreadWrite,
    pub hashes: ScmHashes,
}
