//! [`Writer`]: the single write connection of the daemon, owned by the LifecycleReducer.
//!
//! Every public method is exactly one `BEGIN IMMEDIATE` transaction that updates only the
//! columns data-model.md §6 names for it (plus `updated_at`), and returns a [`Written`] whose
//! `events` counts the `change_log` rows the transaction's triggers inserted. Timestamps are
//! written by this code with [`ao_protocol::time::now`]. The one exception to "one op, one
//! transaction" is [`Writer::prune_change_log`], which by spec deletes in batches of at most
//! 5,000 rows, one transaction per batch.
//!
//! Invariants: nothing else in the process writes the database; a failed operation rolls back
//! completely; domain conflicts surface as [`StoreError`] variants, never as SQLite messages.

use std::path::Path;

use ao_protocol::{ActivityState, ProjectId, SessionId, SessionKind, TerminatedReason, time};
use chrono::{Duration, Utc};
use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, named_params};
use serde_json::Value;

use crate::error::{DbResult, StoreError};
use crate::migrate::{apply_pragmas, migrate_to};
use crate::rows::{
    ActivityOutcome, NewProject, NewSeed, PROJECT_COLUMNS, ProjectRow, SESSION_COLUMNS, SessionRow,
    Written, project_from_row, session_from_row,
};

/// `change_log` rows older than this many days may be pruned (data-model.md §7).
pub const PRUNE_MAX_AGE_DAYS: i64 = 30;
/// The newest rows that a prune never deletes.
pub const PRUNE_KEEP_NEWEST: i64 = 10_000;
/// The most rows a single prune transaction deletes.
pub const PRUNE_BATCH: i64 = 5_000;

/// The last `change_log` seq ever issued (0 when none): AUTOINCREMENT's high-water mark.
pub(crate) fn last_seq(conn: &Connection) -> Result<i64, StoreError> {
    conn.query_row(
        "SELECT COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'change_log'), 0)",
        [],
        |r| r.get(0),
    )
    .db()
}

fn load_project(conn: &Connection, id: &str) -> Result<Option<ProjectRow>, StoreError> {
    let mut stmt = conn
        .prepare_cached(&format!(
            "SELECT {PROJECT_COLUMNS} FROM projects WHERE id = ?1"
        ))
        .db()?;
    let mut rows = stmt.query([id]).db()?;
    match rows.next().db()? {
        Some(row) => Ok(Some(project_from_row(row)?)),
        None => Ok(None),
    }
}

fn load_session(conn: &Connection, id: &SessionId) -> Result<SessionRow, StoreError> {
    let mut stmt = conn
        .prepare_cached(&format!(
            "SELECT {SESSION_COLUMNS} FROM sessions WHERE id = ?1"
        ))
        .db()?;
    let mut rows = stmt.query([id.as_str()]).db()?;
    match rows.next().db()? {
        Some(row) => session_from_row(row),
        None => Err(StoreError::NotFound),
    }
}

/// Runs one `UPDATE sessions … WHERE id = :id` and returns the updated row.
fn update_session(
    conn: &Connection,
    id: &SessionId,
    sql: &str,
    params: &[(&str, &dyn rusqlite::ToSql)],
) -> Result<SessionRow, StoreError> {
    let changed = conn.execute(sql, params).db()?;
    if changed == 0 {
        return Err(StoreError::NotFound);
    }
    load_session(conn, id)
}

/// The smallest `<base>-<n>` (n ≥ 2) that no live project uses.
fn suggest_id(conn: &Connection, base: &ProjectId) -> Result<ProjectId, StoreError> {
    let mut stmt = conn
        .prepare_cached("SELECT 1 FROM projects WHERE id = ?1 AND archived_at IS NULL")
        .db()?;
    for n in 2u64.. {
        let suffix = format!("-{n}");
        // Ids are ASCII, so a byte cut is a char cut; keep the result within 64 chars.
        let keep = base.as_str().len().min(64 - suffix.len());
        let candidate = format!("{}{suffix}", &base.as_str()[..keep]);
        let Ok(candidate) = ProjectId::new(candidate) else {
            continue;
        };
        if !stmt.exists([candidate.as_str()]).db()? {
            return Ok(candidate);
        }
    }
    unreachable!("finitely many live projects leave some suffix free")
}

fn parse_project_id(s: String) -> Result<ProjectId, StoreError> {
    ProjectId::new(s).map_err(|e| StoreError::Corrupt(format!("projects.id: {e}")))
}

/// Fault-injection point `store.commit` (`fault-injection` feature only, see
/// `ao_protocol::faults`; subject: the database path): an armed fault strikes after the
/// transaction's statements ran and before `COMMIT` — `Busy`/`Io` fail with the SQLite error a
/// real failure there gives (`Hang` first waits, as for a lock held elsewhere), `Panic` unwinds
/// — so the real rollback path of the transaction and of its caller runs.
#[cfg(feature = "fault-injection")]
fn injected_commit_fault(conn: &Connection) -> Result<(), StoreError> {
    use ao_protocol::faults::{self, Fault, point};
    let code = match faults::fire(point::STORE_COMMIT, conn.path().unwrap_or_default()) {
        None => return Ok(()),
        Some(Fault::Busy) => rusqlite::ffi::SQLITE_BUSY,
        Some(Fault::Io) => rusqlite::ffi::SQLITE_IOERR,
        // A lock held elsewhere: SQLite waits out its busy timeout (5 s), then gives up.
        Some(Fault::Hang { timeout }) => {
            std::thread::sleep(timeout.unwrap_or(std::time::Duration::from_secs(5)));
            rusqlite::ffi::SQLITE_BUSY
        }
        Some(Fault::Panic) => panic!("injected panic before COMMIT"),
    };
    let err = rusqlite::Error::SqliteFailure(
        rusqlite::ffi::Error::new(code),
        Some("injected fault".into()),
    );
    Err(crate::error::sqlite_error(&err))
}

/// Without the `fault-injection` feature the point does nothing.
#[cfg(not(feature = "fault-injection"))]
#[allow(clippy::unnecessary_wraps)]
fn injected_commit_fault(_: &Connection) -> Result<(), StoreError> {
    Ok(())
}

/// The single write connection (see the module docs).
pub struct Writer {
    conn: Connection,
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer").finish_non_exhaustive()
    }
}

impl Writer {
    pub(crate) fn open(db_path: &Path) -> Result<Self, StoreError> {
        let conn = Connection::open(db_path)
            .map_err(|e| StoreError::Sqlite(format!("opening {}: {e}", db_path.display())))?;
        apply_pragmas(&conn).db()?;
        Ok(Self { conn })
    }

    pub(crate) fn migrate(&mut self, data_dir: &Path, target: usize) -> Result<i64, StoreError> {
        migrate_to(&mut self.conn, data_dir, target)
    }

    /// Runs `f` in one `BEGIN IMMEDIATE` transaction and counts the change-log rows it added.
    pub(crate) fn write<T>(
        &mut self,
        f: impl FnOnce(&Transaction<'_>) -> Result<T, StoreError>,
    ) -> Result<Written<T>, StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .db()?;
        let before = last_seq(&tx)?;
        let value = f(&tx)?;
        let after = last_seq(&tx)?;
        injected_commit_fault(&tx)?;
        tx.commit().db()?;
        Ok(Written {
            value,
            events: u64::try_from(after - before).unwrap_or(0),
        })
    }

    /// Executes raw SQL in one write transaction (tests only: fixtures and injected faults).
    #[cfg(test)]
    pub(crate) fn execute_batch_for_tests(&mut self, sql: &str) -> Result<Written<()>, StoreError> {
        self.write(|tx| tx.execute_batch(sql).db())
    }

