//! The zellij runtime (adapters.md §3): each agent in its own zellij session, on a socket
//! directory private to this `AO_HOME`.
//!
//! [`Zellij`] holds the socket directory ([`socket_dir`]: `/tmp/ao-zellij-<uid>-<first 8 hex
//! of SHA-256(AO_HOME)>`), the layout directory (`<AO_HOME>/zellij`) and `AO_DATA_DIR`
//! (exit-status files). Every call is `zellij …` through [`crate::process`] with a 10 s timeout,
//! `ZELLIJ_SOCKET_DIR` set to that directory, `TERM=xterm-256color`, `COLORTERM=truecolor`, and
//! `NO_COLOR` (plus the `ZELLIJ`, `ZELLIJ_SESSION_NAME` and `ZELLIJ_PANE_ID` of a daemon started
//! inside zellij) removed.
//!
//! A session runs one borderless command pane titled `agent` (the layout file
//! `<AO_HOME>/zellij/<name>.kdl`, see [`layout`]); zellij holds a command pane when its command
//! exits, so the exit status stays readable through `action list-panes --json`.
//!
//! Invariants:
//! * Only sessions in this install's socket directory are ever addressed, so the user's own
//!   zellij sessions (in zellij's default directory) are never touched. The directory is mode
//!   0700 and must be owned by this user.
//! * `zellij --version` runs once per [`Zellij`] value (the daemon builds one); a version older
//!   than [`MIN_VERSION`] fails `create` with [`RuntimeError::Unsupported`].
//! * [`Zellij::probe_all`] runs one `list-sessions` (up to two more only when a target is not
//!   listed: zellij can leave an initialising session out), then one `list-panes` per listed
//!   target session (zellij has no cross-session pane listing); none at all without targets or
//!   before the socket directory exists. A failed probe is [`Probe::Unknown`], never death.
//!   zellij clients wait without a limit for every server's status answer, so one silent
//!   server (tearing down after a kill, or hung) times out every call; a failed listing then
//!   falls back to the socket files: a target without a socket is [`Probe::Missing`] (its
//!   server is gone), one with a socket is probed as a listed one (`Unknown` while zellij
//!   cannot answer).
//! * [`Zellij::destroy`] is idempotent and returns once the session no longer runs (is not
//!   listed, or, when zellij cannot list, has no socket), so a session of the same name can be
//!   created right after it.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;
use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ao_protocol::{EnvConfig, RuntimeKind};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use tokio::sync::OnceCell;

use super::{
    AttachSpec, BoxFuture, CreateSpec, EARLY_EXIT_TAIL_LINES, EARLY_EXIT_WAIT, PASTE_SETTLE, Probe,
    ProbeTarget, Runtime, RuntimeError, TaggedSession, command_failed, exit_status_path,
    launch_string, prepare_status_file, read_exit_status, sanitize_for_terminal, trimmed_lines,
};
use crate::process::{self, Cmd, ProcessError};

/// The timeout of every zellij call (adapters.md §1).
pub const ZELLIJ_TIMEOUT: Duration = Duration::from_secs(10);
/// The oldest zellij AO drives (`action list-panes --json`, `paste --pane-id`, …).
pub const MIN_VERSION: [u64; 3] = [0, 44, 3];
/// The title of the agent's pane in the layout.
pub const AGENT_PANE_TITLE: &str = "agent";
/// How often `create` looks for the agent pane, and for how long.
pub const PANE_POLL_INTERVAL: Duration = Duration::from_millis(50);
pub const PANE_WAIT: Duration = Duration::from_secs(5);
/// How many times `create` starts a session that dies before its agent pane shows.
const START_ATTEMPTS: u32 = 2;
/// How long `destroy` waits for a killed session to leave `list-sessions`.
pub const GONE_WAIT: Duration = Duration::from_secs(5);

/// What `list-sessions` says (on stderr, exit 1) when the socket directory has no session.
const NO_SESSIONS: &str = "No active zellij sessions found";
/// What `delete-session` says when zellij has no record of the session.
const NOT_FOUND: &str = "not found";

/// The variables every zellij call gets besides `ZELLIJ_SOCKET_DIR`.
const CALL_ENV: [(&str, &str); 2] = [("TERM", "xterm-256color"), ("COLORTERM", "truecolor")];
/// The variables removed from every zellij call.
const CALL_ENV_REMOVED: [&str; 4] = [
    "NO_COLOR",
    "ZELLIJ",
    "ZELLIJ_SESSION_NAME",
    "ZELLIJ_PANE_ID",
];

/// This install's zellij socket directory: `/tmp/ao-zellij-<uid>-<first 8 hex chars of
/// SHA-256(AO_HOME)>` (short enough for zellij's 108-byte socket-path limit with any
/// runtime name).
pub fn socket_dir(ao_home: &Path, uid: u32) -> PathBuf {
    let digest = hex::encode(Sha256::digest(ao_home.as_os_str().as_encoded_bytes()));
    PathBuf::from(format!("/tmp/ao-zellij-{uid}-{}", &digest[..8]))
}

