//! Property tests of the project-config parser (http-api.md §6), RFC 7386 merge patch, env
//! keys, and branch names against `git check-ref-format --branch` itself.

use std::process::Command;

use proptest::prelude::*;
use serde_json::{Map, Value, json};

use super::*;

/// Any JSON value, with object keys drawn mostly from the config's own vocabulary so that the
/// checks behind the key names are reached.
fn any_json() -> impl Strategy<Value = Value> {
    let key = prop_oneof![
        4 => prop::sample::select(KNOWN_KEYS.to_vec()).prop_map(str::to_string),
        1 => prop::sample::select(vec!["agent", "command", "model", "permissions", "PATH", "AO_X"])
            .prop_map(str::to_string),
        1 => any::<String>(),
    ];
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        prop::sample::select(vec![
            "tmux",
            "zellij",
            "main",
            "claude-code",
            "auto",
            "a..b",
            "-x"
        ])
        .prop_map(Value::from),
        any::<String>().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::btree_map(key.clone(), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn env_key() -> impl Strategy<Value = String> {
    "[A-Za-z_][A-Za-z0-9_]{0,15}".prop_filter("AO_ is reserved", |k| !k.starts_with("AO_"))
}

fn branch() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z][a-z0-9._-]{0,10}(/[a-z0-9][a-z0-9_-]{0,8}){0,2}",
        Just("main".to_string()),
        Just("ao/p-1/root".to_string()),
    ]
    .prop_filter("a valid branch", |b| check_branch_name(b).is_ok())
}

/// A config that satisfies every check, as JSON (the form it is stored in).
fn valid_config() -> impl Strategy<Value = Value> {
    let role = (
        prop::option::of(prop::sample::select(Harness::ALL.to_vec())),
        prop::option::of("[ -~]{0,40}"),
    )
        .prop_map(|(agent, command)| {
            let mut m = Map::new();
            if let Some(a) = agent {
                m.insert("agent".into(), json!(a.as_str()));
            }
            if let Some(c) = command {
                m.insert("command".into(), json!(c));
            }
            Value::Object(m)
        });
    (
        prop::option::of(branch()),
        prop::option::of("[A-Za-z0-9][A-Za-z0-9_-]{0,31}"),
        prop::option::of(prop::sample::select(vec!["tmux", "zellij"])),
        prop::option::of(prop::collection::btree_map(env_key(), ".{0,20}", 0..5)),
        prop::option::of(prop::collection::vec(
            "[a-z0-9_.-]{1,8}(/[a-z0-9_-]{1,8}){0,2}",
            0..4,
        )),
        prop::option::of(prop::collection::vec(".{0,30}", 0..4)),
        prop::option::of(role),
    )
        .prop_map(|(b, prefix, runtime, env, links, post, worker)| {
            let mut m = Map::new();
            let mut put = |k: &str, v: Option<Value>| {
                if let Some(v) = v {
                    m.insert(k.into(), v);
                }
            };
            put("defaultBranch", b.map(Value::from));
            put("sessionPrefix", prefix.map(Value::from));
            put("runtime", runtime.map(Value::from));
            put("env", env.map(|e| json!(e)));
            put("symlinks", links.map(|l| json!(l)));
            put("postCreate", post.map(|p| json!(p)));
            put("worker", worker);
            Value::Object(m)
        })
        .prop_filter("no '..' segment and no NUL", |v| {
            let links_ok = v["symlinks"].as_array().is_none_or(|l| {
                l.iter()
                    .filter_map(Value::as_str)
                    .all(|s| !s.split('/').any(|seg| seg == ".."))
            });
            links_ok && !v.to_string().contains("\\u0000")
        })
}

