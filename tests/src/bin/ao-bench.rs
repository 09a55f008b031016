//! `ao-bench` — prints performance figures for `ao`; never asserts on time.
//!
//! Usage: `cargo run --release -p ao-tests --bin ao-bench -- events [--writes N]`
//!
//! `events`: starts the real daemon in-process on a temporary home, opens an SSE client on
//! `/api/v1/events`, performs N (default 1000) committed writes (project config PATCHes, each
//! of which fires one `project_updated` change-log row) one after another, and measures for each
//! the time from sending the write to the SSE client receiving its event. Because the write is
//! committed before its HTTP reply, this is an upper bound of commit→delivery latency. Prints
//! p50 / p99 / max. See docs/benchmarks.md.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use ao_tests::{Api, git_repo};
use serde_json::json;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1000.0)
}

async fn bench_events(writes: usize) -> anyhow::Result<()> {
    let tmp = tempfile::Builder::new().prefix("ao-bench-").tempdir()?;
    let home = tmp.path().join("home");
    let env = ao_protocol::EnvConfig::from_lookup(|k| match k {
        "AO_HOME" => Some(home.display().to_string()),
        "AO_PORT" => Some(ao_tests::free_port().to_string()),
        "AO_LOG" => Some("warn".into()),
        _ => None,
    })?;
    let daemon = ao_daemon::start(env).await.context("start the daemon")?;
    let rf = ao_protocol::RunFile {
        pid: std::process::id(),
        port: daemon.port(),
        token: daemon.token().to_string(),
        started_at: String::new(),
        version: String::new(),
        home: String::new(),
        data_dir: String::new(),
    };
    let api = Api::new(&rf);
    let repo = git_repo(tmp.path(), "bench-repo");
    let add = api
        .post(
            "/api/v1/projects",
            &json!({"path": repo.display().to_string(), "projectId": "bench"}),
        )
        .await;
    if add.status != 201 {
        bail!("project add failed: {}", add.text);
    }
    let mut sse = api.events("?project=bench", None).await;
    // Drain the replayed project_created.
    let first = sse
        .next_frame(Duration::from_secs(10))
        .await
        .context("replay of project_created")?;
    let mut last_seq = first.id.unwrap_or(0);

    let mut lat = Vec::with_capacity(writes);
    let started = Instant::now();
    for i in 0..writes {
        let t0 = Instant::now();
        let r = api
            .patch(
                "/api/v1/projects/bench/config",
                &json!({"config": {"env": {"BENCH_N": i.to_string()}}}),
            )
            .await;
        if r.status != 200 {
            bail!("write {i} failed: {}", r.text);
        }
        let frame = sse
            .next_frame(Duration::from_secs(10))
            .await
            .context("event for a committed write")?;
        let seq = frame.id.unwrap_or(0);
        if seq <= last_seq {
            bail!("event seq went backwards: {seq} after {last_seq}");
        }
        last_seq = seq;
        lat.push(t0.elapsed());
    }
    let total = started.elapsed();
    lat.sort();
    println!(
        "events: {writes} committed writes, write→SSE delivery latency (upper bound of commit→delivery)"
    );
    println!("  p50  {}", ms(percentile(&lat, 0.50)));
    println!("  p99  {}", ms(percentile(&lat, 0.99)));
    println!("  max  {}", ms(*lat.last().unwrap_or(&Duration::ZERO)));
    println!(
        "  throughput {:.0} writes/s (sequential)",
        writes as f64 / total.as_secs_f64()
    );
    println!("  target: p99 <= 5 ms");
    daemon.shutdown().await;
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(which) = args.first() else {
        bail!("usage: ao-bench events [--writes N]");
    };
    let writes = match args.iter().position(|a| a == "--writes") {
        Some(i) => args
            .get(i + 1)
            .context("--writes needs a number")?
            .parse()?,
        None => 1000,
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    match which.as_str() {
        "events" => rt.block_on(bench_events(writes)),
        other => bail!("unknown benchmark {other:?}; available: events"),
    }
}