    // ---- projects ---------------------------------------------------------------------------

    /// Registers a project (http-api.md §6 add semantics).
    ///
    /// A live project at the same path → [`StoreError::PathTaken`]; a live project with the same
    /// id → [`StoreError::IdTaken`] (both with the smallest free `-n` suggestion). An archived
    /// project with the same id is re-registered: every column but `id` is overwritten and
    /// `archived_at` cleared (fires `project_updated`).
    pub fn insert_project(&mut self, new: &NewProject) -> Result<Written<ProjectRow>, StoreError> {
        self.write(|tx| {
            let live_at_path: Option<String> = tx
                .query_row(
                    "SELECT id FROM projects WHERE path = ?1 AND archived_at IS NULL",
                    [&new.path],
                    |r| r.get(0),
                )
                .optional()
                .db()?;
            if let Some(existing) = live_at_path {
                return Err(StoreError::PathTaken {
                    existing: parse_project_id(existing)?,
                    suggested: suggest_id(tx, &new.id)?,
                });
            }
            let same_id: Option<Option<String>> = tx
                .query_row(
                    "SELECT archived_at FROM projects WHERE id = ?1",
                    [new.id.as_str()],
                    |r| r.get(0),
                )
                .optional()
                .db()?;
            let now = time::now();
            let config = new.config.to_string();
            let params = named_params! {
                ":id": new.id.as_str(),
                ":path": new.path,
                ":origin": new.repo_origin_url,
                ":name": new.display_name,
                ":config": config,
                ":now": now,
            };
            match same_id {
                Some(None) => {
                    return Err(StoreError::IdTaken {
                        existing: new.id.clone(),
                        suggested: suggest_id(tx, &new.id)?,
                    });
                }
                Some(Some(_archived)) => {
                    tx.execute(
                        "UPDATE projects SET path = :path, repo_origin_url = :origin, \
                         display_name = :name, config = :config, registered_at = :now, \
                         updated_at = :now, archived_at = NULL WHERE id = :id",
                        params,
                    )
                    .db()?;
                }
                None => {
                    tx.execute(
                        "INSERT INTO projects (id, path, repo_origin_url, display_name, config, \
                         registered_at, updated_at, archived_at) \
                         VALUES (:id, :path, :origin, :name, :config, :now, :now, NULL)",
                        params,
                    )
                    .db()?;
                }
            }
            load_project(tx, new.id.as_str())?.ok_or(StoreError::NotFound)
        })
    }

    /// Replaces a live project's config. Absent or archived → [`StoreError::NotFound`].
    pub fn set_project_config(
        &mut self,
        id: &ProjectId,
        config: &Value,
    ) -> Result<Written<ProjectRow>, StoreError> {
        self.write(|tx| {
            let changed = tx
                .execute(
                    "UPDATE projects SET config = ?1, updated_at = ?2 \
                     WHERE id = ?3 AND archived_at IS NULL",
                    (config.to_string(), time::now(), id.as_str()),
                )
                .db()?;
            if changed == 0 {
                return Err(StoreError::NotFound);
            }
            load_project(tx, id.as_str())?.ok_or(StoreError::NotFound)
        })
    }

    /// Fills `repo_origin_url` when it is still empty (a non-empty value is kept). Absent
    /// project → [`StoreError::NotFound`].
    pub fn backfill_origin(
        &mut self,
        id: &ProjectId,
        origin_url: &str,
    ) -> Result<Written<()>, StoreError> {
        self.write(|tx| {
            let exists = tx
                .prepare_cached("SELECT 1 FROM projects WHERE id = ?1")
                .db()?
                .exists([id.as_str()])
                .db()?;
            if !exists {
                return Err(StoreError::NotFound);
            }
            tx.execute(
                "UPDATE projects SET repo_origin_url = ?1, updated_at = ?2 \
                 WHERE id = ?3 AND repo_origin_url = ''",
                (origin_url, time::now(), id.as_str()),
            )
            .db()?;
            Ok(())
        })
    }

    /// Soft-deletes a live project (`archived_at = now`). Absent or already archived →
    /// [`StoreError::NotFound`].
    pub fn archive_project(&mut self, id: &ProjectId) -> Result<Written<ProjectRow>, StoreError> {
        self.write(|tx| {
            let now = time::now();
            let changed = tx
                .execute(
                    "UPDATE projects SET archived_at = ?1, updated_at = ?1 \
                     WHERE id = ?2 AND archived_at IS NULL",
                    (&now, id.as_str()),
                )
                .db()?;
            if changed == 0 {
                return Err(StoreError::NotFound);
            }
            load_project(tx, id.as_str())?.ok_or(StoreError::NotFound)
        })
    }

    // ---- sessions ---------------------------------------------------------------------------

    /// Inserts a seed session with `num = COALESCE(MAX(num), 0) + 1` of its project, computed in
    /// the transaction. A second live orchestrator → [`StoreError::OrchestratorExists`]; an
    /// absent or archived project → [`StoreError::NotFound`].
    pub fn insert_seed(&mut self, seed: &NewSeed) -> Result<Written<SessionRow>, StoreError> {
        self.write(|tx| {
            let project: Option<Option<String>> = tx
                .query_row(
                    "SELECT archived_at FROM projects WHERE id = ?1",
                    [seed.project_id.as_str()],
                    |r| r.get(0),
                )
                .optional()
                .db()?;
            if !matches!(project, Some(None)) {
                return Err(StoreError::NotFound);
            }
            let next: i64 = tx
                .query_row(
                    "SELECT COALESCE(MAX(num), 0) + 1 FROM sessions WHERE project_id = ?1",
                    [seed.project_id.as_str()],
                    |r| r.get(0),
                )
                .db()?;
            let num = u32::try_from(next)
                .map_err(|e| StoreError::Corrupt(format!("sessions.num overflow: {e}")))?;
            let id = SessionId::new(&seed.project_id, num);
            let now = time::now();
            let inserted = tx.execute(
                "INSERT INTO sessions (id, project_id, num, kind, harness, issue_id, display_name, \
                 runtime, prompt, launch_command, activity_state, activity_last_at, created_at, \
                 updated_at) VALUES (:id, :project, :num, :kind, :harness, :issue, :name, \
                 :runtime, :prompt, :command, 'idle', :now, :now, :now)",
                named_params! {
                    ":id": id.as_str(),
                    ":project": seed.project_id.as_str(),
                    ":num": next,
                    ":kind": seed.kind.as_str(),
                    ":harness": seed.harness.as_str(),
                    ":issue": seed.issue_id,
                    ":name": seed.display_name,
                    ":runtime": seed.runtime.as_str(),
                    ":prompt": seed.prompt,
                    ":command": seed.launch_command,
                    ":now": now,
                },
            );
            if let Err(err) = inserted {
                if seed.kind == SessionKind::Orchestrator
                    && err.sqlite_error_code() == Some(rusqlite::ErrorCode::ConstraintViolation)
                {
                    let existing: Option<String> = tx
                        .query_row(
                            "SELECT id FROM sessions WHERE project_id = ?1 \
                             AND kind = 'orchestrator' AND is_terminated = 0",
                            [seed.project_id.as_str()],
                            |r| r.get(0),
                        )
                        .optional()
                        .db()?;
                    if let Some(existing) = existing {
                        let session_id = SessionId::parse(existing)
                            .map_err(|e| StoreError::Corrupt(format!("sessions.id: {e}")))?;
                        return Err(StoreError::OrchestratorExists { session_id });
                    }
                }
                return Err(StoreError::Sqlite(err.to_string()));
            }
            load_session(tx, &id)
        })
    }

