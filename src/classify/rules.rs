//! Word rules for intents: the classifier of last resort, and the intent half of the
//! simulated provider. English and Persian cues for the seed intents (yes, no,
//! number_question); anything else is `unknown`.

use std::sync::LazyLock;

use regex::Regex;

use crate::core::call::Classification;

/// (intent, pattern) in priority order: a question about the number wins over a "yes".
static RULES: LazyLock<Vec<(&'static str, Regex)>> = LazyLock::new(|| {
    [
        ("number_question", r"\bnumber\b|\bwho gave\b|شماره"),
        (
            "no",
            r"\bno\b|\bnot\b|\bnope\b|\bnever\b|نه|نمی\s*خوام|علاقه\s*ندارم",
        ),
        (
            "yes",
            r"\byes\b|\byeah\b|\bsure\b|\binterested\b|بله|آره|باشه",
        ),
    ]
    .into_iter()
    .map(|(intent, pattern)| {
        (
            intent,
            Regex::new(&format!("(?i){pattern}")).expect("the built-in rules compile"),
        )
    })
    .collect()
});

/// Classifies a transcript into one of `intents` (or `unknown`); nothing said is `Empty`.
pub fn classify(transcript: &str, intents: &[String]) -> Classification {
    let text = transcript.trim();
    if text.is_empty() {
        return Classification::Empty;
    }
    let intent = RULES
        .iter()
        .find(|(intent, re)| intents.iter().any(|i| i == intent) && re.is_match(text))
        .map_or("unknown", |(intent, _)| intent);
    Classification::Intent {
        intent: intent.to_string(),
        transcript: text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn intent(text: &str) -> String {
        let intents: Vec<String> = ["yes", "no", "number_question", "unknown"]
            .map(String::from)
            .to_vec();
        match classify(text, &intents) {
            Classification::Intent { intent, .. } => intent,
            other => format!("{other:?}"),
        }
    }

    #[test]
    fn classifies_the_seed_customers() {
        assert_eq!(intent("Yes, I am interested."), "yes");
        assert_eq!(intent("No, thank you."), "no");
        assert_eq!(intent("Where did you get my number?"), "number_question");
        assert_eq!(intent("Who is this?"), "unknown");
        assert_eq!(intent("بله"), "yes");
        assert_eq!(intent("نه ممنون"), "no");
        assert_eq!(intent("شماره منو از کجا آوردید؟"), "number_question");
        assert_eq!(intent("  "), "Empty");
    }
}
