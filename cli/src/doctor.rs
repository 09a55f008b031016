//! `ao doctor` (cli.md §2.2): environment, file, tool, agent and GitHub checks.
//!
//! Doctor never opens, creates or migrates the database and never starts the daemon; it only
//! looks at files, probes `/healthz`/`/readyz` like `ao status`, and runs bounded `--version`
//! probes (5 s each, concurrently). Each check yields a [`Check`]; the [`Report`] renders the
//! text form (`<LEVEL> <name>: <message>` under `Core`/`Tools`/`Agents`/`GitHub` headers, then
//! `<F> failure(s), <W> warning(s)`) and the JSON form. Any FAIL makes the command exit 1.

use std::fmt::Write as _;
use std::future::Future;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::pin::Pin;
use std::time::Duration;

use ao_protocol::{DaemonState, EnvConfig, Harness, RuntimeKind};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

use crate::error::CliError;
use crate::output::{self, Colour};
use crate::probe::{self, ProbeOutcome};
use crate::status;

const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// Section names, in output order.
pub const SECTIONS: [&str; 4] = ["Core", "Tools", "Agents", "GitHub"];

/// A check's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Pass,
    Warn,
    Fail,
}

impl Level {
    fn word(self) -> &'static str {
        match self {
            Level::Pass => "PASS",
            Level::Warn => "WARN",
            Level::Fail => "FAIL",
        }
    }
}

/// One line of the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    pub section: &'static str,
    pub name: String,
    pub level: Level,
    pub message: String,
}

fn check(section: &'static str, name: &str, (level, message): (Level, String)) -> Check {
    Check {
        section,
        name: name.to_string(),
        level,
        message,
    }
}

/// The `--json` form of a [`Report`].
#[derive(Debug, Serialize)]
pub struct ReportJson<'a> {
    pub ok: bool,
    pub failures: usize,
    pub warnings: usize,
    pub checks: &'a [Check],
}

/// All checks, in output order.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub checks: Vec<Check>,
}

impl Report {
    fn count(&self, level: Level) -> usize {
        self.checks.iter().filter(|c| c.level == level).count()
    }

    pub fn failures(&self) -> usize {
        self.count(Level::Fail)
    }

    pub fn warnings(&self) -> usize {
        self.count(Level::Warn)
    }

    /// `{ok, failures, warnings, checks:[{section, name, level, message}]}`, keys in this order.
    pub fn json_view(&self) -> ReportJson<'_> {
        ReportJson {
            ok: self.failures() == 0,
            failures: self.failures(),
            warnings: self.warnings(),
            checks: &self.checks,
        }
    }

    /// [`Report::json_view`] as a JSON value.
    pub fn to_json(&self) -> Value {
        serde_json::to_value(self.json_view()).unwrap_or(Value::Null)
    }

    /// The text form.
    pub fn render_text(&self, colour: bool) -> String {
        let mut out = String::new();
        for section in SECTIONS {
            let mut header = false;
            for c in self.checks.iter().filter(|c| c.section == section) {
                if !header {
                    out.push_str(section);
                    out.push('\n');
                    header = true;
                }
                let paint = match c.level {
                    Level::Pass => Colour::Green,
                    Level::Warn => Colour::Yellow,
                    Level::Fail => Colour::Red,
                };
                let _ = writeln!(
                    out,
                    "{} {}: {}",
                    output::paint(c.level.word(), paint, colour),
                    c.name,
                    c.message
                );
            }
        }
        let _ = writeln!(
            out,
            "{} failure(s), {} warning(s)",
            self.failures(),
            self.warnings()
        );
        out
    }
}

/// `ao doctor`.
pub async fn run(json: bool) -> Result<(), CliError> {
    let report = collect().await;
    if json {
        output::json(&report.json_view())?;
    } else {
        output::raw(&report.render_text(output::colour_enabled()))?;
    }
    if report.failures() > 0 {
        Err(CliError::Quiet(1))
    } else {
        Ok(())
    }
}

