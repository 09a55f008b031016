//! Boot, run-file, lock, readiness and shutdown (sessions.md §16–17, README §4.1).

use std::future::IntoFuture;
use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use ao_protocol::{ReadinessState, RunFile};

use super::harness::{assert_envelope, boot, env_for, json, raw};
use crate::http::routes;
use crate::http::state::{AppState, StateInit, Tuning};
use crate::{DaemonError, daemon::start_with, files, start};

#[tokio::test]
async fn running_json_is_private_complete_and_names_the_real_port() {
    let h = boot().await;
    assert_ne!(h.port, h.blocked_port, "the busy AO_PORT must fall back");
    let meta = std::fs::metadata(&h.env.run_file).expect("run-file exists");
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    let run: RunFile =
        serde_json::from_str(&std::fs::read_to_string(&h.env.run_file).expect("read"))
            .expect("RunFile JSON");
    assert_eq!(run.pid, std::process::id());
    assert_eq!(run.port, h.port);
    assert_eq!(run.token, h.token);
    assert_eq!(run.token.len(), 64);
    assert!(
        run.token
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    );
    assert_eq!(run.version, ao_protocol::VERSION);
    assert_eq!(run.home, h.env.home.to_string_lossy());
    assert_eq!(run.data_dir, h.env.data_dir.to_string_lossy());
    let mode =
        |p: &std::path::Path| std::fs::metadata(p).expect("exists").permissions().mode() & 0o777;
    assert_eq!(mode(&h.env.home), 0o700);
    assert_eq!(mode(&h.env.data_dir), 0o700);
    assert!(h.env.data_dir.join("ao.db").exists());

    let (status, body) = json(h.client.get(h.url("/healthz")).send().await.expect("req")).await;
    assert_eq!(status, 200);
    assert_eq!(body["status"], "ok");
    assert_eq!(body["service"], "ao-daemon");
    assert_eq!(body["pid"], std::process::id());
    assert_eq!(body["version"], ao_protocol::VERSION);
    assert_eq!(body["startedAt"], run.started_at.as_str());
    let (status, body) = json(h.client.get(h.url("/readyz")).send().await.expect("req")).await;
    assert_eq!(status, 200);
    assert_eq!(
        body,
        serde_json::json!({"status": "ready", "service": "ao-daemon", "pid": std::process::id()})
    );
    h.stop().await;
}

#[tokio::test]
async fn a_free_ao_port_is_used_as_is() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let d = start(env_for(tmp.path(), port, &[])).await.expect("starts");
    // Another process may grab the port between our probe and the bind; then the fallback
    // applies, which is also correct behaviour.
    let r = raw(
        d.port(),
        &format!("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:{}", d.port()),
    )
    .await;
    assert_eq!(r.status, 200);
    assert!(d.base_url().starts_with("http://127.0.0.1:"));
    d.shutdown().await;
}

#[tokio::test]
async fn a_second_daemon_on_the_same_data_dir_is_refused() {
    let h = boot().await;
    let err = start(h.env.clone()).await.expect_err("lock is held");
    assert!(matches!(err, DaemonError::AlreadyRunning { .. }), "{err}");
    assert!(err.to_string().contains("already running"), "{err}");
    // The first daemon's run-file is untouched.
    let run: RunFile =
        serde_json::from_str(&std::fs::read_to_string(&h.env.run_file).expect("read"))
            .expect("json");
    assert_eq!(run.port, h.port);
    h.stop().await;
}

#[tokio::test]
async fn invalid_ao_log_is_a_startup_failure() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let env = env_for(tmp.path(), 1, &[("AO_LOG", "ao=loudest")]);
    let err = start(env.clone()).await.expect_err("invalid AO_LOG");
    assert!(matches!(err, DaemonError::InvalidLog { .. }), "{err}");
    assert!(!env.run_file.exists());
}

#[tokio::test]
async fn post_shutdown_stops_the_daemon_and_cleans_up() {
    let mut h = boot().await;
    let (status, body) = json(h.post("/shutdown").send().await.expect("req")).await;
    assert_eq!(status, 202);
    assert_eq!(body["status"], "shutting_down");
    assert_eq!(body["service"], "ao-daemon");
    let daemon = h.daemon.take().expect("running");
    tokio::time::timeout(Duration::from_secs(20), daemon.wait())
        .await
        .expect("shutdown completes")
        .expect("clean exit");
    assert!(!h.env.run_file.exists(), "run-file removed");
    // The port is closed and the lock is free: a new daemon starts on the same home.
    assert!(
        tokio::net::TcpStream::connect(("127.0.0.1", h.port))
            .await
            .is_err()
    );
    let again = start_with(h.env.clone(), Tuning::default())
        .await
        .expect("restarts");
    assert_ne!(again.token(), h.token, "a new token on every start");
    again.shutdown().await;
    assert!(!h.env.run_file.exists());
}

