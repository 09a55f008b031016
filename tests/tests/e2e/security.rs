//! The loopback surface: security gates, error envelopes, run-file mode, bind address.

use std::os::unix::fs::PermissionsExt;

use ao_tests::{Api, Home, git_repo, raw_body, raw_http};
use serde_json::json;

fn started() -> (Home, Api) {
    let home = Home::new();
    home.start();
    let api = home.api();
    (home, api)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gates_refuse_missing_token_foreign_origin_and_foreign_host() {
    let (home, api) = started();
    let port = home.run_file_contents().expect("running").port;

    let no_token = Api::send(api.client.get(api.url("/api/v1/projects"))).await;
    assert_eq!(no_token.status, 401);
    assert_eq!(no_token.code(), "UNAUTHORIZED");
    assert_eq!(no_token.body["error"], "unauthorized");
    assert_eq!(
        no_token.header("www-authenticate"),
        Some("Bearer realm=\"ao\"")
    );
    // Auth runs before routing: an unknown API path without a token is 401, not 404.
    let unknown = Api::send(api.client.get(api.url("/api/v1/nope"))).await;
    assert_eq!(unknown.status, 401);
    let wrong = Api::send(
        api.client
            .get(api.url("/api/v1/projects"))
            .bearer_auth("0".repeat(64)),
    )
    .await;
    assert_eq!(wrong.status, 401);

    let evil_origin = Api::send(
        api.req(reqwest::Method::GET, "/api/v1/projects")
            .header("Origin", "https://evil.example"),
    )
    .await;
    assert_eq!(evil_origin.status, 403);
    assert_eq!(evil_origin.code(), "ORIGIN_FORBIDDEN");
    let null_origin = Api::send(
        api.req(reqwest::Method::GET, "/api/v1/projects")
            .header("Origin", "null"),
    )
    .await;
    assert_eq!(null_origin.status, 403);
    let own_origin = format!("http://127.0.0.1:{port}");
    let ok_origin = Api::send(
        api.req(reqwest::Method::GET, "/api/v1/projects")
            .header("Origin", &own_origin),
    )
    .await;
    assert_eq!(ok_origin.status, 200);
    assert_eq!(
        ok_origin.header("access-control-allow-origin"),
        Some(own_origin.as_str())
    );

    let (status, text) = raw_http(
        port,
        &format!(
            "GET /api/v1/projects HTTP/1.1\r\nHost: evil.example\r\nAuthorization: Bearer {}\r\nConnection: close\r\n\r\n",
            api.token
        ),
    );
    assert_eq!(status, 403, "{text}");
    assert_eq!(raw_body(&text)["code"], "HOST_FORBIDDEN");
    let (status, _) = raw_http(
        port,
        "GET /healthz HTTP/1.1\r\nHost: localhost:1\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(
        status, 403,
        "a Host port other than the bound port is refused"
    );
    let (status, _) = raw_http(
        port,
        &format!("GET /healthz HTTP/1.1\r\nHost: localhost:{port}\r\nConnection: close\r\n\r\n"),
    );
    assert_eq!(status, 200);

    // Health probes need no token; shutdown does.
    let health = Api::send(api.client.get(api.url("/healthz"))).await;
    assert_eq!(health.status, 200);
    assert_eq!(health.body["service"], "ao-daemon");
    let shutdown = Api::send(api.client.post(api.url("/shutdown"))).await;
    assert_eq!(shutdown.status, 401);
    drop(home);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_requests_get_envelopes_with_stable_codes() {
    let (home, api) = started();
    let repo = git_repo(&home.scratch(), "r");

    let unknown_field = api
        .post("/api/v1/projects", &json!({"path": repo, "bogus": true}))
        .await;
    assert_eq!(
        (unknown_field.status, unknown_field.code()),
        (400, "INVALID_JSON")
    );
    let malformed = Api::send(
        api.req(reqwest::Method::POST, "/api/v1/projects")
            .header("Content-Type", "application/json")
            .body("{not json"),
    )
    .await;
    assert_eq!((malformed.status, malformed.code()), (400, "INVALID_JSON"));
    let no_ct = Api::send(
        api.req(reqwest::Method::POST, "/api/v1/projects")
            .body("{}"),
    )
    .await;
    assert_eq!(
        (no_ct.status, no_ct.code()),
        (415, "UNSUPPORTED_MEDIA_TYPE")
    );
    let no_path = api.post("/api/v1/projects", &json!({})).await;
    assert_eq!((no_path.status, no_path.code()), (400, "PATH_REQUIRED"));
    let bad_id = api
        .post(
            "/api/v1/projects",
            &json!({"path": repo, "projectId": "../x"}),
        )
        .await;
    assert_eq!((bad_id.status, bad_id.code()), (400, "INVALID_PROJECT_ID"));
    let bad_cfg = api
        .post(
            "/api/v1/projects",
            &json!({"path": repo, "config": {"env": {"AO_X": "1"}}}),
        )
        .await;
    assert_eq!(
        (bad_cfg.status, bad_cfg.code()),
        (400, "INVALID_PROJECT_CONFIG")
    );
    assert_eq!(bad_cfg.body["details"]["field"], "env.AO_X");

    let big = "x".repeat(1_048_577);
    let too_big = Api::send(
        api.req(reqwest::Method::POST, "/api/v1/projects")
            .header("Content-Type", "application/json")
            .body(big),
    )
    .await;
    assert_eq!((too_big.status, too_big.code()), (413, "PAYLOAD_TOO_LARGE"));
    assert_eq!(too_big.body["error"], "payload_too_large");

    let not_found = api.get("/api/v1/nothing-here").await;
    assert_eq!(
        (not_found.status, not_found.code()),
        (404, "ROUTE_NOT_FOUND")
    );
    assert_eq!(
        not_found.body["message"],
        "GET /api/v1/nothing-here has no handler"
    );
    let wrong_method = api.put("/api/v1/projects", &json!({})).await;
    assert_eq!(
        (wrong_method.status, wrong_method.code()),
        (405, "METHOD_NOT_ALLOWED")
    );
    assert!(
        wrong_method
            .header("allow")
            .is_some_and(|a| a.contains("GET") && a.contains("POST")),
        "{:?}",
        wrong_method.headers
    );
    let missing = api.get("/api/v1/projects/ghost").await;
    assert_eq!((missing.status, missing.code()), (404, "PROJECT_NOT_FOUND"));
    let bad_query = api.get("/api/v1/events/log?limit=0").await;
    assert_eq!((bad_query.status, bad_query.code()), (400, "INVALID_QUERY"));

    // Every response carries a request id; a valid inbound one is reused.
    let echoed = Api::send(
        api.req(reqwest::Method::GET, "/api/v1/projects/ghost")
            .header("X-Request-Id", "my-req-1"),
    )
    .await;
    assert_eq!(echoed.header("x-request-id"), Some("my-req-1"));
    assert_eq!(echoed.body["requestId"], "my-req-1");
    let generated = missing.header("x-request-id").expect("request id header");
    assert!(
        generated.starts_with("req_") && generated.len() == 30,
        "{generated}"
    );

    // Nothing changed.
    let projects = api.get("/api/v1/projects").await;
    assert_eq!(projects.body, json!({"projects": []}));
}

#[test]
fn run_file_is_private_and_daemon_listens_on_loopback_only() {
    let home = Home::new();
    let rf = home.start();
    let mode = std::fs::metadata(home.run_file())
        .expect("run-file")
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600, "running.json mode");
    let home_mode = std::fs::metadata(home.path())
        .expect("home")
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(home_mode, 0o700, "AO_HOME mode");

    // Every listening socket of the daemon process is on 127.0.0.1.
    let inodes: Vec<String> = std::fs::read_dir(format!("/proc/{}/fd", rf.pid))
        .expect("read the daemon's fds")
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter_map(|l| {
            l.to_str()?
                .strip_prefix("socket:[")?
                .strip_suffix(']')
                .map(str::to_string)
        })
        .collect();
    let mut listening = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(table) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let cols: Vec<&str> = line.split_whitespace().collect();
            if cols.len() > 9 && cols[3] == "0A" && inodes.iter().any(|i| i == cols[9]) {
                listening.push(cols[1].to_string());
            }
        }
    }
    assert!(!listening.is_empty(), "the daemon listens somewhere");
    let port_hex = format!("{:04X}", rf.port);
    for local in &listening {
        assert_eq!(
            local,
            &format!("0100007F:{port_hex}"),
            "listening address {local} is not 127.0.0.1:{}",
            rf.port
        );
    }
}
