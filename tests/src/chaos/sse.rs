//! A resuming SSE client: it follows `/api/v1/events` across every daemon crash, reconnecting
//! with `Last-Event-ID` = the last seq it received (re-reading `running.json` each time, since
//! every start has a new token), and records what it got.
//!
//! Main type: [`Recorder`]. Its [`Recorder::recording`] (frames, violations, and the timeline
//! of its connections) is checked against the whole change log read after the fact
//! (`check::event_stream`): every event exactly once, seqs strictly increasing across
//! reconnects.
//!
//! Invariant: a frame is recorded as it arrives, in order; anything out of order (a seq not
//! above the last one, or a frame without an id) is recorded as a violation, never dropped
//! silently.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::Api;

/// One event as the client received it.
#[derive(Debug, Clone)]
pub struct Received {
    pub seq: i64,
    pub event: String,
    /// The `data:` object (`ChangeEvent`).
    pub data: Value,
    /// The index in [`Recording::connections`] of the connection that delivered it.
    pub connection: usize,
}

/// One (re)connection of the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    /// When the stream was opened, since the `started` instant given to [`Recorder::start`].
    pub at: Duration,
    /// The `Last-Event-ID` it resumed after (`None` on the first connection).
    pub after: Option<i64>,
}

/// What the client received so far (a copy).
#[derive(Debug, Clone, Default)]
pub struct Recording {
    pub frames: Vec<Received>,
    /// Ordering violations.
    pub violations: Vec<String>,
    pub connections: Vec<Connection>,
}

impl Recording {
    /// The last seq received (0 before any).
    pub fn last_seq(&self) -> i64 {
        self.frames.last().map_or(0, |f| f.seq)
    }
}

/// See the module doc.
pub struct Recorder {
    shared: Arc<Mutex<Recording>>,
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl Recorder {
    /// Starts following the daemon whose run-file is `run_file` (from seq 0); connection
    /// times are measured from `started`.
    pub fn start(run_file: PathBuf, started: Instant) -> Self {
        let shared = Arc::new(Mutex::new(Recording::default()));
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(follow(run_file, started, Arc::clone(&shared), stopped));
        Self {
            shared,
            stop,
            task: Some(task),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Recording> {
        self.shared.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A copy of everything recorded so far.
    pub fn recording(&self) -> Recording {
        self.lock().clone()
    }

    /// How many frames were received so far.
    pub fn received(&self) -> usize {
        self.lock().frames.len()
    }

    /// The last seq received (0 before any).
    pub fn last_seq(&self) -> i64 {
        self.lock().last_seq()
    }

    /// How many times the stream was (re)opened.
    pub fn connects(&self) -> usize {
        self.lock().connections.len()
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

async fn follow(
    run_file: PathBuf,
    started: Instant,
    shared: Arc<Mutex<Recording>>,
    mut stopped: watch::Receiver<bool>,
) {
    let lock = || shared.lock().unwrap_or_else(PoisonError::into_inner);
    while !*stopped.borrow() {
        let rf = std::fs::read_to_string(&run_file)
            .ok()
            .and_then(|t| serde_json::from_str::<ao_protocol::RunFile>(&t).ok());
        let Some(rf) = rf else {
            tokio::time::sleep(Duration::from_millis(25)).await;
            continue;
        };
        let api = Api::new(&rf);
        let last = lock().frames.last().map(|f| f.seq);
        let Ok(mut sse) = api.try_events("", last).await else {
            // Down, starting (503) or a stale run-file: try again shortly.
            tokio::time::sleep(Duration::from_millis(25)).await;
            continue;
        };
        let connection = {
            let mut s = lock();
            s.connections.push(Connection {
                at: started.elapsed(),
                after: last,
            });
            s.connections.len() - 1
        };
        loop {
            let frame = tokio::select! {
                f = sse.next_frame(Duration::from_millis(500)) => f,
                _ = stopped.changed() => return,
            };
            match frame {
                Some(f) => {
                    let mut s = lock();
                    let Some(seq) = f.id else {
                        s.violations
                            .push(format!("a frame without an id: {:?} {}", f.event, f.data));
                        continue;
                    };
                    if let Some(prev) = s.frames.last().map(|p| p.seq)
                        && seq <= prev
                    {
                        s.violations.push(format!(
                            "seq {seq} ({}) received after seq {prev}: duplicate or out of order",
                            f.event.clone().unwrap_or_default()
                        ));
                        continue;
                    }
                    let data = f.json();
                    s.frames.push(Received {
                        seq,
                        event: f.event.unwrap_or_default(),
                        data,
                        connection,
                    });
                }
                None if sse.ended => break,
                None => {}
            }
        }
    }
}
