//! Sessions end to end: the real daemon, real git worktrees, AO's private tmux server, and the
//! scripted fake agent standing in for `claude` / `codex` (it reads the same hook configuration
//! the real agents read and fires the same `ao hooks …` commands).

use std::path::{Path, PathBuf};
use std::time::Duration;

use ao_tests::{Api, Home, UserTerminal, git_repo, wait_for, wait_for_async};
use serde_json::{Value, json};

/// A started daemon with one project `p` whose sessions find the fake agent first on `PATH`.
struct Lab {
    home: Home,
    repo: PathBuf,
    fake_log: PathBuf,
    api: Api,
}

fn fake_agent_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_fake-agent"))
}

impl Lab {
    fn new(extra_env: &[(&str, &str)]) -> Self {
        let home = Home::new();
        let scratch = home.scratch();
        let repo = git_repo(&scratch, "p");
        let bin = scratch.join("fakebin");
        std::fs::create_dir_all(&bin).expect("mkdir fakebin");
        for name in ["claude", "codex", "opencode"] {
            std::os::unix::fs::symlink(fake_agent_bin(), bin.join(name))
                .expect("symlink the fake agent");
        }
        let fake_log = scratch.join("fake-agent.jsonl");
        home.start();
        let api = home.api();
        let mut env = serde_json::Map::new();
        env.insert(
            "PATH".into(),
            json!(format!("{}:/usr/local/bin:/usr/bin:/bin", bin.display())),
        );
        env.insert(
            "FAKE_AGENT_LOG".into(),
            json!(fake_log.display().to_string()),
        );
        env.insert("FAKE_AGENT_WORK_MS".into(), json!("300"));
        for (k, v) in extra_env {
            env.insert((*k).into(), json!(v));
        }
        let lab = Self {
            home,
            repo,
            fake_log,
            api,
        };
        let r = lab.ao(&[
            "project",
            "add",
            "--path",
            lab.repo.to_str().expect("utf-8"),
            "--id",
            "p",
        ]);
        r.ok();
        let cfg = json!({"env": env}).to_string();
        lab.ao(&["project", "set-config", "p", "--config-json", &cfg])
            .ok();
        lab
    }

    fn ao(&self, args: &[&str]) -> ao_tests::Run {
        self.home.ao(args)
    }

    fn session(&self, id: &str) -> Value {
        let r = self.ao(&["session", "get", id, "--json"]);
        r.json()["session"].clone()
    }

    /// Polls `ao session get` until `pred` holds.
    fn wait_session(
        &self,
        id: &str,
        what: &str,
        timeout: Duration,
        pred: impl Fn(&Value) -> bool,
    ) -> Value {
        wait_for(timeout, what, || {
            let s = self.session(id);
            pred(&s).then_some(s)
        })
    }

    fn fake_log(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.fake_log)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// Waits until the agent logged `message` and then fired the `Stop` that ends its turn.
    fn wait_turn_done(&self, message: &str) {
        wait_for(Duration::from_secs(30), "the turn to end", || {
            let log = self.fake_log();
            let at = log.iter().position(|e| e["message"] == message)?;
            log[at..]
                .iter()
                .any(|e| e["hook"]["event"] == "Stop")
                .then_some(())
        });
    }

    fn messages(&self) -> Vec<Value> {
        self.fake_log()
            .into_iter()
            .filter(|e| e.get("message").is_some())
            .collect()
    }

    fn starts(&self) -> Vec<Value> {
        self.fake_log()
            .into_iter()
            .filter_map(|e| e.get("started").cloned())
            .collect()
    }

    fn spawn(&self, extra: &[&str]) -> Value {
        let mut args = vec!["spawn", "--project", "p", "--json"];
        args.extend_from_slice(extra);
        self.ao(&args).json()["session"].clone()
    }
}

