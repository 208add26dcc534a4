//! Agents expected to be free soon, from how long their calls have lasted: predictive
//! dialing places a call now for an agent who will be free when the customer answers,
//! a ring time from now, and nobody knows when a conversation ends. What is known is
//! how long each busy agent's cycle (talk, then wrap-up, until ready again) has run
//! and how long the campaign's recent cycles lasted. Of the recent cycles longer than
//! this one's elapsed time, the share that ended within the horizon after it is the
//! chance this agent is free within the horizon (the empirical distribution's hazard;
//! no assumption that talk times are exponential, which they are not). The expected
//! number of agents free soon is the sum of those chances. Pure: the desk hands in the
//! elapsed times, the dialer the horizon.

use std::collections::VecDeque;

/// How many of the latest cycles the distribution is made of.
pub const CYCLE_WINDOW: usize = 200;
/// Fewer recent cycles than this longer than an agent's elapsed time say too little:
/// the agent counts as not freeing (no drop is risked on a guess).
const FEW: usize = 5;

/// The latest busy cycles of one campaign's agents (ms), oldest first, with a sorted
/// copy to count from.
#[derive(Debug, Clone, Default)]
pub struct CycleTimes {
    recent: VecDeque<u64>,
    sorted: Vec<u64>,
}

impl CycleTimes {
    /// An agent's cycle lasted `ms`, from the call's bridge to ready again.
    pub fn record(&mut self, ms: u64) {
        if self.recent.len() == CYCLE_WINDOW
            && let Some(oldest) = self.recent.pop_front()
            && let Ok(at) = self.sorted.binary_search(&oldest)
        {
            self.sorted.remove(at);
        }
        self.recent.push_back(ms);
        let at = self.sorted.partition_point(|d| *d < ms);
        self.sorted.insert(at, ms);
    }

    /// The chance that a cycle which has run `elapsed_ms` ends within `horizon_ms`:
    /// of the recent cycles longer than `elapsed_ms`, the share no longer than
    /// `elapsed_ms + horizon_ms`; 0 when too few are longer to tell.
    pub fn chance_free_within(&self, elapsed_ms: u64, horizon_ms: u64) -> f64 {
        let longer_from = self.sorted.partition_point(|d| *d <= elapsed_ms);
        let longer = self.sorted.len() - longer_from;
        if longer < FEW {
            return 0.0;
        }
        let until = elapsed_ms.saturating_add(horizon_ms);
        let ending = self.sorted.partition_point(|d| *d <= until) - longer_from;
        ending as f64 / longer as f64
    }

    /// The expected number of agents free within `horizon_ms`, of busy agents whose
    /// cycles have run `elapsed_ms` each.
    pub fn expected_free(&self, elapsed_ms: impl IntoIterator<Item = u64>, horizon_ms: u64) -> f64 {
        elapsed_ms
            .into_iter()
            .map(|e| self.chance_free_within(e, horizon_ms))
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn uniform(from: u64, to: u64, step: u64) -> CycleTimes {
        let mut c = CycleTimes::default();
        for ms in (from..=to).step_by(step as usize) {
            c.record(ms);
        }
        c
    }

    #[test]
    fn the_chance_is_the_share_of_longer_cycles_that_end_within_the_horizon() {
        // Cycles of 40..=100 s, every second: 61 of them.
        let c = uniform(40_000, 100_000, 1_000);
        // A fresh cycle cannot end within 10 s: none is that short.
        assert_eq!(c.chance_free_within(0, 10_000), 0.0);
        // At 60 s, 40 cycles are longer, 10 of them end by 70 s.
        assert!((c.chance_free_within(60_000, 10_000) - 10.0 / 40.0).abs() < 1e-12);
        // At 95 s, 5 longer ones are left, all end within 10 s.
        assert_eq!(c.chance_free_within(95_000, 10_000), 1.0);
        // Past nearly every cycle seen: too few to say, so not counted.
        assert_eq!(c.chance_free_within(97_000, 10_000), 0.0);
        let sum = c.expected_free([0, 60_000, 95_000], 10_000);
        assert!((sum - 1.25).abs() < 1e-12, "{sum}");
    }

    #[test]
    fn only_the_latest_cycles_count() {
        let mut c = uniform(1_000, 200_000, 1_000);
        assert_eq!(c.recent.len(), CYCLE_WINDOW);
        for _ in 0..CYCLE_WINDOW {
            c.record(10_000);
        }
        assert_eq!(c.sorted, vec![10_000; CYCLE_WINDOW]);
        assert_eq!(c.chance_free_within(5_000, 5_000), 1.0);
    }

    proptest! {
        #[test]
        fn the_sorted_copy_always_holds_exactly_the_window(
            cycles in proptest::collection::vec(0u64..500_000, 0..600),
        ) {
            let mut c = CycleTimes::default();
            for ms in &cycles {
                c.record(*ms);
            }
            let mut window: Vec<u64> = cycles.iter().rev().take(CYCLE_WINDOW).copied().collect();
            window.sort_unstable();
            prop_assert_eq!(&c.sorted, &window);
            for e in [0, 1_000, 60_000, 400_000] {
                let p = c.chance_free_within(e, 10_000);
                prop_assert!((0.0..=1.0).contains(&p));
            }
        }
    }
}
