//! Business calendars (工作日历): when the service floor works, and the
//! exact arithmetic of business time that service-level targets run on.
//!
//! A calendar is working hours per weekday in one time zone, plus dated
//! exceptions: holidays (节假日, no work) and make-up working days (调休,
//! a Saturday or Sunday worked in place of a holiday). Hours are wall-clock
//! times of the calendar's zone; business time is the real time that passes
//! inside them, so a working day that a daylight-saving change shortens
//! counts one hour less. Everything here is pure: instants in, instants out.

use crate::DomainError;
use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, TimeZone, Utc, Weekday};
use chrono_tz::Tz;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

/// Minutes in a day: `24:00`, the end of the last possible span.
pub const DAY_MINUTES: u16 = 24 * 60;

/// How far ahead [`Calendar::add`] looks for working time before it gives
/// up: a calendar with no working time at all has no due dates.
pub const SEARCH_DAYS: i64 = 5 * 366;

/// The weekdays in the order calendars list them (Monday first).
pub const WEEKDAYS: [Weekday; 7] = [
    Weekday::Mon,
    Weekday::Tue,
    Weekday::Wed,
    Weekday::Thu,
    Weekday::Fri,
    Weekday::Sat,
    Weekday::Sun,
];

/// The short English name of a weekday, as the API and forms key it.
pub fn weekday_code(day: Weekday) -> &'static str {
    match day {
        Weekday::Mon => "mon",
        Weekday::Tue => "tue",
        Weekday::Wed => "wed",
        Weekday::Thu => "thu",
        Weekday::Fri => "fri",
        Weekday::Sat => "sat",
        Weekday::Sun => "sun",
    }
}

/// One stretch of working time in a day, in minutes after local midnight:
/// from `start` up to, not including, `end` (`end` may be 1440, `24:00`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Span {
    /// First working minute.
    pub start: u16,
    /// The minute work stops.
    pub end: u16,
}

impl std::fmt::Display for Span {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:02}:{:02}-{:02}:{:02}",
            self.start / 60,
            self.start % 60,
            self.end / 60,
            self.end % 60
        )
    }
}

/// Parses `HH:MM` (00:00–24:00) into minutes after midnight.
fn parse_clock(text: &str) -> Option<u16> {
    let (hours, minutes) = text.trim().split_once(':')?;
    if hours.is_empty() || hours.len() > 2 || minutes.len() != 2 {
        return None;
    }
    let hours: u16 = hours.parse().ok()?;
    let minutes: u16 = minutes.parse().ok()?;
    let total = hours.checked_mul(60)?.checked_add(minutes)?;
    (minutes < 60 && total <= DAY_MINUTES).then_some(total)
}

/// Parses a day's working hours, `09:00-12:00, 13:30-18:00`; empty (or
/// `closed`, `休息`) is a day off. Spans come back in order. Refused: a
/// clock that is not `HH:MM` up to `24:00`, a span that ends before it
/// starts, and spans that overlap — each named, under `field`.
pub fn parse_hours(field: &str, text: &str) -> Result<Vec<Span>, DomainError> {
    let text = text.trim();
    if text.is_empty() || text.eq_ignore_ascii_case("closed") || text == "休息" {
        return Ok(Vec::new());
    }
    let mut spans = Vec::new();
    for part in text.split([',', '，', ';', '；']).map(str::trim) {
        if part.is_empty() {
            continue;
        }
        let Some((start, end)) = part.split_once(['-', '–', '~', '～']) else {
            return Err(DomainError::invalid(
                field,
                format!("“{part}” is not a span of hours like 09:00-18:00"),
            ));
        };
        let (Some(start), Some(end)) = (parse_clock(start), parse_clock(end)) else {
            return Err(DomainError::invalid(
                field,
                format!("“{part}” is not a span of hours like 09:00-18:00 (00:00 to 24:00)"),
            ));
        };
        if end <= start {
            return Err(DomainError::invalid(
                field,
                format!("“{part}” ends before it starts"),
            ));
        }
        spans.push(Span { start, end });
    }
    spans.sort();
    for pair in spans.windows(2) {
        if pair[1].start < pair[0].end {
            return Err(DomainError::invalid(
                field,
                format!("{} and {} overlap", pair[0], pair[1]),
            ));
        }
    }
    Ok(spans)
}

