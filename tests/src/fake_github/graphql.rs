//! The GraphQL endpoint: a small schema that mirrors the part of GitHub's schema `ao` reads
//! (repository → pullRequest with its facts, commits → statusCheckRollup → contexts,
//! reviewThreads → comments, plus `viewer` and `rateLimit`), static validation like GitHub's
//! (`undefinedField`, `argumentNotAccepted`, `missingRequiredArguments`, selection mismatches:
//! the response is then `{"errors": […]}` without `data`), and an executor over the fake's
//! [`State`] that follows GitHub's semantics:
//!
//! * an unknown repository or PR resolves to `null` with a `NOT_FOUND` error whose `path`
//!   names the alias (`["pr3"]` for a repository, `["pr3", "pullRequest"]` for a PR — the
//!   alias is always `path[0]`);
//! * every connection needs `first` or `last` (≤ 100), else `MISSING_PAGINATION_BOUNDARIES`
//!   / `EXCESSIVE_PAGINATION`; `after`/`before` take the opaque cursors the fake hands out,
//!   and a malformed cursor is `INVALID_CURSOR_ARGUMENTS`;
//! * `pageInfo.hasPreviousPage`/`hasNextPage` tell whether items exist before/after the page;
//! * `statusCheckRollup` is `null` for a commit without checks, and its `state` is derived
//!   (any failure → `FAILURE`, else any error → `ERROR`, else anything pending → `PENDING`,
//!   else `SUCCESS`) unless the test forced one;
//! * bot authors have `__typename: "Bot"` and their login without the `[bot]` suffix.

use std::collections::HashSet;

use serde_json::{Map, Value, json};

use super::gql_parse::{self, Field, Lit, OpKind, Pos, Selection};
use super::model::{
    Check, CheckKind, Comment, PrStatus, Pull, RateBucket, Repo, Route, State, Thread, UserInfo,
    iso,
};

/// Addresses the executor needs to build URLs.
#[derive(Debug, Clone)]
pub struct Urls {
    /// Web host (`127.0.0.1:<port>`); web URLs are `https://<host>/…`.
    pub host: String,
}

impl Urls {
    /// `https://<host>/<path>`.
    pub fn web_url(&self, path: &str) -> String {
        format!("https://{}/{path}", self.host)
    }
}

// ---------------------------------------------------------------------------------------------
// Schema
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ArgTy {
    Int,
    Str,
    Bool,
}

struct FieldDef {
    name: &'static str,
    ty: &'static str,
    args: &'static [(&'static str, ArgTy, bool)],
}

const fn f(name: &'static str, ty: &'static str) -> FieldDef {
    FieldDef {
        name,
        ty,
        args: &[],
    }
}

const fn fa(
    name: &'static str,
    ty: &'static str,
    args: &'static [(&'static str, ArgTy, bool)],
) -> FieldDef {
    FieldDef { name, ty, args }
}

const PAGE: &[(&str, ArgTy, bool)] = &[
    ("first", ArgTy::Int, false),
    ("last", ArgTy::Int, false),
    ("after", ArgTy::Str, false),
    ("before", ArgTy::Str, false),
];
const PAGE_SKIP: &[(&str, ArgTy, bool)] = &[
    ("first", ArgTy::Int, false),
    ("last", ArgTy::Int, false),
    ("after", ArgTy::Str, false),
    ("before", ArgTy::Str, false),
    ("skip", ArgTy::Int, false),
];
const REQUIRED_PR: &[(&str, ArgTy, bool)] = &[("pullRequestNumber", ArgTy::Int, false)];

