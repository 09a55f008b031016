//! Daemon state detection and the status object (cli.md §2.1), shared by `status`, `start`,
//! `stop` and `doctor`.
//!
//! [`probe`] decides the state in the order of the spec: no run-file → `stopped`; dead pid →
//! `stale`; `/healthz` fails → `unhealthy`; another service or pid → `stale`; `/readyz` 200 →
//! `ready`; otherwise `not_ready`. [`status_object`] turns a [`Probe`] into the documented JSON
//! object and [`render_text`] renders that object, so the text form is tested from plain JSON.

use ao_protocol::{DaemonState, EnvConfig, Health, RunFile, SERVICE_NAME};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use serde_json::value::RawValue;
use std::fmt::Write as _;

use crate::client::{Body, Daemon, RunFileState, Timeout, pid_alive, read_run_file};
use crate::output::{self, Colour};

/// Why a run-file is stale.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StaleKind {
    /// The pid is gone.
    Dead,
    /// The pid answers but is not this daemon.
    Foreign,
    /// The file cannot be read or parsed.
    Unreadable,
}

/// What [`probe`] found.
#[derive(Debug)]
pub struct Probe {
    pub state: DaemonState,
    pub stale: Option<StaleKind>,
    pub run: Option<RunFile>,
    pub health: Option<Health>,
    pub error: Option<String>,
    /// The `GET /api/v1/status` body (only when asked for and `ready`).
    pub daemon_status: Option<Body>,
    /// A client for the daemon, when the run-file names a live pid.
    pub client: Option<Daemon>,
}

impl Probe {
    fn new(state: DaemonState) -> Self {
        Self {
            state,
            stale: None,
            run: None,
            health: None,
            error: None,
            daemon_status: None,
            client: None,
        }
    }
}

/// Decides the daemon state; with `with_status`, a `ready` daemon's `GET /api/v1/status` body
/// is fetched too (best effort).
pub async fn probe(env: &EnvConfig, with_status: bool) -> Probe {
    let rf = match read_run_file(&env.run_file) {
        RunFileState::Missing => return Probe::new(DaemonState::Stopped),
        RunFileState::Unreadable(why) => {
            let mut p = Probe::new(DaemonState::Stale);
            p.stale = Some(StaleKind::Unreadable);
            p.error = Some(format!("run-file is unreadable: {why}"));
            return p;
        }
        RunFileState::Present(rf) => rf,
    };
    let mut p = Probe::new(DaemonState::Stale);
    p.run = Some(rf.clone());
    if !pid_alive(rf.pid) {
        p.stale = Some(StaleKind::Dead);
        p.error = Some("run-file points to a dead process".into());
        return p;
    }
    let client = match Daemon::new(rf.clone()) {
        Ok(c) => c,
        Err(e) => {
            p.state = DaemonState::Unhealthy;
            p.error = Some(e.to_string());
            return p;
        }
    };
    match client.healthz().await {
        Err(e) => {
            p.state = DaemonState::Unhealthy;
            p.error = Some(format!("/healthz failed: {e}"));
            p.client = Some(client);
            return p;
        }
        Ok(h) if h.service != SERVICE_NAME || h.pid != rf.pid => {
            p.stale = Some(StaleKind::Foreign);
            p.error = Some("run-file points to a process that is not this ao daemon".into());
            p.health = Some(h);
            return p;
        }
        Ok(h) => p.health = Some(h),
    }
    p.state = match client.readyz().await {
        Ok(true) => DaemonState::Ready,
        _ => DaemonState::NotReady,
    };
    if with_status && p.state == DaemonState::Ready {
        p.daemon_status = client
            .call(reqwest::Method::GET, &["status"], &[], None, Timeout::Quick)
            .await
            .ok();
    }
    p.client = Some(client);
    p
}

/// The status object of cli.md §2.1 (fields in the documented order).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusObject {
    pub state: &'static str,
    pub pid: Option<u32>,
    pub port: Option<u16>,
    pub started_at: Option<String>,
    pub uptime_seconds: Option<u64>,
    pub version: Option<String>,
    pub run_file: String,
    pub home: String,
    pub data_dir: String,
    pub error: Option<String>,
    /// The `GET /api/v1/status` body as the daemon sent it, or null.
    pub daemon: Option<Box<RawValue>>,
}

