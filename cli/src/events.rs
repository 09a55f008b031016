//! `ao events` (cli.md §6): a batch from `GET /events/log`, then, with `--follow`, the live
//! SSE stream of `GET /events`.
//!
//! The follow loop re-reads the run-file before every connection (a restarted daemon has a new
//! token and maybe a new port), resumes from the last printed seq (`after` and
//! `Last-Event-ID`), deduplicates by seq, reconnects with a backoff of 1 s doubling to 30 s, and
//! ends with exit 0 on SIGINT or when the run-file has disappeared.

use std::time::Duration;

use ao_protocol::{ChangeEvent, EnvConfig, EventLog, Resync};
use tokio::signal::unix::{SignalKind, signal};

use crate::client::{Daemon, RunFileState, read_run_file};
use crate::error::CliError;
use crate::output;
use crate::sse::{SseFrame, SseParser};

/// The flags of `ao events`.
#[derive(Debug, Clone)]
pub struct EventsArgs {
    pub after: Option<i64>,
    pub limit: u32,
    pub follow: bool,
    pub project: Option<String>,
    pub session: Option<String>,
    pub json: bool,
}

const BACKOFF_START: Duration = Duration::from_secs(1);
const BACKOFF_MAX: Duration = Duration::from_secs(30);

/// The text line of one event:
/// `<seq>  <HH:MM:SS>  <type>  <projectId>/<sessionId or ->  <payload as compact JSON>`.
pub fn event_line(e: &ChangeEvent) -> String {
    format!(
        "{}  {}  {}  {}/{}  {}",
        e.seq,
        output::local_time(&e.created_at),
        e.event_type,
        e.project_id,
        e.session_id.as_deref().unwrap_or("-"),
        output::compact(&e.payload)
    )
}

fn print_event(e: &ChangeEvent, json: bool) -> Result<(), CliError> {
    if json {
        output::line(&output::compact(e))
    } else {
        output::line(&event_line(e))
    }
}

/// The resync notice, text or NDJSON.
pub fn resync_line(r: &Resync, json: bool) -> String {
    if json {
        format!(
            "{{\"type\":\"resync\",\"oldestSeq\":{},\"headSeq\":{}}}",
            r.oldest_seq, r.head_seq
        )
    } else {
        format!("-- resync: oldest retained seq {} --", r.oldest_seq)
    }
}

/// `ao events`.
pub async fn run(env: &EnvConfig, args: EventsArgs) -> Result<(), CliError> {
    let daemon = Daemon::connect(env)?;
    let mut filters: Vec<(&str, String)> = Vec::new();
    if let Some(p) = &args.project {
        filters.push(("project", p.clone()));
    }
    if let Some(s) = &args.session {
        filters.push(("session", s.clone()));
    }
    let mut query = filters.clone();
    query.push(("limit", args.limit.to_string()));
    match args.after {
        None => query.push(("order", "desc".into())),
        Some(a) => {
            query.push(("after", a.to_string()));
            query.push(("order", "asc".into()));
        }
    }
    let body = daemon.get(&["events", "log"], &query).await?;
    let log: EventLog = body.decode("/events/log")?;
    let mut events = log.events;
    events.sort_by_key(|e| e.seq);
    for e in &events {
        print_event(e, args.json)?;
    }
    if !args.follow {
        return Ok(());
    }
    let cursor = events
        .last()
        .map(|e| e.seq)
        .or(args.after)
        .unwrap_or(log.head_seq);
    follow(env, &filters, cursor, args.json).await
}

enum Flow {
    Interrupted,
    Dropped,
}

