//! [`ReadPool`]: the read side of the store — an r2d2 pool of 8 `query_only` connections.
//!
//! Every method takes a pooled connection, runs its query and maps the rows to the plain types
//! of [`crate::rows`]. Nothing here can write: the connections run `PRAGMA query_only = ON`
//! after the common pragmas, so a stray write fails instead of bypassing the reducer.

use std::collections::HashMap;
use std::path::Path;

use ao_protocol::{ChangeEvent, LogOrder, ProjectId, SessionCounts, SessionId};
use r2d2::{Pool, PooledConnection};
use r2d2_sqlite::SqliteConnectionManager;
use rusqlite::ToSql;

use crate::error::{DbResult, StoreError};
use crate::migrate::apply_pragmas;
use crate::rows::{
    CHANGE_COLUMNS, ChangeQuery, PR_COLUMNS, PROJECT_COLUMNS, PrRow, ProjectRow, SESSION_COLUMNS,
    SessionFilter, SessionRow, change_from_row, pr_from_row, project_from_row, session_from_row,
};

/// Appends `<clause>?<n>` to a dynamically built statement.
fn push_param(sql: &mut String, clause: &str, n: usize) {
    sql.push_str(clause);
    sql.push('?');
    sql.push_str(&n.to_string());
}

/// The size of the read pool (data-model.md §1).
pub const READ_POOL_SIZE: u32 = 8;

/// The shared read handle. Cheap to clone; every clone uses the same pool.
#[derive(Clone)]
pub struct ReadPool {
    pool: Pool<SqliteConnectionManager>,
}

impl std::fmt::Debug for ReadPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReadPool")
            .field("max_size", &self.pool.max_size())
            .finish()
    }
}

impl ReadPool {
    pub(crate) fn open(db_path: &Path) -> Result<Self, StoreError> {
        let manager = SqliteConnectionManager::file(db_path).with_init(|conn| {
            apply_pragmas(conn)?;
            conn.execute_batch("PRAGMA query_only = ON;")
        });
        let pool = Pool::builder()
            .max_size(READ_POOL_SIZE)
            .build(manager)
            .map_err(|e| StoreError::Pool(e.to_string()))?;
        Ok(Self { pool })
    }

    /// A pooled connection outside any transaction. A connection that comes back from the pool
    /// inside one (a read transaction left open would pin that connection to an old WAL
    /// snapshot: every later read on it would miss every later write) is rolled back first.
    pub(crate) fn conn(&self) -> Result<PooledConnection<SqliteConnectionManager>, StoreError> {
        let conn = self
            .pool
            .get()
            .map_err(|e| StoreError::Pool(e.to_string()))?;
        if !conn.is_autocommit() {
            tracing::warn!("a pooled read connection was still inside a transaction; rolled back");
            conn.execute_batch("ROLLBACK").db()?;
        }
        Ok(conn)
    }

    /// Projects sorted by id; archived ones only when `include_archived`.
    pub fn list_projects(&self, include_archived: bool) -> Result<Vec<ProjectRow>, StoreError> {
        let conn = self.conn()?;
        let sql = if include_archived {
            format!("SELECT {PROJECT_COLUMNS} FROM projects ORDER BY id")
        } else {
            format!("SELECT {PROJECT_COLUMNS} FROM projects WHERE archived_at IS NULL ORDER BY id")
        };
        let mut stmt = conn.prepare_cached(&sql).db()?;
        let mut rows = stmt.query([]).db()?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().db()? {
            out.push(project_from_row(row)?);
        }
        Ok(out)
    }

    /// One project, archived included.
    pub fn get_project(&self, id: &ProjectId) -> Result<Option<ProjectRow>, StoreError> {
        let conn = self.conn()?;
        let mut stmt = conn
            .prepare_cached(&format!(
                "SELECT {PROJECT_COLUMNS} FROM projects WHERE id = ?1"
            ))
            .db()?;
        let mut rows = stmt.query([id.as_str()]).db()?;
        match rows.next().db()? {
            Some(row) => Ok(Some(project_from_row(row)?)),
            None => Ok(None),
        }
    }

