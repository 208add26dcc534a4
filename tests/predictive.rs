//! Predictive dialing's level in a simulated call centre: agents with a handle time
//! and a wrap-up, customers who answer with some probability after ringing a while,
//! one-second steps, a seeded random source. The dialer knows what the live one does:
//! who is free now, how long each busy agent's cycle has run and how long recent
//! cycles lasted (`freeing::CycleTimes`, never when a call will end), the measured
//! answer rate and ring time, and how long recent calls rang before they were answered
//! or rang out (`ringing::RingProfile`, for the chance of each call still ringing). With a steady answer rate the drop rate never ends a
//! day over its cap; when the answer rate falls, the level adapts and the agents are
//! busy again within minutes.

use dialflow::core::campaign::freeing::CycleTimes;
use dialflow::core::campaign::predictive::{DropCounts, Limits, Measured, level};
use dialflow::core::campaign::ringing::{RingOutcome, RingProfile};
use proptest::prelude::*;
use std::collections::VecDeque;

/// How long an answered customer may wait for an agent before the safe harbor drops
/// them (the campaign setting's default).
const SAFE_HARBOR_S: u64 = 2;
/// How long an unanswered call rings before the originate gives up (the default).
const RING_OUT_S: u64 = 30;
/// How many resolved calls the dialer's measures are taken over.
const WINDOW: usize = 200;

/// One simulated call centre.
struct Centre {
    rng: fastrand::Rng,
    /// When each agent is free again (seconds): known to the simulation only.
    busy_until: Vec<u64>,
    /// When each busy agent's cycle began, until it is recorded as over.
    cycle_began: Vec<Option<u64>>,
    /// The cycles that ended, as the desk measures them.
    cycles: CycleTimes,
    /// Seconds from placing to answer of the answered calls: their sum and count.
    answer_delay: (u64, u64),
    /// Calls ringing: when they resolve, whether they are answered then, when placed.
    ringing: Vec<(u64, bool, u64)>,
    /// Answered customers with no agent yet: when the safe harbor drops each.
    waiting: Vec<u64>,
    answer_rate: f64,
    handle_s: u64,
    wrap_s: u64,
    /// The latest resolved calls, as the dialer measures them.
    outcomes: VecDeque<RingOutcome>,
    resolved: u64,
    drops: DropCounts,
    busy_agent_seconds: u64,
    agent_seconds: u64,
}

impl Centre {
    fn new(seed: u64, agents: usize, answer_rate: f64, handle_s: u64) -> Centre {
        Centre {
            rng: fastrand::Rng::with_seed(seed),
            busy_until: vec![0; agents],
            cycle_began: vec![None; agents],
            cycles: CycleTimes::default(),
            answer_delay: (0, 0),
            ringing: Vec::new(),
            waiting: Vec::new(),
            answer_rate,
            handle_s,
            wrap_s: 10,
            outcomes: VecDeque::new(),
            resolved: 0,
            drops: DropCounts::default(),
            busy_agent_seconds: 0,
            agent_seconds: 0,
        }
    }

    /// Places `n` calls at `now`: each answered after 3–12 s with the answer rate, or
    /// given up after `RING_OUT_S` of ringing.
    fn place(&mut self, now: u64, n: u32) {
        for _ in 0..n {
            let answered = self.rng.f64() < self.answer_rate;
            let at = if answered {
                now + self.rng.u64(3..=12)
            } else {
                now + RING_OUT_S
            };
            self.ringing.push((at, answered, now));
        }
    }

    /// Resolves the calls due at `now`: an answered customer takes a free agent, or is
    /// dropped.
    fn resolve(&mut self, now: u64) {
        let (due, rest): (Vec<_>, Vec<_>) =
            self.ringing.drain(..).partition(|(at, _, _)| *at <= now);
        self.ringing = rest;
        for (at, answered, placed) in due {
            self.resolved += 1;
            if self.outcomes.len() == WINDOW {
                self.outcomes.pop_front();
            }
            let after_ms = (at - placed) * 1_000;
            self.outcomes.push_back(RingOutcome { answered, after_ms });
            if !answered {
                continue;
            }
            self.drops.answered += 1;
            self.answer_delay.0 += at - placed;
            self.answer_delay.1 += 1;
            self.waiting.push(now + SAFE_HARBOR_S);
        }
        // The longest-waiting customers first; those past the safe harbor are dropped.
        let waiting = std::mem::take(&mut self.waiting);
        for deadline in waiting {
            let handle = self.rng.u64(self.handle_s / 2..=self.handle_s * 3 / 2);
            match self.busy_until.iter().position(|b| *b <= now) {
                Some(agent) => {
                    self.busy_until[agent] = now + handle + self.wrap_s;
                    self.cycle_began[agent] = Some(now);
                }
                None if deadline <= now => self.drops.dropped += 1,
                None => self.waiting.push(deadline),
            }
        }
    }

