//! A small, tolerant parser for GraphQL executable documents: operations (`query`, with
//! optional name and variable definitions, or the `{ … }` shorthand), fields with aliases,
//! arguments (all literal kinds and `$variables`) and directives, inline fragments and named
//! fragments. It is enough for any query a GitHub client sends; it never panics and reports
//! the first syntax error with its line and column, in GitHub's wording
//! (`Parse error on "}" (RCURLY) at [3, 5]`).

use std::collections::HashMap;

/// A 1-based source position.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pos {
    pub line: usize,
    pub column: usize,
}

/// A literal or variable in argument position.
#[derive(Debug, Clone, PartialEq)]
pub enum Lit {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Enum(String),
    Var(String),
    List(Vec<Lit>),
    Object(Vec<(String, Lit)>),
}

/// `name: value` of a field or directive.
pub type Args = Vec<(String, Lit)>;

/// A directive such as `@include(if: $x)`.
#[derive(Debug, Clone, PartialEq)]
pub struct Directive {
    pub name: String,
    pub args: Args,
}

/// One field selection.
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    pub alias: Option<String>,
    pub name: String,
    pub args: Args,
    pub directives: Vec<Directive>,
    pub selections: Vec<Selection>,
    pub pos: Pos,
}

impl Field {
    /// The key of this field in the response (alias or name).
    pub fn key(&self) -> &str {
        self.alias.as_deref().unwrap_or(&self.name)
    }
}

/// A selection in a selection set.
#[derive(Debug, Clone, PartialEq)]
pub enum Selection {
    Field(Field),
    Inline {
        on: Option<String>,
        directives: Vec<Directive>,
        selections: Vec<Selection>,
        pos: Pos,
    },
    Spread {
        name: String,
        directives: Vec<Directive>,
        pos: Pos,
    },
}

/// `query`, `mutation` or `subscription`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpKind {
    Query,
    Mutation,
    Subscription,
}

/// One operation definition.
#[derive(Debug, Clone, PartialEq)]
pub struct Operation {
    pub kind: OpKind,
    pub name: Option<String>,
    /// Declared variables with their default values.
    pub variables: Vec<(String, Option<Lit>)>,
    pub selections: Vec<Selection>,
    pub pos: Pos,
}

/// A named fragment.
#[derive(Debug, Clone, PartialEq)]
pub struct Fragment {
    pub on: String,
    pub selections: Vec<Selection>,
    pub pos: Pos,
}

/// A parsed document.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    pub operations: Vec<Operation>,
    pub fragments: HashMap<String, Fragment>,
}

/// A syntax error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    pub message: String,
    pub pos: Pos,
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Name(String),
    Punct(char),
    Spread,
    Str(String),
    Int(i64),
    Float(f64),
    Eof,
}

impl Tok {
    fn describe(&self) -> (String, &'static str) {
        match self {
            Tok::Name(n) => (n.clone(), "IDENTIFIER"),
            Tok::Punct(c) => (
                c.to_string(),
                match c {
                    '{' => "LCURLY",
                    '}' => "RCURLY",
                    '(' => "LPAREN",
                    ')' => "RPAREN",
                    '[' => "LBRACKET",
                    ']' => "RBRACKET",
                    ':' => "COLON",
                    '$' => "VAR_SIGN",
                    '@' => "DIR_SIGN",
                    '=' => "EQUALS",
                    '!' => "BANG",
                    '|' => "PIPE",
                    '&' => "AMP",
                    _ => "UNKNOWN_CHAR",
                },
            ),
            Tok::Spread => ("...".into(), "ELLIPSIS"),
            Tok::Str(s) => (s.clone(), "STRING"),
            Tok::Int(i) => (i.to_string(), "INT"),
            Tok::Float(f) => (f.to_string(), "FLOAT"),
            Tok::Eof => (String::new(), "EOF"),
        }
    }
}