    /// Deletes a seed session (rollback, spawn failure) together with its `change_log` rows.
    /// Returns `false` (and writes nothing) when the row is not a seed; absent →
    /// [`StoreError::NotFound`].
    pub fn delete_seed(&mut self, id: &SessionId) -> Result<Written<bool>, StoreError> {
        self.write(|tx| {
            let row = load_session(tx, id)?;
            if !row.is_seed() {
                return Ok(false);
            }
            tx.execute(
                "DELETE FROM change_log WHERE session_id = ?1",
                [id.as_str()],
            )
            .db()?;
            tx.execute(
                "DELETE FROM sessions WHERE id = ?1 AND is_terminated = 0 \
                 AND workspace_path = '' AND runtime_handle_id = '' AND agent_session_id = ''",
                [id.as_str()],
            )
            .db()?;
            Ok(true)
        })
    }

    /// Records the session's branch and workspace path.
    pub fn set_workspace(
        &mut self,
        id: &SessionId,
        branch: &str,
        workspace_path: &str,
    ) -> Result<Written<SessionRow>, StoreError> {
        self.write(|tx| {
            update_session(
                tx,
                id,
                "UPDATE sessions SET branch = :branch, workspace_path = :ws, updated_at = :now \
                 WHERE id = :id",
                named_params! {
                    ":branch": branch,
                    ":ws": workspace_path,
                    ":now": time::now(),
                    ":id": id.as_str(),
                },
            )
        })
    }

    /// Marks a (re)spawn: runtime handle set, `idle`, first signal cleared, termination reset.
    pub fn mark_spawned(
        &mut self,
        id: &SessionId,
        runtime_handle_id: &str,
    ) -> Result<Written<SessionRow>, StoreError> {
        self.write(|tx| {
            update_session(
                tx,
                id,
                "UPDATE sessions SET runtime_handle_id = :handle, activity_state = 'idle', \
                 activity_last_at = :now, first_signal_at = NULL, is_terminated = 0, \
                 terminated_at = NULL, terminated_reason = '', exit_code = NULL, \
                 updated_at = :now WHERE id = :id",
                named_params! {
                    ":handle": runtime_handle_id,
                    ":now": time::now(),
                    ":id": id.as_str(),
                },
            )
        })
    }

    /// Applies an activity signal (sessions.md §13.1 steps 1–7, one transaction).
    ///
    /// Absent session → [`StoreError::NotFound`]; a terminated session is left untouched and
    /// reported with `changed: false`. `exited` also terminates the session (`agent_exited`).
    pub fn apply_activity(
        &mut self,
        id: &SessionId,
        state: Option<ActivityState>,
        agent_session_id: Option<&str>,
    ) -> Result<Written<ActivityOutcome>, StoreError> {
        self.write(|tx| {
            let row = load_session(tx, id)?;
            let prev = row.activity_state;
            if row.is_terminated {
                return Ok(ActivityOutcome {
                    changed: false,
                    prev,
                    new: prev,
                });
            }
            let now = time::now();
            let mut changed = false;
            if let Some(agent) = agent_session_id
                && agent != row.agent_session_id
            {
                tx.execute(
                    "UPDATE sessions SET agent_session_id = ?1, updated_at = ?2 WHERE id = ?3",
                    (agent, &now, id.as_str()),
                )
                .db()?;
                changed = true;
            }
            let new = match state {
                None => {
                    if row.first_signal_at.is_none() {
                        tx.execute(
                            "UPDATE sessions SET first_signal_at = ?1, updated_at = ?1 \
                             WHERE id = ?2",
                            (&now, id.as_str()),
                        )
                        .db()?;
                        changed = true;
                    }
                    prev
                }
                Some(s) if s == prev && row.first_signal_at.is_some() => prev,
                Some(ActivityState::Exited) => {
                    tx.execute(
                        "UPDATE sessions SET activity_state = 'exited', activity_last_at = :now, \
                         first_signal_at = COALESCE(first_signal_at, :now), is_terminated = 1, \
                         terminated_at = :now, terminated_reason = 'agent_exited', \
                         updated_at = :now WHERE id = :id",
                        named_params! { ":now": now, ":id": id.as_str() },
                    )
                    .db()?;
                    changed = true;
                    ActivityState::Exited
                }
                Some(s) => {
                    tx.execute(
                        "UPDATE sessions SET activity_state = :state, activity_last_at = :now, \
                         first_signal_at = COALESCE(first_signal_at, :now), updated_at = :now \
                         WHERE id = :id",
                        named_params! { ":state": s.as_str(), ":now": now, ":id": id.as_str() },
                    )
                    .db()?;
                    changed = true;
                    s
                }
            };
            Ok(ActivityOutcome { changed, prev, new })
        })
    }

    /// Applies one signal replayed from the hook spool at boot (sessions.md §12.1), stamped
    /// with the time `at` the hook fired. Returns whether anything was written.
    ///
    /// * An unknown or terminated session, or an `at` that is not RFC 3339, writes nothing.
    /// * `agent_session_id`, when given (non-empty) and different, is stored: the latest line
    ///   wins, as for a live signal.
    /// * The activity part is applied only when `at` is later than the stored
    ///   `activity_last_at`, so an older spooled signal never overwrites a newer fact. Then it
    ///   follows §13.1 steps 4–6 with `at` in place of "now": no state → stamp
    ///   `first_signal_at` if NULL; the stored state with a signal already seen → no write;
    ///   otherwise the state with `activity_last_at = at` and `first_signal_at` stamped with
    ///   `at` if NULL; `exited` also terminates the session (`agent_exited`,
    ///   `terminated_at = at`). `updated_at` is the time of this write.
    ///
    /// The change-log rows are the ones [`Writer::apply_activity`] produces for the same
    /// change.
    pub fn apply_spooled_activity(
        &mut self,
        id: &SessionId,
        state: Option<ActivityState>,
        agent_session_id: Option<&str>,
        at: &str,
    ) -> Result<Written<bool>, StoreError> {
        let Some(at) = time::parse(at).map(time::format) else {
            return Ok(Written {
                value: false,
                events: 0,
            });
        };
        self.write(|tx| {
            let row = match load_session(tx, id) {
                Ok(row) => row,
                Err(StoreError::NotFound) => return Ok(false),
                Err(e) => return Err(e),
            };
            if row.is_terminated {
                return Ok(false);
            }
            let now = time::now();
            let mut changed = false;
            if let Some(agent) = agent_session_id.filter(|a| !a.is_empty())
                && agent != row.agent_session_id
            {
                tx.execute(
                    "UPDATE sessions SET agent_session_id = ?1, updated_at = ?2 WHERE id = ?3",
                    (agent, &now, id.as_str()),
                )
                .db()?;
                changed = true;
            }
            let newer = match time::parse(&row.activity_last_at) {
                Some(stored) => time::parse(&at).is_some_and(|at| at > stored),
                None => true,
            };
            if !newer {
                return Ok(changed);
            }
            match state {
                None => {
                    if row.first_signal_at.is_none() {
                        tx.execute(
                            "UPDATE sessions SET first_signal_at = ?1, updated_at = ?2 \
                             WHERE id = ?3",
                            (&at, &now, id.as_str()),
                        )
                        .db()?;
                        changed = true;
                    }
                }
                Some(s) if s == row.activity_state && row.first_signal_at.is_some() => {}
                Some(ActivityState::Exited) => {
                    tx.execute(
                        "UPDATE sessions SET activity_state = 'exited', activity_last_at = :at, \
                         first_signal_at = COALESCE(first_signal_at, :at), is_terminated = 1, \
                         terminated_at = :at, terminated_reason = 'agent_exited', \
                         updated_at = :now WHERE id = :id",
                        named_params! { ":at": at, ":now": now, ":id": id.as_str() },
                    )
                    .db()?;
                    changed = true;
                }
                Some(s) => {
                    tx.execute(
                        "UPDATE sessions SET activity_state = :state, activity_last_at = :at, \
                         first_signal_at = COALESCE(first_signal_at, :at), updated_at = :now \
                         WHERE id = :id",
                        named_params! {
                            ":state": s.as_str(),
                            ":at": at,
                            ":now": now,
                            ":id": id.as_str(),
                        },
                    )
                    .db()?;
                    changed = true;
                }
            }
            Ok(changed)
        })
    }

