//! The parse pass: YAML text to the spanned source tree (`core::source`). The header is
//! parsed once and each node on its own, so a YAML mistake in one node hides neither the
//! others' mistakes nor their semantic checks.

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};

use super::Cx;
use super::diag::is_syntax_error;
use crate::core::source::{NodeSrc, OrderedMap, S, ScenarioSrc};

/// The scenario's header: everything but the nodes, which are parsed one by one.
pub(super) type Header = ScenarioSrc<IgnoredAny>;

/// A node as far as it parsed, with the location of its name.
pub(super) struct NodeEntry {
    pub(super) name: S<String>,
    /// `None` when the node's YAML did not parse (reported already).
    pub(super) src: Option<NodeSrc>,
}

/// Node names only, for when the header itself does not parse.
#[derive(serde::Deserialize)]
struct NamesOnly {
    nodes: OrderedMap<IgnoredAny>,
}

impl Cx<'_> {
    /// Parses the file: whole when it can; otherwise the header, then node by node, to
    /// report every YAML mistake. `None` when the header is missing or a syntax error
    /// leaves nothing to check further.
    pub(super) fn parse(&mut self) -> Option<(Header, Vec<NodeEntry>)> {
        let text = &self.src.text;
        // Fast path: a file that parses whole needs one pass. Only a file with YAML
        // mistakes is parsed again node by node, to find every mistake.
        if let Ok(full) =
            serde_saphyr::from_str_with_options::<ScenarioSrc<NodeSrc>>(text, yaml_options())
        {
            let (header, nodes) = full.split();
            let nodes = nodes
                .into_iter()
                .map(|(name, src)| NodeEntry {
                    name,
                    src: Some(src),
                })
                .collect();
            return Some((header, nodes));
        }
        let header = match parse_header(text) {
            Ok(h) => Some(h),
            Err(err) => {
                self.yaml_error(&err);
                if is_syntax_error(&err) {
                    return None;
                }
                None
            }
        };
        let nodes = self.parse_nodes(header.as_ref());
        Some((header?, nodes))
    }

    /// Each node on its own, its YAML errors reported with their true positions.
    fn parse_nodes(&mut self, header: Option<&Header>) -> Vec<NodeEntry> {
        let text = &self.src.text;
        // Node names: from the header, or (when the header failed) from a names-only parse.
        let names: Vec<S<String>> = match header {
            Some(h) => h.nodes.value.0.iter().map(|(k, _)| k.clone()).collect(),
            None => match serde_saphyr::from_str_with_options::<NamesOnly>(text, yaml_options()) {
                Ok(n) => n.nodes.0.into_iter().map(|(k, _)| k).collect(),
                Err(_) => Vec::new(),
            },
        };
        let mut nodes = Vec::with_capacity(names.len());
        for (i, name) in names.into_iter().enumerate() {
            let src = match parse_node(text, i) {
                Ok(n) => Some(n),
                Err(err) => {
                    self.yaml_error(&err);
                    None
                }
            };
            nodes.push(NodeEntry { name, src });
        }
        nodes
    }
}

pub(super) fn yaml_options() -> serde_saphyr::Options {
    let mut options = serde_saphyr::Options::default();
    options.with_snippet = false;
    // YAML 1.2 booleans only: `yes` and `no` are intents and prompt names, not booleans.
    options.strict_booleans = true;
    // Repeated keys reach our own visitors, which report them as duplicate nodes,
    // results or routes with both places, instead of a generic YAML error.
    options.duplicate_keys = serde_saphyr::DuplicateKeyPolicy::PassThrough;
    options
}

pub(super) fn parse_header(text: &str) -> Result<Header, serde_saphyr::Error> {
    serde_saphyr::from_str_with_options(text, yaml_options())
}

/// Parses the `index`-th entry of `nodes:` and skips everything else, so its errors
/// carry their true positions in the file.
pub(super) fn parse_node(text: &str, index: usize) -> Result<NodeSrc, serde_saphyr::Error> {
    serde_saphyr::with_deserializer_from_str_with_options(text, yaml_options(), |d| {
        FocusRoot { index }
            .deserialize(d)?
            .ok_or_else(|| de::Error::custom("node not found"))
    })
}

struct FocusRoot {
    index: usize,
}

impl<'de> DeserializeSeed<'de> for FocusRoot {
    type Value = Option<NodeSrc>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for FocusRoot {
    type Value = Option<NodeSrc>;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a scenario mapping")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut found = None;
        while let Some(key) = map.next_key::<String>()? {
            if key == "nodes" {
                found = map.next_value_seed(FocusNodes { index: self.index })?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(found)
    }
}

struct FocusNodes {
    index: usize,
}

impl<'de> DeserializeSeed<'de> for FocusNodes {
    type Value = Option<NodeSrc>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for FocusNodes {
    type Value = Option<NodeSrc>;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a mapping of node names to nodes")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut found = None;
        let mut i = 0;
        while map.next_key::<IgnoredAny>()?.is_some() {
            if i == self.index {
                found = Some(map.next_value::<NodeSrc>()?);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
            i += 1;
        }
        Ok(found)
    }
}
