//! The shape as JSON Schema (draft 2020-12): what a consumer can validate against or generate
//! types from. Only what was observed is stated; `additionalProperties` is left open because a
//! shape learned from samples cannot know a field will never appear.

use serde_json::{Map, Value, json};

use crate::node::Node;

pub(crate) const DIALECT: &str = "https://json-schema.org/draft/2020-12/schema";

pub(crate) fn to_json_schema(root: &Node, samples: u64, truncated: bool) -> Value {
    let mut out = Map::new();
    out.insert("$schema".into(), DIALECT.into());
    let mut comment = format!("inferred by hookmetry from {samples} sample(s)");
    if truncated {
        comment.push_str("; the field limit was reached, so some fields are not listed");
    }
    out.insert("$comment".into(), comment.into());
    if let Value::Object(body) = node(root) {
        out.extend(body);
    }
    Value::Object(out)
}

fn node(n: &Node) -> Value {
    let mut out = Map::new();
    let types = n.types.to_vec();
    match types.as_slice() {
        [] => {}
        [one] => {
            out.insert("type".into(), one.as_str().into());
        }
        many => {
            out.insert("type".into(), many.iter().map(|t| t.as_str()).collect());
        }
    }
    if !n.fields.is_empty() {
        let properties: Map<String, Value> = n.fields.iter().map(|(k, c)| (k.clone(), node(c))).collect();
        out.insert("properties".into(), Value::Object(properties));
        let required: Vec<&str> = n.fields.iter().filter(|(_, c)| n.requires(c)).map(|(k, _)| k.as_str()).collect();
        if !required.is_empty() {
            out.insert("required".into(), json!(required));
        }
    }
    if let Some(items) = &n.items {
        out.insert("items".into(), node(items));
    }
    Value::Object(out)
}