/// `v` without any `null` object member, at any depth.
fn without_null_members(v: Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.into_iter()
                .filter(|(_, x)| !x.is_null())
                .map(|(k, x)| (k, without_null_members(x)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(without_null_members).collect()),
        other => other,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn any_json_is_accepted_round_tripping_or_refused_naming_a_field(v in any_json()) {
        match ProjectConfig::validate_json(&v) {
            Ok(cfg) => {
                prop_assert!(cfg.check().is_ok());
                let again = serde_json::to_value(&cfg).expect("a config serialises");
                prop_assert_eq!(ProjectConfig::validate_json(&again).expect("still valid"), cfg);
            }
            Err(e) => {
                if let Value::Object(m) = &v {
                    // An unknown key is named as is; a known one may be followed by the path
                    // inside it (`env.FOO`, `symlinks[2]`, `worker.agent`).
                    let names_a_key = m.contains_key(&e.field)
                        || KNOWN_KEYS.iter().any(|k| {
                            m.contains_key(*k)
                                && e.field
                                    .strip_prefix(k)
                                    .is_some_and(|rest| rest.starts_with(['.', '[']))
                        });
                    prop_assert!(
                        names_a_key || e.field == "config",
                        "field {:?} names no key of {}", e.field, v
                    );
                }
            }
        }
    }

    #[test]
    fn valid_configs_are_accepted_and_stored_as_given(v in valid_config()) {
        let cfg = ProjectConfig::validate_json(&v).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(serde_json::to_value(&cfg).expect("serialises"), v);
    }

    #[test]
    fn env_keys_follow_the_pattern_and_refuse_the_ao_prefix(
        key in env_key(),
        bad in prop::sample::select(vec!['-', ' ', '.', '=', 'é', '$', '\n']),
        at in any::<prop::sample::Index>(),
    ) {
        prop_assert!(is_valid_env_key(&key));
        let ok = json!({"env": {key.clone(): "v"}});
        prop_assert!(ProjectConfig::validate_json(&ok).is_ok());

        let mut chars: Vec<char> = key.chars().collect();
        chars.insert(at.index(chars.len() + 1), bad);
        let broken: String = chars.into_iter().collect();
        let reserved = format!("AO_{key}");
        let leading_digit = format!("1{key}");
        for k in [broken, reserved, leading_digit] {
            prop_assert!(!is_valid_env_key(&k), "{k:?}");
            let e = ProjectConfig::validate_json(&json!({"env": {k.clone(): "v"}}))
                .expect_err("invalid key");
            prop_assert_eq!(e.field, format!("env.{k}"));
        }
    }

    #[test]
    fn merge_patch_is_idempotent_and_deletes_null_members(
        target in any_json(),
        patch in any_json(),
    ) {
        let once = merge_patch(&target, &patch);
        prop_assert_eq!(merge_patch(&once, &patch), once.clone());
        match &patch {
            Value::Object(p) => {
                let out = once.as_object().expect("an object patch gives an object");
                for (k, v) in p {
                    if v.is_null() {
                        prop_assert!(!out.contains_key(k));
                    } else {
                        prop_assert!(out.contains_key(k));
                    }
                }
                if let Value::Object(t) = &target {
                    for (k, v) in t {
                        if !p.contains_key(k) {
                            prop_assert_eq!(out.get(k), Some(v));
                        }
                    }
                }
            }
            other => prop_assert_eq!(&once, other),
        }
    }

    #[test]
    fn a_null_free_patch_on_an_empty_config_is_the_patch(
        members in prop::collection::btree_map(".{0,6}", any_json(), 0..6),
    ) {
        let patch = without_null_members(Value::Object(members.into_iter().collect()));
        prop_assert_eq!(merge_patch(&json!({}), &patch), patch.clone());
        prop_assert_eq!(merge_patch(&patch, &json!({})), patch);
    }
}

/// Names that mix the characters and shapes git's ref rules are about.
fn branch_like() -> impl Strategy<Value = String> {
    let piece = prop::sample::select(vec![
        "a", "b", "Z", "9", "/", ".", "..", "-", "_", "@", "@{", "{", "}", " ", "~", "^", ":", "?",
        "*", "[", "\\", "\u{7f}", "\u{1}", "\t", "é", ".lock", "HEAD", "//",
    ]);
    prop::collection::vec(piece, 0..7).prop_map(|p| p.concat())
}

proptest! {
    // Each case runs git once (a few ms): keep the count moderate.
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn branch_rules_agree_with_git_check_ref_format(name in branch_like()) {
        let dir = std::env::temp_dir();
        let out = Command::new("git")
            .args(["check-ref-format", "--branch", &name])
            .current_dir(&dir)
            .env("GIT_CEILING_DIRECTORIES", &dir)
            .output()
            .expect("git runs");
        let ours = check_branch_name(&name);
        // The one deliberate difference: git takes `@` (it means HEAD in revisions) as a
        // branch name; ao refuses it as reserved, like `HEAD`.
        if name == "@" {
            prop_assert!(ours.is_err());
        } else {
            prop_assert_eq!(
                ours.is_ok(),
                out.status.success(),
                "{:?}: ours {:?}, git: {}", name, ours, String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}
