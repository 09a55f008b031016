//! Fault-injection tests (issue #5): the real tree on real SQLite, git and tmux, with faults
//! armed in the test-only registry (`ao_protocol::faults`) at the store's commit, at child
//! processes and at GitHub requests, plus actor panics (`ActorTree::inject_panic`).
//!
//! What they prove:
//! * a write that fails (database locked, I/O error, a panic mid-transaction) leaves no partial
//!   fact: the caller gets an error with a stable code, the row and `change_log` are unchanged,
//!   and the reducer keeps serving (restarted with its write connection after a panic);
//! * a spawn whose write fails mid-way is rolled back (sessions.md §3) and a spawn whose caller
//!   gave up on a slow database leaves no seed behind;
//! * a hanging tmux, git or GitHub call never blocks a mailbox: the actors answer meanwhile,
//!   and the call ends with the spec's error once its timeout passes;
//! * a failed runtime probe is never death (sessions.md §13.2 `unknown`);
//! * a panic in a lifecycle operation or in a SessionActor mid-spawn is reported to the caller
//!   and loses nothing;
//! * panicking SCM actors are restarted and the PR loop goes on; a PrObserver past its restart
//!   budget escalates to a restart of the ScmSupervisor (README §3.2), not of the whole tree.
//!
//! (Panics of the other actors, and the escalation of the reducer and of a ProjectActor, are
//! covered by `crate::tests`; a SessionActor past its budget by `sessions::tests`.)
//!
//! Every fault is scoped to this test's database path, tmux socket or repository, so tests
//! running in parallel never see each other's faults.

use std::future::Future;

use ao_protocol::faults::{self, Fault, point};

use super::*;
use crate::FaultTarget;

/// A hang that ends (as a timeout) after `ms` milliseconds.
fn hang_ms(ms: u64) -> Fault {
    Fault::Hang {
        timeout: Some(Duration::from_millis(ms)),
    }
}

impl Fx {
    /// The database path as SQLite reports it: the needle that scopes store faults to this test.
    fn db_needle(&self) -> String {
        self.data
            .canonicalize()
            .expect("data dir")
            .join(ao_store::DB_FILE)
            .to_string_lossy()
            .into_owned()
    }

    async fn project_row(&self, id: &str) -> ao_store::ProjectRow {
        let reader = self.reader.clone();
        let id = pid(id);
        tokio::task::spawn_blocking(move || reader.get_project(&id))
            .await
            .expect("join")
            .expect("read")
            .expect("the project row")
    }

    async fn head_seq(&self) -> i64 {
        let reader = self.reader.clone();
        tokio::task::spawn_blocking(move || reader.head_seq())
            .await
            .expect("join")
            .expect("read")
    }

    fn reducer_id(&self) -> ractor::ActorId {
        self.tree
            .registry
            .reducer
            .get()
            .expect("the reducer runs")
            .get_id()
    }

    /// One round trip through the ProjectActor of `demo`: a config patch.
    async fn patch_demo(&self) -> Result<ao_store::ProjectRow, CommandError> {
        self.tree
            .projects
            .set_config(
                pid("demo"),
                crate::ConfigChange::Patch(json!({"sessionPrefix": "d"})),
            )
            .await
    }

    /// A command session that echoes every line typed into it.
    async fn echo_session(&self, project: &str) -> SessionId {
        self.tree
            .sessions
            .spawn(cmd_spawn(
                project,
                "while IFS= read -r l; do echo \"got:$l\"; done",
            ))
            .await
            .expect("spawn")
    }
}

/// Waits until `armed` has struck `n` calls.
async fn struck(armed: &faults::Armed, n: u32, what: &str) {
    eventually(what, || async { (armed.hits() >= n).then_some(()) }).await;
}

