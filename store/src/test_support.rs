//! Test helpers shared by the unit tests of this crate: a store in a temp dir, builders for
//! write inputs (projects, seeds, PR observations), raw connections for schema inspection, and change-log readers.

use std::path::Path;

use ao_protocol::scm::{
    CheckFact, CommentFact, PrFacts, ScmHashes, ScmObservation, ThreadFact, ThreadWrite,
};
use ao_protocol::{
    ChangeEvent, CheckKind, CheckStatus, CiState, Harness, LogOrder, Mergeability, PrState,
    ProjectId, ReviewDecision, RuntimeKind, SessionId, SessionKind,
};
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

// ---- PR observations ----

pub(crate) const URL: &str = "https://github.com/o/demo/pull/7";

pub(crate) fn facts(url: &str, number: u64) -> PrFacts {
    PrFacts {
        url: url.into(),
        number,
        state: PrState::Open,
        review_decision: ReviewDecision::None,
        ci_state: CiState::Pending,
        mergeability: Mergeability::Unknown,
        mergeability_reasons: vec![],
        host: "github.com".into(),
        repo: "o/demo".into(),
        head_repo: "o/demo".into(),
        source_branch: "ao/demo-1/root".into(),
        target_branch: "main".into(),
        head_sha: "abc1234567".into(),
        base_sha: "base000".into(),
        merge_commit_sha: String::new(),
        title: "Fix it".into(),
        author: "alice".into(),
        html_url: url.into(),
        additions: 10,
        deletions: 2,
        changed_files: 3,
        is_draft: false,
        is_merged: false,
        is_closed: false,
        provider_state: "OPEN".into(),
        provider_mergeable: "UNKNOWN".into(),
        provider_merge_state_status: "UNKNOWN".into(),
        created_at_provider: Some("2026-07-01T08:00:00.000Z".into()),
        updated_at_provider: Some("2026-07-01T08:30:00.000Z".into()),
        merged_at_provider: None,
        closed_at_provider: None,
    }
}

pub(crate) fn check(name: &str, commit: &str, status: CheckStatus) -> CheckFact {
    CheckFact {
        name: name.into(),
        commit_sha: commit.into(),
        kind: CheckKind::CheckRun,
        status,
        conclusion: if status == CheckStatus::Failed {
            "FAILURE".into()
        } else {
            String::new()
        },
        url: format!("https://github.com/o/demo/actions/runs/1/job/{name}"),
        job_id: "42".into(),
        log_tail: if status == CheckStatus::Failed {
            "error: boom".into()
        } else {
            String::new()
        },
        log_hash: if status == CheckStatus::Failed {
            "h-boom".into()
        } else {
            String::new()
        },
    }
}

pub(crate) fn comment(id: &str, author: &str, body: &str) -> CommentFact {
    CommentFact {
        comment_id: id.into(),
        author: author.into(),
        is_bot: false,
        body: body.into(),
        url: format!("{URL}#discussion_r{id}"),
        created_at: Some(format!("2026-07-01T08:1{}:00.000Z", id.len() % 10)),
    }
}

pub(crate) fn thread(id: &str, resolved: bool, comments: Vec<CommentFact>) -> ThreadFact {
    ThreadFact {
        thread_id: id.into(),
        path: "src/lib.rs".into(),
        line: Some(12),
        resolved,
        is_bot: false,
        semantic_hash: format!("th-{id}-{resolved}"),
        comments,
    }
}

pub(crate) fn hashes(tag: &str) -> ScmHashes {
    ScmHashes {
        metadata: format!("m-{tag}"),
        ci: format!("c-{tag}"),
        review: Some(format!("r-{tag}")),
        review_partial: false,
    }
}

pub(crate) fn obs(
    session: &SessionId,
    f: PrFacts,
    checks: Vec<CheckFact>,
    threads: ThreadWrite,
) -> ScmObservation {
    ScmObservation {
        session_id: session.to_string(),
        facts: f,
        checks,
        threads,
        hashes: hashes("1"),
    }
}
