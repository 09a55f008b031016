//! Embedded migrations and connection setup (data-model.md §1–2).
//!
//! [`MIGRATIONS`] lists the shipped files in order; migration `n` (1-based) leaves
//! `PRAGMA user_version = n`. Each pending migration runs in its own transaction together with
//! its `user_version` bump. Before migrating a database whose `user_version > 0`, a backup is
//! written with `VACUUM INTO '<dataDir>/ao.db.bak-<fromVersion>'`. A database newer than this
//! binary is refused with [`StoreError::SchemaTooNew`].
//!
//! Invariant: shipped migration files are never edited (a test pins their SHA-256); changes
//! always come as new files appended to [`MIGRATIONS`].

use std::path::Path;

use rusqlite::{Connection, TransactionBehavior};

use crate::error::{DbResult, StoreError};

/// The shipped migrations, in order: `(file name, SQL)`.
pub const MIGRATIONS: &[(&str, &str)] = &[
    (
        "0001_schema.sql",
        include_str!("../migrations/0001_schema.sql"),
    ),
    ("0002_cdc.sql", include_str!("../migrations/0002_cdc.sql")),
];

/// The schema version this binary writes (the number of the last migration).
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// The pragmas every connection runs, in this order (data-model.md §1).
pub(crate) const CONNECTION_PRAGMAS: &str = "PRAGMA busy_timeout = 5000;\
     PRAGMA journal_mode = WAL;\
     PRAGMA foreign_keys = ON;\
     PRAGMA synchronous = NORMAL;";

/// Runs [`CONNECTION_PRAGMAS`] on a fresh connection.
pub(crate) fn apply_pragmas(conn: &Connection) -> Result<(), rusqlite::Error> {
    conn.execute_batch(CONNECTION_PRAGMAS)
}

/// Reads `PRAGMA user_version`.
pub(crate) fn user_version(conn: &Connection) -> Result<i64, StoreError> {
    conn.query_row("PRAGMA user_version", [], |r| r.get(0)).db()
}

/// The backup file written before migrating from `from_version`.
pub fn backup_path(data_dir: &Path, from_version: i64) -> std::path::PathBuf {
    data_dir.join(format!("ao.db.bak-{from_version}"))
}

