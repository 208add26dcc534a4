//! `connect_agent` in the interpreter, input by input: the holding bridge, the desk's
//! reservation rung (or a nailed agent's bridge joined), an agent who does not answer
//! given back and the next one asked for, no agent in time, the safe harbor's drop, and
//! the compiler's check of queue names against the configuration, and the agent's
//! hang-up from their screen (both legs for a rung agent, the customer's alone for a
//! nailed one).

use std::collections::BTreeSet;
use std::sync::Arc;

use dialflow::core::call::{
    AgentReach, CallMachine, CallSetup, Command, Input, Lead, Leg, Millis, SafeHarbor, Summary,
    TimerId,
};
use dialflow::core::compile::{Environment, compile};
use dialflow::core::diagnostic::SourceText;
use dialflow::core::scenario::Scenario;

const SCENARIO: &str = "
name: t
prompts: t
defaults: { failed: end, hangup: end }
nodes:
  agent:
    connect_agent: { queue: sales, timeout: 30s, hold: hold_music }
    on:
      bridged: { goto: talk, result: connected_to_operator }
      no_agent: { goto: sorry, result: missed }
      customer_hangup: { goto: end, result: hangup }
  talk:
    wait: hangup
    on: { hangup: end }
  sorry:
    play: sorry
    next: end
";

fn scenario(yaml: &str) -> Arc<Scenario> {
    let compiled = compile(SourceText::new("t.yaml", yaml), &Environment::default());
    let text = dialflow::render::human(&compiled.diagnostics, &compiled.sources, false);
    compiled.scenario.unwrap_or_else(|| panic!("{text}"))
}

struct Call {
    machine: CallMachine,
    now: u64,
    commands: Vec<Command>,
}

impl Call {
    fn answered(safe_harbor: Option<SafeHarbor>) -> Call {
        let setup = CallSetup {
            attempt_id: "a".into(),
            lead: Lead::default(),
            attempt: 1,
            ring_timeout_ms: None,
            safe_harbor,
        };
        let mut call = Call {
            machine: CallMachine::new(scenario(SCENARIO), setup),
            now: 0,
            commands: Vec::new(),
        };
        call.machine.start(Millis(0));
        call.feed(Input::StasisStarted {
            channel: "a-c".into(),
            args: vec![],
        });
        call
    }

    fn feed(&mut self, input: Input) {
        self.now += 10;
        self.machine.handle(Millis(self.now), input);
        while let Some(c) = self.machine.poll_command() {
            self.commands.push(c);
        }
    }

    /// The commands since the last look.
    fn take(&mut self) -> Vec<Command> {
        std::mem::take(&mut self.commands)
    }

    fn assign(&mut self, agent: &str, reach: AgentReach) {
        self.feed(Input::AgentAssigned {
            agent: agent.into(),
            reach,
        });
    }

    fn ring(&mut self, agent: &str) {
        let endpoint = format!("PJSIP/{agent}");
        self.assign(agent, AgentReach::Ring { endpoint });
    }

    fn summary(&self) -> &Summary {
        self.commands
            .iter()
            .find_map(|c| match c {
                Command::Finish(s) => Some(s),
                _ => None,
            })
            .unwrap_or_else(|| panic!("not finished: {:#?}", self.commands))
    }
}

fn timers(commands: &[Command]) -> Vec<(TimerId, u64)> {
    commands
        .iter()
        .filter_map(|c| match c {
            Command::StartTimer { timer, after_ms } => Some((*timer, *after_ms)),
            _ => None,
        })
        .collect()
}

fn originated(commands: &[Command]) -> Vec<(String, Leg)> {
    commands
        .iter()
        .filter_map(|c| match c {
            Command::Originate { channel, leg, .. } => Some((channel.clone(), leg.clone())),
            _ => None,
        })
        .collect()
}

#[test]
fn the_customer_waits_in_a_holding_bridge_and_is_bridged_to_the_agent_who_answers() {
    let mut call = Call::answered(None);
    let entered = call.take();
    assert!(entered.contains(&Command::CreateBridge {
        bridge: "a-h".into(),
        holding: true
    }));
    assert!(entered.contains(&Command::AddToBridge {
        bridge: "a-h".into(),
        channels: vec!["a-c".into()]
    }));
    assert!(entered.contains(&Command::RequestAgent {
        queue: "sales".into()
    }));
    assert!(
        entered
            .iter()
            .any(|c| matches!(c, Command::Play { prompt, .. } if prompt == "hold_music"))
    );
    call.ring("ann");
    let rung = originated(&call.take());
    let [(leg, Leg::Agent { endpoint })] = rung.as_slice() else {
        panic!("one agent leg: {rung:?}");
    };
    assert_eq!(endpoint, "PJSIP/ann");
    assert!(leg.starts_with("a-ag"), "named for the call: {leg}");
    call.feed(Input::StasisStarted {
        channel: leg.clone(),
        args: vec![],
    });
    let answered = call.take();
    assert!(
        answered
            .iter()
            .any(|c| matches!(c, Command::StopPlayback { .. }))
    );
    assert!(answered.contains(&Command::AddToBridge {
        bridge: "a-b".into(),
        channels: vec!["a-c".into(), leg.clone()]
    }));
    for channel in ["a-c", leg.as_str()] {
        call.feed(Input::EnteredBridge {
            bridge: "a-b".into(),
            channel: channel.into(),
        });
    }
    assert!(call.take().contains(&Command::AgentBridged));
    call.feed(Input::ChannelGone {
        channel: leg.clone(),
        cause: 16,
        cause_txt: "Normal Clearing".into(),
    });
    let ended = call.take();
    assert!(ended.contains(&Command::EndAgentCall));
    assert!(ended.contains(&Command::DestroyBridge {
        bridge: "a-h".into()
    }));
    call.commands = ended;
    let s = call.summary();
    assert_eq!(s.result, "connected_to_operator");
    assert_eq!(s.facts.agent.as_deref(), Some("ann"));
    let (queued, bridged) = (
        s.facts.queued_at.unwrap(),
        s.facts.agent_bridged_at.unwrap(),
    );
    assert_eq!(
        bridged.since(queued),
        40,
        "assigned, answered, two in the bridge"
    );
    assert!(!s.facts.dropped);
}

