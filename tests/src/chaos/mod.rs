//! The kill -9 chaos harness (issue #5 item 1): a seeded random sequence of operations against
//! the real daemon — project add/rm, spawn (fake agents), send (which drives the agents'
//! hooks: `work <ms>`, `ask`, `exit <n>`, `crash <n>`), kill, restore, rename, cleanup, dirty
//! files left in worktrees, PR events on the fake GitHub (open, red/green checks, merge) —
//! with the daemon SIGKILLed at random points: in the middle of a request (the request runs
//! on its own task; the kill lands after a random delay of up to about the operation's
//! duration, so inside spawn, kill, restore, …), while idle, and during boot (before the
//! run-file, while `starting` — spool replay and reconcile — or just after `ready`), sometimes
//! with AO's tmux server killed too while the daemon is down (so boot relaunches in place).
//!
//! After every restart the invariants of [`check`] are verified against the [`model`] of
//! acknowledged operations; every few restarts, and at the end, the state is settled and a
//! clean restart must change nothing (reconcile is idempotent). A resuming SSE client
//! ([`sse::Recorder`]) follows the whole run across every crash.
//!
//! Entry points: [`run`] with a [`ChaosConfig`] returns a [`ChaosReport`]. The seed is printed
//! first; `AO_CHAOS_SEED` overrides it ([`ChaosConfig::seed_from_env`]). Any violation panics
//! with the seed, the operation index, the recent history and the daemon log's tail.
//! `AO_CHAOS_VERBOSE=1` prints every operation as it runs; `AO_CHAOS_KEEP=<dir>` copies the
//! home and the agents' logs there on a failure.
//!
//! Invariant: the harness only ever talks to the daemon the way clients do (HTTP, SSE, the
//! agents' own hooks) and only observes the machine (tmux, the worktree root, agent logs).

pub mod bench;
pub mod check;
pub mod lab;
pub mod model;
pub mod ops;
pub mod rng;
pub mod sse;

use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::time::{Duration, Instant};

use check::Snapshot;
use lab::{BootPhase, Lab};
use model::Model;
use ops::{Limits, Op, Outcome};
use rng::Rng;
use sse::Recorder;

/// How a run is shaped.
#[derive(Debug, Clone)]
pub struct ChaosConfig {
    pub seed: u64,
    /// Operations to run.
    pub ops: usize,
    /// At least this many SIGKILLs (the crash rate rises towards the end if needed).
    pub min_kills: usize,
    /// Base probability of a crash at each operation.
    pub crash_rate: f64,
    /// Probability that a restart is itself killed during boot (once or twice).
    pub boot_kill_rate: f64,
    /// Probability that AO's tmux server is killed while the daemon is down.
    pub tmux_kill_rate: f64,
    /// A clean-restart idempotence check after every this many crash restarts (and at the end).
    pub idempotence_every: usize,
    /// No spawn while this many sessions are live.
    pub max_live: usize,
    /// `AO_GITHUB_POLL_INTERVAL` of the daemon.
    pub poll_interval: String,
    /// Print every operation as it runs (`AO_CHAOS_VERBOSE=1`).
    pub verbose: bool,
}

impl ChaosConfig {
    /// The defaults for `ops` operations with `seed`.
    pub fn new(seed: u64, ops: usize) -> Self {
        Self {
            seed,
            ops,
            min_kills: ops / 10,
            crash_rate: 0.09,
            boot_kill_rate: 0.3,
            tmux_kill_rate: 0.12,
            idempotence_every: 12,
            max_live: 6,
            poll_interval: "1s".into(),
            verbose: std::env::var_os("AO_CHAOS_VERBOSE").is_some_and(|v| !v.is_empty()),
        }
    }

    /// `AO_CHAOS_SEED` when set (a replay), else `default`.
    pub fn seed_from_env(default: u64) -> u64 {
        std::env::var("AO_CHAOS_SEED")
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(default)
    }
}

