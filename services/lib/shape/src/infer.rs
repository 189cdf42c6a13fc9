//! The shape of one body, built while it is parsed: no `serde_json::Value` is materialised, keys
//! without escapes are not copied unless they are new, and whatever lies beyond a limit is skipped
//! by the parser's non-recursive skipper, so cost is bounded by the body's length.

use std::fmt;

use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};

use crate::node::Node;
use crate::types::Types;
use crate::{Limits, MAX_DEPTH, ShapeError};

/// While one body is parsed, a [`Node`]'s counters hold per-occurrence counts instead of per-sample
/// ones, so that no second tree is built: `seen` counts the distinct occurrences of the parent
/// object that held the key (for `[]`, the sampled elements), `objects` the occurrences as an
/// object, and `always` the parent occurrence that last counted the key, so a key repeated within
/// one object (legal JSON) is counted once. [`finish`] turns them into one sample's counts.
fn finish(node: &mut Node, parent_objects: u64) {
    let objects = node.objects;
    node.always = u64::from(parent_objects > 0 && node.seen >= parent_objects);
    node.seen = 1;
    node.objects = u64::from(objects > 0);
    for child in node.fields.values_mut() {
        finish(child, objects);
    }
    if let Some(items) = &mut node.items {
        finish(items, 0);
    }
}

struct Ctx {
    max_depth: usize,
    max_fields: usize,
    max_array_items: usize,
    paths: usize,
    /// Path segments up to which every path was kept (`usize::MAX`: nothing cut).
    complete: usize,
    visit: u64,
}

pub(crate) struct Inferred {
    pub(crate) root: Node,
    pub(crate) paths: usize,
    pub(crate) complete: usize,
}

/// While parsing, paths are collected up to this many times the field limit, so that the ones kept
/// can be chosen by depth rather than by where they happen to sit in the body.
const COLLECT_FACTOR: usize = 4;

pub(crate) fn infer(body: &[u8], limits: &Limits) -> Result<Inferred, ShapeError> {
    if body.len() > limits.max_body {
        return Err(ShapeError::TooLarge { len: body.len(), max: limits.max_body });
    }
    let mut de = serde_json::Deserializer::from_slice(body);
    let inferred = walk(&mut de, limits).map_err(|e| ShapeError::NotJson(e.to_string()))?;
    de.end().map_err(|e| ShapeError::NotJson(e.to_string()))?;
    inferred
}

pub(crate) fn infer_value(value: &serde_json::Value, limits: &Limits) -> Result<Inferred, ShapeError> {
    walk(value, limits).map_err(|e| ShapeError::NotJson(e.to_string()))?
}

fn walk<'de, D: serde::Deserializer<'de>>(de: D, limits: &Limits) -> Result<Result<Inferred, ShapeError>, D::Error> {
    let mut ctx = Ctx {
        max_depth: limits.max_depth.min(MAX_DEPTH),
        max_fields: limits.max_fields.saturating_mul(COLLECT_FACTOR),
        max_array_items: limits.max_array_items,
        paths: 0,
        complete: usize::MAX,
        visit: 0,
    };
    let mut root = Node::default();
    Walk { node: &mut root, depth: 0, ctx: &mut ctx }.deserialize(de)?;
    if !root.types.contains(Types::OBJECT) && !root.types.contains(Types::ARRAY) {
        let name = root.types.to_vec().first().map_or("value", |t| t.as_str());
        return Ok(Err(ShapeError::NotObject(name)));
    }
    finish(&mut root, 0);
    let (mut paths, mut complete) = (ctx.paths, ctx.complete);
    if paths > limits.max_fields {
        let depth;
        (paths, depth) = keep_shallowest(&mut root, limits.max_fields);
        complete = complete.min(depth);
    }
    Ok(Ok(Inferred { root, paths, complete }))
}

