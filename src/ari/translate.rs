//! The border between ARI and the domain: events become [`Input`]s, [`Command`]s become
//! REST requests. Only this module (with its siblings) knows ARI's JSON and paths.

use std::collections::BTreeMap;

use super::events::Event;
use super::models::{
    Channel, ChannelState, LiveRecording, Playback, PlaybackState, RecordingState,
};
pub use super::request::Request;
use super::request::{Originate, Record};
use crate::core::call::{Command, Input, Leg};

/// The event types dialflow acts on, which it asks Asterisk to send its application
/// alone (`AriClient::filter_events`). The rest are noise to it: on Asterisk 22 a
/// Salehi call brings 28 events, of which 5 `ChannelVarset`, 4 `ChannelDialplan`, 2
/// `ChannelStateChange`, `RecordingStarted` and `StasisEnd` change nothing; each is a
/// wake-up, a read and a decode here, and a write in Asterisk. The first sign of life
/// the watchdog waits for is `Dial` (or `ChannelDestroyed` for a channel that never
/// dialed, as `Local/x@nosuchcontext` does: shared/ari-traces). `RESTResponse` carries
/// the answers of requests sent over the events socket (`socket_rest`): Asterisk puts
/// it through the filter too. tests/replay_traces.rs replays every recorded call with
/// only these and expects the same commands and result.
pub const EVENT_TYPES_USED: &[&str] = &[
    "StasisStart",
    "Dial",
    "PlaybackStarted",
    "PlaybackFinished",
    "RecordingFinished",
    "RecordingFailed",
    "ChannelDtmfReceived",
    "ChannelHangupRequest",
    "ChannelDestroyed",
    "ChannelEnteredBridge",
    "RESTResponse",
];

/// The domain input an event means for a call, if any. Events for channels of no call
/// (the `;2` halves of Local channels, other apps) still translate; the router drops them.
pub fn input(event: &Event) -> Option<Input> {
    Some(match event {
        Event::StasisStart(e) => Input::StasisStarted {
            channel: e.channel.id.clone(),
            args: e.args.clone(),
        },
        Event::StasisEnd(e) => Input::StasisEnded {
            channel: e.channel.id.clone(),
        },
        Event::Dial(e) => Input::ChannelProgress {
            channel: e.peer.id.clone(),
            dialstatus: Some(e.dialstatus.clone()),
        },
        Event::PlaybackStarted(e) => Input::PlaybackStarted {
            playback: e.playback.id.clone(),
        },
        Event::PlaybackFinished(e) => Input::PlaybackFinished {
            playback: e.playback.id.clone(),
            failed: e.playback.state == PlaybackState::Failed,
        },
        Event::RecordingFinished(e) if e.recording.state != RecordingState::Failed => {
            Input::RecordingFinished {
                recording: e.recording.name.clone(),
                // Never Asterisk's `talking_duration` (whole seconds, unreliable; see
                // NOTES.md): the runtime measures the audio.
                talking_ms: None,
            }
        }
        Event::RecordingFinished(e) => Input::RecordingFailed {
            recording: e.recording.name.clone(),
        },
        Event::RecordingFailed(e) => Input::RecordingFailed {
            recording: e.recording.name.clone(),
        },
        Event::ChannelDtmfReceived(e) => Input::Dtmf {
            channel: e.channel.id.clone(),
            digit: e.digit.chars().next()?,
        },
        // A soft hangup request is our own DELETE (its cause is an internal flag);
        // `ChannelDestroyed` follows with the real cause.
        Event::ChannelHangupRequest(e) if e.soft == Some(true) => Input::ChannelProgress {
            channel: e.channel.id.clone(),
            dialstatus: None,
        },
        Event::ChannelHangupRequest(e) => Input::HangupRequested {
            channel: e.channel.id.clone(),
            cause: u16::try_from(e.cause.unwrap_or(0)).unwrap_or(0),
        },
        Event::ChannelDestroyed(e) => Input::ChannelGone {
            channel: e.channel.id.clone(),
            cause: u16::try_from(e.cause).unwrap_or(0),
            cause_txt: e.cause_txt.clone(),
        },
        Event::ChannelEnteredBridge(e) => Input::EnteredBridge {
            bridge: e.bridge.id.clone(),
            channel: e.channel.as_ref()?.id.clone(),
        },
        other => Input::ChannelProgress {
            channel: other.channel_id()?.to_string(),
            dialstatus: None,
        },
    })
}

