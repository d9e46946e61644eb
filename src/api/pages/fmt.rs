//! Times, dates and ids as people read them: Belgian local time (Europe/Brussels)
//! in words, short ids with the full one at hand.
//!
//! Brussels time is the EU rule (Directive 2000/84/EC): UTC+1, and UTC+2 from 01:00
//! UTC on the last Sunday of March to 01:00 UTC on the last Sunday of October. That
//! rule is all the zone has needed since 1996; a dozen lines here instead of the
//! whole tz database (`chrono-tz`) for one zone.

use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Utc, Weekday};
use maud::{Markup, html};

use super::i18n::{Lang, t, tf};

/// The last Sunday of `month` in `year`, at 01:00 UTC.
fn last_sunday_0100(year: i32, month: u32) -> Option<DateTime<Utc>> {
    let next = if month == 12 {
        NaiveDate::from_ymd_opt(year + 1, 1, 1)?
    } else {
        NaiveDate::from_ymd_opt(year, month + 1, 1)?
    };
    let mut d = next.pred_opt()?;
    while d.weekday() != Weekday::Sun {
        d = d.pred_opt()?;
    }
    Some(Utc.from_utc_datetime(&d.and_hms_opt(1, 0, 0)?))
}

/// Brussels' offset from UTC at `at`, in hours.
pub fn brussels_offset_hours(at: DateTime<Utc>) -> i64 {
    let y = at.year();
    match (last_sunday_0100(y, 3), last_sunday_0100(y, 10)) {
        (Some(start), Some(end)) if at >= start && at < end => 2,
        _ => 1,
    }
}

fn date_words(lang: Lang, d: NaiveDate) -> String {
    let month = t(lang, &format!("month.{}", d.month()));
    match lang {
        Lang::En => format!("{} {month} {}", d.day(), d.year()),
        Lang::De => format!("{}. {month} {}", d.day(), d.year()),
        Lang::Fr | Lang::Nl => format!("{} {month} {}", d.day(), d.year()),
    }
}

/// `at` (RFC 3339, UTC) as Brussels local time in words, e.g. "2 December 2026, 09:15".
pub fn local_words(lang: Lang, at: DateTime<Utc>) -> String {
    let local = at.naive_utc() + Duration::hours(brussels_offset_hours(at));
    format!(
        "{}, {}",
        date_words(lang, local.date()),
        local.format("%H:%M")
    )
}

/// A stored time as a `<time>` element: local time in words, the exact UTC instant
/// in `datetime` and on hover. A time that does not parse is shown as it is.
pub fn time(lang: Lang, stored: &str) -> Markup {
    match DateTime::parse_from_rfc3339(stored) {
        Ok(at) => {
            let at = at.with_timezone(&Utc);
            html! { time datetime=(at.to_rfc3339()) title=(at.to_rfc3339()) { (local_words(lang, at)) } }
        }
        Err(_) => html! { (stored) },
    }
}

pub fn time_utc(lang: Lang, at: DateTime<Utc>) -> Markup {
    time(lang, &at.to_rfc3339())
}

/// A date of a SED (`YYYY-MM-DD`) in words, if it is one.
pub fn sed_date(lang: Lang, value: &str) -> Option<String> {
    if value.len() != 10 {
        return None;
    }
    NaiveDate::parse_from_str(value, "%Y-%m-%d")
        .ok()
        .map(|d| date_words(lang, d))
}

/// An id's short form: its LAST 8 characters. The ids the switch makes are
/// UUIDv7, whose first 8 hex digits are the creation time (about a minute per
/// value): every id of a case would start alike, while the tail is random.
pub fn short(id: &str) -> String {
    let hex: Vec<char> = id.chars().filter(|c| *c != '-').collect();
    hex[hex.len().saturating_sub(8)..].iter().collect()
}

/// An id shown short, the whole id on hover.
pub fn short_id(id: &str) -> Markup {
    html! { code title=(id) { (short(id)) } }
}

/// Whole days between two instants (rounded down), for "3 days late".
pub fn days_between(from: DateTime<Utc>, to: DateTime<Utc>) -> i64 {
    (to - from).num_days()
}

/// "3 day(s) late" or "in 3 day(s)".
pub fn lateness(lang: Lang, due: DateTime<Utc>, now: DateTime<Utc>) -> String {
    if now > due {
        tf(
            lang,
            "case.late_by",
            &[("n", &days_between(due, now).max(1).to_string())],
        )
    } else {
        tf(
            lang,
            "case.due_in",
            &[("n", &days_between(now, due).to_string())],
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn brussels_changes_at_one_utc_on_the_last_sundays_of_march_and_october() {
        // 2026: 29 March and 25 October.
        assert_eq!(brussels_offset_hours(at("2026-03-29T00:59:59Z")), 1);
        assert_eq!(brussels_offset_hours(at("2026-03-29T01:00:00Z")), 2);
        assert_eq!(brussels_offset_hours(at("2026-10-25T00:59:59Z")), 2);
        assert_eq!(brussels_offset_hours(at("2026-10-25T01:00:00Z")), 1);
        assert_eq!(brussels_offset_hours(at("2026-12-31T23:30:00Z")), 1);
        assert_eq!(
            local_words(Lang::En, at("2026-12-31T23:30:00Z")),
            "1 January 2027, 00:30"
        );
        assert_eq!(
            local_words(Lang::Fr, at("2026-07-14T10:05:00Z")),
            "14 juillet 2026, 12:05"
        );
        assert_eq!(
            local_words(Lang::De, at("2026-07-14T10:05:00Z")),
            "14. Juli 2026, 12:05"
        );
    }

    #[test]
    fn sed_dates_read_as_words_and_other_values_do_not() {
        assert_eq!(
            sed_date(Lang::Nl, "1961-09-09").as_deref(),
            Some("9 september 1961")
        );
        assert_eq!(sed_date(Lang::En, "61090914571"), None);
        assert_eq!(sed_date(Lang::En, "2026-02-30"), None);
    }

    #[test]
    fn short_ids_are_the_random_tail_of_a_uuidv7() {
        assert_eq!(short("01a2345427fa73e483a73b6e1f3664ef"), "1f3664ef");
        assert_eq!(short("01a23454-27fb-72aa-8636-f81998af74cd"), "98af74cd");
        assert_eq!(short("abc"), "abc");
    }

    #[test]
    fn lateness_in_words() {
        let due = at("2026-01-01T00:00:00Z");
        assert_eq!(
            lateness(Lang::En, due, at("2026-01-04T01:00:00Z")),
            "3 day(s) late"
        );
        assert_eq!(
            lateness(Lang::En, due, at("2025-12-30T00:00:00Z")),
            "in 2 day(s)"
        );
    }
}
