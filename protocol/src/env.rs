//! The environment configuration of README §4, shared by the daemon, the CLI and `ao hooks`.
//!
//! [`EnvConfig::from_env`] validates every variable; an invalid value is an [`EnvError`] naming
//! the variable, and every command exits 1 on it. Parsing is pure (see
//! [`EnvConfig::from_lookup`]) so it is tested without touching the process environment.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::enums::RuntimeKind;

/// An invalid environment variable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {var}={value:?}: {reason}")]
pub struct EnvError {
    pub var: &'static str,
    pub value: String,
    pub reason: String,
}

/// Validated configuration from `AO_*` variables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvConfig {
    pub home: PathBuf,
    pub run_file: PathBuf,
    pub data_dir: PathBuf,
    pub port: u16,
    pub request_timeout: Duration,
    pub shutdown_timeout: Duration,
    /// `AO_GITHUB_POLL_INTERVAL`: the base GitHub poll interval (30 s, scm.md §8); the
    /// throttled interval is 4× it. Not in the spec: a knob for tests and impatient users.
    pub github_poll_interval: Duration,
    /// The `tracing` filter directive (validated by the daemon when it installs it).
    pub log: String,
    pub runtime: RuntimeKind,
    pub tmux_socket: String,
    pub allowed_origins: Vec<String>,
}

impl EnvConfig {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, EnvError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Reads configuration through `get` (the process environment in production).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, EnvError> {
        let var = |k: &str| get(k).filter(|v| !v.is_empty());
        let home = match var("AO_HOME") {
            Some(h) => absolute("AO_HOME", &h, &get)?,
            None => match var("HOME") {
                Some(h) => PathBuf::from(h).join(".ao"),
                None => {
                    return Err(EnvError {
                        var: "AO_HOME",
                        value: String::new(),
                        reason: "unset, and HOME is unset too".into(),
                    });
                }
            },
        };
        let run_file = match var("AO_RUN_FILE") {
            Some(p) => absolute("AO_RUN_FILE", &p, &get)?,
            None => home.join("running.json"),
        };
        let data_dir = match var("AO_DATA_DIR") {
            Some(p) => absolute("AO_DATA_DIR", &p, &get)?,
            None => home.join("data"),
        };
        let port = match var("AO_PORT") {
            None => 3001,
            Some(p) => match p.trim().parse::<u16>() {
                Ok(n) if n > 0 => n,
                _ => {
                    return Err(EnvError {
                        var: "AO_PORT",
                        value: p,
                        reason: "must be an integer from 1 to 65535".into(),
                    });
                }
            },
        };
        let duration = |name: &'static str, default: Duration| -> Result<Duration, EnvError> {
            match var(name) {
                None => Ok(default),
                Some(v) => match parse_duration(&v) {
                    Some(d) if !d.is_zero() => Ok(d),
                    _ => Err(EnvError {
                        var: name,
                        value: v,
                        reason: "must be a duration > 0 such as 500ms, 60s or 2m".into(),
                    }),
                },
            }
        };
        let request_timeout = duration("AO_REQUEST_TIMEOUT", Duration::from_secs(60))?;
        let shutdown_timeout = duration("AO_SHUTDOWN_TIMEOUT", Duration::from_secs(10))?;
        let github_poll_interval = duration("AO_GITHUB_POLL_INTERVAL", Duration::from_secs(30))?;
        let log = var("AO_LOG").unwrap_or_else(|| "info".to_string());
        let runtime = match var("AO_RUNTIME") {
            None => RuntimeKind::Tmux,
            Some(r) => r.parse().map_err(|_| EnvError {
                var: "AO_RUNTIME",
                value: r.clone(),
                reason: "must be tmux or zellij".into(),
            })?,
        };
        let tmux_socket = var("AO_TMUX_SOCKET").unwrap_or_else(|| "ao".to_string());
        let socket_ok = (1..=64).contains(&tmux_socket.len())
            && tmux_socket
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if !socket_ok {
            return Err(EnvError {
                var: "AO_TMUX_SOCKET",
                value: tmux_socket,
                reason: "must match ^[A-Za-z0-9_-]{1,64}$".into(),
            });
        }
        let mut allowed_origins = Vec::new();
        if let Some(list) = var("AO_ALLOWED_ORIGINS") {
            for o in list.split(',').map(str::trim).filter(|o| !o.is_empty()) {
                if o == "*" || o.eq_ignore_ascii_case("null") {
                    return Err(EnvError {
                        var: "AO_ALLOWED_ORIGINS",
                        value: list.clone(),
                        reason: "'*' and 'null' are not allowed".into(),
                    });
                }
                allowed_origins.push(o.to_string());
            }
        }
        Ok(Self {
            home,
            run_file,
            data_dir,
            port,
            request_timeout,
            shutdown_timeout,
            github_poll_interval,
            log,
            runtime,
            tmux_socket,
            allowed_origins,
        })
    }

    /// `<dataDir>/ao.db`.
    pub fn db_path(&self) -> PathBuf {
        self.data_dir.join("ao.db")
    }

    /// `<dataDir>/daemon.lock`.
    pub fn lock_path(&self) -> PathBuf {
        self.data_dir.join("daemon.lock")
    }

    /// `<home>/daemon.log`.
    pub fn log_file(&self) -> PathBuf {
        self.home.join("daemon.log")
    }

    /// `<dataDir>/hooks.log`.
    pub fn hooks_log(&self) -> PathBuf {
        self.data_dir.join("hooks.log")
    }
}

