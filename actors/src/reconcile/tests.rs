//! Boot reconcile and spool replay against the real thing: SQLite in a tempdir, git worktrees,
//! and tmux on a private server per test (killed when the fixture is dropped). A "daemon
//! restart" is a tree shutdown (crash-only: agents and worktrees stay) followed by a fresh
//! tree on the same store, socket and directories. While the tree is down, tests change the
//! world (kill the tmux server, end an agent, write the spool, or write rows through the store
//! as an interrupted operation would have left them). Every wait is a poll with a deadline.

use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use ao_adapters::runtime::{AttachSpec, BoxFuture, CreateSpec, LaunchSpec, TaggedSession};
use ao_adapters::{Probe, ProbeTarget, Runtime, RuntimeError, Tmux, git, process};
use ao_protocol::{
    ActivityState, Harness, RuntimeKind, SessionId, SessionKind, TerminatedReason, time,
};
use ao_store::{NewSeed, ReadPool, SessionRow};
use nix::fcntl::{Flock, FlockArg};
use serde_json::{Value, json};
use tempfile::TempDir;

use crate::test_support::{TestTmux, cmd_spawn, eventually, pid, sid, test_config};
use crate::{ActorTree, AddProject, ReconcileReport, spawn_tree};

/// One "machine": directories, a private tmux server, and the daemon's tree (when it runs).
struct Fx {
    /// First, so that the tmux server dies before the directories go.
    server: TestTmux,
    tree: Option<ActorTree>,
    reader: Option<ReadPool>,
    data: PathBuf,
    home: PathBuf,
    user_home: PathBuf,
    repos: TempDir,
    /// The Reaper's period: short to show that it does not interfere, or an hour to keep it
    /// out of what a test observes.
    reaper_tick: Duration,
    _dir: TempDir,
}

/// A fast Reaper (it runs during the test and must not interfere).
const FAST: Duration = Duration::from_millis(100);
/// A Reaper that never ticks within a test.
const SLOW: Duration = Duration::from_secs(3600);

async fn run_git(dir: &Path, args: &[&str]) -> String {
    process::run(&git::git_cmd().arg("-C").arg(dir).args(args))
        .await
        .unwrap_or_else(|e| panic!("git {args:?}: {e}"))
        .stdout
}

