//! Session and orchestrator commands (cli.md §4, §5): `spawn`, `send`, `attach`,
//! `session ls|get|kill|restore|rename|cleanup|claim-pr` and `orchestrator ls|start`.
//!
//! Pure parts (request bodies, usage rules, text rendering) are separate functions with unit
//! tests; the async functions make the HTTP calls. Usage rules marked (2) in the spec are
//! checked before any mutating call: most before the environment is even read, the `-p`
//! project check right after a `GET` of the session.
//!
//! `attach` replaces this process with the multiplexer client (`exec`), after removing
//! `TMUX`, `TMUX_PANE` and every `ZELLIJ*` variable from the environment (adapters.md §2.4).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{BufRead, IsTerminal, Read, Write};
use std::os::unix::process::CommandExt;
use std::time::Duration;

use ao_protocol::{
    AttachResponse, ClaimCheckout, ClaimResult, CleanupResponse, EnvConfig, KillResponse,
    RenameResponse, RestoreResponse, SendResponse, Session, SessionEnvelope, SessionList,
    SessionListing, SpawnResponse,
};
use chrono::{DateTime, Utc};
use reqwest::Method;
use serde_json::{Value, json};

use crate::client::{Body, Daemon, Timeout};
use crate::error::CliError;
use crate::output;

/// `-` for an empty or absent cell.
fn cell(v: Option<&str>) -> String {
    match v {
        Some(s) if !s.is_empty() => s.to_string(),
        _ => "-".into(),
    }
}

/// Reads a `--prompt-file`/`--message-file` argument: a path, or `-` for stdin.
pub fn read_text_arg(path: &str) -> Result<String, CliError> {
    if path == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|e| CliError::Failed(format!("cannot read stdin: {e}")))?;
        Ok(text)
    } else {
        std::fs::read_to_string(path)
            .map_err(|e| CliError::Failed(format!("cannot read {path}: {e}")))
    }
}

/// `ao spawn` flags (after clap).
#[derive(Debug, Clone, Default)]
pub struct SpawnFlags {
    pub project: String,
    pub harness: Option<String>,
    pub branch: Option<String>,
    pub prompt: Option<String>,
    pub prompt_file: Option<String>,
    pub issue: Option<String>,
    pub name: Option<String>,
    pub command: Option<String>,
    pub claim_pr: Option<String>,
    pub no_takeover: bool,
    pub attach: bool,
    pub json: bool,
}

impl SpawnFlags {
    /// The usage rules (2) of `ao spawn`.
    pub fn check(&self) -> Result<(), CliError> {
        if self.no_takeover && self.claim_pr.is_none() {
            return Err(CliError::Usage("--no-takeover requires --claim-pr".into()));
        }
        if self.prompt.is_some() && self.prompt_file.is_some() {
            return Err(CliError::Usage(
                "--prompt and --prompt-file cannot be used together".into(),
            ));
        }
        Ok(())
    }

    /// The `POST /sessions` body, with the prompt already read.
    pub fn body(&self, prompt: Option<&str>) -> Value {
        let mut body = json!({ "projectId": self.project, "kind": "worker" });
        let fields = [
            ("harness", self.harness.as_deref()),
            ("branch", self.branch.as_deref()),
            ("prompt", prompt),
            ("issueId", self.issue.as_deref()),
            ("displayName", self.name.as_deref()),
            ("command", self.command.as_deref()),
        ];
        for (key, value) in fields {
            if let Some(v) = value {
                body[key] = json!(v);
            }
        }
        if let Some(pr) = &self.claim_pr {
            body["claimPr"] = json!({ "pr": pr, "allowTakeover": !self.no_takeover });
        }
        body
    }
}

/// The prompt given by `--prompt` or `--prompt-file`.
fn prompt_of(prompt: Option<&String>, file: Option<&String>) -> Result<Option<String>, CliError> {
    match (prompt, file) {
        (Some(p), _) => Ok(Some(p.clone())),
        (None, Some(f)) => read_text_arg(f).map(Some),
        (None, None) => Ok(None),
    }
}

/// A spinner on stderr while a long request runs (only when stderr is a terminal).
struct Spinner(Option<tokio::task::JoinHandle<()>>);

