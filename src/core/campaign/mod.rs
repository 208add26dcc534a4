//! Campaign policy, pure: settings, calling windows, pacing maths, the PBX's
//! learned capacity, retry decisions, predictive dialing's level, the agents it
//! expects free soon and the answers it expects of calls still ringing.
//! The dialer applies them; the store keeps the settings.

pub mod capacity;
pub mod failure_rate;
pub mod freeing;
pub mod pacing;
pub mod predictive;
pub mod retry;
pub mod ringing;
pub mod settings;
pub mod window;
