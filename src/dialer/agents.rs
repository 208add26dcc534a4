//! Dial modes with agents: how many calls a campaign may start now for the agents it
//! has. `progressive` rings at most `ratio` calls per available agent; `predictive`
//! places what `core::campaign::predictive::level` says for the measured answer rate
//! and the drops so far; `preview` places none by itself (the agent asks for each
//! lead). The campaign's pacing limits apply on top, in every mode.

use super::answer_rate::AnswerRate;
use super::policy::AgentPolicy;
use crate::core::agents::AgentState;
use crate::core::campaign::predictive::{self, DropCounts, Limits, Measured};
use crate::core::campaign::settings::DialMode;
use crate::desk::{Desk, Staffing};
use crate::store::{Admission, DropWindow, LeadRecord};

/// What the dialer measures of one campaign for its agents.
#[derive(Debug, Default)]
pub(super) struct AgentPacing {
    /// The answer rate and ring time of its latest calls.
    pub answers: AnswerRate,
    /// The drops counted in the store, as last read.
    pub drops: DropWindow,
}

impl AgentPacing {
    /// Drops and answers as the store counts them (at the calls' ends), with the
    /// answered calls still talking.
    fn with_talking(&self, counts: DropCounts) -> DropCounts {
        DropCounts {
            answered: counts.answered + self.answers.talking(),
            ..counts
        }
    }

    /// How far ahead an agent counts as free soon: the mean ring time of answered
    /// calls, since a call placed now is answered about that much later. The safe
    /// harbor's wait is not added: reaching the agent takes part of it (a rung agent's
    /// phone rings), and the rest is the margin for the forecast's misses. With it
    /// added, the agents bench dropped 2.1 % and spent most of its day at the hard
    /// limit, 66 % busy; without, 86-88 % busy at 1.8-2.5 % drops.
    pub fn horizon_ms(&self) -> u64 {
        self.answers.ring_ms()
    }

    /// The most calls the mode lets the campaign start now; `None` when the mode has
    /// no agents (`ivr`). `in_flight` is the campaign's calls up now; `staffing` what
    /// the desk says of its agents (`None`: no desk runs, so no agent); `now_ms` the
    /// dialer's clock.
    pub fn cap(
        &self,
        policy: &AgentPolicy,
        staffing: Option<Staffing>,
        in_flight: u32,
        now_ms: u64,
    ) -> Option<u32> {
        if policy.mode == DialMode::Ivr {
            return None;
        }
        let Some(s) = staffing else { return Some(0) };
        // Calls not yet with an agent: ringing, or answered and waiting for one.
        let pending = in_flight.saturating_sub(s.connected);
        Some(match policy.mode {
            DialMode::Ivr => unreachable!("handled above"),
            DialMode::Preview => 0,
            DialMode::Progressive => {
                let most = (policy.ratio * f64::from(s.available)).floor() as u32;
                most.saturating_sub(pending)
            }
            DialMode::Predictive => {
                let measured = Measured {
                    available_agents: s.available,
                    freeing_soon: s.freeing_soon,
                    pending: self.answers.pending_chances(pending, now_ms),
                    answer_rate: self.answers.rate(),
                    today: self.with_talking(self.drops.today),
                    last_30_days: self.with_talking(self.drops.last_30_days),
                };
                let limits = Limits {
                    drop_cap: policy.drop_cap,
                    ..Limits::default()
                };
                let level = predictive::level(&measured, &limits);
                tracing::debug!(?measured, ?level, "predictive level");
                level.place
            }
        })
    }
}

/// How long a callback for one agent waits when that agent is not free.
const CALLBACK_RETRY_MS: u64 = 15_000;

/// A lead the policy admits is dialed now, unless a callback keeps it for an agent who
/// is not free: then it is due again a little later (the customer is called when
/// their agent can take them, never to be dropped by the safe harbor).
pub(super) fn admit_callback(
    verdict: Admission,
    lead: &LeadRecord,
    desk: Option<&Desk>,
    now_ms: u64,
) -> Admission {
    let (Admission::Dial, Some(agent)) = (&verdict, &lead.callback_agent) else {
        return verdict;
    };
    let free = desk
        .and_then(|d| d.agent(agent))
        .is_some_and(|r| r.agent.state == AgentState::Available);
    if free {
        verdict
    } else {
        Admission::Later(now_ms + CALLBACK_RETRY_MS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(mode: DialMode, ratio: f64) -> AgentPolicy {
        AgentPolicy {
            mode,
            ratio,
            drop_cap: 0.03,
            safe_harbor: None,
        }
    }

    fn staffing(available: u32, connected: u32) -> Option<Staffing> {
        Some(Staffing {
            available,
            connected,
            logged_in: available + connected,
            ..Staffing::default()
        })
    }

    #[test]
    fn progressive_rings_at_most_ratio_calls_per_available_agent() {
        let pacing = AgentPacing::default();
        let p = policy(DialMode::Progressive, 1.5);
        assert_eq!(pacing.cap(&p, staffing(4, 0), 0, 0), Some(6));
        assert_eq!(
            pacing.cap(&p, staffing(4, 2), 5, 0),
            Some(3),
            "3 calls pending"
        );
        assert_eq!(pacing.cap(&p, staffing(4, 0), 9, 0), Some(0));
        assert_eq!(pacing.cap(&p, staffing(0, 3), 3, 0), Some(0));
        assert_eq!(pacing.cap(&p, None, 0, 0), Some(0), "no desk, no agents");
    }

    #[test]
    fn ivr_has_no_cap_and_preview_dials_nothing_by_itself() {
        let pacing = AgentPacing::default();
        assert_eq!(pacing.cap(&policy(DialMode::Ivr, 1.0), None, 0, 0), None);
        assert_eq!(
            pacing.cap(&policy(DialMode::Preview, 1.0), staffing(5, 0), 0, 0),
            Some(0)
        );
    }

    #[test]
    fn predictive_overdials_once_the_answer_rate_is_measured() {
        let mut pacing = AgentPacing::default();
        let p = policy(DialMode::Predictive, 1.0);
        assert_eq!(pacing.cap(&p, staffing(10, 0), 0, 0), Some(10), "measuring");
        for i in 0..100 {
            let id = format!("a{i}");
            pacing.answers.placed(&id, 0);
            pacing
                .answers
                .ended(&id, (i % 10 < 3).then_some(7_000), 30_000);
        }
        assert_eq!(pacing.answers.rate(), Some(35.0 / 105.0));
        assert_eq!(pacing.horizon_ms(), 7_000, "the ring time measured");
        let placed = pacing.cap(&p, staffing(10, 0), 0, 0).unwrap();
        assert!(
            placed > 10,
            "30 % answer: more calls than agents ({placed})"
        );
    }
}
