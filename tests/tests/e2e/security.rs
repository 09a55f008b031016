//! The loopback surface: security gates, error envelopes, run-file mode, bind address.

use std::fmt::Write as _;
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

/// The event stream is an `/api/v1` route like any other: the Host, Origin and token gates run
/// before it opens, so a page on another origin (or a DNS-rebound name) cannot subscribe.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_event_stream_sits_behind_the_same_gates() {
    let (home, api) = started();
    let port = home.run_file_contents().expect("running").port;
    let token = api.token.clone();
    let raw = |host: &str, extra: &str| {
        raw_http(
            port,
            &format!(
                "GET /api/v1/events HTTP/1.1\r\nHost: {host}\r\n{extra}Connection: close\r\n\r\n"
            ),
        )
    };
    let auth = format!("Authorization: Bearer {token}\r\n");

    // DNS rebinding: the browser sends the attacker's name as Host, with or without a port.
    for host in ["attacker.example", &format!("attacker.example:{port}")] {
        let (status, text) = raw(host, &auth);
        assert_eq!(status, 403, "{host}: {text}");
        assert_eq!(raw_body(&text)["code"], "HOST_FORBIDDEN");
    }
    let own = format!("127.0.0.1:{port}");
    for origin in [
        "https://evil.example",
        "null",
        &format!("http://localhost:{}", port + 1),
    ] {
        let (status, text) = raw(&own, &format!("{auth}Origin: {origin}\r\n"));
        assert_eq!(status, 403, "{origin}: {text}");
        assert_eq!(raw_body(&text)["code"], "ORIGIN_FORBIDDEN");
    }
    let (status, text) = raw(&own, "");
    assert_eq!(status, 401, "{text}");
    assert_eq!(raw_body(&text)["code"], "UNAUTHORIZED");
    let (status, _) = raw(&own, "Authorization: Bearer 0000\r\n");
    assert_eq!(status, 401);

    // The daemon's own origin is served, with the CORS answer.
    let origin = format!("http://localhost:{port}");
    let res = api
        .req(reqwest::Method::GET, "/api/v1/events")
        .header("Origin", &origin)
        .timeout(std::time::Duration::from_secs(10))
        .send()
        .await
        .expect("open the stream");
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.headers()["access-control-allow-origin"],
        origin.as_str()
    );
    assert!(
        res.headers()["content-type"]
            .to_str()
            .is_ok_and(|c| c.starts_with("text/event-stream"))
    );
    drop(res);
    drop(home);
}

/// Header limits are hyper's (at most 100 headers, about 400 KiB of head): past them the
/// request is refused with 431 before any handler runs, and the daemon keeps serving.
#[test]
fn oversized_request_heads_are_refused_and_the_daemon_keeps_serving() {
    let home = Home::new();
    let port = home.start().port;
    let many = (0..150).fold(String::new(), |mut head, i| {
        let _ = write!(head, "X-H{i}: v\r\n");
        head
    });
    let (status, text) = raw_http(
        port,
        &format!("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n{many}Connection: close\r\n\r\n"),
    );
    assert_eq!(status, 431, "{text}");
    let big = "a".repeat(1024 * 1024);
    let (status, text) = raw_http(
        port,
        &format!(
            "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: {big}\r\nConnection: close\r\n\r\n"
        ),
    );
    assert_eq!(status, 431, "{}", &text[..text.len().min(200)]);
    let (status, text) = raw_http(
        port,
        "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(status, 200, "{text}");
}

/// Every file under `dir`, recursively.
fn files_under(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read a directory").flatten() {
        let path = entry.path();
        if path.is_dir() {
            files_under(&path, out);
        } else {
            out.push(path);
        }
    }
}

