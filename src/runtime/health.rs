//! How Asterisk is coping, as the runtime sees it: event lag (arrival against the
//! event's own timestamp), REST latency, the wait for a free connection of the bounded
//! ARI pool (every connection busy: more asked of Asterisk than it answers) and the
//! share of failed requests, and how much longer than their audio prompts play (the
//! signal closest to what the customer hears), smoothed and told in call time (a
//! compressed simulator's delays are compressed too).
//! The dialer's pacing slows new originates when these rise (`core::campaign::pacing`).

use std::time::{Duration, Instant};

use crate::core::campaign::pacing::{Distress, HEALTHY_ERROR_RATIO, HEALTHY_REST_LATENCY_MS};

/// Weight of a new sample in the moving averages.
const ALPHA: f64 = 0.05;
/// Weight of an event's sample in the recent lag: a few events' worth, so the first
/// strain of a PBX shows within a fraction of a second of busy traffic.
const RECENT_ALPHA: f64 = 0.25;
/// Weight of a prompt's sample: prompts end far more rarely than requests and events
/// arrive, and a stretched one is already heard by a customer, so each counts more.
const PROMPT_ALPHA: f64 = 0.2;
/// How long the smallest observed lag serves as the clock-skew baseline before it is
/// taken again: Asterisk's clock and ours differ by a constant we must not call lag.
const BASELINE_PERIOD: Duration = Duration::from_secs(60);
/// How much the baseline may rise per period: enough to follow clock drift, too little
/// to swallow a lag that lasts (a lagging Asterisk must not become the new normal).
const BASELINE_RISE_MS: i64 = 20;
/// A rise of the offset this large, lasting a whole period while REST requests are
/// answered promptly, is a clock being stepped (NTP after boot, a resumed VM), not lag:
/// taken as the new baseline at once, or dialing would stop for the better part of an
/// hour while the baseline crept up.
const STEP_MS: i64 = 1_000;
/// Real milliseconds of delay that are this machine's own noise, not the PBX's: ARI
/// stamps events to the millisecond and a busy scheduler wakes a task a few
/// milliseconds late. Taken off event lag and pool waits before they are told in call
/// time, or a simulator compressed 40× would see 2 ms of jitter as 80 ms of strain and
/// the learned capacity would ratchet down to nothing (at real speed it changes the
/// 50 ms onset by a tenth).
const NOISE_REAL_MS: f64 = 5.0;
/// REST samples at most this old speak for how Asterisk copes now.
const FRESH: Duration = Duration::from_secs(5);

/// Without samples, distress halves every this long: when pacing holds every originate
/// no new samples come, and a recovered Asterisk must get calls again.
const DECAY_HALF_LIFE: Duration = Duration::from_secs(5);

#[derive(Debug)]
pub struct Health {
    /// Call ms per real ms: lag and latency are told in call time, as the compressed
    /// simulator's own delays are, so the pacing's lines mean the same at any speed.
    speed: f64,
    lag_ms: f64,
    recent_lag_ms: f64,
    baseline_ms: Option<i64>,
    next_baseline_ms: Option<i64>,
    baseline_since: Instant,
    rest_ms: f64,
    queue_ms: f64,
    errors: f64,
    stretch_ms: f64,
    /// When each average last had a sample.
    lag_at: Instant,
    rest_at: Instant,
    stretch_at: Instant,
}

impl Default for Health {
    fn default() -> Self {
        Self {
            speed: 1.0,
            lag_ms: 0.0,
            recent_lag_ms: 0.0,
            baseline_ms: None,
            next_baseline_ms: None,
            baseline_since: Instant::now(),
            rest_ms: 0.0,
            queue_ms: 0.0,
            errors: 0.0,
            stretch_ms: 0.0,
            lag_at: Instant::now(),
            rest_at: Instant::now(),
            stretch_at: Instant::now(),
        }
    }
}

impl Health {
    /// Health told in call time at `speed` call ms per real ms.
    pub fn at_speed(speed: f64) -> Self {
        Self {
            speed: if speed.is_finite() && speed > 0.0 {
                speed
            } else {
                1.0
            },
            ..Self::default()
        }
    }

