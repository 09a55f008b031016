//! Unit tests of the fake GitHub: each starts a fake and talks to it over loopback with
//! reqwest, the way `ao`'s client does.

use std::fmt::Write as _;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use super::*;

fn client() -> reqwest::Client {
    ao_daemon::install_crypto_provider();
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("build a client")
}

struct Resp {
    status: StatusCode,
    headers: reqwest::header::HeaderMap,
    text: String,
}

impl Resp {
    fn h(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or(Value::Null)
    }

    fn remaining(&self) -> u64 {
        self.h("x-ratelimit-remaining")
            .parse()
            .expect("remaining header")
    }
}

async fn send(rb: reqwest::RequestBuilder) -> Resp {
    let r = rb.send().await.expect("the fake answers");
    let status = r.status();
    let headers = r.headers().clone();
    let text = r.text().await.expect("read the body");
    Resp {
        status,
        headers,
        text,
    }
}

/// Authorised REST GET of `path` (below the API base), optionally conditional.
async fn get(gh: &FakeGithub, path: &str, etag: Option<&str>) -> Resp {
    let mut rb = client()
        .get(format!("{}{path}", gh.api_url()))
        .bearer_auth(gh.token())
        .header("Accept", "application/vnd.github+json")
        .header("X-GitHub-Api-Version", "2022-11-28")
        .header("User-Agent", "ao/test");
    if let Some(e) = etag {
        rb = rb.header("If-None-Match", e);
    }
    send(rb).await
}

async fn gql(gh: &FakeGithub, query: &str) -> Resp {
    send(
        client()
            .post(gh.graphql_url())
            .bearer_auth(gh.token())
            .json(&json!({ "query": query })),
    )
    .await
}

const PR_FIELDS: &str = "number url state isDraft merged closed title additions deletions changedFiles \
    mergeable mergeStateStatus reviewDecision headRefName headRefOid headRepository { nameWithOwner } \
    baseRefName baseRefOid createdAt updatedAt mergedAt closedAt author { login } mergeCommit { oid }";

fn contexts(after: Option<&str>) -> String {
    let after = after.map_or(String::new(), |c| format!(", after: {}", json!(c)));
    format!(
        "commits(last: 1) {{ nodes {{ commit {{ oid statusCheckRollup {{ state contexts(first: 20{after}) {{ \
         pageInfo {{ hasNextPage endCursor }} nodes {{ __typename ... on CheckRun {{ name status conclusion \
         detailsUrl databaseId }} ... on StatusContext {{ context state targetUrl }} }} }} }} }} }} }}"
    )
}

/// The facts batch of the client contract.
fn facts_query(prs: &[(&str, &str, u64)]) -> String {
    let mut q = String::from("query {\n");
    for (i, (o, r, n)) in prs.iter().enumerate() {
        let _ = writeln!(
            q,
            "  pr{i}: repository(owner: {}, name: {}) {{ pullRequest(number: {n}) {{ {PR_FIELDS} {} }} }}",
            json!(o),
            json!(r),
            contexts(None)
        );
    }
    q.push('}');
    q
}

/// The review-thread query of the client contract.
fn threads_query(o: &str, r: &str, n: u64, before: Option<&str>) -> String {
    let before = before.map_or(String::new(), |c| format!(", before: {}", json!(c)));
    format!(
        "query {{ repository(owner: {}, name: {}) {{ pullRequest(number: {n}) {{ reviewThreads(last: 50{before}) {{ \
         pageInfo {{ hasPreviousPage startCursor }} nodes {{ id isResolved path line comments(first: 5) {{ \
         nodes {{ id databaseId body url createdAt author {{ login __typename }} }} }} }} }} }} }} }}",
        json!(o),
        json!(r)
    )
}

#[tokio::test]
async fn repo_guard_etag_gives_304_until_a_push() {
    let gh = FakeGithub::start();
    let pr = gh.open_pr("acme", "widgets", PrSpec::new("ao-1/feat"));
    let guard = "/repos/acme/widgets/pulls?state=open&sort=updated&direction=desc&per_page=1";

    let first = get(&gh, guard, None).await;
    assert_eq!(first.status, StatusCode::OK);
    let etag = first.h("etag").to_string();
    assert!(
        etag.starts_with('"') && etag.ends_with('"'),
        "strong ETag: {etag}"
    );
    let body = first.json();
    assert_eq!(body[0]["number"], 1);
    assert_eq!(body[0]["head"]["ref"], "ao-1/feat");
    assert_eq!(body[0]["html_url"], gh.pr_url(&pr));

    let again = get(&gh, guard, Some(&etag)).await;
    assert_eq!(again.status, StatusCode::NOT_MODIFIED);
    assert_eq!(again.text, "");
    assert_eq!(again.h("etag"), etag);

    gh.push(&pr);
    let fresh = get(&gh, guard, Some(&etag)).await;
    assert_eq!(fresh.status, StatusCode::OK);
    assert_ne!(fresh.h("etag"), etag);
    assert_eq!(fresh.json()[0]["head"]["sha"], gh.pr(&pr).head_sha);

    let s = gh.stats();
    assert_eq!(
        s.repo_guard,
        RouteStats {
            requests: 3,
            not_modified: 1,
            faults: 0
        }
    );
    assert_eq!(s.repo_guard.full(), 2);
}