fn lex(src: &str) -> Result<Vec<(Tok, Pos)>, ParseError> {
    let chars: Vec<char> = src.chars().collect();
    let mut out = Vec::new();
    let (mut i, mut line, mut col) = (0usize, 1usize, 1usize);
    let err = |message: String, line: usize, column: usize| ParseError {
        message,
        pos: Pos { line, column },
    };
    while i < chars.len() {
        let c = chars[i];
        let pos = Pos { line, column: col };
        match c {
            '\n' => {
                i += 1;
                line += 1;
                col = 1;
            }
            ' ' | '\t' | '\r' | ',' | '\u{feff}' => {
                i += 1;
                col += 1;
            }
            '#' => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
            }
            '{' | '}' | '(' | ')' | '[' | ']' | ':' | '$' | '@' | '=' | '!' | '|' | '&' => {
                out.push((Tok::Punct(c), pos));
                i += 1;
                col += 1;
            }
            '.' => {
                if chars.get(i + 1) == Some(&'.') && chars.get(i + 2) == Some(&'.') {
                    out.push((Tok::Spread, pos));
                    i += 3;
                    col += 3;
                } else {
                    return Err(err(
                        format!("Parse error on \".\" (UNKNOWN_CHAR) at [{line}, {col}]"),
                        line,
                        col,
                    ));
                }
            }
            '"' => {
                let block = chars.get(i + 1) == Some(&'"') && chars.get(i + 2) == Some(&'"');
                if block {
                    i += 3;
                    col += 3;
                    let mut s = String::new();
                    loop {
                        if i >= chars.len() {
                            return Err(err(
                                format!(
                                    "Parse error on unterminated string at [{}, {}]",
                                    pos.line, pos.column
                                ),
                                pos.line,
                                pos.column,
                            ));
                        }
                        if chars[i] == '"'
                            && chars.get(i + 1) == Some(&'"')
                            && chars.get(i + 2) == Some(&'"')
                        {
                            i += 3;
                            col += 3;
                            break;
                        }
                        if chars[i] == '\n' {
                            line += 1;
                            col = 1;
                        } else {
                            col += 1;
                        }
                        s.push(chars[i]);
                        i += 1;
                    }
                    out.push((Tok::Str(s.trim().to_string()), pos));
                    continue;
                }
                i += 1;
                col += 1;
                let mut s = String::new();
                loop {
                    let Some(&ch) = chars.get(i) else {
                        return Err(err(
                            format!(
                                "Parse error on unterminated string at [{}, {}]",
                                pos.line, pos.column
                            ),
                            pos.line,
                            pos.column,
                        ));
                    };
                    i += 1;
                    col += 1;
                    match ch {
                        '"' => break,
                        '\n' => {
                            return Err(err(
                                format!(
                                    "Parse error on unterminated string at [{}, {}]",
                                    pos.line, pos.column
                                ),
                                pos.line,
                                pos.column,
                            ));
                        }
                        '\\' => {
                            let Some(&e) = chars.get(i) else { continue };
                            i += 1;
                            col += 1;
                            match e {
                                'n' => s.push('\n'),
                                't' => s.push('\t'),
                                'r' => s.push('\r'),
                                'b' => s.push('\u{8}'),
                                'f' => s.push('\u{c}'),
                                'u' => {
                                    let hex: String = chars.iter().skip(i).take(4).collect();
                                    let code = u32::from_str_radix(&hex, 16).ok();
                                    if hex.len() != 4 || code.is_none() {
                                        return Err(err(
                                            format!(
                                                "Parse error on bad unicode escape at [{line}, {col}]"
                                            ),
                                            line,
                                            col,
                                        ));
                                    }
                                    i += 4;
                                    col += 4;
                                    let mut code = code.unwrap_or(0xfffd);
                                    // A surrogate pair written as two escapes.
                                    if (0xd800..0xdc00).contains(&code)
                                        && chars.get(i) == Some(&'\\')
                                        && chars.get(i + 1) == Some(&'u')
                                    {
                                        let lo: String = chars.iter().skip(i + 2).take(4).collect();
                                        if let Ok(lo) = u32::from_str_radix(&lo, 16)
                                            && (0xdc00..0xe000).contains(&lo)
                                        {
                                            code =
                                                0x10000 + ((code - 0xd800) << 10) + (lo - 0xdc00);
                                            i += 6;
                                            col += 6;
                                        }
                                    }
                                    s.push(char::from_u32(code).unwrap_or('\u{fffd}'));
                                }
                                other => s.push(other),
                            }
                        }
                        other => s.push(other),
                    }
                }
                out.push((Tok::Str(s), pos));
            }
            c if c == '-' || c.is_ascii_digit() => {
                let start = i;
                i += 1;
                while i < chars.len()
                    && (chars[i].is_ascii_digit()
                        || matches!(chars[i], '.' | 'e' | 'E' | '+')
                        || (chars[i] == '-' && matches!(chars[i - 1], 'e' | 'E')))
                {
                    i += 1;
                }
                let text: String = chars[start..i].iter().collect();
                col += i - start;
                let tok = if text.contains(['.', 'e', 'E']) {
                    text.parse().map(Tok::Float).ok()
                } else {
                    text.parse().map(Tok::Int).ok()
                };
                let Some(tok) = tok else {
                    return Err(err(
                        format!(
                            "Parse error on \"{text}\" (INT) at [{}, {}]",
                            pos.line, pos.column
                        ),
                        pos.line,
                        pos.column,
                    ));
                };
                out.push((tok, pos));
            }
            c if c == '_' || c.is_ascii_alphabetic() => {
                let start = i;
                while i < chars.len() && (chars[i] == '_' || chars[i].is_ascii_alphanumeric()) {
                    i += 1;
                }
                col += i - start;
                out.push((Tok::Name(chars[start..i].iter().collect()), pos));
            }
            other => {
                return Err(err(
                    format!("Parse error on \"{other}\" (UNKNOWN_CHAR) at [{line}, {col}]"),
                    line,
                    col,
                ));
            }
        }
    }
    out.push((Tok::Eof, Pos { line, column: col }));
    Ok(out)
}