/// The layout of an AO session (adapters.md §3): one borderless command pane titled `agent`
/// running `/bin/sh -c <launch>` in `cwd`.
pub fn layout(cwd: &str, launch: &str) -> String {
    format!(
        "layout {{\n  cwd {}\n  pane command=\"/bin/sh\" name=\"{AGENT_PANE_TITLE}\" borderless=true {{\n    args \"-c\" {}\n  }}\n}}\n",
        kdl_string(cwd),
        kdl_string(launch)
    )
}

/// A KDL (v1) string literal: `"` and `\` escaped, control characters written as escapes.
fn kdl_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The first dotted number of a version line (`zellij 0.45.1` → `[0, 45, 1]`).
fn parse_version(line: &str) -> Option<Vec<u64>> {
    let start = line.find(|c: char| c.is_ascii_digit())?;
    let digits: String = line[start..]
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    digits
        .split('.')
        .filter(|p| !p.is_empty())
        .map(|p| p.parse().ok())
        .collect()
}

/// `have >= want`, missing components counting as 0.
fn at_least(have: &[u64], want: &[u64]) -> bool {
    let n = have.len().max(want.len());
    let get = |v: &[u64], i: usize| v.get(i).copied().unwrap_or(0);
    (0..n)
        .map(|i| get(have, i).cmp(&get(want, i)))
        .find(|o| o.is_ne())
        .is_none_or(std::cmp::Ordering::is_gt)
}

/// One pane of `action list-panes --all --json` (the fields AO reads).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
struct Pane {
    id: u32,
    #[serde(default)]
    is_plugin: bool,
    #[serde(default)]
    title: String,
    #[serde(default)]
    exited: bool,
    #[serde(default)]
    exit_status: Option<i32>,
}

impl Pane {
    /// The `--pane-id` argument for this (terminal) pane.
    fn target(&self) -> String {
        format!("terminal_{}", self.id)
    }
}

/// The agent pane: the terminal pane titled [`AGENT_PANE_TITLE`].
fn agent_pane(panes: &[Pane]) -> Option<&Pane> {
    panes
        .iter()
        .find(|p| !p.is_plugin && p.title == AGENT_PANE_TITLE)
}

/// Names of the running sessions in `list-sessions --no-formatting` output. A line marked
/// `EXITED` is a resurrectable entry of zellij's (per-user) cache, not a running session.
fn parse_sessions(stdout: &str) -> HashSet<String> {
    stdout
        .lines()
        .filter(|line| !line.contains("EXITED"))
        .filter_map(|line| line.split_whitespace().next())
        .map(str::to_string)
        .collect()
}

/// AO's zellij sessions for one `AO_HOME`.
#[derive(Debug, Clone)]
pub struct Zellij {
    program: String,
    socket_dir: PathBuf,
    layout_dir: PathBuf,
    data_dir: PathBuf,
    extra_env: Vec<(String, String)>,
    /// `zellij --version`, asked once (a failed query is asked again next time).
    version: Arc<OnceCell<Vec<u64>>>,
}

impl Zellij {
    /// The sessions of `ao_home` (socket directory [`socket_dir`], layouts under
    /// `<ao_home>/zellij`), recording exit statuses under `data_dir`.
    pub fn new(ao_home: impl Into<PathBuf>, data_dir: impl Into<PathBuf>) -> Self {
        let ao_home = ao_home.into();
        Self {
            program: "zellij".into(),
            socket_dir: socket_dir(&ao_home, nix::unistd::getuid().as_raw()),
            layout_dir: ao_home.join("zellij"),
            data_dir: data_dir.into(),
            extra_env: Vec::new(),
            version: Arc::default(),
        }
    }

    /// The sessions described by the daemon environment (`AO_HOME`, `AO_DATA_DIR`).
    pub fn from_env(env: &EnvConfig) -> Self {
        Self::new(&env.home, &env.data_dir)
    }

    /// Runs `program` instead of `zellij` from `PATH` (an absolute path, or a wrapper in tests).
    pub fn with_program(mut self, program: impl Into<String>) -> Self {
        self.program = program.into();
        self.version = Arc::default();
        self
    }

