//! The change stream of `GET /api/v1/events` (http-api.md §9.1).
//!
//! Algorithm (one pump task per client):
//! 1. The handler subscribes to the live broadcast **before** it returns the headers, so no event
//!    committed after the request can fall between the replay and the live phase.
//! 2. First bytes: `retry: 3000\n\n`.
//! 3. If `cursor + 1` is below the oldest retained seq, emit `event: resync` (no `id:`) and
//!    continue from the oldest row. Replay the store in batches until a short batch.
//! 4. Forward live events; every emission skips `seq <= lastSent` (dedup across the overlap).
//! 5. A lagged subscriber re-reads the store from `lastSent` (step 3 again); the client is never
//!    dropped for being slow.
//! 6. `: keep-alive\n\n` after every keep-alive interval of silence.
//! 7. The stream ends cleanly when readiness becomes `shutting_down`, when the client goes away,
//!    or when the broadcast closes.
//!
//! Filters (`project`, `session`) apply to replay and live alike. The store is reached through
//! [`ChangeSource`] so the algorithm is tested against a fake store with a tiny broadcast.

use std::convert::Infallible;
use std::time::Duration;

use ao_protocol::{ChangeEvent, LogOrder, ReadinessState, Resync};
use axum::body::{Body, Bytes};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use tokio::sync::{broadcast, mpsc, watch};
use tokio::time::Instant;

use ao_store::{ChangeQuery, ReadPool};

/// Read access to the change log.
pub trait ChangeSource: Clone + Send + Sync + 'static {
    fn read_changes(&self, q: &ChangeQuery) -> Result<Vec<ChangeEvent>, String>;
    fn oldest_seq(&self) -> Result<Option<i64>, String>;
    fn head_seq(&self) -> Result<i64, String>;
}

impl ChangeSource for ReadPool {
    fn read_changes(&self, q: &ChangeQuery) -> Result<Vec<ChangeEvent>, String> {
        ReadPool::read_changes(self, q).map_err(|e| e.to_string())
    }
    fn oldest_seq(&self) -> Result<Option<i64>, String> {
        ReadPool::oldest_seq(self).map_err(|e| e.to_string())
    }
    fn head_seq(&self) -> Result<i64, String> {
        ReadPool::head_seq(self).map_err(|e| e.to_string())
    }
}

/// What one stream delivers.
#[derive(Debug, Clone)]
pub struct StreamSpec {
    /// Deliver events with `seq > cursor`.
    pub cursor: i64,
    pub project: Option<String>,
    pub session: Option<String>,
    pub keep_alive: Duration,
    pub batch: u32,
}

impl StreamSpec {
    fn matches(&self, ev: &ChangeEvent) -> bool {
        self.project.as_ref().is_none_or(|p| *p == ev.project_id)
            && self
                .session
                .as_ref()
                .is_none_or(|s| ev.session_id.as_ref() == Some(s))
    }
}

/// Frames buffered between the pump and the connection.
const CHANNEL_FRAMES: usize = 32;

/// Starts the pump task and returns the receiving end of its frames.
pub fn spawn<S: ChangeSource>(
    source: S,
    live: broadcast::Receiver<ChangeEvent>,
    readiness: watch::Receiver<ReadinessState>,
    spec: StreamSpec,
) -> mpsc::Receiver<Bytes> {
    let (tx, rx) = mpsc::channel(CHANNEL_FRAMES);
    tokio::spawn(pump(source, live, readiness, spec, tx));
    rx
}

/// The 200 response whose body is the frames of `rx`.
pub fn response(mut rx: mpsc::Receiver<Bytes>) -> Response {
    let stream = futures_util::stream::poll_fn(move |cx| {
        rx.poll_recv(cx).map(|frame| frame.map(Ok::<_, Infallible>))
    });
    let mut res = Response::new(Body::from_stream(stream));
    *res.status_mut() = StatusCode::OK;
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream; charset=utf-8"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert("x-accel-buffering", HeaderValue::from_static("no"));
    res
}

/// One `id/event/data` frame. CR and LF in the event name become `_`.
pub fn frame(ev: &ChangeEvent) -> Bytes {
    let name: String = ev
        .event_type
        .chars()
        .map(|c| if c == '\r' || c == '\n' { '_' } else { c })
        .collect();
    let data = serde_json::to_string(ev).unwrap_or_else(|_| "{}".to_string());
    Bytes::from(format!("id: {}\nevent: {name}\ndata: {data}\n\n", ev.seq))
}

/// The stream is over (client gone, shutdown, or an unrecoverable store error).
struct Stop;

/// The sending side: tracks the keep-alive deadline and gives up on shutdown.
struct Out {
    tx: mpsc::Sender<Bytes>,
    readiness: watch::Receiver<ReadinessState>,
    keep_alive: Duration,
    deadline: Instant,
}

