//! The chance that a call still ringing will be answered, from how long it has rung:
//! predictive dialing counts the answers its ringing calls will bring, and a call that
//! has rung for twenty seconds is not the call placed a second ago. Customers who
//! answer mostly do so within seconds, and the rest ring until the originate timeout,
//! so the longer a call rings the less likely an answer; counted at the overall answer
//! rate, the long-ringing calls stand for answers that never come and the level rings
//! too few (agents wait). Of the recent resolved calls that were still unresolved at
//! this call's ring time, the share that was answered is this call's chance (the
//! empirical distribution, as `freeing` does for agents' cycles). Pure: the dialer
//! hands in the resolved calls and the ring times.

/// How a resolved call ended its ringing, and when (ms after it was placed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RingOutcome {
    pub answered: bool,
    pub after_ms: u64,
}

/// Fewer recent calls than this unresolved at a ring time say too little: such a call
/// counts at the overall answer rate.
const FEW: usize = 5;

/// The resolved calls' ring times, sorted, to count from.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RingProfile {
    /// When each answered call was answered.
    answered: Vec<u64>,
    /// When each call resolved, answered or not.
    resolved: Vec<u64>,
}

impl RingProfile {
    /// The profile of these resolved calls.
    pub fn new(outcomes: impl IntoIterator<Item = RingOutcome>) -> RingProfile {
        let mut profile = RingProfile::default();
        for o in outcomes {
            if o.answered {
                profile.answered.push(o.after_ms);
            }
            profile.resolved.push(o.after_ms);
        }
        profile.answered.sort_unstable();
        profile.resolved.sort_unstable();
        profile
    }

    /// The chance that a call unresolved after ringing `rung_ms` is answered: of the
    /// calls that were still unresolved then, the share answered later; `overall`
    /// (the measured answer rate) when too few were.
    pub fn chance(&self, rung_ms: u64, overall: f64) -> f64 {
        let later = |times: &[u64]| times.len() - times.partition_point(|t| *t <= rung_ms);
        let unresolved = later(&self.resolved);
        if unresolved < FEW {
            return overall;
        }
        later(&self.answered) as f64 / unresolved as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn outcome(answered: bool, after_ms: u64) -> RingOutcome {
        RingOutcome { answered, after_ms }
    }

    #[test]
    fn a_call_that_rang_past_the_answers_is_unlikely_to_be_answered() {
        // 30 answered at 3..=12 s, 70 rang out at 30 s.
        let calls = (0..30)
            .map(|i| outcome(true, 3_000 + (i % 10) * 1_000))
            .chain((0..70).map(|_| outcome(false, 30_000)));
        let profile = RingProfile::new(calls);
        assert!((profile.chance(0, 0.3) - 0.3).abs() < 1e-12);
        // At 7.5 s: 15 of the answered (8..=12 s) are still to come, of 85 unresolved.
        assert!((profile.chance(7_500, 0.3) - 15.0 / 85.0).abs() < 1e-12);
        assert_eq!(profile.chance(15_000, 0.3), 0.0);
        // Past every call seen: too few to say, the overall rate.
        assert_eq!(profile.chance(31_000, 0.3), 0.3);
    }

    proptest! {
        #[test]
        fn the_chance_is_a_probability_that_falls_while_answers_only_come_early(
            answers in proptest::collection::vec(0u64..20_000, 0..100),
            ring_outs in 5usize..100,
        ) {
            let calls = answers.iter().map(|a| outcome(true, *a))
                .chain((0..ring_outs).map(|_| outcome(false, 30_000)));
            let profile = RingProfile::new(calls);
            let mut last = 1.0;
            for rung in (0..30_000).step_by(500) {
                let p = profile.chance(rung, 0.5);
                prop_assert!((0.0..=1.0).contains(&p));
                prop_assert!(p <= last + 1e-12, "{p} after {last} at {rung} ms");
                last = p;
            }
        }
    }
}
