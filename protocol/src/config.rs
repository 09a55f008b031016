//! `ProjectConfig` (http-api.md §6): strict decoding, the field checks, and RFC 7386 merge patch.
//!
//! The config is stored as the JSON the user gave (after validation), so `Project.config` is
//! served "as stored". [`ProjectConfig::validate_json`] is the one entry point that turns
//! untrusted JSON into a checked config; its error names the offending field.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::enums::{Harness, PermissionMode, RuntimeKind};

/// A failed config check: which field, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid project config: {field}: {message}")]
pub struct ConfigError {
    /// Dotted path of the bad field, e.g. `env.FOO` or `worker.agent`.
    pub field: String,
    pub message: String,
}

impl ConfigError {
    fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Agent settings shared by every role.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AgentConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permissions: Option<PermissionMode>,
}

/// Per-role overrides (`worker`, `orchestrator`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RoleConfig {
    /// A harness id; checked against the known harnesses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_config: Option<AgentConfig>,
}

/// A project's configuration. Every key is optional; unknown keys are rejected.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProjectConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_branch: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_prefix: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime: Option<RuntimeKind>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub symlinks: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub post_create: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_config: Option<AgentConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worker: Option<RoleConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub orchestrator: Option<RoleConfig>,
}

const KNOWN_KEYS: &[&str] = &[
    "defaultBranch",
    "sessionPrefix",
    "runtime",
    "env",
    "symlinks",
    "postCreate",
    "agentConfig",
    "worker",
    "orchestrator",
];

impl ProjectConfig {
    /// Decodes and checks untrusted JSON. `null` counts as `{}`.
    pub fn validate_json(value: &Value) -> Result<Self, ConfigError> {
        let obj = match value {
            Value::Null => return Ok(Self::default()),
            Value::Object(obj) => obj,
            _ => return Err(ConfigError::new("config", "must be a JSON object")),
        };
        // Name the field for unknown keys and type errors before serde's generic message.
        for (key, v) in obj {
            if !KNOWN_KEYS.contains(&key.as_str()) {
                return Err(ConfigError::new(key.clone(), "unknown key"));
            }
            let single = Value::Object([(key.clone(), v.clone())].into_iter().collect());
            if let Err(e) = serde_json::from_value::<ProjectConfig>(single) {
                return Err(ConfigError::new(
                    key.clone(),
                    strip_serde_position(&e.to_string()),
                ));
            }
        }
        let cfg: ProjectConfig = serde_json::from_value(value.clone())
            .map_err(|e| ConfigError::new("config", strip_serde_position(&e.to_string())))?;
        cfg.check()?;
        Ok(cfg)
    }