impl Fx {
    async fn new(reaper_tick: Duration) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let data = dir.path().join("data");
        let home = dir.path().join("home");
        let user_home = dir.path().join("user");
        std::fs::create_dir_all(&user_home).expect("mkdir");
        let mut fx = Self {
            server: TestTmux::new("reconcile", &home),
            tree: None,
            reader: None,
            data,
            home,
            user_home,
            repos: tempfile::tempdir().expect("tempdir"),
            reaper_tick,
            _dir: dir,
        };
        fx.boot().await;
        fx
    }

    fn tmux_adapter(&self) -> Tmux {
        Tmux::new(&self.server.socket, &self.home, &self.data)
    }

    /// Starts a tree on the store (the daemon's boot up to, not including, reconcile).
    async fn boot(&mut self) {
        let tmux = self.tmux_adapter();
        tmux.write_conf().expect("tmux.conf");
        self.boot_with(Arc::new(tmux)).await;
    }

    /// [`Fx::boot`] with another runtime adapter.
    async fn boot_with(&mut self, runtime: Arc<dyn Runtime>) {
        let opened = ao_store::open(&self.data).expect("store opens");
        let cfg = test_config(
            &self.data,
            &self.home,
            &self.user_home,
            &self.server,
            runtime,
            self.reaper_tick,
        );
        let tree = spawn_tree(cfg, opened.reader.clone(), opened.writer)
            .await
            .expect("tree starts");
        self.tree = Some(tree);
        self.reader = Some(opened.reader);
    }

    /// Stops the tree the way the daemon does (crash-only: agents and worktrees stay).
    async fn stop(&mut self) {
        if let Some(tree) = self.tree.take() {
            tree.shutdown(Duration::from_secs(10)).await;
        }
        self.reader = None;
    }

    fn tree(&self) -> &ActorTree {
        self.tree.as_ref().expect("the tree runs")
    }

    fn reader(&self) -> ReadPool {
        self.reader.clone().expect("the tree runs")
    }

    /// Runs `f` on the store's writer while the tree is down (what an interrupted operation
    /// left behind).
    fn with_writer<T>(&self, f: impl FnOnce(&mut ao_store::Writer) -> T) -> T {
        assert!(self.tree.is_none(), "the tree must be stopped");
        let mut opened = ao_store::open(&self.data).expect("store opens");
        f(&mut opened.writer)
    }

    async fn reconcile(&self) -> ReconcileReport {
        self.tree().reconcile().await.expect("reconcile runs")
    }

    /// A second run changes nothing: no change-log row, nothing but adoptions reported.
    async fn assert_second_run_is_a_noop(&self) {
        let before = self.head();
        let rows = self.all_rows().await;
        let again = self.reconcile().await;
        assert!(again.is_noop(), "{again:?}");
        assert!(again.failed.is_empty(), "{again:?}");
        assert_eq!(self.head(), before, "the second run wrote");
        assert_eq!(self.all_rows().await, rows);
    }

    fn head(&self) -> i64 {
        self.reader().head_seq().expect("head")
    }

    /// A fresh repository `<repos>/<name>` registered as project `<name>` with `config`.
    async fn project(&self, name: &str, config: Value) -> PathBuf {
        let dir = self.repos.path().join(name);
        std::fs::create_dir_all(&dir).expect("mkdir");
        run_git(&dir, &["init", "-q", "-b", "main"]).await;
        run_git(&dir, &["config", "user.email", "t@example.com"]).await;
        run_git(&dir, &["config", "user.name", "t"]).await;
        std::fs::write(dir.join("README"), "hello\n").expect("write");
        run_git(&dir, &["add", "README"]).await;
        run_git(&dir, &["commit", "-q", "-m", "init", "--no-gpg-sign"]).await;
        let dir = dir.canonicalize().expect("canonical");
        self.tree()
            .projects
            .add_project(AddProject {
                path: dir.to_string_lossy().into_owned(),
                project_id: Some(pid(name)),
                name: None,
                config,
            })
            .await
            .expect("project added");
        dir
    }

    async fn spawn(&self, command: &str) -> SessionId {
        let id = self
            .tree()
            .sessions
            .spawn(cmd_spawn("demo", command))
            .await
            .expect("spawn");
        self.wait_for_pane(id.as_str(), "-up").await;
        id
    }

    async fn row(&self, id: &SessionId) -> Option<SessionRow> {
        let reader = self.reader();
        let id = id.clone();
        tokio::task::spawn_blocking(move || reader.get_session(&id))
            .await
            .expect("join")
            .expect("read")
    }

    async fn all_rows(&self) -> Vec<SessionRow> {
        let reader = self.reader();
        tokio::task::spawn_blocking(move || {
            reader.list_sessions(&ao_store::SessionFilter::default())
        })
        .await
        .expect("join")
        .expect("read")
    }

    async fn tmux(&self, args: &[&str]) -> process::Output {
        self.server.run(args).await
    }

    /// Kills this test's tmux server and waits until it is really gone: tmux 3.3a keeps
    /// answering ("server exited unexpectedly") for a moment after `kill-server`, and a probe in
    /// that window is `unknown`, which reconcile rightly treats as alive.
    async fn kill_server(&self) {
        assert!(self.tmux(&["kill-server"]).await.success());
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let out = self.tmux(&["list-sessions"]).await;
            if out.stderr.contains("no server running") || out.stderr.contains("error connecting") {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the tmux server did not go away: {out:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn has_session(&self, name: &str) -> bool {
        self.tmux(&["has-session", "-t", &format!("={name}")])
            .await
            .success()
    }

    async fn pane(&self, name: &str, format: &str) -> String {
        self.tmux(&["display-message", "-p", "-t", &format!("={name}:"), format])
            .await
            .stdout
            .trim()
            .to_string()
    }

    async fn wait_for_pane(&self, name: &str, needle: &str) {
        eventually(&format!("{needle:?} in pane {name}"), || async {
            let out = self
                .tmux(&["capture-pane", "-p", "-J", "-t", &format!("={name}:")])
                .await
                .stdout;
            out.contains(needle).then_some(())
        })
        .await;
    }

    fn worktree(&self, project: &str, id: &str) -> PathBuf {
        self.data
            .join("worktrees")
            .canonicalize()
            .expect("worktree root")
            .join(project)
            .join(id)
    }

    fn spool(&self) -> PathBuf {
        self.data.join(crate::spool::SPOOL_FILE)
    }

    async fn actor_gone(&self, id: &SessionId) {
        eventually("the session actor to stop", || async {
            (!self.tree().registry.sessions.contains_key(id)).then_some(())
        })
        .await;
    }
}

fn spool_line(session: &str, state: Option<&str>, agent: Option<&str>, at: &str) -> String {
    let mut v = json!({ "sessionId": session, "agent": "codex", "event": "stop", "at": at });
    if let Some(s) = state {
        v["state"] = json!(s);
    }
    if let Some(a) = agent {
        v["agentSessionId"] = json!(a);
    }
    format!("{v}\n")
}

#[tokio::test]
async fn the_spool_is_replayed_in_order_with_the_at_rule_then_truncated() {
    let mut fx = Fx::new(SLOW).await;
    fx.project("demo", json!({})).await;
    let a = fx.spawn("echo a-up; sleep 120").await;
    let b = fx.spawn("echo b-up; sleep 120").await;
    let spawned_at = fx.row(&a).await.expect("row").activity_last_at;
    fx.stop().await;

    // The daemon is down; the agents keep firing hooks, which `ao hooks` spools.
    let t0 = time::parse(&spawned_at).expect("timestamp");
    let at = |ms: i64| time::format(t0 + chrono::Duration::milliseconds(ms));
    let mut text = String::new();
    text += &spool_line(a.as_str(), Some("active"), None, &at(-60_000)); // older: ignored
    text += &spool_line(a.as_str(), Some("active"), Some("conv-1"), &at(1_000));
    text += "this is not json\n";
    text += &spool_line(a.as_str(), Some("waiting_input"), None, &at(2_000));
    text += &spool_line(a.as_str(), Some("idle"), Some("conv-2"), &at(1_500)); // out of order
    text += &spool_line("demo-99", Some("active"), None, &at(1_000)); // unknown session
    text += "\n";
    text += &spool_line(b.as_str(), Some("exited"), None, &at(3_000));
    std::fs::write(fx.spool(), &text).expect("spool");

    fx.boot().await;
    let before = fx.head();
    let report = fx.reconcile().await;
    assert_eq!(report.spool.lines, 7, "{report:?}");
    assert_eq!(report.spool.malformed, 1, "{report:?}");
    assert_eq!(report.spool.applied, 4, "{report:?}");
    assert_eq!(report.spool.ignored, 2, "{report:?}");
    assert!(report.spool.truncated);
    assert_eq!(std::fs::read(fx.spool()).expect("spool").len(), 0);

    // The newest fact wins; the agent id is the latest line's.
    let ra = fx.row(&a).await.expect("row");
    assert_eq!(ra.activity_state, ActivityState::WaitingInput);
    assert_eq!(ra.activity_last_at, at(2_000));
    assert_eq!(ra.first_signal_at, Some(at(1_000)));
    assert_eq!(ra.agent_session_id, "conv-2");
    assert!(!ra.is_terminated);
    // `exited` terminated the other one at the time the hook fired; its pane is kept.
    let rb = fx.row(&b).await.expect("row");
    assert!(rb.is_terminated);
    assert_eq!(rb.terminated_reason, Some(TerminatedReason::AgentExited));
    assert_eq!(rb.terminated_at, Some(at(3_000)));
    assert_eq!(rb.runtime_handle_id, b.as_str());
    assert!(fx.has_session(b.as_str()).await);
    fx.actor_gone(&b).await;
    // Reconcile adopted the live one, and its actor sees the replayed state.
    assert_eq!(report.adopted, vec![a.clone()]);
    assert!(report.relaunched.is_empty() && report.orphans_destroyed.is_empty());
    let events: Vec<_> = fx
        .reader()
        .read_changes(&ao_store::ChangeQuery {
            after: before,
            limit: 100,
            order: ao_protocol::LogOrder::Asc,
            project: None,
            session: None,
        })
        .expect("changes")
        .into_iter()
        .map(|e| {
            (
                e.session_id.unwrap_or_default(),
                e.payload["activity"].clone(),
            )
        })
        .collect();
    assert_eq!(
        events,
        vec![
            (a.to_string(), json!("active")),
            (a.to_string(), json!("waiting_input")),
            (b.to_string(), json!("exited")),
        ]
    );
    let r = fx
        .tree()
        .sessions
        .activity(a.clone(), Some(ActivityState::Idle), None, None)
        .await
        .expect("signal");
    assert!(r.changed);

    fx.assert_second_run_is_a_noop().await;
}

#[tokio::test]
async fn the_replay_takes_the_hooks_lock() {
    let mut fx = Fx::new(SLOW).await;
    fx.project("demo", json!({})).await;
    let a = fx.spawn("echo a-up; sleep 120").await;
    let t0 = time::parse(&fx.row(&a).await.expect("row").activity_last_at).expect("timestamp");
    let at = time::format(t0 + chrono::Duration::seconds(1));
    // A hook holds the spool lock while it appends (as `ao hooks` does).
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(fx.spool())
        .expect("spool");
    let mut held = Flock::lock(file, FlockArg::LockExclusive).expect("lock");
    let tree = fx.tree.take().expect("tree");
    let replay = tokio::spawn(async move {
        let report = tree.reconcile().await;
        (tree, report)
    });
    // Give an unlocked reader every chance to read (and truncate) too early.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        !replay.is_finished(),
        "the replay did not wait for the lock"
    );
    held.write_all(spool_line(a.as_str(), Some("active"), None, &at).as_bytes())
        .expect("append");
    drop(held);
    let (tree, report) = replay.await.expect("join");
    fx.tree = Some(tree);
    let report = report.expect("reconcile");
    assert_eq!(report.spool.applied, 1, "{report:?}");
    assert_eq!(
        fx.row(&a).await.expect("row").activity_state,
        ActivityState::Active
    );
    assert_eq!(std::fs::read(fx.spool()).expect("spool").len(), 0);
}

#[tokio::test]
async fn alive_sessions_are_adopted_without_a_relaunch() {
    let mut fx = Fx::new(FAST).await;
    fx.project("demo", json!({})).await;
    let id = fx.spawn("echo gen-$$-up; sleep 120").await;
    let pane_pid = fx.pane(id.as_str(), "#{pane_pid}").await;
    fx.stop().await;
    fx.boot().await;
    let report = fx.reconcile().await;
    assert_eq!(report.adopted, vec![id.clone()], "{report:?}");
    assert!(report.relaunched.is_empty() && report.terminated.is_empty());
    assert_eq!(fx.pane(id.as_str(), "#{pane_pid}").await, pane_pid);
    let row = fx.row(&id).await.expect("row");
    assert_eq!(row.restarts, 0);
    assert!(!row.is_terminated);
    assert!(fx.tree().registry.sessions.contains_key(&id));
    fx.assert_second_run_is_a_noop().await;
    assert_eq!(fx.pane(id.as_str(), "#{pane_pid}").await, pane_pid);
}

#[tokio::test]
async fn an_agent_that_exited_while_the_daemon_was_down_is_terminated_with_its_code() {
    let mut fx = Fx::new(SLOW).await;
    fx.project("demo", json!({})).await;
    let flag = fx.data.join("exit-now");
    let id = fx
        .spawn(&format!(
            "echo x-up; while [ ! -e '{}' ]; do sleep 0.05; done; exit 7",
            flag.display()
        ))
        .await;
    fx.stop().await;
    std::fs::write(&flag, "").expect("flag");
    eventually("the pane to die", || async {
        (fx.pane(id.as_str(), "#{pane_dead}").await == "1").then_some(())
    })
    .await;
    fx.boot().await;
    let report = fx.reconcile().await;
    assert_eq!(report.terminated, vec![id.clone()], "{report:?}");
    let row = fx.row(&id).await.expect("row");
    assert!(row.is_terminated);
    assert_eq!(row.terminated_reason, Some(TerminatedReason::AgentExited));
    assert_eq!(row.exit_code, Some(7));
    // The dead pane and the worktree are kept for inspection, by this run and the next.
    assert_eq!(row.runtime_handle_id, id.as_str());
    assert!(fx.has_session(id.as_str()).await);
    assert!(fx.worktree("demo", id.as_str()).is_dir());
    fx.actor_gone(&id).await;
    fx.assert_second_run_is_a_noop().await;
    assert!(fx.has_session(id.as_str()).await);
}

#[tokio::test]
async fn interrupted_spawns_are_undone() {
    let mut fx = Fx::new(FAST).await;
    fx.project("demo", json!({})).await;
    let half = fx.spawn("echo half-up; sleep 120").await;
    fx.stop().await;
    // The daemon died (1) after seeding a spawn, and (2) between the runtime create and
    // `mark_spawned` of another: it has a worktree and a tmux session, but no handle.
    let seed = fx.with_writer(|w| {
        w.clear_runtime(&half).expect("clear runtime");
        w.insert_seed(&NewSeed {
            project_id: pid("demo"),
            kind: SessionKind::Worker,
            harness: Harness::Command,
            issue_id: String::new(),
            display_name: String::new(),
            runtime: RuntimeKind::Tmux,
            prompt: String::new(),
            launch_command: "sleep 1".into(),
        })
        .expect("seed")
        .value
        .id
    });
    fx.boot().await;
    let head_before = fx.head();
    assert!(fx.tree().registry.sessions.contains_key(&seed));
    let report = fx.reconcile().await;
    assert_eq!(report.deleted_seeds, vec![seed.clone()], "{report:?}");
    assert_eq!(report.terminated, vec![half.clone()], "{report:?}");
    assert_eq!(
        report.orphans_destroyed,
        vec![half.to_string()],
        "{report:?}"
    );
    assert!(fx.row(&seed).await.is_none());
    let row = fx.row(&half).await.expect("row");
    assert!(row.is_terminated);
    assert_eq!(row.terminated_reason, Some(TerminatedReason::SpawnFailed));
    assert_eq!(row.workspace_path, "");
    assert!(!fx.worktree("demo", half.as_str()).exists());
    assert!(!fx.has_session(half.as_str()).await);
    fx.actor_gone(&seed).await;
    fx.actor_gone(&half).await;
    assert!(fx.head() > head_before);
    fx.assert_second_run_is_a_noop().await;
}

#[tokio::test]
async fn an_interrupted_spawn_keeps_a_dirty_worktree() {
    let mut fx = Fx::new(FAST).await;
    fx.project("demo", json!({})).await;
    let id = fx.spawn("echo d-up; sleep 120").await;
    let wt = fx.worktree("demo", id.as_str());
    std::fs::write(wt.join("work.txt"), "precious\n").expect("write");
    fx.stop().await;
    fx.with_writer(|w| w.clear_runtime(&id).expect("clear runtime"));
    fx.boot().await;
    let report = fx.reconcile().await;
    assert_eq!(report.terminated, vec![id.clone()], "{report:?}");
    let row = fx.row(&id).await.expect("row");
    assert_eq!(row.terminated_reason, Some(TerminatedReason::SpawnFailed));
    assert_eq!(
        std::fs::read_to_string(wt.join("work.txt")).expect("kept"),
        "precious\n"
    );
    assert_eq!(Path::new(&row.workspace_path), wt);
    fx.assert_second_run_is_a_noop().await;
    assert!(wt.join("work.txt").exists());
}

#[tokio::test]
async fn a_vanished_tmux_server_is_relaunched_in_place_once() {
    let mut fx = Fx::new(FAST).await;
    fx.project("demo", json!({})).await;
    let id = fx.spawn("echo gen-$$-up; sleep 120").await;
    let first_pid = fx.pane(id.as_str(), "#{pane_pid}").await;
    fx.stop().await;
    // The machine rebooted: no tmux server, and the worktree (on a tmpfs) is gone too.
    fx.kill_server().await;
    let wt = fx.worktree("demo", id.as_str());
    std::fs::remove_dir_all(&wt).expect("remove worktree");
    fx.boot().await;
    let report = fx.reconcile().await;
    assert_eq!(report.relaunched, vec![id.clone()], "{report:?}");
    let row = fx.row(&id).await.expect("row");
    assert!(!row.is_terminated);
    assert_eq!(row.restarts, 1);
    assert!(row.last_restart_at.is_some());
    assert_eq!(row.runtime_handle_id, id.as_str());
    assert!(wt.is_dir(), "the worktree is restored");
    assert_eq!(
        run_git(&wt, &["rev-parse", "--abbrev-ref", "HEAD"])
            .await
            .trim(),
        format!("ao/{id}/root")
    );
    fx.wait_for_pane(id.as_str(), "-up").await;
    assert_ne!(fx.pane(id.as_str(), "#{pane_pid}").await, first_pid);
    // The Reaper (100 ms) runs from here on and never relaunches it a second time.
    let relaunched_pid = fx.pane(id.as_str(), "#{pane_pid}").await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(fx.row(&id).await.expect("row").restarts, 1);
    assert_eq!(fx.pane(id.as_str(), "#{pane_pid}").await, relaunched_pid);
    fx.assert_second_run_is_a_noop().await;
}

/// A fake `codex` (hooks are launch flags, nothing to install): it just stays up.
fn fake_codex(dir: &Path) -> PathBuf {
    let bin = dir.join("fakebin");
    std::fs::create_dir_all(&bin).expect("mkdir");
    let script = bin.join("codex");
    std::fs::write(&script, "#!/bin/sh\necho codex-up\nexec sleep 120\n").expect("write");
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    bin
}

#[tokio::test]
async fn a_session_that_cannot_resume_is_runtime_missing() {
    let mut fx = Fx::new(SLOW).await;
    let bin = fake_codex(&fx.data);
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_else(|_| "/usr/bin:/bin".into())
    );
    fx.project("demo", json!({ "env": { "PATH": path } })).await;
    let mut cmd = cmd_spawn("demo", "");
    cmd.harness = Some(Harness::Codex);
    cmd.command = None;
    let id = fx.tree().sessions.spawn(cmd).await.expect("spawn");
    fx.wait_for_pane(id.as_str(), "codex-up").await;
    fx.stop().await;
    fx.kill_server().await;
    fx.boot().await;
    // No conversation id was ever reported and there is no prompt: nothing to resume.
    let report = fx.reconcile().await;
    assert_eq!(report.terminated, vec![id.clone()], "{report:?}");
    let row = fx.row(&id).await.expect("row");
    assert_eq!(
        row.terminated_reason,
        Some(TerminatedReason::RuntimeMissing)
    );
    assert_eq!(row.restarts, 0);
    assert!(fx.worktree("demo", id.as_str()).is_dir());
    fx.actor_gone(&id).await;
    fx.assert_second_run_is_a_noop().await;
}