impl Spinner {
    fn start(label: &'static str, enabled: bool) -> Self {
        if !enabled || !std::io::stderr().is_terminal() {
            return Self(None);
        }
        Self(Some(tokio::spawn(async move {
            const FRAMES: [char; 10] = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
            let mut i = 0usize;
            loop {
                let _ = write!(std::io::stderr(), "\r{} {label}", FRAMES[i % FRAMES.len()]);
                let _ = std::io::stderr().flush();
                i += 1;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })))
    }

    fn stop(self) {
        if let Some(task) = self.0 {
            task.abort();
            let _ = write!(std::io::stderr(), "\r\x1b[K");
            let _ = std::io::stderr().flush();
        }
    }
}

/// Runs a long call with a spinner.
async fn with_spinner<T>(label: &'static str, enabled: bool, fut: impl Future<Output = T>) -> T {
    let spinner = Spinner::start(label, enabled);
    let out = fut.await;
    spinner.stop();
    out
}

/// Fails with `ao attach needs a terminal` when stdin is not a TTY.
fn need_terminal() -> Result<(), CliError> {
    if std::io::stdin().is_terminal() {
        Ok(())
    } else {
        Err(CliError::Failed("ao attach needs a terminal".into()))
    }
}

/// The `spawned session …` / `started orchestrator …` lines.
pub fn render_started(verb: &str, s: &Session, claimed: Option<&str>) -> String {
    let mut out = format!("{verb} {} ({})", s.id, s.status);
    if let Some(url) = claimed {
        let _ = write!(out, " (claimed {url})");
    }
    let _ = write!(out, "\nattach with: ao attach {}\n", s.id);
    out
}

/// `ao spawn`.
pub async fn spawn(env: &EnvConfig, flags: &SpawnFlags) -> Result<(), CliError> {
    if flags.attach {
        need_terminal()?;
    }
    let prompt = prompt_of(flags.prompt.as_ref(), flags.prompt_file.as_ref())?;
    let d = Daemon::connect(env)?;
    let body = flags.body(prompt.as_deref());
    let resp = with_spinner(
        "spawning session…",
        !flags.json,
        d.call(Method::POST, &["sessions"], &[], Some(&body), Timeout::Long),
    )
    .await?;
    if flags.json {
        resp.print()?;
    } else {
        let r: SpawnResponse = resp.decode("spawn")?;
        let claimed = r
            .claim
            .as_ref()
            .and_then(|c| c.prs.first())
            .map(|p| p.url.as_str());
        output::raw(&render_started("spawned session", &r.session, claimed))?;
    }
    if flags.attach {
        let r: SpawnResponse = resp.decode("spawn")?;
        return exec_attach(&d, r.session.id.as_str()).await;
    }
    Ok(())
}

/// `ao orchestrator start` flags.
#[derive(Debug, Clone, Default)]
pub struct OrchestratorFlags {
    pub project: String,
    pub harness: Option<String>,
    pub prompt: Option<String>,
    pub prompt_file: Option<String>,
    pub clean: bool,
    pub attach: bool,
    pub json: bool,
}

impl OrchestratorFlags {
    pub fn check(&self) -> Result<(), CliError> {
        if self.prompt.is_some() && self.prompt_file.is_some() {
            return Err(CliError::Usage(
                "--prompt and --prompt-file cannot be used together".into(),
            ));
        }
        Ok(())
    }

    /// The `POST /orchestrators` body.
    pub fn body(&self, prompt: Option<&str>) -> Value {
        let mut body = json!({ "projectId": self.project, "clean": self.clean });
        if let Some(h) = &self.harness {
            body["harness"] = json!(h);
        }
        if let Some(p) = prompt {
            body["prompt"] = json!(p);
        }
        body
    }
}

/// `ao orchestrator start`.
pub async fn start_orchestrator(
    env: &EnvConfig,
    flags: &OrchestratorFlags,
) -> Result<(), CliError> {
    if flags.attach {
        need_terminal()?;
    }
    let prompt = prompt_of(flags.prompt.as_ref(), flags.prompt_file.as_ref())?;
    let d = Daemon::connect(env)?;
    let body = flags.body(prompt.as_deref());
    let resp = with_spinner(
        "starting orchestrator…",
        !flags.json,
        d.call(
            Method::POST,
            &["orchestrators"],
            &[],
            Some(&body),
            Timeout::Long,
        ),
    )
    .await?;
    let s = resp.decode::<SessionEnvelope>("orchestrator")?.session;
    if flags.json {
        resp.print()?;
    } else {
        output::raw(&render_started("started orchestrator", &s, None))?;
    }
    if flags.attach {
        return exec_attach(&d, s.id.as_str()).await;
    }
    Ok(())
}

/// `ao orchestrator ls`.
pub async fn list_orchestrators(
    env: &EnvConfig,
    project: Option<&str>,
    json: bool,
) -> Result<(), CliError> {
    let d = Daemon::connect(env)?;
    let query: Vec<(&str, String)> = project
        .map(|p| ("project", p.to_string()))
        .into_iter()
        .collect();
    let body = d.get(&["orchestrators"], &query).await?;
    if json {
        return body.print();
    }
    let list: SessionList = body.decode("orchestrator list")?;
    output::raw(&render_orchestrators(&list.sessions, Utc::now()))
}

/// Seconds since a timestamp (0 when it cannot be read).
fn age_of(ts: &str, now: DateTime<Utc>) -> String {
    let secs = ao_protocol::time::parse(ts).map_or(0, |t| (now - t).num_seconds());
    output::age(secs)
}

/// Groups sessions by project id (in id order), keeping their order within a project.
fn by_project(sessions: &[Session]) -> BTreeMap<String, Vec<&Session>> {
    let mut groups: BTreeMap<String, Vec<&Session>> = BTreeMap::new();
    for s in sessions {
        groups.entry(s.project_id.to_string()).or_default().push(s);
    }
    groups
}

/// `orchestrator ls` text: `  <id>  (<age>)  [<status>]  <harness>` grouped by project.
pub fn render_orchestrators(sessions: &[Session], now: DateTime<Utc>) -> String {
    if sessions.is_empty() {
        return "(no orchestrators)\n".into();
    }
    let mut out = String::new();
    for (project, group) in by_project(sessions) {
        let _ = writeln!(out, "{project}:");
        for s in group {
            let _ = writeln!(
                out,
                "  {}  ({})  [{}]  {}",
                s.id,
                age_of(&s.created_at, now),
                s.status,
                s.harness
            );
        }
    }
    out
}

/// `session ls` text (cli.md §4.1).
pub fn render_sessions(sessions: &[Session], hidden: u64, now: DateTime<Utc>) -> String {
    let mut out = String::new();
    if sessions.is_empty() {
        out.push_str("(no active sessions)\n");
    }
    for (i, (project, group)) in by_project(sessions).into_iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let _ = writeln!(out, "{project}:");
        let rows: Vec<Vec<String>> = group
            .iter()
            .map(|s| {
                vec![
                    s.id.to_string(),
                    s.kind.to_string(),
                    cell(Some(&s.harness)),
                    s.status.to_string(),
                    s.activity.state.to_string(),
                    age_of(&s.created_at, now),
                    cell(s.branch.as_deref()),
                    cell(s.display_name.as_deref()),
                ]
            })
            .collect();
        out.push_str(&output::table(
            &[
                "SESSION", "KIND", "HARNESS", "STATUS", "ACTIVITY", "AGE", "BRANCH", "NAME",
            ],
            &rows,
        ));
    }
    if hidden > 0 {
        let _ = writeln!(
            out,
            "{hidden} terminated session(s) hidden. Use --include-terminated to show."
        );
    }
    out
}

