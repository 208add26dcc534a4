//! Events that Asterisk sends on the ARI WebSocket, one typed variant per model of `events.json`.
//!
//! Decoding never fails and never panics: a type the spec does not define becomes
//! `Event::Unknown` (a newer Asterisk may send it; the dialer logs it and goes on) and text that
//! is not JSON, or JSON that does not fit its model, becomes `Event::Malformed`. A WebSocket
//! reader can therefore hand every frame to `parse` and route on the result.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

use super::models::{
    Bridge, Channel, ContactInfo, DeviceState, Endpoint, JsonObject, LiveRecording, Peer, Playback,
    TextMessage,
};

macro_rules! events {
    (
        $(
            $(#[doc = $doc:literal])*
            $kind:ident $name:ident = $wire:literal {
                $($(#[$fmeta:meta])* $field:ident : $ty:ty,)*
            }
        )*
    ) => {
        $(events!(@struct $kind, [$(#[doc = $doc])*], $name, { $($(#[$fmeta])* $field : $ty,)* });)*

        /// One message from the ARI WebSocket.
        ///
        /// Payloads are boxed: inline, the transfer events (up to eight channels) would make
        /// every event 4.5 KB wherever it is queued or moved; boxed, it is about a hundred bytes.
        #[derive(Debug, Clone, PartialEq)]
        pub enum Event {
            $($(#[doc = $doc])* $name(Box<$name>),)*
            /// A `type` the spec does not define, kept whole for logs.
            Unknown { event_type: String, raw: Value },
            /// Not JSON, not an object with a string `type`, or not fitting its model.
            /// `raw` is the text as received (or the value re-serialized by `from_value`).
            Malformed { event_type: Option<String>, raw: String, error: String },
        }

        impl Event {
            /// The `type` of every message the spec defines, in spec order.
            pub const KNOWN_TYPES: &'static [&'static str] = &[$($wire,)*];

            /// The `type` on the wire; for `Malformed`, the `type` it claimed or `""`.
            pub fn type_name(&self) -> &str {
                match self {
                    $(Event::$name(_) => $wire,)*
                    Event::Unknown { event_type, .. } => event_type,
                    Event::Malformed { event_type, .. } => event_type.as_deref().unwrap_or(""),
                }
            }
        }

        /// Straight from the text: the fast path of `parse`. `None` when `type_name` is not
        /// a known type.
        fn decode_known_text(type_name: &str, text: &str) -> Option<Result<Event, serde_json::Error>> {
            match type_name {
                $($wire => Some(serde_json::from_str::<$name>(text).map(|e| Event::$name(Box::new(e)))),)*
                _ => None,
            }
        }

        /// `None` when `type_name` is not a known type.
        fn decode_known(type_name: &str, value: &Value) -> Option<Result<Event, serde_json::Error>> {
            match type_name {
                $($wire => Some($name::deserialize(value).map(|e| Event::$name(Box::new(e)))),)*
                _ => None,
            }
        }

        /// Typed events serialize to the wire form, `type` included; `Unknown` to its raw
        /// value; `Malformed` to its raw text parsed as JSON when it is JSON, else to the text
        /// as a string.
        impl Serialize for Event {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                match self {
                    $(Event::$name(inner) => {
                        Tagged { type_name: $wire, inner: inner.as_ref() }.serialize(serializer)
                    })*
                    Event::Unknown { raw, .. } => raw.serialize(serializer),
                    Event::Malformed { raw, .. } => match serde_json::from_str::<Value>(raw) {
                        Ok(value) => value.serialize(serializer),
                        Err(_) => serializer.serialize_str(raw),
                    },
                }
            }
        }

        impl Event {
            fn common(&self) -> Option<(&str, &str)> {
                match self {
                    $(Event::$name(e) => e.common(),)*
                    Event::Unknown { .. } | Event::Malformed { .. } => None,
                }
            }
        }
    };

    (@struct event, [$($doc:tt)*], $name:ident, { $($(#[$fmeta:meta])* $field:ident : $ty:ty,)* }) => {
        $($doc)*
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
        pub struct $name {
            /// Id of the Asterisk that raised the event (its `entity_id`, a MAC address).
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub asterisk_id: Option<String>,
            /// The Stasis application receiving the event.
            pub application: String,
            pub timestamp: String,
            $($(#[$fmeta])* pub $field: $ty,)*
        }

        impl Common for $name {
            fn common(&self) -> Option<(&str, &str)> {
                Some((&self.application, &self.timestamp))
            }
        }
    };

    (@struct message, [$($doc:tt)*], $name:ident, { $($(#[$fmeta:meta])* $field:ident : $ty:ty,)* }) => {
        $($doc)*
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
        pub struct $name {
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub asterisk_id: Option<String>,
            $($(#[$fmeta])* pub $field: $ty,)*
        }

        impl Common for $name {
            fn common(&self) -> Option<(&str, &str)> {
                None
            }
        }
    };
}

/// The `application` and `timestamp` that every `Event` subtype has and `Message`s lack.
trait Common {
    fn common(&self) -> Option<(&str, &str)>;
}

/// Puts the `type` key back in front of an event's own fields.
#[derive(Serialize)]
struct Tagged<'a, T: Serialize> {
    #[serde(rename = "type")]
    type_name: &'a str,
    #[serde(flatten)]
    inner: &'a T,
}

events! {
    /// Sent instead of events when a request lacks required parameters (a WebSocket opened
    /// without `app`). Not an `Event` in the spec: it has no application or timestamp.
    message MissingParams = "MissingParams" {
        params: Vec<String>,
    }

    /// A device state has changed.
    event DeviceStateChanged = "DeviceStateChanged" {
        device_state: DeviceState,
    }

    /// A playback started.
    event PlaybackStarted = "PlaybackStarted" {
        playback: Playback,
    }

    /// A playback moved on to the next media URI of its list.
    event PlaybackContinuing = "PlaybackContinuing" {
        playback: Playback,
    }

    /// A playback ended: `done` when it played out or was stopped, `failed` when the sound
    /// is missing or the channel hung up. An unknown media scheme never sends it.
    event PlaybackFinished = "PlaybackFinished" {
        playback: Playback,
    }

    /// A recording started.
    event RecordingStarted = "RecordingStarted" {
        recording: LiveRecording,
    }

    /// A recording ended and its file is stored.
    event RecordingFinished = "RecordingFinished" {
        recording: LiveRecording,
    }

    /// A recording failed.
    event RecordingFailed = "RecordingFailed" {
        recording: LiveRecording,
    }

    /// Moving a channel to another Stasis application failed.
    event ApplicationMoveFailed = "ApplicationMoveFailed" {
        channel: Channel,
        destination: String,
        args: Vec<String>,
    }

    /// A Stasis application has been registered.
    event ApplicationRegistered = "ApplicationRegistered" {}

    /// A Stasis application has been unregistered.
    event ApplicationUnregistered = "ApplicationUnregistered" {}

    /// Another WebSocket took over this application; this one receives nothing more for it.
    event ApplicationReplaced = "ApplicationReplaced" {}

    /// A bridge has been created. `POST /bridges` does not send it for the caller's own bridge.
    event BridgeCreated = "BridgeCreated" {
        bridge: Bridge,
    }

    /// A bridge has been destroyed; sent only if a channel ever entered it.
    event BridgeDestroyed = "BridgeDestroyed" {
        bridge: Bridge,
    }

    /// One bridge merged into another.
    event BridgeMerged = "BridgeMerged" {
        bridge: Bridge,
        bridge_from: Bridge,
    }

    /// A blind transfer happened.
    event BridgeBlindTransfer = "BridgeBlindTransfer" {
        /// The channel performing the transfer.
        channel: Channel,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        replace_channel: Option<Channel>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        transferee: Option<Channel>,
        exten: String,
        context: String,
        result: String,
        is_external: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        bridge: Option<Bridge>,
    }

    /// An attended transfer happened.
    event BridgeAttendedTransfer = "BridgeAttendedTransfer" {
        transferer_first_leg: Channel,
        transferer_second_leg: Channel,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        replace_channel: Option<Channel>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        transferee: Option<Channel>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        transfer_target: Option<Channel>,
        result: String,
        is_external: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        transferer_first_leg_bridge: Option<Bridge>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        transferer_second_leg_bridge: Option<Bridge>,
        /// How the transfer was accomplished; says which `destination_*` fields are set.
        destination_type: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        destination_bridge: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        destination_application: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        destination_link_first_leg: Option<Channel>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        destination_link_second_leg: Option<Channel>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        destination_threeway_channel: Option<Channel>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        destination_threeway_bridge: Option<Bridge>,
    }

    /// The video source of a bridge changed.
    event BridgeVideoSourceChanged = "BridgeVideoSourceChanged" {
        bridge: Bridge,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        old_video_source_id: Option<String>,
    }

    /// A channel has been created.
    event ChannelCreated = "ChannelCreated" {
        channel: Channel,
    }

    /// A channel is gone. `cause` alone does not tell busy from congestion (both can be 0);
    /// read it together with the last `Dial` status.
    event ChannelDestroyed = "ChannelDestroyed" {
        /// Q.850 cause.
        cause: i64,
        cause_txt: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        tech_cause: Option<i64>,
        channel: Channel,
    }

    /// A channel entered a bridge.
    event ChannelEnteredBridge = "ChannelEnteredBridge" {
        bridge: Bridge,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        channel: Option<Channel>,
    }

    /// A channel left a bridge.
    event ChannelLeftBridge = "ChannelLeftBridge" {
        bridge: Bridge,
        channel: Channel,
    }

    /// A channel changed state (e.g. `Up` when answered).
    event ChannelStateChange = "ChannelStateChange" {
        channel: Channel,
    }

    /// A DTMF digit ended on a channel; there is no event for its start. It does not stop a
    /// playing prompt.
    event ChannelDtmfReceived = "ChannelDtmfReceived" {
        /// `0`-`9`, `A`-`E`, `#` or `*`.
        digit: String,
        duration_ms: i64,
        channel: Channel,
    }

    /// A channel moved in the dialplan.
    event ChannelDialplan = "ChannelDialplan" {
        channel: Channel,
        dialplan_app: String,
        dialplan_app_data: String,
    }

    /// A channel's caller id changed.
    event ChannelCallerId = "ChannelCallerId" {
        caller_presentation: i64,
        caller_presentation_txt: String,
        channel: Channel,
    }

    /// A user event (`UserEvent()` in the dialplan or `POST /events/user`).
    event ChannelUserevent = "ChannelUserevent" {
        eventname: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        channel: Option<Channel>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        bridge: Option<Bridge>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        endpoint: Option<Endpoint>,
        userevent: JsonObject,
    }

    /// A hangup was requested. When `soft` is true (our own `DELETE`), `cause` is an internal
    /// flag, not a Q.850 cause.
    event ChannelHangupRequest = "ChannelHangupRequest" {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cause: Option<i64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        tech_cause: Option<i64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        soft: Option<bool>,
        channel: Channel,
    }

    /// A variable changed.
    event ChannelVarset = "ChannelVarset" {
        variable: String,
        value: String,
        /// Missing for a global variable.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        channel: Option<Channel>,
    }

    /// A tone was detected on a channel.
    event ChannelToneDetected = "ChannelToneDetected" {
        channel: Channel,
    }

    /// Talking was detected on a channel (`TALK_DETECT`).
    event ChannelTalkingStarted = "ChannelTalkingStarted" {
        channel: Channel,
    }

    /// Talking is no longer detected on a channel.
    event ChannelTalkingFinished = "ChannelTalkingFinished" {
        channel: Channel,
        /// Milliseconds of talking.
        duration: i64,
    }

    /// A channel put its peer on hold.
    event ChannelHold = "ChannelHold" {
        channel: Channel,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        musicclass: Option<String>,
    }

    /// A channel took its peer off hold.
    event ChannelUnhold = "ChannelUnhold" {
        channel: Channel,
    }

    /// The state of a contact on an endpoint changed.
    event ContactStatusChange = "ContactStatusChange" {
        endpoint: Endpoint,
        contact_info: ContactInfo,
    }

    /// An endpoint changed state.
    event EndpointStateChange = "EndpointStateChange" {
        endpoint: Endpoint,
    }

    /// The dialing state changed. An originate gets `dialstatus` `""`, then `RINGING`, then
    /// a final status (`ANSWER`, `BUSY`, `NOANSWER`, …); the dialed channel is `peer`, there
    /// is no `channel`.
    event Dial = "Dial" {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        caller: Option<Channel>,
        peer: Channel,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        forward: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        forwarded: Option<Channel>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        dialstring: Option<String>,
        dialstatus: String,
    }

    /// A channel left the application. Not the end of the call when it goes back to the
    /// dialplan (`continue`): a second `StasisStart` may follow.
    event StasisEnd = "StasisEnd" {
        channel: Channel,
    }

    /// A channel entered the application; `args` are the originate's `appArgs` split on commas.
    event StasisStart = "StasisStart" {
        args: Vec<String>,
        channel: Channel,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        replace_channel: Option<Channel>,
    }

    /// A text message arrived from an endpoint.
    event TextMessageReceived = "TextMessageReceived" {
        message: TextMessage,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        endpoint: Option<Endpoint>,
    }

    /// A channel's connected line changed.
    event ChannelConnectedLine = "ChannelConnectedLine" {
        channel: Channel,
    }

    /// The state of a peer of an endpoint changed.
    event PeerStatusChange = "PeerStatusChange" {
        endpoint: Endpoint,
        peer: Peer,
    }

    /// A transfer (SIP REFER) on a channel.
    event ChannelTransfer = "ChannelTransfer" {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        state: Option<String>,
        refer_to: ReferTo,
        referred_by: ReferredBy,
    }

    /// The answer to a REST request made over the WebSocket.
    event RestResponse = "RESTResponse" {
        transaction_id: String,
        request_id: String,
        status_code: i64,
        reason_phrase: String,
        uri: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        content_type: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message_body: Option<String>,
    }

    /// A channel is offered to ARI applications for claiming.
    event CallBroadcast = "CallBroadcast" {
        channel: Channel,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        caller: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        called: Option<String>,
    }

    /// A broadcast channel has been claimed.
    event CallClaimed = "CallClaimed" {
        channel: Channel,
        winner_app: String,
    }
}

/// Destination of a transfer, as requested by the transferee (part of `ChannelTransfer`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReferTo {
    pub requested_destination: RequiredDestination,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destination_channel: Option<Channel>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connected_channel: Option<Channel>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bridge: Option<Bridge>,
}

/// Who asked for a transfer (part of `ChannelTransfer`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReferredBy {
    pub source_channel: Channel,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connected_channel: Option<Channel>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bridge: Option<Bridge>,
}

/// The requested destination of a transfer: a SIP Call-ID or a user part, not both.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RequiredDestination {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destination: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub additional_protocol_params: Option<Vec<AdditionalParam>>,
}

/// A protocol-specific parameter of a transfer destination.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AdditionalParam {
    pub parameter_name: String,
    pub parameter_value: String,
}

/// Decodes one WebSocket text frame. Never fails: see the module documentation.
pub fn parse(text: &str) -> Event {
    // Fast path, for the events that fit their model: know the `type`, then decode the
    // typed event straight from the text, with no intermediate `Value`.
    #[derive(Deserialize)]
    struct Kind<'a> {
        #[serde(rename = "type", borrow)]
        kind: Option<std::borrow::Cow<'a, str>>,
    }
    let kind = match leading_type(text) {
        Some(kind) => Some(std::borrow::Cow::Borrowed(kind)),
        None => serde_json::from_str::<Kind>(text).ok().and_then(|k| k.kind),
    };
    if let Some(kind) = kind
        && let Some(Ok(event)) = decode_known_text(&kind, text)
    {
        return event;
    }
    // Everything else (unknown, malformed, not JSON) is described precisely.
    match serde_json::from_str::<Value>(text) {
        Ok(value) => decode(value, Some(text)),
        Err(error) => Event::Malformed {
            event_type: None,
            raw: text.to_owned(),
            error: format!("not JSON: {error}"),
        },
    }
}

/// The `type` of an event that starts with it, as Asterisk writes every event
/// (`{"type":"StasisStart","timestamp":…`): read without a pass over the whole text.
/// `None` for any other shape (another key first, spaces, an escape in the name), which
/// the full search then reads. The typed decode that follows checks the whole event, so
/// the shortcut changes what is read only for an event that names two types.
pub fn leading_type(text: &str) -> Option<&str> {
    let rest = text.strip_prefix("{\"type\":\"")?;
    let end = rest.find('"')?;
    let kind = &rest[..end];
    (!kind.contains('\\')).then_some(kind)
}

/// Decodes an already parsed message. Never fails: see the module documentation.
pub fn from_value(value: Value) -> Event {
    decode(value, None)
}

/// `text` is what `Malformed` keeps as `raw`; without it the value is re-serialized.
fn decode(value: Value, text: Option<&str>) -> Event {
    let malformed = |value: &Value, event_type: Option<String>, error: String| Event::Malformed {
        event_type,
        raw: text.map_or_else(|| value.to_string(), str::to_owned),
        error,
    };
    let Some(object) = value.as_object() else {
        return malformed(&value, None, "not a JSON object".to_owned());
    };
    let event_type = match object.get("type") {
        Some(Value::String(event_type)) => event_type.clone(),
        Some(_) => return malformed(&value, None, "`type` is not a string".to_owned()),
        None => return malformed(&value, None, "no `type` field".to_owned()),
    };
    match decode_known(&event_type, &value) {
        Some(Ok(event)) => event,
        Some(Err(error)) => {
            let error = format!("{event_type} does not fit its model: {error}");
            malformed(&value, Some(event_type), error)
        }
        None => Event::Unknown {
            event_type,
            raw: value,
        },
    }
}

impl Event {
    /// True unless the message is `Unknown` or `Malformed`.
    pub fn is_known(&self) -> bool {
        !matches!(self, Event::Unknown { .. } | Event::Malformed { .. })
    }

    /// The Stasis application the event was sent to, when it is a typed event.
    pub fn application(&self) -> Option<&str> {
        self.common().map(|(application, _)| application)
    }

    /// The event's `timestamp`, when it is a typed event.
    pub fn timestamp(&self) -> Option<&str> {
        self.common().map(|(_, timestamp)| timestamp)
    }

    /// The channel the event is about: its `channel`; for `Dial` the dialed `peer`; for
    /// transfers the transferring channel. Local channels' far halves (`<id>;2`) come through
    /// as they are, so a router must ignore the ids it does not own.
    pub fn channel_id(&self) -> Option<&str> {
        let channel = match self {
            Event::ApplicationMoveFailed(e) => &e.channel,
            Event::BridgeBlindTransfer(e) => &e.channel,
            Event::BridgeAttendedTransfer(e) => &e.transferer_first_leg,
            Event::ChannelCreated(e) => &e.channel,
            Event::ChannelDestroyed(e) => &e.channel,
            Event::ChannelEnteredBridge(e) => e.channel.as_ref()?,
            Event::ChannelLeftBridge(e) => &e.channel,
            Event::ChannelStateChange(e) => &e.channel,
            Event::ChannelDtmfReceived(e) => &e.channel,
            Event::ChannelDialplan(e) => &e.channel,
            Event::ChannelCallerId(e) => &e.channel,
            Event::ChannelUserevent(e) => e.channel.as_ref()?,
            Event::ChannelHangupRequest(e) => &e.channel,
            Event::ChannelVarset(e) => e.channel.as_ref()?,
            Event::ChannelToneDetected(e) => &e.channel,
            Event::ChannelTalkingStarted(e) => &e.channel,
            Event::ChannelTalkingFinished(e) => &e.channel,
            Event::ChannelHold(e) => &e.channel,
            Event::ChannelUnhold(e) => &e.channel,
            Event::Dial(e) => &e.peer,
            Event::StasisEnd(e) => &e.channel,
            Event::StasisStart(e) => &e.channel,
            Event::ChannelConnectedLine(e) => &e.channel,
            Event::ChannelTransfer(e) => &e.referred_by.source_channel,
            Event::CallBroadcast(e) => &e.channel,
            Event::CallClaimed(e) => &e.channel,
            _ => return None,
        };
        Some(&channel.id)
    }

    /// The id of the event's `bridge`, for bridge events and channel-in-bridge events.
    pub fn bridge_id(&self) -> Option<&str> {
        let bridge = match self {
            Event::BridgeCreated(e) => &e.bridge,
            Event::BridgeDestroyed(e) => &e.bridge,
            Event::BridgeMerged(e) => &e.bridge,
            Event::BridgeVideoSourceChanged(e) => &e.bridge,
            Event::BridgeBlindTransfer(e) => e.bridge.as_ref()?,
            Event::ChannelEnteredBridge(e) => &e.bridge,
            Event::ChannelLeftBridge(e) => &e.bridge,
            Event::ChannelUserevent(e) => e.bridge.as_ref()?,
            _ => return None,
        };
        Some(&bridge.id)
    }

    /// The playback id of `Playback*` events.
    pub fn playback_id(&self) -> Option<&str> {
        match self {
            Event::PlaybackStarted(e) => Some(&e.playback.id),
            Event::PlaybackContinuing(e) => Some(&e.playback.id),
            Event::PlaybackFinished(e) => Some(&e.playback.id),
            _ => None,
        }
    }

    /// The recording name of `Recording*` events.
    pub fn recording_name(&self) -> Option<&str> {
        match self {
            Event::RecordingStarted(e) => Some(&e.recording.name),
            Event::RecordingFinished(e) => Some(&e.recording.name),
            Event::RecordingFailed(e) => Some(&e.recording.name),
            _ => None,
        }
    }
}

/// Any JSON value deserializes (into `Unknown` or `Malformed` when it has to), like `from_value`.
impl<'de> Deserialize<'de> for Event {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Value::deserialize(deserializer).map(from_value)
    }
}

#[cfg(test)]
mod leading_type_tests {
    use super::*;

    #[test]
    fn the_type_is_read_only_where_it_leads_plainly() {
        assert_eq!(
            leading_type(r#"{"type":"StasisEnd","timestamp":"x"}"#),
            Some("StasisEnd")
        );
        for other in [
            r#"{"timestamp":"x","type":"StasisEnd"}"#,
            r#"{ "type":"StasisEnd"}"#,
            r#"{"type":"Stasis\"End"}"#,
            r#"{"type":"StasisEnd"#,
            r#"{"type":7}"#,
        ] {
            assert_eq!(leading_type(other), None, "{other}");
        }
    }

    #[test]
    fn an_event_reads_alike_whichever_key_comes_first() {
        let channel = crate::ari::json::channel("c1", "Up");
        let leading = format!(
            r#"{{"type":"StasisEnd","timestamp":"2026-01-01T00:00:00.000+0000","channel":{channel},"application":"a"}}"#
        );
        let trailing = format!(
            r#"{{"application":"a","channel":{channel},"timestamp":"2026-01-01T00:00:00.000+0000","type":"StasisEnd"}}"#
        );
        let event = parse(&leading);
        assert!(event.is_known(), "{event:?}");
        assert_eq!(event, parse(&trailing));
        // A leading type that does not fit its model is still told apart precisely.
        let wrong = r#"{"type":"StasisEnd","channel":7}"#;
        assert!(
            matches!(parse(wrong), Event::Malformed { event_type: Some(t), .. } if t == "StasisEnd")
        );
    }
}