impl StatusObject {
    /// As a JSON value (for the text rendering).
    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

/// Builds the status object from a probe.
pub fn status_object(env: &EnvConfig, p: &Probe, now: DateTime<Utc>) -> StatusObject {
    let run = p.run.as_ref();
    let live = matches!(
        p.state,
        DaemonState::Ready | DaemonState::NotReady | DaemonState::Unhealthy
    );
    let uptime = if live {
        p.daemon_status
            .as_ref()
            .and_then(|d| d.value().get("uptimeSeconds").and_then(Value::as_u64))
            .or_else(|| {
                run.and_then(|r| ao_protocol::time::parse(&r.started_at))
                    .map(|t| (now - t).num_seconds().max(0) as u64)
            })
    } else {
        None
    };
    let version = p
        .health
        .as_ref()
        .map(|h| h.version.clone())
        .or_else(|| run.map(|r| r.version.clone()));
    StatusObject {
        state: p.state.as_str(),
        pid: run.map(|r| r.pid),
        port: run.map(|r| r.port),
        started_at: run.map(|r| r.started_at.clone()),
        uptime_seconds: uptime,
        version,
        run_file: env.run_file.display().to_string(),
        home: env.home.display().to_string(),
        data_dir: env.data_dir.display().to_string(),
        error: p.error.clone(),
        daemon: p.daemon_status.as_ref().and_then(Body::raw),
    }
}

fn text(v: &Value, key: &str) -> Option<String> {
    match v.get(key)? {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

/// The text form of a status object.
pub fn render_text(obj: &Value, colour: bool) -> String {
    let state = text(obj, "state").unwrap_or_else(|| "unknown".into());
    let painted = match state.as_str() {
        "ready" => output::paint(&state, Colour::Green, colour),
        "stopped" => state.clone(),
        "not_ready" | "stale" => output::paint(&state, Colour::Yellow, colour),
        _ => output::paint(&state, Colour::Red, colour),
    };
    if state != "ready" {
        let mut out = format!("AO daemon: {painted}");
        if let Some(e) = text(obj, "error") {
            let _ = write!(out, " ({e})");
        }
        out.push('\n');
        let _ = writeln!(
            out,
            "  run-file: {}",
            text(obj, "runFile").unwrap_or_default()
        );
        return out;
    }
    let mut out = format!("AO daemon: {painted}\n");
    let row = |out: &mut String, key: &str, value: String| {
        let label = format!("{key}:");
        let _ = writeln!(out, "  {label:<11}{value}");
    };
    let dash = || "-".to_string();
    row(&mut out, "pid", text(obj, "pid").unwrap_or_else(dash));
    row(&mut out, "port", text(obj, "port").unwrap_or_else(dash));
    row(
        &mut out,
        "version",
        text(obj, "version").unwrap_or_else(dash),
    );
    let uptime = obj
        .get("uptimeSeconds")
        .and_then(Value::as_i64)
        .map_or_else(dash, output::age);
    let since = text(obj, "startedAt")
        .map(|s| format!(" (since {})", output::local_datetime(&s)))
        .unwrap_or_default();
    row(&mut out, "uptime", format!("{uptime}{since}"));
    row(&mut out, "home", text(obj, "home").unwrap_or_else(dash));
    let daemon = obj.get("daemon").filter(|d| d.is_object());
    if let Some(d) = daemon {
        if let Some(s) = d.get("sessions") {
            let n = |k: &str| s.get(k).and_then(Value::as_u64).unwrap_or(0);
            row(
                &mut out,
                "sessions",
                format!("{} live, {} terminated", n("live"), n("terminated")),
            );
        }
        if let Some(g) = d.get("github").filter(|g| g.is_object()) {
            row(&mut out, "github", github_line(g));
        }
    }
    out
}

/// The `github:` value: `ok · REST 4812/5000 · GraphQL 4950/5000 · resets 10:05`,
/// `disabled (no token)`, `auth_failed (<lastError>)`, `backoff until <HH:MM:SS> (rate
/// limited)`, `throttled · REST …`.
pub fn github_line(g: &Value) -> String {
    let state = text(g, "state").unwrap_or_else(|| "unknown".into());
    match state.as_str() {
        "disabled" => "disabled (no token)".into(),
        "auth_failed" => format!(
            "auth_failed ({})",
            text(g, "lastError").unwrap_or_else(|| "unknown error".into())
        ),
        "backoff" => match text(g, "backoffUntil") {
            Some(t) => format!("backoff until {} (rate limited)", output::local_time(&t)),
            None => "backoff (rate limited)".into(),
        },
        _ => {
            let mut parts = vec![state];
            let window = |name: &str, key: &str| -> Option<String> {
                let w = g.get(key).filter(|w| w.is_object())?;
                let n = |k: &str| w.get(k).and_then(Value::as_u64).unwrap_or(0);
                Some(format!("{name} {}/{}", n("remaining"), n("limit")))
            };
            parts.extend(window("REST", "rest"));
            parts.extend(window("GraphQL", "graphql"));
            let reset = ["rest", "graphql"]
                .iter()
                .find_map(|k| g.get(*k).and_then(|w| text(w, "resetAt")));
            if let Some(r) = reset {
                parts.push(format!("resets {}", output::local_hm(&r)));
            }
            parts.join(" · ")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ready_object() -> Value {
        json!({
            "state": "ready", "pid": 4242, "port": 3001, "startedAt": "not-a-time",
            "uptimeSeconds": 3 * 3600 + 5, "version": "0.1.0", "runFile": "/h/running.json",
            "home": "/home/u/.ao", "dataDir": "/home/u/.ao/data", "error": null,
            "daemon": {
                "sessions": {"live": 4, "terminated": 12},
                "github": {"state": "ok", "tokenSource": "gh", "pollIntervalSeconds": 30,
                    "lastPollAt": null, "backoffUntil": null, "lastError": null,
                    "rest": {"limit": 5000, "remaining": 4812, "used": 188, "resetAt": "x"},
                    "graphql": {"limit": 5000, "remaining": 4950, "used": 50, "resetAt": null}}
            }
        })
    }

    #[test]
    fn ready_text() {
        assert_eq!(
            render_text(&ready_object(), false),
            "AO daemon: ready\n  pid:       4242\n  port:      3001\n  version:   0.1.0\n  \
             uptime:    3h (since not-a-time)\n  home:      /home/u/.ao\n  \
             sessions:  4 live, 12 terminated\n  \
             github:    ok · REST 4812/5000 · GraphQL 4950/5000 · resets x\n"
        );
    }

    #[test]
    fn ready_text_without_daemon_body() {
        let mut o = ready_object();
        o["daemon"] = Value::Null;
        let t = render_text(&o, false);
        assert!(!t.contains("sessions:"));
        assert!(t.contains("  home:      /home/u/.ao\n"));
    }

    #[test]
    fn other_states() {
        let o = json!({"state": "stopped", "error": null, "runFile": "/h/running.json"});
        assert_eq!(
            render_text(&o, false),
            "AO daemon: stopped\n  run-file: /h/running.json\n"
        );
        let o = json!({"state": "stale", "error": "run-file points to a dead process",
            "runFile": "/h/running.json"});
        assert_eq!(
            render_text(&o, false),
            "AO daemon: stale (run-file points to a dead process)\n  run-file: /h/running.json\n"
        );
    }

    #[test]
    fn github_forms() {
        assert_eq!(
            github_line(&json!({"state": "disabled"})),
            "disabled (no token)"
        );
        assert_eq!(
            github_line(&json!({"state": "auth_failed", "lastError": "bad credentials"})),
            "auth_failed (bad credentials)"
        );
        assert_eq!(
            github_line(&json!({"state": "backoff", "backoffUntil": "soon"})),
            "backoff until soon (rate limited)"
        );
        assert_eq!(
            github_line(
                &json!({"state": "throttled", "rest": {"limit": 10, "remaining": 1},
                "graphql": null})
            ),
            "throttled · REST 1/10"
        );
        assert_eq!(github_line(&json!({"state": "ok"})), "ok");
    }

    #[test]
    fn github_clock_times_are_local_hh_mm_ss_and_hh_mm() {
        let at = "2026-07-01T10:05:42.000Z";
        let local = ao_protocol::time::parse(at)
            .expect("timestamp")
            .with_timezone(&chrono::Local);
        assert_eq!(
            github_line(&json!({"state": "backoff", "backoffUntil": at})),
            format!("backoff until {} (rate limited)", local.format("%H:%M:%S"))
        );
        let window = json!({"limit": 5000, "remaining": 4812, "used": 188, "resetAt": at});
        let graphql = json!({"limit": 5000, "remaining": 4950, "used": 50, "resetAt": null});
        assert_eq!(
            github_line(&json!({"state": "ok", "rest": window, "graphql": graphql})),
            format!(
                "ok · REST 4812/5000 · GraphQL 4950/5000 · resets {}",
                local.format("%H:%M")
            )
        );
        assert_eq!(
            github_line(&json!({"state": "throttled", "rest": window, "graphql": null})),
            format!(
                "throttled · REST 4812/5000 · resets {}",
                local.format("%H:%M")
            )
        );
        assert_eq!(
            github_line(&json!({"state": "auth_failed", "lastError": null})),
            "auth_failed (unknown error)"
        );
    }

    #[test]
    fn stopped_object_has_nulls() {
        let env =
            EnvConfig::from_lookup(|k| (k == "HOME").then(|| "/h".to_string())).expect("valid env");
        let o = status_object(&env, &Probe::new(DaemonState::Stopped), Utc::now());
        assert!(
            output::pretty(&o).starts_with("{\n  \"state\": \"stopped\",\n  \"pid\": null,"),
            "keys keep the documented order"
        );
        let o = o.to_value();
        assert_eq!(o["state"], "stopped");
        for k in [
            "pid",
            "port",
            "startedAt",
            "uptimeSeconds",
            "version",
            "error",
            "daemon",
        ] {
            assert_eq!(o[k], Value::Null, "{k}");
        }
        assert_eq!(o["runFile"], "/h/.ao/running.json");
        assert_eq!(o["home"], "/h/.ao");
        assert_eq!(o["dataDir"], "/h/.ao/data");
    }
}