const QUERY: &[FieldDef] = &[
    fa(
        "repository",
        "Repository",
        &[
            ("owner", ArgTy::Str, true),
            ("name", ArgTy::Str, true),
            ("followRenames", ArgTy::Bool, false),
        ],
    ),
    f("viewer", "User"),
    fa("rateLimit", "RateLimit", &[("dryRun", ArgTy::Bool, false)]),
];
const REPOSITORY: &[FieldDef] = &[
    f("id", "ID"),
    f("databaseId", "Int"),
    f("name", "String"),
    f("nameWithOwner", "String"),
    f("url", "URI"),
    f("isFork", "Boolean"),
    f("isPrivate", "Boolean"),
    f("owner", "RepositoryOwner"),
    fa(
        "pullRequest",
        "PullRequest",
        &[("number", ArgTy::Int, true)],
    ),
];
const OWNER: &[FieldDef] = &[f("id", "ID"), f("login", "String"), f("url", "URI")];
const ACTOR: &[FieldDef] = &[
    f("login", "String"),
    f("url", "URI"),
    fa("avatarUrl", "URI", &[("size", ArgTy::Int, false)]),
];
const USER: &[FieldDef] = &[
    f("id", "ID"),
    f("databaseId", "Int"),
    f("login", "String"),
    f("name", "String"),
    f("url", "URI"),
    fa("avatarUrl", "URI", &[("size", ArgTy::Int, false)]),
];
const PULL_REQUEST: &[FieldDef] = &[
    f("id", "ID"),
    f("databaseId", "Int"),
    f("number", "Int"),
    f("url", "URI"),
    f("permalink", "URI"),
    f("title", "String"),
    f("body", "String"),
    f("state", "PullRequestState"),
    f("isDraft", "Boolean"),
    f("merged", "Boolean"),
    f("closed", "Boolean"),
    f("locked", "Boolean"),
    f("additions", "Int"),
    f("deletions", "Int"),
    f("changedFiles", "Int"),
    f("mergeable", "MergeableState"),
    f("mergeStateStatus", "MergeStateStatus"),
    f("reviewDecision", "PullRequestReviewDecision"),
    f("headRefName", "String"),
    f("headRefOid", "GitObjectID"),
    f("headRepository", "Repository"),
    f("headRepositoryOwner", "RepositoryOwner"),
    f("baseRefName", "String"),
    f("baseRefOid", "GitObjectID"),
    f("baseRepository", "Repository"),
    f("repository", "Repository"),
    f("isCrossRepository", "Boolean"),
    f("createdAt", "DateTime"),
    f("updatedAt", "DateTime"),
    f("mergedAt", "DateTime"),
    f("closedAt", "DateTime"),
    f("author", "Actor"),
    f("mergeCommit", "Commit"),
    fa("commits", "PullRequestCommitConnection", PAGE),
    fa("reviewThreads", "PullRequestReviewThreadConnection", PAGE),
];
const COMMIT: &[FieldDef] = &[
    f("id", "ID"),
    f("oid", "GitObjectID"),
    f("abbreviatedOid", "String"),
    f("url", "URI"),
    f("messageHeadline", "String"),
    f("committedDate", "DateTime"),
    f("statusCheckRollup", "StatusCheckRollup"),
];
const PR_COMMIT: &[FieldDef] = &[f("id", "ID"), f("url", "URI"), f("commit", "Commit")];
const ROLLUP: &[FieldDef] = &[
    f("id", "ID"),
    f("state", "StatusState"),
    f("commit", "Commit"),
    fa("contexts", "StatusCheckRollupContextConnection", PAGE),
];
const CHECK_RUN: &[FieldDef] = &[
    f("id", "ID"),
    f("databaseId", "Int"),
    f("name", "String"),
    f("status", "CheckStatusState"),
    f("conclusion", "CheckConclusionState"),
    f("detailsUrl", "URI"),
    f("url", "URI"),
    f("permalink", "URI"),
    f("startedAt", "DateTime"),
    f("completedAt", "DateTime"),
    f("title", "String"),
    f("summary", "String"),
    fa("isRequired", "Boolean", REQUIRED_PR),
];
const STATUS_CONTEXT: &[FieldDef] = &[
    f("id", "ID"),
    f("context", "String"),
    f("state", "StatusState"),
    f("targetUrl", "URI"),
    f("description", "String"),
    f("createdAt", "DateTime"),
    f("avatarUrl", "URI"),
    fa("isRequired", "Boolean", REQUIRED_PR),
];
const PAGE_INFO: &[FieldDef] = &[
    f("hasNextPage", "Boolean"),
    f("hasPreviousPage", "Boolean"),
    f("startCursor", "String"),
    f("endCursor", "String"),
];
const THREAD: &[FieldDef] = &[
    f("id", "ID"),
    f("isResolved", "Boolean"),
    f("isOutdated", "Boolean"),
    f("isCollapsed", "Boolean"),
    f("path", "String"),
    f("line", "Int"),
    f("originalLine", "Int"),
    f("startLine", "Int"),
    f("diffSide", "DiffSide"),
    f("viewerCanResolve", "Boolean"),
    f("resolvedBy", "User"),
    f("pullRequest", "PullRequest"),
    fa("comments", "PullRequestReviewCommentConnection", PAGE_SKIP),
];
const COMMENT: &[FieldDef] = &[
    f("id", "ID"),
    f("databaseId", "Int"),
    f("body", "String"),
    f("bodyText", "String"),
    f("url", "URI"),
    f("createdAt", "DateTime"),
    f("updatedAt", "DateTime"),
    f("publishedAt", "DateTime"),
    f("path", "String"),
    f("line", "Int"),
    f("originalLine", "Int"),
    f("outdated", "Boolean"),
    f("state", "PullRequestReviewCommentState"),
    f("diffHunk", "String"),
    f("author", "Actor"),
];
const RATE_LIMIT: &[FieldDef] = &[
    f("limit", "Int"),
    f("cost", "Int"),
    f("remaining", "Int"),
    f("used", "Int"),
    f("nodeCount", "Int"),
    f("resetAt", "DateTime"),
];

macro_rules! connection {
    ($node:literal, $edge:literal) => {{
        const C: &[FieldDef] = &[
            f("totalCount", "Int"),
            f("pageInfo", "PageInfo"),
            f("nodes", $node),
            f("edges", $edge),
        ];
        C
    }};
}

macro_rules! edge {
    ($node:literal) => {{
        const C: &[FieldDef] = &[f("cursor", "String"), f("node", $node)];
        C
    }};
}

const CONTEXTS: &[FieldDef] = &[
    f("totalCount", "Int"),
    f("checkRunCount", "Int"),
    f("statusContextCount", "Int"),
    f("pageInfo", "PageInfo"),
    f("nodes", "StatusCheckRollupContext"),
    f("edges", "StatusCheckRollupContextEdge"),
];

/// Fields of a composite type (`None`: not a composite type).
fn fields_of(ty: &str) -> Option<&'static [FieldDef]> {
    Some(match ty {
        "Query" => QUERY,
        "Repository" => REPOSITORY,
        "RepositoryOwner" | "Organization" | "Mannequin" | "EnterpriseUserAccount" => OWNER,
        "Actor" => ACTOR,
        "User" | "Bot" => USER,
        "PullRequest" => PULL_REQUEST,
        "Commit" => COMMIT,
        "PullRequestCommit" => PR_COMMIT,
        "StatusCheckRollup" => ROLLUP,
        "CheckRun" => CHECK_RUN,
        "StatusContext" => STATUS_CONTEXT,
        "PageInfo" => PAGE_INFO,
        "PullRequestReviewThread" => THREAD,
        "PullRequestReviewComment" => COMMENT,
        "RateLimit" => RATE_LIMIT,
        "StatusCheckRollupContext" => &[],
        "PullRequestCommitConnection" => connection!("PullRequestCommit", "PullRequestCommitEdge"),
        "PullRequestReviewThreadConnection" => {
            connection!("PullRequestReviewThread", "PullRequestReviewThreadEdge")
        }
        "PullRequestReviewCommentConnection" => {
            connection!("PullRequestReviewComment", "PullRequestReviewCommentEdge")
        }
        "StatusCheckRollupContextConnection" => CONTEXTS,
        "PullRequestCommitEdge" => edge!("PullRequestCommit"),
        "PullRequestReviewThreadEdge" => edge!("PullRequestReviewThread"),
        "PullRequestReviewCommentEdge" => edge!("PullRequestReviewComment"),
        "StatusCheckRollupContextEdge" => edge!("StatusCheckRollupContext"),
        _ => return None,
    })
}

/// Concrete types of an abstract (interface or union) type.
fn possible_types(ty: &str) -> &'static [&'static str] {
    match ty {
        "Actor" => &[
            "Bot",
            "EnterpriseUserAccount",
            "Mannequin",
            "Organization",
            "User",
        ],
        "RepositoryOwner" => &["Organization", "User"],
        "StatusCheckRollupContext" => &["CheckRun", "StatusContext"],
        _ => &[],
    }
}

/// Does a fragment on `cond` apply to an object of concrete type `concrete`?
fn applies(cond: &str, concrete: &str) -> bool {
    cond == concrete || possible_types(cond).contains(&concrete)
}