#[tokio::test]
async fn branch_etag_changes_when_the_base_moves_but_the_pr_does_not() {
    let gh = FakeGithub::start();
    let first = gh.open_pr("acme", "widgets", PrSpec::new("a"));
    let second = gh.open_pr("acme", "widgets", PrSpec::new("b"));
    let main = "/repos/acme/widgets/branches/main";

    let tip = get(&gh, main, None).await;
    assert_eq!(tip.status, StatusCode::OK, "{}", tip.text);
    assert_eq!(tip.json()["name"], "main");
    let etag = tip.h("etag").to_string();
    assert!(etag.starts_with('"'), "strong ETag: {etag}");
    assert_eq!(
        get(&gh, main, Some(&etag)).await.status,
        StatusCode::NOT_MODIFIED
    );

    // #2 is the most recently updated open PR. Merging #1 moves `main` but leaves #2 as it
    // was: the repo guard answers 304, only the branch's ETag shows the move.
    let guard = "/repos/acme/widgets/pulls?state=open&sort=updated&direction=desc&per_page=1";
    gh.touch(&second);
    let listed = get(&gh, guard, None).await;
    let updated_before = gh.pr(&second).updated_at;
    let merge_sha = gh.merge(&first);
    let moved = get(&gh, main, Some(&etag)).await;
    assert_eq!(moved.status, StatusCode::OK);
    assert_eq!(moved.json()["commit"]["sha"], merge_sha.as_str());
    assert_ne!(moved.h("etag"), etag);
    assert_eq!(
        get(&gh, guard, Some(listed.h("etag"))).await.status,
        StatusCode::NOT_MODIFIED
    );
    // Patching mergeability does not bump updated_at either (GitHub recomputes it silently).
    gh.set_mergeable(&second, "CONFLICTING", "DIRTY");
    assert_eq!(gh.pr(&second).updated_at, updated_before);

    // A branch with `/`, raw or encoded, and an unknown branch.
    let sha = gh.push_branch("acme", "widgets", "release/1.x");
    for path in ["release/1.x", "release%2F1.x"] {
        let r = get(&gh, &format!("/repos/acme/widgets/branches/{path}"), None).await;
        assert_eq!(r.status, StatusCode::OK, "{path}: {}", r.text);
        assert_eq!(r.json()["name"], "release/1.x");
        assert_eq!(r.json()["commit"]["sha"], sha.as_str());
    }
    let gone = get(&gh, "/repos/acme/widgets/branches/nope", None).await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
    assert_eq!(gone.json()["message"], "Branch not found");
    let unknown_repo = get(&gh, "/repos/acme/nothing/branches/main", None).await;
    assert_eq!(unknown_repo.status, StatusCode::NOT_FOUND);

    let s = gh.stats();
    assert_eq!(
        s.base_guard,
        RouteStats {
            requests: 7,
            not_modified: 1,
            faults: 0
        }
    );
    assert_eq!(s.other.requests, 0, "all served by the branch route");
}

#[tokio::test]
async fn sort_by_updated_puts_the_last_pushed_pr_first() {
    let gh = FakeGithub::start();
    let a = gh.open_pr("acme", "widgets", PrSpec::new("a"));
    let _b = gh.open_pr("acme", "widgets", PrSpec::new("b"));
    gh.push(&a);
    let r = get(
        &gh,
        "/repos/acme/widgets/pulls?state=open&sort=updated&direction=desc&per_page=1",
        None,
    )
    .await;
    assert_eq!(r.json()[0]["number"], a.number);
    // Default order: newest created first.
    let r = get(
        &gh,
        "/repos/acme/widgets/pulls?state=open&per_page=100",
        None,
    )
    .await;
    let nums: Vec<u64> = r
        .json()
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|p| p["number"].as_u64())
        .collect();
    assert_eq!(nums, vec![2, 1]);
}

