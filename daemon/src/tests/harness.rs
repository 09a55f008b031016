//! Test support: booting a daemon on a temp home, an authenticated client, a raw HTTP/1.1
//! client, git fixtures and an SSE reader.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use ao_protocol::EnvConfig;
use axum::body::Bytes;
use futures_util::StreamExt;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::Instant;

use crate::RunningDaemon;
use crate::daemon::start_with;
use crate::http::state::Tuning;

/// A daemon with its temp home. The blocker keeps `AO_PORT` busy, so every test also exercises
/// the ephemeral-port fallback and parallel tests never collide.
pub struct Harness {
    pub daemon: Option<RunningDaemon>,
    pub tmp: tempfile::TempDir,
    pub env: EnvConfig,
    pub client: reqwest::Client,
    pub port: u16,
    pub token: String,
    pub blocked_port: u16,
    _blocker: std::net::TcpListener,
}

/// A tmux socket name of its own for every daemon a test boots, so that tests never touch the
/// user's `ao` server nor each other's (sessions tests kill theirs at the end).
fn private_tmux_socket() -> String {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("ao-test-{}-{n}", std::process::id())
}

pub fn env_for(home: &Path, port: u16, extra: &[(&str, &str)]) -> EnvConfig {
    let mut vars: HashMap<String, String> = HashMap::new();
    vars.insert("AO_TMUX_SOCKET".into(), private_tmux_socket());
    vars.insert("HOME".into(), home.to_string_lossy().into_owned());
    vars.insert(
        "AO_HOME".into(),
        home.join("ao").to_string_lossy().into_owned(),
    );
    vars.insert("AO_PORT".into(), port.to_string());
    vars.insert("AO_SHUTDOWN_TIMEOUT".into(), "3s".into());
    vars.insert("AO_LOG".into(), "warn".into());
    for (k, v) in extra {
        vars.insert((*k).into(), (*v).into());
    }
    EnvConfig::from_lookup(|k| vars.get(k).cloned()).expect("valid test env")
}

/// The GitHub environment of a test daemon: only the `extra` variables (no token unless a
/// test gives one), and no `gh`.
pub fn scm_env(extra: &[(&str, &str)]) -> crate::http::state::ScmEnv {
    let vars: HashMap<String, String> = extra
        .iter()
        .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
        .collect();
    crate::http::state::ScmEnv {
        lookup: std::sync::Arc::new(move |k| vars.get(k).cloned()),
        gh_program: "/nonexistent/ao-test-gh".into(),
    }
}

pub async fn boot() -> Harness {
    boot_with(&[], Tuning::default()).await
}

pub async fn boot_with(extra: &[(&str, &str)], tuning: Tuning) -> Harness {
    let tmp = tempfile::tempdir().expect("tempdir");
    let blocker = std::net::TcpListener::bind("127.0.0.1:0").expect("bind blocker");
    let blocked_port = blocker.local_addr().expect("addr").port();
    let env = env_for(tmp.path(), blocked_port, extra);
    crate::install_crypto_provider();
    let mut tuning = tuning;
    if tuning.scm_env.is_none() {
        tuning.scm_env = Some(scm_env(extra));
    }
    let daemon = start_with(env.clone(), tuning)
        .await
        .expect("daemon starts");
    Harness {
        port: daemon.port(),
        token: daemon.token().to_string(),
        daemon: Some(daemon),
        tmp,
        env,
        client: reqwest::Client::new(),
        blocked_port,
        _blocker: blocker,
    }
}

impl Harness {
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn get(&self, path: &str) -> reqwest::RequestBuilder {
        self.client.get(self.url(path)).bearer_auth(&self.token)
    }

    pub fn post(&self, path: &str) -> reqwest::RequestBuilder {
        self.client.post(self.url(path)).bearer_auth(&self.token)
    }

    pub fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.client
            .request(method, self.url(path))
            .bearer_auth(&self.token)
    }

    /// Sends a JSON body with the right content type.
    pub fn send_json(
        &self,
        method: reqwest::Method,
        path: &str,
        body: &Value,
    ) -> reqwest::RequestBuilder {
        self.request(method, path)
            .header("content-type", "application/json")
            .body(body.to_string())
    }

    /// Registers a fresh git repository named `name` and returns the project JSON.
    pub async fn add_project(&self, name: &str) -> Value {
        let repo = git_repo(self.tmp.path(), name);
        let (status, body) = json(
            self.send_json(
                reqwest::Method::POST,
                "/api/v1/projects",
                &serde_json::json!({"path": repo.to_string_lossy()}),
            )
            .send()
            .await
            .expect("request"),
        )
        .await;
        assert_eq!(status, 201, "{body}");
        body["project"].clone()
    }

    pub async fn stop(mut self) {
        if let Some(d) = self.daemon.take() {
            d.shutdown().await;
        }
    }
}

