//! dialflow: an outbound-call engine for Asterisk. Campaign leads are dialed through ARI
//! and every answered call runs through a scenario compiled from YAML.
//!
//! See ARCHITECTURE.md for the map of modules and the invariants they keep.

pub mod ari;
pub mod classify;
pub mod cli;
pub mod config;
pub mod control;
pub mod core;
pub mod daemon;
pub mod delivery;
pub mod desk;
pub mod dialer;
pub mod export;
pub mod http;
pub mod leads;
pub mod load;
pub mod metrics;
pub mod render;
pub mod replay;
pub mod reports;
pub mod runtime;
pub mod scenario_set;
pub mod sim;
pub mod store;
pub mod tls;
