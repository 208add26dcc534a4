//! A campaign's settings compiled for dialing: windows and zones resolved, pacing
//! limits and retry table checked. Compiling is also how `campaign create` validates.

use jiff::Timestamp;
use jiff::tz::TimeZone;

use crate::core::campaign::pacing::PacingLimits;
use crate::core::campaign::retry::{Next, RetryPolicy};
use crate::core::campaign::settings::CampaignSettings;
use crate::core::campaign::window::{self, CallingWindows, DialTime, LocalHours};
use crate::core::expr::parse_duration_ms;
use crate::store::{Admission, AttemptEnd, LeadNext, LeadRecord};

/// Settings made ready to apply.
#[derive(Debug, Clone)]
pub struct CampaignPolicy {
    pub windows: CallingWindows,
    pub time_zone: TimeZone,
    pub local_hours: Option<LocalHours>,
    pub pacing: PacingLimits,
    pub retries: RetryPolicy,
    pub max_attempts: u32,
    pub dnc_results: Vec<String>,
    pub region: phonenumber::country::Id,
}

impl CampaignPolicy {
    /// Checks every setting; the error names the key and the value.
    pub fn compile(s: &CampaignSettings) -> Result<CampaignPolicy, String> {
        if s.scenario.trim().is_empty() {
            return Err("scenario: missing (the scenario's file stem, like `salehi`)".into());
        }
        let windows = CallingWindows::parse(&s.windows).map_err(|e| format!("windows: {e}"))?;
        let time_zone = window::time_zone(&s.time_zone).map_err(|e| format!("time_zone: {e}"))?;
        let local_hours = s
            .lead_local_hours
            .as_deref()
            .map(LocalHours::parse)
            .transpose()
            .map_err(|e| format!("lead_local_hours: {e}"))?;
        let min_interval_ms = parse_duration_ms(&s.pacing.min_interval)
            .map_err(|e| format!("pacing.min_interval: {e}"))?;
        if s.pacing.max_concurrent == 0 {
            return Err("pacing.max_concurrent: must be at least 1".into());
        }
        if !(s.pacing.max_per_second.is_finite() && s.pacing.max_per_second > 0.0) {
            return Err(format!(
                "pacing.max_per_second: `{}` must be a number above 0",
                s.pacing.max_per_second
            ));
        }
        if s.max_attempts == 0 {
            return Err("max_attempts: must be at least 1".into());
        }
        let retries = RetryPolicy::new(&s.retry_rules()).map_err(|e| e.to_string())?;
        let region: phonenumber::country::Id =
            s.region.to_ascii_uppercase().parse().map_err(|_| {
                format!("region: `{}` is not a country code like IR or US", s.region)
            })?;
        Ok(CampaignPolicy {
            windows,
            time_zone,
            local_hours,
            pacing: PacingLimits {
                max_concurrent: s.pacing.max_concurrent,
                max_per_second: s.pacing.max_per_second,
                min_interval_ms,
            },
            retries,
            max_attempts: s.max_attempts,
            dnc_results: s.dnc_results.clone(),
            region,
        })
    }

    /// Whether the campaign's own window is open at `now_ms`, and if not when it opens.
    pub fn campaign_window(&self, now_ms: u64) -> Result<(), Option<u64>> {
        let at = timestamp(now_ms);
        if self.windows.is_open(at, &self.time_zone) {
            return Ok(());
        }
        Err(self
            .windows
            .next_open(at, &self.time_zone)
            .map(|t| t.as_millisecond().max(0) as u64))
    }

    /// The verdict on one due lead: campaign window and, when required, the lead's local
    /// hours (an unknown zone fails closed).
    pub fn admit(&self, lead: &LeadRecord, now_ms: u64) -> Admission {
        let lead_zone = lead
            .time_zone
            .as_deref()
            .and_then(|z| window::time_zone(z).ok());
        let local = self
            .local_hours
            .as_ref()
            .map(|hours| (hours, lead_zone.as_ref()));
        match window::dial_time(timestamp(now_ms), &self.windows, &self.time_zone, local) {
            DialTime::Now => Admission::Dial,
            DialTime::Later(t) => Admission::Later(t.as_millisecond().max(0) as u64),
            DialTime::Never(reason) => Admission::Never(reason),
        }
    }

    /// What becomes of a lead after an attempt (the lead already counts it).
    pub fn next(&self, lead: &LeadRecord, end: &AttemptEnd, now_ms: u64) -> LeadNext {
        if self.dnc_results.contains(&end.result) {
            return LeadNext::Dnc;
        }
        let times = lead.results.get(&end.result).copied().unwrap_or(1);
        match self
            .retries
            .decide(&end.result, times, lead.attempts, self.max_attempts)
        {
            Next::RetryAfter(ms) => LeadNext::RetryAt(now_ms.saturating_add(ms)),
            Next::Done => LeadNext::Done,
        }
    }
}

fn timestamp(ms: u64) -> Timestamp {
    Timestamp::from_millisecond(i64::try_from(ms).unwrap_or(i64::MAX)).unwrap_or(Timestamp::MAX)
}
