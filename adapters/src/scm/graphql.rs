//! GraphQL documents and their decoding (adapters.md §8, the client ⇄ fake-server agreement).
//!
//! * PR facts: ONE `query { … }` with aliases `pr0…prN` (N < 25), each
//!   `prN: repository(owner: "<o>", name: "<r>") { pullRequest(number: <n>) { … } }` selecting
//!   the fields of adapters.md §8 and the last commit's `statusCheckRollup` with
//!   `contexts(first: 20[, after: "<cursor>"])`. Later context pages use the same document shape
//!   with an `after` cursor per alias.
//! * Review threads: `reviewThreads(last: 50[, before: "<cursor>"])` with `pageInfo
//!   { hasPreviousPage startCursor }` and `comments(first: 5)`.
//!
//! String literals are JSON-escaped. Decoding is lenient only where GitHub's schema is nullable;
//! a non-null field that is missing or mistyped makes that alias [`ScmError::Malformed`], so a
//! PR is never observed half-decoded.

use std::fmt::Write as _;

use ao_protocol::enums::{CheckKind, CheckStatus};
use ao_protocol::scm::{CheckFact, CommentFact, PrFacts, ThreadFact};
use serde::Deserialize;
use serde_json::Value;

use super::error::ScmError;
use super::hashes::thread_hash;
use super::normalize;
use super::refs::RepoRef;

/// PRs per facts query.
pub const BATCH: usize = 25;
/// Status contexts per page.
pub const CONTEXTS_PAGE: usize = 20;
/// Review threads per page.
pub const THREADS_PAGE: usize = 50;
/// Comments kept per thread.
pub const COMMENTS_PER_THREAD: usize = 5;

/// One PR to fetch.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PrKey {
    pub repo: RepoRef,
    pub number: u64,
}

impl PrKey {
    pub fn new(repo: RepoRef, number: u64) -> Self {
        Self { repo, number }
    }
}

fn lit(s: &str) -> String {
    Value::String(s.to_string()).to_string()
}

const PR_FIELDS: &str = "number url state isDraft merged closed title additions deletions \
changedFiles mergeable mergeStateStatus reviewDecision headRefName headRefOid \
headRepository { nameWithOwner } baseRefName baseRefOid createdAt updatedAt mergedAt closedAt \
author { login } mergeCommit { oid }";

/// The facts document for `keys` (at most [`BATCH`]); `cursors[i]` continues alias `pr<i>`'s
/// status contexts after that cursor.
pub fn facts_query(keys: &[(&PrKey, Option<&str>)]) -> String {
    let mut q = String::from("query {");
    for (i, (key, cursor)) in keys.iter().enumerate() {
        let after = cursor
            .map(|c| format!(", after: {}", lit(c)))
            .unwrap_or_default();
        let _ = write!(
            q,
            " pr{i}: repository(owner: {}, name: {}) {{ pullRequest(number: {}) {{ {PR_FIELDS} \
             commits(last: 1) {{ nodes {{ commit {{ oid statusCheckRollup {{ state \
             contexts(first: {CONTEXTS_PAGE}{after}) {{ pageInfo {{ hasNextPage endCursor }} \
             nodes {{ __typename ... on CheckRun {{ name status conclusion detailsUrl databaseId }} \
             ... on StatusContext {{ context state targetUrl }} }} }} }} }} }} }} }} }}",
            lit(&key.repo.owner),
            lit(&key.repo.repo),
            key.number
        );
    }
    q.push_str(" }");
    q
}

/// The review-threads document (`before` = the previous page's `startCursor`).
pub fn threads_query(repo: &RepoRef, number: u64, before: Option<&str>) -> String {
    let before = before
        .map(|c| format!(", before: {}", lit(c)))
        .unwrap_or_default();
    format!(
        "query {{ repository(owner: {}, name: {}) {{ pullRequest(number: {number}) {{ \
         reviewThreads(last: {THREADS_PAGE}{before}) {{ pageInfo {{ hasPreviousPage startCursor }} \
         nodes {{ id isResolved path line comments(first: {COMMENTS_PER_THREAD}) {{ nodes {{ id \
         databaseId body url createdAt author {{ login __typename }} }} }} }} }} }} }} }}",
        lit(&repo.owner),
        lit(&repo.repo)
    )
}