/// Status and JSON body of a response.
pub async fn json(res: reqwest::Response) -> (u16, Value) {
    let status = res.status().as_u16();
    let text = res.text().await.expect("body");
    let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, value)
}

/// Asserts the error envelope of http-api.md §3.
pub fn assert_envelope(body: &Value, status: u16, code: &str) {
    let kind = ao_protocol::error::kind_word(status);
    assert_eq!(body["error"], kind, "{body}");
    assert_eq!(body["code"], code, "{body}");
    assert!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    assert!(
        body["requestId"].as_str().is_some_and(|r| !r.is_empty()),
        "{body}"
    );
}

/// Creates `<root>/<name>` as a git repository with one commit on `main`.
pub fn git_repo(root: &Path, name: &str) -> PathBuf {
    let dir = root.join("repos").join(name);
    std::fs::create_dir_all(&dir).expect("mkdir repo");
    let git = |args: &[&str]| {
        let out = Command::new("git")
            .arg("-C")
            .arg(&dir)
            .args([
                "-c",
                "user.name=ao-test",
                "-c",
                "user.email=ao@test.invalid",
            ])
            .args(args)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("HOME", root)
            .output()
            .expect("git runs");
        assert!(out.status.success(), "git {args:?}: {out:?}");
    };
    git(&["init", "-q", "-b", "main"]);
    git(&["commit", "-q", "--allow-empty", "-m", "init"]);
    std::fs::canonicalize(&dir).expect("canonical repo path")
}

/// A raw HTTP/1.1 response.
#[derive(Debug)]
pub struct RawResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl RawResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }
}

/// Sends `head` (request line and headers, without the final blank line; `Connection: close`
/// is added) and reads the whole response.
pub async fn raw(port: u16, head: &str) -> RawResponse {
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    let request = format!("{head}\r\nConnection: close\r\n\r\n");
    stream
        .write_all(request.as_bytes())
        .await
        .expect("write request");
    let mut bytes = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut bytes))
        .await
        .expect("response in time")
        .expect("read response");
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").expect("response head");
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .expect("status line");
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let chunked = headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.contains("chunked"));
    let body = if chunked {
        dechunk(body)
    } else {
        body.to_string()
    };
    RawResponse {
        status,
        headers,
        body,
    }
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        s = rest[n..].trim_start_matches("\r\n");
    }
    out
}

/// One SSE message: (id, event, data).
pub type SseMsg = (Option<i64>, String, Value);

/// Reads an SSE response body incrementally.
pub struct SseReader {
    stream: std::pin::Pin<Box<dyn futures_util::Stream<Item = reqwest::Result<Bytes>> + Send>>,
    pub raw: String,
    buf: String,
    pub ended: bool,
}

impl SseReader {
    pub fn new(res: reqwest::Response) -> Self {
        Self {
            stream: Box::pin(res.bytes_stream()),
            raw: String::new(),
            buf: String::new(),
            ended: false,
        }
    }

    /// Collects messages (comments and `retry:` skipped) until `n` arrived or `wait` passed.
    pub async fn take(&mut self, n: usize, wait: Duration) -> Vec<SseMsg> {
        let deadline = Instant::now() + wait;
        let mut msgs = Vec::new();
        loop {
            while let Some(end) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..end + 2).collect();
                if let Some(m) = parse_block(&block) {
                    msgs.push(m);
                }
            }
            if msgs.len() >= n || self.ended {
                return msgs;
            }
            match tokio::time::timeout_at(deadline, self.stream.next()).await {
                Err(_) => return msgs,
                Ok(None | Some(Err(_))) => self.ended = true,
                Ok(Some(Ok(chunk))) => {
                    let text = String::from_utf8_lossy(&chunk).into_owned();
                    self.raw.push_str(&text);
                    self.buf.push_str(&text);
                }
            }
        }
    }

    /// Waits (bounded) for the end of the stream.
    pub async fn wait_end(&mut self, wait: Duration) -> bool {
        let deadline = Instant::now() + wait;
        while !self.ended {
            match tokio::time::timeout_at(deadline, self.stream.next()).await {
                Err(_) => return false,
                Ok(None | Some(Err(_))) => self.ended = true,
                Ok(Some(Ok(chunk))) => self.raw.push_str(&String::from_utf8_lossy(&chunk)),
            }
        }
        true
    }
}

fn parse_block(block: &str) -> Option<SseMsg> {
    let (mut id, mut event, mut data) = (None, String::new(), None);
    for line in block.lines() {
        if let Some(v) = line.strip_prefix("id: ") {
            id = v.parse().ok();
        } else if let Some(v) = line.strip_prefix("event: ") {
            event = v.to_string();
        } else if let Some(v) = line.strip_prefix("data: ") {
            data = serde_json::from_str(v).ok();
        }
    }
    data.map(|d| (id, event, d))
}

/// The ids of messages that have one.
pub fn ids(msgs: &[SseMsg]) -> Vec<i64> {
    msgs.iter().filter_map(|m| m.0).collect()
}