impl Out {
    async fn send(&mut self, bytes: Bytes) -> Result<(), Stop> {
        tokio::select! {
            biased;
            () = shutting_down(&mut self.readiness) => return Err(Stop),
            sent = self.tx.send(bytes) => sent.map_err(|_| Stop)?,
        }
        self.deadline = Instant::now() + self.keep_alive;
        Ok(())
    }
}

/// Resolves once readiness is `shutting_down` (or its sender is gone).
async fn shutting_down(rx: &mut watch::Receiver<ReadinessState>) {
    let _ = rx.wait_for(|s| *s == ReadinessState::ShuttingDown).await;
}

async fn pump<S: ChangeSource>(
    source: S,
    mut live: broadcast::Receiver<ChangeEvent>,
    readiness: watch::Receiver<ReadinessState>,
    spec: StreamSpec,
    tx: mpsc::Sender<Bytes>,
) {
    let mut out = Out {
        tx,
        readiness,
        keep_alive: spec.keep_alive,
        deadline: Instant::now() + spec.keep_alive,
    };
    let _ = run(&source, &mut live, &spec, &mut out).await;
}

async fn run<S: ChangeSource>(
    source: &S,
    live: &mut broadcast::Receiver<ChangeEvent>,
    spec: &StreamSpec,
    out: &mut Out,
) -> Result<(), Stop> {
    out.send(Bytes::from_static(b"retry: 3000\n\n")).await?;
    let mut last_sent = spec.cursor;
    catch_up(source, spec, &mut last_sent, out).await?;
    loop {
        let mut readiness = out.readiness.clone();
        tokio::select! {
            biased;
            () = shutting_down(&mut readiness) => return Ok(()),
            () = out.tx.closed() => return Ok(()),
            received = live.recv() => match received {
                Ok(ev) => {
                    if ev.seq > last_sent && spec.matches(&ev) {
                        out.send(frame(&ev)).await?;
                        last_sent = ev.seq;
                    }
                }
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    tracing::debug!(missed, last_sent, "SSE subscriber lagged; re-reading the store");
                    catch_up(source, spec, &mut last_sent, out).await?;
                }
                Err(broadcast::error::RecvError::Closed) => return Ok(()),
            },
            () = tokio::time::sleep_until(out.deadline) => {
                out.send(Bytes::from_static(b": keep-alive\n\n")).await?;
            }
        }
    }
}

/// Runs a blocking store read off the async workers.
async fn blocking<S, T>(
    source: &S,
    f: impl FnOnce(&S) -> Result<T, String> + Send + 'static,
) -> Result<T, Stop>
where
    S: ChangeSource,
    T: Send + 'static,
{
    let source = source.clone();
    match tokio::task::spawn_blocking(move || f(&source)).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "SSE store read failed; ending the stream");
            Err(Stop)
        }
        Err(e) => {
            tracing::warn!(error = %e, "SSE store read panicked; ending the stream");
            Err(Stop)
        }
    }
}

