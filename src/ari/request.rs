//! The REST requests dialflow makes to ARI, each built by one constructor: `translate`
//! turns a call's commands into them and the client's typed methods send them, so a
//! path or parameter is spelled once.

use std::collections::BTreeMap;

use super::paths;

/// A REST request to ARI, relative to its base URL (paths start with `/ari/`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub method: &'static str,
    pub path: String,
    pub query: BTreeMap<String, String>,
}

/// What an originate dials and how (`POST /ari/channels`).
#[derive(Debug, Clone)]
pub struct Originate<'a> {
    /// The dial string (`PJSIP/…`, `Local/…`).
    pub endpoint: &'a str,
    /// The Stasis application the answered channel enters.
    pub app: &'a str,
    /// `appArgs`: comma-separated, they arrive as `StasisStart`'s args (owned: it is
    /// built for each call, and moved into the request as it is); empty sends none.
    pub app_args: String,
    /// The id we give the channel, so its events route before the answer comes.
    pub channel_id: &'a str,
    /// Seconds of ringing before Asterisk gives up.
    pub timeout_s: u64,
    /// Media formats (`ulaw`); empty leaves them to negotiation (see NOTES.md: costly).
    pub formats: &'a str,
    pub caller_id: Option<&'a str>,
}

/// A recording of a channel into a stored `wav` (`POST /ari/channels/{id}/record`).
#[derive(Debug, Clone, Copy)]
pub struct Record<'a> {
    pub channel: &'a str,
    /// The stored recording's name (overwritten if it exists).
    pub name: &'a str,
    pub max_duration_s: u64,
    /// Silence after speech that ends the recording.
    pub max_silence_s: u64,
    pub beep: bool,
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

    pub fn originate(o: Originate<'_>) -> Self {
        let mut r = Request::new("POST", paths::CHANNELS.into())
            .q("endpoint", o.endpoint)
            .q("app", o.app)
            .q("channelId", o.channel_id)
            .q("timeout", o.timeout_s.to_string());
        if !o.app_args.is_empty() {
            r = r.q("appArgs", o.app_args);
        }
        if !o.formats.is_empty() {
            r = r.q("formats", o.formats);
        }
        if let Some(cid) = o.caller_id {
            r = r.q("callerId", cid);
        }
        r
    }

    pub fn list_channels() -> Self {
        Request::new("GET", paths::CHANNELS.into())
    }

    /// The channel as it is now (404 once it is gone).
    pub fn get_channel(channel: &str) -> Self {
        Request::new("GET", paths::channel(channel))
    }

    pub fn hangup(channel: &str) -> Self {
        Request::new("DELETE", paths::channel(channel))
    }

    pub fn answer(channel: &str) -> Self {
        Request::new("POST", paths::channel_answer(channel))
    }

    /// Plays `media` (`sound:dir/name`) to `channel` as the playback `playback`.
    pub fn play(channel: &str, playback: &str, media: String) -> Self {
        Request::new("POST", paths::channel_play(channel, playback)).q("media", media)
    }

    /// The playback as it is now (404 once it has ended).
    pub fn get_playback(playback: &str) -> Self {
        Request::new("GET", paths::playback(playback))
    }

    pub fn stop_playback(playback: &str) -> Self {
        Request::new("DELETE", paths::playback(playback))
    }

    pub fn record(r: &Record<'_>) -> Self {
        Request::new("POST", paths::channel_record(r.channel))
            .q("name", r.name)
            .q("format", "wav")
            .q("maxDurationSeconds", r.max_duration_s.to_string())
            .q("maxSilenceSeconds", r.max_silence_s.to_string())
            .q("ifExists", "overwrite")
            .q("beep", r.beep.to_string())
    }

    /// Sends `channel` to `context`, extension `s`, priority 1 (it leaves the app, and
    /// comes back with a new `StasisStart` if the dialplan says so).
    pub fn continue_in_dialplan(channel: &str, context: &str) -> Self {
        Request::new("POST", paths::channel_continue(channel))
            .q("context", context)
            .q("extension", "s")
            .q("priority", "1")
    }

    /// A mixing bridge named `bridge`.
    /// A mixing bridge, or a holding one (a customer waiting, with music on hold).
    pub fn create_bridge(bridge: &str, holding: bool) -> Self {
        Request::new("POST", paths::BRIDGES.into())
            .q("type", if holding { "holding" } else { "mixing" })
            .q("bridgeId", bridge)
    }

    pub fn bridge_moh(bridge: &str, class: &str) -> Self {
        Request::new("POST", paths::bridge_moh(bridge)).q("mohClass", class)
    }

    pub fn add_to_bridge(bridge: &str, channels: &[String]) -> Self {
        Request::new("POST", paths::bridge_add_channel(bridge)).q("channel", channels.join(","))
    }

    pub fn get_bridge(bridge: &str) -> Self {
        Request::new("GET", paths::bridge(bridge))
    }

    pub fn destroy_bridge(bridge: &str) -> Self {
        Request::new("DELETE", paths::bridge(bridge))
    }

    /// The recording while it records (404 once it has ended).
    pub fn get_live_recording(name: &str) -> Self {
        Request::new("GET", paths::live_recording(name))
    }

    /// The stored recording an ended recording left (404 if none).
    pub fn get_stored_recording(name: &str) -> Self {
        Request::new("GET", paths::stored_recording(name))
    }

    pub fn stored_recording_file(name: &str) -> Self {
        Request::new("GET", paths::stored_recording_file(name))
    }

    pub fn delete_stored_recording(name: &str) -> Self {
        Request::new("DELETE", paths::stored_recording(name))
    }

    /// The simulator's transcript of a recording (see [`paths::sim_transcript`]).
    pub fn sim_transcript(name: &str) -> Self {
        Request::new("GET", paths::sim_transcript(name))
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