/// Runs every check.
pub async fn collect() -> Report {
    let mut report = Report::default();
    let env = match EnvConfig::from_env() {
        Ok(env) => {
            report.checks.push(check(
                "Core",
                "config",
                (Level::Pass, "environment valid".into()),
            ));
            env
        }
        Err(e) => {
            report
                .checks
                .push(check("Core", "config", (Level::Fail, e.to_string())));
            return report;
        }
    };
    let now = Utc::now();
    report
        .checks
        .push(check("Core", "home", check_home(&env.home)));
    report
        .checks
        .push(check("Core", "data-dir", check_data_dir(&env.data_dir)));
    report
        .checks
        .push(check("Core", "run-file", check_run_file(&env.run_file)));
    report
        .checks
        .push(check("Core", "sqlite", check_sqlite(&env.db_path())));
    report.checks.push(check(
        "Core",
        "hooks-log",
        check_hooks_log(&env.hooks_log(), now),
    ));
    let daemon = status::probe(&env, false).await;
    report
        .checks
        .push(check("Core", "daemon", check_daemon(&daemon)));
    let zellij_projects = projects_using(&daemon, RuntimeKind::Zellij).await;

    type Job = Pin<Box<dyn Future<Output = Check>>>;
    let runtime = env.runtime;
    let mut jobs: Vec<Job> = vec![
        Box::pin(async { check("Tools", "git", tool_git().await) }),
        Box::pin(async { check("Tools", "tmux", tool_tmux().await) }),
        Box::pin(async move {
            check(
                "Tools",
                "zellij",
                tool_zellij(runtime, &zellij_projects).await,
            )
        }),
        Box::pin(async { check("Tools", "ao-binary", tool_ao_binary()) }),
    ];
    for harness in agent_harnesses() {
        jobs.push(Box::pin(async move {
            check("Agents", harness.as_str(), agent(harness).await)
        }));
    }
    jobs.push(Box::pin(async {
        check("Agents", "codex-launch-flags", codex_flags().await)
    }));
    jobs.push(Box::pin(async {
        check("GitHub", "github-token", github_token().await)
    }));
    report
        .checks
        .extend(futures_util::future::join_all(jobs).await);
    report
}

/// The agents doctor checks (cli.md §2.2): every harness but `command`, in [`Harness::ALL`]
/// order. Their binaries and install directories are the adapters' ([`Harness::binary_name`],
/// [`Harness::home_bin_dir`]).
fn agent_harnesses() -> impl Iterator<Item = Harness> {
    Harness::ALL
        .iter()
        .copied()
        .filter(|h| *h != Harness::Command)
}

fn mode_of(m: &std::fs::Metadata) -> u32 {
    m.permissions().mode() & 0o777
}

fn writable(p: &Path) -> bool {
    nix::unistd::access(
        p,
        nix::unistd::AccessFlags::W_OK | nix::unistd::AccessFlags::X_OK,
    )
    .is_ok()
}

/// Core `home`.
pub fn check_home(p: &Path) -> (Level, String) {
    let d = p.display();
    match std::fs::metadata(p) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => (
            Level::Warn,
            format!("{d} is missing; will be created by `ao start`"),
        ),
        Err(e) => (Level::Fail, format!("{d}: {e}")),
        Ok(m) if !m.is_dir() => (Level::Fail, format!("{d} is not a directory")),
        Ok(_) if !writable(p) => (Level::Fail, format!("{d} is not writable")),
        Ok(m) if mode_of(&m) & 0o077 != 0 => (
            Level::Warn,
            format!("{d} has mode {:04o}; expected 0700", mode_of(&m)),
        ),
        Ok(_) => (Level::Pass, format!("{d} (mode 0700)")),
    }
}

