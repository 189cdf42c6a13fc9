use hookmetry_shape::{Change, FieldChange, FieldChangeKind, FieldInfo, JsonType, Limits, Shape};
use serde_json::Value;

pub fn shape(body: &Value) -> Shape {
    Shape::of(body.to_string().as_bytes(), &Limits::default()).unwrap()
}

/// A shape that has learned `bodies`, in order, checking none of them reported a change.
pub fn learned(bodies: &[Value]) -> Shape {
    let mut s = Shape::default();
    for body in bodies {
        assert_eq!(s.observe(&shape(body), &Limits::default()), None, "learning {body}");
    }
    s
}

pub fn observe(s: &mut Shape, body: &Value) -> Option<Change> {
    s.observe(&shape(body), &Limits::default())
}

pub fn field(path: &str, kind: FieldChangeKind, before: &[JsonType], after: &[JsonType]) -> FieldChange {
    FieldChange { path: path.into(), kind, before: before.to_vec(), after: after.to_vec() }
}

pub fn info(s: &Shape, path: &str) -> FieldInfo {
    s.fields().into_iter().find(|f| f.path == path).unwrap_or_else(|| panic!("no path {path} in {:?}", s.fields()))
}

pub fn paths(s: &Shape) -> Vec<String> {
    s.fields().into_iter().map(|f| f.path).collect()
}
