//! A small parser for the TOML *inline values* codex accepts in `-c key=value` flags
//! (adapters.md §6 codex notes), e.g.
//! `[{hooks=[{type="command",command="ao hooks codex stop",timeout=5}]}]`.
//!
//! Supported: basic `"…"` strings (with the TOML escapes), literal `'…'` strings, integers,
//! floats, booleans, arrays (trailing comma allowed) and inline tables with bare, quoted and
//! dotted keys. Values become [`serde_json::Value`]s. Like codex, a caller that gets an error
//! treats the raw text as a plain string.
//!
//! Invariant: never panics on any input; nesting is capped at [`MAX_DEPTH`].

use serde_json::{Map, Value};

/// Deepest nesting of arrays/tables accepted.
pub const MAX_DEPTH: usize = 64;

/// Why a value did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid TOML value at byte {at}: {what}")]
pub struct TomlError {
    pub at: usize,
    pub what: String,
}

/// Parses one complete inline value (surrounding whitespace allowed).
pub fn parse_value(text: &str) -> Result<Value, TomlError> {
    let mut p = Parser { s: text, i: 0 };
    p.ws();
    let v = p.value(0)?;
    p.ws();
    if p.i != p.s.len() {
        return Err(p.err("trailing characters after the value"));
    }
    Ok(v)
}

/// Parses a (possibly dotted, possibly quoted) key such as `hooks.SessionStart` or
/// `projects."/a b".trust_level` into its segments.
pub fn parse_key_path(text: &str) -> Result<Vec<String>, TomlError> {
    let mut p = Parser { s: text, i: 0 };
    p.ws();
    let key = p.dotted_key()?;
    p.ws();
    if p.i != p.s.len() {
        return Err(p.err("trailing characters after the key"));
    }
    Ok(key)
}

/// Sets `path` in `root` (creating intermediate tables, replacing non-table values on the way).
pub fn set_path(root: &mut Map<String, Value>, path: &[String], value: Value) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut cur = root;
    for seg in parents {
        let slot = cur
            .entry(seg.clone())
            .or_insert_with(|| Value::Object(Map::new()));
        if !slot.is_object() {
            *slot = Value::Object(Map::new());
        }
        let Value::Object(next) = slot else {
            return;
        };
        cur = next;
    }
    cur.insert(last.clone(), value);
}

struct Parser<'a> {
    s: &'a str,
    i: usize,
}