#[tokio::test]
async fn discovery_paginates_with_link_next() {
    let gh = FakeGithub::start();
    for i in 0..205 {
        gh.open_pr("acme", "widgets", PrSpec::new(&format!("b{i}")));
    }
    let closed = gh.open_pr("acme", "widgets", PrSpec::new("gone"));
    gh.close(&closed);
    let fork = gh.open_pr(
        "acme",
        "widgets",
        PrSpec::new("feature").fork("someone/widgets"),
    );

    let mut url = format!(
        "{}/repos/acme/widgets/pulls?state=open&per_page=100&page=1",
        gh.api_url()
    );
    let mut seen = Vec::new();
    let mut pages = 0;
    loop {
        let r = send(client().get(&url).bearer_auth(gh.token())).await;
        assert_eq!(r.status, StatusCode::OK);
        pages += 1;
        for p in r.json().as_array().expect("array") {
            seen.push(p["number"].as_u64().expect("number"));
            if p["number"] == fork.number {
                assert_eq!(p["head"]["repo"]["full_name"], "someone/widgets");
                assert_eq!(p["head"]["repo"]["fork"], true);
                assert_eq!(p["base"]["repo"]["full_name"], "acme/widgets");
            }
        }
        let link = r.h("link").to_string();
        if pages == 1 {
            assert!(link.contains("rel=\"last\""), "{link}");
            assert!(link.contains("page=3>; rel=\"last\""), "{link}");
        }
        let next = link
            .split(", ")
            .find(|p| p.ends_with("rel=\"next\""))
            .map(|p| {
                p.trim_start_matches('<')
                    .split('>')
                    .next()
                    .unwrap_or("")
                    .to_string()
            });
        match next {
            Some(n) => url = n,
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(
        seen.len(),
        206,
        "205 + the fork; the closed PR is not listed"
    );
    let mut dedup = seen.clone();
    dedup.sort_unstable();
    dedup.dedup();
    assert_eq!(dedup.len(), seen.len());
    assert!(!seen.contains(&closed.number));
    assert_eq!(gh.stats().discovery.requests, 3);
}

#[tokio::test]
async fn rate_limit_headers_decrement_except_for_304s() {
    let gh = FakeGithub::start();
    gh.open_pr("acme", "widgets", PrSpec::new("x"));
    let guard = "/repos/acme/widgets/pulls?state=open&per_page=1";
    let a = get(&gh, guard, None).await;
    assert_eq!(a.h("x-ratelimit-limit"), "5000");
    assert_eq!(a.h("x-ratelimit-resource"), "core");
    assert_eq!(a.remaining(), 4999);
    assert_eq!(a.h("x-ratelimit-used"), "1");
    let reset: i64 = a.h("x-ratelimit-reset").parse().expect("reset");
    assert!(reset > model::unix_now());
    let b = get(&gh, guard, None).await;
    assert_eq!(b.remaining(), 4998);
    let c = get(&gh, guard, Some(b.h("etag"))).await;
    assert_eq!(c.status, StatusCode::NOT_MODIFIED);
    assert_eq!(c.remaining(), 4998, "304s are free");
    assert_eq!(c.h("x-ratelimit-resource"), "core");

    let g = gql(&gh, "query { viewer { login } }").await;
    assert_eq!(g.h("x-ratelimit-resource"), "graphql");
    assert_eq!(g.remaining(), 4999);
    assert_eq!(g.json()["data"]["viewer"]["login"], "fake-user");
    assert_eq!(gh.rate(Resource::Core).remaining, 4998);
}

#[tokio::test]
async fn exhausted_budget_refuses_until_reset() {
    let gh = FakeGithub::start();
    gh.create_repo("acme", "widgets");
    gh.set_remaining(Resource::Core, 1);
    let ok = get(&gh, "/repos/acme/widgets/pulls", None).await;
    assert_eq!((ok.status, ok.remaining()), (StatusCode::OK, 0));
    let refused = get(&gh, "/repos/acme/widgets/pulls", None).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(refused.remaining(), 0);
    assert!(
        refused.json()["message"]
            .as_str()
            .unwrap_or("")
            .contains("rate limit")
    );

    gh.set_remaining(Resource::Graphql, 0);
    let g = gql(&gh, "query { viewer { login } }").await;
    assert_eq!(g.status, StatusCode::OK);
    assert_eq!(g.json()["errors"][0]["type"], "RATE_LIMITED");

    gh.set_reset(Resource::Core, model::unix_now() - 1);
    let refilled = get(&gh, "/repos/acme/widgets/pulls", None).await;
    assert_eq!(refilled.status, StatusCode::OK);
    assert_eq!(refilled.remaining(), 4999);
}

#[tokio::test]
async fn job_log_redirects_to_a_blob() {
    let gh = FakeGithub::start();
    let pr = gh.open_pr("acme", "widgets", PrSpec::new("x"));
    let sha = gh.set_head_checks(
        &pr,
        vec![
            CheckSpec::run("build")
                .failure()
                .job_id(4242)
                .log("2026-01-01T00:00:00Z error: boom\n"),
            CheckSpec::run("lint").failure(),
            CheckSpec::status_context("ci/ext", "FAILURE").url("https://ci.example/1"),
        ],
    );

    ao_daemon::install_crypto_provider();
    let no_redirect = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let r = send(
        no_redirect
            .get(format!(
                "{}/repos/acme/widgets/actions/jobs/4242/logs",
                gh.api_url()
            ))
            .bearer_auth(gh.token()),
    )
    .await;
    assert_eq!(r.status, StatusCode::FOUND);
    let loc = r.h("location").to_string();
    assert!(
        loc.starts_with(&format!("{}/_blobs/", gh.origin())),
        "{loc}"
    );
    assert_eq!(r.h("x-ratelimit-resource"), "core");
    let blob = send(no_redirect.get(&loc)).await;
    assert_eq!(blob.status, StatusCode::OK);
    assert_eq!(blob.text, "2026-01-01T00:00:00Z error: boom\n");
    assert_eq!(
        blob.h("x-ratelimit-remaining"),
        "",
        "blob storage is not the API"
    );

    // The default client follows the redirect.
    let followed = get(&gh, "/repos/acme/widgets/actions/jobs/4242/logs", None).await;
    assert_eq!(followed.text, "2026-01-01T00:00:00Z error: boom\n");

    // A check without a log (not an Actions job) and an unknown job are 404.
    let runs = get(
        &gh,
        &format!("/repos/acme/widgets/commits/{sha}/check-runs?per_page=100"),
        None,
    )
    .await;
    let body = runs.json();
    assert_eq!(body["total_count"], 2, "status contexts are not check runs");
    let lint = body["check_runs"]
        .as_array()
        .expect("runs")
        .iter()
        .find(|c| c["name"] == "lint")
        .expect("lint run")["id"]
        .as_u64()
        .expect("id");
    let r = get(
        &gh,
        &format!("/repos/acme/widgets/actions/jobs/{lint}/logs"),
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.json()["message"], "Not Found");
    let r = get(&gh, "/repos/acme/widgets/actions/jobs/999999/logs", None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let s = gh.stats();
    assert_eq!(s.job_log.requests, 4);
    assert_eq!(s.log_blob.requests, 2);
}

#[tokio::test]
async fn check_guard_etag_changes_with_the_newest_run() {
    let gh = FakeGithub::start();
    let pr = gh.open_pr("acme", "widgets", PrSpec::new("x"));
    let sha = gh.set_head_checks(&pr, vec![CheckSpec::run("build").in_progress()]);
    let path = format!("/repos/acme/widgets/commits/{sha}/check-runs?per_page=1");
    let a = get(&gh, &path, None).await;
    assert_eq!(a.json()["total_count"], 1);
    assert_eq!(a.json()["check_runs"][0]["status"], "in_progress");
    assert_eq!(
        get(&gh, &path, Some(a.h("etag"))).await.status,
        StatusCode::NOT_MODIFIED
    );
    gh.set_checks(
        "acme",
        "widgets",
        &sha,
        vec![CheckSpec::run("build").failure()],
    );
    let b = get(&gh, &path, Some(a.h("etag"))).await;
    assert_eq!(b.status, StatusCode::OK);
    assert_eq!(b.json()["check_runs"][0]["conclusion"], "failure");
    assert_eq!(
        b.json()["check_runs"][0]["id"],
        a.json()["check_runs"][0]["id"],
        "same run, new status"
    );
    let unknown = get(
        &gh,
        "/repos/acme/widgets/commits/0000000000000000000000000000000000000000/check-runs",
        None,
    )
    .await;
    assert_eq!(unknown.status, StatusCode::UNPROCESSABLE_ENTITY);
    let s = gh.stats().check_guard;
    assert_eq!((s.requests, s.not_modified), (4, 1));
}

#[tokio::test]
async fn graphql_batch_with_an_unknown_pr_reports_not_found_by_alias() {
    let gh = FakeGithub::start();
    let a = gh.open_pr(
        "acme",
        "widgets",
        PrSpec::new("ao-1/x").title("First").author("alice"),
    );
    let b = gh.open_pr("acme", "widgets", PrSpec::new("ao-2/y").draft(true));
    let checks: Vec<CheckSpec> = (0..23)
        .map(|i| CheckSpec::run(&format!("job{i:02}")).success())
        .chain([
            CheckSpec::run("flaky").failure(),
            CheckSpec::status_context("ci/ext", "PENDING"),
        ])
        .collect();
    let sha = gh.set_head_checks(&a, checks);
    gh.set_review_decision(&b, Some("CHANGES_REQUESTED"));
    gh.set_mergeable(&a, "CONFLICTING", "DIRTY");

    let query = facts_query(&[
        ("acme", "widgets", a.number),
        ("acme", "widgets", 99),
        ("acme", "widgets", b.number),
    ]);
    let resp = gql(&gh, &query).await;
    assert_eq!(resp.status, StatusCode::OK);
    let v = resp.json();
    let pr0 = &v["data"]["pr0"]["pullRequest"];
    assert_eq!(pr0["number"], a.number);
    assert_eq!(pr0["url"], gh.pr_url(&a));
    assert_eq!(pr0["state"], "OPEN");
    assert_eq!(pr0["title"], "First");
    assert_eq!(pr0["author"]["login"], "alice");
    assert_eq!(pr0["headRefOid"], sha);
    assert_eq!(pr0["headRepository"]["nameWithOwner"], "acme/widgets");
    assert_eq!(pr0["mergeable"], "CONFLICTING");
    assert_eq!(pr0["mergeStateStatus"], "DIRTY");
    assert_eq!(pr0["reviewDecision"], Value::Null);
    assert_eq!(pr0["mergeCommit"], Value::Null);
    let commit = &pr0["commits"]["nodes"][0]["commit"];
    assert_eq!(commit["oid"], sha);
    let rollup = &commit["statusCheckRollup"];
    assert_eq!(rollup["state"], "FAILURE");
    assert_eq!(
        rollup["contexts"]["nodes"].as_array().map(Vec::len),
        Some(20)
    );
    assert_eq!(rollup["contexts"]["nodes"][0]["__typename"], "CheckRun");
    assert_eq!(rollup["contexts"]["nodes"][0]["name"], "job00");
    assert!(rollup["contexts"]["nodes"][0]["databaseId"].is_u64());
    assert!(
        rollup["contexts"]["nodes"][0].get("context").is_none(),
        "fragment on the other type"
    );
    assert_eq!(rollup["contexts"]["pageInfo"]["hasNextPage"], true);
    let cursor = rollup["contexts"]["pageInfo"]["endCursor"]
        .as_str()
        .expect("cursor")
        .to_string();

    assert_eq!(v["data"]["pr1"], json!({"pullRequest": null}));
    let errors = v["errors"].as_array().expect("errors");
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0]["type"], "NOT_FOUND");
    assert_eq!(errors[0]["path"], json!(["pr1", "pullRequest"]));
    assert!(errors[0]["message"].as_str().unwrap_or("").contains("99"));

    let pr2 = &v["data"]["pr2"]["pullRequest"];
    assert_eq!(pr2["isDraft"], true);
    assert_eq!(pr2["mergeStateStatus"], "DRAFT");
    assert_eq!(pr2["reviewDecision"], "CHANGES_REQUESTED");
    assert_eq!(
        pr2["commits"]["nodes"][0]["commit"]["statusCheckRollup"],
        Value::Null
    );

    // The next context page.
    let query = format!(
        "query {{ pr0: repository(owner: \"acme\", name: \"widgets\") {{ pullRequest(number: {}) {{ {} }} }} }}",
        a.number,
        contexts(Some(&cursor))
    );
    let v = gql(&gh, &query).await.json();
    let ctx = &v["data"]["pr0"]["pullRequest"]["commits"]["nodes"][0]["commit"]["statusCheckRollup"]
        ["contexts"];
    let nodes = ctx["nodes"].as_array().expect("nodes");
    assert_eq!(nodes.len(), 5);
    assert_eq!(nodes[3]["name"], "flaky");
    assert_eq!(nodes[3]["conclusion"], "FAILURE");
    assert_eq!(
        nodes[4],
        json!({"__typename": "StatusContext", "context": "ci/ext", "state": "PENDING", "targetUrl": null})
    );
    assert_eq!(ctx["pageInfo"]["hasNextPage"], false);

    // An unknown repository nulls the alias itself.
    let v = gql(&gh, &facts_query(&[("acme", "nope", 1)])).await.json();
    assert_eq!(v["data"]["pr0"], Value::Null);
    assert_eq!(v["errors"][0]["path"], json!(["pr0"]));
    assert_eq!(v["errors"][0]["type"], "NOT_FOUND");

    let s = gh.stats();
    assert_eq!(s.graphql_facts.requests, 3);
    assert_eq!(s.pr_aliases, 5);
    assert_eq!(s.max_batch, 3);
}

#[tokio::test]
async fn merged_and_closed_prs_and_forks_in_graphql() {
    let gh = FakeGithub::start();
    let m = gh.open_pr("acme", "widgets", PrSpec::new("m"));
    let c = gh.open_pr("acme", "widgets", PrSpec::new("c"));
    let f = gh.open_pr("acme", "widgets", PrSpec::new("f").fork("someone/widgets"));
    let merge_sha = gh.merge(&m);
    gh.close(&c);
    let v = gql(
        &gh,
        &facts_query(&[
            ("acme", "widgets", m.number),
            ("acme", "widgets", c.number),
            ("acme", "widgets", f.number),
        ]),
    )
    .await
    .json();
    let pm = &v["data"]["pr0"]["pullRequest"];
    assert_eq!(
        (
            pm["state"].as_str(),
            pm["merged"].as_bool(),
            pm["closed"].as_bool()
        ),
        (Some("MERGED"), Some(true), Some(true))
    );
    assert_eq!(pm["mergeCommit"]["oid"], merge_sha);
    assert!(pm["mergedAt"].is_string());
    let pc = &v["data"]["pr1"]["pullRequest"];
    assert_eq!(
        (
            pc["state"].as_str(),
            pc["merged"].as_bool(),
            pc["closed"].as_bool()
        ),
        (Some("CLOSED"), Some(false), Some(true))
    );
    assert_eq!(pc["mergedAt"], Value::Null);
    assert_eq!(
        v["data"]["pr2"]["pullRequest"]["headRepository"]["nameWithOwner"],
        "someone/widgets"
    );
    assert!(v.get("errors").is_none());
}

#[tokio::test]
async fn review_threads_page_backwards_from_the_newest() {
    let gh = FakeGithub::start();
    let pr = gh.open_pr("acme", "widgets", PrSpec::new("x"));
    let mut ids = Vec::new();
    for i in 0..60 {
        let first = if i % 2 == 0 {
            CommentSpec::user("alice", &format!("fix {i}"))
        } else {
            CommentSpec::bot("coderabbitai[bot]", &format!("nit {i}"))
        };
        let mut spec = ThreadSpec::new("src/lib.rs", Some(i + 1), first);
        for k in 0..6 {
            spec = spec.reply(CommentSpec::user("bob", &format!("reply {k}")));
        }
        ids.push(gh.add_thread(&pr, spec));
    }
    gh.resolve_thread(&pr, &ids[59].thread_id, true);

    let v = gql(&gh, &threads_query("acme", "widgets", pr.number, None))
        .await
        .json();
    let rt = &v["data"]["repository"]["pullRequest"]["reviewThreads"];
    let nodes = rt["nodes"].as_array().expect("nodes");
    assert_eq!(nodes.len(), 50);
    assert_eq!(
        nodes[0]["id"],
        ids[10].thread_id.as_str(),
        "the newest 50, oldest first"
    );
    assert_eq!(nodes[49]["isResolved"], true);
    assert_eq!(nodes[49]["line"], 60);
    assert_eq!(nodes[0]["path"], "src/lib.rs");
    assert_eq!(rt["pageInfo"]["hasPreviousPage"], true);
    let comments = nodes[0]["comments"]["nodes"].as_array().expect("comments");
    assert_eq!(comments.len(), 5, "first 5 comments only");
    assert_eq!(
        comments[0]["author"],
        json!({"login": "alice", "__typename": "User"})
    );
    assert_eq!(comments[0]["id"], ids[10].comment_ids[0].as_str());
    assert_eq!(comments[0]["databaseId"], ids[10].comment_database_ids[0]);
    assert_eq!(
        comments[0]["url"],
        format!(
            "{}#discussion_r{}",
            gh.pr_url(&pr),
            ids[10].comment_database_ids[0]
        )
    );
    let bot = &nodes[1]["comments"]["nodes"][0]["author"];
    assert_eq!(*bot, json!({"login": "coderabbitai", "__typename": "Bot"}));

    let start = rt["pageInfo"]["startCursor"].as_str().expect("cursor");
    let v = gql(
        &gh,
        &threads_query("acme", "widgets", pr.number, Some(start)),
    )
    .await
    .json();
    let rt = &v["data"]["repository"]["pullRequest"]["reviewThreads"];
    let older = rt["nodes"].as_array().expect("nodes");
    assert_eq!(older.len(), 10);
    assert_eq!(older[0]["id"], ids[0].thread_id.as_str());
    assert_eq!(older[9]["id"], ids[9].thread_id.as_str());
    assert_eq!(rt["pageInfo"]["hasPreviousPage"], false);
    assert_eq!(gh.stats().graphql_threads.requests, 2);
    assert_eq!(gh.stats().graphql_facts.requests, 0);
}

#[tokio::test]
async fn graphql_validation_and_pagination_errors_like_github() {
    let gh = FakeGithub::start();
    gh.open_pr("acme", "widgets", PrSpec::new("x"));
    let v = gql(&gh, "query { repository(owner: \"acme\", name: \"widgets\") { pullRequest(number: 1) { nope } } }")
        .await
        .json();
    assert!(
        v.get("data").is_none(),
        "validation errors come without data: {v}"
    );
    assert_eq!(v["errors"][0]["extensions"]["code"], "undefinedField");
    assert_eq!(
        v["errors"][0]["message"],
        "Field 'nope' doesn't exist on type 'PullRequest'"
    );

    let v = gql(&gh, "query { repository(owner: \"acme\") { name } }")
        .await
        .json();
    assert_eq!(
        v["errors"][0]["extensions"]["code"],
        "missingRequiredArguments"
    );
    let v = gql(&gh, "query { repository(owner: \"acme\", name: \"widgets\") { pullRequest(number: \"1\") { number } } }")
        .await
        .json();
    assert_eq!(
        v["errors"][0]["extensions"]["code"],
        "argumentLiteralsIncompatible"
    );
    let v = gql(
        &gh,
        "query { repository(owner: \"acme\", name: \"widgets\") { owner } }",
    )
    .await
    .json();
    assert_eq!(v["errors"][0]["extensions"]["code"], "selectionMismatch");

    let v = gql(
        &gh,
        "query { repository(owner: \"acme\", name: \"widgets\") { pullRequest(number: 1) { reviewThreads { totalCount } } } }",
    )
    .await
    .json();
    assert_eq!(v["errors"][0]["type"], "MISSING_PAGINATION_BOUNDARIES");
    assert_eq!(
        v["errors"][0]["path"],
        json!(["repository", "pullRequest", "reviewThreads"])
    );
    assert_eq!(
        v["data"]["repository"]["pullRequest"]["reviewThreads"],
        Value::Null
    );
    let v = gql(
        &gh,
        "query { repository(owner: \"acme\", name: \"widgets\") { pullRequest(number: 1) { reviewThreads(last: 101) { totalCount } } } }",
    )
    .await
    .json();
    assert_eq!(v["errors"][0]["type"], "EXCESSIVE_PAGINATION");
    let v = gql(
        &gh,
        "query { repository(owner: \"acme\", name: \"widgets\") { pullRequest(number: 1) { reviewThreads(last: 5, before: \"zzz\") { totalCount } } } }",
    )
    .await
    .json();
    assert_eq!(v["errors"][0]["type"], "INVALID_CURSOR_ARGUMENTS");

    let v = gql(&gh, "query { repository(owner: \"acme\" {")
        .await
        .json();
    assert!(
        v["errors"][0]["message"]
            .as_str()
            .unwrap_or("")
            .starts_with("Parse error"),
        "{v}"
    );

    // Variables work too.
    let r = send(client().post(gh.graphql_url()).bearer_auth(gh.token()).json(&json!({
        "query": "query($o: String!, $n: Int!) { repository(owner: $o, name: \"widgets\") { pullRequest(number: $n) { number } } }",
        "variables": {"o": "acme", "n": 1}
    })))
    .await;
    assert_eq!(r.json()["data"]["repository"]["pullRequest"]["number"], 1);

    let r = send(
        client()
            .post(gh.graphql_url())
            .bearer_auth(gh.token())
            .body("{not json"),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn scripted_faults_then_recovery() {
    let gh = FakeGithub::start();
    gh.open_pr("acme", "widgets", PrSpec::new("x"));
    let path = "/repos/acme/widgets/pulls?state=open&per_page=100";
    gh.fail_next(Route::Discovery, 2, Fault::ServerError);
    gh.fail_next(
        Route::Discovery,
        1,
        Fault::RateLimited {
            retry_after: Some(30),
        },
    );
    gh.fail_next(
        Route::Discovery,
        1,
        Fault::RateLimited { retry_after: None },
    );
    gh.fail_next(
        Route::Discovery,
        1,
        Fault::TooManyRequests {
            retry_after: Some(7),
        },
    );
    gh.fail_next(Route::Discovery, 1, Fault::Unauthorized);
    gh.fail_next(Route::Discovery, 1, Fault::MalformedJson);

    for _ in 0..2 {
        let r = get(&gh, path, None).await;
        assert_eq!(r.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(r.h("x-ratelimit-remaining").parse::<u64>().is_ok());
    }
    let r = get(&gh, path, None).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(r.h("retry-after"), "30");
    assert!(
        r.json()["message"]
            .as_str()
            .unwrap_or("")
            .contains("secondary rate limit")
    );
    assert_ne!(r.remaining(), 0);
    let r = get(&gh, path, None).await;
    assert_eq!((r.status, r.remaining()), (StatusCode::FORBIDDEN, 0));
    let r = get(&gh, path, None).await;
    assert_eq!(
        (r.status, r.h("retry-after")),
        (StatusCode::TOO_MANY_REQUESTS, "7")
    );
    let r = get(&gh, path, None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r = get(&gh, path, None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(
        serde_json::from_str::<Value>(&r.text).is_err(),
        "malformed body"
    );
    let r = get(&gh, path, None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()[0]["number"], 1);
    // Other routes were never affected.
    assert_eq!(get(&gh, "/user", None).await.status, StatusCode::OK);
    let s = gh.stats().discovery;
    assert_eq!((s.requests, s.faults), (8, 7));

    // GraphQL-level errors and hangs.
    gh.fail_next(
        Route::GraphqlFacts,
        1,
        Fault::GraphqlError {
            error_type: "RATE_LIMITED".into(),
        },
    );
    let v = gql(&gh, "query { viewer { login } }").await;
    assert_eq!(v.json()["errors"][0]["type"], "RATE_LIMITED");
    assert_eq!(v.remaining(), 0);
    gh.fail_next(Route::GraphqlThreads, 1, Fault::Hang { ms: 30_000 });
    ao_daemon::install_crypto_provider();
    let quick = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_millis(300))
        .build()
        .expect("client");
    let err = quick
        .post(gh.graphql_url())
        .bearer_auth(gh.token())
        .json(&json!({"query": threads_query("acme", "widgets", 1, None)}))
        .send()
        .await
        .expect_err("the request hangs past the client timeout");
    assert!(err.is_timeout(), "{err}");
    let v = gql(&gh, &threads_query("acme", "widgets", 1, None)).await;
    assert_eq!(v.status, StatusCode::OK);
    assert_eq!(
        v.json()["data"]["repository"]["pullRequest"]["reviewThreads"]["nodes"],
        json!([])
    );
}

#[tokio::test]
async fn auth_is_required_and_checked() {
    let gh = FakeGithub::start();
    gh.create_repo("acme", "widgets");
    let r = send(client().get(format!("{}/repos/acme/widgets/pulls", gh.api_url()))).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.json()["message"], "Requires authentication");
    assert_eq!(r.remaining(), 5000, "401s are free");
    let r = send(
        client()
            .get(format!("{}/user", gh.api_url()))
            .bearer_auth("ghp_wrong"),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.json()["message"], "Bad credentials");
    let r = send(
        client()
            .post(gh.graphql_url())
            .json(&json!({"query": "{ viewer { login } }"})),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.h("x-ratelimit-resource"), "graphql");

    let r = send(
        client()
            .get(format!("{}/user", gh.api_url()))
            .header("Authorization", format!("token {}", gh.token())),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()["login"], "fake-user");
    assert_eq!(r.h("x-oauth-scopes"), "repo, read:org");

    let old = gh.token();
    gh.set_token("ghp_rotated");
    assert_eq!(
        send(
            client()
                .get(format!("{}/user", gh.api_url()))
                .bearer_auth(&old)
        )
        .await
        .status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(gh.stats().unauthorized, 4);
    assert_eq!(gh.stats().user.requests, 3);

    let log = gh.requests();
    assert!(
        log.iter()
            .all(|r| !r.headers.values().any(|v| v.contains("ghp_"))),
        "tokens are redacted"
    );
    assert_eq!(
        log[3].headers.get("authorization").map(String::as_str),
        Some("token")
    );
    let unknown = get(&gh, "/repos/acme/nope/pulls", None).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND, "the new token works");
    assert_eq!(unknown.json()["message"], "Not Found");
}

#[tokio::test]
async fn stats_count_per_route_and_reset() {
    let gh = FakeGithub::start();
    let pr = gh.open_pr("acme", "widgets", PrSpec::new("x"));
    let sha = gh.pr(&pr).head_sha;
    let g = get(
        &gh,
        "/repos/acme/widgets/pulls?state=open&sort=updated&direction=desc&per_page=1",
        None,
    )
    .await;
    get(
        &gh,
        "/repos/acme/widgets/pulls?state=open&sort=updated&direction=desc&per_page=1",
        Some(g.h("etag")),
    )
    .await;
    get(
        &gh,
        "/repos/acme/widgets/pulls?state=open&per_page=100&page=1",
        None,
    )
    .await;
    get(
        &gh,
        &format!("/repos/acme/widgets/commits/{sha}/check-runs?per_page=1"),
        None,
    )
    .await;
    get(&gh, "/user", None).await;
    get(&gh, "/nonexistent", None).await;
    gql(
        &gh,
        &facts_query(&[("acme", "widgets", 1), ("acme", "widgets", 1)]),
    )
    .await;
    gql(&gh, &threads_query("acme", "widgets", 1, None)).await;

    let s = gh.stats();
    assert_eq!(
        s.repo_guard,
        RouteStats {
            requests: 2,
            not_modified: 1,
            faults: 0
        }
    );
    assert_eq!(s.discovery.requests, 1);
    assert_eq!(s.check_guard.requests, 1);
    assert_eq!(s.user.requests, 1);
    assert_eq!(s.other.requests, 1);
    assert_eq!(s.graphql_facts.requests, 1);
    assert_eq!(s.graphql_threads.requests, 1);
    assert_eq!(s.pr_aliases, 2);
    assert_eq!(s.total_requests(), 8);

    let over_http = send(client().get(format!("{}/_control/stats", gh.origin())))
        .await
        .json();
    let over_http: Stats = serde_json::from_value(over_http).expect("stats JSON");
    assert_eq!(over_http, s, "control calls are not counted");

    gh.reset_stats();
    assert_eq!(gh.stats(), Stats::default());
    let r = gh.requests();
    assert_eq!(r.len(), 8);
    assert_eq!(r[0].route, Route::RepoGuard);
    assert_eq!(
        r[0].headers.get("user-agent").map(String::as_str),
        Some("ao/test")
    );
    assert_eq!(r[1].status, 304);
    assert!(
        r[6].query
            .as_deref()
            .unwrap_or("")
            .contains("pr1: repository")
    );
}

#[tokio::test]
async fn control_routes_drive_the_same_state() {
    let gh = FakeGithub::start();
    let ctl = format!("{}/_control", gh.origin());
    let http = client();
    let pr: PrRef = serde_json::from_str(
        &send(
            http.post(format!("{ctl}/repos/acme/widgets/pulls"))
                .json(&json!({"headRef": "ao-7/x", "title": "T", "draft": true})),
        )
        .await
        .text,
    )
    .expect("PrRef");
    assert_eq!(pr.number, 1);
    let sha = send(
        http.post(format!("{ctl}/repos/acme/widgets/pulls/1/push"))
            .json(&json!({})),
    )
    .await
    .json()["sha"]
        .as_str()
        .expect("sha")
        .to_string();
    assert_eq!(gh.pr(&pr).head_sha, sha);
    let resp = send(
        http.put(format!("{ctl}/repos/acme/widgets/commits/{sha}/checks"))
            .json(&json!([{"name": "build", "status": "COMPLETED", "conclusion": "FAILURE", "log": "boom"}])),
    )
    .await;
    assert_eq!(resp.status, StatusCode::OK, "{}", resp.text);
    let ids: ThreadIds = serde_json::from_str(
        &send(
            http.post(format!("{ctl}/repos/acme/widgets/pulls/1/threads"))
                .json(&json!({
                    "path": "a.rs", "line": 3, "comments": [{"author": "alice", "body": "fix"}]
                })),
        )
        .await
        .text,
    )
    .expect("ThreadIds");
    send(
        http.post(format!(
            "{ctl}/repos/acme/widgets/pulls/1/threads/{}/resolve",
            ids.thread_id
        ))
        .json(&json!({"resolved": true})),
    )
    .await;
    let patched = send(
        http.patch(format!("{ctl}/repos/acme/widgets/pulls/1"))
            .json(&json!({"reviewDecision": "APPROVED", "draft": false})),
    )
    .await
    .json();
    assert_eq!(patched["reviewDecision"], "APPROVED");
    assert_eq!(patched["mergeStateStatus"], "CLEAN");
    send(
        http.post(format!("{ctl}/faults"))
            .json(&json!({"route": "user", "count": 1, "fault": {"kind": "server_error"}})),
    )
    .await;
    assert_eq!(
        get(&gh, "/user", None).await.status,
        StatusCode::INTERNAL_SERVER_ERROR
    );
    let bucket = send(
        http.put(format!("{ctl}/rate/graphql"))
            .json(&json!({"remaining": 42, "resetIn": 60})),
    )
    .await
    .json();
    assert_eq!(bucket["remaining"], 42);
    let missing = send(http.post(format!("{ctl}/repos/acme/widgets/pulls/9/merge"))).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);

    let pull = gh.pr(&pr);
    assert!(pull.threads[0].resolved);
    assert_eq!(pull.review_decision.as_deref(), Some("APPROVED"));
    assert!(!pull.draft);
    assert_eq!(gh.rate(Resource::Graphql).remaining, 42);
    let v = gql(&gh, &facts_query(&[("acme", "widgets", 1)]))
        .await
        .json();
    assert_eq!(
        v["data"]["pr0"]["pullRequest"]["commits"]["nodes"][0]["commit"]["statusCheckRollup"]["state"],
        "FAILURE"
    );
}

#[tokio::test]
async fn hostile_input_gets_errors_not_crashes() {
    let gh = FakeGithub::start();
    gh.open_pr("acme", "widgets", PrSpec::new("x"));
    let r = get(
        &gh,
        "/repos/acme/widgets/pulls?page=18446744073709551615&per_page=0",
        None,
    )
    .await;
    assert_eq!((r.status, r.json()), (StatusCode::OK, json!([])));
    let r = get(&gh, "/repos/acme/widgets/pulls?state=weird", None).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    for q in [
        "",
        "{",
        "query { repository(owner: \"acme\", name: \"widgets\") { pullRequest(number: 99999999999999999999) { number } } }",
        "query { repository(owner: \"acme\", name: \"widgets\") { pullRequest(number: -1) { number } } }",
        "query { repository(owner: \"\\u12\", name: \"x\") { name } }",
        "fragment F on PullRequest { repository { pullRequest(number: 1) { ...F } } } query { repository(owner: \"acme\", name: \"widgets\") { pullRequest(number: 1) { ...F } } }",
        "query { repository(owner: \"acme\", name: \"widgets\") { ... on PullRequest { number } } }",
        "query { repository(owner: \"acme\", name: \"widgets\") { pullRequest(number: 1) { reviewThreads(last: 5, before: \"636f72736f723a76323a3138343436373434303733373039353531363135\") { totalCount nodes { id } } } } }",
        "mutation { addComment(input: {}) { clientMutationId } }",
        "query A { viewer { login } } query B { viewer { login } }",
    ] {
        let r = gql(&gh, q).await;
        assert!(r.status.is_success(), "{q}: {}", r.status);
        let v = r.json();
        assert!(
            v.get("errors").is_some() || v.get("data").is_some(),
            "{q}: {v}"
        );
    }
    let v = gql(&gh, "query { repository(owner: \"acme\", name: \"widgets\") { pullRequest(number: -1) { number } } }")
        .await
        .json();
    assert_eq!(v["errors"][0]["type"], "NOT_FOUND");
    // The server still answers.
    assert_eq!(get(&gh, "/user", None).await.status, StatusCode::OK);
}

#[tokio::test]
async fn a_merge_below_the_newest_open_pr_leaves_the_repo_guard_unchanged() {
    // Faithful to GitHub: the guard lists open PRs only, so a merged PR that was not the most
    // recently updated open one does not change the first page.
    let gh = FakeGithub::start();
    let a = gh.open_pr("acme", "widgets", PrSpec::new("a"));
    let b = gh.open_pr("acme", "widgets", PrSpec::new("b"));
    gh.push(&a);
    let guard = "/repos/acme/widgets/pulls?state=open&sort=updated&direction=desc&per_page=1";
    let first = get(&gh, guard, None).await;
    gh.merge(&b);
    assert_eq!(
        get(&gh, guard, Some(first.h("etag"))).await.status,
        StatusCode::NOT_MODIFIED
    );
    gh.merge(&a);
    assert_eq!(
        get(&gh, guard, Some(first.h("etag"))).await.status,
        StatusCode::OK
    );
}
