//! A campaign's settings compiled for dialing: windows and zones resolved, pacing
//! limits and retry table checked. Compiling is also how `campaign create` validates.

use jiff::Timestamp;
use jiff::tz::TimeZone;

use crate::core::call::SafeHarbor;
use crate::core::campaign::pacing::PacingLimits;
use crate::core::campaign::retry::{Next, RetryPolicy, RetryRuleError};
use crate::core::campaign::settings::{CampaignSettings, DialMode, DispositionSetting};
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
    pub agents: AgentPolicy,
    /// How long an agent's wrap-up after a call of this campaign lasts at most.
    pub wrap_up_ms: u64,
}

/// How a campaign's calls meet its agents.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentPolicy {
    pub mode: DialMode,
    pub ratio: f64,
    pub drop_cap: f64,
    /// For calls of a mode with agents.
    pub safe_harbor: Option<SafeHarbor>,
}

/// A campaign setting that cannot be used: its key and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {message}")]
pub struct SettingsError {
    pub key: String,
    pub message: String,
}

/// A retry rule's error under its own key (`retries.busy.after`).
fn retry_error(e: RetryRuleError) -> SettingsError {
    match e {
        RetryRuleError::NotAResult(name) => SettingsError {
            key: "retries".into(),
            message: format!("`{name}` is not a result name"),
        },
        RetryRuleError::BadDelay { result, source } => SettingsError {
            key: format!("retries.{result}.after"),
            message: source.to_string(),
        },
    }
}

