//! Reaching the daemon (cli.md §1.2): the run-file, pid liveness, and the HTTP client.
//!
//! [`Daemon::connect`] runs steps 2–3 of §1.2 (the caller has validated the environment);
//! [`Daemon::call`] sends one API request with the Bearer token, the connect timeout of 2 s, a
//! request timeout of 2 min (11 min for [`Timeout::Long`]) and retries a 503 `DAEMON_STARTING`
//! every 250 ms for up to 30 s. Health probes ([`Daemon::healthz`], [`Daemon::readyz`]) carry
//! no token and time out after 2 s.

use std::path::Path;
use std::time::{Duration, Instant};

use ao_protocol::{EnvConfig, ErrorBody, ErrorCode, Health, Readiness, RunFile};
use reqwest::{Method, StatusCode, Url};
use serde::de::DeserializeOwned;
use serde_json::value::RawValue;

use crate::error::CliError;

/// Connect timeout of every request.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Timeout of `/healthz` and `/readyz` probes.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(2);
const SHORT_TIMEOUT: Duration = Duration::from_secs(120);
const LONG_TIMEOUT: Duration = Duration::from_secs(11 * 60);
const STARTING_RETRY_EVERY: Duration = Duration::from_millis(250);
const STARTING_RETRY_FOR: Duration = Duration::from_secs(30);

/// Which request timeout applies (http-api.md §12).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timeout {
    /// 2 min: reads and short commands.
    Short,
    /// 11 min: the long commands of http-api.md §12.
    Long,
    /// 5 s: best-effort reads (the `daemon` part of the status object).
    Quick,
}

impl Timeout {
    fn duration(self) -> Duration {
        match self {
            Timeout::Short => SHORT_TIMEOUT,
            Timeout::Long => LONG_TIMEOUT,
            Timeout::Quick => Duration::from_secs(5),
        }
    }
}

/// The run-file as found on disk.
#[derive(Debug)]
pub enum RunFileState {
    Missing,
    /// Present but unreadable or not a run-file; the reason.
    Unreadable(String),
    Present(RunFile),
}

/// Reads `running.json`.
pub fn read_run_file(path: &Path) -> RunFileState {
    match std::fs::read(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => RunFileState::Missing,
        Err(e) => RunFileState::Unreadable(e.to_string()),
        Ok(bytes) => match serde_json::from_slice::<RunFile>(&bytes) {
            Ok(rf) => RunFileState::Present(rf),
            Err(e) => RunFileState::Unreadable(format!("not a valid run-file: {e}")),
        },
    }
}

/// Whether a process with this pid exists (a zombie counts as gone).
pub fn pid_alive(pid: u32) -> bool {
    let Ok(raw) = i32::try_from(pid) else {
        return false;
    };
    if raw <= 0 {
        return false;
    }
    match nix::sys::signal::kill(nix::unistd::Pid::from_raw(raw), None) {
        Ok(()) => !is_zombie(pid),
        Err(nix::errno::Errno::EPERM) => true,
        Err(_) => false,
    }
}

/// Linux: the state letter of `/proc/<pid>/stat` is `Z`. Elsewhere, never.
fn is_zombie(pid: u32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    stat.rfind(')')
        .and_then(|i| stat[i + 1..].trim_start().chars().next())
        .is_some_and(|c| c == 'Z')
}

/// Removes the run-file if it still names `pid`. Errors are ignored: the daemon may have
/// removed it already.
pub fn remove_run_file_if(path: &Path, pid: u32) {
    if let RunFileState::Present(rf) = read_run_file(path)
        && rf.pid == pid
    {
        let _ = std::fs::remove_file(path);
    }
}

/// The root cause of a transport error, one line (e.g. `Connection refused (os error 111)`).
fn describe(e: &reqwest::Error) -> String {
    let mut msg = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        msg = s.to_string();
        src = s.source();
    }
    msg
}

/// The JSON text of a 2xx response body, as the daemon sent it (`null` when empty). Kept as
/// text so that `--json` prints the API body unchanged (same keys, same order).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Body(pub String);

impl Body {
    /// Decodes the body into a typed DTO; `what` names it in the error.
    pub fn decode<T: DeserializeOwned>(&self, what: &str) -> Result<T, CliError> {
        serde_json::from_str(&self.0)
            .map_err(|e| CliError::Failed(format!("unexpected {what} body from the daemon: {e}")))
    }

    /// The body as a generic JSON value.
    pub fn value(&self) -> serde_json::Value {
        serde_json::from_str(&self.0).unwrap_or(serde_json::Value::Null)
    }

    /// The body as an embeddable raw JSON value.
    pub fn raw(&self) -> Option<Box<RawValue>> {
        RawValue::from_string(self.0.clone()).ok()
    }

    /// Prints the body as pretty JSON (`--json`).
    pub fn print(&self) -> Result<(), CliError> {
        crate::output::raw(&crate::output::reindent(&self.0))
    }
}