/// Brings the database behind `conn` to [`SCHEMA_VERSION`] (at most `target` migrations are
/// applied; `target` exists so tests can simulate an older binary). Returns the version found.
pub(crate) fn migrate_to(
    conn: &mut Connection,
    data_dir: &Path,
    target: usize,
) -> Result<i64, StoreError> {
    let found = user_version(conn)?;
    let max = SCHEMA_VERSION;
    if found > max {
        return Err(StoreError::SchemaTooNew { found, max });
    }
    if found < 0 {
        return Err(StoreError::Corrupt(format!(
            "negative database schema version {found}"
        )));
    }
    let start = found as usize;
    if start >= target {
        return Ok(found);
    }
    if found > 0 {
        let backup = backup_path(data_dir, found);
        match std::fs::remove_file(&backup) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(StoreError::Io(format!(
                    "removing old backup {}: {e}",
                    backup.display()
                )));
            }
        }
        let target_str = backup.to_str().ok_or_else(|| {
            StoreError::Io(format!("backup path {} is not UTF-8", backup.display()))
        })?;
        conn.execute("VACUUM INTO ?1", [target_str]).db()?;
        tracing::info!(from = found, backup = %backup.display(), "database backed up before migration");
    }
    for (index, (name, sql)) in MIGRATIONS.iter().enumerate().take(target).skip(start) {
        let version = index as i64 + 1;
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .db()?;
        tx.execute_batch(sql)
            .map_err(|e| StoreError::Sqlite(format!("migration {name}: {e}")))?;
        tx.pragma_update(None, "user_version", version).db()?;
        tx.commit().db()?;
        tracing::info!(migration = name, version, "database migration applied");
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use sha2::{Digest, Sha256};

    use super::*;
    use crate::test_support::{TestDb, new_project, raw};

    const TABLES: &[&str] = &[
        "change_log",
        "pr",
        "pr_checks",
        "pr_comment",
        "pr_review_threads",
        "projects",
        "sessions",
    ];

    const TRIGGERS: &[&str] = &[
        "pr_cdc_insert",
        "pr_cdc_update",
        "pr_checks_cdc_insert",
        "pr_checks_cdc_update",
        "pr_nudge_cdc_update",
        "pr_review_threads_cdc_insert",
        "pr_review_threads_cdc_update",
        "pr_session_cdc_update",
        "projects_cdc_archive",
        "projects_cdc_insert",
        "projects_cdc_update",
        "sessions_cdc_insert",
        "sessions_cdc_rename",
        "sessions_cdc_update",
    ];

    const INDEXES: &[&str] = &[
        "idx_change_log_created_at",
        "idx_change_log_project_seq",
        "idx_change_log_session_seq",
        "idx_pr_checks_pr_name_created",
        "idx_pr_review_threads_pr_updated",
        "idx_pr_session",
        "idx_projects_live_path",
        "idx_sessions_live",
        "idx_sessions_one_live_orchestrator",
    ];

    fn names(conn: &Connection, kind: &str) -> Vec<String> {
        let mut stmt = conn
            .prepare(
                "SELECT name FROM sqlite_master WHERE type = ?1 AND name NOT LIKE 'sqlite_%' \
                 ORDER BY name",
            )
            .expect("prepare");
        stmt.query_map([kind], |r| r.get(0))
            .expect("query")
            .collect::<Result<_, _>>()
            .expect("names")
    }

    #[test]
    fn shipped_migrations_are_pinned() {
        let pinned = [
            (
                "0001_schema.sql",
                "d797608a946e82e5614898f14fe8ba0ef6d3d7524e11aa3212e8c7a1f35488d9",
            ),
            (
                "0002_cdc.sql",
                "90c3e963f0a3dabcb19b040e08cdd50d4fe1358934f75e191f7e1ad6ab43c678",
            ),
        ];
        assert_eq!(
            MIGRATIONS.len(),
            pinned.len(),
            "pin every new migration here"
        );
        for ((name, sql), (pinned_name, pinned_hash)) in MIGRATIONS.iter().zip(pinned) {
            assert_eq!(*name, pinned_name);
            let hash = hex::encode(Sha256::digest(sql.as_bytes()));
            assert_eq!(
                hash, pinned_hash,
                "shipped migration {name} was edited; add a new migration instead"
            );
        }
    }

    #[test]
    fn an_empty_database_is_migrated_to_the_latest_schema() {
        let db = TestDb::open();
        let conn = db.raw();
        assert_eq!(user_version(&conn).expect("version"), SCHEMA_VERSION);
        assert_eq!(SCHEMA_VERSION, 2);
        assert_eq!(names(&conn, "table"), TABLES);
        assert_eq!(names(&conn, "trigger"), TRIGGERS);
        assert_eq!(names(&conn, "index"), INDEXES);
        let mode: String = conn
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .expect("journal mode");
        assert_eq!(mode, "wal");
        // A fresh database has nothing to back up.
        let backups: Vec<_> = std::fs::read_dir(db.dir.path())
            .expect("read dir")
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().contains(".bak-"))
            .collect();
        assert!(backups.is_empty());
    }

    #[test]
    fn the_data_dir_is_created_private() {
        let tmp = tempfile::tempdir().expect("temp dir");
        let dir = tmp.path().join("a").join("data");
        let opened = crate::open(&dir).expect("open");
        drop(opened);
        let mode = std::fs::metadata(&dir).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
        assert!(dir.join(crate::DB_FILE).is_file());
    }

    #[test]
    fn reopening_is_a_no_op() {
        let tmp = tempfile::tempdir().expect("temp dir");
        {
            let mut opened = crate::open(tmp.path()).expect("first open");
            opened
                .writer
                .insert_project(&new_project("demo"))
                .expect("insert");
        }
        let opened = crate::open(tmp.path()).expect("second open");
        assert_eq!(opened.reader.project_count().expect("count"), 1);
        assert_eq!(opened.reader.head_seq().expect("head"), 1);
        let conn = raw(tmp.path());
        assert_eq!(user_version(&conn).expect("version"), SCHEMA_VERSION);
        assert!(!backup_path(tmp.path(), SCHEMA_VERSION).exists());
    }

    #[test]
    fn a_newer_schema_is_refused() {
        let tmp = tempfile::tempdir().expect("temp dir");
        drop(crate::open(tmp.path()).expect("open"));
        raw(tmp.path())
            .pragma_update(None, "user_version", 99)
            .expect("bump version");
        let err = crate::open(tmp.path()).expect_err("newer schema");
        assert_eq!(err, StoreError::SchemaTooNew { found: 99, max: 2 });
        assert_eq!(
            err.to_string(),
            "database schema version 99 is newer than this ao (max 2)"
        );
        // Nothing was touched.
        assert_eq!(user_version(&raw(tmp.path())).expect("version"), 99);
    }

    #[test]
    fn migrating_a_non_empty_database_writes_a_backup_first() {
        let tmp = tempfile::tempdir().expect("temp dir");
        {
            // An "older binary" that only knew 0001.
            drop(crate::open_with(tmp.path(), 1).expect("open at v1"));
            let conn = raw(tmp.path());
            assert_eq!(user_version(&conn).expect("version"), 1);
            assert!(names(&conn, "trigger").is_empty());
            conn.execute(
                "INSERT INTO projects (id, path, registered_at, updated_at) \
                 VALUES ('old', '/repos/old', '2026-01-01T00:00:00.000Z', \
                 '2026-01-01T00:00:00.000Z')",
                [],
            )
            .expect("row at v1");
        }
        // A stale backup of the same name is replaced (VACUUM INTO refuses to overwrite).
        let backup = backup_path(tmp.path(), 1);
        std::fs::write(&backup, b"stale").expect("stale backup");

        let opened = crate::open(tmp.path()).expect("migrate to latest");
        assert_eq!(user_version(&raw(tmp.path())).expect("version"), 2);
        assert_eq!(names(&raw(tmp.path()), "trigger"), TRIGGERS);
        assert_eq!(opened.reader.project_count().expect("count"), 1);

        let copy = Connection::open(&backup).expect("open backup");
        assert_eq!(user_version(&copy).expect("backup version"), 1);
        let id: String = copy
            .query_row("SELECT id FROM projects", [], |r| r.get(0))
            .expect("row in backup");
        assert_eq!(id, "old");
        assert!(names(&copy, "trigger").is_empty());
    }
}
