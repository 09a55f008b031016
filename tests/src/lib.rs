//! `ao-tests` — the end-to-end harness shared by the `e2e` test binary and `ao-bench`.
//!
//! Main types:
//! * [`Home`]: a temporary `AO_HOME` with its own free port; runs the real `ao` binary
//!   ([`Home::ao`]) with a clean `AO_*` environment, and stops any daemon it started on drop.
//! * [`Api`]: an HTTP client bound to a running daemon's port and token (read from
//!   `running.json`, as every real client does).
//! * [`SseClient`]: a raw Server-Sent-Events reader for `/api/v1/events`.
//! * [`git_repo`]: a real git repository with one commit; [`git`] runs git as the test identity.
//! * [`wait_for`]: polling with a deadline — the only way these tests wait.
//! * [`UserTerminal`]: the user's terminal (a tmux server of its own) running `ao attach`.
//! * [`fake`]: the scripted fake agent behind the `fake-agent` binary (stands in for each of
//!   the eight seed agents in session tests).
//! * [`fake_github`]: a local fake of the GitHub REST/GraphQL subset `ao` uses (also served by
//!   the `fake-github` binary).
//! * [`chaos`]: the kill -9 chaos harness (seeded random operations with the daemon SIGKILLed
//!   at random points, invariants checked after every restart), its soak and restart benchmarks.
//!
//! Invariant: nothing here fakes the daemon; the tests drive the real binary over loopback.

pub mod chaos;
pub mod fake;
pub mod fake_github;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use ao_protocol::RunFile;
use futures_util::StreamExt;
use serde_json::Value;

/// Path of the `ao` binary built by this workspace (`target/<profile>/ao`).
///
/// `cargo test --workspace` builds it because the `ao-cli` package has an integration test.
pub fn ao_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("AO_TEST_BIN") {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().expect("the test binary knows its own path");
    // target/<profile>/deps/e2e-<hash>  or  target/<profile>/ao-bench
    let mut dir = exe
        .parent()
        .expect("the test binary lives in a directory")
        .to_path_buf();
    if dir.ends_with("deps") {
        dir.pop();
    }
    let bin = dir.join("ao");
    assert!(
        bin.exists(),
        "{} does not exist: build it first with `cargo build -p ao-cli` (`cargo test --workspace` does this)",
        bin.display()
    );
    bin
}

/// A free loopback port (the daemon falls back to an ephemeral port if it is taken meanwhile).
pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral loopback port");
    l.local_addr().expect("bound socket has an address").port()
}

