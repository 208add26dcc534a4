//! Campaign policy, pure: settings, calling windows, pacing maths, the PBX's
//! learned capacity and retry decisions.
//! The dialer applies them; the store keeps the settings.

pub mod capacity;
pub mod failure_rate;
pub mod pacing;
pub mod retry;
pub mod settings;
pub mod window;