/// A GraphQL response envelope.
#[derive(Debug, Deserialize)]
pub struct Envelope {
    #[serde(default)]
    pub data: Option<serde_json::Map<String, Value>>,
    #[serde(default)]
    pub errors: Vec<GqlError>,
}

/// One entry of `errors`.
#[derive(Debug, Deserialize)]
pub struct GqlError {
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    #[serde(default)]
    pub path: Option<Vec<Value>>,
    #[serde(default)]
    pub message: Option<String>,
}

impl GqlError {
    /// The alias (first path element) the error belongs to.
    pub fn alias(&self) -> Option<&str> {
        self.path.as_ref()?.first()?.as_str()
    }

    fn describe(&self) -> String {
        format!(
            "GraphQL {}: {}",
            self.kind.as_deref().unwrap_or("error"),
            self.message.as_deref().unwrap_or("")
        )
    }
}

/// Checks the whole-query errors: `RATE_LIMITED` anywhere → `rate_limited`; an error without an
/// alias path → `Transient`. `rate_limited` builds the error from the response headers.
pub fn query_error(env: &Envelope, rate_limited: impl Fn() -> ScmError) -> Result<(), ScmError> {
    if env
        .errors
        .iter()
        .any(|e| e.kind.as_deref() == Some("RATE_LIMITED"))
    {
        return Err(rate_limited());
    }
    if let Some(global) = env.errors.iter().find(|e| e.alias().is_none()) {
        return Err(ScmError::Transient(global.describe()));
    }
    if env.data.is_none() {
        return Err(ScmError::Malformed("GraphQL response without data".into()));
    }
    Ok(())
}

/// The error (if any) that `errors` reports for `alias`: `NOT_FOUND` → `NotFound`, other
/// types → `Transient`.
pub fn alias_error(env: &Envelope, alias: &str) -> Option<ScmError> {
    let e = env.errors.iter().find(|e| e.alias() == Some(alias))?;
    Some(if e.kind.as_deref() == Some("NOT_FOUND") {
        ScmError::NotFound
    } else {
        ScmError::Transient(e.describe())
    })
}

// ---------------------------------------------------------------------------------------------
// PR facts

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RepoNode {
    pull_request: Option<RawPr>,
}

#[derive(Debug, Default, Deserialize)]
struct Login {
    #[serde(default)]
    login: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct NameWithOwner {
    name_with_owner: String,
}

#[derive(Debug, Deserialize)]
struct Oid {
    oid: String,
}

/// One `pullRequest` node as GitHub sends it.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RawPr {
    number: u64,
    url: String,
    state: String,
    is_draft: bool,
    merged: bool,
    closed: bool,
    title: String,
    additions: u64,
    deletions: u64,
    changed_files: u64,
    mergeable: String,
    merge_state_status: String,
    #[serde(default)]
    review_decision: Option<String>,
    head_ref_name: String,
    head_ref_oid: String,
    #[serde(default)]
    head_repository: Option<NameWithOwner>,
    base_ref_name: String,
    base_ref_oid: String,
    created_at: String,
    updated_at: String,
    #[serde(default)]
    merged_at: Option<String>,
    #[serde(default)]
    closed_at: Option<String>,
    #[serde(default)]
    author: Option<Login>,
    #[serde(default)]
    merge_commit: Option<Oid>,
    commits: Commits,
}

#[derive(Debug, Deserialize)]
struct Commits {
    nodes: Vec<CommitNode>,
}