/// Core `data-dir`: a write probe.
pub fn check_data_dir(p: &Path) -> (Level, String) {
    let d = p.display();
    match std::fs::metadata(p) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => (
            Level::Warn,
            format!("{d} is missing; will be created by `ao start`"),
        ),
        Err(e) => (Level::Fail, format!("{d}: {e}")),
        Ok(m) if !m.is_dir() => (Level::Fail, format!("{d} is not a directory")),
        Ok(_) => {
            let probe = p.join(format!(".ao-doctor-probe-{}", std::process::id()));
            let res = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&probe)
                .and_then(|_| std::fs::remove_file(&probe));
            match res {
                Ok(()) => (Level::Pass, format!("{d} is writable")),
                Err(e) => (Level::Fail, format!("{d} is not writable: {e}")),
            }
        }
    }
}

/// Core `run-file`.
pub fn check_run_file(p: &Path) -> (Level, String) {
    let d = p.display();
    match std::fs::metadata(p) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            (Level::Pass, format!("{d} is absent"))
        }
        Err(e) => (Level::Fail, format!("{d} is unreadable: {e}")),
        Ok(m) => {
            if let Err(e) = std::fs::read(p) {
                return (Level::Fail, format!("{d} is unreadable: {e}"));
            }
            let mode = mode_of(&m);
            if mode | 0o600 == 0o600 {
                (Level::Pass, format!("{d} (mode {mode:04o})"))
            } else {
                (
                    Level::Warn,
                    format!("{d} has mode {mode:04o}; expected 0600"),
                )
            }
        }
    }
}

/// Core `sqlite`: existence only (doctor never opens the database).
pub fn check_sqlite(db: &Path) -> (Level, String) {
    if db.exists() {
        (
            Level::Pass,
            format!(
                "{} exists (migrations are applied by the daemon at startup)",
                db.display()
            ),
        )
    } else {
        (
            Level::Warn,
            "database not created yet; run `ao start`".into(),
        )
    }
}

/// Core `hooks-log`: failure lines (`<RFC3339> session=<id> ao hooks …`) of the last 24 h.
pub fn check_hooks_log(p: &Path, now: DateTime<Utc>) -> (Level, String) {
    let text = match std::fs::read(p) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return (Level::Pass, "no hook failures in the last 24h".into());
        }
        Err(e) => return (Level::Warn, format!("cannot read {}: {e}", p.display())),
        Ok(b) => String::from_utf8_lossy(&b).into_owned(),
    };
    let since = now - chrono::Duration::hours(24);
    let recent: Vec<&str> = text
        .lines()
        .filter(|l| {
            l.split_whitespace()
                .next()
                .and_then(ao_protocol::time::parse)
                .is_some_and(|t| t >= since)
        })
        .collect();
    match recent.last() {
        None => (Level::Pass, "no hook failures in the last 24h".into()),
        Some(latest) => (
            Level::Warn,
            format!(
                "{} hook failure(s) in the last 24h; latest: {latest}",
                recent.len()
            ),
        ),
    }
}

fn check_daemon(p: &status::Probe) -> (Level, String) {
    let pid = p.run.as_ref().map_or(0, |r| r.pid);
    let err = p.error.clone().unwrap_or_default();
    match p.state {
        DaemonState::Ready => {
            let port = p.run.as_ref().map_or(0, |r| r.port);
            (Level::Pass, format!("ready (pid {pid}, port {port})"))
        }
        DaemonState::Stopped => (Level::Pass, "stopped".into()),
        DaemonState::Stale => (Level::Warn, format!("stale ({err})")),
        DaemonState::NotReady => (Level::Warn, format!("not ready (pid {pid})")),
        DaemonState::Unhealthy => (Level::Fail, format!("unhealthy (pid {pid}: {err})")),
    }
}

/// The first dotted number in a version line (`git version 2.43.0`, `tmux 3.3a`,
/// `tmux next-3.5`, `zellij 0.44.3`).
pub fn parse_version(line: &str) -> Option<Vec<u64>> {
    let start = line.find(|c: char| c.is_ascii_digit())?;
    let num: String = line[start..]
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    let parts: Vec<u64> = num
        .split('.')
        .filter(|s| !s.is_empty())
        .map(str::parse)
        .collect::<Result<_, _>>()
        .ok()?;
    (!parts.is_empty()).then_some(parts)
}

