//! Merging one capture's shape into the shape before it, noting on the way what it changed.

use serde::{Deserialize, Serialize};

use crate::node::Node;
use crate::path::{push_items, push_key};
use crate::types::JsonType;

/// How many earlier samples must have had a field's parent (as an object), every one of them with
/// the field, before the field's absence is reported as [`FieldChangeKind::Removed`]. With one, the
/// second capture of a type would report every optional field the first happened to carry.
pub const REMOVED_AFTER_SAMPLES: u64 = 2;

/// At most this many [`FieldChange`]s are listed in a [`Change`]; the rest are counted in `more`.
pub const MAX_LISTED_CHANGES: usize = 50;

/// What a capture changed compared with the shape before it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    /// The kind of every listed and unlisted field change, or `Mixed`.
    pub kind: ChangeKind,
    /// Sorted by path; at most [`MAX_LISTED_CHANGES`].
    pub fields: Vec<FieldChange>,
    /// Field changes beyond those listed.
    pub more: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChangeKind {
    Added,
    Removed,
    Retyped,
    /// More than one kind among the field changes.
    Mixed,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldChange {
    /// Escaped as described in the crate docs; `""` is the body itself.
    pub path: String,
    pub kind: FieldChangeKind,
    /// Every type seen at the path before this capture; empty for `Added`.
    pub before: Vec<JsonType>,
    /// The types this capture had at the path; empty for a `Removed` field that was absent
    /// everywhere (it may hold types when the field was missing from only some array elements).
    pub after: Vec<JsonType>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FieldChangeKind {
    Added,
    Removed,
    Retyped,
}

pub(crate) struct Merge<'a> {
    pub(crate) max_fields: usize,
    pub(crate) paths: &'a mut usize,
    pub(crate) truncated: &'a mut bool,
    /// False for the first sample, which is learned, not compared.
    pub(crate) report: bool,
    /// False when the capture itself was cut by the field limit: a field missing from it may just
    /// not have been tracked.
    pub(crate) check_removed: bool,
    pub(crate) changes: Vec<FieldChange>,
}

impl Merge<'_> {
    fn note(&mut self, path: &str, kind: FieldChangeKind, before: Vec<JsonType>, after: Vec<JsonType>) {
        self.changes.push(FieldChange { path: path.to_owned(), kind, before, after });
    }

    /// A copy of a path new to the shape, as much of it as the field limit leaves room for.
    fn admit(&mut self, src: &Node) -> Node {
        *self.paths += 1;
        let mut out = Node { fields: Default::default(), items: None, ..*src };
        for (key, child) in &src.fields {
            if *self.paths >= self.max_fields {
                *self.truncated = true;
                return out;
            }
            out.fields.insert(key.clone(), self.admit(child));
        }
        if let Some(items) = &src.items {
            if *self.paths >= self.max_fields {
                *self.truncated = true;
            } else {
                out.items = Some(Box::new(self.admit(items)));
            }
        }
        out
    }

    /// Merges `src` into `dst`, both at `path`, `dst` as it was before this capture.
    pub(crate) fn merge(&mut self, dst: &mut Node, src: &Node, path: &mut String) {
        if self.report && dst.types.gains(src.types) {
            self.note(path, FieldChangeKind::Retyped, dst.types.to_vec(), src.types.to_vec());
        }
        if self.report && self.check_removed && src.objects > 0 && dst.objects >= REMOVED_AFTER_SAMPLES {
            for (key, was) in &dst.fields {
                if !dst.requires(was) {
                    continue;
                }
                let now = src.fields.get(key);
                if now.is_none_or(|now| now.always < src.objects) {
                    let len = path.len();
                    push_key(path, key);
                    let after = now.map_or_else(Vec::new, |now| now.types.to_vec());
                    self.note(path, FieldChangeKind::Removed, was.types.to_vec(), after);
                    path.truncate(len);
                }
            }
        }
        // Keys under a parent that was never an object before (null until now, say) are learned
        // with it; the parent's retype is the change.
        let parent_was_object = dst.objects > 0;
        for (key, child) in &src.fields {
            let len = path.len();
            push_key(path, key);
            if let Some(existing) = dst.fields.get_mut(key) {
                self.merge(existing, child, path);
            } else if *self.paths >= self.max_fields {
                *self.truncated = true;
            } else {
                let admitted = self.admit(child);
                if self.report && parent_was_object {
                    self.note(path, FieldChangeKind::Added, Vec::new(), child.types.to_vec());
                }
                dst.fields.insert(key.clone(), admitted);
            }
            path.truncate(len);
        }
        if let Some(items) = &src.items {
            let len = path.len();
            push_items(path);
            if let Some(existing) = &mut dst.items {
                self.merge(existing, items, path);
            } else if *self.paths >= self.max_fields {
                *self.truncated = true;
            } else {
                // The first elements an array ever had are learned, like a first sample: until
                // now its elements had no shape to differ from.
                dst.items = Some(Box::new(self.admit(items)));
            }
            path.truncate(len);
        }
        dst.types.add(src.types);
        dst.seen += src.seen;
        dst.always += src.always;
        dst.objects += src.objects;
    }

    pub(crate) fn finish(mut self) -> Option<Change> {
        let first = self.changes.first()?.kind;
        let kind = if self.changes.iter().all(|c| c.kind == first) {
            match first {
                FieldChangeKind::Added => ChangeKind::Added,
                FieldChangeKind::Removed => ChangeKind::Removed,
                FieldChangeKind::Retyped => ChangeKind::Retyped,
            }
        } else {
            ChangeKind::Mixed
        };
        self.changes.sort_by(|a, b| a.path.cmp(&b.path).then(a.kind.cmp_key().cmp(&b.kind.cmp_key())));
        let more = self.changes.len().saturating_sub(MAX_LISTED_CHANGES);
        self.changes.truncate(MAX_LISTED_CHANGES);
        Some(Change { kind, fields: self.changes, more })
    }
}

impl FieldChangeKind {
    fn cmp_key(self) -> u8 {
        self as u8
    }
}
