//! The GitHub PR loop end to end: the real daemon polling the fake GitHub
//! (`ao_tests::fake_github`) every second (`AO_GITHUB_POLL_INTERVAL=1s`), real git worktrees,
//! AO's private tmux server and the scripted fake agent. PR discovery, CI/review/conflict
//! nudges typed into the idle agent, merge completion, the rate budget, claim-PR and bad
//! GitHub data, all observed as a user would (`ao`, the HTTP API, the agent's own log).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use ao_tests::fake_github::{
    CheckSpec, CommentSpec, FakeGithub, Fault, PrRef, PrSpec, Resource, Route, ThreadSpec,
};
use ao_tests::{Home, git_repo, wait_for};
use serde_json::{Value, json};

const OWNER: &str = "acme";
const REPO: &str = "widgets";
const LONG: Duration = Duration::from_secs(40);

fn fake_agent_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_fake-agent"))
}

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "ao-test")
        .env("GIT_AUTHOR_EMAIL", "ao-test@example.invalid")
        .env("GIT_COMMITTER_NAME", "ao-test")
        .env("GIT_COMMITTER_EMAIL", "ao-test@example.invalid")
        .output()
        .expect("run git");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A daemon pointed at a fake GitHub, with one project `p` whose origin is `acme/widgets`.
struct Lab {
    gh: FakeGithub,
    home: Home,
    repo: PathBuf,
    fake_log: PathBuf,
}

impl Lab {
    fn new() -> Self {
        let gh = FakeGithub::start();
        gh.create_repo(OWNER, REPO);
        let mut home = Home::new();
        for (k, v) in gh.env() {
            home.env(k, &v);
        }
        home.env("AO_GITHUB_POLL_INTERVAL", "1s");
        let scratch = home.scratch();
        let repo = git_repo(&scratch, "p");
        git(
            &repo,
            &["remote", "add", "origin", &gh.clone_url(OWNER, REPO)],
        );
        let bin = scratch.join("fakebin");
        std::fs::create_dir_all(&bin).expect("mkdir fakebin");
        std::os::unix::fs::symlink(fake_agent_bin(), bin.join("claude"))
            .expect("symlink the fake agent");
        let fake_log = scratch.join("fake-agent.jsonl");
        home.start();
        let lab = Self {
            gh,
            home,
            repo,
            fake_log,
        };
        lab.ao(&[
            "project",
            "add",
            "--path",
            lab.repo.to_str().expect("utf-8"),
            "--id",
            "p",
        ])
        .ok();
        let env = json!({
            "PATH": format!("{}:/usr/local/bin:/usr/bin:/bin", bin.display()),
            "FAKE_AGENT_LOG": lab.fake_log.display().to_string(),
            "FAKE_AGENT_WORK_MS": "300",
        });
        let cfg = json!({ "env": env }).to_string();
        lab.ao(&["project", "set-config", "p", "--config-json", &cfg])
            .ok();
        lab
    }

    fn ao(&self, args: &[&str]) -> ao_tests::Run {
        self.home.ao(args)
    }

    fn session(&self, id: &str) -> Value {
        self.ao(&["session", "get", id, "--json"]).json()["session"].clone()
    }

    fn wait_session(&self, id: &str, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        wait_for(LONG, what, || {
            let s = self.session(id);
            pred(&s).then_some(s)
        })
    }

    /// Spawns a claude session and waits until its agent is idle.
    fn spawn_idle(&self) -> Value {
        let s = self
            .ao(&[
                "spawn",
                "--project",
                "p",
                "--agent",
                "claude-code",
                "--json",
            ])
            .json()["session"]
            .clone();
        let id = s["id"].as_str().expect("id").to_string();
        self.wait_session(&id, "the agent to be idle", |s| {
            s["activity"]["firstSignalAt"].is_string() && s["status"] == "idle"
        })
    }

    fn fake_log(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.fake_log)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// The messages typed into the agents that start with `prefix`.
    fn nudges(&self, prefix: &str) -> Vec<String> {
        self.fake_log()
            .iter()
            .filter_map(|e| e["message"].as_str().map(str::to_string))
            .filter(|m| m.starts_with(prefix))
            .collect()
    }

    fn wait_nudges(&self, prefix: &str, n: usize) -> Vec<String> {
        wait_for(LONG, &format!("{n} nudge(s) {prefix:?}"), || {
            let got = self.nudges(prefix);
            (got.len() >= n).then_some(got)
        })
    }