/// A day's working hours written as [`parse_hours`] reads them.
pub fn format_hours(spans: &[Span]) -> String {
    spans
        .iter()
        .map(Span::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// What a dated exception does to its day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DayKind {
    /// No work that day (节假日).
    Holiday,
    /// A working day in place of a holiday (调休上班), on the standard
    /// working day's hours.
    MakeupWorkday,
}

impl DayKind {
    /// The code stored and shown in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            DayKind::Holiday => "holiday",
            DayKind::MakeupWorkday => "makeup_workday",
        }
    }

    /// Parses a kind; the error names `field` and the valid kinds.
    pub fn parse_field(field: &str, text: &str) -> Result<Self, DomainError> {
        match text.trim().to_ascii_lowercase().as_str() {
            "holiday" | "节假日" | "假日" | "休" => Ok(DayKind::Holiday),
            "makeup_workday" | "workday" | "工作日" | "补班" | "班" => {
                Ok(DayKind::MakeupWorkday)
            }
            other => Err(DomainError::invalid(
                field,
                format!("“{other}” is not a kind of day (holiday, makeup_workday)"),
            )),
        }
    }
}

/// One dated exception to the weekly hours.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecialDay {
    /// The local date.
    pub date: NaiveDate,
    /// Holiday or make-up working day.
    pub kind: DayKind,
    /// What it is (国庆节, 春节调休).
    pub name: String,
}

/// A business calendar ready for arithmetic.
#[derive(Debug, Clone)]
pub struct Calendar {
    zone: Tz,
    week: [Vec<Span>; 7],
    special: BTreeMap<NaiveDate, DayKind>,
    standard_day: Vec<Span>,
    /// Each date's working intervals once turned into instants: the same
    /// for every ticket, and the time-zone lookups are what costs when a
    /// policy change recomputes every open ticket. Shared by clones (the
    /// calendar never changes once built).
    memo: Arc<Mutex<HashMap<NaiveDate, Intervals>>>,
}

/// A date's working intervals as instants.
type Intervals = Arc<[(DateTime<Utc>, DateTime<Utc>)]>;

/// Dates remembered at most; past it the memo starts again.
const MEMO_DATES: usize = 8_192;

impl Calendar {
    /// A calendar from its zone, the hours of each weekday (Monday first)
    /// and its dated exceptions. A make-up working day works the standard
    /// day's hours: those of the first weekday from Monday that has any.
    pub fn new(zone: Tz, week: [Vec<Span>; 7], special: &[SpecialDay]) -> Self {
        let standard_day = week
            .iter()
            .find(|spans| !spans.is_empty())
            .cloned()
            .unwrap_or_default();
        Calendar {
            zone,
            week,
            special: special.iter().map(|d| (d.date, d.kind)).collect(),
            standard_day,
            memo: Arc::default(),
        }
    }

    /// Around the clock, every day: the 24×7 hotline.
    pub fn always(zone: Tz) -> Self {
        let all_day = vec![Span {
            start: 0,
            end: DAY_MINUTES,
        }];
        Calendar::new(zone, std::array::from_fn(|_| all_day.clone()), &[])
    }

    /// The calendar's time zone.
    pub fn zone(&self) -> Tz {
        self.zone
    }

    /// The working spans of one local date, after its exceptions.
    pub fn hours_on(&self, date: NaiveDate) -> &[Span] {
        match self.special.get(&date) {
            Some(DayKind::Holiday) => &[],
            Some(DayKind::MakeupWorkday) => {
                let own = &self.week[date.weekday().num_days_from_monday() as usize];
                if own.is_empty() {
                    &self.standard_day
                } else {
                    own
                }
            }
            None => &self.week[date.weekday().num_days_from_monday() as usize],
        }
    }

    /// The instant a wall-clock minute of a local date happens. An hour
    /// that occurs twice (clocks going back) counts from its first
    /// occurrence; a time that never occurs (clocks going forward) is the
    /// instant the clocks jump, the first real time after it.
    fn instant(&self, date: NaiveDate, minute: u16) -> DateTime<Utc> {
        let midnight = NaiveDateTime::from(date);
        let wall = midnight + Duration::minutes(i64::from(minute));
        // The first wall time that exists after a gap is where the clocks
        // jumped to, so probing forward a minute at a time finds the jump.
        for skipped in 0..=DAY_MINUTES {
            let probe = wall + Duration::minutes(i64::from(skipped));
            if let Some(found) = self.zone.from_local_datetime(&probe).earliest() {
                return found.with_timezone(&Utc);
            }
        }
        // No zone skips a whole day of wall time; fall back to UTC reading.
        Utc.from_utc_datetime(&wall)
    }

