//! JSON shape inference of webhook bodies, and drift detection between captures.
//!
//! For each endpoint and event type, the processor keeps a [`Shape`]: every field path seen, its
//! JSON types, and how often it was present when its parent was. Each new capture's shape
//! ([`Shape::of`]) is compared with it and merged in ([`Shape::observe`]), which says whether the
//! capture added, removed or retyped a field. Pure: no I/O, no clock; cost is bounded by
//! [`Limits`]. `docs/schema-drift.md` describes the behaviour for users, with examples.
//!
//! # Paths
//!
//! `data.object.amount`; array elements as `items[]` (`[]` alone for a top-level array's
//! elements); `""` is the body itself. In keys, `\`, `.` and `[` are escaped with a backslash
//! (`{"a.b": 1}` is `a\.b`, never the same path as `{"a": {"b": 1}}`), and an empty key is `\0`.
//!
//! # Types
//!
//! `null`, `boolean`, `integer`, `number`, `string`, `object`, `array`. A path whose numbers were
//! all integral is `integer`; once any was not it is `number`. Integer and number count as one type
//! for drift: a float where only integers were seen is not a change (see [`JsonType`]).
//!
//! # Changes
//!
//! The first sample is learned, never reported. After that, a capture reports:
//! - `Added`: a path never seen before, under a parent that was seen as an object before. Only the
//!   topmost new path is reported (a new object's own fields are learned with it); the first
//!   elements an array ever has are learned too (an empty array says nothing about its elements).
//! - `Removed`: a field that was present in every one of at least [`REMOVED_AFTER_SAMPLES`] earlier
//!   samples where its parent was an object, absent now from (at least one occurrence of) its
//!   parent while the parent is an object. A field already optional disappearing is not a change,
//!   and a parent that is absent altogether is reported alone, not each of its fields. When the
//!   field limit cut the capture's shape, only fields above the depth of the cut are checked: a
//!   field missing below it may only be untracked.
//! - `Retyped`: a path present with a type never seen there, `null` included: a field that was
//!   always a string arriving as `null` breaks consumers that do not expect it.
//!
//! # Limits
//!
//! Parsing streams into the shape (no `serde_json::Value`); subtrees deeper than
//! [`Limits::max_depth`] are recorded as their type only and skipped by the parser without
//! recursion; arrays are sampled to their first [`Limits::max_array_items`] elements; at most
//! [`Limits::max_fields`] paths are kept, and [`Shape::truncated`] says when that cut anything.
//! Which ones: from one body, the shallowest (whole levels from the top, then key order), so a
//! large event keeps its top-level fields; once a shape is full, paths new to it are neither
//! tracked nor reported.

mod error;
mod infer;
mod merge;
mod node;
mod path;
mod schema;
mod types;

use serde::{Deserialize, Serialize};

pub use error::ShapeError;
pub use merge::{Change, ChangeKind, FieldChange, FieldChangeKind, MAX_LISTED_CHANGES, REMOVED_AFTER_SAMPLES};
pub use types::JsonType;

use merge::Merge;
use node::Node;

/// The deepest [`Limits::max_depth`] honoured: the JSON parser refuses to nest deeper than 128
/// levels while it walks, and no webhook body needs more than a handful.
pub const MAX_DEPTH: usize = 100;

/// The version of [`Shape`]'s stored form.
const VERSION: u32 = 1;

/// Bounds on what one capture can cost.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Path segments walked from the top (`a.b[]` is 3 deep); a deeper object or array is recorded
    /// as its type only. At most [`MAX_DEPTH`]. Default 8.
    pub max_depth: usize,
    /// Distinct paths kept per shape. Default 256.
    pub max_fields: usize,
    /// Bytes; a larger body is refused before parsing. Default 1 MiB.
    pub max_body: usize,
    /// Elements sampled per array (the first ones); the rest are only checked to be JSON.
    /// Default 64.
    pub max_array_items: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_depth: 8, max_fields: 256, max_body: 1 << 20, max_array_items: 64 }
    }
}

/// The inferred shape of the JSON bodies of one (endpoint, event type): every field path seen, its
/// JSON types, in how many samples it was present out of how many samples its parent was present
/// as an object, bounded by [`Limits`].
///
/// Stored as compact JSON with a version, `{"v":1,"root":{"t":["object"],"n":12,"o":12,"f":{…}}}`:
/// per path `t` types, `n` samples present, `r` samples present in every occurrence of the parent
/// object, `o` samples as an object, `f` fields, `i` array elements; `complete_depth`, only when the
/// field limit cut something, is the path depth up to which every path seen is tracked. `Shape::default()` is the
/// empty shape, which learns its first sample without reporting it.
#[derive(Clone, Debug, PartialEq)]
pub struct Shape {
    root: Node,
    /// Path segments up to which every path seen is tracked; `usize::MAX` when the field limit
    /// never cut anything. A capture's shape cut at some depth still reports fields removed above it.
    complete: usize,
    /// Paths in `root`, kept so the field limit is checked without walking the tree.
    paths: usize,
}

