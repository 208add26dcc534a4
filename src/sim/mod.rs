//! The simulated PBX: a stand-in for Asterisk that speaks ARI, for tests, the demo and
//! benchmarks. `pbx` is the pure model; the HTTP/WebSocket server around it comes next.

pub mod behaviours;
pub mod pbx;
pub mod server;