#[tokio::test]
async fn leftover_runtimes_of_terminated_sessions_and_orphans_are_destroyed() {
    let mut fx = Fx::new(FAST).await;
    fx.project("demo", json!({})).await;
    let killed = fx.spawn("echo k-up; sleep 120").await;
    let live = fx.spawn("echo l-up; sleep 120").await;
    fx.stop().await;
    // A kill whose runtime teardown never happened: terminated, handle still set.
    fx.with_writer(|w| {
        w.mark_terminated(&killed, TerminatedReason::Killed, None)
            .expect("mark")
    });
    // A tmux session tagged with this AO_HOME that no row knows, and the user's own one.
    let tmux = fx.tmux_adapter();
    tmux.create(&CreateSpec {
        name: "demo-77".into(),
        session_id: sid("demo-77"),
        cwd: fx.data.clone(),
        launch: LaunchSpec {
            argv: vec!["/bin/sh".into(), "-c".into(), "sleep 120".into()],
            env: BTreeMap::new(),
        },
    })
    .await
    .expect("tagged orphan");
    assert!(
        fx.tmux(&["new-session", "-d", "-s", "mine", "sleep 120"])
            .await
            .success()
    );
    fx.boot().await;
    let report = fx.reconcile().await;
    assert_eq!(report.reaped, vec![killed.clone()], "{report:?}");
    assert_eq!(report.orphans_destroyed, vec!["demo-77".to_string()]);
    assert_eq!(report.adopted, vec![live.clone()]);
    assert_eq!(fx.row(&killed).await.expect("row").runtime_handle_id, "");
    assert!(!fx.has_session(killed.as_str()).await);
    assert!(!fx.has_session("demo-77").await);
    assert!(
        fx.has_session("mine").await,
        "the user's own session is kept"
    );
    assert!(fx.has_session(live.as_str()).await);
    // A killed session is never relaunched.
    assert!(fx.row(&killed).await.expect("row").is_terminated);
    fx.assert_second_run_is_a_noop().await;
}