    /// An event stamped `stamp` (ARI's `2026-11-21T10:00:00.123+0000`) arrived now.
    pub fn event(&mut self, stamp: &str) {
        let Some(sent) = parse_stamp(stamp) else {
            return;
        };
        let raw = jiff::Timestamp::now().as_millisecond() - sent;
        let baseline = *self.baseline_ms.get_or_insert(raw);
        self.baseline_ms = Some(baseline.min(raw));
        let next = self.next_baseline_ms.get_or_insert(raw);
        *next = (*next).min(raw);
        if self.baseline_since.elapsed() >= BASELINE_PERIOD {
            let period_min = self.next_baseline_ms.take().unwrap_or(baseline);
            // Overload shows in REST too; a prompt Asterisk with every event of a whole
            // period late by the same amount has had its clock (or ours) stepped.
            let prompt = self.rest_at.elapsed() <= FRESH
                && self.rest_ms <= HEALTHY_REST_LATENCY_MS as f64
                && self.errors <= HEALTHY_ERROR_RATIO;
            self.baseline_ms = Some(if period_min > baseline + STEP_MS && prompt {
                tracing::warn!(
                    step_ms = period_min - baseline,
                    "the clocks of Asterisk and dialflow moved apart: taken for a clock step, not event lag"
                );
                period_min
            } else {
                period_min.min(baseline + BASELINE_RISE_MS)
            });
            self.baseline_since = Instant::now();
        }
        let late_ms = (raw - self.baseline_ms.unwrap_or(raw)).max(0) as f64;
        let lag = (late_ms - NOISE_REAL_MS).max(0.0) * self.speed;
        let now = Instant::now();
        self.lag_ms = decayed(self.lag_ms, now - self.lag_at);
        self.recent_lag_ms = decayed(self.recent_lag_ms, now - self.lag_at);
        self.lag_at = now;
        self.lag_ms += ALPHA * (lag - self.lag_ms);
        self.recent_lag_ms += RECENT_ALPHA * (lag - self.recent_lag_ms);
    }

    /// A REST request took `took` once sent, after waiting `queued` for a free
    /// connection; `failed` when it was not answered or answered 5xx.
    pub fn request(&mut self, took: Duration, queued: Duration, failed: bool) {
        let now = Instant::now();
        let idle = now - self.rest_at;
        self.rest_ms = decayed(self.rest_ms, idle);
        self.queue_ms = decayed(self.queue_ms, idle);
        self.errors = decayed(self.errors, idle);
        self.rest_at = now;
        let ms = |d: Duration| d.as_secs_f64() * 1000.0 * self.speed;
        let queued_ms = (queued.as_secs_f64() * 1000.0 - NOISE_REAL_MS).max(0.0) * self.speed;
        self.rest_ms += ALPHA * (ms(took) - self.rest_ms);
        self.queue_ms += ALPHA * (queued_ms - self.queue_ms);
        self.errors += ALPHA * (f64::from(u8::from(failed)) - self.errors);
    }

    /// A prompt played `stretch_ms` longer than its audio (0 when it was on time or
    /// early).
    pub fn prompt(&mut self, stretch_ms: u64) {
        let now = Instant::now();
        self.stretch_ms = decayed(self.stretch_ms, now - self.stretch_at);
        self.stretch_at = now;
        self.stretch_ms += PROMPT_ALPHA * (stretch_ms as f64 - self.stretch_ms);
    }

    /// The averages now, faded by the time since their last sample.
    pub fn distress(&self) -> Distress {
        let rest_idle = self.rest_at.elapsed();
        Distress {
            event_lag_ms: decayed(self.lag_ms, self.lag_at.elapsed()) as u64,
            recent_event_lag_ms: decayed(self.recent_lag_ms, self.lag_at.elapsed()) as u64,
            rest_latency_ms: decayed(self.rest_ms, rest_idle) as u64,
            queue_wait_ms: decayed(self.queue_ms, rest_idle) as u64,
            error_ratio: decayed(self.errors, rest_idle),
            prompt_stretch_ms: decayed(self.stretch_ms, self.stretch_at.elapsed()) as u64,
        }
    }
}