/// What Asterisk's answer about a channel means for a call that may have missed its
/// events (after the event stream broke): gone (`None`, a 404 or absent from the
/// list); in the app, as if `StasisStart` had come, with the args its `dialplan` shows
/// (`Stasis` with `app,args…`, so a verdict of the AMD hop lost in the gap is had
/// again); up elsewhere (the AMD hop) or not yet answered, a sign of life. Each input
/// is one the machine ignores if it has seen it already. A channel gone in the gap has
/// lost its cause: cause 0, and the machine decides by what it saw (Asterisk keeps
/// nothing of a destroyed channel).
pub fn channel_now(id: &str, channel: Option<&Channel>) -> Input {
    match channel {
        None => Input::ChannelGone {
            channel: id.to_string(),
            cause: 0,
            cause_txt: "gone while disconnected".into(),
        },
        Some(c) if c.state == ChannelState::Up && c.dialplan.app_name == "Stasis" => {
            Input::StasisStarted {
                channel: id.to_string(),
                // `app_data` is the application's name, then its args.
                args: c
                    .dialplan
                    .app_data
                    .split(',')
                    .skip(1)
                    .map(str::to_string)
                    .collect(),
            }
        }
        // Ringing, or up outside the app: a sign of life, so the no-event watchdog does
        // not take the lost events for a dead originate.
        Some(_) => Input::ChannelProgress {
            channel: id.to_string(),
            dialstatus: None,
        },
    }
}

/// What Asterisk's answer about a playback means: `None` (a 404) is one that has
/// ended, since Asterisk forgets a playback when it finishes; still queued or playing,
/// nothing happened. (Asterisk also forgets at once a playback of an unknown media
/// scheme, which never finishes (NOTES.md); dialflow plays only `sound:` media.)
pub fn playback_now(playback: &str, found: Option<&Playback>) -> Option<Input> {
    let failed = match found.map(|p| &p.state) {
        None | Some(PlaybackState::Done) => false,
        Some(PlaybackState::Failed) => true,
        Some(_) => return None,
    };
    Some(Input::PlaybackFinished {
        playback: playback.to_string(),
        failed,
    })
}

/// What Asterisk's answers about a recording mean: while it is live, its state; once
/// it has ended (no live recording), finished if it was stored, failed if not.
pub fn recording_now(recording: &str, live: Option<&LiveRecording>, stored: bool) -> Option<Input> {
    let finished = match live.map(|r| &r.state) {
        Some(RecordingState::Done) => true,
        Some(RecordingState::Failed | RecordingState::Canceled) => false,
        Some(_) => return None,
        None => stored,
    };
    Some(if finished {
        Input::RecordingFinished {
            recording: recording.to_string(),
            talking_ms: None,
        }
    } else {
        Input::RecordingFailed {
            recording: recording.to_string(),
        }
    })
}

/// What turning commands into requests needs to know about the deployment.
#[derive(Debug, Clone)]
pub struct Deployment {
    /// The Stasis application name.
    pub app: String,
    /// The dial string of the call's customer leg (prefix and trunk already applied).
    pub customer_endpoint: String,
    /// Logical operator name → dial string.
    pub operators: BTreeMap<String, String>,
    /// Logical caller id name → number.
    pub caller_ids: BTreeMap<String, String>,
    /// Caller id of customer calls, if the campaign sets one.
    pub customer_caller_id: Option<String>,
    /// Media URI prefix of a prompt set's prompts: `sound:<prefix>/<prompt>`.
    pub sound_prefix: String,
    /// Dialplan context of the AMD hop.
    pub amd_context: String,
    /// Media formats of originated channels (`ulaw`: see the traces' NOTES.md).
    pub formats: String,
    /// `appArgs` first word for the customer and operator legs.
    pub scenario_name: String,
}

impl Deployment {
    /// A deployment for `scenario`'s calls to `customer_endpoint` with the usual defaults
    /// (AMD context `dialflow-amd`, `ulaw`, no operators or caller ids): set the rest.
    pub fn new(
        app: &str,
        scenario: &crate::core::scenario::Scenario,
        customer_endpoint: String,
    ) -> Self {
        Self {
            app: app.to_string(),
            customer_endpoint,
            operators: BTreeMap::new(),
            caller_ids: BTreeMap::new(),
            customer_caller_id: None,
            sound_prefix: scenario.prompt_set.clone(),
            amd_context: "dialflow-amd".into(),
            formats: "ulaw".into(),
            scenario_name: scenario.name.clone(),
        }
    }

