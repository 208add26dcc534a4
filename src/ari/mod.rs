//! The Asterisk REST Interface (ARI) as dialflow sees it: typed resources, WebSocket events
//! and the recorded traces that keep both honest against a real Asterisk.
//!
//! Everything here is data and decoding; the HTTP and WebSocket clients live elsewhere, so the
//! same types serve the live dialer, the simulated PBX and replay tests.

pub mod events;
pub mod models;
pub mod trace;
pub mod translate;

pub use events::{Event, from_value, parse};
pub use models::{
    Bridge, BridgeType, CallerId, Channel, ChannelState, DialplanCep, ErrorBody, LiveRecording,
    Playback, PlaybackState, RecordingState, StoredRecording,
};
pub use trace::{HttpExchange, Trace, TraceError, TraceLine, TraceMeta, read_trace};
