//! What one body's shape holds.

use hookmetry_shape::JsonType::*;
use hookmetry_shape::{FieldInfo, Limits, Shape, ShapeError};
use serde_json::json;

use crate::common::{info, paths, shape};

#[test]
fn one_stripe_like_event() {
    let s = shape(&json!({
        "id": "evt_1", "type": "charge.succeeded", "livemode": false, "created": 1700000000,
        "data": {"object": {"amount": 1000, "fee": 2.5, "metadata": {}, "refunds": [], "customer": null,
                            "lines": [{"id": "li_1", "qty": 1}, {"id": "li_2"}]}},
    }));
    assert_eq!(s.samples(), 1);
    assert!(!s.truncated());
    assert_eq!(
        paths(&s),
        [
            "created",
            "data",
            "data.object",
            "data.object.amount",
            "data.object.customer",
            "data.object.fee",
            "data.object.lines",
            "data.object.lines[]",
            "data.object.lines[].id",
            "data.object.lines[].qty",
            "data.object.metadata",
            "data.object.refunds",
            "id",
            "livemode",
            "type",
        ]
    );
    assert_eq!(s.paths(), 15);
    let at = |p: &str| info(&s, p).types;
    assert_eq!(at("created"), [Integer]);
    assert_eq!(at("data.object.fee"), [Number]);
    assert_eq!(at("data.object.customer"), [Null]);
    assert_eq!(at("livemode"), [Boolean]);
    assert_eq!(at("type"), [String]);
    assert_eq!(at("data.object.refunds"), [Array]);
    assert_eq!(at("data.object.metadata"), [Object]);
    // In one of the two elements only: optional from the first sample on.
    assert_eq!(
        info(&s, "data.object.lines[].qty"),
        FieldInfo {
            path: "data.object.lines[].qty".into(),
            types: vec![Integer],
            present: 1,
            parent_present: 1,
            required: false
        }
    );
    assert!(info(&s, "data.object.lines[].id").required);
    assert!(info(&s, "id").required);
    assert_eq!(
        info(&s, "data.object.lines[]"),
        FieldInfo {
            path: "data.object.lines[]".into(),
            types: vec![Object],
            present: 1,
            parent_present: 1,
            required: false
        }
    );
}