impl Default for Shape {
    fn default() -> Self {
        Shape { root: Node::default(), complete: usize::MAX, paths: 0 }
    }
}

/// One path of a shape, for listing it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldInfo {
    /// Escaped as described in the crate docs.
    pub path: String,
    pub types: Vec<JsonType>,
    /// Samples in which the path occurred.
    pub present: u64,
    /// Samples in which its parent occurred (as an object, for a field; at all, for `[]`).
    pub parent_present: u64,
    /// Present in every occurrence of its parent object in every sample; always false for `[]`.
    pub required: bool,
}

impl Shape {
    /// Infers the shape of one body.
    pub fn of(body: &[u8], limits: &Limits) -> Result<Shape, ShapeError> {
        let inferred = infer::infer(body, limits)?;
        Ok(Shape { root: inferred.root, complete: inferred.complete, paths: inferred.paths })
    }

    /// [`Shape::of`] for a body already parsed (by whoever read its event type, say): the same
    /// shape, without parsing twice. `max_body` does not apply.
    pub fn of_value(body: &serde_json::Value, limits: &Limits) -> Result<Shape, ShapeError> {
        let inferred = infer::infer_value(body, limits)?;
        Ok(Shape { root: inferred.root, complete: inferred.complete, paths: inferred.paths })
    }

    /// Number of samples merged in.
    pub fn samples(&self) -> u64 {
        self.root.seen
    }

    /// Compares `seen` (one capture's shape) with `self` (everything before it) and merges it in.
    /// Returns what changed, or `None` when nothing did. The first sample ever is not a change.
    pub fn observe(&mut self, seen: &Shape, limits: &Limits) -> Option<Change> {
        let mut merge = Merge::new(limits.max_fields, &mut self.paths, &mut self.complete);
        merge.report = self.root.seen > 0;
        merge.seen_complete = seen.complete;
        merge.merge(&mut self.root, &seen.root);
        let change = merge.finish();
        self.complete = self.complete.min(seen.complete);
        change
    }

    /// JSON Schema (draft 2020-12) of the shape: `required` lists the fields present in every
    /// sample of their parent; `type` every type seen; nested objects as `properties`, array
    /// elements as `items`.
    pub fn to_json_schema(&self) -> serde_json::Value {
        schema::to_json_schema(&self.root, self.samples(), self.truncated())
    }

    /// Whether the field limit cut anything: fields beyond it are not tracked, and the shape and
    /// its schema do not list them.
    pub fn truncated(&self) -> bool {
        self.complete != usize::MAX
    }

    /// Number of distinct paths kept (at most [`Limits::max_fields`]).
    pub fn paths(&self) -> usize {
        self.paths
    }

    /// Every path, parents before their fields, fields in key order.
    pub fn fields(&self) -> Vec<FieldInfo> {
        let mut out = Vec::with_capacity(self.paths);
        list(&self.root, &mut String::new(), &mut out);
        out
    }
}

fn list(node: &Node, path: &mut String, out: &mut Vec<FieldInfo>) {
    for (key, child) in &node.fields {
        let len = path.len();
        path::push_key(path, key);
        out.push(FieldInfo {
            path: path.clone(),
            types: child.types.to_vec(),
            present: child.seen,
            parent_present: node.objects,
            required: node.requires(child),
        });
        list(child, path, out);
        path.truncate(len);
    }
    if let Some(items) = &node.items {
        let len = path.len();
        path::push_items(path);
        out.push(FieldInfo {
            path: path.clone(),
            types: items.types.to_vec(),
            present: items.seen,
            parent_present: node.seen,
            required: false,
        });
        list(items, path, out);
        path.truncate(len);
    }
}

#[derive(Deserialize)]
struct Stored {
    v: u32,
    /// Present only when the field limit cut something.
    #[serde(default)]
    complete_depth: Option<usize>,
    root: Node,
}

impl Serialize for Shape {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Borrowed<'a> {
            v: u32,
            #[serde(skip_serializing_if = "Option::is_none")]
            complete_depth: Option<usize>,
            root: &'a Node,
        }
        let complete_depth = self.truncated().then_some(self.complete);
        Borrowed { v: VERSION, complete_depth, root: &self.root }.serialize(s)
    }
}

impl<'de> Deserialize<'de> for Shape {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let stored = Stored::deserialize(d)?;
        if stored.v != VERSION {
            return Err(serde::de::Error::custom(format_args!(
                "shape version {} is not supported (this build reads version {VERSION})",
                stored.v
            )));
        }
        let paths = stored.root.descendants();
        Ok(Shape { root: stored.root, complete: stored.complete_depth.unwrap_or(usize::MAX), paths })
    }
}
