//! Calling windows: the wall-clock hours in which a campaign may dial, and the called
//! party's own local hours (US TCPA: 08:00–21:00 where the lead lives).
//!
//! Everything is decided in the wall-clock time of a time zone, because that is how the
//! rules are written ("weekdays 9 to 5 in Berlin"). Daylight saving makes the mapping
//! from wall clock to instants uneven: in a spring-forward gap some wall-clock minutes
//! never happen, and in a fall-back fold some happen twice. We keep one rule for both:
//! an instant is open when its wall-clock reading is inside a window. So a window that
//! starts inside a gap opens at the first instant after the gap that reads as inside it,
//! and a window covering the repeated hour is open during both passes of it.
//!
//! Time zones come from jiff's bundled copy of the IANA database, never from the host's
//! `/usr/share/zoneinfo`: looking one up does no I/O, and every host agrees.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use jiff::civil::{Date, DateTime, Time, Weekday};
use jiff::tz::{TimeZone, TimeZoneDatabase};
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

/// Minutes in a day; `24:00` is this many minutes.
const MINUTES_PER_DAY: u16 = 24 * 60;

/// Day names as written in a spec, Monday first (index = Monday-zero weekday).
const DAY_NAMES: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// How many local days ahead `next_open` and `next_close` look. A weekly schedule
/// repeats within 7 days; the second week covers a window swallowed by a DST gap.
const SEARCH_DAYS: u16 = 16;

/// How far ahead [`dial_time`] looks for an instant inside both sets of hours.
const DIAL_SEARCH_DAYS: i64 = 14;

/// Bound on [`dial_time`]'s alternating search; each step passes at least one boundary,
/// and two weeks of even a busy schedule have far fewer than this.
const DIAL_SEARCH_STEPS: usize = 400;

const EXPECTED_RANGE: &str = "expected HH:MM-HH:MM, such as 09:00-17:30";

/// Why a calling-window spec was refused; each names the offending key or value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WindowError {
    #[error(
        "unknown day `{part}` in `{key}`: expected mon, tue, wed, thu, fri, sat, sun, \
         a range such as mon-fri, a list such as sat,sun, or daily"
    )]
    UnknownDay { key: String, part: String },
    #[error("`{day}` is named twice, by `{first}` and by `{second}`")]
    DayTwice {
        day: &'static str,
        first: String,
        second: String,
    },
    #[error("`{day}` appears twice in `{key}`")]
    DayRepeated { day: &'static str, key: String },
    #[error("`{value}` under `{key}`: {reason}")]
    BadRange {
        key: String,
        value: String,
        reason: &'static str,
    },
    #[error("local hours `{value}`: {reason}")]
    BadHours { value: String, reason: &'static str },
    #[error(
        "minutes {from_min}-{to_min}: a range starts at 0–1439 and ends at 0–1440 \
         minutes after midnight"
    )]
    BadMinutes { from_min: u16, to_min: u16 },
}

/// A time zone name that is not in the IANA database.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown time zone `{0}`: expected an IANA name such as America/New_York or Europe/Berlin")]
pub struct UnknownTimeZone(pub String);

/// Looks up an IANA time zone (case-insensitively) in jiff's bundled database.
///
/// Not `jiff::tz::db()`: with jiff's default features that reads `$TZDIR` or
/// `/usr/share/zoneinfo`, which is I/O and differs between hosts.
pub fn time_zone(name: &str) -> Result<TimeZone, UnknownTimeZone> {
    TimeZoneDatabase::bundled()
        .get(name.trim())
        .ok()
        .filter(|tz| !tz.is_unknown())
        .ok_or_else(|| UnknownTimeZone(name.to_string()))
}

/// `start..end` in minutes after local midnight. When `end <= start` the range crosses
/// midnight and runs into the next day, so `22:00-02:00` is four hours and
/// `08:00-08:00` is a whole day from 08:00; `00:00-24:00` is one calendar day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MinuteRange {
    start: u16,
    end: u16,
}

