//! The GitHub PR loop end to end: the real daemon polling the fake GitHub
//! (`ao_tests::fake_github`) every second (`AO_GITHUB_POLL_INTERVAL=1s`), real git worktrees,
//! AO's private tmux server and the scripted fake agent. PR discovery, CI/review/conflict
//! nudges typed into the idle agent (never into a busy or waiting one, bounded per key and
//! head SHA, deduplicated across daemon restarts, none for a stacked PR's conflict), merge
//! completion with several PRs, the rate budget (REST and GraphQL limits, 401s, timeouts),
//! claim-PR (also at spawn, with takeover and refusals) and bad GitHub data, all observed as a
//! user would (`ao`, the HTTP API, the agent's own log).

use std::path::PathBuf;
use std::time::Duration;

use ao_tests::fake_github::{
    CheckSpec, CommentSpec, FakeGithub, Fault, PrRef, PrSpec, Resource, Route, ThreadSpec,
};
use ao_tests::{Home, git, git_repo, wait_for};
use serde_json::{Value, json};

const OWNER: &str = "acme";
const REPO: &str = "widgets";
const LONG: Duration = Duration::from_secs(40);

fn fake_agent_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_fake-agent"))
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
    // The normalised URL is https on the web host, although the fake's API is plain http.
    let url = s["prs"][0]["url"].as_str().expect("url").to_string();
    assert_eq!(url, lab.pr_url(&pr), "{s}");
    assert!(url.starts_with("https://"), "{s}");

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

/// The PR `number` of a session JSON, if the session has it.
fn pr_of(s: &Value, number: u64) -> Option<&Value> {
    s["prs"]
        .as_array()
        .and_then(|prs| prs.iter().find(|p| p["number"] == number))
}

/// Fails the `build` check on the PR's current head with a job log.
fn fail_build(gh: &FakeGithub, pr: &PrRef, job: u64, log: &str) {
    gh.set_head_checks(
        pr,
        vec![CheckSpec::run("build").failure().job_id(job).log(log)],
    );
}

const CI_NUDGE: &str = "[AO] CI is failing";
const CONFLICT_NUDGE: &str = "[AO] Your PR";

#[test]
fn a_merged_pr_completes_the_session_only_once_no_other_pr_is_open() {
    let lab = Lab::new();
    lab.spawn_idle();
    let older = lab.gh.open_pr(OWNER, REPO, pr_spec("ao/p-1/root"));
    let newer = lab.gh.open_pr(OWNER, REPO, pr_spec("ao/p-1/second"));
    lab.wait_session("p-1", "both PRs discovered", |s| {
        has_pr(s, older.number) && has_pr(s, newer.number)
    });

    // The older PR merges while the newer one stays open: the session lives on.
    lab.gh.merge(&older);
    lab.wait_session("p-1", "the older PR merged", |s| {
        pr_of(s, older.number).is_some_and(|p| p["state"] == "merged")
    });
    lab.wait_polls(3);
    let s = lab.session("p-1");
    assert_eq!(s["isTerminated"], false, "{s}");
    assert_eq!(pr_of(&s, newer.number).expect("newer")["state"], "open");
    assert_eq!(
        s["status"], "pr_open",
        "an open PR outranks a merged one: {s}"
    );

    // The last open PR merges: terminated as merged.
    lab.gh.merge(&newer);
    let s = lab.wait_session("p-1", "terminated", |s| s["isTerminated"] == true);
    assert_eq!(s["status"], "merged", "{s}");
    assert_eq!(s["terminatedReason"], "pr_merged", "{s}");
}

