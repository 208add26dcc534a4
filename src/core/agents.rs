//! Agents' states and the rules between them (seeds 001 and 002), pure: what an agent
//! may do from the state it is in, and which available agent a queue's next customer
//! goes to. The store keeps the states and their log; the dialer and the agent API ask
//! `apply` before changing one, so a rule is written once.
//!
//! The rules a call centre lives by:
//! - only an `available` agent is given a call (never one in wrap-up or on a break);
//! - a reservation that does not become a call (the connection failed, the customer
//!   hung up first) gives the agent back, available;
//! - after a call the agent is in wrap-up until they set a disposition or the wrap-up
//!   time runs out, and then goes to the break they asked for meanwhile, or is
//!   available again;
//! - an agent logs out only with no call and no wrap-up pending.

use serde::{Deserialize, Serialize};

/// Where an agent is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum AgentState {
    Offline,
    Available,
    /// A customer is being connected to them.
    Reserved {
        attempt: String,
    },
    OnCall {
        attempt: String,
    },
    /// After a call, until a disposition (or the wrap-up time is up).
    WrapUp {
        attempt: String,
        until_ms: u64,
    },
    /// Logged in, not taking calls (`lunch`, `training`, … or `not_ready` after login).
    Break {
        reason: String,
    },
}

impl AgentState {
    /// Its name as the API and the agent log show it (`break:lunch`).
    pub fn name(&self) -> String {
        match self {
            AgentState::Offline => "offline".into(),
            AgentState::Available => "available".into(),
            AgentState::Reserved { .. } => "reserved".into(),
            AgentState::OnCall { .. } => "on_call".into(),
            AgentState::WrapUp { .. } => "wrap_up".into(),
            AgentState::Break { reason } => format!("break:{reason}"),
        }
    }
}

/// What happens to an agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgentEvent {
    Login,
    Ready,
    Break {
        reason: String,
    },
    Logout,
    /// The dialer picked them for the customer of `attempt`.
    Reserve {
        attempt: String,
    },
    /// The connection to them failed, or the customer left before it was made.
    ReleaseReservation,
    /// The customer and the agent are bridged.
    Bridged,
    /// The call ended; wrap-up lasts at most `wrap_up_ms` from `now_ms`.
    CallEnded {
        wrap_up_ms: u64,
    },
    /// The agent set the call's disposition.
    Disposed,
    /// The wrap-up time ran out without a disposition.
    WrapUpOver,
}

/// An agent as the rules see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Agent {
    pub id: String,
    pub state: AgentState,
    /// When it entered its state (ms): how long an available agent has waited.
    pub since_ms: u64,
    /// The queues (skills) it serves.
    pub queues: Vec<String>,
    /// A break asked for during a call or its wrap-up, taken once the wrap-up ends.
    #[serde(default)]
    pub break_after: Option<String>,
}

/// Why an event does not apply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("agent `{agent}` is {state}: cannot {action}")]
pub struct AgentRuleError {
    pub agent: String,
    pub state: String,
    pub action: &'static str,
}

/// Whether `id` may name an agent: letters, digits, `-`, `_` and `.`, not empty (it
/// is a token file's name and a path's segment, so nothing that needs escaping).
pub fn is_valid_id(id: &str) -> bool {
    !id.is_empty()
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
}

impl Agent {
    /// The agent after `event` at `now_ms`, or why not.
    pub fn apply(&self, event: &AgentEvent, now_ms: u64) -> Result<Agent, AgentRuleError> {
        use AgentEvent as E;
        use AgentState as S;
        let mut next = self.clone();
        let state = match (&self.state, event) {
            (S::Offline, E::Login) => S::Break {
                reason: "not_ready".into(),
            },
            (S::Break { .. }, E::Ready) => S::Available,
            (S::Available | S::Break { .. }, E::Break { reason }) => S::Break {
                reason: reason.clone(),
            },
            // Asked for during a call: taken when its wrap-up ends.
            (S::Reserved { .. } | S::OnCall { .. } | S::WrapUp { .. }, E::Break { reason }) => {
                next.break_after = Some(reason.clone());
                return Ok(next);
            }
            (S::Available | S::Break { .. }, E::Logout) => S::Offline,
            (S::Available, E::Reserve { attempt }) => S::Reserved {
                attempt: attempt.clone(),
            },
            (S::Reserved { .. }, E::ReleaseReservation) => self.after_call(&mut next),
            (S::Reserved { attempt }, E::Bridged) => S::OnCall {
                attempt: attempt.clone(),
            },
            (S::OnCall { attempt }, E::CallEnded { wrap_up_ms }) => S::WrapUp {
                attempt: attempt.clone(),
                until_ms: now_ms.saturating_add(*wrap_up_ms),
            },
            (S::WrapUp { .. }, E::Disposed) => self.after_call(&mut next),
            (S::WrapUp { until_ms, .. }, E::WrapUpOver) if now_ms >= *until_ms => {
                self.after_call(&mut next)
            }
            _ => return Err(self.refuse(event)),
        };
        if state != self.state {
            next.since_ms = now_ms;
        }
        next.state = state;
        Ok(next)
    }

    /// Where an agent goes once a call (or a reservation) is behind them.
    fn after_call(&self, next: &mut Agent) -> AgentState {
        match next.break_after.take() {
            Some(reason) => AgentState::Break { reason },
            None => AgentState::Available,
        }
    }