    /// Sessions matching `filter`, sorted by project id then num.
    pub fn list_sessions(&self, filter: &SessionFilter) -> Result<Vec<SessionRow>, StoreError> {
        let conn = self.conn()?;
        let mut sql = format!("SELECT {SESSION_COLUMNS} FROM sessions WHERE 1 = 1");
        let mut params: Vec<Box<dyn ToSql>> = Vec::new();
        if let Some(project) = &filter.project {
            params.push(Box::new(project.as_str().to_owned()));
            push_param(&mut sql, " AND project_id = ", params.len());
        }
        if let Some(kind) = filter.kind {
            params.push(Box::new(kind.as_str()));
            push_param(&mut sql, " AND kind = ", params.len());
        }
        if let Some(active) = filter.active {
            params.push(Box::new(i64::from(!active)));
            push_param(&mut sql, " AND is_terminated = ", params.len());
        }
        sql.push_str(" ORDER BY project_id, num");
        let mut stmt = conn.prepare_cached(&sql).db()?;
        let mut rows = stmt.query(rusqlite::params_from_iter(params.iter())).db()?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().db()? {
            out.push(session_from_row(row)?);
        }
        Ok(out)
    }

    /// One session.
    pub fn get_session(&self, id: &SessionId) -> Result<Option<SessionRow>, StoreError> {
        let conn = self.conn()?;
        let mut stmt = conn
            .prepare_cached(&format!(
                "SELECT {SESSION_COLUMNS} FROM sessions WHERE id = ?1"
            ))
            .db()?;
        let mut rows = stmt.query([id.as_str()]).db()?;
        match rows.next().db()? {
            Some(row) => Ok(Some(session_from_row(row)?)),
            None => Ok(None),
        }
    }

    /// The PRs of each given session (every requested id gets an entry, possibly empty), each
    /// list sorted by PR number.
    pub fn prs_of_sessions(
        &self,
        ids: &[SessionId],
    ) -> Result<HashMap<SessionId, Vec<PrRow>>, StoreError> {
        let conn = self.conn()?;
        let mut stmt = conn
            .prepare_cached(&format!(
                "SELECT {PR_COLUMNS} FROM pr WHERE session_id = ?1 ORDER BY number, url"
            ))
            .db()?;
        let mut out = HashMap::with_capacity(ids.len());
        for id in ids {
            let mut rows = stmt.query([id.as_str()]).db()?;
            let mut prs = Vec::new();
            while let Some(row) = rows.next().db()? {
                prs.push(pr_from_row(row)?);
            }
            out.insert(id.clone(), prs);
        }
        Ok(out)
    }