/// Polls `f` every 20 ms until it returns `Some`, or panics with `what` after `timeout`.
pub fn wait_for<T>(timeout: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Async variant of [`wait_for`].
pub async fn wait_for_async<T, F, Fut>(timeout: Duration, what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The captured result of one `ao` invocation.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    fn from_output(o: Output) -> Self {
        Self {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }

    /// Asserts exit 0 and returns stdout.
    #[track_caller]
    pub fn ok(&self) -> &str {
        assert_eq!(
            self.code, 0,
            "expected success\nstdout: {}\nstderr: {}",
            self.stdout, self.stderr
        );
        &self.stdout
    }

    /// Parses stdout as JSON (asserting exit 0).
    #[track_caller]
    pub fn json(&self) -> Value {
        serde_json::from_str(self.ok())
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}", self.stdout))
    }
}

/// A temporary `AO_HOME` and the environment to run `ao` in it.
pub struct Home {
    dir: tempfile::TempDir,
    pub port: u16,
    /// This home's private tmux socket name (`AO_TMUX_SOCKET`), unique per test.
    pub tmux_socket: String,
    extra_env: Vec<(String, String)>,
}

impl Default for Home {
    fn default() -> Self {
        Self::new()
    }
}

impl Home {
    pub fn new() -> Self {
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let dir = tempfile::Builder::new()
            .prefix("ao-e2e-")
            .tempdir()
            .expect("create a temp dir");
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Self {
            dir,
            port: free_port(),
            tmux_socket: format!("ao-e2e-{}-{n}", std::process::id()),
            extra_env: Vec::new(),
        }
    }

    /// `AO_HOME`.
    pub fn path(&self) -> PathBuf {
        self.dir.path().join("home")
    }

    /// A scratch directory beside the home (for repositories and the like).
    pub fn scratch(&self) -> PathBuf {
        let p = self.dir.path().join("scratch");
        std::fs::create_dir_all(&p).expect("create scratch dir");
        p
    }

    pub fn run_file(&self) -> PathBuf {
        self.path().join("running.json")
    }

    /// Adds a variable to every `ao` invocation of this home.
    pub fn env(&mut self, k: &str, v: &str) {
        self.extra_env.push((k.into(), v.into()));
    }

    /// A `Command` for the real `ao` binary with this home's clean environment.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(ao_bin());
        c.args(args);
        for (k, _) in std::env::vars() {
            if k.starts_with("AO_") {
                c.env_remove(k);
            }
        }
        c.env("AO_HOME", self.path())
            .env("AO_PORT", self.port.to_string())
            .env("AO_TMUX_SOCKET", &self.tmux_socket)
            .env("AO_LOG", "info")
            .env("NO_COLOR", "1");
        for (k, v) in &self.extra_env {
            c.env(k, v);
        }
        c.stdin(Stdio::null());
        c
    }

    /// Runs `ao <args>` to completion.
    pub fn ao(&self, args: &[&str]) -> Run {
        Run::from_output(self.command(args).output().expect("run the ao binary"))
    }

    /// Runs `ao <args>` with extra environment variables.
    pub fn ao_env(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let mut c = self.command(args);
        for (k, v) in env {
            c.env(k, v);
        }
        Run::from_output(c.output().expect("run the ao binary"))
    }

    /// `ao start`, asserting success; returns the run-file it produced.
    pub fn start(&self) -> RunFile {
        let r = self.ao(&["start", "--timeout", "60s"]);
        r.ok();
        self.run_file_contents()
            .expect("ao start leaves a run-file")
    }

    pub fn run_file_contents(&self) -> Option<RunFile> {
        let text = std::fs::read_to_string(self.run_file()).ok()?;
        serde_json::from_str(&text).ok()
    }

    /// An API client for the running daemon.
    pub fn api(&self) -> Api {
        Api::new(
            &self
                .run_file_contents()
                .expect("daemon is running (run-file present)"),
        )
    }

    /// Stops a daemon left running by this home: SIGTERM, then SIGKILL after 15 s.
    pub fn kill_daemon(&self) {
        let Some(rf) = self.run_file_contents() else {
            return;
        };
        let pid = nix::unistd::Pid::from_raw(rf.pid as i32);
        if nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).is_err() {
            return;
        }
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if nix::sys::signal::kill(pid, None).is_err() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
    }
}

impl Home {
    /// Runs `tmux -L <this home's socket> <args>` (the server AO owns for this home).
    pub fn tmux(&self, args: &[&str]) -> Run {
        let out = Command::new("tmux")
            .arg("-L")
            .arg(&self.tmux_socket)
            .args(args)
            .env_remove("TMUX")
            .output()
            .expect("run tmux");
        Run::from_output(out)
    }

    /// Names of the sessions on this home's tmux server (empty when no server runs).
    pub fn tmux_sessions(&self) -> Vec<String> {
        let r = self.tmux(&["list-sessions", "-F", "#{session_name}"]);
        if r.code != 0 {
            return Vec::new();
        }
        r.stdout.lines().map(str::to_string).collect()
    }
}

impl Home {
    /// The zellij socket directory of this home's daemon (adapters.md §3):
    /// `/tmp/ao-zellij-<uid>-<first 8 hex of SHA-256(AO_HOME)>`.
    pub fn zellij_socket_dir(&self) -> PathBuf {
        use sha2::Digest as _;
        use std::os::unix::fs::MetadataExt as _;
        let uid = self
            .dir
            .path()
            .metadata()
            .expect("the temp dir exists")
            .uid();
        let digest = hex::encode(sha2::Sha256::digest(
            self.path().as_os_str().as_encoded_bytes(),
        ));
        PathBuf::from(format!("/tmp/ao-zellij-{uid}-{}", &digest[..8]))
    }

    /// Runs `zellij <args>` on this home's socket directory.
    pub fn zellij(&self, args: &[&str]) -> Run {
        let out = Command::new("zellij")
            .args(args)
            .env("ZELLIJ_SOCKET_DIR", self.zellij_socket_dir())
            .env_remove("ZELLIJ")
            .env_remove("ZELLIJ_SESSION_NAME")
            .output()
            .expect("run zellij");
        Run::from_output(out)
    }
}

impl Drop for Home {
    fn drop(&mut self) {
        self.kill_daemon();
        // Agents outlive the daemon by design (crash-only); the test's private tmux server and
        // zellij sessions must not outlive the test.
        let _ = self.tmux(&["kill-server"]);
        let zellij = self.zellij_socket_dir();
        if zellij.exists() {
            let _ = Command::new("zellij")
                .args(["kill-all-sessions", "--yes"])
                .env("ZELLIJ_SOCKET_DIR", &zellij)
                .output();
            let _ = std::fs::remove_dir_all(&zellij);
        }
    }
}