/// Cuts the tree to `max` paths, keeping whole levels from the top: a body too large to track
/// completely keeps `sender` and `repository` rather than the hundredth URL of a nested object
/// that came first. Within the level that does not fit whole, paths are kept in key order.
/// Returns the paths kept and the path segments up to which every path was kept.
fn keep_shallowest(root: &mut Node, max: usize) -> (usize, usize) {
    fn count(node: &Node, depth: usize, per_depth: &mut Vec<usize>) {
        let children = node.fields.len() + usize::from(node.items.is_some());
        if children == 0 {
            return;
        }
        if per_depth.len() <= depth {
            per_depth.resize(depth + 1, 0);
        }
        per_depth[depth] += children;
        node.fields.values().chain(node.items.as_deref()).for_each(|c| count(c, depth + 1, per_depth));
    }
    /// Keeps children above `cut` whole, and at `cut` while `left` lasts, without their children.
    fn prune(node: &mut Node, depth: usize, cut: usize, left: &mut usize) {
        let mut keep = |child: &mut Node| {
            if depth < cut {
                prune(child, depth + 1, cut, left);
                true
            } else if *left > 0 {
                *left -= 1;
                child.fields.clear();
                child.items = None;
                true
            } else {
                false
            }
        };
        node.fields.retain(|_, child| keep(child));
        if node.items.as_mut().is_some_and(|items| !keep(items)) {
            node.items = None;
        }
    }
    let mut per_depth = Vec::new();
    count(root, 0, &mut per_depth);
    let mut left = max;
    for (depth, n) in per_depth.into_iter().enumerate() {
        if n > left {
            prune(root, 0, depth, &mut left);
            return (max, depth);
        }
        left -= n;
    }
    (max - left, usize::MAX)
}

struct Walk<'a> {
    node: &'a mut Node,
    depth: usize,
    ctx: &'a mut Ctx,
}

impl<'de> DeserializeSeed<'de> for Walk<'_> {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Walk<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        self.node.types.add(Types::NULL);
        Ok(())
    }

    fn visit_none<E>(self) -> Result<(), E> {
        self.node.types.add(Types::NULL);
        Ok(())
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        self.node.types.add(Types::BOOL);
        Ok(())
    }

    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        self.node.types.add(Types::INTEGER);
        Ok(())
    }

    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        self.node.types.add(Types::INTEGER);
        Ok(())
    }

    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        self.node.types.add(Types::FLOAT);
        Ok(())
    }

    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        self.node.types.add(Types::STRING);
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let Walk { node, depth, ctx } = self;
        node.types.add(Types::OBJECT);
        node.objects += 1;
        if depth >= ctx.max_depth {
            while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
            return Ok(());
        }
        ctx.visit += 1;
        let visit = ctx.visit;
        while let Some(key) = map.next_key_seed(KeySeed)? {
            let key = key.as_str();
            let child = match node.fields.get_mut(key) {
                Some(child) => child,
                None if ctx.paths >= ctx.max_fields => {
                    ctx.complete = ctx.complete.min(depth);
                    map.next_value::<IgnoredAny>()?;
                    continue;
                }
                None => {
                    ctx.paths += 1;
                    node.fields.entry(key.to_owned()).or_default()
                }
            };
            if child.always != visit {
                child.always = visit;
                child.seen += 1;
            }
            map.next_value_seed(Walk { node: child, depth: depth + 1, ctx: &mut *ctx })?;
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let Walk { node, depth, ctx } = self;
        node.types.add(Types::ARRAY);
        if depth < ctx.max_depth {
            let mut sampled = 0;
            while sampled < ctx.max_array_items {
                // Created only once an element exists: an empty array says nothing about elements.
                let fresh = node.items.is_none();
                if fresh {
                    if ctx.paths >= ctx.max_fields {
                        ctx.complete = ctx.complete.min(depth);
                        break;
                    }
                    ctx.paths += 1;
                    node.items = Some(Box::default());
                }
                let items = node.items.as_mut().expect("created above");
                if seq.next_element_seed(Walk { node: items, depth: depth + 1, ctx: &mut *ctx })?.is_none() {
                    if fresh {
                        node.items = None;
                        ctx.paths -= 1;
                    }
                    return Ok(());
                }
                items.seen += 1;
                sampled += 1;
            }
        }
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(())
    }
}

/// A key, borrowed from the body unless it had escapes.
enum Key<'de> {
    Borrowed(&'de str),
    Owned(String),
}

impl Key<'_> {
    fn as_str(&self) -> &str {
        match self {
            Key::Borrowed(s) => s,
            Key::Owned(s) => s,
        }
    }
}

struct KeySeed;

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Key<'de>;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Key<'de>, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeySeed {
    type Value = Key<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object key")
    }

    fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Key<'de>, E> {
        Ok(Key::Borrowed(s))
    }

    fn visit_str<E>(self, s: &str) -> Result<Key<'de>, E> {
        Ok(Key::Owned(s.to_owned()))
    }

    fn visit_string<E>(self, s: String) -> Result<Key<'de>, E> {
        Ok(Key::Owned(s))
    }
}