/// What a run did.
#[derive(Debug, Clone, Default)]
pub struct ChaosReport {
    pub seed: u64,
    pub ops: usize,
    /// Every SIGKILL of the daemon.
    pub kills: usize,
    /// SIGKILLs fired under a request, by operation kind.
    pub kills_mid_op: BTreeMap<&'static str, usize>,
    /// SIGKILLs between operations.
    pub kills_idle: usize,
    /// SIGKILLs during a boot, by where the boot was.
    pub boot_kills: BTreeMap<&'static str, usize>,
    pub tmux_server_kills: usize,
    /// Boots that reached `ready` after a crash.
    pub restarts: usize,
    pub idempotence_checks: usize,
    /// Operations by kind and outcome (`acked`, `refused`, `lost`).
    pub outcomes: BTreeMap<String, usize>,
    /// Restart-to-ready times after crashes.
    pub ready_times: Vec<Duration>,
    /// Events the resuming SSE client received, and how often it (re)connected.
    pub events: usize,
    pub sse_connects: usize,
    pub max_live: usize,
    pub elapsed: Duration,
}

impl fmt::Display for ChaosReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut ready = self.ready_times.clone();
        ready.sort();
        let pct = |p: f64| {
            ready
                .get(((ready.len().saturating_sub(1)) as f64 * p).round() as usize)
                .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
        };
        writeln!(
            f,
            "chaos seed {}: {} operations in {:.1} s, {} SIGKILLs ({} mid-operation {:?}, {} idle, {} during boot {:?}), {} tmux server kills",
            self.seed,
            self.ops,
            self.elapsed.as_secs_f64(),
            self.kills,
            self.kills_mid_op.values().sum::<usize>(),
            self.kills_mid_op,
            self.kills_idle,
            self.boot_kills.values().sum::<usize>(),
            self.boot_kills,
            self.tmux_server_kills
        )?;
        writeln!(
            f,
            "  {} restarts, restart-to-ready p50 {:.0} ms, p90 {:.0} ms, max {:.0} ms; {} idempotence checks; at most {} live sessions",
            self.restarts,
            pct(0.5),
            pct(0.9),
            pct(1.0),
            self.idempotence_checks,
            self.max_live
        )?;
        writeln!(
            f,
            "  SSE: {} events received over {} connections, none lost or repeated",
            self.events, self.sse_connects
        )?;
        write!(f, "  outcomes: {:?}", self.outcomes)
    }
}

/// The state of one run.
struct Run {
    cfg: ChaosConfig,
    lab: Lab,
    rng: Rng,
    model: Model,
    recorder: Recorder,
    report: ChaosReport,
    history: VecDeque<String>,
    started: Instant,
}

/// How many history lines a failure message shows.
const HISTORY: usize = 25;

impl Run {
    fn log(&mut self, line: String) {
        let line = format!("[{:7.2}s] {line}", self.started.elapsed().as_secs_f64());
        if self.cfg.verbose {
            println!("{line}");
        }
        if self.history.len() == HISTORY {
            self.history.pop_front();
        }
        self.history.push_back(line);
    }

    /// Panics with everything needed to replay and diagnose a violation.
    fn fail(&self, at: usize, what: &str, msg: &str) -> ! {
        let seed = self.cfg.seed;
        let kept = self.keep_evidence();
        panic!(
            "chaos seed {seed} (replay: AO_CHAOS_SEED={seed}), operation #{at} ({what}): {msg}\n\
             --- recent history:\n{}\n--- daemon log tail:\n{}{kept}",
            self.history.iter().cloned().collect::<Vec<_>>().join("\n"),
            self.lab.daemon_log_tail(40)
        );
    }

    /// With `AO_CHAOS_KEEP=<dir>`, copies the home and the scratch directory (agent logs,
    /// repositories) there before the temporary directory is removed.
    fn keep_evidence(&self) -> String {
        let Some(dir) = std::env::var_os("AO_CHAOS_KEEP").filter(|d| !d.is_empty()) else {
            return String::new();
        };
        let dest = std::path::PathBuf::from(dir).join(format!("seed-{}", self.cfg.seed));
        let _ = std::fs::create_dir_all(&dest);
        for src in [self.lab.home.path(), self.lab.home.scratch()] {
            let _ = std::process::Command::new("cp")
                .arg("-a")
                .arg(&src)
                .arg(&dest)
                .status();
        }
        format!("\n--- evidence kept in {}", dest.display())
    }

