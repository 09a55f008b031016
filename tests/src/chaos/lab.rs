//! The world a chaos run happens in: a temporary `AO_HOME` with its private tmux socket, three
//! git repositories whose origins point at an in-process [`FakeGithub`], the fake agent as
//! `claude`, and the real `ao daemon` process, which this module starts, SIGKILLs and stops.
//!
//! Main type: [`Lab`]. The daemon runs as a child of the harness (`ao daemon`, in its own
//! process group, output appended to `$AO_HOME/daemon.log`, as `ao start` does), so the harness
//! knows its pid before the run-file exists and can kill it at any point of its boot.
//!
//! Invariant: at most one daemon child at a time; every child is reaped (`wait`) after it is
//! killed or stopped, so a dead daemon is never mistaken for a live one.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use ao_protocol::RunFile;
use serde_json::{Value, json};

use crate::fake_github::FakeGithub;
use crate::{Api, Home, git, git_repo};

/// The GitHub owner of every chaos repository.
pub const OWNER: &str = "acme";
/// How long a daemon may take to become ready.
const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// One pane of AO's tmux server.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Pane {
    pub session: String,
    pub pid: u32,
    pub dead: bool,
}

/// Where the daemon was when it was SIGKILLed during a boot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BootPhase {
    /// Before the run-file of this process existed.
    BeforeRunFile,
    /// Serving, readiness `starting` (spool replay / reconcile running).
    Starting,
    /// Already `ready`.
    Ready,
}

/// See the module doc.
pub struct Lab {
    pub home: Home,
    pub gh: FakeGithub,
    /// `(project id, repository path)`; the project id is also the GitHub repository name.
    pub repos: Vec<(String, PathBuf)>,
    /// `FAKE_AGENT_LOG` (a directory: one `<session id>.jsonl` per session).
    pub fake_logs: PathBuf,
    fakebin: PathBuf,
    claude_dir: PathBuf,
    child: Option<Child>,
    api: Option<Api>,
    probe: reqwest::Client,
}

impl Lab {
    /// Creates the home, the fake GitHub and `repos` repositories (`c0`, `c1`, …). No daemon
    /// runs yet.
    pub fn new(repos: usize, poll_interval: &str) -> Self {
        let gh = FakeGithub::start();
        let mut home = Home::new();
        for (k, v) in gh.env() {
            home.env(k, &v);
        }
        home.env("AO_GITHUB_POLL_INTERVAL", poll_interval);
        // Request lines would drown the interesting part of the log.
        home.env("AO_LOG", "info,ao_daemon::http::gates=warn");
        let scratch = home.scratch();
        let fakebin = scratch.join("fakebin");
        let fake_logs = scratch.join("fake-logs");
        let claude_dir = scratch.join("claude");
        for dir in [&fakebin, &fake_logs, &claude_dir] {
            std::fs::create_dir_all(dir).expect("create a scratch directory");
        }
        std::os::unix::fs::symlink(fake_agent_bin(), fakebin.join("claude"))
            .expect("symlink the fake agent as claude");
        let repos = (0..repos)
            .map(|i| {
                let id = format!("c{i}");
                gh.create_repo(OWNER, &id);
                let path = git_repo(&scratch, &id);
                git(
                    &path,
                    &["remote", "add", "origin", &gh.clone_url(OWNER, &id)],
                );
                (id, path)
            })
            .collect();
        ao_daemon::install_crypto_provider();
        Self {
            home,
            gh,
            repos,
            fake_logs,
            fakebin,
            claude_dir,
            child: None,
            api: None,
            probe: reqwest::Client::builder()
                .no_proxy()
                .timeout(Duration::from_secs(2))
                .build()
                .expect("build an HTTP client"),
        }
    }

    /// The `config` of every chaos project: the fake agent first on `PATH`, its log directory,
    /// short turns, and a private Claude state directory.
    pub fn project_config(&self) -> Value {
        json!({
            "env": {
                "PATH": format!("{}:/usr/local/bin:/usr/bin:/bin", self.fakebin.display()),
                "FAKE_AGENT_LOG": self.fake_logs.display().to_string(),
                "FAKE_AGENT_WORK_MS": "50",
                "CLAUDE_CONFIG_DIR": self.claude_dir.display().to_string(),
            }
        })
    }

    /// The API client of the current daemon.
    pub fn api(&self) -> &Api {
        self.api.as_ref().expect("the daemon has been started")
    }

    /// The pid of the current daemon child.
    pub fn daemon_pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// `<AO_HOME>/data/worktrees`.
    pub fn worktree_root(&self) -> PathBuf {
        self.home.path().join("data").join("worktrees")
    }