/// Can a fragment on `cond` be spread inside a selection on `parent` at all?
fn spreadable(cond: &str, parent: &str) -> bool {
    if cond == parent {
        return true;
    }
    let (a, b) = (possible_types(cond), possible_types(parent));
    match (a.is_empty(), b.is_empty()) {
        (true, true) => false,
        (true, false) => b.contains(&cond),
        (false, true) => a.contains(&parent),
        (false, false) => a.iter().any(|t| b.contains(t)),
    }
}

// ---------------------------------------------------------------------------------------------
// Validation
// ---------------------------------------------------------------------------------------------

fn loc(p: Pos) -> Value {
    json!([{"line": p.line, "column": p.column}])
}

struct Validator<'q> {
    doc: &'q gql_parse::Document,
    errors: Vec<Value>,
    fragment_stack: Vec<&'q str>,
}

impl<'q> Validator<'q> {
    fn err(&mut self, message: String, pos: Pos, path: &[String], code: &str, extra: Value) {
        let mut ext = json!({"code": code});
        if let (Some(e), Value::Object(x)) = (ext.as_object_mut(), extra) {
            e.extend(x);
        }
        self.errors.push(json!({
            "path": path, "extensions": ext, "locations": loc(pos), "message": message,
        }));
    }

    fn selections(&mut self, sels: &'q [Selection], ty: &str, path: &mut Vec<String>) {
        for s in sels {
            match s {
                Selection::Field(fld) => self.field(fld, ty, path),
                Selection::Inline {
                    on,
                    selections,
                    pos,
                    ..
                } => {
                    let cond = on.as_deref().unwrap_or(ty);
                    if self.condition(cond, ty, *pos, path) {
                        path.push(format!("... on {cond}"));
                        self.selections(selections, cond, path);
                        path.pop();
                    }
                }
                Selection::Spread { name, pos, .. } => {
                    let Some(frag) = self.doc.fragments.get(name) else {
                        self.err(
                            format!("Fragment {name} was used, but not defined"),
                            *pos,
                            path,
                            "useAndDefineFragment",
                            json!({"fragmentName": name}),
                        );
                        continue;
                    };
                    if self.fragment_stack.contains(&name.as_str()) {
                        self.err(
                            format!("Fragment {name} contains an infinite loop"),
                            *pos,
                            path,
                            "infiniteLoop",
                            json!({"fragmentName": name}),
                        );
                        continue;
                    }
                    if self.condition(&frag.on, ty, *pos, path) {
                        self.fragment_stack.push(name);
                        path.push(format!("... {name}"));
                        self.selections(&frag.selections, &frag.on, path);
                        path.pop();
                        self.fragment_stack.pop();
                    }
                }
            }
        }
    }

    fn condition(&mut self, cond: &str, parent: &str, pos: Pos, path: &[String]) -> bool {
        if fields_of(cond).is_none() {
            self.err(
                format!("No such type {cond}, so it can't be a fragment condition"),
                pos,
                path,
                "undefinedType",
                json!({"typeName": cond}),
            );
            return false;
        }
        if !spreadable(cond, parent) {
            self.err(
                format!("Fragment on {cond} can't be spread inside {parent}"),
                pos,
                path,
                "cannotSpreadFragment",
                json!({"typeName": cond}),
            );
            return false;
        }
        true
    }

    fn field(&mut self, fld: &'q Field, ty: &str, path: &mut Vec<String>) {
        path.push(fld.key().to_string());
        if fld.name == "__typename" {
            if !fld.selections.is_empty() {
                self.err(
                    "Selections can't be made on scalars (field '__typename' returns String but has selections)".into(),
                    fld.pos,
                    path,
                    "selectionMismatch",
                    json!({"nodeName": "field '__typename'", "typeName": "String"}),
                );
            }
            path.pop();
            return;
        }
        let def = fields_of(ty).and_then(|fs| fs.iter().find(|d| d.name == fld.name));
        let Some(def) = def else {
            let message = if possible_types(ty).is_empty() || ty != "StatusCheckRollupContext" {
                format!("Field '{}' doesn't exist on type '{ty}'", fld.name)
            } else {
                format!("Selections can't be made directly on unions (see selections on {ty})")
            };
            self.err(
                message,
                fld.pos,
                path,
                "undefinedField",
                json!({"typeName": ty, "fieldName": fld.name}),
            );
            path.pop();
            return;
        };
        for (name, lit) in &fld.args {
            let Some((_, aty, _)) = def.args.iter().find(|(n, _, _)| n == name) else {
                self.err(
                    format!("Field '{}' doesn't accept argument '{name}'", fld.name),
                    fld.pos,
                    path,
                    "argumentNotAccepted",
                    json!({"name": fld.name, "typeName": "Field", "argumentName": name}),
                );
                continue;
            };
            let ok = matches!(
                (aty, lit),
                (_, Lit::Var(_) | Lit::Null)
                    | (ArgTy::Int, Lit::Int(_))
                    | (ArgTy::Str, Lit::Str(_))
                    | (ArgTy::Bool, Lit::Bool(_))
            );
            if !ok {
                let want = match aty {
                    ArgTy::Int => "Int",
                    ArgTy::Str => "String",
                    ArgTy::Bool => "Boolean",
                };
                self.err(
                    format!(
                        "Argument '{name}' on Field '{}' has an invalid value ({}). Expected type '{want}'.",
                        fld.name,
                        lit_text(lit)
                    ),
                    fld.pos,
                    path,
                    "argumentLiteralsIncompatible",
                    json!({"typeName": "Field", "argumentName": name}),
                );
            }
        }
        let missing: Vec<&str> = def
            .args
            .iter()
            .filter(|(n, _, req)| *req && !fld.args.iter().any(|(a, _)| a == n))
            .map(|(n, _, _)| *n)
            .collect();
        if !missing.is_empty() {
            self.err(
                format!(
                    "Field '{}' is missing required arguments: {}",
                    fld.name,
                    missing.join(", ")
                ),
                fld.pos,
                path,
                "missingRequiredArguments",
                json!({"className": "Field", "name": fld.name, "arguments": missing.join(", ")}),
            );
        }
        let composite = fields_of(def.ty).is_some();
        if composite && fld.selections.is_empty() {
            self.err(
                format!(
                    "Field '{}' returns {} but has no selections. Did you mean '{} {{ ... }}'?",
                    fld.name, def.ty, fld.name
                ),
                fld.pos,
                path,
                "selectionMismatch",
                json!({"nodeName": format!("field '{}'", fld.name), "typeName": def.ty}),
            );
        } else if !composite && !fld.selections.is_empty() {
            self.err(
                format!(
                    "Selections can't be made on scalars (field '{}' returns {} but has selections)",
                    fld.name, def.ty
                ),
                fld.pos,
                path,
                "selectionMismatch",
                json!({"nodeName": format!("field '{}'", fld.name), "typeName": def.ty}),
            );
        } else if composite {
            self.selections(&fld.selections, def.ty, path);
        }
        path.pop();
    }
}

