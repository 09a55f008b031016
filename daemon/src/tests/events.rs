//! The change stream and the change log over HTTP (http-api.md §9). The algorithm's corner
//! cases (lag, resync, batching) are tested against a fake store in `http::sse`; these tests
//! run it end to end on a real daemon.

use std::time::Duration;

use reqwest::Method;
use serde_json::json;

use super::harness::{SseReader, boot, boot_with, ids, json};
use crate::http::state::Tuning;

const WAIT: Duration = Duration::from_secs(15);

async fn head_seq(h: &super::harness::Harness) -> i64 {
    let (_, body) = json(
        h.get("/api/v1/events/log?limit=1&order=desc")
            .send()
            .await
            .expect("req"),
    )
    .await;
    body["headSeq"].as_i64().expect("headSeq")
}

#[tokio::test]
async fn sse_headers_replay_and_live_without_duplicates() {
    let h = boot().await;
    h.add_project("one").await;
    h.add_project("two").await;
    let res = h.get("/api/v1/events?after=0").send().await.expect("req");
    assert_eq!(res.status(), 200);
    let hd = res.headers();
    assert_eq!(hd["content-type"], "text/event-stream; charset=utf-8");
    assert_eq!(hd["cache-control"], "no-cache");
    assert_eq!(hd["x-accel-buffering"], "no");
    assert!(hd.get("x-request-id").is_some());
    let mut sse = SseReader::new(res);
    let replay = sse.take(2, WAIT).await;
    assert!(sse.raw.starts_with("retry: 3000\n\n"), "{:?}", sse.raw);
    assert_eq!(ids(&replay), [1, 2]);
    assert_eq!(replay[0].1, "project_created");
    assert_eq!(replay[0].2["type"], "project_created");
    assert_eq!(replay[0].2["projectId"], "one");
    assert_eq!(replay[0].2["sessionId"], serde_json::Value::Null);
    assert_eq!(replay[1].2["projectId"], "two");

    // Live: a config change on "one".
    let (status, _) = json(
        h.send_json(
            Method::PATCH,
            "/api/v1/projects/one/config",
            &json!({"config": {"sessionPrefix": "o"}}),
        )
        .send()
        .await
        .expect("req"),
    )
    .await;
    assert_eq!(status, 200);
    let live = sse.take(1, WAIT).await;
    assert_eq!(ids(&live), [3]);
    assert_eq!(live[0].1, "project_updated");
    // Nothing else (no duplicate of 1–3) arrives.
    let extra = sse.take(1, Duration::from_millis(500)).await;
    assert!(extra.is_empty(), "{extra:?}");
    h.stop().await;
}

#[tokio::test]
async fn after_and_last_event_id_set_the_cursor() {
    let h = boot().await;
    for name in ["a", "b", "c"] {
        h.add_project(name).await;
    }
    let mut sse = SseReader::new(h.get("/api/v1/events?after=1").send().await.expect("req"));
    assert_eq!(ids(&sse.take(2, WAIT).await), [2, 3]);
    let mut sse = SseReader::new(
        h.get("/api/v1/events")
            .header("last-event-id", "2")
            .send()
            .await
            .expect("req"),
    );
    assert_eq!(ids(&sse.take(1, WAIT).await), [3]);
    // `after` wins over Last-Event-ID.
    let mut sse = SseReader::new(
        h.get("/api/v1/events?after=0")
            .header("last-event-id", "2")
            .send()
            .await
            .expect("req"),
    );
    assert_eq!(ids(&sse.take(3, WAIT).await), [1, 2, 3]);
    h.stop().await;
}

