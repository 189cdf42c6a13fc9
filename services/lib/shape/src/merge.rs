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

/// One step of the path being merged; the path is only written out when a change is noted, which
/// is rare, while every capture walks every path.
#[derive(Clone, Copy)]
enum Seg<'s> {
    Key(&'s str),
    Items,
}

pub(crate) struct Merge<'a, 's> {
    pub(crate) max_fields: usize,
    pub(crate) paths: &'a mut usize,
    /// Path segments up to which the shape tracks every path it was shown.
    pub(crate) complete: &'a mut usize,
    /// False for the first sample, which is learned, not compared.
    pub(crate) report: bool,
    /// Path segments up to which the capture's shape kept every path: below that, a field missing
    /// from it may just not have been tracked, so its absence is not reported.
    pub(crate) seen_complete: usize,
    pub(crate) changes: Vec<FieldChange>,
    path: Vec<Seg<'s>>,
}

/// Whether `child` was present in every sample where its parent was an object.
pub(crate) fn requires(parent_objects: u64, child: &Node) -> bool {
    parent_objects > 0 && child.always >= parent_objects
}

impl<'a, 's> Merge<'a, 's> {
    pub(crate) fn new(max_fields: usize, paths: &'a mut usize, complete: &'a mut usize) -> Self {
        Merge {
            max_fields,
            paths,
            complete,
            report: true,
            seen_complete: usize::MAX,
            changes: Vec::new(),
            path: Vec::new(),
        }
    }

    /// Notes that a path of `depth + 1` segments was not kept.
    fn cut(&mut self, depth: usize) {
        *self.complete = (*self.complete).min(depth);
    }

    fn note(&mut self, last: Option<&str>, kind: FieldChangeKind, before: Vec<JsonType>, after: Vec<JsonType>) {
        let mut path = String::new();
        for seg in &self.path {
            match seg {
                Seg::Key(key) => push_key(&mut path, key),
                Seg::Items => push_items(&mut path),
            }
        }
        if let Some(key) = last {
            push_key(&mut path, key);
        }
        self.changes.push(FieldChange { path, kind, before, after });
    }

    /// A copy of a path new to the shape, as much of it as the field limit leaves room for.
    /// `depth` is the path segments of `src`.
    fn admit(&mut self, src: &Node, depth: usize) -> Node {
        *self.paths += 1;
        let mut out = Node { fields: Default::default(), items: None, ..*src };
        for (key, child) in &src.fields {
            if *self.paths >= self.max_fields {
                self.cut(depth);
                return out;
            }
            out.fields.insert(key.clone(), self.admit(child, depth + 1));
        }
        if let Some(items) = &src.items {
            if *self.paths >= self.max_fields {
                self.cut(depth);
            } else {
                out.items = Some(Box::new(self.admit(items, depth + 1)));
            }
        }
        out
    }

    /// Merges `src` into `dst`, both at the current path, `dst` as it was before this capture.
    pub(crate) fn merge(&mut self, dst: &mut Node, src: &'s Node) {
        if self.report && dst.types.gains(src.types) {
            self.note(None, FieldChangeKind::Retyped, dst.types.to_vec(), src.types.to_vec());
        }
        let depth = self.path.len();
        let check_removed =
            self.report && depth < self.seen_complete && src.objects > 0 && dst.objects >= REMOVED_AFTER_SAMPLES;
        let dst_objects = dst.objects;
        let removed = |merge: &mut Self, key: &str, was: &Node, now: Option<&Node>| {
            if check_removed && requires(dst_objects, was) && now.is_none_or(|now| now.always < src.objects) {
                let after = now.map_or_else(Vec::new, |now| now.types.to_vec());
                merge.note(Some(key), FieldChangeKind::Removed, was.types.to_vec(), after);
            }
        };
        // Both field maps are sorted: one pass over the two, no lookups.
        let mut new = Vec::new();
        let mut known = dst.fields.iter_mut().peekable();
        for (key, child) in &src.fields {
            while let Some((gone, was)) = known.next_if(|(k, _)| k.as_str() < key.as_str()) {
                removed(self, gone, was, None);
            }
            match known.next_if(|(k, _)| *k == key) {
                Some((_, existing)) => {
                    removed(self, key, existing, Some(child));
                    self.path.push(Seg::Key(key));
                    self.merge(existing, child);
                    self.path.pop();
                }
                None => new.push((key, child)),
            }
        }
        for (gone, was) in known {
            removed(self, gone, was, None);
        }
        // Keys under a parent that was never an object before (null until now, say) are learned
        // with it; the parent's retype is the change.
        let parent_was_object = dst_objects > 0;
        for (key, child) in new {
            if *self.paths >= self.max_fields {
                self.cut(depth);
                break;
            }
            let admitted = self.admit(child, depth + 1);
            if self.report && parent_was_object {
                self.note(Some(key), FieldChangeKind::Added, Vec::new(), child.types.to_vec());
            }
            dst.fields.insert(key.clone(), admitted);
        }
        if let Some(items) = &src.items {
            if let Some(existing) = &mut dst.items {
                self.path.push(Seg::Items);
                self.merge(existing, items);
                self.path.pop();
            } else if *self.paths >= self.max_fields {
                self.cut(depth);
            } else {
                // The first elements an array ever had are learned, like a first sample: until
                // now its elements had no shape to differ from.
                dst.items = Some(Box::new(self.admit(items, depth + 1)));
            }
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
