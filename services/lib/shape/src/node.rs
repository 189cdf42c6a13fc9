//! One path of a shape, with its children: the form shapes are merged, stored and exported in.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::types::Types;

/// Counts are in samples (captures), so they mean the same whatever the arrays' lengths were.
///
/// Stored as JSON with one-letter names: a shape keeps up to `max_fields` of these per endpoint
/// and event type, and the store writes it back after every capture.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Node {
    /// Every type seen here.
    #[serde(rename = "t")]
    pub(crate) types: Types,
    /// Samples in which the path occurred at least once.
    #[serde(rename = "n")]
    pub(crate) seen: u64,
    /// Samples in which the path occurred in every occurrence of its parent object (for a field in
    /// array elements: in every sampled element that was an object). `always == parent.objects`
    /// means required so far. Meaningless for array elements (`[]`), whose parent is an array.
    #[serde(rename = "r", default, skip_serializing_if = "is_zero")]
    pub(crate) always: u64,
    /// Samples in which the path occurred as an object: the denominator of its fields' `always`.
    #[serde(rename = "o", default, skip_serializing_if = "is_zero")]
    pub(crate) objects: u64,
    #[serde(rename = "f", default, skip_serializing_if = "BTreeMap::is_empty")]
    pub(crate) fields: BTreeMap<String, Node>,
    /// The merged shape of the array elements; absent while every array seen here was empty.
    #[serde(rename = "i", default, skip_serializing_if = "Option::is_none")]
    pub(crate) items: Option<Box<Node>>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl Node {
    /// Paths below this node (not counting itself).
    pub(crate) fn descendants(&self) -> usize {
        self.fields.values().map(|c| 1 + c.descendants()).sum::<usize>()
            + self.items.as_ref().map_or(0, |i| 1 + i.descendants())
    }

    /// Whether the field `child` was present in every sample where this node was an object.
    pub(crate) fn requires(&self, child: &Node) -> bool {
        crate::merge::requires(self.objects, child)
    }
}
