//! Why a call failed, when dialflow itself says so: the one place that spells the
//! `failed:<reason>` results dialflow produces.
//!
//! Results stay strings in the store and reports, since scenarios name their own
//! (`failed:tts_timeout` is as valid a result as any); this enum is for the code that
//! produces a failure or has to recognise one of its own.

use std::fmt;
use std::str::FromStr;

/// A failure dialflow produces, as the `<reason>` of a `failed:<reason>` result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FailureReason {
    /// Speech-to-text failed, or the classification took longer than its timeout.
    SttFailure,
    /// The speech-to-text provider refused for quota or balance.
    SttQuota,
    /// The LLM intent classifier refused for quota or balance.
    LlmQuota,
    /// A recording failed, or its file could not be fetched.
    Recording,
    /// A prompt failed to play, or played far longer than its audio.
    Playback,
    /// The operator's leg could not be called.
    OperatorFailed,
    /// The customer and the agent reserved for them could not be bridged.
    AgentFailed,
    /// A hook script failed, or returned none of its declared outcomes.
    Hook,
    /// Asterisk refused the customer's originate.
    Originate,
    /// The call entered more nodes than `limits.max_steps`.
    StepBudget,
    /// An outcome had no route (a compiler bug, ended safely).
    NoRoute,
    /// dialflow stopped while the call was up.
    Shutdown,
    /// dialflow crashed while the call was up; recovery closed the attempt.
    Interrupted,
    /// The call's task ended without a result (a bug).
    Internal,
    /// A failure that gave no reason.
    Unknown,
}

/// What prefixes every failure result, ours or a scenario's.
pub const FAILED_PREFIX: &str = "failed:";

impl FailureReason {
    /// Every reason, for lists and tests.
    pub const ALL: [FailureReason; 15] = [
        FailureReason::SttFailure,
        FailureReason::SttQuota,
        FailureReason::LlmQuota,
        FailureReason::Recording,
        FailureReason::Playback,
        FailureReason::OperatorFailed,
        FailureReason::AgentFailed,
        FailureReason::Hook,
        FailureReason::Originate,
        FailureReason::StepBudget,
        FailureReason::NoRoute,
        FailureReason::Shutdown,
        FailureReason::Interrupted,
        FailureReason::Internal,
        FailureReason::Unknown,
    ];

    /// The reason as written after `failed:`.
    pub fn as_str(self) -> &'static str {
        match self {
            FailureReason::SttFailure => "stt_failure",
            FailureReason::SttQuota => "stt_quota",
            FailureReason::LlmQuota => "llm_quota",
            FailureReason::Recording => "recording",
            FailureReason::Playback => "playback",
            FailureReason::OperatorFailed => "operator_failed",
            FailureReason::AgentFailed => "agent_failed",
            FailureReason::Hook => "hook",
            FailureReason::Originate => "originate",
            FailureReason::StepBudget => "step_budget",
            FailureReason::NoRoute => "no_route",
            FailureReason::Shutdown => "shutdown",
            FailureReason::Interrupted => "interrupted",
            FailureReason::Internal => "internal",
            FailureReason::Unknown => "unknown",
        }
    }

    /// The call's result: `failed:<reason>`.
    pub fn result(self) -> String {
        format!("{FAILED_PREFIX}{}", self.as_str())
    }

    /// The reason of a `failed:<reason>` result, when it is one of ours.
    pub fn of_result(result: &str) -> Option<FailureReason> {
        result.strip_prefix(FAILED_PREFIX)?.parse().ok()
    }

    /// Whether a result is a failure at all, ours or one a scenario names.
    pub fn is_failure_result(result: &str) -> bool {
        result.starts_with(FAILED_PREFIX)
    }

    /// A provider refused for quota: more calls would only be refused too.
    pub fn is_quota(self) -> bool {
        matches!(self, FailureReason::SttQuota | FailureReason::LlmQuota)
    }

    /// dialflow's own stop or crash, not a sign of trouble with Asterisk or a provider.
    pub fn is_ours(self) -> bool {
        matches!(self, FailureReason::Shutdown | FailureReason::Interrupted)
    }
}

impl fmt::Display for FailureReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The text is not one of dialflow's failure reasons.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a failure reason of dialflow")]
pub struct UnknownFailureReason(pub String);

impl FromStr for FailureReason {
    type Err = UnknownFailureReason;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        FailureReason::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| UnknownFailureReason(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reason_round_trips() {
        for reason in FailureReason::ALL {
            assert_eq!(reason.as_str().parse(), Ok(reason));
            assert_eq!(reason.to_string(), reason.as_str());
            assert_eq!(FailureReason::of_result(&reason.result()), Some(reason));
        }
        assert_eq!(FailureReason::of_result("failed:tts_timeout"), None);
        assert_eq!(FailureReason::of_result("stt_quota"), None);
        assert!(FailureReason::is_failure_result("failed:tts_timeout"));
    }

    /// The language reference lists exactly these reasons, in its table of failures.
    #[test]
    fn the_docs_name_every_reason() {
        let docs = include_str!("../../../docs/scenario-language.md");
        let section = docs
            .split("### Failures")
            .nth(1)
            .and_then(|s| s.split("\n#").next())
            .expect("docs/scenario-language.md has a `### Failures` section");
        let listed: Vec<&str> = section
            .lines()
            .filter_map(|l| l.strip_prefix("| `failed:"))
            .filter_map(|l| l.split('`').next())
            .collect();
        let ours: Vec<&str> = FailureReason::ALL.iter().map(|r| r.as_str()).collect();
        assert_eq!(
            listed, ours,
            "the table under `### Failures` lists every reason, in order"
        );
    }
}
