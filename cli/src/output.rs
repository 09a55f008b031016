//! Output helpers shared by every command (cli.md §1.3): stdout writing that survives a closed
//! pipe, pretty JSON, ages, local clock times, aligned tables and minimal colour.
//!
//! Results go to stdout, diagnostics to stderr. Colour is used only when stdout is a TTY and
//! `NO_COLOR` is unset.

use std::fmt::Write as _;
use std::io::{IsTerminal, Write};

use chrono::{DateTime, Local, Utc};
use serde::Serialize;

use crate::error::CliError;

/// Writes `text` plus a newline to stdout.
pub fn line(text: &str) -> Result<(), CliError> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{text}")
        .and_then(|()| out.flush())
        .map_err(|e| CliError::output(&e))
}

/// Writes `text` to stdout as is (the caller supplies newlines).
pub fn raw(text: &str) -> Result<(), CliError> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(|e| CliError::output(&e))
}

/// Pretty JSON with 2-space indentation and a trailing newline. Keys keep their serialisation
/// order (struct field order; embedded raw API bodies as the daemon sent them).
pub fn pretty<T: Serialize + ?Sized>(v: &T) -> String {
    reindent(&compact(v))
}

/// Re-indents JSON text the way `serde_json::to_string_pretty` does (2 spaces, `": "`, empty
/// containers stay `{}`/`[]`) plus a trailing newline, without reordering or reformatting
/// any value. Whitespace outside strings is dropped first.
pub fn reindent(src: &str) -> String {
    let mut out = String::with_capacity(src.len() * 2);
    let mut depth = 0usize;
    let mut in_str = false;
    let mut escaped = false;
    let mut chars = src.chars().peekable();
    let newline = |out: &mut String, depth: usize| {
        out.push('\n');
        out.extend(std::iter::repeat_n("  ", depth));
    };
    while let Some(c) = chars.next() {
        if in_str {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_str = false;
            }
            continue;
        }
        match c {
            '"' => {
                in_str = true;
                out.push(c);
            }
            '{' | '[' => {
                while chars.peek().is_some_and(|n| n.is_whitespace()) {
                    chars.next();
                }
                let close = if c == '{' { '}' } else { ']' };
                out.push(c);
                if chars.peek() == Some(&close) {
                    chars.next();
                    out.push(close);
                } else {
                    depth += 1;
                    newline(&mut out, depth);
                }
            }
            '}' | ']' => {
                depth = depth.saturating_sub(1);
                newline(&mut out, depth);
                out.push(c);
            }
            ',' => {
                out.push(',');
                newline(&mut out, depth);
            }
            ':' => out.push_str(": "),
            c if c.is_whitespace() => {}
            c => out.push(c),
        }
    }
    out.push('\n');
    out
}

/// Prints `v` as pretty JSON (the `--json` output of every read command).
pub fn json<T: Serialize + ?Sized>(v: &T) -> Result<(), CliError> {
    raw(&pretty(v))
}

/// Compact one-line JSON (NDJSON lines, payloads in text output).
pub fn compact<T: Serialize + ?Sized>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "null".to_string())
}

/// An age in the cli.md §1.3 form: `Ns` (< 60 s), `Nm` (< 60 min), `Nh` (< 48 h), else `Nd`.
/// Negative ages (clock skew) count as 0.
pub fn age(seconds: i64) -> String {
    let s = seconds.max(0);
    if s < 60 {
        format!("{s}s")
    } else if s < 3600 {
        format!("{}m", s / 60)
    } else if s < 48 * 3600 {
        format!("{}h", s / 3600)
    } else {
        format!("{}d", s / 86_400)
    }
}

/// `YYYY-MM-DD HH:MM:SS` in local time; the input as is when it is not a timestamp.
pub fn local_datetime(ts: &str) -> String {
    local(ts).map_or_else(
        || ts.to_string(),
        |t| t.format("%Y-%m-%d %H:%M:%S").to_string(),
    )
}

/// `HH:MM:SS` in local time; the input as is when it is not a timestamp.
pub fn local_time(ts: &str) -> String {
    local(ts).map_or_else(|| ts.to_string(), |t| t.format("%H:%M:%S").to_string())
}

/// `HH:MM` in local time; the input as is when it is not a timestamp.
pub fn local_hm(ts: &str) -> String {
    local(ts).map_or_else(|| ts.to_string(), |t| t.format("%H:%M").to_string())
}

fn local(ts: &str) -> Option<DateTime<Local>> {
    ao_protocol::time::parse(ts).map(|t: DateTime<Utc>| t.with_timezone(&Local))
}

