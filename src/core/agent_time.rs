//! Agents' time by what they were doing over a time range, from their state log
//! (pure): logged in (every state but offline), waiting (available, or reserved while
//! a customer is being connected), talking (on a call), wrapping up, and pausing (any
//! break, `not_ready` after login included), and their occupancy, (talk + wrap-up) ÷
//! logged-in time. The log is clipped to the range: a state entered before it counts
//! from the range's start, one still open at its end counts to the end.

use serde::{Deserialize, Serialize};

/// An agent's time in a range, in ms.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentTimes {
    pub login_ms: u64,
    pub wait_ms: u64,
    pub talk_ms: u64,
    pub wrap_up_ms: u64,
    pub pause_ms: u64,
    /// Calls they went on in the range.
    pub calls: u64,
}

impl AgentTimes {
    /// (talk + wrap-up) ÷ logged-in time; none without logged-in time.
    pub fn occupancy(&self) -> Option<f64> {
        (self.login_ms > 0).then(|| (self.talk_ms + self.wrap_up_ms) as f64 / self.login_ms as f64)
    }

    /// Adds `ms` spent in the state named `state` (`break:lunch`, `on_call`, …).
    fn add(&mut self, state: &str, ms: u64) {
        let slot = match state {
            "available" | "reserved" => &mut self.wait_ms,
            "on_call" => &mut self.talk_ms,
            "wrap_up" => &mut self.wrap_up_ms,
            s if s.starts_with("break:") => &mut self.pause_ms,
            // Offline (or a state this build does not know): not logged in.
            _ => return,
        };
        *slot += ms;
        self.login_ms += ms;
    }
}

/// One change of an agent's state: when, the state left and the state entered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Change<'a> {
    pub at_ms: u64,
    pub from: &'a str,
    pub to: &'a str,
}

/// The agent's times in `[from_ms, to_ms)` from their `log`, oldest change first.
/// Before their first change an agent is in the state that change left.
pub fn agent_times<'a>(
    log: impl IntoIterator<Item = Change<'a>>,
    from_ms: u64,
    to_ms: u64,
) -> AgentTimes {
    let mut times = AgentTimes::default();
    if to_ms <= from_ms {
        return times;
    }
    let mut state: Option<&str> = None;
    let mut cursor = from_ms;
    for change in log {
        if change.at_ms <= from_ms {
            state = Some(change.to);
            continue;
        }
        let current = state.unwrap_or(change.from);
        if change.at_ms >= to_ms {
            times.add(current, to_ms - cursor);
            return times;
        }
        times.add(current, change.at_ms - cursor);
        if change.to == "on_call" {
            times.calls += 1;
        }
        cursor = change.at_ms;
        state = Some(change.to);
    }
    // The state still open at the range's end counts to its end.
    if let Some(state) = state {
        times.add(state, to_ms - cursor);
    }
    times
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A shift: logs in at 1 s, ready at 2 s, a call from 6 s to 16 s, wrap-up to
    /// 21 s, lunch from 25 s, offline at 30 s.
    fn shift() -> Vec<Change<'static>> {
        [
            (1_000, "offline", "break:not_ready"),
            (2_000, "break:not_ready", "available"),
            (5_000, "available", "reserved"),
            (6_000, "reserved", "on_call"),
            (16_000, "on_call", "wrap_up"),
            (21_000, "wrap_up", "available"),
            (25_000, "available", "break:lunch"),
            (30_000, "break:lunch", "offline"),
        ]
        .map(|(at_ms, from, to)| Change { at_ms, from, to })
        .to_vec()
    }

    #[test]
    fn a_whole_shift_splits_its_logged_in_time() {
        let t = agent_times(shift(), 0, 40_000);
        assert_eq!(
            t,
            AgentTimes {
                login_ms: 29_000,
                wait_ms: 3_000 + 1_000 + 4_000,
                talk_ms: 10_000,
                wrap_up_ms: 5_000,
                pause_ms: 1_000 + 5_000,
                calls: 1,
            }
        );
        assert_eq!(t.occupancy(), Some(15_000.0 / 29_000.0));
    }

    #[test]
    fn the_range_clips_the_states_at_both_ends() {
        // Reserved since 5 s when the range opens at 5.5 s; available at its end.
        let t = agent_times(shift(), 5_500, 23_000);
        assert_eq!(
            (t.wait_ms, t.talk_ms, t.wrap_up_ms, t.pause_ms),
            (500 + 2_000, 10_000, 5_000, 0)
        );
        assert_eq!(t.login_ms, 17_500);
    }

    #[test]
    fn a_state_open_at_the_range_s_end_counts_to_the_end() {
        let lunch = agent_times(shift(), 26_000, 28_000);
        assert_eq!((lunch.pause_ms, lunch.login_ms), (2_000, 2_000));
        // Still on the call: no later change at all.
        let on_call = agent_times(shift()[..4].to_vec(), 0, 50_000);
        assert_eq!(on_call.talk_ms, 44_000);
        assert_eq!(on_call.calls, 1);
        assert_eq!(on_call.occupancy(), Some(44_000.0 / 49_000.0));
    }

    #[test]
    fn before_the_first_change_and_without_a_log_nobody_is_logged_in() {
        let before = agent_times(shift(), 0, 1_000);
        assert_eq!(before, AgentTimes::default());
        assert_eq!(before.occupancy(), None);
        assert_eq!(agent_times([], 0, 10_000), AgentTimes::default());
        assert_eq!(agent_times(shift(), 9_000, 9_000), AgentTimes::default());
        let after = agent_times(shift(), 31_000, 40_000);
        assert_eq!(after.login_ms, 0, "offline since 30 s");
    }
}
