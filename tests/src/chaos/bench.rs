//! The `ao-bench soak` and `ao-bench restart` modes (figures only, never assertions on time).
//!
//! * [`soak`]: the chaos harness ([`super::run`]) for many operations (default 2 000, seed from
//!   `--seed`, else `AO_CHAOS_SEED`, else the clock); prints its [`super::ChaosReport`].
//! * [`restart`]: restart-to-ready after a SIGKILL with N live sessions (default 200) of the
//!   fake agent. Phase 1 (adopt): the agents keep running; the daemon is SIGKILLed and started
//!   again, `samples` times; each time it measures spawn-of-`ao daemon` → `/readyz` 200 and
//!   verifies that every session is live and was adopted (same pane pid, `restarts` unchanged).
//!   Phase 2 (relaunch in place): the daemon is SIGKILLed and AO's tmux server killed with it;
//!   the boot relaunches every session in its worktree before `ready` (sessions.md §17 d); it
//!   measures the same interval, verifies that every session is live with `restarts` + 1 and
//!   a new pane, and reports sessions/s; then the time until every relaunched agent signalled.
//!
//! Invariant: both modes tear everything down (daemon, tmux server) whatever happens, through
//! [`Lab`]'s drop.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::lab::{Lab, Pane};
use super::{ChaosConfig, run};
use crate::Api;

/// The value after `flag` in `args`, parsed.
fn flag<T: std::str::FromStr>(args: &[String], flag: &str) -> Result<Option<T>, String> {
    match args.iter().position(|a| a == flag) {
        None => Ok(None),
        Some(i) => args
            .get(i + 1)
            .and_then(|v| v.parse().ok())
            .map(Some)
            .ok_or_else(|| format!("{flag} needs a number")),
    }
}

/// `ao-bench soak [--ops N] [--seed S]`.
pub async fn soak_cli(args: &[String]) -> Result<(), String> {
    soak(flag(args, "--ops")?.unwrap_or(2000), flag(args, "--seed")?).await
}

/// `ao-bench restart [--sessions N] [--samples S]`.
pub async fn restart_cli(args: &[String]) -> Result<(), String> {
    let n = flag(args, "--sessions")?.unwrap_or(200);
    let samples = flag(args, "--samples")?.unwrap_or(5);
    if n == 0 || samples == 0 {
        return Err("--sessions and --samples must be at least 1".into());
    }
    restart(n, samples).await
}

/// `ao-bench soak`.
pub async fn soak(ops: usize, seed: Option<u64>) -> Result<(), String> {
    let clock = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| d.as_secs());
    let seed = seed.unwrap_or_else(|| ChaosConfig::seed_from_env(clock));
    let cfg = ChaosConfig::new(seed, ops);
    println!(
        "soak: {ops} chaos operations, seed {seed}, crash rate {:.0} %, boot-kill rate {:.0} %, tmux-kill rate {:.0} %, at most {} live sessions",
        cfg.crash_rate * 100.0,
        cfg.boot_kill_rate * 100.0,
        cfg.tmux_kill_rate * 100.0,
        cfg.max_live
    );
    let report = run(cfg).await;
    println!("{report}");
    Ok(())
}

fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1000.0)
}