impl MinuteRange {
    /// `start` in 0..1440, `end` in 0..=1440.
    pub fn new(start: u16, end: u16) -> Option<Self> {
        (start < MINUTES_PER_DAY && end <= MINUTES_PER_DAY).then_some(Self { start, end })
    }

    pub fn start(self) -> u16 {
        self.start
    }

    pub fn end(self) -> u16 {
        self.end
    }

    /// Whether the range runs past midnight into the next day.
    pub fn crosses_midnight(self) -> bool {
        self.end <= self.start
    }

    /// Parses `HH:MM-HH:MM`; the error is a reason to put after the offending text.
    fn parse(text: &str) -> Result<Self, &'static str> {
        let (from, to) = text.trim().split_once('-').ok_or(EXPECTED_RANGE)?;
        let start = parse_clock(from.trim())?;
        let end = parse_clock(to.trim())?;
        if start == MINUTES_PER_DAY {
            return Err("24:00 can only end a range");
        }
        Ok(Self { start, end })
    }
}

impl fmt::Display for MinuteRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (sh, sm) = (self.start / 60, self.start % 60);
        let (eh, em) = (self.end / 60, self.end % 60);
        write!(f, "{sh:02}:{sm:02}-{eh:02}:{em:02}")
    }
}

/// `H:MM` or `HH:MM` → minutes after midnight, `24:00` allowed.
fn parse_clock(text: &str) -> Result<u16, &'static str> {
    let (hours, minutes) = text.split_once(':').ok_or(EXPECTED_RANGE)?;
    let digits = |s: &str, max_len: usize| {
        !s.is_empty() && s.len() <= max_len && s.bytes().all(|b| b.is_ascii_digit())
    };
    if !digits(hours, 2) || !digits(minutes, 2) || minutes.len() != 2 {
        return Err(EXPECTED_RANGE);
    }
    let hours: u16 = hours.parse().map_err(|_| EXPECTED_RANGE)?;
    let minutes: u16 = minutes.parse().map_err(|_| EXPECTED_RANGE)?;
    if hours > 24 {
        return Err("hour must be 0–24");
    }
    if minutes > 59 {
        return Err("minutes must be 00–59");
    }
    if hours == 24 && minutes != 0 {
        return Err("24:00 is the latest time of day");
    }
    Ok(hours * 60 + minutes)
}

/// When a campaign may dial: per weekday, ranges of local wall-clock time.
///
/// A range belongs to the weekday it starts on; one crossing midnight opens the early
/// hours of the next day (`fri: ["22:00-02:00"]` makes Saturday 01:00 open). Days not
/// mentioned are closed. (De)serializes as a map of day selector → list of `HH:MM-HH:MM`,
/// e.g. `{"mon-fri": ["09:00-12:00", "13:00-17:00"], "sat": ["10:00-14:00"]}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    try_from = "BTreeMap<String, Vec<String>>",
    into = "BTreeMap<String, Vec<String>>"
)]
pub struct CallingWindows {
    /// As configured, by the weekday each range starts on (Monday first).
    days: [Vec<MinuteRange>; 7],
    /// Derived from `days`: per weekday, sorted disjoint `[start, end)` minutes that are
    /// open on that calendar day, with midnight crossings split across the two days.
    open: [Vec<(u16, u16)>; 7],
}

impl CallingWindows {
    /// Parses a spec: keys are day selectors (`mon`, `mon-fri`, `fri-mon`, `sat,sun`,
    /// `daily`), values lists of `HH:MM-HH:MM`. A day named by two keys is an error,
    /// because which of the two was meant cannot be guessed.
    pub fn parse(spec: &BTreeMap<String, Vec<String>>) -> Result<Self, WindowError> {
        let mut days: [Vec<MinuteRange>; 7] = Default::default();
        let mut named_by: [Option<&str>; 7] = [None; 7];
        for (key, values) in spec {
            let selected = parse_selector(key)?;
            let ranges = parse_ranges(key, values)?;
            for day in selected {
                if let Some(first) = named_by[day] {
                    return Err(WindowError::DayTwice {
                        day: DAY_NAMES[day],
                        first: first.to_string(),
                        second: key.clone(),
                    });
                }
                named_by[day] = Some(key);
                days[day] = ranges.clone();
            }
        }
        Ok(Self::from_days(days))
    }

