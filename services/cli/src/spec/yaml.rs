//! YAML text to JSON values and back, keeping where every key and item was written so an error
//! about `endpoints[2].verification.tolerance` can point at its line and column.

use std::collections::HashMap;

use saphyr::{LoadableYamlNode, MarkedYaml, Scalar, Yaml, YamlData, YamlEmitter};
use serde_json::{Map, Number, Value};

/// Where each key path was written: 1-based line and column.
#[derive(Debug, Default, Clone)]
pub(crate) struct Locations(HashMap<String, (usize, usize)>);

impl Locations {
    /// The place of `path`, or of its nearest written ancestor (a key the file left out is
    /// reported where its parent is).
    pub fn find(&self, path: &str) -> Option<(usize, usize)> {
        let mut p = path;
        loop {
            if let Some(at) = self.0.get(p) {
                return Some(*at);
            }
            if p.is_empty() {
                return None;
            }
            p = &p[..p.rfind(['.', '[']).unwrap_or(0)];
        }
    }
}

/// A place in the text and what is wrong there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct YamlError {
    pub line: usize,
    pub column: usize,
    pub path: String,
    pub message: String,
}

/// The one document in `text` as JSON, with the places of its keys and items.
pub(crate) fn parse(text: &str) -> Result<(Value, Locations), YamlError> {
    let docs = MarkedYaml::load_from_str(text).map_err(|e| YamlError {
        line: e.marker().line(),
        column: e.marker().col() + 1,
        path: String::new(),
        message: e.info().to_owned(),
    })?;
    let mut docs = docs.into_iter();
    let Some(doc) = docs.next() else {
        return Err(YamlError { line: 1, column: 1, path: String::new(), message: "the file is empty".into() });
    };
    if let Some(extra) = docs.next() {
        return Err(at(&extra, "", "the file holds more than one YAML document (`---`); put everything in one"));
    }
    let mut locations = Locations::default();
    locations.0.insert(String::new(), (doc.span.start.line().max(1), doc.span.start.col() + 1));
    let value = convert(&doc, String::new(), &mut locations)?;
    Ok((value, locations))
}

fn at(node: &MarkedYaml<'_>, path: &str, message: impl Into<String>) -> YamlError {
    let m = node.span.start;
    YamlError { line: m.line(), column: m.col() + 1, path: path.to_owned(), message: message.into() }
}

fn convert(node: &MarkedYaml<'_>, path: String, locations: &mut Locations) -> Result<Value, YamlError> {
    Ok(match &node.data {
        YamlData::Value(s) => scalar(s),
        YamlData::Sequence(items) => {
            let mut out = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                let p = format!("{path}[{i}]");
                locations.0.insert(p.clone(), (item.span.start.line(), item.span.start.col() + 1));
                out.push(convert(item, p, locations)?);
            }
            Value::Array(out)
        }
        YamlData::Mapping(map) => {
            let mut out = Map::new();
            for (k, v) in map {
                let key = match &k.data {
                    YamlData::Value(Scalar::String(s)) => s.to_string(),
                    _ => return Err(at(k, &path, "keys must be plain words such as `name`")),
                };
                let p = if path.is_empty() { key.clone() } else { format!("{path}.{key}") };
                if out.contains_key(&key) {
                    return Err(at(k, &p, format!("`{key}` is given twice")));
                }
                locations.0.insert(p.clone(), (k.span.start.line(), k.span.start.col() + 1));
                let value = convert(v, p, locations)?;
                out.insert(key, value);
            }
            Value::Object(out)
        }
        YamlData::Tagged(tag, _) => {
            return Err(at(node, &path, format!("tags such as `!{}` are not supported", tag.suffix)));
        }
        YamlData::Alias(_) => return Err(at(node, &path, "aliases (`*name`) are not supported; write the value out")),
        YamlData::BadValue | YamlData::Representation(..) => return Err(at(node, &path, "this value cannot be read")),
    })
}

fn scalar(s: &Scalar<'_>) -> Value {
    match s {
        Scalar::Null => Value::Null,
        Scalar::Boolean(b) => Value::Bool(*b),
        Scalar::Integer(i) => Value::Number((*i).into()),
        Scalar::FloatingPoint(f) => Number::from_f64(f.into_inner()).map_or(Value::Null, Value::Number),
        Scalar::String(s) => Value::String(s.to_string()),
    }
}

/// `value` as a YAML document. JSON maps here are sorted by key, so keys are written in
/// `order` (the schema's order), any others after them.
pub(crate) fn emit(value: &Value, order: &[&str]) -> String {
    let mut out = String::new();
    let mut emitter = YamlEmitter::new(&mut out);
    emitter.multiline_strings(true);
    // Writing into a String cannot fail, and every JSON value has a YAML form.
    let _ = emitter.dump(&to_yaml(value, order));
    out.push('\n');
    out
}

fn to_yaml(value: &Value, order: &[&str]) -> Yaml<'static> {
    match value {
        Value::Null => Yaml::Value(Scalar::Null),
        Value::Bool(b) => Yaml::Value(Scalar::Boolean(*b)),
        Value::Number(n) => match n.as_i64() {
            Some(i) => Yaml::Value(Scalar::Integer(i)),
            None => Yaml::Value(Scalar::FloatingPoint(n.as_f64().unwrap_or_default().into())),
        },
        Value::String(s) => Yaml::Value(Scalar::String(s.clone().into())),
        Value::Array(items) => Yaml::Sequence(items.iter().map(|v| to_yaml(v, order)).collect()),
        Value::Object(map) => {
            let mut m = saphyr::Mapping::new();
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort_by_key(|k| order.iter().position(|o| o == k).unwrap_or(order.len()));
            for k in keys {
                m.insert(Yaml::Value(Scalar::String(k.clone().into())), to_yaml(&map[k], order));
            }
            Yaml::Mapping(m)
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn keys_and_items_know_their_line_and_column() {
        let text = "version: 1\nendpoints:\n  - name: a\n    verification:\n      provider: stripe\n";
        let (value, at) = parse(text).unwrap();
        assert_eq!(
            value,
            json!({ "version": 1, "endpoints": [{ "name": "a", "verification": { "provider": "stripe" } }] })
        );
        assert_eq!(at.find("version"), Some((1, 1)));
        assert_eq!(at.find("endpoints[0]"), Some((3, 5)));
        assert_eq!(at.find("endpoints[0].verification.provider"), Some((5, 7)));
        assert_eq!(at.find("endpoints[0].verification.tolerance"), Some((4, 5)), "the parent of a missing key");
    }

    #[test]
    fn bad_yaml_and_duplicate_keys_name_the_place() {
        let e = parse("a: [1, 2\n").unwrap_err();
        assert_eq!(e.line, 2, "{e:?}");
        let e = parse("a: 1\nb: !secret x\n").unwrap_err();
        assert_eq!((e.line, e.path.as_str(), e.message.as_str()), (2, "b", "tags such as `!secret` are not supported"));
    }

    #[test]
    fn emitted_yaml_reads_back_the_same() {
        let value = json!({
            "version": 1,
            "endpoints": [{ "name": "a: b", "response": { "status": 200, "body": "line 1\nline 2\n", "headers": ["X-A: 1"] },
                            "other": ["true", "1", "", " x", "null"] }],
        });
        let text = emit(&value, &[]);
        assert_eq!(parse(&text).unwrap().0, value, "{text}");
    }
}
