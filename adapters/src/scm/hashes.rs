//! The semantic hashes of scm.md §7 and the failed-check fingerprint of §6.2.
//!
//! All hashes are lower-case hex SHA-256. Structured inputs are hashed as **canonical JSON**
//! ([`canonical_json`]: object keys sorted by their UTF-8 bytes, no insignificant whitespace,
//! serde_json's escaping), so the result does not depend on field order or on serde_json's
//! `preserve_order` feature. Line-based inputs (fingerprint, ci) are sorted lines joined with
//! `\n`.
//!
//! What is deliberately *not* hashed: check URLs (they change on every rerun), log tails (the
//! fingerprint decides when logs are refetched), observation timestamps.

use std::fmt::Write as _;

use ao_protocol::enums::{CheckStatus, ReviewDecision};
use ao_protocol::scm::{CheckFact, CommentFact, PrFacts, ThreadFact};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// Hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Serialises `v` with object keys sorted and no whitespace.
pub fn canonical_json(v: &Value) -> String {
    let mut out = String::new();
    write_canonical(v, &mut out);
    out
}

fn write_canonical(v: &Value, out: &mut String) {
    match v {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                write_canonical(&map[k], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        scalar => {
            let _ = write!(out, "{scalar}");
        }
    }
}

fn sorted_lines_hash(mut lines: Vec<String>) -> String {
    lines.sort();
    sha256_hex(lines.join("\n").as_bytes())
}

/// SHA-256 over the sorted lines `headSha|name|status|conclusion|jobId` of the failed and
/// cancelled checks (URLs excluded). Logs are refetched only when this changes.
pub fn failed_check_fingerprint(checks: &[CheckFact]) -> String {
    sorted_lines_hash(
        checks
            .iter()
            .filter(|c| matches!(c.status, CheckStatus::Failed | CheckStatus::Cancelled))
            .map(|c| {
                format!(
                    "{}|{}|{}|{}|{}",
                    c.commit_sha, c.name, c.status, c.conclusion, c.job_id
                )
            })
            .collect(),
    )
}

/// `<failed-check fingerprint>:<SHA-256 over the sorted name|status|conclusion|commit>`.
pub fn ci_hash(checks: &[CheckFact]) -> String {
    let all = sorted_lines_hash(
        checks
            .iter()
            .map(|c| format!("{}|{}|{}|{}", c.name, c.status, c.conclusion, c.commit_sha))
            .collect(),
    );
    format!("{}:{all}", failed_check_fingerprint(checks))
}

/// Canonical JSON of the PR's provider metadata (state flags, title, counts, author, refs,
/// SHAs, raw mergeability, provider timestamps). Derived values (ci, review, mergeability)
/// are excluded: they have their own hashes or follow from these inputs.
pub fn metadata_hash(f: &PrFacts) -> String {
    let v = json!({
        "provider": "github",
        "host": f.host,
        "repo": f.repo,
        "headRepo": f.head_repo,
        "number": f.number,
        "state": f.provider_state,
        "isDraft": f.is_draft,
        "isMerged": f.is_merged,
        "isClosed": f.is_closed,
        "title": f.title,
        "additions": f.additions,
        "deletions": f.deletions,
        "changedFiles": f.changed_files,
        "author": f.author,
        "sourceBranch": f.source_branch,
        "targetBranch": f.target_branch,
        "headSha": f.head_sha,
        "baseSha": f.base_sha,
        "mergeCommitSha": f.merge_commit_sha,
        "mergeable": f.provider_mergeable,
        "mergeStateStatus": f.provider_merge_state_status,
        "createdAt": f.created_at_provider,
        "updatedAt": f.updated_at_provider,
        "mergedAt": f.merged_at_provider,
        "closedAt": f.closed_at_provider,
    });
    sha256_hex(canonical_json(&v).as_bytes())
}

/// SHA-256 over a thread's resolved flag, path, line and its comments' ids and bodies.
pub fn thread_hash(
    resolved: bool,
    path: &str,
    line: Option<i64>,
    comments: &[CommentFact],
) -> String {
    let comments: Vec<Value> = comments
        .iter()
        .map(|c| json!([c.comment_id, c.body]))
        .collect();
    let v = json!({"resolved": resolved, "path": path, "line": line, "comments": comments});
    sha256_hex(canonical_json(&v).as_bytes())
}

/// SHA-256 over the decision, the partial flag and the sorted
/// `(threadId, resolved, isBot, threadHash)` of the fetched threads.
pub fn review_hash(decision: ReviewDecision, partial: bool, threads: &[ThreadFact]) -> String {
    let mut rows: Vec<(String, bool, bool, String)> = threads
        .iter()
        .map(|t| {
            (
                t.thread_id.clone(),
                t.resolved,
                t.is_bot,
                t.semantic_hash.clone(),
            )
        })
        .collect();
    rows.sort();
    let rows: Vec<Value> = rows
        .into_iter()
        .map(|(id, resolved, bot, hash)| json!([id, resolved, bot, hash]))
        .collect();
    let v = json!({"decision": decision.as_str(), "partial": partial, "threads": rows});
    sha256_hex(canonical_json(&v).as_bytes())
}

#[cfg(test)]
mod tests {
    use ao_protocol::enums::{CheckKind, CiState, Mergeability, PrState};

    use super::*;

    fn check(name: &str, status: CheckStatus, conclusion: &str, job: &str) -> CheckFact {
        CheckFact {
            name: name.into(),
            commit_sha: "abc".into(),
            kind: CheckKind::CheckRun,
            status,
            conclusion: conclusion.into(),
            url: format!("https://ci/{name}"),
            job_id: job.into(),
            log_tail: String::new(),
            log_hash: String::new(),
        }
    }

    fn facts() -> PrFacts {
        PrFacts {
            url: "https://github.com/o/r/pull/1".into(),
            number: 1,
            state: PrState::Open,
            review_decision: ReviewDecision::None,
            ci_state: CiState::Passing,
            mergeability: Mergeability::Mergeable,
            mergeability_reasons: vec![],
            host: "github.com".into(),
            repo: "o/r".into(),
            head_repo: "o/r".into(),
            source_branch: "feat".into(),
            target_branch: "main".into(),
            head_sha: "abc".into(),
            base_sha: "def".into(),
            merge_commit_sha: String::new(),
            title: "T".into(),
            author: "me".into(),
            html_url: "https://github.com/o/r/pull/1".into(),
            additions: 1,
            deletions: 2,
            changed_files: 3,
            is_draft: false,
            is_merged: false,
            is_closed: false,
            provider_state: "OPEN".into(),
            provider_mergeable: "MERGEABLE".into(),
            provider_merge_state_status: "CLEAN".into(),
            created_at_provider: Some("2024-01-01T00:00:00Z".into()),
            updated_at_provider: Some("2024-01-02T00:00:00Z".into()),
            merged_at_provider: None,
            closed_at_provider: None,
        }
    }

    #[test]
    fn canonical_json_sorts_keys_recursively() {
        let v: Value =
            serde_json::from_str(r#"{"b":1,"a":{"z":[1,{"y":"\"q","x":null}],"c":true}}"#)
                .expect("json");
        assert_eq!(
            canonical_json(&v),
            r#"{"a":{"c":true,"z":[1,{"x":null,"y":"\"q"}]},"b":1}"#
        );
    }

    #[test]
    fn fingerprint_covers_failed_and_cancelled_only_and_ignores_urls_and_order() {
        let a = vec![
            check("lint", CheckStatus::Passed, "SUCCESS", "1"),
            check("test", CheckStatus::Failed, "FAILURE", "2"),
            check("e2e", CheckStatus::Cancelled, "CANCELLED", "3"),
        ];
        let mut b = a.clone();
        b.reverse();
        b[1].url = "https://elsewhere".into();
        b[1].log_tail = "different log".into();
        assert_eq!(failed_check_fingerprint(&a), failed_check_fingerprint(&b));
        assert_eq!(ci_hash(&a), ci_hash(&b));

        let mut passing_changed = a.clone();
        passing_changed[0].conclusion = "NEUTRAL".into();
        assert_eq!(
            failed_check_fingerprint(&a),
            failed_check_fingerprint(&passing_changed)
        );
        assert_ne!(ci_hash(&a), ci_hash(&passing_changed));

        let mut rerun = a.clone();
        rerun[1].job_id = "99".into();
        assert_ne!(
            failed_check_fingerprint(&a),
            failed_check_fingerprint(&rerun)
        );
        assert!(ci_hash(&a).starts_with(&format!("{}:", failed_check_fingerprint(&a))));
        assert_eq!(ci_hash(&a).len(), 64 + 1 + 64);
        // The empty fingerprint is the hash of no lines.
        assert_eq!(failed_check_fingerprint(&[]), sha256_hex(b""));
    }

    #[test]
    fn metadata_hash_tracks_provider_fields_only() {
        let base = facts();
        let h = metadata_hash(&base);
        assert_eq!(h.len(), 64);
        let mut derived = base.clone();
        derived.ci_state = CiState::Failing;
        derived.mergeability = Mergeability::Blocked;
        derived.html_url = "x".into();
        assert_eq!(metadata_hash(&derived), h);
        let mut retitled = base.clone();
        retitled.title = "T2".into();
        assert_ne!(metadata_hash(&retitled), h);
        let mut merged = base;
        merged.merged_at_provider = Some("2024-02-01T00:00:00Z".into());
        assert_ne!(metadata_hash(&merged), h);
    }

    fn comment(id: &str, body: &str) -> CommentFact {
        CommentFact {
            comment_id: id.into(),
            author: "rev".into(),
            is_bot: false,
            body: body.into(),
            url: format!("https://c/{id}"),
            created_at: None,
        }
    }

    #[test]
    fn thread_and_review_hashes() {
        let c = vec![comment("c1", "fix this")];
        let h = thread_hash(false, "src/a.rs", Some(3), &c);
        assert_eq!(h, thread_hash(false, "src/a.rs", Some(3), &c));
        assert_ne!(h, thread_hash(true, "src/a.rs", Some(3), &c));
        assert_ne!(h, thread_hash(false, "src/a.rs", None, &c));
        assert_ne!(
            h,
            thread_hash(false, "src/a.rs", Some(3), &[comment("c1", "fix that")])
        );
        // The comment URL and author are not part of the hash.
        let mut moved = c.clone();
        moved[0].url = "https://elsewhere".into();
        moved[0].author = "other".into();
        assert_eq!(h, thread_hash(false, "src/a.rs", Some(3), &moved));

        let t = |id: &str, resolved: bool| ThreadFact {
            thread_id: id.into(),
            path: "p".into(),
            line: None,
            resolved,
            is_bot: false,
            semantic_hash: format!("h-{id}"),
            comments: vec![],
        };
        let r = review_hash(
            ReviewDecision::ChangesRequested,
            false,
            &[t("a", false), t("b", true)],
        );
        assert_eq!(
            r,
            review_hash(
                ReviewDecision::ChangesRequested,
                false,
                &[t("b", true), t("a", false)]
            )
        );
        assert_ne!(
            r,
            review_hash(
                ReviewDecision::ChangesRequested,
                true,
                &[t("a", false), t("b", true)]
            )
        );
        assert_ne!(
            r,
            review_hash(
                ReviewDecision::Approved,
                false,
                &[t("a", false), t("b", true)]
            )
        );
        assert_ne!(
            r,
            review_hash(
                ReviewDecision::ChangesRequested,
                false,
                &[t("a", true), t("b", true)]
            )
        );
    }
}
