//! Pacing maths: how many calls a campaign may start right now.
//!
//! Three limits hold at once: calls in flight, starts per second, and a minimum gap
//! between starts. On top, the runtime reports how stressed Asterisk looks (event lag,
//! REST latency, the wait for a free ARI connection, failures); under stress the limits
//! shrink, so we back off before the PBX falls over instead of after. Times are milliseconds handed in by the caller.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

/// Event lag at or below this is healthy.
pub const HEALTHY_EVENT_LAG_MS: u64 = 200;
/// Event lag at or above this stops new calls.
pub const SEVERE_EVENT_LAG_MS: u64 = 2_000;
/// REST latency at or below this is healthy.
pub const HEALTHY_REST_LATENCY_MS: u64 = 250;
/// REST latency at or above this stops new calls.
pub const SEVERE_REST_LATENCY_MS: u64 = 2_000;
/// A wait for a free ARI connection at or below this is healthy.
pub const HEALTHY_QUEUE_WAIT_MS: u64 = 100;
/// A wait for a free ARI connection at or above this stops new calls: every step of
/// every live call is held that long before Asterisk even sees it.
pub const SEVERE_QUEUE_WAIT_MS: u64 = 1_000;
/// A failed-request ratio at or below this is healthy.
pub const HEALTHY_ERROR_RATIO: f64 = 0.05;
/// A failed-request ratio at or above this stops new calls.
pub const SEVERE_ERROR_RATIO: f64 = 0.5;
/// A prompt that plays at most this much longer than its audio is healthy (the events'
/// own jitter).
pub const HEALTHY_PROMPT_STRETCH_MS: u64 = 200;
/// A prompt this much longer than its audio stops new calls: the customer already hears
/// the PBX struggling, and a recording started after it may be cut.
pub const SEVERE_PROMPT_STRETCH_MS: u64 = 1_500;
/// When distress has stopped new calls, how long until it is worth asking again.
pub const DISTRESS_RECHECK_MS: u64 = 1_000;

/// The sliding window the per-second limit counts starts in.
const RATE_WINDOW_MS: u64 = 1_000;

/// At most this much time's worth of the per-second rate starts at once: a second's
/// starts are spread over the second instead of leaving in one burst. A burst of
/// originates is what makes Asterisk (and any ARI client) fall behind, and calls started
/// together stay in lockstep, so every later step of their scenario is a burst too.
pub const SMOOTHING_MS: u64 = 100;

/// A campaign's pacing limits.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PacingLimits {
    /// Most calls of the campaign in flight at once; 0 pauses the campaign.
    pub max_concurrent: u32,
    /// Starts per second. At 1 or more: at most ⌊max_per_second⌋ starts in any sliding
    /// second, spread out: at most a tenth of a second's worth at once (`SMOOTHING_MS`;
    /// at least one), the rest one every `1000 / max_per_second` ms. Below 1:
    /// consecutive starts at least `1000 / max_per_second` ms apart.
    /// 0 or less (or not a number) pauses the campaign. Distress scales it down, but
    /// never below 1/s (or the configured rate, if that is lower).
    pub max_per_second: f64,
    /// Least gap between two consecutive starts.
    pub min_interval_ms: u64,
}

impl Default for PacingLimits {
    fn default() -> Self {
        Self {
            max_concurrent: 10,
            max_per_second: 5.0,
            min_interval_ms: 0,
        }
    }
}

/// What the runtime observes of Asterisk, smoothed by the caller.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Distress {
    /// Our receive time minus the event's own timestamp.
    pub event_lag_ms: u64,
    /// The same over the last few events only: quick to show the first strain
    /// (`capacity`), too jumpy to pace by.
    pub recent_event_lag_ms: u64,
    /// Round-trip time of REST requests, once sent.
    pub rest_latency_ms: u64,
    /// How long requests waited for a free connection of the bounded ARI pool.
    pub queue_wait_ms: u64,
    /// Fraction of REST requests that failed, 0..=1.
    pub error_ratio: f64,
    /// How much longer than their audio prompts took, from `PlaybackStarted` to
    /// `PlaybackFinished`.
    pub prompt_stretch_ms: u64,
}

/// One of the signals of [`Distress`], to say which one holds originates back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Signal {
    EventLag,
    RestLatency,
    QueueWait,
    Errors,
    PromptStretch,
}

impl Signal {
    pub const ALL: [Signal; 5] = [
        Signal::EventLag,
        Signal::RestLatency,
        Signal::QueueWait,
        Signal::Errors,
        Signal::PromptStretch,
    ];

