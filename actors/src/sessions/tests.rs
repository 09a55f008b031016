//! Session tests against the real thing: SQLite (`ao_store::open` on a tempdir), git
//! repositories and worktrees, and tmux on a private server per test (unique socket, killed
//! when the fixture is dropped). Agents are tiny shell scripts: harness `command` with a shell
//! command line, or a fake `claude` script on the session `PATH` for the hook-capable paths.
//! Every wait is a poll with a deadline.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use ao_adapters::{Tmux, git, process};
use ao_protocol::{
    ActivityState, Delivery, ErrorCode, Harness, RuntimeKind, SessionId, SessionKind,
    TerminatedReason,
};
use ao_store::{ReadPool, SessionFilter, SessionRow};
use serde_json::{Value, json};
use tempfile::TempDir;

use super::{MAX_OUTBOX, MAX_QUEUED_OPS, REASON_DIRTY};
use crate::test_support::{TestTmux, cmd_spawn, code_of, eventually, pid, sid, test_config};
use crate::{ActorTree, ActorsConfig, AddProject, CommandError, spawn_tree};

struct Fx {
    /// First, so that the tmux server dies before the directories go.
    server: TestTmux,
    tree: ActorTree,
    reader: ReadPool,
    data: PathBuf,
    repos: TempDir,
    _dir: TempDir,
}

async fn start() -> Fx {
    start_with(|_| {}).await
}

async fn start_with(tweak: impl FnOnce(&mut ActorsConfig)) -> Fx {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let home = dir.path().join("home");
    let user_home = dir.path().join("user");
    std::fs::create_dir_all(&user_home).expect("mkdir");
    let repos = tempfile::tempdir().expect("tempdir");
    let opened = ao_store::open(&data).expect("store opens");
    let server = TestTmux::new("actors", &home);
    let tmux = Tmux::new(&server.socket, &home, &data);
    tmux.write_conf().expect("tmux.conf");
    let mut cfg = test_config(
        &data,
        &home,
        &user_home,
        &server,
        Arc::new(tmux),
        Duration::from_millis(100),
    );
    tweak(&mut cfg);
    let tree = spawn_tree(cfg, opened.reader.clone(), opened.writer)
        .await
        .expect("tree starts");
    Fx {
        server,
        tree,
        reader: opened.reader,
        data,
        repos,
        _dir: dir,
    }
}

async fn run_git(dir: &Path, args: &[&str]) -> String {
    process::run(&git::git_cmd().arg("-C").arg(dir).args(args))
        .await
        .unwrap_or_else(|e| panic!("git {args:?}: {e}"))
        .stdout
}

impl Fx {
    /// A fresh repository `<repos>/<name>` on `main` with one commit, registered as project
    /// `<name>` with `config`.
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
        self.tree
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

    async fn row(&self, id: &SessionId) -> Option<SessionRow> {
        let reader = self.reader.clone();
        let id = id.clone();
        tokio::task::spawn_blocking(move || reader.get_session(&id))
            .await
            .expect("join")
            .expect("read")
    }

    async fn rows(&self, project: &str) -> Vec<SessionRow> {
        let reader = self.reader.clone();
        let filter = SessionFilter {
            project: Some(pid(project)),
            ..SessionFilter::default()
        };
        tokio::task::spawn_blocking(move || reader.list_sessions(&filter))
            .await
            .expect("join")
            .expect("read")
    }

    async fn tmux(&self, args: &[&str]) -> process::Output {
        self.server.run(args).await
    }

    async fn has_session(&self, name: &str) -> bool {
        self.tmux(&["has-session", "-t", &format!("={name}")])
            .await
            .success()
    }

    async fn capture(&self, name: &str) -> String {
        self.tmux(&["capture-pane", "-p", "-J", "-t", &format!("={name}:")])
            .await
            .stdout
    }

    /// The whole pane, scrollback included.
    async fn history(&self, name: &str) -> String {
        self.tmux(&[
            "capture-pane",
            "-p",
            "-J",
            "-S",
            "-",
            "-t",
            &format!("={name}:"),
        ])
        .await
        .stdout
    }

