//! Sessions on zellij end to end: the same scenarios as `sessions` (tmux), with the real daemon,
//! real git worktrees, real zellij on this home's private socket directory, and the fake agent
//! standing in for `claude`. zellij is selected per daemon (`AO_RUNTIME=zellij`) and per project
//! (`config.runtime`); a tmux project on the same daemon keeps using tmux.
//!
//! zellij must be installed (CI installs it); without it these tests fail. Each home gets its
//! own zellij cache (`XDG_CACHE_HOME`), so nothing here reads or writes the user's zellij state.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use ao_tests::{Api, Home, UserTerminal, git_repo};
use serde_json::{Value, json};

const SLOW: Duration = Duration::from_secs(30);

fn fake_agent_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_fake-agent"))
}

/// A started daemon whose sessions find the fake agent first on `PATH`.
struct Lab {
    home: Home,
    fake_log: PathBuf,
    api: Api,
    session_env: serde_json::Map<String, Value>,
}

impl Lab {
    /// `daemon_runtime`: the daemon's `AO_RUNTIME` (`None`: the default, tmux).
    fn new(daemon_runtime: Option<&str>) -> Self {
        let mut home = Home::new();
        let scratch = home.scratch();
        let bin = scratch.join("fakebin");
        std::fs::create_dir_all(&bin).expect("mkdir fakebin");
        std::os::unix::fs::symlink(fake_agent_bin(), bin.join("claude"))
            .expect("symlink the fake agent");
        // zellij keeps a per-user session cache; this home gets its own.
        home.env(
            "XDG_CACHE_HOME",
            scratch.join("cache").to_str().expect("utf-8"),
        );
        if let Some(runtime) = daemon_runtime {
            home.env("AO_RUNTIME", runtime);
        }
        // A failed spawn prints the daemon log (see `spawn`), with the zellij adapter's detail.
        home.env(
            "AO_LOG",
            "info,ao_adapters::runtime::zellij=debug,ao_adapters::process=debug,ao_actors::reaper=debug",
        );
        let fake_log = scratch.join("fake-agent.jsonl");
        home.start();
        let api = home.api();
        let mut session_env = serde_json::Map::new();
        session_env.insert(
            "PATH".into(),
            json!(format!("{}:/usr/local/bin:/usr/bin:/bin", bin.display())),
        );
        session_env.insert(
            "FAKE_AGENT_LOG".into(),
            json!(fake_log.display().to_string()),
        );
        session_env.insert("FAKE_AGENT_WORK_MS".into(), json!("300"));
        Self {
            home,
            fake_log,
            api,
            session_env,
        }
    }

    /// Registers a repository as project `id`, with `config.runtime` when given.
    fn project(&self, id: &str, runtime: Option<&str>) {
        let repo = git_repo(&self.home.scratch(), id);
        self.ao(&[
            "project",
            "add",
            "--path",
            repo.to_str().expect("utf-8"),
            "--id",
            id,
        ])
        .ok();
        let mut config = json!({ "env": self.session_env });
        if let Some(runtime) = runtime {
            config["runtime"] = json!(runtime);
        }
        self.ao(&[
            "project",
            "set-config",
            id,
            "--config-json",
            &config.to_string(),
        ])
        .ok();
    }

    fn ao(&self, args: &[&str]) -> ao_tests::Run {
        self.home.ao(args)
    }