struct Parser {
    toks: Vec<(Tok, Pos)>,
    i: usize,
    depth: usize,
}

/// Nesting beyond this is rejected (keeps recursion bounded on hostile input).
const MAX_DEPTH: usize = 64;

impl Parser {
    fn peek(&self) -> &Tok {
        &self.toks[self.i.min(self.toks.len() - 1)].0
    }

    fn pos(&self) -> Pos {
        self.toks[self.i.min(self.toks.len() - 1)].1
    }

    fn bump(&mut self) -> Tok {
        let t = self.peek().clone();
        if self.i < self.toks.len() - 1 {
            self.i += 1;
        }
        t
    }

    fn unexpected(&self) -> ParseError {
        let pos = self.pos();
        let (text, kind) = self.peek().describe();
        let message = if kind == "EOF" {
            format!(
                "Parse error on end of input (EOF) at [{}, {}]",
                pos.line, pos.column
            )
        } else {
            format!(
                "Parse error on \"{text}\" ({kind}) at [{}, {}]",
                pos.line, pos.column
            )
        };
        ParseError { message, pos }
    }

    fn is_punct(&self, c: char) -> bool {
        *self.peek() == Tok::Punct(c)
    }

    fn expect_punct(&mut self, c: char) -> Result<(), ParseError> {
        if self.is_punct(c) {
            self.bump();
            Ok(())
        } else {
            Err(self.unexpected())
        }
    }

    fn name(&mut self) -> Result<String, ParseError> {
        match self.peek() {
            Tok::Name(n) => {
                let n = n.clone();
                self.bump();
                Ok(n)
            }
            _ => Err(self.unexpected()),
        }
    }

    fn document(&mut self) -> Result<Document, ParseError> {
        let mut doc = Document {
            operations: Vec::new(),
            fragments: HashMap::new(),
        };
        loop {
            let pos = self.pos();
            match self.peek().clone() {
                Tok::Eof => break,
                Tok::Punct('{') => {
                    let selections = self.selection_set()?;
                    doc.operations.push(Operation {
                        kind: OpKind::Query,
                        name: None,
                        variables: Vec::new(),
                        selections,
                        pos,
                    });
                }
                Tok::Name(n) if n == "fragment" => {
                    self.bump();
                    let name = self.name()?;
                    if self.name()? != "on" {
                        self.i -= 1;
                        return Err(self.unexpected());
                    }
                    let on = self.name()?;
                    self.directives()?;
                    let selections = self.selection_set()?;
                    doc.fragments.insert(
                        name,
                        Fragment {
                            on,
                            selections,
                            pos,
                        },
                    );
                }
                Tok::Name(n) if matches!(n.as_str(), "query" | "mutation" | "subscription") => {
                    self.bump();
                    let kind = match n.as_str() {
                        "query" => OpKind::Query,
                        "mutation" => OpKind::Mutation,
                        _ => OpKind::Subscription,
                    };
                    let name = match self.peek() {
                        Tok::Name(_) => Some(self.name()?),
                        _ => None,
                    };
                    let variables = if self.is_punct('(') {
                        self.variable_defs()?
                    } else {
                        Vec::new()
                    };
                    self.directives()?;
                    let selections = self.selection_set()?;
                    doc.operations.push(Operation {
                        kind,
                        name,
                        variables,
                        selections,
                        pos,
                    });
                }
                _ => return Err(self.unexpected()),
            }
        }
        Ok(doc)
    }

