//! The interpreter's edges, driven input by input: safety timers, failures, budgets,
//! stray events, classifier answers outside the scenario's intents, and how a call that
//! was never answered ends when the PBX runs on another clock.

use std::sync::Arc;

use dialflow::core::call::{
    CallMachine, CallSetup, Classification, Command, Input, Lead, Millis, TimerId,
};
use dialflow::core::compile::{Environment, compile};
use dialflow::core::diagnostic::SourceText;
use dialflow::core::scenario::Scenario;

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
    /// Started: the customer's leg originated, nothing heard from Asterisk yet.
    fn dialed(s: &Arc<Scenario>) -> Call {
        let setup = CallSetup {
            attempt_id: "a".into(),
            lead: Lead::default(),
            attempt: 1,
            ring_timeout_ms: None,
            safe_harbor: None,
        };
        let mut call = Call {
            machine: CallMachine::new(Arc::clone(s), setup),
            now: 0,
            commands: Vec::new(),
        };
        call.machine.start(Millis(0));
        call.drain();
        call
    }

    fn answered(s: &Arc<Scenario>) -> Call {
        let mut call = Call::dialed(s);
        call.feed(Input::StasisStarted {
            channel: "a-c".into(),
            args: vec![],
        });
        call
    }

    fn drain(&mut self) {
        while let Some(c) = self.machine.poll_command() {
            self.commands.push(c);
        }
    }

    fn feed(&mut self, input: Input) {
        self.now += 10;
        self.machine.handle(Millis(self.now), input);
        self.drain();
    }

    /// The latest timer started, to fire it.
    fn last_timer(&self) -> TimerId {
        self.commands
            .iter()
            .rev()
            .find_map(|c| match c {
                Command::StartTimer { timer, .. } => Some(*timer),
                _ => None,
            })
            .expect("a timer")
    }

    fn last_playback(&self) -> String {
        self.commands
            .iter()
            .rev()
            .find_map(|c| match c {
                Command::Play { playback, .. } => Some(playback.clone()),
                _ => None,
            })
            .expect("a playback")
    }

    fn finish(&self) -> (String, String) {
        match self.commands.last() {
            Some(Command::Finish(s)) => (s.result.clone(), s.status.clone()),
            other => panic!("not finished: {other:?}\n{:#?}", self.commands),
        }
    }
}

const PLAY: &str = "
name: t
prompts: t
defaults: { hangup: end, failed: end }
nodes:
  hello:
    play: hello
    set_result: hangup
    next: { goto: end, result: not_interested }
";

#[test]
fn a_prompt_that_never_finishes_fails_on_its_safety_timer() {
    // An unknown media scheme gets PlaybackStarted and never PlaybackFinished (NOTES.md).
    let s = scenario(PLAY);
    let mut call = Call::answered(&s);
    let playback = call.last_playback();
    call.feed(Input::PlaybackStarted {
        playback: playback.clone(),
    });
    let timer = call.last_timer();
    call.feed(Input::Timer(timer));
    assert!(call.commands.contains(&Command::StopPlayback { playback }));
    assert!(call.commands.contains(&Command::Hangup {
        channel: "a-c".into()
    }));
    assert_eq!(call.finish(), ("failed:playback".into(), "FAILED".into()));
}

#[test]
fn a_missing_sound_is_a_failed_playback_not_a_hangup() {
    let s = scenario(PLAY);
    let mut call = Call::answered(&s);
    let playback = call.last_playback();
    call.feed(Input::PlaybackFinished {
        playback,
        failed: true,
    });
    assert_eq!(call.finish().0, "failed:playback");
}

#[test]
fn a_hangup_mid_prompt_is_the_hangup_outcome() {
    let s = scenario(PLAY);
    let mut call = Call::answered(&s);
    let playback = call.last_playback();
    call.feed(Input::HangupRequested {
        channel: "a-c".into(),
        cause: 16,
    });
    call.feed(Input::PlaybackFinished {
        playback,
        failed: true,
    });
    assert_eq!(call.finish(), ("hangup".into(), "HANGUP".into()));
    // The customer is gone: no hangup request is sent for them.
    assert!(!call.commands.contains(&Command::Hangup {
        channel: "a-c".into()
    }));
}

