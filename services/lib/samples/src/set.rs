//! `--set path=value`: changing one field of a sample before it is serialised.

use serde_json::{Map, Value};

use crate::SampleError;

/// Sets the dotted `path` of `body` to `raw`, read as JSON when it parses as JSON and as a string
/// otherwise. Missing keys are created (as objects on the way); array elements are addressed by
/// index and must exist.
pub(crate) fn json(body: &mut Value, path: &str, raw: &str) -> Result<(), SampleError> {
    let bad = |reason: String| SampleError::BadPath { path: path.to_string(), reason };
    let segments: Vec<&str> = path.split('.').collect();
    if segments.iter().any(|s| s.is_empty()) {
        return Err(bad("a path is field names and array indices joined by `.`, none of them empty".into()));
    }
    let value = serde_json::from_str(raw).unwrap_or_else(|_| Value::String(raw.to_string()));
    let (last, parents) = segments.split_last().ok_or_else(|| bad("the path is empty".into()))?;
    let mut at = body;
    for (i, seg) in parents.iter().enumerate() {
        let here = || segments[..i].join(".");
        at = match at {
            Value::Object(map) => map.entry(*seg).or_insert_with(|| Value::Object(Map::new())),
            Value::Array(items) => element(items, seg).map_err(|r| bad(format!("{r} at `{}`", here())))?,
            other => return Err(bad(format!("`{}` is {}, not an object or array", here(), kind(other)))),
        };
    }
    let here = parents.join(".");
    let here = if here.is_empty() { "the body".to_string() } else { format!("`{here}`") };
    match at {
        Value::Object(map) => {
            map.insert((*last).to_string(), value);
        }
        Value::Array(items) => *element(items, last).map_err(|r| bad(format!("{r} at {here}")))? = value,
        other => return Err(bad(format!("{here} is {}, not an object or array", kind(other)))),
    }
    Ok(())
}

/// The element of `items` that `seg` indexes, or why there is none.
fn element<'a>(items: &'a mut [Value], seg: &str) -> Result<&'a mut Value, String> {
    let len = items.len();
    let index: usize = seg.parse().map_err(|_| format!("`{seg}` is not an index into the array of {len}"))?;
    items.get_mut(index).ok_or_else(|| format!("index {index} is past the end of the array of {len}"))
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Sets the form field `name` to `value`: the first of that name is replaced and later ones are
/// dropped, so the field ends up with exactly this value; a new field goes at the end.
pub(crate) fn form(fields: &mut Vec<(String, String)>, name: &str, value: &str) -> Result<(), SampleError> {
    if name.is_empty() {
        return Err(SampleError::BadPath { path: name.to_string(), reason: "a form field needs a name".into() });
    }
    match fields.iter().position(|(n, _)| n == name) {
        Some(first) => {
            fields[first].1 = value.to_string();
            let mut i = first + 1;
            while i < fields.len() {
                if fields[i].0 == name {
                    fields.remove(i);
                } else {
                    i += 1;
                }
            }
        }
        None => fields.push((name.to_string(), value.to_string())),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn sample() -> Value {
        json!({"data": {"object": {"amount": 2000, "currency": "usd"}}, "items": [{"price": 5}, {"price": 7}], "n": 1})
    }

    fn set(v: &mut Value, path: &str, raw: &str) -> Result<(), String> {
        json(v, path, raw).map_err(|e| e.to_string())
    }

    #[test]
    fn sets_a_nested_field_with_the_value_read_as_json() {
        let mut v = sample();
        set(&mut v, "data.object.amount", "4200").unwrap();
        assert_eq!(v["data"]["object"]["amount"], json!(4200));
        set(&mut v, "data.object.currency", "eur").unwrap();
        assert_eq!(v["data"]["object"]["currency"], json!("eur"), "not JSON, so a string");
        set(&mut v, "data.object.currency", r#""42""#).unwrap();
        assert_eq!(v["data"]["object"]["currency"], json!("42"), "a quoted number stays a string");
        set(&mut v, "data.object.livemode", "true").unwrap();
        assert_eq!(v["data"]["object"]["livemode"], json!(true));
        set(&mut v, "data.object.customer", "null").unwrap();
        assert_eq!(v["data"]["object"]["customer"], Value::Null);
        set(&mut v, "data.object.metadata", r#"{"order":"A-1"}"#).unwrap();
        assert_eq!(v["data"]["object"]["metadata"], json!({"order": "A-1"}));
        set(&mut v, "data.object.rate", "1.5").unwrap();
        assert_eq!(v["data"]["object"]["rate"], json!(1.5));
    }

    #[test]
    fn creates_missing_keys_and_the_objects_on_the_way() {
        let mut v = sample();
        set(&mut v, "extra", "x").unwrap();
        set(&mut v, "data.object.metadata.order_id", "A-17").unwrap();
        assert_eq!(v["extra"], json!("x"));
        assert_eq!(v["data"]["object"]["metadata"], json!({"order_id": "A-17"}));
        assert_eq!(v["data"]["object"]["amount"], json!(2000), "siblings are kept");
    }

    #[test]
    fn indexes_arrays() {
        let mut v = sample();
        set(&mut v, "items.1.price", "9").unwrap();
        assert_eq!(v["items"], json!([{"price": 5}, {"price": 9}]));
        set(&mut v, "items.0", r#"{"price":1}"#).unwrap();
        assert_eq!(v["items"][0], json!({"price": 1}));
    }

    #[test]
    fn errors_name_the_path_and_what_is_wrong() {
        let mut v = sample();
        let before = v.clone();
        let e = set(&mut v, "items.2.price", "1").unwrap_err();
        assert!(e.contains("`items.2.price`") && e.contains("index 2 is past the end of the array of 2"), "{e}");
        let e = set(&mut v, "items.first.price", "1").unwrap_err();
        assert!(e.contains("`first` is not an index") && e.contains("at `items`"), "{e}");
        let e = set(&mut v, "items.5", "1").unwrap_err();
        assert!(e.contains("`items.5`") && e.contains("past the end"), "{e}");
        let e = set(&mut v, "n.value", "1").unwrap_err();
        assert!(e.contains("`n.value`") && e.contains("`n` is a number, not an object or array"), "{e}");
        let e = set(&mut v, "data.object.currency.code", "1").unwrap_err();
        assert!(e.contains("`data.object.currency` is a string"), "{e}");
        let e = set(&mut v, "data..amount", "1").unwrap_err();
        assert!(e.contains("`data..amount`") && e.contains("none of them empty"), "{e}");
        assert!(set(&mut v, "", "1").is_err());
        assert_eq!(v, before, "a failed set changes nothing it did not create on the way");
    }

    #[test]
    fn a_body_that_is_not_an_object_cannot_be_set_into() {
        let mut v = json!("text");
        let e = set(&mut v, "a", "1").unwrap_err();
        assert!(e.contains("the body is a string"), "{e}");
    }

    #[test]
    fn form_fields_are_replaced_or_added() {
        let mut f = vec![
            ("Body".to_string(), "hi".to_string()),
            ("From".to_string(), "+1".to_string()),
            ("Body".to_string(), "again".to_string()),
        ];
        form(&mut f, "Body", "STOP").unwrap();
        form(&mut f, "NumMedia", "1").unwrap();
        let got: Vec<_> = f.iter().map(|(n, v)| format!("{n}={v}")).collect();
        assert_eq!(got, ["Body=STOP", "From=+1", "NumMedia=1"]);
        assert!(form(&mut f, "", "x").unwrap_err().to_string().contains("needs a name"));
    }
}
