//! Campaign policy, pure: settings, calling windows, pacing maths and retry decisions.
//! The dialer applies them; the store keeps the settings.

pub mod pacing;
pub mod retry;
pub mod settings;
pub mod window;
