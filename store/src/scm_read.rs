//! PR reads on the [`ReadPool`] for the nudge evaluation (scm.md §9), the PR summary (§12) and
//! the PR observers (§4): [`ReadPool::pr_details_of_session`], [`ReadPool::pr_detail`] and
//! [`ReadPool::prs_of_repo`].
//!
//! Invariants: read-only (pooled `query_only` connections); every row maps to the plain types
//! of [`crate::scm_rows`]; a detail and its children are read on one connection inside one
//! read transaction, so they come from one snapshot.

use ao_protocol::SessionId;
use rusqlite::Connection;

use crate::error::{DbResult, StoreError};
use crate::read::ReadPool;
use crate::scm_rows::{
    CHECK_COLUMNS, COMMENT_COLUMNS, PR_DETAIL_COLUMNS, PR_OBSERVED_COLUMNS, PrDetail, PrObserved,
    THREAD_COLUMNS, check_from_row, comment_from_row, pr_detail_from_row, pr_observed_from_row,
    thread_from_row,
};

/// Fills the head-commit checks, threads and comments of `pr`.
fn load_children(conn: &Connection, pr: &mut PrDetail) -> Result<(), StoreError> {
    let url = pr.facts.url.clone();
    let mut stmt = conn
        .prepare_cached(&format!(
            "SELECT {CHECK_COLUMNS} FROM pr_checks WHERE pr_url = ?1 AND commit_sha = ?2 \
             ORDER BY name"
        ))
        .db()?;
    let mut rows = stmt.query((&url, &pr.facts.head_sha)).db()?;
    while let Some(row) = rows.next().db()? {
        pr.checks.push(check_from_row(row)?);
    }
    let mut stmt = conn
        .prepare_cached(&format!(
            "SELECT {THREAD_COLUMNS} FROM pr_review_threads WHERE pr_url = ?1 ORDER BY thread_id"
        ))
        .db()?;
    let mut rows = stmt.query([&url]).db()?;
    while let Some(row) = rows.next().db()? {
        pr.threads.push(thread_from_row(row)?);
    }
    let mut stmt = conn
        .prepare_cached(&format!(
            "SELECT {COMMENT_COLUMNS} FROM pr_comment WHERE pr_url = ?1 \
             ORDER BY file, line, created_at, comment_id"
        ))
        .db()?;
    let mut rows = stmt.query([&url]).db()?;
    while let Some(row) = rows.next().db()? {
        pr.comments.push(comment_from_row(row)?);
    }
    Ok(())
}

/// Runs `f` inside one deferred read transaction (one snapshot for several statements).
fn snapshot<T>(
    conn: &Connection,
    f: impl FnOnce(&Connection) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    conn.execute_batch("BEGIN").db()?;
    let out = f(conn);
    // A read transaction has nothing to keep; ending it cannot lose data.
    let end = conn.execute_batch("COMMIT").db();
    let value = out?;
    end?;
    Ok(value)
}

impl ReadPool {
    /// Every PR of a session (any state) with its head-commit checks, review threads, comments
    /// and nudge state, sorted by PR number (then URL). Unknown session → empty.
    pub fn pr_details_of_session(&self, session: &SessionId) -> Result<Vec<PrDetail>, StoreError> {
        let conn = self.conn()?;
        snapshot(&conn, |conn| {
            let mut stmt = conn
                .prepare_cached(&format!(
                    "SELECT {PR_DETAIL_COLUMNS} FROM pr WHERE session_id = ?1 ORDER BY number, url"
                ))
                .db()?;
            let mut rows = stmt.query([session.as_str()]).db()?;
            let mut out = Vec::new();
            while let Some(row) = rows.next().db()? {
                out.push(pr_detail_from_row(row)?);
            }
            for pr in &mut out {
                load_children(conn, pr)?;
            }
            Ok(out)
        })
    }

    /// One PR with its children, `None` when it is not stored.
    pub fn pr_detail(&self, url: &str) -> Result<Option<PrDetail>, StoreError> {
        let conn = self.conn()?;
        snapshot(&conn, |conn| {
            let mut stmt = conn
                .prepare_cached(&format!(
                    "SELECT {PR_DETAIL_COLUMNS} FROM pr WHERE url = ?1"
                ))
                .db()?;
            let mut rows = stmt.query([url]).db()?;
            let Some(row) = rows.next().db()? else {
                return Ok(None);
            };
            let mut pr = pr_detail_from_row(row)?;
            load_children(conn, &mut pr)?;
            Ok(Some(pr))
        })
    }

    /// Every stored PR (any state, any owner) of base repo `repo` (`owner/name`) on web host
    /// `host`, sorted by number: what a PR observer needs to pick refresh subjects and skip
    /// known PRs in discovery (scm.md §4). Host and repo compare case-insensitively (GitHub
    /// names are case-insensitive).
    pub fn prs_of_repo(&self, host: &str, repo: &str) -> Result<Vec<PrObserved>, StoreError> {
        let conn = self.conn()?;
        let mut stmt = conn
            .prepare_cached(&format!(
                "SELECT {PR_OBSERVED_COLUMNS} FROM pr WHERE host = ?1 COLLATE NOCASE \
                 AND repo = ?2 COLLATE NOCASE ORDER BY number, url"
            ))
            .db()?;
        let mut rows = stmt.query([host, repo]).db()?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().db()? {
            out.push(pr_observed_from_row(row)?);
        }
        Ok(out)
    }
}