/// A connection to a running daemon.
#[derive(Debug, Clone)]
pub struct Daemon {
    pub run: RunFile,
    base: Url,
    http: reqwest::Client,
}

impl Daemon {
    /// Steps 2–3 of cli.md §1.2: the run-file must exist and name a live pid.
    pub fn connect(env: &EnvConfig) -> Result<Self, CliError> {
        match read_run_file(&env.run_file) {
            RunFileState::Missing => Err(CliError::NotRunning),
            RunFileState::Unreadable(why) => Err(CliError::Failed(format!(
                "cannot read the run-file {}: {why}",
                env.run_file.display()
            ))),
            RunFileState::Present(rf) if !pid_alive(rf.pid) => {
                Err(CliError::Stale(env.run_file.clone()))
            }
            RunFileState::Present(rf) => Self::new(rf),
        }
    }

    /// A client for the daemon that wrote `run`, without checking the pid.
    pub fn new(run: RunFile) -> Result<Self, CliError> {
        let base = Url::parse(&format!("http://127.0.0.1:{}/", run.port))
            .map_err(|e| CliError::Failed(format!("bad daemon address: {e}")))?;
        ao_daemon::install_crypto_provider();
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .no_proxy()
            .build()
            .map_err(|e| {
                CliError::Failed(format!("cannot build the HTTP client: {}", describe(&e)))
            })?;
        Ok(Self { run, base, http })
    }

    /// `http://127.0.0.1:<port>/<segments…>` with each segment percent-encoded.
    pub fn url(&self, segments: &[&str], query: &[(&str, String)]) -> Url {
        let mut url = self.base.clone();
        url.path_segments_mut()
            .expect("an http:// URL always has path segments")
            .clear()
            .extend(segments);
        if !query.is_empty() {
            url.query_pairs_mut()
                .extend_pairs(query.iter().map(|(k, v)| (*k, v.as_str())));
        }
        url
    }

    fn unreachable(&self, e: &reqwest::Error, timeout: Duration) -> CliError {
        if e.is_timeout() {
            CliError::Failed(format!(
                "request to the AO daemon timed out after {}",
                ao_protocol::env::format_duration(timeout)
            ))
        } else {
            CliError::Failed(format!(
                "cannot reach the AO daemon at 127.0.0.1:{}: {}",
                self.run.port,
                describe(e)
            ))
        }
    }

    /// `GET /api/v1/<segments>` → the JSON body.
    pub async fn get(&self, segments: &[&str], query: &[(&str, String)]) -> Result<Body, CliError> {
        self.call(Method::GET, segments, query, None, Timeout::Short)
            .await
    }

    /// One API request under `/api/v1`; returns the JSON body of a 2xx response (`null` when
    /// empty) and maps anything else to [`CliError`].
    pub async fn call(
        &self,
        method: Method,
        segments: &[&str],
        query: &[(&str, String)],
        body: Option<&serde_json::Value>,
        timeout: Timeout,
    ) -> Result<Body, CliError> {
        let mut segs = vec!["api", "v1"];
        segs.extend_from_slice(segments);
        let url = self.url(&segs, query);
        let started = Instant::now();
        loop {
            let mut req = self
                .http
                .request(method.clone(), url.clone())
                .bearer_auth(&self.run.token)
                .timeout(timeout.duration());
            if let Some(b) = body {
                req = req.json(b);
            }
            let resp = req
                .send()
                .await
                .map_err(|e| self.unreachable(&e, timeout.duration()))?;
            match into_result(resp, timeout.duration(), self).await {
                Err(e)
                    if e.api_code() == Some(ErrorCode::DaemonStarting.as_str())
                        && started.elapsed() < STARTING_RETRY_FOR =>
                {
                    tokio::time::sleep(STARTING_RETRY_EVERY).await;
                }
                other => return other,
            }
        }
    }

    /// `GET /healthz` (2 s, no token).
    pub async fn healthz(&self) -> Result<Health, String> {
        let resp = self
            .http
            .get(self.url(&["healthz"], &[]))
            .timeout(PROBE_TIMEOUT)
            .send()
            .await
            .map_err(|e| describe(&e))?;
        if !resp.status().is_success() {
            return Err(format!("/healthz answered HTTP {}", resp.status().as_u16()));
        }
        resp.json::<Health>().await.map_err(|e| describe(&e))
    }

    /// `GET /readyz` (2 s, no token): whether the daemon answered 200.
    pub async fn readyz(&self) -> Result<bool, String> {
        let resp = self
            .http
            .get(self.url(&["readyz"], &[]))
            .timeout(PROBE_TIMEOUT)
            .send()
            .await
            .map_err(|e| describe(&e))?;
        let ok = resp.status() == StatusCode::OK;
        // Drain the body so the connection can be reused; its content is informative only.
        let _ = resp.json::<Readiness>().await;
        Ok(ok)
    }