#[tokio::test]
async fn worktrees_no_row_records_are_removed_unless_dirty() {
    let mut fx = Fx::new(FAST).await;
    fx.project("demo", json!({})).await;
    let clean = fx.spawn("echo c-up; sleep 120").await;
    let dirty = fx.spawn("echo d-up; sleep 120").await;
    let recorded = fx.spawn("echo r-up; sleep 120").await;
    let (clean_wt, dirty_wt) = (
        fx.worktree("demo", clean.as_str()),
        fx.worktree("demo", dirty.as_str()),
    );
    std::fs::write(dirty_wt.join("work.txt"), "precious\n").expect("write");
    fx.stop().await;
    // The daemon died inside a restore of two killed-and-cleaned sessions, after the workspace
    // step re-added their worktrees and the runtime create, before anything was recorded.
    fx.with_writer(|w| {
        for id in [&clean, &dirty] {
            w.mark_terminated(id, TerminatedReason::Killed, None)
                .expect("mark");
            w.clear_runtime(id).expect("clear runtime");
            w.clear_workspace(id).expect("clear workspace");
        }
    });
    fx.boot().await;
    let report = fx.reconcile().await;
    assert_eq!(
        report.orphan_worktrees,
        vec![clean_wt.to_string_lossy().into_owned()],
        "{report:?}"
    );
    assert!(
        !clean_wt.exists(),
        "the unrecorded clean worktree is removed"
    );
    assert_eq!(
        std::fs::read_to_string(dirty_wt.join("work.txt")).expect("kept"),
        "precious\n",
        "an unrecorded dirty worktree is never removed"
    );
    assert!(fx.worktree("demo", recorded.as_str()).is_dir());
    assert!(!fx.has_session(clean.as_str()).await);
    fx.assert_second_run_is_a_noop().await;
    assert!(dirty_wt.join("work.txt").exists());
}

