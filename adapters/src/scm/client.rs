//! The GitHub HTTP client (adapters.md §8).
//!
//! One [`GithubClient`] (cheap to clone) wraps ONE shared `reqwest::Client` with a 10 s
//! connect timeout and a 30 s total timeout, the headers of adapters.md §8 and a
//! [`TokenProvider`]. Every response — 2xx, 304 and errors alike — has its `X-RateLimit-*`
//! headers parsed into a [`RateSnapshot`] and handed to the [`RateSink`] of
//! [`ClientOptions`], so the rate budget sees every request.
//!
//! Invariants:
//! * Failures are [`ScmError`] classes; nothing panics on bad input and nothing is returned
//!   half-decoded (a PR whose extra context pages fail is an error, not a shorter list).
//! * The token is only ever written into the (sensitive) `Authorization` header; a 401 or a
//!   non-rate 403 invalidates the cached token.
//! * Pagination (`Link: rel="next"`) only follows URLs on the API base's origin, so the token
//!   is never sent elsewhere. Redirects (job logs) are followed by reqwest, which drops the
//!   `Authorization` header when the redirect leaves the host.
//! * Bodies are read with a cap: JSON 16 MiB (beyond → `Malformed`), job logs 5 MiB (the
//!   *last* 5 MiB are kept, since only the tail matters).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use ao_protocol::scm::ThreadFact;
use reqwest::header::{
    ACCEPT, AUTHORIZATION, ETAG, HeaderMap, HeaderName, HeaderValue, IF_NONE_MATCH, LINK,
};
use reqwest::{RequestBuilder, Response, Url};
use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::config::ScmConfig;
use super::error::{RateBucket, RateSnapshot, ScmError, classify, retry_after};
use super::graphql::{
    self, BATCH, DecodedPr, Envelope, PrKey, PrSnapshot, RawContext, facts_query, threads_query,
};
use super::refs::{RepoRef, pr_url};
use super::token::TokenProvider;

/// `User-Agent` of every request.
pub const USER_AGENT: &str = concat!("ao/", env!("CARGO_PKG_VERSION"));
/// Largest JSON body accepted.
pub const JSON_LIMIT: usize = 16 << 20;
/// Bytes of a job log kept (its end).
pub const LOG_LIMIT: usize = 5 << 20;
/// Bytes of an error body read for classification.
const ERROR_BODY_LIMIT: usize = 64 << 10;
/// Discovery pages followed at most (100 PRs each).
const MAX_PAGES: usize = 100;
/// Extra status-context pages fetched at most per PR (20 contexts each).
const MAX_CONTEXT_PAGES: usize = 50;

/// Receives the rate-limit headers of every response.
pub type RateSink = Arc<dyn Fn(RateSnapshot) + Send + Sync>;

/// Client construction options.
#[derive(Clone)]
pub struct ClientOptions {
    pub connect_timeout: Duration,
    /// Total time of one request, body included.
    pub timeout: Duration,
    pub rate_sink: Option<RateSink>,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(10),
            timeout: Duration::from_secs(30),
            rate_sink: None,
        }
    }
}

impl fmt::Debug for ClientOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientOptions")
            .field("connect_timeout", &self.connect_timeout)
            .field("timeout", &self.timeout)
            .field("rate_sink", &self.rate_sink.is_some())
            .finish()
    }
}

/// The client could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientBuildError {
    #[error("{0} is https but ao-adapters was built without the `tls` feature")]
    NoTls(String),
    #[error("cannot build the HTTP client: {0}")]
    Http(String),
}

/// Installs rustls' `ring` provider as the process default (once; "already installed" is
/// fine). With the `tls` feature on, every binary must call this before it builds ANY
/// reqwest client, since reqwest is compiled without a provider of its own. Without the
/// feature it does nothing.
pub fn install_crypto_provider() {
    #[cfg(feature = "tls")]
    {
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}

/// The answer of a conditional guard request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Guard {
    /// 304: nothing changed since the ETag.
    NotModified,
    /// Something changed (or no ETag was given).
    Changed {
        /// The new ETag to store once the refresh fully succeeded.
        etag: Option<String>,
        /// Repo guard: `updated_at` of the most recently updated open PR.
        latest_updated_at: Option<String>,
        /// Base guard: the commit the branch points at.
        tip_sha: Option<String>,
    },
}

