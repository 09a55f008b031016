//! The HTTP side: the axum router, the request pipeline every API route goes through, and the
//! REST endpoints.
//!
//! Pipeline of an API request (`run`): count it for its [`Route`] → apply a scripted
//! [`Fault`] if one is queued → check `Authorization` (401 with GitHub's JSON when missing or
//! wrong) → refuse with a rate-limit error when the bucket is empty (REST: 403, GraphQL: 200
//! with a `RATE_LIMITED` error) → run the endpoint → for conditional GETs compare
//! `If-None-Match` with the strong ETag of the body (304 with an empty body on a match) →
//! charge the bucket (not for 304s, 401s or rate-limit refusals) → attach the
//! `X-RateLimit-*` headers (304s included) → record the request.

use std::fmt::Write as _;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State as AxState};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use super::graphql::{self, Urls};
use super::model::{
    Check, CheckKind, Fault, PrStatus, Pull, RecordedRequest, Repo, Resource, Route, State, iso,
    sha256_hex, unix_now,
};

/// What the handlers share: the state and the fake's addresses.
pub struct Shared {
    pub state: Mutex<State>,
    /// `http://127.0.0.1:<port>`.
    pub origin: String,
    pub urls: Urls,
}

impl Shared {
    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn api(&self) -> String {
        format!("{}/api/v3", self.origin)
    }
}

const DOCS: &str = "https://docs.github.com/rest";

/// A response before the pipeline adds the common headers.
struct Reply {
    status: StatusCode,
    body: Vec<u8>,
    headers: Vec<(HeaderName, String)>,
    /// Charge the rate-limit bucket for this response.
    spend: bool,
    /// Report this `X-RateLimit-Remaining` instead of the bucket's.
    remaining_override: Option<u64>,
    json: bool,
}

impl Reply {
    fn json(status: StatusCode, v: &Value) -> Self {
        Self {
            status,
            body: serde_json::to_vec(v).unwrap_or_default(),
            headers: Vec::new(),
            spend: true,
            remaining_override: None,
            json: true,
        }
    }

    fn message(status: StatusCode, message: &str) -> Self {
        Self::json(
            status,
            &json!({"message": message, "documentation_url": DOCS, "status": status.as_u16().to_string()}),
        )
    }

    fn header(mut self, name: HeaderName, v: impl Into<String>) -> Self {
        self.headers.push((name, v.into()));
        self
    }

    fn free(mut self) -> Self {
        self.spend = false;
        self
    }
}

/// Describes one API request for the pipeline.
struct Call {
    route: Route,
    /// `None`: not a GitHub API route (blobs): no auth, no budget, no rate headers.
    resource: Option<Resource>,
    method: Method,
    path: String,
    headers: HeaderMap,
    /// GraphQL query text (recorded) and its number of `repository` aliases.
    graphql: Option<(String, u64)>,
    /// Conditional GET (ETag / If-None-Match).
    conditional: bool,
}

fn path_of(uri: &Uri) -> String {
    uri.path_and_query()
        .map_or_else(|| uri.path().to_string(), ToString::to_string)
}

fn recorded_headers(h: &HeaderMap) -> std::collections::BTreeMap<String, String> {
    h.iter()
        .map(|(k, v)| {
            let v = v.to_str().unwrap_or("<non-ascii>");
            let v = if *k == header::AUTHORIZATION {
                v.split_whitespace().next().unwrap_or("").to_string()
            } else {
                v.to_string()
            };
            (k.as_str().to_string(), v)
        })
        .collect()
}

/// `Some(true)`: right token, `Some(false)`: wrong token, `None`: no usable header.
fn auth(headers: &HeaderMap, token: &str) -> Option<bool> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, t) = v.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") && !scheme.eq_ignore_ascii_case("token") {
        return None;
    }
    Some(t.trim() == token)
}

fn etag_matches(headers: &HeaderMap, etag: &str) -> bool {
    let Some(v) = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let bare = |s: &str| s.trim().trim_start_matches("W/").to_string();
    v.split(',')
        .any(|t| t.trim() == "*" || bare(t) == bare(etag))
}

