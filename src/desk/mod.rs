//! The agents' desk: which agent takes which call, kept in step with the store.
//!
//! Calls ask the desk for an agent of a queue (`request`); agents act on it through
//! the agent API (`act`: log in, ready, break, log out). Every change of an agent's
//! state goes through `core::agents`' rules and is written, with its log entry, to the
//! store before anyone hears of it; the desk keeps the agents in memory too, so the
//! dialer can ask how many are free (`staffing`) every tick without reading the store.
//!
//! A call waiting for an agent holds a [`Ticket`]; when an agent of its queue becomes
//! available (ready, back from a wrap-up, a reservation released) the longest-waiting
//! call of that queue gets the agent who has been idle longest. The desk, not the call,
//! owns each reservation: a call that ends, is cancelled or whose task dies gives its
//! agent back through `finished`, so no agent stays `reserved` for a call that is gone.
//! At start (`Desk::open`) an agent the store shows reserved or on a call belongs to a
//! call the previous process lost: reserved ones are released, those on a call go to
//! wrap-up, so the disposition can still be set.

mod cycles;
mod dispatch;
mod notice;
mod wrap_up;

pub use notice::{AgentNotice, NoticeKind};

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use tokio::sync::{broadcast, oneshot};

use crate::core::agents::{AgentEvent, AgentRuleError, AgentState};
use crate::core::call::AgentReach;
use crate::store::{AgentRecord, Store, StoreError};

/// What a wall clock reading the desk needs (ms since the epoch; compressed in demos).
pub type WallClock = Arc<dyn Fn() -> u64 + Send + Sync>;

/// The wrap-up an agent gets for a call the previous process lost mid-conversation
/// (the campaign's own is not known then): time to set its disposition.
const RECOVERED_WRAP_UP_MS: u64 = 120_000;

/// How many notices a slow listener may fall behind before it misses some.
const NOTICE_BACKLOG: usize = 1024;

/// Why the desk refused something.
#[derive(Debug, thiserror::Error)]
pub enum DeskError {
    #[error(transparent)]
    Rule(#[from] AgentRuleError),
    #[error("no agent `{0}`")]
    NoAgent(String),
    #[error("agent `{agent}` is {state}: not free for a call")]
    NotFree { agent: String, state: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A call's request for an agent.
#[derive(Debug, Clone)]
pub struct Ticket {
    /// The call's attempt id: the reservation's name.
    pub attempt: String,
    pub queue: String,
    /// Only this agent may take it (a callback for them, their manual or preview call).
    pub agent: Option<String>,
    /// The campaign it dials for, if any (for the agent's screen and the staffing).
    pub campaign: Option<String>,
    /// How long the agent's wrap-up may last once the call ends.
    pub wrap_up_ms: u64,
}

/// The agent a call got: reserved for it until it is bridged or given back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assignment {
    pub agent: String,
    /// How to reach them: ring their endpoint (a logical name or a dial string).
    pub reach: AgentReach,
}

/// How many agents a campaign has, by what they are doing.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Staffing {
    pub logged_in: u32,
    pub available: u32,
    /// Reserved or on a call.
    pub busy: u32,
    pub wrap_up: u32,
    /// Busy agents expected to be ready within the horizon asked for: the sum of each
    /// one's chance, from the campaign's recent cycles (`core::campaign::freeing`); an
    /// agent whose cycle is unknown counts when their wrap-up time runs out by then.
    pub freeing_soon: f64,
    /// Calls of the campaign waiting for an agent now.
    pub waiting_calls: u32,
    /// Calls of the campaign holding an agent (reserved for them, or talking).
    pub connected: u32,
}

/// How far ahead an agent counts as "free soon" when the caller has not measured its
/// ring time: about one, since a call placed now is answered that much later.
pub const FREEING_HORIZON_MS: u64 = 10_000;

/// A call waiting for an agent (no reply: reserved before the call asks).
struct Waiter {
    ticket: Ticket,
    reply: Option<oneshot::Sender<Assignment>>,
}

/// A call holding an agent: reserved, then on the call.
#[derive(Debug, Clone)]
struct Holding {
    agent: String,
    ticket: Ticket,
}

#[derive(Default)]
struct Inner {
    agents: BTreeMap<String, AgentRecord>,
    /// Queues whose agents are reached on their nailed leg, not rung per call.
    nailed_queues: BTreeSet<String>,
    /// Agent → the bridge their nailed leg waits in, while it is up.
    legs: HashMap<String, String>,
    /// Waiting calls by queue, oldest first.
    waiting: HashMap<String, VecDeque<Waiter>>,
    /// Reservations and calls in progress, by attempt.
    holding: HashMap<String, Holding>,
    /// Agents' busy cycles, to expect who is free soon.
    cycles: cycles::Cycles,
}

/// The desk shared by the calls, the dialer and the agent API.
pub struct Desk {
    store: Arc<Store>,
    clock: WallClock,
    inner: Mutex<Inner>,
    notices: broadcast::Sender<AgentNotice>,
}

impl Desk {
    /// The desk over `store`'s agents, releasing what a previous process left held.
    pub fn open(store: Arc<Store>, clock: WallClock) -> Result<Arc<Desk>, DeskError> {
        let (notices, _) = broadcast::channel(NOTICE_BACKLOG);
        let desk = Desk {
            store,
            clock,
            inner: Mutex::new(Inner::default()),
            notices,
        };
        desk.recover()?;
        Ok(Arc::new(desk))
    }