#[test]
fn an_agent_who_does_not_answer_is_given_back_and_the_next_one_asked_for() {
    let mut call = Call::answered(None);
    call.ring("ann");
    let leg = originated(&call.take()).last().unwrap().0.clone();
    call.feed(Input::ChannelGone {
        channel: leg,
        cause: 19,
        cause_txt: "No answer".into(),
    });
    let after = call.take();
    assert_eq!(
        after,
        [
            Command::ReleaseAgent,
            Command::RequestAgent {
                queue: "sales".into()
            }
        ]
    );
    call.ring("bob");
    assert_eq!(originated(&call.take()).len(), 1, "bob is rung");
}

#[test]
fn no_agent_in_the_nodes_time_takes_the_no_agent_route() {
    let mut call = Call::answered(None);
    let (deadline, after) = *timers(&call.take()).last().unwrap();
    assert_eq!(after, 30_000);
    call.feed(Input::Timer(deadline));
    let after = call.take();
    assert!(after.contains(&Command::EndAgentCall));
    assert!(
        after
            .iter()
            .any(|c| matches!(c, Command::Play { prompt, .. } if prompt == "sorry"))
    );
    // The desk's answer arriving late is given straight back.
    call.ring("ann");
    assert_eq!(call.take(), [Command::ReleaseAgent]);
}

#[test]
fn past_the_safe_harbor_the_customer_hears_its_prompt_and_the_call_is_dropped() {
    let harbor = SafeHarbor {
        after_ms: 2_000,
        prompt: "safe_harbor".into(),
    };
    let mut call = Call::answered(Some(harbor));
    let (deadline, after) = *timers(&call.take()).last().unwrap();
    assert_eq!(after, 2_000, "the safe harbor comes before the node's 30 s");
    call.ring("ann");
    let leg = originated(&call.take()).last().unwrap().0.clone();
    call.feed(Input::Timer(deadline));
    let dropped = call.take();
    assert!(dropped.contains(&Command::EndAgentCall));
    assert!(dropped.contains(&Command::Hangup { channel: leg }));
    let playback = dropped
        .iter()
        .find_map(|c| match c {
            Command::Play {
                playback, prompt, ..
            } if prompt == "safe_harbor" => Some(playback.clone()),
            _ => None,
        })
        .expect("the safe-harbor prompt");
    call.feed(Input::PlaybackFinished {
        playback,
        failed: false,
    });
    let s = call.summary();
    assert_eq!(s.result, "dropped");
    assert_eq!(s.status, "MISSED");
    assert!(s.facts.dropped);
    assert!(call.commands.contains(&Command::Hangup {
        channel: "a-c".into()
    }));
}

#[test]
fn a_customer_who_hangs_up_while_waiting_withdraws_the_request() {
    let mut call = Call::answered(None);
    call.take();
    call.feed(Input::ChannelGone {
        channel: "a-c".into(),
        cause: 16,
        cause_txt: "Normal Clearing".into(),
    });
    assert!(call.commands.contains(&Command::EndAgentCall));
    assert_eq!(call.summary().result, "hangup");
}

#[test]
fn without_a_desk_there_is_no_agent() {
    let mut call = Call::answered(None);
    call.feed(Input::NoDesk);
    assert!(
        call.commands
            .iter()
            .any(|c| matches!(c, Command::Play { prompt, .. } if prompt == "sorry"))
    );
}

