//! The JSON Schema of scenario files, generated from the serde model the compiler reads
//! (`source`), so editors check what the compiler checks. The types that deserialize by
//! hand (one value in several shapes) describe those shapes here.

use std::borrow::Cow;

use schemars::generate::SchemaSettings;
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};

use super::source::{
    IntentRuleSrc, IntentsSrc, NodeSrc, OneOrMany, OrderedMap, RouteSrc, Scalar, ScenarioSrc,
    StubSrc,
};

/// The schema of a whole scenario file (JSON Schema draft 7, which every YAML language
/// server reads).
pub fn scenario_schema() -> Schema {
    let mut schema = SchemaSettings::draft07()
        .into_generator()
        .into_root_schema_for::<ScenarioSrc<NodeSrc>>();
    schema.insert("title".into(), "dialflow scenario".into());
    schema
}

/// A list of names: the shape several entries share.
fn names() -> serde_json::Value {
    serde_json::json!({ "type": "array", "items": { "type": "string" } })
}

impl JsonSchema for Scalar {
    fn schema_name() -> Cow<'static, str> {
        "Scalar".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A single value: text, a number or true/false (a duration such as `10s`, a template, `hangup`...).",
            "type": ["string", "number", "boolean"]
        })
    }
}

impl JsonSchema for RouteSrc {
    fn schema_name() -> Cow<'static, str> {
        "Route".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        let fields = serde_json::json!({
            "goto": { "type": "string" },
            "result": { "type": "string" },
            "report": { "type": "boolean" }
        });
        name_or_mapping(
            "Where an outcome leads: a node name, `end`, or {goto, result, report}.",
            fields,
        )
    }
}

/// A bare name, or a mapping of the given fields and no others: the shape of the
/// values that deserialize from either.
fn name_or_mapping(description: &str, fields: serde_json::Value) -> Schema {
    json_schema!({
        "description": description,
        "anyOf": [
            { "type": "string" },
            { "type": "object", "properties": fields, "additionalProperties": false }
        ]
    })
}

impl<T: JsonSchema> JsonSchema for OneOrMany<T> {
    fn inline_schema() -> bool {
        true
    }
    fn schema_name() -> Cow<'static, str> {
        format!("OneOrMany_{}", T::schema_name()).into()
    }
    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let item = generator.subschema_for::<T>();
        json_schema!({ "anyOf": [item, { "type": "array", "items": item }] })
    }
}

impl<V: JsonSchema> JsonSchema for OrderedMap<V> {
    fn inline_schema() -> bool {
        true
    }
    fn schema_name() -> Cow<'static, str> {
        format!("Map_{}", V::schema_name()).into()
    }
    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let value = generator.subschema_for::<V>();
        json_schema!({ "type": "object", "additionalProperties": value })
    }
}

impl JsonSchema for StubSrc {
    fn schema_name() -> Cow<'static, str> {
        "ClassifyStub".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        let text = serde_json::json!({ "type": "string" });
        let fields = serde_json::json!({
            "intent": text, "transcript": text, "failed": text, "quota": text
        });
        name_or_mapping(
            "A stubbed classification: an intent name, `empty`, {intent, transcript}, {failed: reason} or {quota: reason}.",
            fields,
        )
    }
}

impl JsonSchema for IntentsSrc {
    fn schema_name() -> Cow<'static, str> {
        "Intents".into()
    }
    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let rule = generator.subschema_for::<IntentRuleSrc>();
        json_schema!({
            "description": "The intents `classify` sorts answers into: a list of names, or a map of names to the words and patterns that recognise them.",
            "anyOf": [
                names(),
                { "type": "object", "additionalProperties": { "anyOf": [rule, { "type": "null" }] } }
            ]
        })
    }
}

impl JsonSchema for IntentRuleSrc {
    fn schema_name() -> Cow<'static, str> {
        "IntentRule".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "The words (a list), or {keywords, patterns} (regular expressions), that recognise an intent.",
            "anyOf": [
                names(),
                {
                    "type": "object",
                    "properties": { "keywords": names(), "patterns": names() },
                    "additionalProperties": false
                }
            ]
        })
    }
}
