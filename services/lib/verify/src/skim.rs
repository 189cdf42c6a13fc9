//! A few values read out of a JSON document by RFC 6901 pointer, in one pass, without building
//! the document: everything off the wanted paths is skipped by the parser (`IgnoredAny`), so a
//! large body costs a scan rather than an allocation per node. The document must still be valid
//! JSON as a whole; an invalid one yields nothing, as a full parse would.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

/// The wanted pointers as a tree of reference tokens (unescaped: `~1` is `/`, `~0` is `~`).
#[derive(Default)]
struct Trie {
    /// This node's path is wanted itself: its whole value is kept.
    wanted: Option<String>,
    children: BTreeMap<String, Trie>,
}

impl Trie {
    fn insert(&mut self, pointer: &str) {
        let mut node = self;
        for token in pointer.split('/').skip(1) {
            node = node.children.entry(token.replace("~1", "/").replace("~0", "~")).or_default();
        }
        node.wanted = Some(pointer.to_string());
    }
}

/// The values at `pointers` (those present), by pointer; `None` when the body is not a JSON
/// object or array, or not valid JSON.
pub(crate) fn values(body: &[u8], pointers: &[&str]) -> Option<BTreeMap<String, Value>> {
    let mut trie = Trie::default();
    for p in pointers.iter().filter(|p| p.starts_with('/')) {
        trie.insert(p);
    }
    let found = RefCell::new(BTreeMap::new());
    let mut de = serde_json::Deserializer::from_slice(body);
    Walk { node: &trie, found: &found }.deserialize(&mut de).ok()?;
    de.end().ok()?;
    Some(found.into_inner())
}

/// Looks `pointer` up among the values [`values`] kept: directly, or inside a kept value whose
/// pointer is a prefix of it (when both `/a` and `/a/b` are wanted, `/a` is kept whole).
pub(crate) fn lookup<'v>(found: &'v BTreeMap<String, Value>, pointer: &str) -> Option<&'v Value> {
    if let Some(v) = found.get(pointer) {
        return Some(v);
    }
    found.iter().find_map(|(p, v)| {
        let rest = pointer.strip_prefix(p.as_str())?;
        rest.starts_with('/').then(|| v.pointer(rest)).flatten()
    })
}

struct Walk<'a> {
    node: &'a Trie,
    found: &'a RefCell<BTreeMap<String, Value>>,
}

impl<'de> DeserializeSeed<'de> for Walk<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        if let Some(pointer) = &self.node.wanted {
            let v = Value::deserialize(d)?;
            self.found.borrow_mut().insert(pointer.clone(), v);
            return Ok(());
        }
        d.deserialize_any(self)
    }
}

use serde::Deserialize as _;

impl<'de> Visitor<'de> for Walk<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            match self.node.children.get(key.as_ref()) {
                Some(child) => map.next_value_seed(Walk { node: child, found: self.found })?,
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut i = 0usize;
        loop {
            let more = match self.node.children.get(&i.to_string()) {
                Some(child) => seq.next_element_seed(Walk { node: child, found: self.found })?.is_some(),
                None => seq.next_element::<IgnoredAny>()?.is_some(),
            };
            if !more {
                return Ok(());
            }
            i += 1;
        }
    }

    // Scalars off the wanted paths: nothing to keep.
    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_none<E>(self) -> Result<(), E> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn get(body: &str, pointers: &[&str]) -> Option<BTreeMap<String, Value>> {
        values(body.as_bytes(), pointers)
    }

    #[test]
    fn reads_what_value_pointer_reads() {
        let body = r#"{"id":"evt_1","type":"a.b","n":3,"data":{"object":{"id":"ch_1","x":[1,2]}},"list":[{"k":"v0"},{"k":"v1"}],"a/b":{"~c":5}}"#;
        let full: Value = serde_json::from_str(body).unwrap();
        let pointers =
            ["/id", "/type", "/n", "/data/object/id", "/list/1/k", "/a~1b/~0c", "/missing", "/data/object/x/5"];
        let found = get(body, &pointers).unwrap();
        for p in pointers {
            assert_eq!(lookup(&found, p), full.pointer(p), "{p}");
        }
    }

    #[test]
    fn a_wanted_prefix_keeps_its_value_whole() {
        let found = get(r#"{"a":{"b":1,"c":{"d":"x"}}}"#, &["/a", "/a/c/d"]).unwrap();
        assert_eq!(lookup(&found, "/a/c/d"), Some(&json!("x")));
        assert_eq!(lookup(&found, "/a/b"), Some(&json!(1)));
        assert_eq!(lookup(&found, "/ab"), None, "a prefix of the text is not a prefix of the path");
    }

    #[test]
    fn invalid_or_scalar_documents_yield_nothing() {
        assert_eq!(get(r#"{"id":"x""#, &["/id"]), None);
        assert_eq!(get(r#"{"id":"x"} trailing"#, &["/id"]), None);
        assert_eq!(get(r#"{"id":"x","y":tru}"#, &["/id"]), None, "an invalid value off the path still counts");
        assert!(get(r#""text""#, &["/id"]).unwrap().is_empty());
        assert!(get(r#"[{"id":1}]"#, &["/0/id"]).unwrap().contains_key("/0/id"));
    }

    #[test]
    fn the_last_of_duplicate_keys_wins_as_in_a_full_parse() {
        let found = get(r#"{"type":"a","type":"b"}"#, &["/type"]).unwrap();
        assert_eq!(lookup(&found, "/type"), Some(&json!("b")));
    }

    #[test]
    fn deep_documents_are_refused_not_overflowed() {
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert_eq!(get(&deep, &["/0"]), None, "serde_json's recursion limit applies");
    }
}
