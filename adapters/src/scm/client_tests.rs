//! `GithubClient` against a tiny axum server on 127.0.0.1: headers, the error-class matrix,
//! rate headers (304 included), pagination, GraphQL batching/aliases/paging, review-thread
//! windows, job logs, and that the token never leaks.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::{Value, json};

use super::*;

const TOKEN: &str = "ghp_TESTSECRET123";

/// One request as the server saw it.
#[derive(Debug, Clone)]
struct Seen {
    base: String,
    method: String,
    /// Path and query.
    uri: String,
    headers: HeaderMap,
    body: String,
}

impl Seen {
    fn query(&self) -> String {
        serde_json::from_str::<Value>(&self.body)
            .ok()
            .and_then(|v| v["query"].as_str().map(str::to_string))
            .unwrap_or_default()
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

#[derive(Debug, Clone, Default)]
struct Reply {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: String,
    delay: Option<Duration>,
}

fn reply(status: u16, body: impl Into<String>) -> Reply {
    Reply {
        status,
        body: body.into(),
        ..Reply::default()
    }
}

fn json_reply(v: &Value) -> Reply {
    reply(200, v.to_string())
}

impl Reply {
    fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    fn rate(self, resource: &str, remaining: u64) -> Self {
        self.header("x-ratelimit-limit", "5000")
            .header("x-ratelimit-remaining", remaining.to_string())
            .header("x-ratelimit-used", (5000 - remaining).to_string())
            .header("x-ratelimit-reset", "1700000000")
            .header("x-ratelimit-resource", resource)
    }
}

type Responder = Arc<dyn Fn(&Seen) -> Reply + Send + Sync>;

struct Srv {
    base: String,
    seen: Mutex<Vec<Seen>>,
    responder: Responder,
}

struct Server {
    state: Arc<Srv>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Server {
    fn base(&self) -> &str {
        &self.state.base
    }

    fn seen(&self) -> Vec<Seen> {
        self.state.seen.lock().expect("lock").clone()
    }
}

async fn handle(State(srv): State<Arc<Srv>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let body = axum::body::to_bytes(body, 1 << 20)
        .await
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    let seen = Seen {
        base: srv.base.clone(),
        method: parts.method.to_string(),
        uri: parts
            .uri
            .path_and_query()
            .map(ToString::to_string)
            .unwrap_or_default(),
        headers: parts.headers,
        body,
    };
    srv.seen.lock().expect("lock").push(seen.clone());
    let r = (srv.responder)(&seen);
    if let Some(d) = r.delay {
        tokio::time::sleep(d).await;
    }
    let mut resp = Response::builder().status(StatusCode::from_u16(r.status).expect("status"));
    for (k, v) in &r.headers {
        resp = resp.header(*k, v);
    }
    resp.body(Body::from(r.body)).expect("response")
}

async fn serve(responder: impl Fn(&Seen) -> Reply + Send + Sync + 'static) -> Server {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let state = Arc::new(Srv {
        base,
        seen: Mutex::new(Vec::new()),
        responder: Arc::new(responder),
    });
    let app = Router::new().fallback(handle).with_state(state.clone());
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Server { state, task }
}

type Sunk = Arc<Mutex<Vec<RateSnapshot>>>;

fn client_with(server: &Server, tokens: TokenProvider, timeout: Duration) -> (GithubClient, Sunk) {
    let sunk: Sunk = Arc::default();
    let sink = sunk.clone();
    let options = ClientOptions {
        connect_timeout: Duration::from_secs(5),
        timeout,
        rate_sink: Some(Arc::new(move |s| sink.lock().expect("lock").push(s))),
    };
    let config = ScmConfig::for_base(server.base()).expect("config");
    let client = GithubClient::new(config, Arc::new(tokens), options).expect("client");
    (client, sunk)
}

/// `X-RateLimit-Remaining` of every response the sink saw, in order.
fn remaining(sunk: &Sunk) -> Vec<u64> {
    sunk.lock()
        .expect("lock")
        .iter()
        .map(|s| s.remaining)
        .collect()
}

fn client(server: &Server) -> (GithubClient, Sunk) {
    client_with(server, TokenProvider::fixed(TOKEN), Duration::from_secs(10))
}

fn repo() -> RepoRef {
    RepoRef::new("acme", "app").expect("valid")
}

#[tokio::test]
async fn sends_the_contract_headers_and_reads_identity() {
    let server = serve(|_| {
        json_reply(&json!({"login": "octocat"}))
            .header("x-oauth-scopes", "repo, read:org")
            .rate("core", 4999)
    })
    .await;
    let (c, sunk) = client(&server);
    let me = c.user().await.expect("user");
    assert_eq!(me.login, "octocat");
    assert_eq!(me.scopes, ["repo", "read:org"]);
    assert_eq!(me.rate.as_ref().map(|r| r.remaining), Some(4999));
    let seen = server.seen();
    assert_eq!(seen.len(), 1);
    let s = &seen[0];
    assert_eq!((s.method.as_str(), s.uri.as_str()), ("GET", "/user"));
    assert_eq!(
        s.header("authorization"),
        Some(format!("Bearer {TOKEN}").as_str())
    );
    assert_eq!(s.header("accept"), Some("application/vnd.github+json"));
    assert_eq!(s.header("x-github-api-version"), Some("2022-11-28"));
    assert_eq!(
        s.header("user-agent"),
        Some(concat!("ao/", env!("CARGO_PKG_VERSION")))
    );
    assert_eq!(sunk.lock().expect("lock").len(), 1);
}

#[tokio::test]
async fn status_codes_map_to_error_classes() {
    let server = serve(|s| {
        let code: u16 = s
            .uri
            .trim_start_matches("/repos/acme/")
            .split('/')
            .next()
            .and_then(|c| c.parse().ok())
            .unwrap_or(500);
        match s.uri.rsplit('/').nth(1) {
            Some("ratelimited") => reply(403, r#"{"message":"API rate limit exceeded"}"#)
                .header("x-ratelimit-limit", "60")
                .header("x-ratelimit-remaining", "0")
                .header("x-ratelimit-reset", "1700000000"),
            Some("retry") => reply(403, "{}").header("retry-after", "30"),
            Some("secondary") => reply(
                403,
                r#"{"message":"You have exceeded a secondary rate limit."}"#,
            ),
            Some("plain") => reply(403, r#"{"message":"Resource not accessible"}"#),
            Some("malformed") => reply(200, "{not json"),
            Some("slow") => Reply {
                delay: Some(Duration::from_secs(5)),
                ..json_reply(&json!({}))
            },
            _ => reply(code, r#"{"message":"boom"}"#),
        }
    })
    .await;
    let (c, _) = client_with(
        &server,
        TokenProvider::fixed(TOKEN),
        Duration::from_millis(500),
    );
    let get = |r: &str| {
        let c = c.clone();
        let repo = RepoRef::new("acme", r).expect("valid");
        async move { c.repo_guard(&repo, None).await }
    };
    // The path is /repos/acme/<name>/pulls; <name> picks the behaviour.
    assert_eq!(get("404").await, Err(ScmError::NotFound));
    assert!(matches!(
        get("401").await,
        Err(ScmError::AuthFailed { status: 401, .. })
    ));
    assert_eq!(
        get("ratelimited").await,
        Err(ScmError::RateLimited {
            retry_after: None,
            reset_at: chrono::DateTime::from_timestamp(1_700_000_000, 0),
        })
    );
    assert_eq!(
        get("retry").await,
        Err(ScmError::RateLimited {
            retry_after: Some(Duration::from_secs(30)),
            reset_at: None,
        })
    );
    assert!(matches!(
        get("secondary").await,
        Err(ScmError::RateLimited { .. })
    ));
    assert!(matches!(
        get("plain").await,
        Err(ScmError::AuthFailed { status: 403, .. })
    ));
    assert!(matches!(
        get("429").await,
        Err(ScmError::RateLimited { .. })
    ));
    for code in ["500", "502", "503"] {
        assert!(
            matches!(get(code).await, Err(ScmError::Transient(_))),
            "{code}"
        );
    }
    assert!(matches!(
        get("malformed").await,
        Err(ScmError::Malformed(_))
    ));
    match get("slow").await {
        Err(ScmError::Transient(m)) => assert!(m.contains("timed out"), "{m}"),
        other => panic!("expected a timeout, got {other:?}"),
    }
}

#[tokio::test]
async fn unreachable_server_is_transient() {
    // Bind and drop a listener to get a port nobody listens on.
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr");
    let config = ScmConfig::for_base(&format!("http://{addr}")).expect("config");
    let c = GithubClient::new(
        config,
        Arc::new(TokenProvider::fixed(TOKEN)),
        ClientOptions::default(),
    )
    .expect("client");
    assert!(matches!(c.user().await, Err(ScmError::Transient(_))));
}

#[tokio::test]
async fn auth_failure_invalidates_the_token_and_never_leaks_it() {
    let server = serve(|s| {
        // A hostile server echoing the credentials must not make them leak into errors.
        reply(
            401,
            json!({"message": format!("Bad credentials {}", s.header("authorization").unwrap_or(""))})
                .to_string(),
        )
    })
    .await;
    let lookups = Arc::new(AtomicUsize::new(0));
    let counter = lookups.clone();
    let tokens = TokenProvider::with_lookup("github.com", move |k| {
        (k == "AO_GITHUB_TOKEN").then(|| {
            counter.fetch_add(1, Ordering::SeqCst);
            TOKEN.to_string()
        })
    })
    .gh_program("/nonexistent/gh");
    let (c, _) = client_with(&server, tokens, Duration::from_secs(10));
    let e = c.user().await.expect_err("401");
    assert!(matches!(e, ScmError::AuthFailed { status: 401, .. }));
    assert!(!e.to_string().contains(TOKEN), "{e}");
    assert!(!format!("{e:?}").contains(TOKEN), "{e:?}");
    assert!(!format!("{c:?}").contains(TOKEN));
    let _ = c.user().await;
    assert_eq!(
        lookups.load(Ordering::SeqCst),
        2,
        "a 401 re-resolves the token"
    );
}

#[tokio::test]
async fn no_token_means_no_request() {
    let server = serve(|_| json_reply(&json!({"login": "x"}))).await;
    let tokens = TokenProvider::with_lookup("github.com", |_| None).gh_program("/nonexistent/gh");
    let (c, _) = client_with(&server, tokens, Duration::from_secs(10));
    assert_eq!(c.user().await, Err(ScmError::NoToken));
    assert!(server.seen().is_empty());
}

#[tokio::test]
async fn guards_use_etags_and_feed_rate_headers_on_304() {
    let server = serve(|s| {
        if s.header("if-none-match") == Some("\"v1\"") {
            reply(304, "").rate("core", 4000)
        } else if s.uri.contains("/check-runs") {
            json_reply(&json!({"total_count": 1, "check_runs": []}))
                .header("etag", "\"c2\"")
                .rate("core", 3999)
        } else {
            json_reply(&json!([{"number": 3, "draft": false, "html_url": "h", "updated_at": "2024-05-01T00:00:00Z",
                "head": {"ref": "feat", "repo": {"full_name": "acme/app"}},
                "base": {"ref": "main", "repo": {"full_name": "acme/app"}}}]))
            .header("etag", "\"v2\"")
            .rate("core", 3998)
        }
    })
    .await;
    let (c, sunk) = client(&server);
    assert_eq!(
        c.repo_guard(&repo(), Some("\"v1\"")).await,
        Ok(Guard::NotModified)
    );
    assert_eq!(
        c.repo_guard(&repo(), Some("\"old\"")).await,
        Ok(Guard::Changed {
            etag: Some("\"v2\"".into()),
            latest_updated_at: Some("2024-05-01T00:00:00Z".into()),
            tip_sha: None,
        })
    );
    assert_eq!(
        c.check_guard(&repo(), "abc123", None).await,
        Ok(Guard::Changed {
            etag: Some("\"c2\"".into()),
            latest_updated_at: None,
            tip_sha: None,
        })
    );
    assert_eq!(
        c.check_guard(&repo(), "abc123", Some("\"v1\"")).await,
        Ok(Guard::NotModified)
    );
    let seen = server.seen();
    assert_eq!(
        seen[0].uri,
        "/repos/acme/app/pulls?state=open&sort=updated&direction=desc&per_page=1"
    );
    assert_eq!(
        seen[2].uri,
        "/repos/acme/app/commits/abc123/check-runs?per_page=1"
    );
    assert_eq!(seen[2].header("if-none-match"), None);
    let remaining = remaining(&sunk);
    assert_eq!(
        remaining,
        [4000, 3998, 3999, 4000],
        "304s feed the budget too"
    );
    assert!(
        sunk.lock()
            .expect("lock")
            .iter()
            .all(|s| s.bucket() == Some(RateBucket::Rest))
    );
}

#[tokio::test]
async fn base_guard_encodes_the_branch_and_handles_304_404_and_bad_names() {
    let server = serve(|s| {
        if s.uri.starts_with("/repos/acme/app/branches/gone") {
            return reply(404, r#"{"message":"Branch not found"}"#).rate("core", 3997);
        }
        if s.header("if-none-match") == Some("\"b1\"") {
            return reply(304, "").rate("core", 3998);
        }
        json_reply(&json!({"name": "feat/a b#1", "commit": {"sha": "c0ffee"}, "protected": false}))
            .header("etag", "\"b1\"")
            .rate("core", 3999)
    })
    .await;
    let (c, sunk) = client(&server);
    assert_eq!(
        c.base_guard(&repo(), "feat/a b#1", None).await,
        Ok(Guard::Changed {
            etag: Some("\"b1\"".into()),
            latest_updated_at: None,
            tip_sha: Some("c0ffee".into()),
        })
    );
    assert_eq!(
        c.base_guard(&repo(), "feat/a b#1", Some("\"b1\"")).await,
        Ok(Guard::NotModified)
    );
    assert_eq!(
        c.base_guard(&repo(), "gone", Some("\"b1\"")).await,
        Err(ScmError::NotFound)
    );
    for bad in ["", "a//b", "../x", "x/.", "/main", "main/"] {
        assert!(
            matches!(
                c.base_guard(&repo(), bad, None).await,
                Err(ScmError::Malformed(_))
            ),
            "{bad:?}"
        );
    }
    let seen = server.seen();
    assert_eq!(seen.len(), 3, "bad names send nothing");
    // `/` stays a separator; the space and `#` are encoded (a raw `#` would cut the path).
    assert_eq!(seen[0].uri, "/repos/acme/app/branches/feat/a%20b%231");
    assert_eq!(seen[0].header("if-none-match"), None);
    assert_eq!(seen[1].header("if-none-match"), Some("\"b1\""));
    let remaining = remaining(&sunk);
    assert_eq!(
        remaining,
        [3999, 3998, 3997],
        "every answer feeds the budget"
    );
}

#[tokio::test]
async fn discovery_follows_link_next_on_the_same_origin() {
    let server = serve(|s| {
        let pr = |n: u64, head_repo: &str| {
            json!({"number": n, "draft": n == 2, "html_url": format!("{}/acme/app/pull/{n}", s.base),
                   "updated_at": "2024-05-01T00:00:00Z",
                   "head": {"ref": format!("b{n}"), "repo": {"full_name": head_repo}},
                   "base": {"ref": "main", "repo": {"full_name": "acme/app"}}})
        };
        if s.uri.ends_with("&page=1") {
            json_reply(&json!([pr(1, "acme/app"), pr(2, "fork/app")])).header(
                "link",
                format!(
                    "<{}/repositories/9/pulls?state=open&per_page=100&page=2>; rel=\"next\", <{}/x?page=2>; rel=\"last\"",
                    s.base, s.base
                ),
            )
        } else if s.uri.contains("page=2") && s.uri.starts_with("/repositories/9/") {
            json_reply(&json!([{"number": 3, "html_url": "h3", "updated_at": "u",
                "head": {"ref": "b3", "repo": null}, "base": {"ref": "main", "repo": {"full_name": "acme/app"}}}]))
        } else {
            reply(404, "{}")
        }
    })
    .await;
    let (c, _) = client(&server);
    let prs = c.list_open_prs(&repo()).await.expect("list");
    let numbers: Vec<u64> = prs.iter().map(|p| p.number).collect();
    assert_eq!(numbers, [1, 2, 3]);
    assert!(!prs[0].is_fork() && !prs[0].draft);
    assert!(prs[1].is_fork() && prs[1].draft);
    assert_eq!(prs[2].head_repo, "");
    assert_eq!(prs[0].head_ref, "b1");
    assert_eq!(
        server.seen()[0].uri,
        "/repos/acme/app/pulls?state=open&per_page=100&page=1"
    );

    // A next link to another origin is refused (the token must not travel there).
    let evil = serve(|_| {
        json_reply(&json!([])).header("link", "<http://127.0.0.1:1/steal?page=2>; rel=\"next\"")
    })
    .await;
    let (c, _) = client(&evil);
    assert!(matches!(
        c.list_open_prs(&repo()).await,
        Err(ScmError::Malformed(_))
    ));

    // One malformed item fails the whole listing (never a partial list).
    let bad = serve(|_| json_reply(&json!([{"number": 1}]))).await;
    let (c, _) = client(&bad);
    assert!(matches!(
        c.list_open_prs(&repo()).await,
        Err(ScmError::Malformed(_))
    ));
}

/// `(alias, owner, number, after)` of every alias in a facts query.
fn aliases(query: &str) -> Vec<(String, String, u64, Option<String>)> {
    let mut out = Vec::new();
    let parts: Vec<&str> = query.split(": repository(owner: \"").collect();
    for (i, part) in parts.iter().enumerate().skip(1) {
        let alias = parts[i - 1]
            .rsplit(|c: char| c.is_whitespace() || c == '{')
            .next()
            .unwrap_or_default()
            .to_string();
        let owner = part.split('"').next().unwrap_or_default().to_string();
        let number = part
            .split("pullRequest(number: ")
            .nth(1)
            .and_then(|s| s.split(')').next())
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or(0);
        let after = part
            .split("after: \"")
            .nth(1)
            .and_then(|s| s.split('"').next())
            .map(str::to_string);
        out.push((alias, owner, number, after));
    }
    out
}

fn context_run(name: &str, conclusion: &str, id: i64) -> Value {
    json!({"__typename": "CheckRun", "name": name, "status": "COMPLETED", "conclusion": conclusion,
           "detailsUrl": format!("https://ci/{id}"), "databaseId": id})
}

fn pr_node(number: u64, head: &str, contexts: &[Value], next: Option<&str>) -> Value {
    let commits = json!({"nodes": [{"commit": {"oid": head, "statusCheckRollup": {"state": "SUCCESS",
        "contexts": {"pageInfo": {"hasNextPage": next.is_some(), "endCursor": next}, "nodes": contexts}}}}]});
    let mut pr = json!({
        "number": number, "url": format!("https://github.com/acme/app/pull/{number}"),
        "state": "OPEN", "isDraft": false, "merged": false, "closed": false, "title": format!("PR {number}"),
        "additions": 1, "deletions": 1, "changedFiles": 1, "mergeable": "MERGEABLE",
    });
    let rest = json!({
        "mergeStateStatus": "CLEAN", "reviewDecision": "APPROVED", "headRefName": "feat",
        "headRefOid": head, "headRepository": {"nameWithOwner": "acme/app"}, "baseRefName": "main",
        "baseRefOid": "base", "createdAt": "2024-01-01T00:00:00Z", "updatedAt": "2024-01-02T00:00:00Z",
        "mergedAt": null, "closedAt": null, "author": {"login": "dev"}, "mergeCommit": null,
        "commits": commits,
    });
    if let (Some(a), Value::Object(b)) = (pr.as_object_mut(), rest) {
        a.extend(b);
    }
    json!({ "pullRequest": pr })
}

#[tokio::test]
async fn pr_facts_batches_aliases_and_maps_not_found() {
    let server = serve(|s| {
        let mut data = serde_json::Map::new();
        let mut errors = Vec::new();
        for (alias, _, number, _) in aliases(&s.query()) {
            if number % 10 == 7 {
                data.insert(alias.clone(), json!({"pullRequest": null}));
                errors.push(json!({"type": "NOT_FOUND", "path": [alias, "pullRequest"],
                                   "message": "Could not resolve to a PullRequest"}));
            } else {
                data.insert(
                    alias,
                    pr_node(number, "h", &[context_run("ci", "SUCCESS", 1)], None),
                );
            }
        }
        json_reply(&json!({"data": data, "errors": errors})).rate("graphql", 4900)
    })
    .await;
    let (c, sunk) = client(&server);
    let keys: Vec<PrKey> = (1..=30).map(|n| PrKey::new(repo(), n)).collect();
    let results = c.pr_facts(&keys).await;
    assert_eq!(results.len(), 30);
    for (k, r) in keys.iter().zip(&results) {
        if k.number % 10 == 7 {
            assert_eq!(r, &Err(ScmError::NotFound), "{}", k.number);
        } else {
            let snap = r.as_ref().expect("facts");
            assert_eq!(snap.facts.number, k.number);
            // Normalised on the web host, https although the API is plain http.
            let host = server.base().replacen("http://", "https://", 1);
            assert_eq!(snap.facts.url, format!("{host}/acme/app/pull/{}", k.number));
            assert_eq!(
                snap.facts.html_url,
                format!("https://github.com/acme/app/pull/{}", k.number)
            );
            assert_eq!(snap.facts.mergeability.as_str(), "mergeable");
            assert_eq!(snap.checks.len(), 1);
        }
    }
    let seen = server.seen();
    assert_eq!(seen.len(), 2, "30 PRs = 25 + 5");
    assert_eq!(
        (seen[0].method.as_str(), seen[0].uri.as_str()),
        ("POST", "/graphql")
    );
    let first = aliases(&seen[0].query());
    assert_eq!(first.len(), 25);
    assert_eq!(first[0].0, "pr0");
    assert_eq!(first[24].0, "pr24");
    assert_eq!(aliases(&seen[1].query()).len(), 5);
    assert!(seen[0].query().trim_start().starts_with("query {"));
    assert!(
        sunk.lock()
            .expect("lock")
            .iter()
            .all(|s| s.bucket() == Some(RateBucket::Graphql))
    );
}

#[tokio::test]
async fn pr_facts_follow_context_pages_and_fail_whole_prs() {
    // PR 1: 20 contexts + a second page of 5. PR 2: its second page errors. PR 3: one page.
    let server = serve(|s| {
        let mut data = serde_json::Map::new();
        let mut errors = Vec::new();
        for (alias, _, number, after) in aliases(&s.query()) {
            let node = match (number, after.as_deref()) {
                (1, None) => {
                    let ctx: Vec<Value> = (0..20)
                        .map(|i| context_run(&format!("c{i}"), "SUCCESS", i))
                        .collect();
                    pr_node(1, "h1", &ctx, Some("p1"))
                }
                (1, Some("p1")) => {
                    let ctx: Vec<Value> = (20..25)
                        .map(|i| context_run(&format!("c{i}"), "FAILURE", i))
                        .collect();
                    pr_node(1, "h1", &ctx, None)
                }
                (2, None) => pr_node(2, "h2", &[context_run("a", "SUCCESS", 1)], Some("p2")),
                (2, Some(_)) => {
                    errors.push(
                        json!({"type": "INTERNAL", "path": [alias.clone()], "message": "oops"}),
                    );
                    Value::Null
                }
                _ => pr_node(number, "h3", &[], None),
            };
            data.insert(alias, node);
        }
        json_reply(&json!({"data": data, "errors": errors}))
    })
    .await;
    let (c, _) = client(&server);
    let keys: Vec<PrKey> = (1..=3).map(|n| PrKey::new(repo(), n)).collect();
    let results = c.pr_facts(&keys).await;
    let one = results[0].as_ref().expect("pr 1");
    assert_eq!(one.checks.len(), 25);
    assert_eq!(
        one.checks
            .iter()
            .filter(|c| c.status.as_str() == "failed")
            .count(),
        5
    );
    assert!(
        matches!(results[1], Err(ScmError::Transient(_))),
        "{:?}",
        results[1]
    );
    assert!(results[2].as_ref().expect("pr 3").checks.is_empty());
    let seen = server.seen();
    assert_eq!(seen.len(), 2, "one follow-up query for both paged PRs");
    let follow = aliases(&seen[1].query());
    assert_eq!(
        follow
            .iter()
            .map(|(a, _, n, after)| (a.as_str(), *n, after.as_deref()))
            .collect::<Vec<_>>(),
        [("pr0", 1, Some("p1")), ("pr1", 2, Some("p2"))]
    );
}

#[tokio::test]
async fn graphql_rate_limit_and_malformed_answers() {
    let server = serve(|s| {
        let number = aliases(&s.query()).first().map_or(0, |a| a.2);
        match number {
            1 => json_reply(&json!({"data": null, "errors": [{"type": "RATE_LIMITED", "message": "slow down"}]}))
                .rate("graphql", 0),
            2 => reply(200, "<html>not json</html>"),
            _ => reply(502, "bad gateway"),
        }
    })
    .await;
    let (c, _) = client(&server);
    let r = c.pr_facts(&[PrKey::new(repo(), 1)]).await;
    assert_eq!(
        r,
        [Err(ScmError::RateLimited {
            retry_after: None,
            reset_at: chrono::DateTime::from_timestamp(1_700_000_000, 0)
        })]
    );
    assert!(matches!(
        c.pr_facts(&[PrKey::new(repo(), 2)]).await[..],
        [Err(ScmError::Malformed(_))]
    ));
    let r = c
        .pr_facts(&[PrKey::new(repo(), 3), PrKey::new(repo(), 4)])
        .await;
    assert!(r.iter().all(|x| matches!(x, Err(ScmError::Transient(_)))));
    assert!(c.pr_facts(&[]).await.is_empty());
}

fn thread(id: &str, resolved: bool) -> Value {
    json!({"id": id, "isResolved": resolved, "path": "src/lib.rs", "line": 1, "comments": {"nodes": [
        {"id": format!("{id}-c"), "databaseId": 1, "body": "please fix", "url": format!("https://c/{id}"),
         "createdAt": "2024-01-01T00:00:00Z", "author": {"login": "rev", "__typename": "User"}}]}})
}

fn threads_reply(nodes: &[Value], older: Option<&str>) -> Reply {
    json_reply(
        &json!({"data": {"repository": {"pullRequest": {"reviewThreads": {
        "pageInfo": {"hasPreviousPage": older.is_some(), "startCursor": older}, "nodes": nodes}}}}}),
    )
}

#[tokio::test]
async fn review_threads_fetch_one_older_page_only_when_needed() {
    let server = serve(|s| {
        let q = s.query();
        let number: u64 = q
            .split("pullRequest(number: ")
            .nth(1)
            .and_then(|x| x.split(')').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        match (number, q.contains("before: \"older\"")) {
            // Oldest fetched thread unresolved and older pages exist → one more page.
            (1, false) => threads_reply(&[thread("T3", false), thread("T4", true)], Some("older")),
            (1, true) => threads_reply(&[thread("T1", false), thread("T2", true)], Some("evenolder")),
            // Oldest fetched thread resolved → no more pages.
            (2, _) => threads_reply(&[thread("T5", true), thread("T6", false)], Some("older")),
            (3, _) => json_reply(&json!({"data": {"repository": {"pullRequest": null}},
                "errors": [{"type": "NOT_FOUND", "path": ["repository", "pullRequest"], "message": "x"}]})),
            _ => threads_reply(&[], None),
        }
    })
    .await;
    let (c, _) = client(&server);
    let t = c.review_threads(&repo(), 1).await.expect("threads");
    assert!(t.partial);
    let ids: Vec<&str> = t.threads.iter().map(|t| t.thread_id.as_str()).collect();
    assert_eq!(ids, ["T1", "T2", "T3", "T4"]);
    assert_eq!(t.threads[0].comments[0].comment_id, "T1-c");
    assert!(!t.threads[0].is_bot);
    assert_eq!(server.seen().len(), 2);
    assert!(server.seen()[0].query().contains("reviewThreads(last: 50)"));

    let t = c.review_threads(&repo(), 2).await.expect("threads");
    assert!(!t.partial);
    assert_eq!(t.threads.len(), 2);
    assert_eq!(server.seen().len(), 3);

    assert_eq!(c.review_threads(&repo(), 3).await, Err(ScmError::NotFound));
    let empty = c.review_threads(&repo(), 4).await.expect("threads");
    assert!(empty.threads.is_empty() && !empty.partial);
}

#[tokio::test]
async fn job_logs_follow_redirects_and_keep_the_last_5_mib() {
    let server = serve(|s| match s.uri.as_str() {
        "/repos/acme/app/actions/jobs/5/logs" => {
            reply(302, "").header("location", format!("{}/blob/5", s.base))
        }
        "/blob/5" => reply(
            200,
            "2024-01-01T00:00:00Z hello\n2024-01-01T00:00:01Z failed!\n",
        ),
        "/repos/acme/app/actions/jobs/6/logs" => {
            let mut big = "x".repeat(client::LOG_LIMIT);
            big.insert_str(0, "HEAD-MARKER\n");
            big.push_str("\nTAIL-MARKER\n");
            reply(200, big)
        }
        _ => reply(404, "{}"),
    })
    .await;
    let (c, _) = client(&server);
    let log = c.job_log(&repo(), "5").await.expect("log");
    assert_eq!(normalize::log_tail(&log), "hello\nfailed!");
    let big = c.job_log(&repo(), "6").await.expect("big log");
    assert_eq!(big.len(), client::LOG_LIMIT);
    assert!(big.ends_with("TAIL-MARKER\n"));
    assert!(!big.contains("HEAD-MARKER"));
    assert_eq!(c.job_log(&repo(), "7").await, Err(ScmError::NotFound));
}

#[test]
fn https_without_tls_feature_is_refused() {
    let config = ScmConfig::from_lookup(|_| None).expect("default config");
    let built = GithubClient::new(
        config,
        Arc::new(TokenProvider::fixed(TOKEN)),
        ClientOptions::default(),
    );
    if cfg!(feature = "tls") {
        assert!(built.is_ok());
    } else {
        assert!(matches!(built, Err(ClientBuildError::NoTls(_))));
    }
}