    async fn wait_for_pane(&self, name: &str, needle: &str) {
        eventually(&format!("{needle:?} in pane {name}"), || async {
            self.capture(name).await.contains(needle).then_some(())
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

    fn session_dir(&self, id: &str) -> PathBuf {
        self.data.join("sessions").join(id)
    }

    async fn wait_row(
        &self,
        id: &SessionId,
        what: &str,
        pred: impl Fn(&SessionRow) -> bool,
    ) -> SessionRow {
        eventually(what, || async { self.row(id).await.filter(|r| pred(r)) }).await
    }
}

#[tokio::test]
async fn spawn_creates_the_worktree_the_tmux_session_and_the_row() {
    let fx = start().await;
    fx.project("demo", json!({ "env": { "GREETING": "from-config" } }))
        .await;
    let mut cmd = cmd_spawn(
        "demo",
        "echo \"id=$AO_SESSION_ID kind=$AO_SESSION_KIND prompt=$AO_PROMPT g=$GREETING\"; \
         echo \"sys=$AO_SYSTEM_PROMPT\" | head -c 40; echo; sleep 30",
    );
    cmd.prompt = Some("do the thing".into());
    cmd.display_name = Some("first".into());
    let id = fx.tree.sessions.spawn(cmd).await.expect("spawn");
    assert_eq!(id, sid("demo-1"));

    let row = fx.row(&id).await.expect("row");
    assert!(!row.is_terminated);
    assert_eq!(row.runtime_handle_id, "demo-1");
    assert_eq!(row.branch, "ao/demo-1/root");
    assert_eq!(row.display_name, "first");
    assert_eq!(row.prompt, "do the thing");
    assert_eq!(row.activity_state, ActivityState::Idle);
    let wt = fx.worktree("demo", "demo-1");
    assert_eq!(Path::new(&row.workspace_path), wt);
    assert_eq!(
        run_git(&wt, &["rev-parse", "--abbrev-ref", "HEAD"])
            .await
            .trim(),
        "ao/demo-1/root"
    );
    assert!(fx.has_session("demo-1").await);
    fx.wait_for_pane(
        "demo-1",
        "id=demo-1 kind=worker prompt=do the thing g=from-config",
    )
    .await;
    fx.wait_for_pane("demo-1", "sys=You are running as a supervised AO")
        .await;
    // The SessionActor is registered.
    assert!(fx.tree.registry.sessions.contains_key(&id));
}

#[tokio::test]
async fn an_agent_that_exits_at_once_leaves_nothing_behind() {
    let fx = start().await;
    fx.project("demo", json!({})).await;
    let r = fx
        .tree
        .sessions
        .spawn(cmd_spawn("demo", "echo boom-out; exit 7"))
        .await;
    let (code, details) = code_of(r);
    assert_eq!(code, ErrorCode::AgentExitedEarly);
    let details = details.expect("details");
    assert_eq!(details["exitCode"], json!(7));
    assert!(
        details["outputTail"]
            .as_str()
            .is_some_and(|t| t.contains("boom-out")),
        "{details}"
    );
    let id = sid("demo-1");
    let row = fx.row(&id).await.expect("the row stays, terminated");
    assert!(row.is_terminated);
    assert_eq!(row.terminated_reason, Some(TerminatedReason::SpawnFailed));
    assert_eq!(row.workspace_path, "");
    assert_eq!(row.runtime_handle_id, "");
    assert!(!fx.worktree("demo", "demo-1").exists());
    assert!(!fx.session_dir("demo-1").exists());
    assert!(!fx.has_session("demo-1").await);
    eventually("the actor to stop", || async {
        (!fx.tree.registry.sessions.contains_key(&id)).then_some(())
    })
    .await;
}

#[tokio::test]
async fn workspace_failures_give_their_codes_and_delete_the_seed() {
    let fx = start().await;
    fx.project("demo", json!({})).await;
    let mut bad = cmd_spawn("demo", "sleep 30");
    bad.branch = Some("bad..name".into());
    assert_eq!(
        code_of(fx.tree.sessions.spawn(bad).await).0,
        ErrorCode::InvalidBranch
    );
    let mut busy = cmd_spawn("demo", "sleep 30");
    busy.branch = Some("main".into());
    let (code, details) = code_of(fx.tree.sessions.spawn(busy).await);
    assert_eq!(code, ErrorCode::BranchCheckedOutElsewhere);
    assert!(details.expect("details")["worktreePath"].is_string());
    assert!(fx.rows("demo").await.is_empty(), "no row is left behind");
    let root = fx.data.join("worktrees").join("demo");
    assert!(
        !root.exists() || std::fs::read_dir(&root).expect("dir").next().is_none(),
        "no worktree is left behind"
    );
    let sessions = fx.tmux(&["list-sessions"]).await;
    assert!(!sessions.success() || sessions.stdout.trim().is_empty());
    // The freed number is reused.
    let id = fx
        .tree
        .sessions
        .spawn(cmd_spawn("demo", "sleep 30"))
        .await
        .expect("spawn");
    assert_eq!(id, sid("demo-1"));
}

#[tokio::test]
async fn validation_codes_come_before_any_write() {
    let fx = start().await;
    fx.project(
        "demo",
        json!({ "env": { "PATH": "/nonexistent:/usr/bin:/bin" }, "orchestrator": { "agent": "command", "command": "sleep 30" } }),
    )
    .await;
    let mut c = cmd_spawn("demo", "sleep 30");
    c.harness = None;
    assert_eq!(
        code_of(fx.tree.sessions.spawn(c).await).0,
        ErrorCode::AgentRequired
    );
    // Every harness has an adapter: grok gets as far as the binary lookup.
    let mut c = cmd_spawn("demo", "sleep 30");
    c.harness = Some(Harness::Grok);
    let e = fx.tree.sessions.spawn(c).await.expect_err("refused");
    assert_eq!(e.code(), ErrorCode::AgentBinaryNotFound, "{e}");
    let mut c = cmd_spawn("demo", "");
    c.command = None;
    assert_eq!(
        code_of(fx.tree.sessions.spawn(c).await).0,
        ErrorCode::CommandRequired
    );
    let mut c = cmd_spawn("demo", "sleep 30");
    c.harness = Some(Harness::ClaudeCode);
    assert_eq!(
        code_of(fx.tree.sessions.spawn(c).await).0,
        ErrorCode::AgentBinaryNotFound
    );
    let mut c = cmd_spawn("nope", "sleep 30");
    c.project_id = pid("nope");
    assert_eq!(
        code_of(fx.tree.sessions.spawn(c).await).0,
        ErrorCode::ProjectNotFound
    );
    assert!(fx.rows("demo").await.is_empty());

    // Orchestrators: one live per project; the role config supplies harness and command.
    let orch = fx
        .tree
        .sessions
        .spawn_orchestrator(pid("demo"), false, None, None)
        .await
        .expect("orchestrator");
    let row = fx.row(&orch).await.expect("row");
    assert_eq!(row.kind, SessionKind::Orchestrator);
    assert_eq!(row.branch, "ao/demo-orchestrator");
    assert!(
        row.workspace_path
            .ends_with("demo/orchestrator/demo-orchestrator")
    );
    let (code, details) = code_of(
        fx.tree
            .sessions
            .spawn_orchestrator(pid("demo"), false, None, None)
            .await,
    );
    assert_eq!(code, ErrorCode::OrchestratorAlreadyRunning);
    assert_eq!(details.expect("details")["sessionId"], json!(orch.as_str()));
    // `clean` kills the live one first, and the new one takes over its branch.
    let second = fx
        .tree
        .sessions
        .spawn_orchestrator(pid("demo"), true, None, None)
        .await
        .expect("clean start");
    assert_ne!(second, orch);
    let old = fx.row(&orch).await.expect("row");
    assert!(old.is_terminated);
    assert_eq!(old.terminated_reason, Some(TerminatedReason::Killed));
    let new = fx.row(&second).await.expect("row");
    assert_eq!(new.branch, "ao/demo-orchestrator");
    assert!(fx.has_session(second.as_str()).await);
    // Restoring the old one now conflicts with the live one.
    assert_eq!(
        code_of(fx.tree.sessions.restore(orch).await).0,
        ErrorCode::OrchestratorAlreadyRunning
    );
}

#[tokio::test]
async fn kill_keeps_a_dirty_worktree_and_cleanup_reports_it() {
    let fx = start().await;
    fx.project("demo", json!({})).await;
    let dirty = fx
        .tree
        .sessions
        .spawn(cmd_spawn("demo", "sleep 60"))
        .await
        .expect("spawn");
    let clean = fx
        .tree
        .sessions
        .spawn(cmd_spawn("demo", "sleep 60"))
        .await
        .expect("spawn");
    let dirty_wt = fx.worktree("demo", dirty.as_str());
    std::fs::write(dirty_wt.join("notes.txt"), "uncommitted").expect("write");

    assert!(!fx.tree.sessions.kill(dirty.clone()).await.expect("kill"));
    assert!(
        dirty_wt.join("notes.txt").exists(),
        "the dirty worktree is kept"
    );
    let row = fx.row(&dirty).await.expect("row");
    assert!(row.is_terminated);
    assert_eq!(row.terminated_reason, Some(TerminatedReason::Killed));
    assert_eq!(row.runtime_handle_id, "");
    assert!(!row.workspace_path.is_empty());
    assert!(!fx.has_session(dirty.as_str()).await);

    assert!(fx.tree.sessions.kill(clean.clone()).await.expect("kill"));
    assert!(!fx.worktree("demo", clean.as_str()).exists());
    assert!(!fx.session_dir(clean.as_str()).exists());
    // Idempotent.
    assert!(
        fx.tree
            .sessions
            .kill(clean.clone())
            .await
            .expect("kill again")
    );

    let out = fx.tree.sessions.cleanup(None).await.expect("cleanup");
    assert!(out.cleaned.is_empty(), "{out:?}");
    assert_eq!(out.skipped.len(), 1);
    assert_eq!(out.skipped[0].session_id, dirty);
    assert_eq!(out.skipped[0].reason, REASON_DIRTY);

    std::fs::remove_file(dirty_wt.join("notes.txt")).expect("rm");
    let out = fx
        .tree
        .sessions
        .cleanup(Some(pid("demo")))
        .await
        .expect("cleanup");
    assert_eq!(out.cleaned, vec![dirty.clone()]);
    assert!(out.skipped.is_empty());
    assert!(!dirty_wt.exists());
    assert!(!fx.session_dir(dirty.as_str()).exists());
    assert_eq!(fx.row(&dirty).await.expect("row").workspace_path, "");
    assert_eq!(
        code_of(fx.tree.sessions.cleanup(Some(pid("nope"))).await).0,
        ErrorCode::ProjectNotFound
    );
    // The branch survives a kill.
    let repo = fx.repos.path().join("demo");
    assert!(
        run_git(&repo, &["branch", "--list", "ao/demo-1/root"])
            .await
            .contains("ao/demo-1/root")
    );
}

#[tokio::test]
async fn restore_refuses_a_live_session_and_relaunches_a_killed_one() {
    let fx = start().await;
    fx.project("demo", json!({})).await;
    let id = fx
        .tree
        .sessions
        .spawn(cmd_spawn("demo", "echo run-$AO_SESSION_ID; sleep 60"))
        .await
        .expect("spawn");
    assert_eq!(
        code_of(fx.tree.sessions.restore(id.clone()).await).0,
        ErrorCode::SessionNotRestorable
    );
    assert!(fx.tree.sessions.kill(id.clone()).await.expect("kill"));
    assert!(!fx.worktree("demo", id.as_str()).exists());
    fx.tree.sessions.restore(id.clone()).await.expect("restore");
    let row = fx.row(&id).await.expect("row");
    assert!(!row.is_terminated);
    assert_eq!(row.terminated_reason, None);
    assert_eq!(row.runtime_handle_id, id.as_str());
    assert!(fx.worktree("demo", id.as_str()).is_dir());
    assert!(fx.has_session(id.as_str()).await);
    fx.wait_for_pane(id.as_str(), "run-demo-1").await;
    assert!(fx.tree.registry.sessions.contains_key(&id));
    assert_eq!(
        code_of(fx.tree.sessions.restore(sid("demo-9")).await).0,
        ErrorCode::SessionNotFound
    );
}

#[tokio::test]
async fn restore_refuses_an_occupied_path() {
    let fx = start().await;
    fx.project("demo", json!({})).await;
    let id = fx
        .tree
        .sessions
        .spawn(cmd_spawn("demo", "sleep 60"))
        .await
        .expect("spawn");
    assert!(fx.tree.sessions.kill(id.clone()).await.expect("kill"));
    let wt = fx.worktree("demo", id.as_str());
    std::fs::create_dir_all(&wt).expect("mkdir");
    std::fs::write(wt.join("squatter"), "x").expect("write");
    assert_eq!(
        code_of(fx.tree.sessions.restore(id.clone()).await).0,
        ErrorCode::WorkspacePathOccupied
    );
    let row = fx.row(&id).await.expect("row");
    assert!(
        row.is_terminated,
        "a failed restore leaves the row terminated"
    );
}

#[tokio::test]
async fn twenty_concurrent_spawns_all_come_up_with_distinct_ids() {
    let fx = start().await;
    fx.project("demo", json!({})).await;
    let handles: Vec<_> = (0..20)
        .map(|_| {
            let sessions = fx.tree.sessions.clone();
            tokio::spawn(async move { sessions.spawn(cmd_spawn("demo", "sleep 120")).await })
        })
        .collect();
    let mut ids = Vec::new();
    for h in handles {
        ids.push(h.await.expect("join").expect("spawn"));
    }
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 20);
    for id in &ids {
        let row = fx.row(id).await.expect("row");
        assert!(!row.is_terminated, "{id}");
        assert_eq!(row.runtime_handle_id, id.as_str());
        assert!(fx.has_session(id.as_str()).await, "{id}");
    }
}

#[tokio::test]
async fn the_reaper_records_the_agents_exit_code() {
    let fx = start().await;
    fx.project("demo", json!({})).await;
    let id = fx
        .tree
        .sessions
        .spawn(cmd_spawn("demo", "sleep 1.5; exit 3"))
        .await
        .expect("spawn");
    let row = fx
        .wait_row(&id, "the exit to be recorded", |r| r.is_terminated)
        .await;
    assert_eq!(row.terminated_reason, Some(TerminatedReason::AgentExited));
    assert_eq!(row.exit_code, Some(3));
    // The dead pane and the worktree are kept for inspection.
    assert_eq!(row.runtime_handle_id, id.as_str());
    assert!(fx.has_session(id.as_str()).await);
    assert!(fx.worktree("demo", id.as_str()).is_dir());
    eventually("the actor to stop", || async {
        (!fx.tree.registry.sessions.contains_key(&id)).then_some(())
    })
    .await;
    // Cleanup then removes both.
    let out = fx.tree.sessions.cleanup(None).await.expect("cleanup");
    assert_eq!(out.cleaned, vec![id.clone()]);
    assert!(!fx.has_session(id.as_str()).await);
}

#[tokio::test]
async fn a_killed_tmux_server_is_relaunched_in_place() {
    let fx = start().await;
    fx.project("demo", json!({})).await;
    let id = fx
        .tree
        .sessions
        .spawn(cmd_spawn("demo", "echo gen-$RANDOM-up; sleep 120"))
        .await
        .expect("spawn");
    assert!(fx.has_session(id.as_str()).await);
    assert!(fx.tmux(&["kill-server"]).await.success());
    let row = fx.wait_row(&id, "the relaunch", |r| r.restarts == 1).await;
    assert!(!row.is_terminated);
    assert_eq!(row.runtime_handle_id, id.as_str());
    assert!(row.last_restart_at.is_some());
    eventually("the relaunched runtime", || async {
        fx.has_session(id.as_str()).await.then_some(())
    })
    .await;
    fx.wait_for_pane(id.as_str(), "-up").await;
    // It stays at one relaunch while the runtime is alive.
    tokio::time::sleep(Duration::from_millis(600)).await;
    let row = fx.row(&id).await.expect("row");
    assert_eq!(row.restarts, 1);
    assert!(!row.is_terminated);
}

#[tokio::test]
async fn two_missing_probes_on_consecutive_ticks_confirm_despite_tick_jitter() {
    // The Reaper is kept out of the way; the test plays its observations with chosen times.
    let fx = start_with(|cfg| {
        cfg.sessions.reaper_tick = Duration::from_secs(3600);
        cfg.sessions.missing_confirm = Duration::from_secs(5);
    })
    .await;
    fx.project("demo", json!({})).await;
    let id = fx
        .tree
        .sessions
        .spawn(cmd_spawn("demo", "sleep 120"))
        .await
        .expect("spawn");
    assert!(fx.tmux(&["kill-server"]).await.success());
    let actor = fx
        .tree
        .registry
        .sessions
        .get(&id)
        .map(|a| a.clone())
        .expect("the session's actor");
    // Two 5 s ticks whose probes started 4.98 s apart (the first one ran 20 ms late).
    let first = std::time::Instant::now();
    for at in [first, first + Duration::from_millis(4980)] {
        actor
            .cast(super::actor::SessionMsg::Observe {
                probe: ao_adapters::Probe::Missing,
                at,
            })
            .expect("cast");
    }
    fx.wait_row(&id, "the relaunch in place", |r| r.restarts == 1)
        .await;
    eventually("the relaunched runtime", || async {
        fx.has_session(id.as_str()).await.then_some(())
    })
    .await;
}

#[tokio::test]
async fn past_the_relaunch_budget_the_session_is_runtime_missing() {
    let fx = start_with(|cfg| cfg.sessions.relaunch_budget = 1).await;
    fx.project("demo", json!({})).await;
    let id = fx
        .tree
        .sessions
        .spawn(cmd_spawn("demo", "sleep 120"))
        .await
        .expect("spawn");
    assert!(fx.tmux(&["kill-server"]).await.success());
    fx.wait_row(&id, "the first relaunch", |r| r.restarts == 1)
        .await;
    eventually("the relaunched runtime", || async {
        fx.has_session(id.as_str()).await.then_some(())
    })
    .await;
    assert!(fx.tmux(&["kill-server"]).await.success());
    let row = fx
        .wait_row(&id, "the termination", |r| r.is_terminated)
        .await;
    assert_eq!(
        row.terminated_reason,
        Some(TerminatedReason::RuntimeMissing)
    );
    assert_eq!(row.restarts, 1);
}

/// A fake `claude` on the session PATH: echoes every line it reads as `got:<line>`.
fn fake_claude(dir: &Path) -> PathBuf {
    let bin = dir.join("fakebin");
    std::fs::create_dir_all(&bin).expect("mkdir");
    let script = bin.join("claude");
    std::fs::write(
        &script,
        "#!/bin/sh\necho fake-claude-ready\nwhile IFS= read -r line; do echo \"got:$line\"; done\n",
    )
    .expect("write");
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    bin
}

async fn claude_project(fx: &Fx) -> SessionId {
    let bin = fake_claude(&fx.data);
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_else(|_| "/usr/bin:/bin".into())
    );
    fx.project(
        "demo",
        json!({ "env": { "PATH": path }, "worker": { "agent": "claude-code" } }),
    )
    .await;
    let mut cmd = cmd_spawn("demo", "");
    cmd.harness = None;
    cmd.command = None;
    let id = fx.tree.sessions.spawn(cmd).await.expect("spawn");
    fx.wait_for_pane(id.as_str(), "fake-claude-ready").await;
    id
}

#[tokio::test]
async fn activity_signals_and_idle_edge_delivery() {
    let fx = start().await;
    let id = claude_project(&fx).await;
    // Hooks went outside the worktree, which stays clean.
    assert!(
        fx.session_dir(id.as_str())
            .join("claude-settings.json")
            .is_file()
    );
    let wt = fx.worktree("demo", id.as_str());
    assert_eq!(run_git(&wt, &["status", "--porcelain"]).await.trim(), "");

    let s = &fx.tree.sessions;
    let r = s
        .activity(
            id.clone(),
            None,
            Some("conv-1".into()),
            Some("session-start".into()),
        )
        .await
        .expect("activity");
    assert!(r.changed);
    assert_eq!(r.state, ActivityState::Idle);
    let row = fx.row(&id).await.expect("row");
    assert_eq!(row.agent_session_id, "conv-1");
    assert!(row.first_signal_at.is_some());

    let r = s
        .activity(id.clone(), Some(ActivityState::Active), None, None)
        .await
        .expect("activity");
    assert!(r.changed);
    assert_eq!(r.state, ActivityState::Active);
    // Queued while active: not delivered.
    assert_eq!(
        s.send(id.clone(), "first queued".into(), true)
            .await
            .expect("send"),
        Delivery::Queued
    );
    assert_eq!(
        s.send(id.clone(), "second queued".into(), true)
            .await
            .expect("send"),
        Delivery::Queued
    );
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(!fx.capture(id.as_str()).await.contains("got:first queued"));
    // Same state again: nothing written.
    let r = s
        .activity(id.clone(), Some(ActivityState::Active), None, None)
        .await
        .expect("activity");
    assert!(!r.changed);
    // The idle edge delivers exactly one item.
    let r = s
        .activity(
            id.clone(),
            Some(ActivityState::Idle),
            None,
            Some("stop".into()),
        )
        .await
        .expect("activity");
    assert!(r.changed);
    fx.wait_for_pane(id.as_str(), "got:first queued").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!fx.capture(id.as_str()).await.contains("got:second queued"));
    // The agent confirms (active), finishes (idle edge): the next item goes.
    s.activity(id.clone(), Some(ActivityState::Active), None, None)
        .await
        .expect("activity");
    s.activity(id.clone(), Some(ActivityState::Idle), None, None)
        .await
        .expect("activity");
    fx.wait_for_pane(id.as_str(), "got:second queued").await;