#[tokio::test]
async fn filters_apply_to_replay_and_live() {
    let h = boot().await;
    h.add_project("keep").await;
    h.add_project("skip").await;
    let mut sse = SseReader::new(
        h.get("/api/v1/events?project=keep")
            .send()
            .await
            .expect("req"),
    );
    let replay = sse.take(1, WAIT).await;
    assert_eq!(ids(&replay), [1]);
    for id in ["skip", "keep"] {
        let (status, _) = json(
            h.send_json(
                Method::PUT,
                &format!("/api/v1/projects/{id}/config"),
                &json!({"config": {"sessionPrefix": "zz"}}),
            )
            .send()
            .await
            .expect("req"),
        )
        .await;
        assert_eq!(status, 200);
    }
    let live = sse.take(1, WAIT).await;
    assert_eq!(ids(&live), [4]);
    assert!(live.iter().all(|m| m.2["projectId"] == "keep"));
    // A session filter matches no project event.
    let mut sse = SseReader::new(
        h.get("/api/v1/events?session=keep-1")
            .send()
            .await
            .expect("req"),
    );
    assert!(sse.take(1, Duration::from_millis(500)).await.is_empty());
    h.stop().await;
}

#[tokio::test]
async fn shutdown_ends_open_streams_and_the_daemon_still_exits() {
    let mut h = boot().await;
    let mut sse = SseReader::new(h.get("/api/v1/events").send().await.expect("req"));
    assert!(sse.take(1, Duration::from_millis(200)).await.is_empty());
    let daemon = h.daemon.take().expect("running");
    let done = tokio::spawn(daemon.shutdown());
    assert!(
        sse.wait_end(WAIT).await,
        "stream did not end: {:?}",
        sse.raw
    );
    tokio::time::timeout(WAIT, done)
        .await
        .expect("shutdown completes in time")
        .expect("task");
}

#[tokio::test]
async fn keep_alive_comments_are_sent_on_silence() {
    let tuning = Tuning {
        sse_keep_alive: Duration::from_millis(100),
        ..Tuning::default()
    };
    let h = boot_with(&[], tuning).await;
    let mut sse = SseReader::new(h.get("/api/v1/events").send().await.expect("req"));
    let deadline = tokio::time::Instant::now() + WAIT;
    while !sse.raw.contains(": keep-alive\n\n") && tokio::time::Instant::now() < deadline {
        let _ = sse.take(1, Duration::from_millis(100)).await;
    }
    assert!(sse.raw.contains(": keep-alive\n\n"), "{:?}", sse.raw);
    h.stop().await;
}

#[tokio::test]
async fn events_log_pages_filters_and_orders() {
    let h = boot().await;
    for name in ["a", "b", "c"] {
        h.add_project(name).await;
    }
    let (status, body) = json(h.get("/api/v1/events/log").send().await.expect("req")).await;
    assert_eq!(status, 200);
    assert_eq!(body["headSeq"], 3);
    let seqs = |b: &serde_json::Value| -> Vec<i64> {
        b["events"]
            .as_array()
            .expect("events")
            .iter()
            .map(|e| e["seq"].as_i64().expect("seq"))
            .collect()
    };
    assert_eq!(seqs(&body), [1, 2, 3]);
    assert_eq!(body["events"][0]["type"], "project_created");
    let (_, body) = json(
        h.get("/api/v1/events/log?after=1&limit=1")
            .send()
            .await
            .expect("req"),
    )
    .await;
    assert_eq!(seqs(&body), [2]);
    let (_, body) = json(
        h.get("/api/v1/events/log?order=desc&after=1")
            .send()
            .await
            .expect("req"),
    )
    .await;
    assert_eq!(seqs(&body), [3, 2]);
    let (_, body) = json(
        h.get("/api/v1/events/log?project=b")
            .send()
            .await
            .expect("req"),
    )
    .await;
    assert_eq!(seqs(&body), [2]);
    let (_, body) = json(
        h.get("/api/v1/events/log?session=b-1")
            .send()
            .await
            .expect("req"),
    )
    .await;
    assert_eq!(seqs(&body), Vec::<i64>::new());
    assert_eq!(head_seq(&h).await, 3);
    h.stop().await;
}
