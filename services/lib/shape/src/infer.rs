//! The shape of one body, built while it is parsed: no `serde_json::Value` is materialised, keys
//! without escapes are not copied unless they are new, and whatever lies beyond a limit is skipped
//! by the parser's non-recursive skipper, so cost is bounded by the body's length.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};

use crate::node::Node;
use crate::types::Types;
use crate::{Limits, MAX_DEPTH, ShapeError};

/// One body's counts: per occurrence rather than per sample, turned into a one-sample [`Node`] at
/// the end.
#[derive(Default)]
struct Build {
    types: Types,
    /// For a field, the distinct occurrences of its parent object that held the key; for `[]`, the
    /// sampled elements.
    present: u64,
    /// Occurrences as an object.
    objects: u64,
    /// The parent-object occurrence that last counted this key, so a key repeated within one
    /// object (legal JSON) is counted once.
    last_visit: u64,
    fields: BTreeMap<String, Build>,
    items: Option<Box<Build>>,
}

impl Build {
    fn finish(self, parent_objects: u64) -> Node {
        let objects = self.objects;
        Node {
            types: self.types,
            seen: 1,
            always: u64::from(parent_objects > 0 && self.present >= parent_objects),
            objects: u64::from(objects > 0),
            fields: self.fields.into_iter().map(|(k, c)| (k, c.finish(objects))).collect(),
            items: self.items.map(|i| Box::new(i.finish(0))),
        }
    }
}

struct Ctx {
    max_depth: usize,
    max_fields: usize,
    max_array_items: usize,
    paths: usize,
    truncated: bool,
    visit: u64,
}

pub(crate) struct Inferred {
    pub(crate) root: Node,
    pub(crate) paths: usize,
    pub(crate) truncated: bool,
}

pub(crate) fn infer(body: &[u8], limits: &Limits) -> Result<Inferred, ShapeError> {
    if body.len() > limits.max_body {
        return Err(ShapeError::TooLarge { len: body.len(), max: limits.max_body });
    }
    let mut ctx = Ctx {
        max_depth: limits.max_depth.min(MAX_DEPTH),
        max_fields: limits.max_fields,
        max_array_items: limits.max_array_items,
        paths: 0,
        truncated: false,
        visit: 0,
    };
    let mut root = Build { present: 1, ..Build::default() };
    let mut de = serde_json::Deserializer::from_slice(body);
    Walk { node: &mut root, depth: 0, ctx: &mut ctx }
        .deserialize(&mut de)
        .and_then(|()| de.end())
        .map_err(|e| ShapeError::NotJson(e.to_string()))?;
    if !root.types.contains(Types::OBJECT) && !root.types.contains(Types::ARRAY) {
        let name = root.types.to_vec().first().map_or("value", |t| t.as_str());
        return Err(ShapeError::NotObject(name));
    }
    Ok(Inferred { root: root.finish(0), paths: ctx.paths, truncated: ctx.truncated })
}

struct Walk<'a> {
    node: &'a mut Build,
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
            if !node.fields.contains_key(key) {
                if ctx.paths >= ctx.max_fields {
                    ctx.truncated = true;
                    map.next_value::<IgnoredAny>()?;
                    continue;
                }
                ctx.paths += 1;
                node.fields.insert(key.to_owned(), Build::default());
            }
            let child = node.fields.get_mut(key).expect("inserted above");
            if child.last_visit != visit {
                child.last_visit = visit;
                child.present += 1;
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
                        ctx.truncated = true;
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
                items.present += 1;
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
