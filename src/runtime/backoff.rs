//! Why new originates are slowed or held: each time the dialer or a batch asks how
//! distressed Asterisk is before starting calls, the answer is assessed
//! (`core::campaign::pacing::assess`), logged when it changes (slowed, held, clear
//! again, naming the signal and its value) and the time spent in each state counted by
//! the signal that decided it, for the run's summary. It also keeps the capacity
//! learned from the first signs of strain (`core::campaign::capacity`): the most calls
//! at once the dialer and batches may have.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::core::campaign::capacity::CapacityCeiling;
use crate::core::campaign::pacing::{Assessment, Distress, Signal};

/// Time between two asks counted at most this much: a dialer with every slot taken
/// stops asking, and that time is not distress.
const MAX_COUNTED_GAP: Duration = Duration::from_secs(1);

/// A "slowing" notice at most this often: a signal hovering at its healthy line must
/// not fill the log.
const SLOWED_LOG_EVERY: Duration = Duration::from_secs(10);

/// What new originates are paced by now (`Runtime::pacing`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pacing {
    pub distress: Distress,
    /// The most calls at once over everything dialflow dials, learned from strain.
    pub ceiling: Option<u32>,
    /// The runtime's calls in progress now, whoever started them.
    pub calls_up: u32,
}

impl Pacing {
    /// How many more calls the ceiling lets start now.
    pub fn room(&self) -> u32 {
        self.ceiling
            .map_or(u32::MAX, |c| c.saturating_sub(self.calls_up))
    }
}

/// What distress has done to new originates so far.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BackoffMetrics {
    /// Time originates were slowed (some, fewer than configured), by deciding signal.
    pub slowed: BTreeMap<Signal, Duration>,
    /// Time originates were held (none at all), by deciding signal.
    pub held: BTreeMap<Signal, Duration>,
    /// How many times originates went from allowed to held.
    pub holds: u64,
    /// Calls in flight when Asterisk first showed strain, if it did.
    pub first_strain_at: Option<u32>,
    /// The most calls at once allowed now (learned from strain), if any.
    pub ceiling: Option<u32>,
}

impl BackoffMetrics {
    pub fn held_total(&self) -> Duration {
        self.held.values().sum()
    }

    pub fn slowed_total(&self) -> Duration {
        self.slowed.values().sum()
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum State {
    Free,
    Slowed(Signal),
    Held(Signal),
}

impl State {
    fn of(assessment: &Assessment) -> State {
        match assessment.worst {
            None => State::Free,
            Some(signal) if assessment.stops() => State::Held(signal),
            Some(signal) => State::Slowed(signal),
        }
    }
}

/// The back-off's state between asks.
#[derive(Debug)]
pub struct Backoff {
    state: State,
    last_ask: Option<Instant>,
    last_slowed_log: Option<Instant>,
    metrics: BackoffMetrics,
    capacity: CapacityCeiling,
    /// Whether strain sets a ceiling (`ari.learn_capacity`).
    pub learning: bool,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            state: State::Free,
            last_ask: None,
            last_slowed_log: None,
            metrics: BackoffMetrics::default(),
            capacity: CapacityCeiling::default(),
            learning: true,
        }
    }
}

impl Backoff {
    /// Distress `d`, assessed as `assessment`, decides the originates asked for at `now`.
    pub fn observe(&mut self, now: Instant, d: &Distress, assessment: &Assessment) {
        if let Some(last) = self.last_ask {
            let gap = now.saturating_duration_since(last).min(MAX_COUNTED_GAP);
            match self.state {
                State::Free => {}
                State::Slowed(s) => *self.metrics.slowed.entry(s).or_default() += gap,
                State::Held(s) => *self.metrics.held.entry(s).or_default() += gap,
            }
        }
        self.last_ask = Some(now);
        let state = State::of(assessment);
        if state != self.state {
            self.log_change(now, state, d, assessment);
        }
        self.state = state;
    }