impl CampaignPolicy {
    /// Checks every setting; the error names the key and the value.
    pub fn compile(s: &CampaignSettings) -> Result<CampaignPolicy, SettingsError> {
        let bad = |key: &'static str| {
            move |message: String| SettingsError {
                key: key.to_string(),
                message,
            }
        };
        if s.scenario.trim().is_empty() {
            return Err(bad("scenario")(
                "missing (the scenario's file stem, like `salehi`)".into(),
            ));
        }
        let windows =
            CallingWindows::parse(&s.windows).map_err(|e| bad("windows")(e.to_string()))?;
        let time_zone =
            window::time_zone(&s.time_zone).map_err(|e| bad("time_zone")(e.to_string()))?;
        let local_hours = s
            .lead_local_hours
            .as_deref()
            .map(LocalHours::parse)
            .transpose()
            .map_err(|e| bad("lead_local_hours")(e.to_string()))?;
        let min_interval_ms = parse_duration_ms(&s.pacing.min_interval)
            .map_err(|e| bad("pacing.min_interval")(e.to_string()))?;
        if s.pacing.max_concurrent == 0 {
            return Err(bad("pacing.max_concurrent")("must be at least 1".into()));
        }
        if !(s.pacing.max_per_second.is_finite() && s.pacing.max_per_second > 0.0) {
            return Err(bad("pacing.max_per_second")(format!(
                "`{}` must be a number above 0",
                s.pacing.max_per_second
            )));
        }
        if s.max_attempts == 0 {
            return Err(bad("max_attempts")("must be at least 1".into()));
        }
        let retries = RetryPolicy::new(&s.retry_rules()).map_err(retry_error)?;
        check_dispositions(&s.dispositions)?;
        let wrap_up_ms =
            parse_duration_ms(&s.wrap_up).map_err(|e| bad("wrap_up")(e.to_string()))?;
        if wrap_up_ms < 1_000 {
            return Err(bad("wrap_up")(
                "must be at least 1s (an agent needs time to set a disposition)".into(),
            ));
        }
        let region: phonenumber::country::Id =
            s.region.to_ascii_uppercase().parse().map_err(|_| {
                bad("region")(format!(
                    "`{}` is not a country code like IR or US",
                    s.region
                ))
            })?;
        let agents = agent_policy(s)?;
        Ok(CampaignPolicy {
            agents,
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
            wrap_up_ms,
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

/// The dispositions' own rules: each code a plain word given once, a label and a
/// result, and not both a callback and a do-not-call (the one undoes the other).
/// Whether each result is the scenario's is checked where the scenario is known, when
/// a disposition is set.
fn check_dispositions(dispositions: &[DispositionSetting]) -> Result<(), SettingsError> {
    for (i, d) in dispositions.iter().enumerate() {
        let problem = if d.code.is_empty()
            || !d
                .code
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_-".contains(c))
        {
            format!("`{}` is not a code (letters, digits, `_`, `-`)", d.code)
        } else if dispositions[..i].iter().any(|e| e.code == d.code) {
            format!("the code `{}` is given twice", d.code)
        } else if d.label.trim().is_empty() {
            format!("`{}` has no label", d.code)
        } else if d.result.trim().is_empty() || d.result.trim() != d.result {
            format!("`{}`: `{}` is not a result name", d.code, d.result)
        } else if d.callback && d.dnc {
            format!(
                "`{}` cannot both call back and put the number on the DNC list",
                d.code
            )
        } else {
            continue;
        };
        return Err(SettingsError {
            key: format!("dispositions[{i}]"),
            message: problem,
        });
    }
    Ok(())
}

/// The dial mode's settings, checked: a ratio VICIdial would allow, a cap that is a
/// share, a safe harbor of at most a few seconds.
fn agent_policy(s: &CampaignSettings) -> Result<AgentPolicy, SettingsError> {
    let bad = |key: &str, message: String| SettingsError {
        key: key.to_string(),
        message,
    };
    if !(s.ratio.is_finite() && (1.0..=5.0).contains(&s.ratio)) {
        return Err(bad("ratio", format!("`{}` must be from 1 to 5", s.ratio)));
    }
    if !(s.drop_cap.is_finite() && s.drop_cap > 0.0 && s.drop_cap <= 0.2) {
        return Err(bad(
            "drop_cap",
            format!("`{}` must be a share above 0 and at most 0.2", s.drop_cap),
        ));
    }
    let after_ms = parse_duration_ms(&s.safe_harbor.after)
        .map_err(|e| bad("safe_harbor.after", e.to_string()))?;
    if !(500..=10_000).contains(&after_ms) {
        return Err(bad(
            "safe_harbor.after",
            format!("`{}` must be from 0.5s to 10s", s.safe_harbor.after),
        ));
    }
    let prompt = &s.safe_harbor.prompt;
    if prompt.is_empty()
        || !prompt
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-'))
    {
        return Err(bad(
            "safe_harbor.prompt",
            format!("`{}` is not a prompt name", s.safe_harbor.prompt),
        ));
    }
    let safe_harbor = s.mode.has_agents().then(|| SafeHarbor {
        after_ms,
        prompt: s.safe_harbor.prompt.clone(),
    });
    Ok(AgentPolicy {
        mode: s.mode,
        ratio: s.ratio,
        drop_cap: s.drop_cap,
        safe_harbor,
    })
}

fn timestamp(ms: u64) -> Timestamp {
    Timestamp::from_millisecond(i64::try_from(ms).unwrap_or(i64::MAX)).unwrap_or(Timestamp::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn disposition(code: &str, result: &str, callback: bool, dnc: bool) -> DispositionSetting {
        DispositionSetting {
            code: code.into(),
            label: code.to_uppercase(),
            result: result.into(),
            callback,
            dnc,
        }
    }

    #[test]
    fn dispositions_and_the_wrap_up_are_checked_naming_their_key() {
        let mut s = CampaignSettings::for_scenario("salehi");
        s.dispositions = vec![
            disposition("sale", "interested", false, false),
            disposition("call_back", "callback", true, false),
            disposition("remove", "banned", false, true),
        ];
        let policy = CampaignPolicy::compile(&s).unwrap();
        assert_eq!(policy.wrap_up_ms, 30_000, "the default wrap-up");
        for (broken, key, said) in [
            (
                disposition("sale", "x", false, false),
                "dispositions[3]",
                "given twice",
            ),
            (
                disposition("a b", "x", false, false),
                "dispositions[3]",
                "not a code",
            ),
            (
                disposition("both", "x", true, true),
                "dispositions[3]",
                "cannot both",
            ),
            (
                disposition("r", " x", false, false),
                "dispositions[3]",
                "not a result",
            ),
        ] {
            let mut bad = s.clone();
            bad.dispositions.push(broken);
            let e = CampaignPolicy::compile(&bad).unwrap_err();
            assert_eq!(e.key, key);
            assert!(e.message.contains(said), "{e}");
        }
        for (wrap_up, said) in [("soon", "wrap_up: "), ("0s", "at least 1s")] {
            let mut bad = s.clone();
            bad.wrap_up = wrap_up.into();
            let e = CampaignPolicy::compile(&bad).unwrap_err().to_string();
            assert!(e.starts_with("wrap_up: ") && e.contains(said), "{e}");
        }
    }
}
