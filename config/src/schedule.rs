//! Schedule expressions as EventBridge reads them: `rate(N unit)` and the six-field
//! `cron(minutes hours day-of-month month day-of-week year)`, in UTC.
//!
//! Owns: parsing (with AWS's rules: `?` in exactly one of day-of-month and day-of-week, `L`, `W`,
//! `#`, names like `JAN` and `MON`, day-of-week 1 = Sunday) and the next fire time after a given
//! instant. Pure: the caller supplies the time (a clock in the Scheduler, a fixed one in tests).
//! Must not: sleep, or invoke anything.

use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Timelike, Utc, Weekday};
use std::collections::BTreeSet;

/// A parsed schedule expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expr {
    /// Every `period`, counted from when the schedule started.
    Rate(std::time::Duration),
    /// Calendar times.
    Cron(Box<Cron>),
}

/// A six-field cron expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cron {
    minutes: BTreeSet<u32>,
    hours: BTreeSet<u32>,
    dom: Dom,
    months: BTreeSet<u32>,
    dow: Dow,
    /// `None`: every year.
    years: Option<BTreeSet<u32>>,
}

/// Day-of-month rule.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Dom {
    Any,
    Days(BTreeSet<u32>),
    /// `L`: the last day of the month.
    Last,
    /// `15W`: the weekday nearest the 15th, within the month.
    NearestWeekday(u32),
}

/// Day-of-week rule (1 = Sunday ... 7 = Saturday).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Dow {
    Any,
    Days(BTreeSet<u32>),
    /// `6L`: the last Friday of the month.
    Last(u32),
    /// `2#1`: the first Monday of the month.
    Nth(u32, u32),
}

const MONTHS: [&str; 12] = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"];
const DAYS: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

/// Parses `rate(...)` or `cron(...)`; the error says what is wrong in the user's terms.
pub fn parse(expr: &str) -> Result<Expr, String> {
    let expr = expr.trim();
    if let Some(inner) = expr.strip_prefix("rate(").and_then(|s| s.strip_suffix(')')) {
        return rate(inner).map(Expr::Rate);
    }
    if let Some(inner) = expr.strip_prefix("cron(").and_then(|s| s.strip_suffix(')')) {
        return cron(inner).map(|c| Expr::Cron(Box::new(c)));
    }
    Err("not a rate() or cron() expression".into())
}

fn rate(inner: &str) -> Result<std::time::Duration, String> {
    let parts: Vec<&str> = inner.split_whitespace().collect();
    let [value, unit] = parts[..] else { return Err("a rate needs a value and a unit, e.g. rate(5 minutes)".into()) };
    let n: u64 = value.parse().map_err(|_| format!("the rate value `{value}` is not a whole number"))?;
    if n == 0 {
        return Err("the rate value must be at least 1".into());
    }
    let secs = match unit {
        "minute" | "minutes" => 60,
        "hour" | "hours" => 3600,
        "day" | "days" => 86400,
        _ => return Err(format!("the rate unit `{unit}` is not minute(s), hour(s) or day(s)")),
    };
    if (n == 1) != unit.ends_with(|c| c != 's') {
        return Err(format!("write `rate({n} {})`: AWS wants the singular unit for 1 and the plural otherwise", plural(unit, n)));
    }
    Ok(std::time::Duration::from_secs(n * secs))
}

fn plural(unit: &str, n: u64) -> String {
    let base = unit.trim_end_matches('s');
    if n == 1 {
        base.to_string()
    } else {
        format!("{base}s")
    }
}

/// One value: a number or a name (`JAN`, `MON`), within `lo..=hi`.
fn value(v: &str, lo: u32, hi: u32, names: &[&str], field: &str) -> Result<u32, String> {
    let upper = v.to_ascii_uppercase();
    if let Some(i) = names.iter().position(|n| *n == upper) {
        return Ok(i as u32 + lo);
    }
    let n: u32 = v.parse().map_err(|_| format!("{field}: `{v}` is not a number{}", if names.is_empty() { "" } else { " or a name" }))?;
    if n < lo || n > hi {
        return Err(format!("{field}: {n} is outside {lo}-{hi}"));
    }
    Ok(n)
}