    /// Open at every instant.
    pub fn always() -> Self {
        let whole_day = MinuteRange {
            start: 0,
            end: MINUTES_PER_DAY,
        };
        Self::from_days(std::array::from_fn(|_| vec![whole_day]))
    }

    /// The same range every day, in minutes after midnight (`end <= start` crosses it).
    pub fn daily(from_min: u16, to_min: u16) -> Result<Self, WindowError> {
        let range = MinuteRange::new(from_min, to_min)
            .ok_or(WindowError::BadMinutes { from_min, to_min })?;
        Ok(Self::from_days(std::array::from_fn(|_| vec![range])))
    }

    /// Builds from ranges per weekday they start on, Monday first.
    pub fn from_days(days: [Vec<MinuteRange>; 7]) -> Self {
        let open = open_minutes(&days);
        Self { days, open }
    }

    /// The ranges configured to start on `day`.
    pub fn ranges(&self, day: Weekday) -> &[MinuteRange] {
        &self.days[day_index(day)]
    }

    /// No window at all: the campaign can never dial.
    pub fn is_never(&self) -> bool {
        self.open.iter().all(Vec::is_empty)
    }

    /// Open around the clock every day.
    pub fn is_always(&self) -> bool {
        self.open
            .iter()
            .all(|day| day.as_slice() == [(0, MINUTES_PER_DAY)])
    }

    /// Whether `at`, read on the wall clock of `tz`, is inside a window.
    pub fn is_open(&self, at: Timestamp, tz: &TimeZone) -> bool {
        self.is_open_local(tz.to_datetime(at))
    }

    /// The earliest instant `>= at` that is open: `at` itself when open now; `None` when
    /// there is no window at all (or, pathologically, every window within two weeks
    /// falls inside DST gaps).
    pub fn next_open(&self, at: Timestamp, tz: &TimeZone) -> Option<Timestamp> {
        if self.is_open(at, tz) {
            return Some(at);
        }
        if self.is_never() {
            return None;
        }
        // Closed now, so the answer is where some open stretch begins: a window start
        // read on the wall clock, or a DST transition jumping the clock into a window.
        self.edge_instants(at, tz, Edge::Start)
            .into_iter()
            .find(|&t| self.is_open(t, tz))
    }

    /// When the window open at `at` closes: the earliest instant `> at` that is closed.
    /// `None` when closed at `at`, or when always open.
    pub fn next_close(&self, at: Timestamp, tz: &TimeZone) -> Option<Timestamp> {
        if !self.is_open(at, tz) || self.is_always() {
            return None;
        }
        self.edge_instants(at, tz, Edge::End)
            .into_iter()
            .find(|&t| !self.is_open(t, tz))
    }

    fn is_open_local(&self, local: DateTime) -> bool {
        let minute = local_minute_of_day(local);
        self.open[day_index(local.weekday())]
            .iter()
            .any(|&(start, end)| start <= minute && minute < end)
    }

    /// Every instant after `at` (within the search horizon) at which openness can change
    /// in the direction of `edge`, sorted: each window edge as the wall clock of `tz`
    /// reads it (both readings in a fold, both offsets' guesses in a gap), plus every
    /// transition of `tz`, where the wall clock jumps. Checking these in order against
    /// `is_open` finds the true next edge; spurious candidates are harmless.
    fn edge_instants(&self, at: Timestamp, tz: &TimeZone, edge: Edge) -> Vec<Timestamp> {
        let horizon = add_days(at, i64::from(SEARCH_DAYS) + 1);
        let mut found = Vec::new();
        let today = tz.to_datetime(at).date();
        let mut date = today.yesterday().unwrap_or(today);
        for _ in 0..=SEARCH_DAYS + 1 {
            for &(start, end) in &self.open[day_index(date.weekday())] {
                let minute = match edge {
                    Edge::Start => start,
                    Edge::End => end,
                };
                if let Some(local) = local_datetime(date, minute) {
                    let ambiguous = tz.to_ambiguous_timestamp(local);
                    found.extend(ambiguous.earlier().ok());
                    found.extend(ambiguous.later().ok());
                }
            }
            match date.tomorrow() {
                Ok(next) => date = next,
                Err(_) => break,
            }
        }
        found.extend(
            tz.following(at)
                .map(|transition| transition.timestamp())
                .take_while(|&t| t <= horizon),
        );
        found.retain(|&t| t > at);
        found.sort_unstable();
        found.dedup();
        found
    }

