//! Property tests of the GraphQL PR decoding and normalisation (scm.md §5): a GitHub answer is
//! untrusted input. Whatever JSON sits under an alias, [`decode_pr`] returns facts or a typed
//! error, never a panic; a well-formed PR with arbitrary words and check lists normalises to
//! unique check names where a failure is never hidden by a duplicate.

use proptest::prelude::*;
use serde_json::{Value, json};

use super::graphql::{Envelope, RawContext, decode_pr, snapshot};
use super::normalize;
use super::{PrKey, RepoRef, ScmError};
use ao_protocol::enums::CheckStatus;

fn key(n: u64) -> PrKey {
    PrKey::new(RepoRef::new("o", "r").expect("valid"), n)
}

fn gh_word() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(vec![
            "SUCCESS", "FAILURE", "ERROR", "PENDING", "COMPLETED", "IN_PROGRESS", "QUEUED",
            "NEUTRAL", "CANCELLED", "SKIPPED", "MERGEABLE", "CONFLICTING", "CLEAN", "DIRTY",
            "BLOCKED", "BEHIND", "APPROVED", "CHANGES_REQUESTED", "success", "",
        ])
        .prop_map(str::to_string),
        1 => any::<String>(),
    ]
}

fn context() -> impl Strategy<Value = Value> {
    let name = prop::sample::select(vec!["test", "lint", "build", "ci/legacy"]);
    prop_oneof![
        (
            name.clone(),
            gh_word(),
            prop::option::of(gh_word()),
            prop::option::of(any::<i64>())
        )
            .prop_map(|(name, status, conclusion, id)| json!({
                "__typename": "CheckRun", "name": name, "status": status,
                "conclusion": conclusion, "detailsUrl": null, "databaseId": id,
            })),
        (name, gh_word()).prop_map(|(name, state)| json!({
            "__typename": "StatusContext", "context": name, "state": state, "targetUrl": null,
        })),
    ]
}

/// A `repository { pullRequest { … } }` alias value as GitHub shapes it, with arbitrary words.
fn pr_node(number: u64) -> impl Strategy<Value = Value> {
    (
        (gh_word(), gh_word(), prop::option::of(gh_word()), prop::option::of(gh_word())),
        (any::<bool>(), any::<bool>(), any::<bool>()),
        prop::collection::vec(context(), 0..8),
        any::<String>(),
    )
        .prop_map(move |((mergeable, merge_state, review, rollup), (draft, merged, closed), contexts, title)| {
            json!({"pullRequest": {
                "number": number, "url": format!("https://github.com/o/r/pull/{number}"),
                "state": "OPEN", "isDraft": draft, "merged": merged, "closed": closed,
                "title": title, "additions": 1, "deletions": 2, "changedFiles": 3,
                "mergeable": mergeable, "mergeStateStatus": merge_state, "reviewDecision": review,
                "headRefName": "feat/x", "headRefOid": "h1",
                "headRepository": {"nameWithOwner": "o/r"},
                "baseRefName": "main", "baseRefOid": "b1",
                "createdAt": "2024-01-01T00:00:00Z", "updatedAt": "2024-01-02T00:00:00Z",
                "mergedAt": null, "closedAt": null, "author": {"login": "alice"},
                "mergeCommit": null,
                "commits": {"nodes": [{"commit": {"oid": "h1", "statusCheckRollup": {
                    "state": rollup,
                    "contexts": {"pageInfo": {"hasNextPage": false, "endCursor": null},
                                 "nodes": contexts}}}}]},
            }})
        })
}

/// Any JSON, nested.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<String>().prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 32, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(
                prop_oneof![
                    Just("pullRequest".to_string()),
                    Just("number".to_string()),
                    any::<String>()
                ],
                inner,
                0..4,
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Every path to a value inside `v`, as object keys / array indexes.
fn paths(v: &Value, at: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                at.push(k.clone());
                out.push(at.clone());
                paths(x, at, out);
                at.pop();
            }
        }
        Value::Array(items) => {
            for (i, x) in items.iter().enumerate() {
                at.push(i.to_string());
                out.push(at.clone());
                paths(x, at, out);
                at.pop();
            }
        }
        _ => {}
    }
}

