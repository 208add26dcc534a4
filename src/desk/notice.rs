//! What the desk tells about agents as it happens: the agent API pushes each agent its
//! own notices (state changes, a call assigned, answered, ended).

use serde::Serialize;

use crate::core::agents::Agent;

/// One thing that happened to an agent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct AgentNotice {
    pub agent: String,
    /// Wall clock, ms since the epoch.
    pub at_ms: u64,
    #[serde(flatten)]
    pub kind: NoticeKind,
}

/// What happened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum NoticeKind {
    /// The agent entered `state` (`available`, `break:lunch`, …).
    State {
        state: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        attempt: Option<String>,
    },
    /// A customer is being connected to them.
    Assigned {
        attempt: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        campaign: Option<String>,
    },
    /// They and the customer are bridged.
    Answered { attempt: String },
    /// The call is over (or the reservation released before it began).
    Ended { attempt: String },
}

impl NoticeKind {
    /// The state `agent` is in now.
    pub fn state(agent: &Agent, attempt: Option<&str>) -> NoticeKind {
        NoticeKind::State {
            state: agent.state.name(),
            attempt: attempt.map(str::to_string),
        }
    }
}