    // An immediate send goes whatever the state.
    s.activity(id.clone(), Some(ActivityState::WaitingInput), None, None)
        .await
        .expect("activity");
    assert_eq!(
        s.send(id.clone(), "right now".into(), false)
            .await
            .expect("send"),
        Delivery::Sent
    );
    fx.wait_for_pane(id.as_str(), "got:right now").await;

    // The outbox holds 32; the 33rd is SESSION_BUSY.
    for i in 0..MAX_OUTBOX {
        s.send(id.clone(), format!("q{i}"), true)
            .await
            .expect("queued");
    }
    assert_eq!(
        code_of(s.send(id.clone(), "one too many".into(), true).await).0,
        ErrorCode::SessionBusy
    );

    // `exited` terminates the session; the runtime and the worktree are kept.
    let r = s
        .activity(
            id.clone(),
            Some(ActivityState::Exited),
            None,
            Some("session-end".into()),
        )
        .await
        .expect("activity");
    assert_eq!(r.state, ActivityState::Exited);
    let row = fx.row(&id).await.expect("row");
    assert!(row.is_terminated);
    assert_eq!(row.terminated_reason, Some(TerminatedReason::AgentExited));
    assert_eq!(row.runtime_handle_id, id.as_str());
    assert!(wt.is_dir());
    eventually("the actor to stop", || async {
        (!fx.tree.registry.sessions.contains_key(&id)).then_some(())
    })
    .await;
    // A terminated session answers changed:false, and refuses messages.
    let r = s
        .activity(id.clone(), Some(ActivityState::Active), None, None)
        .await
        .expect("activity");
    assert_eq!((r.state, r.changed), (ActivityState::Exited, false));
    assert_eq!(
        code_of(s.send(id.clone(), "late".into(), false).await).0,
        ErrorCode::SessionTerminated
    );
    assert_eq!(
        code_of(
            s.activity(sid("demo-42"), Some(ActivityState::Idle), None, None)
                .await
        )
        .0,
        ErrorCode::SessionNotFound
    );
    // Restore resumes claude (its conversation id is known).
    s.restore(id.clone()).await.expect("restore");
    fx.wait_row(&id, "the restore", |r| !r.is_terminated).await;
}

