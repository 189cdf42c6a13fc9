//! JSON types as a set: one byte per field, because a shape holds up to `max_fields` of them and
//! every capture unions into them.

use serde::{Deserialize, Serialize};

/// One JSON type a field was seen with.
///
/// Numbers are one type with a refinement: `Integer` while every number seen at the path was
/// integral, `Number` once any was not (`1.5`, `1e3`, or an integer too large for 64 bits). A float
/// appearing where only integers were seen is not a retype: amounts and counters printed as `10.0`
/// by one sender and `10` by another would otherwise be reported again and again.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JsonType {
    Null,
    Boolean,
    Integer,
    Number,
    String,
    Object,
    Array,
}

impl JsonType {
    /// The name JSON Schema uses for it.
    pub fn as_str(self) -> &'static str {
        match self {
            JsonType::Null => "null",
            JsonType::Boolean => "boolean",
            JsonType::Integer => "integer",
            JsonType::Number => "number",
            JsonType::String => "string",
            JsonType::Object => "object",
            JsonType::Array => "array",
        }
    }
}

/// A set of [`JsonType`]s. `INTEGER` and `FLOAT` are separate bits so that "only integers so far"
/// survives merging; they are shown as one type (see [`JsonType`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Types(u8);

impl Types {
    pub(crate) const NULL: Types = Types(1);
    pub(crate) const BOOL: Types = Types(1 << 1);
    pub(crate) const INTEGER: Types = Types(1 << 2);
    pub(crate) const FLOAT: Types = Types(1 << 3);
    pub(crate) const STRING: Types = Types(1 << 4);
    pub(crate) const OBJECT: Types = Types(1 << 5);
    pub(crate) const ARRAY: Types = Types(1 << 6);
    const NUMBER: u8 = Self::INTEGER.0 | Self::FLOAT.0;

    pub(crate) fn add(&mut self, other: Types) {
        self.0 |= other.0;
        // "Integer, and once a float" is just "number": one representation, so equal shapes
        // compare equal and survive storage unchanged.
        if self.0 & Self::FLOAT.0 != 0 {
            self.0 &= !Self::INTEGER.0;
        }
    }

    pub(crate) fn contains(self, other: Types) -> bool {
        self.0 & other.0 == other.0 && other.0 != 0
    }

    /// The types as a consumer sees them: integer and float fold into one "number" bit.
    fn coarse(self) -> u8 {
        if self.0 & Self::NUMBER != 0 { (self.0 & !Self::NUMBER) | Self::INTEGER.0 } else { self.0 }
    }

    /// Whether `other` holds a type this set has never seen, integer and float counting as one.
    pub(crate) fn gains(self, other: Types) -> bool {
        other.coarse() & !self.coarse() != 0
    }

    pub(crate) fn to_vec(self) -> Vec<JsonType> {
        let mut out = Vec::with_capacity(2);
        for (bit, ty) in [
            (Self::NULL, JsonType::Null),
            (Self::BOOL, JsonType::Boolean),
            (Self::INTEGER, JsonType::Integer),
            (Self::FLOAT, JsonType::Number),
            (Self::STRING, JsonType::String),
            (Self::OBJECT, JsonType::Object),
            (Self::ARRAY, JsonType::Array),
        ] {
            if self.contains(bit) {
                out.push(ty);
            }
        }
        out
    }

    pub(crate) fn from_slice(types: &[JsonType]) -> Types {
        let mut out = Types::default();
        for ty in types {
            out.add(match ty {
                JsonType::Null => Self::NULL,
                JsonType::Boolean => Self::BOOL,
                JsonType::Integer => Self::INTEGER,
                JsonType::Number => Self::FLOAT,
                JsonType::String => Self::STRING,
                JsonType::Object => Self::OBJECT,
                JsonType::Array => Self::ARRAY,
            });
        }
        out
    }
}

impl Serialize for Types {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.to_vec().serialize(s)
    }
}

impl<'de> Deserialize<'de> for Types {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Types::from_slice(&Vec::<JsonType>::deserialize(d)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integer_then_float_is_one_number_and_not_a_gain() {
        let mut t = Types::INTEGER;
        assert_eq!(t.to_vec(), vec![JsonType::Integer]);
        assert!(!t.gains(Types::FLOAT));
        t.add(Types::FLOAT);
        t.add(Types::NULL);
        assert_eq!(t.to_vec(), vec![JsonType::Null, JsonType::Number]);
        assert!(!Types::FLOAT.gains(Types::INTEGER));
        assert!(t.gains(Types::STRING));
        assert!(!t.gains(Types::NULL));
    }

    #[test]
    fn round_trips_through_names() {
        let mut t = Types::STRING;
        t.add(Types::FLOAT);
        t.add(Types::ARRAY);
        let json = serde_json::to_string(&t).unwrap();
        assert_eq!(json, r#"["number","string","array"]"#);
        let back: Types = serde_json::from_str(&json).unwrap();
        assert_eq!(back, t);
    }
}
