//! `connect_agent`: the customer waits in a holding bridge (hearing the hold prompt or
//! music on hold) while the desk finds an agent of the queue; the agent is rung for
//! this call (`ring`) or already waits in their own bridge (`nailed`), and the customer
//! is bridged to them. A customer who waits past the campaign's safe harbor hears its
//! prompt and is hung up, the call counted as dropped.
//!
//! The desk owns the reservation; the machine only says what happened to it:
//! `ReleaseAgent` when the agent could not be reached (and asks again), `AgentBridged`
//! once both are in the bridge, `EndAgentCall` when the call is done with agents.

use super::{AtOnce, CallMachine, OperatorLeg, Wait};
use crate::core::call::FailureReason;
use crate::core::call::io::*;
use crate::core::scenario::{AgentHold, DROPPED_RESULT, Outcome, Verb};

/// How long an agent's phone may ring for one customer before the next agent is tried.
pub(super) const AGENT_RING_MS: u64 = 15_000;

/// What a `connect_agent` node waits on.
#[derive(Debug)]
pub(super) struct AgentWait {
    queue: String,
    /// The hold prompt playing now (it starts again as it ends).
    hold: Option<String>,
    /// The node's deadline: its timeout, or the safe harbor when that comes first.
    pub(super) timer: TimerId,
    /// Whether the deadline is the safe harbor's (then a drop, not `no_agent`).
    harbor: bool,
    /// The agent the desk reserved, and how to reach them.
    reach: Option<AgentReach>,
    /// The bridge being made with the agent (a new mixing bridge, or the agent's own).
    bridge: Option<String>,
    entered: Vec<String>,
}

impl CallMachine {
    /// `connect_agent`: into the holding bridge, the hold started, the desk asked.
    pub(super) fn start_connect_agent(
        &mut self,
        now: Millis,
        queue: &str,
        timeout_ms: u64,
        hold: &AgentHold,
    ) -> AtOnce {
        self.queued_at.get_or_insert(now);
        let holding = self.holding_bridge();
        let hold = match hold {
            AgentHold::Prompt(p) => Some(self.play_untimed(p).0),
            AgentHold::Music(class) => {
                self.out.push_back(Command::StartMoh {
                    bridge: holding,
                    class: class.clone(),
                });
                None
            }
            AgentHold::Silence => None,
        };
        self.out.push_back(Command::RequestAgent {
            queue: queue.to_string(),
        });
        let harbor = self
            .setup
            .safe_harbor
            .as_ref()
            .map(|h| h.after_ms)
            .filter(|after| *after < timeout_ms);
        let timer = self.timer(harbor.unwrap_or(timeout_ms));
        self.wait = Wait::Agent(AgentWait {
            queue: queue.to_string(),
            hold,
            timer,
            harbor: harbor.is_some(),
            reach: None,
            bridge: None,
            entered: Vec::new(),
        });
        None
    }

    /// The call's holding bridge, made (with the customer in it) on first use.
    fn holding_bridge(&mut self) -> String {
        if let Some(b) = &self.holding {
            return b.clone();
        }
        let bridge = format!("{}-h", self.setup.attempt_id);
        self.out.push_back(Command::CreateBridge {
            bridge: bridge.clone(),
            holding: true,
        });
        self.out.push_back(Command::AddToBridge {
            bridge: bridge.clone(),
            channels: vec![self.customer.clone()],
        });
        self.holding = Some(bridge.clone());
        bridge
    }

    /// The desk reserved an agent: ring them, or move the customer into their bridge.
    /// One the call no longer waits for is given back.
    pub(super) fn on_agent_assigned(&mut self, agent: String, reach: AgentReach) {
        let Wait::Agent(w) = &mut self.wait else {
            self.out.push_back(Command::ReleaseAgent);
            return;
        };
        if w.reach.is_some() {
            self.out.push_back(Command::ReleaseAgent);
            return;
        }
        w.reach = Some(reach.clone());
        self.agent = Some(agent);
        match reach {
            AgentReach::Ring { endpoint } => {
                let n = self.next_id();
                let channel = format!("{}-ag{n}", self.setup.attempt_id);
                self.agent_leg = Some(OperatorLeg::new(&channel));
                self.out.push_back(Command::Originate {
                    channel,
                    leg: Leg::Agent { endpoint },
                    timeout_ms: AGENT_RING_MS,
                });
            }
            AgentReach::Nailed { bridge } => {
                self.stop_hold();
                if let Wait::Agent(w) = &mut self.wait {
                    w.bridge = Some(bridge.clone());
                }
                self.out.push_back(Command::AddToBridge {
                    bridge,
                    channels: vec![self.customer.clone()],
                });
            }
        }
    }