    fn count(&mut self, op: &Op, outcome: &Outcome) {
        let class = match outcome {
            Outcome::Reply { status, .. } if (200..300).contains(status) => "acked",
            Outcome::Local => "done",
            Outcome::Reply { .. } => "refused",
            Outcome::Lost(_) => "lost",
        };
        *self
            .report
            .outcomes
            .entry(format!("{} {class}", op.kind()))
            .or_default() += 1;
    }

    async fn snapshot(&mut self, at: usize, what: &str) -> Snapshot {
        match Snapshot::take(&self.lab).await {
            Ok(s) => {
                self.model.discover(&s.sessions);
                self.report.max_live = self.report.max_live.max(s.live_sessions().count());
                s
            }
            Err(e) => self.fail(at, what, &e),
        }
    }

    /// Whether operation `i` crashes the daemon.
    fn crash_now(&mut self, i: usize) -> bool {
        let need = self.cfg.min_kills.saturating_sub(self.report.kills);
        let left = self.cfg.ops - i;
        let p = if need >= left {
            1.0
        } else if need * 3 >= left {
            0.5
        } else {
            self.cfg.crash_rate
        };
        self.rng.chance(p)
    }

    /// Runs `op` normally (no crash).
    async fn execute(&mut self, i: usize, op: &Op) -> Outcome {
        let outcome = if let Some((method, path, body)) = op.request() {
            ops::call(self.lab.api().clone(), method, path, body).await
        } else {
            if let Err(e) = ops::run_local(&self.lab, &mut self.model, op) {
                self.fail(i, &op.describe(), &e);
            }
            Outcome::Local
        };
        if let Outcome::Reply { status, body } = &outcome
            && *status >= 500
            && body["code"] == "INTERNAL_ERROR"
        {
            self.fail(
                i,
                &op.describe(),
                &format!("the daemon answered {status}: {body}"),
            );
        }
        if let Outcome::Lost(e) = &outcome {
            self.fail(
                i,
                &op.describe(),
                &format!("no reply from a running daemon: {e}"),
            );
        }
        outcome
    }

    /// Runs `op` on its own task and SIGKILLs the daemon after a random delay.
    async fn execute_and_crash(&mut self, op: &Op) -> (Outcome, u64) {
        let (method, path, body) = op.request().expect("an interruptible operation");
        let delay = self.rng.below(op.kill_window_ms() + 1);
        let task = tokio::spawn(ops::call(self.lab.api().clone(), method, path, body));
        tokio::time::sleep(Duration::from_millis(delay)).await;
        self.lab.sigkill();
        self.report.kills += 1;
        let outcome = task
            .await
            .unwrap_or_else(|e| Outcome::Lost(format!("request task failed: {e}")));
        (outcome, delay)
    }

    /// After a crash: maybe kill the tmux server, maybe kill one or two boots, then boot.
    async fn recover(&mut self, at: usize) {
        if self.rng.chance(self.cfg.tmux_kill_rate) {
            self.lab.kill_tmux_server();
            self.model.agents_restarted();
            self.report.tmux_server_kills += 1;
            self.log(format!(
                "#{at}   tmux server killed while the daemon is down"
            ));
        }
        let boot_kills = if self.rng.chance(self.cfg.boot_kill_rate) {
            1 + self.rng.below(2)
        } else {
            0
        };
        for _ in 0..boot_kills {
            let delay = self.rng.below(500);
            self.lab.spawn_daemon();
            tokio::time::sleep(Duration::from_millis(delay)).await;
            let phase = match self.lab.boot_phase().await {
                BootPhase::BeforeRunFile => "before_run_file",
                BootPhase::Starting => "starting",
                BootPhase::Ready => "ready",
            };
            self.lab.sigkill();
            self.report.kills += 1;
            *self.report.boot_kills.entry(phase).or_default() += 1;
            self.log(format!(
                "#{at}   SIGKILL during boot after {delay} ms ({phase})"
            ));
        }
        match self.lab.start().await {
            Ok(t) => {
                self.report.ready_times.push(t);
                self.report.restarts += 1;
                self.log(format!("#{at}   restarted, ready in {} ms", t.as_millis()));
            }
            Err(e) => self.fail(at, "restart", &e),
        }
    }

