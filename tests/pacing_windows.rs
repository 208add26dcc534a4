//! Campaign policy: calling windows across midnight and DST, the combined dial-time
//! decision, and pacing limits under random traffic and distress.

use std::collections::BTreeMap;

use dialflow::core::campaign::pacing::{
    Allowance, Distress, HEALTHY_ERROR_RATIO, HEALTHY_PROMPT_STRETCH_MS, Pacer, PacingLimits,
    SEVERE_ERROR_RATIO, SEVERE_EVENT_LAG_MS, SEVERE_PROMPT_STRETCH_MS, SEVERE_QUEUE_WAIT_MS,
    SEVERE_REST_LATENCY_MS, Signal, Smoothing, assess, distress_factor,
};
use dialflow::core::campaign::window::{
    CallingWindows, DialTime, LocalHours, MinuteRange, WindowError, dial_time, time_zone,
};
use jiff::civil::Weekday;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use proptest::prelude::*;

// ---------------------------------------------------------------- helpers

fn spec(entries: &[(&str, &[&str])]) -> BTreeMap<String, Vec<String>> {
    entries
        .iter()
        .map(|(key, values)| {
            let values = values.iter().map(|v| v.to_string()).collect();
            (key.to_string(), values)
        })
        .collect()
}

fn windows(entries: &[(&str, &[&str])]) -> CallingWindows {
    CallingWindows::parse(&spec(entries)).expect("valid spec")
}

fn tz(name: &str) -> TimeZone {
    time_zone(name).expect("known zone")
}

/// An instant from an RFC 3339 string with offset, e.g. `2026-03-08T01:59:00-05:00`.
fn ts(text: &str) -> Timestamp {
    text.parse().expect("valid timestamp")
}

fn minutes(n: i64) -> SignedDuration {
    SignedDuration::from_mins(n)
}

fn parse_error(entries: &[(&str, &[&str])]) -> String {
    CallingWindows::parse(&spec(entries))
        .expect_err("invalid spec")
        .to_string()
}

// ---------------------------------------------------------------- parsing

#[test]
fn day_selectors_name_the_right_days() {
    let w = windows(&[
        ("mon-wed", &["09:00-17:00"]),
        ("fri-sun", &["10:00-12:00"]),
        ("thu", &["08:00-09:00", "13:00-14:00"]),
    ]);
    let nine_to_five = MinuteRange::new(9 * 60, 17 * 60).unwrap();
    assert_eq!(w.ranges(Weekday::Monday), &[nine_to_five]);
    assert_eq!(w.ranges(Weekday::Wednesday), &[nine_to_five]);
    assert_eq!(w.ranges(Weekday::Thursday).len(), 2);
    assert_eq!(w.ranges(Weekday::Sunday).len(), 1);

    let wrapping = windows(&[("fri-mon", &["10:00-11:00"])]);
    for day in [
        Weekday::Friday,
        Weekday::Saturday,
        Weekday::Sunday,
        Weekday::Monday,
    ] {
        assert_eq!(wrapping.ranges(day).len(), 1, "{day:?}");
    }
    assert!(wrapping.ranges(Weekday::Tuesday).is_empty());

    let weekend = windows(&[("sat, Sun", &["10:00-11:00"])]);
    assert!(weekend.ranges(Weekday::Friday).is_empty());
    assert_eq!(weekend.ranges(Weekday::Sunday).len(), 1);

    let daily = windows(&[("daily", &["00:00-24:00"])]);
    assert!(daily.is_always());
    assert_eq!(daily, CallingWindows::always());
}

#[test]
fn bad_specs_are_refused_naming_the_key_or_value() {
    assert_eq!(
        parse_error(&[("mon", &["25:00-26:00"])]),
        "`25:00-26:00` under `mon`: hour must be 0–24"
    );
    assert_eq!(
        parse_error(&[("tue", &["09:60-10:00"])]),
        "`09:60-10:00` under `tue`: minutes must be 00–59"
    );
    assert_eq!(
        parse_error(&[("tue", &["9-17"])]),
        "`9-17` under `tue`: expected HH:MM-HH:MM, such as 09:00-17:30"
    );
    assert_eq!(
        parse_error(&[("tue", &["24:00-02:00"])]),
        "`24:00-02:00` under `tue`: 24:00 can only end a range"
    );
    assert!(
        parse_error(&[("mon-fry", &["09:00-10:00"])])
            .starts_with("unknown day `fry` in `mon-fry`:")
    );
    assert!(parse_error(&[("weekdays", &["09:00-10:00"])]).contains("`weekdays`"));
    assert_eq!(
        parse_error(&[("mon-fri", &["09:00-10:00"]), ("wed", &["11:00-12:00"])]),
        "`wed` is named twice, by `mon-fri` and by `wed`"
    );
    assert_eq!(
        parse_error(&[("mon-fri,tue", &["09:00-10:00"])]),
        "`tue` appears twice in `mon-fri,tue`"
    );
    assert!(matches!(
        CallingWindows::daily(1440, 10),
        Err(WindowError::BadMinutes { .. })
    ));
    assert_eq!(
        LocalHours::parse("8-21").unwrap_err().to_string(),
        "local hours `8-21`: expected HH:MM-HH:MM, such as 09:00-17:30"
    );
}

#[test]
fn unknown_time_zone_is_named() {
    assert!(time_zone("America/New_York").is_ok());
    assert!(time_zone("europe/berlin").is_ok());
    let err = time_zone("Mars/Olympus_Mons").unwrap_err();
    assert!(err.to_string().contains("`Mars/Olympus_Mons`"), "{err}");
    assert!(time_zone("Etc/Unknown").is_err());
}

