//! Only `src/ari` knows ARI's paths: no string literal outside it holds `/ari/` (or is
//! the bare segment `"ari"`, a path taken apart by hand). Others build paths with
//! `ari::paths` and read them back with `ari::route::Route`.

mod common;
use common::dirs::rust_files;

use std::fs;
use std::path::Path;

/// The string literals of Rust source, each with the line it starts on. Comments (doc
/// comments included) are skipped: they may name paths. Handles escapes, raw strings
/// (`r#"…"#`), byte strings, and tells char literals from lifetimes.
fn string_literals(source: &str) -> Vec<(usize, String)> {
    let chars: Vec<char> = source.chars().collect();
    let mut found = Vec::new();
    let (mut i, mut line) = (0, 1);
    let at = |i: usize| chars.get(i).copied().unwrap_or('\0');
    while i < chars.len() {
        let c = chars[i];
        match c {
            '\n' => line += 1,
            '/' if at(i + 1) == '/' => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
                continue;
            }
            '/' if at(i + 1) == '*' => {
                let mut depth = 0;
                while i < chars.len() {
                    if chars[i] == '/' && at(i + 1) == '*' {
                        depth += 1;
                        i += 1;
                    } else if chars[i] == '*' && at(i + 1) == '/' {
                        depth -= 1;
                        i += 1;
                        if depth == 0 {
                            i += 1;
                            break;
                        }
                    } else if chars[i] == '\n' {
                        line += 1;
                    }
                    i += 1;
                }
                continue;
            }
            'r' if !at(i.wrapping_sub(1)).is_alphanumeric()
                && (at(i + 1) == '"' || (at(i + 1) == '#' && matches!(at(i + 2), '"' | '#'))) =>
            {
                let mut hashes = 0;
                i += 1;
                while at(i) == '#' {
                    hashes += 1;
                    i += 1;
                }
                let closing: Vec<char> = std::iter::once('"')
                    .chain(std::iter::repeat_n('#', hashes))
                    .collect();
                let (start, body_start) = (line, i + 1);
                i = body_start;
                while i < chars.len() && !chars[i..].starts_with(&closing) {
                    if chars[i] == '\n' {
                        line += 1;
                    }
                    i += 1;
                }
                found.push((
                    start,
                    chars[body_start..i.min(chars.len())].iter().collect(),
                ));
                i += closing.len();
                continue;
            }
            '"' => {
                let start = line;
                let mut text = String::new();
                i += 1;
                while i < chars.len() && chars[i] != '"' {
                    if chars[i] == '\\' {
                        text.push(chars[i]);
                        i += 1;
                    }
                    if at(i) == '\n' {
                        line += 1;
                    }
                    text.push(at(i));
                    i += 1;
                }
                found.push((start, text));
            }
            // A char literal (`'"'`, `'\''`), not a lifetime (`'a`).
            '\'' if at(i + 1) == '\\' => {
                i += 2;
                while i < chars.len() && chars[i] != '\'' {
                    i += 1;
                }
            }
            '\'' if at(i + 2) == '\'' => i += 2,
            _ => {}
        }
        i += 1;
    }
    found
}

/// `file:line: literal` for every literal in `source` that spells an ARI path.
fn offences(file: &str, source: &str) -> Vec<String> {
    string_literals(source)
        .into_iter()
        .filter(|(_, text)| text.contains("/ari/") || text == "ari")
        .map(|(line, text)| format!("{file}:{line}: \"{text}\""))
        .collect()
}

#[test]
fn no_ari_path_is_spelled_outside_src_ari() {
    let files = rust_files(Path::new("src"));
    assert!(files.len() > 20, "src/ walked");
    let mut found = Vec::new();
    for file in files {
        if file.starts_with("src/ari") {
            continue;
        }
        let source = fs::read_to_string(&file).unwrap();
        let mut here = offences(&file.display().to_string(), &source);
        // In the configuration, `ari` names the section of dialflow.yaml, not a path.
        if file.starts_with("src/config") {
            here.retain(|offence| !offence.ends_with(": \"ari\""));
        }
        found.extend(here);
    }
    assert!(
        found.is_empty(),
        "ARI paths belong in src/ari (ari::paths to build, ari::route::Route to parse):\n{}",
        found.join("\n")
    );
}

#[test]
fn the_scan_finds_paths_in_code_and_not_in_comments() {
    let source = r##"//! Serves `/ari/channels`.
/// `DELETE /ari/channels/{id}`
fn f(id: &str) -> String {
    let quote = '"'; let escaped = '\''; let _: &'static str = "x";
    /* "/ari/hidden" in a block comment */
    format!("/ari/channels/{id}") // "/ari/" in a trailing comment
}
const URL: &str = "ws://{}/ari/events";
const RAW: &str = r#"/ari/bridges "quoted""#;
const SPLIT: [&str; 2] = ["", "ari"];
const ESCAPED: &str = "say \"/ari/recordings\"";
"##;
    assert_eq!(
        offences("x.rs", source),
        [
            "x.rs:6: \"/ari/channels/{id}\"",
            "x.rs:8: \"ws://{}/ari/events\"",
            "x.rs:9: \"/ari/bridges \"quoted\"\"",
            "x.rs:10: \"ari\"",
            "x.rs:11: \"say \\\"/ari/recordings\\\"\"",
        ]
    );
}