    /// Sets one more variable on every zellij call (tests point `XDG_CACHE_HOME`, where zellij
    /// keeps its per-user session cache, at a private directory).
    pub fn with_env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.extra_env.push((key.into(), value.into()));
        self
    }

    pub fn socket_dir(&self) -> &Path {
        &self.socket_dir
    }

    pub fn layout_dir(&self) -> &Path {
        &self.layout_dir
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// `<AO_HOME>/zellij/<name>.kdl`.
    pub fn layout_path(&self, name: &str) -> PathBuf {
        self.layout_dir.join(format!("{name}.kdl"))
    }

    /// `zellij` with the socket directory, the terminal variables and the timeout.
    fn cmd(&self) -> Cmd {
        let mut cmd = Cmd::new(&self.program).timeout(ZELLIJ_TIMEOUT).env(
            "ZELLIJ_SOCKET_DIR",
            self.socket_dir.to_string_lossy().into_owned(),
        );
        for (key, value) in CALL_ENV {
            cmd = cmd.env(key, value);
        }
        for key in CALL_ENV_REMOVED {
            cmd = cmd.env_remove(key);
        }
        for (key, value) in &self.extra_env {
            cmd = cmd.env(key, value);
        }
        cmd
    }

    /// `zellij --session <name> action <args…>`.
    fn action(&self, name: &str, args: &[&str]) -> Cmd {
        self.cmd().args(["--session", name, "action"]).args(args)
    }

    /// Fails unless the installed zellij is at least [`MIN_VERSION`] (asked once).
    pub async fn check_version(&self) -> Result<(), RuntimeError> {
        let version = self
            .version
            .get_or_try_init(|| async {
                let out = process::run(&self.cmd().arg("--version")).await?;
                parse_version(out.stdout.trim()).ok_or_else(|| {
                    RuntimeError::Unsupported(format!(
                        "cannot parse `zellij --version`: {:?}",
                        out.stdout.trim()
                    ))
                })
            })
            .await?;
        if at_least(version, &MIN_VERSION) {
            Ok(())
        } else {
            Err(RuntimeError::Unsupported(format!(
                "zellij {} is too old: AO needs zellij {} or later",
                dotted(version),
                dotted(&MIN_VERSION)
            )))
        }
    }

    /// Creates the socket directory (mode 0700) and the layout directory. The socket directory
    /// must be a directory owned by this user: anything else there is refused.
    pub fn ensure_dirs(&self) -> Result<(), RuntimeError> {
        let io = |path: &Path, e: std::io::Error| RuntimeError::Io {
            path: path.to_path_buf(),
            message: e.to_string(),
        };
        std::fs::create_dir_all(&self.layout_dir).map_err(|e| io(&self.layout_dir, e))?;
        let dir = &self.socket_dir;
        match std::fs::DirBuilder::new().mode(0o700).create(dir) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(io(dir, e)),
        }
        let meta = std::fs::symlink_metadata(dir).map_err(|e| io(dir, e))?;
        if !meta.is_dir() || meta.uid() != nix::unistd::getuid().as_raw() {
            return Err(RuntimeError::Io {
                path: dir.clone(),
                message: "the zellij socket directory is not a directory owned by this user".into(),
            });
        }
        if meta.permissions().mode() & 0o777 != 0o700 {
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
                .map_err(|e| io(dir, e))?;
        }
        Ok(())
    }

    /// Writes `<AO_HOME>/zellij/<name>.kdl` (mode 0600: the launch string carries the session
    /// environment).
    fn write_layout(&self, name: &str, text: &str) -> Result<PathBuf, RuntimeError> {
        let path = self.layout_path(name);
        let io = |e: std::io::Error| RuntimeError::Io {
            path: path.clone(),
            message: e.to_string(),
        };
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&path)
            .map_err(io)?;
        file.write_all(text.as_bytes()).map_err(io)?;
        Ok(path)
    }

    /// Starts the agent (adapters.md §3): clear any session of that name, write the layout,
    /// start the session in the background, wait for the agent pane, then run the early-exit
    /// check. On an early exit the session is destroyed.
    pub async fn create(&self, spec: &CreateSpec) -> Result<(), RuntimeError> {
        self.check_version().await?;
        let status_file = exit_status_path(&self.data_dir, &spec.session_id);
        let launch = launch_string(&spec.launch.env, &spec.launch.argv, &status_file)?;
        let cwd = spec.cwd.to_str().ok_or_else(|| {
            RuntimeError::InvalidLaunch(format!(
                "working directory {} is not UTF-8",
                spec.cwd.display()
            ))
        })?;
        prepare_status_file(&status_file)?;
        self.ensure_dirs()?;

        // Also clears zellij's resurrection cache entry of that name, which `attach` would
        // otherwise resurrect instead of using our layout.
        if let Err(e) = self.destroy(&spec.name).await {
            tracing::debug!(name = %spec.name, error = %e, "zellij: clearing the session name failed");
        }
        self.start_session(&spec.name, &layout(cwd, &launch))
            .await?;

        tokio::time::sleep(EARLY_EXIT_WAIT).await;
        let target = ProbeTarget {
            name: spec.name.clone(),
            session_id: spec.session_id.clone(),
        };
        match self.probe_one(&target).await {
            Probe::Alive => Ok(()),
            Probe::Unknown => {
                tracing::warn!(name = %spec.name, "early-exit probe failed; assuming the agent runs");
                Ok(())
            }
            Probe::Exited(exit_code) => {
                let output_tail = match self.capture(&spec.name, EARLY_EXIT_TAIL_LINES).await {
                    Ok(text) => text,
                    Err(e) => {
                        tracing::warn!(name = %spec.name, error = %e, "cannot capture the output of an agent that exited early");
                        String::new()
                    }
                };
                self.destroy_after_failure(&spec.name).await;
                Err(RuntimeError::AgentExitedEarly {
                    exit_code,
                    output_tail,
                })
            }
            Probe::Missing => {
                self.destroy_after_failure(&spec.name).await;
                Err(RuntimeError::ExitedBeforeReady {
                    name: spec.name.clone(),
                })
            }
        }
    }

    /// Writes the layout, starts the session in the background and waits for its agent pane;
    /// on failure the session is destroyed. zellij 0.45.1 can crash while a new session
    /// initialises: a client that disconnects before the creating client's first message is
    /// processed (any `list-sessions` handshake or action) hits an `unwrap` on the missing
    /// session state, and `attach` then hangs until its timeout. A session that died before
    /// its agent pane ever showed is therefore started once more.
    async fn start_session(&self, name: &str, layout_text: &str) -> Result<(), RuntimeError> {
        let mut attempt = 1;
        loop {
            let layout_file = self.write_layout(name, layout_text)?;
            let start = self
                .cmd()
                .args([
                    "attach",
                    "--create-background",
                    name,
                    "options",
                    "--default-layout",
                ])
                .arg(&layout_file)
                .args([
                    "--pane-frames",
                    "false",
                    "--mouse-mode",
                    "true",
                    "--session-serialization",
                    "false",
                    "--show-startup-tips",
                    "false",
                    "--show-release-notes",
                    "false",
                ]);
            let started = match process::run(&start).await {
                Ok(_) => self.wait_for_agent_pane(name).await,
                Err(e) => Err(e.into()),
            };
            let Err(e) = started else {
                return Ok(());
            };
            // Worth another start only if the server died: a missing zellij, a bad layout or
            // a session without an agent pane fail the same way again.
            let died = match &e {
                RuntimeError::ExitedBeforeReady { .. } => true,
                RuntimeError::Command(
                    ProcessError::Timeout { .. } | ProcessError::Failed { .. },
                ) => self
                    .confirmed_live_sessions(&[name])
                    .await
                    .is_ok_and(|live| !live.contains(name)),
                _ => false,
            };
            self.destroy_after_failure(name).await;
            if !died || attempt == START_ATTEMPTS {
                return Err(e);
            }
            tracing::warn!(name, error = %e, "zellij: the session died while starting; starting it again");
            attempt += 1;
        }
    }

    /// Polls `list-panes` every [`PANE_POLL_INTERVAL`] until the agent pane shows, for at most
    /// [`PANE_WAIT`]. The first poll waits one interval, giving the server time to take in the
    /// session it was just asked to create. Then a session that is not running "exited before
    /// ready"; one that runs without an agent pane has none.
    async fn wait_for_agent_pane(&self, name: &str) -> Result<(), RuntimeError> {
        let deadline = Instant::now() + PANE_WAIT;
        let last = loop {
            tokio::time::sleep(PANE_POLL_INTERVAL).await;
            let seen = match self.panes(name).await {
                Ok(panes) if agent_pane(&panes).is_some() => return Ok(()),
                Ok(panes) => format!("{} pane(s), none titled agent", panes.len()),
                Err(e) => e.to_string(),
            };
            if Instant::now() >= deadline {
                break seen;
            }
        };
        let running = self
            .confirmed_live_sessions(&[name])
            .await
            .is_ok_and(|live| live.contains(name));
        tracing::warn!(name, running, last = %last, "zellij: no agent pane within {PANE_WAIT:?}");
        if running {
            Err(RuntimeError::NoAgentPane { name: name.into() })
        } else {
            Err(RuntimeError::ExitedBeforeReady { name: name.into() })
        }
    }

    async fn destroy_after_failure(&self, name: &str) {
        if let Err(e) = self.destroy(name).await {
            tracing::warn!(name, error = %e, "cannot destroy a failed zellij session");
        }
    }

    /// The running sessions of this socket directory (`list-sessions --no-formatting`). Without
    /// the directory there is none, and zellij is not run: a daemon that never used zellij
    /// (or has none installed) pays nothing at boot reconcile.
    async fn live_sessions(&self) -> Result<HashSet<String>, RuntimeError> {
        if !self.socket_dir.exists() {
            return Ok(HashSet::new());
        }
        let cmd = self.cmd().args(["list-sessions", "--no-formatting"]);
        let out = process::run_unchecked(&cmd).await?;
        if out.success() {
            Ok(parse_sessions(&out.stdout))
        } else if out.stderr.contains(NO_SESSIONS) {
            Ok(HashSet::new())
        } else {
            Err(command_failed(&cmd, &out).into())
        }
    }

    /// The names of the session sockets in the socket directory: zellij keeps them one level
    /// down, in a directory per IPC contract version (`contract_version_1/<name>`); a socket
    /// directly in the directory counts too. A server binds its socket before it takes any
    /// client and removes it as it exits, so a name without a socket has no server that any
    /// zellij client could reach.
    fn session_sockets(&self) -> Result<HashSet<String>, RuntimeError> {
        use std::os::unix::fs::FileTypeExt as _;
        fn entries(dir: &Path) -> Result<Vec<std::fs::DirEntry>, RuntimeError> {
            let io = |e: std::io::Error| RuntimeError::Io {
                path: dir.to_path_buf(),
                message: e.to_string(),
            };
            match std::fs::read_dir(dir) {
                Ok(entries) => entries.collect::<Result<_, _>>().map_err(io),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
                Err(e) => Err(io(e)),
            }
        }
        let mut names = HashSet::new();
        let mut add = |entry: &std::fs::DirEntry| {
            if entry.file_type().is_ok_and(|t| t.is_socket()) {
                names.insert(entry.file_name().to_string_lossy().into_owned());
            }
        };
        for entry in entries(&self.socket_dir)? {
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                entries(&entry.path())?.iter().for_each(&mut add);
            } else {
                add(&entry);
            }
        }
        Ok(names)
    }

    /// Whether session `name` still runs: listed by `list-sessions`, or, when the listing
    /// fails, still holding its socket (see [`Zellij::probe_all`] for why a listing can fail
    /// while the session is long gone).
    async fn still_runs(&self, name: &str) -> Result<bool, RuntimeError> {
        match self.live_sessions().await {
            Ok(live) => Ok(live.contains(name)),
            Err(e) => {
                tracing::debug!(name, error = %e, "zellij list-sessions failed; looking for the session's socket");
                Ok(self.session_sockets()?.contains(name))
            }
        }
    }

    /// [`Zellij::live_sessions`], where a wanted name missing from the listing is looked for
    /// in up to two more listings, 100 ms apart: zellij leaves a session out of `list-sessions`
    /// now and then while the session initialises (its handshake reply can be preceded by
    /// another message), and missing means dead to the caller.
    async fn confirmed_live_sessions(
        &self,
        wanted: &[&str],
    ) -> Result<HashSet<String>, RuntimeError> {
        let mut live = self.live_sessions().await?;
        for _ in 0..2 {
            if wanted.iter().all(|name| live.contains(*name)) {
                break;
            }
            tokio::time::sleep(PANE_POLL_INTERVAL * 2).await;
            live.extend(self.live_sessions().await?);
        }
        Ok(live)
    }

    /// `zellij --session <name> action list-panes --all --json`.
    async fn panes(&self, name: &str) -> Result<Vec<Pane>, RuntimeError> {
        let cmd = self.action(name, &["list-panes", "--all", "--json"]);
        let out = process::run(&cmd).await?;
        serde_json::from_str(&out.stdout).map_err(|e| {
            RuntimeError::Unexpected(format!("zellij list-panes --json for {name}: {e}"))
        })
    }

    /// The `--pane-id` of the session's agent pane.
    async fn agent_pane_id(&self, name: &str) -> Result<String, RuntimeError> {
        let panes = self.panes(name).await?;
        agent_pane(&panes)
            .map(Pane::target)
            .ok_or_else(|| RuntimeError::NoAgentPane { name: name.into() })
    }

    /// The agent pane decides: absent → missing, `exited` → its status (else the exit-status
    /// file's). A pane zellij still shows running whose agent already recorded its exit status
    /// (the launch string writes it as the agent exits, and `create` removes an old one) is
    /// exited too: zellij notices the shell's exit a moment later, which under load can outlast
    /// the early-exit window.
    fn classify(&self, panes: &[Pane], target: &ProbeTarget) -> Probe {
        let recorded = || read_exit_status(&exit_status_path(&self.data_dir, &target.session_id));
        match agent_pane(panes) {
            None => Probe::Missing,
            Some(pane) if pane.exited => Probe::Exited(pane.exit_status.or_else(recorded)),
            Some(_) => recorded().map_or(Probe::Alive, |code| Probe::Exited(Some(code))),
        }
    }

    /// The Reaper's batch probe (adapters.md §3): one `list-sessions` (confirmed when a target
    /// is not listed), then the panes of each listed target session, concurrently. No call at
    /// all without targets.
    ///
    /// `list-sessions` (and any client naming a session: zellij matches the name against the
    /// listing) asks every server in the directory for its status and waits for the answer
    /// without a time limit, so ONE server that accepts connections but never answers makes
    /// them all time out: a server tearing down after `kill-session` (it keeps accepting until
    /// all its threads have joined, which under load takes seconds, and forever when a thread
    /// hangs in that teardown), or a hung one. Rather than leave every session `unknown` then
    /// (a vanished session would never be relaunched), a failed listing falls back to the
    /// socket files: a target without a socket is `missing`; one with a socket is asked for
    /// its panes as a listed one is, and stays `unknown` while zellij cannot answer.
    pub async fn probe_all(&self, targets: &[ProbeTarget]) -> HashMap<String, Probe> {
        if targets.is_empty() {
            return HashMap::new();
        }
        let wanted: Vec<&str> = targets.iter().map(|t| t.name.as_str()).collect();
        let listed = match self.confirmed_live_sessions(&wanted).await {
            Ok(live) => Ok(live),
            Err(e) => {
                tracing::warn!(error = %e, "zellij list-sessions failed; probing each session that has a socket");
                self.session_sockets()
            }
        };
        let live = match listed {
            Ok(live) => live,
            Err(e) => {
                tracing::warn!(error = %e, "zellij batch probe failed");
                return targets
                    .iter()
                    .map(|t| (t.name.clone(), Probe::Unknown))
                    .collect();
            }
        };
        let live = &live;
        let probes = targets.iter().map(|target| async move {
            if !live.contains(&target.name) {
                return (target.name.clone(), Probe::Missing);
            }
            let probe = match self.panes(&target.name).await {
                Ok(panes) => self.classify(&panes, target),
                Err(e) => {
                    tracing::warn!(name = %target.name, error = %e, "zellij pane probe failed");
                    Probe::Unknown
                }
            };
            (target.name.clone(), probe)
        });
        let results: HashMap<String, Probe> = futures_util::future::join_all(probes)
            .await
            .into_iter()
            .collect();
        tracing::debug!(?live, ?results, "zellij batch probe");
        results
    }

    /// Probes one session (the batch probe with one target).
    pub async fn probe_one(&self, target: &ProbeTarget) -> Probe {
        self.probe_all(std::slice::from_ref(target))
            .await
            .remove(&target.name)
            .unwrap_or(Probe::Unknown)
    }

    /// `zellij delete-session --force <name>` ("not found" is success), then waits until the
    /// session no longer runs. The layout file is removed too.
    pub async fn destroy(&self, name: &str) -> Result<(), RuntimeError> {
        let cmd = self.cmd().args(["delete-session", "--force", name]);
        let failure = match process::run_unchecked(&cmd).await {
            Ok(out) if out.success() || out.stderr.contains(NOT_FOUND) => None,
            Ok(out) => Some(RuntimeError::from(command_failed(&cmd, &out))),
            Err(e) => Some(e.into()),
        };
        // A silent server elsewhere in the directory times `delete-session` out too (see
        // `probe_all`). A session without a socket does not run, which is all `destroy`
        // promises; a resurrection entry left behind is cleared by the next `create`.
        if let Some(e) = failure {
            if self.session_sockets()?.contains(name) {
                return Err(e);
            }
            tracing::debug!(name, error = %e, "zellij delete-session failed for a session without a socket");
        }
        match std::fs::remove_file(self.layout_path(name)) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => tracing::debug!(name, error = %e, "cannot remove a zellij layout file"),
        }
        let deadline = Instant::now() + GONE_WAIT;
        while self.still_runs(name).await? {
            if Instant::now() >= deadline {
                return Err(RuntimeError::Unexpected(format!(
                    "zellij session {name} still runs {GONE_WAIT:?} after delete-session"
                )));
            }
            tokio::time::sleep(PANE_POLL_INTERVAL).await;
        }
        Ok(())
    }

    /// `action dump-screen --pane-id terminal_<id> --full` of the agent pane, trailing blank
    /// lines trimmed, the last `lines` lines kept.
    pub async fn capture(&self, name: &str, lines: usize) -> Result<String, RuntimeError> {
        if lines == 0 {
            return Ok(String::new());
        }
        let pane = self.agent_pane_id(name).await?;
        let out = process::run(&self.action(name, &["dump-screen", "--pane-id", &pane, "--full"]))
            .await?;
        let kept = trimmed_lines(&out.stdout);
        Ok(kept[kept.len().saturating_sub(lines)..].join("\n"))
    }

    /// Bracketed-paste delivery (adapters.md §3): `action paste` of the sanitised text into the
    /// agent pane (zellij wraps it in paste markers), wait 200 ms, press Enter.
    pub async fn send(&self, name: &str, text: &str) -> Result<(), RuntimeError> {
        let text = sanitize_for_terminal(text);
        if text.is_empty() {
            return Err(RuntimeError::EmptyText);
        }
        let pane = self.agent_pane_id(name).await?;
        // `--` ends the options, so a text starting with `-` is pasted, not parsed.
        process::run(&self.action(name, &["paste", "--pane-id", &pane, "--", &text])).await?;
        tokio::time::sleep(PASTE_SETTLE).await;
        self.press_enter(name, &pane).await
    }

    /// Presses Enter once in the agent pane.
    pub async fn send_enter(&self, name: &str) -> Result<(), RuntimeError> {
        let pane = self.agent_pane_id(name).await?;
        self.press_enter(name, &pane).await
    }

    async fn press_enter(&self, name: &str, pane: &str) -> Result<(), RuntimeError> {
        process::run(&self.action(name, &["send-keys", "--pane-id", pane, "Enter"])).await?;
        Ok(())
    }

    /// `["zellij","attach",<name>]` with `ZELLIJ_SOCKET_DIR` set.
    pub fn attach_spec(&self, name: &str) -> AttachSpec {
        AttachSpec {
            argv: vec![self.program.clone(), "attach".into(), name.into()],
            env: BTreeMap::from([(
                "ZELLIJ_SOCKET_DIR".to_string(),
                self.socket_dir.to_string_lossy().into_owned(),
            )]),
        }
    }

    /// Every running session of this install's socket directory: all of them were started by
    /// this `AO_HOME`. zellij keeps no tags, so [`TaggedSession::session_id`] is empty.
    pub async fn list_orphans(&self) -> Result<Vec<TaggedSession>, RuntimeError> {
        let mut names: Vec<String> = self.live_sessions().await?.into_iter().collect();
        names.sort();
        Ok(names
            .into_iter()
            .map(|name| TaggedSession {
                name,
                session_id: String::new(),
            })
            .collect())
    }
}