async fn follow(
    env: &EnvConfig,
    filters: &[(&str, String)],
    mut cursor: i64,
    json: bool,
) -> Result<(), CliError> {
    let mut sigint = signal(SignalKind::interrupt())
        .map_err(|e| CliError::Failed(format!("cannot handle SIGINT: {e}")))?;
    let mut backoff = BACKOFF_START;
    loop {
        let rf = match read_run_file(&env.run_file) {
            RunFileState::Missing => return Ok(()),
            RunFileState::Unreadable(_) => None,
            RunFileState::Present(rf) => Some(rf),
        };
        if let Some(rf) = rf {
            let mut query = filters.to_vec();
            query.push(("after", cursor.to_string()));
            let opened = async {
                let d = Daemon::new(rf)?;
                d.open_events(&query, Some(cursor)).await
            };
            let resp = tokio::select! {
                _ = sigint.recv() => return Ok(()),
                r = opened => r,
            };
            match resp {
                Ok(resp) => {
                    backoff = BACKOFF_START;
                    if let Flow::Interrupted = stream(resp, &mut cursor, json, &mut sigint).await? {
                        return Ok(());
                    }
                    if matches!(read_run_file(&env.run_file), RunFileState::Missing) {
                        return Ok(());
                    }
                }
                Err(e @ CliError::Api { status, .. })
                    if (400..500).contains(&status) && status != 401 =>
                {
                    return Err(e);
                }
                Err(_) => {}
            }
        }
        tokio::select! {
            _ = sigint.recv() => return Ok(()),
            () = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(BACKOFF_MAX);
    }
}

async fn stream(
    mut resp: reqwest::Response,
    cursor: &mut i64,
    json: bool,
    sigint: &mut tokio::signal::unix::Signal,
) -> Result<Flow, CliError> {
    let mut parser = SseParser::new();
    loop {
        let chunk = tokio::select! {
            _ = sigint.recv() => return Ok(Flow::Interrupted),
            c = resp.chunk() => c,
        };
        match chunk {
            Ok(Some(bytes)) => {
                for frame in parser.push(&bytes) {
                    handle_frame(&frame, cursor, json)?;
                }
            }
            Ok(None) | Err(_) => return Ok(Flow::Dropped),
        }
    }
}

/// Prints one SSE frame; events at or below the cursor are duplicates and skipped.
fn handle_frame(frame: &SseFrame, cursor: &mut i64, json: bool) -> Result<(), CliError> {
    if frame.event == "resync" {
        match serde_json::from_str::<Resync>(&frame.data) {
            Ok(r) => output::line(&resync_line(&r, json))?,
            Err(e) => eprintln!("warning: unreadable resync event: {e}"),
        }
        return Ok(());
    }
    match serde_json::from_str::<ChangeEvent>(&frame.data) {
        Ok(e) if e.seq <= *cursor => Ok(()),
        Ok(e) => {
            *cursor = e.seq;
            print_event(&e, json)
        }
        Err(e) => {
            eprintln!("warning: unreadable event {}: {e}", frame.event);
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(seq: i64, session: Option<&str>) -> ChangeEvent {
        ChangeEvent {
            seq,
            project_id: "demo".into(),
            session_id: session.map(str::to_string),
            event_type: "project_created".into(),
            payload: json!({"id": "demo", "n": [1, 2]}),
            created_at: "not-a-time".into(),
        }
    }

    #[test]
    fn text_lines() {
        assert_eq!(
            event_line(&event(7, None)),
            "7  not-a-time  project_created  demo/-  {\"id\":\"demo\",\"n\":[1,2]}"
        );
        assert!(event_line(&event(8, Some("demo-3"))).contains("  demo/demo-3  "));
        let r = Resync {
            oldest_seq: 40,
            head_seq: 90,
        };
        assert_eq!(
            resync_line(&r, false),
            "-- resync: oldest retained seq 40 --"
        );
        assert_eq!(
            resync_line(&r, true),
            "{\"type\":\"resync\",\"oldestSeq\":40,\"headSeq\":90}"
        );
    }

    #[test]
    fn frames_advance_the_cursor_and_skip_duplicates() {
        let mut cursor = 5;
        let data = serde_json::to_string(&event(5, None)).expect("json");
        let dup = SseFrame {
            id: Some("5".into()),
            event: "project_created".into(),
            data,
        };
        handle_frame(&dup, &mut cursor, true).expect("skipped");
        assert_eq!(cursor, 5);
        let bad = SseFrame {
            id: None,
            event: "x".into(),
            data: "not json".into(),
        };
        handle_frame(&bad, &mut cursor, true).expect("ignored");
        assert_eq!(cursor, 5);
    }
}
