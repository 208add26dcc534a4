//! The operations of the API's OpenAPI document as requests a test can send: each
//! path's parameters filled in (an enum's first value, else a sample word) and, for an
//! operation that takes a body, its documented example (else an empty JSON object).

use serde_json::Value;

/// The methods an OpenAPI path item may hold.
pub const METHODS: &[&str] = &[
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// What a path parameter without an enum is filled in with.
pub const SAMPLE: &str = "spring";

/// One documented operation, ready to send.
#[derive(Debug, Clone)]
pub struct Operation {
    /// Upper case, as on the wire.
    pub method: String,
    /// As documented (`/api/campaigns/{name}`).
    pub template: String,
    /// With its parameters filled in.
    pub path: String,
    pub id: String,
    /// The body's content type and text, if the operation takes one.
    pub body: Option<(String, String)>,
    /// Whether the operation asks for credentials.
    pub secured: bool,
}

/// Every operation of `doc`, in the document's order.
pub fn operations(doc: &Value) -> Vec<Operation> {
    let paths = doc["paths"].as_object().expect("the document has paths");
    let mut out = Vec::new();
    for (template, item) in paths {
        for method in METHODS {
            let Some(operation) = item.get(*method) else {
                continue;
            };
            out.push(Operation {
                method: method.to_uppercase(),
                template: template.clone(),
                path: fill(doc, template, operation),
                id: operation["operationId"].as_str().unwrap_or("").to_string(),
                body: body(operation),
                secured: operation
                    .get("security")
                    .and_then(Value::as_array)
                    .is_some_and(|s| !s.is_empty()),
            });
        }
    }
    out
}

/// `template` with each `{param}` replaced by a value its schema allows.
fn fill(doc: &Value, template: &str, operation: &Value) -> String {
    let mut path = template.to_string();
    let parameters = operation["parameters"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for p in parameters.iter().filter(|p| p["in"] == "path") {
        let name = p["name"].as_str().expect("a parameter has a name");
        let schema = resolve(doc, &p["schema"]);
        let value = schema["enum"][0].as_str().unwrap_or(SAMPLE).to_string();
        path = path.replace(&format!("{{{name}}}"), &value);
    }
    assert!(
        !path.contains('{'),
        "{template}: a path parameter left undocumented"
    );
    path
}

/// A schema, following one `$ref` into the components.
pub fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    match schema["$ref"].as_str() {
        Some(reference) => {
            let pointer = reference.trim_start_matches('#');
            doc.pointer(pointer)
                .unwrap_or_else(|| panic!("{reference} points nowhere"))
        }
        None => schema,
    }
}

/// The body to send: the documented example of the first content type, else `{}`.
fn body(operation: &Value) -> Option<(String, String)> {
    let content = operation["requestBody"]["content"].as_object()?;
    let (kind, media) = content.iter().next()?;
    let text = match &media["example"] {
        Value::Null => "{}".to_string(),
        Value::String(text) => text.clone(),
        example => example.to_string(),
    };
    Some((kind.clone(), text))
}
