//! Where each key of `dialflow.yaml` was written: the file read once more as a tree of
//! keys with their lines, so a problem found after parsing (an unknown key, a value
//! that fails a check) still points at its line.

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;

/// A YAML node: only the mappings' keys and where they stand matter here (no key of
/// the configuration lies inside a list).
#[derive(Debug, Default)]
pub(super) enum Node {
    /// A scalar (its text when it is a string) or a list.
    #[default]
    Leaf,
    Text(String),
    Map(Vec<Entry>),
}

#[derive(Debug)]
pub(super) struct Entry {
    pub key: String,
    /// Line and column of the key.
    pub at: (usize, usize),
    pub value: Node,
}

impl Node {
    /// The file's keys (an empty tree when the text is not YAML: parsing reports that).
    pub fn read(text: &str) -> Node {
        serde_saphyr::from_str(text).unwrap_or_default()
    }

    /// Line and column of the key at a dotted `path` (`ari.timeout`).
    pub fn locate(&self, path: &str) -> Option<(usize, usize)> {
        let mut node = self;
        let mut at = None;
        for part in path.split('.') {
            let Node::Map(entries) = node else {
                return None;
            };
            let entry = entries.iter().find(|e| e.key == part)?;
            at = Some(entry.at);
            node = &entry.value;
        }
        at
    }

    /// The dotted path of the innermost key whose value holds position `at` (line,
    /// column: where a parse error points), if any.
    pub fn key_at(&self, at: (usize, usize)) -> Option<String> {
        let Node::Map(entries) = self else {
            return None;
        };
        // The last key written before the position holds it (a value runs to the next key).
        let entry = entries.iter().rev().find(|e| e.at <= at)?;
        match entry.value.key_at(at) {
            Some(inner) => Some(format!("{}.{inner}", entry.key)),
            None => Some(entry.key.clone()),
        }
    }

    /// The path and position of the first key under `path` whose value is the string
    /// `text`: where a value serde names (an unknown variant) was written, when serde
    /// could only point at the mapping around it.
    pub fn find_text(&self, path: &str, text: &str) -> Option<(String, (usize, usize))> {
        let mut node = self;
        for part in path.split('.').filter(|p| !p.is_empty()) {
            let Node::Map(entries) = node else {
                return None;
            };
            node = &entries.iter().find(|e| e.key == part)?.value;
        }
        node.search(path, text)
    }

    fn search(&self, prefix: &str, text: &str) -> Option<(String, (usize, usize))> {
        let Node::Map(entries) = self else {
            return None;
        };
        entries.iter().find_map(|e| {
            let path = match prefix {
                "" => e.key.clone(),
                _ => format!("{prefix}.{}", e.key),
            };
            match &e.value {
                Node::Text(t) if t == text => Some((path, e.at)),
                value => value.search(&path, text),
            }
        })
    }

    /// Keys in the file that `known` (the configuration as it was understood, as JSON)
    /// does not have, each with its dotted path, position, and the keys known there.
    pub fn unknown_keys(&self, known: &serde_json::Value) -> Vec<UnknownKey> {
        let mut found = Vec::new();
        self.unknown_under("", known, &mut found);
        found
    }

    fn unknown_under(&self, prefix: &str, known: &serde_json::Value, found: &mut Vec<UnknownKey>) {
        let (Node::Map(entries), Some(fields)) = (self, known.as_object()) else {
            return;
        };
        for entry in entries {
            let path = format!("{prefix}{}", entry.key);
            match fields.get(&entry.key) {
                Some(value) => entry.value.unknown_under(&format!("{path}."), value, found),
                None => found.push(UnknownKey {
                    path,
                    at: entry.at,
                    expected: fields.keys().cloned().collect(),
                }),
            }
        }
    }
}

pub(super) struct UnknownKey {
    pub path: String,
    pub at: (usize, usize),
    pub expected: Vec<String>,
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("YAML")
    }
    fn visit_bool<E>(self, _: bool) -> Result<Node, E> {
        Ok(Node::Leaf)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Node, E> {
        Ok(Node::Leaf)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Node, E> {
        Ok(Node::Leaf)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Node, E> {
        Ok(Node::Leaf)
    }
    fn visit_str<E>(self, text: &str) -> Result<Node, E> {
        Ok(Node::Text(text.to_string()))
    }
    fn visit_unit<E>(self) -> Result<Node, E> {
        Ok(Node::Leaf)
    }
    fn visit_none<E>(self) -> Result<Node, E> {
        Ok(Node::Leaf)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        while seq.next_element::<Node>()?.is_some() {}
        Ok(Node::Leaf)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<Spanned<String>>()? {
            entries.push(Entry {
                at: (
                    key.referenced.line() as usize,
                    key.referenced.column() as usize,
                ),
                key: key.value,
                value: map.next_value()?,
            });
        }
        Ok(Node::Map(entries))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str =
        "dial:\n  url: x\n  user: u\nclassify:\n  stt: {kind: http, upload: raw}\n  timeout: 8s\n";

    #[test]
    fn finds_keys_and_lines() {
        let tree = Node::read(TEXT);
        assert_eq!(tree.locate("dial.user"), Some((3, 3)));
        assert_eq!(tree.locate("classify.timeout").map(|a| a.0), Some(6));
        assert_eq!(tree.locate("dial.password"), None);
        assert_eq!(tree.key_at((5, 30)).as_deref(), Some("classify.stt.upload"));
        assert_eq!(tree.key_at((5, 15)).as_deref(), Some("classify.stt.kind"));
        assert_eq!(tree.key_at((3, 9)).as_deref(), Some("dial.user"));
        assert_eq!(
            tree.find_text("classify", "raw"),
            Some(("classify.stt.upload".into(), (5, 21)))
        );
        assert_eq!(tree.find_text("dial", "raw"), None);
    }

    #[test]
    fn unknown_keys_are_those_the_configuration_lacks() {
        let tree = Node::read(TEXT);
        let known = serde_json::json!({
            "dial": {"url": "x", "user": "u", "password": null},
            "classify": {"stt": {"kind": "http", "upload": "raw"}},
        });
        let unknown = tree.unknown_keys(&known);
        let paths: Vec<_> = unknown.iter().map(|u| (u.path.as_str(), u.at.0)).collect();
        assert_eq!(paths, [("classify.timeout", 6)]);
        assert_eq!(unknown[0].expected, ["stt"]);
    }
}