    fn variable_defs(&mut self) -> Result<Vec<(String, Option<Lit>)>, ParseError> {
        self.expect_punct('(')?;
        let mut out = Vec::new();
        while !self.is_punct(')') {
            self.expect_punct('$')?;
            let name = self.name()?;
            self.expect_punct(':')?;
            self.type_ref()?;
            let default = if self.is_punct('=') {
                self.bump();
                Some(self.value(true)?)
            } else {
                None
            };
            self.directives()?;
            out.push((name, default));
        }
        self.bump();
        Ok(out)
    }

    fn type_ref(&mut self) -> Result<(), ParseError> {
        if self.is_punct('[') {
            self.bump();
            self.type_ref()?;
            self.expect_punct(']')?;
        } else {
            self.name()?;
        }
        if self.is_punct('!') {
            self.bump();
        }
        Ok(())
    }

    fn directives(&mut self) -> Result<Vec<Directive>, ParseError> {
        let mut out = Vec::new();
        while self.is_punct('@') {
            self.bump();
            let name = self.name()?;
            let args = if self.is_punct('(') {
                self.arguments()?
            } else {
                Vec::new()
            };
            out.push(Directive { name, args });
        }
        Ok(out)
    }

    fn selection_set(&mut self) -> Result<Vec<Selection>, ParseError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            let pos = self.pos();
            return Err(ParseError {
                message: format!(
                    "Parse error: query nested too deeply at [{}, {}]",
                    pos.line, pos.column
                ),
                pos,
            });
        }
        self.expect_punct('{')?;
        let mut out = Vec::new();
        if self.is_punct('}') {
            return Err(self.unexpected());
        }
        while !self.is_punct('}') {
            out.push(self.selection()?);
        }
        self.bump();
        self.depth -= 1;
        Ok(out)
    }

    fn selection(&mut self) -> Result<Selection, ParseError> {
        let pos = self.pos();
        if *self.peek() == Tok::Spread {
            self.bump();
            let on_name = match self.peek() {
                Tok::Name(n) if n == "on" => {
                    self.bump();
                    Some(self.name()?)
                }
                Tok::Name(_) => {
                    let name = self.name()?;
                    let directives = self.directives()?;
                    return Ok(Selection::Spread {
                        name,
                        directives,
                        pos,
                    });
                }
                _ => None,
            };
            let directives = self.directives()?;
            let selections = self.selection_set()?;
            return Ok(Selection::Inline {
                on: on_name,
                directives,
                selections,
                pos,
            });
        }
        let first = self.name()?;
        let (alias, name) = if self.is_punct(':') {
            self.bump();
            (Some(first), self.name()?)
        } else {
            (None, first)
        };
        let args = if self.is_punct('(') {
            self.arguments()?
        } else {
            Vec::new()
        };
        let directives = self.directives()?;
        let selections = if self.is_punct('{') {
            self.selection_set()?
        } else {
            Vec::new()
        };
        Ok(Selection::Field(Field {
            alias,
            name,
            args,
            directives,
            selections,
            pos,
        }))
    }

    fn arguments(&mut self) -> Result<Args, ParseError> {
        self.expect_punct('(')?;
        let mut out = Vec::new();
        if self.is_punct(')') {
            return Err(self.unexpected());
        }
        while !self.is_punct(')') {
            let name = self.name()?;
            self.expect_punct(':')?;
            out.push((name, self.value(false)?));
        }
        self.bump();
        Ok(out)
    }

    fn value(&mut self, constant: bool) -> Result<Lit, ParseError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.unexpected());
        }
        let v = match self.bump() {
            Tok::Punct('$') if !constant => Lit::Var(self.name()?),
            Tok::Int(i) => Lit::Int(i),
            Tok::Float(f) => Lit::Float(f),
            Tok::Str(s) => Lit::Str(s),
            Tok::Name(n) => match n.as_str() {
                "true" => Lit::Bool(true),
                "false" => Lit::Bool(false),
                "null" => Lit::Null,
                _ => Lit::Enum(n),
            },
            Tok::Punct('[') => {
                let mut items = Vec::new();
                while !self.is_punct(']') {
                    if *self.peek() == Tok::Eof {
                        return Err(self.unexpected());
                    }
                    items.push(self.value(constant)?);
                }
                self.bump();
                Lit::List(items)
            }
            Tok::Punct('{') => {
                let mut fields = Vec::new();
                while !self.is_punct('}') {
                    let k = self.name()?;
                    self.expect_punct(':')?;
                    fields.push((k, self.value(constant)?));
                }
                self.bump();
                Lit::Object(fields)
            }
            _ => {
                self.i = self.i.saturating_sub(1);
                return Err(self.unexpected());
            }
        };
        self.depth -= 1;
        Ok(v)
    }
}

