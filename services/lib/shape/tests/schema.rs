//! The shape as JSON Schema.

use hookmetry_shape::{Limits, Shape};
use serde_json::json;

use crate::common::{learned, observe};

#[test]
fn required_types_nesting_and_items() {
    let mut s = learned(&[json!({
        "id": "evt_1", "amount": 1, "customer": null,
        "data": {"lines": [{"id": "l", "qty": 1}, {"id": "m"}], "tags": []},
    })]);
    observe(&mut s, &json!({"id": "evt_2", "amount": 2.5, "customer": "cus_1", "data": {"lines": [], "x.y": true}}));
    assert_eq!(
        s.to_json_schema(),
        json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$comment": "inferred by hookmetry from 2 sample(s)",
            "type": "object",
            "properties": {
                "amount": {"type": "number"},
                "customer": {"type": ["null", "string"]},
                "data": {
                    "type": "object",
                    "properties": {
                        "lines": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "properties": {"id": {"type": "string"}, "qty": {"type": "integer"}},
                                "required": ["id"],
                            },
                        },
                        "tags": {"type": "array"},
                        "x.y": {"type": "boolean"},
                    },
                    "required": ["lines"],
                },
                "id": {"type": "string"},
            },
            "required": ["amount", "customer", "data", "id"],
        })
    );
}

#[test]
fn truncation_and_the_empty_shape_are_stated() {
    let limits = Limits { max_fields: 1, ..Limits::default() };
    let s = Shape::of(br#"{"a": 1, "b": 2}"#, &limits).unwrap();
    assert_eq!(
        s.to_json_schema(),
        json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$comment": "inferred by hookmetry from 1 sample(s); the field limit was reached, so some fields are not listed",
            "type": "object",
            "properties": {"a": {"type": "integer"}},
            "required": ["a"],
        })
    );
    assert_eq!(
        Shape::default().to_json_schema(),
        json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$comment": "inferred by hookmetry from 0 sample(s)",
        })
    );
}