fn fault_reply(f: Fault, graphql: bool) -> Reply {
    match f {
        Fault::ServerError | Fault::Hang { .. } => Reply::message(StatusCode::INTERNAL_SERVER_ERROR, "Server Error"),
        Fault::BadGateway => {
            let mut r = Reply::json(StatusCode::BAD_GATEWAY, &Value::Null).free();
            r.body = b"<html><body><h1>502 Bad Gateway</h1></body></html>".to_vec();
            r.json = false;
            r.header(header::CONTENT_TYPE, "text/html")
        }
        Fault::MalformedJson => {
            let mut r = Reply::json(StatusCode::OK, &Value::Null);
            r.body = if graphql {
                br#"{"data": {"pr0": {"pullRequest": {"number": 1, "title": "trunc"#.to_vec()
            } else {
                br#"[{"number": 1, "title": "trunc"#.to_vec()
            };
            r
        }
        Fault::RateLimited { retry_after: Some(s) } => Reply::message(
            StatusCode::FORBIDDEN,
            "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.",
        )
        .free()
        .header(header::RETRY_AFTER, s.to_string()),
        Fault::RateLimited { retry_after: None } => {
            let mut r = Reply::message(StatusCode::FORBIDDEN, "API rate limit exceeded for user ID 1.").free();
            r.remaining_override = Some(0);
            r
        }
        Fault::TooManyRequests { retry_after } => {
            let r = Reply::message(
                StatusCode::TOO_MANY_REQUESTS,
                "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.",
            )
            .free();
            match retry_after {
                Some(s) => r.header(header::RETRY_AFTER, s.to_string()),
                None => r,
            }
        }
        Fault::Unauthorized => Reply::message(StatusCode::UNAUTHORIZED, "Bad credentials").free(),
        Fault::Forbidden => Reply::message(StatusCode::FORBIDDEN, "Resource not accessible by integration").free(),
        Fault::GraphqlError { error_type } => {
            if !graphql {
                return Reply::message(StatusCode::INTERNAL_SERVER_ERROR, "Server Error");
            }
            let mut r = Reply::json(
                StatusCode::OK,
                &json!({"data": null, "errors": [{"type": error_type, "message": format!("Scripted {error_type} error")}]}),
            );
            if error_type == "RATE_LIMITED" {
                r.remaining_override = Some(0);
                r.spend = false;
            }
            r
        }
    }
}

/// Runs one API request through the pipeline (see the module docs).
async fn run(sh: &Shared, call: Call, handler: impl FnOnce(&mut State) -> Reply) -> Response {
    let fault = {
        let mut st = sh.lock();
        st.stats.get_mut(call.route).requests += 1;
        if let Some((_, aliases)) = &call.graphql
            && call.route == Route::GraphqlFacts
        {
            st.stats.pr_aliases += aliases;
            st.stats.max_batch = st.stats.max_batch.max(*aliases);
        }
        st.take_fault(call.route)
    };
    if let Some(Fault::Hang { ms }) = fault {
        {
            let mut st = sh.lock();
            st.stats.get_mut(call.route).faults += 1;
            record(&mut st, &call, 504);
        }
        tokio::time::sleep(Duration::from_millis(ms)).await;
        let r = Reply::message(
            StatusCode::GATEWAY_TIMEOUT,
            "We couldn't respond to your request in time. Sorry about that.",
        );
        return finish(r, None, None);
    }
    let mut st = sh.lock();
    let now = unix_now();
    if let Some(res) = call.resource {
        st.bucket(res).roll(now);
    }
    let graphql = call.graphql.is_some();
    let mut reply = if let Some(f) = fault {
        st.stats.get_mut(call.route).faults += 1;
        fault_reply(f, graphql)
    } else if call.resource.is_some() && auth(&call.headers, &st.token) != Some(true) {
        st.stats.unauthorized += 1;
        let msg = match (auth(&call.headers, &st.token), graphql) {
            (Some(false), _) => "Bad credentials",
            (None, true) => "This endpoint requires you to be authenticated.",
            (None, false) => "Requires authentication",
            (Some(true), _) => unreachable!("the token matched"),
        };
        Reply::message(StatusCode::UNAUTHORIZED, msg).free()
    } else if let Some(res) = call.resource.filter(|r| st.bucket(*r).remaining == 0) {
        let msg = format!(
            "API rate limit exceeded for user ID 1. Resource: {}.",
            res.as_str()
        );
        if graphql {
            Reply::json(
                StatusCode::OK,
                &json!({"errors": [{"type": "RATE_LIMITED", "code": "graphql_rate_limit", "message": "API rate limit already exceeded for user ID 1."}]}),
            )
            .free()
        } else {
            Reply::message(StatusCode::FORBIDDEN, &msg).free()
        }
    } else {
        let mut r = handler(&mut st);
        if call.conditional && r.status == StatusCode::OK {
            let etag = format!("\"{}\"", &sha256_hex(&r.body)[..40]);
            let cache = "private, max-age=60, s-maxage=60";
            if etag_matches(&call.headers, &etag) {
                st.stats.get_mut(call.route).not_modified += 1;
                r = Reply {
                    status: StatusCode::NOT_MODIFIED,
                    body: Vec::new(),
                    headers: Vec::new(),
                    spend: false,
                    remaining_override: None,
                    json: false,
                };
            }
            r = r
                .header(header::ETAG, etag)
                .header(header::CACHE_CONTROL, cache)
                .header(header::VARY, "Accept, Authorization, Cookie, X-GitHub-OTP");
        }
        r
    };
    let rate = call.resource.map(|res| {
        if reply.spend {
            st.bucket(res).spend();
        }
        (res, *st.bucket(res))
    });
    record(&mut st, &call, reply.status.as_u16());
    let over = reply.remaining_override.take();
    drop(st);
    finish(reply, rate, over)
}