    /// The agent answered their phone: customer and agent into a new mixing bridge.
    pub(super) fn on_agent_answered(&mut self, channel: &str) {
        let Some(leg) = self.agent_leg.as_mut().filter(|l| l.channel == channel) else {
            return;
        };
        if leg.answered || !leg.alive {
            return; // Seen already (a reconnect repeats what it cannot know we saw).
        }
        leg.answered = true;
        if !matches!(self.wait, Wait::Agent(_)) || self.customer_gone {
            self.hang_up_agent_leg();
            return;
        }
        self.stop_hold();
        let bridge = format!("{}-b", self.setup.attempt_id);
        self.out.push_back(Command::CreateBridge {
            bridge: bridge.clone(),
            holding: false,
        });
        self.bridge = Some(bridge.clone());
        if let Wait::Agent(w) = &mut self.wait {
            w.bridge = Some(bridge.clone());
        }
        self.out.push_back(Command::AddToBridge {
            bridge,
            channels: vec![self.customer.clone(), channel.to_string()],
        });
    }

    /// A channel entered a bridge: with everyone in the agent's, they are connected.
    /// `false` when the bridge is not the agent's.
    pub(super) fn on_agent_bridge_entered(
        &mut self,
        now: Millis,
        bridge: &str,
        channel: &str,
    ) -> bool {
        let Wait::Agent(w) = &mut self.wait else {
            return false;
        };
        if w.bridge.as_deref() != Some(bridge) {
            return false;
        }
        if !w.entered.iter().any(|c| c == channel) {
            w.entered.push(channel.to_string());
        }
        let agent_in = match (&w.reach, &self.agent_leg) {
            (Some(AgentReach::Nailed { .. }), _) => true,
            (_, Some(leg)) => w.entered.contains(&leg.channel),
            _ => false,
        };
        if agent_in && w.entered.contains(&self.customer) {
            self.agent_bridged_at = Some(now);
            self.bridged_agent = self.agent.clone();
            self.out.push_back(Command::AgentBridged);
            self.complete(now, Outcome::Bridged, None);
        }
        true
    }

    /// The agent's leg ended. Before the bridge: the agent is given back and the next
    /// one asked for. After it: the conversation is over.
    pub(super) fn on_agent_leg_gone(&mut self, now: Millis, channel: &str) {
        let Some(leg) = self.agent_leg.as_mut().filter(|l| l.channel == channel) else {
            return;
        };
        if !leg.alive {
            return;
        }
        leg.alive = false;
        if let Wait::Agent(w) = &mut self.wait {
            w.reach = None;
            w.entered.clear();
            let (queue, bridge) = (w.queue.clone(), w.bridge.take());
            self.out.push_back(Command::ReleaseAgent);
            self.agent = None;
            if let Some(bridge) = bridge {
                self.back_to_holding(bridge);
            }
            self.out.push_back(Command::RequestAgent { queue });
            return;
        }
        if self.agent_bridged_at.is_some() && self.phase == super::Phase::Running {
            self.out.push_back(Command::EndAgentCall);
            match self.wait {
                Wait::Pause { .. } => self.complete(now, Outcome::Hangup, None),
                _ => self.end_call(now),
            }
        }
    }

    /// The agent hung up from their screen: after the bridge, the call ends at once,
    /// its result (`connected_to_operator` by the bridged route) kept. `end_call`
    /// hangs up what the call owns: the customer, a rung agent's leg and the call's
    /// own bridges; a nailed agent's leg and bridge are theirs, not the call's, and
    /// stay for their next call. The flow does not go on past the hang-up (unlike the
    /// agent's leg going, which routes `hangup`): a node after it could only talk to a
    /// customer still sitting in a nailed agent's bridge.
    pub(super) fn on_agent_hung_up(&mut self, now: Millis) {
        if self.agent_bridged_at.is_none() || self.phase != super::Phase::Running {
            return;
        }
        self.end_call(now);
    }