    /// The working intervals of a local date as instants, in order; spans
    /// a daylight-saving jump swallows whole are left out.
    fn intervals(&self, date: NaiveDate) -> Intervals {
        // A poisoned memo only means another thread panicked mid-insert;
        // the map itself is still sound.
        let mut memo = self
            .memo
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(known) = memo.get(&date) {
            return known.clone();
        }
        let computed: Intervals = self
            .hours_on(date)
            .iter()
            .map(|span| (self.instant(date, span.start), self.instant(date, span.end)))
            .filter(|(from, to)| from < to)
            .collect();
        if memo.len() >= MEMO_DATES {
            memo.clear();
        }
        memo.insert(date, computed.clone());
        computed
    }

    /// The local date of an instant in this calendar's zone.
    fn local_date(&self, at: DateTime<Utc>) -> NaiveDate {
        at.with_timezone(&self.zone).date_naive()
    }

    /// Whether an instant falls in working time.
    pub fn is_working(&self, at: DateTime<Utc>) -> bool {
        let date = self.local_date(at);
        [date.pred_opt(), Some(date)]
            .into_iter()
            .flatten()
            .flat_map(|d| self.intervals(d).to_vec())
            .any(|(from, to)| from <= at && at < to)
    }

    /// The instant `amount` of business time after `start`: the moment the
    /// working clock, started at `start`, shows `amount`. A zero or
    /// negative amount is `start` itself. `None` when the calendar has no
    /// working time within [`SEARCH_DAYS`].
    pub fn add(&self, start: DateTime<Utc>, amount: Duration) -> Option<DateTime<Utc>> {
        self.add_paused(start, amount, &[])
    }

    /// Like [`Calendar::add`], with the clock stopped during `pauses`
    /// (from, to) — a ticket waiting for its customer. Pauses may overlap
    /// and come in any order; a pause only ever moves the result later.
    pub fn add_paused(
        &self,
        start: DateTime<Utc>,
        amount: Duration,
        pauses: &[(DateTime<Utc>, DateTime<Utc>)],
    ) -> Option<DateTime<Utc>> {
        if amount <= Duration::zero() {
            return Some(start);
        }
        let pauses = merged(pauses);
        let mut remaining = amount;
        // A day's spans end by the next local midnight, so the day before
        // `start`'s is the earliest that can still hold working time after it.
        let first = self.local_date(start) - Duration::days(1);
        for offset in 0..SEARCH_DAYS {
            let date = first + Duration::days(offset);
            for &(from, to) in self.intervals(date).iter() {
                for (from, to) in without(from.max(start), to, &pauses) {
                    let available = to - from;
                    if available >= remaining {
                        return Some(from + remaining);
                    }
                    remaining -= available;
                }
            }
        }
        None
    }

    /// The business time between two instants: positive when `to` is
    /// later, negative when it is earlier (time overdue).
    pub fn between(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Duration {
        self.between_paused(from, to, &[])
    }

    /// Like [`Calendar::between`], not counting time inside `pauses`.
    pub fn between_paused(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        pauses: &[(DateTime<Utc>, DateTime<Utc>)],
    ) -> Duration {
        if to < from {
            return -self.between_paused(to, from, pauses);
        }
        let pauses = merged(pauses);
        let mut total = Duration::zero();
        let mut date = self.local_date(from) - Duration::days(1);
        let last = self.local_date(to);
        while date <= last {
            for &(start, end) in self.intervals(date).iter() {
                let (start, end) = (start.max(from), end.min(to));
                if start < end {
                    total += without(start, end, &pauses)
                        .into_iter()
                        .map(|(a, b)| b - a)
                        .sum::<Duration>();
                }
            }
            date += Duration::days(1);
        }
        total
    }
}

/// Pauses sorted and merged where they overlap or touch.
fn merged(pauses: &[(DateTime<Utc>, DateTime<Utc>)]) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
    let mut sorted: Vec<_> = pauses.iter().copied().filter(|(a, b)| a < b).collect();
    sorted.sort();
    let mut out: Vec<(DateTime<Utc>, DateTime<Utc>)> = Vec::with_capacity(sorted.len());
    for (from, to) in sorted {
        match out.last_mut() {
            Some(last) if from <= last.1 => last.1 = last.1.max(to),
            _ => out.push((from, to)),
        }
    }
    out
}