/// `have >= want`, missing components counting as 0.
pub fn at_least(have: &[u64], want: &[u64]) -> bool {
    let n = have.len().max(want.len());
    let pad = |v: &[u64]| {
        (0..n)
            .map(|i| v.get(i).copied().unwrap_or(0))
            .collect::<Vec<_>>()
    };
    pad(have) >= pad(want)
}

async fn tool_git() -> (Level, String) {
    let out = probe::run(Path::new("git"), &["--version"], PROBE_TIMEOUT).await;
    if out == ProbeOutcome::NotFound {
        return (Level::Fail, "git is not installed".into());
    }
    if !out.success() {
        return (
            Level::Fail,
            format!("`git --version` failed: {}", out.failure()),
        );
    }
    let line = out.first_line();
    match parse_version(&line) {
        Some(v) if at_least(&v, &[2, 25]) => (Level::Pass, line),
        Some(_) => (Level::Warn, format!("{line} is older than 2.25")),
        None => (Level::Warn, format!("cannot parse `git --version`: {line}")),
    }
}

async fn tool_tmux() -> (Level, String) {
    let out = probe::run(Path::new("tmux"), &["-V"], PROBE_TIMEOUT).await;
    if out == ProbeOutcome::NotFound {
        return (
            Level::Warn,
            "tmux is not installed (the default runtime needs it)".into(),
        );
    }
    if !out.success() {
        return (Level::Fail, format!("`tmux -V` failed: {}", out.failure()));
    }
    let line = out.first_line();
    match parse_version(&line) {
        Some(v) if at_least(&v, &[3, 0]) => (Level::Pass, line),
        Some(_) => (Level::Warn, format!("{line} is older than 3.0")),
        None => (Level::Warn, format!("cannot parse `tmux -V`: {line}")),
    }
}

/// The ids of the projects whose runtime (`config.runtime`, else `AO_RUNTIME`) is `kind`, as a
/// ready daemon reports them (doctor never opens the database); empty without one.
async fn projects_using(daemon: &status::Probe, kind: RuntimeKind) -> Vec<String> {
    let Some(client) = daemon
        .client
        .as_ref()
        .filter(|_| daemon.state == DaemonState::Ready)
    else {
        return Vec::new();
    };
    let Ok(body) = client.get(&["projects"], &[]).await else {
        return Vec::new();
    };
    let Ok(list) = body.decode::<ao_protocol::ProjectList>("projects") else {
        return Vec::new();
    };
    list.projects
        .into_iter()
        .filter(|p| p.runtime == kind)
        .map(|p| p.id.to_string())
        .collect()
}

async fn tool_zellij(runtime: RuntimeKind, projects: &[String]) -> (Level, String) {
    let out = probe::run(Path::new("zellij"), &["--version"], PROBE_TIMEOUT).await;
    zellij_verdict(&out, runtime, projects)
}

/// Tools `zellij`: required (a WARN when missing or too old) only when it is the default runtime
/// or some project uses it; otherwise a missing zellij is fine.
pub fn zellij_verdict(
    out: &ProbeOutcome,
    runtime: RuntimeKind,
    projects: &[String],
) -> (Level, String) {
    let needed_by = if runtime == RuntimeKind::Zellij {
        Some("AO_RUNTIME=zellij".to_string())
    } else if projects.is_empty() {
        None
    } else {
        Some(format!("project(s) {} use it", projects.join(", ")))
    };
    if *out == ProbeOutcome::NotFound {
        return match needed_by {
            Some(why) => (Level::Warn, format!("zellij is not installed but {why}")),
            None => (Level::Pass, "not installed (optional)".into()),
        };
    }
    if !out.success() {
        return (
            Level::Warn,
            format!("`zellij --version` failed: {}", out.failure()),
        );
    }
    let line = out.first_line();
    match parse_version(&line) {
        Some(v) if at_least(&v, &[0, 44, 3]) => (Level::Pass, line),
        Some(_) => match needed_by {
            Some(why) => (
                Level::Warn,
                format!("{line} is older than 0.44.3 but {why}"),
            ),
            None => (Level::Warn, format!("{line} is older than 0.44.3")),
        },
        None => (
            Level::Warn,
            format!("cannot parse `zellij --version`: {line}"),
        ),
    }
}

