//! Pictures of a compiled flow: Mermaid (renders on GitHub and in most wikis) and
//! Graphviz DOT. Nodes show their verb and what they play; edges show their outcomes
//! and the result they set, so product people can review a flow without reading YAML.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::call::FAILED_PREFIX;
use super::expr::format_duration_ms;
use super::scenario::{Node, Outcome, Route, Scenario, Target, Verb};

/// One arrow between two vertices, with every outcome that takes it.
pub struct Arrow {
    /// The node it leaves (its index).
    pub from: usize,
    /// `None` is the end of the call.
    pub to: Option<usize>,
    /// One label per outcome: the outcome, and the result it sets.
    pub labels: Vec<String>,
    /// The outcomes' names (`Outcome::name`), in the labels' order.
    pub outcomes: Vec<String>,
}

/// Every arrow of the flow, the outcomes between the same two vertices together.
pub fn arrows(scenario: &Scenario) -> Vec<Arrow> {
    // (from, to) → (label, outcome name) of each outcome taking that arrow.
    type Labels = Vec<(String, String)>;
    let mut grouped: BTreeMap<(usize, Option<usize>), Labels> = BTreeMap::new();
    let mut order: Vec<(usize, Option<usize>)> = Vec::new();
    for (i, node) in scenario.nodes.iter().enumerate() {
        if node.verb.is_terminal() {
            let key = (i, None);
            order.push(key);
            grouped.entry(key).or_default();
        }
        for (outcome, route) in &node.routes {
            let to = match route.target {
                Target::Node(id) => Some(id.index()),
                Target::End => None,
            };
            let key = (i, to);
            if !grouped.contains_key(&key) {
                order.push(key);
            }
            grouped
                .entry(key)
                .or_default()
                .push((edge_label(node, outcome, route), outcome.name()));
        }
    }
    order
        .into_iter()
        .map(|key| {
            let (labels, outcomes) = grouped.remove(&key).unwrap_or_default().into_iter().unzip();
            Arrow {
                from: key.0,
                to: key.1,
                labels,
                outcomes,
            }
        })
        .collect()
}

fn edge_label(node: &Node, outcome: &Outcome, route: &Route) -> String {
    let mut label = match (outcome, &node.verb) {
        (Outcome::Case(i), Verb::Branch { cases }) => format!("when {}", cases[*i as usize].source),
        _ => outcome.name(),
    };
    if let Some(result) = &route.result {
        let _ = write!(label, " → {result}");
    } else if outcome.is_failure() {
        let _ = write!(label, " → {FAILED_PREFIX}*");
    }
    if route.report {
        label.push_str(" (report)");
    }
    label
}

