//! Who gets which agent: calls asking (`request`), the waiting calls served as agents
//! become free (`dispatch`: per queue, the oldest call first, to the agent idle
//! longest, or to the one agent a ticket names), and an agent reserved before their
//! call is even dialed (`reserve_now`: manual, preview and their own callbacks).

use std::collections::VecDeque;

use tokio::sync::oneshot;

use super::{Assignment, Desk, DeskError, Holding, Inner, NoticeKind, Ticket, Waiter};
use crate::core::agents::{Agent, AgentEvent, AgentState, longest_idle};
use crate::core::call::AgentReach;

impl Desk {
    /// Asks for an agent of `ticket.queue` (or the one it names): reserved at once
    /// when one is available (or was reserved for this call already), else when one
    /// becomes so. Dropping the receiver does not give the agent back: call `finished`
    /// (the call's guard does).
    pub fn request(&self, ticket: Ticket) -> oneshot::Receiver<Assignment> {
        let (reply, answer) = oneshot::channel();
        let mut inner = self.lock();
        if let Some(holding) = inner.holding.get(&ticket.attempt) {
            // Reserved before the customer was dialed: theirs now.
            let assignment = Assignment {
                agent: holding.agent.clone(),
                reach: reach_of(&inner, &holding.agent, &ticket.queue),
            };
            let _ = reply.send(assignment);
            return answer;
        }
        inner
            .waiting
            .entry(ticket.queue.clone())
            .or_default()
            .push_back(Waiter {
                ticket,
                reply: Some(reply),
            });
        self.dispatch(&mut inner);
        answer
    }

    /// Reserves `agent` for `ticket`'s call before it is dialed: they must be
    /// available (and, for a nailed queue, have their leg up).
    pub fn reserve_now(&self, agent: &str, ticket: Ticket) -> Result<(), DeskError> {
        let mut inner = self.lock();
        if agent_for(&inner, &ticket.queue, Some(agent)).is_none() {
            let state = inner
                .agents
                .get(agent)
                .ok_or_else(|| DeskError::NoAgent(agent.into()))?
                .agent
                .state
                .name();
            return Err(DeskError::NotFree {
                agent: agent.into(),
                state,
            });
        }
        let early = Waiter {
            ticket,
            reply: None,
        };
        if self.reserve(&mut inner, agent, early) {
            Ok(())
        } else {
            Err(DeskError::NotFree {
                agent: agent.into(),
                state: "unavailable".into(),
            })
        }
    }

    /// Gives every waiting call it can an agent: per queue, the oldest call first; a
    /// call for one agent waits for them without holding up the calls behind it. A
    /// call that stopped listening gets none.
    pub(super) fn dispatch(&self, inner: &mut Inner) {
        let queues: Vec<String> = inner.waiting.keys().cloned().collect();
        for queue in queues {
            let mut i = 0;
            while let Some(w) = inner.waiting.get(&queue).and_then(|ws| ws.get(i)) {
                if w.reply.as_ref().is_some_and(|r| r.is_closed()) {
                    take(inner, &queue, i);
                    continue;
                }
                let only = w.ticket.agent.clone();
                match agent_for(inner, &queue, only.as_deref()) {
                    Some(agent) => {
                        let waiter = take(inner, &queue, i);
                        if !self.reserve(inner, &agent, waiter) {
                            i += 1; // Put back where it was; the next change tries again.
                        }
                    }
                    None if only.is_some() => i += 1,
                    None => break,
                }
            }
        }
        inner.waiting.retain(|_, w| !w.is_empty());
    }

    /// Reserves `agent` for `waiter`'s call; `false` (the waiter put back where it
    /// was) when the store refuses.
    fn reserve(&self, inner: &mut Inner, agent: &str, waiter: Waiter) -> bool {
        let attempt = waiter.ticket.attempt.clone();
        let event = AgentEvent::Reserve {
            attempt: attempt.clone(),
        };
        if let Err(e) = self.apply(inner, agent, &event, Some(&attempt)) {
            tracing::error!(%agent, %attempt, error = %e, "cannot reserve an agent");
            let queue = waiter.ticket.queue.clone();
            let waiting = inner.waiting.entry(queue).or_default();
            waiting.push_front(waiter);
            return false;
        }
        let assignment = Assignment {
            agent: agent.to_string(),
            reach: reach_of(inner, agent, &waiter.ticket.queue),
        };
        let now = self.now();
        let kind = NoticeKind::Assigned {
            attempt: attempt.clone(),
            campaign: waiter.ticket.campaign.clone(),
        };
        self.notify(agent, kind, now);
        let holding = Holding {
            agent: agent.to_string(),
            ticket: waiter.ticket,
        };
        inner.holding.insert(attempt.clone(), holding);
        // Made before the call asked (`reserve_now`): its `request` will find it.
        let Some(reply) = waiter.reply else {
            return true;
        };
        if reply.send(assignment).is_err() {
            // The call stopped listening meanwhile: it will never use the agent.
            self.give_back(inner, &attempt);
        }
        true
    }
}

/// The waiter at `i` of `queue`, out of the queue.
fn take(inner: &mut Inner, queue: &str, i: usize) -> Waiter {
    inner
        .waiting
        .get_mut(queue)
        .and_then(|ws: &mut VecDeque<Waiter>| ws.remove(i))
        .expect("a waiter at that place")
}

/// The agent a call of `queue` gets now: `only` when they are free, else the queue's
/// agent idle longest; for a nailed queue, only an agent whose leg is up.
fn agent_for(inner: &Inner, queue: &str, only: Option<&str>) -> Option<String> {
    let nailed = inner.nailed_queues.contains(queue);
    let reachable = |a: &Agent| !nailed || inner.legs.contains_key(&a.id);
    if let Some(id) = only {
        let a = &inner.agents.get(id)?.agent;
        return (a.state == AgentState::Available && reachable(a)).then(|| id.to_string());
    }
    let agents: Vec<Agent> = inner
        .agents
        .values()
        .map(|r| r.agent.clone())
        .filter(reachable)
        .collect();
    longest_idle(&agents, queue).map(|a| a.id.clone())
}

/// How to reach `agent` for a call of `queue`: in their bridge when the queue is nailed
/// and their leg is up, else by ringing their endpoint.
fn reach_of(inner: &Inner, agent: &str, queue: &str) -> AgentReach {
    match inner.legs.get(agent) {
        Some(bridge) if inner.nailed_queues.contains(queue) => AgentReach::Nailed {
            bridge: bridge.clone(),
        },
        _ => AgentReach::Ring {
            endpoint: inner
                .agents
                .get(agent)
                .map(|r| r.endpoint.clone())
                .unwrap_or_default(),
        },
    }
}