    /// Waits until the observer has run at least `polls` more polls (repo-guard requests).
    fn wait_polls(&self, polls: u64) {
        let start = self.gh.stats().repo_guard.requests;
        wait_for(LONG, "more GitHub polls", || {
            (self.gh.stats().repo_guard.requests >= start + polls).then_some(())
        });
    }

    fn github_state(&self) -> String {
        let v = self.ao(&["status", "--json"]).json();
        let g = if v["github"].is_object() {
            &v["github"]
        } else {
            &v["daemon"]["github"]
        };
        g["state"].as_str().unwrap_or("").to_string()
    }

    fn wait_github_state(&self, state: &str) {
        wait_for(LONG, &format!("github state {state}"), || {
            (self.github_state() == state).then_some(())
        });
    }

    fn pr_url(&self, pr: &PrRef) -> String {
        self.gh.pr_url(pr)
    }
}

/// A ready PR whose mergeability GitHub has not computed yet (so the session shows `pr_open`).
fn pr_spec(head: &str) -> PrSpec {
    PrSpec {
        mergeable: "UNKNOWN".into(),
        merge_state_status: Some("UNKNOWN".into()),
        ..PrSpec::new(head)
    }
}

fn has_pr(s: &Value, number: u64) -> bool {
    s["prs"]
        .as_array()
        .is_some_and(|prs| prs.iter().any(|p| p["number"] == number))
}

#[test]
fn pr_loop_discovers_nudges_ci_review_conflict_and_completes_on_merge() {
    let lab = Lab::new();
    lab.spawn_idle();
    let pr = lab.gh.open_pr(OWNER, REPO, pr_spec("ao/p-1/root"));
    let s = lab.wait_session("p-1", "the PR to be discovered", |s| {
        has_pr(s, pr.number) && s["status"] == "pr_open"
    });
    // ao's normalised URL takes the API's scheme (http for the local fake).
    let url = s["prs"][0]["url"].as_str().expect("url").to_string();
    assert!(url.ends_with("/acme/widgets/pull/1"), "{s}");

    // CI fails: one nudge with the check name and the log tail.
    lab.gh.set_head_checks(
        &pr,
        vec![
            CheckSpec::run("build")
                .failure()
                .job_id(101)
                .log("compiling\nerror: boom in src/lib.rs\n"),
        ],
    );
    let ci = lab.wait_nudges("[AO] CI is failing", 1);
    assert!(ci[0].contains(&url), "{}", ci[0]);
    assert!(ci[0].contains("\"build\""), "{}", ci[0]);
    assert!(ci[0].contains("error: boom in src/lib.rs"), "{}", ci[0]);
    lab.wait_session("p-1", "ci_failed", |s| s["status"] == "ci_failed");

    // The same failure re-run (new job, same log): no new nudge.
    lab.gh.set_head_checks(
        &pr,
        vec![
            CheckSpec::run("build")
                .failure()
                .job_id(102)
                .log("compiling\nerror: boom in src/lib.rs\n"),
        ],
    );
    lab.wait_polls(4);
    assert_eq!(lab.nudges("[AO] CI is failing").len(), 1);

    // A different failure while the agent is busy: delivered on the idle edge only.
    lab.ao(&["send", "--session", "p-1", "--message", "work 4000"])
        .ok();
    wait_for(LONG, "the work turn to start", || {
        let log = lab.fake_log();
        let at = log.iter().position(|e| e["message"] == "work 4000")?;
        log[at..]
            .iter()
            .any(|e| e["hook"]["event"] == "UserPromptSubmit")
            .then_some(())
    });
    lab.wait_session("p-1", "the agent busy", |s| {
        s["activity"]["state"] != "idle"
    });
    lab.gh.set_head_checks(
        &pr,
        vec![
            CheckSpec::run("build")
                .failure()
                .job_id(103)
                .log("error: a different failure\n"),
        ],
    );
    let ci = lab.wait_nudges("[AO] CI is failing", 2);
    assert!(ci[1].contains("error: a different failure"), "{}", ci[1]);
    let log = lab.fake_log();
    let work = log
        .iter()
        .position(|e| e["message"] == "work 4000")
        .expect("work logged");
    let stop = work
        + log[work..]
            .iter()
            .position(|e| e["hook"]["event"] == "Stop")
            .expect("the work turn ended");
    let nudged = log
        .iter()
        .position(|e| e["message"].as_str() == Some(ci[1].as_str()))
        .expect("nudge logged");
    assert!(nudged > stop, "nudged a working agent: {log:#?}");
    assert_eq!(
        log[nudged]["bracketed"], true,
        "a nudge is one bracketed paste"
    );

    // Changes requested with two comments: one review nudge with both, file:line.
    lab.gh.set_review_decision(&pr, Some("CHANGES_REQUESTED"));
    lab.gh.add_thread(
        &pr,
        ThreadSpec::new(
            "src/lib.rs",
            Some(3),
            CommentSpec::user("alice", "Please rename this"),
        ),
    );
    lab.gh.add_thread(
        &pr,
        ThreadSpec::new(
            "src/main.rs",
            Some(42),
            CommentSpec::user("bob", "Handle the error"),
        ),
    );
    let review = wait_for(LONG, "a review nudge with both comments", || {
        lab.nudges("[AO] A reviewer left feedback")
            .into_iter()
            .find(|m| m.contains("Handle the error") && m.contains("Please rename this"))
    });
    assert!(review.contains("src/lib.rs:3"), "{review}");
    assert!(review.contains("src/main.rs:42"), "{review}");
    assert!(review.contains(&url), "{review}");
    lab.wait_polls(3);
    assert_eq!(lab.nudges("[AO] A reviewer left feedback").len(), 1);

    // A merge conflict: one conflict nudge.
    lab.gh.set_mergeable(&pr, "CONFLICTING", "DIRTY");
    let conflict = lab.wait_nudges("[AO] Your PR", 1);
    assert!(conflict[0].contains("merge conflicts"), "{}", conflict[0]);
    lab.wait_polls(3);
    assert_eq!(lab.nudges("[AO] Your PR").len(), 1);
    assert_eq!(lab.nudges("[AO] CI is failing").len(), 2);

    // Merged, and no other open PR: the session completes as `merged`.
    lab.gh.merge(&pr);
    let s = lab.wait_session("p-1", "terminated as merged", |s| s["isTerminated"] == true);
    assert_eq!(s["status"], "merged", "{s}");
    assert_eq!(s["terminatedReason"], "pr_merged", "{s}");
}

