//! Session and orchestrator routes (http-api.md §7–8): the validation codes of every route
//! (no tmux needed), and one spawn → get → send → kill round trip of the `command` harness on
//! a private tmux server.

use std::process::Command;
use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use super::harness::{Harness, assert_envelope, boot, json};

/// Sends `body` (a JSON value) with `method` to `path`; returns status and JSON body.
async fn call(h: &Harness, method: Method, path: &str, body: &Value) -> (u16, Value) {
    json(
        h.send_json(method, path, body)
            .send()
            .await
            .expect("request"),
    )
    .await
}

/// Asserts an error status, code and envelope.
async fn expect_error(
    h: &Harness,
    method: Method,
    path: &str,
    body: &Value,
    status: u16,
    code: &str,
) {
    let (got, resp) = call(h, method.clone(), path, body).await;
    assert_eq!(got, status, "{method} {path} {body}: {resp}");
    assert_envelope(&resp, status, code);
}

async fn get(h: &Harness, path: &str) -> (u16, Value) {
    json(h.get(path).send().await.expect("request")).await
}

#[tokio::test]
async fn session_reads_validate_their_inputs() {
    let h = boot().await;
    h.add_project("demo").await;
    let (status, body) = get(&h, "/api/v1/sessions").await;
    assert_eq!((status, body), (200, json!({"sessions": []})));
    for q in [
        "?kind=robot",
        "?kind=",
        "?active=maybe",
        "?active=1",
        "?project=..",
        "?project=",
    ] {
        let (status, body) = get(&h, &format!("/api/v1/sessions{q}")).await;
        assert_eq!(status, 400, "{q}: {body}");
        assert_envelope(&body, 400, "INVALID_QUERY");
    }
    for q in [
        "?kind=worker&active=true&project=demo",
        "?kind=orchestrator&active=false",
        "?project=unknown-but-valid",
        "?unrelated=1",
    ] {
        let (status, body) = get(&h, &format!("/api/v1/sessions{q}")).await;
        assert_eq!((status, body), (200, json!({"sessions": []})), "{q}");
    }
    for path in [
        "/api/v1/sessions/demo-1",
        "/api/v1/sessions/not-a-session-id",
        "/api/v1/sessions/demo-0",
        "/api/v1/sessions/demo-1/attach",
        "/api/v1/sessions/bad%20id/attach",
        "/api/v1/orchestrators/demo-1",
        "/api/v1/orchestrators/nope",
    ] {
        let (status, body) = get(&h, path).await;
        assert_eq!(status, 404, "{path}: {body}");
        assert_envelope(&body, 404, "SESSION_NOT_FOUND");
    }
    let (status, body) = get(&h, "/api/v1/orchestrators?project=demo").await;
    assert_eq!((status, body), (200, json!({"sessions": []})));
    let (status, body) = get(&h, "/api/v1/orchestrators?project=a..b").await;
    assert_eq!(status, 400);
    assert_envelope(&body, 400, "INVALID_QUERY");
    // A known path with another method is 405.
    let res = h
        .request(Method::DELETE, "/api/v1/sessions/demo-1")
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), 405);
    h.stop().await;
}