    /// Stores the agent-native conversation id. Returns whether it changed (an equal value
    /// writes nothing). Absent → [`StoreError::NotFound`].
    pub fn set_agent_session_id(
        &mut self,
        id: &SessionId,
        agent_session_id: &str,
    ) -> Result<Written<bool>, StoreError> {
        self.write(|tx| {
            let changed = tx
                .execute(
                    "UPDATE sessions SET agent_session_id = ?1, updated_at = ?2 \
                     WHERE id = ?3 AND agent_session_id IS NOT ?1",
                    (agent_session_id, time::now(), id.as_str()),
                )
                .db()?;
            if changed == 0 {
                load_session(tx, id)?;
            }
            Ok(changed > 0)
        })
    }

    /// Terminates a live session with `reason` (state `exited`). Returns `false` without
    /// writing when it is already terminated, so the first reason wins.
    pub fn mark_terminated(
        &mut self,
        id: &SessionId,
        reason: TerminatedReason,
        exit_code: Option<i64>,
    ) -> Result<Written<bool>, StoreError> {
        self.write(|tx| {
            let changed = tx
                .execute(
                    "UPDATE sessions SET is_terminated = 1, activity_state = 'exited', \
                     activity_last_at = :now, terminated_at = :now, terminated_reason = :reason, \
                     exit_code = :code, updated_at = :now WHERE id = :id AND is_terminated = 0",
                    named_params! {
                        ":now": time::now(),
                        ":reason": reason.as_str(),
                        ":code": exit_code,
                        ":id": id.as_str(),
                    },
                )
                .db()?;
            if changed == 0 {
                load_session(tx, id)?;
            }
            Ok(changed > 0)
        })
    }

    /// Forgets the runtime handle (`runtime_handle_id = ''`).
    pub fn clear_runtime(&mut self, id: &SessionId) -> Result<Written<SessionRow>, StoreError> {
        self.write(|tx| {
            update_session(
                tx,
                id,
                "UPDATE sessions SET runtime_handle_id = '', updated_at = :now WHERE id = :id",
                named_params! { ":now": time::now(), ":id": id.as_str() },
            )
        })
    }

    /// Forgets the workspace (`workspace_path = ''`).
    pub fn clear_workspace(&mut self, id: &SessionId) -> Result<Written<SessionRow>, StoreError> {
        self.write(|tx| {
            update_session(
                tx,
                id,
                "UPDATE sessions SET workspace_path = '', updated_at = :now WHERE id = :id",
                named_params! { ":now": time::now(), ":id": id.as_str() },
            )
        })
    }

    /// Sets the display name (fires `session_renamed` when it changed).
    pub fn rename(
        &mut self,
        id: &SessionId,
        display_name: &str,
    ) -> Result<Written<SessionRow>, StoreError> {
        self.write(|tx| {
            update_session(
                tx,
                id,
                "UPDATE sessions SET display_name = :name, updated_at = :now WHERE id = :id",
                named_params! { ":name": display_name, ":now": time::now(), ":id": id.as_str() },
            )
        })
    }

    /// Sets the branch.
    pub fn set_branch(
        &mut self,
        id: &SessionId,
        branch: &str,
    ) -> Result<Written<SessionRow>, StoreError> {
        self.write(|tx| {
            update_session(
                tx,
                id,
                "UPDATE sessions SET branch = :branch, updated_at = :now WHERE id = :id",
                named_params! { ":branch": branch, ":now": time::now(), ":id": id.as_str() },
            )
        })
    }

    /// Records an in-place relaunch after the runtime vanished (sessions.md §13.2).
    pub fn record_relaunch(
        &mut self,
        id: &SessionId,
        runtime_handle_id: &str,
    ) -> Result<Written<SessionRow>, StoreError> {
        self.write(|tx| {
            update_session(
                tx,
                id,
                "UPDATE sessions SET runtime_handle_id = :handle, restarts = restarts + 1, \
                 last_restart_at = :now, activity_state = 'idle', activity_last_at = :now, \
                 first_signal_at = NULL, updated_at = :now WHERE id = :id",
                named_params! {
                    ":handle": runtime_handle_id,
                    ":now": time::now(),
                    ":id": id.as_str(),
                },
            )
        })
    }

    // ---- retention --------------------------------------------------------------------------

    /// Deletes `change_log` rows older than 30 days, never any of the newest 10,000, at most
    /// 5,000 per transaction, repeating until done. Returns the number of rows deleted
    /// (`events` is always 0).
    pub fn prune_change_log(&mut self) -> Result<Written<u64>, StoreError> {
        let cutoff = time::format(Utc::now() - Duration::days(PRUNE_MAX_AGE_DAYS));
        let (deleted, _batches) = self.prune_with(&cutoff, PRUNE_KEEP_NEWEST, PRUNE_BATCH)?;
        Ok(Written {
            value: deleted,
            events: 0,
        })
    }

    /// The prune with explicit limits: rows with `created_at < cutoff`, outside the newest
    /// `keep`, at most `batch` per transaction. Returns `(deleted, transactions that deleted)`.
    pub(crate) fn prune_with(
        &mut self,
        cutoff: &str,
        keep: i64,
        batch: i64,
    ) -> Result<(u64, u64), StoreError> {
        let batch = batch.max(1);
        let mut deleted = 0u64;
        let mut batches = 0u64;
        loop {
            let n = self.write(|tx| {
                // Rows with seq below `bound` are outside the newest `keep`.
                let bound: i64 = if keep <= 0 {
                    i64::MAX
                } else {
                    tx.query_row(
                        "SELECT COALESCE((SELECT seq FROM change_log ORDER BY seq DESC \
                         LIMIT 1 OFFSET ?1), 0)",
                        [keep - 1],
                        |r| r.get(0),
                    )
                    .db()?
                };
                tx.execute(
                    "DELETE FROM change_log WHERE seq IN ( \
                       SELECT seq FROM change_log WHERE created_at < :cutoff AND seq < :bound \
                       ORDER BY seq LIMIT :batch)",
                    named_params! { ":cutoff": cutoff, ":bound": bound, ":batch": batch },
                )
                .db()
            })?;
            let n = n.value as u64;
            if n == 0 {
                break;
            }
            deleted += n;
            batches += 1;
            if (n as i64) < batch {
                break;
            }
        }
        Ok((deleted, batches))
    }
}

#[cfg(test)]
mod tests {
    use ao_protocol::{ActivityState as A, SessionKind, TerminatedReason};
    use serde_json::json;

    use super::*;
    use crate::test_support::{TestDb, new_project, new_seed, pid, sid};

    #[test]
    fn the_writer_runs_the_connection_pragmas() {
        let db = TestDb::open();
        let c = &db.writer.conn;
        let get = |p: &str| -> String {
            c.query_row(&format!("PRAGMA {p}"), [], |r| {
                r.get::<_, rusqlite::types::Value>(0)
            })
            .map(|v| format!("{v:?}"))
            .expect("pragma")
        };
        assert_eq!(get("busy_timeout"), "Integer(5000)");
        assert_eq!(get("journal_mode"), "Text(\"wal\")");
        assert_eq!(get("foreign_keys"), "Integer(1)");
        assert_eq!(get("synchronous"), "Integer(1)");
        assert_eq!(get("query_only"), "Integer(0)");
    }

