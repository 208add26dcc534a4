//! The Asterisk REST Interface (ARI) as dialflow sees it: typed resources, WebSocket events,
//! the REST client, and the recorded traces that keep them honest against a real Asterisk.
//!
//! Only this module knows ARI's paths (`paths`, read back by `route`) and its JSON
//! (`models`, `events`, and `json` for the events the simulator builds). The same types
//! serve the live dialer, the simulated PBX and replay tests.

pub mod client;
pub mod events;
pub mod json;
pub mod models;
pub mod paths;
pub mod request;
pub mod route;
pub mod socket_rest;
pub mod trace;
pub mod translate;
mod transport;

pub use client::{AriClient, AriEndpoint, AriError};
pub use events::{Event, from_value, parse};
pub use models::{
    Bridge, BridgeType, CallerId, Channel, ChannelState, DialplanCep, ErrorBody, LiveRecording,
    Playback, PlaybackState, RecordingState, StoredRecording,
};
pub use request::Request;
pub use route::Route;
pub use trace::{HttpExchange, Trace, TraceError, TraceLine, TraceMeta, read_trace};
