//! The compiler never panics: not on arbitrary text, not on mangled versions of the
//! shipped scenarios. Every input gets a scenario or diagnostics.

use dialflow::core::compile::{Environment, compile};
use dialflow::core::diagnostic::SourceText;
use proptest::prelude::*;

const SHIPPED: [&str; 3] = [
    include_str!("../scenarios/salehi.yaml"),
    include_str!("../scenarios/agrad.yaml"),
    include_str!("../scenarios/reminder.yaml"),
];

/// Words that make mutations land on meaningful YAML and language tokens.
const TOKENS: &[&str] = &[
    ":",
    "- ",
    "{",
    "}",
    "[",
    "]",
    "\"",
    "'",
    "|",
    ">",
    "#",
    "&a",
    "*a",
    "<<: *a",
    "\n",
    "  ",
    "\t",
    "end",
    "next",
    "on",
    "when",
    "goto",
    "result",
    "play",
    "record",
    "classify",
    "branch",
    "gather",
    "set",
    "hook",
    "wait",
    "hangup",
    "amd",
    "max_visits",
    "hello",
    "listen",
    "yes",
    "no",
    "intent == ",
    " and ",
    " not in ",
    "{{",
    "}}",
    "10s",
    "-1",
    "0",
    "99999999999999999999",
    "~",
    "null",
    "true",
    "é",
    "\u{200b}",
    "ـ",
];

#[derive(Debug, Clone)]
enum Mutation {
    DeleteLine(usize),
    DuplicateLine(usize),
    SwapLines(usize, usize),
    Insert(usize, String),
    DeleteRange(usize, usize),
    Indent(usize, bool),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        any::<usize>().prop_map(Mutation::DeleteLine),
        any::<usize>().prop_map(Mutation::DuplicateLine),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Mutation::SwapLines(a, b)),
        (
            any::<usize>(),
            prop::sample::select(TOKENS).prop_map(str::to_string)
        )
            .prop_map(|(a, t)| Mutation::Insert(a, t)),
        (any::<usize>(), "[ -~]{0,6}").prop_map(|(a, t)| Mutation::Insert(a, t)),
        (any::<usize>(), 0usize..40).prop_map(|(a, n)| Mutation::DeleteRange(a, n)),
        (any::<usize>(), any::<bool>()).prop_map(|(a, b)| Mutation::Indent(a, b)),
    ]
}

fn apply(text: &str, m: &Mutation) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let n = lines.len().max(1);
    match m {
        Mutation::DeleteLine(i) => {
            if !lines.is_empty() {
                lines.remove(i % n);
            }
        }
        Mutation::DuplicateLine(i) => {
            if !lines.is_empty() {
                let l = lines[i % n].clone();
                lines.insert(i % n, l);
            }
        }
        Mutation::SwapLines(a, b) => {
            if !lines.is_empty() {
                lines.swap(a % n, b % n);
            }
        }
        Mutation::Indent(i, deeper) => {
            if !lines.is_empty() {
                let l = &mut lines[i % n];
                if *deeper {
                    l.insert_str(0, "  ");
                } else if l.starts_with("  ") {
                    l.drain(..2);
                }
            }
        }
        Mutation::Insert(at, token) => {
            let mut s = lines.join("\n");
            let mut pos = at % (s.len() + 1);
            while !s.is_char_boundary(pos) {
                pos -= 1;
            }
            s.insert_str(pos, token);
            return s;
        }
        Mutation::DeleteRange(at, len) => {
            let mut s = lines.join("\n");
            let mut start = at % (s.len() + 1);
            while !s.is_char_boundary(start) {
                start -= 1;
            }
            let mut end = (start + len).min(s.len());
            while !s.is_char_boundary(end) {
                end += 1;
            }
            s.replace_range(start..end, "");
            return s;
        }
    }
    lines.join("\n")
}

fn compiles_or_explains(text: &str) {
    let compiled = compile(SourceText::new("fuzz.yaml", text), &Environment::default());
    assert!(
        compiled.scenario.is_some() || compiled.has_errors(),
        "no scenario and no error for:\n{text}"
    );
    for d in &compiled.diagnostics {
        assert!(
            d.position.bytes.end <= text.len(),
            "span past the end: {d:?}"
        );
        assert!(
            text.is_char_boundary(d.position.bytes.start),
            "span splits a character: {d:?}"
        );
        assert!(d.position.line >= 1 && d.position.column >= 1);
    }
    let _ = dialflow::render::human(&compiled.diagnostics, &compiled.sources, false);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_text(text in "\\PC{0,400}") {
        compiles_or_explains(&text);
    }

    #[test]
    fn yaml_shaped_text(parts in prop::collection::vec(prop::sample::select(TOKENS), 0..80)) {
        compiles_or_explains(&parts.concat());
    }

    #[test]
    fn mutated_shipped_scenarios(which in 0usize..3, mutations in prop::collection::vec(mutation(), 1..6)) {
        let mut text = SHIPPED[which].to_string();
        for m in &mutations {
            text = apply(&text, m);
        }
        compiles_or_explains(&text);
    }
}