fn worktree_branch(path: &Path) -> String {
    let out = std::process::Command::new("git")
        .args([
            "-C",
            path.to_str().expect("utf-8"),
            "rev-parse",
            "--abbrev-ref",
            "HEAD",
        ])
        .output()
        .expect("git");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spawn_claude_in_a_worktree_and_follow_its_hooks() {
    let lab = Lab::new(&[]);
    let mut events = lab.api.events("?session=p-1", None).await;

    let spawn = lab.ao(&[
        "spawn",
        "--project",
        "p",
        "--agent",
        "claude-code",
        "--prompt",
        "write the docs",
    ]);
    let out = spawn.ok();
    assert!(out.starts_with("spawned session p-1 ("), "{out}");
    assert!(out.contains("attach with: ao attach p-1"), "{out}");

    let s = lab.session("p-1");
    assert_eq!(s["branch"], "ao/p-1/root");
    assert_eq!(s["kind"], "worker");
    assert_eq!(s["harness"], "claude-code");
    assert_eq!(s["runtime"]["kind"], "tmux");
    let wt = PathBuf::from(s["workspacePath"].as_str().expect("workspace path"));
    assert!(
        wt.starts_with(lab.home.path().join("data/worktrees/p")),
        "{}",
        wt.display()
    );
    assert_eq!(worktree_branch(&wt), "ao/p-1/root");
    // AO's private tmux server holds the session; the user's default server does not.
    assert_eq!(lab.home.tmux_sessions(), ["p-1"]);
    let default = std::process::Command::new("tmux")
        .args(["ls", "-F", "#{session_name}"])
        .env_remove("TMUX")
        .output();
    if let Ok(o) = default {
        assert!(
            !String::from_utf8_lossy(&o.stdout)
                .lines()
                .any(|l| l == "p-1")
        );
    }

    // The fake claude was launched with the settings file and its deterministic session id,
    // and nothing was written into the worktree.
    let start = &lab.starts()[0];
    let argv: Vec<String> = serde_json::from_value(start["argv"].clone()).expect("argv list");
    assert!(argv.iter().any(|a| a == "--settings"), "{argv:?}");
    assert!(argv.iter().any(|a| a == "--session-id"), "{argv:?}");
    let status = std::process::Command::new("git")
        .args(["-C", wt.to_str().expect("utf-8"), "status", "--porcelain"])
        .output()
        .expect("git");
    assert_eq!(
        String::from_utf8_lossy(&status.stdout),
        "",
        "hooks left the worktree clean"
    );

    // idle → active → idle as the hooks fire.
    let mut states = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !(states.contains(&"active".to_string())
        && states.last().is_some_and(|s| s == "idle")
        && states.len() >= 2)
    {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let Some(f) = events.next_frame(left).await else {
            panic!("no idle after active; saw {states:?}")
        };
        if f.event.as_deref() == Some("session_updated") {
            states.push(
                f.json()["payload"]["activity"]
                    .as_str()
                    .unwrap_or("")
                    .to_string(),
            );
        }
    }
    let s = lab.session("p-1");
    assert_eq!(s["status"], "idle");
    assert!(s["activity"]["firstSignalAt"].is_string());
    assert!(
        s["agentSessionId"]
            .as_str()
            .is_some_and(|id| id.len() == 36),
        "{s}"
    );
}

#[test]
fn permission_prompt_needs_input_and_a_crash_records_the_exit_code() {
    let lab = Lab::new(&[]);
    lab.spawn(&["--agent", "claude-code", "--prompt", "go"]);
    lab.wait_session("p-1", "first turn idle", Duration::from_secs(30), |s| {
        s["status"] == "idle" && s["activity"]["firstSignalAt"].is_string()
    });
    lab.ao(&["send", "--session", "p-1", "--message", "ask"])
        .ok();
    lab.wait_session("p-1", "needs_input", Duration::from_secs(20), |s| {
        s["status"] == "needs_input"
    });

    lab.ao(&["send", "--session", "p-1", "--message", "crash 3"])
        .ok();
    let s = lab.wait_session(
        "p-1",
        "terminated with exit code 3",
        Duration::from_secs(20),
        |s| s["isTerminated"] == true,
    );
    assert_eq!(s["status"], "terminated");
    assert_eq!(s["terminatedReason"], "agent_exited");
    assert_eq!(s["exitCode"], 3);
    // The dead pane is kept for inspection.
    assert_eq!(lab.home.tmux_sessions(), ["p-1"]);
}

#[test]
fn send_arrives_as_one_bracketed_paste_and_when_idle_waits_for_the_idle_edge() {
    let lab = Lab::new(&[]);
    lab.spawn(&["--agent", "claude-code"]);
    lab.wait_session("p-1", "started", Duration::from_secs(30), |s| {
        s["activity"]["firstSignalAt"].is_string()
    });

    lab.ao(&["send", "--session", "p-1", "--message", "multi\nline"])
        .ok();
    lab.wait_turn_done("multi\nline");
    let m = lab
        .messages()
        .into_iter()
        .find(|m| m["message"] == "multi\nline")
        .expect("logged");
    assert_eq!(m["bracketed"], true, "{m}");
    lab.wait_session("p-1", "idle after the turn", Duration::from_secs(20), |s| {
        s["status"] == "idle"
    });

    // Busy agent: a queued message waits for the idle edge that ends the busy turn.
    lab.ao(&["send", "--session", "p-1", "--message", "work 3000"])
        .ok();
    wait_for(Duration::from_secs(20), "the work turn to start", || {
        let log = lab.fake_log();
        let at = log.iter().position(|e| e["message"] == "work 3000")?;
        log[at..]
            .iter()
            .any(|e| e["hook"]["event"] == "UserPromptSubmit")
            .then_some(())
    });
    lab.wait_session("p-1", "working", Duration::from_secs(20), |s| {
        s["status"] == "working"
    });
    let queued = lab.ao(&[
        "send",
        "--session",
        "p-1",
        "--message",
        "after the work",
        "--when-idle",
    ]);
    assert_eq!(queued.ok().trim(), "queued message for p-1");
    wait_for(Duration::from_secs(30), "queued delivery", || {
        lab.messages()
            .into_iter()
            .find(|m| m["message"] == "after the work")
    });
    // In the agent's own log, the queued message comes after the Stop that ended the work turn.
    let log = lab.fake_log();
    let work = log
        .iter()
        .position(|e| e["message"] == "work 3000")
        .expect("work logged");
    let stop = work
        + log[work..]
            .iter()
            .position(|e| e["hook"]["event"] == "Stop")
            .expect("the work turn ended");
    let delivered = log
        .iter()
        .position(|e| e["message"] == "after the work")
        .expect("delivered");
    assert!(
        delivered > stop,
        "delivered while the agent was working: {log:#?}"
    );
}

#[test]
fn kill_keeps_a_dirty_worktree_and_cleanup_skips_it_but_removes_a_clean_one() {
    let lab = Lab::new(&[]);
    let dirty = lab.spawn(&["--agent", "claude-code"]);
    let done = lab.spawn(&["--agent", "claude-code"]);
    let dirty_wt = PathBuf::from(dirty["workspacePath"].as_str().expect("path"));
    let done_wt = PathBuf::from(done["workspacePath"].as_str().expect("path"));
    std::fs::write(dirty_wt.join("uncommitted.txt"), "work in progress\n").expect("write");

    let killed = lab.ao(&["session", "kill", "p-1"]);
    assert_eq!(
        killed.ok().trim(),
        "session p-1 killed (workspace preserved)"
    );
    assert!(dirty_wt.join("uncommitted.txt").exists());
    assert!(!lab.home.tmux_sessions().contains(&"p-1".to_string()));

    // p-2's agent exits by itself: its worktree and dead pane stay until cleanup.
    lab.wait_session("p-2", "started", Duration::from_secs(30), |s| {
        s["activity"]["firstSignalAt"].is_string()
    });
    lab.ao(&["send", "--session", "p-2", "--message", "crash 0"])
        .ok();
    lab.wait_session("p-2", "exited", Duration::from_secs(20), |s| {
        s["isTerminated"] == true
    });
    assert!(done_wt.exists());

    let cleanup = lab.ao(&["session", "cleanup", "-y"]);
    let out = cleanup.ok();
    assert!(
        out.contains("Skipped: p-1 (workspace has uncommitted changes)"),
        "{out}"
    );
    assert!(out.contains("Cleaned: p-2"), "{out}");
    assert!(
        dirty_wt.join("uncommitted.txt").exists(),
        "a dirty worktree is never removed"
    );
    assert!(!done_wt.exists(), "the clean worktree is removed");
    assert!(lab.home.tmux_sessions().is_empty());
    let p1 = lab.session("p-1");
    assert_eq!(p1["terminatedReason"], "killed");
}

#[test]
fn killing_the_tmux_server_relaunches_sessions_in_place_with_their_conversation() {
    let lab = Lab::new(&[]);
    lab.spawn(&["--agent", "claude-code", "--prompt", "hi"]);
    let s = lab.wait_session("p-1", "first signal", Duration::from_secs(30), |s| {
        s["agentSessionId"].is_string()
    });
    let conversation = s["agentSessionId"].as_str().expect("id").to_string();
    assert_eq!(lab.home.tmux(&["kill-server"]).code, 0);

    let s = lab.wait_session("p-1", "relaunch in place", Duration::from_secs(60), |s| {
        s["restarts"] == 1
    });
    assert_eq!(s["isTerminated"], false);
    wait_for(Duration::from_secs(20), "the relaunched pane", || {
        lab.home
            .tmux_sessions()
            .contains(&"p-1".to_string())
            .then_some(())
    });
    let starts = wait_for(Duration::from_secs(20), "a second agent start", || {
        let s = lab.starts();
        (s.len() >= 2).then_some(s)
    });
    let argv: Vec<String> = serde_json::from_value(starts[1]["argv"].clone()).expect("argv");
    let resume = argv
        .iter()
        .position(|a| a == "--resume")
        .expect("relaunched with --resume");
    assert_eq!(
        argv[resume + 1],
        conversation,
        "resumed its own conversation"
    );
}

#[test]
fn stop_leaves_agents_running_and_start_adopts_them_with_spooled_signals() {
    let lab = Lab::new(&[]);
    lab.spawn(&["--agent", "claude-code"]);
    let before = lab.wait_session("p-1", "started", Duration::from_secs(30), |s| {
        s["activity"]["firstSignalAt"].is_string()
    });
    let pane_pid = lab
        .home
        .tmux(&["list-panes", "-t", "=p-1:", "-F", "#{pane_pid}"])
        .ok()
        .trim()
        .to_string();

    lab.ao(&["stop"]).ok();
    // The agent keeps working while the daemon is down: type into it directly.
    assert_eq!(
        lab.home
            .tmux(&["send-keys", "-t", "=p-1:", "work 100", "Enter"])
            .code,
        0
    );
    let spool = lab.home.path().join("data/hooks.spool");
    wait_for(
        Duration::from_secs(20),
        "signals spooled while the daemon is down",
        || {
            let text = std::fs::read_to_string(&spool).unwrap_or_default();
            (text.contains("\"state\":\"active\"") && text.contains("\"state\":\"idle\""))
                .then_some(())
        },
    );

    lab.home.start();
    let after = lab.session("p-1");
    assert_eq!(after["restarts"], 0, "adopted, not relaunched");
    assert_eq!(after["isTerminated"], false);
    assert_eq!(lab.starts().len(), 1, "the agent was not restarted");
    let pane_pid_after = lab
        .home
        .tmux(&["list-panes", "-t", "=p-1:", "-F", "#{pane_pid}"])
        .ok()
        .trim()
        .to_string();
    assert_eq!(pane_pid, pane_pid_after);
    let t = |s: &Value| {
        s["activity"]["lastActivityAt"]
            .as_str()
            .unwrap_or("")
            .to_string()
    };
    assert!(
        t(&after) > t(&before),
        "spooled signals were applied: {} -> {}",
        t(&before),
        t(&after)
    );
    assert_eq!(after["activity"]["state"], "idle");
    let spool_left = std::fs::read_to_string(&spool).unwrap_or_default();
    assert!(
        spool_left.trim().is_empty(),
        "the spool is truncated after replay"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_spawns_get_their_codes_and_leave_nothing_behind() {
    let lab = Lab::new(&[]);
    let api = &lab.api;
    let spawn = |body: Value| async move { api.post("/api/v1/sessions", &body).await };

    let r = spawn(json!({"projectId": "p", "harness": "gpt"})).await;
    assert_eq!((r.status, r.code()), (400, "UNKNOWN_HARNESS"));
    let r = spawn(json!({"projectId": "p"})).await;
    assert_eq!((r.status, r.code()), (400, "AGENT_REQUIRED"));
    let r =
        spawn(json!({"projectId": "p", "harness": "claude-code", "prompt": "x".repeat(16_385)}))
            .await;
    assert_eq!((r.status, r.code()), (400, "PROMPT_TOO_LONG"));
    let r = spawn(json!({"projectId": "p", "harness": "claude-code", "branch": "a..b"})).await;
    assert_eq!((r.status, r.code()), (400, "INVALID_BRANCH"));
    let r = spawn(json!({"projectId": "nope", "harness": "claude-code"})).await;
    assert_eq!((r.status, r.code()), (404, "PROJECT_NOT_FOUND"));
    let r = spawn(json!({"projectId": "p", "harness": "claude-code", "kind": "boss"})).await;
    assert_eq!((r.status, r.code()), (400, "INVALID_KIND"));
    // `main` is checked out in the project's own directory.
    let r = spawn(json!({"projectId": "p", "harness": "claude-code", "branch": "main"})).await;
    assert_eq!(
        (r.status, r.code()),
        (409, "BRANCH_CHECKED_OUT_ELSEWHERE"),
        "{}",
        r.text
    );
    // A binary that is nowhere on the session PATH.
    let r = api
        .patch(
            "/api/v1/projects/p/config",
            &json!({"config": {"env": {"PATH": "/nonexistent"}}}),
        )
        .await;
    assert_eq!(r.status, 200);
    let r = spawn(json!({"projectId": "p", "harness": "codex"})).await;
    assert_eq!(
        (r.status, r.code()),
        (400, "AGENT_BINARY_NOT_FOUND"),
        "{}",
        r.text
    );

    let r = api.get("/api/v1/sessions/p-99").await;
    assert_eq!((r.status, r.code()), (404, "SESSION_NOT_FOUND"));

    // Nothing was left behind: no live session, no worktree, no tmux session.
    let live = api.get("/api/v1/sessions?active=true").await;
    assert_eq!(live.body["sessions"], json!([]));
    let wt_root = lab.home.path().join("data/worktrees/p");
    let leftovers: Vec<_> = std::fs::read_dir(&wt_root)
        .map(|d| d.filter_map(Result::ok).map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    assert!(lab.home.tmux_sessions().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restore_of_a_live_session_and_a_second_orchestrator_are_conflicts() {
    let lab = Lab::new(&[]);
    lab.spawn(&["--agent", "claude-code"]);
    let r = lab
        .api
        .post("/api/v1/sessions/p-1/restore", &json!({}))
        .await;
    assert_eq!((r.status, r.code()), (409, "SESSION_NOT_RESTORABLE"));

    let first = lab.ao(&[
        "orchestrator",
        "start",
        "--project",
        "p",
        "--harness",
        "claude-code",
    ]);
    assert!(
        first.ok().starts_with("started orchestrator p-2"),
        "{}",
        first.stdout
    );
    let second = lab.ao(&[
        "orchestrator",
        "start",
        "--project",
        "p",
        "--harness",
        "claude-code",
    ]);
    assert_eq!(second.code, 1);
    assert!(
        second.stderr.contains("(ORCHESTRATOR_ALREADY_RUNNING)"),
        "{}",
        second.stderr
    );
    let orch = lab.session("p-2");
    assert_eq!(orch["kind"], "orchestrator");
    assert_eq!(orch["branch"], "ao/p-orchestrator");

    // Kill then restore brings the worker back on its branch.
    lab.ao(&["session", "kill", "p-1"]).ok();
    let restored = lab.ao(&["session", "restore", "p-1"]);
    assert!(
        restored.ok().starts_with("session p-1 restored"),
        "{}",
        restored.stdout
    );
    let s = lab.session("p-1");
    assert_eq!(s["isTerminated"], false);
    assert_eq!(s["branch"], "ao/p-1/root");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_concurrent_spawns_all_come_up() {
    let lab = Lab::new(&[]);
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let api = lab.api.clone();
        tasks.push(tokio::spawn(async move {
            let mut rb = api.req(reqwest::Method::POST, "/api/v1/sessions");
            rb = rb
                .timeout(Duration::from_secs(600))
                .json(&json!({"projectId": "p", "harness": "claude-code"}));
            Api::send(rb).await
        }));
    }
    let mut ids = Vec::new();
    for t in tasks {
        let r = t.await.expect("task");
        assert_eq!(r.status, 201, "{}", r.text);
        ids.push(r.body["session"]["id"].as_str().expect("id").to_string());
    }
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 20, "distinct ids");
    let mut tmux = lab.home.tmux_sessions();
    tmux.sort();
    let mut expected: Vec<String> = (1..=20).map(|n| format!("p-{n}")).collect();
    expected.sort();
    assert_eq!(tmux, expected);
    wait_for_async(Duration::from_secs(60), "every agent signalled", || async {
        let list = lab.api.get("/api/v1/sessions?active=true").await;
        let all = list.body["sessions"].as_array()?.clone();
        (all.len() == 20
            && all
                .iter()
                .all(|s| s["activity"]["firstSignalAt"].is_string()))
        .then_some(())
    })
    .await;
}

#[test]
fn an_agent_that_never_signals_shows_no_signal_after_90_seconds() {
    let lab = Lab::new(&[("FAKE_AGENT_SILENT", "1")]);
    let s = lab.spawn(&["--agent", "claude-code"]);
    assert_eq!(s["status"], "idle");
    lab.wait_session("p-1", "no_signal", Duration::from_secs(150), |s| {
        s["status"] == "no_signal"
    });
}

#[test]
fn attach_opens_the_agent_pane_in_the_users_terminal() {
    let lab = Lab::new(&[]);
    lab.spawn(&["--agent", "claude-code"]);
    lab.wait_session("p-1", "started", Duration::from_secs(30), |s| {
        s["activity"]["firstSignalAt"].is_string()
    });
    lab.ao(&["send", "--session", "p-1", "--message", "attach-marker"])
        .ok();
    wait_for(Duration::from_secs(20), "the marker in the agent", || {
        lab.messages()
            .into_iter()
            .find(|m| m["message"] == "attach-marker")
    });

    // Without a terminal, attach refuses.
    let no_tty = lab.ao(&["attach", "p-1"]);
    assert_eq!(no_tty.code, 1);
    assert!(
        no_tty.stderr.contains("ao attach needs a terminal"),
        "{}",
        no_tty.stderr
    );

    // The user's terminal: an outer tmux server of its own, running `ao attach p-1`.
    let terminal = UserTerminal::ao_attach(&lab.home, "p-1");
    let screen = wait_for(
        Duration::from_secs(20),
        "the agent's screen in the user's terminal",
        || {
            let text = terminal.screen();
            text.contains("attach-marker").then_some(text)
        },
    );
    assert!(screen.contains("> attach-marker"), "{screen}");
    // The attach is a client of AO's server.
    let clients = lab.home.tmux(&["list-clients", "-F", "#{session_name}"]);
    assert!(
        clients.ok().lines().any(|l| l == "p-1"),
        "{}",
        clients.stdout
    );
}