#[test]
fn a_nailed_agent_is_joined_in_their_own_bridge_which_outlives_the_call() {
    let mut call = Call::answered(None);
    call.take();
    call.assign(
        "ann",
        AgentReach::Nailed {
            bridge: "agent-ann".into(),
        },
    );
    assert!(call.take().contains(&Command::AddToBridge {
        bridge: "agent-ann".into(),
        channels: vec!["a-c".into()]
    }));
    call.feed(Input::EnteredBridge {
        bridge: "agent-ann".into(),
        channel: "a-c".into(),
    });
    assert!(call.take().contains(&Command::AgentBridged));
    call.feed(Input::ChannelGone {
        channel: "a-c".into(),
        cause: 16,
        cause_txt: "Normal Clearing".into(),
    });
    let ended = call.take();
    assert!(ended.contains(&Command::EndAgentCall));
    assert!(
        !ended
            .iter()
            .any(|c| matches!(c, Command::DestroyBridge { bridge } if bridge == "agent-ann")),
        "the agent's bridge stays for their next call"
    );
    call.commands = ended;
    assert_eq!(call.summary().facts.agent.as_deref(), Some("ann"));
}

/// A call rung to ann and bridged with her: her leg's channel.
fn bridged_to_ann(call: &mut Call) -> String {
    call.ring("ann");
    let rung = originated(&call.take());
    let leg = rung[0].0.clone();
    call.feed(Input::StasisStarted {
        channel: leg.clone(),
        args: vec![],
    });
    for channel in ["a-c", leg.as_str()] {
        call.feed(Input::EnteredBridge {
            bridge: "a-b".into(),
            channel: channel.into(),
        });
    }
    assert!(call.take().contains(&Command::AgentBridged));
    leg
}

fn hangups(commands: &[Command]) -> Vec<&str> {
    commands
        .iter()
        .filter_map(|c| match c {
            Command::Hangup { channel } => Some(channel.as_str()),
            _ => None,
        })
        .collect()
}

#[test]
fn an_agent_who_hangs_up_before_the_bridge_changes_nothing() {
    let mut call = Call::answered(None);
    call.take();
    call.feed(Input::AgentHungUp);
    assert_eq!(
        call.take(),
        vec![],
        "waiting for an agent: nothing to hang up"
    );
    call.ring("ann");
    call.take();
    call.feed(Input::AgentHungUp);
    assert_eq!(call.take(), vec![], "ringing: not on the call yet");
}

#[test]
fn a_rung_agent_who_hangs_up_ends_the_call_and_both_legs_result_kept() {
    let mut call = Call::answered(None);
    call.take();
    let leg = bridged_to_ann(&mut call);
    call.feed(Input::AgentHungUp);
    let ended = call.take();
    let mut hung_up = hangups(&ended);
    hung_up.sort_unstable();
    let mut both = vec!["a-c", leg.as_str()];
    both.sort_unstable();
    assert_eq!(hung_up, both, "{ended:#?}");
    for bridge in ["a-b", "a-h"] {
        assert!(ended.contains(&Command::DestroyBridge {
            bridge: bridge.into()
        }));
    }
    assert!(ended.contains(&Command::EndAgentCall));
    call.commands = ended;
    let s = call.summary().clone();
    assert_eq!(s.result, "connected_to_operator");
    assert_eq!(s.facts.agent.as_deref(), Some("ann"));
    // The legs' own events after the hang-up change nothing.
    call.commands.clear();
    for channel in ["a-c", leg.as_str()] {
        call.feed(Input::ChannelGone {
            channel: channel.into(),
            cause: 16,
            cause_txt: "Normal Clearing".into(),
        });
    }
    call.feed(Input::AgentHungUp);
    assert_eq!(call.take(), vec![]);
}

#[test]
fn a_nailed_agent_who_hangs_up_ends_the_customers_leg_only() {
    let mut call = Call::answered(None);
    call.take();
    call.assign(
        "ann",
        AgentReach::Nailed {
            bridge: "agent-ann".into(),
        },
    );
    call.feed(Input::EnteredBridge {
        bridge: "agent-ann".into(),
        channel: "a-c".into(),
    });
    assert!(call.take().contains(&Command::AgentBridged));
    call.feed(Input::AgentHungUp);
    let ended = call.take();
    assert_eq!(hangups(&ended), vec!["a-c"], "{ended:#?}");
    assert!(
        !ended
            .iter()
            .any(|c| matches!(c, Command::DestroyBridge { bridge } if bridge == "agent-ann")),
        "the agent's bridge stays for their next call"
    );
    assert!(ended.contains(&Command::EndAgentCall));
    call.commands = ended;
    assert_eq!(call.summary().result, "connected_to_operator");
}

#[test]
fn queues_are_checked_against_the_configuration() {
    let env = Environment {
        queues: Some(BTreeSet::from(["care".to_string()])),
        ..Environment::default()
    };
    let compiled = compile(SourceText::new("t.yaml", SCENARIO), &env);
    assert!(compiled.scenario.is_none());
    let text = dialflow::render::human(&compiled.diagnostics, &compiled.sources, false);
    assert!(text.contains("no queue named `sales`"), "{text}");
    assert!(text.contains("the configured queues are care"), "{text}");
    assert!(text.contains("t.yaml:7:"), "points at the queue: {text}");
    let both = SCENARIO.replace(
        "hold: hold_music",
        "hold: hold_music, music_on_hold: default",
    );
    let compiled = compile(SourceText::new("t.yaml", &both), &Environment::default());
    let text = dialflow::render::human(&compiled.diagnostics, &compiled.sources, false);
    assert!(text.contains("keep one"), "{text}");
}
