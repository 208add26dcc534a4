//! The graph pass: node names become ids, the start node is found, and the whole flow
//! is checked (every node reachable, every path able to end, every loop bounded).

use std::collections::{HashMap, HashSet};
use std::ops::Range;

use petgraph::graph::DiGraph;

use super::Cx;
use super::names::{did_you_mean, is_identifier};
use super::parse::{Header, NodeEntry};
use crate::core::analysis::{self, Problem};
use crate::core::diagnostic::{Code, Severity};
use crate::core::scenario::{GraphVertex, Node, NodeId, Outcome};

/// Words a route gives a meaning of its own, so no node may take them as a name.
const RESERVED_NODE_NAMES: &[&str] = &["end", "default"];

impl Cx<'_> {
    /// Each well-named node's id by name; a repeated name keeps its first node. `None`
    /// when there are no nodes, or too many to number.
    pub(super) fn node_ids(
        &mut self,
        header: &Header,
        nodes: &[NodeEntry],
    ) -> Option<HashMap<String, NodeId>> {
        let mut ids: HashMap<String, NodeId> = HashMap::new();
        let mut first_at: HashMap<String, usize> = HashMap::new();
        for (i, entry) in nodes.iter().enumerate() {
            let n = entry.name.value.as_str();
            let bytes = self.span(&entry.name.referenced);
            if !is_identifier(n) {
                self.error(Code::BadName, bytes.clone(), format!("node name `{n}` must be an identifier (letters, digits, `_`; not starting with a digit)"));
            } else if RESERVED_NODE_NAMES.contains(&n) {
                self.error(
                    Code::BadName,
                    bytes.clone(),
                    format!("`{n}` is reserved and cannot name a node"),
                );
            } else if let Some(first) = first_at.get(n) {
                let (line, _) = self.src.line_col(*first);
                self.error(
                    Code::DuplicateName,
                    bytes,
                    format!("node `{n}` is defined twice (first on line {line})"),
                );
                continue;
            }
            first_at.insert(n.to_string(), bytes.start);
            ids.insert(n.to_string(), NodeId(i as u16));
        }
        self.node_count(header, nodes.len())?;
        Some(ids)
    }

    fn node_count(&mut self, header: &Header, count: usize) -> Option<()> {
        if count == 0 {
            self.error(
                Code::YamlSchema,
                self.span(&header.nodes.referenced),
                "a scenario needs at least one node",
            );
            return None;
        }
        if count > u16::MAX as usize {
            self.error(
                Code::BadValue,
                self.span(&header.nodes.referenced),
                "a scenario may have at most 65535 nodes",
            );
            return None;
        }
        Some(())
    }

    /// The node `start:` names, or the first node.
    pub(super) fn start(&mut self, header: &Header, ids: &HashMap<String, NodeId>) -> NodeId {
        let Some(s) = &header.start else {
            return NodeId(0);
        };
        if let Some(id) = ids.get(&s.value) {
            return *id;
        }
        let help = did_you_mean(&s.value, ids.keys().map(String::as_str));
        let bytes = self.span(&s.referenced);
        self.push(
            Severity::Error,
            Code::UnknownTarget,
            bytes,
            format!("start node `{}` does not exist", s.value),
            help,
        );
        NodeId(0)
    }

    /// Reports what is wrong with the flow as a whole, each at the name of a node it
    /// concerns.
    pub(super) fn check_graph(
        &mut self,
        entries: &[NodeEntry],
        nodes: &[Node],
        start: NodeId,
        ids: &HashMap<String, NodeId>,
        graph: &DiGraph<GraphVertex, Outcome>,
    ) {
        let name_spans: Vec<Range<usize>> = entries
            .iter()
            .map(|e| self.span(&e.name.referenced))
            .collect();
        // A route that failed to resolve makes its target look unreachable: that warning
        // would only repeat the error.
        let broken_routes = self.diags.iter().any(|d| d.code == Code::UnknownTarget);
        let problems = analysis::check(nodes, start, graph);
        let stuck: HashSet<NodeId> = problems
            .iter()
            .filter_map(|p| match p {
                Problem::NeverEnds(ids) => Some(ids.iter().copied()),
                _ => None,
            })
            .flatten()
            .collect();
        for problem in problems {
            let repeats = match &problem {
                // A second node of the same name is reported as a duplicate already.
                Problem::Unreachable(id) => {
                    broken_routes || ids.get(&nodes[id.index()].name) != Some(id)
                }
                // A loop that cannot end at all is reported once, as never-ends.
                Problem::UnboundedCycle(ids) => ids.iter().all(|id| stuck.contains(id)),
                Problem::NeverEnds(_) => false,
            };
            if !repeats {
                let (severity, code, node, message) = describe(problem, nodes, start);
                self.push(
                    severity,
                    code,
                    name_spans[node.index()].clone(),
                    message,
                    None,
                );
            }
        }
    }
}

/// A problem's severity, code, the node it is reported at, and its message.
fn describe(problem: Problem, nodes: &[Node], start: NodeId) -> (Severity, Code, NodeId, String) {
    match problem {
        Problem::Unreachable(id) => (
            Severity::Warning,
            Code::UnreachableNode,
            id,
            format!(
                "node `{}` is never reached from the start node `{}`",
                nodes[id.index()].name,
                nodes[start.index()].name
            ),
        ),
        Problem::NeverEnds(ids) => (
            Severity::Error,
            Code::NeverEnds,
            ids[0],
            format!(
                "no path from {} ends the call (add a route to `end` or a `hangup` node)",
                name_list(nodes, &ids)
            ),
        ),
        Problem::UnboundedCycle(ids) => (
            Severity::Error,
            Code::UnboundedCycle,
            ids[0],
            format!(
                "the loop through {} can repeat forever: give one of its nodes `max_visits`",
                name_list(nodes, &ids)
            ),
        ),
    }
}

fn name_list(nodes: &[Node], ids: &[NodeId]) -> String {
    ids.iter()
        .map(|id| format!("`{}`", nodes[id.index()].name))
        .collect::<Vec<_>>()
        .join(" → ")
}
