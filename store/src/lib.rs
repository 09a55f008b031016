//! `ao-store` — the daemon's SQLite database: schema, migrations, CDC triggers, reads and writes.
//!
//! [`open`] creates the data directory, opens `<dataDir>/ao.db` (WAL), backs up and migrates
//! it with the embedded migrations ([`migrate`]), and returns an [`Opened`] with two halves:
//!
//! * [`ReadPool`] (cloneable): an r2d2 pool of 8 `query_only` connections for every reader
//!   (HTTP GET handlers, CdcPoller, Reaper, PR observers).
//! * [`Writer`] (not cloneable): the single write connection, owned by the LifecycleReducer.
//!
//! Every change to a watched column is captured by a trigger into `change_log` in the same
//! transaction (data-model.md §5); [`Written::events`] tells the reducer how many rows a write
//! inserted.
//!
//! The PR tables (data-model.md §4.3–4.6) are written by the SCM operations of [`Writer`]
//! (`apply_scm_observation`, `ack_scm_hashes`, `claim_pr`, `record_nudge`, `reset_nudge_key`)
//! and read as [`PrDetail`] / [`PrObserved`] (`ReadPool::pr_details_of_session`, `pr_detail`,
//! `prs_of_repo`).
//!
//! Invariants:
//! * only [`Writer`] writes; the read connections are `query_only`;
//! * one `BEGIN IMMEDIATE` transaction per write operation;
//! * no rusqlite (or r2d2) type crosses the crate boundary: rows use `ao_protocol` ids and
//!   enums, errors are [`StoreError`] strings;
//! * the API is synchronous: async callers wrap calls in `tokio::task::spawn_blocking`.

mod error;
pub mod migrate;
mod read;
mod rows;
mod scm_read;
mod scm_rows;
mod scm_write;
mod write;

use std::os::unix::fs::DirBuilderExt;
use std::path::Path;

pub use error::StoreError;
pub use migrate::{MIGRATIONS, SCHEMA_VERSION};
pub use read::ReadPool;
pub use rows::{
    ActivityOutcome, ChangeQuery, NewProject, NewSeed, PrRow, ProjectRow, SessionFilter,
    SessionRow, Written,
};
pub use scm_rows::{
    AckedHashes, ClaimApplied, LastNudge, NudgeAttempt, NudgeState, PrCheckRow, PrCommentRow,
    PrDetail, PrObserved, PrThreadRow, ScmApplied,
};
pub use scm_write::MAX_COMMENTS_PER_THREAD;
pub use write::Writer;

/// The database file name inside the data directory.
pub const DB_FILE: &str = "ao.db";

/// The two halves of an open database.
pub struct Opened {
    pub reader: ReadPool,
    pub writer: Writer,
}

impl std::fmt::Debug for Opened {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Opened").finish_non_exhaustive()
    }
}

/// Opens (creating if needed) `<data_dir>/ao.db`, migrates it and builds the read pool.
///
/// Creates `data_dir` with mode 0700 when missing. Refuses a database written by a newer `ao`
/// with [`StoreError::SchemaTooNew`].
pub fn open(data_dir: &Path) -> Result<Opened, StoreError> {
    open_with(data_dir, MIGRATIONS.len())
}

/// [`open`], applying at most `target` migrations (tests simulate older binaries with it).
pub(crate) fn open_with(data_dir: &Path, target: usize) -> Result<Opened, StoreError> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(data_dir)
        .map_err(|e| StoreError::Io(format!("creating {}: {e}", data_dir.display())))?;
    let db_path = data_dir.join(DB_FILE);
    let mut writer = Writer::open(&db_path)?;
    writer.migrate(data_dir, target)?;
    let reader = ReadPool::open(&db_path)?;
    Ok(Opened { reader, writer })
}

#[cfg(test)]
mod cdc_tests;
#[cfg(test)]
mod scm_tests;
#[cfg(test)]
mod test_support;

#[cfg(test)]
mod tests {
    fn assert_send<T: Send + 'static>() {}
    fn assert_shared<T: Send + Sync + Clone + 'static>() {}

    #[test]
    fn handles_can_move_into_actors_and_blocking_tasks() {
        assert_send::<crate::Writer>();
        assert_send::<crate::Opened>();
        assert_shared::<crate::ReadPool>();
        assert_send::<crate::StoreError>();
    }
}
