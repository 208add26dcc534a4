//! Predictive dialing's dial level: how many more customers to ring now, so that agents
//! wait little while the share of answered customers who find no free agent (drops,
//! which safe harbor hangs up) stays under a cap (3 % by default, as the US
//! Telemarketing Sales Rule asks, per campaign per day and over 30 days). Pure: the
//! caller hands in what it measured; nothing here knows a clock or a store.
//!
//! The method, in the tradition of VICIdial's adaptive modes:
//!
//! 1. **Who can take a call.** The agents free now, plus those expected to be free
//!    within about a ring time: a call placed now is answered a ring time from now.
//!    Nobody knows when a conversation ends, so each busy agent counts for the chance
//!    that their cycle (talk, then wrap-up) ends within the measured ring time, from
//!    how long the campaign's recent cycles lasted (`freeing`); the sum is the
//!    expectation. The drop budget below covers the forecast's misses.
//! 2. **An exact overflow estimate.** Each call not yet with an agent will bring an
//!    answer with its own chance: 1 for a customer who answered and waits, and for a
//!    call still ringing the share of recent calls unresolved at its ring time that
//!    were answered later (`ringing`: a call that has rung past the usual answers
//!    will likely ring out). A new call's chance is the measured answer rate `p`. The
//!    answers `X` are then a sum of independent chances (Poisson-binomial, its
//!    distribution built call by call), and the expected drops are
//!    `E[max(0, X − agents)]`. The level is the most new calls whose expected drops
//!    stay within a budget of the expected answers `E[X]` (an Erlang-style estimate
//!    over the ring time rather than a queue in steady state).
//! 3. **The budget adapts to what happened.** The estimate is taken afresh every
//!    second over the same ringing calls, and the forecast of free agents is cautious
//!    (an agent whose cycle is longer than nearly all seen counts for nothing), so the
//!    drops it lets happen are far fewer than its budget: a budget of the cap itself
//!    ends a day near 0.5 % drops with agents idle. So the budget is a feedback gain,
//!    as in VICIdial's adaptive modes: up to twice the cap while no drop has
//!    happened, shrinking in proportion to the headroom left below the hard limit as
//!    today's (or the month's) drops use it, down to a tenth of the cap.
//! 4. **A hard limit** (VICIdial's `ADAPT_HARD_LIMIT`): once today's or the month's
//!    measured drop rate reaches 80 % of the cap, the campaign dials progressively
//!    (one call per free agent, no overdial) until it is back under; the last fifth is
//!    a margin for the calls already ringing then, which may still drop.
//!
//! With no measured answer rate yet the level is also progressive: the first calls
//! measure it.

/// How much an agent expected to be free within a ring time counts for.
const FREEING_WEIGHT: f64 = 1.0;

/// The share of the cap at which overdialing stops: the rest is a margin for the drops
/// of calls already ringing when it is reached.
const HARD_LIMIT_SHARE: f64 = 0.8;

/// The budget per unit of headroom left: how far the snapshot estimate may aim past
/// the cap, since the drops it lets through are a fraction of what it allows. With
/// each ringing call's own chance: 2 keeps the agents bench 88 % busy at 2.0-2.5 %
/// drops in minutes 5-20 (three runs); 3 was as busy but spread 1.8-3.2 % over five runs
/// (tests/predictive.rs, 50 agents at a 30 % answer rate: 87 % busy at 1.2 %).
const BUDGET_GAIN: f64 = 2.0;

/// Drops and answers counted for the cap.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct DropCounts {
    pub dropped: u64,
    pub answered: u64,
}

impl DropCounts {
    /// The drop rate, when anything was answered.
    pub fn rate(self) -> Option<f64> {
        (self.answered > 0).then(|| self.dropped as f64 / self.answered as f64)
    }
}

/// What the dialer measured, for one campaign, now.
#[derive(Debug, Clone, PartialEq)]
pub struct Measured {
    /// Agents ready for a call now.
    pub available_agents: u32,
    /// Agents expected to be free within about one ring time: the sum of each busy
    /// agent's chance (`freeing::CycleTimes`).
    pub freeing_soon: f64,
    /// Each call not yet with an agent: the chance it brings an answer (1 for a
    /// customer who answered and waits, `ringing::RingProfile::chance` for a call
    /// still ringing).
    pub pending: Vec<f64>,
    /// Answered ÷ placed, smoothed (a new call's chance); `None` before there is
    /// enough to say.
    pub answer_rate: Option<f64>,
    pub today: DropCounts,
    pub last_30_days: DropCounts,
}

/// The campaign's limits for the level.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    /// The most drops per answered call (0.03).
    pub drop_cap: f64,
    /// The most calls ringing per agent who can take one (VICIdial's maximum level).
    pub max_ratio: f64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            drop_cap: 0.03,
            max_ratio: 5.0,
        }
    }
}

