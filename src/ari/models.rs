//! ARI resource models (channels, bridges, playbacks, recordings, …) as Asterisk sends them.
//!
//! Field names and optionality follow the Swagger 1.2 spec in `ari-api-docs/`, corrected by
//! what a real Asterisk 22 sends (`ari-traces/`). Unknown fields are ignored on purpose:
//! Asterisk adds fields between versions and a new field must never break a running dialer.
//! Timestamps stay the strings Asterisk wrote (`2026-11-21T21:29:41.430+0000`): nothing here
//! does arithmetic on them, and a parse failure must not turn a whole event into `Malformed`.
//! Optional fields are skipped when serializing so a re-serialized model reads like the wire.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A JSON object whose keys Asterisk or the dialplan choose (channel variables and the like).
pub type JsonObject = Map<String, Value>;

macro_rules! string_enum {
    (
        $(#[$meta:meta])*
        $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal,)* }
    ) => {
        $(#[$meta])*
        ///
        /// A value the spec does not list is kept in `Other`, so re-serializing gives back
        /// exactly what Asterisk sent.
        #[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(from = "String", into = "String")]
        pub enum $name {
            $($(#[$vmeta])* $variant,)*
            Other(String),
        }

        impl $name {
            /// The spelling on the wire.
            pub fn as_str(&self) -> &str {
                match self {
                    $(Self::$variant => $text,)*
                    Self::Other(text) => text,
                }
            }
        }

        impl From<String> for $name {
            fn from(text: String) -> Self {
                match text.as_str() {
                    $($text => Self::$variant,)*
                    _ => Self::Other(text),
                }
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> String {
                match value {
                    $name::Other(text) => text,
                    known => known.as_str().to_owned(),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

string_enum! {
    /// State of a channel (`Channel.state`).
    ChannelState {
        Down = "Down",
        /// `Rsrved` on the wire.
        Reserved = "Rsrved",
        OffHook = "OffHook",
        Dialing = "Dialing",
        Ring = "Ring",
        Ringing = "Ringing",
        Up = "Up",
        Busy = "Busy",
        DialingOffhook = "Dialing Offhook",
        PreRing = "Pre-ring",
        Unknown = "Unknown",
    }
}

string_enum! {
    /// State of a playback (`Playback.state`). A playback that fails still ends with
    /// `PlaybackFinished`, whose state tells the two apart.
    PlaybackState {
        Queued = "queued",
        Playing = "playing",
        Continuing = "continuing",
        Done = "done",
        Failed = "failed",
    }
}

string_enum! {
    /// State of a live recording (`LiveRecording.state`).
    RecordingState {
        Queued = "queued",
        Recording = "recording",
        Paused = "paused",
        Done = "done",
        Failed = "failed",
        Canceled = "canceled",
    }
}

string_enum! {
    /// Type of a bridge (`Bridge.bridge_type`).
    BridgeType {
        Mixing = "mixing",
        Holding = "holding",
    }
}

/// Caller identification (spec model `CallerID`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallerId {
    pub name: String,
    pub number: String,
}

/// Dialplan location: context, extension, priority (spec model `DialplanCEP`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DialplanCep {
    pub context: String,
    pub exten: String,
    pub priority: i64,
    pub app_name: String,
    pub app_data: String,
}

/// A communication connection between Asterisk and an endpoint (spec model `Channel`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Channel {
    /// Unique id (AMI's Uniqueid). For Local channels the far half is `<id>;2`.
    pub id: String,
    /// Call-ID of the underlying driver, empty when it has none. A late addition to the
    /// model: older servers omit it, which is no reason to reject the channel.
    #[serde(default)]
    pub protocol_id: String,
    pub name: String,
    pub state: ChannelState,
    pub caller: CallerId,
    pub connected: CallerId,
    pub accountcode: String,
    pub dialplan: DialplanCep,
    pub creationtime: String,
    pub language: String,
    /// Only the variables named in `ari.conf`'s `channelvars`, when any are configured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channelvars: Option<JsonObject>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caller_rdnis: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenantid: Option<String>,
}

/// RTP statistics of a channel (spec model `RTPstat`, `GET /channels/{id}/rtp_statistics`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RtpStat {
    pub txcount: i64,
    pub rxcount: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub txjitter: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rxjitter: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_maxjitter: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_minjitter: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_normdevjitter: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_stdevjitter: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local_maxjitter: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local_minjitter: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local_normdevjitter: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local_stdevjitter: Option<f64>,
    pub txploss: i64,
    pub rxploss: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_maxrxploss: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_minrxploss: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_normdevrxploss: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_stdevrxploss: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local_maxrxploss: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local_minrxploss: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local_normdevrxploss: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local_stdevrxploss: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rtt: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maxrtt: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minrtt: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub normdevrtt: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stdevrtt: Option<f64>,
    pub local_ssrc: i64,
    pub remote_ssrc: i64,
    pub txoctetcount: i64,
    pub rxoctetcount: i64,
    pub channel_uniqueid: String,
}

/// The value of one channel or global variable (`GET /channels/{id}/variable`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Variable {
    pub value: String,
}

/// The merging of media from one or more channels (spec model `Bridge`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Bridge {
    pub id: String,
    pub technology: String,
    pub bridge_type: BridgeType,
    pub bridge_class: String,
    pub creator: String,
    pub name: String,
    /// Ids of the channels in the bridge when the snapshot was taken.
    pub channels: Vec<String>,
    /// One of `none`, `talker`, `sfu`, `single`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub video_mode: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub video_source_id: Option<String>,
    pub creationtime: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bridgevars: Option<JsonObject>,
}

/// The playback of media to a channel or bridge (spec model `Playback`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Playback {
    pub id: String,
    /// The media being played now, e.g. `sound:dialer/hello`.
    pub media_uri: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_media_uri: Option<String>,
    /// `channel:<id>` or `bridge:<id>`.
    pub target_uri: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    pub state: PlaybackState,
}

/// A recording in progress (spec model `LiveRecording`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LiveRecording {
    /// The name the client chose; the stored file is found under it.
    pub name: String,
    pub format: String,
    pub target_uri: String,
    pub state: RecordingState,
    /// Whole seconds, and unreliable (see the traces' NOTES.md): never decide "silent" from
    /// this or the two fields below.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub talking_duration: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub silence_duration: Option<i64>,
    /// Why a failed recording failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cause: Option<String>,
}