/// The user's terminal: a tmux server of its own (not AO's) running one command in a 200×50
/// window, killed on drop.
pub struct UserTerminal {
    socket: String,
}

impl UserTerminal {
    /// A terminal running `ao attach <session>` against `home`'s daemon.
    pub fn ao_attach(home: &Home, session: &str) -> Self {
        let line = format!(
            "env AO_HOME='{}' AO_PORT='{}' AO_TMUX_SOCKET='{}' '{}' attach {session}",
            home.path().display(),
            home.port,
            home.tmux_socket,
            ao_bin().display()
        );
        let terminal = Self {
            socket: format!("{}-outer", home.tmux_socket),
        };
        let started = terminal.tmux(&[
            "new-session",
            "-d",
            "-s",
            "user",
            "-x",
            "200",
            "-y",
            "50",
            &line,
        ]);
        assert!(
            started.status.success(),
            "the terminal starts: {}",
            String::from_utf8_lossy(&started.stderr)
        );
        terminal
    }

    fn tmux(&self, args: &[&str]) -> Output {
        Command::new("tmux")
            .args(["-L", &self.socket, "-f", "/dev/null"])
            .args(args)
            .env_remove("TMUX")
            .output()
            .expect("run tmux")
    }

    /// What the terminal shows now.
    pub fn screen(&self) -> String {
        String::from_utf8_lossy(&self.tmux(&["capture-pane", "-p", "-t", "user"]).stdout)
            .into_owned()
    }
}

impl Drop for UserTerminal {
    fn drop(&mut self) {
        let _ = self.tmux(&["kill-server"]);
    }
}

/// True while a process with this pid exists (and is not a zombie we could reap).
pub fn pid_alive(pid: u32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    // The state is the field after the parenthesised command name.
    let state = stat
        .rsplit_once(") ")
        .and_then(|(_, rest)| rest.chars().next());
    !matches!(state, Some('Z' | 'X') | None)
}

/// Runs git in `dir` as the test identity, asserting success; its trimmed stdout.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "ao-test")
        .env("GIT_AUTHOR_EMAIL", "ao-test@example.invalid")
        .env("GIT_COMMITTER_NAME", "ao-test")
        .env("GIT_COMMITTER_EMAIL", "ao-test@example.invalid")
        .output()
        .expect("run git");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Creates a git repository `dir/name` with one commit on `main`.
pub fn git_repo(dir: &Path, name: &str) -> PathBuf {
    let repo = dir.join(name);
    std::fs::create_dir_all(&repo).expect("create repo dir");
    git(&repo, &["init", "-q", "-b", "main"]);
    std::fs::write(repo.join("README.md"), "test repo\n").expect("write file");
    git(&repo, &["add", "."]);
    git(&repo, &["commit", "-q", "-m", "init"]);
    repo.canonicalize().expect("repo path resolves")
}

/// A reqwest client bound to one daemon.
#[derive(Clone)]
pub struct Api {
    pub base: String,
    pub token: String,
    pub client: reqwest::Client,
}

/// A response with its status, headers and body.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
    pub text: String,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The error code of an envelope body.
    pub fn code(&self) -> &str {
        self.body["code"].as_str().unwrap_or("")
    }
}

