//! Test-only helpers shared by the in-crate tests that drive real actors (sessions, reconcile):
//! id constructors, polling with a deadline, the `command`-harness spawn request, a private
//! tmux server per test ([`TestTmux`], killed on drop) and the fixtures' tree configuration
//! ([`test_config`], [`test_timings`]).

use std::collections::BTreeMap;
use std::future::Future;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use ao_adapters::{Runtime, process};
use ao_protocol::{ErrorCode, Harness, ProjectId, RuntimeKind, SessionId, SessionKind};
use tokio::time::Instant;

use crate::sessions::SpawnCommand;
use crate::{ActorsConfig, CommandError, SessionTimings, SupervisionConfig};

/// How long any test waits for an asynchronous outcome.
pub(crate) const DEADLINE: Duration = Duration::from_secs(30);

pub(crate) fn sid(s: &str) -> SessionId {
    SessionId::parse(s).expect("valid id")
}

pub(crate) fn pid(s: &str) -> ProjectId {
    ProjectId::new(s).expect("valid id")
}

/// The code and details of a command that must fail.
pub(crate) fn code_of<T: std::fmt::Debug>(
    r: Result<T, CommandError>,
) -> (ErrorCode, Option<serde_json::Value>) {
    let e = r.expect_err("the command must fail");
    (e.code(), e.details().cloned())
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

/// A tmux server private to one test: a unique `-L` socket name, started with the daemon's
/// generated `tmux.conf` under `home`. Dropping it kills the server and removes its socket
/// file (synchronously: `Drop` cannot await).
pub(crate) struct TestTmux {
    pub(crate) socket: String,
    conf: PathBuf,
}

static NEXT_SOCKET: AtomicU32 = AtomicU32::new(0);

impl TestTmux {
    /// A new server name `ao-<what>-test-<pid>-<n>`; nothing runs until a test starts it.
    /// `n` has a fixed width, so no test's name is a substring of another's: fault plans
    /// scope themselves to one test by matching its socket name in the command line.
    pub(crate) fn new(what: &str, home: &Path) -> Self {
        Self {
            socket: format!(
                "ao-{what}-test-{}-{:06}",
                std::process::id(),
                NEXT_SOCKET.fetch_add(1, Ordering::Relaxed)
            ),
            conf: home.join("tmux.conf"),
        }
    }

    /// `tmux -L <socket> -f <home>/tmux.conf <args>`, whatever its exit status.
    pub(crate) async fn run(&self, args: &[&str]) -> process::Output {
        let cmd = process::Cmd::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .arg("-f")
            .arg(&self.conf)
            .args(args)
            .timeout(Duration::from_secs(5));
        process::run_unchecked(&cmd).await.expect("tmux runs")
    }
}

impl Drop for TestTmux {
    fn drop(&mut self) {
        let _ = std::process::Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .output();
        // The socket lives in `$TMUX_TMPDIR/tmux-<uid>/`; /proc/self is owned by our uid.
        if let Ok(me) = std::fs::metadata("/proc/self") {
            let base = std::env::var_os("TMUX_TMPDIR").map_or_else(|| "/tmp".into(), PathBuf::from);
            let _ =
                std::fs::remove_file(base.join(format!("tmux-{}", me.uid())).join(&self.socket));
        }
    }
}

/// Session timings for tests: everything short, the Reaper ticking every `reaper_tick`.
pub(crate) fn test_timings(reaper_tick: Duration) -> SessionTimings {
    SessionTimings {
        reaper_tick,
        missing_confirm: Duration::from_millis(150),
        relaunch_budget: 3,
        relaunch_window: Duration::from_secs(3600),
        relaunch_spacing: vec![Duration::from_millis(50); 3],
        confirm_timeout: Duration::from_millis(500),
        retry_delays: vec![Duration::from_millis(50); 3],
        hookless_gap: Duration::from_millis(200),
        first_prompt_delay: Duration::from_millis(500),
        first_prompt_delay_hookless: Duration::from_millis(100),
        post_create_timeout: Duration::from_secs(20),
    }
}

/// The tree configuration of the actor fixtures: store in `data`, daemon home `home`, the
/// test's tmux server as the only runtime, agents run with this process's environment but a
/// private `HOME` (`user_home`: claude's state file), fast supervision restarts.
pub(crate) fn test_config(
    data: &Path,
    home: &Path,
    user_home: &Path,
    tmux: &TestTmux,
    runtime: Arc<dyn Runtime>,
    reaper_tick: Duration,
) -> ActorsConfig {
    let mut env: BTreeMap<String, String> = std::env::vars().collect();
    env.insert("HOME".to_string(), user_home.to_string_lossy().into_owned());
    let mut cfg = ActorsConfig::new(data, RuntimeKind::Tmux);
    cfg.home = home.to_path_buf();
    cfg.run_file = home.join("running.json");
    cfg.tmux_socket = tmux.socket.clone();
    cfg.daemon_env = Some(env);
    cfg.runtimes = vec![runtime];
    cfg.sessions = test_timings(reaper_tick);
    cfg.supervision = SupervisionConfig {
        base_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(100),
        ..SupervisionConfig::default()
    };
    cfg
}