/// The parts of [from, to) outside the merged, sorted `pauses`.
fn without(
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    pauses: &[(DateTime<Utc>, DateTime<Utc>)],
) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
    let mut out = Vec::new();
    let mut cursor = from;
    for &(pause_from, pause_to) in pauses {
        if pause_to <= cursor {
            continue;
        }
        if pause_from >= to {
            break;
        }
        if pause_from > cursor {
            out.push((cursor, pause_from));
        }
        cursor = cursor.max(pause_to);
        if cursor >= to {
            return out;
        }
    }
    if cursor < to {
        out.push((cursor, to));
    }
    out
}

/// The most days one holiday event may span in an imported file.
pub const MAX_EVENT_DAYS: i64 = 366;

/// Reads a date as people write it: `2026-10-01`, `2026/10/01`, `20261001`.
pub fn parse_date(text: &str) -> Option<NaiveDate> {
    let text = text.trim();
    ["%Y-%m-%d", "%Y/%m/%d", "%Y%m%d", "%Y.%m.%d"]
        .iter()
        .find_map(|format| NaiveDate::parse_from_str(text, format).ok())
}

/// Reads a list of holidays and make-up working days from an iCalendar
/// file (all-day events; an event whose summary says 补班 or 上班 is a
/// working day, any other a holiday; a multi-day event covers each day)
/// or a CSV file (`date,kind,name`, kind `holiday` or `makeup_workday`, a header
/// line optional). Every error names its line; a date listed twice is an
/// error rather than a silent choice.
pub fn parse_special_days(text: &str) -> Result<Vec<SpecialDay>, DomainError> {
    let text = text.trim_start_matches('\u{feff}');
    let days = if text.trim_start().starts_with("BEGIN:VCALENDAR") {
        parse_ical(text)?
    } else {
        parse_csv(text)?
    };
    let mut seen: BTreeMap<NaiveDate, usize> = BTreeMap::new();
    for (line, day) in &days {
        if let Some(first) = seen.insert(day.date, *line) {
            return Err(line_error(
                *line,
                format!("{} is already listed on line {first}", day.date),
            ));
        }
    }
    Ok(days.into_iter().map(|(_, day)| day).collect())
}

fn line_error(line: usize, reason: impl std::fmt::Display) -> DomainError {
    DomainError::invalid("days", format!("line {line}: {reason}"))
}

/// Whether an event's summary marks a make-up working day.
fn names_a_workday(summary: &str) -> bool {
    ["补班", "上班", "（班）", "(班)", "workday", "working day"]
        .iter()
        .any(|word| summary.to_lowercase().contains(word))
}

fn parse_csv(text: &str) -> Result<Vec<(usize, SpecialDay)>, DomainError> {
    let mut days = Vec::new();
    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        let cells: Vec<&str> = raw.split([',', '\t']).map(str::trim).collect();
        if cells.iter().all(|c| c.is_empty()) || cells[0].starts_with('#') {
            continue;
        }
        let Some(date) = parse_date(cells[0].trim_matches('"')) else {
            // A header names its columns; anything else is a bad date.
            if line == 1 && (cells[0].to_lowercase().contains("date") || cells[0] == "日期") {
                continue;
            }
            return Err(line_error(
                line,
                format!("“{}” is not a date (2026-10-01)", cells[0]),
            ));
        };
        let kind = match cells.get(1).map(|c| c.trim_matches('"')) {
            Some(kind) if !kind.is_empty() => {
                DayKind::parse_field("kind", kind).map_err(|e| line_error(line, reason_of(e)))?
            }
            _ => DayKind::Holiday,
        };
        let name = cells
            .get(2..)
            .map(|rest| rest.join(","))
            .unwrap_or_default();
        days.push((
            line,
            SpecialDay {
                date,
                kind,
                name: name.trim_matches('"').trim().to_owned(),
            },
        ));
    }
    Ok(days)
}

fn reason_of(error: DomainError) -> String {
    match error {
        DomainError::Validation { reason, .. } => reason,
    }
}

/// Undoes iCalendar text escapes (`\,` `\;` `\n` `\\`).
fn unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n' | 'N') => out.push(' '),
            Some(other) => out.push(other),
            None => {}
        }
    }
    out
}

