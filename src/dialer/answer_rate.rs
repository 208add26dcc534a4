//! A campaign's answer rate and ring time as predictive dialing needs them: without
//! the bias of counting calls as they resolve. An answered call resolves when its
//! customer picks up, a few seconds in; an unanswered one only when it gives up
//! ringing, half a minute in. Counted as they resolve, the first answers come in long
//! before the first no-answers and the rate looks near 100 % (the level then rings too
//! few), and counted at the calls' ends it looks near 0 % while the answered calls are
//! still talking (the level then rings far too many, and customers are dropped). So
//! calls are taken in the order they were placed, and only the run of calls placed
//! before the oldest one still ringing counts: all of them are resolved, whatever
//! their outcome, so the sample is not chosen by it. The same run, with how long each
//! call rang before it resolved, gives each call still ringing its own chance of an
//! answer (`core::campaign::ringing`).

use std::collections::{HashMap, VecDeque};

use crate::core::campaign::ringing::{RingOutcome, RingProfile};
use crate::desk::FREEING_HORIZON_MS;

/// How many of the latest resolved calls the rate is measured over.
pub const ANSWER_WINDOW: usize = 200;
/// The fewest resolved calls that make a rate worth trusting.
pub const ANSWER_SAMPLE: usize = 20;
/// Answers assumed on top of those measured, as if that many more calls had been
/// answered: a rate from a short sample errs high, and a high rate rings fewer calls
/// (the safe side); over the full window it moves the rate by a point or two.
const PRIOR_ANSWERS: usize = 5;
/// Calls kept waiting for an outcome at most: one that never got one (its end could
/// not be recorded) must not hold the measurement up for ever.
const MOST_KEPT: usize = 4 * ANSWER_WINDOW;

/// A call placed and not yet ended.
#[derive(Debug)]
struct Live {
    seq: u64,
    answered: bool,
    /// When it was placed (the dialer's clock, ms).
    placed_ms: u64,
    /// Placed for an agent who holds it (a manual, preview or callback call): the
    /// desk counts it as connected, so it is no pending call to find an agent for.
    for_agent: bool,
}

/// The latest calls of one campaign in the order they were placed, and ring times.
#[derive(Debug, Default)]
pub struct AnswerRate {
    /// Outcomes in placement order: `None` while ringing, then whether answered and
    /// when.
    outcomes: VecDeque<Option<RingOutcome>>,
    /// The sequence number of `outcomes`' front.
    front_seq: u64,
    /// Calls placed and not yet ended, by attempt id: their sequence number, and
    /// whether their customer answered.
    live: HashMap<String, Live>,
    /// How long each of the latest answered calls rang (ms), oldest first.
    ring_ms: VecDeque<u64>,
    /// Calls answered and not yet ended: the store counts an answer only at the
    /// call's end, and the drop rate must not count drops (short calls) before the
    /// answers still talking.
    talking: u64,
}

impl AnswerRate {
    /// The campaign placed a call at `now_ms`.
    pub fn placed(&mut self, attempt: &str, now_ms: u64) {
        self.place(attempt, now_ms, false);
    }

    /// The campaign placed a call for an agent who holds it, at `now_ms`: its
    /// outcome counts like any call's, but it is no call waiting for an agent.
    pub fn placed_for_agent(&mut self, attempt: &str, now_ms: u64) {
        self.place(attempt, now_ms, true);
    }

    fn place(&mut self, attempt: &str, now_ms: u64, for_agent: bool) {
        let seq = self.front_seq + self.outcomes.len() as u64;
        self.outcomes.push_back(None);
        let live = Live {
            seq,
            answered: false,
            placed_ms: now_ms,
            for_agent,
        };
        self.live.insert(attempt.to_string(), live);
        self.trim();
    }

    /// A call's customer answered after ringing `rang_ms` (counted once, whether the
    /// call tells it or its end does first).
    pub fn answered(&mut self, attempt: &str, rang_ms: u64) {
        let Some(live) = self.live.get_mut(attempt).filter(|l| !l.answered) else {
            return;
        };
        live.answered = true;
        let seq = live.seq;
        self.talking += 1;
        if self.ring_ms.len() == ANSWER_WINDOW {
            self.ring_ms.pop_front();
        }
        self.ring_ms.push_back(rang_ms);
        self.resolve(seq, true, rang_ms);
    }

    /// A call ended at `now_ms`, answered after ringing so long or not answered; it
    /// is forgotten as a call in progress.
    pub fn ended(&mut self, attempt: &str, answered_after_ms: Option<u64>, now_ms: u64) {
        if let Some(rang) = answered_after_ms {
            self.answered(attempt, rang);
        }
        let Some(live) = self.live.remove(attempt) else {
            return;
        };
        if live.answered {
            self.talking = self.talking.saturating_sub(1);
        } else {
            self.resolve(live.seq, false, now_ms.saturating_sub(live.placed_ms));
        }
    }