/// Runs `op` with `fault` armed once at the store's commit and checks the failure left no
/// trace: the session row and the change-log head are what they were.
async fn fails_cleanly<T: std::fmt::Debug>(
    fx: &Fx,
    id: &SessionId,
    fault: Fault,
    op: impl Future<Output = Result<T, CommandError>>,
) -> CommandError {
    let row = fx.row(id).await.expect("row");
    let head = fx.head_seq().await;
    let armed = faults::at(point::STORE_COMMIT)
        .matching(&[&fx.db_needle()])
        .times(1)
        .arm(fault);
    let err = op.await.expect_err("the write fails");
    assert_eq!(armed.hits(), 1, "the fault struck the write");
    assert_eq!(fx.row(id).await.expect("row"), row, "no partial fact");
    assert_eq!(fx.head_seq().await, head, "no change-log row");
    err
}

#[tokio::test]
async fn a_failed_write_is_rolled_back_and_the_reducer_keeps_serving() {
    let fx = start().await;
    fx.project("demo", json!({})).await;
    let id = fx.echo_session("demo").await;
    let reducer = fx.reducer_id();
    let s = &fx.tree.sessions;

    // A database locked by another process: 503 SERVICE_UNAVAILABLE, retryable.
    let err = fails_cleanly(&fx, &id, Fault::Busy, s.rename(id.clone(), "x".into())).await;
    assert_eq!(err.code(), ErrorCode::ServiceUnavailable, "{err:?}");
    assert!(err.to_string().contains("database is locked"), "{err}");
    // A disk error: 500 INTERNAL_ERROR.
    let err = fails_cleanly(&fx, &id, Fault::Io, s.rename(id.clone(), "y".into())).await;
    assert_eq!(err.code(), ErrorCode::InternalError, "{err:?}");
    // The same for a write that goes through the SessionActor (an activity signal)…
    let signal = s.activity(id.clone(), Some(ActivityState::Active), None, None);
    let err = fails_cleanly(&fx, &id, Fault::Busy, signal).await;
    assert_eq!(err.code(), ErrorCode::ServiceUnavailable, "{err:?}");
    // …and through the ProjectActor (a config patch).
    let project = fx.project_row("demo").await;
    let err = fails_cleanly(&fx, &id, Fault::Io, fx.patch_demo()).await;
    assert_eq!(err.code(), ErrorCode::InternalError, "{err:?}");
    assert_eq!(
        fx.project_row("demo").await,
        project,
        "the config is unchanged"
    );

    // The reducer was never restarted and every write goes through again.
    let head = fx.head_seq().await;
    s.rename(id.clone(), "renamed".into())
        .await
        .expect("rename");
    let reply = s
        .activity(id.clone(), Some(ActivityState::Active), None, None)
        .await
        .expect("activity");
    assert!(reply.changed);
    let row = fx.row(&id).await.expect("row");
    assert_eq!(row.display_name, "renamed");
    assert_eq!(row.activity_state, ActivityState::Active);
    assert_eq!(fx.head_seq().await, head + 2);
    assert_eq!(fx.reducer_id(), reducer, "not restarted");
    assert!(fx.tree.failure().borrow().is_none());
}

#[tokio::test]
async fn a_panic_inside_a_write_rolls_it_back_and_the_reducer_restarts_with_the_writer() {
    let fx = start().await;
    fx.project("demo", json!({})).await;
    let id = fx.echo_session("demo").await;
    let reducer = fx.reducer_id();
    let err = fails_cleanly(
        &fx,
        &id,
        Fault::Panic,
        fx.tree.sessions.rename(id.clone(), "lost".into()),
    )
    .await;
    assert_eq!(err.code(), ErrorCode::ServiceUnavailable, "{err:?}");
    // Restarted within its budget, with the write connection back.
    eventually("a new reducer", || async {
        fx.tree
            .registry
            .reducer
            .get()
            .filter(|r| r.get_id() != reducer)
    })
    .await;
    eventually("the rename to go through", || async {
        fx.tree
            .sessions
            .rename(id.clone(), "kept".into())
            .await
            .ok()
    })
    .await;
    assert_eq!(fx.row(&id).await.expect("row").display_name, "kept");
    assert!(fx.tree.failure().borrow().is_none());
}