#[tokio::test]
async fn a_signal_spooled_after_the_boot_replay_is_applied_by_the_reaper() {
    let mut fx = Fx::new(FAST).await;
    fx.project("demo", json!({})).await;
    let a = fx.spawn("echo a-up; sleep 120").await;
    fx.stop().await;
    fx.boot().await;
    let report = fx.reconcile().await;
    assert_eq!(report.spool.lines, 0, "{report:?}");
    // A hook met the daemon still `starting` after the boot replay had run (or a daemon that
    // replaced the one whose run-file it read) and spooled its signal.
    let t0 = time::parse(&fx.row(&a).await.expect("row").activity_last_at).expect("timestamp");
    let at = time::format(t0 + chrono::Duration::seconds(1));
    let mut file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(fx.spool())
        .expect("spool");
    file.write_all(spool_line(a.as_str(), Some("waiting_input"), None, &at).as_bytes())
        .expect("append");
    drop(file);
    let row = eventually("the Reaper to replay the spool", || async {
        fx.row(&a)
            .await
            .filter(|r| r.activity_state == ActivityState::WaitingInput)
    })
    .await;
    assert_eq!(row.activity_last_at, at);
    eventually("the spool to be truncated", || async {
        (std::fs::metadata(fx.spool()).map_or(0, |m| m.len()) == 0).then_some(())
    })
    .await;
}

