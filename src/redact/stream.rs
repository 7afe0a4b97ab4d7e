//! [`StreamRedactor`]: the [`Redactor`] over a stream of chunks (a worker's PTY reads).
//! It holds back the current partial line so that a secret split across two reads is
//! still caught, and lets it go on the newline, at [`MAX_HELD`] bytes, when the worker is
//! quiet ([`WORD_IDLE`], [`LINE_IDLE`]), and at the end, so memory stays bounded whatever
//! the worker prints.

use super::{LINE_IDLE, MAX_HELD, Redactor, WORD_IDLE, render};
use std::time::Duration;

/// What a flush at [`MAX_HELD`] keeps at least (more for a longer literal secret).
const OVERLAP: usize = 1024;
/// Bytes of a line already passed on that are kept, so a pattern whose secret follows a
/// prefix (`Authorization: Bearer `) still finds the secret after a flush.
const CONTEXT: usize = 1024;

/// How much of a held partial line a flush lets go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cut {
    /// All of it (the end of the stream, or a long quiet).
    All,
    /// All but its last word (a short quiet).
    KeepLastWord,
    /// All but the last [`OVERLAP`] bytes (the line is too long to hold).
    KeepOverlap,
}

/// [`Redactor`] over a stream of chunks. Complete lines go out at once; the current
/// partial line is held back (up to [`MAX_HELD`] bytes) until its newline, a quiet
/// period ([`StreamRedactor::idle`]) or the end ([`StreamRedactor::finish`]).
pub struct StreamRedactor {
    redactor: Redactor,
    /// The current line: its first `emitted` bytes already passed on (kept as context,
    /// at most [`CONTEXT`]), then the bytes held back.
    line: Vec<u8>,
    emitted: usize,
    /// What a flush at [`MAX_HELD`] keeps.
    overlap: usize,
}

impl StreamRedactor {
    pub fn new(redactor: Redactor) -> StreamRedactor {
        let overlap = redactor.longest.clamp(OVERLAP, MAX_HELD / 4);
        StreamRedactor {
            redactor,
            line: Vec::new(),
            emitted: 0,
            overlap,
        }
    }

    pub fn redactor(&self) -> &Redactor {
        &self.redactor
    }

    /// Bytes taken but not yet passed on.
    pub fn held(&self) -> usize {
        self.line.len() - self.emitted
    }

    /// Takes a chunk; appends what may go out, redacted, to `out`.
    pub fn push(&mut self, chunk: &[u8], out: &mut Vec<u8>) {
        match chunk.iter().rposition(|&b| b == b'\n') {
            Some(last_newline) => {
                let (lines, rest) = chunk.split_at(last_newline + 1);
                if self.line.is_empty() {
                    let spans = self.redactor.spans(lines);
                    render(lines, &spans, 0, lines.len(), out);
                } else {
                    self.line.extend_from_slice(lines);
                    let spans = self.redactor.spans(&self.line);
                    render(&self.line, &spans, self.emitted, self.line.len(), out);
                    self.line.clear();
                }
                self.emitted = 0;
                self.line.extend_from_slice(rest);
            }
            None => self.line.extend_from_slice(chunk),
        }
        if self.held() > MAX_HELD {
            self.flush(Cut::KeepOverlap, out);
        }
    }

    /// The worker has been quiet for `quiet`: lets go of the held partial line, all but
    /// its last word after [`WORD_IDLE`], all of it after [`LINE_IDLE`].
    pub fn idle(&mut self, quiet: Duration, out: &mut Vec<u8>) {
        if quiet >= LINE_IDLE {
            self.flush(Cut::All, out);
        } else if quiet >= WORD_IDLE {
            self.flush(Cut::KeepLastWord, out);
        }
    }

