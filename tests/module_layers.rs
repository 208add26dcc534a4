//! The module layering drawn in ARCHITECTURE.md ("Layers"), held against the code: every
//! `crate::…` path in `src/` is an edge from its file's top-level module to the one it
//! names, and each edge must point to a lower layer. That rules out import cycles
//! between top-level modules (reported as cycles, with petgraph, when they exist), keeps
//! `core` importing nothing outside itself, and makes a new top-level module take a
//! place in the drawing before it builds.

mod common;
use common::dirs::rust_files;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use petgraph::algo::tarjan_scc;
use petgraph::graphmap::DiGraphMap;

/// Where an import was seen, for the message.
type Seen = BTreeMap<(String, String), String>;

#[test]
fn every_import_points_down_the_layers_of_architecture_md() {
    let layers = layers_of(&std::fs::read_to_string("ARCHITECTURE.md").unwrap());
    let edges = imports(Path::new("src"));
    let problems = check(&layers, &edges, &top_level_modules(Path::new("src")));
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_check_catches_a_cycle_an_upward_import_and_a_missing_module() {
    let layers = layers_of("## Layers\n\n```text\ndaemon\nhttp  dialer\ncore\n```\n");
    assert_eq!(layers["daemon"], 0);
    assert_eq!(layers["dialer"], 1);
    let edges: Seen = [
        (("http", "dialer"), "src/http/a.rs:3"),
        (("dialer", "http"), "src/dialer/b.rs:9"),
        (("core", "daemon"), "src/core/c.rs:1"),
    ]
    .into_iter()
    .map(|((a, b), at)| ((a.to_string(), b.to_string()), at.to_string()))
    .collect();
    let modules = ["daemon", "http", "dialer", "core", "sim"].map(String::from);
    let problems = check(&layers, &edges, &modules.into_iter().collect());
    let text = problems.join("\n");
    assert!(
        text.contains("import cycle: dialer → http → dialer"),
        "{text}"
    );
    assert!(
        text.contains("src/core/c.rs:1: `core` imports `daemon`"),
        "{text}"
    );
    assert!(
        text.contains("src/dialer/b.rs:9: `dialer` imports `http`"),
        "{text}"
    );
    assert!(text.contains("`sim` is in no layer"), "{text}");
    assert_eq!(
        imports_in("use crate::{a::b, c::{d, e}};\nx = crate::f::g;"),
        ["a", "c", "f"]
    );
    assert!(imports_in("// crate::a in a comment\n/// and crate::b in a doc").is_empty());
}

/// Each layer's modules, numbered from the top (0) down, read from the fenced block
/// under the `## Layers` heading.
fn layers_of(markdown: &str) -> BTreeMap<String, usize> {
    let section = format!("\n{markdown}");
    let section = section
        .split("\n## Layers")
        .nth(1)
        .expect("ARCHITECTURE.md has a `## Layers` section");
    let block = section
        .split("```")
        .nth(1)
        .expect("the Layers section draws them in a fenced block");
    block
        .lines()
        .skip(1) // the fence's info string
        .filter(|line| !line.trim().is_empty())
        .enumerate()
        .flat_map(|(depth, line)| {
            let line = line.split('#').next().unwrap_or_default();
            line.split_whitespace()
                .map(move |module| (module.to_string(), depth))
                .collect::<Vec<_>>()
        })
        .collect()
}

/// `src/X.rs` and `src/X/`, but not the crate roots.
fn top_level_modules(src: &Path) -> BTreeSet<String> {
    std::fs::read_dir(src)
        .unwrap()
        .flatten()
        .filter_map(|entry| {
            let path = entry.path();
            let name = path.file_stem()?.to_str()?.to_string();
            let is_module = path.is_dir() || path.extension().is_some_and(|e| e == "rs");
            (is_module && name != "lib" && name != "main").then_some(name)
        })
        .collect()
}

/// Every edge between different top-level modules, with the first place it is seen.
fn imports(src: &Path) -> Seen {
    let mut seen = Seen::new();
    for file in rust_files(src) {
        let relative = file.strip_prefix(src).unwrap();
        let from = relative.iter().next().unwrap().to_str().unwrap();
        let from = from.strip_suffix(".rs").unwrap_or(from).to_string();
        if from == "lib" || from == "main" {
            continue;
        }
        let text = std::fs::read_to_string(&file).unwrap();
        for (number, line) in text.lines().enumerate() {
            for to in imports_in(line) {
                if to != from {
                    let at = format!("{}:{}", file.display(), number + 1);
                    seen.entry((from.clone(), to)).or_insert(at);
                }
            }
        }
    }
    seen
}

/// The top-level modules `text` names through `crate::`, outside comments.
fn imports_in(text: &str) -> Vec<String> {
    let mut names = Vec::new();
    for line in text.lines() {
        let code = line.split("//").next().unwrap_or_default();
        for (at, _) in code.match_indices("crate::") {
            let rest = &code[at + "crate::".len()..];
            match rest.strip_prefix('{') {
                Some(group) => names.extend(group_heads(group)),
                None => names.extend(ident(rest)),
            }
        }
    }
    names
}

/// The first segment of each path in a `{a::b, c::{d, e}}` group.
fn group_heads(group: &str) -> Vec<String> {
    let (mut depth, mut heads, mut at_start) = (0usize, Vec::new(), true);
    for (i, c) in group.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => break,
            '}' => depth -= 1,
            ',' if depth == 0 => at_start = true,
            c if at_start && !c.is_whitespace() => {
                heads.extend(ident(&group[i..]));
                at_start = false;
            }
            _ => {}
        }
    }
    heads
}

fn ident(text: &str) -> Option<String> {
    let name: String = text
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect();
    (!name.is_empty() && name != "self").then_some(name)
}

/// Cycles first (the clearest message), then each import that does not point down.
fn check(
    layers: &BTreeMap<String, usize>,
    edges: &Seen,
    modules: &BTreeSet<String>,
) -> Vec<String> {
    let mut problems: Vec<String> = modules
        .iter()
        .filter(|m| !layers.contains_key(*m))
        .map(|m| format!("`{m}` is in no layer of ARCHITECTURE.md's Layers"))
        .collect();
    let graph: DiGraphMap<&str, ()> = edges
        .keys()
        .map(|(from, to)| (from.as_str(), to.as_str()))
        .collect();
    for mut cycle in tarjan_scc(&graph).into_iter().filter(|c| c.len() > 1) {
        cycle.sort_unstable();
        let first = cycle[0];
        problems.push(format!("import cycle: {} → {first}", cycle.join(" → ")));
    }
    for ((from, to), at) in edges {
        let (Some(a), Some(b)) = (layers.get(from), layers.get(to)) else {
            continue;
        };
        if a >= b {
            problems.push(format!(
                "{at}: `{from}` imports `{to}`, which is not in a layer below it"
            ));
        }
    }
    problems
}