/// `value` after `idle` without samples: halved every `DECAY_HALF_LIFE`, after the
/// first second (samples a second apart are normal traffic).
fn decayed(value: f64, idle: Duration) -> f64 {
    let idle = idle.saturating_sub(Duration::from_secs(1));
    value * 0.5f64.powf(idle.as_secs_f64() / DECAY_HALF_LIFE.as_secs_f64())
}

/// Milliseconds since the epoch of an ARI timestamp.
fn parse_stamp(stamp: &str) -> Option<i64> {
    // jiff's ISO 8601 parser takes ARI's `+0000` offsets, several times faster than a
    // strftime pattern; it runs for every event.
    stamp
        .parse::<jiff::Timestamp>()
        .ok()
        .map(|t| t.as_millisecond())
}

/// Now as ARI writes it (the simulated PBX stamps its events with it).
pub fn stamp_now() -> String {
    jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%S%.3f%z")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An ARI timestamp `ms_ago` milliseconds before now.
    fn stamp_ago(ms_ago: i64) -> String {
        jiff::Timestamp::from_millisecond(jiff::Timestamp::now().as_millisecond() - ms_ago)
            .unwrap()
            .strftime("%Y-%m-%dT%H:%M:%S%.3f%z")
            .to_string()
    }

    #[test]
    fn ari_timestamps_parse_with_their_offsets() {
        // As Asterisk 22 writes them (shared/ari-traces), and with a zone ahead of UTC.
        assert_eq!(parse_stamp("1970-01-01T00:00:01.250+0000"), Some(1_250));
        assert_eq!(parse_stamp("1970-01-01T03:30:01.250+0330"), Some(1_250));
        assert!(parse_stamp(&stamp_now()).is_some());
        assert_eq!(parse_stamp("yesterday"), None);
    }

    #[test]
    fn ari_timestamps_parse() {
        assert_eq!(parse_stamp("1970-01-01T00:00:01.500+0000"), Some(1500),);
        assert!(parse_stamp("yesterday").is_none());
        assert!(parse_stamp(&stamp_now()).is_some());
    }

    #[test]
    fn a_constant_skew_is_not_lag_but_a_growing_delay_is() {
        let mut h = Health::default();
        for _ in 0..200 {
            h.event(&stamp_ago(5_000));
        }
        assert!(h.distress().event_lag_ms < 50, "{:?}", h.distress());
        for _ in 0..200 {
            h.event(&stamp_ago(8_000));
        }
        assert!(h.distress().event_lag_ms > 2_500, "{:?}", h.distress());
    }

    #[test]
    fn the_recent_lag_shows_a_new_delay_within_a_few_events() {
        let mut h = Health::default();
        for _ in 0..50 {
            h.event(&stamp_ago(0));
        }
        for _ in 0..5 {
            h.event(&stamp_ago(200));
        }
        let d = h.distress();
        assert!(d.recent_event_lag_ms > 100, "{d:?}");
        assert!(d.event_lag_ms < 60, "the paced average moves slower: {d:?}");
    }

    #[test]
    fn a_compressed_clock_does_not_magnify_scheduling_noise_into_lag() {
        // At 40×, events 3 real ms late (a busy scheduler) are no strain at all...
        let mut h = Health::at_speed(40.0);
        h.event(&stamp_ago(0));
        for _ in 0..100 {
            h.event(&stamp_ago(3));
            h.request(Duration::from_millis(1), Duration::from_millis(3), false);
        }
        let d = h.distress();
        assert_eq!(
            (d.event_lag_ms, d.recent_event_lag_ms, d.queue_wait_ms),
            (0, 0, 0),
            "{d:?}"
        );
        // ...while 20 real ms late is 600 call ms past the noise: a PBX behind.
        for _ in 0..100 {
            h.event(&stamp_ago(20));
        }
        assert!(h.distress().recent_event_lag_ms > 500, "{:?}", h.distress());
    }

    #[test]
    fn a_clock_step_with_prompt_rest_answers_is_not_lag_for_long() {
        let period_passed = |h: &mut Health| {
            h.baseline_since = Instant::now() - BASELINE_PERIOD - Duration::from_secs(1);
        };
        // Asterisk answers promptly; its clock jumps 3 s back.
        let mut h = Health::default();
        h.event(&stamp_ago(0));
        for _ in 0..100 {
            h.request(Duration::from_millis(5), Duration::ZERO, false);
            h.event(&stamp_ago(3_000));
        }
        assert!(h.distress().event_lag_ms > 2_000, "lag at first");
        // The period of the step still saw the old offset; the next one only the new.
        for _ in 0..2 {
            period_passed(&mut h);
            for _ in 0..200 {
                h.request(Duration::from_millis(5), Duration::ZERO, false);
                h.event(&stamp_ago(3_000));
            }
        }
        assert!(h.distress().event_lag_ms < 200, "{:?}", h.distress());

        // The same late events with slow REST answers are an Asterisk in trouble: the
        // baseline creeps, the lag stays.
        let mut h = Health::default();
        h.event(&stamp_ago(0));
        for _ in 0..100 {
            h.request(Duration::from_millis(900), Duration::ZERO, false);
            h.event(&stamp_ago(3_000));
        }
        for _ in 0..2 {
            period_passed(&mut h);
            for _ in 0..200 {
                h.request(Duration::from_millis(900), Duration::ZERO, false);
                h.event(&stamp_ago(3_000));
            }
        }
        assert!(h.distress().event_lag_ms > 2_000, "{:?}", h.distress());
    }

    #[test]
    fn distress_fades_without_samples() {
        assert_eq!(decayed(1000.0, Duration::from_millis(500)), 1000.0);
        let later = decayed(1000.0, Duration::from_secs(1) + DECAY_HALF_LIFE);
        assert!((later - 500.0).abs() < 1.0, "{later}");
        assert!(decayed(1000.0, Duration::from_secs(60)) < 1.0);
    }

    #[test]
    fn slow_and_failing_requests_show() {
        let mut h = Health::default();
        for _ in 0..200 {
            h.request(Duration::from_millis(900), Duration::ZERO, true);
        }
        let d = h.distress();
        assert!(d.rest_latency_ms > 800 && d.error_ratio > 0.9, "{d:?}");
        assert_eq!(d.queue_wait_ms, 0, "{d:?}");
    }

    #[test]
    fn stretched_prompts_show_within_a_few_and_fade_when_prompts_are_on_time() {
        let mut h = Health::default();
        for _ in 0..5 {
            h.prompt(0);
        }
        assert_eq!(h.distress().prompt_stretch_ms, 0);
        // A handful of prompts a second late: a few calls' worth, not hundreds.
        for _ in 0..8 {
            h.prompt(1_000);
        }
        let d = h.distress();
        assert!(d.prompt_stretch_ms > 800, "{d:?}");
        assert!(crate::core::campaign::pacing::distress_factor(&d) < 0.6);
        for _ in 0..20 {
            h.prompt(0);
        }
        assert!(h.distress().prompt_stretch_ms < 20, "{:?}", h.distress());
    }

    #[test]
    fn the_wait_for_a_free_connection_is_distress_of_its_own() {
        // Asterisk answers each request at once, but every connection is busy: requests
        // wait 1.5 s in dialflow's queue before they leave.
        let mut h = Health::default();
        for _ in 0..200 {
            h.request(
                Duration::from_millis(5),
                Duration::from_millis(1_500),
                false,
            );
        }
        let d = h.distress();
        assert!(d.rest_latency_ms < 10, "{d:?}");
        assert!(d.queue_wait_ms > 1_400, "{d:?}");
        let factor = crate::core::campaign::pacing::distress_factor(&d);
        assert!(factor < 0.5, "the pacing slows down on the wait: {factor}");
        // Free connections again: the wait falls back with the next requests.
        for _ in 0..200 {
            h.request(Duration::from_millis(5), Duration::ZERO, false);
        }
        assert!(h.distress().queue_wait_ms < 10, "{:?}", h.distress());
    }
}