#[test]
fn closed_pr_keeps_the_session_a_quiet_repo_is_cheap_and_the_budget_is_reported() {
    let lab = Lab::new();
    lab.spawn_idle();
    let pr = lab.gh.open_pr(OWNER, REPO, pr_spec("ao/p-1/root/topic"));
    lab.wait_session("p-1", "the PR to be discovered", |s| has_pr(s, pr.number));
    lab.wait_github_state("ok");

    // Closed without merge: the session lives on.
    lab.gh.close(&pr);
    lab.wait_session("p-1", "the PR closed", |s| s["prs"][0]["state"] == "closed");
    lab.wait_polls(3);
    let s = lab.session("p-1");
    assert_eq!(s["isTerminated"], false, "{s}");

    // A quiet repo: one conditional request per poll, answered 304, and no GraphQL.
    lab.wait_polls(1);
    lab.gh.reset_stats();
    lab.wait_polls(4);
    let st = lab.gh.stats();
    assert_eq!(st.graphql_facts.requests, 0, "{st:?}");
    assert_eq!(st.graphql_threads.requests, 0, "{st:?}");
    assert_eq!(st.discovery.requests, 0, "{st:?}");
    assert!(
        st.repo_guard.not_modified + 1 >= st.repo_guard.requests,
        "{st:?}"
    );
    assert!(st.total_requests() <= st.repo_guard.requests + 1, "{st:?}");

    // The budget nearly spent (12 % left): throttled.
    lab.gh.set_remaining(Resource::Core, 600);
    lab.wait_github_state("throttled");
    lab.gh.set_remaining(Resource::Core, 5000);
    lab.wait_github_state("ok");

    // A 403 rate limit: backoff, the daemon keeps serving, then recovery.
    lab.gh.fail_next(
        Route::RepoGuard,
        1,
        Fault::RateLimited {
            retry_after: Some(3),
        },
    );
    lab.wait_github_state("backoff");
    assert_eq!(lab.session("p-1")["isTerminated"], false);
    lab.wait_github_state("ok");
}

