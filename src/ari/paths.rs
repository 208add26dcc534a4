//! ARI's REST paths, built in one place: the client and `translate` build them here, the
//! simulator and replay parse them back with [`super::route::Route`]. Paths are relative
//! to the ARI base URL (`http://host:8088`) and start with `/ari/`.

/// What every ARI path starts with.
pub const PREFIX: &str = "/ari/";
/// `POST` originates a channel, `GET` lists them.
pub const CHANNELS: &str = "/ari/channels";
/// `POST` creates a bridge.
pub const BRIDGES: &str = "/ari/bridges";
/// The events WebSocket.
pub const EVENTS: &str = "/ari/events";

/// Whether `path` is an ARI path at all.
pub fn is_ari(path: &str) -> bool {
    path.starts_with(PREFIX)
}

/// `GET` reads the channel, `DELETE` hangs it up.
pub fn channel(channel: &str) -> String {
    format!("{CHANNELS}/{channel}")
}

/// `POST` plays media to the channel, the playback named `playback`.
pub fn channel_play(channel: &str, playback: &str) -> String {
    format!("{CHANNELS}/{channel}/play/{playback}")
}

/// `POST` records the channel.
pub fn channel_record(channel: &str) -> String {
    format!("{CHANNELS}/{channel}/record")
}

/// `POST` sends the channel back to the dialplan.
pub fn channel_continue(channel: &str) -> String {
    format!("{CHANNELS}/{channel}/continue")
}

/// `POST` answers the channel.
pub fn channel_answer(channel: &str) -> String {
    format!("{CHANNELS}/{channel}/answer")
}

/// `GET` reads a playback, `DELETE` stops it.
pub fn playback(playback: &str) -> String {
    format!("/ari/playbacks/{playback}")
}

/// `GET` reads a bridge with its channels, `DELETE` destroys it.
pub fn bridge(bridge: &str) -> String {
    format!("{BRIDGES}/{bridge}")
}

/// `POST` adds channels to the bridge.
pub fn bridge_add_channel(bridge: &str) -> String {
    format!("{BRIDGES}/{bridge}/addChannel")
}

/// `POST` starts music on hold in the bridge.
pub fn bridge_moh(bridge: &str) -> String {
    format!("{BRIDGES}/{bridge}/moh")
}

/// `GET` reads a recording in progress (gone once it has ended).
pub fn live_recording(name: &str) -> String {
    format!("/ari/recordings/live/{name}")
}

/// `GET` reads a stored recording, `DELETE` deletes it.
pub fn stored_recording(name: &str) -> String {
    format!("/ari/recordings/stored/{name}")
}

/// `GET` fetches a stored recording's audio file.
pub fn stored_recording_file(name: &str) -> String {
    format!("/ari/recordings/stored/{name}/file")
}

/// `PUT` sets which event types the Stasis application `app` is sent.
pub fn application_event_filter(app: &str) -> String {
    format!("/ari/applications/{app}/eventFilter")
}

/// The simulator's own extension (no Asterisk has it): `GET` what its customer said into
/// a recording, as `{"transcript": "..."}`.
pub fn sim_transcript(name: &str) -> String {
    format!("/sim/recordings/{name}/transcript")
}