#[tokio::test]
async fn spawn_validation_follows_the_documented_order() {
    let h = boot().await;
    h.add_project("demo").await;
    let post = |body: Value| (Method::POST, "/api/v1/sessions", body);
    let cases: Vec<((Method, &str, Value), u16, &str)> = vec![
        (post(json!({})), 400, "PROJECT_ID_REQUIRED"),
        (post(json!({"projectId": "  "})), 400, "PROJECT_ID_REQUIRED"),
        (post(json!({"projectId": "nope"})), 404, "PROJECT_NOT_FOUND"),
        (
            post(json!({"projectId": "a..b", "kind": "x"})),
            404,
            "PROJECT_NOT_FOUND",
        ),
        (
            post(json!({"projectId": "demo", "kind": "robot"})),
            400,
            "INVALID_KIND",
        ),
        (
            post(json!({"projectId": "demo", "kind": "robot", "prompt": "x".repeat(20_000)})),
            400,
            "INVALID_KIND",
        ),
        (
            post(json!({"projectId": "demo", "prompt": "x".repeat(16_385)})),
            400,
            "PROMPT_TOO_LONG",
        ),
        (
            post(json!({"projectId": "demo", "issueId": "a\nb"})),
            400,
            "INVALID_ISSUE_ID",
        ),
        (
            post(json!({"projectId": "demo", "issueId": "x".repeat(129)})),
            400,
            "INVALID_ISSUE_ID",
        ),
        (
            post(json!({"projectId": "demo", "displayName": "   "})),
            400,
            "DISPLAY_NAME_REQUIRED",
        ),
        (
            post(json!({"projectId": "demo", "displayName": "n".repeat(129)})),
            400,
            "DISPLAY_NAME_TOO_LONG",
        ),
        (
            post(json!({"projectId": "demo", "command": "a\u{0}b"})),
            400,
            "INVALID_COMMAND",
        ),
        (
            post(json!({"projectId": "demo", "command": "c".repeat(4097)})),
            400,
            "INVALID_COMMAND",
        ),
        (
            post(json!({"projectId": "demo", "branch": "a..b"})),
            400,
            "INVALID_BRANCH",
        ),
        (
            post(json!({"projectId": "demo", "harness": "gpt"})),
            400,
            "UNKNOWN_HARNESS",
        ),
        // The project has no origin: a bare number cannot be expanded.
        (
            post(
                json!({"projectId": "demo", "harness": "command", "command": "true",
                        "claimPr": {"pr": "12"}}),
            ),
            400,
            "INVALID_PR_REF",
        ),
        (
            post(
                json!({"projectId": "demo", "harness": "command", "command": "true",
                        "claimPr": {"allowTakeover": false}}),
            ),
            400,
            "PR_REQUIRED",
        ),
        // A full URL needs no origin; the test daemon has no GitHub token.
        (
            post(
                json!({"projectId": "demo", "harness": "command", "command": "true",
                        "claimPr": {"pr": "https://github.com/o/r/pull/12"}}),
            ),
            503,
            "SCM_UNAVAILABLE",
        ),
        (
            post(json!({"projectId": "demo", "agent": "codex"})),
            400,
            "INVALID_JSON",
        ),
        (post(json!({"projectId": 5})), 400, "INVALID_JSON"),
        (
            (Method::POST, "/api/v1/orchestrators", json!({})),
            400,
            "PROJECT_ID_REQUIRED",
        ),
        (
            (
                Method::POST,
                "/api/v1/orchestrators",
                json!({"projectId": "nope"}),
            ),
            404,
            "PROJECT_NOT_FOUND",
        ),
        (
            (
                Method::POST,
                "/api/v1/orchestrators",
                json!({"projectId": "demo", "prompt": "x".repeat(16_385)}),
            ),
            400,
            "PROMPT_TOO_LONG",
        ),
        (
            (
                Method::POST,
                "/api/v1/orchestrators",
                json!({"projectId": "demo", "harness": "gpt"}),
            ),
            400,
            "UNKNOWN_HARNESS",
        ),
        (
            (
                Method::POST,
                "/api/v1/orchestrators",
                json!({"projectId": "demo", "kind": "worker"}),
            ),
            400,
            "INVALID_JSON",
        ),
    ];
    for ((method, path, body), status, code) in cases {
        expect_error(&h, method, path, &body, status, code).await;
    }
    // Malformed JSON and a missing content type.
    let res = h
        .post("/api/v1/sessions")
        .header("content-type", "application/json")
        .body("{nope")
        .send()
        .await
        .expect("request");
    let (status, body) = json(res).await;
    assert_eq!(status, 400);
    assert_envelope(&body, 400, "INVALID_JSON");
    let res = h
        .post("/api/v1/sessions")
        .body(r#"{"projectId":"demo"}"#)
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), 415);

    // An archived project is not found either.
    let res = h
        .request(Method::DELETE, "/api/v1/projects/demo")
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), 200);
    expect_error(
        &h,
        Method::POST,
        "/api/v1/sessions",
        &json!({"projectId": "demo", "harness": "command", "command": "true"}),
        404,
        "PROJECT_NOT_FOUND",
    )
    .await;
    expect_error(
        &h,
        Method::POST,
        "/api/v1/orchestrators",
        &json!({"projectId": "demo"}),
        404,
        "PROJECT_NOT_FOUND",
    )
    .await;
    h.stop().await;
}