    /// The spec form, grouping days with identical ranges (`mon-fri`, `sat,sun`, `daily`).
    pub fn to_spec(&self) -> BTreeMap<String, Vec<String>> {
        let mut spec = BTreeMap::new();
        let mut done = [false; 7];
        for day in 0..7 {
            if done[day] || self.days[day].is_empty() {
                continue;
            }
            let same: Vec<usize> = (day..7)
                .filter(|&other| self.days[other] == self.days[day])
                .collect();
            for &other in &same {
                done[other] = true;
            }
            let ranges = self.days[day].iter().map(ToString::to_string).collect();
            spec.insert(selector_key(&same), ranges);
        }
        spec
    }
}

impl TryFrom<BTreeMap<String, Vec<String>>> for CallingWindows {
    type Error = WindowError;

    fn try_from(spec: BTreeMap<String, Vec<String>>) -> Result<Self, Self::Error> {
        Self::parse(&spec)
    }
}

impl From<CallingWindows> for BTreeMap<String, Vec<String>> {
    fn from(windows: CallingWindows) -> Self {
        windows.to_spec()
    }
}

#[derive(Clone, Copy)]
enum Edge {
    Start,
    End,
}

/// The called party's permitted local hours, e.g. `08:00-21:00` for US TCPA: one range
/// applied every day in the lead's own time zone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct LocalHours {
    range: MinuteRange,
    windows: CallingWindows,
}

impl LocalHours {
    /// `from_min..to_min` minutes after midnight; `to_min <= from_min` crosses midnight.
    pub fn new(from_min: u16, to_min: u16) -> Result<Self, WindowError> {
        let range = MinuteRange::new(from_min, to_min)
            .ok_or(WindowError::BadMinutes { from_min, to_min })?;
        Ok(Self::from_range(range))
    }

    /// Parses `HH:MM-HH:MM`.
    pub fn parse(text: &str) -> Result<Self, WindowError> {
        let range = MinuteRange::parse(text).map_err(|reason| WindowError::BadHours {
            value: text.to_string(),
            reason,
        })?;
        Ok(Self::from_range(range))
    }

    fn from_range(range: MinuteRange) -> Self {
        let windows = CallingWindows::from_days(std::array::from_fn(|_| vec![range]));
        Self { range, windows }
    }

    pub fn from_min(&self) -> u16 {
        self.range.start
    }

    pub fn to_min(&self) -> u16 {
        self.range.end
    }

    /// The same hours as calling windows, open every day.
    pub fn windows(&self) -> &CallingWindows {
        &self.windows
    }

    pub fn is_open(&self, at: Timestamp, tz: &TimeZone) -> bool {
        self.windows.is_open(at, tz)
    }

    pub fn next_open(&self, at: Timestamp, tz: &TimeZone) -> Option<Timestamp> {
        self.windows.next_open(at, tz)
    }

    pub fn next_close(&self, at: Timestamp, tz: &TimeZone) -> Option<Timestamp> {
        self.windows.next_close(at, tz)
    }
}

impl fmt::Display for LocalHours {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.range.fmt(f)
    }
}

impl FromStr for LocalHours {
    type Err = WindowError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::parse(text)
    }
}

impl TryFrom<String> for LocalHours {
    type Error = WindowError;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        Self::parse(&text)
    }
}

impl From<LocalHours> for String {
    fn from(hours: LocalHours) -> Self {
        hours.to_string()
    }
}

