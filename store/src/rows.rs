//! Plain data types that cross the store boundary: rows read back ([`ProjectRow`],
//! [`SessionRow`], [`PrRow`]), write inputs ([`NewProject`], [`NewSeed`]), read filters
//! ([`SessionFilter`], [`ChangeQuery`]) and write results ([`Written`], [`ActivityOutcome`]).
//!
//! Invariants: fields use `ao_protocol` ids and enums; no rusqlite type appears here. The
//! crate-private `*_from_row` mappers turn an unreadable stored value into
//! [`StoreError::Corrupt`], never a panic.

use std::str::FromStr;

use ao_protocol::{
    ActivityState, ChangeEvent, CiState, Harness, LogOrder, Mergeability, PrState, ProjectId,
    ReviewDecision, RuntimeKind, SessionId, SessionKind, TerminatedReason,
};
use rusqlite::Row;
use serde_json::Value;

use crate::error::{DbResult, StoreError};

/// The result of a write: the operation's value plus the number of `change_log` rows its
/// transaction inserted (the reducer wakes the CdcPoller when `events > 0`).
#[derive(Debug, Clone, PartialEq)]
pub struct Written<T> {
    pub value: T,
    pub events: u64,
}

/// A `projects` row.
#[derive(Debug, Clone, PartialEq)]
pub struct ProjectRow {
    pub id: ProjectId,
    pub path: String,
    /// `''` when the repository has no origin (yet).
    pub repo_origin_url: String,
    pub display_name: String,
    /// The stored `ProjectConfig` JSON object (`{}` when empty).
    pub config: Value,
    pub registered_at: String,
    pub updated_at: String,
    pub archived_at: Option<String>,
}

/// Input of [`crate::Writer::insert_project`].
#[derive(Debug, Clone, PartialEq)]
pub struct NewProject {
    pub id: ProjectId,
    pub path: String,
    pub repo_origin_url: String,
    pub display_name: String,
    pub config: Value,
}

/// A `sessions` row (data-model.md §4.2), every column typed.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionRow {
    pub id: SessionId,
    pub project_id: ProjectId,
    pub num: u32,
    pub kind: SessionKind,
    /// Open vocabulary (validated in code at spawn); kept as text so that rows written by a
    /// newer version still read.
    pub harness: String,
    pub issue_id: String,
    pub display_name: String,
    pub branch: String,
    pub workspace_path: String,
    pub runtime: RuntimeKind,
    pub runtime_handle_id: String,
    pub agent_session_id: String,
    pub prompt: String,
    pub launch_command: String,
    pub activity_state: ActivityState,
    pub activity_last_at: String,
    pub first_signal_at: Option<String>,
    pub is_terminated: bool,
    pub terminated_at: Option<String>,
    /// `None` for the stored `''`.
    pub terminated_reason: Option<TerminatedReason>,
    pub exit_code: Option<i64>,
    pub restarts: u32,
    pub last_restart_at: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

impl SessionRow {
    /// The seed predicate of data-model.md §4.2: only such rows may be deleted.
    pub fn is_seed(&self) -> bool {
        !self.is_terminated
            && self.workspace_path.is_empty()
            && self.runtime_handle_id.is_empty()
            && self.agent_session_id.is_empty()
    }

    /// The harness as a known enum value, when it is one.
    pub fn harness_kind(&self) -> Option<Harness> {
        self.harness.parse().ok()
    }
}

/// Input of [`crate::Writer::insert_seed`]; `num` and `id` are computed in the transaction.
#[derive(Debug, Clone, PartialEq)]
pub struct NewSeed {
    pub project_id: ProjectId,
    pub kind: SessionKind,
    pub harness: Harness,
    pub issue_id: String,
    pub display_name: String,
    pub runtime: RuntimeKind,
    pub prompt: String,
    pub launch_command: String,
}

/// The PR facts the session views and the display status need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrRow {
    pub url: String,
    pub session_id: SessionId,
    pub number: u64,
    pub title: String,
    pub pr_state: PrState,
    pub ci_state: CiState,
    pub review_decision: ReviewDecision,
    pub mergeability: Mergeability,
    pub source_branch: String,
    pub target_branch: String,
    pub updated_at: String,
    /// A `pr_comment` row with `resolved=0 AND is_bot=0` exists.
    pub has_unresolved_human_comment: bool,
}

/// Filter of [`crate::ReadPool::list_sessions`]; `None` means "any".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionFilter {
    pub project: Option<ProjectId>,
    pub kind: Option<SessionKind>,
    /// `Some(true)`: live only; `Some(false)`: terminated only.
    pub active: Option<bool>,
}

/// Query of [`crate::ReadPool::read_changes`]: rows with `seq > after` (whatever the order),
/// at most `limit`, optionally filtered by exact project / session id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeQuery {
    pub after: i64,
    pub limit: u32,
    pub order: LogOrder,
    pub project: Option<String>,
    pub session: Option<String>,
}

impl Default for ChangeQuery {
    fn default() -> Self {
        Self {
            after: 0,
            limit: 100,
            order: LogOrder::Asc,
            project: None,
            session: None,
        }
    }
}

/// The reply of [`crate::Writer::apply_activity`] (sessions.md §13.1 step 7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ActivityOutcome {
    /// The transaction wrote anything (agent session id, first signal or state).
    pub changed: bool,
    pub prev: ActivityState,
    pub new: ActivityState,
}

// ---- crate-private row mappers -------------------------------------------------------------

pub(crate) fn corrupt(column: &str, err: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{column}: {err}"))
}