/// `session get` text (cli.md §4.1 key order, then one `pr:` line per PR).
pub fn render_session(s: &Session) -> String {
    let terminated = if s.is_terminated {
        let mut t = format!(
            "yes ({}",
            s.terminated_reason
                .map_or_else(|| "unknown".to_string(), |r| r.to_string())
        );
        if let Some(code) = s.exit_code {
            let _ = write!(t, ", exit {code}");
        }
        t.push(')');
        t
    } else {
        "no".into()
    };
    let mut pairs = vec![
        ("id", s.id.to_string()),
        ("project", s.project_id.to_string()),
        ("name", cell(s.display_name.as_deref())),
        ("kind", s.kind.to_string()),
        ("harness", cell(Some(&s.harness))),
        ("status", s.status.to_string()),
        (
            "activity",
            format!(
                "{} (since {})",
                s.activity.state,
                output::local_datetime(&s.activity.last_activity_at)
            ),
        ),
        ("branch", cell(s.branch.as_deref())),
        ("workspace", cell(s.workspace_path.as_deref())),
        (
            "runtime",
            format!(
                "{} {}",
                s.runtime.kind,
                cell(s.runtime.handle_id.as_deref())
            ),
        ),
        ("issue", cell(s.issue_id.as_deref())),
        ("terminated", terminated),
        ("created", output::local_datetime(&s.created_at)),
        ("updated", output::local_datetime(&s.updated_at)),
    ];
    for pr in &s.prs {
        pairs.push((
            "pr",
            format!(
                "#{} {} ci={} review={} merge={} {}",
                pr.number, pr.state, pr.ci, pr.review, pr.mergeability, pr.url
            ),
        ));
    }
    output::key_values(&pairs)
}

/// Query of a session listing.
fn list_query(
    project: Option<&str>,
    worker_only: bool,
    active: Option<bool>,
) -> Vec<(&'static str, String)> {
    let mut q = Vec::new();
    if let Some(a) = active {
        q.push(("active", a.to_string()));
    }
    if let Some(p) = project {
        q.push(("project", p.to_string()));
    }
    if worker_only {
        q.push(("kind", "worker".to_string()));
    }
    q
}

/// `ao session ls`.
pub async fn list(
    env: &EnvConfig,
    project: Option<&str>,
    all: bool,
    include_terminated: bool,
    json: bool,
) -> Result<(), CliError> {
    let d = Daemon::connect(env)?;
    let active = if include_terminated { None } else { Some(true) };
    let body = d
        .get(&["sessions"], &list_query(project, !all, active))
        .await?;
    let sessions = body.decode::<SessionList>("session list")?.sessions;
    let hidden = if include_terminated {
        0
    } else {
        let body = d
            .get(&["sessions"], &list_query(project, !all, Some(false)))
            .await?;
        body.decode::<SessionList>("session list")?.sessions.len() as u64
    };
    if json {
        return output::json(&SessionListing {
            sessions,
            hidden_terminated_count: hidden,
        });
    }
    output::raw(&render_sessions(&sessions, hidden, Utc::now()))
}

/// `GET /sessions/{id}`.
async fn fetch(d: &Daemon, id: &str) -> Result<(Body, Session), CliError> {
    let body = d.get(&["sessions", id], &[]).await?;
    let s = body.decode::<SessionEnvelope>("session")?.session;
    Ok((body, s))
}

/// The `-p` rule (2): the session must belong to `project`.
pub fn check_project(s: &Session, project: Option<&str>) -> Result<(), CliError> {
    match project {
        Some(p) if p != s.project_id.as_str() => Err(CliError::Usage(format!(
            "session {} belongs to project {}, not {p}",
            s.id, s.project_id
        ))),
        _ => Ok(()),
    }
}

/// Checks `-p` with a `GET` when it is given.
async fn guard_project(d: &Daemon, id: &str, project: Option<&str>) -> Result<(), CliError> {
    if project.is_some() {
        let (_, s) = fetch(d, id).await?;
        check_project(&s, project)?;
    }
    Ok(())
}