fn record(st: &mut State, call: &Call, status: u16) {
    st.record(RecordedRequest {
        route: call.route,
        method: call.method.to_string(),
        path: call.path.clone(),
        status,
        headers: recorded_headers(&call.headers),
        query: call.graphql.as_ref().map(|(q, _)| q.clone()),
    });
}

fn finish(
    reply: Reply,
    rate: Option<(Resource, super::model::RateBucket)>,
    remaining_override: Option<u64>,
) -> Response {
    let mut resp = Response::new(Body::from(reply.body));
    *resp.status_mut() = reply.status;
    let h = resp.headers_mut();
    let mut put = |name: HeaderName, v: &str| {
        if let Ok(v) = HeaderValue::from_str(v) {
            h.append(name, v);
        }
    };
    if reply.json {
        put(header::CONTENT_TYPE, "application/json; charset=utf-8");
    }
    if let Some((res, b)) = rate {
        put(
            HeaderName::from_static("x-ratelimit-limit"),
            &b.limit.to_string(),
        );
        put(
            HeaderName::from_static("x-ratelimit-remaining"),
            &remaining_override.unwrap_or(b.remaining).to_string(),
        );
        put(
            HeaderName::from_static("x-ratelimit-used"),
            &b.used.to_string(),
        );
        put(
            HeaderName::from_static("x-ratelimit-reset"),
            &b.reset.to_string(),
        );
        put(
            HeaderName::from_static("x-ratelimit-resource"),
            res.as_str(),
        );
        put(
            HeaderName::from_static("x-github-media-type"),
            "github.v3; format=json",
        );
        put(
            HeaderName::from_static("x-github-api-version-selected"),
            "2022-11-28",
        );
        let id = hex::encode(unix_now().to_be_bytes());
        put(
            HeaderName::from_static("x-github-request-id"),
            &id.to_uppercase(),
        );
    }
    for (k, v) in reply.headers {
        put(k, &v);
    }
    resp
}

// ---------------------------------------------------------------------------------------------
// JSON shapes
// ---------------------------------------------------------------------------------------------

fn user_json(sh: &Shared, login: &str, bot: bool) -> Value {
    let login = if bot && !login.ends_with("[bot]") {
        format!("{login}[bot]")
    } else {
        login.to_string()
    };
    json!({
        "login": login,
        "id": 1,
        "node_id": format!("U_kgDOfake{}", hex::encode(&login)),
        "type": if bot { "Bot" } else { "User" },
        "site_admin": false,
        "url": format!("{}/users/{login}", sh.api()),
        "html_url": sh.urls.web_url(&login),
    })
}

