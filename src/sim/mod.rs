//! The simulated PBX: a stand-in for Asterisk that speaks ARI, for tests, the demo and
//! benchmarks. `pbx` is the pure model; `server` puts it behind real HTTP and WebSocket,
//! `sessions` holds its connections to Asterisk's HTTP session limit, `saturation`
//! degrades it past a capacity as an overloaded Asterisk degrades, `socket_requests` serves
//! REST over the events WebSocket, `event_filter` keeps
//! the application's event type filter.

pub mod behaviours;
pub mod event_filter;
pub mod pbx;
pub mod saturation;
pub mod server;
pub mod sessions;
pub mod socket_requests;