/// A list of `*`, `a`, `a-b`, `*/s`, `a/s`, `a-b/s`.
fn set(field_text: &str, lo: u32, hi: u32, names: &[&str], field: &str) -> Result<BTreeSet<u32>, String> {
    let mut out = BTreeSet::new();
    for part in field_text.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((r, s)) => {
                (r, s.parse::<u32>().ok().filter(|s| *s > 0).ok_or(format!("{field}: the step in `{part}` is not a number above 0"))?)
            }
            None => (part, 1),
        };
        let (a, b) = match range {
            "*" => (lo, hi),
            r => match r.split_once('-') {
                Some((a, b)) => (value(a, lo, hi, names, field)?, value(b, lo, hi, names, field)?),
                None => {
                    let a = value(r, lo, hi, names, field)?;
                    (a, if part.contains('/') { hi } else { a })
                }
            },
        };
        if a > b {
            return Err(format!("{field}: the range `{range}` runs backwards"));
        }
        out.extend((a..=b).step_by(step as usize));
    }
    Ok(out)
}

fn cron(inner: &str) -> Result<Cron, String> {
    let f: Vec<&str> = inner.split_whitespace().collect();
    if f.len() != 6 {
        return Err(format!("a cron expression has 6 fields (minutes hours day-of-month month day-of-week year), found {}", f.len()));
    }
    let (dom_q, dow_q) = (f[2] == "?", f[4] == "?");
    if dom_q == dow_q {
        return Err("exactly one of day-of-month and day-of-week must be `?` (AWS cron), e.g. cron(0 12 * * ? *)".into());
    }
    let dom = match f[2] {
        "?" | "*" => Dom::Any,
        "L" => Dom::Last,
        d if d.ends_with('W') => Dom::NearestWeekday(value(&d[..d.len() - 1], 1, 31, &[], "day-of-month")?),
        d => Dom::Days(set(d, 1, 31, &[], "day-of-month")?),
    };
    let dow = match f[4] {
        "?" | "*" => Dow::Any,
        d if d.ends_with('L') && d.len() > 1 => Dow::Last(value(&d[..d.len() - 1], 1, 7, &DAYS, "day-of-week")?),
        d if d.contains('#') => {
            let (day, nth) = d.split_once('#').unwrap_or_default();
            let nth: u32 = nth.parse().ok().filter(|n| (1..=5).contains(n)).ok_or(format!("day-of-week: `{d}` needs #1 to #5"))?;
            Dow::Nth(value(day, 1, 7, &DAYS, "day-of-week")?, nth)
        }
        d => Dow::Days(set(d, 1, 7, &DAYS, "day-of-week")?),
    };
    Ok(Cron {
        minutes: set(f[0], 0, 59, &[], "minutes")?,
        hours: set(f[1], 0, 23, &[], "hours")?,
        dom,
        months: set(f[3], 1, 12, &MONTHS, "month")?,
        dow,
        years: if f[5] == "*" { None } else { Some(set(f[5], 1970, 2199, &[], "year")?) },
    })
}

fn last_day(year: i32, month: u32) -> u32 {
    let (y, m) = if month == 12 { (year + 1, 1) } else { (year, month + 1) };
    NaiveDate::from_ymd_opt(y, m, 1).and_then(|d| d.pred_opt()).map(|d| d.day()).unwrap_or(28)
}

/// 1 = Sunday ... 7 = Saturday.
fn aws_weekday(d: NaiveDate) -> u32 {
    d.weekday().num_days_from_sunday() + 1
}

