//! ARI requests read back from `(method, path)`: the simulator answers them and replay
//! matches recorded ones against the machine's, both without knowing the paths' shapes.
//! The inverse of [`super::paths`].

/// One ARI request dialflow makes (or the simulator serves), with the ids its path names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route<'a> {
    /// `GET /ari/events`: the events WebSocket.
    Events,
    /// `GET /ari/channels`.
    ListChannels,
    /// `POST /ari/channels`.
    Originate,
    /// `GET /ari/channels/{channel}`.
    GetChannel { channel: &'a str },
    /// `DELETE /ari/channels/{channel}`.
    Hangup { channel: &'a str },
    /// `POST /ari/channels/{channel}/answer`.
    Answer { channel: &'a str },
    /// `POST /ari/channels/{channel}/play[/{playback}]` (without a playback id Asterisk
    /// or the `playbackId` parameter names it).
    Play {
        channel: &'a str,
        playback: Option<&'a str>,
    },
    /// `POST /ari/channels/{channel}/record`.
    Record { channel: &'a str },
    /// `POST /ari/channels/{channel}/continue`.
    Continue { channel: &'a str },
    /// `GET /ari/playbacks/{playback}`.
    GetPlayback { playback: &'a str },
    /// `DELETE /ari/playbacks/{playback}`.
    StopPlayback { playback: &'a str },
    /// `POST /ari/bridges`.
    CreateBridge,
    /// `POST /ari/bridges/{bridge}/addChannel`.
    AddToBridge { bridge: &'a str },
    /// `POST /ari/bridges/{bridge}/moh`.
    BridgeMoh { bridge: &'a str },
    /// `GET /ari/bridges/{bridge}`.
    GetBridge { bridge: &'a str },
    /// `DELETE /ari/bridges/{bridge}`.
    DestroyBridge { bridge: &'a str },
    /// `GET /ari/recordings/live/{name}`.
    GetLiveRecording { name: &'a str },
    /// `GET /ari/recordings/stored/{name}`.
    GetStoredRecording { name: &'a str },
    /// `GET /ari/recordings/stored/{name}/file`.
    StoredRecordingFile { name: &'a str },
    /// `DELETE /ari/recordings/stored/{name}`.
    DeleteStoredRecording { name: &'a str },
    /// `PUT /ari/applications/{app}/eventFilter`: which event types the application gets.
    SetEventFilter { app: &'a str },
}

/// The most segments a path dialflow knows has after `/ari/`.
const MAX_SEGMENTS: usize = 4;

impl<'a> Route<'a> {
    /// The request `method path` is, if dialflow knows it (a trailing `/` is ignored).
    pub fn parse(method: &str, path: &'a str) -> Option<Route<'a>> {
        let rest = path
            .trim_end_matches('/')
            .strip_prefix(super::paths::PREFIX)?;
        // No allocation: the runtime reads each request it sends back for its metrics.
        let mut parts = [""; MAX_SEGMENTS];
        let mut count = 0;
        for part in rest.split('/') {
            *parts.get_mut(count)? = part;
            count += 1;
        }
        Some(match (method, &parts[..count]) {
            ("GET", ["events"]) => Route::Events,
            ("GET", ["channels"]) => Route::ListChannels,
            ("POST", ["channels"]) => Route::Originate,
            ("GET", ["channels", channel]) => Route::GetChannel { channel },
            ("DELETE", ["channels", channel]) => Route::Hangup { channel },
            ("POST", ["channels", channel, "answer"]) => Route::Answer { channel },
            ("POST", ["channels", channel, "play"]) => Route::Play {
                channel,
                playback: None,
            },
            ("POST", ["channels", channel, "play", playback]) => Route::Play {
                channel,
                playback: Some(playback),
            },
            ("POST", ["channels", channel, "record"]) => Route::Record { channel },
            ("POST", ["channels", channel, "continue"]) => Route::Continue { channel },
            ("GET", ["playbacks", playback]) => Route::GetPlayback { playback },
            ("DELETE", ["playbacks", playback]) => Route::StopPlayback { playback },
            ("POST", ["bridges"]) => Route::CreateBridge,
            ("POST", ["bridges", bridge, "addChannel"]) => Route::AddToBridge { bridge },
            ("POST", ["bridges", bridge, "moh"]) => Route::BridgeMoh { bridge },
            ("GET", ["bridges", bridge]) => Route::GetBridge { bridge },
            ("DELETE", ["bridges", bridge]) => Route::DestroyBridge { bridge },
            ("GET", ["recordings", "live", name]) => Route::GetLiveRecording { name },
            ("GET", ["recordings", "stored", name]) => Route::GetStoredRecording { name },
            ("GET", ["recordings", "stored", name, "file"]) => Route::StoredRecordingFile { name },
            ("DELETE", ["recordings", "stored", name]) => Route::DeleteStoredRecording { name },
            ("PUT", ["applications", app, "eventFilter"]) => Route::SetEventFilter { app },
            _ => return None,
        })
    }

    /// The id of the resource the path names (channel, playback, bridge or recording);
    /// `None` for the collections.
    pub fn resource(&self) -> Option<&'a str> {
        match *self {
            Route::Events | Route::ListChannels | Route::Originate | Route::CreateBridge => None,
            Route::GetChannel { channel }
            | Route::Hangup { channel }
            | Route::Answer { channel }
            | Route::Play { channel, .. }
            | Route::Record { channel }
            | Route::Continue { channel } => Some(channel),
            Route::GetPlayback { playback } | Route::StopPlayback { playback } => Some(playback),
            Route::AddToBridge { bridge }
            | Route::BridgeMoh { bridge }
            | Route::GetBridge { bridge }
            | Route::DestroyBridge { bridge } => Some(bridge),
            Route::GetLiveRecording { name }
            | Route::GetStoredRecording { name }
            | Route::StoredRecordingFile { name }
            | Route::DeleteStoredRecording { name } => Some(name),
            Route::SetEventFilter { app } => Some(app),
        }
    }

    /// The request's method and path with its ids left out (`POST /channels/{id}/play`):
    /// a metrics label whose values the code bounds, whatever ids calls choose.
    pub fn template(&self) -> &'static str {
        match self {
            Route::Events => "GET /events",
            Route::ListChannels => "GET /channels",
            Route::Originate => "POST /channels",
            Route::GetChannel { .. } => "GET /channels/{id}",
            Route::Hangup { .. } => "DELETE /channels/{id}",
            Route::Answer { .. } => "POST /channels/{id}/answer",
            Route::Play { playback: None, .. } => "POST /channels/{id}/play",
            Route::Play { .. } => "POST /channels/{id}/play/{playback}",
            Route::Record { .. } => "POST /channels/{id}/record",
            Route::Continue { .. } => "POST /channels/{id}/continue",
            Route::GetPlayback { .. } => "GET /playbacks/{id}",
            Route::StopPlayback { .. } => "DELETE /playbacks/{id}",
            Route::CreateBridge => "POST /bridges",
            Route::AddToBridge { .. } => "POST /bridges/{id}/addChannel",
            Route::BridgeMoh { .. } => "POST /bridges/{id}/moh",
            Route::GetBridge { .. } => "GET /bridges/{id}",
            Route::DestroyBridge { .. } => "DELETE /bridges/{id}",
            Route::GetLiveRecording { .. } => "GET /recordings/live/{name}",
            Route::GetStoredRecording { .. } => "GET /recordings/stored/{name}",
            Route::StoredRecordingFile { .. } => "GET /recordings/stored/{name}/file",
            Route::DeleteStoredRecording { .. } => "DELETE /recordings/stored/{name}",
            Route::SetEventFilter { .. } => "PUT /applications/{app}/eventFilter",
        }
    }

    /// The same request with its ids left out, to compare the kind of two requests.
    pub fn kind(&self) -> std::mem::Discriminant<Route<'a>> {
        std::mem::discriminant(self)
    }
}

#[cfg(test)]
mod tests {
    use super::super::paths;
    use super::*;

    #[test]
    fn every_path_the_client_builds_parses_back() {
        let cases = [
            ("GET", paths::EVENTS.to_string(), Route::Events),
            ("GET", paths::CHANNELS.to_string(), Route::ListChannels),
            ("POST", paths::CHANNELS.to_string(), Route::Originate),
            (
                "GET",
                paths::channel("c"),
                Route::GetChannel { channel: "c" },
            ),
            (
                "DELETE",
                paths::channel("c;2"),
                Route::Hangup { channel: "c;2" },
            ),
            (
                "POST",
                paths::channel_answer("c"),
                Route::Answer { channel: "c" },
            ),
            (
                "POST",
                paths::channel_play("c", "p"),
                Route::Play {
                    channel: "c",
                    playback: Some("p"),
                },
            ),
            (
                "POST",
                paths::channel_record("c"),
                Route::Record { channel: "c" },
            ),
            (
                "POST",
                paths::channel_continue("c"),
                Route::Continue { channel: "c" },
            ),
            (
                "GET",
                paths::playback("p"),
                Route::GetPlayback { playback: "p" },
            ),
            (
                "DELETE",
                paths::playback("p"),
                Route::StopPlayback { playback: "p" },
            ),
            ("POST", paths::BRIDGES.to_string(), Route::CreateBridge),
            (
                "POST",
                paths::bridge_add_channel("b"),
                Route::AddToBridge { bridge: "b" },
            ),
            ("GET", paths::bridge("b"), Route::GetBridge { bridge: "b" }),
            (
                "DELETE",
                paths::bridge("b"),
                Route::DestroyBridge { bridge: "b" },
            ),
            (
                "GET",
                paths::live_recording("r"),
                Route::GetLiveRecording { name: "r" },
            ),
            (
                "GET",
                paths::stored_recording("r"),
                Route::GetStoredRecording { name: "r" },
            ),
            (
                "GET",
                paths::stored_recording_file("r"),
                Route::StoredRecordingFile { name: "r" },
            ),
            (
                "DELETE",
                paths::stored_recording("r"),
                Route::DeleteStoredRecording { name: "r" },
            ),
            (
                "PUT",
                paths::application_event_filter("a"),
                Route::SetEventFilter { app: "a" },
            ),
        ];
        for (method, path, route) in &cases {
            assert_eq!(Route::parse(method, path), Some(*route), "{method} {path}");
            // The template is the path with every id replaced by a name in braces.
            let template = route.template();
            let shape =
                |p: &str| -> Vec<bool> { p.split('/').map(|s| s.starts_with('{')).collect() };
            let (t_method, t_path) = template.split_once(' ').unwrap();
            assert_eq!(t_method, *method, "{template}");
            let ids = shape(t_path);
            let kept: Vec<&str> = path.trim_start_matches("/ari").split('/').collect();
            let named: Vec<&str> = t_path.split('/').collect();
            assert_eq!(kept.len(), named.len(), "{template} for {path}");
            for ((k, n), id) in kept.iter().zip(&named).zip(ids) {
                assert!(id || k == n, "{template} for {path}");
            }
        }
    }

    #[test]
    fn a_play_without_an_id_and_a_trailing_slash_parse() {
        assert_eq!(
            Route::parse("POST", "/ari/channels/c/play/"),
            Some(Route::Play {
                channel: "c",
                playback: None
            })
        );
        assert_eq!(Route::parse("GET", "/ari/asterisk/info"), None);
        assert_eq!(Route::parse("GET", "/ari/recordings/stored/r/file/x"), None);
        assert_eq!(Route::parse("GET", "/sim/state"), None);
    }
}
