//! Secret redaction: what orch never writes to a log, a thread, an event or a printed
//! argv.
//!
//! A [`Redactor`] replaces every secret it finds with [`REDACTED`]. It knows two kinds:
//!
//! - **the worker's own secrets**: the values of the variables its adapter or profile
//!   lists in `secret_env`, of a proxy URL that carries a password, and of
//!   every variable with a secret-looking name (`*_API_KEY`, `*_TOKEN`, `*_SECRET`,
//!   `*PASSWORD*`, `*_KEY`, see [`is_secret_name`]) the worker gets, as they are at launch.
//!   A value (or, for a multi-line value, a line of it) shorter than [`MIN_SECRET_LEN`]
//!   bytes is not redacted: it would match ordinary words everywhere. A value is also
//!   caught in its JSON-escaped form;
//! - **the shapes of common keys**, whoever printed them: OpenAI and Anthropic `sk-…`,
//!   GitHub `ghp_`/`gho_`/`ghs_`/`ghu_`/`ghr_`/`github_pat_`, AWS `AKIA…`/`ASIA…`, Slack
//!   `xox[abprs]-`, Google `AIza…`, the credentials of an `Authorization:` header or after
//!   `Bearer`, and the value (only) of `api_key=…`, `token: …`, `password=…`-style
//!   assignments of at least [`MIN_SECRET_LEN`] bytes.
//!
//! It works on bytes: invalid UTF-8 passes through untouched. [`StreamRedactor`]
//! (`stream.rs`) does the same over a stream of chunks (a worker's PTY reads).
//!
//! The supervisor installs its worker's redactor for the whole process ([`install`]); the
//! tracing writer and the completion checks use [`process`].

use regex::bytes::Regex;
use std::borrow::Cow;
use std::ops::Range;
use std::sync::{Arc, LazyLock, RwLock};
use std::time::Duration;

mod stream;
pub use stream::StreamRedactor;

/// What a secret is replaced with.
pub const REDACTED: &str = "[REDACTED]";
/// Shorter values are never redacted as literals, nor assignment values as patterns.
pub const MIN_SECRET_LEN: usize = 8;
/// The most a [`StreamRedactor`] holds back of a line without end.
pub const MAX_HELD: usize = 64 * 1024;
/// After this much quiet, a held partial line goes out but for its last word (a secret
/// has no spaces: the word may be the first half of one).
pub const WORD_IDLE: Duration = Duration::from_millis(200);
/// After this much quiet, the whole held partial line goes out.
pub const LINE_IDLE: Duration = Duration::from_secs(2);

/// A built-in key pattern.
struct Pattern {
    regex: Regex,
    /// The match must not touch a token character (`[A-Za-z0-9_-]`) on either side.
    bounded: bool,
    /// The secret must look random: a digit, or both upper and lower case.
    random: bool,
}

/// The built-in patterns; the secret is the group `s` when there is one, else the match.
static PATTERNS: LazyLock<Vec<Pattern>> = LazyLock::new(|| {
    let p = |re: &str, bounded, random| Pattern {
        regex: Regex::new(re).expect("a built-in redaction pattern"),
        bounded,
        random,
    };
    vec![
        // OpenAI (sk-…, sk-proj-…) and Anthropic (sk-ant-api03-…).
        p(r"sk-[A-Za-z0-9_-]{20,}", true, true),
        // GitHub tokens.
        p(r"gh[pousr]_[A-Za-z0-9]{20,}", true, false),
        p(r"github_pat_[A-Za-z0-9_]{20,}", true, false),
        // AWS access key ids.
        p(r"(?:AKIA|ASIA)[0-9A-Z]{16}", true, false),
        // Slack tokens.
        p(r"xox[abprs]-[A-Za-z0-9-]{10,}", true, false),
        // Google API keys.
        p(r"AIza[0-9A-Za-z_-]{35}", true, false),
        // An Authorization header (or a JSON/header-ish key of that name): the
        // credentials after the scheme.
        p(
            r#"(?i)authorization(?:\\?["'])?[ \t]*[:=][ \t]*(?:\\?["'])?(?:bearer|basic|token|bot)[ \t]+(?P<s>[A-Za-z0-9._~+/=-]{8,})"#,
            false,
            false,
        ),
        // A bearer token anywhere.
        p(
            r"(?i)(?-u:\b)bearer[ \t]+(?P<s>[A-Za-z0-9._~+/-]{16,}=*)",
            false,
            true,
        ),
        // `api_key=…`, `"token": "…"`, `password: …`, `FOO_KEY=…`: the value only.
        p(
            r#"(?:(?i:api[_-]?key|apikey|access[_-]?key|secret[_-]?key|private[_-]?key|token|secret|password|passwd)|[A-Z][A-Z0-9_]*_KEY)(?:\\?["'])?[ \t]*[:=][ \t]*(?:\\?["'])?(?P<s>[^\s"'`\\,;&<>(){}\[\]]{8,})"#,
            false,
            false,
        ),
    ]
});