    /// The name logs and summaries use.
    pub fn name(self) -> &'static str {
        match self {
            Signal::EventLag => "event lag",
            Signal::RestLatency => "REST latency",
            Signal::QueueWait => "wait for an ARI connection",
            Signal::Errors => "failed requests",
            Signal::PromptStretch => "stretched prompts",
        }
    }

    /// The signal's value in `d`, as people read it (`850 ms`, `12 %`).
    pub fn describe(self, d: &Distress) -> String {
        let (value, _, severe) = self.reading(d);
        match self {
            Signal::Errors => format!("{:.0} % (stops at {:.0} %)", value * 100.0, severe * 100.0),
            _ => format!("{value:.0} ms (stops at {severe:.0} ms)"),
        }
    }

    /// The signal's value in `d`, and its healthy and severe lines.
    fn reading(self, d: &Distress) -> (f64, f64, f64) {
        match self {
            Signal::EventLag => (
                d.event_lag_ms as f64,
                HEALTHY_EVENT_LAG_MS as f64,
                SEVERE_EVENT_LAG_MS as f64,
            ),
            Signal::RestLatency => (
                d.rest_latency_ms as f64,
                HEALTHY_REST_LATENCY_MS as f64,
                SEVERE_REST_LATENCY_MS as f64,
            ),
            Signal::QueueWait => (
                d.queue_wait_ms as f64,
                HEALTHY_QUEUE_WAIT_MS as f64,
                SEVERE_QUEUE_WAIT_MS as f64,
            ),
            Signal::Errors => (d.error_ratio, HEALTHY_ERROR_RATIO, SEVERE_ERROR_RATIO),
            Signal::PromptStretch => (
                d.prompt_stretch_ms as f64,
                HEALTHY_PROMPT_STRETCH_MS as f64,
                SEVERE_PROMPT_STRETCH_MS as f64,
            ),
        }
    }
}

impl std::fmt::Display for Signal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// What distress makes of the pacing: the share of the limits to use, and the signal
/// that decided it (none when every signal is healthy).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Assessment {
    pub factor: f64,
    pub worst: Option<Signal>,
}

impl Assessment {
    /// Whether no call may start at all.
    pub fn stops(&self) -> bool {
        self.factor <= 0.0
    }
}

/// How much of the configured limits to use, and why: each signal ramps from 1 at its
/// healthy line to 0 at its severe line, and the worst one decides.
pub fn assess(d: &Distress) -> Assessment {
    let mut assessment = Assessment {
        factor: 1.0,
        worst: None,
    };
    for signal in Signal::ALL {
        let (value, healthy, severe) = signal.reading(d);
        let share = ramp(value, healthy, severe);
        if share < assessment.factor {
            assessment = Assessment {
                factor: share,
                worst: Some(signal),
            };
        }
    }
    assessment
}

/// How much of the configured limits to use, in [0, 1]: 1.0 when every signal is
/// healthy, 0.0 (start nothing) when any is severe, linear in between, driven by the
/// worst signal. An error ratio that is not a number counts as severe: when we cannot
/// tell, we do not push.
pub fn distress_factor(d: &Distress) -> f64 {
    assess(d).factor
}

/// 1 at or below `healthy`, 0 at or above `severe`, linear between; NaN is severe.
fn ramp(value: f64, healthy: f64, severe: f64) -> f64 {
    if value.is_nan() || value >= severe {
        0.0
    } else if value <= healthy {
        1.0
    } else {
        (severe - value) / (severe - healthy)
    }
}

/// The answer to "may I start calls now?".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Allowance {
    /// How many calls may start now without breaking any limit.
    pub start: u32,
    /// When `start` is 0: when it is worth asking again. `None` when time alone frees
    /// nothing (only a call finishing can, or the campaign is paused).
    pub next_check_ms: Option<u64>,
}

/// Per-campaign pacing state: the starts of the last second, and the last start.
#[derive(Debug, Clone)]
pub struct Pacer {
    limits: PacingLimits,
    /// Start times within the last second, oldest first, never more than the largest
    /// per-second limit.
    recent: VecDeque<u64>,
    last_start: Option<u64>,
    /// Smoothing (a generic cell rate algorithm): the theoretical time of the next
    /// start at the configured rate, in microseconds. A start conforms while this is at
    /// most the burst's tolerance ahead of now. `None` before the first start: the
    /// bucket starts empty, so a campaign ramps up at its rate instead of opening with
    /// a burst that the sliding second would then echo every second.
    next_due_us: Option<u64>,
}

/// The smoothing of a per-second rate of 1 or more: a start every `interval_us`, up to
/// `burst` at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Smoothing {
    pub interval_us: u64,
    pub burst: u64,
}