/// A node's lines: its name, what its verb does, the result it sets, its visit cap.
pub fn node_label(node: &Node) -> Vec<String> {
    let mut lines = vec![node.name.clone()];
    let detail = match &node.verb {
        Verb::Play { prompts } => format!("play {}", prompts.join(", ")),
        Verb::Record {
            max_duration_ms,
            max_silence_ms,
            ..
        } => {
            format!(
                "record ≤{} (silence {})",
                format_duration_ms(*max_duration_ms),
                format_duration_ms(*max_silence_ms)
            )
        }
        Verb::Classify {
            filler: Some(f), ..
        } => format!("classify (filler {f})"),
        Verb::Classify { .. } => "classify".to_string(),
        Verb::Branch { .. } => "branch".to_string(),
        Verb::Gather {
            prompt, max_digits, ..
        } => match prompt {
            Some(p) => format!("gather {max_digits} digit(s) over {p}"),
            None => format!("gather {max_digits} digit(s)"),
        },
        Verb::ConnectAgent { queue, .. } => format!("connect agent of {queue}"),
        Verb::OriginateOperator { operator, hold, .. } => match hold {
            Some(h) => format!("call operator {operator} (hold {h})"),
            None => format!("call operator {operator}"),
        },
        Verb::Amd { .. } => "answering-machine detection".to_string(),
        Verb::VoicemailDrop { prompt } => format!("voicemail drop {prompt}"),
        Verb::Set { assignments } => {
            format!(
                "set {}",
                assignments
                    .iter()
                    .map(|(p, _)| p.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        }
        Verb::Hook { function, .. } => format!("hook {function}()"),
        Verb::Wait {
            duration_ms: Some(ms),
        } => format!("wait {}", format_duration_ms(*ms)),
        Verb::Wait { duration_ms: None } => "wait until hangup".to_string(),
        Verb::Hangup => "hang up".to_string(),
    };
    lines.push(detail);
    if let Some(result) = &node.set_result {
        lines.push(format!("result: {result}"));
    }
    if let Some(max) = node.max_visits {
        lines.push(format!("max visits: {max}"));
    }
    lines
}

fn mermaid_escape(text: &str) -> String {
    text.replace('"', "#quot;")
        .replace('<', "#lt;")
        .replace('>', "#gt;")
}

/// The flow as a Mermaid flowchart.
pub fn mermaid(scenario: &Scenario) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "---\ntitle: {} ({})\n---",
        mermaid_escape(&scenario.name),
        scenario.hash.short()
    );
    out.push_str("flowchart TD\n");
    out.push_str("    start((start))\n");
    for (i, node) in scenario.nodes.iter().enumerate() {
        let label = node_label(node)
            .iter()
            .map(|l| mermaid_escape(l))
            .collect::<Vec<_>>()
            .join("<br/>");
        let (open, close) = match node.verb {
            Verb::Branch { .. } => ("{", "}"),
            Verb::Classify { .. } | Verb::Amd { .. } | Verb::Hook { .. } => ("{{", "}}"),
            Verb::OriginateOperator { .. } => ("[[", "]]"),
            Verb::Hangup | Verb::VoicemailDrop { .. } => ("([", "])"),
            Verb::Record { .. } | Verb::Gather { .. } => ("[/", "/]"),
            _ => ("[", "]"),
        };
        let _ = writeln!(out, "    n{i}{open}\"{label}\"{close}");
    }
    out.push_str("    finish(((end)))\n");
    let _ = writeln!(out, "    start --> n{}", scenario.start.index());
    for arrow in arrows(scenario) {
        let to = arrow
            .to
            .map_or_else(|| "finish".to_string(), |t| format!("n{t}"));
        if arrow.labels.is_empty() {
            let _ = writeln!(out, "    n{} --> {to}", arrow.from);
        } else {
            let label = mermaid_escape(&arrow.labels.join(" / "));
            let _ = writeln!(out, "    n{} -->|\"{label}\"| {to}", arrow.from);
        }
    }
    out
}

fn dot_escape(text: &str) -> String {
    text.replace('\\', "\\\\").replace('"', "\\\"")
}

/// The flow as a Graphviz digraph.
pub fn dot(scenario: &Scenario) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "digraph \"{}\" {{", dot_escape(&scenario.name));
    out.push_str("    rankdir=TB;\n    node [fontname=\"Helvetica\", fontsize=11];\n    edge [fontname=\"Helvetica\", fontsize=9];\n");
    out.push_str("    start [shape=circle, label=\"start\"];\n");
    out.push_str("    finish [shape=doublecircle, label=\"end\"];\n");
    for (i, node) in scenario.nodes.iter().enumerate() {
        let label = node_label(node)
            .iter()
            .map(|l| dot_escape(l))
            .collect::<Vec<_>>()
            .join("\\n");
        let shape = match node.verb {
            Verb::Branch { .. } => "diamond",
            Verb::Classify { .. } | Verb::Amd { .. } | Verb::Hook { .. } => "hexagon",
            Verb::OriginateOperator { .. } => "box3d",
            Verb::Hangup | Verb::VoicemailDrop { .. } => "octagon",
            Verb::Record { .. } | Verb::Gather { .. } => "parallelogram",
            _ => "box",
        };
        let _ = writeln!(out, "    n{i} [shape={shape}, label=\"{label}\"];");
    }
    let _ = writeln!(out, "    start -> n{};", scenario.start.index());
    for arrow in arrows(scenario) {
        let to = arrow
            .to
            .map_or_else(|| "finish".to_string(), |t| format!("n{t}"));
        let _ = writeln!(
            out,
            "    n{} -> {to} [label=\"{}\"];",
            arrow.from,
            arrow
                .labels
                .iter()
                .map(|l| dot_escape(l))
                .collect::<Vec<_>>()
                .join("\\n")
        );
    }
    out.push_str("}\n");
    out
}
