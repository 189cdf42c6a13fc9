//! Properties over generated JSON: no panic, bounded size, merge order, idempotent learning.

use hookmetry_shape::{Limits, Shape};
use proptest::prelude::*;
use serde_json::{Map, Value};

fn key() -> impl Strategy<Value = String> {
    // Few distinct keys so that generated bodies share fields; some that look like paths.
    prop_oneof![
        4 => prop::sample::select(vec!["id", "type", "data", "amount", "items", "a"]).prop_map(String::from),
        1 => prop::sample::select(vec!["a.b", "items[]", "", "\\", "[", "é"]).prop_map(String::from),
    ]
}

fn json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        (-1e6f64..1e6).prop_map(Value::from),
        "[a-z]{0,4}".prop_map(Value::String),
    ];
    leaf.prop_recursive(6, 48, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::vec((key(), inner), 0..5)
                .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

fn container() -> impl Strategy<Value = Value> {
    prop_oneof![
        prop::collection::vec((key(), json()), 0..6).prop_map(|kv| Value::Object(kv.into_iter().collect())),
        prop::collection::vec(json(), 0..4).prop_map(Value::Array),
    ]
}

fn small_limits() -> impl Strategy<Value = Limits> {
    (0usize..5, 0usize..12, 0usize..4).prop_map(|(max_depth, max_fields, max_array_items)| Limits {
        max_depth,
        max_fields,
        max_body: 1 << 20,
        max_array_items,
    })
}

/// Segments in an escaped path: `items[].id` is 3, `[]` is 1.
fn depth(path: &str) -> usize {
    let mut segments = usize::from(!path.starts_with('['));
    let mut chars = path.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                chars.next();
            }
            '.' | '[' => segments += 1,
            _ => {}
        }
    }
    segments
}

fn of(v: &Value, limits: &Limits) -> Shape {
    Shape::of(v.to_string().as_bytes(), limits).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(body in prop::collection::vec(any::<u8>(), 0..256)) {
        let _ = Shape::of(&body, &Limits::default());
    }

    #[test]
    fn any_json_container_has_a_bounded_shape(v in container(), others in prop::collection::vec(container(), 0..4), limits in small_limits()) {
        let mut s = of(&v, &limits);
        for other in &others {
            s.observe(&of(other, &limits), &limits);
        }
        prop_assert_eq!(s.samples(), 1 + others.len() as u64);
        prop_assert!(s.paths() <= limits.max_fields);
        let fields = s.fields();
        prop_assert_eq!(fields.len(), s.paths());
        for f in &fields {
            prop_assert!(depth(&f.path) <= limits.max_depth.max(1), "{} deeper than {}", f.path, limits.max_depth);
            prop_assert!(f.present <= s.samples());
            prop_assert!(f.present <= f.parent_present || f.path.ends_with("[]"));
            prop_assert!(!f.types.is_empty());
        }
        let back: Shape = serde_json::from_str(&serde_json::to_string(&s).unwrap()).unwrap();
        prop_assert_eq!(&back, &s);
        let _ = s.to_json_schema();
    }

    #[test]
    fn merge_order_does_not_matter(a in container(), b in container()) {
        let limits = Limits::default();
        let (sa, sb) = (of(&a, &limits), of(&b, &limits));
        let mut ab = sa.clone();
        ab.observe(&sb, &limits);
        let mut ba = sb.clone();
        ba.observe(&sa, &limits);
        prop_assume!(!ab.truncated());
        prop_assert_eq!(ab, ba);
    }

    #[test]
    fn merging_is_associative(a in container(), b in container(), c in container()) {
        let limits = Limits::default();
        let (sa, sb, sc) = (of(&a, &limits), of(&b, &limits), of(&c, &limits));
        let mut left = sa.clone();
        left.observe(&sb, &limits);
        left.observe(&sc, &limits);
        let mut bc = sb.clone();
        bc.observe(&sc, &limits);
        let mut right = sa.clone();
        right.observe(&bc, &limits);
        prop_assume!(!left.truncated());
        prop_assert_eq!(left, right);
    }

    #[test]
    fn the_same_body_again_is_never_a_change(v in container(), times in 1usize..4, limits in small_limits()) {
        let one = of(&v, &limits);
        let mut s = Shape::default();
        prop_assert_eq!(s.observe(&one, &limits), None);
        for _ in 0..times {
            prop_assert_eq!(s.observe(&one, &limits), None);
        }
    }

    #[test]
    fn a_shape_is_the_same_whatever_the_whitespace(v in container()) {
        let limits = Limits::default();
        let pretty = Shape::of(serde_json::to_string_pretty(&v).unwrap().as_bytes(), &limits).unwrap();
        prop_assert_eq!(pretty, of(&v, &limits));
    }
}

#[test]
fn depth_counts_escaped_segments() {
    assert_eq!(depth("a"), 1);
    assert_eq!(depth("items[].id"), 3);
    assert_eq!(depth("[]"), 1);
    assert_eq!(depth("[].a\\.b"), 2);
    assert_eq!(depth("items\\[]"), 1);
}
