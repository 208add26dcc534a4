//! Nailed agent legs (VICIdial's agents in their conference): while an agent of a
//! nailed queue is logged in, their phone is called once and kept up in a bridge of
//! their own, so putting a customer through is a move between bridges (milliseconds)
//! rather than a ring (seconds), which is what makes the 2-second safe harbor easy.
//!
//! One task per logged-in agent: it originates the leg (`nl<n>-a`, its own id prefix
//! so the router hands it the leg's events like a call's), bridges it (`nl<n>-b`), tells
//! the desk the agent is reachable there, and when the leg goes (the agent hung up,
//! the PBX lost it) tells the desk it is not and calls again while they stay logged in.
//! Logging out hangs the leg up. Customers come and go in the bridge; the calls never
//! hang up the leg nor destroy the bridge.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use std::collections::HashMap;

use tokio::sync::{broadcast, mpsc};
use tokio::task::JoinHandle;

use super::{Arrival, Runtime, Shared};
use crate::ari::request::{Originate, Request};
use crate::core::call::Input;
use crate::desk::{Desk, NoticeKind};

/// How long after a leg is lost (or could not be called) it is called again.
const RECALL_AFTER: Duration = Duration::from_secs(1);
/// How long an agent's phone may ring for their nailed leg.
const LEG_RING_S: u64 = 30;

/// What originating a nailed leg needs to know of the deployment.
#[derive(Debug, Clone)]
pub struct LegSetup {
    pub app: String,
    pub formats: String,
    /// Logical endpoint names → dial strings (an agent's endpoint may be either).
    pub endpoints: std::collections::BTreeMap<String, String>,
}

/// Numbers the legs: each new leg gets a fresh id prefix.
static LEGS: AtomicU64 = AtomicU64::new(0);

impl Runtime {
    /// Keeps a nailed leg up for every logged-in agent of a nailed queue, until the
    /// returned task is aborted.
    pub fn keep_nailed_legs(&self, desk: Arc<Desk>, setup: LegSetup) -> JoinHandle<()> {
        let mut legs = Legs {
            shared: Arc::clone(&self.shared),
            setup: Arc::new(setup),
            desk,
            running: HashMap::new(),
        };
        tokio::spawn(async move {
            let mut notices = legs.desk.subscribe();
            legs.ensure_all();
            loop {
                match notices.recv().await {
                    Ok(n) => match &n.kind {
                        NoticeKind::State { state, .. } if state != "offline" => {
                            legs.ensure(&n.agent)
                        }
                        _ => {}
                    },
                    Err(broadcast::error::RecvError::Lagged(_)) => legs.ensure_all(),
                    Err(broadcast::error::RecvError::Closed) => return,
                }
            }
        })
    }
}

/// The legs' supervisor: one task per logged-in agent who needs a leg.
struct Legs {
    shared: Arc<Shared>,
    setup: Arc<LegSetup>,
    desk: Arc<Desk>,
    running: HashMap<String, JoinHandle<()>>,
}

impl Legs {
    fn ensure_all(&mut self) {
        for record in self.desk.agents() {
            if record.agent.state.name() != "offline" {
                self.ensure(&record.agent.id);
            }
        }
    }

    /// Starts `agent`'s leg task unless one runs (it ends when they log out).
    fn ensure(&mut self, agent: &str) {
        let alive = self.running.get(agent).is_some_and(|t| !t.is_finished());
        if alive || !self.desk.needs_leg(agent) {
            return;
        }
        let task = keep_leg(
            Arc::clone(&self.shared),
            Arc::clone(&self.desk),
            Arc::clone(&self.setup),
            agent.to_string(),
        );
        self.running.insert(agent.to_string(), task);
    }
}

/// `agent`'s leg, called again whenever it is lost, until they log out.
fn keep_leg(
    shared: Arc<Shared>,
    desk: Arc<Desk>,
    setup: Arc<LegSetup>,
    agent: String,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut notices = desk.subscribe();
        while logged_in(&desk, &agent) {
            let leg = Leg::new();
            let ended = leg.run(&shared, &desk, &setup, &agent, &mut notices).await;
            leg.forget(&shared);
            desk.leg_down(&agent);
            if ended == LegEnd::LoggedOut {
                return;
            }
            tokio::time::sleep(RECALL_AFTER).await;
        }
    })
}

