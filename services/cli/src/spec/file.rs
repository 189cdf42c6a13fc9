//! The endpoints file (`hookmetry.yaml`) as types: what `apply` reads and `export` writes.
//! Unknown keys are errors; everything an endpoint leaves out is its default.

use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Keys in an order that writes each map of the file as the types below list its fields.
pub(crate) const KEY_ORDER: &[&str] = &[
    "version",
    "team",
    "endpoints",
    "name",
    "label",
    "env",
    "file",
    "id",
    "target",
    "method",
    "pathPrefix",
    "header",
    "contains",
    "eventTypes",
    "algorithm",
    "encoding",
    "prefix",
    "template",
    "timestampHeader",
    "idHeader",
    "type",
    "createdAt",
    "attempt",
    "resource",
    "provider",
    "secrets",
    "tolerance",
    "publicUrl",
    "generic",
    "verification",
    "handshakes",
    "eventFields",
    "percent",
    "percentile",
    "count",
    "before",
    "after",
    "status",
    "headers",
    "body",
    "delay",
    "timeout",
    "reply",
    "steps",
    "then",
    "choices",
    "rest",
    "fixed",
    "sequence",
    "mix",
    "goneAfter",
    "latency",
    "points",
    "response",
    "forwardingRules",
    "scenario",
    "maxCaptures",
    "ttl",
];

/// The only version there is so far; a later format gets a new number.
pub(crate) const VERSION: u32 = 1;

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct SpecFile {
    pub version: u32,
    /// Team id; default the token's team (`--team` overrides it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team: Option<String>,
    #[serde(default)]
    pub endpoints: Vec<EndpointSpec>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct EndpointSpec {
    /// The endpoint's identity within the team.
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verification: Option<VerificationSpec>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub handshakes: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_fields: Option<EventFieldsSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response: Option<ResponseSpec>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub forwarding_rules: Vec<RuleSpec>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scenario: Vec<ScenarioRuleSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_captures: Option<u64>,
    /// Counted from the endpoint's creation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<Human>,
}

/// A scenario rule: the API's `ScenarioRuleInput` with its answer's kind as a key of the rule
/// (exactly one of `fixed`, `sequence`, `mix`, `goneAfter`, `latency`).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct ScenarioRuleSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path_prefix: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header: Option<HeaderMatchSpec>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub event_types: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fixed: Option<ReplySpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sequence: Option<SequenceSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mix: Option<MixSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gone_after: Option<GoneAfterSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency: Option<LatencySpec>,
}

/// One answer: as `response`, plus `timeout` (hold the request, then 504).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct ReplySpec {
    #[serde(default = "ok")]
    pub status: u16,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub headers: Vec<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub body: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay: Option<Human>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub timeout: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum SequenceEnd {
    Repeat,
    Stick,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct SequenceSpec {
    pub steps: Vec<ReplySpec>,
    /// `repeat` (default) starts over after the last step; `stick` keeps answering it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub then: Option<SequenceEnd>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct MixSpec {
    pub choices: Vec<MixChoiceSpec>,
    pub rest: ReplySpec,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct MixChoiceSpec {
    pub percent: f64,
    pub reply: ReplySpec,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct GoneAfterSpec {
    pub count: u64,
    /// Default 200.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<ReplySpec>,
    /// Default 410.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<ReplySpec>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct LatencySpec {
    /// Default 200.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply: Option<ReplySpec>,
    pub points: Vec<LatencyPointSpec>,
}

/// `percentile` percent of requests wait at most `delay`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct LatencyPointSpec {
    pub percentile: f64,
    pub delay: Human,
}

fn is_false(b: &bool) -> bool {
    !b
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct VerificationSpec {
    pub provider: String,
    /// Left out: the endpoint keeps the secrets it has (same provider only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secrets: Option<Vec<SecretRef>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tolerance: Option<Human>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generic: Option<GenericSpec>,
}

/// Where a secret's value is: an environment variable or a file, never the YAML itself.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct SecretRef {
    pub label: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// Read only to refuse it with a sentence instead of "unknown key".
    #[serde(default, skip_serializing)]
    pub value: Option<serde::de::IgnoredAny>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct GenericSpec {
    pub header: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub algorithm: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoding: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp_header: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_header: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct EventFieldsSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempt: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct ResponseSpec {
    #[serde(default = "ok")]
    pub status: u16,
    /// `Name: value` lines, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub headers: Vec<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub body: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay: Option<Human>,
}

fn ok() -> u16 {
    200
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct RuleSpec {
    pub id: String,
    pub target: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path_prefix: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header: Option<HeaderMatchSpec>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub event_types: Vec<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct HeaderMatchSpec {
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub contains: String,
}

/// A duration as people write it: `5m`, `250ms`, `1h 30m`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Human(pub Duration);

impl<'de> Deserialize<'de> for Human {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // A bare number has no unit: `300` could mean seconds or milliseconds.
        let raw = serde_json::Value::deserialize(d)?;
        let Some(text) = raw.as_str() else {
            return Err(serde::de::Error::custom(format!(
                "expected a duration with a unit such as `5m` or `250ms`, got `{raw}`"
            )));
        };
        humantime::parse_duration(text.trim())
            .map(Human)
            .map_err(|e| serde::de::Error::custom(format!("`{text}` is not a duration such as `5m` or `250ms` ({e})")))
    }
}

impl Serialize for Human {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&humantime::format_duration(self.0).to_string())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use serde_json::Value;

    use super::KEY_ORDER;

    fn properties(v: &Value, out: &mut BTreeSet<String>) {
        match v {
            Value::Object(map) => {
                if let Some(Value::Object(props)) = map.get("properties") {
                    out.extend(props.keys().cloned());
                }
                map.values().for_each(|v| properties(v, out));
            }
            Value::Array(items) => items.iter().for_each(|v| properties(v, out)),
            _ => {}
        }
    }

    /// The JSON Schema editors use names the keys the file has, no more, no fewer.
    #[test]
    fn the_json_schema_for_editors_names_every_key() {
        let schema: Value = serde_json::from_str(include_str!("../../../../docs/hookmetry.schema.json")).unwrap();
        let mut keys = BTreeSet::new();
        properties(&schema, &mut keys);
        let ours: BTreeSet<String> = KEY_ORDER.iter().map(|k| (*k).to_owned()).collect();
        assert_eq!(keys, ours);
    }
}