    /// Every operator the scenario calls dialled at `endpoint`.
    pub fn with_operators_at(
        mut self,
        scenario: &crate::core::scenario::Scenario,
        endpoint: &str,
    ) -> Self {
        self.operators = scenario
            .operators()
            .into_iter()
            .map(|o| (o.to_string(), endpoint.to_string()))
            .collect();
        self
    }
}

/// The REST request for a command; `None` for commands that are not ARI calls
/// (timers, classification, reports).
pub fn request(command: &Command, d: &Deployment) -> Option<Request> {
    Some(match command {
        Command::Originate {
            channel,
            leg,
            timeout_ms,
        } => originate(channel, leg, *timeout_ms, d),
        Command::Play {
            channel,
            playback,
            prompt,
        } => Request::play(
            channel,
            playback,
            format!("sound:{}/{prompt}", d.sound_prefix),
        ),
        Command::StopPlayback { playback } => Request::stop_playback(playback),
        Command::Record {
            channel,
            recording,
            max_duration_ms,
            max_silence_ms,
            beep,
        } => Request::record(&Record {
            channel,
            name: recording,
            max_duration_s: max_duration_ms.div_ceil(1000),
            max_silence_s: max_silence_ms.div_ceil(1000),
            beep: *beep,
        }),
        Command::ContinueToAmd { channel } => {
            Request::continue_in_dialplan(channel, &d.amd_context)
        }
        Command::CreateBridge { bridge, holding } => Request::create_bridge(bridge, *holding),
        Command::StartMoh { bridge, class } => Request::bridge_moh(bridge, class),
        Command::AddToBridge { bridge, channels } => Request::add_to_bridge(bridge, channels),
        Command::DestroyBridge { bridge } => Request::destroy_bridge(bridge),
        Command::Hangup { channel } => Request::hangup(channel),
        Command::StartTimer { .. }
        | Command::CancelTimer { .. }
        | Command::Classify { .. }
        | Command::SetResult { .. }
        | Command::RequestAgent { .. }
        | Command::ReleaseAgent
        | Command::AgentBridged
        | Command::EndAgentCall
        | Command::Report(_)
        | Command::Finish(_) => return None,
    })
}

/// The originate of one leg: the customer at the deployment's endpoint, an operator at
/// the dial string its logical name maps to (the name itself when unmapped).
fn originate(channel: &str, leg: &Leg, timeout_ms: u64, d: &Deployment) -> Request {
    let (endpoint, kind, caller_id) = match leg {
        Leg::Customer => (
            d.customer_endpoint.as_str(),
            "customer",
            d.customer_caller_id.as_deref(),
        ),
        Leg::Operator {
            operator,
            caller_id,
        } => (
            d.operators
                .get(operator)
                .map_or(operator.as_str(), String::as_str),
            "operator",
            caller_id
                .as_ref()
                .and_then(|c| d.caller_ids.get(c).map(String::as_str)),
        ),
        // The campaign's caller id: the agent sees the call come from the campaign.
        Leg::Agent { endpoint } => (
            d.operators
                .get(endpoint)
                .map_or(endpoint.as_str(), String::as_str),
            "agent",
            d.customer_caller_id.as_deref(),
        ),
    };
    Request::originate(Originate {
        endpoint,
        app: &d.app,
        app_args: format!("{kind},{}", d.scenario_name),
        channel_id: channel,
        timeout_s: timeout_ms.div_ceil(1000).max(1),
        formats: &d.formats,
        caller_id,
    })
}