/// Spawns in `demo` with the `n`-th write of the spawn (0 = `insert_seed`) failing.
async fn spawn_with_failing_write(fx: &Fx, n: u32) -> CommandError {
    let armed = faults::at(point::STORE_COMMIT)
        .matching(&[&fx.db_needle()])
        .skip(n)
        .times(1)
        .arm(Fault::Io);
    let err = fx
        .tree
        .sessions
        .spawn(cmd_spawn("demo", "sleep 60"))
        .await
        .expect_err("the spawn fails");
    assert_eq!(armed.hits(), 1);
    err
}

#[tokio::test]
async fn a_write_failing_in_the_middle_of_a_spawn_rolls_the_spawn_back() {
    let fx = start().await;
    fx.project("demo", json!({})).await;
    let head = fx.head_seq().await;

    // insert_seed fails: nothing exists, not even an event.
    let err = spawn_with_failing_write(&fx, 0).await;
    assert_eq!(err.code(), ErrorCode::InternalError, "{err:?}");
    assert!(fx.rows("demo").await.is_empty());
    assert_eq!(fx.head_seq().await, head);

    // set_workspace (write 1) or mark_spawned (write 2) fails: rollback T — the worktree and
    // the runtime are gone and the row is terminated with spawn_failed.
    for (n, id) in [(1, "demo-1"), (2, "demo-2")] {
        let err = spawn_with_failing_write(&fx, n).await;
        assert_eq!(err.code(), ErrorCode::InternalError, "write {n}: {err:?}");
        let row = fx.row(&sid(id)).await.expect("the row stays, terminated");
        assert!(row.is_terminated, "write {n}");
        assert_eq!(row.terminated_reason, Some(TerminatedReason::SpawnFailed));
        assert_eq!(row.workspace_path, "");
        assert_eq!(row.runtime_handle_id, "");
        assert!(
            !fx.worktree("demo", id).exists(),
            "write {n}: worktree left"
        );
        assert!(!fx.has_session(id).await, "write {n}: runtime left");
    }

    // The next spawn is whole.
    let id = fx.echo_session("demo").await;
    assert_eq!(id, sid("demo-3"));
    assert!(fx.has_session("demo-3").await);
}

#[tokio::test]
async fn a_spawn_given_up_on_a_slow_database_leaves_no_seed_behind() {
    let fx = start_with(|cfg| cfg.timeouts.short = Duration::from_millis(500)).await;
    fx.project("demo", json!({})).await;
    let id = fx.echo_session("demo").await;
    // The database is locked for 1.5 s by someone else: the rename waits for it (and then
    // fails), and the spawn's insert_seed waits behind it, past its 500 ms call timeout.
    let locked = faults::at(point::STORE_COMMIT)
        .matching(&[&fx.db_needle()])
        .times(1)
        .arm(hang_ms(1500));
    let s = fx.tree.sessions.clone();
    let stuck = tokio::spawn({
        let id = id.clone();
        async move { s.rename(id, "late".into()).await }
    });
    struck(&locked, 1, "the lock to be hit").await;
    let err = fx
        .tree
        .sessions
        .spawn(cmd_spawn("demo", "sleep 60"))
        .await
        .expect_err("the seed cannot be written in time");
    assert!(
        matches!(
            err.code(),
            ErrorCode::RequestTimeout | ErrorCode::ServiceUnavailable
        ),
        "{err:?}"
    );
    let rename = stuck.await.expect("join").expect_err("locked");
    assert_eq!(rename.code(), ErrorCode::RequestTimeout, "{rename:?}");
    // Once the database is free again, the given-up spawn left no live seed (that would be a
    // session that never starts, and would hold a num, or an orchestrator slot, until reboot).
    eventually("the database to be free", || async {
        fx.tree
            .sessions
            .rename(id.clone(), "after".into())
            .await
            .ok()
    })
    .await;
    let rows = fx.rows("demo").await;
    assert_eq!(
        rows.iter().map(|r| r.id.clone()).collect::<Vec<_>>(),
        vec![id],
        "{rows:#?}"
    );
}