#[tokio::test]
async fn an_unconfirmed_delivery_gets_one_extra_enter() {
    let fx = start().await;
    let id = claude_project(&fx).await;
    let s = &fx.tree.sessions;
    // Deliver while idle (enqueued while the state is already idle).
    s.activity(id.clone(), Some(ActivityState::Idle), None, None)
        .await
        .expect("activity");
    assert_eq!(
        s.send(id.clone(), "ping".into(), true).await.expect("send"),
        Delivery::Queued
    );
    fx.wait_for_pane(id.as_str(), "got:ping").await;
    // No `active` arrives: after the confirmation timeout one extra Enter is sent, which the
    // fake agent reads as an empty line.
    eventually("the extra Enter", || async {
        fx.capture(id.as_str())
            .await
            .lines()
            .any(|l| l.trim_end() == "got:")
            .then_some(())
    })
    .await;
}

#[tokio::test]
async fn hook_less_sessions_get_messages_at_enqueue() {
    let fx = start().await;
    fx.project("demo", json!({})).await;
    let id = fx
        .tree
        .sessions
        .spawn(cmd_spawn(
            "demo",
            "while IFS= read -r line; do echo \"got:$line\"; done",
        ))
        .await
        .expect("spawn");
    let s = &fx.tree.sessions;
    assert_eq!(
        s.send(id.clone(), "one".into(), true).await.expect("send"),
        Delivery::Queued
    );
    assert_eq!(
        s.send(id.clone(), "two".into(), true).await.expect("send"),
        Delivery::Queued
    );
    fx.wait_for_pane(id.as_str(), "got:one").await;
    // The second waits for the hook-less gap, then goes too.
    fx.wait_for_pane(id.as_str(), "got:two").await;
    assert_eq!(
        s.send(id.clone(), "three\nlines".into(), false)
            .await
            .expect("send"),
        Delivery::Sent
    );
    fx.wait_for_pane(id.as_str(), "got:lines").await;
}