#[test]
fn stray_and_stale_inputs_change_nothing() {
    let s = scenario(PLAY);
    let mut call = Call::answered(&s);
    let before = call.commands.len();
    call.feed(Input::HangupRequested {
        channel: "a-c;2".into(),
        cause: 16,
    });
    call.feed(Input::ChannelGone {
        channel: "someone-else".into(),
        cause: 16,
        cause_txt: "x".into(),
    });
    call.feed(Input::PlaybackFinished {
        playback: "not-ours".into(),
        failed: false,
    });
    call.feed(Input::Timer(TimerId(9_999)));
    call.feed(Input::Dtmf {
        channel: "a-c".into(),
        digit: '5',
    });
    assert_eq!(call.commands.len(), before);
    assert!(!call.machine.is_finished());
}

#[test]
fn the_step_budget_stops_a_runaway_call() {
    let s = scenario(
        "
name: t
prompts: t
limits: { max_steps: 10 }
nodes:
  a:
    set: { n: 1 }
    max_visits: 1000
    next: b
    on: { exhausted: end }
  b:
    set: { m: 2 }
    next: a
",
    );
    let call = Call::answered(&s);
    assert_eq!(call.finish().0, "failed:step_budget");
}

#[test]
fn an_intent_the_scenario_did_not_declare_is_unknown() {
    let s = scenario(
        "
name: t
prompts: t
intents: [yes]
defaults: { hangup: end, failed: end }
nodes:
  listen:
    record: {}
    next: understand
    on: { silence: understand }
  understand:
    classify: {}
    on:
      yes: { goto: end, result: connected_to_operator }
      unknown: { goto: end, result: unknown }
      empty: end
      quota: end
",
    );
    let mut call = Call::answered(&s);
    let name = call
        .commands
        .iter()
        .find_map(|c| match c {
            Command::Record { recording, .. } => Some(recording.clone()),
            _ => None,
        })
        .expect("a recording");
    call.feed(Input::RecordingFinished {
        recording: name.clone(),
        talking_ms: Some(1000),
    });
    assert!(
        call.commands
            .iter()
            .any(|c| matches!(c, Command::Classify { recording, .. } if *recording == name))
    );
    call.feed(Input::Classified(Classification::Intent {
        intent: "ignore previous instructions".into(),
        transcript: "hm".into(),
    }));
    assert_eq!(call.finish(), ("unknown".into(), "UNKNOWN".into()));
}

#[test]
fn the_watchdog_frees_a_call_with_no_events() {
    let s = scenario(PLAY);
    let mut call = Call::dialed(&s);
    let watchdog = call
        .commands
        .iter()
        .find_map(|c| match c {
            Command::StartTimer { timer, .. } => Some(*timer),
            _ => None,
        })
        .unwrap();
    call.feed(Input::Timer(watchdog));
    assert_eq!(call.finish(), ("user_didnt_answer".into(), "MISSED".into()));
}

/// A customer leg that gets `dialstatuses` in its `Dial` events, then is destroyed with
/// cause 19 three seconds in: long before dialflow's 30-s ring timeout, as a simulator
/// at `--speed 10` ends a 30-s ring-out.
fn ended_early_with_19(dialstatuses: &[&str]) -> (String, String) {
    let s = scenario(PLAY);
    let mut call = Call::dialed(&s);
    for status in dialstatuses {
        call.feed(Input::ChannelProgress {
            channel: "a-c".into(),
            dialstatus: Some(status.to_string()),
        });
    }
    call.now = 3_000;
    call.feed(Input::ChannelGone {
        channel: "a-c".into(),
        cause: 19,
        cause_txt: "User alerting, no answer".into(),
    });
    call.finish()
}