    /// A bridge with an agent who went before it held both: gone, and the customer
    /// back in the holding bridge to wait for the next agent.
    fn back_to_holding(&mut self, bridge: String) {
        if self.bridge.as_deref() == Some(bridge.as_str()) {
            self.bridge = None;
            self.out.push_back(Command::DestroyBridge { bridge });
        }
        if let Some(holding) = self.holding.clone() {
            self.out.push_back(Command::AddToBridge {
                bridge: holding,
                channels: vec![self.customer.clone()],
            });
        }
    }

    /// The node's deadline: the safe harbor's drop, or no agent in the node's time.
    pub(super) fn on_agent_deadline(&mut self, now: Millis) {
        let Wait::Agent(w) = &self.wait else { return };
        let harbor = w.harbor;
        self.leave_agents();
        match self.setup.safe_harbor.clone().filter(|_| harbor) {
            Some(rule) => self.drop_call(&rule.prompt),
            None => self.complete(now, Outcome::NoAgent, None),
        }
    }

    /// The customer hung up, no agent runs at all, or a bridge could not be made.
    pub(super) fn agent_wait_ended(&mut self, now: Millis, outcome: Outcome) {
        if !matches!(self.wait, Wait::Agent(_)) {
            return;
        }
        self.leave_agents();
        let reason = (outcome == Outcome::Failed).then_some(FailureReason::AgentFailed.as_str());
        self.complete(now, outcome, reason);
    }

    /// Whether a refused command ends the wait: only while a bridge with the agent is
    /// being made (a refused hold music does not).
    pub(super) fn agent_bridge_pending(&self) -> bool {
        matches!(&self.wait, Wait::Agent(w) if w.bridge.is_some())
    }

    /// The safe harbor: the campaign's prompt, then the hang-up; the call is dropped.
    fn drop_call(&mut self, prompt: &str) {
        self.dropped = true;
        self.set_result(DROPPED_RESULT.to_string());
        if let Some(bridge) = self.holding.take() {
            self.out.push_back(Command::DestroyBridge { bridge });
        }
        let (playback, timer) = self.play(prompt);
        self.wait = Wait::Harbor { playback, timer };
    }

    /// Done with agents for now: the hold stopped, a ringing agent hung up, the desk told.
    fn leave_agents(&mut self) {
        self.stop_hold();
        self.hang_up_agent_leg();
        self.agent = None;
        self.out.push_back(Command::EndAgentCall);
    }

    fn stop_hold(&mut self) {
        if let Wait::Agent(w) = &mut self.wait
            && let Some(p) = w.hold.take()
        {
            self.out.push_back(Command::StopPlayback { playback: p });
        }
    }

    /// The hold prompt ended: it plays again while the customer waits.
    pub(super) fn on_hold_finished(&mut self, playback: &str, failed: bool) {
        let Wait::Agent(w) = &mut self.wait else {
            return;
        };
        if w.hold.as_deref() != Some(playback) {
            return;
        }
        w.hold = None;
        if failed || self.customer_gone {
            return;
        }
        let prompt = match self.current.map(|c| &self.scenario.node(c).verb) {
            Some(Verb::ConnectAgent {
                hold: AgentHold::Prompt(p),
                ..
            }) => p.clone(),
            _ => return,
        };
        let (pb, _) = self.play_untimed(&prompt);
        if let Wait::Agent(w) = &mut self.wait {
            w.hold = Some(pb);
        }
    }

    pub(super) fn hang_up_agent_leg(&mut self) {
        if let Some(leg) = self.agent_leg.as_mut().filter(|l| l.alive) {
            leg.alive = false;
            let channel = leg.channel.clone();
            self.out.push_back(Command::Hangup { channel });
        }
    }

    pub(super) fn is_agent_leg(&self, channel: &str) -> bool {
        self.agent_leg
            .as_ref()
            .is_some_and(|l| l.channel == channel)
    }
}
