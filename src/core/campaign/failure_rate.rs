//! The failure-rate breaker: half a campaign's calls failing over two minutes pauses it,
//! as dograh does. A breaker on failures *in a row* never trips on a provider that fails
//! every other call, and each of those calls tells the panel something untrue (an
//! `stt_failure` maps to NOT_INTERESTED in seed 000); a share over a window does.

use std::collections::VecDeque;

/// How far back the share is taken.
pub const WINDOW_MS: u64 = 120_000;
/// Fewer ended calls than this in the window decide nothing: two failures of the first
/// three calls are not a broken provider.
pub const MIN_CALLS: usize = 5;

/// The calls ended in the last `WINDOW_MS`, failed or not.
#[derive(Debug, Default)]
pub struct FailureRate {
    ended: VecDeque<(u64, bool)>,
}

/// Why the breaker tripped: `failed` of `calls` in the window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tripped {
    pub failed: usize,
    pub calls: usize,
}

impl FailureRate {
    /// Counts a call ended at `at_ms` (wall time), technically failed or not; trips when
    /// at least `MIN_CALLS` ended in the window and half or more of them failed. After
    /// a trip the window starts afresh, so a resumed campaign is judged on new calls.
    pub fn record(&mut self, at_ms: u64, failed: bool) -> Option<Tripped> {
        self.ended.push_back((at_ms, failed));
        while self
            .ended
            .front()
            .is_some_and(|(t, _)| at_ms.saturating_sub(*t) > WINDOW_MS)
        {
            self.ended.pop_front();
        }
        let calls = self.ended.len();
        let failed = self.ended.iter().filter(|(_, f)| *f).count();
        if calls >= MIN_CALLS && failed * 2 >= calls {
            self.ended.clear();
            return Some(Tripped { failed, calls });
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_other_call_failing_trips_once_enough_calls_ended() {
        let mut rate = FailureRate::default();
        let verdicts: Vec<_> = (0..6).map(|i| rate.record(i * 1_000, i % 2 == 1)).collect();
        assert_eq!(verdicts[..5], [None; 5], "two of five failed: under half");
        assert_eq!(
            verdicts[5],
            Some(Tripped {
                failed: 3,
                calls: 6
            })
        );
        assert_eq!(rate.record(7_000, true), None, "judged afresh after a trip");
    }

    #[test]
    fn failures_spread_beyond_the_window_do_not_add_up() {
        let mut rate = FailureRate::default();
        for i in 0..20 {
            // One failure a minute among three good calls a minute: a quarter.
            let minute = i * 60_000;
            assert_eq!(rate.record(minute, true), None);
            for k in 1..=3 {
                assert_eq!(rate.record(minute + k * 1_000, false), None);
            }
        }
    }

    #[test]
    fn a_few_healthy_calls_then_a_broken_provider_trips_within_the_window() {
        let mut rate = FailureRate::default();
        for i in 0..10 {
            assert_eq!(rate.record(i * 1_000, false), None);
        }
        let trip = (10..30).find_map(|i| rate.record(i * 1_000, true));
        assert_eq!(
            trip,
            Some(Tripped {
                failed: 10,
                calls: 20
            })
        );
    }
}