#[test]
fn a_stacked_child_pr_gets_no_conflict_nudge_while_its_parent_is_open() {
    let lab = Lab::new();
    lab.spawn_idle();
    let parent = lab.gh.open_pr(OWNER, REPO, pr_spec("ao/p-1/root"));
    // The child targets the parent's branch (sessions.md §15: stacked).
    let child = lab
        .gh
        .open_pr(OWNER, REPO, pr_spec("ao/p-1/child").base("ao/p-1/root"));
    let parent_url = lab.pr_url(&parent);
    let child_url = lab.pr_url(&child);
    lab.wait_session("p-1", "both PRs discovered", |s| {
        has_pr(s, parent.number) && has_pr(s, child.number)
    });

    // The child conflicts: stored, but no nudge. (A mergeability change alone does not bump
    // a PR's `updated_at` on GitHub, so the repo guard would only see it at the periodic full
    // refresh; `touch` stands for the update that usually comes with it.)
    lab.gh.set_mergeable(&child, "CONFLICTING", "DIRTY");
    lab.gh.touch(&child);
    lab.wait_session("p-1", "the child conflicting", |s| {
        pr_of(s, child.number).is_some_and(|p| p["mergeability"] == "conflicting")
    });
    lab.wait_polls(3);
    assert_eq!(lab.nudges(CONFLICT_NUDGE), Vec::<String>::new());

    // The parent conflicts too: it is not stacked, so it is nudged (and the child still not).
    lab.gh.set_mergeable(&parent, "CONFLICTING", "DIRTY");
    lab.gh.touch(&parent);
    let nudges = lab.wait_nudges(CONFLICT_NUDGE, 1);
    assert!(nudges[0].contains(&parent_url), "{}", nudges[0]);
    assert!(
        nudges[0].contains("merge conflicts with main"),
        "{}",
        nudges[0]
    );
    lab.wait_polls(3);
    assert_eq!(lab.nudges(CONFLICT_NUDGE).len(), 1);

    // The parent merges: the child is no longer stacked on an open PR, so its conflict nudges.
    lab.gh.merge(&parent);
    let nudges = lab.wait_nudges(CONFLICT_NUDGE, 2);
    assert!(nudges[1].contains(&child_url), "{}", nudges[1]);
    assert!(
        nudges[1].contains("merge conflicts with ao/p-1/root"),
        "{}",
        nudges[1]
    );
    assert_eq!(lab.session("p-1")["isTerminated"], false);
}

#[test]
fn a_merge_into_main_surfaces_the_other_prs_conflict_without_the_full_refresh() {
    // With a 1 s poll the periodic full refresh is 5 min away: only the base guard (the
    // `main` branch's ETag) can show what follows within the test's deadline.
    let lab = Lab::new();
    lab.spawn_idle();
    lab.spawn_idle();
    let first = lab.gh.open_pr(OWNER, REPO, PrSpec::new("ao/p-1/root"));
    let second = lab.gh.open_pr(OWNER, REPO, PrSpec::new("ao/p-2/root"));
    let url = lab.pr_url(&second);
    lab.wait_session("p-2", "the second PR mergeable", |s| {
        pr_of(s, second.number).is_some_and(|p| p["mergeability"] == "mergeable")
    });
    lab.wait_session("p-1", "the first PR discovered", |s| {
        has_pr(s, first.number)
    });
    // Settled: the check guards have ETags, every guard answers 304.
    lab.wait_polls(3);

    // GitHub's verdict for the second PR changes without touching the PR (no updated_at
    // bump): the repo guard answers 304 and nothing is observed while `main` stays put.
    lab.gh.set_mergeable(&second, "CONFLICTING", "DIRTY");
    lab.wait_polls(3);
    let s = lab.session("p-2");
    assert_eq!(
        pr_of(&s, second.number).expect("second")["mergeability"],
        "mergeable",
        "{s}"
    );

    // The first PR merges into `main`: the second (still the newest open PR) is unchanged,
    // but `main` moved, so both are refreshed.
    lab.gh.merge(&first);
    let nudges = lab.wait_nudges(CONFLICT_NUDGE, 1);
    assert!(
        nudges[0].starts_with(&format!(
            "[AO] Your PR {url} has merge conflicts with main."
        )),
        "{}",
        nudges[0]
    );
    let nudged = lab
        .fake_log()
        .into_iter()
        .find(|e| e["message"].as_str() == Some(nudges[0].as_str()))
        .expect("nudge logged");
    assert_eq!(nudged["ao_session_id"], "p-2", "{nudged}");
    let view = lab.ao(&["session", "get", "p-2"]).ok().to_string();
    assert!(view.contains("merge=conflicting"), "{view}");
    let s = lab.wait_session("p-1", "the first session completed", |s| {
        s["isTerminated"] == true
    });
    assert_eq!(s["terminatedReason"], "pr_merged", "{s}");
    lab.wait_polls(3);
    assert_eq!(lab.nudges(CONFLICT_NUDGE).len(), 1);
}