    /// Live and terminated session counts.
    pub fn session_counts(&self) -> Result<SessionCounts, StoreError> {
        let conn = self.conn()?;
        let (live, terminated): (i64, i64) = conn
            .query_row(
                "SELECT COALESCE(SUM(is_terminated = 0), 0), COALESCE(SUM(is_terminated = 1), 0) \
                 FROM sessions",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .db()?;
        Ok(SessionCounts {
            live: live.max(0) as u64,
            terminated: terminated.max(0) as u64,
        })
    }

    /// The number of non-archived projects.
    pub fn project_count(&self) -> Result<u64, StoreError> {
        let conn = self.conn()?;
        let n: i64 = conn
            .query_row(
                "SELECT COUNT(*) FROM projects WHERE archived_at IS NULL",
                [],
                |r| r.get(0),
            )
            .db()?;
        Ok(n.max(0) as u64)
    }

    /// The last seq ever issued (0 when the log was never written). Stays correct after a
    /// prune removed every row, because it reads `sqlite_sequence`.
    pub fn head_seq(&self) -> Result<i64, StoreError> {
        let conn = self.conn()?;
        crate::write::last_seq(&conn)
    }

    /// The oldest retained seq, `None` when the log is empty.
    pub fn oldest_seq(&self) -> Result<Option<i64>, StoreError> {
        let conn = self.conn()?;
        conn.query_row("SELECT MIN(seq) FROM change_log", [], |r| r.get(0))
            .db()
    }

    /// Change-log rows with `seq > after`, filtered by exact project / session id, in the
    /// requested order, at most `limit` of them.
    pub fn read_changes(&self, query: &ChangeQuery) -> Result<Vec<ChangeEvent>, StoreError> {
        let conn = self.conn()?;
        let mut sql = format!("SELECT {CHANGE_COLUMNS} FROM change_log WHERE seq > ?1");
        let mut params: Vec<Box<dyn ToSql>> = vec![Box::new(query.after)];
        if let Some(project) = &query.project {
            params.push(Box::new(project.clone()));
            push_param(&mut sql, " AND project_id = ", params.len());
        }
        if let Some(session) = &query.session {
            params.push(Box::new(session.clone()));
            push_param(&mut sql, " AND session_id = ", params.len());
        }
        sql.push_str(match query.order {
            LogOrder::Asc => " ORDER BY seq ASC",
            LogOrder::Desc => " ORDER BY seq DESC",
        });
        params.push(Box::new(i64::from(query.limit)));
        push_param(&mut sql, " LIMIT ", params.len());
        let mut stmt = conn.prepare_cached(&sql).db()?;
        let mut rows = stmt.query(rusqlite::params_from_iter(params.iter())).db()?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().db()? {
            out.push(change_from_row(row)?);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use ao_protocol::{
        ActivityState, CiState, Mergeability, PrState, ReviewDecision, SessionKind,
        TerminatedReason,
    };

    use super::*;
    use crate::test_support::{TestDb, pid, sid};

    #[test]
    fn the_pool_is_query_only_with_the_connection_pragmas() {
        let db = TestDb::open();
        assert_eq!(db.reader.pool.max_size(), READ_POOL_SIZE);
        let conn = db.reader.conn().expect("conn");
        let int = |p: &str| -> i64 {
            conn.query_row(&format!("PRAGMA {p}"), [], |r| r.get(0))
                .expect("pragma")
        };
        assert_eq!(int("busy_timeout"), 5000);
        assert_eq!(int("foreign_keys"), 1);
        assert_eq!(int("synchronous"), 1);
        assert_eq!(int("query_only"), 1);
        let mode: String = conn
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .expect("journal mode");
        assert_eq!(mode, "wal");
        let err = conn
            .execute(
                "INSERT INTO projects (id, path, registered_at, updated_at) \
                 VALUES ('x', '/x', 'now', 'now')",
                [],
            )
            .expect_err("a read connection cannot write");
        assert!(err.to_string().contains("readonly"), "{err}");
    }

    #[test]
    fn a_read_transaction_left_open_never_pins_a_pooled_connection_to_an_old_snapshot() {
        let mut db = TestDb::open();
        db.add_project("before");
        {
            // A reader that begins a transaction and never ends it (a panic between BEGIN
            // and COMMIT, say) returns its connection to the pool inside a snapshot.
            let conn = db.reader.conn().expect("conn");
            conn.execute_batch("BEGIN").expect("begin");
            let n: i64 = conn
                .query_row("SELECT count(*) FROM projects", [], |r| r.get(0))
                .expect("count");
            assert_eq!(n, 1);
        }
        db.add_project("after");
        // Every connection of the pool, the abandoned one included, sees the later write.
        let held: Vec<_> = (0..READ_POOL_SIZE)
            .map(|_| db.reader.conn().expect("conn"))
            .collect();
        for conn in &held {
            assert!(conn.is_autocommit());
            let n: i64 = conn
                .query_row("SELECT count(*) FROM projects", [], |r| r.get(0))
                .expect("count");
            assert_eq!(n, 2, "a pooled connection reads an old snapshot");
        }
    }

    #[test]
    fn projects_and_counts() {
        let mut db = TestDb::open();
        db.add_project("zeta");
        db.add_project("alpha");
        db.add_project("mid");
        db.writer.archive_project(&pid("mid")).expect("archive");
        let live: Vec<String> = db
            .reader
            .list_projects(false)
            .expect("list")
            .into_iter()
            .map(|p| p.id.to_string())
            .collect();
        assert_eq!(live, ["alpha", "zeta"]);
        let all: Vec<String> = db
            .reader
            .list_projects(true)
            .expect("list")
            .into_iter()
            .map(|p| p.id.to_string())
            .collect();
        assert_eq!(all, ["alpha", "mid", "zeta"]);
        assert_eq!(db.reader.project_count().expect("count"), 2);
        let mid = db
            .reader
            .get_project(&pid("mid"))
            .expect("get")
            .expect("row");
        assert!(mid.archived_at.is_some());
        assert_eq!(db.reader.get_project(&pid("nope")).expect("get"), None);
    }

    #[test]
    fn sessions_filter_and_sort() {
        let mut db = TestDb::open();
        db.add_project("b");
        db.add_project("a");
        let b1 = db.add_seed("b", SessionKind::Worker);
        let a1 = db.add_seed("a", SessionKind::Orchestrator);
        let a2 = db.add_seed("a", SessionKind::Worker);
        let b2 = db.add_seed("b", SessionKind::Worker);
        db.writer
            .mark_terminated(&b2.id, TerminatedReason::Killed, None)
            .expect("terminate");
        let ids = |f: SessionFilter| -> Vec<String> {
            db.reader
                .list_sessions(&f)
                .expect("list")
                .into_iter()
                .map(|s| s.id.to_string())
                .collect()
        };
        assert_eq!(ids(SessionFilter::default()), ["a-1", "a-2", "b-1", "b-2"]);
        assert_eq!(
            ids(SessionFilter {
                project: Some(pid("b")),
                ..SessionFilter::default()
            }),
            ["b-1", "b-2"]
        );
        assert_eq!(
            ids(SessionFilter {
                kind: Some(SessionKind::Worker),
                active: Some(true),
                ..SessionFilter::default()
            }),
            ["a-2", "b-1"]
        );
        assert_eq!(
            ids(SessionFilter {
                active: Some(false),
                ..SessionFilter::default()
            }),
            ["b-2"]
        );
        let counts = db.reader.session_counts().expect("counts");
        assert_eq!(
            counts,
            SessionCounts {
                live: 3,
                terminated: 1
            }
        );
        assert_eq!(
            db.reader.get_session(&a1.id).expect("get").map(|s| s.kind),
            Some(SessionKind::Orchestrator)
        );
        assert_eq!(db.reader.get_session(&sid("a-9")).expect("get"), None);
        let _ = (b1, a2);
    }

    #[test]
    fn empty_counts_are_zero() {
        let db = TestDb::open();
        assert_eq!(
            db.reader.session_counts().expect("counts"),
            SessionCounts {
                live: 0,
                terminated: 0
            }
        );
        assert_eq!(db.reader.project_count().expect("count"), 0);
    }

    #[test]
    fn prs_of_sessions_with_unresolved_human_comments() {
        let mut db = TestDb::open();
        db.add_project("demo");
        let s1 = db.add_seed("demo", SessionKind::Worker);
        let s2 = db.add_seed("demo", SessionKind::Worker);
        let s3 = db.add_seed("demo", SessionKind::Worker);
        db.sql(
            "INSERT INTO pr (url, session_id, number, title, pr_state, ci_state, review_decision, \
             mergeability, source_branch, target_branch, updated_at) VALUES \
             ('https://github.com/o/r/pull/9', 'demo-1', 9, 'Nine', 'draft', 'failing', \
              'changes_requested', 'conflicting', 'f2', 'f1', '2026-07-01T09:00:00.000Z'), \
             ('https://github.com/o/r/pull/3', 'demo-1', 3, 'Three', 'open', 'passing', \
              'approved', 'mergeable', 'f1', 'main', '2026-07-01T09:00:00.000Z'), \
             ('https://github.com/o/r/pull/4', 'demo-2', 4, 'Four', 'merged', 'unknown', \
              'none', 'unknown', 'x', 'main', '2026-07-01T09:00:00.000Z'); \
             INSERT INTO pr_comment (pr_url, comment_id, is_bot, resolved, created_at) VALUES \
             ('https://github.com/o/r/pull/3', 'bot', 1, 0, '2026-07-01T09:00:00.000Z'), \
             ('https://github.com/o/r/pull/3', 'done', 0, 1, '2026-07-01T09:00:00.000Z'), \
             ('https://github.com/o/r/pull/9', 'human', 0, 0, '2026-07-01T09:00:00.000Z');",
        );
        let map = db
            .reader
            .prs_of_sessions(&[s1.id.clone(), s2.id.clone(), s3.id.clone()])
            .expect("prs");
        assert_eq!(map.len(), 3);
        let p1 = &map[&s1.id];
        assert_eq!(p1.iter().map(|p| p.number).collect::<Vec<_>>(), [3, 9]);
        assert_eq!(
            p1[0],
            PrRow {
                url: "https://github.com/o/r/pull/3".into(),
                session_id: s1.id.clone(),
                number: 3,
                title: "Three".into(),
                pr_state: PrState::Open,
                ci_state: CiState::Passing,
                review_decision: ReviewDecision::Approved,
                mergeability: Mergeability::Mergeable,
                source_branch: "f1".into(),
                target_branch: "main".into(),
                updated_at: "2026-07-01T09:00:00.000Z".into(),
                has_unresolved_human_comment: false,
            }
        );
        assert!(p1[1].has_unresolved_human_comment);
        assert_eq!(p1[1].pr_state, PrState::Draft);
        assert_eq!(map[&s2.id][0].pr_state, PrState::Merged);
        assert!(map[&s3.id].is_empty());
        assert!(db.reader.prs_of_sessions(&[]).expect("none").is_empty());
    }

    #[test]
    fn unreadable_rows_are_internal_errors_not_panics() {
        let mut db = TestDb::open();
        db.add_project("demo");
        db.sql(
            "INSERT INTO sessions (id, project_id, num, harness, activity_last_at, created_at, \
             updated_at) VALUES ('not a session id', 'demo', 1, 'x', 't', 't', 't')",
        );
        let err = db
            .reader
            .list_sessions(&SessionFilter::default())
            .expect_err("corrupt id");
        assert!(matches!(err, StoreError::Corrupt(_)), "{err:?}");
        assert!(err.is_internal());
    }

    fn seqs(events: &[ChangeEvent]) -> Vec<i64> {
        events.iter().map(|e| e.seq).collect()
    }

    #[test]
    fn read_changes_honours_after_limit_order_and_filters() {
        let mut db = TestDb::open();
        db.add_project("a"); // 1
        db.add_project("b"); // 2
        let a1 = db.add_seed("a", SessionKind::Worker); // 3
        let b1 = db.add_seed("b", SessionKind::Worker); // 4
        db.writer.rename(&a1.id, "x").expect("rename"); // 5
        db.writer
            .apply_activity(&b1.id, Some(ActivityState::Active), None)
            .expect("active"); // 6
        db.writer.rename(&a1.id, "y").expect("rename"); // 7
        let q = |after: i64,
                 limit: u32,
                 order: LogOrder,
                 project: Option<&str>,
                 session: Option<&str>| {
            let events = db
                .reader
                .read_changes(&ChangeQuery {
                    after,
                    limit,
                    order,
                    project: project.map(str::to_owned),
                    session: session.map(str::to_owned),
                })
                .expect("read");
            seqs(&events)
        };
        assert_eq!(q(0, 100, LogOrder::Asc, None, None), [1, 2, 3, 4, 5, 6, 7]);
        assert_eq!(q(2, 3, LogOrder::Asc, None, None), [3, 4, 5]);
        assert_eq!(q(0, 3, LogOrder::Desc, None, None), [7, 6, 5]);
        assert_eq!(q(4, 100, LogOrder::Desc, None, None), [7, 6, 5]);
        assert_eq!(q(7, 100, LogOrder::Asc, None, None), Vec::<i64>::new());
        assert_eq!(q(0, 100, LogOrder::Asc, Some("a"), None), [1, 3, 5, 7]);
        assert_eq!(q(0, 100, LogOrder::Asc, None, Some("b-1")), [4, 6]);
        assert_eq!(q(0, 100, LogOrder::Desc, Some("a"), Some("a-1")), [7, 5, 3]);
        assert_eq!(
            q(0, 100, LogOrder::Asc, Some("a"), Some("b-1")),
            Vec::<i64>::new()
        );
        assert_eq!(
            q(0, 100, LogOrder::Asc, Some("nope"), None),
            Vec::<i64>::new()
        );
        assert_eq!(q(0, 0, LogOrder::Asc, None, None), Vec::<i64>::new());

        let events = db
            .reader
            .read_changes(&ChangeQuery {
                after: 4,
                limit: 1,
                ..ChangeQuery::default()
            })
            .expect("read");
        assert_eq!(events[0].event_type, "session_renamed");
        assert_eq!(events[0].project_id, "a");
        assert_eq!(events[0].session_id.as_deref(), Some("a-1"));
        assert_eq!(
            events[0].payload,
            serde_json::json!({"id": "a-1", "displayName": "x"})
        );
        assert_eq!(db.reader.head_seq().expect("head"), 7);
        assert_eq!(db.reader.oldest_seq().expect("oldest"), Some(1));
    }

    #[test]
    fn readers_work_concurrently_with_the_writer() {
        let mut db = TestDb::open();
        db.add_project("demo");
        let reader = db.reader.clone();
        let handle = std::thread::spawn(move || {
            (0..50)
                .map(|_| reader.head_seq().expect("head"))
                .collect::<Vec<_>>()
        });
        for i in 0..20 {
            db.add_project(&format!("p{i}"));
        }
        let heads = handle.join().expect("reader thread");
        assert!(heads.windows(2).all(|w| w[0] <= w[1]), "{heads:?}");
        assert_eq!(db.reader.head_seq().expect("head"), 21);
    }
}