/// `ao session get`.
pub async fn get(
    env: &EnvConfig,
    id: &str,
    project: Option<&str>,
    json: bool,
) -> Result<(), CliError> {
    let d = Daemon::connect(env)?;
    let (body, s) = fetch(&d, id).await?;
    check_project(&s, project)?;
    if json {
        return body.print();
    }
    output::raw(&render_session(&s))
}

/// `ao session kill`.
pub async fn kill(
    env: &EnvConfig,
    id: &str,
    project: Option<&str>,
    json: bool,
) -> Result<(), CliError> {
    let d = Daemon::connect(env)?;
    guard_project(&d, id, project).await?;
    let body = d
        .call(
            Method::POST,
            &["sessions", id, "kill"],
            &[],
            None,
            Timeout::Short,
        )
        .await?;
    if json {
        return body.print();
    }
    let r: KillResponse = body.decode("kill")?;
    if r.freed {
        output::line(&format!("session {} killed", r.session_id))
    } else {
        output::line(&format!(
            "session {} killed (workspace preserved)",
            r.session_id
        ))
    }
}

/// `ao session restore`.
pub async fn restore(
    env: &EnvConfig,
    id: &str,
    project: Option<&str>,
    json: bool,
) -> Result<(), CliError> {
    let d = Daemon::connect(env)?;
    guard_project(&d, id, project).await?;
    let body = with_spinner(
        "restoring session…",
        !json,
        d.call(
            Method::POST,
            &["sessions", id, "restore"],
            &[],
            None,
            Timeout::Long,
        ),
    )
    .await?;
    if json {
        return body.print();
    }
    let r: RestoreResponse = body.decode("restore")?;
    output::raw(&format!(
        "session {} restored\n  project: {}\n",
        r.session_id, r.session.project_id
    ))
}

/// The rename rule (2): a blank name.
pub fn check_name(name: &str) -> Result<(), CliError> {
    if name.trim().is_empty() {
        return Err(CliError::Usage("the new name must not be blank".into()));
    }
    Ok(())
}

/// `ao session rename`.
pub async fn rename(
    env: &EnvConfig,
    id: &str,
    name: &str,
    project: Option<&str>,
    json: bool,
) -> Result<(), CliError> {
    let d = Daemon::connect(env)?;
    guard_project(&d, id, project).await?;
    let body = d
        .call(
            Method::PATCH,
            &["sessions", id],
            &[],
            Some(&json!({ "displayName": name })),
            Timeout::Short,
        )
        .await?;
    if json {
        return body.print();
    }
    let r: RenameResponse = body.decode("rename")?;
    output::line(&format!(
        "session {} renamed to \"{}\"",
        r.session_id, r.display_name
    ))
}

/// The `checkout:` text of a claim (cli.md §4); `branch` is the session's branch after the
/// claim (the PR head ref when the worktree was switched).
pub fn checkout_text(r: &ClaimResult, branch: Option<&str>) -> String {
    match r.checkout {
        ClaimCheckout::Switched => format!("switched to {}", branch.unwrap_or("PR branch")),
        ClaimCheckout::AlreadyOnBranch => "already on PR branch".into(),
        ClaimCheckout::SkippedDirty => "skipped: worktree has uncommitted changes".into(),
        ClaimCheckout::SkippedBranchInUse => {
            "skipped: branch is checked out in another worktree".into()
        }
        ClaimCheckout::Failed => format!(
            "failed: {}",
            r.checkout_error.as_deref().unwrap_or("unknown error")
        ),
    }
}

/// The text of `ao session claim-pr` (cli.md §4).
pub fn render_claim(r: &ClaimResult, branch: Option<&str>) -> String {
    let mut out = String::new();
    match r.prs.first() {
        Some(pr) => {
            let _ = writeln!(out, "session {} claimed PR #{}", r.session_id, pr.number);
            let _ = writeln!(out, "  pr: {}", pr.url);
        }
        None => {
            let _ = writeln!(out, "session {} claimed a PR", r.session_id);
        }
    }
    let _ = writeln!(out, "  checkout: {}", checkout_text(r, branch));
    for id in &r.taken_over_from {
        let _ = writeln!(out, "  taking over from {id}");
    }
    out
}

/// `ao session claim-pr`.
pub async fn claim_pr(
    env: &EnvConfig,
    id: &str,
    pr_ref: &str,
    project: Option<&str>,
    no_takeover: bool,
    json: bool,
) -> Result<(), CliError> {
    let d = Daemon::connect(env)?;
    guard_project(&d, id, project).await?;
    let body = with_spinner(
        "claiming PR…",
        !json,
        d.call(
            Method::POST,
            &["sessions", id, "pr", "claim"],
            &[],
            Some(&json!({ "pr": pr_ref, "allowTakeover": !no_takeover })),
            Timeout::Long,
        ),
    )
    .await?;
    if json {
        return body.print();
    }
    let r: ClaimResult = body.decode("claim")?;
    // The head ref the worktree switched to is the session's branch now.
    let branch = if r.checkout == ClaimCheckout::Switched {
        fetch(&d, id).await.ok().and_then(|(_, s)| s.branch)
    } else {
        None
    };
    output::raw(&render_claim(&r, branch.as_deref()))
}

