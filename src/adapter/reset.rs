//! Reading when a rate limit resets, from the texts the agent CLIs print
//! (agent-clis.md): Codex `try again at 3:28 PM` / `at Aug 8th, 2026 12:30 PM` /
//! `in 3 days 6 hours 57 minutes`, Claude `resets 3pm (Europe/Berlin)` /
//! `resets Jan 30, 11:30am (Asia/Calcutta)` / `limit reached|1762952400`, Gemini
//! `reset after 5s` / `retry in 12.3s`, Cursor `monthly cycle ends on 11/17/2025`.
//! Times without a zone are read in UTC: orch starts every worker with `TZ=UTC`.

use jiff::civil::{Date, DateTime, Time};
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan};
use regex::Regex;
use std::sync::OnceLock;

fn re(cell: &'static OnceLock<Regex>, pattern: &str) -> &'static Regex {
    cell.get_or_init(|| Regex::new(pattern).expect("reset pattern compiles"))
}

/// The reset time (Unix ms) a message announces, relative to `now_ms`, if it names one.
pub fn reset_at(text: &str, now_ms: i64) -> Option<i64> {
    let now = Timestamp::from_millisecond(now_ms).ok()?;
    epoch_suffix(text)
        .or_else(|| relative(text, now))
        .or_else(|| cursor_cycle(text))
        .or_else(|| codex_at(text, now))
        .or_else(|| claude_resets(text, now))
        .map(|t| t.as_millisecond())
}

/// `Claude AI usage limit reached|1762952400`
fn epoch_suffix(text: &str) -> Option<Timestamp> {
    static R: OnceLock<Regex> = OnceLock::new();
    let caps = re(&R, r"limit reached\|(\d{9,11})").captures(text)?;
    Timestamp::from_second(caps[1].parse().ok()?).ok()
}

/// `reset after 5s`, `retry in 12.3s`, `retry after 60s`, `try again in 3 days 6 hours 57 minutes`
fn relative(text: &str, now: Timestamp) -> Option<Timestamp> {
    static SECS: OnceLock<Regex> = OnceLock::new();
    static WORDS: OnceLock<Regex> = OnceLock::new();
    let lower = text.to_ascii_lowercase();
    if let Some(caps) = re(
        &SECS,
        r"(?:reset after|retry in|retry after|try again in)\s+(\d+(?:\.\d+)?)\s*s\b",
    )
    .captures(&lower)
    {
        // `try_`: a delay too long for a duration is no reset time, not a panic (found
        // by fuzzing: `retry in 99…9s` with 80 digits).
        let secs: f64 = caps[1].parse().ok()?;
        let delay = jiff::SignedDuration::try_from_secs_f64(secs).ok()?;
        return now.checked_add(delay).ok();
    }
    let caps = re(
        &WORDS,
        r"try again in\s+((?:\d+\s+(?:days?|hours?|minutes?|seconds?)[\s,]*(?:and\s+)?)+)",
    )
    .captures(&lower)?;
    static PART: OnceLock<Regex> = OnceLock::new();
    let mut secs: i64 = 0;
    for part in re(&PART, r"(\d+)\s+(day|hour|minute|second)").captures_iter(&caps[1]) {
        let n: i64 = part[1].parse().ok()?;
        let unit = match &part[2] {
            "day" => 86_400,
            "hour" => 3_600,
            "minute" => 60,
            _ => 1,
        };
        secs = secs.checked_add(n.checked_mul(unit)?)?;
    }
    (secs > 0).then(|| now.checked_add(jiff::SignedDuration::from_secs(secs)).ok())?
}

/// `... your monthly cycle ends on 11/17/2025.` (the start of that day, UTC)
fn cursor_cycle(text: &str) -> Option<Timestamp> {
    static R: OnceLock<Regex> = OnceLock::new();
    let caps = re(&R, r"(?i)cycle ends on (\d{1,2})/(\d{1,2})/(\d{4})").captures(text)?;
    let date = Date::new(
        caps[3].parse().ok()?,
        caps[1].parse().ok()?,
        caps[2].parse().ok()?,
    )
    .ok()?;
    date.to_zoned(TimeZone::UTC).ok().map(|z| z.timestamp())
}

fn month(name: &str) -> Option<i8> {
    let names = [
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ];
    let lower = name.to_ascii_lowercase();
    names
        .iter()
        .position(|m| lower.starts_with(m))
        .map(|i| i as i8 + 1)
}

/// Hour in 24h from `3`, `pm`.
fn hour24(hour: i8, meridiem: &str) -> Option<i8> {
    if !(1..=12).contains(&hour) {
        return None;
    }
    let pm = meridiem.eq_ignore_ascii_case("pm");
    Some(match (hour, pm) {
        (12, false) => 0,
        (12, true) => 12,
        (h, false) => h,
        (h, true) => h + 12,
    })
}

/// A wall-clock time in `tz`: on `date` when given (the next such date when no year was
/// given and it has passed), else the next occurrence of that time from `now`.
fn resolve(
    now: Timestamp,
    tz: &TimeZone,
    date: Option<(Option<i16>, i8, i8)>,
    time: Time,
) -> Option<Timestamp> {
    let here = now.to_zoned(tz.clone());
    match date {
        Some((year, month, day)) => {
            let y = year.unwrap_or(here.year());
            let mut dt = DateTime::from_parts(Date::new(y, month, day).ok()?, time);
            let mut at = dt.to_zoned(tz.clone()).ok()?.timestamp();
            if year.is_none() && at.as_second() + 86_400 < now.as_second() {
                dt = DateTime::from_parts(Date::new(y + 1, month, day).ok()?, time);
                at = dt.to_zoned(tz.clone()).ok()?.timestamp();
            }
            Some(at)
        }
        None => {
            let today = DateTime::from_parts(here.date(), time)
                .to_zoned(tz.clone())
                .ok()?;
            if today.timestamp() > now {
                Some(today.timestamp())
            } else {
                today.checked_add(1.day()).ok().map(|z| z.timestamp())
            }
        }
    }
}

/// Codex: `try again at 3:28 PM` / `try again at Aug 8th, 2026 12:30 PM` (UTC).
fn codex_at(text: &str, now: Timestamp) -> Option<Timestamp> {
    static FULL: OnceLock<Regex> = OnceLock::new();
    static TIME: OnceLock<Regex> = OnceLock::new();
    if let Some(c) = re(&FULL, r"(?i)try again at ([A-Za-z]{3})[a-z]* (\d{1,2})(?:st|nd|rd|th)?,? (\d{4}),? (\d{1,2}):(\d{2}) ?([AP]M)").captures(text) {
        let time = Time::new(hour24(c[4].parse().ok()?, &c[6])?, c[5].parse().ok()?, 0, 0).ok()?;
        return resolve(now, &TimeZone::UTC, Some((Some(c[3].parse().ok()?), month(&c[1])?, c[2].parse().ok()?)), time);
    }
    let c = re(&TIME, r"(?i)try again at (\d{1,2}):(\d{2}) ?([AP]M)").captures(text)?;
    let time = Time::new(hour24(c[1].parse().ok()?, &c[3])?, c[2].parse().ok()?, 0, 0).ok()?;
    resolve(now, &TimeZone::UTC, None, time)
}

/// Claude: `resets 3pm`, `resets 3:30am (Europe/Moscow)`, `resets Jan 30, 11:30am (Asia/Calcutta)`,
/// `resets Jan 30, 2027, 11:30am (...)`, `resets Oct 9, 5pm`.
fn claude_resets(text: &str, now: Timestamp) -> Option<Timestamp> {
    static R: OnceLock<Regex> = OnceLock::new();
    let c = re(
        &R,
        r"(?i)resets? (?:at )?(?:([A-Za-z]{3})[a-z]* (\d{1,2}),? (?:(\d{4}),? )?)?(\d{1,2})(?::(\d{2}))? ?([ap]m)(?: \(([A-Za-z_]+(?:/[A-Za-z0-9_+\-]+)*)\))?",
    )
    .captures(text)?;
    let tz = match c.get(7) {
        Some(zone) => TimeZone::get(zone.as_str()).ok()?,
        None => TimeZone::UTC,
    };
    let minute: i8 = c.get(5).map_or(Some(0), |m| m.as_str().parse().ok())?;
    let time = Time::new(hour24(c[4].parse().ok()?, &c[6])?, minute, 0, 0).ok()?;
    let date = match (c.get(1), c.get(2)) {
        (Some(m), Some(d)) => Some((
            c.get(3).and_then(|y| y.as_str().parse().ok()),
            month(m.as_str())?,
            d.as_str().parse().ok()?,
        )),
        _ => None,
    };
    resolve(now, &tz, date, time)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-11-22T10:00:00Z
    const NOW: i64 = 1_795_341_600_000;

    fn at(s: &str) -> i64 {
        s.parse::<Timestamp>().unwrap().as_millisecond()
    }

    #[test]
    fn codex_same_day_and_next_day() {
        let msg = "You've hit your usage limit. Upgrade to Pro (https://chatgpt.com/explore/pro), visit https://chatgpt.com/codex/settings/usage to purchase more credits or try again at 3:28 PM.";
        assert_eq!(reset_at(msg, NOW), Some(at("2026-11-22T15:28:00Z")));
        assert_eq!(
            reset_at("Try again at 9:05 AM.", NOW),
            Some(at("2026-11-23T09:05:00Z"))
        );
        assert_eq!(
            reset_at("try again at 12:30 AM", NOW),
            Some(at("2026-11-23T00:30:00Z"))
        );
    }

    #[test]
    fn codex_full_date() {
        let msg = "You've hit your usage limit for GPT-5.3-Codex-Spark. Switch to another model now, or try again at Jun 7th, 2027 2:18 AM.";
        assert_eq!(reset_at(msg, NOW), Some(at("2027-06-07T02:18:00Z")));
        assert_eq!(
            reset_at("or try again at Aug 8th, 2026 12:30 PM.", NOW),
            Some(at("2026-08-08T12:30:00Z"))
        );
    }

    #[test]
    fn codex_relative() {
        assert_eq!(
            reset_at(
                "You've hit your usage limit … or try again in 3 days 6 hours 57 minutes.",
                NOW
            ),
            Some(NOW + (3 * 86_400 + 6 * 3_600 + 57 * 60) * 1000)
        );
        assert_eq!(reset_at("Try again later.", NOW), None);
    }

    /// Delays too long for a timestamp are no reset time. Fuzzing found the first (a
    /// panic in jiff); the second overflowed i64 in the same function.
    #[test]
    fn absurd_delays_are_none() {
        let nines = "9".repeat(80);
        assert_eq!(reset_at(&format!("Please retry in {nines}s."), NOW), None);
        assert_eq!(
            reset_at("try again in 999999999999999999 days 9 hours", NOW),
            None
        );
    }

    #[test]
    fn claude_formats() {
        assert_eq!(
            reset_at(
                "You've hit your session limit · resets 3pm (Europe/Berlin)",
                NOW
            ),
            Some(at("2026-11-22T14:00:00Z"))
        );
        assert_eq!(
            reset_at("You've hit your limit · resets 3:30am (Europe/Moscow)", NOW),
            Some(at("2026-11-23T00:30:00Z"))
        );
        assert_eq!(
            reset_at(
                "You've hit your limit · resets Jan 30, 11:30am (Asia/Calcutta)",
                NOW
            ),
            Some(at("2027-01-30T06:00:00Z"))
        );
        assert_eq!(
            reset_at("5-hour limit reached ∙ resets 3pm", NOW),
            Some(at("2026-11-22T15:00:00Z"))
        );
        assert_eq!(
            reset_at("Weekly limit reached ∙ resets Dec 9, 5pm", NOW),
            Some(at("2026-12-09T17:00:00Z"))
        );
        assert_eq!(
            reset_at("Claude AI usage limit reached|1762952400", NOW),
            Some(1_762_952_400_000)
        );
    }

    #[test]
    fn gemini_and_cursor() {
        assert_eq!(
            reset_at(
                "You have exhausted your capacity on this model. Your quota will reset after 5s.",
                NOW
            ),
            Some(NOW + 5_000)
        );
        assert_eq!(reset_at("Please retry in 12.3s.", NOW), Some(NOW + 12_300));
        assert_eq!(
            reset_at("Suggested retry after 60s.", NOW),
            Some(NOW + 60_000)
        );
        assert_eq!(
            reset_at(
                "*You've hit your free requests limit. Your usage limits will reset when your monthly cycle ends on 11/17/2025.*",
                NOW
            ),
            Some(at("2025-11-17T00:00:00Z"))
        );
        assert_eq!(
            reset_at("You have exhausted your daily quota on this model.", NOW),
            None
        );
    }
}
