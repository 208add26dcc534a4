//! Names in a scenario: what makes a valid identifier, file or result name, and the
//! "did you mean" suggestions for a misspelt one.

use crate::core::scenario::{Outcome, VerbKind};

/// The names a node's declared outcomes (a classify's intents, a hook's outcomes) cannot
/// take: the verb's own outcomes, then the words every node's routes give a meaning.
pub(super) fn reserved_outcome_names(kind: VerbKind) -> Vec<String> {
    let own = kind.own_outcomes().iter().map(Outcome::name);
    own.chain(["default".to_string(), Outcome::Exhausted.name()])
        .collect()
}

/// The closest candidate, if it is close enough to be a likely typo: a small edit
/// distance, or a shared beginning (`conected` for `connected_to_operator`).
pub fn closest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .into_iter()
        .filter(|c| *c != word)
        .map(|c| {
            let edits = strsim::damerau_levenshtein(word, c);
            let close_edit = edits <= 2.max(word.len().min(c.len()) / 3);
            // Compare with the candidate's beginning too, so a misspelt start of a long
            // name still finds it.
            let head: String = c.chars().take(word.chars().count() + 1).collect();
            let similarity =
                strsim::jaro_winkler(word, c).max(strsim::jaro_winkler(word, &head) - 0.02);
            (close_edit, similarity, c)
        })
        .filter(|(close_edit, similarity, _)| *close_edit || *similarity >= 0.9)
        .max_by(|a, b| a.1.partial_cmp(&b.1).unwrap_or(std::cmp::Ordering::Equal))
        .map(|(_, _, c)| c)
}

pub(super) fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<String> {
    closest(word, candidates).map(|c| format!("did you mean `{c}`?"))
}

pub(super) fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

pub(super) fn is_file_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-'))
}

pub(super) fn is_result_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | ':' | '*'))
        && name.find('*').is_none_or(|i| i == name.len() - 1)
}

// ---------------------------------------------------------------------------------------
// The semantic passes.

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_likely_typos() {
        assert_eq!(
            closest("conected", ["connected_to_operator", "not_interested"]),
            Some("connected_to_operator")
        );
        assert_eq!(closest("listn", ["listen", "hello"]), Some("listen"));
        assert_eq!(closest("zzz", ["listen", "hello"]), None);
    }
}