/// Why the level is what it is (for the dashboard and the log).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// No agent can take a call.
    NoAgents,
    /// No answer rate yet: one call per free agent.
    Measuring,
    /// The drop rate reached the cap: one call per free agent until it is back under.
    HardLimit,
    /// Overdialing within the drop budget.
    Predictive,
}

/// How many more calls to place now, and why.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Level {
    pub place: u32,
    pub mode: Mode,
}

/// The dial level for `m` under `limits`.
pub fn level(m: &Measured, limits: &Limits) -> Level {
    let freeing = if m.freeing_soon.is_finite() {
        m.freeing_soon.max(0.0)
    } else {
        0.0
    };
    let agents = f64::from(m.available_agents) + freeing * FREEING_WEIGHT;
    if agents < 1.0 {
        return Level {
            place: 0,
            mode: Mode::NoAgents,
        };
    }
    let pending = u32::try_from(m.pending.len()).unwrap_or(u32::MAX);
    let progressive = |mode| Level {
        place: m.available_agents.saturating_sub(pending),
        mode,
    };
    let Some(p) = m.answer_rate.filter(|p| *p > 0.0 && p.is_finite()) else {
        return progressive(Mode::Measuring);
    };
    let p = p.min(1.0);
    let used = [m.today.rate(), m.last_30_days.rate()]
        .into_iter()
        .flatten()
        .fold(0.0_f64, f64::max);
    // The calls already ringing may still drop: the limit holds back a margin for them.
    let limit = limits.drop_cap * HARD_LIMIT_SHARE;
    if used >= limit {
        return progressive(Mode::HardLimit);
    }
    let headroom = (BUDGET_GAIN * (limit - used) / limit).clamp(0.1, BUDGET_GAIN);
    let budget = limits.drop_cap * headroom;
    let most = (limits.max_ratio * agents.max(1.0)).ceil() as u32;
    let room = most.saturating_sub(pending);
    Level {
        place: most_within_budget(&m.pending, agents.floor() as u32, p, budget, room),
        mode: Mode::Predictive,
    }
}

/// The most new calls (up to `room`), each answered with chance `p`, that keep the
/// expected drops within `budget` of the expected answers, on top of the `pending`
/// calls' chances, for `agents`. At least as many as leave every agent a call.
fn most_within_budget(pending: &[f64], agents: u32, p: f64, budget: f64, room: u32) -> u32 {
    let mut answers = Answers::for_agents(agents);
    for chance in pending {
        answers.add(chance.clamp(0.0, 1.0));
    }
    let one_each = agents.saturating_sub(answers.calls()).min(room);
    let mut place = 0;
    while place < room {
        answers.add(p);
        if place >= one_each && answers.overflow() > budget * answers.expected() {
            break;
        }
        place += 1;
    }
    place
}

/// The answers a set of calls brings, each with its own chance (Poisson-binomial),
/// built one call at a time, for a number of agents: only the chances of up to that
/// many answers are kept (each depends only on those below it), which is all the
/// expected overflow needs, so a call costs O(agents) whatever the calls ringing.
#[derive(Debug, Clone)]
pub struct Answers {
    agents: u32,
    /// `low[k]`: the chance of exactly `k` answers, for `k` up to `agents`.
    low: Vec<f64>,
    calls: u32,
    expected: f64,
}

impl Answers {
    /// No calls yet, for `agents`.
    pub fn for_agents(agents: u32) -> Answers {
        let mut low = vec![0.0; agents as usize + 1];
        low[0] = 1.0;
        Answers {
            agents,
            low,
            calls: 0,
            expected: 0.0,
        }
    }

    /// One more call, answered with `chance`.
    pub fn add(&mut self, chance: f64) {
        for k in (1..self.low.len()).rev() {
            self.low[k] = self.low[k] * (1.0 - chance) + self.low[k - 1] * chance;
        }
        self.low[0] *= 1.0 - chance;
        self.calls += 1;
        self.expected += chance;
    }

    /// How many calls it holds.
    pub fn calls(&self) -> u32 {
        self.calls
    }

    /// `E[X]`: the answers expected.
    pub fn expected(&self) -> f64 {
        self.expected
    }