/// The token lives in `running.json` only: it is never logged (not even for a refused or
/// failed request, nor by `ao hooks`, which sends it), never stored, and never placed in an
/// agent's environment (agents find the daemon through `AO_RUN_FILE`). The hook's own files
/// are private.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_stays_out_of_logs_files_and_agent_environments() {
    let (home, api) = started();
    let token = api.token.clone();
    let repo = git_repo(&home.scratch(), "sec");
    let added = api
        .post(
            "/api/v1/projects",
            &json!({"path": repo, "projectId": "sec"}),
        )
        .await;
    assert_eq!(added.status, 201, "{:?}", added.body);
    let env_file = home.scratch().join("agent-env");
    let command = format!(
        "env > '{}.tmp' && mv '{0}.tmp' '{0}'; exec sleep 600",
        env_file.display()
    );
    let spawned = api
        .post(
            "/api/v1/sessions",
            &json!({"projectId": "sec", "harness": "command", "command": command}),
        )
        .await;
    assert_eq!(spawned.status, 201, "{:?}", spawned.body);
    let agent_env = ao_tests::wait_for(
        std::time::Duration::from_secs(20),
        "the agent to dump its environment",
        || std::fs::read_to_string(&env_file).ok(),
    );
    assert!(agent_env.contains("AO_SESSION_ID=sec-1"), "{agent_env}");
    assert!(agent_env.contains("AO_RUN_FILE="), "{agent_env}");
    assert!(
        !agent_env.contains(&token),
        "the token is in the agent's environment"
    );
    // The daemon runs with one malloc arena (daemon `cap_malloc_arenas`); its children do not.
    let daemon_env = std::fs::read(format!(
        "/proc/{}/environ",
        home.run_file_contents().expect("run-file").pid
    ))
    .expect("the daemon's environment");
    assert!(
        daemon_env
            .split(|b| *b == 0)
            .any(|kv| kv == b"MALLOC_ARENA_MAX=1"),
        "the daemon runs with MALLOC_ARENA_MAX=1"
    );
    assert!(
        !agent_env.contains("MALLOC_ARENA_MAX") && !agent_env.contains("AO_DAEMON_MALLOC_ARENA"),
        "the arena cap leaked into the agent's environment: {agent_env}"
    );

    // Traffic that could tempt a logger: refused tokens, a near miss, a failed command, and
    // a hook (a real client holding the token).
    let mut near = token.clone().into_bytes();
    near[0] = if near[0] == b'0' { b'1' } else { b'0' };
    let near = String::from_utf8(near).expect("hex");
    for bearer in [near.as_str(), "", "Bearer"] {
        let r = Api::send(
            api.client
                .get(api.url("/api/v1/status"))
                .header("Authorization", format!("Bearer {bearer}")),
        )
        .await;
        assert_eq!(r.status, 401);
    }
    let missing = api
        .post("/api/v1/sessions/ghost-1/send", &json!({"message": "hi"}))
        .await;
    assert_eq!(missing.status, 404);
    let hook = home.ao_env(
        &["hooks", "claude-code", "stop"],
        &[("AO_SESSION_ID", "sec-1")],
    );
    assert_eq!(hook.code, 0, "{hook:?}");
    home.ao(&["stop"]).ok();

    // With the daemon gone, a hook logs and spools: both files are private.
    let hook = home.ao_env(
        &["hooks", "claude-code", "user-prompt-submit"],
        &[("AO_SESSION_ID", "sec-1")],
    );
    assert_eq!(hook.code, 0, "{hook:?}");
    let data = home.path().join("data");
    for name in ["hooks.log", "hooks.spool"] {
        let mode = std::fs::metadata(data.join(name))
            .unwrap_or_else(|e| panic!("{name}: {e}"))
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600, "{name}");
    }

    let mut files = Vec::new();
    files_under(&home.path(), &mut files);
    assert!(files.iter().any(|f| f.ends_with("daemon.log")), "{files:?}");
    for file in files {
        let bytes = std::fs::read(&file).unwrap_or_default();
        let leaked = bytes.windows(token.len()).any(|w| w == token.as_bytes());
        assert!(!leaked, "the token is in {}", file.display());
    }
}

/// Control characters never reach a terminal: a message that tries to close the bracketed
/// paste early (`ESC [201~`) and smuggle keys (CR, BEL) arrives as one paste of plain text.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sent_message_cannot_end_the_paste_or_inject_keys() {
    let (home, api) = started();
    let repo = git_repo(&home.scratch(), "paste");
    let added = api
        .post(
            "/api/v1/projects",
            &json!({"path": repo, "projectId": "paste"}),
        )
        .await;
    assert_eq!(added.status, 201, "{:?}", added.body);
    // The agent enables bracketed paste and echoes raw input bytes visibly (`cat -v`).
    let command = r"printf '\033[?2004h'; stty -icanon -echo; echo READY; exec cat -v";
    let spawned = api
        .post(
            "/api/v1/sessions",
            &json!({"projectId": "paste", "harness": "command", "command": command}),
        )
        .await;
    assert_eq!(spawned.status, 201, "{:?}", spawned.body);
    let screen = || {
        home.tmux(&["capture-pane", "-p", "-J", "-S", "-50", "-t", "=paste-1:"])
            .stdout
    };
    ao_tests::wait_for(std::time::Duration::from_secs(20), "the agent", || {
        screen().contains("READY").then_some(())
    });
    let sent = api
        .post(
            "/api/v1/sessions/paste-1/send",
            &json!({"message": "one\u{1b}[201~two\rthree\u{7}\u{9b}1m"}),
        )
        .await;
    assert_eq!(sent.status, 200, "{:?}", sent.body);
    assert_eq!(sent.body["message"], "one[201~two\nthree1m");
    let text = ao_tests::wait_for(std::time::Duration::from_secs(20), "the paste", || {
        let s = screen();
        s.contains("^[[201~").then_some(s)
    });
    // One paste: one opening and one closing marker, the text between them verbatim.
    assert_eq!(text.matches("^[[200~").count(), 1, "{text}");
    assert_eq!(text.matches("^[[201~").count(), 1, "{text}");
    assert!(
        text.contains("^[[200~one[201~two\nthree1m^[[201~"),
        "{text}"
    );
    assert!(!text.contains("^G"), "a BEL reached the terminal: {text}");
}