#[test]
fn mixed_element_types_and_numbers() {
    let s = shape(&json!({"v": [1, "a", null, 2.5, true, [], {}]}));
    assert_eq!(info(&s, "v[]").types, [Null, Boolean, Number, String, Object, Array]);
    let s = shape(&json!({"v": [1, 2, -3, 18446744073709551615u64]}));
    assert_eq!(info(&s, "v[]").types, [Integer]);
    // Too large for 64 bits: parsed as a float, so a plain number.
    let s = Shape::of(br#"{"v": 184467440737095516150}"#, &Limits::default()).unwrap();
    assert_eq!(info(&s, "v").types, [Number]);
    let s = Shape::of(br#"{"v": 1e3}"#, &Limits::default()).unwrap();
    assert_eq!(info(&s, "v").types, [Number]);
}

#[test]
fn an_empty_array_has_no_elements_path() {
    let s = shape(&json!({"a": [], "b": [[]], "c": [[1]]}));
    assert_eq!(paths(&s), ["a", "b", "b[]", "c", "c[]", "c[][]"]);
    assert_eq!(info(&s, "b[]").types, [Array]);
    assert_eq!(info(&s, "c[][]").types, [Integer]);
}

#[test]
fn a_top_level_array_is_a_shape() {
    // SendGrid and Mandrill post batches of events as one array.
    let s = shape(&json!([{"event": "open", "email": "a@b.c"}, {"event": "click", "url": "https://x"}]));
    assert_eq!(paths(&s), ["[]", "[].email", "[].event", "[].url"]);
    assert!(info(&s, "[].event").required);
    assert!(!info(&s, "[].email").required);
    assert_eq!(s.to_json_schema()["type"], "array");
}

#[test]
fn keys_that_look_like_paths_are_escaped() {
    let s = shape(&json!({
        "a": {"b": 1}, "a.b": "x", "items[]": true, "items": [0], "": 1, "k": {"": null}, "back\\slash": 1,
    }));
    assert_eq!(paths(&s), ["\\0", "a", "a.b", "a\\.b", "back\\\\slash", "items", "items[]", "items\\[]", "k", "k.\\0"]);
    assert_eq!(info(&s, "a.b").types, [Integer]);
    assert_eq!(info(&s, "a\\.b").types, [String]);
    assert_eq!(info(&s, "items\\[]").types, [Boolean]);
    assert_eq!(info(&s, "items[]").types, [Integer]);
}

#[test]
fn escaped_keys_are_the_same_field_as_plain_ones() {
    let s = Shape::of(br#"{"caf\u00e9": 1, "x": {"a\"b": 2}}"#, &Limits::default()).unwrap();
    assert_eq!(paths(&s), ["café", "x", "x.a\"b"]);
    let mut s2 = shape(&json!({"café": 1, "x": {"a\"b": 2}}));
    assert_eq!(s2.observe(&s, &Limits::default()), None);
}

#[test]
fn a_key_repeated_in_one_object_counts_once() {
    let s = Shape::of(br#"{"l": [{"a": 1, "a": "x"}, {"b": 1}]}"#, &Limits::default()).unwrap();
    assert_eq!(info(&s, "l[].a").types, [Integer, String]);
    assert!(!info(&s, "l[].a").required, "absent from the second element");
}

#[test]
fn why_a_body_has_no_shape() {
    let l = Limits::default();
    assert_eq!(Shape::of(b"", &l), Err(ShapeError::NotJson("EOF while parsing a value at line 1 column 0".into())));
    assert_eq!(
        Shape::of(b"{\"a\": 1} x", &l),
        Err(ShapeError::NotJson("trailing characters at line 1 column 10".into()))
    );
    assert_eq!(
        Shape::of(b"{\"a\": 1", &l),
        Err(ShapeError::NotJson("EOF while parsing an object at line 1 column 7".into()))
    );
    assert_eq!(
        Shape::of(b"amount=1&x=2", &l).unwrap_err().to_string(),
        "body is not JSON: expected value at line 1 column 1"
    );
    assert_eq!(Shape::of(b"\"hi\"", &l), Err(ShapeError::NotObject("string")));
    assert_eq!(Shape::of(b" 12 ", &l), Err(ShapeError::NotObject("integer")));
    assert_eq!(Shape::of(b"null", &l).unwrap_err().to_string(), "body is a JSON null, not an object or an array");
    // Invalid UTF-8 inside a string is not JSON.
    assert!(matches!(Shape::of(b"{\"a\": \"\xff\"}", &l), Err(ShapeError::NotJson(_))));
    let small = Limits { max_body: 8, ..Limits::default() };
    assert_eq!(Shape::of(b"{\"a\": 12}", &small), Err(ShapeError::TooLarge { len: 9, max: 8 }));
    assert_eq!(
        Shape::of(b"{\"a\": 12}", &small).unwrap_err().to_string(),
        "body is 9 bytes, more than the 8 bytes shapes are inferred from"
    );
    assert!(Shape::of(b"{\"a\":1}", &small).is_ok());
}

#[test]
fn an_already_parsed_body_has_the_same_shape() {
    let body = json!({"a": [1, {"b": null}], "c.d": 1.5, "e": {"f": "g"}, "": true});
    let limits = Limits { max_fields: 4, ..Limits::default() };
    for limits in [Limits::default(), limits] {
        assert_eq!(Shape::of_value(&body, &limits), Shape::of(body.to_string().as_bytes(), &limits));
    }
    assert_eq!(Shape::of_value(&json!(1.5), &Limits::default()), Err(ShapeError::NotObject("number")));
}
