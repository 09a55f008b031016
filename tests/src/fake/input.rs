//! The fake agent's keyboard: a byte-level parser for what a terminal (or tmux) writes to the
//! agent's stdin, modelled on a TUI input box.
//!
//! * Typed bytes accumulate in the input line; `Enter` (`\r`, or `\n` from a pipe) submits it
//!   as one [`Message`]. An empty (all-whitespace) line is not submitted, as in Claude.
//! * A bracketed paste `ESC[200~ … ESC[201~` is inserted into the input line verbatim (a `\r`
//!   inside it — tmux's line separator — becomes `\n`); it is submitted by the next `Enter`, so
//!   "paste, then Enter" is ONE message with [`Message::bracketed`] set.
//! * Other escape sequences (CSI such as arrows or focus events, SS3, Alt+key) are ignored.
//! * Backspace/DEL deletes one character, Ctrl-U clears the line, Ctrl-C clears a non-empty
//!   line or else reports [`Event::Interrupt`], Ctrl-D on an empty line reports
//!   [`Event::EndOfInput`].
//!
//! Invariant: the parser keeps its state between [`InputParser::feed`] calls, so sequences and
//! UTF-8 characters split across reads are handled; it never panics and never buffers an
//! unterminated escape sequence beyond [`MAX_ESCAPE`] bytes.

/// Longest escape sequence kept while waiting for its final byte.
pub const MAX_ESCAPE: usize = 32;

const PASTE_START: &[u8] = b"\x1b[200~";
const PASTE_END: &[u8] = b"\x1b[201~";

/// One submitted input line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub text: String,
    /// Some of the text arrived inside a bracketed paste.
    pub bracketed: bool,
}

/// What the keyboard produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Submit(Message),
    Interrupt,
    EndOfInput,
}

/// The incremental parser (see the module docs).
#[derive(Debug, Default)]
pub struct InputParser {
    line: Vec<u8>,
    bracketed: bool,
    /// Bytes of an escape sequence being read (starts with ESC), outside a paste.
    esc: Vec<u8>,
    in_paste: bool,
    /// How many bytes of [`PASTE_END`] matched so far inside a paste.
    end_match: usize,
    /// The previous paste byte was `\r` (so a following `\n` is part of the same line break).
    paste_cr: bool,
}

impl InputParser {
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds one chunk of bytes; returns the events it completed, in order.
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<Event> {
        let mut out = Vec::new();
        for &b in bytes {
            if self.in_paste {
                self.paste_byte(b);
            } else if !self.esc.is_empty() {
                self.escape_byte(b);
            } else {
                self.key_byte(b, &mut out);
            }
        }
        out
    }

    /// True while a bracketed paste is open (start marker seen, end marker not yet).
    pub fn in_paste(&self) -> bool {
        self.in_paste
    }

    fn paste_byte(&mut self, b: u8) {
        if b == PASTE_END[self.end_match] {
            self.end_match += 1;
            if self.end_match == PASTE_END.len() {
                self.end_match = 0;
                self.in_paste = false;
                self.paste_cr = false;
                self.bracketed = true;
            }
            return;
        }
        // A partial end marker was content after all.
        let partial = self.end_match;
        self.end_match = 0;
        for &p in &PASTE_END[..partial] {
            self.paste_content(p);
        }
        if b == PASTE_END[0] {
            self.end_match = 1;
        } else {
            self.paste_content(b);
        }
    }

    fn paste_content(&mut self, b: u8) {
        match b {
            b'\r' => {
                self.line.push(b'\n');
                self.paste_cr = true;
                return;
            }
            b'\n' if self.paste_cr => {}
            _ => self.line.push(b),
        }
        self.paste_cr = false;
    }

    fn escape_byte(&mut self, b: u8) {
        self.esc.push(b);
        let done = match self.esc.as_slice() {
            // ESC [ … final byte (0x40..=0x7e) ends a CSI sequence.
            [0x1b, b'[', rest @ ..] => rest.last().is_some_and(|f| (0x40..=0x7e).contains(f)),
            // ESC O x (SS3: application-mode arrows, F1–F4): wait for the x.
            [0x1b, b'O'] => false,
            // ESC ESC: start over with the second one.
            [0x1b, 0x1b] => {
                self.esc.truncate(1);
                false
            }
            // The x of ESC O x, or Alt+key.
            _ => true,
        };
        if done {
            if self.esc == PASTE_START {
                self.in_paste = true;
                self.end_match = 0;
                self.paste_cr = false;
            }
            self.esc.clear();
        } else if self.esc.len() >= MAX_ESCAPE {
            self.esc.clear();
        }
    }