impl Cron {
    fn day_matches(&self, d: NaiveDate) -> bool {
        if !self.months.contains(&d.month()) || self.years.as_ref().is_some_and(|y| !y.contains(&(d.year() as u32))) {
            return false;
        }
        let last = last_day(d.year(), d.month());
        let dom = match &self.dom {
            Dom::Any => true,
            Dom::Days(s) => s.contains(&d.day()),
            Dom::Last => d.day() == last,
            Dom::NearestWeekday(n) => {
                let target = (*n).min(last);
                let t = NaiveDate::from_ymd_opt(d.year(), d.month(), target).unwrap_or(d);
                let nearest = match t.weekday() {
                    Weekday::Sat if target == 1 => target + 2,
                    Weekday::Sat => target - 1,
                    Weekday::Sun if target == last => target - 2,
                    Weekday::Sun => target + 1,
                    _ => target,
                };
                d.day() == nearest
            }
        };
        let dow = match &self.dow {
            Dow::Any => true,
            Dow::Days(s) => s.contains(&aws_weekday(d)),
            Dow::Last(w) => aws_weekday(d) == *w && d.day() + 7 > last,
            Dow::Nth(w, n) => aws_weekday(d) == *w && (d.day() - 1) / 7 + 1 == *n,
        };
        dom && dow
    }

    /// The first fire time strictly after `after`, within about five years.
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let start = after + Duration::minutes(1);
        let start = start.with_second(0)?.with_nanosecond(0)?;
        let mut day = start.date_naive();
        for _ in 0..(366 * 5) {
            if self.day_matches(day) {
                let from = if day == start.date_naive() { (start.hour(), start.minute()) } else { (0, 0) };
                for &h in self.hours.range(from.0..) {
                    let min_from = if h == from.0 { from.1 } else { 0 };
                    if let Some(&m) = self.minutes.range(min_from..).next() {
                        return Utc.from_utc_datetime(&day.and_hms_opt(h, m, 0)?).into();
                    }
                }
            }
            day = day.succ_opt()?;
        }
        None
    }
}