    /// `POST /shutdown` with the token.
    pub async fn shutdown(&self) -> Result<(), CliError> {
        let resp = self
            .http
            .post(self.url(&["shutdown"], &[]))
            .bearer_auth(&self.run.token)
            .timeout(SHORT_TIMEOUT)
            .send()
            .await
            .map_err(|e| self.unreachable(&e, SHORT_TIMEOUT))?;
        into_result(resp, SHORT_TIMEOUT, self).await.map(|_| ())
    }

    /// Opens `GET /api/v1/events` (no request timeout; a stalled connection is detected by a
    /// 45 s read timeout, three missed keep-alives).
    pub async fn open_events(
        &self,
        query: &[(&str, String)],
        last_event_id: Option<i64>,
    ) -> Result<reqwest::Response, CliError> {
        ao_daemon::install_crypto_provider();
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .read_timeout(Duration::from_secs(45))
            .no_proxy()
            .build()
            .map_err(|e| {
                CliError::Failed(format!("cannot build the HTTP client: {}", describe(&e)))
            })?;
        let mut req = http
            .get(self.url(&["api", "v1", "events"], query))
            .bearer_auth(&self.run.token)
            .header("Accept", "text/event-stream");
        if let Some(id) = last_event_id {
            req = req.header("Last-Event-ID", id.to_string());
        }
        let resp = req
            .send()
            .await
            .map_err(|e| self.unreachable(&e, CONNECT_TIMEOUT))?;
        if resp.status().is_success() {
            Ok(resp)
        } else {
            Err(into_result(resp, CONNECT_TIMEOUT, self)
                .await
                .err()
                .unwrap_or(CliError::Failed("unexpected response".into())))
        }
    }
}

/// A 2xx response → its JSON body; anything else → [`CliError::Api`].
async fn into_result(
    resp: reqwest::Response,
    timeout: Duration,
    daemon: &Daemon,
) -> Result<Body, CliError> {
    let status = resp.status();
    let request_id = resp
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let bytes = resp
        .bytes()
        .await
        .map_err(|e| daemon.unreachable(&e, timeout))?;
    if status.is_success() {
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Body("null".into()));
        }
        return serde_json::from_slice::<&RawValue>(&bytes)
            .map(|raw| Body(raw.get().to_string()))
            .map_err(|e| {
                CliError::Failed(format!(
                    "daemon returned HTTP {} with a body that is not JSON: {e}",
                    status.as_u16()
                ))
            });
    }
    Err(CliError::Api {
        status: status.as_u16(),
        body: serde_json::from_slice::<ErrorBody>(&bytes)
            .ok()
            .map(Box::new),
        request_id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_file(port: u16) -> RunFile {
        RunFile {
            pid: std::process::id(),
            port,
            token: "t".into(),
            started_at: String::new(),
            version: String::new(),
            home: String::new(),
            data_dir: String::new(),
        }
    }

    #[test]
    fn urls_encode_segments_and_query() {
        let d = Daemon::new(run_file(3001)).expect("client");
        let u = d.url(
            &["api", "v1", "projects", "a b/c"],
            &[("project", "x&y".to_string())],
        );
        assert_eq!(
            u.as_str(),
            "http://127.0.0.1:3001/api/v1/projects/a%20b%2Fc?project=x%26y"
        );
    }

    #[test]
    fn liveness() {
        assert!(pid_alive(std::process::id()));
        assert!(!pid_alive(0));
        assert!(!pid_alive(u32::MAX));
    }

    #[test]
    fn run_file_states() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("running.json");
        assert!(matches!(read_run_file(&p), RunFileState::Missing));
        std::fs::write(&p, "{").expect("write");
        assert!(matches!(read_run_file(&p), RunFileState::Unreadable(_)));
        std::fs::write(
            &p,
            serde_json::json!({"pid": 7, "port": 1, "token": "t", "startedAt": "",
                "version": "0.1.0", "home": "/h", "dataDir": "/d"})
            .to_string(),
        )
        .expect("write");
        assert!(matches!(read_run_file(&p), RunFileState::Present(rf) if rf.pid == 7));
        remove_run_file_if(&p, 8);
        assert!(p.exists());
        remove_run_file_if(&p, 7);
        assert!(!p.exists());
    }

    #[tokio::test(flavor = "current_thread")]
    async fn unreachable_daemon_is_a_one_line_error() {
        // A port that was just free: the connection is refused immediately.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let d = Daemon::new(run_file(port)).expect("client");
        let err = d.get(&["projects"], &[]).await.expect_err("no daemon");
        let text = err.render();
        assert!(
            text.starts_with(&format!(
                "error: cannot reach the AO daemon at 127.0.0.1:{port}"
            )),
            "{text}"
        );
        assert!(!text.contains('\n'));
        assert!(d.healthz().await.is_err());
    }
}