/// tmux, except that `create` never returns once the session exists: the daemon died right
/// after starting the runtime (the tmux client it started still completes).
struct DiesAfterCreate(Tmux);

impl Runtime for DiesAfterCreate {
    fn kind(&self) -> RuntimeKind {
        Runtime::kind(&self.0)
    }
    fn prepare(&self) -> BoxFuture<'_, Result<(), RuntimeError>> {
        Runtime::prepare(&self.0)
    }
    fn create<'a>(&'a self, spec: &'a CreateSpec) -> BoxFuture<'a, Result<(), RuntimeError>> {
        Box::pin(async move {
            Runtime::create(&self.0, spec).await?;
            std::future::pending().await
        })
    }
    fn probe_all<'a>(
        &'a self,
        targets: &'a [ProbeTarget],
    ) -> BoxFuture<'a, std::collections::HashMap<String, Probe>> {
        Runtime::probe_all(&self.0, targets)
    }
    fn probe_one<'a>(&'a self, target: &'a ProbeTarget) -> BoxFuture<'a, Probe> {
        Runtime::probe_one(&self.0, target)
    }
    fn destroy<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<(), RuntimeError>> {
        Runtime::destroy(&self.0, name)
    }
    fn capture<'a>(
        &'a self,
        name: &'a str,
        lines: usize,
    ) -> BoxFuture<'a, Result<String, RuntimeError>> {
        Runtime::capture(&self.0, name, lines)
    }
    fn send<'a>(&'a self, name: &'a str, text: &'a str) -> BoxFuture<'a, Result<(), RuntimeError>> {
        Runtime::send(&self.0, name, text)
    }
    fn send_enter<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<(), RuntimeError>> {
        Runtime::send_enter(&self.0, name)
    }
    fn attach(&self, name: &str) -> AttachSpec {
        Runtime::attach(&self.0, name)
    }
    fn list_orphans(&self) -> BoxFuture<'_, Result<Vec<TaggedSession>, RuntimeError>> {
        Runtime::list_orphans(&self.0)
    }
}