fn lit_text(l: &Lit) -> String {
    match l {
        Lit::Null => "null".into(),
        Lit::Bool(b) => b.to_string(),
        Lit::Int(i) => i.to_string(),
        Lit::Float(x) => x.to_string(),
        Lit::Str(s) => Value::String(s.clone()).to_string(),
        Lit::Enum(e) => e.clone(),
        Lit::Var(v) => format!("${v}"),
        Lit::List(items) => format!(
            "[{}]",
            items.iter().map(lit_text).collect::<Vec<_>>().join(", ")
        ),
        Lit::Object(fs) => format!(
            "{{{}}}",
            fs.iter()
                .map(|(k, v)| format!("{k}: {}", lit_text(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

// ---------------------------------------------------------------------------------------------
// Execution
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Default)]
struct PageInfo {
    has_next: bool,
    has_prev: bool,
    start: Option<String>,
    end: Option<String>,
}

#[derive(Clone)]
struct Conn<'a> {
    typename: &'static str,
    edge: &'static str,
    total: usize,
    counts: (usize, usize),
    items: Vec<(String, Node<'a>)>,
    page: PageInfo,
}

#[derive(Clone)]
enum Node<'a> {
    Query,
    Repo(&'a Repo),
    /// A fork's head repository that the fake does not hold (only its name is known).
    ForeignRepo(&'a str),
    Owner(&'a str),
    Viewer(&'a UserInfo),
    Actor {
        login: &'a str,
        bot: bool,
    },
    Pr(&'a Repo, &'a Pull),
    Commit(&'a Repo, &'a str),
    PrCommit(&'a Repo, &'a str),
    Rollup(&'a Repo, &'a str, &'a [Check]),
    CheckRun(&'a Repo, &'a Check),
    StatusContext(&'a Check),
    Thread(&'a Repo, &'a Pull, &'a Thread),
    Comment(&'a Repo, &'a Pull, &'a Thread, &'a Comment),
    PageInfo(PageInfo),
    Conn(Box<Conn<'a>>),
    Edge(&'static str, String, Box<Node<'a>>),
    RateLimit(RateBucket),
}

impl Node<'_> {
    fn typename(&self) -> &'static str {
        match self {
            Node::Query => "Query",
            Node::Repo(_) | Node::ForeignRepo(_) => "Repository",
            Node::Owner(_) | Node::Viewer(_) => "User",
            Node::Actor { bot, .. } => {
                if *bot {
                    "Bot"
                } else {
                    "User"
                }
            }
            Node::Pr(..) => "PullRequest",
            Node::Commit(..) => "Commit",
            Node::PrCommit(..) => "PullRequestCommit",
            Node::Rollup(..) => "StatusCheckRollup",
            Node::CheckRun(..) => "CheckRun",
            Node::StatusContext(_) => "StatusContext",
            Node::Thread(..) => "PullRequestReviewThread",
            Node::Comment(..) => "PullRequestReviewComment",
            Node::PageInfo(_) => "PageInfo",
            Node::Conn(c) => c.typename,
            Node::Edge(t, ..) => t,
            Node::RateLimit(_) => "RateLimit",
        }
    }
}

/// One page of a connection: (cursor, node) pairs, page info, total count.
type Page<'a> = (Vec<(String, Node<'a>)>, PageInfo, usize);

enum Out<'a> {
    Leaf(Value),
    One(Node<'a>),
    Many(Vec<Node<'a>>),
}

/// A field-level execution error (the field becomes `null`).
struct FieldError {
    ty: Option<&'static str>,
    message: String,
}

fn not_found(message: String) -> FieldError {
    FieldError {
        ty: Some("NOT_FOUND"),
        message,
    }
}

fn cursor(i: usize) -> String {
    hex::encode(format!("cursor:v2:{i}"))
}

fn decode_cursor(c: &str) -> Option<usize> {
    let raw = hex::decode(c).ok()?;
    std::str::from_utf8(&raw)
        .ok()?
        .strip_prefix("cursor:v2:")?
        .parse()
        .ok()
}

fn opt_iso(t: Option<i64>) -> Value {
    t.map_or(Value::Null, |t| Value::String(iso(t)))
}

fn bot_login(login: &str, bot: bool) -> &str {
    if bot {
        login.strip_suffix("[bot]").unwrap_or(login)
    } else {
        login
    }
}

/// The derived `statusCheckRollup.state` of a set of checks.
pub(crate) fn rollup_state(checks: &[Check]) -> &'static str {
    let (mut failure, mut error, mut pending) = (false, false, false);
    for c in checks {
        match c.spec.kind {
            CheckKind::CheckRun => {
                if c.spec.status == "COMPLETED" {
                    if matches!(
                        c.spec.conclusion.as_deref(),
                        Some(
                            "FAILURE"
                                | "TIMED_OUT"
                                | "CANCELLED"
                                | "ACTION_REQUIRED"
                                | "STARTUP_FAILURE"
                        )
                    ) {
                        failure = true;
                    }
                } else {
                    pending = true;
                }
            }
            CheckKind::StatusContext => match c.spec.state.as_str() {
                "FAILURE" => failure = true,
                "ERROR" => error = true,
                "PENDING" | "EXPECTED" => pending = true,
                _ => {}
            },
        }
    }
    if failure {
        "FAILURE"
    } else if error {
        "ERROR"
    } else if pending {
        "PENDING"
    } else {
        "SUCCESS"
    }
}

struct Exec<'a, 'q> {
    state: &'a State,
    urls: &'a Urls,
    doc: &'q gql_parse::Document,
    vars: &'q Map<String, Value>,
    defaults: &'q [(String, Option<Lit>)],
    errors: Vec<Value>,
}

impl<'a, 'q> Exec<'a, 'q> {
    fn lit_value(&self, l: &Lit) -> Value {
        match l {
            Lit::Null => Value::Null,
            Lit::Bool(b) => json!(b),
            Lit::Int(i) => json!(i),
            Lit::Float(x) => json!(x),
            Lit::Str(s) | Lit::Enum(s) => json!(s),
            Lit::Var(v) => self.vars.get(v).cloned().unwrap_or_else(|| {
                self.defaults
                    .iter()
                    .find(|(n, _)| n == v)
                    .and_then(|(_, d)| d.as_ref())
                    .map_or(Value::Null, |d| self.lit_value(d))
            }),
            Lit::List(items) => Value::Array(items.iter().map(|i| self.lit_value(i)).collect()),
            Lit::Object(fs) => Value::Object(
                fs.iter()
                    .map(|(k, v)| (k.clone(), self.lit_value(v)))
                    .collect(),
            ),
        }
    }

    fn arg(&self, fld: &Field, name: &str) -> Value {
        fld.args
            .iter()
            .find(|(n, _)| n == name)
            .map_or(Value::Null, |(_, l)| self.lit_value(l))
    }

    fn arg_i64(&self, fld: &Field, name: &str) -> Result<Option<i64>, FieldError> {
        match self.arg(fld, name) {
            Value::Null => Ok(None),
            Value::Number(n) if n.is_i64() => Ok(n.as_i64()),
            other => Err(FieldError {
                ty: None,
                message: format!(
                    "Variable for argument '{name}' has an invalid value ({other}). Expected type 'Int'."
                ),
            }),
        }
    }

    fn arg_str(&self, fld: &Field, name: &str) -> Result<Option<String>, FieldError> {
        match self.arg(fld, name) {
            Value::Null => Ok(None),
            Value::String(s) => Ok(Some(s)),
            other => Err(FieldError {
                ty: None,
                message: format!(
                    "Variable for argument '{name}' has an invalid value ({other}). Expected type 'String'."
                ),
            }),
        }
    }

    fn included(&self, directives: &[gql_parse::Directive]) -> bool {
        directives.iter().all(|d| {
            let cond = d
                .args
                .iter()
                .find(|(n, _)| n == "if")
                .map(|(_, l)| self.lit_value(l) == Value::Bool(true));
            match d.name.as_str() {
                "skip" => cond != Some(true),
                "include" => cond != Some(false),
                _ => true,
            }
        })
    }

    /// Groups the fields that apply to `concrete` by response key (GraphQL field collection).
    fn collect(
        &self,
        concrete: &str,
        sels: &[&'q Selection],
        out: &mut Vec<(String, Vec<&'q Field>)>,
        seen: &mut HashSet<&'q str>,
    ) {
        for s in sels {
            match s {
                Selection::Field(fld) => {
                    if !self.included(&fld.directives) {
                        continue;
                    }
                    let key = fld.key();
                    if let Some((_, v)) = out.iter_mut().find(|(k, _)| k == key) {
                        v.push(fld);
                    } else {
                        out.push((key.to_string(), vec![fld]));
                    }
                }
                Selection::Inline {
                    on,
                    directives,
                    selections,
                    ..
                } => {
                    if self.included(directives)
                        && on.as_deref().is_none_or(|c| applies(c, concrete))
                    {
                        let inner: Vec<&Selection> = selections.iter().collect();
                        self.collect(concrete, &inner, out, seen);
                    }
                }
                Selection::Spread {
                    name, directives, ..
                } => {
                    if !self.included(directives) || !seen.insert(name.as_str()) {
                        continue;
                    }
                    if let Some(frag) = self.doc.fragments.get(name)
                        && applies(&frag.on, concrete)
                    {
                        let inner: Vec<&Selection> = frag.selections.iter().collect();
                        self.collect(concrete, &inner, out, seen);
                    }
                }
            }
        }
    }

    fn select(&mut self, node: &Node<'a>, sels: &[&'q Selection], path: &mut Vec<Value>) -> Value {
        let tn = node.typename();
        let mut groups = Vec::new();
        self.collect(tn, sels, &mut groups, &mut HashSet::new());
        let mut map = Map::new();
        for (key, fields) in groups {
            let fld = fields[0];
            path.push(Value::String(key.clone()));
            let v = if fld.name == "__typename" {
                Value::String(tn.into())
            } else {
                match self.resolve(node, fld) {
                    Ok(Out::Leaf(v)) => v,
                    Ok(Out::One(child)) => {
                        let subs: Vec<&Selection> =
                            fields.iter().flat_map(|f| f.selections.iter()).collect();
                        self.select(&child, &subs, path)
                    }
                    Ok(Out::Many(children)) => {
                        let subs: Vec<&Selection> =
                            fields.iter().flat_map(|f| f.selections.iter()).collect();
                        let mut items = Vec::with_capacity(children.len());
                        for (i, child) in children.iter().enumerate() {
                            path.push(json!(i));
                            items.push(self.select(child, &subs, path));
                            path.pop();
                        }
                        Value::Array(items)
                    }
                    Err(e) => {
                        let mut err = json!({"path": &path[..], "locations": loc(fld.pos), "message": e.message});
                        if let (Some(t), Some(o)) = (e.ty, err.as_object_mut()) {
                            o.insert("type".into(), json!(t));
                        }
                        self.errors.push(err);
                        Value::Null
                    }
                }
            };
            path.pop();
            map.insert(key, v);
        }
        Value::Object(map)
    }

    fn paginate(&self, fld: &Field, items: Vec<Node<'a>>) -> Result<Page<'a>, FieldError> {
        let conn = fld.name.as_str();
        let first = self.arg_i64(fld, "first")?;
        let last = self.arg_i64(fld, "last")?;
        let bad = |message: String, ty: &'static str| FieldError {
            ty: Some(ty),
            message,
        };
        if first.is_none() && last.is_none() {
            return Err(bad(
                format!(
                    "You must provide a `first` or `last` value to properly paginate the `{conn}` connection."
                ),
                "MISSING_PAGINATION_BOUNDARIES",
            ));
        }
        for (name, v) in [("first", first), ("last", last)] {
            match v {
                Some(n) if n < 0 => {
                    return Err(bad(
                        format!("`{name}` on the `{conn}` connection cannot be less than zero."),
                        "ARGUMENT_LIMIT",
                    ));
                }
                Some(n) if n > 100 => {
                    return Err(bad(
                        format!(
                            "Requesting {n} records on the `{conn}` connection exceeds the `{name}` limit of 100 records."
                        ),
                        "EXCESSIVE_PAGINATION",
                    ));
                }
                _ => {}
            }
        }
        let total = items.len();
        let (mut lo, mut hi) = (0usize, total);
        for (name, is_after) in [("after", true), ("before", false)] {
            if let Some(c) = self.arg_str(fld, name)? {
                let Some(i) = decode_cursor(&c) else {
                    return Err(bad(
                        format!("`{c}` does not appear to be a valid cursor."),
                        "INVALID_CURSOR_ARGUMENTS",
                    ));
                };
                if is_after {
                    lo = lo.max(i.saturating_add(1).min(total));
                } else {
                    hi = hi.min(i);
                }
            }
        }
        lo = lo.min(hi);
        if let Some(n) = first {
            hi = hi.min(lo + n as usize);
        }
        if let Some(n) = last {
            lo = lo.max(hi.saturating_sub(n as usize));
        }
        let page = PageInfo {
            has_next: hi < total,
            has_prev: lo > 0,
            start: (lo < hi).then(|| cursor(lo)),
            end: (lo < hi).then(|| cursor(hi - 1)),
        };
        let sliced = items
            .into_iter()
            .enumerate()
            .skip(lo)
            .take(hi - lo)
            .map(|(i, n)| (cursor(i), n))
            .collect();
        Ok((sliced, page, total))
    }

    fn connection(
        &self,
        fld: &Field,
        typename: &'static str,
        edge: &'static str,
        items: Vec<Node<'a>>,
        counts: (usize, usize),
    ) -> Result<Out<'a>, FieldError> {
        let (items, page, total) = self.paginate(fld, items)?;
        Ok(Out::One(Node::Conn(Box::new(Conn {
            typename,
            edge,
            total,
            counts,
            items,
            page,
        }))))
    }

    fn repo_node(&self, full: &'a str, fallback: &'a Repo) -> Node<'a> {
        if full.eq_ignore_ascii_case(&fallback.full_name()) {
            return Node::Repo(fallback);
        }
        match full
            .split_once('/')
            .and_then(|(o, n)| self.state.repo(o, n))
        {
            Some(r) => Node::Repo(r),
            None => Node::ForeignRepo(full),
        }
    }

    fn resolve(&self, node: &Node<'a>, fld: &Field) -> Result<Out<'a>, FieldError> {
        let leaf = |v: Value| Ok(Out::Leaf(v));
        let text = |v: &str| Ok(Out::Leaf(Value::String(v.to_string())));
        let name = fld.name.as_str();
        let urls = self.urls;
        match node {
            Node::Query => match name {
                "repository" => {
                    let owner = self.arg_str(fld, "owner")?.unwrap_or_default();
                    let repo = self.arg_str(fld, "name")?.unwrap_or_default();
                    match self.state.repo(&owner, &repo) {
                        Some(r) => Ok(Out::One(Node::Repo(r))),
                        None => Err(not_found(format!(
                            "Could not resolve to a Repository with the name '{owner}/{repo}'."
                        ))),
                    }
                }
                "viewer" => Ok(Out::One(Node::Viewer(&self.state.user))),
                "rateLimit" => Ok(Out::One(Node::RateLimit(self.state.graphql))),
                _ => leaf(Value::Null),
            },
            Node::Repo(r) => match name {
                "id" => text(&format!("R_kgDOfake{}", r.id)),
                "databaseId" => leaf(json!(r.id)),
                "name" => text(&r.name),
                "nameWithOwner" => text(&r.full_name()),
                "url" => text(&urls.web_url(&r.full_name())),
                "isFork" | "isPrivate" => leaf(json!(false)),
                "owner" => Ok(Out::One(Node::Owner(&r.owner))),
                "pullRequest" => {
                    let n = self.arg_i64(fld, "number")?.unwrap_or(0);
                    match u64::try_from(n).ok().and_then(|n| r.pulls.get(&n)) {
                        Some(p) => Ok(Out::One(Node::Pr(r, p))),
                        None => Err(not_found(format!(
                            "Could not resolve to a PullRequest with the number of {n}."
                        ))),
                    }
                }
                _ => leaf(Value::Null),
            },
            Node::ForeignRepo(full) => match name {
                "id" => text(&format!("R_kgDOfake{}", hex::encode(full))),
                "name" => text(full.split_once('/').map_or(full, |(_, n)| n)),
                "nameWithOwner" => text(full),
                "url" => text(&urls.web_url(full)),
                "isFork" => leaf(json!(true)),
                "isPrivate" => leaf(json!(false)),
                "owner" => Ok(Out::One(Node::Owner(
                    full.split_once('/').map_or(full, |(o, _)| o),
                ))),
                "pullRequest" => Err(not_found(format!(
                    "Could not resolve to a PullRequest with the number of {}.",
                    self.arg_i64(fld, "number")?.unwrap_or(0)
                ))),
                _ => leaf(Value::Null),
            },
            Node::Owner(login) | Node::Actor { login, bot: false } => match name {
                "id" => text(&format!("U_kgDOfake{}", hex::encode(login))),
                "login" => text(login),
                "url" => text(&urls.web_url(login)),
                "avatarUrl" => text(&format!("https://{}/avatars/{login}", urls.host)),
                _ => leaf(Value::Null),
            },
            Node::Actor { login, bot: true } => {
                let login = bot_login(login, true);
                match name {
                    "id" => text(&format!("BOT_kgDOfake{}", hex::encode(login))),
                    "login" => text(login),
                    "url" => text(&urls.web_url(&format!("apps/{login}"))),
                    "avatarUrl" => text(&format!("https://{}/avatars/{login}", urls.host)),
                    _ => leaf(Value::Null),
                }
            }
            Node::Viewer(u) => match name {
                "id" => text(&format!("U_kgDOfake{}", hex::encode(&u.login))),
                "login" | "name" => text(&u.login),
                "databaseId" => leaf(json!(1)),
                "url" => text(&urls.web_url(&u.login)),
                "avatarUrl" => text(&format!("https://{}/avatars/{}", urls.host, u.login)),
                _ => leaf(Value::Null),
            },
            Node::Pr(r, p) => self.resolve_pr(r, p, fld),
            Node::Commit(r, oid) => match name {
                "id" => text(&format!("C_kwDOfake{oid}")),
                "oid" => text(oid),
                "abbreviatedOid" => text(oid.get(..7).unwrap_or(oid)),
                "url" => text(&urls.web_url(&format!("{}/commit/{oid}", r.full_name()))),
                "messageHeadline" => text(&format!("Commit {}", oid.get(..7).unwrap_or(oid))),
                "committedDate" => text(&iso(0)),
                "statusCheckRollup" => match r.checks.get(*oid) {
                    Some(cs) if !cs.is_empty() => Ok(Out::One(Node::Rollup(r, oid, cs))),
                    _ => leaf(Value::Null),
                },
                _ => leaf(Value::Null),
            },
            Node::PrCommit(r, oid) => match name {
                "id" => text(&format!("PURC_kwDOfake{oid}")),
                "url" => text(&urls.web_url(&format!("{}/commit/{oid}", r.full_name()))),
                "commit" => Ok(Out::One(Node::Commit(r, oid))),
                _ => leaf(Value::Null),
            },
            Node::Rollup(r, oid, checks) => match name {
                "id" => text(&format!("SCR_kwDOfake{oid}")),
                "state" => text(
                    r.rollup_override
                        .get(*oid)
                        .map_or_else(|| rollup_state(checks), String::as_str),
                ),
                "commit" => Ok(Out::One(Node::Commit(r, oid))),
                "contexts" => {
                    let runs = checks
                        .iter()
                        .filter(|c| c.spec.kind == CheckKind::CheckRun)
                        .count();
                    let items = checks
                        .iter()
                        .map(|c| match c.spec.kind {
                            CheckKind::CheckRun => Node::CheckRun(r, c),
                            CheckKind::StatusContext => Node::StatusContext(c),
                        })
                        .collect();
                    self.connection(
                        fld,
                        "StatusCheckRollupContextConnection",
                        "StatusCheckRollupContextEdge",
                        items,
                        (runs, checks.len() - runs),
                    )
                }
                _ => leaf(Value::Null),
            },
            Node::CheckRun(r, c) => {
                let started = c.spec.status != "QUEUED";
                match name {
                    "id" => text(&format!("CR_kwDOfake{}", c.id)),
                    "databaseId" => leaf(json!(c.id)),
                    "name" | "title" => text(&c.spec.name),
                    "status" => text(&c.spec.status),
                    "conclusion" => {
                        leaf(c.spec.conclusion.as_ref().map_or(Value::Null, |x| json!(x)))
                    }
                    "detailsUrl" => text(&c.spec.url.clone().unwrap_or_else(|| {
                        urls.web_url(&format!("{}/actions/runs/1/job/{}", r.full_name(), c.id))
                    })),
                    "url" | "permalink" => {
                        text(&urls.web_url(&format!("{}/runs/{}", r.full_name(), c.id)))
                    }
                    "startedAt" => leaf(opt_iso(started.then_some(c.created_at))),
                    "completedAt" => leaf(opt_iso(
                        (c.spec.status == "COMPLETED").then_some(c.created_at),
                    )),
                    "isRequired" => leaf(json!(false)),
                    _ => leaf(Value::Null),
                }
            }
            Node::StatusContext(c) => match name {
                "id" => text(&format!("SC_kwDOfake{}", c.id)),
                "context" => text(&c.spec.name),
                "state" => text(&c.spec.state),
                "targetUrl" => leaf(c.spec.url.as_ref().map_or(Value::Null, |x| json!(x))),
                "description" => text(&format!(
                    "{} is {}",
                    c.spec.name,
                    c.spec.state.to_lowercase()
                )),
                "createdAt" => text(&iso(c.created_at)),
                "isRequired" => leaf(json!(false)),
                _ => leaf(Value::Null),
            },
            Node::Thread(r, p, t) => match name {
                "id" => text(&t.id),
                "isResolved" | "isCollapsed" => leaf(json!(t.resolved)),
                "isOutdated" => leaf(json!(false)),
                "path" => text(&t.path),
                "line" | "originalLine" => leaf(json!(t.line)),
                "diffSide" => text("RIGHT"),
                "viewerCanResolve" => leaf(json!(true)),
                "pullRequest" => Ok(Out::One(Node::Pr(r, p))),
                "comments" => {
                    let skip = self.arg_i64(fld, "skip")?.unwrap_or(0).max(0) as usize;
                    let items = t
                        .comments
                        .iter()
                        .skip(skip)
                        .map(|c| Node::Comment(r, p, t, c))
                        .collect();
                    self.connection(
                        fld,
                        "PullRequestReviewCommentConnection",
                        "PullRequestReviewCommentEdge",
                        items,
                        (0, 0),
                    )
                }
                _ => leaf(Value::Null),
            },
            Node::Comment(r, p, t, c) => match name {
                "id" => text(&c.id),
                "databaseId" => leaf(json!(c.database_id)),
                "body" | "bodyText" => text(&c.body),
                "url" => text(&urls.web_url(&format!(
                    "{}/pull/{}#discussion_r{}",
                    r.full_name(),
                    p.number,
                    c.database_id
                ))),
                "createdAt" | "updatedAt" | "publishedAt" => text(&iso(c.created_at)),
                "path" => text(&t.path),
                "line" | "originalLine" => leaf(json!(t.line)),
                "outdated" => leaf(json!(false)),
                "state" => text("SUBMITTED"),
                "diffHunk" => text("@@ -1 +1 @@"),
                "author" => Ok(Out::One(Node::Actor {
                    login: &c.author,
                    bot: c.bot,
                })),
                _ => leaf(Value::Null),
            },
            Node::PageInfo(pi) => match name {
                "hasNextPage" => leaf(json!(pi.has_next)),
                "hasPreviousPage" => leaf(json!(pi.has_prev)),
                "startCursor" => leaf(json!(pi.start)),
                "endCursor" => leaf(json!(pi.end)),
                _ => leaf(Value::Null),
            },
            Node::Conn(c) => match name {
                "totalCount" => leaf(json!(c.total)),
                "checkRunCount" => leaf(json!(c.counts.0)),
                "statusContextCount" => leaf(json!(c.counts.1)),
                "pageInfo" => Ok(Out::One(Node::PageInfo(c.page.clone()))),
                "nodes" => Ok(Out::Many(c.items.iter().map(|(_, n)| n.clone()).collect())),
                "edges" => Ok(Out::Many(
                    c.items
                        .iter()
                        .map(|(cur, n)| Node::Edge(c.edge, cur.clone(), Box::new(n.clone())))
                        .collect(),
                )),
                _ => leaf(Value::Null),
            },
            Node::Edge(_, cur, n) => match name {
                "cursor" => text(cur),
                "node" => Ok(Out::One((**n).clone())),
                _ => leaf(Value::Null),
            },
            Node::RateLimit(b) => match name {
                "limit" => leaf(json!(b.limit)),
                "cost" | "nodeCount" => leaf(json!(1)),
                "remaining" => leaf(json!(b.remaining)),
                "used" => leaf(json!(b.used)),
                "resetAt" => text(&iso(b.reset)),
                _ => leaf(Value::Null),
            },
        }
    }

    fn resolve_pr(&self, r: &'a Repo, p: &'a Pull, fld: &Field) -> Result<Out<'a>, FieldError> {
        let leaf = |v: Value| Ok(Out::Leaf(v));
        let text = |v: &str| Ok(Out::Leaf(Value::String(v.to_string())));
        let url = self
            .urls
            .web_url(&format!("{}/pull/{}", r.full_name(), p.number));
        match fld.name.as_str() {
            "id" => text(&format!("PR_kwDOfake{}", p.id)),
            "databaseId" => leaf(json!(p.id)),
            "number" => leaf(json!(p.number)),
            "url" | "permalink" => text(&url),
            "title" => text(&p.title),
            "body" => text(""),
            "state" => text(match p.status {
                PrStatus::Open => "OPEN",
                PrStatus::Closed => "CLOSED",
                PrStatus::Merged => "MERGED",
            }),
            "isDraft" => leaf(json!(p.draft)),
            "merged" => leaf(json!(p.status == PrStatus::Merged)),
            "closed" => leaf(json!(p.status != PrStatus::Open)),
            "locked" => leaf(json!(false)),
            "additions" => leaf(json!(p.additions)),
            "deletions" => leaf(json!(p.deletions)),
            "changedFiles" => leaf(json!(p.changed_files)),
            "mergeable" => text(&p.mergeable),
            "mergeStateStatus" => text(&p.merge_state_status),
            "reviewDecision" => leaf(p.review_decision.as_ref().map_or(Value::Null, |d| json!(d))),
            "headRefName" => text(&p.head_ref),
            "headRefOid" => text(&p.head_sha),
            "headRepository" => Ok(Out::One(self.repo_node(&p.head_repo, r))),
            "headRepositoryOwner" => Ok(Out::One(Node::Owner(
                p.head_repo
                    .split_once('/')
                    .map_or(p.head_repo.as_str(), |(o, _)| o),
            ))),
            "baseRefName" => text(&p.base_ref),
            "baseRefOid" => text(&p.base_sha),
            "baseRepository" | "repository" => Ok(Out::One(Node::Repo(r))),
            "isCrossRepository" => leaf(json!(!p.head_repo.eq_ignore_ascii_case(&r.full_name()))),
            "createdAt" => text(&iso(p.created_at)),
            "updatedAt" => text(&iso(p.updated_at)),
            "mergedAt" => leaf(opt_iso(p.merged_at)),
            "closedAt" => leaf(opt_iso(p.closed_at)),
            "author" => Ok(Out::One(Node::Actor {
                login: &p.author,
                bot: p.author_is_bot,
            })),
            "mergeCommit" => match &p.merge_commit_sha {
                Some(sha) => Ok(Out::One(Node::Commit(r, sha))),
                None => leaf(Value::Null),
            },
            "commits" => {
                let items = p.commits.iter().map(|c| Node::PrCommit(r, c)).collect();
                self.connection(
                    fld,
                    "PullRequestCommitConnection",
                    "PullRequestCommitEdge",
                    items,
                    (0, 0),
                )
            }
            "reviewThreads" => {
                let items = p.threads.iter().map(|t| Node::Thread(r, p, t)).collect();
                self.connection(
                    fld,
                    "PullRequestReviewThreadConnection",
                    "PullRequestReviewThreadEdge",
                    items,
                    (0, 0),
                )
            }
            _ => leaf(Value::Null),
        }
    }
}

/// The route kind of a GraphQL query and its number of top-level `repository` fields.
pub fn classify(query: &str) -> (Route, u64) {
    let route = if query.contains("reviewThreads") {
        Route::GraphqlThreads
    } else {
        Route::GraphqlFacts
    };
    let aliases = gql_parse::parse(query).map_or(0, |doc| {
        doc.operations.first().map_or(0, |op| {
            op.selections
                .iter()
                .filter(|s| matches!(s, Selection::Field(f) if f.name == "repository"))
                .count() as u64
        })
    });
    (route, aliases)
}

fn only_error(message: &str) -> Value {
    json!({"errors": [{"message": message}]})
}

/// Runs one GraphQL request body (`{"query", "variables"?, "operationName"?}`) against the
/// state and returns the response document.
pub fn execute(state: &State, urls: &Urls, body: &Value) -> Value {
    let Some(query) = body.get("query").and_then(Value::as_str) else {
        return only_error("A query attribute must be specified and must be a string.");
    };
    let vars = match body.get("variables") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(m)) => m.clone(),
        Some(Value::String(s)) => match serde_json::from_str::<Value>(s) {
            Ok(Value::Object(m)) => m,
            _ => return only_error("Variables are invalid JSON."),
        },
        Some(_) => return only_error("Variables are invalid JSON."),
    };
    let doc = match gql_parse::parse(query) {
        Ok(d) => d,
        Err(e) => {
            return json!({"errors": [{"message": e.message, "locations": loc(e.pos)}]});
        }
    };
    let op_name = body.get("operationName").and_then(Value::as_str);
    let op = match op_name {
        Some(n) => doc.operations.iter().find(|o| o.name.as_deref() == Some(n)),
        None if doc.operations.len() == 1 => doc.operations.first(),
        None => return only_error("An operation name is required"),
    };
    let Some(op) = op else {
        return only_error(&format!(
            "No operation named \"{}\"",
            op_name.unwrap_or_default()
        ));
    };
    if op.kind != OpKind::Query {
        return json!({"errors": [{
            "message": "The fake GitHub server only implements queries",
            "locations": loc(op.pos),
        }]});
    }
    let mut v = Validator {
        doc: &doc,
        errors: Vec::new(),
        fragment_stack: Vec::new(),
    };
    let mut vpath = vec!["query".to_string()];
    v.selections(&op.selections, "Query", &mut vpath);
    if !v.errors.is_empty() {
        return json!({"errors": v.errors});
    }
    let mut ex = Exec {
        state,
        urls,
        doc: &doc,
        vars: &vars,
        defaults: &op.variables,
        errors: Vec::new(),
    };
    let sels: Vec<&Selection> = op.selections.iter().collect();
    let data = ex.select(&Node::Query, &sels, &mut Vec::new());
    let mut out = json!({"data": data});
    if !ex.errors.is_empty()
        && let Some(o) = out.as_object_mut()
    {
        o.insert("errors".into(), Value::Array(ex.errors));
    }
    out
}