fn repo_json(sh: &Shared, st: &State, full: &str, base: &Repo) -> Value {
    let (owner, name) = full.split_once('/').unwrap_or((full, full));
    let stored = if full.eq_ignore_ascii_case(&base.full_name()) {
        Some(base)
    } else {
        st.repo(owner, name)
    };
    json!({
        "id": stored.map_or(0, |r| r.id),
        "node_id": format!("R_kgDOfake{}", hex::encode(full)),
        "name": stored.map_or(name, |r| r.name.as_str()),
        "full_name": stored.map_or_else(|| full.to_string(), Repo::full_name),
        "private": false,
        "owner": user_json(sh, stored.map_or(owner, |r| r.owner.as_str()), false),
        "html_url": sh.urls.web_url(full),
        "url": format!("{}/repos/{full}", sh.api()),
        "fork": !full.eq_ignore_ascii_case(&base.full_name()),
        "default_branch": stored.map_or("main", |r| r.default_branch.as_str()),
    })
}

fn pull_json(sh: &Shared, st: &State, r: &Repo, p: &Pull) -> Value {
    let full = r.full_name();
    let head_owner = p
        .head_repo
        .split_once('/')
        .map_or(p.head_repo.as_str(), |(o, _)| o);
    json!({
        "url": format!("{}/repos/{full}/pulls/{}", sh.api(), p.number),
        "id": p.id,
        "node_id": format!("PR_kwDOfake{}", p.id),
        "html_url": sh.urls.web_url(&format!("{full}/pull/{}", p.number)),
        "number": p.number,
        "state": if p.status == PrStatus::Open { "open" } else { "closed" },
        "locked": false,
        "title": p.title,
        "user": user_json(sh, &p.author, p.author_is_bot),
        "body": null,
        "created_at": iso(p.created_at),
        "updated_at": iso(p.updated_at),
        "closed_at": p.closed_at.map(iso),
        "merged_at": p.merged_at.map(iso),
        "merge_commit_sha": p.merge_commit_sha,
        "draft": p.draft,
        "head": {
            "label": format!("{head_owner}:{}", p.head_ref),
            "ref": p.head_ref,
            "sha": p.head_sha,
            "user": user_json(sh, head_owner, false),
            "repo": repo_json(sh, st, &p.head_repo, r),
        },
        "base": {
            "label": format!("{}:{}", r.owner, p.base_ref),
            "ref": p.base_ref,
            "sha": p.base_sha,
            "user": user_json(sh, &r.owner, false),
            "repo": repo_json(sh, st, &full, r),
        },
        "author_association": "CONTRIBUTOR",
        "auto_merge": null,
        "active_lock_reason": null,
    })
}

fn check_run_json(sh: &Shared, r: &Repo, sha: &str, c: &Check) -> Value {
    let full = r.full_name();
    let lower = |s: &str| s.to_ascii_lowercase();
    json!({
        "id": c.id,
        "head_sha": sha,
        "node_id": format!("CR_kwDOfake{}", c.id),
        "external_id": "",
        "url": format!("{}/repos/{full}/check-runs/{}", sh.api(), c.id),
        "html_url": sh.urls.web_url(&format!("{full}/runs/{}", c.id)),
        "details_url": c.spec.url.clone().unwrap_or_else(|| sh.urls.web_url(&format!("{full}/actions/runs/1/job/{}", c.id))),
        "status": lower(&c.spec.status),
        "conclusion": c.spec.conclusion.as_deref().map(lower),
        "started_at": (c.spec.status != "QUEUED").then(|| iso(c.created_at)),
        "completed_at": (c.spec.status == "COMPLETED").then(|| iso(c.created_at)),
        "name": c.spec.name,
        "output": {"title": null, "summary": null, "text": null, "annotations_count": 0},
        "check_suite": {"id": 1},
        "app": {"id": 15368, "slug": "github-actions", "name": "GitHub Actions"},
        "pull_requests": [],
    })
}

// ---------------------------------------------------------------------------------------------
// REST endpoints
// ---------------------------------------------------------------------------------------------

type Params = Vec<(String, String)>;

fn param<'p>(params: &'p Params, name: &str) -> Option<&'p str> {
    params
        .iter()
        .rev()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn page_params(params: &Params) -> (usize, usize) {
    let per_page = param(params, "per_page")
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(30)
        .clamp(1, 100);
    let page = param(params, "page")
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(1)
        .max(1);
    (per_page, page)
}