    /// The last lines of the daemon's log (without the request lines), for failure messages.
    fn daemon_log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.home.path().join("daemon.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().filter(|l| !l.contains("http::gates")).collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    /// [`ao_tests::wait_for`] whose failure shows the daemon's log.
    fn wait<T>(&self, timeout: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(v) = f() {
                return v;
            }
            assert!(
                Instant::now() < deadline,
                "timed out after {timeout:?} waiting for {what}; daemon log:\n{}",
                self.daemon_log_tail()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn spawn(&self, project: &str) -> Value {
        let r = self.ao(&[
            "spawn",
            "--project",
            project,
            "--agent",
            "claude-code",
            "--json",
        ]);
        assert_eq!(
            r.code,
            0,
            "spawn in {project} failed: {}; daemon log:\n{}",
            r.stderr,
            self.daemon_log_tail()
        );
        r.json()["session"].clone()
    }

    fn session(&self, id: &str) -> Value {
        self.ao(&["session", "get", id, "--json"]).json()["session"].clone()
    }

    fn wait_session(&self, id: &str, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        self.wait(SLOW, what, || {
            let s = self.session(id);
            pred(&s).then_some(s)
        })
    }

    fn wait_started(&self, id: &str) -> Value {
        self.wait_session(id, "the agent's first signal", |s| {
            s["activity"]["firstSignalAt"].is_string()
        })
    }

    fn fake_log(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.fake_log)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    fn starts(&self) -> Vec<Value> {
        self.fake_log()
            .into_iter()
            .filter_map(|e| e.get("started").cloned())
            .collect()
    }

    /// Waits until the agent logged `message`; returns the log entry.
    fn wait_message(&self, message: &str) -> Value {
        self.wait(SLOW, &format!("{message:?} to reach the agent"), || {
            self.fake_log()
                .into_iter()
                .find(|e| e["message"] == message)
        })
    }

    /// The names of the running sessions in this home's zellij socket directory.
    fn zellij_sessions(&self) -> Vec<String> {
        let r = self.home.zellij(&["list-sessions", "--short"]);
        let mut names: Vec<String> = r.stdout.lines().map(str::to_string).collect();
        names.sort();
        names
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ao_runtime_zellij_spawns_follows_hooks_delivers_sends_and_attaches() {
    let lab = Lab::new(Some("zellij"));
    lab.project("p", None);
    let s = lab.spawn("p");
    assert_eq!(s["id"], "p-1");
    assert_eq!(s["runtime"], json!({"kind": "zellij", "handleId": "p-1"}));
    // The session lives in AO's socket directory only; the tmux server has nothing.
    assert_eq!(lab.zellij_sessions(), ["p-1"]);
    assert!(lab.home.tmux_sessions().is_empty());
    let own = std::process::Command::new("zellij")
        .args(["list-sessions", "--short"])
        .env_remove("ZELLIJ_SOCKET_DIR")
        .output()
        .expect("run zellij");
    assert!(
        !String::from_utf8_lossy(&own.stdout)
            .lines()
            .any(|l| l == "p-1"),
        "the session leaked into the user's zellij"
    );

    // Status follows the hooks the agent fires.
    let s = lab.wait_started("p-1");
    assert_eq!(s["status"], "idle");
    assert!(
        s["agentSessionId"]
            .as_str()
            .is_some_and(|id| id.len() == 36),
        "{s}"
    );

    // `ao send` arrives as one bracketed paste.
    lab.ao(&["send", "--session", "p-1", "--message", "multi\nline"])
        .ok();
    let m = lab.wait_message("multi\nline");
    assert_eq!(m["bracketed"], true, "{m}");
    lab.wait_session("p-1", "idle after the turn", |s| s["status"] == "idle");

    // Attach: the exact argv and env of adapters.md §3 …
    let r = lab.api.get("/api/v1/sessions/p-1/attach").await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["runtime"], "zellij");
    assert_eq!(r.body["argv"], json!(["zellij", "attach", "p-1"]));
    assert_eq!(
        r.body["env"],
        json!({"ZELLIJ_SOCKET_DIR": lab.home.zellij_socket_dir().to_str().expect("utf-8")})
    );

    // … and `ao attach` in the user's terminal shows the agent's pane.
    let terminal = UserTerminal::ao_attach(&lab.home, "p-1");
    let screen = lab.wait(SLOW, "the agent's screen in the user's terminal", || {
        let text = terminal.screen();
        text.contains("> multi").then_some(text)
    });
    assert!(screen.contains("line"), "{screen}");
}

#[test]
fn a_zellij_project_beside_a_tmux_project_exit_codes_and_kill() {
    // The daemon default stays tmux; project `z` overrides it.
    let lab = Lab::new(None);
    lab.project("z", Some("zellij"));
    lab.project("t", None);
    let z = lab.spawn("z");
    let t = lab.spawn("t");
    assert_eq!(z["runtime"]["kind"], "zellij");
    assert_eq!(t["runtime"]["kind"], "tmux");
    assert_eq!(lab.zellij_sessions(), ["z-1"]);
    assert_eq!(lab.home.tmux_sessions(), ["t-1"]);
    lab.wait_started("z-1");
    lab.wait_started("t-1");

    // Each agent's exit is seen by its own runtime, with its code; the dead panes are kept.
    lab.ao(&["send", "--session", "z-1", "--message", "crash 3"])
        .ok();
    lab.ao(&["send", "--session", "t-1", "--message", "crash 4"])
        .ok();
    let z = lab.wait_session("z-1", "the zellij agent's exit", |s| {
        s["isTerminated"] == true
    });
    assert_eq!(z["status"], "terminated");
    assert_eq!(z["terminatedReason"], "agent_exited");
    assert_eq!(z["exitCode"], 3);
    let t = lab.wait_session("t-1", "the tmux agent's exit", |s| {
        s["isTerminated"] == true
    });
    assert_eq!(t["exitCode"], 4);
    assert_eq!(lab.zellij_sessions(), ["z-1"], "the dead pane is kept");

    // Kill ends the zellij session of a live agent, and cleanup the one of the dead agent.
    let live = lab.spawn("z");
    assert_eq!(live["id"], "z-2");
    lab.wait_started("z-2");
    assert_eq!(lab.zellij_sessions(), ["z-1", "z-2"]);
    let killed = lab.ao(&["session", "kill", "z-2"]);
    assert_eq!(killed.ok().trim(), "session z-2 killed");
    assert_eq!(lab.zellij_sessions(), ["z-1"]);
    assert_eq!(lab.session("z-2")["terminatedReason"], "killed");
    let cleanup = lab.ao(&["session", "cleanup", "-y", "-p", "z"]);
    assert!(cleanup.ok().contains("Cleaned: z-1"), "{}", cleanup.stdout);
    assert!(lab.zellij_sessions().is_empty());
    assert_eq!(lab.home.tmux_sessions(), ["t-1"], "tmux is untouched");

    // Restore brings the killed session back in zellij, resuming its conversation.
    let restored = lab.ao(&["session", "restore", "z-2"]);
    assert!(
        restored.ok().starts_with("session z-2 restored"),
        "{}",
        restored.stdout
    );
    let s = lab.session("z-2");
    assert_eq!(s["isTerminated"], false);
    assert_eq!(s["runtime"], json!({"kind": "zellij", "handleId": "z-2"}));
    assert_eq!(lab.zellij_sessions(), ["z-2"]);
    lab.wait(SLOW, "the restored agent to resume", || {
        lab.fake_log()
            .into_iter()
            .find(|e| e["ao_session_id"] == "z-2" && e["started"]["resumed"] == true)
    });
}

#[test]
fn a_daemon_restart_adopts_zellij_sessions_without_relaunching_them() {
    let lab = Lab::new(Some("zellij"));
    lab.project("p", None);
    lab.spawn("p");
    let before = lab.wait_started("p-1");

    lab.ao(&["stop"]).ok();
    // The agent keeps running while the daemon is down.
    assert_eq!(lab.zellij_sessions(), ["p-1"]);

    lab.home.start();
    let after = lab.session("p-1");
    assert_eq!(after["isTerminated"], false);
    assert_eq!(after["restarts"], 0, "adopted, not relaunched");
    assert_eq!(after["runtime"], before["runtime"]);
    assert_eq!(lab.starts().len(), 1, "the agent was not restarted");
    assert_eq!(lab.zellij_sessions(), ["p-1"]);

    // The adopted session is supervised as before: a send arrives, and stays one agent.
    lab.ao(&["send", "--session", "p-1", "--message", "after restart"])
        .ok();
    let m = lab.wait_message("after restart");
    assert_eq!(m["bracketed"], true, "{m}");
    lab.wait_session("p-1", "idle after the turn", |s| s["status"] == "idle");
    assert_eq!(lab.starts().len(), 1);
    assert_eq!(lab.session("p-1")["restarts"], 0);
}
