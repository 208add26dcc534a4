//! The border between ARI and the domain: events become [`Input`]s, [`Command`]s become
//! REST requests. Only this module (with its siblings) knows ARI's JSON and paths.

use std::collections::BTreeMap;

use super::events::Event;
use super::models::{PlaybackState, RecordingState};
use crate::core::call::{Command, Input, Leg};

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

/// A REST request to ARI, relative to its base URL (paths start with `/ari/`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub method: &'static str,
    pub path: String,
    pub query: BTreeMap<String, String>,
}

impl Request {
    fn new(method: &'static str, path: String) -> Self {
        Self {
            method,
            path,
            query: BTreeMap::new(),
        }
    }

    fn q(mut self, key: &str, value: impl Into<String>) -> Self {
        self.query.insert(key.to_string(), value.into());
        self
    }
}

impl std::fmt::Display for Request {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.method, self.path)?;
        for (i, (k, v)) in self.query.iter().enumerate() {
            write!(f, "{}{k}={v}", if i == 0 { "?" } else { "&" })?;
        }
        Ok(())
    }
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
        } => {
            let (endpoint, kind, caller_id) = match leg {
                Leg::Customer => (
                    d.customer_endpoint.clone(),
                    "customer",
                    d.customer_caller_id.clone(),
                ),
                Leg::Operator {
                    operator,
                    caller_id,
                } => (
                    d.operators
                        .get(operator)
                        .cloned()
                        .unwrap_or_else(|| operator.clone()),
                    "operator",
                    caller_id
                        .as_ref()
                        .and_then(|c| d.caller_ids.get(c).cloned()),
                ),
            };
            let mut r = Request::new("POST", "/ari/channels".into())
                .q("endpoint", endpoint)
                .q("app", d.app.clone())
                .q("appArgs", format!("{kind},{}", d.scenario_name))
                .q("channelId", channel.clone())
                .q("timeout", (timeout_ms.div_ceil(1000)).max(1).to_string());
            if !d.formats.is_empty() {
                r = r.q("formats", d.formats.clone());
            }
            if let Some(cid) = caller_id {
                r = r.q("callerId", cid);
            }
            r
        }
        Command::Play {
            channel,
            playback,
            prompt,
        } => Request::new("POST", format!("/ari/channels/{channel}/play/{playback}"))
            .q("media", format!("sound:{}/{prompt}", d.sound_prefix)),
        Command::StopPlayback { playback } => {
            Request::new("DELETE", format!("/ari/playbacks/{playback}"))
        }
        Command::Record {
            channel,
            recording,
            max_duration_ms,
            max_silence_ms,
            beep,
        } => Request::new("POST", format!("/ari/channels/{channel}/record"))
            .q("name", recording.clone())
            .q("format", "wav")
            .q(
                "maxDurationSeconds",
                max_duration_ms.div_ceil(1000).to_string(),
            )
            .q(
                "maxSilenceSeconds",
                max_silence_ms.div_ceil(1000).to_string(),
            )
            .q("ifExists", "overwrite")
            .q("beep", beep.to_string()),
        Command::ContinueToAmd { channel } => {
            Request::new("POST", format!("/ari/channels/{channel}/continue"))
                .q("context", d.amd_context.clone())
                .q("extension", "s")
                .q("priority", "1")
        }
        Command::CreateBridge { bridge } => Request::new("POST", "/ari/bridges".into())
            .q("type", "mixing")
            .q("bridgeId", bridge.clone()),
        Command::AddToBridge { bridge, channels } => {
            Request::new("POST", format!("/ari/bridges/{bridge}/addChannel"))
                .q("channel", channels.join(","))
        }
        Command::DestroyBridge { bridge } => {
            Request::new("DELETE", format!("/ari/bridges/{bridge}"))
        }
        Command::Hangup { channel } => Request::new("DELETE", format!("/ari/channels/{channel}")),
        Command::StartTimer { .. }
        | Command::CancelTimer { .. }
        | Command::Classify { .. }
        | Command::SetResult { .. }
        | Command::Report(_)
        | Command::Finish(_) => return None,
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
