//! Word rules for intents: the scenario's own keywords and patterns first, then built-in
//! English and Persian cues for the seed intents (yes, no, number_question); anything
//! else is `unknown`. Text is normalised first (case, punctuation, Persian and Arabic
//! letter variants, digits), so `بله`, `بلہ`-style variants and `Yes!` all match.

use std::sync::LazyLock;

use regex::Regex;

use crate::core::call::Classification;
use crate::core::scenario::IntentRule;

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

/// Normalises text for matching: lower case, one spelling of Persian/Arabic letters,
/// ASCII digits, no diacritics or punctuation, single spaces.
pub fn normalize(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars().flat_map(char::to_lowercase) {
        let mapped = match c {
            'ي' | 'ى' => 'ی',
            'ك' => 'ک',
            'ة' => 'ه',
            'أ' | 'إ' | 'آ' | 'ٱ' => 'ا',
            'ؤ' => 'و',
            '\u{064B}'..='\u{0652}' | '\u{0640}' => continue,
            '۰'..='۹' => char::from(b'0' + (c as u32 - '۰' as u32) as u8),
            '٠'..='٩' => char::from(b'0' + (c as u32 - '٠' as u32) as u8),
            '\u{200C}' | '\u{200D}' => ' ',
            c if c.is_alphanumeric() => c,
            _ => ' ',
        };
        if mapped == ' ' {
            if !out.ends_with(' ') && !out.is_empty() {
                out.push(' ');
            }
        } else {
            out.push(mapped);
        }
    }
    out.trim_end().to_string()
}

/// Whether `phrase` (normalised) occurs in `text` (normalised) as whole words.
fn has_phrase(text: &str, phrase: &str) -> bool {
    let phrase = normalize(phrase);
    !phrase.is_empty() && format!(" {text} ").contains(&format!(" {phrase} "))
}

/// Classifies a transcript into one of `intents` (or `unknown`); nothing said is `Empty`.
pub fn classify(transcript: &str, intents: &[String]) -> Classification {
    classify_with(transcript, intents, &[])
}

/// Like [`classify`], trying the scenario's own rules before the built-in ones.
pub fn classify_with(transcript: &str, intents: &[String], rules: &[IntentRule]) -> Classification {
    let text = transcript.trim();
    let normal = normalize(text);
    if normal.is_empty() {
        return Classification::Empty;
    }
    let by_scenario = rules.iter().find(|r| {
        intents.contains(&r.intent)
            && (r.keywords.iter().any(|k| has_phrase(&normal, k))
                || r.patterns.iter().any(|p| p.is_match(&normal)))
    });
    let intent = match by_scenario {
        Some(rule) => rule.intent.as_str(),
        None => RULES
            .iter()
            .find(|(intent, re)| {
                intents.iter().any(|i| i == intent)
                    && !rules.iter().any(|r| r.intent == *intent)
                    && re.is_match(&normal)
            })
            .map_or("unknown", |(intent, _)| intent),
    };
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
        // Arabic letter variants and Persian digits normalise.
        assert_eq!(normalize("بلي، ۱۲۳ !"), "بلی 123");
    }

    #[test]
    fn scenario_rules_come_first() {
        let intents: Vec<String> = ["yes", "no", "later", "unknown"].map(String::from).to_vec();
        let rules = vec![
            IntentRule {
                intent: "later".into(),
                keywords: vec!["call me later".into(), "بعدا".into()],
                patterns: vec![],
            },
            IntentRule {
                intent: "yes".into(),
                keywords: vec!["absolutely".into()],
                patterns: vec![regex::Regex::new("(?i)^ok+ay?$").unwrap()],
            },
        ];
        let of = |t: &str| match classify_with(t, &intents, &rules) {
            Classification::Intent { intent, .. } => intent,
            other => format!("{other:?}"),
        };
        assert_eq!(of("Please, CALL me later!"), "later");
        assert_eq!(of("بعدا زنگ بزنید"), "later");
        assert_eq!(of("Absolutely."), "yes");
        assert_eq!(of("okay"), "yes");
        // The scenario has rules for `yes`: the built-in cues for it no longer apply.
        assert_eq!(of("yes"), "unknown");
        // No scenario rules for `no`: the built-in ones still do.
        assert_eq!(of("no thanks"), "no");
    }
}