fn logged_in(desk: &Desk, agent: &str) -> bool {
    desk.agent(agent)
        .is_some_and(|r| r.agent.state.name() != "offline")
}

#[derive(Debug, PartialEq, Eq)]
enum LegEnd {
    /// The leg went (hung up, refused, lost): call again.
    Lost,
    /// The agent logged out: the leg was hung up.
    LoggedOut,
}

/// One nailed leg's ids.
struct Leg {
    prefix: String,
    channel: String,
    bridge: String,
}

impl Leg {
    fn new() -> Leg {
        let n = LEGS.fetch_add(1, Ordering::Relaxed);
        let prefix = format!("nl{n}");
        Leg {
            channel: format!("{prefix}-a"),
            bridge: format!("{prefix}-b"),
            prefix,
        }
    }

    /// Calls the agent, bridges the leg, and waits for its end or the agent's logout.
    async fn run(
        &self,
        shared: &Arc<Shared>,
        desk: &Desk,
        setup: &LegSetup,
        agent: &str,
        notices: &mut broadcast::Receiver<crate::desk::AgentNotice>,
    ) -> LegEnd {
        let (tx, mut rx) = mpsc::unbounded_channel();
        if let Ok(mut legs) = shared.legs.lock() {
            legs.insert(self.prefix.clone(), tx);
        }
        let Some(endpoint) = desk.agent(agent).map(|r| r.endpoint) else {
            return LegEnd::LoggedOut;
        };
        let endpoint = setup.endpoints.get(&endpoint).cloned().unwrap_or(endpoint);
        let originate = Request::originate(Originate {
            endpoint: &endpoint,
            app: &setup.app,
            app_args: format!("nailed,{agent}"),
            channel_id: &self.channel,
            timeout_s: LEG_RING_S,
            formats: &setup.formats,
            caller_id: None,
        });
        if let Err(e) = shared.client.send(&originate).await {
            tracing::warn!(%agent, error = %e, "cannot call an agent's nailed leg");
            return LegEnd::Lost;
        }
        loop {
            tokio::select! {
                arrival = rx.recv() => {
                    let Some(Arrival::Input(_, input)) = arrival else { continue };
                    if self.on_input(shared, desk, agent, input).await {
                        return LegEnd::Lost;
                    }
                }
                notice = notices.recv() => {
                    let out = match notice {
                        Ok(n) => n.agent == agent
                            && matches!(&n.kind, NoticeKind::State { state, .. } if state == "offline"),
                        Err(broadcast::error::RecvError::Lagged(_)) => !logged_in(desk, agent),
                        Err(broadcast::error::RecvError::Closed) => true,
                    };
                    if out {
                        let _ = shared.client.hangup(&self.channel).await;
                        let _ = shared.client.send(&Request::destroy_bridge(&self.bridge)).await;
                        return LegEnd::LoggedOut;
                    }
                }
            }
        }
    }

    /// One event of the leg; `true` once the leg is gone.
    async fn on_input(&self, shared: &Shared, desk: &Desk, agent: &str, input: Input) -> bool {
        match input {
            Input::StasisStarted { channel, .. } if channel == self.channel => {
                let made = shared
                    .client
                    .send(&Request::create_bridge(&self.bridge, false))
                    .await
                    .is_ok();
                let added = made
                    && shared
                        .client
                        .send(&Request::add_to_bridge(
                            &self.bridge,
                            std::slice::from_ref(&self.channel),
                        ))
                        .await
                        .is_ok();
                if !added {
                    let _ = shared.client.hangup(&self.channel).await;
                    return true;
                }
                false
            }
            Input::EnteredBridge { bridge, channel }
                if bridge == self.bridge && channel == self.channel =>
            {
                desk.leg_up(agent, &self.bridge);
                false
            }
            Input::HangupRequested { channel, .. } | Input::ChannelGone { channel, .. }
                if channel == self.channel =>
            {
                let _ = shared
                    .client
                    .send(&Request::destroy_bridge(&self.bridge))
                    .await;
                true
            }
            _ => false,
        }
    }

    /// Its entries in the runtime's maps, gone.
    fn forget(&self, shared: &Shared) {
        if let Ok(mut legs) = shared.legs.lock() {
            legs.remove(&self.prefix);
        }
    }
}