fn encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// The `Link` header for page `page` of `pages` (GitHub's order: prev, next, last, first).
fn link_header(base: &str, params: &Params, page: usize, pages: usize) -> Option<String> {
    if pages <= 1 {
        return None;
    }
    let url = |p: usize| {
        let mut q: Vec<String> = params
            .iter()
            .filter(|(k, _)| k != "page")
            .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
            .collect();
        q.push(format!("page={p}"));
        format!("<{base}?{}>", q.join("&"))
    };
    let mut parts = Vec::new();
    if page > 1 {
        parts.push(format!("{}; rel=\"prev\"", url((page - 1).min(pages))));
    }
    if page < pages {
        parts.push(format!("{}; rel=\"next\"", url(page + 1)));
        parts.push(format!("{}; rel=\"last\"", url(pages)));
    }
    if page > 1 {
        parts.push(format!("{}; rel=\"first\"", url(1)));
    }
    Some(parts.join(", "))
}

fn not_found() -> Reply {
    Reply::message(StatusCode::NOT_FOUND, "Not Found")
}

fn list_pulls(sh: &Shared, st: &State, owner: &str, name: &str, params: &Params) -> Reply {
    let Some(repo) = st.repo(owner, name) else {
        return not_found();
    };
    let state = param(params, "state").unwrap_or("open");
    if !matches!(state, "open" | "closed" | "all") {
        return Reply::json(
            StatusCode::UNPROCESSABLE_ENTITY,
            &json!({"message": "Validation Failed", "errors": [{"resource": "Issue", "field": "state", "code": "invalid"}], "documentation_url": DOCS, "status": "422"}),
        );
    }
    let sort = param(params, "sort").unwrap_or("created");
    let desc = match param(params, "direction") {
        Some("asc") => false,
        Some("desc") => true,
        _ => sort == "created",
    };
    let head = param(params, "head");
    let base = param(params, "base");
    let mut pulls: Vec<&Pull> = repo
        .pulls
        .values()
        .filter(|p| match state {
            "open" => p.status == PrStatus::Open,
            "closed" => p.status != PrStatus::Open,
            _ => true,
        })
        .filter(|p| {
            head.is_none_or(|h| {
                let owner = p.head_repo.split_once('/').map_or("", |(o, _)| o);
                h.split_once(':').map_or(h == p.head_ref, |(o, r)| {
                    o.eq_ignore_ascii_case(owner) && r == p.head_ref
                })
            })
        })
        .filter(|p| base.is_none_or(|b| b == p.base_ref))
        .collect();
    pulls.sort_by_key(|p| {
        let t = if sort == "updated" {
            p.updated_at
        } else {
            p.created_at
        };
        (t, p.number)
    });
    if desc {
        pulls.reverse();
    }
    let (per_page, page) = page_params(params);
    let pages = pulls.len().div_ceil(per_page).max(1);
    let items: Vec<Value> = pulls
        .iter()
        .skip((page - 1).saturating_mul(per_page))
        .take(per_page)
        .map(|p| pull_json(sh, st, repo, p))
        .collect();
    let r = Reply::json(StatusCode::OK, &Value::Array(items));
    let base_url = format!("{}/repos/{}/pulls", sh.api(), repo.full_name());
    match link_header(&base_url, params, page, pages) {
        Some(l) => r.header(header::LINK, l),
        None => r,
    }
}