    /// The field checks of http-api.md §6 on an already-decoded config.
    pub fn check(&self) -> Result<(), ConfigError> {
        if let Some(b) = &self.default_branch {
            check_branch_name(b).map_err(|m| ConfigError::new("defaultBranch", m))?;
        }
        if let Some(p) = &self.session_prefix
            && !is_valid_session_prefix(p)
        {
            return Err(ConfigError::new(
                "sessionPrefix",
                "must match ^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$",
            ));
        }
        if let Some(env) = &self.env {
            if env.len() > 64 {
                return Err(ConfigError::new("env", "at most 64 keys"));
            }
            for (k, v) in env {
                if !is_valid_env_key(k) {
                    return Err(ConfigError::new(
                        format!("env.{k}"),
                        "key must match ^[A-Za-z_][A-Za-z0-9_]*$ and must not start with AO_",
                    ));
                }
                if v.len() > 4096 {
                    return Err(ConfigError::new(
                        format!("env.{k}"),
                        "value is longer than 4 KiB",
                    ));
                }
            }
        }
        if let Some(links) = &self.symlinks {
            if links.len() > 64 {
                return Err(ConfigError::new("symlinks", "at most 64 entries"));
            }
            for (i, l) in links.iter().enumerate() {
                let bad = l.is_empty()
                    || l.starts_with('/')
                    || l.contains('\0')
                    || l.split(['/', '\\']).any(|seg| seg == "..");
                if bad {
                    return Err(ConfigError::new(
                        format!("symlinks[{i}]"),
                        "must be a repo-relative path without '..'",
                    ));
                }
            }
        }
        if let Some(cmds) = &self.post_create {
            if cmds.len() > 16 {
                return Err(ConfigError::new("postCreate", "at most 16 commands"));
            }
            for (i, c) in cmds.iter().enumerate() {
                if c.len() > 4096 || c.contains('\0') {
                    return Err(ConfigError::new(
                        format!("postCreate[{i}]"),
                        "must be at most 4 KiB without NUL",
                    ));
                }
            }
        }
        for (name, role) in [
            ("worker", &self.worker),
            ("orchestrator", &self.orchestrator),
        ] {
            let Some(role) = role else { continue };
            if let Some(agent) = &role.agent
                && agent.parse::<Harness>().is_err()
            {
                return Err(ConfigError::new(
                    format!("{name}.agent"),
                    format!("unknown harness {agent:?}"),
                ));
            }
            if let Some(cmd) = &role.command
                && (cmd.len() > 4096 || cmd.contains('\0'))
            {
                return Err(ConfigError::new(
                    format!("{name}.command"),
                    "must be at most 4 KiB without NUL",
                ));
            }
        }
        Ok(())
    }
}

fn strip_serde_position(msg: &str) -> String {
    match msg.find(" at line ") {
        Some(i) => msg[..i].to_string(),
        None => msg.to_string(),
    }
}

/// `^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$`.
pub fn is_valid_session_prefix(p: &str) -> bool {
    let mut chars = p.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && p.len() <= 32
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// `^[A-Za-z_][A-Za-z0-9_]*$` and not starting with `AO_`.
pub fn is_valid_env_key(k: &str) -> bool {
    let mut chars = k.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !k.starts_with("AO_")
}

/// Branch-name rules of `git check-ref-format --branch` (for names that are not `@{-N}`
/// shorthands), plus the 255-byte limit of http-api.md §2. Returns a reason on failure.
pub fn check_branch_name(b: &str) -> Result<(), &'static str> {
    if b.is_empty() {
        return Err("branch name must not be empty");
    }
    if b.len() > 255 {
        return Err("branch name is longer than 255 bytes");
    }
    if b.starts_with('-') {
        return Err("branch name must not start with '-'");
    }
    if b == "@" || b == "HEAD" {
        return Err("branch name is reserved");
    }
    if b.starts_with('/') || b.ends_with('/') || b.contains("//") {
        return Err("branch name has an empty path component");
    }
    if b.ends_with('.') || b.contains("..") || b.contains("@{") {
        return Err("branch name contains '..', '@{' or ends with '.'");
    }
    if b.chars().any(|c| {
        c.is_ascii_control() || matches!(c, ' ' | '~' | '^' | ':' | '?' | '*' | '[' | '\\')
    }) {
        return Err("branch name contains a forbidden character");
    }
    for comp in b.split('/') {
        if comp.starts_with('.') || comp.ends_with(".lock") {
            return Err("a branch name component starts with '.' or ends with '.lock'");
        }
    }
    Ok(())
}