/// Terminated sessions that still hold a workspace or a runtime handle.
pub fn cleanup_candidates(sessions: &[Session]) -> Vec<&Session> {
    sessions
        .iter()
        .filter(|s| {
            s.is_terminated
                && (s.workspace_path.as_deref().is_some_and(|p| !p.is_empty())
                    || s.runtime
                        .handle_id
                        .as_deref()
                        .is_some_and(|h| !h.is_empty()))
        })
        .collect()
}

/// The `Would clean …` lines.
pub fn render_candidates(candidates: &[&Session]) -> String {
    let mut out = String::new();
    for s in candidates {
        let _ = writeln!(out, "Would clean {}:{}", s.project_id, s.id);
    }
    out
}

/// The result lines of a cleanup.
pub fn render_cleanup(r: &CleanupResponse) -> String {
    let mut out = String::new();
    for id in &r.cleaned {
        let _ = writeln!(out, "  Cleaned: {id}");
    }
    for s in &r.skipped {
        let _ = writeln!(out, "  Skipped: {} ({})", s.session_id, s.reason);
    }
    let _ = writeln!(
        out,
        "Cleanup complete. {} sessions cleaned, {} skipped.",
        r.cleaned.len(),
        r.skipped.len()
    );
    out
}

/// The cleanup usage rule (2): `--json` needs `-y`.
pub fn check_cleanup(yes: bool, json: bool) -> Result<(), CliError> {
    if json && !yes {
        return Err(CliError::Usage(
            "--json requires -y (cleanup cannot ask for confirmation in JSON mode)".into(),
        ));
    }
    Ok(())
}

/// `ao session cleanup` (cli.md §4.2).
pub async fn cleanup(
    env: &EnvConfig,
    project: Option<&str>,
    yes: bool,
    json: bool,
) -> Result<(), CliError> {
    let d = Daemon::connect(env)?;
    let query: Vec<(&str, String)> = project
        .map(|p| ("project", p.to_string()))
        .into_iter()
        .collect();
    if !json {
        let mut q = query.clone();
        q.push(("active", "false".into()));
        let list: SessionList = d.get(&["sessions"], &q).await?.decode("session list")?;
        let candidates = cleanup_candidates(&list.sessions);
        if candidates.is_empty() {
            return output::line("Nothing to clean.");
        }
        output::raw(&render_candidates(&candidates))?;
        if !yes {
            let stdin = std::io::stdin();
            if !stdin.is_terminal() {
                return Err(CliError::Failed("confirmation required; pass -y".into()));
            }
            let mut err = std::io::stderr().lock();
            let _ = write!(
                err,
                "Clean {} terminated session(s)? Type yes to confirm: ",
                candidates.len()
            );
            let _ = err.flush();
            drop(err);
            let mut answer = String::new();
            let _ = stdin.lock().read_line(&mut answer);
            if answer.trim_end_matches(['\n', '\r']) != "yes" {
                return Err(CliError::Aborted);
            }
        }
    }
    let body = d
        .call(
            Method::POST,
            &["sessions", "cleanup"],
            &query,
            None,
            Timeout::Long,
        )
        .await?;
    if json {
        return body.print();
    }
    let r: CleanupResponse = body.decode("cleanup")?;
    output::raw(&render_cleanup(&r))
}

/// The message `ao send` sends: `[from <AO_SESSION_ID>] ` + the text when the caller is itself
/// a session; the text is otherwise kept as written.
pub fn compose_message(text: &str, from: Option<&str>) -> String {
    match from.filter(|f| !f.is_empty()) {
        Some(f) => format!("[from {f}] {text}"),
        None => text.to_string(),
    }
}

/// The send usage rules (2) on the message text: empty or only whitespace.
pub fn check_message(text: &str) -> Result<(), CliError> {
    if text.trim().is_empty() {
        return Err(CliError::Usage(
            "the message must not be empty or only whitespace".into(),
        ));
    }
    Ok(())
}

/// The message of `ao send` from `--message` or `--message-file`, with the usage rules (2).
pub fn message_of(message: Option<&String>, file: Option<&String>) -> Result<String, CliError> {
    let text = match (message, file) {
        (Some(_), Some(_)) => {
            return Err(CliError::Usage(
                "--message and --message-file cannot be used together".into(),
            ));
        }
        (None, None) => {
            return Err(CliError::Usage(
                "one of --message or --message-file is required".into(),
            ));
        }
        (Some(m), None) => m.clone(),
        (None, Some(f)) => read_text_arg(f)?,
    };
    check_message(&text)?;
    Ok(text)
}

/// `ao send` (the message is already checked and composed).
pub async fn send(
    env: &EnvConfig,
    id: &str,
    message: &str,
    when_idle: bool,
    json: bool,
) -> Result<(), CliError> {
    let d = Daemon::connect(env)?;
    let body = d
        .call(
            Method::POST,
            &["sessions", id, "send"],
            &[],
            Some(&json!({ "message": message, "whenIdle": when_idle })),
            Timeout::Short,
        )
        .await?;
    if json {
        return body.print();
    }
    let r: SendResponse = body.decode("send")?;
    if when_idle {
        output::line(&format!("queued message for {}", r.session_id))?;
    }
    Ok(())
}

