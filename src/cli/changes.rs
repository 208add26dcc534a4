//! What changed between two runs of `check` or `test` (for `--watch`): a pure function
//! of two snapshots, so the watch loop only prints its result.

use std::collections::BTreeMap;

/// What one run found, by a key that stays the same across runs for the same thing (a
/// diagnostic's file, code, message and occurrence; a test case's file and name), so a
/// line that merely moved is not news.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot(pub BTreeMap<String, Entry>);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub kind: Kind,
    /// The file it belongs to.
    pub group: String,
    /// Whether it is something wrong (a diagnostic, a failing case).
    pub bad: bool,
    /// The line to print, with its current place.
    pub shown: String,
    /// Lines printed under it (a failing case's failures).
    pub details: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Diagnostic,
    Case,
}

/// One thing that changed, with the entry as it is now (as it was, for what went away).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Wrong now, and was not (or did not exist).
    Broke(Entry),
    /// Was wrong, and is fine now or gone.
    Fixed(Entry),
    /// New, and fine: a case added to a file whose cases ran before (not every case of
    /// a file that compiles again, nor of a new file).
    Added(Entry),
    /// A failing case no longer run (its file stopped compiling, or the case was removed).
    Gone(Entry),
}

impl Entry {
    /// Something wrong that is not a test case: a diagnostic, a file that cannot be read.
    pub fn problem(group: String, shown: String) -> Entry {
        Entry {
            kind: Kind::Diagnostic,
            group,
            bad: true,
            shown,
            details: Vec::new(),
        }
    }
}

impl Snapshot {
    /// Whether any test case of `group` ran.
    fn ran_cases_of(&self, group: &str) -> bool {
        self.0
            .values()
            .any(|e| e.kind == Kind::Case && e.group == group)
    }

    pub fn insert(&mut self, key: String, entry: Entry) {
        self.0.insert(key, entry);
    }
}

/// What changed from `before` to `after`, in key order: what is new, then what went.
pub fn changes(before: &Snapshot, after: &Snapshot) -> Vec<Change> {
    let mut out = Vec::new();
    for (key, now) in &after.0 {
        match before.0.get(key) {
            Some(then) if then.bad == now.bad => {}
            Some(_) | None if now.bad => out.push(Change::Broke(now.clone())),
            Some(_) => out.push(Change::Fixed(now.clone())),
            None if before.ran_cases_of(&now.group) => out.push(Change::Added(now.clone())),
            None => {}
        }
    }
    for (key, then) in &before.0 {
        if then.bad && !after.0.contains_key(key) {
            out.push(match then.kind {
                Kind::Diagnostic => Change::Fixed(then.clone()),
                Kind::Case => Change::Gone(then.clone()),
            });
        }
    }
    out
}

/// A change as the lines to print.
pub fn describe(change: &Change) -> Vec<String> {
    let (label, entry) = match change {
        Change::Broke(e) if e.kind == Kind::Diagnostic => ("new      ", e),
        Change::Broke(e) => ("now FAILS", e),
        Change::Fixed(e) if e.kind == Kind::Diagnostic => ("fixed    ", e),
        Change::Fixed(e) => ("now passes", e),
        Change::Added(e) => ("new case ", e),
        Change::Gone(e) => ("not run  ", e),
    };
    let mut lines = vec![format!("{label} {}", entry.shown)];
    lines.extend(entry.details.iter().map(|d| format!("          {d}")));
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(kind: Kind, bad: bool, shown: &str) -> Entry {
        Entry {
            kind,
            group: "a.yaml".into(),
            bad,
            shown: shown.into(),
            details: vec![],
        }
    }

    fn snap(entries: &[(&str, Entry)]) -> Snapshot {
        Snapshot(
            entries
                .iter()
                .map(|(k, e)| (k.to_string(), e.clone()))
                .collect(),
        )
    }

    #[test]
    fn nothing_changed_is_no_news_even_when_a_line_moved() {
        let before = snap(&[(
            "a.yaml|unknown-target|x|0",
            entry(Kind::Diagnostic, true, "a.yaml:3:1 x"),
        )]);
        let after = snap(&[(
            "a.yaml|unknown-target|x|0",
            entry(Kind::Diagnostic, true, "a.yaml:4:1 x"),
        )]);
        assert_eq!(changes(&before, &after), vec![]);
    }

    #[test]
    fn a_new_diagnostic_and_a_fixed_one() {
        let old = entry(Kind::Diagnostic, true, "a.yaml:3:1 old");
        let new = entry(Kind::Diagnostic, true, "a.yaml:9:1 new");
        let before = snap(&[("old", old.clone())]);
        let after = snap(&[("new", new.clone())]);
        assert_eq!(
            changes(&before, &after),
            vec![Change::Broke(new), Change::Fixed(old)]
        );
    }

    #[test]
    fn cases_that_now_fail_now_pass_or_are_new() {
        let before = snap(&[
            ("t1", entry(Kind::Case, false, "t1")),
            ("t2", entry(Kind::Case, true, "t2")),
            ("t3", entry(Kind::Case, false, "t3")),
        ]);
        let after = snap(&[
            ("t1", entry(Kind::Case, true, "t1")),
            ("t2", entry(Kind::Case, false, "t2")),
            ("t3", entry(Kind::Case, false, "t3")),
            ("t4", entry(Kind::Case, false, "t4")),
        ]);
        assert_eq!(
            changes(&before, &after),
            vec![
                Change::Broke(entry(Kind::Case, true, "t1")),
                Change::Fixed(entry(Kind::Case, false, "t2")),
                Change::Added(entry(Kind::Case, false, "t4")),
            ]
        );
    }

    #[test]
    fn a_failing_case_that_is_no_longer_run_is_gone_not_passing() {
        let before = snap(&[
            ("gone-bad", entry(Kind::Case, true, "gone-bad")),
            ("gone-good", entry(Kind::Case, false, "gone-good")),
        ]);
        let broken = entry(Kind::Diagnostic, true, "a.yaml: does not compile");
        let after = snap(&[("a.yaml|compile", broken.clone())]);
        assert_eq!(
            changes(&before, &after),
            vec![
                Change::Broke(broken),
                Change::Gone(entry(Kind::Case, true, "gone-bad"))
            ]
        );
    }

    #[test]
    fn the_cases_of_a_file_that_compiles_again_are_not_news_unless_they_fail() {
        let broken = entry(Kind::Diagnostic, true, "a.yaml: does not compile");
        let before = snap(&[("a.yaml|compile", broken.clone())]);
        let after = snap(&[
            ("t1", entry(Kind::Case, false, "t1")),
            ("t2", entry(Kind::Case, true, "t2")),
        ]);
        assert_eq!(
            changes(&before, &after),
            vec![
                Change::Broke(entry(Kind::Case, true, "t2")),
                Change::Fixed(broken)
            ]
        );
    }

    #[test]
    fn a_failure_is_printed_with_its_details() {
        let mut e = entry(Kind::Case, true, "a.yaml:7  yes");
        e.details = vec!["result: expected `a`, got `b`".into()];
        let lines = describe(&Change::Broke(e));
        assert_eq!(lines.len(), 2);
        assert!(lines[0].starts_with("now FAILS a.yaml:7"), "{lines:?}");
        assert!(lines[1].ends_with("got `b`"), "{lines:?}");
    }
}
