//! Test-only helpers shared by the in-crate tests that drive real actors (sessions, reconcile):
//! id constructors, polling with a deadline, and the `command`-harness spawn request.

use std::future::Future;
use std::time::Duration;

use ao_protocol::{Harness, ProjectId, SessionId, SessionKind};
use tokio::time::Instant;

use crate::sessions::SpawnCommand;

/// How long any test waits for an asynchronous outcome.
pub(crate) const DEADLINE: Duration = Duration::from_secs(30);

pub(crate) fn sid(s: &str) -> SessionId {
    SessionId::parse(s).expect("valid id")
}

pub(crate) fn pid(s: &str) -> ProjectId {
    ProjectId::new(s).expect("valid id")
}

/// Polls `f` until it returns `Some`, failing the test after [`DEADLINE`].
pub(crate) async fn eventually<T, F, Fut>(what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + DEADLINE;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// A worker spawn of harness `command` running `command` in project `project`.
pub(crate) fn cmd_spawn(project: &str, command: &str) -> SpawnCommand {
    SpawnCommand {
        project_id: pid(project),
        kind: SessionKind::Worker,
        harness: Some(Harness::Command),
        branch: None,
        prompt: None,
        issue_id: None,
        display_name: None,
        command: Some(command.to_string()),
        claim: None,
    }
}