/// An open PR from discovery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenPr {
    pub number: u64,
    pub head_ref: String,
    /// `owner/name` of the head repository (`''` when it was deleted).
    pub head_repo: String,
    /// `owner/name` of the base repository.
    pub base_repo: String,
    pub draft: bool,
    pub html_url: String,
    pub updated_at: String,
}

impl OpenPr {
    /// A PR from a fork (head repo ≠ base repo); discovery skips these.
    pub fn is_fork(&self) -> bool {
        !self.head_repo.eq_ignore_ascii_case(&self.base_repo)
    }
}

/// Review threads of a PR.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Threads {
    /// Oldest first.
    pub threads: Vec<ThreadFact>,
    /// An older page was fetched because the window started with an unresolved thread: the
    /// result is a window, to be written in merge mode.
    pub partial: bool,
}

/// `GET /user`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub login: String,
    /// `X-OAuth-Scopes` (empty for fine-grained tokens).
    pub scopes: Vec<String>,
    pub rate: Option<RateSnapshot>,
}

struct Inner {
    http: reqwest::Client,
    config: ScmConfig,
    tokens: Arc<TokenProvider>,
    sink: Option<RateSink>,
}

/// The GitHub client. Clones share the HTTP connection pool and the token cache.
#[derive(Clone)]
pub struct GithubClient {
    inner: Arc<Inner>,
}

impl fmt::Debug for GithubClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GithubClient")
            .field("api_base", &self.inner.config.api_base.as_str())
            .field("graphql_url", &self.inner.config.graphql_url.as_str())
            .field("host", &self.inner.config.host)
            .field("tokens", &self.inner.tokens)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Deserialize)]
struct PullJson {
    number: u64,
    #[serde(default)]
    draft: Option<bool>,
    html_url: String,
    updated_at: String,
    head: SideJson,
    base: SideJson,
}

#[derive(Debug, Deserialize)]
struct SideJson {
    #[serde(rename = "ref")]
    git_ref: String,
    #[serde(default)]
    repo: Option<RepoJson>,
}

#[derive(Debug, Deserialize)]
struct RepoJson {
    full_name: String,
}

#[derive(Debug, Deserialize)]
struct BranchJson {
    commit: CommitJson,
}

#[derive(Debug, Deserialize)]
struct CommitJson {
    sha: String,
}

#[derive(Debug, Deserialize)]
struct UserJson {
    login: String,
}

impl GithubClient {
    /// Builds the client. Installs the rustls provider (with `tls`).
    pub fn new(
        config: ScmConfig,
        tokens: Arc<TokenProvider>,
        options: ClientOptions,
    ) -> Result<Self, ClientBuildError> {
        if config.api_base.scheme() == "https" && !cfg!(feature = "tls") {
            return Err(ClientBuildError::NoTls(config.api_base.to_string()));
        }
        install_crypto_provider();
        let mut headers = HeaderMap::new();
        headers.insert(
            ACCEPT,
            HeaderValue::from_static("application/vnd.github+json"),
        );
        headers.insert(
            HeaderName::from_static("x-github-api-version"),
            HeaderValue::from_static("2022-11-28"),
        );
        let http = reqwest::Client::builder()
            .user_agent(USER_AGENT)
            .default_headers(headers)
            .connect_timeout(options.connect_timeout)
            .timeout(options.timeout)
            .build()
            .map_err(|e| ClientBuildError::Http(error_chain(&e)))?;
        Ok(Self {
            inner: Arc::new(Inner {
                http,
                config,
                tokens,
                sink: options.rate_sink,
            }),
        })
    }

    /// The endpoints in use.
    pub fn config(&self) -> &ScmConfig {
        &self.inner.config
    }

    /// The shared token provider.
    pub fn tokens(&self) -> &Arc<TokenProvider> {
        &self.inner.tokens
    }

    /// The normalised URL of a PR.
    pub fn pr_url(&self, key: &PrKey) -> String {
        pr_url(&self.inner.config, &key.repo, key.number)
    }

    /// Repo guard: has any open PR changed since `etag`?
    pub async fn repo_guard(&self, repo: &RepoRef, etag: Option<&str>) -> Result<Guard, ScmError> {
        let mut url = self.rest(&["repos", &repo.owner, &repo.repo, "pulls"]);
        url.query_pairs_mut()
            .append_pair("state", "open")
            .append_pair("sort", "updated")
            .append_pair("direction", "desc")
            .append_pair("per_page", "1");
        match self.conditional_get::<Vec<PullJson>>(url, etag).await? {
            None => Ok(Guard::NotModified),
            Some((pulls, etag)) => Ok(Guard::Changed {
                etag,
                latest_updated_at: pulls.first().map(|p| p.updated_at.clone()),
                tip_sha: None,
            }),
        }
    }

