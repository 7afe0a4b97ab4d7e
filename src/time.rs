//! Time as orch stores and prints it: integer Unix milliseconds in the database,
//! RFC 3339 UTC with millisecond precision in JSON.

use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// `2026-11-22T16:24:29.123Z` for a Unix-millisecond timestamp.
pub fn rfc3339(ms: i64) -> String {
    match jiff::Timestamp::from_millisecond(ms) {
        Ok(ts) => ts.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
        Err(_) => String::new(),
    }
}

/// A short human duration such as `3s`, `4m12s`, `2h05m`.
pub fn short_duration(ms: i64) -> String {
    let secs = (ms.max(0)) / 1000;
    if secs < 60 {
        format!("{secs}s")
    } else if secs < 3600 {
        format!("{}m{:02}s", secs / 60, secs % 60)
    } else {
        format!("{}h{:02}m", secs / 3600, (secs % 3600) / 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_rfc3339_utc_with_millis() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(1_795_364_669_123), "2026-11-22T16:24:29.123Z");
    }

    #[test]
    fn short_durations() {
        assert_eq!(short_duration(3_400), "3s");
        assert_eq!(short_duration(252_000), "4m12s");
        assert_eq!(short_duration(7_500_000), "2h05m");
    }
}