/// A finished recording that may be played back or fetched (spec model `StoredRecording`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredRecording {
    pub name: String,
    pub format: String,
}

/// A device that may offer or accept calls, identified by technology and resource.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Endpoint {
    pub technology: String,
    pub resource: String,
    /// `unknown`, `offline` or `online`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    pub channel_ids: Vec<String>,
}

/// A text message from or to an endpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TextMessage {
    pub from: String,
    pub to: String,
    pub body: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variables: Option<JsonObject>,
}

/// The state of a device (spec model `DeviceState`), e.g. `NOT_INUSE`, `BUSY`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeviceState {
    pub name: String,
    pub state: String,
}

/// The state of a mailbox.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Mailbox {
    pub name: String,
    pub old_messages: i64,
    pub new_messages: i64,
}

/// A contact of an endpoint, as reported by `ContactStatusChange`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContactInfo {
    pub uri: String,
    /// `Unreachable`, `Reachable`, `Unknown`, `NonQualified` or `Removed`.
    pub contact_status: String,
    pub aor: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub roundtrip_usec: Option<String>,
}

/// A peer of an endpoint, as reported by `PeerStatusChange`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Peer {
    pub peer_status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cause: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<String>,
}

/// A Stasis application and what it is subscribed to (`GET /applications/{name}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Application {
    pub name: String,
    pub channel_ids: Vec<String>,
    pub bridge_ids: Vec<String>,
    pub endpoint_ids: Vec<String>,
    pub device_names: Vec<String>,
    pub events_allowed: Vec<Value>,
    pub events_disallowed: Vec<Value>,
}

/// Answer of `GET /asterisk/ping`: the cheapest "is Asterisk there" probe.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AsteriskPing {
    pub asterisk_id: String,
    pub ping: String,
    pub timestamp: String,
}

/// Answer of `GET /asterisk/info`; each part is present only when asked for (`only=`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AsteriskInfo {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build: Option<BuildInfo>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system: Option<SystemInfo>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<ConfigInfo>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<StatusInfo>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BuildInfo {
    pub os: String,
    pub kernel: String,
    pub options: String,
    pub machine: String,
    pub date: String,
    pub user: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SystemInfo {
    pub version: String,
    pub entity_id: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConfigInfo {
    pub name: String,
    pub default_language: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_channels: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_open_files: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_load: Option<f64>,
    pub setid: SetId,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SetId {
    pub user: String,
    pub group: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusInfo {
    pub startup_time: String,
    pub last_reload_time: String,
}

/// The error body of a failed REST request. Asterisk uses `message` for most errors but
/// `error` for some (an originate to an unknown technology gives 500 `{"error": ...}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorBody {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl ErrorBody {
    /// Whichever of the two keys Asterisk used.
    pub fn text(&self) -> Option<&str> {
        self.message.as_deref().or(self.error.as_deref())
    }

    /// The error text of a failed request's JSON body, read in place (as `text` would
    /// after decoding it, without copying the body).
    pub fn text_of(body: &Value) -> Option<&str> {
        body.get("message")
            .or_else(|| body.get("error"))
            .and_then(Value::as_str)
    }
}