    /// Calls answered and still going on (their answers not yet in the store).
    pub fn talking(&self) -> u64 {
        self.talking
    }

    /// Sets the outcome of the call placed `seq`-th, resolved `after_ms` after it was
    /// placed, unless it has one or was trimmed away.
    fn resolve(&mut self, seq: u64, answered: bool, after_ms: u64) {
        let Some(index) = seq.checked_sub(self.front_seq) else {
            return;
        };
        if let Some(outcome @ None) = self.outcomes.get_mut(index as usize) {
            *outcome = Some(RingOutcome { answered, after_ms });
            self.trim();
        }
    }

    /// Drops what no measurement needs: resolved calls before the latest
    /// `ANSWER_WINDOW` of the resolved run, and the oldest past `MOST_KEPT`.
    fn trim(&mut self) {
        while self.outcomes.len() > MOST_KEPT
            || (self.resolved_run() > ANSWER_WINDOW && self.outcomes.front().is_some())
        {
            self.outcomes.pop_front();
            self.front_seq += 1;
        }
    }

    /// How many calls from the front are resolved, up to the oldest still ringing.
    fn resolved_run(&self) -> usize {
        self.outcomes.iter().take_while(|o| o.is_some()).count()
    }

    /// Answered ÷ placed over the latest resolved run, once it is long enough, with
    /// `PRIOR_ANSWERS` added to both.
    pub fn rate(&self) -> Option<f64> {
        let (answered, run) = self
            .run()
            .fold((0, 0), |(a, n), o| (a + usize::from(o.answered), n + 1));
        (run >= ANSWER_SAMPLE)
            .then(|| (answered + PRIOR_ANSWERS) as f64 / (run + PRIOR_ANSWERS) as f64)
    }