    // ---- projects ----

    #[test]
    fn project_path_and_id_conflicts_carry_suggestions() {
        let mut db = TestDb::open();
        db.add_project("demo");

        let mut same_id = new_project("demo");
        same_id.path = "/repos/elsewhere".into();
        let err = db.writer.insert_project(&same_id).expect_err("id taken");
        assert_eq!(
            err,
            StoreError::IdTaken {
                existing: pid("demo"),
                suggested: pid("demo-2")
            }
        );

        let mut same_path = new_project("other");
        same_path.path = "/repos/demo".into();
        let err = db
            .writer
            .insert_project(&same_path)
            .expect_err("path taken");
        assert_eq!(
            err,
            StoreError::PathTaken {
                existing: pid("demo"),
                suggested: pid("other-2")
            }
        );

        // The smallest free suffix among live projects.
        db.add_project("demo-2");
        db.add_project("demo-4");
        let err = db.writer.insert_project(&same_id).expect_err("id taken");
        assert_eq!(
            err,
            StoreError::IdTaken {
                existing: pid("demo"),
                suggested: pid("demo-3")
            }
        );
        // An archived project does not occupy its id for suggestions.
        db.writer.archive_project(&pid("demo-2")).expect("archive");
        let err = db.writer.insert_project(&same_id).expect_err("id taken");
        assert_eq!(
            err,
            StoreError::IdTaken {
                existing: pid("demo"),
                suggested: pid("demo-2")
            }
        );
        // Failed inserts write nothing.
        assert_eq!(db.reader.list_projects(true).expect("list").len(), 3);
    }

    #[test]
    fn suggestions_stay_within_64_chars() {
        let mut db = TestDb::open();
        let long = "a".repeat(64);
        db.add_project(&long);
        let mut again = new_project(&long);
        again.path = "/repos/x".into();
        let err = db.writer.insert_project(&again).expect_err("id taken");
        let StoreError::IdTaken { suggested, .. } = err else {
            panic!("expected IdTaken, got {err:?}");
        };
        assert_eq!(suggested.as_str(), format!("{}-2", "a".repeat(62)));
    }

    #[test]
    fn archived_paths_are_free_and_archived_ids_are_reregistered() {
        let mut db = TestDb::open();
        let first = db
            .writer
            .insert_project(&new_project("demo"))
            .expect("insert")
            .value;
        assert_eq!(first.archived_at, None);
        assert_eq!(first.config, json!({}));
        let archived = db
            .writer
            .archive_project(&pid("demo"))
            .expect("archive")
            .value;
        assert!(archived.archived_at.is_some());
        assert_eq!(
            db.writer.archive_project(&pid("demo")),
            Err(StoreError::NotFound)
        );
        assert_eq!(
            db.writer.set_project_config(&pid("demo"), &json!({})),
            Err(StoreError::NotFound)
        );

        // The archived path is ignored by the conflict check.
        let mut fresh = new_project("fresh");
        fresh.path = "/repos/demo".into();
        db.writer.insert_project(&fresh).expect("path reusable");

        // The archived id is overwritten and un-archived.
        let again = NewProject {
            id: pid("demo"),
            path: "/repos/demo-moved".into(),
            repo_origin_url: "https://github.com/o/demo".into(),
            display_name: "Demo".into(),
            config: json!({"defaultBranch": "trunk"}),
        };
        let w = db.writer.insert_project(&again).expect("re-register");
        assert_eq!(w.events, 1);
        let row = w.value;
        assert_eq!(row.archived_at, None);
        assert_eq!(row.path, "/repos/demo-moved");
        assert_eq!(row.repo_origin_url, "https://github.com/o/demo");
        assert_eq!(row.display_name, "Demo");
        assert_eq!(row.config, json!({"defaultBranch": "trunk"}));
        assert!(row.registered_at >= first.registered_at);
        // project_created, project_archived, project_created (fresh), project_updated.
        assert_eq!(db.head(), 4);
        let last = db.changes_after(3);
        assert_eq!(last.len(), 1);
        assert_eq!(last[0].event_type, "project_updated");
        assert_eq!(db.reader.get_project(&pid("demo")).expect("get"), Some(row));
    }

    #[test]
    fn project_ops_write_only_their_columns() {
        let mut db = TestDb::open();
        let before = db
            .writer
            .insert_project(&new_project("demo"))
            .expect("insert")
            .value;
        let after = db
            .writer
            .set_project_config(&pid("demo"), &json!({"runtime": "zellij"}))
            .expect("config")
            .value;
        let mut expected = before.clone();
        expected.config = json!({"runtime": "zellij"});
        expected.updated_at.clone_from(&after.updated_at);
        assert_eq!(after, expected);

        db.writer
            .backfill_origin(&pid("demo"), "https://github.com/o/demo")
            .expect("backfill");
        let filled = db
            .reader
            .get_project(&pid("demo"))
            .expect("get")
            .expect("row");
        assert_eq!(filled.repo_origin_url, "https://github.com/o/demo");
        db.writer
            .backfill_origin(&pid("demo"), "https://other")
            .expect("backfill again");
        let kept = db
            .reader
            .get_project(&pid("demo"))
            .expect("get")
            .expect("row");
        assert_eq!(kept.repo_origin_url, "https://github.com/o/demo");
        assert_eq!(
            db.writer.backfill_origin(&pid("nope"), "x"),
            Err(StoreError::NotFound)
        );
        assert_eq!(
            db.writer.set_project_config(&pid("nope"), &json!({})),
            Err(StoreError::NotFound)
        );
    }

    // ---- seeds ----

    #[test]
    fn seed_nums_are_max_plus_one_per_project() {
        let mut db = TestDb::open();
        db.add_project("a");
        db.add_project("b");
        let nums: Vec<u32> = (0..3)
            .map(|_| db.add_seed("a", SessionKind::Worker).num)
            .collect();
        assert_eq!(nums, [1, 2, 3]);
        let b1 = db.add_seed("b", SessionKind::Orchestrator);
        assert_eq!(b1.id.as_str(), "b-1");
        assert_eq!(b1.num, 1);

        // Deleting the newest seed frees its num; deleting a middle one does not create a gap
        // filler (MAX + 1).
        assert!(db.writer.delete_seed(&sid("a-3")).expect("delete").value);
        assert_eq!(db.add_seed("a", SessionKind::Worker).num, 3);
        assert!(db.writer.delete_seed(&sid("a-2")).expect("delete").value);
        assert_eq!(db.add_seed("a", SessionKind::Worker).num, 4);
    }

    #[test]
    fn seeds_start_with_the_documented_columns() {
        let mut db = TestDb::open();
        db.add_project("demo");
        let mut seed = new_seed("demo", SessionKind::Worker);
        seed.issue_id = "GH-12".into();
        seed.display_name = "fix".into();
        seed.runtime = ao_protocol::RuntimeKind::Zellij;
        let row = db.writer.insert_seed(&seed).expect("seed").value;
        assert_eq!(row.id.as_str(), "demo-1");
        assert_eq!(row.project_id, pid("demo"));
        assert_eq!(row.kind, SessionKind::Worker);
        assert_eq!(row.harness, "claude-code");
        assert_eq!(row.issue_id, "GH-12");
        assert_eq!(row.display_name, "fix");
        assert_eq!(row.runtime, ao_protocol::RuntimeKind::Zellij);
        assert_eq!(row.prompt, "do it");
        assert_eq!(row.launch_command, "claude");
        assert_eq!(row.activity_state, A::Idle);
        assert_eq!(row.activity_last_at, row.created_at);
        assert_eq!(row.updated_at, row.created_at);
        assert_eq!(row.first_signal_at, None);
        assert!(!row.is_terminated);
        assert_eq!(row.terminated_reason, None);
        assert_eq!(row.restarts, 0);
        assert!(row.is_seed());
        assert_eq!(
            ao_protocol::time::parse(&row.created_at).map(|_| ()),
            Some(())
        );
        assert_eq!(row.created_at.len(), 24);
    }