/// RFC 7386 JSON merge patch: `patch` applied to `target`.
pub fn merge_patch(target: &Value, patch: &Value) -> Value {
    let Value::Object(p) = patch else {
        return patch.clone();
    };
    let mut out = match target {
        Value::Object(t) => t.clone(),
        _ => serde_json::Map::new(),
    };
    for (k, v) in p {
        if v.is_null() {
            out.remove(k);
        } else {
            let merged = merge_patch(out.get(k).unwrap_or(&Value::Null), v);
            out.insert(k.clone(), merged);
        }
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn field_of(v: Value) -> String {
        ProjectConfig::validate_json(&v)
            .expect_err("must be rejected")
            .field
    }

    #[test]
    fn accepts_a_full_config() {
        let v = json!({
            "defaultBranch": "develop", "sessionPrefix": "ao-1", "runtime": "zellij",
            "env": {"FOO": "bar", "_X1": ""}, "symlinks": [".env", "a/b"], "postCreate": ["npm ci"],
            "agentConfig": {"model": "opus", "permissions": "accept-edits"},
            "worker": {"agent": "claude-code", "agentConfig": {"permissions": "auto"}},
            "orchestrator": {"agent": "command", "command": "bash"}
        });
        let cfg = ProjectConfig::validate_json(&v).expect("valid");
        assert_eq!(cfg.runtime, Some(RuntimeKind::Zellij));
        assert_eq!(serde_json::to_value(&cfg).expect("serialises"), v);
        assert_eq!(
            ProjectConfig::validate_json(&json!({})).expect("empty"),
            ProjectConfig::default()
        );
    }

    #[test]
    fn names_the_bad_field() {
        assert_eq!(field_of(json!({"bogus": 1})), "bogus");
        assert_eq!(field_of(json!({"runtime": "screen"})), "runtime");
        assert_eq!(field_of(json!({"sessionPrefix": "-x"})), "sessionPrefix");
        assert_eq!(field_of(json!({"defaultBranch": "a..b"})), "defaultBranch");
        assert_eq!(field_of(json!({"env": {"AO_X": "1"}})), "env.AO_X");
        assert_eq!(field_of(json!({"env": {"1A": "1"}})), "env.1A");
        assert_eq!(field_of(json!({"env": {"A": "x".repeat(4097)}})), "env.A");
        assert_eq!(field_of(json!({"symlinks": ["../x"]})), "symlinks[0]");
        assert_eq!(field_of(json!({"symlinks": ["ok", "/abs"]})), "symlinks[1]");
        assert_eq!(field_of(json!({"postCreate": vec!["x"; 17]})), "postCreate");
        assert_eq!(
            field_of(json!({"worker": {"agent": "gpt"}})),
            "worker.agent"
        );
        assert_eq!(field_of(json!({"worker": {"nope": 1}})), "worker");
        assert_eq!(
            field_of(json!({"agentConfig": {"permissions": "yolo"}})),
            "agentConfig"
        );
        assert_eq!(field_of(json!([1])), "config");
    }

    #[test]
    fn branch_rules() {
        for ok in ["main", "ao/p-1/root", "feature/x.y", "v1.0", "a-b_c"] {
            assert!(check_branch_name(ok).is_ok(), "{ok}");
        }
        for bad in [
            "", "-x", "a..b", "a b", "a~1", "x^", "a:b", "a?", "a*", "a[", "a\\b", "/a", "a/",
            "a//b", ".a", "a/.b", "a.lock", "a.", "a@{b", "@", "HEAD",
        ] {
            assert!(check_branch_name(bad).is_err(), "{bad}");
        }
        assert!(check_branch_name(&"a".repeat(256)).is_err());
    }

    #[test]
    fn merge_patch_follows_rfc_7386() {
        let target = json!({"a": "b", "c": {"d": "e", "f": "g"}, "env": {"X": "1"}});
        let patch = json!({"a": "z", "c": {"f": null}, "env": {"Y": "2"}, "n": [1]});
        assert_eq!(
            merge_patch(&target, &patch),
            json!({"a": "z", "c": {"d": "e"}, "env": {"X": "1", "Y": "2"}, "n": [1]})
        );
        assert_eq!(
            merge_patch(&json!({"a": 1}), &json!({"a": null})),
            json!({})
        );
        assert_eq!(merge_patch(&json!({"a": 1}), &json!([2])), json!([2]));
    }
}

#[cfg(test)]
mod proptests;