fn tool_ao_binary() -> (Level, String) {
    let Some(on_path) = probe::find_on_path("ao") else {
        return (Level::Warn, "`ao` is not on PATH".into());
    };
    let this = std::env::current_exe().and_then(std::fs::canonicalize);
    let found = std::fs::canonicalize(&on_path);
    match (this, found) {
        (Ok(a), Ok(b)) if a == b => (Level::Pass, on_path.display().to_string()),
        (Ok(a), _) => (
            Level::Warn,
            format!(
                "`ao` on PATH is {}, not this executable ({})",
                on_path.display(),
                a.display()
            ),
        ),
        (Err(e), _) => (Level::Warn, format!("cannot locate this executable: {e}")),
    }
}

/// Agents `<harness>`: the binary, looked up as adapters.md §5.4 says, and its `--version`.
async fn agent(harness: Harness) -> (Level, String) {
    let bin = harness.binary_name();
    let own_dir = harness.home_bin_dir().map(|d| format!("~/{d}"));
    let extra: Vec<&str> = own_dir.iter().map(String::as_str).collect();
    let Some(path) = probe::find_binary(bin, &extra) else {
        return agent_verdict(bin, None);
    };
    let out = probe::run(&path, &["--version"], PROBE_TIMEOUT).await;
    agent_verdict(bin, Some((&path, &out)))
}

/// The verdict on agent binary `bin`, found at a path whose `--version` probe gave an outcome,
/// or not found: PASS with the first output line (the path when there is none), else WARN.
pub fn agent_verdict(bin: &str, found: Option<(&Path, &ProbeOutcome)>) -> (Level, String) {
    let Some((path, out)) = found else {
        return (Level::Warn, format!("not installed (`{bin}` not found)"));
    };
    if out.success() {
        let line = out.first_line();
        if line.is_empty() {
            (Level::Pass, path.display().to_string())
        } else {
            (Level::Pass, line)
        }
    } else {
        (
            Level::Warn,
            format!("`{} --version` failed: {}", path.display(), out.failure()),
        )
    }
}

async fn codex_flags() -> (Level, String) {
    let Some(path) = probe::find_binary("codex", &[]) else {
        return (Level::Pass, "codex is not installed".into());
    };
    let out = probe::run(
        &path,
        &[
            "--dangerously-bypass-hook-trust",
            "-c",
            "check_for_update_on_startup=false",
            "--version",
        ],
        PROBE_TIMEOUT,
    )
    .await;
    if out.success() {
        (Level::Pass, "codex accepts AO's launch flags".into())
    } else {
        (
            Level::Warn,
            format!("codex rejects AO's flags: {}", out.failure()),
        )
    }
}