    /// The invariants that must hold right after a boot (those that settle asynchronously —
    /// an agent exiting or finishing a turn while the check runs — are polled for 15 s).
    async fn checkpoint(&mut self, at: usize) {
        let what = "checkpoint after restart";
        let snap = self.snapshot(at, what).await;
        if let Err(e) = self.model.check(&snap.sessions, &snap.projects) {
            self.fail(at, what, &format!("acknowledged state lost:\n{e}"));
        }
        let lab = &self.lab;
        let structure = check::eventually(Duration::from_secs(15), || async {
            let snap = Snapshot::take(lab).await?;
            check::structure(&snap).and_then(|()| check::activity(lab, &snap))
        })
        .await;
        if let Err(e) = structure {
            self.fail(at, what, &e);
        }
        if let Err(e) =
            check::event_stream(self.lab.api(), &self.recorder, Duration::from_secs(15)).await
        {
            self.fail(at, what, &format!("event stream: {e}"));
        }
    }

    /// Waits until everything asynchronous has settled and every eventual invariant holds:
    /// structure, activity = what the agents reported, acknowledged sends read, PRs observed,
    /// and no new change-log row for a second.
    async fn settle(&mut self, at: usize, what: &str) -> Snapshot {
        let deadline = Instant::now() + Duration::from_secs(45);
        let mut stable_since: Option<(i64, Instant)> = None;
        loop {
            let snap = self.snapshot(at, what).await;
            let verdict = check::structure(&snap)
                .and_then(|()| check::activity(&self.lab, &snap))
                .and_then(|()| check::sends_logged(&self.lab, &self.model))
                .and_then(|()| check::prs_observed(&self.model, &snap))
                .and_then(|()| self.model.check(&snap.sessions, &snap.projects));
            match (&verdict, stable_since) {
                (Ok(()), Some((head, since)))
                    if head == snap.head_seq && since.elapsed() >= Duration::from_secs(1) =>
                {
                    return snap;
                }
                (Ok(()), Some((head, _))) if head == snap.head_seq => {}
                (Ok(()), _) => stable_since = Some((snap.head_seq, Instant::now())),
                (Err(_), _) => stable_since = None,
            }
            if Instant::now() >= deadline {
                let e = verdict
                    .err()
                    .unwrap_or_else(|| "the change log never went quiet".into());
                self.fail(at, what, &format!("did not settle within 45 s: {e}"));
            }
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
    }

    /// Settles, restarts cleanly and demands that the boot changed nothing.
    async fn idempotence(&mut self, at: usize) {
        let what = "idempotence (clean restart)";
        let before = self.settle(at, what).await;
        if let Err(e) = self.lab.stop().await {
            self.fail(at, what, &e);
        }
        if let Err(e) = self.lab.start().await {
            self.fail(at, what, &e);
        }
        let after = self.snapshot(at, what).await;
        let (b, a) = (before.idempotence_view(), after.idempotence_view());
        if a != b {
            self.fail(
                at,
                what,
                &format!("a clean restart changed the state:\n{}", diff(&b, &a)),
            );
        }
        self.report.idempotence_checks += 1;
        self.log(format!("#{at}   clean restart changed nothing"));
    }
}

/// The differing top-level entries (and differing sessions) of two idempotence views.
fn diff(before: &serde_json::Value, after: &serde_json::Value) -> String {
    let mut out = Vec::new();
    for key in ["panes", "worktrees", "headSeq"] {
        if before[key] != after[key] {
            out.push(format!("{key}: {} -> {}", before[key], after[key]));
        }
    }
    let sessions = |v: &serde_json::Value| -> BTreeMap<String, serde_json::Value> {
        v["sessions"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|s| (s["id"].as_str().unwrap_or("").to_string(), s.clone()))
                    .collect()
            })
            .unwrap_or_default()
    };
    let (b, a) = (sessions(before), sessions(after));
    for (id, s) in &b {
        match a.get(id) {
            None => out.push(format!("session {id} vanished")),
            Some(t) if t != s => out.push(format!("session {id}: {s} -> {t}")),
            Some(_) => {}
        }
    }
    for id in a.keys().filter(|id| !b.contains_key(*id)) {
        out.push(format!("session {id} appeared"));
    }
    out.join("\n")
}