impl Smoothing {
    /// For a configured per-second rate; none below 1 a second (spacing rules there)
    /// or when paused.
    pub fn of(max_per_second: f64) -> Option<Smoothing> {
        if max_per_second.is_nan() || max_per_second < 1.0 {
            return None;
        }
        // Rounded up, so the spacing never allows more than the rate. An infinite rate
        // gives a zero interval: no smoothing at all.
        let interval_us = (1_000_000.0 / max_per_second).ceil() as u64;
        let burst = ((max_per_second * SMOOTHING_MS as f64 / 1_000.0).ceil() as u64).max(1);
        Some(Smoothing { interval_us, burst })
    }

    /// How far ahead of now the next theoretical start may be and still conform.
    fn tolerance_us(&self) -> u64 {
        self.interval_us.saturating_mul(self.burst - 1)
    }
}

/// Limits after scaling by distress.
#[derive(Debug, Clone, Copy)]
struct Effective {
    concurrent: u32,
    rate: Rate,
}

#[derive(Debug, Clone, Copy)]
enum Rate {
    /// No starts at all.
    Paused,
    /// At most this many starts in any sliding second.
    PerWindow(u32),
    /// Consecutive starts at least this many ms apart.
    Spacing(u64),
}

/// How many starts one limit allows now, and if none, from when it allows one.
#[derive(Debug, Clone, Copy)]
struct Room {
    count: u32,
    /// Meaningful when `count` is 0; `None` means time alone never frees it.
    free_at: Option<u64>,
}

impl Room {
    const UNLIMITED: Room = Room {
        count: u32::MAX,
        free_at: None,
    };

    fn blocked_until(free_at: Option<u64>) -> Room {
        Room { count: 0, free_at }
    }
}

impl Effective {
    /// Scales concurrency and rate by `factor` (> 0), never below 1 call at once nor
    /// below 1 start per second (or the configured rate if that is lower), so a busy
    /// PBX slows a campaign without starving it.
    fn of(limits: &PacingLimits, factor: f64) -> Self {
        let concurrent = match limits.max_concurrent {
            0 => 0,
            max => ((f64::from(max) * factor).floor() as u32).clamp(1, max),
        };
        Self {
            concurrent,
            rate: scaled_rate(limits.max_per_second, factor),
        }
    }
}

fn scaled_rate(configured: f64, factor: f64) -> Rate {
    if configured.is_nan() || configured <= 0.0 {
        return Rate::Paused;
    }
    let rate = (configured * factor).max(configured.min(1.0));
    if rate >= 1.0 {
        // `as` saturates: an infinite rate is u32::MAX per second.
        Rate::PerWindow(rate.floor() as u32)
    } else {
        // Rounded up, so the gap is never shorter than 1000 / rate.
        Rate::Spacing((1000.0 / rate).ceil() as u64)
    }
}

impl Pacer {
    pub fn new(limits: PacingLimits) -> Self {
        Self {
            limits,
            recent: VecDeque::new(),
            last_start: None,
            next_due_us: None,
        }
    }

    pub fn limits(&self) -> &PacingLimits {
        &self.limits
    }

    /// New limits apply at once, judged against the starts already recorded.
    pub fn set_limits(&mut self, limits: PacingLimits) {
        self.limits = limits;
        self.trim_to_cap();
    }

    /// How many calls may start at `now_ms` with `in_flight` calls running and Asterisk
    /// looking as `distress` says; if none, when to ask again.
    pub fn allowance(&self, now_ms: u64, in_flight: u32, distress: &Distress) -> Allowance {
        let factor = distress_factor(distress);
        if factor <= 0.0 {
            return Allowance {
                start: 0,
                next_check_ms: Some(now_ms.saturating_add(DISTRESS_RECHECK_MS)),
            };
        }
        let effective = Effective::of(&self.limits, factor);
        let concurrency = effective.concurrent.saturating_sub(in_flight);
        if concurrency == 0 {
            return Allowance {
                start: 0,
                next_check_ms: None,
            };
        }
        let rooms = [
            self.rate_room(now_ms, effective.rate),
            self.gap_room(now_ms),
            self.smoothing_room(now_ms),
        ];
        let start = rooms.iter().fold(concurrency, |n, room| n.min(room.count));
        if start > 0 {
            return Allowance {
                start,
                next_check_ms: None,
            };
        }
        Allowance {
            start: 0,
            next_check_ms: latest_free_at(&rooms),
        }
    }

