//! `/_control/...`: the control API over HTTP, for the `fake-github` binary and for tests in
//! other processes. No auth, no rate limit, not counted in the statistics. Bodies and replies
//! are JSON with camelCase keys (the same structs as the Rust API); misuse answers 404
//! (unknown repo/PR/thread) or 400/409 with `{"message": …}`.
//!
//! | Method and path | Body → reply |
//! |---|---|
//! | `GET /_control/state` | → `{repos, core, graphql, user}` (a debugging dump) |
//! | `POST /_control/repos` | `{owner, name}` → `{}` |
//! | `POST /_control/repos/{o}/{r}/pulls` | `PrSpec` → `PrRef` |
//! | `GET /_control/repos/{o}/{r}/pulls/{n}` | → `Pull` |
//! | `PATCH /_control/repos/{o}/{r}/pulls/{n}` | `PrPatch` → `Pull` |
//! | `POST /_control/repos/{o}/{r}/pulls/{n}/push` | `{sha?}` → `{sha}` |
//! | `POST /_control/repos/{o}/{r}/pulls/{n}/merge` | → `{sha}` (merge commit, now the tip of the base branch) |
//! | `POST /_control/repos/{o}/{r}/pulls/{n}/close`, `/reopen` | → `{}` |
//! | `POST /_control/repos/{o}/{r}/pulls/{n}/threads` | `ThreadSpec` → `ThreadIds` |
//! | `POST /_control/repos/{o}/{r}/pulls/{n}/threads/{id}/comments` | `CommentSpec` → `{id, databaseId}` |
//! | `POST /_control/repos/{o}/{r}/pulls/{n}/threads/{id}/resolve` | `{resolved}` → `{}` |
//! | `POST /_control/repos/{o}/{r}/branches` | `{branch, sha?}` → `{sha}` (moves or creates the branch; served by `GET …/branches/{branch}`) |
//! | `PUT /_control/repos/{o}/{r}/commits/{sha}/checks` | `[CheckSpec]` → `{}` |
//! | `PUT /_control/repos/{o}/{r}/commits/{sha}/rollup` | `{state: "…" \| null}` → `{}` |
//! | `POST /_control/faults` | `{route, count?, fault}` → `{}`; `DELETE` clears all |
//! | `GET /_control/rate` | → `{core, graphql}`; `PUT /_control/rate/{core\|graphql}` `RatePatch` → bucket |
//! | `GET /_control/stats` | → `Stats`; `DELETE` resets |
//! | `GET /_control/requests` | → `[RecordedRequest]`; `DELETE` clears |
//! | `PUT /_control/token` | `{token}` → `{}` |
//! | `PUT /_control/user` | `{login, scopes}` → `{}` |

use std::sync::Arc;

use axum::Router;
use axum::extract::{Json, Path, State as AxState};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use serde::Deserialize;
use serde_json::{Value, json};

use super::model::{
    CheckSpec, CommentSpec, ControlError, Fault, PrPatch, PrRef, PrSpec, RatePatch, Resource,
    Route, ThreadSpec, UserInfo,
};
use super::server::Shared;

type Sh = AxState<Arc<Shared>>;
type Reply = Result<Json<Value>, ControlFail>;

/// A control-API error as an HTTP response.
pub struct ControlFail(ControlError);

impl From<ControlError> for ControlFail {
    fn from(e: ControlError) -> Self {
        Self(e)
    }
}

impl IntoResponse for ControlFail {
    fn into_response(self) -> Response {
        let status = match self.0 {
            ControlError::UnknownRepo(_)
            | ControlError::UnknownPr(..)
            | ControlError::UnknownThread(_) => StatusCode::NOT_FOUND,
            ControlError::PrExists(..) => StatusCode::CONFLICT,
            ControlError::Invalid(_) => StatusCode::BAD_REQUEST,
        };
        (status, Json(json!({"message": self.0.to_string()}))).into_response()
    }
}

#[allow(clippy::unnecessary_wraps, reason = "handlers return it directly")]
fn ok(v: Value) -> Reply {
    Ok(Json(v))
}

fn pr_ref(o: String, r: String, n: u64) -> PrRef {
    PrRef {
        owner: o,
        repo: r,
        number: n,
    }
}