#[tokio::test]
async fn a_foreign_run_file_is_left_alone_at_exit() {
    let mut h = boot().await;
    let mut foreign: RunFile =
        serde_json::from_str(&std::fs::read_to_string(&h.env.run_file).expect("read"))
            .expect("json");
    // The run-file of another *live* process (a second daemon): a dead pid would be healed
    // back to ours by the run-file keeper, so the foreign owner must really be alive.
    let mut other = std::process::Command::new("sleep")
        .arg("60")
        .spawn()
        .expect("spawn a stand-in for another daemon");
    foreign.pid = other.id();
    files::write_run_file(&h.env.run_file, &foreign).expect("overwrite");
    h.daemon.take().expect("running").shutdown().await;
    let kept = h.env.run_file.exists();
    let _ = other.kill();
    let _ = other.wait();
    assert!(kept, "another pid's run-file must stay");
}

/// Serves the router on an ephemeral port without an actor tree, so that readiness can be
/// driven by hand.
async fn bare_app(tmp: &tempfile::TempDir) -> (AppState, u16, String) {
    let env = env_for(tmp.path(), 1, &[]);
    let opened = ao_store::open(&env.data_dir).expect("store opens");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let token = files::generate_token().expect("token");
    let app = AppState::new(StateInit {
        env,
        port,
        token: token.clone(),
        started_at: ao_protocol::time::now(),
        reader: opened.reader,
        tuning: Tuning::default(),
    });
    tokio::spawn(axum::serve(listener, routes::router(app.clone())).into_future());
    (app, port, token)
}

#[tokio::test]
async fn readiness_gates_the_api_while_starting_and_shutting_down() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (app, port, token) = bare_app(&tmp).await;
    crate::install_crypto_provider();
    let client = reqwest::Client::new();
    let url = |p: &str| format!("http://127.0.0.1:{port}{p}");
    let api = || client.get(url("/api/v1/status")).bearer_auth(&token);

    // starting
    let res = client.get(url("/readyz")).send().await.expect("req");
    assert_eq!(res.status(), 503);
    let (_, body) = json(res).await;
    assert_eq!(body["status"], "starting", "not the envelope: {body}");
    assert!(body.get("code").is_none());
    let res = api().send().await.expect("req");
    assert_eq!(res.headers()["retry-after"], "1");
    let (status, body) = json(res).await;
    assert_eq!(status, 503);
    assert_envelope(&body, 503, "DAEMON_STARTING");
    // The token gate comes first.
    let (status, _) = json(client.get(url("/api/v1/status")).send().await.expect("req")).await;
    assert_eq!(status, 401);
    assert_eq!(
        client
            .get(url("/healthz"))
            .send()
            .await
            .expect("req")
            .status(),
        200
    );

    // ready (reads work; commands without an installed actor tree are still "starting")
    app.set_readiness(ReadinessState::Ready);
    assert_eq!(
        client
            .get(url("/readyz"))
            .send()
            .await
            .expect("req")
            .status(),
        200
    );
    assert_eq!(api().send().await.expect("req").status(), 200);
    let (status, body) = json(
        client
            .post(url("/api/v1/projects"))
            .bearer_auth(&token)
            .header("content-type", "application/json")
            .body(r#"{"path":"/tmp"}"#)
            .send()
            .await
            .expect("req"),
    )
    .await;
    assert_eq!(status, 503);
    assert_envelope(&body, 503, "DAEMON_STARTING");

    // POST /shutdown is idempotent.
    for _ in 0..2 {
        let res = client
            .post(url("/shutdown"))
            .bearer_auth(&token)
            .send()
            .await
            .expect("req");
        assert_eq!(res.status(), 202);
    }
    assert!(*app.watch_shutdown().borrow());

    // shutting_down is final
    app.set_readiness(ReadinessState::ShuttingDown);
    app.set_readiness(ReadinessState::Ready);
    let (status, body) = json(client.get(url("/readyz")).send().await.expect("req")).await;
    assert_eq!(status, 503);
    assert_eq!(body["status"], "shutting_down");
    let res = api().send().await.expect("req");
    assert_eq!(res.headers()["retry-after"], "1");
    let (status, body) = json(res).await;
    assert_eq!(status, 503);
    assert_envelope(&body, 503, "DAEMON_SHUTTING_DOWN");
}