    /// Records the cycles that ended by `now`, as the desk does when an agent is ready.
    fn ready(&mut self, now: u64) {
        for (until, began) in self.busy_until.iter().zip(&mut self.cycle_began) {
            if *until <= now
                && let Some(b) = began.take()
            {
                self.cycles.record((until - b) * 1_000);
            }
        }
    }

    /// What the dialer knows: busy agents' elapsed cycles, and the mean ring time.
    fn freeing_soon(&self, now: u64) -> f64 {
        // As the live dialer: the mean answer delay, the safe harbor left as margin.
        let horizon_ms = match self.answer_delay {
            (_, 0) => 10_000,
            (sum, n) => sum * 1_000 / n,
        };
        let elapsed = self
            .cycle_began
            .iter()
            .flatten()
            .map(|began| (now - began) * 1_000);
        self.cycles.expected_free(elapsed, horizon_ms)
    }

    /// Answered ÷ resolved over the window, with 5 answers more (as the dialer does).
    fn answer_rate(&self) -> Option<f64> {
        let answered = self.outcomes.iter().filter(|o| o.answered).count();
        (self.resolved >= 20).then(|| (answered + 5) as f64 / (self.outcomes.len() + 5) as f64)
    }

    /// Each call not yet with an agent: its chance of an answer, from how long it has
    /// rung; 1 for a customer answered and waiting.
    fn pending_chances(&self, now: u64) -> Vec<f64> {
        let Some(overall) = self.answer_rate() else {
            return vec![1.0; self.ringing.len() + self.waiting.len()];
        };
        let profile = RingProfile::new(self.outcomes.iter().copied());
        let ringing = self.ringing.iter();
        ringing
            .map(|(_, _, placed)| profile.chance((now - placed) * 1_000, overall))
            .chain(self.waiting.iter().map(|_| 1.0))
            .collect()
    }

    fn step(&mut self, now: u64, limits: &Limits) {
        self.ready(now);
        self.resolve(now);
        let available = self.busy_until.iter().filter(|b| **b <= now).count() as u32;
        self.agent_seconds += self.busy_until.len() as u64;
        self.busy_agent_seconds += self.busy_until.len() as u64 - u64::from(available);
        let m = Measured {
            available_agents: available,
            freeing_soon: self.freeing_soon(now),
            pending: self.pending_chances(now),
            answer_rate: self.answer_rate(),
            today: self.drops,
            last_30_days: self.drops,
        };
        let place = level(&m, limits).place;
        self.place(now, place);
    }

    fn occupancy(&self) -> f64 {
        self.busy_agent_seconds as f64 / self.agent_seconds.max(1) as f64
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn with_a_steady_answer_rate_a_day_ends_under_its_drop_cap(
        seed in any::<u64>(),
        agents in 5usize..60,
        answer_rate in 0.1f64..0.8,
        handle_s in 30u64..180,
    ) {
        let limits = Limits::default();
        let mut centre = Centre::new(seed, agents, answer_rate, handle_s);
        for now in 0..4 * 3_600 {
            centre.step(now, &limits);
        }
        let rate = centre.drops.rate().unwrap_or(0.0);
        prop_assert!(rate <= limits.drop_cap, "drop rate {rate:.4} over {} answered", centre.drops.answered);
        prop_assert!(centre.drops.answered > 100);
    }
}

#[test]
fn fifty_agents_at_a_30_percent_answer_rate_stay_busy_under_the_cap() {
    let limits = Limits::default();
    let mut centre = Centre::new(7, 50, 0.3, 60);
    for now in 0..4 * 3_600 {
        centre.step(now, &limits);
    }
    let rate = centre.drops.rate().unwrap();
    assert!(rate <= limits.drop_cap, "{rate}");
    // The target: at least 85 % occupancy at no more than 3 % drops.
    eprintln!(
        "occupancy {:.3} at a drop rate of {rate:.4}",
        centre.occupancy()
    );
    assert!(
        centre.occupancy() >= 0.85,
        "occupancy {:.3} at a drop rate of {rate:.4}",
        centre.occupancy()
    );
}

#[test]
fn when_fewer_customers_answer_the_level_adapts_within_minutes() {
    let limits = Limits::default();
    let mut centre = Centre::new(11, 40, 0.6, 90);
    for now in 0..3_600 {
        centre.step(now, &limits);
    }
    let before = centre.occupancy();
    // Half as many customers answer from now on.
    centre.answer_rate = 0.25;
    for now in 3_600..3_600 + 15 * 60 {
        centre.step(now, &limits);
    }
    // The next half hour, once the measured rate has followed: busy again.
    let (busy, all) = (centre.busy_agent_seconds, centre.agent_seconds);
    for now in 3_600 + 15 * 60..3_600 + 45 * 60 {
        centre.step(now, &limits);
    }
    let after = (centre.busy_agent_seconds - busy) as f64 / (centre.agent_seconds - all) as f64;
    assert!(
        after > 0.8 && after > before - 0.1,
        "occupancy {before:.3} → {after:.3}"
    );
    let rate = centre.drops.rate().unwrap();
    assert!(rate <= limits.drop_cap, "{rate}");
}