#[tokio::test]
async fn session_commands_validate_their_bodies() {
    let h = boot().await;
    h.add_project("demo").await;
    let s = "/api/v1/sessions/demo-9";
    let cases: Vec<(Method, String, Value, u16, &str)> = vec![
        (
            Method::PATCH,
            s.into(),
            json!({}),
            400,
            "DISPLAY_NAME_REQUIRED",
        ),
        (
            Method::PATCH,
            s.into(),
            json!({"displayName": " \t "}),
            400,
            "DISPLAY_NAME_REQUIRED",
        ),
        (
            Method::PATCH,
            s.into(),
            json!({"displayName": "é".repeat(129)}),
            400,
            "DISPLAY_NAME_TOO_LONG",
        ),
        (
            Method::PATCH,
            s.into(),
            json!({"name": "x"}),
            400,
            "INVALID_JSON",
        ),
        (
            Method::PATCH,
            s.into(),
            json!({"displayName": "ok"}),
            404,
            "SESSION_NOT_FOUND",
        ),
        (
            Method::PATCH,
            "/api/v1/sessions/bad".into(),
            json!({"displayName": "ok"}),
            404,
            "SESSION_NOT_FOUND",
        ),
        (
            Method::POST,
            format!("{s}/send"),
            json!({}),
            400,
            "MESSAGE_REQUIRED",
        ),
        (
            Method::POST,
            format!("{s}/send"),
            json!({"message": " \u{7}\r\n\u{1b} "}),
            400,
            "MESSAGE_REQUIRED",
        ),
        (
            Method::POST,
            format!("{s}/send"),
            json!({"message": "m".repeat(16_385)}),
            400,
            "MESSAGE_TOO_LONG",
        ),
        (
            Method::POST,
            format!("{s}/send"),
            json!({"message": "hi", "whenIdle": "yes"}),
            400,
            "INVALID_JSON",
        ),
        (
            Method::POST,
            format!("{s}/send"),
            json!({"message": "hi"}),
            404,
            "SESSION_NOT_FOUND",
        ),
        (
            Method::POST,
            format!("{s}/activity"),
            json!({}),
            400,
            "ACTIVITY_EMPTY",
        ),
        (
            Method::POST,
            format!("{s}/activity"),
            json!({"event": "stop"}),
            400,
            "ACTIVITY_EMPTY",
        ),
        (
            Method::POST,
            format!("{s}/activity"),
            json!({"state": "busy"}),
            400,
            "INVALID_ACTIVITY_STATE",
        ),
        (
            Method::POST,
            format!("{s}/activity"),
            json!({"agentSessionId": "has space"}),
            400,
            "INVALID_AGENT_SESSION_ID",
        ),
        (
            Method::POST,
            format!("{s}/activity"),
            json!({"agentSessionId": "a".repeat(257)}),
            400,
            "INVALID_AGENT_SESSION_ID",
        ),
        (
            Method::POST,
            format!("{s}/activity"),
            json!({"state": "idle", "event": "e".repeat(500)}),
            404,
            "SESSION_NOT_FOUND",
        ),
        (
            Method::POST,
            format!("{s}/kill"),
            json!({}),
            404,
            "SESSION_NOT_FOUND",
        ),
        (
            Method::POST,
            format!("{s}/restore"),
            json!({}),
            404,
            "SESSION_NOT_FOUND",
        ),
        (
            Method::POST,
            "/api/v1/sessions/cleanup?project=nope".into(),
            json!({}),
            404,
            "PROJECT_NOT_FOUND",
        ),
        (
            Method::POST,
            "/api/v1/sessions/cleanup?project=a..b".into(),
            json!({}),
            404,
            "PROJECT_NOT_FOUND",
        ),
    ];
    for (method, path, body, status, code) in cases {
        expect_error(&h, method, &path, &body, status, code).await;
    }
    // A send body must be JSON.
    let res = h
        .post(&format!("{s}/send"))
        .body("hello")
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), 415);
    // Rollback of an absent session is a no-op.
    let (status, body) = call(&h, Method::POST, &format!("{s}/rollback"), &json!({})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({"ok": true, "sessionId": "demo-9", "deleted": false, "killed": false})
    );
    // Cleanup with nothing to clean.
    for path in [
        "/api/v1/sessions/cleanup",
        "/api/v1/sessions/cleanup?project=demo",
    ] {
        let res = h.post(path).send().await.expect("request");
        let (status, body) = json(res).await;
        assert_eq!(status, 200, "{path}: {body}");
        assert_eq!(body, json!({"ok": true, "cleaned": [], "skipped": []}));
    }
    h.stop().await;
}