/// Parses a GraphQL document.
pub fn parse(src: &str) -> Result<Document, ParseError> {
    let toks = lex(src)?;
    let mut p = Parser {
        toks,
        i: 0,
        depth: 0,
    };
    let doc = p.document()?;
    if doc.operations.is_empty() {
        return Err(ParseError {
            message: "Parse error: the document has no operation".into(),
            pos: Pos { line: 1, column: 1 },
        });
    }
    Ok(doc)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(sel: &[Selection]) -> Vec<&Field> {
        sel.iter()
            .filter_map(|s| match s {
                Selection::Field(f) => Some(f),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn parses_the_facts_batch_shape_with_escapes_and_fragments() {
        let q = r#"query {
  pr0: repository(owner: "acme", name: "wid\"gets") { pullRequest(number: 7) { number
    commits(last: 1) { nodes { commit { oid statusCheckRollup { state contexts(first: 20, after: "Y3Vy") {
      pageInfo { hasNextPage endCursor }
      nodes { __typename ... on CheckRun { name databaseId } ... on StatusContext { context } } } } } } } } }
  pr1:repository(owner:"a",name:"b"){pullRequest(number:8){number}}
}"#;
        let doc = parse(q).expect("parses");
        let op = &doc.operations[0];
        let top = fields(&op.selections);
        assert_eq!(top.len(), 2);
        assert_eq!(top[0].key(), "pr0");
        assert_eq!(top[0].name, "repository");
        assert_eq!(
            top[0].args[1],
            ("name".into(), Lit::Str("wid\"gets".into()))
        );
        assert_eq!(top[1].key(), "pr1");
        assert_eq!(top[0].pos, Pos { line: 2, column: 3 });
        let pr = fields(&top[0].selections)[0];
        assert_eq!(pr.args[0], ("number".into(), Lit::Int(7)));
    }

    #[test]
    fn variables_named_fragments_and_directives() {
        let q = "query Q($n: Int! = 3, $skip: Boolean) { viewer @skip(if: $skip) { ...U } } fragment U on User { login }";
        let doc = parse(q).expect("parses");
        assert_eq!(doc.operations[0].name.as_deref(), Some("Q"));
        assert_eq!(
            doc.operations[0].variables[0],
            ("n".into(), Some(Lit::Int(3)))
        );
        assert!(doc.fragments.contains_key("U"));
    }

    #[test]
    fn syntax_errors_are_reported_with_position() {
        let e = parse("query {\n  repository(owner: \"a\" {").unwrap_err();
        assert_eq!(
            e.pos,
            Pos {
                line: 2,
                column: 25
            }
        );
        assert!(
            e.message.starts_with("Parse error on \"{\" (LCURLY)"),
            "{}",
            e.message
        );
        assert!(parse("").is_err());
        assert!(parse("{ a(x: \"unterminated) }").is_err());
        assert!(parse(&"{a".repeat(200)).is_err());
        assert!(parse("{ }").is_err());
    }
}