/// Finds and replaces secrets. Cheap to clone.
#[derive(Clone, Default)]
pub struct Redactor {
    /// The worker's own secrets, as one alternation (longest first), if any.
    literals: Option<Arc<Regex>>,
    /// The longest literal, in bytes.
    longest: usize,
}

impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the secrets themselves.
        f.debug_struct("Redactor")
            .field("literals", &self.literals.is_some())
            .finish()
    }
}

/// True for a variable name that looks like it holds a secret: `*_API_KEY`, `*_TOKEN`,
/// `*_SECRET`, `*PASSWORD*`, `*_KEY` (any case).
pub fn is_secret_name(name: &str) -> bool {
    let name = name.to_ascii_uppercase();
    name.ends_with("_KEY")
        || name.ends_with("_TOKEN")
        || name.ends_with("_SECRET")
        || name.contains("PASSWORD")
}

impl Redactor {
    /// Only the built-in key patterns.
    pub fn patterns_only() -> Redactor {
        Redactor::default()
    }

    /// The built-in patterns plus these secret values (each kept only if at least
    /// [`MIN_SECRET_LEN`] bytes long; a multi-line value counts line by line).
    pub fn with_secrets<S: AsRef<[u8]>>(secrets: impl IntoIterator<Item = S>) -> Redactor {
        let mut literals: Vec<Vec<u8>> = Vec::new();
        for secret in secrets {
            let secret = secret.as_ref();
            for line in secret.split(|&b| b == b'\n') {
                let line = line.strip_suffix(b"\r").unwrap_or(line);
                if line.len() < MIN_SECRET_LEN {
                    continue;
                }
                literals.push(line.to_vec());
                // As a JSON string value (a stream-json CLI echoing it) it may be escaped.
                if let Ok(text) = std::str::from_utf8(line) {
                    let json = serde_json::to_string(text).unwrap_or_default();
                    let json = json.as_bytes();
                    let inner = &json[1..json.len().saturating_sub(1).max(1)];
                    if inner != line {
                        literals.push(inner.to_vec());
                    }
                }
            }
        }
        literals.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        literals.dedup();
        if literals.is_empty() {
            return Redactor::default();
        }
        let longest = literals[0].len();
        let alternation: Vec<String> = literals.iter().map(|l| escape_bytes(l)).collect();
        let pattern = format!("(?-u:{})", alternation.join("|"));
        match regex::bytes::RegexBuilder::new(&pattern)
            .size_limit(64 << 20)
            .build()
        {
            Ok(regex) => Redactor {
                literals: Some(Arc::new(regex)),
                longest,
            },
            Err(e) => {
                // Too many or too long secrets for one automaton: the patterns still apply.
                tracing::warn!(error = %e, "cannot build the secret matcher");
                Redactor::default()
            }
        }
    }

    /// The built-in patterns plus the secret-looking variables of this process's own
    /// environment.
    pub fn from_own_env() -> Redactor {
        // A worker's environment names its adapter's `pass_env` variables (whatever
        // their names) in ORCH_SECRET_VARS, so its own `inbox` calls redact them too.
        let named: Vec<String> = std::env::var("ORCH_SECRET_VARS")
            .map(|v| v.split(',').map(str::to_string).collect())
            .unwrap_or_default();
        Redactor::with_secrets(
            std::env::vars_os()
                .filter(|(name, _)| {
                    let name = name.to_string_lossy();
                    is_secret_name(&name) || named.iter().any(|n| *n == name)
                })
                .map(|(_, value)| {
                    std::os::unix::ffi::OsStrExt::as_bytes(value.as_os_str()).to_vec()
                }),
        )
    }