/// The input a refused request means for the call (`status` is the HTTP status).
pub fn refusal(command: &Command, status: u16, message: &str) -> Option<Input> {
    Some(match command {
        Command::Originate { channel, .. } => Input::OriginateFailed {
            channel: channel.clone(),
            status: Some(status),
            message: message.to_string(),
        },
        // The channel is gone (hung up before the request arrived): that is a hangup,
        // not a failure of the prompt or the recording.
        Command::Play { channel, .. }
        | Command::Record { channel, .. }
        | Command::ContinueToAmd { channel }
            if status == 404 =>
        {
            Input::ChannelGone {
                channel: channel.clone(),
                cause: 16,
                cause_txt: message.to_string(),
            }
        }
        Command::Play { playback, .. } => Input::PlaybackFinished {
            playback: playback.clone(),
            failed: true,
        },
        Command::Record { recording, .. } => Input::RecordingFailed {
            recording: recording.clone(),
        },
        // Hanging up what is already gone, or stopping a finished playback, is no failure.
        Command::Hangup { .. } | Command::StopPlayback { .. } | Command::DestroyBridge { .. }
            if status == 404 =>
        {
            return None;
        }
        other => Input::CommandFailed {
            what: format!("{other:?}"),
            status: Some(status),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_type_asked_for_is_one_asterisk_sends() {
        for kind in EVENT_TYPES_USED {
            assert!(
                Event::KNOWN_TYPES.contains(kind),
                "{kind} is not an ARI event type"
            );
        }
        // The answers of requests over the events socket come through the filter too.
        assert!(EVENT_TYPES_USED.contains(&"RESTResponse"));
    }

    fn playback(state: &str) -> Playback {
        serde_json::from_value(
            json!({"id": "p", "media_uri": "sound:x", "target_uri": "channel:c", "state": state}),
        )
        .expect("a playback")
    }

    fn recording(state: &str) -> LiveRecording {
        serde_json::from_value(
            json!({"name": "r", "format": "wav", "target_uri": "channel:c", "state": state}),
        )
        .expect("a live recording")
    }

    #[test]
    fn a_playback_asked_after_a_reconnect_has_ended_once_asterisk_forgot_it() {
        let finished = |failed| {
            Some(Input::PlaybackFinished {
                playback: "p".into(),
                failed,
            })
        };
        assert_eq!(playback_now("p", None), finished(false));
        assert_eq!(playback_now("p", Some(&playback("done"))), finished(false));
        assert_eq!(playback_now("p", Some(&playback("failed"))), finished(true));
        assert_eq!(playback_now("p", Some(&playback("playing"))), None);
        assert_eq!(playback_now("p", Some(&playback("queued"))), None);
    }

    #[test]
    fn a_recording_asked_after_a_reconnect_is_finished_if_it_was_stored() {
        let finished = Some(Input::RecordingFinished {
            recording: "r".into(),
            talking_ms: None,
        });
        let failed = Some(Input::RecordingFailed {
            recording: "r".into(),
        });
        assert_eq!(
            recording_now("r", Some(&recording("recording")), false),
            None
        );
        assert_eq!(
            recording_now("r", Some(&recording("done")), false),
            finished
        );
        assert_eq!(
            recording_now("r", Some(&recording("canceled")), true),
            failed
        );
        assert_eq!(recording_now("r", None, true), finished);
        assert_eq!(recording_now("r", None, false), failed);
    }

    /// A channel as `GET /channels/{id}` shows it, in `state`, running `app` with `data`.
    fn channel(state: &str, app: &str, data: &str) -> Channel {
        let mut v = crate::ari::json::channel("c", state);
        v["dialplan"]["app_name"] = app.into();
        v["dialplan"]["app_data"] = data.into();
        serde_json::from_value(v).expect("a channel")
    }

    #[test]
    fn a_channel_asked_after_a_reconnect_is_gone_answered_or_still_dialling() {
        assert!(matches!(
            channel_now("c", None),
            Input::ChannelGone { cause: 0, .. }
        ));
        assert_eq!(
            channel_now(
                "c",
                Some(&channel("Up", "Stasis", "dialer,customer,reminder"))
            ),
            Input::StasisStarted {
                channel: "c".into(),
                args: vec!["customer".into(), "reminder".into()]
            }
        );
        // Back from the AMD hop in the gap (reminder_human_accept.jsonl): the verdict.
        assert_eq!(
            channel_now(
                "c",
                Some(&channel("Up", "Stasis", "dialer,amd,HUMAN,HUMAN-808-800"))
            ),
            Input::StasisStarted {
                channel: "c".into(),
                args: vec!["amd".into(), "HUMAN".into(), "HUMAN-808-800".into()]
            }
        );
        let progress = Input::ChannelProgress {
            channel: "c".into(),
            dialstatus: None,
        };
        assert_eq!(channel_now("c", Some(&channel("Up", "AMD", ""))), progress);
        assert_eq!(
            channel_now(
                "c",
                Some(&channel("Ringing", "AppDial2", "(Outgoing Line)"))
            ),
            progress
        );
    }
}