impl Api {
    pub fn new(rf: &RunFile) -> Self {
        ao_daemon::install_crypto_provider();
        let client = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(30))
            .build()
            .expect("build an HTTP client");
        Self {
            base: format!("http://127.0.0.1:{}", rf.port),
            token: rf.token.clone(),
            client,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// An authorised request builder.
    pub fn req(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.client
            .request(method, self.url(path))
            .bearer_auth(&self.token)
    }

    pub async fn send(rb: reqwest::RequestBuilder) -> Reply {
        let resp = rb.send().await.expect("request reaches the daemon");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let text = resp.text().await.expect("read the response body");
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Reply {
            status,
            headers,
            body,
            text,
        }
    }

    pub async fn get(&self, path: &str) -> Reply {
        Self::send(self.req(reqwest::Method::GET, path)).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Reply {
        Self::send(self.req(reqwest::Method::POST, path).json(body)).await
    }

    pub async fn patch(&self, path: &str, body: &Value) -> Reply {
        Self::send(self.req(reqwest::Method::PATCH, path).json(body)).await
    }

    pub async fn put(&self, path: &str, body: &Value) -> Reply {
        Self::send(self.req(reqwest::Method::PUT, path).json(body)).await
    }

    pub async fn delete(&self, path: &str) -> Reply {
        Self::send(self.req(reqwest::Method::DELETE, path)).await
    }

    /// Opens `/api/v1/events` with an optional query and `Last-Event-ID`.
    pub async fn events(&self, query: &str, last_event_id: Option<i64>) -> SseClient {
        self.try_events(query, last_event_id)
            .await
            .unwrap_or_else(|e| panic!("open the event stream: {e}"))
    }

    /// [`Api::events`] that reports a failed connection or a non-200 status instead of
    /// panicking (for clients that reconnect across daemon restarts).
    pub async fn try_events(
        &self,
        query: &str,
        last_event_id: Option<i64>,
    ) -> Result<SseClient, String> {
        let mut rb = self.req(reqwest::Method::GET, &format!("/api/v1/events{query}"));
        // SSE has no overall timeout.
        rb = rb.timeout(Duration::from_secs(3600));
        if let Some(id) = last_event_id {
            rb = rb.header("Last-Event-ID", id.to_string());
        }
        let resp = rb.send().await.map_err(|e| e.to_string())?;
        let status = resp.status().as_u16();
        if status != 200 {
            return Err(format!("event stream status {status}"));
        }
        Ok(SseClient::new(resp))
    }
}

/// One parsed SSE frame.
#[derive(Debug, Clone, PartialEq)]
pub struct Frame {
    pub id: Option<i64>,
    pub event: Option<String>,
    pub data: String,
}

impl Frame {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.data).unwrap_or(Value::Null)
    }
}

/// Reads SSE frames from a streaming response. Comments and `retry:` lines are counted, not
/// returned.
pub struct SseClient {
    stream: std::pin::Pin<Box<dyn futures_util::Stream<Item = reqwest::Result<Vec<u8>>> + Send>>,
    buf: String,
    pub comments: usize,
    pub retry: Option<u64>,
    pub ended: bool,
}

impl SseClient {
    fn new(resp: reqwest::Response) -> Self {
        let stream = resp.bytes_stream().map(|r| r.map(|b| b.to_vec()));
        Self {
            stream: Box::pin(stream),
            buf: String::new(),
            comments: 0,
            retry: None,
            ended: false,
        }
    }

    /// The next frame, or `None` when the stream ended or `timeout` passed.
    pub async fn next_frame(&mut self, timeout: Duration) -> Option<Frame> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Some(frame) = self.take_frame() {
                return Some(frame);
            }
            if self.ended {
                return None;
            }
            match tokio::time::timeout_at(deadline, self.stream.next()).await {
                Err(_) => return None,
                Ok(None | Some(Err(_))) => self.ended = true,
                Ok(Some(Ok(chunk))) => self.buf.push_str(&String::from_utf8_lossy(&chunk)),
            }
        }
    }

    /// Collects frames until `n` data frames were read or `timeout` passed.
    pub async fn frames(&mut self, n: usize, timeout: Duration) -> Vec<Frame> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut out = Vec::new();
        while out.len() < n {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.next_frame(left).await {
                Some(f) => out.push(f),
                None => break,
            }
        }
        out
    }

    fn take_frame(&mut self) -> Option<Frame> {
        loop {
            let end = self.buf.find("\n\n")?;
            let block: String = self.buf.drain(..end + 2).collect();
            let mut frame = Frame {
                id: None,
                event: None,
                data: String::new(),
            };
            let mut has_data = false;
            for line in block.lines() {
                if line.starts_with(':') {
                    self.comments += 1;
                } else if let Some(v) = line.strip_prefix("retry: ") {
                    self.retry = v.trim().parse().ok();
                } else if let Some(v) = line.strip_prefix("id: ") {
                    frame.id = v.trim().parse().ok();
                } else if let Some(v) = line.strip_prefix("event: ") {
                    frame.event = Some(v.to_string());
                } else if let Some(v) = line.strip_prefix("data: ") {
                    if has_data {
                        frame.data.push('\n');
                    }
                    frame.data.push_str(v);
                    has_data = true;
                }
            }
            if has_data {
                return Some(frame);
            }
        }
    }
}

/// Sends one raw HTTP/1.1 request (for headers a client library would rewrite, such as
/// `Host`) and returns the status code and the whole response text.
pub fn raw_http(port: u16, request: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect to the daemon");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("set a read timeout");
    s.write_all(request.as_bytes()).expect("send the request");
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, text)
}

/// The JSON body of a raw HTTP response (after the blank line), or `Null`.
pub fn raw_body(text: &str) -> Value {
    text.split_once("\r\n\r\n")
        .and_then(|(_, b)| serde_json::from_str(b.trim()).ok())
        .unwrap_or(Value::Null)
}
