//! The live event stream: `ao events -f` as a user sees it, and SSE resume with
//! `Last-Event-ID` as a program sees it.

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::sync::mpsc;
use std::time::Duration;

use ao_tests::{Home, git_repo};
use serde_json::{Value, json};

#[test]
fn events_follow_prints_a_project_created_as_it_happens() {
    let home = Home::new();
    let repo = git_repo(&home.scratch(), "live");
    home.start();

    let mut follower = home
        .command(&["events", "-f", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start ao events -f");
    let stdout = follower.stdout.take().expect("piped stdout");
    let (tx, rx) = mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });

    // Whether the add lands before the follower's initial batch, between batch and stream, or
    // after the stream opened, the follower must print it exactly once.
    home.ao(&["project", "add", "--path", repo.to_str().expect("utf-8")])
        .ok();
    let line = rx
        .recv_timeout(Duration::from_secs(15))
        .expect("ao events -f printed the event");
    let event: Value = serde_json::from_str(&line).expect("NDJSON");
    assert_eq!(event["type"], "project_created");
    assert_eq!(event["projectId"], "live");
    assert_eq!(event["payload"]["path"], repo.to_str().expect("utf-8"));

    // The follower exits 0 once the daemon is stopped (run-file gone).
    home.ao(&["stop"]).ok();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(s) = follower.try_wait().expect("poll follower") {
            break s;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "ao events -f did not exit after the daemon stopped"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnecting_with_last_event_id_gets_exactly_the_missed_events() {
    let home = Home::new();
    let scratch = home.scratch();
    home.start();
    let api = home.api();

    let mut sse = api.events("", None).await;
    let repo_a = git_repo(&scratch, "alpha");
    assert_eq!(
        api.post("/api/v1/projects", &json!({"path": repo_a}))
            .await
            .status,
        201
    );
    let first = sse
        .next_frame(Duration::from_secs(10))
        .await
        .expect("live event");
    assert_eq!(first.event.as_deref(), Some("project_created"));
    assert_eq!(sse.retry, Some(3000));
    let seen = first.id.expect("event id");
    drop(sse);

    // While disconnected: three more changes.
    let repo_b = git_repo(&scratch, "beta");
    assert_eq!(
        api.post("/api/v1/projects", &json!({"path": repo_b}))
            .await
            .status,
        201
    );
    assert_eq!(
        api.patch(
            "/api/v1/projects/alpha/config",
            &json!({"config": {"sessionPrefix": "a"}})
        )
        .await
        .status,
        200
    );
    assert_eq!(api.delete("/api/v1/projects/beta").await.status, 200);

    let mut resumed = api.events("", Some(seen)).await;
    let frames = resumed.frames(3, Duration::from_secs(10)).await;
    let kinds: Vec<_> = frames
        .iter()
        .map(|f| f.event.clone().unwrap_or_default())
        .collect();
    assert_eq!(
        kinds,
        ["project_created", "project_updated", "project_archived"]
    );
    let ids: Vec<i64> = frames.iter().map(|f| f.id.expect("id")).collect();
    assert!(
        ids.windows(2).all(|w| w[0] < w[1]) && ids[0] > seen,
        "{ids:?}"
    );
    // Nothing is sent twice: no further frame arrives.
    assert!(
        resumed
            .next_frame(Duration::from_millis(1500))
            .await
            .is_none()
    );

    // `after` wins over Last-Event-ID, and filters apply to replay.
    let mut filtered = api.events("?after=0&project=alpha", Some(ids[2])).await;
    let alpha = filtered.frames(2, Duration::from_secs(10)).await;
    let alpha_kinds: Vec<_> = alpha
        .iter()
        .map(|f| f.json()["type"].as_str().unwrap_or("").to_string())
        .collect();
    assert_eq!(alpha_kinds, ["project_created", "project_updated"]);
    assert!(alpha.iter().all(|f| f.json()["projectId"] == "alpha"));
}
