//! A resuming SSE client: it follows `/api/v1/events` across every daemon crash, reconnecting
//! with `Last-Event-ID` = the last seq it received (re-reading `running.json` each time, since
//! every start has a new token), and records what it got.
//!
//! Main type: [`Recorder`]. Its [`Recorder::frames`] are checked against the whole change log
//! read after the fact (`check::event_stream`): every event exactly once, seqs strictly
//! increasing across reconnects.
//!
//! Invariant: a frame is recorded as it arrives, in order; anything out of order (a seq not
//! above the last one, or a frame without an id) is recorded as a violation, never dropped
//! silently.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

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
}

#[derive(Debug, Default)]
struct Shared {
    frames: Vec<Received>,
    violations: Vec<String>,
    connects: usize,
}

/// See the module doc.
pub struct Recorder {
    shared: Arc<Mutex<Shared>>,
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl Recorder {
    /// Starts following the daemon whose run-file is `run_file` (from seq 0).
    pub fn start(run_file: PathBuf) -> Self {
        let shared = Arc::new(Mutex::new(Shared::default()));
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(follow(run_file, Arc::clone(&shared), stopped));
        Self {
            shared,
            stop,
            task: Some(task),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Shared> {
        self.shared.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Everything received so far.
    pub fn frames(&self) -> Vec<Received> {
        self.lock().frames.clone()
    }

    /// The last seq received (0 before any).
    pub fn last_seq(&self) -> i64 {
        self.lock().frames.last().map_or(0, |f| f.seq)
    }

    /// Ordering violations seen so far.
    pub fn violations(&self) -> Vec<String> {
        self.lock().violations.clone()
    }

    /// How many times the stream was (re)opened.
    pub fn connects(&self) -> usize {
        self.lock().connects
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

async fn follow(run_file: PathBuf, shared: Arc<Mutex<Shared>>, mut stopped: watch::Receiver<bool>) {
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
        lock().connects += 1;
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
                    });
                }
                None if sse.ended => break,
                None => {}
            }
        }
    }
}