    /// The byte ranges of the secrets in `bytes`, sorted, overlapping ones merged.
    pub fn spans(&self, bytes: &[u8]) -> Vec<Range<usize>> {
        let mut spans: Vec<Range<usize>> = Vec::new();
        if let Some(literals) = &self.literals {
            spans.extend(literals.find_iter(bytes).map(|m| m.range()));
        }
        for pattern in PATTERNS.iter() {
            for caps in pattern.regex.captures_iter(bytes) {
                let whole = caps.get(0).expect("group 0");
                if pattern.bounded
                    && ((whole.start() > 0 && is_token(bytes[whole.start() - 1]))
                        || bytes.get(whole.end()).is_some_and(|&b| is_token(b)))
                {
                    continue;
                }
                let secret = caps.name("s").unwrap_or(whole);
                if pattern.random && !looks_random(secret.as_bytes()) {
                    continue;
                }
                spans.push(secret.range());
            }
        }
        spans.sort_by_key(|r| (r.start, r.end));
        let mut merged: Vec<Range<usize>> = Vec::with_capacity(spans.len());
        for span in spans {
            match merged.last_mut() {
                Some(last) if span.start < last.end => last.end = last.end.max(span.end),
                _ => merged.push(span),
            }
        }
        merged
    }

    /// `bytes` with every secret replaced (borrowed when there is none).
    pub fn redact_bytes<'a>(&self, bytes: &'a [u8]) -> Cow<'a, [u8]> {
        let spans = self.spans(bytes);
        if spans.is_empty() {
            return Cow::Borrowed(bytes);
        }
        let mut out = Vec::with_capacity(bytes.len());
        render(bytes, &spans, 0, bytes.len(), &mut out);
        Cow::Owned(out)
    }

    /// `text` with every secret replaced.
    pub fn redact_str<'a>(&self, text: &'a str) -> Cow<'a, str> {
        match self.redact_bytes(text.as_bytes()) {
            Cow::Borrowed(_) => Cow::Borrowed(text),
            Cow::Owned(bytes) => Cow::Owned(match String::from_utf8(bytes) {
                Ok(text) => text,
                Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
            }),
        }
    }

    /// Replaces the secrets in `text` in place.
    pub fn redact_string(&self, text: &mut String) {
        if let Cow::Owned(redacted) = self.redact_str(text) {
            *text = redacted;
        }
    }

    /// Replaces the secrets in every string of a JSON value (keys are left alone).
    pub fn redact_json(&self, value: &mut serde_json::Value) {
        use serde_json::Value;
        match value {
            Value::String(text) => self.redact_string(text),
            Value::Array(items) => items.iter_mut().for_each(|v| self.redact_json(v)),
            Value::Object(map) => map.values_mut().for_each(|v| self.redact_json(v)),
            _ => {}
        }
    }

    /// An argv with every secret replaced.
    pub fn redact_argv(&self, argv: &[String]) -> Vec<String> {
        argv.iter()
            .map(|arg| self.redact_str(arg).into_owned())
            .collect()
    }
}

/// The redactor of this process: the one [`install`]ed, else the patterns and the
/// process's own secret-looking variables.
pub fn process() -> Redactor {
    static OWN: LazyLock<Redactor> = LazyLock::new(Redactor::from_own_env);
    match INSTALLED.read() {
        Ok(guard) => guard.clone().unwrap_or_else(|| OWN.clone()),
        Err(_) => OWN.clone(),
    }
}

/// Makes `redactor` the one [`process`] returns (the supervisor, once it knows its
/// worker's environment).
pub fn install(redactor: Redactor) {
    if let Ok(mut guard) = INSTALLED.write() {
        *guard = Some(redactor);
    }
}

static INSTALLED: RwLock<Option<Redactor>> = RwLock::new(None);

/// Sends this process's diagnostics (tracing) to stderr, secrets redacted, at the level
/// `RUST_LOG` says, else `default_level`: the supervisor's (its `.supervisor.log`) and
/// `orch mcp`'s (whose stdout is the protocol).
pub fn trace_to_stderr(default_level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(|| RedactingWriter(std::io::stderr()))
        .with_ansi(false)
        .try_init();
}

/// A writer for diagnostics (the supervisor's tracing lines) that redacts what it writes.
/// Each `write` call must carry whole lines (tracing's formatter writes one event at a
/// time).
pub struct RedactingWriter<W>(pub W);

