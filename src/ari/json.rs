//! ARI JSON as Asterisk 22 sends it (events, and the bridges REST answers with), built
//! for simulated calls, so scripted tests go through the same decoding and translation
//! as live events.

use serde_json::{Value, json};

const TIMESTAMP: &str = "2026-01-01T00:00:00.000+0000";

pub fn channel(id: &str, state: &str) -> Value {
    json!({
        "id": id,
        "name": format!("Local/{id}@sim-customers-00000001;1"),
        "state": state,
        "protocol_id": "",
        "caller": {"name": "", "number": ""},
        "connected": {"name": "", "number": ""},
        "accountcode": "",
        "dialplan": {"context": "sim", "exten": "s", "priority": 1, "app_name": "Stasis", "app_data": "dialflow"},
        "creationtime": TIMESTAMP,
        "language": "en"
    })
}

/// A mixing bridge as the REST answers describe it, with `channels` in it.
pub fn bridge(id: &str, channels: &[&str]) -> Value {
    json!({
        "id": id, "technology": "simple_bridge", "bridge_type": "mixing", "bridge_class": "stasis",
        "creator": "Stasis", "name": "", "channels": channels, "creationtime": TIMESTAMP,
        "video_mode": "talker"
    })
}

/// `BridgeDestroyed` of the (by then empty) bridge `id`.
pub fn bridge_destroyed(id: &str) -> Value {
    json!({
        "type": "BridgeDestroyed", "application": "dialflow", "timestamp": TIMESTAMP,
        "bridge": bridge(id, &[])
    })
}

fn event(kind: &str, mut fields: Value) -> Value {
    let map = fields.as_object_mut().expect("event fields are an object");
    map.insert("type".into(), kind.into());
    map.insert("application".into(), "dialflow".into());
    map.insert("timestamp".into(), TIMESTAMP.into());
    map.insert("asterisk_id".into(), "00:00:00:00:00:01".into());
    fields
}

pub fn dial(peer: &str, dialstatus: &str) -> Value {
    let state = if dialstatus == "ANSWER" { "Up" } else { "Down" };
    event(
        "Dial",
        json!({"peer": channel(peer, state), "dialstatus": dialstatus, "dialstring": "sim"}),
    )
}

pub fn state_change(id: &str, state: &str) -> Value {
    event("ChannelStateChange", json!({"channel": channel(id, state)}))
}

pub fn stasis_start(id: &str, args: &[&str]) -> Value {
    event(
        "StasisStart",
        json!({"channel": channel(id, "Up"), "args": args}),
    )
}

pub fn stasis_end(id: &str) -> Value {
    event("StasisEnd", json!({"channel": channel(id, "Up")}))
}

fn playback(id: &str, channel_id: &str, prompt: &str, state: &str) -> Value {
    json!({
        "id": id,
        "media_uri": format!("sound:sim/{prompt}"),
        "target_uri": format!("channel:{channel_id}"),
        "language": "en",
        "state": state
    })
}

pub fn playback_started(id: &str, channel_id: &str, prompt: &str) -> Value {
    event(
        "PlaybackStarted",
        json!({"playback": playback(id, channel_id, prompt, "playing")}),
    )
}

pub fn playback_finished(id: &str, channel_id: &str, prompt: &str, failed: bool) -> Value {
    let state = if failed { "failed" } else { "done" };
    event(
        "PlaybackFinished",
        json!({"playback": playback(id, channel_id, prompt, state)}),
    )
}

fn recording(
    name: &str,
    channel_id: &str,
    state: &str,
    talking_s: Option<u64>,
    total_s: Option<u64>,
) -> Value {
    json!({
        "name": name,
        "format": "wav",
        "target_uri": format!("channel:{channel_id}"),
        "state": state,
        "duration": total_s,
        "talking_duration": talking_s,
        "silence_duration": total_s.zip(talking_s).map(|(t, s)| t.saturating_sub(s))
    })
}

pub fn recording_started(name: &str, channel_id: &str) -> Value {
    event(
        "RecordingStarted",
        json!({"recording": recording(name, channel_id, "recording", None, None)}),
    )
}

pub fn recording_finished(name: &str, channel_id: &str, talking_s: u64, total_s: u64) -> Value {
    event(
        "RecordingFinished",
        json!({"recording": recording(name, channel_id, "done", Some(talking_s), Some(total_s))}),
    )
}

pub fn dtmf(id: &str, digit: char) -> Value {
    event(
        "ChannelDtmfReceived",
        json!({"channel": channel(id, "Up"), "digit": digit.to_string(), "duration_ms": 100}),
    )
}

pub fn hangup_request(id: &str, cause: u16, soft: bool) -> Value {
    let mut fields = json!({"channel": channel(id, "Up"), "cause": cause});
    if soft {
        fields["soft"] = true.into();
    }
    event("ChannelHangupRequest", fields)
}

pub fn destroyed(id: &str, cause: u16, cause_txt: &str) -> Value {
    event(
        "ChannelDestroyed",
        json!({"channel": channel(id, "Up"), "cause": cause, "cause_txt": cause_txt}),
    )
}

pub fn entered_bridge(bridge: &str, channel_id: &str) -> Value {
    event(
        "ChannelEnteredBridge",
        json!({
            "bridge": {
                "id": bridge, "technology": "simple_bridge", "bridge_type": "mixing", "bridge_class": "stasis",
                "creator": "Stasis", "name": "", "channels": [channel_id], "creationtime": TIMESTAMP,
                "video_mode": "none"
            },
            "channel": channel(channel_id, "Up")
        }),
    )
}