#[derive(Debug, Deserialize)]
struct CommitNode {
    commit: Commit,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Commit {
    oid: String,
    #[serde(default)]
    status_check_rollup: Option<Rollup>,
}

#[derive(Debug, Deserialize)]
struct Rollup {
    #[serde(default)]
    state: Option<String>,
    contexts: Contexts,
}

#[derive(Debug, Deserialize)]
struct Contexts {
    #[serde(rename = "pageInfo")]
    page_info: NextPage,
    nodes: Vec<RawContext>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct NextPage {
    has_next_page: bool,
    #[serde(default)]
    end_cursor: Option<String>,
}

/// A `statusCheckRollup` context: a CheckRun or a StatusContext.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "__typename")]
pub enum RawContext {
    #[serde(rename_all = "camelCase")]
    CheckRun {
        name: String,
        status: String,
        #[serde(default)]
        conclusion: Option<String>,
        #[serde(default)]
        details_url: Option<String>,
        #[serde(default)]
        database_id: Option<i64>,
    },
    #[serde(rename_all = "camelCase")]
    StatusContext {
        context: String,
        state: String,
        #[serde(default)]
        target_url: Option<String>,
    },
}

/// One decoded alias of a facts query.
#[derive(Debug)]
pub struct DecodedPr {
    pub raw: RawPr,
    /// The last commit's oid (`headRefOid` when the PR has no commits node).
    pub commit_oid: String,
    pub rollup_state: Option<String>,
    pub contexts: Vec<RawContext>,
    /// Set when more contexts follow.
    pub next_cursor: Option<String>,
}

/// Decodes alias `alias` of a facts response for `key` (after [`query_error`] passed).
pub fn decode_pr(env: &Envelope, alias: &str, key: &PrKey) -> Result<DecodedPr, ScmError> {
    if let Some(e) = alias_error(env, alias) {
        return Err(e);
    }
    let value = env
        .data
        .as_ref()
        .and_then(|d| d.get(alias))
        .ok_or_else(|| ScmError::Malformed(format!("GraphQL response lacks alias {alias}")))?;
    if value.is_null() {
        return Err(ScmError::NotFound);
    }
    let node: RepoNode = serde_json::from_value(value.clone())
        .map_err(|e| ScmError::Malformed(format!("{alias}: {e}")))?;
    let raw = node.pull_request.ok_or(ScmError::NotFound)?;
    if raw.number != key.number {
        return Err(ScmError::Malformed(format!(
            "{alias}: asked for PR {} but got {}",
            key.number, raw.number
        )));
    }
    let (commit_oid, rollup) = match raw.commits.nodes.last() {
        Some(n) => (n.commit.oid.clone(), n.commit.status_check_rollup.as_ref()),
        None => (raw.head_ref_oid.clone(), None),
    };
    let (rollup_state, contexts, next_cursor) = match rollup {
        None => (None, Vec::new(), None),
        Some(r) => {
            let next = if r.contexts.page_info.has_next_page {
                Some(r.contexts.page_info.end_cursor.clone().ok_or_else(|| {
                    ScmError::Malformed(format!("{alias}: hasNextPage without endCursor"))
                })?)
            } else {
                None
            };
            (r.state.clone(), r.contexts.nodes.clone(), next)
        }
    };
    Ok(DecodedPr {
        raw,
        commit_oid,
        rollup_state,
        contexts,
        next_cursor,
    })
}

/// A PR's normalised facts and checks (log tails empty: the observer fills them, §6.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrSnapshot {
    pub facts: PrFacts,
    pub checks: Vec<CheckFact>,
}

/// Ranks a status for merging duplicate check names: the most alarming one wins.
fn severity(s: CheckStatus) -> u8 {
    match s {
        CheckStatus::Failed => 6,
        CheckStatus::Cancelled => 5,
        CheckStatus::InProgress => 4,
        CheckStatus::Queued => 3,
        CheckStatus::Unknown => 2,
        CheckStatus::Passed => 1,
        CheckStatus::Skipped => 0,
    }
}

/// Normalises the contexts into checks of `commit`. Check names are unique per commit (the
/// `pr_checks` key): when GitHub reports a name twice, the more alarming status wins (failed >
/// cancelled > in progress > queued > unknown > passed > skipped), the first one on a tie.
pub fn normalize_checks(commit: &str, contexts: &[RawContext]) -> Vec<CheckFact> {
    let mut out: Vec<CheckFact> = Vec::new();
    for ctx in contexts {
        let fact = match ctx {
            RawContext::CheckRun {
                name,
                status,
                conclusion,
                details_url,
                database_id,
            } => CheckFact {
                name: name.clone(),
                commit_sha: commit.to_string(),
                kind: CheckKind::CheckRun,
                status: normalize::check_run_status(status, conclusion.as_deref()),
                conclusion: conclusion.clone().unwrap_or_default(),
                url: details_url.clone().unwrap_or_default(),
                job_id: database_id.map(|d| d.to_string()).unwrap_or_default(),
                log_tail: String::new(),
                log_hash: String::new(),
            },
            RawContext::StatusContext {
                context,
                state,
                target_url,
            } => CheckFact {
                name: context.clone(),
                commit_sha: commit.to_string(),
                kind: CheckKind::StatusContext,
                status: normalize::status_context_status(state),
                conclusion: state.clone(),
                url: target_url.clone().unwrap_or_default(),
                job_id: String::new(),
                log_tail: String::new(),
                log_hash: String::new(),
            },
        };
        match out.iter_mut().find(|c| c.name == fact.name) {
            Some(existing) if severity(fact.status) > severity(existing.status) => *existing = fact,
            Some(_) => {}
            None => out.push(fact),
        }
    }
    out
}

/// Builds the stored facts of a fully paged PR.
pub fn snapshot(
    host: &str,
    pr_url: String,
    key: &PrKey,
    pr: &DecodedPr,
    contexts: &[RawContext],
) -> PrSnapshot {
    let raw = &pr.raw;
    let state = normalize::pr_state(raw.merged, raw.closed, raw.is_draft);
    let review_decision = normalize::review_decision(raw.review_decision.as_deref());
    let ci_state = normalize::ci_state(pr.rollup_state.as_deref());
    let (mergeability, mergeability_reasons) = normalize::mergeability(
        &raw.mergeable,
        &raw.merge_state_status,
        raw.is_draft,
        ci_state,
        review_decision,
    );
    let facts = PrFacts {
        url: pr_url,
        number: raw.number,
        state,
        review_decision,
        ci_state,
        mergeability,
        mergeability_reasons,
        host: host.to_string(),
        repo: key.repo.to_string(),
        head_repo: raw
            .head_repository
            .as_ref()
            .map(|h| h.name_with_owner.clone())
            .unwrap_or_default(),
        source_branch: raw.head_ref_name.clone(),
        target_branch: raw.base_ref_name.clone(),
        head_sha: raw.head_ref_oid.clone(),
        base_sha: raw.base_ref_oid.clone(),
        merge_commit_sha: raw
            .merge_commit
            .as_ref()
            .map(|m| m.oid.clone())
            .unwrap_or_default(),
        title: raw.title.clone(),
        author: raw
            .author
            .as_ref()
            .and_then(|a| a.login.clone())
            .unwrap_or_default(),
        html_url: raw.url.clone(),
        additions: raw.additions,
        deletions: raw.deletions,
        changed_files: raw.changed_files,
        is_draft: raw.is_draft,
        is_merged: raw.merged,
        is_closed: raw.closed,
        provider_state: raw.state.clone(),
        provider_mergeable: raw.mergeable.clone(),
        provider_merge_state_status: raw.merge_state_status.clone(),
        created_at_provider: Some(raw.created_at.clone()),
        updated_at_provider: Some(raw.updated_at.clone()),
        merged_at_provider: raw.merged_at.clone(),
        closed_at_provider: raw.closed_at.clone(),
    };
    PrSnapshot {
        facts,
        checks: normalize_checks(&pr.commit_oid, contexts),
    }
}

// ---------------------------------------------------------------------------------------------
// Review threads

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ThreadsRepo {
    pull_request: Option<ThreadsPr>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ThreadsPr {
    review_threads: ThreadConnection,
}

#[derive(Debug, Deserialize)]
struct ThreadConnection {
    #[serde(rename = "pageInfo")]
    page_info: PrevPage,
    nodes: Vec<RawThread>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PrevPage {
    has_previous_page: bool,
    #[serde(default)]
    start_cursor: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawThread {
    id: String,
    is_resolved: bool,
    #[serde(default)]
    path: Option<String>,
    #[serde(default)]
    line: Option<i64>,
    comments: RawComments,
}

#[derive(Debug, Deserialize)]
struct RawComments {
    nodes: Vec<RawComment>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawComment {
    id: String,
    body: String,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    created_at: Option<String>,
    #[serde(default)]
    author: Option<RawAuthor>,
}

#[derive(Debug, Deserialize)]
struct RawAuthor {
    #[serde(default)]
    login: Option<String>,
    #[serde(default, rename = "__typename")]
    typename: Option<String>,
}

/// One page of review threads.
#[derive(Debug)]
pub struct ThreadPage {
    /// Oldest first, as GitHub returns `last: N`.
    pub threads: Vec<ThreadFact>,
    /// `startCursor` when older threads exist.
    pub older: Option<String>,
}

/// Decodes a review-threads response (after [`query_error`] passed).
pub fn decode_threads(env: &Envelope) -> Result<ThreadPage, ScmError> {
    if let Some(e) = alias_error(env, "repository") {
        return Err(e);
    }
    let value = env
        .data
        .as_ref()
        .and_then(|d| d.get("repository"))
        .ok_or_else(|| ScmError::Malformed("GraphQL response lacks repository".into()))?;
    if value.is_null() {
        return Err(ScmError::NotFound);
    }
    let repo: ThreadsRepo = serde_json::from_value(value.clone())
        .map_err(|e| ScmError::Malformed(format!("reviewThreads: {e}")))?;
    let conn = repo.pull_request.ok_or(ScmError::NotFound)?.review_threads;
    let older = if conn.page_info.has_previous_page {
        Some(
            conn.page_info
                .start_cursor
                .ok_or_else(|| ScmError::Malformed("hasPreviousPage without startCursor".into()))?,
        )
    } else {
        None
    };
    let threads = conn
        .nodes
        .into_iter()
        .map(|t| {
            let comments: Vec<CommentFact> = t
                .comments
                .nodes
                .into_iter()
                .take(COMMENTS_PER_THREAD)
                .map(|c| {
                    let (author, is_bot) = c.author.map_or((String::new(), false), |a| {
                        (
                            a.login.unwrap_or_default(),
                            a.typename.as_deref() == Some("Bot"),
                        )
                    });
                    CommentFact {
                        comment_id: c.id,
                        author,
                        is_bot,
                        body: c.body,
                        url: c.url.unwrap_or_default(),
                        created_at: c.created_at,
                    }
                })
                .collect();
            let path = t.path.unwrap_or_default();
            ThreadFact {
                semantic_hash: thread_hash(t.is_resolved, &path, t.line, &comments),
                thread_id: t.id,
                path,
                line: t.line,
                resolved: t.is_resolved,
                is_bot: comments.first().is_some_and(|c| c.is_bot),
                comments,
            }
        })
        .collect();
    Ok(ThreadPage { threads, older })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn key(o: &str, r: &str, n: u64) -> PrKey {
        PrKey::new(RepoRef::new(o, r).expect("valid"), n)
    }

    fn env(v: Value) -> Envelope {
        serde_json::from_value(v).expect("envelope")
    }

    fn pr_json(number: u64) -> Value {
        let contexts = json!([
            {"__typename": "CheckRun", "name": "test", "status": "COMPLETED",
             "conclusion": "FAILURE", "detailsUrl": "https://ci/1", "databaseId": 77},
            {"__typename": "StatusContext", "context": "ci/legacy", "state": "SUCCESS",
             "targetUrl": null}
        ]);
        let commits = json!({"nodes": [{"commit": {"oid": "h1", "statusCheckRollup": {
            "state": "FAILURE",
            "contexts": {"pageInfo": {"hasNextPage": false, "endCursor": null}, "nodes": contexts}
        }}}]});
        let mut pr = json!({
            "number": number, "url": format!("https://github.com/o/r/pull/{number}"),
            "state": "OPEN", "isDraft": false, "merged": false, "closed": false,
            "title": "Add x", "additions": 10, "deletions": 2, "changedFiles": 3,
            "mergeable": "MERGEABLE", "mergeStateStatus": "CLEAN", "reviewDecision": null,
        });
        let rest = json!({
            "headRefName": "feat/x", "headRefOid": "h1", "headRepository": {"nameWithOwner": "o/r"},
            "baseRefName": "main", "baseRefOid": "b1", "createdAt": "2024-01-01T00:00:00Z",
            "updatedAt": "2024-01-02T00:00:00Z", "mergedAt": null, "closedAt": null,
            "author": {"login": "alice"}, "mergeCommit": null, "commits": commits,
        });
        merge(&mut pr, rest);
        json!({ "pullRequest": pr })
    }

    fn merge(into: &mut Value, from: Value) {
        if let (Some(a), Value::Object(b)) = (into.as_object_mut(), from) {
            a.extend(b);
        }
    }

    #[test]
    fn facts_query_shape() {
        let a = key("o", "r", 1);
        let b = PrKey::new(
            RepoRef {
                owner: "we\"ird".into(),
                repo: "r".into(),
            },
            2,
        );
        let q = facts_query(&[(&a, None), (&b, Some("Y3Vy"))]);
        assert!(q.starts_with("query { pr0: repository(owner: \"o\", name: \"r\") { pullRequest(number: 1) { number url state"));
        assert!(q.contains(
            "pr1: repository(owner: \"we\\\"ird\", name: \"r\") { pullRequest(number: 2) {"
        ));
        assert!(q.contains("contexts(first: 20) { pageInfo { hasNextPage endCursor }"));
        assert!(q.contains("contexts(first: 20, after: \"Y3Vy\")"));
        assert!(q.contains("headRepository { nameWithOwner }"));
        assert!(q.contains("... on CheckRun { name status conclusion detailsUrl databaseId } ... on StatusContext { context state targetUrl }"));
        assert_eq!(q.matches('{').count(), q.matches('}').count());
        let t = threads_query(&RepoRef::new("o", "r").expect("valid"), 5, Some("c"));
        assert!(t.contains(
            "reviewThreads(last: 50, before: \"c\") { pageInfo { hasPreviousPage startCursor }"
        ));
        assert!(t.contains("comments(first: 5) { nodes { id databaseId body url createdAt author { login __typename } } }"));
        assert_eq!(t.matches('{').count(), t.matches('}').count());
    }

    #[test]
    fn decodes_and_normalises_a_pr() {
        let k = key("o", "r", 1);
        let e = env(json!({"data": {"pr0": pr_json(1)}}));
        query_error(&e, || ScmError::NotFound).expect("no query error");
        let d = decode_pr(&e, "pr0", &k).expect("decoded");
        assert!(d.next_cursor.is_none());
        let s = snapshot(
            "github.com",
            "https://github.com/o/r/pull/1".into(),
            &k,
            &d,
            &d.contexts,
        );
        assert_eq!(s.facts.ci_state.as_str(), "failing");
        assert_eq!(s.facts.mergeability.as_str(), "blocked");
        assert_eq!(s.facts.mergeability_reasons, ["ci_failing"]);
        assert_eq!(s.facts.author, "alice");
        assert_eq!(s.facts.head_repo, "o/r");
        assert_eq!(s.facts.repo, "o/r");
        assert_eq!(s.checks.len(), 2);
        assert_eq!(s.checks[0].job_id, "77");
        assert_eq!(s.checks[0].status, CheckStatus::Failed);
        assert_eq!(s.checks[1].kind, CheckKind::StatusContext);
        assert_eq!(s.checks[1].conclusion, "SUCCESS");
        assert_eq!(s.checks[1].commit_sha, "h1");
    }

    #[test]
    fn alias_errors_and_malformed_aliases() {
        let k = key("o", "r", 1);
        let e = env(json!({
            "data": {"pr0": {"pullRequest": null}, "pr1": {"pullRequest": {"number": 1}},
                     "pr2": pr_json(1), "pr3": null},
            "errors": [{"type": "NOT_FOUND", "path": ["pr0", "pullRequest"], "message": "nope"},
                       {"type": "FORBIDDEN", "path": ["pr2"], "message": "no"}]
        }));
        query_error(&e, || ScmError::NotFound).expect("alias errors only");
        assert!(matches!(decode_pr(&e, "pr0", &k), Err(ScmError::NotFound)));
        assert!(matches!(
            decode_pr(&e, "pr1", &k),
            Err(ScmError::Malformed(_))
        ));
        assert!(matches!(
            decode_pr(&e, "pr2", &k),
            Err(ScmError::Transient(_))
        ));
        assert!(matches!(decode_pr(&e, "pr3", &k), Err(ScmError::NotFound)));
        assert!(matches!(
            decode_pr(&e, "pr4", &k),
            Err(ScmError::Malformed(_))
        ));
        let wrong = env(json!({"data": {"pr0": pr_json(2)}}));
        assert!(matches!(
            decode_pr(&wrong, "pr0", &k),
            Err(ScmError::Malformed(_))
        ));
    }

    #[test]
    fn whole_query_errors() {
        let limited =
            env(json!({"data": null, "errors": [{"type": "RATE_LIMITED", "message": "x"}]}));
        assert_eq!(
            query_error(&limited, || ScmError::NoToken).expect_err("limited"),
            ScmError::NoToken
        );
        let global = env(json!({"errors": [{"message": "parse error"}]}));
        assert!(matches!(
            query_error(&global, || ScmError::NoToken),
            Err(ScmError::Transient(_))
        ));
        let empty = env(json!({}));
        assert!(matches!(
            query_error(&empty, || ScmError::NoToken),
            Err(ScmError::Malformed(_))
        ));
    }

    #[test]
    fn duplicate_check_names_keep_the_most_alarming() {
        let run = |conclusion: &str| RawContext::CheckRun {
            name: "build".into(),
            status: "COMPLETED".into(),
            conclusion: Some(conclusion.into()),
            details_url: None,
            database_id: None,
        };
        let checks = normalize_checks("c", &[run("SUCCESS"), run("FAILURE"), run("SKIPPED")]);
        assert_eq!(checks.len(), 1);
        assert_eq!(checks[0].status, CheckStatus::Failed);
    }

    #[test]
    fn decodes_threads() {
        let e = env(
            json!({"data": {"repository": {"pullRequest": {"reviewThreads": {
            "pageInfo": {"hasPreviousPage": true, "startCursor": "s1"},
            "nodes": [
                {"id": "T1", "isResolved": false, "path": "a.rs", "line": 3, "comments": {"nodes": [
                    {"id": "C1", "databaseId": 1, "body": "fix", "url": "https://c/1",
                     "createdAt": "2024-01-01T00:00:00Z",
                     "author": {"login": "dependabot", "__typename": "Bot"}}]}},
                {"id": "T2", "isResolved": true, "path": null, "line": null, "comments": {"nodes": [
                    {"id": "C2", "databaseId": 2, "body": "ok", "url": "https://c/2",
                     "createdAt": null, "author": null}]}}
            ]}}}}}),
        );
        query_error(&e, || ScmError::NoToken).expect("ok");
        let page = decode_threads(&e).expect("decoded");
        assert_eq!(page.older.as_deref(), Some("s1"));
        assert_eq!(page.threads.len(), 2);
        assert!(page.threads[0].is_bot);
        assert!(!page.threads[1].is_bot);
        assert_eq!(page.threads[1].comments[0].author, "");
        assert_eq!(page.threads[0].semantic_hash.len(), 64);
        let missing = env(json!({"data": {"repository": {"pullRequest": null}}}));
        assert!(matches!(decode_threads(&missing), Err(ScmError::NotFound)));
        let bad = env(json!({"data": {"repository": {"pullRequest": {"reviewThreads": {}}}}}));
        assert!(matches!(decode_threads(&bad), Err(ScmError::Malformed(_))));
    }
}
