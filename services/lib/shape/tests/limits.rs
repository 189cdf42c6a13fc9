//! What one capture may cost: depth, fields, array elements, body size, and bodies built to make
//! inference expensive.

use std::time::{Duration, Instant};

use hookmetry_shape::JsonType::{self, Array, Integer, Object};
use hookmetry_shape::{Limits, MAX_DEPTH, Shape};
use serde_json::json;

use crate::common::{info, paths};

fn of(body: &str, limits: &Limits) -> Shape {
    Shape::of(body.as_bytes(), limits).unwrap()
}

#[test]
fn deeper_than_max_depth_is_its_type_only() {
    let limits = Limits { max_depth: 2, ..Limits::default() };
    let s = of(r#"{"a": {"b": {"c": 1}, "x": 1}, "l": [[1]], "m": [{"k": [1]}]}"#, &limits);
    assert_eq!(paths(&s), ["a", "a.b", "a.x", "l", "l[]", "m", "m[]"]);
    assert_eq!(info(&s, "a.b").types, [Object]);
    assert_eq!(info(&s, "l[]").types, [Array]);
    // Not walked, so nothing below it is tracked.
    assert!(!s.truncated());
    // The default: eight segments.
    let deep = format!("{}1{}", r#"{"a":"#.repeat(12), "}".repeat(12));
    let s = of(&deep, &Limits::default());
    assert_eq!(s.paths(), 8);
    assert_eq!(paths(&s).last().unwrap(), "a.a.a.a.a.a.a.a");
    assert_eq!(info(&s, "a.a.a.a.a.a.a.a").types, [Object]);
}

#[test]
fn beyond_max_fields_is_not_tracked_nor_reported() {
    let limits = Limits { max_fields: 3, ..Limits::default() };
    let s = of(r#"{"a": 1, "b": {"c": 1, "d": 2}, "e": [1]}"#, &limits);
    assert_eq!(paths(&s), ["a", "b", "e"]);
    assert!(s.truncated());

    let mut s = of(r#"{"a": 1, "b": 2}"#, &limits);
    let change = s.observe(&of(r#"{"a": 1, "b": 2, "c": 3}"#, &limits), &limits).unwrap();
    assert_eq!(change.fields.iter().map(|f| f.path.as_str()).collect::<Vec<_>>(), ["c"]);
    assert_eq!(paths(&s), ["a", "b", "c"]);
    assert!(!s.truncated());
    // Full: a new field is neither kept nor reported, and the shape says it is incomplete.
    assert_eq!(s.observe(&of(r#"{"a": 1, "b": 2, "c": 3, "d": 4}"#, &limits), &limits), None);
    assert_eq!(s.paths(), 3);
    assert!(s.truncated());
    // Known fields still report.
    assert_eq!(s.observe(&of(r#"{"a": "1", "b": 2, "c": 3, "d": 4}"#, &limits), &limits).unwrap().fields.len(), 1);
}

#[test]
fn a_body_over_the_field_limit_keeps_its_shallowest_paths() {
    // Like a GitHub pull_request event: the first top-level object alone is over the limit.
    let body = r#"{
        "action": "opened",
        "pull_request": {"head": {"repo": {"a_url": "", "b_url": "", "c_url": ""}}, "id": 1, "title": "t"},
        "repository": {"id": 2, "owner": {"login": "o"}},
        "sender": {"login": "s"}
    }"#;
    let limits = Limits { max_fields: 9, ..Limits::default() };
    let s = of(body, &limits);
    assert!(s.truncated());
    assert_eq!(s.paths(), 9);
    assert_eq!(
        paths(&s),
        [
            "action",
            "pull_request",
            "pull_request.head",
            "pull_request.id",
            "pull_request.title",
            "repository",
            "repository.id",
            "repository.owner",
            "sender",
        ]
    );
    // Two whole levels (10 paths) and the first of the third in key order.
    let limits = Limits { max_fields: 11, ..Limits::default() };
    assert_eq!(
        paths(&of(body, &limits)),
        [
            "action",
            "pull_request",
            "pull_request.head",
            "pull_request.head.repo",
            "pull_request.id",
            "pull_request.title",
            "repository",
            "repository.id",
            "repository.owner",
            "sender",
            "sender.login",
        ]
    );
    // Everything fits.
    let all = of(body, &Limits::default());
    assert_eq!(all.paths(), 15);
    assert!(!all.truncated());
}

#[test]
fn a_capture_cut_by_the_limit_reports_no_removal() {
    let limits = Limits { max_fields: 3, ..Limits::default() };
    let mut s = Shape::default();
    for _ in 0..3 {
        assert_eq!(s.observe(&of(r#"{"z": 1}"#, &limits), &limits), None);
    }
    // `z` comes after the limit was reached in this body: missing from its shape, not from it.
    let cut = of(r#"{"a": 1, "b": 2, "c": 3, "z": 1}"#, &limits);
    assert!(cut.truncated());
    let change = s.observe(&cut, &limits).unwrap();
    assert_eq!(change.fields.iter().map(|f| f.path.as_str()).collect::<Vec<_>>(), ["a", "b"]);
    assert!(s.truncated());
}

#[test]
fn a_capture_cut_deep_still_reports_removals_above_the_cut() {
    let limits = Limits { max_fields: 6, ..Limits::default() };
    let body = r#"{"id": 1, "type": "t", "data": {"object": {"a": 1, "b": 2, "c": 3}}}"#;
    let mut s = Shape::default();
    for _ in 0..3 {
        s.observe(&of(body, &limits), &limits);
    }
    assert_eq!(paths(&s), ["data", "data.object", "data.object.a", "data.object.b", "id", "type"]);
    // Cut at the third level (it holds 4 paths, 2 fit): the first two levels are whole.
    let cut = of(r#"{"id": 1, "data": {"object": {"x": 1, "y": 2, "c": 3, "a": 4}}}"#, &limits);
    assert!(cut.truncated());
    let change = s.observe(&cut, &limits).unwrap();
    assert_eq!(
        change.fields,
        [crate::common::field("type", hookmetry_shape::FieldChangeKind::Removed, &[JsonType::String], &[])]
    );
}

#[test]
fn arrays_are_sampled_to_max_array_items() {
    let limits = Limits { max_array_items: 2, ..Limits::default() };
    let s = of(r#"{"l": [1, 2, "three", {"four": 4}]}"#, &limits);
    assert_eq!(paths(&s), ["l", "l[]"]);
    assert_eq!(info(&s, "l[]").types, [Integer]);
    // The rest is still checked to be JSON.
    assert!(Shape::of(br#"{"l": [1, 2, "three", nope]}"#, &limits).is_err());
}

#[test]
fn max_depth_is_capped_so_the_parser_never_refuses_a_deep_body() {
    let limits = Limits { max_depth: usize::MAX, ..Limits::default() };
    let body = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let s = of(&body, &limits);
    assert_eq!(s.paths(), MAX_DEPTH);
}

fn short_key(mut i: usize) -> String {
    const DIGITS: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
    let mut key = String::new();
    for _ in 0..3 {
        key.push(DIGITS[i % DIGITS.len()] as char);
        i /= DIGITS.len();
    }
    key
}

/// The bodies a stranger would send to make inference expensive, all under the default 1 MiB.
fn explosive() -> Vec<(&'static str, String)> {
    let wide =
        format!("{{{}}}", (0..100_000).map(|i| format!(r#""{}":1"#, short_key(i))).collect::<Vec<_>>().join(","));
    let deep_objects = format!("{}1{}", r#"{"a":"#.repeat(10_000), "}".repeat(10_000));
    let deep_arrays = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let many_shapes = format!(
        "[{}]",
        (0..20_000)
            .map(|i| format!(r#"{{"{}":{{"{}":[1]}}}}"#, short_key(i), short_key(i + 1)))
            .collect::<Vec<_>>()
            .join(",")
    );
    let long_array = format!("{{\"l\":[{}]}}", vec!["{\"a\":[1,{\"b\":null}]}"; 40_000].join(","));
    vec![
        ("wide", wide),
        ("deep_objects", deep_objects),
        ("deep_arrays", deep_arrays),
        ("many_shapes", many_shapes),
        ("long_array", long_array),
    ]
}

#[test]
fn bodies_built_to_explode_cost_bounded_time_and_memory() {
    let limits = Limits::default();
    for (name, body) in explosive() {
        assert!(body.len() <= limits.max_body, "{name} is {} bytes", body.len());
        let started = Instant::now();
        let one = Shape::of(body.as_bytes(), &limits).unwrap_or_else(|e| panic!("{name}: {e}"));
        let mut s = one.clone();
        for _ in 0..3 {
            s.observe(&one, &limits);
        }
        let took = started.elapsed();
        // Generous: a debug build on a busy CI machine; the bench measures the real cost.
        assert!(took < Duration::from_secs(5), "{name} took {took:?}");
        assert!(s.paths() <= limits.max_fields, "{name}: {} paths", s.paths());
        let stored = serde_json::to_vec(&s).unwrap();
        assert!(stored.len() < 32 << 10, "{name}: stored shape is {} bytes", stored.len());
        assert!(s.to_json_schema().to_string().len() < 64 << 10, "{name}");
    }
}

#[test]
fn explosive_shapes_are_exact() {
    let limits = Limits::default();
    let bodies = explosive();
    let get = |n: &str| Shape::of(bodies.iter().find(|(name, _)| *name == n).unwrap().1.as_bytes(), &limits).unwrap();
    let wide = get("wide");
    assert_eq!(wide.paths(), 256);
    assert!(wide.truncated());
    assert_eq!(get("deep_objects").paths(), 8);
    assert!(!get("deep_objects").truncated());
    assert_eq!(get("deep_arrays").paths(), 8);
    let many = get("many_shapes");
    // 64 elements sampled, each adding `[].k`, `[].k.j` and `[].k.j[]`, plus `[]`.
    assert_eq!(many.paths(), 1 + 64 * 3);
    assert!(!many.truncated());
    let long = get("long_array");
    assert_eq!(paths(&long), ["l", "l[]", "l[].a", "l[].a[]", "l[].a[].b"]);
    assert_eq!(info(&long, "l[].a[]").types, [Integer, Object]);
    assert_eq!(json!(info(&long, "l[].a[].b").types), json!(["null"]));
}

#[test]
fn a_body_over_max_body_is_refused_before_parsing() {
    let limits = Limits::default();
    let body = vec![b' '; (1 << 20) + 1];
    assert_eq!(
        Shape::of(&body, &limits),
        Err(hookmetry_shape::ShapeError::TooLarge { len: (1 << 20) + 1, max: 1 << 20 })
    );
}