#[tokio::test]
async fn a_hanging_tmux_call_never_blocks_the_session_mailbox() {
    let fx = start().await;
    fx.project("demo", json!({})).await;
    let id = fx.echo_session("demo").await;
    let hang = faults::at(point::PROCESS_RUN)
        .matching(&[&fx.server.socket, "load-buffer"])
        .times(1)
        .arm(hang_ms(2000));
    let s = fx.tree.sessions.clone();
    let send = tokio::spawn({
        let id = id.clone();
        async move { s.send(id, "stuck".into(), false).await }
    });
    struck(&hang, 1, "the send to hang").await;
    // The same SessionActor answers meanwhile.
    let reply = fx
        .tree
        .sessions
        .activity(id.clone(), Some(ActivityState::Active), None, None)
        .await
        .expect("activity while tmux hangs");
    assert!(reply.changed);
    let queued = fx
        .tree
        .sessions
        .send(id.clone(), "later".into(), true)
        .await
        .expect("queued while tmux hangs");
    assert_eq!(queued, Delivery::Queued);
    assert!(!send.is_finished(), "answered while the send still hangs");
    // The hanging call ends with the spec's error once its timeout passes.
    let err = send.await.expect("join").expect_err("timed out");
    assert_eq!(err.code(), ErrorCode::RuntimeError, "{err:?}");
    assert!(err.to_string().contains("timed out"), "{err}");
    // And the session works on.
    let delivery = fx
        .tree
        .sessions
        .send(id.clone(), "after".into(), false)
        .await
        .expect("send");
    assert_eq!(delivery, Delivery::Sent);
    fx.wait_for_pane(id.as_str(), "got:after").await;
}

#[tokio::test]
async fn a_hanging_git_call_never_blocks_the_project_or_session_mailbox() {
    let fx = start().await;
    let repo = fx.project("demo", json!({})).await;
    let repo = repo.to_string_lossy().into_owned();
    let hang = faults::at(point::PROCESS_RUN)
        .matching(&[&repo, "worktree add"])
        .times(1)
        .arm(hang_ms(2000));
    let s = fx.tree.sessions.clone();
    let spawn = tokio::spawn(async move { s.spawn(cmd_spawn("demo", "sleep 60")).await });
    struck(&hang, 1, "git worktree add to hang").await;
    // The ProjectActor answers…
    fx.patch_demo()
        .await
        .expect("config patched while git hangs");
    // …and so does the SessionActor whose spawn is hanging (a signal is held for later).
    let reply = fx
        .tree
        .sessions
        .activity(sid("demo-1"), Some(ActivityState::Active), None, None)
        .await
        .expect("activity while its spawn hangs");
    assert!(!reply.changed);
    assert!(!spawn.is_finished());
    // The spawn fails with the workspace error, undone: no row, no worktree.
    let err = spawn.await.expect("join").expect_err("timed out");
    assert_eq!(err.code(), ErrorCode::WorkspaceError, "{err:?}");
    assert!(err.to_string().contains("timed out"), "{err}");
    assert!(fx.rows("demo").await.is_empty());
    assert!(!fx.worktree("demo", "demo-1").exists());
}

#[tokio::test]
async fn a_failed_runtime_probe_is_never_death() {
    let fx = start().await;
    fx.project("demo", json!({})).await;
    let id = fx.echo_session("demo").await;
    // Every batch probe hangs past its (shortened) timeout, i.e. answers `unknown`…
    let probes = faults::at(point::PROCESS_RUN)
        .matching(&[&fx.server.socket, "list-panes"])
        .arm(hang_ms(200));
    // …while the runtime really is gone.
    assert!(fx.tmux(&["kill-server"]).await.success());
    struck(&probes, 4, "several failed probes").await;
    let row = fx.row(&id).await.expect("row");
    assert!(!row.is_terminated, "an unknown probe never terminates");
    assert_eq!(row.restarts, 0, "an unknown probe never relaunches");
    // Once probes work again, the vanished runtime is noticed and relaunched in place.
    drop(probes);
    fx.wait_row(&id, "the relaunch", |r| r.restarts == 1).await;
    assert!(!fx.row(&id).await.expect("row").is_terminated);
    eventually("the relaunched pane", || async {
        fx.has_session(id.as_str()).await.then_some(())
    })
    .await;
}