#[tokio::test]
async fn a_relaunch_cut_short_after_its_runtime_started_is_already_recorded() {
    let mut fx = Fx::new(SLOW).await;
    fx.project("demo", json!({})).await;
    let id = fx.spawn("echo gen-$$-up; sleep 120").await;
    fx.tree()
        .sessions
        .activity(id.clone(), Some(ActivityState::WaitingInput), None, None)
        .await
        .expect("activity");
    fx.stop().await;
    fx.kill_server().await;

    // Boot reconcile relaunches the session in place, and the daemon dies as soon as the
    // new agent's runtime exists.
    fx.boot_with(Arc::new(DiesAfterCreate(fx.tmux_adapter())))
        .await;
    let tree = fx.tree.take().expect("tree");
    {
        let reconcile = tree.reconcile();
        tokio::pin!(reconcile);
        tokio::select! {
            _ = &mut reconcile => panic!("a relaunch whose runtime never returns cannot finish"),
            () = fx.wait_for_pane(id.as_str(), "-up") => {}
        }
    }
    tree.shutdown(Duration::from_secs(5)).await;
    fx.reader = None;

    // The next boot adopts the new agent: the row must already say it was relaunched, with
    // the fresh agent's facts, not the previous agent's `waiting_input`.
    fx.boot().await;
    let report = fx.reconcile().await;
    assert_eq!(report.adopted, vec![id.clone()], "{report:?}");
    let row = fx.row(&id).await.expect("row");
    assert!(!row.is_terminated);
    assert_eq!(row.restarts, 1);
    assert_eq!(row.activity_state, ActivityState::Idle);
    assert_eq!(row.first_signal_at, None);
    fx.assert_second_run_is_a_noop().await;
}