    /// The stream ended: everything held goes out.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        self.flush(Cut::All, out);
        self.line.clear();
        self.emitted = 0;
    }

    fn flush(&mut self, how: Cut, out: &mut Vec<u8>) {
        let (start, len) = (self.emitted, self.line.len());
        if start == len {
            return;
        }
        let spans = self.redactor.spans(&self.line);
        let mut cut = match how {
            Cut::All => len,
            Cut::KeepOverlap => len - self.overlap.min(len - start),
            Cut::KeepLastWord => self.line[start..]
                .iter()
                .rposition(|&b| matches!(b, b' ' | b'\t' | b'\r' | b'\x0b' | b'\x0c'))
                .map_or(start, |i| start + i + 1),
        };
        // Never cut through a secret: keep all of it for later.
        while let Some(span) = spans.iter().find(|s| s.start < cut && cut < s.end) {
            cut = span.start;
        }
        cut = cut.max(start);
        if how == Cut::KeepOverlap && len - cut > MAX_HELD / 2 {
            // A "secret" this long is not one; bounded memory comes first.
            cut = len;
        }
        render(&self.line, &spans, start, cut, out);
        self.emitted = cut;
        if self.emitted > CONTEXT {
            self.line.drain(..self.emitted - CONTEXT);
            self.emitted = CONTEXT;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::REDACTED;
    use super::*;

    const ANT: &str = "sk-ant-api03-Zx9Qw3rTy7uIoP1aSdF4gHjK-lZxCvB_nM2";
    const GHP: &str = "ghp_a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8";

    fn stream(r: &Redactor, chunks: &[&[u8]]) -> Vec<u8> {
        let mut s = StreamRedactor::new(r.clone());
        let mut out = Vec::new();
        for chunk in chunks {
            s.push(chunk, &mut out);
        }
        s.finish(&mut out);
        out
    }

    #[test]
    fn a_secret_split_across_chunks_is_redacted() {
        let r = Redactor::with_secrets(["plum-passenger-7731"]);
        let (a, b) = ANT.split_at(17);
        let text = format!("one {a}");
        let out = stream(
            &r,
            &[
                text.as_bytes(),
                format!("{b} two\nthree plum-pas").as_bytes(),
                b"senger-7731\n",
            ],
        );
        assert_eq!(out, b"one [REDACTED] two\nthree [REDACTED]\n");
        // Byte by byte.
        let input = format!("x {GHP} y\nAuthorization: Bearer abcdefgh12345678 z\n");
        let chunks: Vec<&[u8]> = input.as_bytes().chunks(1).collect();
        assert_eq!(
            stream(&r, &chunks),
            b"x [REDACTED] y\nAuthorization: Bearer [REDACTED] z\n"
        );
    }

    #[test]
    fn a_quiet_worker_gets_its_partial_line_out_but_the_last_word() {
        let r = Redactor::patterns_only();
        let mut s = StreamRedactor::new(r);
        let mut out = Vec::new();
        s.push(b"done\nProceed? [y/n] sk-ant-api03-AAAA", &mut out);
        assert_eq!(out, b"done\n");
        s.idle(Duration::from_millis(50), &mut out);
        assert_eq!(out, b"done\n");
        s.idle(WORD_IDLE, &mut out);
        assert_eq!(out, b"done\nProceed? [y/n] ");
        assert_eq!(s.held(), "sk-ant-api03-AAAA".len());
        s.push(b"BBBBBBBBBBBBBBBB tail\n", &mut out);
        assert_eq!(out, b"done\nProceed? [y/n] [REDACTED] tail\n");
        // A prefix passed on earlier still marks what follows it.
        s.push(b"Authorization: Bearer ", &mut out);
        s.idle(LINE_IDLE, &mut out);
        s.push(b"abcdefgh12345678\n", &mut out);
        assert!(
            out.ends_with(b"Authorization: Bearer [REDACTED]\n"),
            "{}",
            String::from_utf8_lossy(&out)
        );
        s.push(b"prompt>", &mut out);
        s.idle(LINE_IDLE, &mut out);
        assert!(out.ends_with(b"prompt>"));
        assert_eq!(s.held(), 0);
    }

    #[test]
    fn a_line_without_end_is_held_boundedly_and_loses_nothing() {
        let r = Redactor::patterns_only();
        let mut s = StreamRedactor::new(r);
        let mut out = Vec::new();
        let chunk = vec![b'x'; 4096];
        let mut total = 0;
        for i in 0..100 {
            if i == 50 {
                s.push(format!(" {ANT} ").as_bytes(), &mut out);
                total += ANT.len() + 2;
            }
            s.push(&chunk, &mut out);
            total += chunk.len();
            assert!(s.held() <= MAX_HELD, "held {}", s.held());
        }
        s.finish(&mut out);
        let expected = total - ANT.len() + REDACTED.len();
        assert_eq!(out.len(), expected);
        assert!(
            out.windows(REDACTED.len())
                .any(|w| w == REDACTED.as_bytes())
        );
        assert_eq!(out.iter().filter(|&&b| b == b'x').count(), 100 * 4096);
    }

    #[test]
    fn the_stream_keeps_invalid_utf8_and_every_other_byte() {
        let r = Redactor::patterns_only();
        let input: &[&[u8]] = &[
            b"bad \xff\xfe",
            b"\xc3 bytes \x1b[31mred\x1b[0m \x07bell\n",
            b"\xff",
        ];
        assert_eq!(
            stream(&r, input),
            b"bad \xff\xfe\xc3 bytes \x1b[31mred\x1b[0m \x07bell\n\xff"
        );
    }
}