pub(crate) fn parse_col<T>(row: &Row<'_>, column: &str) -> Result<T, StoreError>
where
    T: FromStr,
    T::Err: std::fmt::Display,
{
    let s: String = row.get(column).db()?;
    s.parse().map_err(|e| corrupt(column, e))
}

pub(crate) fn json_col(row: &Row<'_>, column: &str) -> Result<Value, StoreError> {
    let s: String = row.get(column).db()?;
    serde_json::from_str(&s).map_err(|e| corrupt(column, e))
}

pub(crate) fn bool_col(row: &Row<'_>, column: &str) -> Result<bool, StoreError> {
    let v: i64 = row.get(column).db()?;
    Ok(v != 0)
}

pub(crate) fn u32_col(row: &Row<'_>, column: &str) -> Result<u32, StoreError> {
    let v: i64 = row.get(column).db()?;
    u32::try_from(v).map_err(|e| corrupt(column, e))
}

pub(crate) fn u64_col(row: &Row<'_>, column: &str) -> Result<u64, StoreError> {
    let v: i64 = row.get(column).db()?;
    u64::try_from(v).map_err(|e| corrupt(column, e))
}

pub(crate) const PROJECT_COLUMNS: &str = "id, path, repo_origin_url, display_name, config, \
     registered_at, updated_at, archived_at";

pub(crate) fn project_from_row(row: &Row<'_>) -> Result<ProjectRow, StoreError> {
    Ok(ProjectRow {
        id: parse_col(row, "id")?,
        path: row.get("path").db()?,
        repo_origin_url: row.get("repo_origin_url").db()?,
        display_name: row.get("display_name").db()?,
        config: json_col(row, "config")?,
        registered_at: row.get("registered_at").db()?,
        updated_at: row.get("updated_at").db()?,
        archived_at: row.get("archived_at").db()?,
    })
}

pub(crate) const SESSION_COLUMNS: &str = "id, project_id, num, kind, harness, issue_id, \
     display_name, branch, workspace_path, runtime, runtime_handle_id, agent_session_id, prompt, \
     launch_command, activity_state, activity_last_at, first_signal_at, is_terminated, \
     terminated_at, terminated_reason, exit_code, restarts, last_restart_at, created_at, updated_at";

pub(crate) fn session_from_row(row: &Row<'_>) -> Result<SessionRow, StoreError> {
    let reason: String = row.get("terminated_reason").db()?;
    let terminated_reason = if reason.is_empty() {
        None
    } else {
        Some(
            reason
                .parse::<TerminatedReason>()
                .map_err(|e| corrupt("terminated_reason", e))?,
        )
    };
    Ok(SessionRow {
        id: parse_col(row, "id")?,
        project_id: parse_col(row, "project_id")?,
        num: u32_col(row, "num")?,
        kind: parse_col(row, "kind")?,
        harness: row.get("harness").db()?,
        issue_id: row.get("issue_id").db()?,
        display_name: row.get("display_name").db()?,
        branch: row.get("branch").db()?,
        workspace_path: row.get("workspace_path").db()?,
        runtime: parse_col(row, "runtime")?,
        runtime_handle_id: row.get("runtime_handle_id").db()?,
        agent_session_id: row.get("agent_session_id").db()?,
        prompt: row.get("prompt").db()?,
        launch_command: row.get("launch_command").db()?,
        activity_state: parse_col(row, "activity_state")?,
        activity_last_at: row.get("activity_last_at").db()?,
        first_signal_at: row.get("first_signal_at").db()?,
        is_terminated: bool_col(row, "is_terminated")?,
        terminated_at: row.get("terminated_at").db()?,
        terminated_reason,
        exit_code: row.get("exit_code").db()?,
        restarts: u32_col(row, "restarts")?,
        last_restart_at: row.get("last_restart_at").db()?,
        created_at: row.get("created_at").db()?,
        updated_at: row.get("updated_at").db()?,
    })
}

pub(crate) const PR_COLUMNS: &str = "url, session_id, number, title, pr_state, ci_state, \
     review_decision, mergeability, source_branch, target_branch, updated_at, \
     EXISTS (SELECT 1 FROM pr_comment AS c WHERE c.pr_url = pr.url AND c.resolved = 0 \
     AND c.is_bot = 0) AS has_unresolved_human_comment";

pub(crate) fn pr_from_row(row: &Row<'_>) -> Result<PrRow, StoreError> {
    let number: i64 = row.get("number").db()?;
    Ok(PrRow {
        url: row.get("url").db()?,
        session_id: parse_col(row, "session_id")?,
        number: u64::try_from(number).map_err(|e| corrupt("number", e))?,
        title: row.get("title").db()?,
        pr_state: parse_col(row, "pr_state")?,
        ci_state: parse_col(row, "ci_state")?,
        review_decision: parse_col(row, "review_decision")?,
        mergeability: parse_col(row, "mergeability")?,
        source_branch: row.get("source_branch").db()?,
        target_branch: row.get("target_branch").db()?,
        updated_at: row.get("updated_at").db()?,
        has_unresolved_human_comment: bool_col(row, "has_unresolved_human_comment")?,
    })
}

pub(crate) const CHANGE_COLUMNS: &str =
    "seq, project_id, session_id, event_type, payload, created_at";

pub(crate) fn change_from_row(row: &Row<'_>) -> Result<ChangeEvent, StoreError> {
    Ok(ChangeEvent {
        seq: row.get("seq").db()?,
        project_id: row.get("project_id").db()?,
        session_id: row.get("session_id").db()?,
        event_type: row.get("event_type").db()?,
        payload: json_col(row, "payload")?,
        created_at: row.get("created_at").db()?,
    })
}