#[test]
fn ci_nudges_stop_at_three_per_check_and_head_sha() {
    let lab = Lab::new();
    lab.spawn_idle();
    let pr = lab.gh.open_pr(OWNER, REPO, pr_spec("ao/p-1/root"));
    lab.wait_session("p-1", "the PR discovered", |s| has_pr(s, pr.number));

    // Three different failures of `build` on one head SHA: three nudges.
    for i in 1..=3_u64 {
        fail_build(&lab.gh, &pr, 100 + i, &format!("error: failure #{i}\n"));
        let got = lab.wait_nudges(CI_NUDGE, usize::try_from(i).expect("small"));
        let last = got.last().expect("a nudge");
        assert!(last.contains(&format!("failure #{i}")), "{last}");
    }

    // A fourth failure on the same head SHA is observed, but the key is at its budget.
    let logs_before = lab.gh.stats().job_log.requests;
    fail_build(&lab.gh, &pr, 104, "error: failure #4\n");
    wait_for(LONG, "the fourth failure's log fetched", || {
        (lab.gh.stats().job_log.requests > logs_before).then_some(())
    });
    lab.wait_polls(3);
    let got = lab.nudges(CI_NUDGE);
    assert_eq!(got.len(), 3, "{got:#?}");
    assert_eq!(lab.session("p-1")["status"], "ci_failed");

    // A new head SHA is a new scope: the budget starts again.
    let sha = lab.gh.push(&pr);
    fail_build(&lab.gh, &pr, 105, "error: failure #5\n");
    let got = lab.wait_nudges(CI_NUDGE, 4);
    assert!(got[3].contains("failure #5"), "{}", got[3]);
    assert!(got[3].contains(&sha[..7]), "{}", got[3]);
}

#[test]
fn nudge_dedup_survives_a_daemon_restart() {
    let lab = Lab::new();
    lab.spawn_idle();
    let pr = lab.gh.open_pr(OWNER, REPO, pr_spec("ao/p-1/root"));
    lab.wait_session("p-1", "the PR discovered", |s| has_pr(s, pr.number));
    fail_build(&lab.gh, &pr, 201, "error: boom\n");
    lab.wait_nudges(CI_NUDGE, 1);
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    wait_for(LONG, "the nudge recorded", || {
        let r = rt.block_on(lab.home.api().get("/api/v1/sessions/p-1/pr"));
        (r.body["prs"][0]["lastNudge"]["kind"] == "ci").then_some(())
    });

    // Restart: the agent keeps running, the new daemon polls the same failure again.
    lab.ao(&["stop"]).ok();
    lab.home.start();
    lab.wait_polls(4);
    lab.wait_session("p-1", "the agent idle after the restart", |s| {
        s["activity"]["state"] == "idle"
    });
    lab.wait_polls(2);
    assert_eq!(lab.nudges(CI_NUDGE).len(), 1, "re-nudged after a restart");

    // The loop is alive: a different failure is nudged.
    fail_build(&lab.gh, &pr, 202, "error: another boom\n");
    let got = lab.wait_nudges(CI_NUDGE, 2);
    assert!(got[1].contains("another boom"), "{}", got[1]);
}