    /// Check guard: have the check runs of `sha` changed since `etag`?
    pub async fn check_guard(
        &self,
        repo: &RepoRef,
        sha: &str,
        etag: Option<&str>,
    ) -> Result<Guard, ScmError> {
        let mut url = self.rest(&[
            "repos",
            &repo.owner,
            &repo.repo,
            "commits",
            sha,
            "check-runs",
        ]);
        url.query_pairs_mut().append_pair("per_page", "1");
        match self.conditional_get::<serde_json::Value>(url, etag).await? {
            None => Ok(Guard::NotModified),
            Some((_, etag)) => Ok(Guard::Changed {
                etag,
                latest_updated_at: None,
                tip_sha: None,
            }),
        }
    }

    /// Base guard (not in the spec): has branch `branch` moved since `etag`? A PR whose base
    /// moved can become conflicting without GitHub touching the PR itself, so the repo guard
    /// does not see it. The branch goes into the path with its `/` kept as separators (as
    /// GitHub expects) and every other reserved character percent-encoded. A deleted branch
    /// is [`ScmError::NotFound`]; a name git would refuse (empty, or a `.`/`..`/empty
    /// component that would change the path) is [`ScmError::Malformed`] without a request.
    pub async fn base_guard(
        &self,
        repo: &RepoRef,
        branch: &str,
        etag: Option<&str>,
    ) -> Result<Guard, ScmError> {
        if branch
            .split('/')
            .any(|part| part.is_empty() || part == "." || part == "..")
        {
            return Err(ScmError::Malformed(format!(
                "{branch:?} is not a branch name"
            )));
        }
        let mut url = self.rest(&["repos", &repo.owner, &repo.repo, "branches"]);
        if let Ok(mut path) = url.path_segments_mut() {
            path.extend(branch.split('/'));
        }
        match self.conditional_get::<BranchJson>(url, etag).await? {
            None => Ok(Guard::NotModified),
            Some((b, etag)) => Ok(Guard::Changed {
                etag,
                latest_updated_at: None,
                tip_sha: Some(b.commit.sha),
            }),
        }
    }

    /// Discovery: every open PR of the repository, following `Link: rel="next"`.
    pub async fn list_open_prs(&self, repo: &RepoRef) -> Result<Vec<OpenPr>, ScmError> {
        let mut url = self.rest(&["repos", &repo.owner, &repo.repo, "pulls"]);
        url.query_pairs_mut()
            .append_pair("state", "open")
            .append_pair("per_page", "100")
            .append_pair("page", "1");
        let mut out = Vec::new();
        for _ in 0..MAX_PAGES {
            let resp = self
                .send(self.inner.http.get(url.clone()), RateBucket::Rest)
                .await?;
            let next = resp
                .headers()
                .get(LINK)
                .and_then(|v| v.to_str().ok())
                .and_then(next_link);
            let pulls: Vec<PullJson> = decode_json(resp).await?;
            out.extend(pulls.into_iter().map(|p| OpenPr {
                number: p.number,
                head_ref: p.head.git_ref,
                head_repo: p.head.repo.map(|r| r.full_name).unwrap_or_default(),
                base_repo: p.base.repo.map(|r| r.full_name).unwrap_or_default(),
                draft: p.draft.unwrap_or(false),
                html_url: p.html_url,
                updated_at: p.updated_at,
            }));
            let Some(next) = next else {
                return Ok(out);
            };
            let next = Url::parse(&next)
                .map_err(|e| ScmError::Malformed(format!("bad Link URL {next:?}: {e}")))?;
            if next.origin() != self.inner.config.api_base.origin() {
                return Err(ScmError::Malformed(format!(
                    "Link rel=\"next\" leaves the API origin: {next}"
                )));
            }
            url = next;
        }
        Err(ScmError::Malformed(format!(
            "more than {MAX_PAGES} pages of open PRs"
        )))
    }