    #[test]
    fn seeds_need_a_live_project() {
        let mut db = TestDb::open();
        assert_eq!(
            db.writer
                .insert_seed(&new_seed("ghost", SessionKind::Worker)),
            Err(StoreError::NotFound)
        );
        db.add_project("demo");
        db.writer.archive_project(&pid("demo")).expect("archive");
        assert_eq!(
            db.writer
                .insert_seed(&new_seed("demo", SessionKind::Worker)),
            Err(StoreError::NotFound)
        );
    }

    #[test]
    fn delete_seed_only_deletes_seed_rows_and_their_events() {
        let mut db = TestDb::open();
        db.add_project("demo");
        let s = db.add_seed("demo", SessionKind::Worker);
        db.writer.rename(&s.id, "x").expect("rename");
        let other = db.add_seed("demo", SessionKind::Worker);
        let head = db.head();

        let w = db.writer.delete_seed(&s.id).expect("delete");
        assert!(w.value);
        assert_eq!(w.events, 0);
        assert_eq!(db.reader.get_session(&s.id).expect("get"), None);
        let remaining: Vec<_> = db
            .changes_after(0)
            .into_iter()
            .map(|e| (e.event_type, e.session_id))
            .collect();
        assert_eq!(
            remaining,
            [
                ("project_created".to_owned(), None),
                ("session_created".to_owned(), Some(other.id.to_string())),
            ]
        );
        // head_seq is the last seq ever issued, even though rows were removed.
        assert_eq!(db.head(), head);
        assert_eq!(db.writer.delete_seed(&s.id), Err(StoreError::NotFound));

        // Not a seed: a workspace, a runtime, an agent id or a termination protects the row.
        let ws = db.add_seed("demo", SessionKind::Worker);
        db.writer.set_workspace(&ws.id, "b", "/wt").expect("ws");
        let rt = db.add_seed("demo", SessionKind::Worker);
        db.writer.mark_spawned(&rt.id, "h").expect("spawned");
        let ag = db.add_seed("demo", SessionKind::Worker);
        db.writer
            .set_agent_session_id(&ag.id, "conv")
            .expect("agent");
        let te = db.add_seed("demo", SessionKind::Worker);
        db.writer
            .mark_terminated(&te.id, TerminatedReason::SpawnFailed, None)
            .expect("terminated");
        for id in [&ws.id, &rt.id, &ag.id, &te.id] {
            let head = db.head();
            let w = db.writer.delete_seed(id).expect("delete attempt");
            assert!(!w.value, "{id} is not a seed");
            assert!(db.reader.get_session(id).expect("get").is_some());
            assert!(db.changes_after(head).is_empty());
        }
        // Clearing the workspace makes a never-spawned row a seed again.
        db.writer.clear_workspace(&ws.id).expect("clear");
        assert!(db.writer.delete_seed(&ws.id).expect("delete").value);
    }

    #[test]
    fn only_one_live_orchestrator_per_project() {
        let mut db = TestDb::open();
        db.add_project("demo");
        db.add_project("other");
        let first = db.add_seed("demo", SessionKind::Orchestrator);
        let head = db.head();
        let err = db
            .writer
            .insert_seed(&new_seed("demo", SessionKind::Orchestrator))
            .expect_err("second orchestrator");
        assert_eq!(
            err,
            StoreError::OrchestratorExists {
                session_id: first.id.clone()
            }
        );
        assert!(
            db.changes_after(head).is_empty(),
            "the failed insert rolled back"
        );
        // Workers and other projects are unaffected.
        assert_eq!(db.add_seed("demo", SessionKind::Worker).num, 2);
        assert_eq!(db.add_seed("other", SessionKind::Orchestrator).num, 1);
        // Once the first ends, a new orchestrator may start.
        db.writer
            .mark_terminated(&first.id, TerminatedReason::Killed, None)
            .expect("terminate");
        let second = db.add_seed("demo", SessionKind::Orchestrator);
        assert_eq!(second.id.as_str(), "demo-3");
    }

    // ---- session updates ----

    fn expect_only(before: &SessionRow, after: &SessionRow, change: impl FnOnce(&mut SessionRow)) {
        let mut expected = before.clone();
        change(&mut expected);
        expected.updated_at.clone_from(&after.updated_at);
        assert_eq!(after, &expected);
        assert!(after.updated_at >= before.updated_at);
    }

    #[test]
    fn session_ops_write_only_their_columns() {
        let mut db = TestDb::open();
        db.add_project("demo");
        let s0 = db.add_seed("demo", SessionKind::Worker);

        let s1 = db
            .writer
            .set_workspace(&s0.id, "ao/demo-1/root", "/wt/demo-1")
            .expect("ws")
            .value;
        expect_only(&s0, &s1, |e| {
            e.branch = "ao/demo-1/root".into();
            e.workspace_path = "/wt/demo-1".into();
        });

        let s2 = db
            .writer
            .mark_spawned(&s1.id, "demo-1")
            .expect("spawned")
            .value;
        expect_only(&s1, &s2, |e| {
            e.runtime_handle_id = "demo-1".into();
            e.activity_last_at.clone_from(&s2.activity_last_at);
        });

        let s3 = db
            .writer
            .set_branch(&s2.id, "feature")
            .expect("branch")
            .value;
        expect_only(&s2, &s3, |e| e.branch = "feature".into());

        let s4 = db.writer.rename(&s3.id, "Nice name").expect("rename").value;
        expect_only(&s3, &s4, |e| e.display_name = "Nice name".into());

        db.writer
            .set_agent_session_id(&s4.id, "conv-1")
            .expect("agent");
        let s5 = db.reader.get_session(&s4.id).expect("get").expect("row");
        expect_only(&s4, &s5, |e| e.agent_session_id = "conv-1".into());
        let w = db
            .writer
            .set_agent_session_id(&s4.id, "conv-1")
            .expect("same agent");
        assert!(!w.value);
        assert_eq!(
            db.reader.get_session(&s4.id).expect("get").expect("row"),
            s5,
            "an equal agent id writes nothing"
        );

        let s6 = db
            .writer
            .record_relaunch(&s5.id, "demo-1-b")
            .expect("relaunch")
            .value;
        expect_only(&s5, &s6, |e| {
            e.runtime_handle_id = "demo-1-b".into();
            e.restarts = 1;
            e.last_restart_at.clone_from(&s6.last_restart_at);
            e.activity_last_at.clone_from(&s6.activity_last_at);
        });
        assert!(s6.last_restart_at.is_some());

        let s7 = db.writer.clear_runtime(&s6.id).expect("clear rt").value;
        expect_only(&s6, &s7, |e| e.runtime_handle_id = String::new());
        let s8 = db.writer.clear_workspace(&s7.id).expect("clear ws").value;
        expect_only(&s7, &s8, |e| e.workspace_path = String::new());

        let w = db
            .writer
            .mark_terminated(&s8.id, TerminatedReason::RuntimeMissing, Some(1))
            .expect("terminate");
        assert!(w.value);
        let s9 = db.reader.get_session(&s8.id).expect("get").expect("row");
        expect_only(&s8, &s9, |e| {
            e.is_terminated = true;
            e.activity_state = A::Exited;
            e.activity_last_at.clone_from(&s9.activity_last_at);
            e.terminated_at.clone_from(&s9.terminated_at);
            e.terminated_reason = Some(TerminatedReason::RuntimeMissing);
            e.exit_code = Some(1);
        });
        assert!(s9.terminated_at.is_some());

        // Restore: mark_spawned resets the termination and the first signal.
        let s10 = db
            .writer
            .mark_spawned(&s9.id, "demo-1")
            .expect("respawn")
            .value;
        expect_only(&s9, &s10, |e| {
            e.runtime_handle_id = "demo-1".into();
            e.activity_state = A::Idle;
            e.activity_last_at.clone_from(&s10.activity_last_at);
            e.first_signal_at = None;
            e.is_terminated = false;
            e.terminated_at = None;
            e.terminated_reason = None;
            e.exit_code = None;
        });

        let ghost = sid("demo-99");
        assert_eq!(db.writer.rename(&ghost, "x"), Err(StoreError::NotFound));
        assert_eq!(db.writer.set_branch(&ghost, "x"), Err(StoreError::NotFound));
        assert_eq!(
            db.writer.set_workspace(&ghost, "x", "y"),
            Err(StoreError::NotFound)
        );
        assert_eq!(
            db.writer.mark_spawned(&ghost, "x"),
            Err(StoreError::NotFound)
        );
        assert_eq!(db.writer.clear_runtime(&ghost), Err(StoreError::NotFound));
        assert_eq!(db.writer.clear_workspace(&ghost), Err(StoreError::NotFound));
        assert_eq!(
            db.writer.record_relaunch(&ghost, "x"),
            Err(StoreError::NotFound)
        );
        assert_eq!(
            db.writer.set_agent_session_id(&ghost, "x"),
            Err(StoreError::NotFound)
        );
        assert_eq!(
            db.writer
                .mark_terminated(&ghost, TerminatedReason::Killed, None),
            Err(StoreError::NotFound)
        );
        assert_eq!(db.writer.delete_seed(&ghost), Err(StoreError::NotFound));
    }

