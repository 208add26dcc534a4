//! How long agents' busy cycles last (bridged to a call, through its wrap-up, until
//! ready again), per campaign, so the dialer can expect who will be free soon
//! (`core::campaign::freeing`). A cycle that ends in a break or a logout says nothing
//! about when an agent is ready, and is not recorded.

use std::collections::HashMap;

use crate::core::agents::{Agent, AgentState};
use crate::core::campaign::freeing::CycleTimes;

/// Busy cycles in progress and the latest finished ones.
#[derive(Debug, Default)]
pub(super) struct Cycles {
    /// Agent → the campaign of the call their cycle began with (if any) and when.
    began: HashMap<String, (Option<String>, u64)>,
    /// Campaign → its agents' latest cycles.
    finished: HashMap<String, CycleTimes>,
}

impl Cycles {
    /// `agent` went from `before` to its state now at `now_ms`, on a call of `campaign`.
    pub fn changed(
        &mut self,
        agent: &Agent,
        before: &AgentState,
        campaign: Option<&str>,
        now_ms: u64,
    ) {
        match (&agent.state, before) {
            (AgentState::OnCall { .. }, AgentState::OnCall { .. }) => {}
            (AgentState::OnCall { .. }, _) => {
                let began = (campaign.map(str::to_string), now_ms);
                self.began.insert(agent.id.clone(), began);
            }
            (AgentState::WrapUp { .. }, _) => {}
            (AgentState::Available, AgentState::WrapUp { .. }) => {
                if let Some((Some(campaign), began)) = self.began.remove(&agent.id) {
                    let cycles = self.finished.entry(campaign).or_default();
                    cycles.record(now_ms.saturating_sub(began));
                }
            }
            _ => {
                self.began.remove(&agent.id);
            }
        }
    }

    /// The chance `agent` (on a call or in its wrap-up) is ready within `horizon_ms`;
    /// `None` when nothing is known of its cycle.
    pub fn chance_ready_within(&self, agent: &Agent, now_ms: u64, horizon_ms: u64) -> Option<f64> {
        if agent.break_after.is_some() {
            // A break chosen for after the wrap-up: not ready for a call then.
            return Some(0.0);
        }
        let (Some(campaign), began) = self.began.get(&agent.id)? else {
            return None;
        };
        let cycles = self.finished.get(campaign)?;
        Some(cycles.chance_free_within(now_ms.saturating_sub(*began), horizon_ms))
    }
}