    /// Records one call started at `now_ms`. Times should not decrease; one that does is
    /// recorded at the latest time seen, which only makes later answers stricter.
    pub fn started(&mut self, now_ms: u64) {
        let now_ms = self.last_start.map_or(now_ms, |last| last.max(now_ms));
        self.last_start = Some(now_ms);
        while self
            .recent
            .front()
            .is_some_and(|&s| s.saturating_add(RATE_WINDOW_MS) <= now_ms)
        {
            self.recent.pop_front();
        }
        self.recent.push_back(now_ms);
        self.trim_to_cap();
        if let Some(smoothing) = Smoothing::of(self.limits.max_per_second) {
            let due = self.smoothing_due(now_ms.saturating_mul(1_000), &smoothing);
            self.next_due_us = Some(due.saturating_add(smoothing.interval_us));
        }
    }

    /// Keeps at most as many recent starts as the largest per-second limit needs: the
    /// answer only ever depends on the newest ⌊max_per_second⌋ of them.
    fn trim_to_cap(&mut self) {
        let cap = match scaled_rate(self.limits.max_per_second, 1.0) {
            Rate::PerWindow(n) => usize::try_from(n).unwrap_or(usize::MAX),
            Rate::Paused | Rate::Spacing(_) => 1,
        };
        while self.recent.len() > cap {
            self.recent.pop_front();
        }
    }

    /// Room under the per-second limit.
    fn rate_room(&self, now_ms: u64, rate: Rate) -> Room {
        match rate {
            Rate::Paused => Room::blocked_until(None),
            Rate::Spacing(gap) => self.room_after(now_ms, gap),
            Rate::PerWindow(limit) => self.window_room(now_ms, limit),
        }
    }

    /// At most `limit` starts in `(now - 1000, now]`.
    fn window_room(&self, now_ms: u64, limit: u32) -> Room {
        let in_window: Vec<u64> = self
            .recent
            .iter()
            .copied()
            .filter(|&s| s.saturating_add(RATE_WINDOW_MS) > now_ms)
            .collect();
        let used = u32::try_from(in_window.len()).unwrap_or(u32::MAX);
        if used < limit {
            return Room {
                count: limit - used,
                free_at: None,
            };
        }
        // One slot frees once all but `limit - 1` of these have left the window.
        let must_leave = in_window.len() - usize::try_from(limit).unwrap_or(usize::MAX);
        let free_at = in_window
            .get(must_leave)
            .map(|&s| s.saturating_add(RATE_WINDOW_MS));
        Room::blocked_until(free_at)
    }

    /// Room under the smoothing of the configured rate (distress lowers the per-second
    /// window; the spreading stays at the configured pace).
    fn smoothing_room(&self, now_ms: u64) -> Room {
        let Some(smoothing) = Smoothing::of(self.limits.max_per_second) else {
            return Room::UNLIMITED;
        };
        if smoothing.interval_us == 0 {
            return Room::UNLIMITED;
        }
        let now_us = now_ms.saturating_mul(1_000);
        let horizon = now_us.saturating_add(smoothing.tolerance_us());
        let due = self.smoothing_due(now_us, &smoothing);
        if due > horizon {
            // Conforms once `due - tolerance <= now`: round that up to a ms.
            let free_us = due - smoothing.tolerance_us();
            return Room::blocked_until(Some(free_us.div_ceil(1_000)));
        }
        let count = (horizon - due) / smoothing.interval_us + 1;
        Room {
            count: u32::try_from(count).unwrap_or(u32::MAX),
            free_at: None,
        }
    }

    /// The theoretical time of the next start, never before now; an empty bucket
    /// (no start yet) has it as far ahead as the tolerance allows.
    fn smoothing_due(&self, now_us: u64, smoothing: &Smoothing) -> u64 {
        self.next_due_us
            .unwrap_or_else(|| now_us.saturating_add(smoothing.tolerance_us()))
            .max(now_us)
    }

    /// Room under `min_interval_ms`: one start at a time, once the gap has passed.
    fn gap_room(&self, now_ms: u64) -> Room {
        match self.limits.min_interval_ms {
            0 => Room::UNLIMITED,
            gap => self.room_after(now_ms, gap),
        }
    }

    /// One start if `gap_ms` has passed since the last start.
    fn room_after(&self, now_ms: u64, gap_ms: u64) -> Room {
        match self.last_start {
            Some(last) if now_ms < last.saturating_add(gap_ms) => {
                Room::blocked_until(Some(last.saturating_add(gap_ms)))
            }
            _ => Room {
                count: 1,
                free_at: None,
            },
        }
    }
}

/// All blocked limits must free up, so the check is worth it at the latest of them;
/// never, if any of them only frees for a reason other than time.
fn latest_free_at(rooms: &[Room]) -> Option<u64> {
    let mut latest = 0;
    for room in rooms.iter().filter(|room| room.count == 0) {
        latest = latest.max(room.free_at?);
    }
    Some(latest)
}