/// What the dialer should do with a lead at a given instant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DialTime {
    /// Both the campaign's windows and the lead's local hours are open.
    Now,
    /// Not now; this is the earliest instant at which both are open.
    Later(Timestamp),
    /// Not within the search horizon, with the reason for the lead's record.
    Never(String),
}

/// Decides when a lead may be called: inside the campaign's windows (in the campaign's
/// zone) and, when `lead` is given, inside the lead's local hours in the lead's zone.
///
/// `lead = Some((hours, None))` means local hours are required but the lead's zone is
/// unknown; we fail closed rather than guess, since calling at 03:00 local is the
/// worse mistake.
pub fn dial_time(
    at: Timestamp,
    windows: &CallingWindows,
    campaign_tz: &TimeZone,
    lead: Option<(&LocalHours, Option<&TimeZone>)>,
) -> DialTime {
    let Some((hours, lead_tz)) = lead else {
        return match windows.next_open(at, campaign_tz) {
            Some(t) => now_or_later(at, t),
            None => DialTime::Never(never_open_reason()),
        };
    };
    let Some(lead_tz) = lead_tz else {
        return DialTime::Never(format!(
            "the lead's time zone is unknown, and calls must stay inside its local hours \
             ({hours}); not calling rather than guessing"
        ));
    };
    earliest_in_both(at, windows, campaign_tz, hours, lead_tz)
}

/// Alternates the two `next_open`s until they agree. Each answer is at most the earliest
/// common instant (it is open in both and no earlier than the cursor), so the first
/// agreement is the earliest.
fn earliest_in_both(
    at: Timestamp,
    windows: &CallingWindows,
    campaign_tz: &TimeZone,
    hours: &LocalHours,
    lead_tz: &TimeZone,
) -> DialTime {
    let horizon = add_days(at, DIAL_SEARCH_DAYS);
    let mut cursor = at;
    for _ in 0..DIAL_SEARCH_STEPS {
        let Some(campaign_open) = windows.next_open(cursor, campaign_tz) else {
            return DialTime::Never(never_open_reason());
        };
        if campaign_open > horizon {
            break;
        }
        let Some(lead_open) = hours.next_open(campaign_open, lead_tz) else {
            break;
        };
        if lead_open == campaign_open {
            return now_or_later(at, lead_open);
        }
        if lead_open > horizon {
            break;
        }
        cursor = lead_open;
    }
    DialTime::Never(format!(
        "no instant in the next {DIAL_SEARCH_DAYS} days is inside both the campaign's \
         calling windows and the lead's local hours ({hours})"
    ))
}

fn now_or_later(at: Timestamp, open: Timestamp) -> DialTime {
    if open == at {
        DialTime::Now
    } else {
        DialTime::Later(open)
    }
}

fn never_open_reason() -> String {
    "the campaign's calling windows are never open".to_string()
}

/// Splits each range onto the calendar days it covers, then merges per day.
fn open_minutes(days: &[Vec<MinuteRange>; 7]) -> [Vec<(u16, u16)>; 7] {
    let mut open: [Vec<(u16, u16)>; 7] = Default::default();
    for (day, ranges) in days.iter().enumerate() {
        for range in ranges {
            if !range.crosses_midnight() {
                open[day].push((range.start, range.end));
                continue;
            }
            open[day].push((range.start, MINUTES_PER_DAY));
            if range.end > 0 {
                open[(day + 1) % 7].push((0, range.end));
            }
        }
    }
    for intervals in &mut open {
        merge(intervals);
    }
    open
}

fn merge(intervals: &mut Vec<(u16, u16)>) {
    intervals.sort_unstable();
    let mut merged: Vec<(u16, u16)> = Vec::with_capacity(intervals.len());
    for &(start, end) in intervals.iter() {
        match merged.last_mut() {
            Some(last) if start <= last.1 => last.1 = last.1.max(end),
            _ => merged.push((start, end)),
        }
    }
    *intervals = merged;
}

