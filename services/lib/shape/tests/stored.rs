//! The stored form: compact, versioned, and read back to the same shape.

use hookmetry_shape::{Limits, Shape};
use serde_json::json;

use crate::common::{learned, observe};

#[test]
fn stored_form_is_compact_and_versioned() {
    let mut s = learned(&[json!({"id": "a", "data": {"n": 1}, "l": [true]})]);
    observe(&mut s, &json!({"id": "b", "data": null, "l": []}));
    assert_eq!(
        serde_json::to_value(&s).unwrap(),
        json!({"v": 1, "root": {"t": ["object"], "n": 2, "o": 2, "f": {
            "data": {"t": ["null", "object"], "n": 2, "r": 2, "o": 1, "f": {"n": {"t": ["integer"], "n": 1, "r": 1}}},
            "id": {"t": ["string"], "n": 2, "r": 2},
            "l": {"t": ["array"], "n": 2, "r": 2, "i": {"t": ["boolean"], "n": 1}},
        }}})
    );
    let back: Shape = serde_json::from_value(serde_json::to_value(&s).unwrap()).unwrap();
    assert_eq!(back, s);
    assert_eq!(back.paths(), 5);
}

#[test]
fn truncation_survives_storage() {
    let limits = Limits { max_fields: 1, ..Limits::default() };
    let s = Shape::of(br#"{"a": 1, "b": 2}"#, &limits).unwrap();
    let stored = serde_json::to_value(&s).unwrap();
    // Cut among the top-level fields: nothing is known complete.
    assert_eq!(stored["complete_depth"], 0);
    let back: Shape = serde_json::from_value(stored).unwrap();
    assert!(back.truncated());
    assert_eq!(back, s);
}

#[test]
fn a_shape_cut_deeper_stores_the_depth_it_is_complete_to() {
    let limits = Limits { max_fields: 3, ..Limits::default() };
    let s = Shape::of(br#"{"a": {"b": 1, "c": 2}, "d": 1}"#, &limits).unwrap();
    let stored = serde_json::to_value(&s).unwrap();
    assert_eq!(stored["complete_depth"], 1);
    assert_eq!(serde_json::from_value::<Shape>(stored).unwrap(), s);
}

#[test]
fn another_version_is_refused() {
    let err = serde_json::from_value::<Shape>(json!({"v": 2, "root": {"t": [], "n": 0}})).unwrap_err();
    assert_eq!(err.to_string(), "shape version 2 is not supported (this build reads version 1)");
    assert!(serde_json::from_value::<Shape>(json!({"root": {"t": [], "n": 0}})).is_err());
}

#[test]
fn the_empty_shape_round_trips() {
    let s = Shape::default();
    let stored = serde_json::to_string(&s).unwrap();
    assert_eq!(stored, r#"{"v":1,"root":{"t":[],"n":0}}"#);
    assert_eq!(serde_json::from_str::<Shape>(&stored).unwrap(), s);
}
