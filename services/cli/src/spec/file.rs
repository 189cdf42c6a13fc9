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
    "status",
    "headers",
    "body",
    "delay",
    "response",
    "forwardingRules",
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