fn check_runs(
    sh: &Shared,
    st: &State,
    owner: &str,
    name: &str,
    git_ref: &str,
    params: &Params,
) -> Reply {
    let Some(repo) = st.repo(owner, name) else {
        return not_found();
    };
    let sha = if repo.commits.contains(git_ref) {
        Some(git_ref.to_string())
    } else {
        let branch = git_ref.strip_prefix("heads/").unwrap_or(git_ref);
        repo.branches.get(branch).cloned().or_else(|| {
            repo.pulls
                .values()
                .rev()
                .find(|p| p.head_ref == branch)
                .map(|p| p.head_sha.clone())
        })
    };
    let Some(sha) = sha else {
        return Reply::message(
            StatusCode::UNPROCESSABLE_ENTITY,
            &format!("No commit found for SHA: {git_ref}"),
        );
    };
    let mut runs: Vec<&Check> = repo
        .checks
        .get(&sha)
        .map(|cs| {
            cs.iter()
                .filter(|c| c.spec.kind == CheckKind::CheckRun)
                .collect()
        })
        .unwrap_or_default();
    if let Some(n) = param(params, "check_name") {
        runs.retain(|c| c.spec.name == n);
    }
    if let Some(s) = param(params, "status") {
        runs.retain(|c| c.spec.status.eq_ignore_ascii_case(s));
    }
    runs.sort_by_key(|c| std::cmp::Reverse(c.id));
    let (per_page, page) = page_params(params);
    let pages = runs.len().div_ceil(per_page).max(1);
    let items: Vec<Value> = runs
        .iter()
        .skip((page - 1).saturating_mul(per_page))
        .take(per_page)
        .map(|c| check_run_json(sh, repo, &sha, c))
        .collect();
    let r = Reply::json(
        StatusCode::OK,
        &json!({"total_count": runs.len(), "check_runs": items}),
    );
    let base_url = format!(
        "{}/repos/{}/commits/{git_ref}/check-runs",
        sh.api(),
        repo.full_name()
    );
    match link_header(&base_url, params, page, pages) {
        Some(l) => r.header(header::LINK, l),
        None => r,
    }
}

/// `GET /repos/{o}/{r}/branches/{branch}`: `{name, commit: {sha}, protected}`. The pipeline's
/// body ETag changes exactly when the tip does.
fn branch(st: &State, owner: &str, name: &str, branch: &str) -> Reply {
    let Some(sha) = st.repo(owner, name).and_then(|r| r.branches.get(branch)) else {
        return Reply::message(StatusCode::NOT_FOUND, "Branch not found");
    };
    Reply::json(
        StatusCode::OK,
        &json!({"name": branch, "commit": {"sha": sha}, "protected": false}),
    )
}

fn job_logs(sh: &Shared, st: &mut State, owner: &str, name: &str, job: &str) -> Reply {
    let Some(repo) = st.repo(owner, name) else {
        return not_found();
    };
    let Some(log) = job
        .parse::<u64>()
        .ok()
        .and_then(|id| repo.check_by_id(id))
        .and_then(|c| c.spec.log.clone())
    else {
        return not_found();
    };
    let n = st.id();
    let blob = sha256_hex(format!("fake-github-blob-{n}").as_bytes())[..32].to_string();
    st.blobs.insert(blob.clone(), log);
    let mut r = Reply::json(StatusCode::FOUND, &Value::Null);
    r.body = Vec::new();
    r.json = false;
    r.header(
        header::LOCATION,
        format!("{}/_blobs/{blob}?sig=fake", sh.origin),
    )
}

// ---------------------------------------------------------------------------------------------
// Router
// ---------------------------------------------------------------------------------------------

type Sh = AxState<Arc<Shared>>;

fn call(
    route: Route,
    resource: Option<Resource>,
    method: Method,
    uri: &Uri,
    headers: HeaderMap,
) -> Call {
    Call {
        route,
        resource,
        method,
        path: path_of(uri),
        headers,
        graphql: None,
        conditional: false,
    }
}

async fn h_pulls(
    AxState(sh): Sh,
    Path((o, r)): Path<(String, String)>,
    Query(params): Query<Params>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let route = if param(&params, "per_page") == Some("1") {
        Route::RepoGuard
    } else {
        Route::Discovery
    };
    let mut c = call(route, Some(Resource::Core), Method::GET, &uri, headers);
    c.conditional = true;
    run(&sh, c, |st| list_pulls(&sh, st, &o, &r, &params)).await
}

async fn h_check_runs(
    AxState(sh): Sh,
    Path((o, r, git_ref)): Path<(String, String, String)>,
    Query(params): Query<Params>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let mut c = call(
        Route::CheckGuard,
        Some(Resource::Core),
        Method::GET,
        &uri,
        headers,
    );
    c.conditional = true;
    run(&sh, c, |st| check_runs(&sh, st, &o, &r, &git_ref, &params)).await
}

