//! What happens to a lead after an attempt: retry later (by result, with a delay and a
//! most-times cap) or done. Pure: the dialer applies the decision in the store.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::core::call::FAILED_PREFIX;
use crate::core::expr::{DurationError, parse_duration_ms};

/// Retry rule for one result (or a `failed:*` style prefix).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum RetryRule {
    /// `never`: the result is final.
    Never(NeverWord),
    /// Retry after a delay, at most `max` times for this result.
    After { after: String, max: u32 },
}

/// The word `never` (and nothing else) in a retry table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum NeverWord {
    Never,
}

/// The retry table: result (exact, or a prefix ending in `*`) → rule. Exact entries win,
/// then the longest prefix; a result no entry names is final.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    rules: Vec<(String, Option<Retry>)>,
}

/// A validated retry rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retry {
    pub after_ms: u64,
    pub max: u32,
}

/// The decision for a lead after an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Dial it again `after_ms` from now.
    RetryAfter(u64),
    /// Nothing more to do: the result is final, or the retries are used up.
    Done,
}

/// Seed 002/003's defaults: a busy line is tried again soon, an unanswered or
/// unreachable phone later, a technical failure after a short pause; a person's answer
/// is final.
pub fn default_rules() -> BTreeMap<String, RetryRule> {
    let after = |after: &str, max: u32| RetryRule::After {
        after: after.into(),
        max,
    };
    BTreeMap::from([
        ("busy".into(), after("10m", 3)),
        ("missed".into(), after("1h", 3)),
        // Safe harbor hung up on them: they never got the agent they answered for.
        (crate::core::scenario::DROPPED_RESULT.into(), after("1h", 3)),
        ("user_didnt_answer".into(), after("1h", 3)),
        ("power_off".into(), after("2h", 3)),
        (format!("{FAILED_PREFIX}*"), after("5m", 3)),
        ("not_interested".into(), RetryRule::Never(NeverWord::Never)),
    ])
}

/// A retry rule that cannot be used; the message names its key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RetryRuleError {
    #[error("retries: `{0}` is not a result name")]
    NotAResult(String),
    #[error("retries.{result}.after: {source}")]
    BadDelay {
        result: String,
        source: DurationError,
    },
}

impl RetryPolicy {
    /// Builds the table from the campaign's rules, each checked.
    pub fn new(rules: &BTreeMap<String, RetryRule>) -> Result<Self, RetryRuleError> {
        let mut out = Vec::with_capacity(rules.len());
        for (result, rule) in rules {
            if result.is_empty() || result.trim() != result {
                return Err(RetryRuleError::NotAResult(result.clone()));
            }
            let retry = match rule {
                RetryRule::Never(_) => None,
                RetryRule::After { after, max } => {
                    let after_ms =
                        parse_duration_ms(after).map_err(|source| RetryRuleError::BadDelay {
                            result: result.clone(),
                            source,
                        })?;
                    Some(Retry {
                        after_ms,
                        max: *max,
                    })
                }
            };
            out.push((result.clone(), retry));
        }
        Ok(Self { rules: out })
    }

    /// The rule that applies to `result`, if any.
    pub fn rule_for(&self, result: &str) -> Option<Retry> {
        if let Some((_, r)) = self.rules.iter().find(|(k, _)| k == result) {
            return *r;
        }
        self.rules
            .iter()
            .filter_map(|(k, r)| {
                k.strip_suffix('*')
                    .filter(|p| result.starts_with(p))
                    .map(|p| (p.len(), r))
            })
            .max_by_key(|(len, _)| *len)
            .and_then(|(_, r)| *r)
    }

    /// After an attempt ended in `result`: `times` is how often the lead has now ended in
    /// this result (this attempt included), `attempts` how many attempts it has had in
    /// all, `max_attempts` the campaign's cap on attempts per lead.
    pub fn decide(&self, result: &str, times: u32, attempts: u32, max_attempts: u32) -> Next {
        if attempts >= max_attempts {
            return Next::Done;
        }
        match self.rule_for(result) {
            // `max` counts retries: the first time is the attempt itself.
            Some(rule) if times <= rule.max => Next::RetryAfter(rule.after_ms),
            _ => Next::Done,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::call::FailureReason;

    fn policy() -> RetryPolicy {
        RetryPolicy::new(&default_rules()).unwrap()
    }

    #[test]
    fn busy_is_retried_three_times_after_ten_minutes() {
        let p = policy();
        assert_eq!(p.decide("busy", 1, 1, 10), Next::RetryAfter(600_000));
        assert_eq!(p.decide("busy", 3, 3, 10), Next::RetryAfter(600_000));
        assert_eq!(p.decide("busy", 4, 4, 10), Next::Done);
    }

    #[test]
    fn the_attempt_cap_wins_over_the_rule() {
        assert_eq!(policy().decide("missed", 1, 2, 2), Next::Done);
    }

    #[test]
    fn final_and_unknown_results_are_done() {
        let p = policy();
        assert_eq!(p.decide("not_interested", 1, 1, 10), Next::Done);
        assert_eq!(p.decide("connected_to_operator", 1, 1, 10), Next::Done);
    }

    #[test]
    fn exact_entries_win_over_prefixes() {
        let mut rules = default_rules();
        rules.insert(
            FailureReason::SttQuota.result(),
            RetryRule::Never(NeverWord::Never),
        );
        let p = RetryPolicy::new(&rules).unwrap();
        assert_eq!(
            p.decide(&FailureReason::SttQuota.result(), 1, 1, 10),
            Next::Done
        );
        assert_eq!(
            p.decide(&FailureReason::Recording.result(), 1, 1, 10),
            Next::RetryAfter(300_000)
        );
    }

    #[test]
    fn a_bad_delay_names_its_key() {
        let rules = BTreeMap::from([(
            "busy".to_string(),
            RetryRule::After {
                after: "soon".into(),
                max: 1,
            },
        )]);
        let e = RetryPolicy::new(&rules).unwrap_err().to_string();
        assert!(e.starts_with("retries.busy.after:"), "{e}");
    }
}