#[tokio::test]
async fn a_claiming_spawn_whose_github_call_hangs_ends_with_scm_unavailable() {
    let (fx, base) = start_with_unreachable_github().await;
    let hang = faults::at(point::GITHUB_SEND)
        .matching(&[&base])
        .arm(hang_ms(1500));
    fx.project("demo", json!({})).await;
    let web = base.replacen("http://", "https://", 1);
    let mut claiming = cmd_spawn("demo", "sleep 60");
    claiming.claim = Some(crate::sessions::ClaimSpec {
        pr_ref: format!("{web}/o/demo/pull/7"),
        allow_takeover: true,
    });
    let s = fx.tree.sessions.clone();
    let spawn = tokio::spawn(async move { s.spawn(claiming).await });
    struck(&hang, 1, "the GitHub request to hang").await;
    fx.patch_demo()
        .await
        .expect("config patched while GitHub hangs");
    assert!(!spawn.is_finished());
    let err = spawn.await.expect("join").expect_err("timed out");
    assert_eq!(err.code(), ErrorCode::ScmUnavailable, "{err:?}");
    assert!(err.to_string().contains("timed out"), "{err}");
    assert!(fx.rows("demo").await.is_empty(), "nothing was written");
}

/// A tree whose GitHub API is a loopback address nobody listens on: every request must be
/// answered by an armed `github.send` fault. Returns the fixture and the API base URL.
async fn start_with_unreachable_github() -> (Fx, String) {
    let base = format!("http://127.0.0.1:{}", unused_port());
    let scm_base = base.clone();
    let fx = start_with(move |cfg| {
        cfg.scm = Some(crate::config::ScmSetup {
            config: ao_adapters::ScmConfig::for_base(&scm_base).expect("base"),
            tokens: Arc::new(ao_adapters::TokenProvider::fixed("t0k")),
        });
    })
    .await;
    (fx, base)
}

/// A loopback port nobody listens on.
fn unused_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("an ephemeral port")
        .port()
}

#[tokio::test]
async fn a_panic_inside_a_lifecycle_operation_fails_it_and_the_session_serves_on() {
    let fx = start().await;
    let repo = fx.project("demo", json!({})).await;
    let repo = repo.to_string_lossy().into_owned();
    // A bug in the spawn (here: in its `git worktree add`) panics inside the operation's task.
    let bug = faults::at(point::PROCESS_RUN)
        .matching(&[&repo, "worktree add"])
        .times(1)
        .arm(Fault::Panic);
    let err = tokio::time::timeout(
        Duration::from_secs(20),
        fx.tree.sessions.spawn(cmd_spawn("demo", "sleep 60")),
    )
    .await
    .expect("the caller hears back")
    .expect_err("the spawn fails");
    assert_eq!(bug.hits(), 1);
    assert_eq!(err.code(), ErrorCode::InternalError, "{err:?}");
    // The cut-short spawn is undone (its seed deleted), and the project spawns again.
    eventually("the seed of the cut-short spawn to go", || async {
        fx.rows("demo").await.is_empty().then_some(())
    })
    .await;
    let id = fx.echo_session("demo").await;
    fx.tree
        .sessions
        .send(id.clone(), "alive".into(), false)
        .await
        .expect("send");
    fx.wait_for_pane(id.as_str(), "got:alive").await;
}