#[test]
fn an_agent_waiting_for_input_is_nudged_only_once_it_is_idle_again() {
    let lab = Lab::new();
    lab.spawn_idle();
    let pr = lab.gh.open_pr(OWNER, REPO, pr_spec("ao/p-1/root"));
    lab.wait_session("p-1", "the PR discovered", |s| has_pr(s, pr.number));

    // The agent asks for permission: waiting_input.
    lab.ao(&["send", "--session", "p-1", "--message", "ask"])
        .ok();
    lab.wait_session("p-1", "waiting for input", |s| {
        s["activity"]["state"] == "waiting_input"
    });

    // CI fails meanwhile: observed, not typed into the prompt.
    fail_build(&lab.gh, &pr, 301, "error: needs a fix\n");
    lab.wait_session("p-1", "CI failing stored", |s| {
        pr_of(s, pr.number).is_some_and(|p| p["ci"] == "failing")
    });
    lab.wait_polls(3);
    assert_eq!(lab.nudges(CI_NUDGE), Vec::<String>::new());
    assert_eq!(lab.session("p-1")["status"], "needs_input");

    // The human answers; the agent finishes its turn and the idle edge delivers the nudge.
    lab.ao(&["send", "--session", "p-1", "--message", "yes"])
        .ok();
    let got = lab.wait_nudges(CI_NUDGE, 1);
    assert!(got[0].contains("error: needs a fix"), "{}", got[0]);
    let log = lab.fake_log();
    let answer = log
        .iter()
        .position(|e| e["message"] == "yes")
        .expect("answer logged");
    let nudged = log
        .iter()
        .position(|e| e["message"].as_str() == Some(got[0].as_str()))
        .expect("nudge logged");
    assert!(nudged > answer, "nudged while waiting for input: {log:#?}");
}

#[test]
fn spawn_claim_pr_takes_the_pr_over_and_refuses_forks_and_closed_prs() {
    let lab = Lab::new();
    lab.spawn_idle();
    // The PR's branch exists in the project repo; its origin fetches from the repo itself.
    git(&lab.repo, &["branch", "ao/p-1/feat"]);
    let origin = lab.gh.clone_url(OWNER, REPO);
    git(
        &lab.repo,
        &[
            "config",
            &format!("url.{}.insteadOf", lab.repo.display()),
            &origin,
        ],
    );
    // Owned by the live session p-1 (scm.md §4: `ao/p-1/root` owns `ao/p-1/…`).
    let pr = lab.gh.open_pr(OWNER, REPO, pr_spec("ao/p-1/feat"));
    let url = lab.pr_url(&pr);
    lab.wait_session("p-1", "the PR discovered", |s| has_pr(s, pr.number));

    // Spawn with the claim; takeover is the default.
    let out = lab
        .ao(&[
            "spawn",
            "--project",
            "p",
            "--agent",
            "claude-code",
            "--claim-pr",
            &url,
            "--json",
        ])
        .json();
    let id = out["session"]["id"].as_str().expect("id").to_string();
    assert_eq!(out["session"]["branch"], "ao/p-1/feat", "{out}");
    assert_eq!(out["claim"]["takenOverFrom"], json!(["p-1"]), "{out}");
    assert_eq!(out["claim"]["checkout"], "already_on_branch", "{out}");
    let wt = PathBuf::from(out["session"]["workspacePath"].as_str().expect("path"));
    assert_eq!(
        git(&wt, &["rev-parse", "--abbrev-ref", "HEAD"]),
        "ao/p-1/feat"
    );
    assert!(has_pr(&lab.session(&id), pr.number));
    let loser = lab.session("p-1");
    assert!(!has_pr(&loser, pr.number), "{loser}");
    assert_eq!(
        loser["isTerminated"], false,
        "the previous owner keeps running"
    );
    // The observer leaves the move alone.
    lab.wait_polls(2);
    assert!(has_pr(&lab.session(&id), pr.number));

    // Refusals: the CLI exits 1 with the code, the API answers its status, nothing is spawned.
    let fork = lab.gh.open_pr(
        OWNER,
        REPO,
        PrSpec::new("feature/forked").fork("someone/widgets"),
    );
    let closed = lab.gh.open_pr(OWNER, REPO, PrSpec::new("feature/closed"));
    lab.gh.close(&closed);
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let api = lab.home.api();
    for (pr, code, status) in [(&fork, "PR_FROM_FORK", 422), (&closed, "PR_NOT_OPEN", 409)] {
        let url = lab.pr_url(pr);
        let r = lab.ao(&[
            "spawn",
            "--project",
            "p",
            "--agent",
            "claude-code",
            "--claim-pr",
            &url,
        ]);
        assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
        assert!(r.stderr.contains(&format!("({code})")), "{}", r.stderr);
        let reply = rt.block_on(api.post(
            "/api/v1/sessions",
            &json!({"projectId": "p", "harness": "claude-code", "claimPr": {"pr": url}}),
        ));
        assert_eq!(reply.status, status, "{}", reply.text);
        assert_eq!(reply.code(), code, "{}", reply.text);
    }
    let sessions = lab.ao(&["session", "ls", "--json"]).json();
    let count = sessions["sessions"]
        .as_array()
        .or_else(|| sessions.as_array())
        .map_or(0, Vec::len);
    assert_eq!(count, 2, "{sessions}");
}

