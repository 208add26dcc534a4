//! Wrap-ups that run out: an agent who sets no disposition within the campaign's
//! wrap-up time returns to available (or the break they asked for) on their own.

use std::sync::Arc;
use std::time::Duration;

use super::Desk;
use crate::core::agents::{AgentEvent, AgentState};

/// How often the desk looks for wrap-ups that ran out (the lateness it allows).
pub const WRAP_UP_CHECK: Duration = Duration::from_millis(200);

impl Desk {
    /// Ends every wrap-up whose time is up; returns how many ended.
    pub fn expire_wrap_ups(&self) -> usize {
        let now = self.now();
        let mut inner = self.lock();
        let over: Vec<String> = inner
            .agents
            .values()
            .filter(
                |r| matches!(r.agent.state, AgentState::WrapUp { until_ms, .. } if until_ms <= now),
            )
            .map(|r| r.agent.id.clone())
            .collect();
        let mut ended = 0;
        for agent in over {
            match self.apply(&mut inner, &agent, &AgentEvent::WrapUpOver, None) {
                Ok(_) => ended += 1,
                Err(e) => tracing::error!(%agent, error = %e, "cannot end a wrap-up"),
            }
        }
        if ended > 0 {
            self.dispatch(&mut inner);
        }
        ended
    }

    /// Ends wrap-ups as they run out, until `desk` is dropped by everyone else.
    pub fn watch_wrap_ups(desk: &Arc<Desk>) -> tokio::task::JoinHandle<()> {
        let weak = Arc::downgrade(desk);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(WRAP_UP_CHECK);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Some(desk) = weak.upgrade() else { return };
                desk.expire_wrap_ups();
            }
        })
    }
}