/// Resync check, then replay from `last_sent` until a short batch.
async fn catch_up<S: ChangeSource>(
    source: &S,
    spec: &StreamSpec,
    last_sent: &mut i64,
    out: &mut Out,
) -> Result<(), Stop> {
    let (oldest, head) = blocking(source, |s| Ok((s.oldest_seq()?, s.head_seq()?))).await?;
    if let Some(oldest) = oldest
        && *last_sent + 1 < oldest
    {
        let data = serde_json::to_string(&Resync {
            oldest_seq: oldest,
            head_seq: head,
        })
        .unwrap_or_else(|_| "{}".to_string());
        out.send(Bytes::from(format!("event: resync\ndata: {data}\n\n")))
            .await?;
        *last_sent = oldest - 1;
    }
    loop {
        let query = ChangeQuery {
            after: *last_sent,
            limit: spec.batch,
            order: LogOrder::Asc,
            project: spec.project.clone(),
            session: spec.session.clone(),
        };
        let batch = blocking(source, move |s| s.read_changes(&query)).await?;
        let short = batch.len() < spec.batch as usize;
        for ev in &batch {
            if ev.seq > *last_sent {
                out.send(frame(ev)).await?;
                *last_sent = ev.seq;
            }
        }
        if short {
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use serde_json::json;

    use super::*;

    /// An in-memory change log.
    #[derive(Clone, Default)]
    struct Fake {
        log: Arc<Mutex<Vec<ChangeEvent>>>,
    }

    impl Fake {
        fn push(&self, project: &str, session: Option<&str>) -> ChangeEvent {
            let mut log = self.log.lock().expect("lock");
            let seq = log.last().map_or(1, |e| e.seq + 1);
            let ev = ChangeEvent {
                seq,
                project_id: project.into(),
                session_id: session.map(Into::into),
                event_type: "project_updated".into(),
                payload: json!({"id": project}),
                created_at: ao_protocol::time::now(),
            };
            log.push(ev.clone());
            ev
        }

        fn prune_to(&self, oldest: i64) {
            self.log.lock().expect("lock").retain(|e| e.seq >= oldest);
        }
    }

    impl ChangeSource for Fake {
        fn read_changes(&self, q: &ChangeQuery) -> Result<Vec<ChangeEvent>, String> {
            let log = self.log.lock().expect("lock");
            Ok(log
                .iter()
                .filter(|e| {
                    e.seq > q.after
                        && q.project.as_ref().is_none_or(|p| *p == e.project_id)
                        && q.session
                            .as_ref()
                            .is_none_or(|s| e.session_id.as_ref() == Some(s))
                })
                .take(q.limit as usize)
                .cloned()
                .collect())
        }
        fn oldest_seq(&self) -> Result<Option<i64>, String> {
            Ok(self.log.lock().expect("lock").first().map(|e| e.seq))
        }
        fn head_seq(&self) -> Result<i64, String> {
            Ok(self.log.lock().expect("lock").last().map_or(0, |e| e.seq))
        }
    }

    fn spec(cursor: i64) -> StreamSpec {
        StreamSpec {
            cursor,
            project: None,
            session: None,
            keep_alive: Duration::from_secs(3600),
            batch: 3,
        }
    }

    /// A parsed SSE message: (id, event, data).
    type Msg = (Option<i64>, String, serde_json::Value);

    /// Reads frames until `n` messages (comments excluded) arrived, with a deadline.
    async fn take(rx: &mut mpsc::Receiver<Bytes>, n: usize) -> Vec<Msg> {
        let mut text = String::new();
        let mut msgs = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(10);
        while msgs.len() < n {
            let frame = tokio::time::timeout_at(deadline, rx.recv())
                .await
                .expect("frames before the deadline")
                .expect("stream still open");
            text.push_str(std::str::from_utf8(&frame).expect("utf-8"));
            while let Some(end) = text.find("\n\n") {
                let block: String = text.drain(..end + 2).collect();
                if let Some(m) = parse(&block) {
                    msgs.push(m);
                }
            }
        }
        msgs
    }

    fn parse(block: &str) -> Option<Msg> {
        let (mut id, mut event, mut data) = (None, String::new(), None);
        for line in block.lines() {
            if let Some(v) = line.strip_prefix("id: ") {
                id = Some(v.parse().expect("numeric id"));
            } else if let Some(v) = line.strip_prefix("event: ") {
                event = v.to_string();
            } else if let Some(v) = line.strip_prefix("data: ") {
                data = Some(serde_json::from_str(v).expect("json data"));
            }
        }
        data.map(|d| (id, event, d))
    }

    fn ids(msgs: &[Msg]) -> Vec<i64> {
        msgs.iter().filter_map(|m| m.0).collect()
    }

    fn ready() -> (
        watch::Sender<ReadinessState>,
        watch::Receiver<ReadinessState>,
    ) {
        watch::channel(ReadinessState::Ready)
    }

    #[tokio::test]
    async fn starts_with_retry_then_replays_in_batches_then_goes_live() {
        let fake = Fake::default();
        for _ in 0..7 {
            fake.push("a", None);
        }
        let (btx, brx) = broadcast::channel(16);
        let (_r, rr) = ready();
        let mut rx = spawn(fake.clone(), brx, rr, spec(2));
        let first = rx.recv().await.expect("first frame");
        assert_eq!(&first[..], b"retry: 3000\n\n");
        let replay = take(&mut rx, 5).await;
        assert_eq!(ids(&replay), [3, 4, 5, 6, 7]);
        assert_eq!(replay[0].1, "project_updated");
        assert_eq!(replay[0].2["seq"], 3);
        // Overlap: 6 and 7 arrive live again and must not be repeated.
        for seq in [6, 7] {
            let ev = fake.log.lock().expect("lock")[seq - 1].clone();
            btx.send(ev).expect("subscriber");
        }
        let ev = fake.push("a", None);
        btx.send(ev).expect("subscriber");
        let live = take(&mut rx, 1).await;
        assert_eq!(ids(&live), [8]);
    }

    #[tokio::test]
    async fn filters_apply_to_replay_and_live() {
        let fake = Fake::default();
        fake.push("a", None);
        fake.push("b", Some("b-1"));
        fake.push("a", Some("a-1"));
        fake.push("b", None);
        let (btx, brx) = broadcast::channel(16);
        let (_r, rr) = ready();
        let mut s = spec(0);
        s.project = Some("a".into());
        let mut rx = spawn(fake.clone(), brx, rr, s);
        let got = take(&mut rx, 2).await;
        assert_eq!(ids(&got), [1, 3]);
        let other = fake.push("b", None);
        btx.send(other).expect("subscriber");
        let mine = fake.push("a", None);
        btx.send(mine).expect("subscriber");
        assert_eq!(ids(&take(&mut rx, 1).await), [6]);

        let (_btx2, brx2) = broadcast::channel(16);
        let (_r2, rr2) = ready();
        let mut s = spec(0);
        s.session = Some("b-1".into());
        let mut rx = spawn(fake.clone(), brx2, rr2, s);
        assert_eq!(ids(&take(&mut rx, 1).await), [2]);
    }

    #[tokio::test]
    async fn a_cursor_below_the_retained_log_gets_resync_first() {
        let fake = Fake::default();
        for _ in 0..6 {
            fake.push("a", None);
        }
        fake.prune_to(4);
        let (_btx, brx) = broadcast::channel(16);
        let (_r, rr) = ready();
        let mut rx = spawn(fake.clone(), brx, rr, spec(1));
        let got = take(&mut rx, 4).await;
        assert_eq!(got[0].0, None);
        assert_eq!(got[0].1, "resync");
        assert_eq!(got[0].2, json!({"oldestSeq": 4, "headSeq": 6}));
        assert_eq!(ids(&got[1..]), [4, 5, 6]);

        // A cursor right below the oldest row needs no resync.
        let (_btx, brx) = broadcast::channel(16);
        let (_r, rr) = ready();
        let mut rx = spawn(fake.clone(), brx, rr, spec(3));
        let got = take(&mut rx, 3).await;
        assert_eq!(ids(&got), [4, 5, 6]);
        assert!(got.iter().all(|m| m.1 != "resync"));
    }

    #[tokio::test]
    async fn a_lagging_subscriber_recovers_every_event_from_the_store() {
        let fake = Fake::default();
        let (btx, brx) = broadcast::channel(4);
        let (_r, rr) = ready();
        let mut rx = spawn(fake.clone(), brx, rr, spec(0));
        assert_eq!(&rx.recv().await.expect("retry")[..], b"retry: 3000\n\n");
        // The client reads nothing while 200 events are published: the pump blocks on the
        // full connection buffer and the 4-slot broadcast overflows.
        for _ in 0..200 {
            let ev = fake.push("a", None);
            let _ = btx.send(ev);
        }
        let got = take(&mut rx, 200).await;
        assert_eq!(ids(&got), (1..=200).collect::<Vec<_>>());
        let ev = fake.push("a", None);
        btx.send(ev).expect("subscriber");
        assert_eq!(ids(&take(&mut rx, 1).await), [201]);
    }

    #[tokio::test]
    async fn keep_alive_comments_fill_silence() {
        let fake = Fake::default();
        let (_btx, brx) = broadcast::channel(4);
        let (_r, rr) = ready();
        let mut s = spec(0);
        s.keep_alive = Duration::from_millis(50);
        let mut rx = spawn(fake, brx, rr, s);
        assert_eq!(&rx.recv().await.expect("retry")[..], b"retry: 3000\n\n");
        let ka = tokio::time::timeout(Duration::from_secs(5), rx.recv())
            .await
            .expect("keep-alive in time")
            .expect("open");
        assert_eq!(&ka[..], b": keep-alive\n\n");
    }

    #[tokio::test]
    async fn shutdown_ends_the_stream() {
        let fake = Fake::default();
        fake.push("a", None);
        let (_btx, brx) = broadcast::channel(4);
        let (r, rr) = ready();
        let mut rx = spawn(fake, brx, rr, spec(0));
        assert_eq!(ids(&take(&mut rx, 1).await), [1]);
        r.send_replace(ReadinessState::ShuttingDown);
        let end = tokio::time::timeout(Duration::from_secs(5), async {
            while rx.recv().await.is_some() {}
        })
        .await;
        assert!(end.is_ok(), "stream did not end on shutdown");
    }

    #[test]
    fn frames_escape_line_breaks_in_the_event_name() {
        let ev = ChangeEvent {
            seq: 9,
            project_id: "a".into(),
            session_id: None,
            event_type: "bad\r\nname".into(),
            payload: json!({"x": "line\nbreak"}),
            created_at: "t".into(),
        };
        let text = String::from_utf8(frame(&ev).to_vec()).expect("utf-8");
        assert!(
            text.starts_with("id: 9\nevent: bad__name\ndata: {"),
            "{text}"
        );
        assert!(text.ends_with("}\n\n"));
        assert_eq!(text.matches('\n').count(), 4);
    }
}