#[test]
fn windows_round_trip_through_json_and_read_yaml() {
    let w = windows(&[
        ("mon-fri", &["09:00-12:00", "13:00-17:30"]),
        ("sat", &["22:00-02:00"]),
        ("sun", &["10:00-24:00"]),
    ]);
    let json = serde_json::to_string(&w).unwrap();
    assert_eq!(
        json,
        r#"{"mon-fri":["09:00-12:00","13:00-17:30"],"sat":["22:00-02:00"],"sun":["10:00-24:00"]}"#
    );
    let back: CallingWindows = serde_json::from_str(&json).unwrap();
    assert_eq!(back, w);

    let yaml =
        "mon-fri: ['09:00-12:00', '13:00-17:30']\nsat: ['22:00-02:00']\nsun: ['10:00-24:00']\n";
    let from_yaml: CallingWindows = serde_saphyr::from_str(yaml).unwrap();
    assert_eq!(from_yaml, w);
    let unquoted =
        "mon-fri:\n  - 09:00-12:00\n  - 13:00-17:30\nsat: [22:00-02:00]\nsun:\n  - 10:00-24:00\n";
    let from_unquoted: CallingWindows = serde_saphyr::from_str(unquoted).unwrap();
    assert_eq!(from_unquoted, w);

    let bad = serde_json::from_str::<CallingWindows>(r#"{"mon":["25:00-26:00"]}"#);
    assert!(bad.unwrap_err().to_string().contains("hour must be 0–24"));

    let hours = LocalHours::parse("08:00-21:00").unwrap();
    assert_eq!((hours.from_min(), hours.to_min()), (480, 1260));
    assert_eq!(serde_json::to_string(&hours).unwrap(), r#""08:00-21:00""#);
    let back: LocalHours = serde_json::from_str(r#""08:00-21:00""#).unwrap();
    assert_eq!(back, hours);
}

#[test]
fn spec_groups_identical_days() {
    let w = windows(&[
        ("mon", &["09:00-17:00"]),
        ("tue", &["09:00-17:00"]),
        ("wed", &["09:00-17:00"]),
        ("sat", &["10:00-11:00"]),
        ("sun", &["10:00-11:00"]),
        ("fri", &["09:00-17:00"]),
    ]);
    let keys: Vec<String> = w.to_spec().into_keys().collect();
    assert_eq!(keys, ["mon-wed,fri", "sat,sun"]);
    assert_eq!(CallingWindows::parse(&w.to_spec()).unwrap(), w);
    let always: Vec<String> = CallingWindows::always().to_spec().into_keys().collect();
    assert_eq!(always, ["daily"]);
}

// ---------------------------------------------------------------- windows in time

#[test]
fn range_crossing_midnight_belongs_to_the_day_it_starts_on() {
    let utc = TimeZone::UTC;
    let w = windows(&[("fri", &["22:00-02:00"])]);
    // 2026-06-05 is a Friday.
    assert!(!w.is_open(ts("2026-06-05T01:00:00Z"), &utc), "Friday 01:00");
    assert!(w.is_open(ts("2026-06-05T22:00:00Z"), &utc), "Friday 22:00");
    assert!(
        w.is_open(ts("2026-06-06T01:00:00Z"), &utc),
        "Saturday 01:00"
    );
    assert!(
        w.is_open(ts("2026-06-06T01:59:59Z"), &utc),
        "Saturday 01:59:59"
    );
    assert!(
        !w.is_open(ts("2026-06-06T02:00:00Z"), &utc),
        "Saturday 02:00"
    );
    assert!(
        !w.is_open(ts("2026-06-06T22:30:00Z"), &utc),
        "Saturday 22:30"
    );
    assert_eq!(
        w.next_close(ts("2026-06-05T23:00:00Z"), &utc),
        Some(ts("2026-06-06T02:00:00Z"))
    );
    assert_eq!(
        w.next_open(ts("2026-06-06T02:00:00Z"), &utc),
        Some(ts("2026-06-12T22:00:00Z"))
    );

    let sunday_night = windows(&[("sun", &["23:00-01:00"])]);
    assert!(
        sunday_night.is_open(ts("2026-06-08T00:30:00Z"), &utc),
        "Monday 00:30"
    );
}

#[test]
fn next_open_and_close_on_ordinary_days() {
    let berlin = tz("Europe/Berlin");
    let w = windows(&[("mon-fri", &["09:00-12:00", "13:00-17:00"])]);
    // Monday 2026-06-01, Berlin is UTC+2.
    let monday_8 = ts("2026-06-01T08:00:00+02:00");
    assert_eq!(
        w.next_open(monday_8, &berlin),
        Some(ts("2026-06-01T09:00:00+02:00"))
    );
    let monday_10 = ts("2026-06-01T10:00:00+02:00");
    assert_eq!(w.next_open(monday_10, &berlin), Some(monday_10));
    assert_eq!(
        w.next_close(monday_10, &berlin),
        Some(ts("2026-06-01T12:00:00+02:00"))
    );
    assert_eq!(w.next_close(monday_8, &berlin), None);
    let lunch = ts("2026-06-01T12:30:00+02:00");
    assert_eq!(
        w.next_open(lunch, &berlin),
        Some(ts("2026-06-01T13:00:00+02:00"))
    );
    let friday_evening = ts("2026-06-05T18:00:00+02:00");
    assert_eq!(
        w.next_open(friday_evening, &berlin),
        Some(ts("2026-06-08T09:00:00+02:00"))
    );

    let never = CallingWindows::parse(&BTreeMap::new()).unwrap();
    assert!(never.is_never());
    assert_eq!(never.next_open(monday_8, &berlin), None);
    assert_eq!(CallingWindows::always().next_close(monday_8, &berlin), None);
}

#[test]
fn new_york_spring_forward_opens_after_the_gap() {
    // 2026-03-08: 02:00 EST jumps to 03:00 EDT at 07:00Z.
    let ny = tz("America/New_York");
    let midnight = ts("2026-03-08T00:00:00-05:00");

    let straddling = CallingWindows::daily(150, 240).unwrap(); // 02:30-04:00
    assert_eq!(
        straddling.next_open(midnight, &ny),
        Some(ts("2026-03-08T07:00:00Z"))
    );
    assert_eq!(
        straddling.next_close(ts("2026-03-08T07:00:00Z"), &ny),
        Some(ts("2026-03-08T04:00:00-04:00"))
    );

    // 02:00-02:30 never happens that Sunday: the next one is a week later.
    let swallowed = windows(&[("sun", &["02:00-02:30"])]);
    assert_eq!(
        swallowed.next_open(midnight, &ny),
        Some(ts("2026-03-15T02:00:00-04:00"))
    );

    // A window ending inside the gap closes at the jump.
    let ending_in_gap = CallingWindows::daily(60, 150).unwrap(); // 01:00-02:30
    assert_eq!(
        ending_in_gap.next_close(ts("2026-03-08T01:30:00-05:00"), &ny),
        Some(ts("2026-03-08T07:00:00Z"))
    );
}

#[test]
fn new_york_fall_back_repeats_the_hour() {
    // 2026-11-01: 02:00 EDT falls back to 01:00 EST at 06:00Z; 01:xx happens twice.
    let ny = tz("America/New_York");
    let w = CallingWindows::daily(60, 90); // 01:00-01:30
    let w = w.unwrap();
    let midnight = ts("2026-11-01T00:00:00-04:00");
    let first = ts("2026-11-01T01:00:00-04:00");
    let second = ts("2026-11-01T01:00:00-05:00");
    assert_eq!(w.next_open(midnight, &ny), Some(first));
    assert_eq!(
        w.next_close(first, &ny),
        Some(ts("2026-11-01T01:30:00-04:00"))
    );
    assert_eq!(
        w.next_open(ts("2026-11-01T01:30:00-04:00"), &ny),
        Some(second)
    );
    assert_eq!(
        w.next_close(second, &ny),
        Some(ts("2026-11-01T01:30:00-05:00"))
    );

    // A window covering the whole repeated hour stays open through both passes.
    let through = CallingWindows::daily(30, 180).unwrap(); // 00:30-03:00
    let inside = ts("2026-11-01T01:45:00-04:00");
    assert!(through.is_open(inside, &ny));
    assert_eq!(
        through.next_close(inside, &ny),
        Some(ts("2026-11-01T03:00:00-05:00"))
    );

    // One starting inside it is left when the clock jumps back, and entered again.
    let late = CallingWindows::daily(90, 180).unwrap(); // 01:30-03:00
    assert!(late.is_open(inside, &ny));
    assert_eq!(
        late.next_close(inside, &ny),
        Some(ts("2026-11-01T06:00:00Z"))
    );
    assert!(!late.is_open(ts("2026-11-01T01:15:00-05:00"), &ny));
    assert_eq!(
        late.next_open(ts("2026-11-01T06:00:00Z"), &ny),
        Some(ts("2026-11-01T01:30:00-05:00"))
    );

    // The clock jumping back into a window opens it at the transition.
    let early = CallingWindows::daily(30, 75).unwrap(); // 00:30-01:15
    assert_eq!(
        early.next_open(ts("2026-11-01T01:20:00-04:00"), &ny),
        Some(ts("2026-11-01T06:00:00Z"))
    );
}

#[test]
fn berlin_dst_changes() {
    let berlin = tz("Europe/Berlin");
    // 2026-03-29: 02:00 CET jumps to 03:00 CEST at 01:00Z.
    let gap_only = CallingWindows::daily(135, 165).unwrap(); // 02:15-02:45
    assert_eq!(
        gap_only.next_open(ts("2026-03-29T00:00:00+01:00"), &berlin),
        Some(ts("2026-03-30T02:15:00+02:00"))
    );
    let straddling = CallingWindows::daily(150, 300).unwrap(); // 02:30-05:00
    assert_eq!(
        straddling.next_open(ts("2026-03-29T00:00:00+01:00"), &berlin),
        Some(ts("2026-03-29T01:00:00Z"))
    );
    // 2026-10-25: 03:00 CEST falls back to 02:00 CET at 01:00Z.
    let repeated = CallingWindows::daily(120, 150).unwrap(); // 02:00-02:30
    let first = ts("2026-10-25T02:00:00+02:00");
    assert_eq!(
        repeated.next_open(ts("2026-10-25T00:00:00+02:00"), &berlin),
        Some(first)
    );
    assert_eq!(
        repeated.next_open(ts("2026-10-25T02:30:00+02:00"), &berlin),
        Some(ts("2026-10-25T02:00:00+01:00"))
    );
}

// ---------------------------------------------------------------- dial time

fn tcpa() -> LocalHours {
    LocalHours::parse("08:00-21:00").unwrap()
}

#[test]
fn unknown_lead_time_zone_fails_closed() {
    let w = CallingWindows::always();
    let hours = tcpa();
    let decision = dial_time(
        ts("2026-06-01T15:00:00Z"),
        &w,
        &TimeZone::UTC,
        Some((&hours, None)),
    );
    let DialTime::Never(reason) = decision else {
        panic!("expected Never, got {decision:?}");
    };
    assert!(
        reason.starts_with("the lead's time zone is unknown"),
        "{reason}"
    );
}

#[test]
fn us_local_hours_with_a_campaign_in_berlin() {
    let berlin = tz("Europe/Berlin");
    let ny = tz("America/New_York");
    let la = tz("America/Los_Angeles");
    let w = windows(&[("mon-fri", &["09:00-20:00"])]);
    let hours = tcpa();
    let lead_ny = Some((&hours, Some(&ny)));

    // Monday 10:00 Berlin is 04:00 in New York: wait for 08:00 there, 14:00 Berlin.
    let monday_10 = ts("2026-06-01T10:00:00+02:00");
    assert_eq!(
        dial_time(monday_10, &w, &berlin, lead_ny),
        DialTime::Later(ts("2026-06-01T08:00:00-04:00"))
    );
    let monday_1930 = ts("2026-06-01T19:30:00+02:00");
    assert_eq!(dial_time(monday_1930, &w, &berlin, lead_ny), DialTime::Now);
    // Los Angeles opens at 17:00 Berlin.
    assert_eq!(
        dial_time(monday_10, &w, &berlin, Some((&hours, Some(&la)))),
        DialTime::Later(ts("2026-06-01T08:00:00-07:00"))
    );
    // Friday after the campaign closes: Monday 09:00 Berlin is 03:00 in New York.
    let friday_late = ts("2026-06-05T20:30:00+02:00");
    assert_eq!(
        dial_time(friday_late, &w, &berlin, lead_ny),
        DialTime::Later(ts("2026-06-08T08:00:00-04:00"))
    );
    // Without local hours only the campaign's windows count.
    assert_eq!(
        dial_time(friday_late, &w, &berlin, None),
        DialTime::Later(ts("2026-06-08T09:00:00+02:00"))
    );
}

#[test]
fn dial_time_never_when_the_hours_do_not_meet() {
    let berlin = tz("Europe/Berlin");
    let honolulu = tz("Pacific/Honolulu");
    // Berlin mornings are Honolulu's night, all year.
    let w = windows(&[("mon-fri", &["09:00-12:00"])]);
    let hours = tcpa();
    let decision = dial_time(
        ts("2026-06-01T10:00:00+02:00"),
        &w,
        &berlin,
        Some((&hours, Some(&honolulu))),
    );
    let DialTime::Never(reason) = decision else {
        panic!("expected Never, got {decision:?}");
    };
    assert!(
        reason.starts_with("no instant in the next 14 days"),
        "{reason}"
    );

    let never = CallingWindows::parse(&BTreeMap::new()).unwrap();
    assert!(matches!(
        dial_time(ts("2026-06-01T10:00:00Z"), &never, &berlin, None),
        DialTime::Never(_)
    ));
}

// ---------------------------------------------------------------- window properties

const ZONES: [&str; 5] = [
    "UTC",
    "America/New_York",
    "Europe/Berlin",
    "Australia/Lord_Howe",
    "Asia/Kathmandu",
];

fn arb_range() -> impl Strategy<Value = String> {
    // Quarter hours keep ranges short enough to hit DST hours often.
    (0u16..96, 0u16..=96)
        .prop_map(|(start, end)| MinuteRange::new(start * 15, end * 15).unwrap().to_string())
}

fn arb_windows() -> impl Strategy<Value = CallingWindows> {
    prop::collection::vec(prop::collection::vec(arb_range(), 0..3), 7).prop_map(|days| {
        let names = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
        let spec = names
            .iter()
            .zip(days)
            .map(|(name, ranges)| (name.to_string(), ranges))
            .collect();
        CallingWindows::parse(&spec).unwrap()
    })
}

/// DST changes in 2026: (zone, instant of the change).
const DST_CHANGES: [(&str, &str); 6] = [
    ("America/New_York", "2026-03-08T07:00:00Z"),
    ("America/New_York", "2026-11-01T06:00:00Z"),
    ("Europe/Berlin", "2026-03-29T01:00:00Z"),
    ("Europe/Berlin", "2026-10-25T01:00:00Z"),
    ("Australia/Lord_Howe", "2026-04-04T15:00:00Z"),
    ("Australia/Lord_Howe", "2026-10-03T15:30:00Z"),
];

/// Seconds from 2025 to 2028, plus instants within two days of a DST change.
fn arb_instant() -> impl Strategy<Value = Timestamp> {
    prop_oneof![
        (1_735_689_600i64..1_830_297_600).prop_map(|s| Timestamp::from_second(s).unwrap()),
        (0..DST_CHANGES.len(), -2 * 86_400i64..2 * 86_400)
            .prop_map(|(i, offset)| { ts(DST_CHANGES[i].1) + SignedDuration::from_secs(offset) }),
    ]
}

/// No sampled minute in `(from, until)` satisfies `open`.
fn closed_between(from: Timestamp, until: Timestamp, open: impl Fn(Timestamp) -> bool) -> bool {
    let mut t = from + minutes(1);
    while t < until {
        if open(t) {
            return false;
        }
        t += minutes(1);
    }
    true
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn next_open_is_open_and_nothing_earlier_is(
        w in arb_windows(), zone in 0..ZONES.len(), at in arb_instant()
    ) {
        let zone = tz(ZONES[zone]);
        match w.next_open(at, &zone) {
            Some(open) => {
                prop_assert!(open >= at);
                prop_assert!(w.is_open(open, &zone));
                prop_assert_eq!(open == at, w.is_open(at, &zone));
                prop_assert!(closed_between(at, open, |t| w.is_open(t, &zone)));
            }
            None => prop_assert!(w.is_never()),
        }
    }

    #[test]
    fn next_close_is_closed_and_everything_before_is_open(
        w in arb_windows(), zone in 0..ZONES.len(), at in arb_instant()
    ) {
        let zone = tz(ZONES[zone]);
        let open_now = w.is_open(at, &zone);
        match w.next_close(at, &zone) {
            Some(close) => {
                prop_assert!(open_now);
                prop_assert!(close > at);
                prop_assert!(!w.is_open(close, &zone));
                prop_assert!(closed_between(at, close, |t| !w.is_open(t, &zone)));
            }
            None => prop_assert!(!open_now || w.is_always()),
        }
    }

    #[test]
    fn dial_time_later_is_the_first_instant_open_for_both(
        w in arb_windows(),
        campaign_zone in 0..ZONES.len(),
        lead_zone in 0..ZONES.len(),
        hours in (0u16..96, 0u16..=96),
        at in arb_instant(),
    ) {
        let campaign_tz = tz(ZONES[campaign_zone]);
        let lead_tz = tz(ZONES[lead_zone]);
        let hours = LocalHours::new(hours.0 * 15, hours.1 * 15).unwrap();
        let both = |t| w.is_open(t, &campaign_tz) && hours.is_open(t, &lead_tz);
        match dial_time(at, &w, &campaign_tz, Some((&hours, Some(&lead_tz)))) {
            DialTime::Now => prop_assert!(both(at)),
            DialTime::Later(t) => {
                prop_assert!(t > at);
                prop_assert!(both(t));
                prop_assert!(!both(at));
                prop_assert!(closed_between(at, t, both));
            }
            DialTime::Never(_) => {
                let two_weeks = at + SignedDuration::from_hours(14 * 24);
                prop_assert!(!both(at));
                prop_assert!(closed_between(at, two_weeks, both));
            }
        }
    }

    #[test]
    fn around_dst_changes_next_open_and_close_are_exact(
        start in 0u16..20,
        length in 1u16..16,
        transition in 0..DST_CHANGES.len(),
        offset_min in -600i64..600,
    ) {
        // Windows of quarter hours between 00:00 and 08:00, the hours DST moves.
        let (zone, instant) = DST_CHANGES[transition];
        let zone = tz(zone);
        let w = CallingWindows::daily(start * 15, (start + length) * 15).unwrap();
        let at = ts(instant) + minutes(offset_min);
        let open = w.next_open(at, &zone).unwrap();
        prop_assert!(w.is_open(open, &zone));
        prop_assert!(closed_between(at, open, |t| w.is_open(t, &zone)));
        let close = w.next_close(open, &zone).unwrap();
        prop_assert!(close > open && !w.is_open(close, &zone));
        prop_assert!(closed_between(open, close, |t| !w.is_open(t, &zone)));
    }

    #[test]
    fn windows_round_trip_through_json(w in arb_windows()) {
        let json = serde_json::to_string(&w).unwrap();
        let back: CallingWindows = serde_json::from_str(&json).unwrap();
        prop_assert_eq!(back, w);
    }
}

// ---------------------------------------------------------------- pacing

#[test]
fn distress_factor_thresholds() {
    assert_eq!(distress_factor(&Distress::default()), 1.0);
    let healthy = Distress {
        event_lag_ms: 199,
        rest_latency_ms: 249,
        queue_wait_ms: 100,
        error_ratio: HEALTHY_ERROR_RATIO,
        prompt_stretch_ms: HEALTHY_PROMPT_STRETCH_MS,
        recent_event_lag_ms: 5_000,
    };
    assert_eq!(distress_factor(&healthy), 1.0);
    let lagging = Distress {
        event_lag_ms: SEVERE_EVENT_LAG_MS,
        ..Distress::default()
    };
    assert_eq!(distress_factor(&lagging), 0.0);
    let half = Distress {
        event_lag_ms: 1_100,
        ..Distress::default()
    };
    assert!((distress_factor(&half) - 0.5).abs() < 1e-9);
    let failing = Distress {
        error_ratio: 0.5,
        ..Distress::default()
    };
    assert_eq!(distress_factor(&failing), 0.0);
    let slow_rest = Distress {
        rest_latency_ms: 5_000,
        ..Distress::default()
    };
    assert_eq!(distress_factor(&slow_rest), 0.0);
    let queued = Distress {
        queue_wait_ms: 550,
        ..Distress::default()
    };
    assert!((distress_factor(&queued) - 0.5).abs() < 1e-9);
    let unknown = Distress {
        error_ratio: f64::NAN,
        ..Distress::default()
    };
    assert_eq!(distress_factor(&unknown), 0.0);
}

#[test]
fn pacer_spreads_starts_over_seconds() {
    let mut pacer = Pacer::new(PacingLimits {
        max_concurrent: 100,
        max_per_second: 3.0,
        min_interval_ms: 0,
    });
    let healthy = Distress::default();
    // 3 a second, a tenth of a second's worth at once: one at a time, 333.334 ms apart.
    assert_eq!(pacer.allowance(0, 0, &healthy).start, 1);
    pacer.started(0);
    let spaced = pacer.allowance(100, 1, &healthy);
    assert_eq!(spaced.start, 0);
    assert_eq!(spaced.next_check_ms, Some(334));
    assert_eq!(pacer.allowance(334, 1, &healthy).start, 1);
    pacer.started(334);
    pacer.started(668);
    // The sliding second holds three starts: the next waits for the first to leave it
    // (at 1,000), and for its spacing (1,001.668).
    let full = pacer.allowance(900, 3, &healthy);
    assert_eq!(full.start, 0);
    assert_eq!(full.next_check_ms, Some(1_002));
    assert_eq!(pacer.allowance(1_002, 3, &healthy).start, 1);
    // A quiet spell does not bank a burst beyond one start.
    assert_eq!(pacer.allowance(10_000, 3, &healthy).start, 1);
    // Concurrency full: only a call ending frees a slot.
    let busy = pacer.allowance(5_000, 100, &healthy);
    assert_eq!(
        busy,
        Allowance {
            start: 0,
            next_check_ms: None
        }
    );
}

#[test]
fn a_high_rate_is_spread_over_the_second() {
    let mut pacer = Pacer::new(PacingLimits {
        max_concurrent: 10_000,
        max_per_second: 300.0,
        min_interval_ms: 0,
    });
    let healthy = Distress::default();
    // A dialer ticking every 20 ms, starting all it may.
    let mut per_tick = Vec::new();
    for tick in 0..100u64 {
        let now = tick * 20;
        let allowed = pacer.allowance(now, 0, &healthy).start;
        for _ in 0..allowed {
            pacer.started(now);
        }
        per_tick.push(allowed);
    }
    // One to begin with (no opening burst), then the rate's share of each tick, never
    // blocked by the sliding second (which would echo as a burst a second later).
    assert_eq!(per_tick[0], 1);
    assert!(
        per_tick[1..].iter().all(|&n| (5..=6).contains(&n)),
        "{per_tick:?}"
    );
    let first_second: u32 = per_tick[..50].iter().sum();
    assert!((294..=300).contains(&first_second), "{first_second}");
    // After a pause (say the calls in flight were at their cap), up to a tenth of a
    // second's worth at once.
    let rested = pacer.allowance(60_000, 0, &healthy);
    assert_eq!(rested.start, 30);
    assert_eq!(
        Smoothing::of(300.0),
        Some(Smoothing {
            interval_us: 3_334,
            burst: 30
        })
    );
    assert_eq!(Smoothing::of(0.5), None);
    assert_eq!(Smoothing::of(f64::NAN), None);
}

#[test]
fn fractional_rates_and_minimum_interval_space_starts() {
    let healthy = Distress::default();
    let mut slow = Pacer::new(PacingLimits {
        max_concurrent: 10,
        max_per_second: 0.2,
        min_interval_ms: 0,
    });
    assert_eq!(slow.allowance(0, 0, &healthy).start, 1);
    slow.started(0);
    let waiting = slow.allowance(1_000, 1, &healthy);
    assert_eq!(waiting.next_check_ms, Some(5_000));
    assert_eq!(slow.allowance(5_000, 1, &healthy).start, 1);

    let mut gapped = Pacer::new(PacingLimits {
        max_concurrent: 10,
        max_per_second: 10.0,
        min_interval_ms: 300,
    });
    assert_eq!(gapped.allowance(0, 0, &healthy).start, 1);
    gapped.started(0);
    assert_eq!(gapped.allowance(200, 1, &healthy).next_check_ms, Some(300));
}

#[test]
fn distress_slows_but_does_not_starve() {
    let limits = PacingLimits {
        max_concurrent: 20,
        max_per_second: 10.0,
        min_interval_ms: 0,
    };
    let mut pacer = Pacer::new(limits);
    let half = Distress {
        rest_latency_ms: 1_125, // halfway between 250 and 2000
        ..Distress::default()
    };
    // Half the concurrency: 10 of 20.
    assert_eq!(pacer.allowance(0, 9, &half).start, 1);
    assert_eq!(pacer.allowance(0, 10, &half).start, 0);
    // Half the rate: a dialer ticking every 20 ms for three seconds starts 5 a second.
    let mut starts = 0;
    for tick in 0..150u64 {
        for _ in 0..pacer.allowance(tick * 20, 0, &half).start {
            pacer.started(tick * 20);
            starts += 1;
        }
    }
    assert_eq!(starts, 15);
    let pacer = Pacer::new(limits);
    let nearly_severe = Distress {
        event_lag_ms: 1_990,
        ..Distress::default()
    };
    assert_eq!(pacer.allowance(0, 0, &nearly_severe).start, 1);
    let severe = Distress {
        event_lag_ms: 3_000,
        ..Distress::default()
    };
    let stopped = pacer.allowance(0, 0, &severe);
    assert_eq!(stopped.start, 0);
    assert_eq!(stopped.next_check_ms, Some(1_000));
}

#[test]
fn stretched_prompts_slow_then_stop_new_calls_and_are_named() {
    let stretch = |ms| Distress {
        prompt_stretch_ms: ms,
        ..Distress::default()
    };
    assert_eq!(assess(&stretch(HEALTHY_PROMPT_STRETCH_MS)).worst, None);
    let halfway = (HEALTHY_PROMPT_STRETCH_MS + SEVERE_PROMPT_STRETCH_MS) / 2;
    let slowed = assess(&stretch(halfway));
    assert!((slowed.factor - 0.5).abs() < 1e-9, "{slowed:?}");
    assert_eq!(slowed.worst, Some(Signal::PromptStretch));
    assert!(!slowed.stops());
    let stopped = assess(&stretch(SEVERE_PROMPT_STRETCH_MS));
    assert!(stopped.stops());
    assert_eq!(stopped.worst, Some(Signal::PromptStretch));
    // The worst signal decides, and is the one named.
    let both = Distress {
        prompt_stretch_ms: halfway,
        rest_latency_ms: 1_800,
        ..Distress::default()
    };
    assert_eq!(assess(&both).worst, Some(Signal::RestLatency));
    assert_eq!(Signal::RestLatency.to_string(), "REST latency");
}

/// A distress with every signal raised by at least as much as in `base`.
fn arb_worse(base: Distress) -> impl Strategy<Value = Distress> {
    (
        0u64..3_000,
        0u64..3_000,
        0u64..3_000,
        0.0f64..0.7,
        0u64..3_000,
    )
        .prop_map(move |(lag, rest, queue, errors, stretch)| Distress {
            event_lag_ms: base.event_lag_ms + lag,
            rest_latency_ms: base.rest_latency_ms + rest,
            queue_wait_ms: base.queue_wait_ms + queue,
            error_ratio: base.error_ratio + errors,
            prompt_stretch_ms: base.prompt_stretch_ms + stretch,
            ..base
        })
}

fn arb_any_distress() -> impl Strategy<Value = Distress> {
    (
        0u64..3_000,
        0u64..3_000,
        0u64..3_000,
        0.0f64..0.7,
        0u64..3_000,
    )
        .prop_map(|(lag, rest, queue, errors, stretch)| Distress {
            event_lag_ms: lag,
            rest_latency_ms: rest,
            queue_wait_ms: queue,
            error_ratio: errors,
            prompt_stretch_ms: stretch,
            ..Distress::default()
        })
}

/// Whether any signal of `d` is at or past its severe line.
fn any_severe(d: &Distress) -> bool {
    d.event_lag_ms >= SEVERE_EVENT_LAG_MS
        || d.rest_latency_ms >= SEVERE_REST_LATENCY_MS
        || d.queue_wait_ms >= SEVERE_QUEUE_WAIT_MS
        || d.error_ratio >= SEVERE_ERROR_RATIO
        || d.prompt_stretch_ms >= SEVERE_PROMPT_STRETCH_MS
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    /// The control is smooth and one-way: more distress never allows more, the factor
    /// stays in [0, 1], and it reaches 0 exactly when a signal is severe. Less distress
    /// gives back what more took (recovery is the same curve run backwards).
    #[test]
    fn more_distress_never_allows_more(
        (base, worse) in arb_any_distress().prop_flat_map(|b| (Just(b), arb_worse(b))),
        limits in arb_limits(),
        in_flight in 0u32..25,
        now in 0u64..10_000,
    ) {
        let (a, b) = (assess(&base), assess(&worse));
        prop_assert!((0.0..=1.0).contains(&a.factor) && (0.0..=1.0).contains(&b.factor));
        prop_assert!(b.factor <= a.factor, "{base:?} {a:?} → {worse:?} {b:?}");
        prop_assert_eq!(a.stops(), any_severe(&base), "{:?} {:?}", base, a);
        prop_assert_eq!(a.worst.is_none(), a.factor == 1.0);
        let pacer = Pacer::new(limits);
        prop_assert!(
            pacer.allowance(now, in_flight, &worse).start
                <= pacer.allowance(now, in_flight, &base).start
        );
    }
}

fn arb_limits() -> impl Strategy<Value = PacingLimits> {
    let rate = prop_oneof![
        1 => Just(0.0),
        3 => 0.05f64..1.0,
        6 => 1.0f64..30.0,
    ];
    let gap = prop_oneof![3 => Just(0u64), 1 => 1u64..1_500];
    (0u32..20, rate, gap).prop_map(|(max_concurrent, max_per_second, min_interval_ms)| {
        PacingLimits {
            max_concurrent,
            max_per_second,
            min_interval_ms,
        }
    })
}

fn arb_distress() -> impl Strategy<Value = Distress> {
    prop_oneof![
        1 => Just(Distress::default()),
        1 => (0u64..2_500, 0u64..2_500, 0.0f64..0.6, 0u64..2_000).prop_map(
            |(lag, rest, errors, stretch)| Distress {
                event_lag_ms: lag,
                rest_latency_ms: rest,
                error_ratio: errors,
                prompt_stretch_ms: stretch,
                ..Distress::default()
            }
        ),
    ]
}

/// How a step moves the clock: by some ms, or to just before or at the last `next_check_ms`
/// (where off-by-one mistakes live).
#[derive(Debug, Clone, Copy)]
enum Advance {
    By(u64),
    JustBeforeCheck,
    ToCheck,
}

/// (clock, calls in flight, percent of the allowance actually started, distress)
fn arb_steps() -> impl Strategy<Value = Vec<(Advance, u32, u32, Distress)>> {
    let advance = prop_oneof![
        2 => (0u64..50).prop_map(Advance::By),
        2 => (0u64..400).prop_map(Advance::By),
        1 => (0u64..3_000).prop_map(Advance::By),
        1 => Just(Advance::JustBeforeCheck),
        2 => Just(Advance::ToCheck),
    ];
    prop::collection::vec((advance, 0u32..25, 0u32..=100, arb_distress()), 1..150)
}

/// Whether a start at `now` is guaranteed even under (non-severe) distress: nothing in
/// flight and no start within the longest gap any limit asks for.
fn model_guarantees_one(limits: &PacingLimits, starts: &[u64], now: u64, in_flight: u32) -> bool {
    if in_flight > 0 || limits.max_concurrent == 0 || limits.max_per_second <= 0.0 {
        return false;
    }
    let spacing = (1_000.0 / limits.max_per_second.min(1.0)).ceil() as u64;
    let quiet = spacing.max(limits.min_interval_ms);
    starts.last().is_none_or(|&last| now - last >= quiet)
}

/// Whether an independent reading of the limits allows a start at `now`.
fn model_allows(limits: &PacingLimits, starts: &[u64], now: u64, in_flight: u32) -> bool {
    if in_flight >= limits.max_concurrent || limits.max_per_second <= 0.0 {
        return false;
    }
    let since_last = starts.last().map(|&last| now - last);
    let rate_ok = if limits.max_per_second >= 1.0 {
        let in_window = starts.iter().filter(|&&s| s + 1_000 > now).count();
        (in_window as f64) < limits.max_per_second.floor()
    } else {
        since_last.is_none_or(|gap| gap as f64 >= 1_000.0 / limits.max_per_second)
    };
    rate_ok
        && since_last.is_none_or(|gap| gap >= limits.min_interval_ms)
        && smoothing_allows(limits, starts, now)
}

/// The smoothing read as an arrival curve: with a start every `interval` and up to
/// `burst` at once, any run of starts from `s` to `now` (the new one included) numbers
/// at most `burst + ⌊(now - s) / interval⌋`.
fn smoothing_allows(limits: &PacingLimits, starts: &[u64], now: u64) -> bool {
    let Some(smoothing) = Smoothing::of(limits.max_per_second) else {
        return true;
    };
    let mut with_new = starts.to_vec();
    with_new.push(now);
    within_arrival_curve(&smoothing, &with_new)
}

/// Every run of starts, from the `i`th to the `j`th, numbers at most
/// `burst + ⌊(t_j - t_i) / interval⌋`. The bucket starts empty: as if `burst - 1`
/// starts had come just before the first.
fn within_arrival_curve(smoothing: &Smoothing, starts: &[u64]) -> bool {
    let Some(&first) = starts.first() else {
        return true;
    };
    let mut all = vec![first; smoothing.burst as usize - 1];
    all.extend_from_slice(starts);
    (0..all.len()).all(|i| {
        (i..all.len()).all(|j| {
            (j - i + 1) as u64
                <= smoothing.burst + (all[j] - all[i]) * 1_000 / smoothing.interval_us
        })
    })
}

fn check_starts(limits: &PacingLimits, starts: &[u64]) -> Result<(), TestCaseError> {
    if let Some(smoothing) = Smoothing::of(limits.max_per_second) {
        prop_assert!(
            within_arrival_curve(&smoothing, starts),
            "starts burst past the smoothing ({smoothing:?}): {starts:?}"
        );
    }
    for (i, &s) in starts.iter().enumerate() {
        let in_window = starts[i..].iter().take_while(|&&t| t < s + 1_000).count();
        if limits.max_per_second >= 1.0 {
            prop_assert!(
                in_window as f64 <= limits.max_per_second.ceil(),
                "{in_window} starts in the second from {s}: {starts:?}"
            );
        }
        if let Some(&next) = starts.get(i + 1) {
            prop_assert!(next - s >= limits.min_interval_ms, "gap {s}→{next}");
            if limits.max_per_second < 1.0 {
                prop_assert!(
                    (next - s) as f64 >= 1_000.0 / limits.max_per_second,
                    "gap {s}→{next} at {}/s",
                    limits.max_per_second
                );
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 500, ..ProptestConfig::default() })]

    #[test]
    fn pacer_never_breaks_a_limit_and_never_starves(
        limits in arb_limits(), steps in arb_steps()
    ) {
        let mut pacer = Pacer::new(limits);
        let mut starts: Vec<u64> = Vec::new();
        let mut now = 0u64;
        let mut last_check = None;
        for (advance, in_flight, percent, distress) in steps {
            now = match (advance, last_check) {
                (Advance::By(ms), _) => now + ms,
                (Advance::JustBeforeCheck, Some(check)) => now.max(check - 1),
                (Advance::ToCheck, Some(check)) => now.max(check),
                (_, None) => now,
            };
            let allowance = pacer.allowance(now, in_flight, &distress);
            last_check = allowance.next_check_ms;
            if allowance.start > 0 {
                prop_assert!(in_flight + allowance.start <= limits.max_concurrent);
            }
            let factor = distress_factor(&distress);
            if factor == 1.0 && model_allows(&limits, &starts, now, in_flight) {
                prop_assert!(allowance.start > 0, "starved at {now}: {starts:?}");
            }
            if factor > 0.0 && model_guarantees_one(&limits, &starts, now, in_flight) {
                prop_assert!(allowance.start > 0, "starved under distress at {now}: {starts:?}");
            }
            if allowance.start == 0
                && factor > 0.0
                && let Some(check) = allowance.next_check_ms
            {
                // The earliest time worth asking: not before, but at it.
                prop_assert!(check > now);
                prop_assert_eq!(pacer.allowance(check - 1, in_flight, &distress).start, 0);
                prop_assert!(pacer.allowance(check, in_flight, &distress).start > 0);
            }
            let used = (allowance.start * percent).div_ceil(100);
            for _ in 0..used {
                pacer.started(now);
                starts.push(now);
            }
            check_starts(&limits, &starts)?;
        }
    }
}

// ---------------------------------------------------------------- learned capacity

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    /// The ceiling starts only with lasting strain, never falls below one call, falls
    /// only on lasting strain, rises one call at a time only after a clean spell, and never climbs back
    /// to a load that strained the PBX unless a long clean time has passed since.
    #[test]
    fn the_learned_ceiling_moves_only_as_the_signs_say(
        steps in prop::collection::vec((0u64..8_000, 0u32..40, any::<bool>()), 1..200)
    ) {
        use dialflow::core::campaign::capacity::{
            CONFIRM_MS, CapacityCeiling, FORGET_AFTER_MS, PROBE_AFTER_MS, SETTLE_MS,
        };
        let strain = Distress { prompt_stretch_ms: 400, ..Distress::default() };
        let clean = Distress::default();
        let mut c = CapacityCeiling::default();
        let mut now = 0u64;
        // Any strain; the start of the strain seen now; the last lasting strain with
        // calls up; the load of the last lasting strain begun after a clean spell.
        let (mut last_strain, mut began, mut last_lasting) = (None::<u64>, None::<u64>, None::<u64>);
        let mut onset_load = None::<u32>;
        for (advance, in_flight, strained) in steps {
            now += advance;
            let before = c.ceiling();
            c.observe(now, in_flight, if strained { &strain } else { &clean });
            let after = c.ceiling();
            let mut lasting = false;
            if strained {
                let since = *began.get_or_insert(now);
                lasting = in_flight > 0 && now - since >= CONFIRM_MS;
                if lasting {
                    // That load (less the calls started while it showed) was too much.
                    if last_lasting.is_none_or(|at| now - at >= SETTLE_MS) {
                        onset_load = Some(in_flight.saturating_sub(1).max(1));
                    }
                    last_lasting = Some(now);
                }
                last_strain = Some(now);
            } else {
                began = None;
            }
            let Some(a) = after else {
                prop_assert!(onset_load.is_none(), "lasting strain with calls up sets a ceiling");
                continue;
            };
            prop_assert!(a >= 1);
            match before {
                None => prop_assert!(lasting),
                Some(b) if a < b => prop_assert!(lasting, "lowered without lasting strain"),
                Some(b) if a > b => {
                    prop_assert!(!strained && a == b + 1, "{b} → {a}");
                    prop_assert!(now - last_strain.unwrap_or(0) >= PROBE_AFTER_MS);
                }
                Some(_) => {}
            }
            let remembered = last_strain.is_some_and(|at| now - at < FORGET_AFTER_MS);
            if remembered && let Some(l) = onset_load && before.is_some_and(|b| a > b) {
                prop_assert!(a < l, "climbed back to {a}, strained at {l}");
            }
        }
    }
}