    /// The latest resolved run, oldest first.
    fn run(&self) -> impl Iterator<Item = RingOutcome> + '_ {
        self.outcomes.iter().map_while(|o| *o)
    }

    /// The chance of an answer of each of the campaign's `pending` calls not yet with
    /// an agent at `now_ms`: for each call still ringing (not one an agent holds),
    /// its chance from how long it has rung, the oldest first; the rest (answered,
    /// waiting for an agent) 1 each. Every chance is 1 before the rate is measured.
    pub fn pending_chances(&self, pending: u32, now_ms: u64) -> Vec<f64> {
        let Some(overall) = self.rate() else {
            return vec![1.0; pending as usize];
        };
        let profile = RingProfile::new(self.run());
        let mut ringing: Vec<&Live> = (self.live.values())
            .filter(|l| !l.answered && !l.for_agent)
            .collect();
        ringing.sort_unstable_by_key(|l| l.seq);
        let mut chances: Vec<f64> = (ringing.iter())
            .map(|l| profile.chance(now_ms.saturating_sub(l.placed_ms), overall))
            .take(pending as usize)
            .collect();
        chances.resize(pending as usize, 1.0);
        chances
    }

    /// The mean ring time of answered calls (the horizon over which an agent freeing
    /// counts for a call placed now).
    pub fn ring_ms(&self) -> u64 {
        if self.ring_ms.len() < ANSWER_SAMPLE {
            return FREEING_HORIZON_MS;
        }
        self.ring_ms.iter().sum::<u64>() / self.ring_ms.len() as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_that_resolve_first_do_not_bias_the_rate() {
        let mut rate = AnswerRate::default();
        for i in 0..40 {
            rate.placed(&format!("c{i}"), 0);
        }
        // Every third customer answers within seconds and talks on...
        for i in (0..40).step_by(3) {
            rate.answered(&format!("c{i}"), 5_000);
        }
        assert_eq!(
            rate.rate(),
            None,
            "the others still ring: nothing to say yet"
        );
        assert_eq!(rate.talking(), 14);
        // ...and the others give up ringing later, in any order.
        for i in (0..40).rev().filter(|i| i % 3 != 0) {
            rate.ended(&format!("c{i}"), None, 30_000);
        }
        assert_eq!(
            rate.rate(),
            Some(19.0 / 45.0),
            "14 of 40, and the prior's 5"
        );
        // The answered calls' ends change nothing but the calls still talking.
        for i in (0..40).step_by(3) {
            rate.ended(&format!("c{i}"), Some(5_000), 30_000);
        }
        assert_eq!(rate.rate(), Some(19.0 / 45.0));
        assert_eq!(rate.talking(), 0);
        assert_eq!(
            rate.ring_ms(),
            FREEING_HORIZON_MS,
            "14 ring times say too little"
        );
    }

    #[test]
    fn the_oldest_ringing_call_bounds_the_sample_and_the_window_slides() {
        let mut rate = AnswerRate::default();
        rate.placed("slow", 0);
        for i in 0..300 {
            let id = format!("c{i}");
            rate.placed(&id, 0);
            rate.ended(&id, (i % 2 == 0).then_some(3_000), 30_000);
        }
        assert_eq!(rate.rate(), None, "`slow` still rings");
        rate.ended("slow", None, 30_000);
        // The latest 200 resolved calls: 100 answered.
        assert_eq!(rate.rate(), Some(105.0 / 205.0));
        assert_eq!(rate.ring_ms(), 3_000);
        assert!(rate.outcomes.len() <= ANSWER_WINDOW + 1);
        assert!(rate.live.is_empty());
    }

    #[test]
    fn a_call_that_never_ends_holds_nothing_up_for_ever() {
        let mut rate = AnswerRate::default();
        rate.placed("lost", 0);
        for i in 0..MOST_KEPT + 50 {
            let id = format!("c{i}");
            rate.placed(&id, 0);
            rate.ended(&id, None, 30_000);
        }
        let none = Some(5.0 / 205.0);
        assert_eq!(rate.rate(), none, "no answer but the prior's");
        // An unknown or repeated end changes nothing.
        rate.ended("never-placed", Some(1_000), 30_000);
        rate.ended("c5", Some(1_000), 30_000);
        assert_eq!(rate.rate(), none);
        assert_eq!(rate.talking(), 0);
        // The lost call answers at last, long after it was trimmed from the window:
        // it talks, then ends, and nothing is counted twice or below zero.
        rate.answered("lost", 2_000);
        assert_eq!(rate.talking(), 1);
        rate.ended("lost", Some(2_000), 30_000);
        assert_eq!((rate.talking(), rate.rate()), (0, none));
    }

    #[test]
    fn a_call_that_rang_past_the_usual_answers_counts_for_little() {
        let mut rate = AnswerRate::default();
        // 100 calls: every third answered 5 s in, the others rang out at 30 s.
        for i in 0..100 {
            let id = format!("c{i}");
            rate.placed(&id, 0);
            if i % 3 == 0 {
                rate.ended(&id, Some(5_000), 60_000);
            } else {
                rate.ended(&id, None, 30_000);
            }
        }
        rate.placed("fresh", 100_000);
        rate.placed("stale", 80_000);
        rate.placed("answered", 95_000);
        rate.answered("answered", 4_000);
        // Three pending: two ringing, and one answered call waiting for an agent.
        let mut chances = rate.pending_chances(3, 100_000 + 1_000);
        chances.sort_by(f64::total_cmp);
        assert_eq!(chances[0], 0.0, "rang 21 s: past every answer seen");
        assert!((chances[1] - 34.0 / 100.0).abs() < 1e-12, "rang 1 s");
        assert_eq!(chances[2], 1.0, "answered, waiting");
    }

    proptest::proptest! {
        #[test]
        fn every_pending_call_has_one_chance_and_it_is_a_probability(
            calls in proptest::collection::vec((0u64..40_000, 0u8..3), 0..300),
            pending in 0u32..400,
        ) {
            // Calls placed a second apart: answered after their delay, rung out after
            // it, or still on (ringing).
            let mut rate = AnswerRate::default();
            for (i, (delay, fate)) in calls.iter().enumerate() {
                let id = format!("c{i}");
                let placed = i as u64 * 1_000;
                rate.placed(&id, placed);
                match fate {
                    0 => rate.ended(&id, Some(*delay), placed + delay + 60_000),
                    1 => rate.ended(&id, None, placed + delay),
                    _ => {}
                }
            }
            let chances = rate.pending_chances(pending, calls.len() as u64 * 1_000);
            proptest::prop_assert_eq!(chances.len(), pending as usize);
            for c in chances {
                proptest::prop_assert!((0.0..=1.0).contains(&c), "{}", c);
            }
        }
    }

    #[test]
    fn a_call_an_agent_holds_is_no_pending_call_and_a_waiting_customer_counts_in_full() {
        let mut rate = AnswerRate::default();
        for i in 0..100 {
            let id = format!("c{i}");
            rate.placed(&id, 0);
            rate.ended(&id, (i % 3 == 0).then_some(5_000), 30_000);
        }
        // An agent's own call rings; one customer answered and waits for an agent.
        rate.placed_for_agent("manual", 100_000);
        rate.placed("waiting", 100_000);
        rate.answered("waiting", 3_000);
        // The desk counts the agent's call as connected: one call pending, the waiting
        // customer, a sure answer whatever the agent's call's chance.
        assert_eq!(rate.pending_chances(1, 103_000), vec![1.0]);
        // Its outcome still counts: 34 answers of 100, then the waiting customer's and
        // the agent's call's, and the prior's 5.
        rate.ended("manual", Some(2_000), 110_000);
        assert_eq!(rate.rate(), Some(41.0 / 107.0));
    }
}