    /// The same distress seen at `call_ms` (call time) with `in_flight` calls up:
    /// strain lowers the ceiling on calls at once (logged), clean spells raise it.
    pub fn learn(&mut self, call_ms: u64, in_flight: u32, d: &Distress) {
        if !self.learning {
            return;
        }
        let before = self.capacity.ceiling();
        self.capacity.observe(call_ms, in_flight, d);
        let after = self.capacity.ceiling();
        match (before, after) {
            (b, Some(a)) if b.is_none_or(|b| a < b) => tracing::warn!(
                ceiling = a,
                "Asterisk strained with {in_flight} calls up: at most {a} at once from now on \
                 (events {} ms late, prompts {} ms late, ARI queue {} ms)",
                d.event_lag_ms.max(d.recent_event_lag_ms),
                d.prompt_stretch_ms,
                d.queue_wait_ms
            ),
            (Some(b), Some(a)) if a > b => {
                tracing::info!(
                    ceiling = a,
                    "Asterisk clean for a while: trying {a} calls at once"
                )
            }
            _ => {}
        }
    }

    /// The most calls at once, learned from strain; `None` before any.
    pub fn ceiling(&self) -> Option<u32> {
        self.capacity.ceiling()
    }

    pub fn metrics(&self) -> BackoffMetrics {
        BackoffMetrics {
            first_strain_at: self.capacity.first_strain_at(),
            ceiling: self.capacity.ceiling(),
            ..self.metrics.clone()
        }
    }

    fn log_change(&mut self, now: Instant, to: State, d: &Distress, assessment: &Assessment) {
        match (self.state, to) {
            // Still held, another signal deciding: no new hold.
            (State::Held(_), State::Held(_)) => {}
            (_, State::Held(signal)) => {
                self.metrics.holds += 1;
                tracing::warn!(
                    signal = signal.name(),
                    value = %signal.describe(d),
                    "holding new originates: Asterisk is in distress ({signal} {})",
                    signal.describe(d)
                );
            }
            (State::Held(_), State::Free) => {
                tracing::info!("Asterisk looks healthy again: originating at full pace");
            }
            (State::Held(_), State::Slowed(signal)) => {
                tracing::info!(
                    signal = signal.name(),
                    "originating again, slowed to {:.0} % by {signal} {}",
                    assessment.factor * 100.0,
                    signal.describe(d)
                );
            }
            (State::Free, State::Slowed(signal))
                if self
                    .last_slowed_log
                    .is_none_or(|at| now.saturating_duration_since(at) >= SLOWED_LOG_EVERY) =>
            {
                self.last_slowed_log = Some(now);
                tracing::info!(
                    signal = signal.name(),
                    "slowing new originates to {:.0} %: {signal} {}",
                    assessment.factor * 100.0,
                    signal.describe(d)
                );
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::campaign::pacing::assess;

    fn ask(b: &mut Backoff, at: Instant, d: Distress) {
        b.observe(at, &d, &assess(&d));
    }

    #[test]
    fn time_held_and_slowed_is_counted_by_the_signal_that_decided() {
        let mut b = Backoff::default();
        let t0 = Instant::now();
        let ms = |n| t0 + Duration::from_millis(n);
        let severe_rest = Distress {
            rest_latency_ms: 5_000,
            ..Distress::default()
        };
        let stretched = Distress {
            prompt_stretch_ms: 800,
            ..Distress::default()
        };
        ask(&mut b, ms(0), Distress::default());
        ask(&mut b, ms(500), severe_rest);
        // Still held, another signal deciding: the same hold.
        let severe_stretch = Distress {
            prompt_stretch_ms: 9_000,
            ..Distress::default()
        };
        ask(&mut b, ms(900), severe_stretch);
        ask(&mut b, ms(1_200), stretched);
        // A long quiet spell between asks counts one second at most.
        ask(&mut b, ms(9_000), Distress::default());
        ask(&mut b, ms(9_500), severe_rest);
        ask(&mut b, ms(9_600), Distress::default());
        let m = b.metrics();
        assert_eq!(m.holds, 2);
        assert_eq!(
            m.held.get(&Signal::RestLatency),
            Some(&Duration::from_millis(500))
        );
        assert_eq!(
            m.held.get(&Signal::PromptStretch),
            Some(&Duration::from_millis(300))
        );
        assert_eq!(
            m.slowed.get(&Signal::PromptStretch),
            Some(&Duration::from_secs(1))
        );
        assert_eq!(m.held_total(), Duration::from_millis(800));
    }
}
