//! Validated identifier newtypes. A `ProjectId` or `SessionId` value is always well-formed:
//! construction (including serde deserialisation) runs the checks of http-api.md §6 and
//! sessions.md §1.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Why a string is not a valid identifier.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("project id must not be empty")]
    Empty,
    #[error(
        "project id {0:?} must match ^[A-Za-z0-9][A-Za-z0-9._-]{{0,63}}$ and must not contain '..'"
    )]
    InvalidProjectId(String),
    #[error("session id {0:?} is not of the form <projectId>-<n>")]
    InvalidSessionId(String),
}

fn is_id_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')
}

/// A registered project's id: `^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`, without `..`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ProjectId(String);

impl ProjectId {
    pub fn new(s: impl Into<String>) -> Result<Self, IdError> {
        let s = s.into();
        if s.is_empty() {
            return Err(IdError::Empty);
        }
        let first_ok = s.chars().next().is_some_and(|c| c.is_ascii_alphanumeric());
        if !first_ok || s.len() > 64 || !s.chars().all(is_id_char) || s.contains("..") {
            return Err(IdError::InvalidProjectId(s));
        }
        Ok(Self(s))
    }

    /// The default id for a repository directory name (http-api.md §6): lowercased, every run
    /// of characters outside `[a-z0-9._-]` replaced by `-`, trimmed of `-`. `None` when nothing
    /// valid remains.
    pub fn from_basename(name: &str) -> Option<Self> {
        let mut out = String::with_capacity(name.len());
        let mut in_run = false;
        for c in name.to_lowercase().chars() {
            if c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-') {
                out.push(c);
                in_run = false;
            } else if !in_run {
                out.push('-');
                in_run = true;
            }
        }
        let trimmed = out.trim_matches('-');
        let mut s: String = trimmed.chars().take(64).collect();
        while s.contains("..") {
            s = s.replace("..", ".");
        }
        let s = s.trim_start_matches(['.', '_', '-']).to_string();
        Self::new(s).ok()
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ProjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for ProjectId {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

impl TryFrom<String> for ProjectId {
    type Error = IdError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::new(s)
    }
}

impl From<ProjectId> for String {
    fn from(id: ProjectId) -> Self {
        id.0
    }
}

impl AsRef<str> for ProjectId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// A session id: `<projectId>-<num>` with `num >= 1` (sessions.md §1).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SessionId(String);

impl SessionId {
    /// The id of session number `num` of `project`.
    pub fn new(project: &ProjectId, num: u32) -> Self {
        Self(format!("{project}-{num}"))
    }

    /// Parses and validates a session id string.
    pub fn parse(s: impl Into<String>) -> Result<Self, IdError> {
        let s = s.into();
        match Self::split(&s) {
            Some(_) => Ok(Self(s)),
            None => Err(IdError::InvalidSessionId(s)),
        }
    }

    fn split(s: &str) -> Option<(ProjectId, u32)> {
        let (project, num) = s.rsplit_once('-')?;
        if num.is_empty() || num.starts_with('0') || !num.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let num: u32 = num.parse().ok()?;
        let project = ProjectId::new(project).ok()?;
        Some((project, num))
    }

    /// The project part of the id.
    pub fn project_id(&self) -> ProjectId {
        Self::split(&self.0)
            .expect("SessionId is validated at construction")
            .0
    }

    /// The per-project number.
    pub fn num(&self) -> u32 {
        Self::split(&self.0)
            .expect("SessionId is validated at construction")
            .1
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for SessionId {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl TryFrom<String> for SessionId {
    type Error = IdError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(s)
    }
}

impl From<SessionId> for String {
    fn from(id: SessionId) -> Self {
        id.0
    }
}

impl AsRef<str> for SessionId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn project_ids_follow_the_spec_pattern() {
        for ok in ["demo", "a", "A.b_c-d", "x1", &"a".repeat(64)] {
            assert!(ProjectId::new(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "-a",
            ".a",
            "_a",
            "a..b",
            "a/b",
            "a b",
            &"a".repeat(65),
            "ü",
        ] {
            assert!(ProjectId::new(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn default_id_from_basename() {
        let id = |s: &str| ProjectId::from_basename(s).map(|p| p.to_string());
        assert_eq!(id("My Repo!").as_deref(), Some("my-repo"));
        assert_eq!(
            id("agent-orchestrator").as_deref(),
            Some("agent-orchestrator")
        );
        assert_eq!(id("  --Foo__Bar--  ").as_deref(), Some("foo__bar"));
        assert_eq!(id("a..b").as_deref(), Some("a.b"));
        assert_eq!(id("!!!"), None);
        assert_eq!(id("ÄÖÜ"), None);
    }

    #[test]
    fn session_ids_split_into_project_and_num() {
        let p = ProjectId::new("my-proj").expect("valid");
        let s = SessionId::new(&p, 12);
        assert_eq!(s.as_str(), "my-proj-12");
        assert_eq!(s.project_id(), p);
        assert_eq!(s.num(), 12);
        assert_eq!(SessionId::parse("my-proj-12"), Ok(s));
        for bad in [
            "demo", "demo-", "demo-0", "demo-01", "-1", "a..b-1", "demo-x",
        ] {
            assert!(SessionId::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn serde_validates_ids() {
        let ok: ProjectId = serde_json::from_str("\"demo\"").expect("valid id");
        assert_eq!(ok.as_str(), "demo");
        assert!(serde_json::from_str::<ProjectId>("\"../x\"").is_err());
        assert!(serde_json::from_str::<SessionId>("\"demo\"").is_err());
    }
}
