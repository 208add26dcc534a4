//! The agents' part of `dialflow.yaml`: what the agent API accepts from every agent,
//! whatever the campaign (the break reasons they may choose).

use serde::{Deserialize, Serialize};

/// `agents:`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentsConfig {
    /// The reasons an agent may give for a break (`break:lunch` in their state and
    /// the reports).
    #[serde(default = "default_break_reasons")]
    pub break_reasons: Vec<String>,
}

impl Default for AgentsConfig {
    fn default() -> Self {
        AgentsConfig {
            break_reasons: default_break_reasons(),
        }
    }
}

fn default_break_reasons() -> Vec<String> {
    ["lunch", "training", "meeting", "personal"]
        .map(String::from)
        .to_vec()
}

impl AgentsConfig {
    /// What is wrong with the break reasons, if anything: none at all (no agent could
    /// take a break), one given twice, or one that is not a plain word (they are part
    /// of a state's name and a report's column).
    pub fn break_reasons_problem(&self) -> Option<String> {
        if self.break_reasons.is_empty() {
            return Some("is empty: no agent could take a break".into());
        }
        for (i, reason) in self.break_reasons.iter().enumerate() {
            let word = !reason.is_empty()
                && reason
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
            if !word {
                return Some(format!(
                    "`{reason}` is not a break reason (lower-case letters, digits and `_`)"
                ));
            }
            if self.break_reasons[..i].contains(reason) {
                return Some(format!("`{reason}` is given twice"));
            }
        }
        None
    }

    /// Whether an agent may give `reason` for a break.
    pub fn allows_break(&self, reason: &str) -> bool {
        self.break_reasons.iter().any(|r| r == reason)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reasons(list: &[&str]) -> AgentsConfig {
        AgentsConfig {
            break_reasons: list.iter().map(|r| r.to_string()).collect(),
        }
    }

    #[test]
    fn the_default_reasons_pass_and_broken_lists_say_why() {
        let default = AgentsConfig::default();
        assert_eq!(default.break_reasons_problem(), None);
        assert!(default.allows_break("lunch") && !default.allows_break("nap"));
        for (list, said) in [
            (&[][..], "is empty"),
            (&["lunch", "Lunch"][..], "`Lunch` is not a break reason"),
            (&["a b"][..], "`a b` is not"),
            (&["lunch", "lunch"][..], "`lunch` is given twice"),
        ] {
            let problem = reasons(list).break_reasons_problem().unwrap();
            assert!(problem.contains(said), "{list:?}: {problem}");
        }
    }
}