    #[test]
    fn mark_terminated_keeps_the_first_reason() {
        let mut db = TestDb::open();
        db.add_project("demo");
        let s = db.add_seed("demo", SessionKind::Worker);
        let w = db
            .writer
            .mark_terminated(&s.id, TerminatedReason::Killed, Some(137))
            .expect("first");
        assert!(w.value);
        assert_eq!(w.events, 1);
        let first = db.reader.get_session(&s.id).expect("get").expect("row");
        let w = db
            .writer
            .mark_terminated(&s.id, TerminatedReason::RuntimeMissing, Some(0))
            .expect("second");
        assert!(!w.value);
        assert_eq!(w.events, 0);
        assert_eq!(
            db.reader.get_session(&s.id).expect("get").expect("row"),
            first
        );
        assert_eq!(first.terminated_reason, Some(TerminatedReason::Killed));
        assert_eq!(first.exit_code, Some(137));
    }

    // ---- activity ----

    #[test]
    fn apply_activity_follows_the_reducer_rules() {
        let mut db = TestDb::open();
        db.add_project("demo");
        let s = db.add_seed("demo", SessionKind::Worker);
        let get = |db: &TestDb| db.reader.get_session(&s.id).expect("get").expect("row");

        // Step 6 on a fresh seed: same state, but no signal yet → write + stamp.
        let w = db
            .writer
            .apply_activity(&s.id, Some(A::Idle), None)
            .expect("idle");
        assert_eq!(
            w.value,
            ActivityOutcome {
                changed: true,
                prev: A::Idle,
                new: A::Idle
            }
        );
        let r1 = get(&db);
        let stamped = r1.first_signal_at.clone().expect("first signal stamped");
        assert_eq!(r1.activity_last_at, stamped);

        // Step 5: same state with a signal → no state write.
        let w = db
            .writer
            .apply_activity(&s.id, Some(A::Idle), None)
            .expect("idle again");
        assert!(!w.value.changed);
        assert_eq!(w.events, 0);
        assert_eq!(get(&db), r1);

        // A new state: activity_last_at moves, first_signal_at is kept.
        let w = db
            .writer
            .apply_activity(&s.id, Some(A::Active), None)
            .expect("active");
        assert_eq!(
            w.value,
            ActivityOutcome {
                changed: true,
                prev: A::Idle,
                new: A::Active
            }
        );
        let r2 = get(&db);
        assert_eq!(r2.activity_state, A::Active);
        assert_eq!(r2.first_signal_at.as_deref(), Some(stamped.as_str()));
        assert!(r2.activity_last_at >= r1.activity_last_at);

        // Step 3: only the agent id changes → changed, but nothing is logged.
        let w = db
            .writer
            .apply_activity(&s.id, Some(A::Active), Some("conv-1"))
            .expect("agent id");
        assert_eq!(
            w.value,
            ActivityOutcome {
                changed: true,
                prev: A::Active,
                new: A::Active
            }
        );
        assert_eq!(w.events, 0);
        assert_eq!(get(&db).agent_session_id, "conv-1");
        let w = db
            .writer
            .apply_activity(&s.id, None, Some("conv-1"))
            .expect("same agent id, signal already stamped");
        assert!(!w.value.changed);
        assert_eq!(get(&db).activity_last_at, r2.activity_last_at);

        // waiting_input, then exited terminates with agent_exited.
        let w = db
            .writer
            .apply_activity(&s.id, Some(A::WaitingInput), Some("conv-2"))
            .expect("waiting");
        assert_eq!(w.value.new, A::WaitingInput);
        assert_eq!(w.events, 1);
        assert_eq!(get(&db).agent_session_id, "conv-2");
        let w = db
            .writer
            .apply_activity(&s.id, Some(A::Exited), None)
            .expect("exited");
        assert_eq!(
            w.value,
            ActivityOutcome {
                changed: true,
                prev: A::WaitingInput,
                new: A::Exited
            }
        );
        let r3 = get(&db);
        assert!(r3.is_terminated);
        assert_eq!(r3.terminated_reason, Some(TerminatedReason::AgentExited));
        assert_eq!(
            r3.terminated_at.as_deref(),
            Some(r3.activity_last_at.as_str())
        );
        assert_eq!(r3.exit_code, None);

        // Step 2: a terminated session is never written.
        let w = db
            .writer
            .apply_activity(&s.id, Some(A::Active), Some("conv-3"))
            .expect("after exit");
        assert_eq!(
            w.value,
            ActivityOutcome {
                changed: false,
                prev: A::Exited,
                new: A::Exited
            }
        );
        assert_eq!(w.events, 0);
        assert_eq!(get(&db), r3);

        // Step 1.
        assert_eq!(
            db.writer.apply_activity(&sid("demo-9"), None, None),
            Err(StoreError::NotFound)
        );
    }

