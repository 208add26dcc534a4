//! Campaign dialer policy: when a campaign may call, and how fast.
//!
//! Pure decisions only. The runtime hands in "now" (a `jiff::Timestamp` or milliseconds)
//! and what it observes of Asterisk; these modules answer with what to do, so every rule
//! can be tested exhaustively without a clock, a PBX or a network.

pub mod pacing;
pub mod window;