impl Expr {
    /// The first fire time strictly after `after`; a rate counts whole periods from `started`.
    pub fn next_after(&self, after: DateTime<Utc>, started: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match self {
            Expr::Rate(period) => {
                let period = Duration::from_std(*period).ok()?;
                if after < started {
                    return Some(started + period);
                }
                let periods = (after - started).num_milliseconds() / period.num_milliseconds().max(1) + 1;
                Some(started + period * periods as i32)
            }
            Expr::Cron(c) => c.next_after(after),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn next(expr: &str, after: &str) -> String {
        parse(expr).unwrap().next_after(at(after), at("2026-01-01T00:00:00Z")).unwrap().to_rfc3339()
    }

    #[test]
    fn rates_count_whole_periods_from_the_start_and_want_the_right_unit() {
        assert_eq!(parse("rate(5 minutes)").unwrap(), Expr::Rate(std::time::Duration::from_secs(300)));
        assert_eq!(next("rate(1 minute)", "2026-01-01T00:00:30Z"), "2026-01-01T00:01:00+00:00");
        assert_eq!(next("rate(1 minute)", "2026-01-01T00:01:00Z"), "2026-01-01T00:02:00+00:00", "strictly after");
        assert_eq!(next("rate(2 hours)", "2026-01-01T03:00:00Z"), "2026-01-01T04:00:00+00:00");
        assert_eq!(next("rate(1 day)", "2025-12-31T00:00:00Z"), "2026-01-02T00:00:00+00:00", "before the start: one period after it");
        assert!(parse("rate(1 minutes)").unwrap_err().contains("rate(1 minute)"));
        assert!(parse("rate(5 minute)").unwrap_err().contains("rate(5 minutes)"));
        assert!(parse("rate(0 days)").unwrap_err().contains("at least 1"));
        assert!(parse("rate(5 weeks)").unwrap_err().contains("weeks"));
    }

    #[test]
    fn cron_fields_lists_ranges_steps_and_names() {
        // Every day at 12:00 UTC.
        assert_eq!(next("cron(0 12 * * ? *)", "2026-03-10T12:00:00Z"), "2026-03-11T12:00:00+00:00");
        // Every 15 minutes.
        assert_eq!(next("cron(0/15 * * * ? *)", "2026-03-10T12:07:00Z"), "2026-03-10T12:15:00+00:00");
        // 10:15 Monday to Friday (2026-03-14 is a Saturday).
        assert_eq!(next("cron(15 10 ? * MON-FRI *)", "2026-03-13T11:00:00Z"), "2026-03-16T10:15:00+00:00");
        assert_eq!(next("cron(15 10 ? * 2-6 *)", "2026-03-13T11:00:00Z"), "2026-03-16T10:15:00+00:00", "1 = Sunday");
        // 08:00 on the 1st and 15th of JAN and JUL.
        assert_eq!(next("cron(0 8 1,15 JAN,JUL ? *)", "2026-01-15T08:00:00Z"), "2026-07-01T08:00:00+00:00");
        // Only in 2027.
        assert_eq!(next("cron(0 0 1 1 ? 2027)", "2026-06-01T00:00:00Z"), "2027-01-01T00:00:00+00:00");
        assert_eq!(parse("cron(0 0 1 1 ? 2020)").unwrap().next_after(at("2026-01-01T00:00:00Z"), at("2026-01-01T00:00:00Z")), None);
    }

    #[test]
    fn cron_day_of_month_and_day_of_week_rules() {
        // L: the last day of the month (2028 is a leap year).
        assert_eq!(next("cron(0 0 L * ? *)", "2028-02-01T00:00:00Z"), "2028-02-29T00:00:00+00:00");
        // 6L: the last Friday of the month (March 2026: the 27th).
        assert_eq!(next("cron(0 9 ? * 6L *)", "2026-03-01T00:00:00Z"), "2026-03-27T09:00:00+00:00");
        // 2#1: the first Monday (June 2026: the 1st; July: the 6th).
        assert_eq!(next("cron(0 9 ? * MON#1 *)", "2026-06-01T10:00:00Z"), "2026-07-06T09:00:00+00:00");
        // 15W: the weekday nearest the 15th. 2026-08-15 is a Saturday -> Friday the 14th;
        // 2026-11-15 is a Sunday -> Monday the 16th.
        assert_eq!(next("cron(0 9 15W * ? *)", "2026-08-01T00:00:00Z"), "2026-08-14T09:00:00+00:00");
        assert_eq!(next("cron(0 9 15W * ? *)", "2026-11-01T00:00:00Z"), "2026-11-16T09:00:00+00:00");
        // 1W on a Saturday stays in the month: Monday the 3rd (2026-08-01 is a Saturday).
        assert_eq!(next("cron(0 9 1W * ? *)", "2026-07-31T00:00:00Z"), "2026-08-03T09:00:00+00:00");
    }

    #[test]
    fn cron_mistakes_are_named() {
        for (expr, says) in [
            ("cron(0 12 * * * *)", "exactly one of day-of-month and day-of-week"),
            ("cron(0 12 ? * ? *)", "exactly one"),
            ("cron(0 12 * *)", "6 fields"),
            ("cron(60 12 * * ? *)", "minutes: 60 is outside 0-59"),
            ("cron(0 12 ? * FUNDAY *)", "day-of-week"),
            ("cron(0 12 ? * MON#6 *)", "#1 to #5"),
            ("cron(0 12 10-5 * ? *)", "runs backwards"),
            ("cron(0/0 12 * * ? *)", "step"),
            ("every day", "not a rate() or cron()"),
        ] {
            let e = parse(expr).unwrap_err();
            assert!(e.contains(says), "{expr}: {e}");
        }
    }
}