    /// Starts `ao daemon` (no waiting).
    pub fn spawn_daemon(&mut self) {
        assert!(self.child.is_none(), "a daemon child is already running");
        {
            use std::os::unix::fs::DirBuilderExt;
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(self.home.path())
                .expect("create AO_HOME");
        }
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.daemon_log())
            .expect("open daemon.log");
        let err = log.try_clone().expect("clone the log handle");
        let child = self
            .home
            .command(&["daemon"])
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(err)
            .process_group(0)
            .spawn()
            .expect("start ao daemon");
        self.child = Some(child);
        self.api = None;
    }

    /// `<AO_HOME>/daemon.log`.
    pub fn daemon_log(&self) -> PathBuf {
        self.home.path().join("daemon.log")
    }

    /// The last `n` lines of the daemon log.
    pub fn daemon_log_tail(&self, n: usize) -> String {
        let text = std::fs::read_to_string(self.daemon_log()).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    /// The run-file, if it names the current child.
    fn own_run_file(&self) -> Option<RunFile> {
        let pid = self.daemon_pid()?;
        self.home.run_file_contents().filter(|rf| rf.pid == pid)
    }

    /// Where the current child is in its boot.
    pub async fn boot_phase(&self) -> BootPhase {
        let Some(rf) = self.own_run_file() else {
            return BootPhase::BeforeRunFile;
        };
        let url = format!("http://127.0.0.1:{}/readyz", rf.port);
        match self.probe.get(url).send().await {
            Ok(r) if r.status().as_u16() == 200 => BootPhase::Ready,
            _ => BootPhase::Starting,
        }
    }

    /// Waits until the current child answers `/readyz` 200; returns the time since `since`.
    pub async fn wait_ready(&mut self, since: Instant) -> Result<Duration, String> {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                self.child = None;
                return Err(format!(
                    "the daemon exited during boot ({status}); log tail:\n{}",
                    self.daemon_log_tail(30)
                ));
            }
            if self.boot_phase().await == BootPhase::Ready {
                let rf = self
                    .own_run_file()
                    .expect("a ready daemon has its run-file");
                self.api = Some(Api::new(&rf));
                return Ok(since.elapsed());
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "the daemon was not ready within {READY_TIMEOUT:?}; log tail:\n{}",
                    self.daemon_log_tail(30)
                ));
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Starts a daemon and waits until it is ready; returns the restart-to-ready time.
    pub async fn start(&mut self) -> Result<Duration, String> {
        let t0 = Instant::now();
        self.spawn_daemon();
        self.wait_ready(t0).await
    }

    /// SIGKILLs the current daemon and reaps it.
    pub fn sigkill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        self.api = None;
    }

    /// A clean stop (`POST /shutdown`), waiting for the process to exit.
    pub async fn stop(&mut self) -> Result<(), String> {
        let Some(api) = self.api.clone() else {
            self.sigkill();
            return Ok(());
        };
        let r = Api::send(api.req(reqwest::Method::POST, "/shutdown")).await;
        if r.status != 202 {
            return Err(format!("POST /shutdown answered {}: {}", r.status, r.text));
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let exited = self
                .child
                .as_mut()
                .is_none_or(|c| matches!(c.try_wait(), Ok(Some(_)) | Err(_)));
            if exited {
                self.child = None;
                self.api = None;
                return Ok(());
            }
            if Instant::now() >= deadline {
                self.sigkill();
                return Err("the daemon did not exit within 30 s of POST /shutdown".into());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Kills AO's tmux server (every agent with it), as a crash of the multiplexer would.
    pub fn kill_tmux_server(&self) {
        let _ = self.home.tmux(&["kill-server"]);
    }

    /// Every pane on AO's tmux server (empty when no server runs).
    pub fn panes(&self) -> Vec<Pane> {
        let r = self.home.tmux(&[
            "list-panes",
            "-a",
            "-F",
            "#{session_name}\t#{pane_pid}\t#{pane_dead}",
        ]);
        if r.code != 0 {
            return Vec::new();
        }
        let mut panes: Vec<Pane> = r
            .stdout
            .lines()
            .filter_map(|l| {
                let mut f = l.split('\t');
                Some(Pane {
                    session: f.next()?.to_string(),
                    pid: f.next()?.parse().unwrap_or(0),
                    dead: f.next()? == "1",
                })
            })
            .collect();
        panes.sort();
        panes
    }

    /// Every directory under the managed worktree root: `<root>/<project>/<entry>`
    /// (orchestrator worktrees one level deeper).
    pub fn worktree_dirs(&self) -> Vec<PathBuf> {
        let mut out = Vec::new();
        for project in read_dir(&self.worktree_root()) {
            for entry in read_dir(&project) {
                if entry.file_name().is_some_and(|n| n == "orchestrator") {
                    out.extend(read_dir(&entry));
                } else {
                    out.push(entry);
                }
            }
        }
        out.sort();
        out
    }

    /// The fake agent's log of session `id`, one JSON value per line.
    pub fn agent_log(&self, id: &str) -> Vec<Value> {
        std::fs::read_to_string(self.fake_logs.join(format!("{id}.jsonl")))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        // Home's own drop then ends the tmux server; the daemon must not outlive the run.
        self.sigkill();
    }
}

fn read_dir(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .map(|d| d.filter_map(Result::ok).map(|e| e.path()).collect())
        .unwrap_or_default()
}

/// `target/<profile>/fake-agent`, next to the `ao` binary the harness runs.
fn fake_agent_bin() -> PathBuf {
    let bin = crate::ao_bin()
        .parent()
        .expect("the ao binary lives in a directory")
        .join("fake-agent");
    assert!(
        bin.exists(),
        "{} does not exist: build it first with `cargo build -p ao-tests --bins`",
        bin.display()
    );
    bin
}