#[tokio::test]
async fn a_restore_cut_short_after_its_runtime_started_leaves_an_orphan_not_a_hidden_agent() {
    let mut fx = Fx::new(SLOW).await;
    fx.project("demo", json!({})).await;
    let id = fx.spawn("echo gen-$$-up; sleep 120").await;
    // The agent exits; its dead pane is kept (the row still holds the runtime).
    let pid: i32 = fx
        .pane(id.as_str(), "#{pane_pid}")
        .await
        .parse()
        .expect("pane pid");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .expect("kill the agent");
    eventually("the pane to die", || async {
        (fx.pane(id.as_str(), "#{pane_dead}").await == "1").then_some(())
    })
    .await;
    fx.tree()
        .sessions
        .activity(id.clone(), Some(ActivityState::Exited), None, None)
        .await
        .expect("activity");
    fx.actor_gone(&id).await;
    fx.stop().await;

    // A restore starts the new agent, and the daemon dies before `mark_spawned`.
    fx.boot_with(Arc::new(DiesAfterCreate(fx.tmux_adapter())))
        .await;
    let tree = fx.tree.take().expect("tree");
    {
        let restore = tree.sessions.restore(id.clone());
        tokio::pin!(restore);
        tokio::select! {
            _ = &mut restore => panic!("a restore whose runtime never returns cannot finish"),
            () = eventually("the new agent", || async {
                (fx.pane(id.as_str(), "#{pane_dead}").await == "0").then_some(())
            }) => {}
        }
    }
    tree.shutdown(Duration::from_secs(5)).await;
    fx.reader = None;

    fx.boot().await;
    let report = fx.reconcile().await;
    assert_eq!(report.orphans_destroyed, vec![id.to_string()], "{report:?}");
    assert!(
        !fx.has_session(id.as_str()).await,
        "no agent runs under a terminated row"
    );
    let row = fx.row(&id).await.expect("row");
    assert!(row.is_terminated);
    assert_eq!(row.terminated_reason, Some(TerminatedReason::AgentExited));
    assert_eq!(row.runtime_handle_id, "");
    fx.assert_second_run_is_a_noop().await;
}
