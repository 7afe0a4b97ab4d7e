//! Fuzzing entry points: one function per `cargo fuzz` target in `fuzz/`, each taking the
//! fuzzer's bytes and driving the real parsers with them (the worker-output parsers, the
//! line splitter and escape stripper, the rate-limit reset reader, plan files and
//! adapter files). The fuzz targets and the stable replay test (`tests/fuzz_corpus.rs`)
//! both call these, so the committed corpus is checked by plain `cargo test` with exactly
//! the code the fuzzer ran. Nothing here reimplements a parser; the few assertions are
//! invariants the parsers promise (see `docs/fuzzing.md`).

use super::parse::{OutputFormat, Parser, Signal};
use super::text::{LineSplitter, MAX_LINE, TRUNCATED, line_text, strip_ansi};
use super::{Adapter, BUILT_INS, Placeholders, build_argv, reset};
use regex::Regex;
use std::path::Path;
use std::sync::OnceLock;

/// A fuzz target's body: it takes the fuzzer's bytes and panics on a finding.
pub type Target = fn(&[u8]);

/// Every target: its name (the directory under `fuzz/corpus/`) and its function.
pub const TARGETS: &[(&str, Target)] = &[
    ("output_parsers", output_parsers),
    ("line_splitter", line_splitter),
    ("reset_time", reset_time),
    ("plan_file", plan_file),
    ("adapter_file", adapter_file),
];

/// The output formats, in the order the selector byte of [`output_parsers`] picks them.
pub const FORMATS: [OutputFormat; 6] = [
    OutputFormat::Text,
    OutputFormat::CodexJsonl,
    OutputFormat::ClaudeStreamJson,
    OutputFormat::CursorStreamJson,
    OutputFormat::GeminiStreamJson,
    OutputFormat::OpencodeJson,
];

/// A fixed "now" for the parsers: 2026-11-22T10:00:00Z.
pub const NOW_MS: i64 = 1_795_341_600_000;

/// The "now"s [`reset_time`] reads every text against: a realistic one, a year's last
/// minute, the epoch, and the edges of what a timestamp can hold and beyond.
pub const NOWS_MS: [i64; 8] = [
    NOW_MS,
    1_798_761_540_000, // 2026-12-31T23:59:00Z
    0,
    -1,
    253_402_207_200_000, // 9999-12-30T22:00:00Z, near jiff's maximum
    -377_705_116_800_000,
    i64::MAX,
    i64::MIN,
];

/// The built-in adapters' compiled rate-limit and auth-failure patterns, in
/// [`BUILT_INS`] order (compiled once per process: the fuzzer calls in a loop).
fn built_in_patterns() -> &'static [(Vec<Regex>, Vec<Regex>)] {
    static PATTERNS: OnceLock<Vec<(Vec<Regex>, Vec<Regex>)>> = OnceLock::new();
    PATTERNS.get_or_init(|| {
        BUILT_INS
            .iter()
            .map(|(name, text)| {
                let adapter = Adapter::parse_toml(text, name).expect("built-in adapter parses");
                (adapter.rate_limit_regexes(), adapter.auth_failure_regexes())
            })
            .collect()
    })
}