fn to_json<T: serde::Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

#[derive(Deserialize)]
struct RepoBody {
    owner: String,
    name: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ShaBody {
    sha: Option<String>,
}

#[derive(Deserialize)]
struct BranchBody {
    branch: String,
    sha: Option<String>,
}

#[derive(Deserialize)]
struct ResolveBody {
    resolved: bool,
}

#[derive(Deserialize)]
struct RollupBody {
    state: Option<String>,
}

#[derive(Deserialize)]
struct FaultBody {
    route: Route,
    #[serde(default = "one")]
    count: usize,
    fault: Fault,
}

fn one() -> usize {
    1
}

#[derive(Deserialize)]
struct TokenBody {
    token: String,
}

async fn state_dump(AxState(sh): Sh) -> Reply {
    let st = sh.lock();
    let repos: Vec<Value> = st.repos.values().map(to_json).collect();
    ok(json!({"repos": repos, "core": st.core, "graphql": st.graphql, "user": st.user}))
}

async fn create_repo(AxState(sh): Sh, Json(b): Json<RepoBody>) -> Reply {
    sh.lock().create_repo(&b.owner, &b.name)?;
    ok(json!({}))
}

async fn open_pr(
    AxState(sh): Sh,
    Path((o, r)): Path<(String, String)>,
    Json(spec): Json<PrSpec>,
) -> Reply {
    let pr = sh.lock().open_pr(&o, &r, spec)?;
    ok(to_json(&pr))
}

async fn get_pr(AxState(sh): Sh, Path((o, r, n)): Path<(String, String, u64)>) -> Reply {
    let st = sh.lock();
    ok(to_json(st.pull(&pr_ref(o, r, n))?))
}

async fn patch_pr(
    AxState(sh): Sh,
    Path((o, r, n)): Path<(String, String, u64)>,
    Json(p): Json<PrPatch>,
) -> Reply {
    let pr = pr_ref(o, r, n);
    let mut st = sh.lock();
    st.patch_pr(&pr, p)?;
    ok(to_json(st.pull(&pr)?))
}

async fn push(
    AxState(sh): Sh,
    Path((o, r, n)): Path<(String, String, u64)>,
    body: Option<Json<ShaBody>>,
) -> Reply {
    let sha = body.and_then(|Json(b)| b.sha);
    let sha = sh.lock().push(&pr_ref(o, r, n), sha)?;
    ok(json!({"sha": sha}))
}

async fn merge(AxState(sh): Sh, Path((o, r, n)): Path<(String, String, u64)>) -> Reply {
    let sha = sh.lock().merge(&pr_ref(o, r, n))?;
    ok(json!({"sha": sha}))
}

async fn close(AxState(sh): Sh, Path((o, r, n)): Path<(String, String, u64)>) -> Reply {
    sh.lock().close(&pr_ref(o, r, n))?;
    ok(json!({}))
}

async fn reopen(AxState(sh): Sh, Path((o, r, n)): Path<(String, String, u64)>) -> Reply {
    sh.lock().reopen(&pr_ref(o, r, n))?;
    ok(json!({}))
}

async fn add_thread(
    AxState(sh): Sh,
    Path((o, r, n)): Path<(String, String, u64)>,
    Json(spec): Json<ThreadSpec>,
) -> Reply {
    let ids = sh.lock().add_thread(&pr_ref(o, r, n), spec)?;
    ok(to_json(&ids))
}

async fn reply(
    AxState(sh): Sh,
    Path((owner, repo, number, thread)): Path<(String, String, u64, String)>,
    Json(comment): Json<CommentSpec>,
) -> Reply {
    let (id, db) = sh
        .lock()
        .reply(&pr_ref(owner, repo, number), &thread, comment)?;
    ok(json!({"id": id, "databaseId": db}))
}

async fn resolve(
    AxState(sh): Sh,
    Path((owner, repo, number, thread)): Path<(String, String, u64, String)>,
    Json(body): Json<ResolveBody>,
) -> Reply {
    sh.lock()
        .resolve(&pr_ref(owner, repo, number), &thread, body.resolved)?;
    ok(json!({}))
}

async fn push_branch(
    AxState(sh): Sh,
    Path((o, r)): Path<(String, String)>,
    Json(b): Json<BranchBody>,
) -> Reply {
    let sha = sh.lock().push_branch(&o, &r, &b.branch, b.sha)?;
    ok(json!({"sha": sha}))
}

async fn set_checks(
    AxState(sh): Sh,
    Path((o, r, sha)): Path<(String, String, String)>,
    Json(specs): Json<Vec<CheckSpec>>,
) -> Reply {
    sh.lock().set_checks(&o, &r, &sha, specs)?;
    ok(json!({}))
}

async fn set_rollup(
    AxState(sh): Sh,
    Path((o, r, sha)): Path<(String, String, String)>,
    Json(b): Json<RollupBody>,
) -> Reply {
    sh.lock().set_rollup_state(&o, &r, &sha, b.state)?;
    ok(json!({}))
}

async fn add_fault(AxState(sh): Sh, Json(b): Json<FaultBody>) -> Reply {
    let mut st = sh.lock();
    let q = st.faults.entry(b.route).or_default();
    for _ in 0..b.count {
        q.push_back(b.fault.clone());
    }
    ok(json!({}))
}

async fn clear_faults(AxState(sh): Sh) -> Reply {
    sh.lock().faults.clear();
    ok(json!({}))
}

async fn get_rate(AxState(sh): Sh) -> Reply {
    let st = sh.lock();
    ok(json!({"core": st.core, "graphql": st.graphql}))
}

async fn set_rate(AxState(sh): Sh, Path(res): Path<String>, Json(p): Json<RatePatch>) -> Reply {
    let res = match res.as_str() {
        "core" => Resource::Core,
        "graphql" => Resource::Graphql,
        other => return Err(ControlError::Invalid(format!("unknown resource {other}")).into()),
    };
    let b = sh.lock().set_rate(res, p);
    ok(to_json(&b))
}

async fn get_stats(AxState(sh): Sh) -> Reply {
    ok(to_json(&sh.lock().stats))
}

async fn reset_stats(AxState(sh): Sh) -> Reply {
    sh.lock().stats = super::model::Stats::default();
    ok(json!({}))
}

async fn get_requests(AxState(sh): Sh) -> Reply {
    ok(to_json(&sh.lock().log))
}

async fn clear_requests(AxState(sh): Sh) -> Reply {
    sh.lock().log.clear();
    ok(json!({}))
}

async fn set_token(AxState(sh): Sh, Json(b): Json<TokenBody>) -> Reply {
    sh.lock().token = b.token;
    ok(json!({}))
}

async fn set_user(AxState(sh): Sh, Json(u): Json<UserInfo>) -> Reply {
    sh.lock().user = u;
    ok(json!({}))
}

/// The `/_control` sub-router.
pub fn router() -> Router<Arc<Shared>> {
    let pr = "/repos/{o}/{r}/pulls/{n}";
    Router::new()
        .route("/state", get(state_dump))
        .route("/repos", post(create_repo))
        .route("/repos/{o}/{r}/pulls", post(open_pr))
        .route(pr, get(get_pr).patch(patch_pr))
        .route(&format!("{pr}/push"), post(push))
        .route(&format!("{pr}/merge"), post(merge))
        .route(&format!("{pr}/close"), post(close))
        .route(&format!("{pr}/reopen"), post(reopen))
        .route(&format!("{pr}/threads"), post(add_thread))
        .route(&format!("{pr}/threads/{{t}}/comments"), post(reply))
        .route(&format!("{pr}/threads/{{t}}/resolve"), post(resolve))
        .route("/repos/{o}/{r}/branches", post(push_branch))
        .route("/repos/{o}/{r}/commits/{sha}/checks", put(set_checks))
        .route("/repos/{o}/{r}/commits/{sha}/rollup", put(set_rollup))
        .route("/faults", post(add_fault).delete(clear_faults))
        .route("/rate", get(get_rate))
        .route("/rate/{res}", put(set_rate))
        .route("/stats", get(get_stats).delete(reset_stats))
        .route("/requests", get(get_requests).delete(clear_requests))
        .route("/token", put(set_token))
        .route("/user", put(set_user))
}