/// Left-aligned columns separated by two spaces; the last column is not padded.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let cols = header.len();
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate().take(cols) {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let header_row: Vec<String> = header.iter().map(|h| (*h).to_string()).collect();
    for row in std::iter::once(&header_row).chain(rows) {
        let mut l = String::new();
        for (i, cell) in row.iter().enumerate().take(cols) {
            if i + 1 == cols {
                l.push_str(cell);
            } else {
                l.push_str(cell);
                let pad = widths[i] - cell.chars().count() + 2;
                l.extend(std::iter::repeat_n(' ', pad));
            }
        }
        out.push_str(l.trim_end());
        out.push('\n');
    }
    out
}

/// `key: value` lines with the values aligned one column after the longest key.
pub fn key_values(pairs: &[(&str, String)]) -> String {
    let width = pairs.iter().map(|(k, _)| k.len()).max().unwrap_or(0) + 3;
    let mut out = String::new();
    for (k, v) in pairs {
        let key = format!("{k}:");
        let _ = writeln!(out, "{key:<width$}{v}");
    }
    out
}

/// Whether stdout gets colour.
pub fn colour_enabled() -> bool {
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none()
}

/// ANSI colours used by `status` and `doctor`.
#[derive(Debug, Clone, Copy)]
pub enum Colour {
    Green,
    Yellow,
    Red,
}

/// `text` wrapped in the colour's escape codes when `enabled`.
pub fn paint(text: &str, colour: Colour, enabled: bool) -> String {
    if !enabled {
        return text.to_string();
    }
    let code = match colour {
        Colour::Green => "32",
        Colour::Yellow => "33",
        Colour::Red => "31",
    };
    format!("\x1b[{code}m{text}\x1b[0m")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_use_the_largest_fitting_unit() {
        assert_eq!(age(-5), "0s");
        assert_eq!(age(0), "0s");
        assert_eq!(age(59), "59s");
        assert_eq!(age(60), "1m");
        assert_eq!(age(3599), "59m");
        assert_eq!(age(3600), "1h");
        assert_eq!(age(47 * 3600 + 3599), "47h");
        assert_eq!(age(48 * 3600), "2d");
        assert_eq!(age(10 * 86_400 + 5), "10d");
    }

    #[test]
    fn pretty_json_has_two_space_indent_and_newline() {
        let v = serde_json::json!({"a": [1]});
        assert_eq!(pretty(&v), "{\n  \"a\": [\n    1\n  ]\n}\n");
        assert_eq!(compact(&v), "{\"a\":[1]}");
    }

    #[test]
    fn reindent_matches_serde_pretty_and_keeps_order() {
        let v = serde_json::json!({"a": [1, {"b": "x,:{}[]\\\"y"}, [], {}], "c": null,
            "d": {"e": -1.5e3, "f": true}});
        let compact = serde_json::to_string(&v).expect("json");
        let mut expected = serde_json::to_string_pretty(&v).expect("json");
        expected.push('\n');
        assert_eq!(reindent(&compact), expected);
        assert_eq!(reindent(&expected), expected);
        assert_eq!(
            reindent(r#"{"z":1,"a":2}"#),
            "{\n  \"z\": 1,\n  \"a\": 2\n}\n"
        );
        assert_eq!(reindent("{ }"), "{}\n");
    }

    #[test]
    fn tables_align_and_do_not_pad_the_last_column() {
        let t = table(
            &["ID", "NAME", "PATH"],
            &[
                vec!["demo".into(), "Demo app".into(), "/r".into()],
                vec!["x".into(), "-".into(), "/long/path".into()],
            ],
        );
        assert_eq!(
            t,
            "ID    NAME      PATH\ndemo  Demo app  /r\nx     -         /long/path\n"
        );
    }

    #[test]
    fn key_values_align() {
        let s = key_values(&[("id", "demo".into()), ("default branch", "main".into())]);
        assert_eq!(s, "id:              demo\ndefault branch:  main\n");
    }

    #[test]
    fn bad_timestamps_pass_through() {
        assert_eq!(local_datetime("nope"), "nope");
        assert_eq!(local_time("2026-07-01T09:00:00.000Z").len(), 8);
        assert_eq!(local_datetime("2026-07-01T09:00:00.000Z").len(), 19);
    }

    #[test]
    fn paint_is_identity_without_colour() {
        assert_eq!(paint("PASS", Colour::Green, false), "PASS");
        assert_eq!(paint("PASS", Colour::Green, true), "\x1b[32mPASS\x1b[0m");
    }
}