/// Worker output. The first byte selects the output format (`b % 6`, [`FORMATS`]), the
/// built-in adapter whose rate-limit and auth patterns apply (`b / 6 % 6`, [`BUILT_INS`]
/// order) and how the rest is cut into chunks (`b / 36`). The rest goes through the
/// parser line by line ([`Parser::line`]) and, cut into chunks, through the streaming
/// path the supervisor's output pump uses ([`LineSplitter::for_each_line`],
/// [`strip_ansi`], [`Parser::plain_line`]); both must read the same signals.
pub fn output_parsers(data: &[u8]) {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let format = FORMATS[usize::from(selector) % FORMATS.len()];
    let patterns = &built_in_patterns()[usize::from(selector) / 6 % 6];
    let parser = || Parser::new(format, patterns.0.clone(), patterns.1.clone());

    // Line by line, as `orch supervise` feeds a parser.
    let mut by_line = parser();
    let _ = by_line.ignores_text();
    let mut line_signals = Vec::new();
    for line in rest.split(|&b| b == b'\n') {
        line_signals.extend(by_line.line(&line_text(line), NOW_MS));
    }
    line_signals.extend(by_line.finish());

    // In chunks through the streaming path, as the output pump does.
    let mut streaming = parser();
    let mut splitter = LineSplitter::default();
    let mut stream_signals: Vec<Signal> = Vec::new();
    for chunk in chunks(rest, selector / 36) {
        splitter.for_each_line(chunk, |line| {
            let plain = strip_ansi(&line_text(line));
            stream_signals.extend(streaming.plain_line(&plain, NOW_MS));
        });
    }
    if let Some(line) = splitter.finish() {
        stream_signals.extend(streaming.line(&line, NOW_MS));
    }
    stream_signals.extend(streaming.finish());

    // No line reached the splitter's cut: both paths read the same signals.
    if rest.len() <= MAX_LINE {
        same(
            &stream_signals,
            &line_signals,
            "streaming and line-by-line disagree",
        );
    }
}

/// The line splitter and the escape stripper. The first byte sets the line bound
/// (`1 + b % 64` bytes, [`LineSplitter::with_max_line`]: small, so the fuzzer reaches
/// the cut), the second how the rest is cut into chunks. The lines of
/// [`LineSplitter::for_each_line`] over the chunks must be those of
/// [`LineSplitter::push`] over the same chunks, of one push of everything, and of a
/// plain model (split at `\n`; a line over the bound keeps its first bytes and gets
/// [`TRUNCATED`]; otherwise trailing `\r`s go). [`strip_ansi`] must leave no control
/// character but tab, and stripping twice changes nothing.
pub fn line_splitter(data: &[u8]) {
    let [limit, seed, rest @ ..] = data else {
        return;
    };
    let limit = 1 + usize::from(*limit) % 64;
    let mut splitter = LineSplitter::with_max_line(limit);
    let mut pushed = LineSplitter::with_max_line(limit);
    let mut lines: Vec<Vec<u8>> = Vec::new();
    let mut pushed_lines: Vec<String> = Vec::new();
    for chunk in chunks(rest, *seed) {
        splitter.for_each_line(chunk, |line| lines.push(line.to_vec()));
        pushed_lines.extend(pushed.push(chunk));
    }
    let mut texts: Vec<String> = lines.iter().map(|l| line_text(l)).collect();
    texts.extend(splitter.finish());
    pushed_lines.extend(pushed.finish());
    same(&texts, &pushed_lines, "push and for_each_line disagree");

    let mut whole = LineSplitter::with_max_line(limit);
    let mut whole_lines = whole.push(rest);
    whole_lines.extend(whole.finish());
    same(&texts, &whole_lines, "chunking changed the lines");

    let mut model: Vec<String> = Vec::new();
    let mut segments: Vec<&[u8]> = rest.split(|&b| b == b'\n').collect();
    if segments.last().is_some_and(|last| last.is_empty()) {
        segments.pop();
    }
    for segment in segments {
        model.push(if segment.len() > limit {
            line_text(&segment[..limit]) + TRUNCATED
        } else {
            line_text(trim_cr(segment))
        });
    }
    same(&texts, &model, "the splitter and its model disagree");

    for line in &texts {
        let plain = strip_ansi(line);
        assert!(
            !plain.chars().any(|c| c.is_control() && c != '\t'),
            "control character left by strip_ansi: {plain:?}"
        );
        assert_eq!(
            strip_ansi(&plain),
            plain,
            "stripping twice changed the text"
        );
    }
}

fn trim_cr(mut line: &[u8]) -> &[u8] {
    while let [rest @ .., b'\r'] = line {
        line = rest;
    }
    line
}