/// Every session row, by id.
async fn sessions(api: &Api) -> Result<BTreeMap<String, Value>, String> {
    let r = api.get("/api/v1/sessions").await;
    if r.status != 200 {
        return Err(format!("GET /sessions answered {}: {}", r.status, r.text));
    }
    Ok(r.body["sessions"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .map(|s| (s["id"].as_str().unwrap_or("").to_string(), s))
        .collect())
}

/// Spawns `n` sessions, 20 at a time.
async fn spawn_many(api: &Api, n: usize) -> Result<(), String> {
    let mut left = n;
    while left > 0 {
        let batch = left.min(20);
        let tasks: Vec<_> = (0..batch)
            .map(|_| {
                let api = api.clone();
                tokio::spawn(async move {
                    let rb = api
                        .req(reqwest::Method::POST, "/api/v1/sessions")
                        .timeout(Duration::from_secs(600))
                        .json(&json!({"projectId": "c0", "harness": "claude-code"}));
                    Api::send(rb).await
                })
            })
            .collect();
        for t in tasks {
            let r = t.await.map_err(|e| e.to_string())?;
            if r.status != 201 {
                return Err(format!("spawn answered {}: {}", r.status, r.text));
            }
        }
        left -= batch;
    }
    Ok(())
}

/// Waits until every live session has signalled since its last (re)launch.
async fn all_signalled(api: &Api, n: usize, timeout: Duration) -> Result<Duration, String> {
    let t0 = Instant::now();
    loop {
        let all = sessions(api).await?;
        let done = all
            .values()
            .filter(|s| s["isTerminated"] == false && s["activity"]["firstSignalAt"].is_string())
            .count();
        if done >= n {
            return Ok(t0.elapsed());
        }
        if t0.elapsed() > timeout {
            return Err(format!(
                "only {done} of {n} sessions signalled within {timeout:?}"
            ));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn pane_pids(panes: &[Pane]) -> BTreeMap<String, u32> {
    panes.iter().map(|p| (p.session.clone(), p.pid)).collect()
}

/// `ao-bench restart`.
pub async fn restart(n: usize, samples: usize) -> Result<(), String> {
    let mut lab = tokio::task::block_in_place(|| Lab::new(1, "30s"));
    lab.start().await?;
    let (project, path) = lab.repos[0].clone();
    let add = lab
        .api()
        .post(
            "/api/v1/projects",
            &json!({"path": path, "projectId": project, "config": lab.project_config()}),
        )
        .await;
    if add.status != 201 {
        return Err(format!("project add answered {}: {}", add.status, add.text));
    }
    let t0 = Instant::now();
    spawn_many(lab.api(), n).await?;
    all_signalled(lab.api(), n, Duration::from_secs(600)).await?;
    println!(
        "restart: {n} live sessions of the fake agent (claude-code) spawned and signalled in {:.1} s",
        t0.elapsed().as_secs_f64()
    );

    // Phase 1: SIGKILL with the agents running; the boot adopts them.
    let mut adopt = Vec::new();
    for sample in 0..samples {
        let before_panes = pane_pids(&lab.panes());
        let before = sessions(lab.api()).await?;
        lab.sigkill();
        let ready = lab.start().await?;
        let after = sessions(lab.api()).await?;
        let after_panes = pane_pids(&lab.panes());
        let live = after
            .values()
            .filter(|s| s["isTerminated"] == false)
            .count();
        let relaunched = after
            .iter()
            .filter(|(id, s)| {
                before
                    .get(*id)
                    .is_some_and(|b| b["restarts"] != s["restarts"])
            })
            .count();
        let new_panes = after_panes
            .iter()
            .filter(|(name, pid)| before_panes.get(*name) != Some(pid))
            .count();
        println!(
            "  adopt #{}: SIGKILL → ready in {}; {live}/{n} live, {relaunched} relaunched, {new_panes} new panes",
            sample + 1,
            ms(ready)
        );
        if live != n || relaunched != 0 || new_panes != 0 {
            return Err("the boot did not adopt every session as it was".into());
        }
        adopt.push(ready);
    }
    adopt.sort();
    println!(
        "  adopt: restart-to-ready median {}, min {}, max {} (target ≤ 1 s)",
        ms(adopt[adopt.len() / 2]),
        ms(adopt[0]),
        ms(adopt[adopt.len() - 1])
    );

    // Phase 2: SIGKILL and the tmux server gone; the boot relaunches every session in place.
    let before = sessions(lab.api()).await?;
    lab.sigkill();
    lab.kill_tmux_server();
    let ready = lab.start().await?;
    let after = sessions(lab.api()).await?;
    let panes = pane_pids(&lab.panes());
    let live = after
        .values()
        .filter(|s| s["isTerminated"] == false)
        .count();
    let relaunched = after
        .iter()
        .filter(|(id, s)| {
            let before = before.get(*id).and_then(|b| b["restarts"].as_i64());
            before.is_some_and(|b| s["restarts"].as_i64() == Some(b + 1))
        })
        .count();
    println!(
        "  relaunch in place: SIGKILL + tmux server gone → ready in {} ({relaunched}/{n} relaunched, {live} live, {} panes) = {:.1} sessions/s",
        ms(ready),
        panes.len(),
        relaunched as f64 / ready.as_secs_f64()
    );
    let signalled = all_signalled(lab.api(), n, Duration::from_secs(600)).await?;
    println!(
        "  every relaunched agent signalled {} after ready",
        ms(signalled)
    );
    if relaunched != n || live != n {
        return Err("the boot did not relaunch every session in place".into());
    }
    lab.stop().await?;
    Ok(())
}
