//! Alerts' rules: what raises one (`AlertKind`), how often the same one may go out
//! (`admit`: once per window per campaign, the ones held back counted into the next),
//! and when a lasting trouble (Asterisk unreachable, an old backlog) becomes one
//! (`Episode`). Times are arguments: the core reads no clock.

use serde::{Deserialize, Serialize};

/// What raised an alert. The same kind for the same campaign is "the same alert" for
/// the rate limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    /// A provider refused for quota: the campaign paused itself.
    Quota,
    /// Too many technical failures (in a row, or half of the calls over two minutes).
    Breaker,
    /// The campaign paused itself for another reason (its settings, its scenario).
    Paused,
    /// The panel refused a report for good.
    Parked,
    /// Asterisk's event stream has been down for longer than `alerts.unreachable_after`.
    Unreachable,
    /// The oldest report waiting for the panel is older than `alerts.backlog_after`.
    Backlog,
    /// A reload of the scenarios was refused (a file does not compile): the last good
    /// set keeps serving, and the edit someone made is not live.
    Reload,
}

impl AlertKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertKind::Quota => "quota",
            AlertKind::Breaker => "breaker",
            AlertKind::Paused => "paused",
            AlertKind::Parked => "parked",
            AlertKind::Unreachable => "unreachable",
            AlertKind::Backlog => "backlog",
            AlertKind::Reload => "reload",
        }
    }
}

/// The rate limit's memory of one alert (kind and campaign).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RateState {
    /// When one last went out.
    pub sent_ms: u64,
    /// How many were held back since.
    pub held: u64,
}

/// Whether an alert goes out now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rate {
    /// Send it, saying how many like it were held back before it.
    Send {
        repeats: u64,
    },
    Hold,
}

/// At most one alert per `window_ms` for the same kind and campaign: the first goes
/// out, the next ones within the window are counted, and the first after it carries
/// the count.
pub fn admit(previous: Option<RateState>, now_ms: u64, window_ms: u64) -> (Rate, RateState) {
    match previous {
        Some(state) if now_ms.saturating_sub(state.sent_ms) < window_ms => (
            Rate::Hold,
            RateState {
                held: state.held + 1,
                ..state
            },
        ),
        previous => (
            Rate::Send {
                repeats: previous.map_or(0, |s| s.held),
            },
            RateState {
                sent_ms: now_ms,
                held: 0,
            },
        ),
    }
}

/// A trouble that becomes an alert once it has lasted long enough, once per episode.
#[derive(Debug, Clone, Copy, Default)]
pub struct Episode {
    raised: bool,
}

impl Episode {
    /// `since`: since when the trouble has lasted (`None`: no trouble now, which ends
    /// the episode). True exactly once per episode, when it has lasted `after_ms`.
    pub fn observe(&mut self, since: Option<u64>, now_ms: u64, after_ms: u64) -> bool {
        let Some(since) = since else {
            self.raised = false;
            return false;
        };
        if self.raised || now_ms.saturating_sub(since) < after_ms {
            return false;
        }
        self.raised = true;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIVE_MIN: u64 = 300_000;

    #[test]
    fn the_same_alert_goes_out_once_per_window_with_the_count_of_repeats() {
        let (rate, s) = admit(None, 1_000, FIVE_MIN);
        assert_eq!(rate, Rate::Send { repeats: 0 });
        let (rate, s) = admit(Some(s), 2_000, FIVE_MIN);
        assert_eq!(rate, Rate::Hold);
        let (rate, s) = admit(Some(s), 200_000, FIVE_MIN);
        assert_eq!(rate, Rate::Hold);
        assert_eq!(s.held, 2);
        let (rate, s) = admit(Some(s), 1_000 + FIVE_MIN, FIVE_MIN);
        assert_eq!(rate, Rate::Send { repeats: 2 });
        assert_eq!(
            s,
            RateState {
                sent_ms: 301_000,
                held: 0
            }
        );
    }

    #[test]
    fn an_episode_alerts_once_after_it_has_lasted() {
        let mut e = Episode::default();
        assert!(!e.observe(Some(0), 29_999, 30_000));
        assert!(e.observe(Some(0), 30_000, 30_000));
        assert!(!e.observe(Some(0), 90_000, 30_000), "once per episode");
        assert!(!e.observe(None, 91_000, 30_000));
        assert!(!e.observe(Some(100_000), 110_000, 30_000));
        assert!(e.observe(Some(100_000), 130_000, 30_000), "a new episode");
    }
}