    #[test]
    fn spooled_activity_applies_only_newer_signals() {
        let mut db = TestDb::open();
        db.add_project("demo");
        let s = db.add_seed("demo", SessionKind::Worker);
        let get = |db: &TestDb| db.reader.get_session(&s.id).expect("get").expect("row");
        let t0 = time::parse(&s.activity_last_at).expect("stored timestamp");
        let at = |ms: i64| time::format(t0 + Duration::milliseconds(ms));

        // Older than the stored activity_last_at: the state is ignored, nothing is written.
        let head = db.head();
        let w = db
            .writer
            .apply_spooled_activity(&s.id, Some(A::Active), None, &at(-60_000))
            .expect("older");
        assert_eq!(
            w,
            Written {
                value: false,
                events: 0
            }
        );
        assert_eq!(get(&db), s);

        // The agent id is taken whatever the time (latest line wins), without an event.
        let w = db
            .writer
            .apply_spooled_activity(&s.id, Some(A::Active), Some("conv-1"), &at(-30_000))
            .expect("agent id");
        assert!(w.value);
        assert_eq!(w.events, 0);
        let r = get(&db);
        assert_eq!(r.agent_session_id, "conv-1");
        assert_eq!(r.activity_state, A::Idle);
        assert_eq!(r.first_signal_at, None);

        // Newer: the state, activity_last_at and first_signal_at all take `at`; one event,
        // like apply_activity's.
        let w = db
            .writer
            .apply_spooled_activity(&s.id, Some(A::Active), None, &at(1_000))
            .expect("newer");
        assert_eq!(
            w,
            Written {
                value: true,
                events: 1
            }
        );
        let r = get(&db);
        assert_eq!(r.activity_state, A::Active);
        assert_eq!(r.activity_last_at, at(1_000));
        assert_eq!(r.first_signal_at, Some(at(1_000)));
        let events = db.changes_after(head);
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].event_type.as_str(), "session_updated");
        assert_eq!(events[0].payload["activity"], json!("active"));
        assert_eq!(events[0].payload["hasSignal"], json!(true));

        // A signal older than the one just applied never overwrites it.
        let w = db
            .writer
            .apply_spooled_activity(&s.id, Some(A::Idle), None, &at(500))
            .expect("older than the last");
        assert!(!w.value);
        assert_eq!(get(&db), r);
        // Same state, signal seen: no write. No state, signal seen: no write.
        for state in [Some(A::Active), None] {
            let w = db
                .writer
                .apply_spooled_activity(&s.id, state, Some("conv-1"), &at(1_500))
                .expect("no-op");
            assert!(!w.value, "{state:?}");
            assert_eq!(get(&db), r);
        }

        // Any RFC 3339 spelling is accepted and stored normalised.
        let offset = (t0 + Duration::milliseconds(2_000))
            .with_timezone(&chrono::FixedOffset::east_opt(3600).expect("offset"))
            .to_rfc3339();
        let w = db
            .writer
            .apply_spooled_activity(&s.id, Some(A::WaitingInput), None, &offset)
            .expect("offset");
        assert!(w.value);
        assert_eq!(get(&db).activity_last_at, at(2_000));

        // exited terminates at `at` with agent_exited.
        let w = db
            .writer
            .apply_spooled_activity(&s.id, Some(A::Exited), Some("conv-2"), &at(3_000))
            .expect("exited");
        assert_eq!(
            w,
            Written {
                value: true,
                events: 1
            }
        );
        let r = get(&db);
        assert!(r.is_terminated);
        assert_eq!(r.activity_state, A::Exited);
        assert_eq!(r.terminated_reason, Some(TerminatedReason::AgentExited));
        assert_eq!(r.terminated_at, Some(at(3_000)));
        assert_eq!(r.activity_last_at, at(3_000));
        assert_eq!(r.exit_code, None);
        assert_eq!(r.agent_session_id, "conv-2");

        // Terminated, unknown, or an unreadable time: nothing is written, no error.
        let head = db.head();
        for (id, when) in [
            (&s.id, at(9_000)),
            (&sid("demo-9"), at(9_000)),
            (&s.id, "yesterday".to_string()),
        ] {
            let w = db
                .writer
                .apply_spooled_activity(id, Some(A::Active), Some("conv-3"), &when)
                .expect("no write");
            assert!(!w.value);
        }
        assert_eq!(get(&db), r);
        assert_eq!(db.head(), head);
    }

    #[test]
    fn a_spooled_stateless_signal_stamps_the_first_signal() {
        let mut db = TestDb::open();
        db.add_project("demo");
        let s = db.add_seed("demo", SessionKind::Worker);
        let t0 = time::parse(&s.activity_last_at).expect("stored timestamp");
        let at = time::format(t0 + Duration::milliseconds(10));
        let w = db
            .writer
            .apply_spooled_activity(&s.id, None, None, &at)
            .expect("stamp");
        assert_eq!(
            w,
            Written {
                value: true,
                events: 1
            }
        );
        let r = db.reader.get_session(&s.id).expect("get").expect("row");
        assert_eq!(r.first_signal_at, Some(at));
        assert_eq!(r.activity_last_at, s.activity_last_at);
        assert_eq!(r.activity_state, A::Idle);
    }

    // ---- retention ----

    fn insert_log_rows(db: &mut TestDb, n: u32, created_at: &str) {
        db.sql(&format!(
            "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < {n}) \
             INSERT INTO change_log (project_id, session_id, event_type, payload, created_at) \
             SELECT 'demo', NULL, 'project_updated', '{{}}', '{created_at}' FROM c"
        ));
    }

    fn seqs(db: &TestDb) -> Vec<i64> {
        db.changes_after(0).into_iter().map(|e| e.seq).collect()
    }

    #[test]
    fn prune_keeps_the_newest_ten_thousand_and_recent_rows() {
        let mut db = TestDb::open();
        db.add_project("demo"); // seq 1, recent
        insert_log_rows(&mut db, 10_050, "2000-01-01T00:00:00.000Z"); // seq 2..=10051
        let head = db.head();
        assert_eq!(head, 10_051);
        let w = db.writer.prune_change_log().expect("prune");
        assert_eq!(w.value, 50);
        assert_eq!(w.events, 0);
        let left = seqs(&db);
        assert_eq!(left.len(), 10_001);
        assert_eq!(left[0], 1, "a recent row is never pruned");
        assert_eq!(left[1], 52);
        assert_eq!(*left.last().expect("rows"), 10_051);
        assert_eq!(db.reader.oldest_seq().expect("oldest"), Some(1));
        assert_eq!(db.head(), head);
        // Nothing more to do.
        assert_eq!(db.writer.prune_change_log().expect("prune").value, 0);
    }

    #[test]
    fn prune_deletes_in_bounded_batches() {
        let mut db = TestDb::open();
        db.add_project("demo"); // seq 1
        insert_log_rows(&mut db, 22, "2000-01-01T00:00:00.000Z"); // seq 2..=23
        insert_log_rows(&mut db, 3, "2100-01-01T00:00:00.000Z"); // seq 24..=26, "recent"
        let (deleted, batches) = db
            .writer
            .prune_with("2050-01-01T00:00:00.000Z", 5, 4)
            .expect("prune");
        // Newest 5 are seq 22..=26; old rows below 22 are seq 1..=21 → 21 rows in 6 batches.
        assert_eq!(deleted, 21);
        assert_eq!(batches, 6);
        assert_eq!(seqs(&db), [22, 23, 24, 25, 26]);
    }

    #[test]
    fn head_seq_survives_pruning_everything() {
        let mut db = TestDb::open();
        assert_eq!(db.head(), 0);
        assert_eq!(db.reader.oldest_seq().expect("oldest"), None);
        db.add_project("demo");
        insert_log_rows(&mut db, 9, "2000-01-01T00:00:00.000Z");
        assert_eq!(db.head(), 10);
        let (deleted, _) = db
            .writer
            .prune_with("9999-01-01T00:00:00.000Z", 0, 3)
            .expect("prune all");
        assert_eq!(deleted, 10);
        assert_eq!(db.reader.oldest_seq().expect("oldest"), None);
        assert_eq!(db.head(), 10);
        let w = db
            .writer
            .insert_project(&new_project("next"))
            .expect("insert");
        assert_eq!(w.events, 1);
        assert_eq!(seqs(&db), [11]);
    }
}
