//! Graph checks on a compiled flow: unreachable nodes, nodes that can never end the
//! call, and loops that nothing bounds.

use petgraph::algo::tarjan_scc;
use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::visit::{Dfs, Reversed};

use super::scenario::{GraphVertex, Node, NodeId, Outcome, Target};

/// The flow as a petgraph: vertex `i` is node `i`, the last vertex is the end of the call.
pub fn build_graph(nodes: &[Node]) -> DiGraph<GraphVertex, Outcome> {
    let mut graph = DiGraph::with_capacity(nodes.len() + 1, nodes.len() * 4);
    for i in 0..nodes.len() {
        graph.add_node(GraphVertex::Node(NodeId(i as u16)));
    }
    let end = graph.add_node(GraphVertex::End);
    for (i, node) in nodes.iter().enumerate() {
        let from = NodeIndex::new(i);
        if node.verb.is_terminal() {
            graph.add_edge(from, end, Outcome::Finished);
        }
        for (outcome, route) in &node.routes {
            let to = match route.target {
                Target::Node(id) => NodeIndex::new(id.index()),
                Target::End => end,
            };
            graph.add_edge(from, to, outcome.clone());
        }
    }
    graph
}

/// The vertex of the end of the call in a graph made by [`build_graph`].
pub fn end_vertex(graph: &DiGraph<GraphVertex, Outcome>) -> NodeIndex {
    NodeIndex::new(graph.node_count() - 1)
}

#[derive(Debug, PartialEq, Eq)]
pub enum Problem {
    Unreachable(NodeId),
    /// A group of nodes (in file order) from which the end of the call cannot be reached.
    NeverEnds(Vec<NodeId>),
    /// The nodes of a loop (in file order) that no `max_visits` bounds.
    UnboundedCycle(Vec<NodeId>),
}

pub fn check(nodes: &[Node], start: NodeId, graph: &DiGraph<GraphVertex, Outcome>) -> Vec<Problem> {
    let mut problems = Vec::new();
    let end = end_vertex(graph);

    let mut reachable = vec![false; graph.node_count()];
    let mut dfs = Dfs::new(graph, NodeIndex::new(start.index()));
    while let Some(v) = dfs.next(graph) {
        reachable[v.index()] = true;
    }
    for (i, seen) in reachable.iter().enumerate().take(nodes.len()) {
        if !seen {
            problems.push(Problem::Unreachable(NodeId(i as u16)));
        }
    }

    // Nodes that can reach the end: a search from the end over reversed edges.
    let mut ends = vec![false; graph.node_count()];
    let reversed = Reversed(graph);
    let mut dfs = Dfs::new(reversed, end);
    while let Some(v) = dfs.next(reversed) {
        ends[v.index()] = true;
    }
    let stuck: Vec<usize> = (0..nodes.len())
        .filter(|&i| reachable[i] && !ends[i])
        .collect();
    if !stuck.is_empty() {
        // One diagnostic per group of stuck nodes that reach each other.
        let sub = graph.filter_map(
            |i, w| stuck.contains(&i.index()).then_some(*w),
            |_, e| Some(e.clone()),
        );
        let mut groups: Vec<Vec<NodeId>> = tarjan_scc(&sub)
            .into_iter()
            .map(|scc| {
                let mut ids: Vec<NodeId> = scc
                    .into_iter()
                    .filter_map(|v| match sub[v] {
                        GraphVertex::Node(id) => Some(id),
                        GraphVertex::End => None,
                    })
                    .collect();
                ids.sort();
                ids
            })
            .filter(|g| !g.is_empty())
            .collect();
        groups.sort();
        problems.extend(groups.into_iter().map(Problem::NeverEnds));
    }

    // Loops that can repeat without entering a bounded node: in this graph a bounded node
    // keeps only its `exhausted` edge, because its other outcomes happen at most
    // `max_visits` times.
    let bounded = graph.filter_map(
        |_, w| Some(*w),
        |e, outcome| {
            let (from, _) = graph.edge_endpoints(e)?;
            let is_bounded = match graph[from] {
                GraphVertex::Node(id) => nodes[id.index()].max_visits.is_some(),
                GraphVertex::End => false,
            };
            (!is_bounded || *outcome == Outcome::Exhausted).then(|| outcome.clone())
        },
    );
    let mut cycles: Vec<Vec<NodeId>> = tarjan_scc(&bounded)
        .into_iter()
        .filter(|scc| scc.len() > 1 || bounded.contains_edge(scc[0], scc[0]))
        .map(|scc| {
            let mut ids: Vec<NodeId> = scc
                .into_iter()
                .filter_map(|v| match bounded[v] {
                    GraphVertex::Node(id) => Some(id),
                    GraphVertex::End => None,
                })
                .collect();
            ids.sort();
            ids
        })
        .filter(|ids| ids.iter().any(|id| reachable[id.index()]))
        .collect();
    cycles.sort();
    problems.extend(cycles.into_iter().map(Problem::UnboundedCycle));
    problems
}