#[test]
fn claim_pr_switches_a_clean_worktree_and_reports_skips_and_refusals() {
    let lab = Lab::new();
    let one = lab.spawn_idle();
    let two = lab.spawn_idle();
    // The PR branches exist in the project repo; its origin fetches from the repo itself.
    git(&lab.repo, &["branch", "feature/one"]);
    git(&lab.repo, &["branch", "feature/two"]);
    let origin = lab.gh.clone_url(OWNER, REPO);
    git(
        &lab.repo,
        &[
            "config",
            &format!("url.{}.insteadOf", lab.repo.display()),
            &origin,
        ],
    );
    let pr1 = lab.gh.open_pr(OWNER, REPO, PrSpec::new("feature/one"));
    let pr2 = lab.gh.open_pr(OWNER, REPO, PrSpec::new("feature/two"));

    let out = lab.ao(&["session", "claim-pr", "p-1", &lab.pr_url(&pr1)]);
    let text = out.ok();
    assert!(text.contains("checkout: switched to feature/one"), "{text}");
    let wt1 = PathBuf::from(one["workspacePath"].as_str().expect("path"));
    assert_eq!(
        git(&wt1, &["rev-parse", "--abbrev-ref", "HEAD"]),
        "feature/one"
    );
    let s = lab.session("p-1");
    assert_eq!(s["branch"], "feature/one", "{s}");
    assert!(has_pr(&s, pr1.number), "{s}");

    // A dirty worktree: claimed, but not switched.
    let wt2 = PathBuf::from(two["workspacePath"].as_str().expect("path"));
    std::fs::write(wt2.join("wip.txt"), "work in progress\n").expect("write");
    let text = lab
        .ao(&["session", "claim-pr", "p-2", &lab.pr_url(&pr2)])
        .ok()
        .to_string();
    assert!(
        text.contains("checkout: skipped: worktree has uncommitted changes"),
        "{text}"
    );
    assert_eq!(
        git(&wt2, &["rev-parse", "--abbrev-ref", "HEAD"]),
        "ao/p-2/root"
    );

    // Owned by a live session, no takeover: refused.
    let r = lab.ao(&[
        "session",
        "claim-pr",
        "p-2",
        &lab.pr_url(&pr1),
        "--no-takeover",
    ]);
    let out = format!("{}{}", r.stdout, r.stderr);
    assert_eq!(r.code, 1, "{out}");
    assert!(out.contains("PR_CLAIMED_BY_ACTIVE_SESSION"), "{out}");
    assert!(has_pr(&lab.session("p-1"), pr1.number));

    // A PR of another repository: 422 PR_PROJECT_MISMATCH.
    let other = lab.gh.open_pr("someone", "else", PrSpec::new("feature/x"));
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let reply = rt.block_on(lab.home.api().post(
        "/api/v1/sessions/p-1/pr/claim",
        &json!({"pr": lab.pr_url(&other)}),
    ));
    assert_eq!(reply.status, 422, "{}", reply.text);
    assert_eq!(reply.code(), "PR_PROJECT_MISMATCH", "{}", reply.text);
}

#[test]
fn bad_github_data_never_writes_partial_facts_and_the_daemon_keeps_serving() {
    let lab = Lab::new();
    lab.spawn_idle();
    let pr = lab
        .gh
        .open_pr(OWNER, REPO, pr_spec("ao/p-1/root").title("First title"));
    lab.wait_session("p-1", "the PR to be discovered", |s| {
        s["prs"][0]["title"] == "First title"
    });
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let api = lab.home.api();
    let summary = || rt.block_on(api.get("/api/v1/sessions/p-1/pr"));
    let before = summary();
    assert_eq!(before.status, 200, "{}", before.text);

    lab.gh
        .fail_next(Route::GraphqlFacts, 2, Fault::MalformedJson);
    lab.gh.fail_next(Route::GraphqlFacts, 2, Fault::ServerError);
    lab.gh.set_title(&pr, "Second title");
    // While the faults are being served, the stored summary stays exactly as it was.
    wait_for(LONG, "the first fault", || {
        (lab.gh.stats().graphql_facts.faults >= 1).then_some(())
    });
    let during = summary();
    let faults = lab.gh.stats().graphql_facts.faults;
    if faults < 4 {
        assert_eq!(during.status, 200, "{}", during.text);
        assert_eq!(
            during.body["prs"], before.body["prs"],
            "partial facts written"
        );
    }
    assert_eq!(lab.ao(&["status", "--json"]).code, 0);
    // Once GitHub answers again, the change arrives.
    lab.wait_session("p-1", "the new title", |s| {
        s["prs"][0]["title"] == "Second title"
    });
    assert!(lab.gh.stats().graphql_facts.faults >= 4);
}