    fn now(&self) -> u64 {
        (self.clock)()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves plain data behind: carry on with it.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Loads the agents; one reserved or on a call from before is released to its
    /// wrap-up (on a call) or back to available (reserved).
    fn recover(&self) -> Result<(), DeskError> {
        let now = self.now();
        let mut inner = self.lock();
        for record in self.store.agents()? {
            let id = record.agent.id.clone();
            let event = match record.agent.state {
                AgentState::Reserved { .. } => Some(AgentEvent::ReleaseReservation),
                AgentState::OnCall { .. } => Some(AgentEvent::CallEnded {
                    wrap_up_ms: RECOVERED_WRAP_UP_MS,
                }),
                _ => None,
            };
            let record = match event {
                Some(e) => {
                    tracing::warn!(agent = %id, "agent held by a call of a previous run: released");
                    self.store.agent_event(&id, &e, now)?
                }
                None => record,
            };
            inner.agents.insert(id, record);
        }
        Ok(())
    }

    /// Listens to every agent's notices (the agent API filters an agent's own).
    pub fn subscribe(&self) -> broadcast::Receiver<AgentNotice> {
        self.notices.subscribe()
    }

    /// An agent as the desk sees it now.
    pub fn agent(&self, id: &str) -> Option<AgentRecord> {
        self.lock().agents.get(id).cloned()
    }

    /// Every agent, by id.
    pub fn agents(&self) -> Vec<AgentRecord> {
        self.lock().agents.values().cloned().collect()
    }

    /// Reads an agent added or changed in the store since the desk opened (by
    /// `dialflow agents add`, the API), keeping the state the desk knows.
    pub fn refresh_agent(&self, id: &str) -> Result<AgentRecord, DeskError> {
        let record = match self.store.agent(id) {
            Ok(r) => r,
            Err(StoreError::NoAgent(_)) => return Err(DeskError::NoAgent(id.into())),
            Err(e) => return Err(e.into()),
        };
        let mut inner = self.lock();
        inner.agents.insert(id.to_string(), record.clone());
        self.dispatch(&mut inner);
        Ok(record)
    }

    /// An agent's own action (`Login`, `Ready`, `Break`, `Logout`, `Disposed`), by the
    /// rules; a call waiting for their queue gets them at once if they became free.
    pub fn act(&self, agent: &str, event: AgentEvent) -> Result<AgentRecord, DeskError> {
        let mut inner = self.lock();
        let record = self.apply(&mut inner, agent, &event, None)?;
        self.dispatch(&mut inner);
        Ok(record)
    }

    /// Applies `event` to `agent`: the rules first (a typed refusal), then the store,
    /// then the memory, then the notice.
    fn apply(
        &self,
        inner: &mut Inner,
        agent: &str,
        event: &AgentEvent,
        attempt: Option<&str>,
    ) -> Result<AgentRecord, DeskError> {
        let now = self.now();
        let current = inner
            .agents
            .get(agent)
            .ok_or_else(|| DeskError::NoAgent(agent.into()))?;
        current.agent.apply(event, now)?;
        let before = current.agent.state.clone();
        let record = self.store.agent_event(agent, event, now)?;
        if record.agent.state != before {
            self.notify(agent, NoticeKind::state(&record.agent, attempt), now);
        }
        let campaign = attempt
            .and_then(|a| inner.holding.get(a))
            .and_then(|h| h.ticket.campaign.clone());
        inner
            .cycles
            .changed(&record.agent, &before, campaign.as_deref(), now);
        inner.agents.insert(agent.to_string(), record.clone());
        Ok(record)
    }

    fn notify(&self, agent: &str, kind: NoticeKind, at_ms: u64) {
        // No listener is not an error: nobody has the agent's screen open.
        let _ = self.notices.send(AgentNotice {
            agent: agent.to_string(),
            at_ms,
            kind,
        });
    }

    /// Marks `queues` as nailed: their agents are reached on a leg kept up between
    /// calls (`leg_up`), never rung per call.
    pub fn set_nailed_queues(&self, queues: BTreeSet<String>) {
        self.lock().nailed_queues = queues;
    }

    /// Whether `agent` serves a nailed queue (and so needs a leg while logged in).
    pub fn needs_leg(&self, agent: &str) -> bool {
        let inner = self.lock();
        inner.agents.get(agent).is_some_and(|r| {
            r.agent
                .queues
                .iter()
                .any(|q| inner.nailed_queues.contains(q))
        })
    }

    /// `agent`'s nailed leg is up in `bridge`: they can take nailed queues' calls.
    pub fn leg_up(&self, agent: &str, bridge: &str) {
        let mut inner = self.lock();
        inner.legs.insert(agent.to_string(), bridge.to_string());
        self.dispatch(&mut inner);
    }

    /// How many agents have their nailed leg up now.
    pub fn legs_up(&self) -> usize {
        self.lock().legs.len()
    }

    /// `agent`'s nailed leg is gone: no nailed call reaches them until it is back.
    pub fn leg_down(&self, agent: &str) {
        self.lock().legs.remove(agent);
    }

    /// The call's customer and agent are bridged: the agent is on the call.
    pub fn bridged(&self, attempt: &str) {
        let mut inner = self.lock();
        let Some(agent) = inner.holding.get(attempt).map(|h| h.agent.clone()) else {
            return;
        };
        if let Err(e) = self.apply(&mut inner, &agent, &AgentEvent::Bridged, Some(attempt)) {
            tracing::error!(%agent, %attempt, error = %e, "cannot mark an agent on a call");
            return;
        }
        let now = self.now();
        self.notify(
            &agent,
            NoticeKind::Answered {
                attempt: attempt.to_string(),
            },
            now,
        );
    }

    /// The agent reserved for `attempt` could not be reached (their phone failed, did
    /// not answer): they are given back; the call may ask again.
    pub fn release(&self, attempt: &str) {
        let mut inner = self.lock();
        self.give_back(&mut inner, attempt);
        self.dispatch(&mut inner);
    }

    /// The call of `attempt` is over, or no longer wants an agent: a waiting request is
    /// withdrawn, a reservation given back, an agent on the call goes to wrap-up.
    /// Idempotent: the call's guard calls it whatever happened before.
    pub fn finished(&self, attempt: &str) {
        let mut inner = self.lock();
        for waiters in inner.waiting.values_mut() {
            waiters.retain(|w| w.ticket.attempt != attempt);
        }
        self.give_back(&mut inner, attempt);
        self.dispatch(&mut inner);
    }

    /// Ends what `attempt` holds: a reservation released, a call to its wrap-up.
    fn give_back(&self, inner: &mut Inner, attempt: &str) {
        let Some(holding) = inner.holding.remove(attempt) else {
            return;
        };
        let agent = holding.agent;
        let on_call = matches!(
            inner.agents.get(&agent).map(|r| &r.agent.state),
            Some(AgentState::OnCall { attempt: a }) if a == attempt
        );
        let event = if on_call {
            AgentEvent::CallEnded {
                wrap_up_ms: holding.ticket.wrap_up_ms,
            }
        } else {
            AgentEvent::ReleaseReservation
        };
        if let Err(e) = self.apply(inner, &agent, &event, Some(attempt)) {
            tracing::error!(%agent, %attempt, error = %e, "cannot give an agent back");
            return;
        }
        let now = self.now();
        self.notify(
            &agent,
            NoticeKind::Ended {
                attempt: attempt.to_string(),
            },
            now,
        );
    }

    /// A campaign's agents by what they do, and its calls waiting for one (agents who
    /// may work it: `campaigns` names it, or is empty for any campaign).
    pub fn staffing(&self, campaign: &str) -> Staffing {
        self.staffing_within(campaign, FREEING_HORIZON_MS)
    }

    /// [`Desk::staffing`], with the agents ready within `horizon_ms` expected.
    pub fn staffing_within(&self, campaign: &str, horizon_ms: u64) -> Staffing {
        let now = self.now();
        let inner = self.lock();
        let mut s = Staffing::default();
        for r in inner.agents.values() {
            if !(r.campaigns.is_empty() || r.campaigns.iter().any(|c| c == campaign)) {
                continue;
            }
            match r.agent.state {
                AgentState::Offline => continue,
                AgentState::Available => s.available += 1,
                AgentState::Reserved { .. } => s.busy += 1,
                AgentState::OnCall { .. } => {
                    s.busy += 1;
                    let chance = inner.cycles.chance_ready_within(&r.agent, now, horizon_ms);
                    s.freeing_soon += chance.unwrap_or(0.0);
                }
                AgentState::WrapUp { until_ms, .. } => {
                    s.wrap_up += 1;
                    // Their wrap-up running out makes them ready, unless a break follows.
                    let timed_out =
                        until_ms <= now.saturating_add(horizon_ms) && r.agent.break_after.is_none();
                    let chance = inner.cycles.chance_ready_within(&r.agent, now, horizon_ms);
                    s.freeing_soon += if timed_out {
                        1.0
                    } else {
                        chance.unwrap_or(0.0)
                    };
                }
                AgentState::Break { .. } => {}
            }
            s.logged_in += 1;
        }
        s.waiting_calls = inner
            .waiting
            .values()
            .flatten()
            .filter(|w| w.ticket.campaign.as_deref() == Some(campaign))
            .count() as u32;
        s.connected = inner
            .holding
            .values()
            .filter(|h| h.ticket.campaign.as_deref() == Some(campaign))
            .count() as u32;
        s
    }

    /// The attempt an agent holds now: reserved for it, on it, or in its wrap-up.
    pub fn current_call(&self, agent: &str) -> Option<String> {
        match &self.lock().agents.get(agent)?.agent.state {
            AgentState::Reserved { attempt }
            | AgentState::OnCall { attempt }
            | AgentState::WrapUp { attempt, .. } => Some(attempt.clone()),
            _ => None,
        }
    }
}