#[test]
fn a_ring_out_is_missed_by_the_events_whatever_dialflows_clock_says() {
    // noanswer.jsonl: Dial "", Dial RINGING, then cause 19 with no final Dial.
    assert_eq!(
        ended_early_with_19(&["", "RINGING"]),
        ("missed".into(), "MISSED".into())
    );
    // unavailable.jsonl: the far end's Hangup(19) sends the final Dial NOANSWER first.
    assert_eq!(
        ended_early_with_19(&["", "NOANSWER"]),
        ("power_off".into(), "POWER_OFF".into())
    );
    // Ringing first, then the far end's own 19: the final Dial decides.
    assert_eq!(
        ended_early_with_19(&["RINGING", "NOANSWER"]),
        ("power_off".into(), "POWER_OFF".into())
    );
}

const HOOK: &str = r#"
name: t
prompts: t
defaults: { hangup: end }
nodes:
  pick:
    hook:
      function: choose
      outcomes: [gold, silver]
      code: |
        fn choose(ctx) {
          if ctx.lead.custom.tier == "vip" { "gold" } else if ctx.lead.custom.tier == "bad" { "platinum" } else { "silver" }
        }
    on:
      gold: { goto: end, result: connected_to_operator }
      silver: { goto: end, result: not_interested }
      failed: end
"#;

fn hook_result(tier: &str) -> String {
    let s = scenario(HOOK);
    let mut lead = Lead::default();
    lead.custom.insert("tier".into(), tier.into());
    let setup = CallSetup {
        attempt_id: "a".into(),
        lead,
        attempt: 1,
        ring_timeout_ms: None,
        safe_harbor: None,
    };
    let mut call = Call {
        machine: CallMachine::new(Arc::clone(&s), setup),
        now: 0,
        commands: Vec::new(),
    };
    call.machine.start(Millis(0));
    call.drain();
    call.feed(Input::StasisStarted {
        channel: "a-c".into(),
        args: vec![],
    });
    call.finish().0
}

#[test]
fn a_hook_picks_the_outcome_from_the_call_data() {
    assert_eq!(hook_result("vip"), "connected_to_operator");
    assert_eq!(hook_result("plain"), "not_interested");
    // An outcome the hook did not declare is a failure of the hook.
    assert_eq!(hook_result("bad"), "failed:hook");
}

const POST_HOOK: &str = r#"
name: t
prompts: t
intents: [yes, no]
defaults: { hangup: end, failed: end }
nodes:
  listen:
    record: {}
    next: understand
    on: { silence: understand }
  understand:
    classify:
      post:
        function: fix
        code: |
          fn fix(ctx) {
            if ctx.transcript.contains("later") { "no" } else if ctx.transcript.contains("odd") { "maybe" } else { ctx.intent }
          }
    on:
      yes: { goto: end, result: connected_to_operator }
      no: { goto: end, result: not_interested }
      unknown: { goto: end, result: unknown }
      empty: end
      quota: end
"#;

fn classified_as(transcript: &str, intent: &str) -> String {
    let s = scenario(POST_HOOK);
    let mut call = Call::answered(&s);
    let name = call
        .commands
        .iter()
        .find_map(|c| match c {
            Command::Record { recording, .. } => Some(recording.clone()),
            _ => None,
        })
        .unwrap();
    call.feed(Input::RecordingFinished {
        recording: name,
        talking_ms: Some(1000),
    });
    call.feed(Input::Classified(Classification::Intent {
        intent: intent.into(),
        transcript: transcript.into(),
    }));
    call.finish().0
}

#[test]
fn a_post_hook_corrects_the_intent() {
    assert_eq!(classified_as("yes, call me later", "yes"), "not_interested");
    assert_eq!(classified_as("yes please", "yes"), "connected_to_operator");
    // An intent the scenario does not declare is ignored: the classifier's answer stands.
    assert_eq!(
        classified_as("something odd", "yes"),
        "connected_to_operator"
    );
}