#[test]
fn graphql_rate_limits_auth_failures_and_timeouts_back_off_without_partial_facts() {
    let lab = Lab::new();
    lab.spawn_idle();
    let pr = lab
        .gh
        .open_pr(OWNER, REPO, pr_spec("ao/p-1/root").title("Title 1"));
    lab.wait_session("p-1", "the PR discovered", |s| {
        s["prs"][0]["title"] == "Title 1"
    });
    lab.wait_github_state("ok");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let api = lab.home.api();
    let summary = || {
        let r = rt.block_on(api.get("/api/v1/sessions/p-1/pr"));
        assert_eq!(r.status, 200, "{}", r.text);
        r.body["prs"].clone()
    };
    let title = |s: &Value| s["prs"][0]["title"].as_str().unwrap_or("").to_string();

    // GraphQL RATE_LIMITED (the bucket exhausted until a reset 3 s ahead): backoff, the
    // change waits, then arrives after the reset.
    let before = summary();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    lab.gh
        .set_reset(Resource::Graphql, i64::try_from(now + 3).expect("time"));
    lab.gh.fail_next(
        Route::GraphqlFacts,
        1,
        Fault::GraphqlError {
            error_type: "RATE_LIMITED".into(),
        },
    );
    lab.gh.set_title(&pr, "Title 2");
    lab.wait_github_state("backoff");
    assert_eq!(summary(), before, "facts written during a rate limit");
    assert_eq!(title(&lab.session("p-1")), "Title 1");
    lab.wait_session("p-1", "Title 2 after the reset", |s| title(s) == "Title 2");
    lab.wait_github_state("ok");

    // A 401 on GraphQL: auth_failed, nothing written, retried later with the token resolved
    // again.
    let before = summary();
    lab.gh
        .fail_next(Route::GraphqlFacts, 1, Fault::Unauthorized);
    lab.gh.set_title(&pr, "Title 3");
    lab.wait_github_state("auth_failed");
    assert_eq!(summary(), before, "facts written after a 401");
    assert_eq!(lab.ao(&["status"]).code, 0);
    lab.wait_session("p-1", "Title 3 after the auth retry", |s| {
        title(s) == "Title 3"
    });
    lab.wait_github_state("ok");

    // GraphQL hangs far longer than the client's request timeout (5 s with a 1 s poll
    // interval): the request is abandoned, the daemon keeps answering, and the next poll
    // delivers the change (within LONG, so only the client timeout can have ended the hang).
    let before = summary();
    let faults = lab.gh.stats().graphql_facts.faults;
    lab.gh
        .fail_next(Route::GraphqlFacts, 1, Fault::Hang { ms: 600_000 });
    lab.gh.set_title(&pr, "Title 4");
    wait_for(LONG, "the hanging request", || {
        (lab.gh.stats().graphql_facts.faults > faults).then_some(())
    });
    let status = lab.ao(&["status", "--json"]);
    assert_eq!(status.code, 0, "{}", status.stderr);
    assert_eq!(summary(), before, "facts written while GitHub hangs");
    let s = lab.wait_session("p-1", "Title 4 after the timeout", |s| {
        title(s) == "Title 4"
    });
    assert_eq!(s["isTerminated"], false);
    lab.wait_github_state("ok");
}