fn parse_ranges(key: &str, values: &[String]) -> Result<Vec<MinuteRange>, WindowError> {
    values
        .iter()
        .map(|value| {
            MinuteRange::parse(value).map_err(|reason| WindowError::BadRange {
                key: key.to_string(),
                value: value.clone(),
                reason,
            })
        })
        .collect()
}

/// A day selector → the Monday-zero days it names, each once.
fn parse_selector(key: &str) -> Result<Vec<usize>, WindowError> {
    let mut days = Vec::new();
    for part in key.split(',') {
        let named = parse_selector_part(part.trim()).map_err(|bad| WindowError::UnknownDay {
            key: key.to_string(),
            part: bad.to_string(),
        })?;
        for day in named {
            if days.contains(&day) {
                return Err(WindowError::DayRepeated {
                    day: DAY_NAMES[day],
                    key: key.to_string(),
                });
            }
            days.push(day);
        }
    }
    Ok(days)
}

/// `daily`, a day, or a range of days that may wrap (`fri-mon`); the error is the
/// word that is not a day.
fn parse_selector_part(part: &str) -> Result<Vec<usize>, &str> {
    if part.eq_ignore_ascii_case("daily") {
        return Ok((0..7).collect());
    }
    if let Some((first, last)) = part.split_once('-') {
        let (first, last) = (first.trim(), last.trim());
        let first = day_named(first).ok_or(first)?;
        let last = day_named(last).ok_or(last)?;
        let len = (last + 7 - first) % 7 + 1;
        return Ok((0..len).map(|i| (first + i) % 7).collect());
    }
    day_named(part).map(|day| vec![day]).ok_or(part)
}

fn day_named(name: &str) -> Option<usize> {
    const LONG: [&str; 7] = [
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
        "sunday",
    ];
    (0..7).find(|&day| {
        name.eq_ignore_ascii_case(DAY_NAMES[day]) || name.eq_ignore_ascii_case(LONG[day])
    })
}

/// The shortest selector for sorted Monday-zero days: `daily`, `mon-fri`, `sat,sun`.
fn selector_key(days: &[usize]) -> String {
    if days.len() == 7 {
        return "daily".to_string();
    }
    let mut parts = Vec::new();
    let mut i = 0;
    while i < days.len() {
        let mut j = i;
        while j + 1 < days.len() && days[j + 1] == days[j] + 1 {
            j += 1;
        }
        if j - i >= 2 {
            parts.push(format!("{}-{}", DAY_NAMES[days[i]], DAY_NAMES[days[j]]));
        } else {
            parts.extend(days[i..=j].iter().map(|&day| DAY_NAMES[day].to_string()));
        }
        i = j + 1;
    }
    parts.join(",")
}

fn day_index(day: Weekday) -> usize {
    match day {
        Weekday::Monday => 0,
        Weekday::Tuesday => 1,
        Weekday::Wednesday => 2,
        Weekday::Thursday => 3,
        Weekday::Friday => 4,
        Weekday::Saturday => 5,
        Weekday::Sunday => 6,
    }
}

fn local_minute_of_day(local: DateTime) -> u16 {
    // jiff guarantees hour 0..=23 and minute 0..=59.
    let hour = u16::try_from(local.hour()).unwrap_or(0);
    let minute = u16::try_from(local.minute()).unwrap_or(0);
    hour * 60 + minute
}

/// `minute` after the midnight starting `date`; 1440 is the next day's midnight.
fn local_datetime(date: Date, minute: u16) -> Option<DateTime> {
    let (date, minute) = if minute >= MINUTES_PER_DAY {
        (date.tomorrow().ok()?, minute - MINUTES_PER_DAY)
    } else {
        (date, minute)
    };
    let hour = i8::try_from(minute / 60).ok()?;
    let minute = i8::try_from(minute % 60).ok()?;
    let time = Time::new(hour, minute, 0, 0).ok()?;
    Some(date.to_datetime(time))
}

fn add_days(at: Timestamp, days: i64) -> Timestamp {
    at.checked_add(SignedDuration::from_hours(24 * days))
        .unwrap_or(Timestamp::MAX)
}