/// Kills the private tmux server of a test when dropped (also on a failed assertion) and
/// removes its socket file, which tmux 3.3a leaves behind.
struct TmuxServer(String);

impl Drop for TmuxServer {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.0, "kill-server"])
            .output();
        let dir = std::env::var_os("TMUX_TMPDIR")
            .filter(|d| !d.is_empty())
            .map_or_else(
                || std::path::PathBuf::from("/tmp"),
                std::path::PathBuf::from,
            );
        // Our uid, as the owner of a file this process creates.
        let probe = tempfile::NamedTempFile::new();
        if let Ok(uid) = probe.and_then(|f| f.as_file().metadata()).map(|m| {
            use std::os::unix::fs::MetadataExt;
            m.uid()
        }) {
            let _ = std::fs::remove_file(dir.join(format!("tmux-{uid}")).join(&self.0));
        }
    }
}

/// Whether the runtime session `name` exists on `socket`.
fn tmux_has(socket: &str, name: &str) -> bool {
    Command::new("tmux")
        .args(["-L", socket, "has-session", "-t", &format!("={name}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Polls `GET path` until `pred` holds (bounded).
async fn wait_for(h: &Harness, path: &str, pred: impl Fn(&Value) -> bool) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (status, body) = get(h, path).await;
        if status == 200 && pred(&body) {
            return body;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "condition not met for {path}: {body}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn command_session_round_trip_on_a_private_tmux() {
    let h = boot().await;
    let socket = h.env.tmux_socket.clone();
    let _server = TmuxServer(socket.clone());
    let conf = h.env.home.join("tmux.conf");
    assert!(conf.is_file(), "prepare() writes {}", conf.display());
    h.add_project("demo").await;

    let (status, body) = call(
        &h,
        Method::POST,
        "/api/v1/sessions",
        &json!({"projectId": "demo", "harness": "command", "command": "sleep 300",
                "displayName": "  Round trip  ", "issueId": "I-7", "prompt": "secret prompt"}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["claim"], Value::Null);
    let s = &body["session"];
    assert_eq!(s["id"], "demo-1");
    assert_eq!(s["projectId"], "demo");
    assert_eq!(s["num"], 1);
    assert_eq!(s["kind"], "worker");
    assert_eq!(s["harness"], "command");
    assert_eq!(s["displayName"], "Round trip");
    assert_eq!(s["issueId"], "I-7");
    assert_eq!(s["branch"], "ao/demo-1/root");
    assert_eq!(s["isTerminated"], false);
    assert_eq!(s["status"], "idle");
    assert_eq!(s["activity"]["state"], "idle");
    assert_eq!(s["runtime"]["kind"], "tmux");
    assert_eq!(s["runtime"]["handleId"], "demo-1");
    assert_eq!(s["prs"], json!([]));
    assert_eq!(s["terminatedReason"], Value::Null);
    assert_eq!(s["agentSessionId"], Value::Null);
    let text = body.to_string();
    assert!(
        !text.contains("secret prompt") && !text.contains("sleep 300"),
        "{text}"
    );
    let workspace = s["workspacePath"].as_str().expect("workspace").to_string();
    assert!(std::path::Path::new(&workspace).is_dir(), "{workspace}");
    assert!(tmux_has(&socket, "demo-1"));

    let (status, got) = get(&h, "/api/v1/sessions/demo-1").await;
    assert_eq!(status, 200);
    assert_eq!(got["session"]["id"], "demo-1");
    assert_eq!(got["session"]["workspacePath"], workspace.as_str());
    let (_, list) = get(&h, "/api/v1/sessions?project=demo&active=true&kind=worker").await;
    assert_eq!(list["sessions"].as_array().map(Vec::len), Some(1), "{list}");
    let (_, none) = get(&h, "/api/v1/sessions?active=false").await;
    assert_eq!(none, json!({"sessions": []}));
    // A worker is not an orchestrator.
    let (status, _) = get(&h, "/api/v1/orchestrators/demo-1").await;
    assert_eq!(status, 404);

    let (status, attach) = get(&h, "/api/v1/sessions/demo-1/attach").await;
    assert_eq!(status, 200, "{attach}");
    assert_eq!(
        attach,
        json!({"sessionId": "demo-1", "runtime": "tmux",
               "argv": ["tmux", "-L", socket, "-f", conf.to_string_lossy(),
                        "attach-session", "-t", "=demo-1"],
               "env": {}})
    );

    let (status, renamed) = call(
        &h,
        Method::PATCH,
        "/api/v1/sessions/demo-1",
        &json!({"displayName": " Renamed "}),
    )
    .await;
    assert_eq!(status, 200, "{renamed}");
    assert_eq!(
        renamed,
        json!({"ok": true, "sessionId": "demo-1", "displayName": "Renamed"})
    );

    let (status, sent) = call(
        &h,
        Method::POST,
        "/api/v1/sessions/demo-1/send",
        &json!({"message": "  hello\r\nworld\u{7}  "}),
    )
    .await;
    assert_eq!(status, 200, "{sent}");
    assert_eq!(
        sent,
        json!({"ok": true, "sessionId": "demo-1", "message": "hello\nworld", "delivery": "sent"})
    );

    let (status, act) = call(
        &h,
        Method::POST,
        "/api/v1/sessions/demo-1/activity",
        &json!({"state": "active", "agentSessionId": "conv-1", "event": "user-prompt-submit"}),
    )
    .await;
    assert_eq!(status, 200, "{act}");
    assert_eq!(act["ok"], true);
    assert_eq!(act["sessionId"], "demo-1");
    assert_eq!(act["state"], "active");
    assert_eq!(act["changed"], true);
    let body = wait_for(&h, "/api/v1/sessions/demo-1", |b| {
        b["session"]["status"] == "working"
    })
    .await;
    assert_eq!(body["session"]["agentSessionId"], "conv-1");
    assert_eq!(body["session"]["displayName"], "Renamed");

    let (status, killed) = call(&h, Method::POST, "/api/v1/sessions/demo-1/kill", &json!({})).await;
    assert_eq!(status, 200, "{killed}");
    assert_eq!(
        killed,
        json!({"ok": true, "sessionId": "demo-1", "freed": true})
    );
    let (_, after) = get(&h, "/api/v1/sessions/demo-1").await;
    let s = &after["session"];
    assert_eq!(s["isTerminated"], true, "{after}");
    assert_eq!(s["status"], "terminated");
    assert_eq!(s["terminatedReason"], "killed");
    assert_eq!(s["runtime"]["handleId"], Value::Null);
    assert_eq!(s["workspacePath"], Value::Null);
    assert!(!tmux_has(&socket, "demo-1"));
    assert!(!std::path::Path::new(&workspace).exists());
    // No runtime any more: nothing to attach to; kill stays idempotent.
    let (status, body) = get(&h, "/api/v1/sessions/demo-1/attach").await;
    assert_eq!(status, 409);
    assert_envelope(&body, 409, "SESSION_NO_RUNTIME");
    let (status, again) = call(&h, Method::POST, "/api/v1/sessions/demo-1/kill", &json!({})).await;
    assert_eq!(status, 200, "{again}");
    // Sending to a terminated session is refused; the activity is answered but unchanged.
    expect_error(
        &h,
        Method::POST,
        "/api/v1/sessions/demo-1/send",
        &json!({"message": "late"}),
        409,
        "SESSION_TERMINATED",
    )
    .await;
    let (status, act) = call(
        &h,
        Method::POST,
        "/api/v1/sessions/demo-1/activity",
        &json!({"state": "idle"}),
    )
    .await;
    assert_eq!(status, 200, "{act}");
    assert_eq!(act["changed"], false);
    let (_, list) = get(&h, "/api/v1/sessions?active=false").await;
    assert_eq!(list["sessions"][0]["id"], "demo-1", "{list}");
    let (_, status_body) = get(&h, "/api/v1/status").await;
    assert_eq!(status_body["sessions"], json!({"live": 0, "terminated": 1}));
    h.stop().await;
}

#[tokio::test]
async fn orchestrator_round_trip_on_a_private_tmux() {
    let h = boot().await;
    let _server = TmuxServer(h.env.tmux_socket.clone());
    h.add_project("demo").await;
    let (status, body) = call(
        &h,
        Method::PUT,
        "/api/v1/projects/demo/config",
        &json!({"config": {"orchestrator": {"agent": "command", "command": "sleep 300"}}}),
    )
    .await;
    assert_eq!(status, 200, "{body}");

    let (status, body) = call(
        &h,
        Method::POST,
        "/api/v1/orchestrators",
        &json!({"projectId": "demo"}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let first = body["session"]["id"].as_str().expect("id").to_string();
    assert_eq!(body["session"]["kind"], "orchestrator");
    assert_eq!(body["session"]["branch"], "ao/demo-orchestrator");
    assert!(body.get("claim").is_none(), "{body}");

    // POST /sessions with kind orchestrator behaves like clean:false.
    let (status, body) = call(
        &h,
        Method::POST,
        "/api/v1/sessions",
        &json!({"projectId": "demo", "kind": "orchestrator"}),
    )
    .await;
    assert_eq!(status, 409, "{body}");
    assert_envelope(&body, 409, "ORCHESTRATOR_ALREADY_RUNNING");
    assert_eq!(body["details"]["sessionId"], first.as_str());
    expect_error(
        &h,
        Method::POST,
        "/api/v1/orchestrators",
        &json!({"projectId": "demo", "clean": false}),
        409,
        "ORCHESTRATOR_ALREADY_RUNNING",
    )
    .await;

    let (status, body) = call(
        &h,
        Method::POST,
        "/api/v1/orchestrators",
        &json!({"projectId": "demo", "clean": true}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let second = body["session"]["id"].as_str().expect("id").to_string();
    assert_ne!(first, second);

    let (status, list) = get(&h, "/api/v1/orchestrators?project=demo").await;
    assert_eq!(status, 200);
    let states: Vec<(String, bool)> = list["sessions"]
        .as_array()
        .expect("sessions")
        .iter()
        .map(|s| {
            (
                s["id"].as_str().expect("id").to_string(),
                s["isTerminated"].as_bool().expect("bool"),
            )
        })
        .collect();
    assert_eq!(states, vec![(first.clone(), true), (second.clone(), false)]);
    let (status, one) = get(&h, &format!("/api/v1/orchestrators/{second}")).await;
    assert_eq!(status, 200, "{one}");
    assert_eq!(one["session"]["id"], second.as_str());
    let (_, workers) = get(&h, "/api/v1/sessions?kind=worker").await;
    assert_eq!(workers, json!({"sessions": []}));

    let (status, _) = call(
        &h,
        Method::POST,
        &format!("/api/v1/sessions/{second}/kill"),
        &json!({}),
    )
    .await;
    assert_eq!(status, 200);
    h.stop().await;
}
