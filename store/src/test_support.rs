//! Test helpers shared by the unit tests of this crate: a store in a temp dir, builders for
//! write inputs, raw connections for schema inspection, and change-log readers.

use std::path::Path;

use ao_protocol::{ChangeEvent, Harness, LogOrder, ProjectId, RuntimeKind, SessionId, SessionKind};
use rusqlite::Connection;
use serde_json::json;
use tempfile::TempDir;

use crate::{ChangeQuery, NewProject, NewSeed, ReadPool, SessionRow, Writer};

pub(crate) struct TestDb {
    pub dir: TempDir,
    pub reader: ReadPool,
    pub writer: Writer,
}

impl TestDb {
    pub fn open() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let opened = crate::open(dir.path()).expect("open store");
        Self {
            dir,
            reader: opened.reader,
            writer: opened.writer,
        }
    }

    /// A separate read-write connection to the same file (schema inspection only).
    pub fn raw(&self) -> Connection {
        raw(self.dir.path())
    }

    pub fn add_project(&mut self, id: &str) -> ProjectId {
        self.writer
            .insert_project(&new_project(id))
            .expect("insert project");
        pid(id)
    }

    pub fn add_seed(&mut self, project: &str, kind: SessionKind) -> SessionRow {
        self.writer
            .insert_seed(&new_seed(project, kind))
            .expect("insert seed")
            .value
    }

    pub fn head(&self) -> i64 {
        self.reader.head_seq().expect("head seq")
    }

    /// Every change-log row with `seq > after`, ascending.
    pub fn changes_after(&self, after: i64) -> Vec<ChangeEvent> {
        self.reader
            .read_changes(&ChangeQuery {
                after,
                limit: u32::MAX,
                order: LogOrder::Asc,
                project: None,
                session: None,
            })
            .expect("read changes")
    }

    pub fn sql(&mut self, sql: &str) -> u64 {
        self.writer
            .execute_batch_for_tests(sql)
            .expect("raw sql")
            .events
    }
}

pub(crate) fn raw(dir: &Path) -> Connection {
    Connection::open(dir.join(crate::DB_FILE)).expect("raw connection")
}

pub(crate) fn pid(id: &str) -> ProjectId {
    ProjectId::new(id).expect("valid project id")
}

pub(crate) fn sid(id: &str) -> SessionId {
    SessionId::parse(id).expect("valid session id")
}

pub(crate) fn new_project(id: &str) -> NewProject {
    NewProject {
        id: pid(id),
        path: format!("/repos/{id}"),
        repo_origin_url: String::new(),
        display_name: id.to_owned(),
        config: json!({}),
    }
}

pub(crate) fn new_seed(project: &str, kind: SessionKind) -> NewSeed {
    NewSeed {
        project_id: pid(project),
        kind,
        harness: Harness::ClaudeCode,
        issue_id: String::new(),
        display_name: String::new(),
        runtime: RuntimeKind::Tmux,
        prompt: "do it".into(),
        launch_command: "claude".into(),
    }
}