/// Asserts two lists are equal, naming the first difference in a message of bounded
/// size (a line can be 256 KiB).
fn same<T: PartialEq + std::fmt::Debug>(a: &[T], b: &[T], what: &str) {
    if a == b {
        return;
    }
    let short = |x: Option<&T>| format!("{x:?}").chars().take(300).collect::<String>();
    let i = a.iter().zip(b).take_while(|(x, y)| x == y).count();
    panic!(
        "{what}: {} against {} items, first difference at {i}: {} against {}",
        a.len(),
        b.len(),
        short(a.get(i)),
        short(b.get(i))
    );
}

/// Cuts `data` into chunks of pseudo-random lengths (1 to 64 bytes, now and then up to
/// 4 KiB or all that is left), seeded by the data and `seed`; the same input always cuts
/// the same way.
fn chunks(data: &[u8], seed: u8) -> Vec<&[u8]> {
    // FNV-1a of the data, then xorshift64.
    let mut state = data
        .iter()
        .fold(0xcbf2_9ce4_8422_2325_u64 ^ u64::from(seed), |h, &b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        })
        | 1;
    let mut out = Vec::new();
    let mut rest = data;
    while !rest.is_empty() {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let len = if state % 64 == 0 {
            rest.len()
        } else if state % 16 == 0 {
            (state >> 8) as usize % 4096 + 1
        } else {
            (state >> 8) as usize % 64 + 1
        };
        let (chunk, after) = rest.split_at(len.min(rest.len()));
        out.push(chunk);
        rest = after;
    }
    out
}

/// A rate-limit message: the whole input as text, read against each of [`NOWS_MS`].
pub fn reset_time(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    for now in NOWS_MS {
        let _ = reset::reset_at(&text, now);
    }
}

/// A plan file: the whole input as text, parsed as `plan.toml` (JSON when it starts with
/// `{`), as `plan.json`, and with a `--run` flag.
pub fn plan_file(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let _ = crate::plan::parse(&text, Path::new("plan.toml"), None);
    let _ = crate::plan::parse(&text, Path::new("plan.json"), None);
    let _ = crate::plan::parse(&text, Path::new("plan.toml"), Some("fuzz-run"));
}

/// An adapter file: the whole input as text through [`Adapter::from_toml`]; an adapter
/// that loads then has its argv and resume argv built with every placeholder set and
/// with none, its durations added to an `Instant` (as the supervisor does), its patterns
/// compiled into a parser, and that parser fed a few lines.
pub fn adapter_file(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let Ok(adapter) = Adapter::from_toml(&text, "fuzz.toml") else {
        return;
    };
    let full = Placeholders {
        prompt: "PROMPT {model}".into(),
        prompt_file: "/p.md".into(),
        workdir: "/wt".into(),
        model: Some("m".into()),
        session_id: Some("SID".into()),
        body: "echo hi".into(),
        args: vec!["--a".into(), "{prompt}".into()],
        state_dir: "/state".into(),
        permissions: vec!["--p".into()],
    };
    for values in [&full, &Placeholders::default()] {
        let _ = build_argv(&adapter.command, values);
        let _ = build_argv(&adapter.resume, values);
        for permission in adapter.permissions.values() {
            let _ = build_argv(&permission.args, values);
        }
    }
    // The supervisor adds these to an `Instant`: that must not overflow.
    let now = std::time::Instant::now();
    for d in [
        adapter.term_grace(),
        adapter.stall_timeout(),
        adapter.first_output_timeout(),
    ] {
        assert!(
            now.checked_add(d).is_some(),
            "duration {d:?} overflows an Instant"
        );
    }
    let mut parser = Parser::new(
        adapter.output,
        adapter.rate_limit_regexes(),
        adapter.auth_failure_regexes(),
    );
    for line in [
        "You've hit your usage limit. Try again at 3:28 PM.",
        "{\"type\":\"error\",\"message\":\"Not logged in\"}",
        "\x1b[31mERROR\x1b[0m: 401 Unauthorized",
    ] {
        let _ = parser.line(line, NOW_MS);
    }
    let _ = parser.finish();
}
