//! Drops and answered calls day by day (UTC), per campaign: the counts predictive
//! dialing's cap is measured on (today, and the last 30 days), written with each
//! attempt's end in its transaction.

use redb::{ReadableDatabase as _, ReadableTable as _, Table};

use super::schema::DAILY;
use super::{AttemptEnd, Store, StoreError};
use crate::core::campaign::predictive::DropCounts;

pub(super) const ANSWERED: &str = "answered";
pub(super) const DROPPED: &str = "dropped";

/// How many days the long window of the cap covers.
pub const CAP_DAYS: i64 = 30;

const DAY_MS: i64 = 86_400_000;

/// Today's and the last 30 days' counts (today included).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct DropWindow {
    pub today: DropCounts,
    pub last_30_days: DropCounts,
}

/// The key of `what` on the UTC day of `at_ms`: `2026-12-07/answered`.
pub(super) fn day_key(at_ms: u64, what: &str) -> String {
    format!("{}/{what}", day(i64::try_from(at_ms).unwrap_or(i64::MAX)))
}

fn day(at_ms: i64) -> String {
    jiff::Timestamp::from_millisecond(at_ms)
        .unwrap_or(jiff::Timestamp::MAX)
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date()
        .to_string()
}

/// Counts an ended attempt into its campaign's days.
pub(super) fn count_end(
    daily: &mut Table<(&str, &str), u64>,
    campaign: &str,
    end: &AttemptEnd,
) -> Result<(), StoreError> {
    let Some(answered) = end.answered_ms else {
        return Ok(());
    };
    let mut bump = |what: &str| -> Result<(), StoreError> {
        let key = day_key(answered, what);
        let now = daily
            .get((campaign, key.as_str()))?
            .map_or(0, |v| v.value());
        daily.insert((campaign, key.as_str()), now + 1)?;
        Ok(())
    };
    bump(ANSWERED)?;
    if end.dropped {
        bump(DROPPED)?;
    }
    Ok(())
}

impl Store {
    /// A campaign's drops and answered calls today and over the last 30 days, as of
    /// `now_ms`.
    pub fn drop_window(&self, campaign: &str, now_ms: u64) -> Result<DropWindow, StoreError> {
        let tx = self.db.begin_read()?;
        let daily = tx.open_table(DAILY)?;
        let now = i64::try_from(now_ms).unwrap_or(i64::MAX);
        let mut window = DropWindow::default();
        for back in 0..CAP_DAYS {
            let d = day(now.saturating_sub(back * DAY_MS));
            let read = |what: &str| -> Result<u64, StoreError> {
                let key = format!("{d}/{what}");
                Ok(daily
                    .get((campaign, key.as_str()))?
                    .map_or(0, |v| v.value()))
            };
            let counts = DropCounts {
                answered: read(ANSWERED)?,
                dropped: read(DROPPED)?,
            };
            if back == 0 {
                window.today = counts;
            }
            window.last_30_days.answered += counts.answered;
            window.last_30_days.dropped += counts.dropped;
        }
        Ok(window)
    }
}