    /// `E[max(0, X − agents)]`: the answers expected to find no agent, as
    /// `E[X] − agents + E[max(0, agents − X)]`.
    pub fn overflow(&self) -> f64 {
        let short: f64 = (self.low.iter().enumerate())
            .map(|(k, pk)| (self.agents as usize - k) as f64 * pk)
            .sum();
        (self.expected - f64::from(self.agents) + short).max(0.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn measured(available: u32, ringing: u32, p: Option<f64>) -> Measured {
        Measured {
            available_agents: available,
            freeing_soon: 0.0,
            pending: vec![p.unwrap_or(0.0); ringing as usize],
            answer_rate: p,
            today: DropCounts::default(),
            last_30_days: DropCounts::default(),
        }
    }

    /// `E[max(0, X − agents)]` for `X` binomial(`n`, `p`), from the closed form.
    fn binomial_overflow(n: u32, p: f64, agents: u32) -> f64 {
        let mut pmf = (1.0 - p).powi(n as i32);
        let mut overflow = 0.0;
        for k in 0..=n {
            if k > 0 {
                pmf *= f64::from(n - k + 1) / f64::from(k) * p / (1.0 - p);
            }
            overflow += f64::from(k.saturating_sub(agents)) * pmf;
        }
        overflow
    }

    #[test]
    fn the_answers_of_equal_chances_are_the_binomial_s() {
        // n = 2, p = 0.5, one agent: only X = 2 overflows, by one, with chance 1/4.
        let mut two = Answers::for_agents(1);
        two.add(0.5);
        two.add(0.5);
        assert!((two.overflow() - 0.25).abs() < 1e-12);
        assert_eq!(two.expected(), 1.0);
        for agents in [0, 50, 80, 90, 120, 400] {
            let mut many = Answers::for_agents(agents);
            for _ in 0..300 {
                many.add(0.3);
            }
            let exact = binomial_overflow(300, 0.3, agents);
            assert!((many.overflow() - exact).abs() < 1e-9, "{agents}");
        }
        // A large n keeps its mass: the expected overflow of 2,000 at ½ over 900.
        let mut big = Answers::for_agents(900);
        for _ in 0..2_000 {
            big.add(0.5);
        }
        assert!((big.overflow() - 100.0).abs() < 1.0);
        assert_eq!(big.calls(), 2_000);
    }

    proptest::proptest! {
        #[test]
        fn the_overflow_of_mixed_chances_is_every_outcome_s_weighed(
            chances in proptest::collection::vec(0.0f64..=1.0, 0..11),
            agents in 0u32..12,
        ) {
            let mut answers = Answers::for_agents(agents);
            for c in &chances {
                answers.add(*c);
            }
            // Every combination of answers, weighed by its chance.
            let mut exact = 0.0;
            for mask in 0u32..1 << chances.len() {
                let weight: f64 = (chances.iter().enumerate())
                    .map(|(i, c)| if mask >> i & 1 == 1 { *c } else { 1.0 - c })
                    .product();
                exact += f64::from(mask.count_ones().saturating_sub(agents)) * weight;
            }
            proptest::prop_assert!((answers.overflow() - exact).abs() < 1e-9);
        }
    }

    #[test]
    fn calls_that_rang_past_the_usual_answers_leave_room_for_new_ones() {
        let limits = Limits::default();
        let mut fresh = measured(20, 40, Some(0.3));
        let with_fresh = level(&fresh, &limits).place;
        // The same 40 calls, but 30 of them rang so long that few will be answered.
        fresh.pending = [vec![0.02; 30], vec![0.3; 10]].concat();
        let with_stale = level(&fresh, &limits).place;
        assert!(
            with_stale > with_fresh + 20,
            "{with_stale} new calls, against {with_fresh}"
        );
        // Customers already answered and waiting count in full.
        fresh.pending = vec![0.3; 15];
        let ringing = level(&fresh, &limits).place;
        fresh.pending = vec![1.0; 15];
        let waiting = level(&fresh, &limits).place;
        assert!(
            waiting + 10 < ringing,
            "{waiting} new calls, against {ringing}"
        );
    }

    #[test]
    fn without_agents_or_a_measured_rate_the_level_is_progressive_or_nothing() {
        let limits = Limits::default();
        assert_eq!(level(&measured(0, 3, Some(0.3)), &limits).place, 0);
        let first = level(&measured(10, 4, None), &limits);
        assert_eq!((first.place, first.mode), (6, Mode::Measuring));
    }

    #[test]
    fn a_low_answer_rate_overdials_and_a_high_one_barely() {
        let limits = Limits::default();
        let low = level(&measured(20, 0, Some(0.2)), &limits).place;
        let high = level(&measured(20, 0, Some(0.9)), &limits).place;
        assert!(low > 40, "{low}");
        assert!(
            (20..=24).contains(&high),
            "at most a fifth more calls than agents: {high}"
        );
        let ratio = level(&measured(2, 0, Some(0.01)), &limits).place;
        assert_eq!(ratio, 10, "never past max_ratio calls per agent");
    }

    #[test]
    fn reaching_the_cap_today_or_this_month_stops_the_overdial() {
        let limits = Limits::default();
        let mut m = measured(10, 2, Some(0.3));
        m.today = DropCounts {
            dropped: 3,
            answered: 100,
        };
        assert_eq!(
            level(&m, &limits),
            Level {
                place: 8,
                mode: Mode::HardLimit
            }
        );
        m.today = DropCounts::default();
        m.last_30_days = DropCounts {
            dropped: 40,
            answered: 1_000,
        };
        assert_eq!(level(&m, &limits).mode, Mode::HardLimit);
        // Nearer the cap, less overdial.
        m.last_30_days = DropCounts {
            dropped: 25,
            answered: 1_000,
        };
        let near = level(&m, &limits).place;
        m.last_30_days = DropCounts::default();
        let far = level(&m, &limits).place;
        assert!(near < far, "{near} < {far}");
    }
}