fn dotted(version: &[u64]) -> String {
    version
        .iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(".")
}

impl Runtime for Zellij {
    fn kind(&self) -> RuntimeKind {
        RuntimeKind::Zellij
    }

    /// Nothing to do at boot: zellij has no server configuration, and the directories are made
    /// by the first `create` (a daemon that never uses zellij leaves nothing in `/tmp`).
    fn prepare(&self) -> BoxFuture<'_, Result<(), RuntimeError>> {
        Box::pin(async { Ok(()) })
    }

    fn create<'a>(&'a self, spec: &'a CreateSpec) -> BoxFuture<'a, Result<(), RuntimeError>> {
        Box::pin(Zellij::create(self, spec))
    }

    fn probe_all<'a>(
        &'a self,
        targets: &'a [ProbeTarget],
    ) -> BoxFuture<'a, HashMap<String, Probe>> {
        Box::pin(Zellij::probe_all(self, targets))
    }

    fn probe_one<'a>(&'a self, target: &'a ProbeTarget) -> BoxFuture<'a, Probe> {
        Box::pin(Zellij::probe_one(self, target))
    }

    fn destroy<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<(), RuntimeError>> {
        Box::pin(Zellij::destroy(self, name))
    }

    fn capture<'a>(
        &'a self,
        name: &'a str,
        lines: usize,
    ) -> BoxFuture<'a, Result<String, RuntimeError>> {
        Box::pin(Zellij::capture(self, name, lines))
    }

    fn send<'a>(&'a self, name: &'a str, text: &'a str) -> BoxFuture<'a, Result<(), RuntimeError>> {
        Box::pin(Zellij::send(self, name, text))
    }

    fn send_enter<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<(), RuntimeError>> {
        Box::pin(Zellij::send_enter(self, name))
    }

    fn attach(&self, name: &str) -> AttachSpec {
        self.attach_spec(name)
    }

    fn list_orphans(&self) -> BoxFuture<'_, Result<Vec<TaggedSession>, RuntimeError>> {
        Box::pin(Zellij::list_orphans(self))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ao_protocol::SessionId;

    #[test]
    fn socket_dir_is_per_uid_and_ao_home() {
        let a = socket_dir(Path::new("/home/u/.ao"), 1000);
        let digest = hex::encode(Sha256::digest(b"/home/u/.ao"));
        assert_eq!(
            a,
            PathBuf::from(format!("/tmp/ao-zellij-1000-{}", &digest[..8]))
        );
        assert_ne!(a, socket_dir(Path::new("/home/u/.ao2"), 1000));
        assert_ne!(a, socket_dir(Path::new("/home/u/.ao"), 1001));
        // The longest runtime name (48) still fits zellij's 108-byte socket path limit.
        let longest = socket_dir(Path::new("/x"), u32::MAX)
            .join("contract_version_1")
            .join("n".repeat(48));
        assert!(longest.as_os_str().len() < 108, "{}", longest.display());
    }

    #[test]
    fn layout_has_the_exact_shape_and_escapes_kdl() {
        assert_eq!(
            layout("/w/t", "'a' 'b'; exit \"$s\""),
            "layout {\n  cwd \"/w/t\"\n  pane command=\"/bin/sh\" name=\"agent\" borderless=true {\n    args \"-c\" \"'a' 'b'; exit \\\"$s\\\"\"\n  }\n}\n"
        );
        assert_eq!(kdl_string("a\\b\n\t\r\u{1}"), "\"a\\\\b\\n\\t\\r\\u{1}\"");
        assert_eq!(kdl_string("ünï ✓ $x"), "\"ünï ✓ $x\"");
    }

    #[test]
    fn versions() {
        assert_eq!(parse_version("zellij 0.45.1"), Some(vec![0, 45, 1]));
        assert_eq!(parse_version("zellij 0.44.3\n"), Some(vec![0, 44, 3]));
        assert_eq!(parse_version("zellij"), None);
        assert!(at_least(&[0, 44, 3], &MIN_VERSION));
        assert!(at_least(&[0, 45], &MIN_VERSION));
        assert!(at_least(&[1], &MIN_VERSION));
        assert!(!at_least(&[0, 44, 2], &MIN_VERSION));
        assert!(!at_least(&[0, 43, 9], &MIN_VERSION));
    }

    #[test]
    fn sessions_listing_skips_resurrectable_entries() {
        let out = "p-2 [Created 3s ago] \nold [Created 2days ago] (EXITED - attach to resurrect)\np-1 [Created 1m ago] \n\n";
        let live = parse_sessions(out);
        assert_eq!(live, HashSet::from(["p-1".to_string(), "p-2".to_string()]));
    }

    #[test]
    fn classification_reads_the_agent_pane() {
        let dir = tempfile::tempdir().expect("tempdir");
        let z = Zellij::new(dir.path(), dir.path());
        let target = ProbeTarget {
            name: "demo-1".into(),
            session_id: SessionId::parse("demo-1").expect("valid"),
        };
        let json = |s: &str| serde_json::from_str::<Vec<Pane>>(s).expect("pane json");
        let plugin_only = json(r#"[{"id":0,"is_plugin":true,"title":"agent","exited":false}]"#);
        assert_eq!(z.classify(&plugin_only, &target), Probe::Missing);
        let alive = json(
            r#"[{"id":2,"is_plugin":false,"title":"other","exited":true,"exit_status":1},
                {"id":0,"is_plugin":false,"title":"agent","exited":false,"exit_status":null,"tab_id":0}]"#,
        );
        assert_eq!(z.classify(&alive, &target), Probe::Alive);
        assert_eq!(
            agent_pane(&alive).map(Pane::target).as_deref(),
            Some("terminal_0")
        );
        let exited =
            json(r#"[{"id":0,"is_plugin":false,"title":"agent","exited":true,"exit_status":3}]"#);
        assert_eq!(z.classify(&exited, &target), Probe::Exited(Some(3)));
        // No status from zellij: the launch string's exit-status file is the fallback.
        let no_status = json(r#"[{"id":0,"is_plugin":false,"title":"agent","exited":true}]"#);
        assert_eq!(z.classify(&no_status, &target), Probe::Exited(None));
        let file = exit_status_path(dir.path(), &target.session_id);
        std::fs::create_dir_all(file.parent().expect("parent")).expect("mkdir");
        std::fs::write(&file, "42").expect("write");
        assert_eq!(z.classify(&no_status, &target), Probe::Exited(Some(42)));
        // The agent recorded its exit but zellij has not noticed the shell's exit yet.
        assert_eq!(z.classify(&alive, &target), Probe::Exited(Some(42)));
    }

    #[tokio::test]
    async fn an_old_zellij_fails_create_and_its_version_is_asked_once() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().expect("tempdir");
        let calls = dir.path().join("calls");
        let fake = dir.path().join("zellij");
        std::fs::write(
            &fake,
            format!(
                "#!/bin/sh\necho \"$*\" >> '{}'\necho 'zellij 0.44.2'\n",
                calls.display()
            ),
        )
        .expect("write the fake");
        std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        // Another test thread may fork while our write fd is open ("text file busy"): retry.
        let deadline = Instant::now() + Duration::from_secs(10);
        while process::run(&Cmd::new(fake.to_string_lossy()))
            .await
            .is_err()
        {
            assert!(Instant::now() < deadline, "the fake zellij never ran");
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        std::fs::remove_file(&calls).expect("reset the call log");

        let z = Zellij::new(dir.path().join("home"), dir.path().join("data"))
            .with_program(fake.to_string_lossy());
        let spec = CreateSpec {
            name: "demo-1".into(),
            session_id: SessionId::parse("demo-1").expect("valid"),
            cwd: dir.path().to_path_buf(),
            launch: super::super::LaunchSpec {
                argv: vec!["true".into()],
                env: BTreeMap::new(),
            },
        };
        for _ in 0..2 {
            let err = z.create(&spec).await.expect_err("too old");
            assert_eq!(err.code(), ao_protocol::ErrorCode::RuntimeError);
            assert_eq!(
                err.to_string(),
                "zellij 0.44.2 is too old: AO needs zellij 0.44.3 or later"
            );
        }
        assert_eq!(
            std::fs::read_to_string(&calls).expect("calls"),
            "--version\n",
            "asked once, and nothing else was run"
        );

        let missing = Zellij::new(dir.path(), dir.path()).with_program("ao-no-such-zellij");
        assert!(matches!(
            missing.create(&spec).await,
            Err(RuntimeError::Command(
                process::ProcessError::NotInstalled { .. }
            ))
        ));
    }

    #[test]
    fn attach_sets_the_socket_dir() {
        let z = Zellij::new("/h", "/h/data");
        let spec = Runtime::attach(&z, "demo-1");
        assert_eq!(spec.argv, ["zellij", "attach", "demo-1"]);
        assert_eq!(
            spec.env,
            BTreeMap::from([(
                "ZELLIJ_SOCKET_DIR".to_string(),
                z.socket_dir().to_string_lossy().into_owned()
            )])
        );
    }
}