/// `ao attach <id>`.
pub async fn attach(env: &EnvConfig, id: &str, project: Option<&str>) -> Result<(), CliError> {
    need_terminal()?;
    let d = Daemon::connect(env)?;
    guard_project(&d, id, project).await?;
    exec_attach(&d, id).await
}

/// Environment variables removed before attaching (nested multiplexer markers).
pub fn is_multiplexer_var(key: &str) -> bool {
    key == "TMUX" || key == "TMUX_PANE" || key.starts_with("ZELLIJ")
}

/// `GET /sessions/{id}/attach`, then `exec` its argv. Returns only on failure.
async fn exec_attach(d: &Daemon, id: &str) -> Result<(), CliError> {
    let body = d.get(&["sessions", id, "attach"], &[]).await?;
    let spec: AttachResponse = body.decode("attach")?;
    let Some((program, args)) = spec.argv.split_first() else {
        return Err(CliError::Failed(format!(
            "the daemon returned no attach command for session {id}"
        )));
    };
    let mut cmd = std::process::Command::new(program);
    cmd.args(args);
    for (key, _) in std::env::vars_os() {
        if key.to_str().is_some_and(is_multiplexer_var) {
            cmd.env_remove(&key);
        }
    }
    cmd.envs(&spec.env);
    let err = cmd.exec();
    Err(CliError::Failed(format!("cannot run {program}: {err}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usage_text(r: Result<impl std::fmt::Debug, CliError>) -> String {
        match r {
            Err(e @ CliError::Usage(_)) => {
                assert_eq!(e.exit_code(), 2);
                e.to_string()
            }
            other => panic!("expected a usage error, got {other:?}"),
        }
    }

    fn now() -> DateTime<Utc> {
        ao_protocol::time::parse("2026-07-01T12:00:00.000Z").expect("ts")
    }

    fn session(id: &str, project: &str) -> Session {
        serde_json::from_value(json!({
            "id": id, "projectId": project, "num": 1, "kind": "worker",
            "harness": "claude-code", "displayName": null, "issueId": null,
            "branch": format!("ao/{id}/root"), "workspacePath": format!("/w/{id}"),
            "status": "idle",
            "activity": {"state": "idle", "lastActivityAt": "2026-07-01T11:59:00.000Z",
                         "firstSignalAt": null},
            "isTerminated": false, "terminatedAt": null, "terminatedReason": null,
            "exitCode": null, "restarts": 0,
            "runtime": {"kind": "tmux", "handleId": id},
            "agentSessionId": null,
            "createdAt": "2026-07-01T11:00:00.000Z", "updatedAt": "2026-07-01T11:30:00.000Z",
            "prs": []
        }))
        .expect("valid session")
    }

    #[test]
    fn spawn_usage_rules() {
        let f = SpawnFlags {
            project: "demo".into(),
            no_takeover: true,
            ..SpawnFlags::default()
        };
        assert!(usage_text(f.check()).contains("--no-takeover requires --claim-pr"));
        let f = SpawnFlags {
            project: "demo".into(),
            prompt: Some("x".into()),
            prompt_file: Some("-".into()),
            ..SpawnFlags::default()
        };
        assert!(usage_text(f.check()).contains("--prompt and --prompt-file"));
        let f = OrchestratorFlags {
            prompt: Some("x".into()),
            prompt_file: Some("p".into()),
            ..OrchestratorFlags::default()
        };
        assert!(usage_text(f.check()).contains("--prompt and --prompt-file"));
        let ok = SpawnFlags {
            project: "demo".into(),
            claim_pr: Some("12".into()),
            no_takeover: true,
            ..SpawnFlags::default()
        };
        assert!(ok.check().is_ok());
    }

    #[test]
    fn spawn_body_has_only_given_fields() {
        let f = SpawnFlags {
            project: "demo".into(),
            harness: Some("codex".into()),
            issue: Some("I-1".into()),
            name: Some("fix it".into()),
            claim_pr: Some("#12".into()),
            no_takeover: true,
            ..SpawnFlags::default()
        };
        assert_eq!(
            f.body(Some("do it")),
            json!({"projectId": "demo", "kind": "worker", "harness": "codex",
                   "prompt": "do it", "issueId": "I-1", "displayName": "fix it",
                   "claimPr": {"pr": "#12", "allowTakeover": false}})
        );
        let f = SpawnFlags {
            project: "demo".into(),
            command: Some("sleep 100".into()),
            branch: Some("feat".into()),
            ..SpawnFlags::default()
        };
        assert_eq!(
            f.body(None),
            json!({"projectId": "demo", "kind": "worker", "branch": "feat",
                   "command": "sleep 100"})
        );
        let o = OrchestratorFlags {
            project: "demo".into(),
            clean: true,
            harness: Some("codex".into()),
            ..OrchestratorFlags::default()
        };
        assert_eq!(
            o.body(Some("p")),
            json!({"projectId": "demo", "clean": true, "harness": "codex", "prompt": "p"})
        );
    }

    #[test]
    fn prompt_and_message_files_are_read() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("p.txt");
        std::fs::write(&file, "  line one\n\tline two\n").expect("write");
        let path = file.display().to_string();
        assert_eq!(
            prompt_of(None, Some(&path)).expect("read").as_deref(),
            Some("  line one\n\tline two\n")
        );
        assert_eq!(
            message_of(None, Some(&path)).expect("read"),
            "  line one\n\tline two\n"
        );
        let missing = dir.path().join("nope").display().to_string();
        let err = prompt_of(None, Some(&missing)).expect_err("missing");
        assert_eq!(err.exit_code(), 1);
        let blank = dir.path().join("blank.txt");
        std::fs::write(&blank, " \n\t\n").expect("write");
        let blank = blank.display().to_string();
        assert!(usage_text(message_of(None, Some(&blank))).contains("empty"));
    }

    #[test]
    fn send_usage_rules_and_prefix() {
        let m = Some("hi".to_string());
        let f = Some("-".to_string());
        assert!(usage_text(message_of(m.as_ref(), f.as_ref())).contains("together"));
        assert!(usage_text(message_of(None, None)).contains("required"));
        assert!(usage_text(message_of(Some(&"  \n".to_string()), None)).contains("empty"));
        assert_eq!(
            message_of(Some(&"  keep  me ".to_string()), None).expect("valid"),
            "  keep  me "
        );
        assert_eq!(
            compose_message("  look at this\n", Some("demo-2")),
            "[from demo-2]   look at this\n"
        );
        assert_eq!(compose_message("x", Some("")), "x");
        assert_eq!(compose_message("x", None), "x");
    }

    #[test]
    fn rename_cleanup_and_project_rules() {
        assert!(usage_text(check_name("  ")).contains("blank"));
        assert!(check_name(" n ").is_ok());
        assert!(usage_text(check_cleanup(false, true)).contains("--json requires -y"));
        assert!(check_cleanup(true, true).is_ok());
        assert!(check_cleanup(false, false).is_ok());
        let s = session("demo-3", "demo");
        assert!(check_project(&s, None).is_ok());
        assert!(check_project(&s, Some("demo")).is_ok());
        assert_eq!(
            usage_text(check_project(&s, Some("other"))),
            "session demo-3 belongs to project demo, not other"
        );
    }

    #[test]
    fn session_table_groups_by_project() {
        let mut a = session("demo-1", "demo");
        a.display_name = Some("Fix login".into());
        let mut b = session("alpha-2", "alpha");
        b.kind = ao_protocol::SessionKind::Orchestrator;
        b.branch = None;
        b.harness = "codex".into();
        b.created_at = "2026-06-28T12:00:00.000Z".into();
        let text = render_sessions(&[a, b], 2, now());
        assert_eq!(
            text,
            "alpha:\n\
             SESSION  KIND          HARNESS  STATUS  ACTIVITY  AGE  BRANCH  NAME\n\
             alpha-2  orchestrator  codex    idle    idle      3d   -       -\n\
             \n\
             demo:\n\
             SESSION  KIND    HARNESS      STATUS  ACTIVITY  AGE  BRANCH          NAME\n\
             demo-1   worker  claude-code  idle    idle      1h   ao/demo-1/root  Fix login\n\
             2 terminated session(s) hidden. Use --include-terminated to show.\n"
        );
        assert_eq!(render_sessions(&[], 0, now()), "(no active sessions)\n");
        assert_eq!(
            render_sessions(&[], 1, now()),
            "(no active sessions)\n1 terminated session(s) hidden. Use --include-terminated to show.\n"
        );
    }

    #[test]
    fn session_detail_keys_in_order() {
        let mut s = session("demo-3", "demo");
        s.is_terminated = true;
        s.terminated_reason = Some(ao_protocol::TerminatedReason::AgentExited);
        s.exit_code = Some(2);
        s.runtime.handle_id = None;
        s.created_at = "not-a-time".into();
        s.updated_at = "not-a-time".into();
        s.activity.last_activity_at = "not-a-time".into();
        s.prs = vec![
            serde_json::from_value(json!({
                "url": "https://github.com/o/r/pull/7", "number": 7, "title": "t",
                "state": "open", "ci": "passing", "review": "approved",
                "mergeability": "mergeable", "reviewComments": false,
                "updatedAt": "2026-07-01T11:00:00.000Z"
            }))
            .expect("pr"),
        ];
        let text = render_session(&s);
        let keys: Vec<&str> = text
            .lines()
            .map(|l| l.split(':').next().expect("key"))
            .collect();
        assert_eq!(
            keys,
            [
                "id",
                "project",
                "name",
                "kind",
                "harness",
                "status",
                "activity",
                "branch",
                "workspace",
                "runtime",
                "issue",
                "terminated",
                "created",
                "updated",
                "pr"
            ]
        );
        assert!(text.contains("name:        -\n"), "{text}");
        assert!(
            text.contains("activity:    idle (since not-a-time)\n"),
            "{text}"
        );
        assert!(text.contains("runtime:     tmux -\n"), "{text}");
        assert!(
            text.contains("terminated:  yes (agent_exited, exit 2)\n"),
            "{text}"
        );
        assert!(text.ends_with(
            "pr:          #7 open ci=passing review=approved merge=mergeable https://github.com/o/r/pull/7\n"
        ));
        let live = render_session(&session("demo-4", "demo"));
        assert!(live.contains("terminated:  no\n"), "{live}");
        assert!(live.contains("runtime:     tmux demo-4\n"), "{live}");
    }

    #[test]
    fn orchestrator_listing() {
        let mut o = session("demo-5", "demo");
        o.kind = ao_protocol::SessionKind::Orchestrator;
        o.status = ao_protocol::DisplayStatus::Working;
        assert_eq!(
            render_orchestrators(&[o], now()),
            "demo:\n  demo-5  (1h)  [working]  claude-code\n"
        );
        assert_eq!(render_orchestrators(&[], now()), "(no orchestrators)\n");
        let s = session("demo-5", "demo");
        assert_eq!(
            render_started("spawned session", &s, Some("https://x/pull/1")),
            "spawned session demo-5 (idle) (claimed https://x/pull/1)\nattach with: ao attach demo-5\n"
        );
    }

    #[test]
    fn cleanup_candidates_and_output() {
        let live = session("demo-1", "demo");
        let mut done = session("demo-2", "demo");
        done.is_terminated = true;
        let mut bare = session("demo-3", "demo");
        bare.is_terminated = true;
        bare.workspace_path = None;
        bare.runtime.handle_id = None;
        let mut pane = session("demo-4", "demo");
        pane.is_terminated = true;
        pane.workspace_path = None;
        let all = [live, done, bare, pane];
        let c = cleanup_candidates(&all);
        assert_eq!(
            render_candidates(&c),
            "Would clean demo:demo-2\nWould clean demo:demo-4\n"
        );
        let r: CleanupResponse = serde_json::from_value(json!({
            "ok": true, "cleaned": ["demo-2"],
            "skipped": [{"sessionId": "demo-4", "reason": "workspace has uncommitted changes"}]
        }))
        .expect("valid");
        assert_eq!(
            render_cleanup(&r),
            "  Cleaned: demo-2\n  Skipped: demo-4 (workspace has uncommitted changes)\n\
             Cleanup complete. 1 sessions cleaned, 1 skipped.\n"
        );
    }

    #[test]
    fn multiplexer_variables() {
        for v in ["TMUX", "TMUX_PANE", "ZELLIJ", "ZELLIJ_SESSION_NAME"] {
            assert!(is_multiplexer_var(v), "{v}");
        }
        for v in ["TMUXX", "PATH", "AO_SESSION_ID"] {
            assert!(!is_multiplexer_var(v), "{v}");
        }
    }

    #[test]
    fn list_queries() {
        assert_eq!(
            list_query(Some("demo"), true, Some(true)),
            vec![
                ("active", "true".to_string()),
                ("project", "demo".to_string()),
                ("kind", "worker".to_string())
            ]
        );
        assert_eq!(list_query(None, false, None), vec![]);
    }

    fn claim(checkout: &str, error: Option<&str>, taken: &[&str]) -> ClaimResult {
        serde_json::from_value(json!({
            "ok": true, "sessionId": "demo-3",
            "prs": [
                {"url": "https://github.com/o/r/pull/12", "number": 12, "title": "Fix",
                 "state": "open", "ci": "passing", "review": "none", "mergeability": "mergeable",
                 "reviewComments": false, "updatedAt": "2026-07-01T11:00:00.000Z"},
                {"url": "https://github.com/o/r/pull/7", "number": 7, "title": "Old",
                 "state": "merged", "ci": "passing", "review": "approved",
                 "mergeability": "unknown", "reviewComments": false,
                 "updatedAt": "2026-07-01T12:00:00.000Z"}
            ],
            "takenOverFrom": taken, "branchChanged": checkout == "switched",
            "checkout": checkout, "checkoutError": error
        }))
        .expect("valid ClaimResult")
    }

    #[test]
    fn claim_output_lines() {
        assert_eq!(
            render_claim(&claim("switched", None, &[]), Some("fix-login")),
            "session demo-3 claimed PR #12\n  pr: https://github.com/o/r/pull/12\n  \
             checkout: switched to fix-login\n"
        );
        assert_eq!(
            render_claim(
                &claim("already_on_branch", None, &["demo-1", "demo-2"]),
                None
            ),
            "session demo-3 claimed PR #12\n  pr: https://github.com/o/r/pull/12\n  \
             checkout: already on PR branch\n  taking over from demo-1\n  \
             taking over from demo-2\n"
        );
        let texts = [
            (
                "skipped_dirty",
                None,
                "skipped: worktree has uncommitted changes",
            ),
            (
                "skipped_branch_in_use",
                None,
                "skipped: branch is checked out in another worktree",
            ),
            (
                "failed",
                Some("git fetch failed: timeout"),
                "failed: git fetch failed: timeout",
            ),
        ];
        for (word, error, text) in texts {
            assert_eq!(
                checkout_text(&claim(word, error, &[]), None),
                text,
                "{word}"
            );
        }
    }

    #[test]
    fn spawn_line_names_the_claimed_pr() {
        let s = session("demo-3", "demo");
        let r = SpawnResponse {
            session: s.clone(),
            claim: Some(claim("already_on_branch", None, &[])),
        };
        let claimed = r
            .claim
            .as_ref()
            .and_then(|c| c.prs.first())
            .map(|p| p.url.as_str());
        assert_eq!(
            render_started("spawned session", &r.session, claimed),
            "spawned session demo-3 (idle) (claimed https://github.com/o/r/pull/12)\n\
             attach with: ao attach demo-3\n"
        );
    }
}
