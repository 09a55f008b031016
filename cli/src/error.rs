//! [`CliError`]: every way a command can fail, with its exit code (cli.md §1.1) and the exact
//! stderr text (cli.md §1.3).
//!
//! Invariants: usage errors exit 2, everything else exits 1; [`CliError::render`] is the only
//! place that formats the `error: <message> (<CODE>) [request <requestId>]` line.

use std::fmt::Write as _;
use std::path::PathBuf;

use ao_protocol::{EnvError, ErrorBody};

/// A failed command.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// A command-specific usage rule marked (2) in cli.md.
    #[error("{0}")]
    Usage(String),
    /// Invalid `AO_*` environment configuration.
    #[error(transparent)]
    Env(#[from] EnvError),
    /// No run-file.
    #[error("AO daemon is not running — start it with `ao start`")]
    NotRunning,
    /// A run-file whose pid is gone.
    #[error("AO daemon is not running (stale run-file at {}) — start it with `ao start`", .0.display())]
    Stale(PathBuf),
    /// A non-2xx API response. `body` is `None` when the body was not the JSON envelope.
    #[error("daemon returned HTTP {status}")]
    Api {
        status: u16,
        body: Option<Box<ErrorBody>>,
        /// `X-Request-Id` of the response, used when the body has none.
        request_id: Option<String>,
    },
    /// Any other failure, with a complete message (it may span several lines).
    #[error("{0}")]
    Failed(String),
    /// A declined confirmation.
    #[error("aborted")]
    Aborted,
    /// stdout was closed by the reader (`ao events -f | head`): stop quietly.
    #[error("output closed")]
    OutputClosed,
    /// Exit with this code; everything has been printed already (a `doctor` FAIL).
    #[error("exit {0}")]
    Quiet(u8),
}

impl CliError {
    /// The process exit code.
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Usage(_) => 2,
            CliError::OutputClosed => 0,
            CliError::Quiet(code) => *code,
            _ => 1,
        }
    }

    /// The text for stderr, without a trailing newline; empty when nothing is to be printed.
    pub fn render(&self) -> String {
        match self {
            CliError::Aborted => "aborted".to_string(),
            CliError::OutputClosed | CliError::Quiet(_) => String::new(),
            CliError::Api {
                status,
                body,
                request_id,
            } => match body {
                None => format!("error: daemon returned HTTP {status}"),
                Some(b) => render_api_error(b, request_id.as_deref()),
            },
            other => format!("error: {other}"),
        }
    }

    /// The error code of an API error, if this is one.
    pub fn api_code(&self) -> Option<&str> {
        match self {
            CliError::Api { body: Some(b), .. } => Some(b.code.as_str()),
            _ => None,
        }
    }

    /// Wraps an I/O error on stdout: a closed pipe stops the command quietly.
    pub fn output(e: &std::io::Error) -> Self {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            CliError::OutputClosed
        } else {
            CliError::Failed(format!("cannot write output: {e}"))
        }
    }
}

/// `error: <message> (<CODE>) [request <requestId>]`, parts omitted when empty, plus the
/// `hint: use --id <suggestion>` line when the details carry a suggested project id.
fn render_api_error(b: &ErrorBody, header_request_id: Option<&str>) -> String {
    let mut line = String::from("error:");
    if !b.message.is_empty() {
        line.push(' ');
        line.push_str(&b.message);
    }
    if !b.code.is_empty() {
        let _ = write!(line, " ({})", b.code);
    }
    let rid = if b.request_id.is_empty() {
        header_request_id.unwrap_or("")
    } else {
        &b.request_id
    };
    if !rid.is_empty() {
        let _ = write!(line, " [request {rid}]");
    }
    if let Some(s) = b
        .details
        .as_ref()
        .and_then(|d| d.get("suggestedProjectId"))
        .and_then(serde_json::Value::as_str)
        .filter(|s| !s.is_empty())
    {
        let _ = write!(line, "\nhint: use --id {s}");
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn body(v: serde_json::Value) -> ErrorBody {
        serde_json::from_value(v).expect("valid envelope")
    }

    #[test]
    fn api_error_line_has_message_code_and_request() {
        let e = CliError::Api {
            status: 404,
            body: Some(Box::new(body(
                json!({"error":"not_found","code":"PROJECT_NOT_FOUND",
                "message":"project x not found","requestId":"req_1"}),
            ))),
            request_id: None,
        };
        assert_eq!(
            e.render(),
            "error: project x not found (PROJECT_NOT_FOUND) [request req_1]"
        );
        assert_eq!(e.exit_code(), 1);
        assert_eq!(e.api_code(), Some("PROJECT_NOT_FOUND"));
    }

    #[test]
    fn empty_parts_are_omitted_and_header_id_fills_in() {
        let e = CliError::Api {
            status: 500,
            body: Some(Box::new(body(
                json!({"error":"internal","code":"","message":"boom","requestId":""}),
            ))),
            request_id: None,
        };
        assert_eq!(e.render(), "error: boom");
        let e = CliError::Api {
            status: 500,
            body: Some(Box::new(body(
                json!({"error":"internal","code":"X","message":"boom","requestId":""}),
            ))),
            request_id: Some("req_h".into()),
        };
        assert_eq!(e.render(), "error: boom (X) [request req_h]");
    }

    #[test]
    fn non_json_body_and_hint() {
        let e = CliError::Api {
            status: 502,
            body: None,
            request_id: None,
        };
        assert_eq!(e.render(), "error: daemon returned HTTP 502");
        let e = CliError::Api {
            status: 409,
            body: Some(Box::new(body(
                json!({"error":"conflict","code":"ID_ALREADY_REGISTERED",
                "message":"project id demo is taken","requestId":"r",
                "details":{"existingProjectId":"demo","suggestedProjectId":"demo-2"}}),
            ))),
            request_id: None,
        };
        assert_eq!(
            e.render(),
            "error: project id demo is taken (ID_ALREADY_REGISTERED) [request r]\nhint: use --id demo-2"
        );
    }

    #[test]
    fn exit_codes_and_plain_messages() {
        assert_eq!(CliError::Usage("x".into()).exit_code(), 2);
        assert_eq!(CliError::NotRunning.exit_code(), 1);
        assert_eq!(
            CliError::NotRunning.render(),
            "error: AO daemon is not running — start it with `ao start`"
        );
        assert_eq!(
            CliError::Stale(PathBuf::from("/h/running.json")).render(),
            "error: AO daemon is not running (stale run-file at /h/running.json) — start it with `ao start`"
        );
        assert_eq!(CliError::Aborted.render(), "aborted");
        assert_eq!(CliError::Aborted.exit_code(), 1);
    }
}