#[tokio::test]
async fn a_session_actor_panicking_mid_spawn_reports_the_spawn_failed_and_loses_nothing() {
    let fx = start().await;
    fx.project("demo", json!({ "postCreate": ["sleep 1"] }))
        .await;
    let s = fx.tree.sessions.clone();
    let spawn = tokio::spawn(async move {
        s.spawn(cmd_spawn(
            "demo",
            "while IFS= read -r l; do echo \"got:$l\"; done",
        ))
        .await
    });
    let id = sid("demo-1");
    // The spawn is under way: its worktree exists, its postCreate runs.
    eventually("the spawn's worktree", || async {
        fx.worktree("demo", "demo-1").is_dir().then_some(())
    })
    .await;
    fx.tree
        .inject_panic(FaultTarget::Session(id.clone()))
        .expect("the actor runs");
    // The in-flight operation is reported failed to its caller (README §3.2)…
    let err = spawn.await.expect("join").expect_err("reported failed");
    assert_eq!(err.code(), ErrorCode::ServiceUnavailable, "{err:?}");
    // …but it was not cut in half: it runs to its end, and the restarted actor (told to reload
    // the row) serves the whole session.
    let row = fx
        .wait_row(&id, "the spawn to finish", |r| {
            !r.runtime_handle_id.is_empty()
        })
        .await;
    assert!(!row.is_terminated);
    assert!(Path::new(&row.workspace_path).is_dir());
    let delivery = eventually("a send to the restarted actor", || async {
        fx.tree
            .sessions
            .send(id.clone(), "whole".into(), false)
            .await
            .ok()
    })
    .await;
    assert_eq!(delivery, Delivery::Sent);
    fx.wait_for_pane(id.as_str(), "got:whole").await;
}

/// A tree whose GitHub is unreachable (every request to it fails at once, so each poll is one
/// request and the next is due only after the 30 s poll interval), with project `demo` observed
/// as `o/demo` after the observer's first poll. Returns the fixture and the armed fault.
async fn observed_project() -> (Fx, faults::Armed) {
    let (fx, base) = start_with_unreachable_github().await;
    let requests = faults::at(point::GITHUB_SEND)
        .matching(&[&base])
        .arm(Fault::Io);
    fx.project("demo", json!({})).await;
    let origin = format!("{}/o/demo.git", base.replacen("http://", "https://", 1));
    crate::reducer::ReducerHandle::new(Arc::clone(&fx.tree.registry))
        .backfill_origin(&pid("demo"), origin, Duration::from_secs(5))
        .await
        .expect("origin");
    struck(&requests, 1, "the observer's first poll").await;
    (fx, requests)
}

/// Waits (10 s at most, well within the 30 s poll interval) for a GitHub request after the
/// `before`-th: only a freshly started observer polls that soon.
async fn a_new_poll(requests: &faults::Armed, before: u32, after: &str) {
    tokio::time::timeout(Duration::from_secs(10), async {
        while requests.hits() <= before {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no new poll after {after}"));
}

#[tokio::test]
async fn panicking_scm_actors_are_restarted_and_the_pr_loop_goes_on() {
    let (fx, requests) = observed_project().await;
    for target in [
        FaultTarget::PrObserver("O/Demo".into()),
        FaultTarget::ScmSupervisor,
    ] {
        let before = requests.hits();
        fx.tree.inject_panic(target.clone()).expect("running");
        a_new_poll(&requests, before, &format!("{target:?} panicked")).await;
    }
    fx.patch_demo().await.expect("the tree keeps serving");
    assert!(fx.tree.failure().borrow().is_none());
}

#[tokio::test]
async fn a_pr_observer_past_its_budget_escalates_to_a_restart_of_the_scm_supervisor() {
    let (fx, requests) = observed_project().await;
    let scm_sup = || fx.tree.ctx.scm_sup().as_ref().map(|a| a.get_id());
    let first = scm_sup().expect("the SCM supervisor runs");
    // Crash the observer whenever one runs: the sixth failure within 60 s is one too many.
    eventually("a new SCM supervisor", || async {
        if scm_sup().is_some_and(|current| current != first) {
            return Some(());
        }
        let _ = fx
            .tree
            .inject_panic(FaultTarget::PrObserver("o/demo".into()));
        None
    })
    .await;
    // Root restarted it within its own budget: the tree did not fail and keeps serving.
    assert!(fx.tree.failure().borrow().is_none());
    fx.patch_demo().await.expect("the tree keeps serving");
    // The new supervisor observes the repository again (with a fresh budget).
    let before = requests.hits();
    fx.tree
        .inject_panic(FaultTarget::ScmSupervisor)
        .expect("the new SCM supervisor runs");
    a_new_poll(&requests, before, "the new supervisor panicked").await;
}