/// Makes a configured path absolute: `~` and `~/…` expand to `HOME`; a relative path is taken
/// from the current directory.
fn absolute(
    var: &'static str,
    value: &str,
    get: &impl Fn(&str) -> Option<String>,
) -> Result<PathBuf, EnvError> {
    let expanded = if value == "~" || value.starts_with("~/") {
        let Some(home) = get("HOME").filter(|h| !h.is_empty()) else {
            return Err(EnvError {
                var,
                value: value.into(),
                reason: "uses ~ but HOME is unset".into(),
            });
        };
        PathBuf::from(home).join(value.trim_start_matches('~').trim_start_matches('/'))
    } else {
        PathBuf::from(value)
    };
    if expanded.is_absolute() {
        return Ok(expanded);
    }
    std::env::current_dir()
        .map(|cwd| cwd.join(&expanded))
        .map_err(|e| EnvError {
            var,
            value: value.into(),
            reason: format!("cannot resolve relative path: {e}"),
        })
}

/// Parses `500ms`, `30s`, `2m`, `1h` (an integer and a unit).
pub fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit())?;
    let (num, unit) = s.split_at(split);
    let n: u64 = num.parse().ok()?;
    match unit {
        "ms" => Some(Duration::from_millis(n)),
        "s" => Some(Duration::from_secs(n)),
        "m" => n.checked_mul(60).map(Duration::from_secs),
        "h" => n.checked_mul(3600).map(Duration::from_secs),
        _ => None,
    }
}

/// Formats a duration in the same vocabulary (`500ms`, `30s`, `2m`, `1h`), choosing the
/// largest unit that divides it exactly.
pub fn format_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms.is_multiple_of(3_600_000) && ms > 0 {
        format!("{}h", ms / 3_600_000)
    } else if ms.is_multiple_of(60_000) && ms > 0 {
        format!("{}m", ms / 60_000)
    } else if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    }
}