/// The date of a `DTSTART`/`DTEND` value (`20261001` or `20261001T000000Z`).
fn ical_date(value: &str) -> Option<NaiveDate> {
    let digits = value.trim().get(..8)?;
    NaiveDate::parse_from_str(digits, "%Y%m%d").ok()
}

fn parse_ical(text: &str) -> Result<Vec<(usize, SpecialDay)>, DomainError> {
    // Content lines folded onto several physical lines are joined first;
    // each keeps the number of the line it starts on.
    let mut lines: Vec<(usize, String)> = Vec::new();
    for (index, raw) in text.lines().enumerate() {
        match (raw.strip_prefix([' ', '\t']), lines.last_mut()) {
            (Some(rest), Some((_, last))) => last.push_str(rest),
            _ => lines.push((index + 1, raw.to_owned())),
        }
    }
    let mut days = Vec::new();
    let mut event: Option<(usize, Option<NaiveDate>, Option<NaiveDate>, String)> = None;
    for (line, content) in lines {
        let Some((head, value)) = content.split_once(':') else {
            continue;
        };
        let name = head.split(';').next().unwrap_or("").to_ascii_uppercase();
        match (name.as_str(), &mut event) {
            ("BEGIN", None) if value.eq_ignore_ascii_case("VEVENT") => {
                event = Some((line, None, None, String::new()));
            }
            ("DTSTART", Some(e)) => {
                e.1 =
                    Some(ical_date(value).ok_or_else(|| {
                        line_error(line, format!("DTSTART “{value}” is not a date"))
                    })?);
            }
            ("DTEND", Some(e)) => {
                e.2 =
                    Some(ical_date(value).ok_or_else(|| {
                        line_error(line, format!("DTEND “{value}” is not a date"))
                    })?);
            }
            ("SUMMARY", Some(e)) => e.3 = unescape(value),
            ("END", Some(_)) if value.eq_ignore_ascii_case("VEVENT") => {
                let Some((begin, start, end, summary)) = event.take() else {
                    continue;
                };
                let start = start.ok_or_else(|| line_error(begin, "the event has no DTSTART"))?;
                let end = end.unwrap_or(start + Duration::days(1));
                let length = (end - start).num_days();
                if !(1..=MAX_EVENT_DAYS).contains(&length) {
                    return Err(line_error(
                        begin,
                        format!(
                            "the event from {start} to {end} must last 1 to {MAX_EVENT_DAYS} days"
                        ),
                    ));
                }
                let kind = if names_a_workday(&summary) {
                    DayKind::MakeupWorkday
                } else {
                    DayKind::Holiday
                };
                for offset in 0..length {
                    days.push((
                        begin,
                        SpecialDay {
                            date: start + Duration::days(offset),
                            kind,
                            name: summary.trim().to_owned(),
                        },
                    ));
                }
            }
            _ => {}
        }
    }
    if event.is_some() {
        return Err(line_error(
            text.lines().count(),
            "the file ends inside an event (END:VEVENT missing)",
        ));
    }
    Ok(days)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn day(text: &str) -> NaiveDate {
        parse_date(text).unwrap_or_default()
    }

    /// A wall-clock time in a zone, as an instant.
    fn at(zone: Tz, text: &str) -> DateTime<Utc> {
        let naive = NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M").unwrap_or_default();
        zone.from_local_datetime(&naive)
            .earliest()
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default()
    }

    fn hours(text: &str) -> Vec<Span> {
        parse_hours("hours", text).unwrap_or_default()
    }

    /// 9–18 with a lunch hour on weekdays, Shanghai, with China's 2026
    /// National Day week: 1–7 October off, Sunday 27 September and
    /// Saturday 10 October worked.
    fn office() -> Calendar {
        let weekday = hours("09:00-12:00, 13:00-18:00");
        let mut special: Vec<SpecialDay> = (1..=7)
            .map(|d| SpecialDay {
                date: day(&format!("2026-10-{d:02}")),
                kind: DayKind::Holiday,
                name: "国庆节".into(),
            })
            .collect();
        for date in ["2026-09-27", "2026-10-10"] {
            special.push(SpecialDay {
                date: day(date),
                kind: DayKind::MakeupWorkday,
                name: "国庆节调休".into(),
            });
        }
        let week = [
            weekday.clone(),
            weekday.clone(),
            weekday.clone(),
            weekday.clone(),
            weekday,
            Vec::new(),
            Vec::new(),
        ];
        Calendar::new(chrono_tz::Asia::Shanghai, week, &special)
    }

    #[test]
    fn hours_are_read_and_refused_with_reasons() {
        assert_eq!(
            hours("13:00-18:00，09:00-12:00"),
            vec![
                Span {
                    start: 540,
                    end: 720
                },
                Span {
                    start: 780,
                    end: 1080
                }
            ]
        );
        assert_eq!(
            hours("00:00-24:00"),
            vec![Span {
                start: 0,
                end: 1440
            }]
        );
        assert_eq!(hours("closed"), Vec::<Span>::new());
        assert_eq!(
            format_hours(&hours("9:00-12:00,13:00-18:00")),
            "09:00-12:00, 13:00-18:00"
        );
        let refused = |text: &str| parse_hours("hours.mon", text).err().map(|e| e.to_string());
        assert_eq!(
            refused("18:00-09:00"),
            Some("hours.mon: “18:00-09:00” ends before it starts".into())
        );
        assert_eq!(
            refused("09:00-12:00, 11:00-13:00"),
            Some("hours.mon: 09:00-12:00 and 11:00-13:00 overlap".into())
        );
        assert!(refused("09:00-25:00").is_some());
        assert!(refused("9-18").is_some());
        assert!(refused("09:60-10:00").is_some());
        assert!(refused("24:01-24:02").is_some());
    }

    #[test]
    fn business_time_skips_lunch_nights_weekends_and_holidays() {
        let c = office();
        let z = chrono_tz::Asia::Shanghai;
        let add = |from: &str, minutes: i64| c.add(at(z, from), Duration::minutes(minutes));
        // Lunch.
        assert_eq!(add("2026-09-23 11:30", 60), Some(at(z, "2026-09-23 13:30")));
        // Overnight, and starting before opening.
        assert_eq!(add("2026-09-23 17:30", 60), Some(at(z, "2026-09-24 09:30")));
        assert_eq!(add("2026-09-23 06:00", 30), Some(at(z, "2026-09-23 09:30")));
        // Friday evening to the make-up Sunday, not Monday.
        assert_eq!(
            add("2026-09-25 17:00", 120),
            Some(at(z, "2026-09-27 10:00"))
        );
        // The day before the holiday week to the day after it.
        assert_eq!(add("2026-09-30 17:30", 60), Some(at(z, "2026-10-08 09:30")));
        // Exactly at the end of a span is that instant, not the next opening.
        assert_eq!(add("2026-09-23 17:00", 60), Some(at(z, "2026-09-23 18:00")));
        // Zero is where it started, even out of hours.
        assert_eq!(add("2026-10-03 03:00", 0), Some(at(z, "2026-10-03 03:00")));
        // Measured back.
        let between = |a: &str, b: &str| c.between(at(z, a), at(z, b)).num_minutes();
        assert_eq!(between("2026-09-30 17:30", "2026-10-08 09:30"), 60);
        assert_eq!(between("2026-10-08 09:30", "2026-09-30 17:30"), -60);
        assert_eq!(between("2026-10-01 00:00", "2026-10-08 00:00"), 0);
        assert_eq!(between("2026-09-21 00:00", "2026-09-28 00:00"), 6 * 8 * 60);
        assert!(c.is_working(at(z, "2026-09-27 10:00")));
        assert!(!c.is_working(at(z, "2026-10-02 10:00")));
        assert!(!c.is_working(at(z, "2026-09-23 12:30")));
        assert!(!c.is_working(at(z, "2026-09-23 18:00")));
    }

    #[test]
    fn around_the_clock_crosses_midnight_and_months() {
        let z = chrono_tz::Asia::Shanghai;
        let c = Calendar::always(z);
        assert_eq!(
            c.add(at(z, "2026-12-31 23:00"), Duration::minutes(90)),
            Some(at(z, "2027-01-01 00:30"))
        );
        assert_eq!(
            c.between(at(z, "2026-02-27 12:00"), at(z, "2026-03-01 12:00"))
                .num_hours(),
            48
        );
    }

    #[test]
    fn daylight_saving_days_are_as_long_as_they_really_are() {
        let ny = chrono_tz::America::New_York;
        let c = Calendar::always(ny);
        // 8 March 2026: 02:00 becomes 03:00; 1 November: 02:00 becomes 01:00.
        assert_eq!(
            c.between(at(ny, "2026-03-08 00:00"), at(ny, "2026-03-09 00:00"))
                .num_hours(),
            23
        );
        assert_eq!(
            c.between(at(ny, "2026-11-01 00:00"), at(ny, "2026-11-02 00:00"))
                .num_hours(),
            25
        );
        assert_eq!(
            c.add(at(ny, "2026-03-08 01:30"), Duration::minutes(60)),
            Some(at(ny, "2026-03-08 03:30"))
        );
        // A span that starts in the skipped hour starts when the clocks jump.
        let night = hours("02:30-04:00");
        let c = Calendar::new(ny, std::array::from_fn(|_| night.clone()), &[]);
        assert_eq!(
            c.between(at(ny, "2026-03-08 00:00"), at(ny, "2026-03-08 12:00"))
                .num_minutes(),
            60
        );
        assert_eq!(
            c.add(at(ny, "2026-03-08 00:00"), Duration::minutes(1)),
            Some(at(ny, "2026-03-08 03:01"))
        );
        // The repeated hour is worked twice.
        let c = Calendar::new(ny, std::array::from_fn(|_| hours("00:00-03:00")), &[]);
        assert_eq!(
            c.between(at(ny, "2026-11-01 00:00"), at(ny, "2026-11-01 12:00"))
                .num_minutes(),
            4 * 60
        );
    }

    #[test]
    fn a_calendar_without_working_time_has_no_due_date() {
        let c = Calendar::new(chrono_tz::UTC, std::array::from_fn(|_| Vec::new()), &[]);
        assert_eq!(c.add(Utc::now(), Duration::minutes(1)), None);
        assert_eq!(
            c.between(Utc::now() - Duration::days(30), Utc::now()),
            Duration::zero()
        );
    }

    #[test]
    fn pauses_stop_the_clock() {
        let c = office();
        let z = chrono_tz::Asia::Shanghai;
        let pause = [(at(z, "2026-09-23 10:00"), at(z, "2026-09-23 14:00"))];
        // Two hours of the pause were working time (10–12 and 13–14).
        assert_eq!(
            c.add_paused(at(z, "2026-09-23 09:00"), Duration::minutes(120), &pause),
            Some(at(z, "2026-09-23 15:00"))
        );
        assert_eq!(
            c.between_paused(at(z, "2026-09-23 09:00"), at(z, "2026-09-23 15:00"), &pause)
                .num_minutes(),
            120
        );
    }

    #[test]
    fn holiday_files_are_read_with_line_numbers() {
        let ics = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nDTSTART;VALUE=DATE:20261001\r\n\
                   DTEND;VALUE=DATE:20261008\r\nSUMMARY:国庆节 假期\r\nEND:VEVENT\r\nBEGIN:VEVENT\r\n\
                   DTSTART;VALUE=DATE:20260927\r\nSUMMARY:国庆节\r\n  补班\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
        let days = parse_special_days(ics).unwrap_or_default();
        assert_eq!(days.len(), 8);
        assert_eq!(days[0].date, day("2026-10-01"));
        assert_eq!(days[6].date, day("2026-10-07"));
        assert!(
            days[..7]
                .iter()
                .all(|d| d.kind == DayKind::Holiday && d.name == "国庆节 假期")
        );
        assert_eq!(days[7].kind, DayKind::MakeupWorkday);
        assert_eq!(days[7].name, "国庆节 补班");

        let bad = "BEGIN:VCALENDAR\nBEGIN:VEVENT\nDTSTART;VALUE=DATE:20261301\nEND:VEVENT\nEND:VCALENDAR\n";
        assert_eq!(
            parse_special_days(bad).err().map(|e| e.to_string()),
            Some("days: line 3: DTSTART “20261301” is not a date".into())
        );
        let csv =
            "date,kind,name\n2026-10-01,holiday,国庆节\n2026/09/27,workday,调休\n\n2026-10-02\n";
        let days = parse_special_days(csv).unwrap_or_default();
        assert_eq!(days.len(), 3);
        assert_eq!(days[1].kind, DayKind::MakeupWorkday);
        assert_eq!(days[2].kind, DayKind::Holiday);
        let refused = |text: &str| parse_special_days(text).err().map(|e| e.to_string());
        assert_eq!(
            refused("2026-10-01,holiday\n2026-10-32,holiday\n"),
            Some("days: line 2: “2026-10-32” is not a date (2026-10-01)".into())
        );
        assert_eq!(
            refused("2026-10-01,holiday\n2026-10-01,workday\n"),
            Some("days: line 2: 2026-10-01 is already listed on line 1".into())
        );
        assert!(refused("2026-10-01,vacation\n").is_some_and(|e| e.contains("line 1")));
    }

    /// A random calendar: a zone (some with daylight saving), up to three
    /// spans per weekday, and holidays and make-up days in 2026–2027.
    fn calendars() -> impl Strategy<Value = Calendar> {
        let zones = prop_oneof![
            Just(chrono_tz::Asia::Shanghai),
            Just(chrono_tz::America::New_York),
            Just(chrono_tz::Europe::Berlin),
            Just(chrono_tz::Australia::Lord_Howe),
            Just(chrono_tz::UTC),
        ];
        let day_hours = prop::collection::btree_set(0u16..=48, 0..=6).prop_map(|cuts| {
            let cuts: Vec<u16> = cuts.into_iter().map(|c| c * 30).collect();
            cuts.chunks_exact(2)
                .map(|pair| Span {
                    start: pair[0],
                    end: pair[1],
                })
                .collect::<Vec<_>>()
        });
        let week = prop::collection::vec(day_hours, 7);
        let special = prop::collection::vec((0i64..730, any::<bool>()), 0..40);
        (zones, week, special).prop_map(|(zone, week, special)| {
            let week: [Vec<Span>; 7] = std::array::from_fn(|i| week[i].clone());
            let special: Vec<SpecialDay> = special
                .into_iter()
                .map(|(offset, holiday)| SpecialDay {
                    date: day("2026-01-01") + Duration::days(offset),
                    kind: if holiday {
                        DayKind::Holiday
                    } else {
                        DayKind::MakeupWorkday
                    },
                    name: String::new(),
                })
                .collect();
            Calendar::new(zone, week, &special)
        })
    }

    fn instants() -> impl Strategy<Value = DateTime<Utc>> {
        // 2026 and 2027, to the second.
        (1_767_225_600i64..1_830_297_600)
            .prop_map(|s| DateTime::from_timestamp(s, 0).unwrap_or_default())
    }

    fn pauses() -> impl Strategy<Value = Vec<(DateTime<Utc>, DateTime<Utc>)>> {
        prop::collection::vec((instants(), 0i64..7 * 24 * 60), 0..4).prop_map(|ps| {
            ps.into_iter()
                .map(|(from, minutes)| (from, from + Duration::minutes(minutes)))
                .collect()
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        #[test]
        fn adding_then_measuring_gives_the_amount_back(
            c in calendars(), start in instants(), minutes in 0i64..30 * 24 * 60, p in pauses()
        ) {
            let amount = Duration::minutes(minutes);
            if let Some(due) = c.add(start, amount) {
                prop_assert_eq!(c.between(start, due), amount);
            }
            if let Some(due) = c.add_paused(start, amount, &p) {
                prop_assert_eq!(c.between_paused(start, due, &p), amount);
            }
        }

        #[test]
        fn adding_is_monotonic(
            c in calendars(), start in instants(), later in 0i64..10 * 24 * 3600,
            a in 0i64..20 * 24 * 60, b in 0i64..20 * 24 * 60
        ) {
            let (small, big) = (Duration::minutes(a.min(b)), Duration::minutes(a.max(b)));
            if let (Some(x), Some(y)) = (c.add(start, small), c.add(start, big)) {
                prop_assert!(x <= y);
            }
            let second = start + Duration::seconds(later);
            if let (Some(x), Some(y)) = (c.add(start, small), c.add(second, small)) {
                prop_assert!(x <= y);
            }
        }

        #[test]
        fn pauses_never_shorten_a_target(
            c in calendars(), start in instants(), minutes in 1i64..20 * 24 * 60, p in pauses()
        ) {
            let amount = Duration::minutes(minutes);
            if let (Some(plain), Some(paused)) = (c.add(start, amount), c.add_paused(start, amount, &p)) {
                prop_assert!(paused >= plain);
            }
        }

        #[test]
        fn measuring_adds_up_over_a_midpoint(
            c in calendars(), a in instants(), b in instants(), m in instants()
        ) {
            prop_assert_eq!(c.between(a, b), c.between(a, m) + c.between(m, b));
        }
    }
}