    fn key_byte(&mut self, b: u8, out: &mut Vec<Event>) {
        match b {
            0x1b => self.esc.push(b),
            b'\r' | b'\n' => {
                if let Some(m) = self.take_line() {
                    out.push(Event::Submit(m));
                }
            }
            0x7f | 0x08 => self.backspace(),
            0x15 => self.clear(),
            0x03 => {
                if self.line.is_empty() {
                    out.push(Event::Interrupt);
                } else {
                    self.clear();
                }
            }
            0x04 => {
                if self.line.is_empty() {
                    out.push(Event::EndOfInput);
                }
            }
            b'\t' => self.line.push(b),
            c if c < 0x20 => {}
            c => self.line.push(c),
        }
    }

    fn clear(&mut self) {
        self.line.clear();
        self.bracketed = false;
    }

    fn backspace(&mut self) {
        // Remove one UTF-8 character: continuation bytes, then the lead byte.
        while let Some(b) = self.line.pop() {
            if b & 0xc0 != 0x80 {
                break;
            }
        }
        if self.line.is_empty() {
            self.bracketed = false;
        }
    }

    fn take_line(&mut self) -> Option<Message> {
        let bytes = std::mem::take(&mut self.line);
        let bracketed = std::mem::replace(&mut self.bracketed, false);
        let text = String::from_utf8_lossy(&bytes).into_owned();
        if text.trim().is_empty() {
            return None;
        }
        Some(Message { text, bracketed })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn submit(text: &str, bracketed: bool) -> Event {
        Event::Submit(Message {
            text: text.into(),
            bracketed,
        })
    }

    #[test]
    fn typed_text_is_one_message_per_enter() {
        let mut p = InputParser::new();
        assert_eq!(
            p.feed(b"hello world\rsecond\n"),
            [submit("hello world", false), submit("second", false)]
        );
        // Empty Enters (AO's confirmation retry) submit nothing.
        assert!(p.feed(b"\r\r  \r").is_empty());
        assert_eq!(p.feed(b"ab\x7fc\r"), [submit("ac", false)]);
        assert_eq!(
            p.feed("h\u{e9}\x7f\x7fok\r".as_bytes()),
            [submit("ok", false)]
        );
        assert_eq!(p.feed(b"junk\x15kept\r"), [submit("kept", false)]);
    }

    #[test]
    fn bracketed_paste_with_newlines_then_enter_is_one_message() {
        let mut p = InputParser::new();
        // tmux `paste-buffer -p` turns each LF into CR inside the markers.
        assert!(
            p.feed(b"\x1b[200~line one\rline two\r\nline three\x1b[201~")
                .is_empty()
        );
        assert_eq!(
            p.feed(b"\r"),
            [submit("line one\nline two\nline three", true)]
        );
        // Typed text after a paste keeps the message bracketed; the flag resets afterwards.
        p.feed(b"\x1b[200~pasted\x1b[201~");
        assert_eq!(p.feed(b" typed\r"), [submit("pasted typed", true)]);
        assert_eq!(p.feed(b"plain\r"), [submit("plain", false)]);
        // A stray ESC inside the paste that does not end it is content.
        p.feed(b"\x1b[200~a\x1b[20x\x1b\x1b[201~");
        assert_eq!(p.feed(b"\r"), [submit("a\x1b[20x\x1b", true)]);
    }

    #[test]
    fn sequences_split_across_reads() {
        let whole = "\x1b[200~multi\rline \u{e9}t\u{e9}\x1b[201~\r".as_bytes();
        for split in 1..whole.len() {
            let mut p = InputParser::new();
            let mut events = p.feed(&whole[..split]);
            events.extend(p.feed(&whole[split..]));
            assert_eq!(
                events,
                [submit("multi\nline \u{e9}t\u{e9}", true)],
                "split at {split}"
            );
        }
        // Byte by byte.
        let mut p = InputParser::new();
        let events: Vec<Event> = whole.iter().flat_map(|b| p.feed(&[*b])).collect();
        assert_eq!(events, [submit("multi\nline \u{e9}t\u{e9}", true)]);
    }

    #[test]
    fn other_escapes_and_control_keys() {
        let mut p = InputParser::new();
        // Arrow keys, focus events, SS3 and Alt+x are ignored.
        assert_eq!(
            p.feed(b"\x1b[A\x1b[I\x1bOPa\x1bxb\x1b\x1b[Bc\r"),
            [submit("abc", false)]
        );
        assert_eq!(p.feed(b"abc\x03"), []);
        assert_eq!(p.feed(b"\x03"), [Event::Interrupt]);
        assert_eq!(p.feed(b"\x04"), [Event::EndOfInput]);
        assert!(!p.in_paste());
        // An over-long unterminated sequence is dropped, not buffered forever.
        let mut long = b"\x1b[".to_vec();
        long.extend(std::iter::repeat_n(b'1', 100));
        long.extend(b"z\r");
        // ESC [ and 30 digits fill the limit; the rest is typed text.
        let typed = "1".repeat(70) + "z";
        assert_eq!(p.feed(&long), [submit(&typed, false)]);
    }
}
