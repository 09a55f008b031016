//! An incremental Server-Sent Events parser (the WHATWG event-stream format) for
//! `ao events --follow`.
//!
//! [`SseParser::push`] takes arbitrary byte chunks (a frame, a line or even a CRLF may be split
//! across chunks) and returns the complete frames. Lines end in LF, CRLF or CR; comment lines
//! (`:`) are skipped; `data` lines are joined with `\n`; a blank line dispatches a frame when it
//! has data; `retry` is remembered in [`SseParser::retry`].

/// One dispatched event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseFrame {
    /// The `id` field of this frame, when it had one.
    pub id: Option<String>,
    /// The `event` field; `message` when absent.
    pub event: String,
    pub data: String,
}

/// Parser state between chunks.
#[derive(Debug, Default)]
pub struct SseParser {
    buf: Vec<u8>,
    /// The previous chunk ended in CR: a leading LF of the next chunk belongs to it.
    skip_lf: bool,
    id: Option<String>,
    event: Option<String>,
    data: Vec<String>,
    /// The last `retry` value (milliseconds).
    pub retry: Option<u64>,
}

impl SseParser {
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds a chunk; returns every frame it completed, in order.
    pub fn push(&mut self, chunk: &[u8]) -> Vec<SseFrame> {
        let mut frames = Vec::new();
        for &b in chunk {
            if self.skip_lf {
                self.skip_lf = false;
                if b == b'\n' {
                    continue;
                }
            }
            match b {
                b'\n' | b'\r' => {
                    self.skip_lf = b == b'\r';
                    let line = std::mem::take(&mut self.buf);
                    let line = String::from_utf8_lossy(&line).into_owned();
                    if let Some(f) = self.line(&line) {
                        frames.push(f);
                    }
                }
                _ => self.buf.push(b),
            }
        }
        frames
    }

    fn line(&mut self, line: &str) -> Option<SseFrame> {
        if line.is_empty() {
            return self.dispatch();
        }
        if line.starts_with(':') {
            return None;
        }
        let (field, value) = match line.find(':') {
            Some(i) => {
                let v = &line[i + 1..];
                (&line[..i], v.strip_prefix(' ').unwrap_or(v))
            }
            None => (line, ""),
        };
        match field {
            "data" => self.data.push(value.to_string()),
            "event" => self.event = Some(value.to_string()),
            "id" if !value.contains('\0') => self.id = Some(value.to_string()),
            "retry" => {
                if let Ok(ms) = value.parse::<u64>() {
                    self.retry = Some(ms);
                }
            }
            _ => {}
        }
        None
    }

    fn dispatch(&mut self) -> Option<SseFrame> {
        let event = self.event.take();
        let id = self.id.take();
        if self.data.is_empty() {
            return None;
        }
        let data = std::mem::take(&mut self.data).join("\n");
        Some(SseFrame {
            id,
            event: event
                .filter(|e| !e.is_empty())
                .unwrap_or_else(|| "message".into()),
            data,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(id: Option<&str>, event: &str, data: &str) -> SseFrame {
        SseFrame {
            id: id.map(str::to_string),
            event: event.into(),
            data: data.into(),
        }
    }

    #[test]
    fn parses_frames_comments_and_retry() {
        let mut p = SseParser::new();
        let frames = p.push(
            b"retry: 3000\n\n: keep-alive\n\nid: 7\nevent: project_created\ndata: {\"seq\":7}\n\n",
        );
        assert_eq!(p.retry, Some(3000));
        assert_eq!(frames, [frame(Some("7"), "project_created", "{\"seq\":7}")]);
    }

    #[test]
    fn multi_line_data_and_default_event() {
        let mut p = SseParser::new();
        let frames = p.push(b"data: a\ndata:b\ndata\n\n");
        assert_eq!(frames, [frame(None, "message", "a\nb\n")]);
    }

    #[test]
    fn chunks_split_anywhere_including_crlf() {
        let input =
            b"id: 1\r\nevent: x\r\ndata: one\r\n\r\nevent: resync\rdata: {\"oldestSeq\":3}\r\r";
        let whole = SseParser::new().push(input);
        assert_eq!(
            whole,
            [
                frame(Some("1"), "x", "one"),
                frame(None, "resync", "{\"oldestSeq\":3}")
            ]
        );
        for split in 1..input.len() {
            let mut p = SseParser::new();
            let mut got = p.push(&input[..split]);
            got.extend(p.push(&input[split..]));
            assert_eq!(got, whole, "split at {split}");
        }
    }

    #[test]
    fn frames_without_data_are_not_dispatched() {
        let mut p = SseParser::new();
        assert!(p.push(b"id: 5\nevent: x\n\n").is_empty());
        // The id and event of the empty frame do not leak into the next one.
        assert_eq!(p.push(b"data: y\n\n"), [frame(None, "message", "y")]);
        // An incomplete frame waits for its blank line.
        assert!(p.push(b"data: z\n").is_empty());
        assert_eq!(p.push(b"\n"), [frame(None, "message", "z")]);
    }
}