/// Runs the chaos harness (see the module doc); panics on the first violated invariant.
pub async fn run(cfg: ChaosConfig) -> ChaosReport {
    println!(
        "chaos: seed {} (replay with AO_CHAOS_SEED={}), {} operations, at least {} SIGKILLs",
        cfg.seed, cfg.seed, cfg.ops, cfg.min_kills
    );
    let mut lab = tokio::task::block_in_place(|| Lab::new(3, &cfg.poll_interval));
    if let Err(e) = lab.start().await {
        panic!("chaos seed {}: the first boot failed: {e}", cfg.seed);
    }
    let started = Instant::now();
    let recorder = Recorder::start(lab.home.run_file(), started);
    let mut run = Run {
        rng: Rng::new(cfg.seed),
        report: ChaosReport {
            seed: cfg.seed,
            ops: cfg.ops,
            ..ChaosReport::default()
        },
        cfg,
        lab,
        model: Model::default(),
        recorder,
        history: VecDeque::new(),
        started,
    };
    let limits = Limits {
        max_live: run.cfg.max_live,
    };
    let mut restarts_since_check = 0;
    for i in 0..run.cfg.ops {
        let snap = run.snapshot(i, "choosing").await;
        let crash = run.crash_now(i);
        // A crash prefers to land inside spawn, kill or restore.
        let lifecycle = crash && run.rng.chance(0.6);
        let op = ops::choose(
            &mut run.rng,
            &run.lab,
            &run.model,
            &snap,
            limits,
            i,
            lifecycle,
        )
        .or_else(|| ops::choose(&mut run.rng, &run.lab, &run.model, &snap, limits, i, false));
        let Some(op) = op else {
            run.fail(i, "choosing", "no operation applies");
        };
        let what = op.describe();
        if crash && op.interruptible() {
            let (outcome, delay) = run.execute_and_crash(&op).await;
            *run.report.kills_mid_op.entry(op.kind()).or_default() += 1;
            run.log(format!(
                "#{i} {what} -> SIGKILL after {delay} ms -> {}",
                outcome.describe()
            ));
            run.count(&op, &outcome);
            ops::apply(&mut run.model, &op, &outcome);
        } else {
            let outcome = run.execute(i, &op).await;
            run.log(format!("#{i} {what} -> {}", outcome.describe()));
            run.count(&op, &outcome);
            ops::apply(&mut run.model, &op, &outcome);
            if crash {
                run.lab.sigkill();
                run.report.kills += 1;
                run.report.kills_idle += 1;
                run.log(format!("#{i}   SIGKILL (idle)"));
            }
        }
        if crash {
            run.recover(i).await;
            run.checkpoint(i).await;
            restarts_since_check += 1;
            if restarts_since_check >= run.cfg.idempotence_every {
                restarts_since_check = 0;
                run.idempotence(i).await;
            }
        }
    }
    let end = run.cfg.ops;
    run.checkpoint(end).await;
    run.idempotence(end).await;
    if let Err(e) = check::event_stream(run.lab.api(), &run.recorder, Duration::from_secs(15)).await
    {
        run.fail(end, "final event stream", &e);
    }
    run.report.events = run.recorder.received();
    run.report.sse_connects = run.recorder.connects();
    run.report.elapsed = run.started.elapsed();
    if let Err(e) = run.lab.stop().await {
        run.fail(end, "final stop", &e);
    }
    run.report
}