    fn refuse(&self, event: &AgentEvent) -> AgentRuleError {
        let action = match event {
            AgentEvent::Login => "log in (logged in already)",
            AgentEvent::Ready => "be ready (only from a break)",
            AgentEvent::Break { .. } => "take a break (log in first)",
            AgentEvent::Logout => "log out (finish the call and its disposition first)",
            AgentEvent::Reserve { .. } => "take a call (only an available agent does)",
            AgentEvent::ReleaseReservation => "release a reservation (none held)",
            AgentEvent::Bridged => "be bridged (no customer reserved)",
            AgentEvent::CallEnded { .. } => "end a call (not on one)",
            AgentEvent::Disposed => "set a disposition (no call in wrap-up)",
            AgentEvent::WrapUpOver => "end a wrap-up (none, or not over yet)",
        };
        AgentRuleError {
            agent: self.id.clone(),
            state: self.state.name(),
            action,
        }
    }

    pub fn serves(&self, queue: &str) -> bool {
        self.queues.iter().any(|q| q == queue)
    }
}

/// The available agent of `queue` who has waited longest (the earliest `since_ms`;
/// ties by id, so the choice is repeatable).
pub fn longest_idle<'a>(agents: &'a [Agent], queue: &str) -> Option<&'a Agent> {
    agents
        .iter()
        .filter(|a| a.state == AgentState::Available && a.serves(queue))
        .min_by(|a, b| (a.since_ms, &a.id).cmp(&(b.since_ms, &b.id)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agent(id: &str, state: AgentState, since_ms: u64) -> Agent {
        Agent {
            id: id.into(),
            state,
            since_ms,
            queues: vec!["sales".into()],
            break_after: None,
        }
    }

    fn reserve(a: &str) -> AgentEvent {
        AgentEvent::Reserve { attempt: a.into() }
    }

    #[test]
    fn a_call_from_login_to_disposition() {
        let a = agent("ali", AgentState::Offline, 0);
        let a = a.apply(&AgentEvent::Login, 1).unwrap();
        assert_eq!(a.state.name(), "break:not_ready");
        let a = a.apply(&AgentEvent::Ready, 2).unwrap();
        let a = a.apply(&reserve("a1"), 3).unwrap();
        let a = a.apply(&AgentEvent::Bridged, 4).unwrap();
        let a = a
            .apply(&AgentEvent::CallEnded { wrap_up_ms: 30_000 }, 10)
            .unwrap();
        assert_eq!(
            a.state,
            AgentState::WrapUp {
                attempt: "a1".into(),
                until_ms: 30_010
            }
        );
        let e = a.apply(&AgentEvent::WrapUpOver, 20_000).unwrap_err();
        assert!(e.to_string().contains("not over yet"), "{e}");
        let a = a.apply(&AgentEvent::Disposed, 20_000).unwrap();
        assert_eq!(
            (a.state.clone(), a.since_ms),
            (AgentState::Available, 20_000)
        );
        let a = a.apply(&AgentEvent::Logout, 21_000).unwrap();
        assert_eq!(a.state, AgentState::Offline);
    }

    #[test]
    fn no_call_in_wrap_up_or_on_break_and_a_failed_connection_releases_the_agent() {
        let on_break = agent(
            "b",
            AgentState::Break {
                reason: "lunch".into(),
            },
            0,
        );
        let e = on_break.apply(&reserve("x"), 1).unwrap_err();
        assert_eq!(
            e.to_string(),
            "agent `b` is break:lunch: cannot take a call (only an available agent does)"
        );
        let wrapping = agent(
            "w",
            AgentState::WrapUp {
                attempt: "a".into(),
                until_ms: 99,
            },
            0,
        );
        assert!(wrapping.apply(&reserve("x"), 1).is_err());
        let reserved = agent("r", AgentState::Available, 0)
            .apply(&reserve("x"), 5)
            .unwrap();
        let released = reserved.apply(&AgentEvent::ReleaseReservation, 6).unwrap();
        assert_eq!(released.state, AgentState::Available);
    }

    #[test]
    fn a_break_asked_for_during_a_call_is_taken_after_its_wrap_up() {
        let a = agent(
            "c",
            AgentState::OnCall {
                attempt: "a".into(),
            },
            0,
        );
        let a = a
            .apply(
                &AgentEvent::Break {
                    reason: "training".into(),
                },
                1,
            )
            .unwrap();
        assert_eq!(
            a.state,
            AgentState::OnCall {
                attempt: "a".into()
            }
        );
        let a = a
            .apply(&AgentEvent::CallEnded { wrap_up_ms: 10 }, 2)
            .unwrap();
        assert!(a.apply(&AgentEvent::Logout, 3).is_err(), "wrap-up pending");
        let a = a.apply(&AgentEvent::WrapUpOver, 12).unwrap();
        assert_eq!(a.state.name(), "break:training");
        assert_eq!(a.break_after, None);
    }

    #[test]
    fn the_queue_s_longest_idle_available_agent_is_picked() {
        let mut agents = vec![
            agent("b", AgentState::Available, 50),
            agent("a", AgentState::Available, 50),
            agent("c", AgentState::Available, 10),
            agent("d", AgentState::Break { reason: "x".into() }, 0),
        ];
        agents[2].queues = vec!["support".into()];
        assert_eq!(
            longest_idle(&agents, "sales").map(|a| a.id.as_str()),
            Some("a")
        );
        assert_eq!(
            longest_idle(&agents, "support").map(|a| a.id.as_str()),
            Some("c")
        );
        assert!(longest_idle(&agents, "billing").is_none());
    }
}