impl Parser<'_> {
    fn err(&self, what: &str) -> TomlError {
        TomlError {
            at: self.i,
            what: what.to_string(),
        }
    }

    fn peek(&self) -> Option<char> {
        self.s[self.i..].chars().next()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.i += c.len_utf8();
        Some(c)
    }

    fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(c) {
            self.i += c.len_utf8();
            true
        } else {
            false
        }
    }

    /// Whitespace, newlines and `#` comments (newlines are tolerated inside arrays and tables).
    fn ws(&mut self) {
        while let Some(c) = self.peek() {
            if c == '#' {
                while let Some(c) = self.peek() {
                    if c == '\n' {
                        break;
                    }
                    self.i += c.len_utf8();
                }
            } else if c.is_whitespace() {
                self.i += c.len_utf8();
            } else {
                break;
            }
        }
    }

    fn value(&mut self, depth: usize) -> Result<Value, TomlError> {
        if depth > MAX_DEPTH {
            return Err(self.err("nested too deeply"));
        }
        match self.peek() {
            Some('"') => self.basic_string().map(Value::String),
            Some('\'') => self.literal_string().map(Value::String),
            Some('[') => self.array(depth),
            Some('{') => self.table(depth),
            Some(_) => self.scalar(),
            None => Err(self.err("expected a value")),
        }
    }

    fn array(&mut self, depth: usize) -> Result<Value, TomlError> {
        self.eat('[');
        let mut items = Vec::new();
        loop {
            self.ws();
            if self.eat(']') {
                return Ok(Value::Array(items));
            }
            items.push(self.value(depth + 1)?);
            self.ws();
            if self.eat(',') {
                continue;
            }
            if self.eat(']') {
                return Ok(Value::Array(items));
            }
            return Err(self.err("expected ',' or ']' in an array"));
        }
    }

    fn table(&mut self, depth: usize) -> Result<Value, TomlError> {
        self.eat('{');
        let mut map = Map::new();
        loop {
            self.ws();
            if self.eat('}') {
                return Ok(Value::Object(map));
            }
            let key = self.dotted_key()?;
            self.ws();
            if !self.eat('=') {
                return Err(self.err("expected '=' after a key"));
            }
            self.ws();
            let v = self.value(depth + 1)?;
            set_path(&mut map, &key, v);
            self.ws();
            if self.eat(',') {
                continue;
            }
            if self.eat('}') {
                return Ok(Value::Object(map));
            }
            return Err(self.err("expected ',' or '}' in an inline table"));
        }
    }

    fn dotted_key(&mut self) -> Result<Vec<String>, TomlError> {
        let mut parts = vec![self.simple_key()?];
        loop {
            let save = self.i;
            self.ws();
            if self.eat('.') {
                self.ws();
                parts.push(self.simple_key()?);
            } else {
                self.i = save;
                return Ok(parts);
            }
        }
    }

    fn simple_key(&mut self) -> Result<String, TomlError> {
        match self.peek() {
            Some('"') => self.basic_string(),
            Some('\'') => self.literal_string(),
            _ => {
                let start = self.i;
                while let Some(c) = self.peek() {
                    if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                        self.i += 1;
                    } else {
                        break;
                    }
                }
                if self.i == start {
                    return Err(self.err("expected a key"));
                }
                Ok(self.s[start..self.i].to_string())
            }
        }
    }

    fn literal_string(&mut self) -> Result<String, TomlError> {
        self.eat('\'');
        let start = self.i;
        while let Some(c) = self.bump() {
            if c == '\'' {
                return Ok(self.s[start..self.i - 1].to_string());
            }
            if c == '\n' {
                return Err(self.err("newline in a literal string"));
            }
        }
        Err(self.err("unterminated literal string"))
    }

    fn basic_string(&mut self) -> Result<String, TomlError> {
        self.eat('"');
        let mut out = String::new();
        loop {
            match self.bump() {
                None => return Err(self.err("unterminated string")),
                Some('"') => return Ok(out),
                Some('\n') => return Err(self.err("newline in a basic string")),
                Some('\\') => {
                    let c = self.bump().ok_or_else(|| self.err("unterminated escape"))?;
                    match c {
                        '"' => out.push('"'),
                        '\\' => out.push('\\'),
                        'n' => out.push('\n'),
                        't' => out.push('\t'),
                        'r' => out.push('\r'),
                        'b' => out.push('\u{8}'),
                        'f' => out.push('\u{c}'),
                        'e' => out.push('\u{1b}'),
                        'u' => out.push(self.unicode_escape(4)?),
                        'U' => out.push(self.unicode_escape(8)?),
                        _ => return Err(self.err("unknown escape")),
                    }
                }
                Some(c) => out.push(c),
            }
        }
    }

    fn unicode_escape(&mut self, len: usize) -> Result<char, TomlError> {
        let hex = self
            .s
            .get(self.i..self.i + len)
            .ok_or_else(|| self.err("short unicode escape"))?;
        let code = u32::from_str_radix(hex, 16).map_err(|_| self.err("bad unicode escape"))?;
        self.i += len;
        char::from_u32(code).ok_or_else(|| self.err("escape is not a scalar value"))
    }

    fn scalar(&mut self) -> Result<Value, TomlError> {
        let start = self.i;
        while let Some(c) = self.peek() {
            if c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '_' | '.' | ':') {
                self.i += 1;
            } else {
                break;
            }
        }
        let word = &self.s[start..self.i];
        match word {
            "" => Err(self.err("expected a value")),
            "true" => Ok(Value::Bool(true)),
            "false" => Ok(Value::Bool(false)),
            _ => {
                let digits: String = word.chars().filter(|c| *c != '_').collect();
                if let Ok(n) = digits.parse::<i64>() {
                    return Ok(Value::from(n));
                }
                match digits.parse::<f64>() {
                    Ok(f) if f.is_finite() => Ok(Value::from(f)),
                    _ => {
                        self.i = start;
                        Err(self.err("not a string, number, boolean, array or table"))
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn codex_hook_flag_value() {
        let v = parse_value(
            r#"[{hooks=[{type="command",command="ao hooks codex session-start",timeout=5}]}]"#,
        )
        .expect("parses");
        assert_eq!(
            v,
            json!([{"hooks": [{"type": "command", "command": "ao hooks codex session-start", "timeout": 5}]}])
        );
    }

    #[test]
    fn projects_trust_and_strings() {
        let v =
            parse_value(r#"{'/tmp/a b'={trust_level="trusted"}, "/x"={trust_level="trusted"}}"#)
                .expect("parses");
        assert_eq!(v["/tmp/a b"]["trust_level"], "trusted");
        assert_eq!(v["/x"]["trust_level"], "trusted");
        assert_eq!(
            parse_value(r#""it's \"quoted\"\n\u00e9""#).expect("basic"),
            json!("it's \"quoted\"\né")
        );
        assert_eq!(
            parse_value("'no \\escapes'").expect("literal"),
            json!("no \\escapes")
        );
        assert_eq!(parse_value("false").expect("bool"), json!(false));
        assert_eq!(parse_value(" -1_000 ").expect("int"), json!(-1000));
        assert_eq!(parse_value("2.5").expect("float"), json!(2.5));
        assert_eq!(
            parse_value("{a.b = 1, c = [1, 2,]}").expect("dotted"),
            json!({"a": {"b": 1}, "c": [1, 2]})
        );
    }

    #[test]
    fn bad_values_are_errors_not_panics() {
        for bad in [
            "",
            "[",
            "{a=}",
            "\"open",
            "'open",
            "hello world",
            "[1 2]",
            "{a=1",
            "\"\\uZZZZ\"",
            "\"\\ud800\"",
            "1 trailing",
            "é",
        ] {
            assert!(parse_value(bad).is_err(), "{bad:?}");
        }
        let deep = "[".repeat(200) + &"]".repeat(200);
        assert!(parse_value(&deep).is_err());
    }

    #[test]
    fn key_paths() {
        assert_eq!(
            parse_key_path("hooks.SessionStart").expect("key"),
            ["hooks", "SessionStart"]
        );
        assert_eq!(
            parse_key_path(r#"projects."/a.b".trust_level"#).expect("key"),
            ["projects", "/a.b", "trust_level"]
        );
        assert!(parse_key_path("a..b").is_err());
        let mut root = Map::new();
        set_path(&mut root, &["a".into(), "b".into()], json!(1));
        set_path(&mut root, &["a".into(), "c".into()], json!(2));
        assert_eq!(Value::Object(root), json!({"a": {"b": 1, "c": 2}}));
    }
}