impl<W: std::io::Write> std::io::Write for RedactingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let redacted = process().redact_bytes(buf).into_owned();
        self.0.write_all(&redacted)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

fn is_token(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'-'
}

fn looks_random(secret: &[u8]) -> bool {
    secret.iter().any(u8::is_ascii_digit)
        || (secret.iter().any(u8::is_ascii_uppercase) && secret.iter().any(u8::is_ascii_lowercase))
}

/// A literal as a byte regex (inside `(?-u:…)`): letters and digits as they are, every
/// other byte as `\xHH`.
fn escape_bytes(literal: &[u8]) -> String {
    let mut out = String::with_capacity(literal.len() * 2);
    for &b in literal {
        if b.is_ascii_alphanumeric() {
            out.push(b as char);
        } else {
            out.push_str(&format!("\\x{b:02X}"));
        }
    }
    out
}

/// Appends `buf[from..to]` to `out` with each span replaced by [`REDACTED`]; a span that
/// began before `from` (its start already passed on) is replaced from `from`.
fn render(buf: &[u8], spans: &[Range<usize>], from: usize, to: usize, out: &mut Vec<u8>) {
    let mut pos = from;
    for span in spans {
        if span.end <= pos {
            continue;
        }
        if span.start >= to {
            break;
        }
        out.extend_from_slice(&buf[pos..span.start.max(pos)]);
        out.extend_from_slice(REDACTED.as_bytes());
        pos = span.end.min(to);
    }
    out.extend_from_slice(&buf[pos..to]);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn redact(r: &Redactor, text: &str) -> String {
        r.redact_str(text).into_owned()
    }

    const ANT: &str = "sk-ant-api03-Zx9Qw3rTy7uIoP1aSdF4gHjK-lZxCvB_nM2";
    const GHP: &str = "ghp_a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8";

    /// Each text redacts to the expected one with the patterns only.
    fn assert_redacts(cases: &[(&str, &str)]) {
        let r = Redactor::patterns_only();
        for (text, expected) in cases {
            assert_eq!(redact(&r, text), *expected, "{text:?}");
        }
    }

    #[test]
    fn known_key_shapes_are_redacted_and_their_surroundings_kept() {
        assert_redacts(&[
            (&format!("key {ANT} end"), "key [REDACTED] end"),
            (
                "openai sk-proj-abcDEF1234567890ghijKLMN ok",
                "openai [REDACTED] ok",
            ),
            (&format!("gh {GHP}."), "gh [REDACTED]."),
            (
                "pat github_pat_11ABCDEFG0123456789_abcdefXYZ x",
                "pat [REDACTED] x",
            ),
            ("aws AKIAIOSFODNN7EXAMPLE", "aws [REDACTED]"),
            ("slack xoxb-1234567890-abcdefghij", "slack [REDACTED]"),
            (
                "g AIzaSyA1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q ok",
                "g [REDACTED] ok",
            ),
            (
                "curl -H 'Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.e30.abc'",
                "curl -H 'Authorization: Bearer [REDACTED]'",
            ),
            (
                r#"{"headers":{"authorization":"Basic dXNlcjpwYXNzd29yZA=="}}"#,
                r#"{"headers":{"authorization":"Basic [REDACTED]"}}"#,
            ),
            ("sent bearer AbCdEf0123456789xyz", "sent bearer [REDACTED]"),
        ]);
    }

    #[test]
    fn assignments_lose_their_value_only() {
        assert_redacts(&[
            ("api_key=abcdefgh1234", "api_key=[REDACTED]"),
            (
                r#"{"token": "abcdefgh1234", "n": 1}"#,
                r#"{"token": "[REDACTED]", "n": 1}"#,
            ),
            ("password: hunter2hunter2", "password: [REDACTED]"),
            (
                "export STRIPE_KEY=rk_live_abcdefgh",
                "export STRIPE_KEY=[REDACTED]",
            ),
            (
                r#"{"text":"set \"api_key\": \"abcdefgh1234\""}"#,
                r#"{"text":"set \"api_key\": \"[REDACTED]\""}"#,
            ),
        ]);
    }

    #[test]
    fn ordinary_text_is_left_alone() {
        let r = Redactor::patterns_only();
        for text in [
            r#"{"type":"turn.completed","usage":{"input_tokens":120,"cached_input_tokens":20,"output_tokens":30}}"#,
            r#"{"type":"system","subtype":"init","session_id":"0199abcd-fake","apiKeySource":"none"}"#,
            "max token: 4096",
            "the risk-assessment-for-the-whole-project document",
            "branch orch/r/task-sk-abcdefghijklmnopqrstuvwxyz",
            "the bearer of surprisingly-unwelcome-news",
            "sk-this-is-just-a-long-slug-of-words",
            "token = get()",
            "[REDACTED] stays [REDACTED]",
        ] {
            assert_eq!(redact(&r, text), text);
        }
        // Already redacted text stays as it is.
        assert_eq!(redact(&r, "api_key=[REDACTED]"), "api_key=[REDACTED]");
    }

    #[test]
    fn worker_secrets_from_listed_and_secret_names_long_enough() {
        let env: Vec<(String, String)> = [
            ("MY_SERVICE", "plum-passenger-7731"),
            ("DEPLOY_TOKEN", "tok-quiet-river-88"),
            ("SHORT_SECRET", "abc123"),
            ("HOME", "/home/someone/else"),
            ("QUOTED_KEY", "has\"quote\\inside"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let r = Redactor::with_secrets(
            env.iter()
                .filter(|(name, _)| name == "MY_SERVICE" || is_secret_name(name))
                .map(|(_, value)| value.as_bytes()),
        );
        assert_eq!(
            redact(
                &r,
                "a plum-passenger-7731 b tok-quiet-river-88 c abc123 /home/someone/else"
            ),
            "a [REDACTED] b [REDACTED] c abc123 /home/someone/else"
        );
        // Its JSON-escaped form too.
        assert_eq!(
            redact(&r, r#"{"text":"has\"quote\\inside"}"#),
            r#"{"text":"[REDACTED]"}"#
        );
        assert!(
            format!("{r:?}").find("plum").is_none(),
            "Debug shows no secret"
        );
        assert!(is_secret_name("OPENAI_API_KEY") && is_secret_name("db_password_file"));
        assert!(!is_secret_name("KEYBOARD") && !is_secret_name("PATH"));
    }

    #[test]
    fn a_multi_line_secret_is_redacted_line_by_line() {
        let r = Redactor::with_secrets(["-----BEGIN KEY-----\nMIIEvQIBADANBgkq\nhkiG9w0BAQEF\n"]);
        assert_eq!(
            redact(&r, "x\nMIIEvQIBADANBgkq\nhkiG9w0BAQEF\n"),
            "x\n[REDACTED]\n[REDACTED]\n"
        );
    }

    #[test]
    fn invalid_utf8_passes_through() {
        let r = Redactor::with_secrets(["plum-passenger-7731"]);
        let input = b"bad \xff\xfe\xc3 bytes plum-passenger-7731 \x1b[31mred\x1b[0m\n";
        assert_eq!(
            r.redact_bytes(input).as_ref(),
            b"bad \xff\xfe\xc3 bytes [REDACTED] \x1b[31mred\x1b[0m\n"
        );
        let clean = b"\xff\xfe only \xc3\x28 junk\n";
        assert!(matches!(r.redact_bytes(clean), Cow::Borrowed(_)));
        // A secret that is not UTF-8 is found too.
        let r = Redactor::with_secrets([b"\xffsecret\xfe\x01".as_slice()]);
        assert_eq!(
            r.redact_bytes(b"a\xffsecret\xfe\x01b").as_ref(),
            b"a[REDACTED]b"
        );
    }

    #[test]
    fn argv_and_json() {
        let r = Redactor::with_secrets(["plum-passenger-7731"]);
        let argv = vec![
            "agent".to_string(),
            "--key".to_string(),
            ANT.to_string(),
            "say plum-passenger-7731".to_string(),
        ];
        assert_eq!(
            r.redact_argv(&argv),
            ["agent", "--key", "[REDACTED]", "say [REDACTED]"]
        );
        let mut v = serde_json::json!({"a": [GHP, 1, {"b": "x plum-passenger-7731"}]});
        r.redact_json(&mut v);
        assert_eq!(
            v,
            serde_json::json!({"a": ["[REDACTED]", 1, {"b": "x [REDACTED]"}]})
        );
    }
}