/// Finds the token source without calling GitHub (the SCM milestone adds `GET /user`).
async fn github_token() -> (Level, String) {
    let from_env = ["AO_GITHUB_TOKEN", "GITHUB_TOKEN"]
        .into_iter()
        .find(|k| std::env::var(k).is_ok_and(|v| !v.trim().is_empty()));
    let source = match from_env {
        Some(k) => Some(k.to_string()),
        None => match probe::find_binary("gh", &[]) {
            None => None,
            Some(gh) => {
                let out = probe::run(&gh, &["auth", "token"], PROBE_TIMEOUT).await;
                match out {
                    ProbeOutcome::Exited {
                        code: Some(0),
                        ref stdout,
                        ..
                    } if !stdout.trim().is_empty() => Some("gh".to_string()),
                    _ => None,
                }
            }
        },
    };
    match source {
        None => (
            Level::Warn,
            "no token (AO_GITHUB_TOKEN, GITHUB_TOKEN, gh auth token)".into(),
        ),
        Some(s) => (
            Level::Warn,
            format!(
                "token found via {s}; not checked yet (GitHub support arrives with the SCM milestone)"
            ),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn versions_parse_and_compare() {
        assert_eq!(parse_version("git version 2.43.0"), Some(vec![2, 43, 0]));
        assert_eq!(parse_version("tmux 3.3a"), Some(vec![3, 3]));
        assert_eq!(parse_version("tmux next-3.5"), Some(vec![3, 5]));
        assert_eq!(parse_version("zellij 0.44.3"), Some(vec![0, 44, 3]));
        assert_eq!(parse_version("tmux master"), None);
        assert!(at_least(&[2, 25], &[2, 25, 0]));
        assert!(at_least(&[3], &[3, 0]));
        assert!(!at_least(&[2, 24, 9], &[2, 25]));
        assert!(!at_least(&[0, 44, 2], &[0, 44, 3]));
        assert!(at_least(&[0, 45], &[0, 44, 3]));
    }

    #[test]
    fn zellij_is_required_only_by_the_default_runtime_or_a_project() {
        let version = |v: &str| ProbeOutcome::Exited {
            code: Some(0),
            stdout: format!("zellij {v}\n"),
            stderr: String::new(),
        };
        let none: &[String] = &[];
        let users = ["z".to_string(), "w".to_string()];
        let missing = ProbeOutcome::NotFound;
        assert_eq!(
            zellij_verdict(&missing, RuntimeKind::Tmux, none),
            (Level::Pass, "not installed (optional)".into())
        );
        assert_eq!(
            zellij_verdict(&missing, RuntimeKind::Zellij, none),
            (
                Level::Warn,
                "zellij is not installed but AO_RUNTIME=zellij".into()
            )
        );
        assert_eq!(
            zellij_verdict(&missing, RuntimeKind::Tmux, &users),
            (
                Level::Warn,
                "zellij is not installed but project(s) z, w use it".into()
            )
        );
        assert_eq!(
            zellij_verdict(&version("0.45.1"), RuntimeKind::Tmux, &users),
            (Level::Pass, "zellij 0.45.1".into())
        );
        assert_eq!(
            zellij_verdict(&version("0.44.2"), RuntimeKind::Zellij, none),
            (
                Level::Warn,
                "zellij 0.44.2 is older than 0.44.3 but AO_RUNTIME=zellij".into()
            )
        );
        assert_eq!(
            zellij_verdict(&version("0.44.2"), RuntimeKind::Tmux, none).0,
            Level::Warn
        );
    }

    #[test]
    fn every_seed_agent_is_checked_and_judged_by_its_version_probe() {
        let names: Vec<&str> = agent_harnesses().map(Harness::as_str).collect();
        assert_eq!(
            names,
            [
                "claude-code",
                "codex",
                "opencode",
                "grok",
                "cursor",
                "qwen",
                "copilot",
                "kimi"
            ]
        );
        assert_eq!(
            agent_verdict("cursor-agent", None),
            (
                Level::Warn,
                "not installed (`cursor-agent` not found)".to_string()
            )
        );
        let path = Path::new("/opt/bin/qwen");
        let exited = |code, stdout: &str| ProbeOutcome::Exited {
            code: Some(code),
            stdout: stdout.to_string(),
            stderr: String::new(),
        };
        assert_eq!(
            agent_verdict("qwen", Some((path, &exited(0, "0.24.4\n")))),
            (Level::Pass, "0.24.4".to_string())
        );
        assert_eq!(
            agent_verdict("qwen", Some((path, &exited(0, "")))),
            (Level::Pass, "/opt/bin/qwen".to_string())
        );
        assert_eq!(
            agent_verdict("qwen", Some((path, &exited(2, "unknown flag")))),
            (
                Level::Warn,
                "`/opt/bin/qwen --version` failed: exited with status 2: unknown flag".to_string()
            )
        );
        assert_eq!(
            agent_verdict("qwen", Some((path, &ProbeOutcome::TimedOut))).0,
            Level::Warn
        );
    }

    #[test]
    fn home_and_data_dir_checks() {
        let dir = tempfile::tempdir().expect("tempdir");
        let missing = dir.path().join("missing");
        assert_eq!(check_home(&missing).0, Level::Warn);
        assert_eq!(check_data_dir(&missing).0, Level::Warn);
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700))
            .expect("chmod");
        assert_eq!(check_home(dir.path()).0, Level::Pass);
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))
            .expect("chmod");
        let (level, msg) = check_home(dir.path());
        assert_eq!(level, Level::Warn);
        assert!(msg.ends_with("has mode 0755; expected 0700"), "{msg}");
        assert_eq!(check_data_dir(dir.path()).0, Level::Pass);
        let file = dir.path().join("f");
        std::fs::write(&file, "x").expect("write");
        assert_eq!(check_home(&file).0, Level::Fail);
    }

    #[test]
    fn run_file_and_sqlite_checks() {
        let dir = tempfile::tempdir().expect("tempdir");
        let rf = dir.path().join("running.json");
        assert_eq!(check_run_file(&rf).0, Level::Pass);
        std::fs::write(&rf, "{}").expect("write");
        std::fs::set_permissions(&rf, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        assert_eq!(check_run_file(&rf).0, Level::Pass);
        std::fs::set_permissions(&rf, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        assert_eq!(check_run_file(&rf).0, Level::Warn);
        let db = dir.path().join("ao.db");
        assert_eq!(
            check_sqlite(&db),
            (
                Level::Warn,
                "database not created yet; run `ao start`".to_string()
            )
        );
        std::fs::write(&db, "").expect("write");
        assert_eq!(check_sqlite(&db).0, Level::Pass);
    }

    #[test]
    fn hooks_log_counts_the_last_day() {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = dir.path().join("hooks.log");
        let now = ao_protocol::time::parse("2026-07-02T12:00:00.000Z").expect("ts");
        assert_eq!(check_hooks_log(&log, now).0, Level::Pass);
        std::fs::write(
            &log,
            "2026-06-30T12:00:00.000Z session=a-1 ao hooks codex stop: old\n\
             garbage\n\
             2026-07-02T01:00:00.000Z session=a-2 ao hooks codex stop: refused\n\
             2026-07-02T11:00:00.000Z session=a-3 ao hooks claude-code stop: timeout\n",
        )
        .expect("write");
        assert_eq!(
            check_hooks_log(&log, now),
            (
                Level::Warn,
                "2 hook failure(s) in the last 24h; latest: \
                 2026-07-02T11:00:00.000Z session=a-3 ao hooks claude-code stop: timeout"
                    .to_string()
            )
        );
    }

    #[test]
    fn report_formats() {
        let report = Report {
            checks: vec![
                check("Core", "config", (Level::Pass, "environment valid".into())),
                check("Core", "home", (Level::Warn, "missing".into())),
                check("Tools", "git", (Level::Fail, "git is not installed".into())),
            ],
        };
        assert_eq!(
            report.render_text(false),
            "Core\nPASS config: environment valid\nWARN home: missing\n\
             Tools\nFAIL git: git is not installed\n1 failure(s), 1 warning(s)\n"
        );
        let j = report.to_json();
        assert_eq!(j["ok"], false);
        assert_eq!(j["failures"], 1);
        assert_eq!(j["warnings"], 1);
        assert_eq!(
            j["checks"][2],
            json!({"section": "Tools", "name": "git", "level": "fail",
                "message": "git is not installed"})
        );
    }
}
