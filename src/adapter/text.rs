//! Text helpers shared by the parsers: splitting a byte stream into lines (bounded, so
//! a line without end cannot grow without limit), and stripping terminal escapes.

/// Longest line kept for parsing; the rest of a longer line is dropped (the raw log
/// keeps every byte).
pub const MAX_LINE: usize = 256 * 1024;

/// What a line cut at the bound ends with.
pub const TRUNCATED: &str = " …[line truncated]";

/// Splits chunks of terminal output into lines, tolerant of `\r\n`, lone `\r` and
/// invalid UTF-8 (replaced, never an error).
pub struct LineSplitter {
    partial: Vec<u8>,
    overflowed: bool,
    max_line: usize,
}

impl Default for LineSplitter {
    fn default() -> LineSplitter {
        LineSplitter::with_max_line(MAX_LINE)
    }
}

impl LineSplitter {
    /// A splitter that cuts lines at `max_line` bytes (at least 1) instead of
    /// [`MAX_LINE`]: the fuzzer reaches the cut with small inputs.
    pub fn with_max_line(max_line: usize) -> LineSplitter {
        LineSplitter {
            partial: Vec::new(),
            overflowed: false,
            max_line: max_line.max(1),
        }
    }

    /// Feeds a chunk; returns the complete lines it finished.
    pub fn push(&mut self, chunk: &[u8]) -> Vec<String> {
        let mut lines = Vec::new();
        self.for_each_line(chunk, |line| lines.push(line_text(line)));
        lines
    }

    /// Feeds a chunk and calls `f` with each complete line (without `\n` and trailing
    /// `\r`, at most [`MAX_LINE`] bytes and the [`TRUNCATED`] mark), borrowing from the chunk where it can: a flood
    /// costs a scan for newlines, not an allocation per line.
    pub fn for_each_line(&mut self, chunk: &[u8], mut f: impl FnMut(&[u8])) {
        let mut rest = chunk;
        while let Some(i) = rest.iter().position(|&b| b == b'\n') {
            let (line, after) = (&rest[..i], &rest[i + 1..]);
            if self.partial.is_empty() && !self.overflowed && line.len() <= self.max_line {
                f(trim_cr(line));
            } else {
                // Joined with a partial line, or cut (and marked) however the chunks fell.
                self.append(line);
                let mut bytes = std::mem::take(&mut self.partial);
                if std::mem::take(&mut self.overflowed) {
                    bytes.extend_from_slice(TRUNCATED.as_bytes());
                }
                f(trim_cr(&bytes));
            }
            rest = after;
        }
        self.append(rest);
    }

    fn append(&mut self, bytes: &[u8]) {
        let room = self.max_line.saturating_sub(self.partial.len());
        if bytes.len() > room {
            self.overflowed = true;
        }
        self.partial
            .extend_from_slice(&bytes[..bytes.len().min(room)]);
    }

    /// The last line when the stream ends without a newline.
    pub fn finish(&mut self) -> Option<String> {
        (!self.partial.is_empty()).then(|| self.take())
    }

    fn take(&mut self) -> String {
        let bytes = std::mem::take(&mut self.partial);
        // A cut line keeps its bytes as they were cut, as in `for_each_line` (fuzzing
        // found this one trimming a `\r` before the mark, the other not).
        if std::mem::take(&mut self.overflowed) {
            line_text(&bytes) + TRUNCATED
        } else {
            line_text(trim_cr(&bytes))
        }
    }
}

fn trim_cr(mut line: &[u8]) -> &[u8] {
    while let [rest @ .., b'\r'] = line {
        line = rest;
    }
    line
}

/// A line's bytes as text; invalid UTF-8 is replaced, never an error.
pub fn line_text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Removes terminal escape sequences (CSI, OSC, two-byte escapes) and control
/// characters other than tab; a carriage return keeps only what follows it (trailing
/// ones, a `\r\n` line end, are dropped first: `10%\r100%\r` is `100%`).
pub fn strip_ansi(line: &str) -> String {
    let line = line.trim_end_matches('\r');
    let line = match line.rfind('\r') {
        Some(i) => &line[i + 1..],
        None => line,
    };
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\x1b' => match chars.next() {
                Some('[') => {
                    // CSI: parameters and intermediates, then one final byte @..~
                    for c in chars.by_ref() {
                        if ('@'..='~').contains(&c) {
                            break;
                        }
                    }
                }
                Some(']') => {
                    // OSC: until BEL or ESC \
                    while let Some(c) = chars.next() {
                        if c == '\x07' {
                            break;
                        }
                        if c == '\x1b' {
                            chars.next_if_eq(&'\\');
                            break;
                        }
                    }
                }
                Some('(' | ')' | '*' | '+') => {
                    chars.next();
                }
                _ => {}
            },
            '\t' => out.push(c),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_crlf_partial_lines_and_invalid_utf8() {
        let mut s = LineSplitter::default();
        assert_eq!(s.push(b"one\r\ntw"), vec!["one"]);
        assert_eq!(
            s.push(b"o\n\xff\xfebad\n"),
            vec!["two".to_string(), "\u{fffd}\u{fffd}bad".to_string()]
        );
        assert_eq!(s.push(b"tail"), Vec::<String>::new());
        assert_eq!(s.finish().as_deref(), Some("tail"));
    }

    #[test]
    fn bounds_a_line_without_end() {
        let mut s = LineSplitter::default();
        let big = vec![b'x'; MAX_LINE * 3];
        assert!(s.push(&big).is_empty());
        let line = s.push(b"\n").pop().unwrap();
        assert!(line.len() < MAX_LINE + 64);
        assert!(line.ends_with("[line truncated]"));
        // The same line in one chunk is cut and marked the same way (found by fuzzing).
        let mut whole = big.clone();
        whole.push(b'\n');
        assert_eq!(LineSplitter::default().push(&whole), vec![line]);
    }

    #[test]
    fn a_cut_line_ends_the_same_with_or_without_its_newline() {
        let mut s = LineSplitter::with_max_line(2);
        assert_eq!(s.push(b"-\r\r\n"), vec!["-\r …[line truncated]"]);
        assert!(s.push(b"-\r\r").is_empty());
        assert_eq!(s.finish().as_deref(), Some("-\r …[line truncated]"));
    }

    #[test]
    fn strips_escapes() {
        assert_eq!(strip_ansi("\x1b[1;31mERROR\x1b[0m: x"), "ERROR: x");
        assert_eq!(strip_ansi("\x1b]0;title\x07text"), "text");
        assert_eq!(strip_ansi("\x1b(B\x0fplain\x1b[?25h"), "plain");
        assert_eq!(strip_ansi("progress 10%\rprogress 100%"), "progress 100%");
        assert_eq!(strip_ansi("{\"a\":1}\r"), "{\"a\":1}");
        // A PTY's progress line with its `\r\n` end (found by fuzzing).
        assert_eq!(strip_ansi("progress 10%\rprogress 100%\r"), "progress 100%");
    }
}