#[tokio::test]
async fn concurrent_deliveries_to_one_session_never_interleave() {
    let fx = start().await;
    fx.project("demo", json!({})).await;
    let id = fx
        .tree
        .sessions
        .spawn(cmd_spawn(
            "demo",
            "while IFS= read -r line; do echo \"got:$line\"; done",
        ))
        .await
        .expect("spawn");
    // Six immediate sends in flight at once (each is paste, 200 ms settle, Enter), plus a
    // queued one that a hook-less session delivers at enqueue.
    let mut sends = tokio::task::JoinSet::new();
    for i in 0..6 {
        let s = fx.tree.sessions.clone();
        let id = id.clone();
        sends.spawn(async move { s.send(id, format!("message-{i}"), false).await });
    }
    let queued = fx
        .tree
        .sessions
        .send(id.clone(), "message-q".into(), true)
        .await
        .expect("queued");
    assert_eq!(queued, Delivery::Queued);
    while let Some(r) = sends.join_next().await {
        assert_eq!(r.expect("join").expect("send"), Delivery::Sent);
    }
    let wanted: Vec<String> = (0..6)
        .map(|i| format!("got:message-{i}"))
        .chain(["got:message-q".to_string()])
        .collect();
    // The whole history, not only the visible screen; on a timeout the failure shows it.
    let deadline = tokio::time::Instant::now() + crate::test_support::DEADLINE;
    let screen = loop {
        let screen = fx.history(id.as_str()).await;
        if wanted
            .iter()
            .all(|w| screen.lines().any(|l| l.trim_end() == w))
        {
            break screen;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not every message arrived on its own line:\n{screen}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    };
    let mangled: Vec<&str> = screen
        .lines()
        .map(str::trim_end)
        .filter(|l| l.starts_with("got:") && !wanted.iter().any(|w| w == l))
        .collect();
    assert!(
        mangled.is_empty(),
        "interleaved deliveries: {mangled:?}\n{screen}"
    );
}

#[tokio::test]
async fn rollback_rename_and_missing_sessions() {
    let fx = start().await;
    fx.project("demo", json!({})).await;
    let s = &fx.tree.sessions;
    let id = s.spawn(cmd_spawn("demo", "sleep 60")).await.expect("spawn");
    s.rename(id.clone(), "renamed".into())
        .await
        .expect("rename");
    assert_eq!(fx.row(&id).await.expect("row").display_name, "renamed");
    let out = s.rollback(id.clone()).await.expect("rollback");
    assert!(out.killed && !out.deleted);
    assert!(fx.row(&id).await.expect("row").is_terminated);
    assert!(!fx.has_session(id.as_str()).await);
    let out = s.rollback(id.clone()).await.expect("rollback again");
    assert!(!out.killed && !out.deleted);
    let out = s.rollback(sid("demo-77")).await.expect("rollback absent");
    assert!(!out.killed && !out.deleted);
    // Terminated sessions can be renamed.
    s.rename(id.clone(), "still".into()).await.expect("rename");
    assert_eq!(
        code_of(s.rename(sid("demo-77"), "x".into()).await).0,
        ErrorCode::SessionNotFound
    );
    assert_eq!(
        code_of(s.kill(sid("demo-77")).await).0,
        ErrorCode::SessionNotFound
    );
    assert_eq!(
        code_of(s.send(sid("demo-77"), "x".into(), false).await).0,
        ErrorCode::SessionNotFound
    );
}

#[tokio::test]
async fn provision_links_runs_post_create_and_rolls_back_on_failure() {
    let fx = start().await;
    let repo = fx
        .project(
            "demo",
            json!({
                "symlinks": ["shared/config.txt", "missing.txt"],
                "postCreate": ["echo made > made-by-hook.txt", "test \"$AO_SESSION_ID\" = demo-1"]
            }),
        )
        .await;
    std::fs::create_dir_all(repo.join("shared")).expect("mkdir");
    std::fs::write(repo.join("shared/config.txt"), "cfg").expect("write");
    let id = fx
        .tree
        .sessions
        .spawn(cmd_spawn("demo", "sleep 60"))
        .await
        .expect("spawn");
    let wt = fx.worktree("demo", id.as_str());
    assert_eq!(
        std::fs::read_to_string(wt.join("shared/config.txt")).expect("linked"),
        "cfg"
    );
    assert!(
        std::fs::symlink_metadata(wt.join("shared/config.txt"))
            .expect("meta")
            .file_type()
            .is_symlink()
    );
    assert!(!wt.join("missing.txt").exists());
    assert!(wt.join("made-by-hook.txt").is_file());

    // A failing postCreate.
    fx.tree
        .projects
        .set_config(
            pid("demo"),
            crate::ConfigChange::Replace(
                json!({ "postCreate": ["true", "echo bad-news >&2; exit 4"] }),
            ),
        )
        .await
        .expect("config");
    let (code, details) = code_of(fx.tree.sessions.spawn(cmd_spawn("demo", "sleep 60")).await);
    assert_eq!(code, ErrorCode::ProvisionFailed);
    let details = details.expect("details");
    assert_eq!(details["step"], json!("postCreate[1]"));
    assert_eq!(details["exitCode"], json!(4));
    assert!(
        details["outputTail"]
            .as_str()
            .is_some_and(|t| t.contains("bad-news")),
        "{details}"
    );
    let failed = sid("demo-2");
    let row = fx.row(&failed).await.expect("row");
    assert!(row.is_terminated);
    assert_eq!(row.terminated_reason, Some(TerminatedReason::SpawnFailed));
    assert!(!fx.worktree("demo", "demo-2").exists());
    assert!(!fx.has_session("demo-2").await);
}

#[tokio::test]
async fn the_seventeenth_waiting_operation_is_session_busy() {
    let fx = start().await;
    fx.project("demo", json!({ "postCreate": ["sleep 3"] }))
        .await;
    let sessions = fx.tree.sessions.clone();
    let spawn = tokio::spawn(async move { sessions.spawn(cmd_spawn("demo", "sleep 60")).await });
    let id = sid("demo-1");
    eventually("the session actor", || async {
        fx.tree.registry.sessions.contains_key(&id).then_some(())
    })
    .await;
    let kills: Vec<_> = (0..=MAX_QUEUED_OPS)
        .map(|_| {
            let sessions = fx.tree.sessions.clone();
            let id = id.clone();
            tokio::spawn(async move { sessions.kill(id).await })
        })
        .collect();
    let mut busy = 0;
    let mut done = 0;
    for k in kills {
        match k.await.expect("join") {
            Ok(_) => done += 1,
            Err(e) if e.code() == ErrorCode::SessionBusy => busy += 1,
            Err(e) => panic!("unexpected {e:?}"),
        }
    }
    assert_eq!((done, busy), (MAX_QUEUED_OPS, 1));
    assert_eq!(spawn.await.expect("join").expect("spawn"), id);
    assert!(fx.row(&id).await.expect("row").is_terminated);
}

#[tokio::test]
async fn removing_a_project_kills_cleans_up_and_archives() {
    let fx = start().await;
    fx.project("demo", json!({})).await;
    let s = &fx.tree.sessions;
    let a = s.spawn(cmd_spawn("demo", "sleep 60")).await.expect("spawn");
    let b = s.spawn(cmd_spawn("demo", "sleep 60")).await.expect("spawn");
    std::fs::write(fx.worktree("demo", a.as_str()).join("wip"), "x").expect("write");
    let out = fx
        .tree
        .projects
        .remove_project(pid("demo"))
        .await
        .expect("remove");
    assert_eq!(out.killed, vec![a.clone(), b.clone()]);
    assert_eq!(out.skipped.len(), 1);
    assert_eq!(out.skipped[0].session_id, a);
    assert_eq!(out.skipped[0].reason, REASON_DIRTY);
    for id in [&a, &b] {
        let row = fx.row(id).await.expect("row");
        assert!(row.is_terminated);
        assert_eq!(
            row.terminated_reason,
            Some(TerminatedReason::ProjectRemoved)
        );
        assert!(!fx.has_session(id.as_str()).await);
    }
    assert!(fx.worktree("demo", a.as_str()).join("wip").exists());
    assert!(!fx.worktree("demo", b.as_str()).exists());
    // A session of the archived project is still served (by a temporary actor).
    assert!(!s.kill(a.clone()).await.expect("kill"));
    assert_eq!(
        code_of(s.spawn(cmd_spawn("demo", "sleep 60")).await).0,
        ErrorCode::ProjectNotFound
    );
}

#[tokio::test]
async fn a_panicking_session_actor_is_restarted_and_keeps_serving() {
    let fx = start().await;
    fx.project("demo", json!({})).await;
    let id = fx
        .tree
        .sessions
        .spawn(cmd_spawn(
            "demo",
            "while IFS= read -r l; do echo \"got:$l\"; done",
        ))
        .await
        .expect("spawn");
    let before = fx
        .tree
        .registry
        .sessions
        .get(&id)
        .map(|a| a.get_id())
        .expect("actor");
    fx.tree
        .inject_panic(crate::FaultTarget::Session(id.clone()))
        .expect("fault");
    eventually("a new actor", || async {
        fx.tree
            .registry
            .sessions
            .get(&id)
            .map(|a| a.get_id())
            .filter(|a| *a != before)
    })
    .await;
    let delivery = eventually("a send to succeed", || async {
        fx.tree
            .sessions
            .send(id.clone(), "after restart".into(), false)
            .await
            .ok()
    })
    .await;
    assert_eq!(delivery, Delivery::Sent);
    fx.wait_for_pane(id.as_str(), "got:after restart").await;
}

#[tokio::test]
async fn an_immediate_send_waits_behind_an_in_flight_spawn() {
    let fx = start().await;
    fx.project("demo", json!({ "postCreate": ["sleep 1"] }))
        .await;
    let sessions = fx.tree.sessions.clone();
    let spawn = tokio::spawn(async move {
        sessions
            .spawn(cmd_spawn(
                "demo",
                "while IFS= read -r l; do echo \"got:$l\"; done",
            ))
            .await
    });
    let id = sid("demo-1");
    eventually("the session actor", || async {
        fx.tree.registry.sessions.contains_key(&id).then_some(())
    })
    .await;
    let delivery = fx
        .tree
        .sessions
        .send(id.clone(), "early bird".into(), false)
        .await
        .expect("the send waits for the spawn, then goes");
    assert_eq!(delivery, Delivery::Sent);
    assert_eq!(spawn.await.expect("join").expect("spawn"), id);
    fx.wait_for_pane(id.as_str(), "got:early bird").await;
}

#[tokio::test]
async fn past_its_restart_budget_a_session_actor_is_started_fresh_by_the_next_command() {
    let fx = start_with(|cfg| cfg.supervision.max_restarts = 0).await;
    fx.project("demo", json!({})).await;
    let id = fx
        .tree
        .sessions
        .spawn(cmd_spawn(
            "demo",
            "while IFS= read -r l; do echo \"got:$l\"; done",
        ))
        .await
        .expect("spawn");
    fx.tree
        .inject_panic(crate::FaultTarget::Session(id.clone()))
        .expect("fault");
    // Not restarted: the registry loses it (until a command or a Reaper tick brings it back).
    let delivery = eventually("a fresh actor to serve a send", || async {
        fx.tree
            .sessions
            .send(id.clone(), "fresh".into(), false)
            .await
            .ok()
    })
    .await;
    assert_eq!(delivery, Delivery::Sent);
    fx.wait_for_pane(id.as_str(), "got:fresh").await;
    assert!(fx.tree.registry.sessions.contains_key(&id));
    assert!(!fx.row(&id).await.expect("row").is_terminated);
}

#[tokio::test]
async fn a_message_queued_during_the_spawn_of_a_hook_less_agent_is_delivered_after_it() {
    let fx = start().await;
    fx.project("demo", json!({ "postCreate": ["sleep 1"] }))
        .await;
    let sessions = fx.tree.sessions.clone();
    let spawn = tokio::spawn(async move {
        sessions
            .spawn(cmd_spawn(
                "demo",
                "while IFS= read -r l; do echo \"got:$l\"; done",
            ))
            .await
    });
    let id = sid("demo-1");
    eventually("the session actor", || async {
        fx.tree.registry.sessions.contains_key(&id).then_some(())
    })
    .await;
    assert_eq!(
        fx.tree
            .sessions
            .send(id.clone(), "queued early".into(), true)
            .await
            .expect("queued"),
        Delivery::Queued
    );
    assert_eq!(spawn.await.expect("join").expect("spawn"), id);
    fx.wait_for_pane(id.as_str(), "got:queued early").await;
}

mod faults;
mod pr;
mod runtimes;