/// `v` with the value at `path` replaced by `with` (or removed when `with` is `None`).
fn mutate(v: &mut Value, path: &[String], with: Option<Value>) {
    let (last, parents) = path.split_last().expect("a non-empty path");
    let mut cur = v;
    for p in parents {
        cur = match cur {
            Value::Object(m) => m.get_mut(p).expect("path exists"),
            Value::Array(a) => &mut a[p.parse::<usize>().expect("index")],
            _ => unreachable!("paths only descend into containers"),
        };
    }
    match (cur, with) {
        (Value::Object(m), Some(x)) => {
            m.insert(last.clone(), x);
        }
        (Value::Object(m), None) => {
            m.remove(last);
        }
        (Value::Array(a), Some(x)) => a[last.parse::<usize>().expect("index")] = x,
        (Value::Array(a), None) => {
            a.remove(last.parse::<usize>().expect("index"));
        }
        _ => unreachable!("paths end in containers"),
    }
}

fn envelope(alias_value: Value) -> Envelope {
    serde_json::from_value(json!({"data": {"pr0": alias_value}})).expect("an envelope")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn well_formed_prs_normalise_with_unique_checks_and_no_hidden_failure(
        node in (1u64..100_000).prop_flat_map(pr_node),
    ) {
        let number = node["pullRequest"]["number"].as_u64().expect("number");
        let k = key(number);
        let decoded = decode_pr(&envelope(node.clone()), "pr0", &k)
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        let url = format!("https://github.com/o/r/pull/{number}");
        let s = snapshot("github.com", url, &k, &decoded, &decoded.contexts);
        prop_assert_eq!(s.facts.number, number);
        let mut names: Vec<&str> = s.checks.iter().map(|c| c.name.as_str()).collect();
        let total = names.len();
        names.sort_unstable();
        names.dedup();
        prop_assert_eq!(names.len(), total, "check names are unique per commit");
        let raw: Vec<RawContext> = serde_json::from_value(
            node["pullRequest"]["commits"]["nodes"][0]["commit"]["statusCheckRollup"]["contexts"]["nodes"].clone(),
        ).expect("contexts");
        let any_failed = |want: &str| {
            raw.iter().any(|r| match r {
                RawContext::CheckRun { name, status, conclusion, .. } => {
                    name == want
                        && normalize::check_run_status(status, conclusion.as_deref())
                            == CheckStatus::Failed
                }
                RawContext::StatusContext { context, state, .. } => {
                    context == want
                        && normalize::status_context_status(state) == CheckStatus::Failed
                }
            })
        };
        for check in &s.checks {
            prop_assert_eq!(
                check.status == CheckStatus::Failed,
                any_failed(&check.name),
                "{}",
                check.name
            );
        }
    }

    #[test]
    fn a_damaged_pr_is_malformed_or_decoded_never_a_panic(
        node in pr_node(7),
        pick in any::<prop::sample::Index>(),
        with in prop::option::of(any_json()),
    ) {
        let mut all = Vec::new();
        paths(&node, &mut Vec::new(), &mut all);
        let path = pick.get(&all).clone();
        let mut damaged = node.clone();
        mutate(&mut damaged, &path, with);
        match decode_pr(&envelope(damaged), "pr0", &key(7)) {
            Ok(d) => {
                let s = snapshot("github.com", "u".into(), &key(7), &d, &d.contexts);
                prop_assert_eq!(s.facts.number, 7);
            }
            Err(ScmError::Malformed(m)) => prop_assert!(m.contains("pr0"), "{m}"),
            Err(ScmError::NotFound) => {}
            Err(e) => prop_assert!(false, "unexpected error {e:?} for {:?}", path),
        }
    }

    #[test]
    fn any_alias_value_decodes_or_fails_typed(v in any_json()) {
        match decode_pr(&envelope(v), "pr0", &key(1)) {
            Ok(_) | Err(ScmError::Malformed(_) | ScmError::NotFound) => {}
            Err(e) => prop_assert!(false, "unexpected error {e:?}"),
        }
    }
}