#[tokio::test]
async fn in_flight_requests_are_answered_503_after_the_drain_bound() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (app, port, token) = bare_app(&tmp).await;
    app.set_readiness(ReadinessState::Ready);
    // Once the drain bound has passed, a handler that has not answered yet is abandoned with
    // 503 (its operation continues in its actor). The status read awaits the blocking pool,
    // so it is still pending when the abort is observed.
    app.abort_in_flight();
    crate::install_crypto_provider();
    let client = reqwest::Client::new();
    let (status, body) = json(
        client
            .get(format!("http://127.0.0.1:{port}/api/v1/status"))
            .bearer_auth(&token)
            .send()
            .await
            .expect("req"),
    )
    .await;
    assert_eq!(status, 503);
    assert_envelope(&body, 503, "DAEMON_SHUTTING_DOWN");
    // Probes are answered as usual.
    let res = client
        .get(format!("http://127.0.0.1:{port}/healthz"))
        .send()
        .await
        .expect("req");
    assert!(res.status() == 200 || res.status() == 503);
}

#[tokio::test]
async fn a_root_actor_failure_shuts_the_daemon_down_with_an_error() {
    let mut h = boot().await;
    let daemon = h.daemon.take().expect("running");
    daemon.inject_panic(ao_actors::FaultTarget::Root);
    let result = tokio::time::timeout(Duration::from_secs(30), daemon.wait())
        .await
        .expect("shutdown completes");
    let err = result.expect_err("a root failure is an error exit");
    assert!(matches!(err, DaemonError::ActorFailure(_)), "{err}");
    assert!(!h.env.run_file.exists(), "run-file removed");
    assert!(
        tokio::net::TcpStream::connect(("127.0.0.1", h.port))
            .await
            .is_err()
    );
}

#[tokio::test]
async fn a_database_from_a_newer_ao_is_refused_with_the_store_message() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let env = env_for(tmp.path(), 1, &[]);
    drop(ao_store::open(&env.data_dir).expect("create the database"));
    // The pooled connections close asynchronously; the last one checkpoints the WAL into
    // ao.db and removes it. Patch only after that, or the checkpoint would undo the patch.
    let wal = env.data_dir.join("ao.db-wal");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while wal.exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "the WAL was never checkpointed"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // `PRAGMA user_version` lives at byte 60 of the SQLite header (big-endian u32); patch it
    // in place.
    {
        use std::io::{Seek, SeekFrom, Write};
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .open(env.data_dir.join("ao.db"))
            .expect("open db");
        f.seek(SeekFrom::Start(60)).expect("seek");
        f.write_all(&99u32.to_be_bytes())
            .expect("patch user_version");
    }
    let err = start(env.clone()).await.expect_err("schema too new");
    assert_eq!(
        err.to_string(),
        format!(
            "database schema version 99 is newer than this ao (max {})",
            ao_store::SCHEMA_VERSION
        )
    );
    assert!(!env.run_file.exists(), "no run-file for a failed start");
    files::DaemonLock::acquire(&env.lock_path()).expect("the lock was released");
}

#[tokio::test]
async fn a_child_past_its_restart_budget_escalates_and_the_daemon_exits_with_an_error() {
    let mut h = boot().await;
    h.add_project("before").await;
    let daemon = h.daemon.take().expect("running");
    // The LifecycleReducer is permanent with a budget of 5 restarts in 60 s (backoff 250 ms,
    // 500 ms, 1 s, 2 s, 4 s). Keep making it panic: the sixth failure exceeds the budget, Root
    // escalates, and the daemon shuts down with an error instead of serving without a writer.
    let port = h.port;
    let faults = daemon.fault_injector();
    let injector = async {
        loop {
            faults.inject_panic(ao_actors::FaultTarget::LifecycleReducer);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    let result = tokio::select! {
        r = tokio::time::timeout(Duration::from_secs(60), daemon.wait()) => r.expect("escalation within 60 s"),
        () = injector => unreachable!("the injector loops forever"),
    };
    let err = result.expect_err("escalation is an error exit");
    assert!(matches!(err, DaemonError::ActorFailure(_)), "{err}");
    assert!(!h.env.run_file.exists(), "run-file removed");
    assert!(
        tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
    );
}