/// Whether `path` is inside `root` after lexical normalisation (no filesystem access).
pub fn is_within(root: &Path, path: &Path) -> bool {
    path.starts_with(root) && path != root
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn cfg(vars: &[(&str, &str)]) -> Result<EnvConfig, EnvError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect();
        EnvConfig::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn defaults_derive_from_home() {
        let c = cfg(&[("HOME", "/home/u")]).expect("valid");
        assert_eq!(c.home, PathBuf::from("/home/u/.ao"));
        assert_eq!(c.run_file, PathBuf::from("/home/u/.ao/running.json"));
        assert_eq!(c.data_dir, PathBuf::from("/home/u/.ao/data"));
        assert_eq!(c.port, 3001);
        assert_eq!(c.request_timeout, Duration::from_secs(60));
        assert_eq!(c.shutdown_timeout, Duration::from_secs(10));
        assert_eq!(c.github_poll_interval, Duration::from_secs(30));
        assert_eq!(c.runtime, RuntimeKind::Tmux);
        assert_eq!(c.tmux_socket, "ao");
        assert!(c.allowed_origins.is_empty());
    }

    #[test]
    fn overrides_and_tilde() {
        let c = cfg(&[
            ("HOME", "/h"),
            ("AO_HOME", "~/x"),
            ("AO_DATA_DIR", "/d"),
            ("AO_PORT", "0004"),
            ("AO_REQUEST_TIMEOUT", "500ms"),
            ("AO_GITHUB_POLL_INTERVAL", "1s"),
            ("AO_RUNTIME", "zellij"),
            ("AO_ALLOWED_ORIGINS", "http://a:1, http://b:2"),
        ])
        .expect("valid");
        assert_eq!(c.home, PathBuf::from("/h/x"));
        assert_eq!(c.run_file, PathBuf::from("/h/x/running.json"));
        assert_eq!(c.data_dir, PathBuf::from("/d"));
        assert_eq!(c.port, 4);
        assert_eq!(c.request_timeout, Duration::from_millis(500));
        assert_eq!(c.github_poll_interval, Duration::from_secs(1));
        assert_eq!(c.runtime, RuntimeKind::Zellij);
        assert_eq!(c.allowed_origins, ["http://a:1", "http://b:2"]);
    }

    #[test]
    fn invalid_values_name_the_variable() {
        let var = |vars: &[(&str, &str)]| cfg(vars).expect_err("invalid").var;
        assert_eq!(var(&[("HOME", "/h"), ("AO_PORT", "notaport")]), "AO_PORT");
        assert_eq!(var(&[("HOME", "/h"), ("AO_PORT", "0")]), "AO_PORT");
        assert_eq!(var(&[("HOME", "/h"), ("AO_PORT", "65536")]), "AO_PORT");
        assert_eq!(
            var(&[("HOME", "/h"), ("AO_REQUEST_TIMEOUT", "0s")]),
            "AO_REQUEST_TIMEOUT"
        );
        assert_eq!(
            var(&[("HOME", "/h"), ("AO_GITHUB_POLL_INTERVAL", "0ms")]),
            "AO_GITHUB_POLL_INTERVAL"
        );
        assert_eq!(
            var(&[("HOME", "/h"), ("AO_GITHUB_POLL_INTERVAL", "fast")]),
            "AO_GITHUB_POLL_INTERVAL"
        );
        assert_eq!(
            var(&[("HOME", "/h"), ("AO_SHUTDOWN_TIMEOUT", "10")]),
            "AO_SHUTDOWN_TIMEOUT"
        );
        assert_eq!(
            var(&[("HOME", "/h"), ("AO_RUNTIME", "screen")]),
            "AO_RUNTIME"
        );
        assert_eq!(
            var(&[("HOME", "/h"), ("AO_TMUX_SOCKET", "a/b")]),
            "AO_TMUX_SOCKET"
        );
        assert_eq!(
            var(&[("HOME", "/h"), ("AO_ALLOWED_ORIGINS", "http://a,*")]),
            "AO_ALLOWED_ORIGINS"
        );
        assert_eq!(
            var(&[("HOME", "/h"), ("AO_ALLOWED_ORIGINS", "null")]),
            "AO_ALLOWED_ORIGINS"
        );
        assert_eq!(var(&[]), "AO_HOME");
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Some(Duration::from_secs(120)));
        assert_eq!(parse_duration("1h"), Some(Duration::from_secs(3600)));
        for bad in ["", "s", "1", "1d", "-1s", "1.5s", "ms"] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
        assert_eq!(format_duration(Duration::from_secs(30)), "30s");
        assert_eq!(format_duration(Duration::from_secs(120)), "2m");
        assert_eq!(format_duration(Duration::from_millis(1500)), "1500ms");
    }
}