    /// The raw log of an Actions job (redirects followed; the last [`LOG_LIMIT`] bytes, decoded
    /// lossily). Normalise it with [`super::normalize::log_tail`].
    pub async fn job_log(&self, repo: &RepoRef, job_id: &str) -> Result<String, ScmError> {
        let url = self.rest(&[
            "repos",
            &repo.owner,
            &repo.repo,
            "actions",
            "jobs",
            job_id,
            "logs",
        ]);
        let resp = self
            .send(self.inner.http.get(url), RateBucket::Rest)
            .await?;
        let bytes = read_body(resp, LOG_LIMIT, Overflow::KeepTail).await?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    /// PR facts in batches of at most 25 aliases, each PR's status contexts fully paged.
    /// One result per key, in order.
    pub async fn pr_facts(&self, keys: &[PrKey]) -> Vec<Result<PrSnapshot, ScmError>> {
        let mut out = Vec::with_capacity(keys.len());
        for chunk in keys.chunks(BATCH) {
            out.extend(self.facts_batch(chunk).await);
        }
        out
    }

    async fn facts_batch(&self, chunk: &[PrKey]) -> Vec<Result<PrSnapshot, ScmError>> {
        let first: Vec<(&PrKey, Option<&str>)> = chunk.iter().map(|k| (k, None)).collect();
        let env = match self.graphql(facts_query(&first)).await {
            Ok(env) => env,
            Err(e) => return vec![Err(e); chunk.len()],
        };
        let mut results: Vec<Result<(DecodedPr, Vec<RawContext>), ScmError>> = chunk
            .iter()
            .enumerate()
            .map(|(i, k)| {
                graphql::decode_pr(&env, &format!("pr{i}"), k).map(|mut d| {
                    let contexts = std::mem::take(&mut d.contexts);
                    (d, contexts)
                })
            })
            .collect();

        for _ in 0..MAX_CONTEXT_PAGES {
            let pending: Vec<(usize, String)> = results
                .iter()
                .enumerate()
                .filter_map(|(i, r)| Some((i, r.as_ref().ok()?.0.next_cursor.clone()?)))
                .collect();
            if pending.is_empty() {
                break;
            }
            let pairs: Vec<(&PrKey, Option<&str>)> = pending
                .iter()
                .map(|(i, cursor)| (&chunk[*i], Some(cursor.as_str())))
                .collect();
            let env = match self.graphql(facts_query(&pairs)).await {
                Ok(env) => Some(env),
                Err(e) => {
                    for (i, _) in &pending {
                        results[*i] = Err(e.clone());
                    }
                    None
                }
            };
            let Some(env) = env else { continue };
            for (j, (i, _)) in pending.iter().enumerate() {
                let page = graphql::decode_pr(&env, &format!("pr{j}"), &chunk[*i]);
                let merged = match (&mut results[*i], page) {
                    (Ok((first, contexts)), Ok(page)) if page.commit_oid == first.commit_oid => {
                        contexts.extend(page.contexts);
                        first.next_cursor = page.next_cursor;
                        continue;
                    }
                    (_, Ok(_)) => ScmError::Transient(
                        "the head commit changed while paging status contexts".into(),
                    ),
                    (_, Err(e)) => e,
                };
                results[*i] = Err(merged);
            }
        }

        results
            .into_iter()
            .zip(chunk)
            .map(|(r, key)| {
                let (pr, contexts) = r?;
                if pr.next_cursor.is_some() {
                    return Err(ScmError::Malformed(format!(
                        "more than {} status contexts",
                        (MAX_CONTEXT_PAGES + 1) * graphql::CONTEXTS_PAGE
                    )));
                }
                Ok(graphql::snapshot(
                    &self.inner.config.host,
                    self.pr_url(key),
                    key,
                    &pr,
                    &contexts,
                ))
            })
            .collect()
    }

    /// Review threads (scm.md §4 step 7): the last 50; one older page of 50 more only when
    /// older threads exist and the oldest fetched one is unresolved (then `partial`).
    pub async fn review_threads(&self, repo: &RepoRef, number: u64) -> Result<Threads, ScmError> {
        let env = self.graphql(threads_query(repo, number, None)).await?;
        let page = graphql::decode_threads(&env)?;
        let mut threads = page.threads;
        let older_needed = threads.first().is_some_and(|t| !t.resolved);
        let Some(cursor) = page.older.filter(|_| older_needed) else {
            return Ok(Threads {
                threads,
                partial: false,
            });
        };
        let env = self
            .graphql(threads_query(repo, number, Some(&cursor)))
            .await?;
        let mut all = graphql::decode_threads(&env)?.threads;
        all.retain(|t| !threads.iter().any(|x| x.thread_id == t.thread_id));
        all.append(&mut threads);
        Ok(Threads {
            threads: all,
            partial: true,
        })
    }

    /// `GET /user`: the token's login, OAuth scopes and current rate.
    pub async fn user(&self) -> Result<Identity, ScmError> {
        let resp = self
            .send(self.inner.http.get(self.rest(&["user"])), RateBucket::Rest)
            .await?;
        let scopes = resp
            .headers()
            .get("x-oauth-scopes")
            .and_then(|v| v.to_str().ok())
            .map(|s| {
                s.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        let rate = RateSnapshot::from_headers(resp.headers(), RateBucket::Rest);
        let user: UserJson = decode_json(resp).await?;
        Ok(Identity {
            login: user.login,
            scopes,
            rate,
        })
    }

    fn rest(&self, segments: &[&str]) -> Url {
        self.inner.config.rest_url(segments)
    }

    /// GET with `If-None-Match`; `None` on 304, else the body and the new ETag.
    async fn conditional_get<T: DeserializeOwned>(
        &self,
        url: Url,
        etag: Option<&str>,
    ) -> Result<Option<(T, Option<String>)>, ScmError> {
        let mut req = self.inner.http.get(url);
        if let Some(v) = etag.and_then(|e| HeaderValue::from_str(e).ok()) {
            req = req.header(IF_NONE_MATCH, v);
        }
        let resp = match self.send(req, RateBucket::Rest).await {
            Err(ScmError::NotModified) => return Ok(None),
            other => other?,
        };
        let etag = resp
            .headers()
            .get(ETAG)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        Ok(Some((decode_json(resp).await?, etag)))
    }

    /// POSTs a GraphQL document; whole-query errors (`RATE_LIMITED`, errors without an alias,
    /// no data) become the error of the call.
    async fn graphql(&self, query: String) -> Result<Envelope, ScmError> {
        let req = self
            .inner
            .http
            .post(self.inner.config.graphql_url.clone())
            .json(&serde_json::json!({ "query": query }));
        let resp = self.send(req, RateBucket::Graphql).await?;
        let headers = resp.headers().clone();
        let env: Envelope = decode_json(resp).await?;
        graphql::query_error(&env, || ScmError::RateLimited {
            retry_after: retry_after(&headers, chrono::Utc::now()),
            reset_at: RateSnapshot::from_headers(&headers, RateBucket::Graphql)
                .and_then(|s| s.reset_at),
        })?;
        Ok(env)
    }

    /// Sends with the token, feeds the rate sink, and classifies non-2xx answers.
    async fn send(&self, req: RequestBuilder, bucket: RateBucket) -> Result<Response, ScmError> {
        injected_fault(&req).await?;
        let token = match self.inner.tokens.token().await {
            Ok(Some(t)) => t,
            Ok(None) => return Err(ScmError::NoToken),
            Err(e) => return Err(ScmError::Transient(e.to_string())),
        };
        let mut auth = HeaderValue::from_str(&format!("Bearer {}", token.secret.expose()))
            .map_err(|_| ScmError::AuthFailed {
                status: 0,
                message: format!(
                    "the token from {} contains characters not allowed in a header",
                    token.source
                ),
            })?;
        auth.set_sensitive(true);
        let resp = req
            .header(AUTHORIZATION, auth)
            .send()
            .await
            .map_err(|e| transport(&e).redacted(token.secret.expose()))?;
        if let (Some(sink), Some(snap)) = (
            &self.inner.sink,
            RateSnapshot::from_headers(resp.headers(), bucket),
        ) {
            sink(snap);
        }
        let status = resp.status();
        if status.is_success() {
            return Ok(resp);
        }
        let headers = resp.headers().clone();
        let body = read_body(resp, ERROR_BODY_LIMIT, Overflow::Truncate)
            .await
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default();
        let err = classify(status, &headers, &body).redacted(token.secret.expose());
        if matches!(err, ScmError::AuthFailed { .. }) {
            self.inner.tokens.invalidate();
        }
        Err(err)
    }
}

/// Fault-injection point `github.send` (`fault-injection` feature only, see
/// `ao_protocol::faults`; subject: the request URL): `Hang` blocks for the client's 30 s
/// timeout (or the fault's) and then fails as a timed-out request does; `Busy` and `Io` fail as
/// a broken connection does (all [`ScmError::Transient`]); `Panic` panics in the caller.
#[cfg(feature = "fault-injection")]
async fn injected_fault(req: &RequestBuilder) -> Result<(), ScmError> {
    use ao_protocol::faults::{self, Fault, point};
    let url = req
        .try_clone()
        .and_then(|r| r.build().ok())
        .map(|r| r.url().to_string())
        .unwrap_or_default();
    match faults::fire(point::GITHUB_SEND, &url) {
        None => Ok(()),
        Some(Fault::Hang { timeout }) => {
            tokio::time::sleep(timeout.unwrap_or(ClientOptions::default().timeout)).await;
            Err(ScmError::Transient(format!(
                "timed out: error sending request for url ({url}) (injected hang)"
            )))
        }
        Some(Fault::Busy | Fault::Io) => Err(ScmError::Transient(format!(
            "error sending request for url ({url}): injected I/O error"
        ))),
        Some(Fault::Panic) => panic!("injected panic sending {url}"),
    }
}

/// Without the `fault-injection` feature the point does nothing.
#[cfg(not(feature = "fault-injection"))]
#[allow(clippy::unused_async)]
async fn injected_fault(_: &RequestBuilder) -> Result<(), ScmError> {
    Ok(())
}

/// What to do with bytes beyond the cap.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Overflow {
    /// Fail with `Malformed`.
    Fail,
    /// Keep the first `limit` bytes.
    Truncate,
    /// Keep the last `limit` bytes.
    KeepTail,
}

async fn read_body(
    mut resp: Response,
    limit: usize,
    overflow: Overflow,
) -> Result<Vec<u8>, ScmError> {
    let mut buf: Vec<u8> = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| transport(&e))? {
        buf.extend_from_slice(&chunk);
        if buf.len() > limit {
            match overflow {
                Overflow::Fail => {
                    return Err(ScmError::Malformed(format!(
                        "response body larger than {limit} bytes"
                    )));
                }
                Overflow::Truncate => {
                    buf.truncate(limit);
                    return Ok(buf);
                }
                Overflow::KeepTail => {
                    // Amortised: drop the head only once it doubles the window.
                    if buf.len() > 2 * limit {
                        buf.drain(..buf.len() - limit);
                    }
                }
            }
        }
    }
    if buf.len() > limit {
        buf.drain(..buf.len() - limit);
    }
    Ok(buf)
}

async fn decode_json<T: DeserializeOwned>(resp: Response) -> Result<T, ScmError> {
    let body = read_body(resp, JSON_LIMIT, Overflow::Fail).await?;
    serde_json::from_slice(&body).map_err(|e| ScmError::Malformed(format!("invalid JSON: {e}")))
}

/// A reqwest error (with its source chain) as a `Transient` error.
fn transport(e: &reqwest::Error) -> ScmError {
    let what = if e.is_timeout() { "timed out: " } else { "" };
    ScmError::Transient(format!("{what}{}", error_chain(e)))
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(inner) = source {
        let text = inner.to_string();
        if !s.contains(&text) {
            s.push_str(": ");
            s.push_str(&text);
        }
        source = inner.source();
    }
    s
}

/// The `rel="next"` target of a `Link` header.
pub fn next_link(header: &str) -> Option<String> {
    header.split(',').find_map(|part| {
        let part = part.trim();
        let (url, params) = part.strip_prefix('<')?.split_once('>')?;
        params
            .split(';')
            .filter_map(|p| p.trim().strip_prefix("rel="))
            .any(|rel| {
                rel.trim_matches('"')
                    .split_ascii_whitespace()
                    .any(|r| r.eq_ignore_ascii_case("next"))
            })
            .then(|| url.to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_header_next() {
        let h = r#"<https://api.github.com/repositories/1/pulls?page=2>; rel="next", <https://api.github.com/repositories/1/pulls?page=5>; rel="last""#;
        assert_eq!(
            next_link(h).as_deref(),
            Some("https://api.github.com/repositories/1/pulls?page=2")
        );
        let last_only = r#"<https://x/p?page=1>; rel="prev", <https://x/p?page=1>; rel="first""#;
        assert_eq!(next_link(last_only), None);
        assert_eq!(
            next_link("<https://x/?page=3>; rel=next").as_deref(),
            Some("https://x/?page=3")
        );
        assert_eq!(next_link("garbage"), None);
        assert_eq!(next_link(""), None);
    }

    #[test]
    fn forks_are_detected_case_insensitively() {
        let pr = |head: &str| OpenPr {
            number: 1,
            head_ref: "b".into(),
            head_repo: head.into(),
            base_repo: "Acme/App".into(),
            draft: false,
            html_url: String::new(),
            updated_at: String::new(),
        };
        assert!(!pr("acme/app").is_fork());
        assert!(pr("someone/app").is_fork());
        assert!(pr("").is_fork());
    }
}