/// `{*branch}` takes the rest of the path, so `feat/x` (or `feat%2Fx`) is one branch; axum
/// percent-decodes it.
async fn h_branch(
    AxState(sh): Sh,
    Path((o, r, name)): Path<(String, String, String)>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let mut c = call(
        Route::BaseGuard,
        Some(Resource::Core),
        Method::GET,
        &uri,
        headers,
    );
    c.conditional = true;
    run(&sh, c, |st| branch(st, &o, &r, &name)).await
}

async fn h_job_logs(
    AxState(sh): Sh,
    Path((o, r, job)): Path<(String, String, String)>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let c = call(
        Route::JobLog,
        Some(Resource::Core),
        Method::GET,
        &uri,
        headers,
    );
    run(&sh, c, |st| job_logs(&sh, st, &o, &r, &job)).await
}

async fn h_blob(AxState(sh): Sh, Path(id): Path<String>, uri: Uri, headers: HeaderMap) -> Response {
    let c = call(Route::LogBlob, None, Method::GET, &uri, headers);
    run(&sh, c, |st| {
        let mut r = Reply::json(StatusCode::OK, &Value::Null).free();
        r.json = false;
        if let Some(text) = st.blobs.get(&id) {
            r.body = text.clone().into_bytes();
            r.header(header::CONTENT_TYPE, "text/plain; charset=utf-8")
        } else {
            r.status = StatusCode::NOT_FOUND;
            r.body = b"BlobNotFound".to_vec();
            r
        }
    })
    .await
}

async fn h_user(AxState(sh): Sh, uri: Uri, headers: HeaderMap) -> Response {
    let c = call(
        Route::User,
        Some(Resource::Core),
        Method::GET,
        &uri,
        headers,
    );
    run(&sh, c, |st| {
        let mut v = user_json(&sh, &st.user.login, false);
        if let Some(o) = v.as_object_mut() {
            o.insert("name".into(), json!(st.user.login));
        }
        Reply::json(StatusCode::OK, &v)
            .header(
                HeaderName::from_static("x-oauth-scopes"),
                st.user.scopes.clone(),
            )
            .header(HeaderName::from_static("x-accepted-oauth-scopes"), "")
    })
    .await
}

async fn h_graphql(AxState(sh): Sh, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let parsed: Option<Value> = serde_json::from_slice(&body).ok();
    let query = parsed
        .as_ref()
        .and_then(|v| v.get("query"))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let (route, aliases) = graphql::classify(&query);
    let mut c = call(route, Some(Resource::Graphql), Method::POST, &uri, headers);
    c.graphql = Some((query, aliases));
    run(&sh, c, |st| match &parsed {
        Some(body) => Reply::json(StatusCode::OK, &graphql::execute(st, &sh.urls, body)),
        None => Reply::json(
            StatusCode::BAD_REQUEST,
            &json!({"message": "Problems parsing JSON", "documentation_url": "https://docs.github.com/graphql"}),
        ),
    })
    .await
}

async fn h_fallback(AxState(sh): Sh, method: Method, uri: Uri, headers: HeaderMap) -> Response {
    if uri.path().starts_with("/_control") {
        return (StatusCode::NOT_FOUND, "unknown control route").into_response();
    }
    let c = call(Route::Other, Some(Resource::Core), method, &uri, headers);
    run(&sh, c, |_| not_found()).await
}

/// The whole router: REST under `/api/v3`, GraphQL at `/api/graphql`, blobs, control.
pub fn router(sh: Arc<Shared>) -> Router {
    Router::new()
        .route("/api/v3/user", get(h_user))
        .route("/api/v3/repos/{o}/{r}/pulls", get(h_pulls))
        .route(
            "/api/v3/repos/{o}/{r}/commits/{git_ref}/check-runs",
            get(h_check_runs),
        )
        .route("/api/v3/repos/{o}/{r}/branches/{*branch}", get(h_branch))
        .route(
            "/api/v3/repos/{o}/{r}/actions/jobs/{job}/logs",
            get(h_job_logs),
        )
        .route("/api/graphql", post(h_graphql))
        .route("/_blobs/{id}", get(h_blob))
        .nest("/_control", super::control::router())
        .fallback(h_fallback)
        .with_state(sh)
}
