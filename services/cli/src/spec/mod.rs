//! Endpoints as code: the file `hookmetry apply` reads and `hookmetry export` writes.
//!
//! `yaml` turns text into JSON values with the place of every key; `file` is the schema as
//! types; this module checks a file and turns it into the `applyEndpoints` input, resolving
//! secret references. Every error names `file:line:column` and the key path, whether the CLI or
//! the server found it (the server names its field, [`Loaded::locate`] finds it in the file).

mod file;
mod yaml;

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

pub(crate) use file::{
    EndpointSpec, EventFieldsSpec, GenericSpec, GoneAfterSpec, HeaderMatchSpec, Human, KEY_ORDER, LatencyPointSpec,
    LatencySpec, MixChoiceSpec, MixSpec, ReplySpec, ResponseSpec, RuleSpec, ScenarioRuleSpec, SecretRef, SequenceEnd,
    SequenceSpec, SpecFile, VERSION, VerificationSpec,
};
pub(crate) use yaml::emit;

/// A checked file, ready to send.
#[derive(Debug)]
pub(crate) struct Loaded {
    pub file: SpecFile,
    /// `applyEndpoints`' `endpoints`, secret values included: never printed.
    pub endpoints: Vec<Value>,
    path: PathBuf,
    locations: yaml::Locations,
}

/// What is wrong with a file, where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.render())]
pub(crate) struct SpecError {
    pub file: String,
    pub line: Option<(usize, usize)>,
    pub path: String,
    pub message: String,
}

impl SpecError {
    fn render(&self) -> String {
        let place = match self.line {
            Some((l, c)) => format!("{}:{l}:{c}", self.file),
            None => self.file.clone(),
        };
        if self.path.is_empty() {
            format!("{place}: {}", self.message)
        } else {
            format!("{place}: {}: {}", self.path, self.message)
        }
    }
}

/// Reads and checks `path`; `env` looks up environment variables (the process's, in use).
pub(crate) fn load(path: &Path, env: &dyn Fn(&str) -> Option<String>) -> Result<Loaded, SpecError> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| SpecError {
        file: shown.clone(),
        line: None,
        path: String::new(),
        message: format!("cannot be read: {e}"),
    })?;
    let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
    parse(&text, &shown, &base, env)
}

/// [`load`] of text already read; `base` is where `file:` references are relative to.
pub(crate) fn parse(
    text: &str,
    shown: &str,
    base: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Loaded, SpecError> {
    let (file, locations): (SpecFile, _) = read(text, shown)?;
    let error = placed(shown, &locations);
    if file.version != VERSION {
        return Err(error("version".into(), format!("must be {VERSION}, got {}", file.version)));
    }
    let endpoints = file
        .endpoints
        .iter()
        .enumerate()
        .map(|(i, e)| endpoint_input(e, &format!("endpoints[{i}]"), base, env))
        .collect::<Result<Vec<_>, (String, String)>>()
        .map_err(|(path, message)| error(path, message))?;
    drop(error);
    Ok(Loaded { file, endpoints, path: PathBuf::from(shown), locations })
}

impl Loaded {
    /// The error the server gave for its `field` (`endpoints[0].verification.toleranceSeconds`),
    /// placed at the key of the file it came from.
    pub fn locate(&self, field: &str, message: &str) -> SpecError {
        let path = file_path(field);
        // "invalid `field`: message": the path is said separately.
        let message = message.strip_prefix(&format!("invalid `{field}`: ")).unwrap_or(message).to_owned();
        SpecError { file: self.path.display().to_string(), line: self.locations.find(&path), path, message }
    }
}

/// `text` as YAML read into `T`, with where each key sits; errors are placed at their line.
fn read<T: serde::de::DeserializeOwned>(text: &str, shown: &str) -> Result<(T, yaml::Locations), SpecError> {
    let (value, locations) = yaml::parse(text).map_err(|e| SpecError {
        file: shown.to_owned(),
        line: Some((e.line, e.column)),
        path: e.path,
        message: e.message,
    })?;
    let read = serde_path_to_error::deserialize(value).map_err(|e| {
        let (path, message) = serde_error(&e);
        placed(shown, &locations)(path, message)
    })?;
    Ok((read, locations))
}

/// Makes the error of a key path, placed at its line in `shown` when the file has it.
fn placed<'a>(shown: &'a str, locations: &'a yaml::Locations) -> impl Fn(String, String) -> SpecError + 'a {
    move |path, message| SpecError { file: shown.to_owned(), line: locations.find(&path), path, message }
}

/// The key path and message of a serde error.
fn serde_error(e: &serde_path_to_error::Error<serde_json::Error>) -> (String, String) {
    let mut path = e.path().to_string();
    if path == "." {
        path.clear();
    }
    let message = e.inner().to_string();
    // serde names an unknown key in its message, the path stops at the map holding it.
    if let Some(key) = message.strip_prefix("unknown field `").and_then(|m| m.split('`').next())
        && !path.ends_with(key)
    {
        path = if path.is_empty() { key.to_owned() } else { format!("{path}.{key}") };
    }
    (path, message)
}

/// A scenario on its own (`hookmetry endpoint update --scenario FILE`): a YAML list of rules as
/// a file's `scenario:` holds them, as `updateEndpoint`'s `scenario` input.
#[derive(Debug)]
pub(crate) struct LoadedScenario {
    pub rules: Vec<Value>,
    shown: String,
    locations: yaml::Locations,
}

pub(crate) fn parse_scenario(text: &str, shown: &str) -> Result<LoadedScenario, SpecError> {
    let (rules, locations): (Vec<ScenarioRuleSpec>, _) = read(text, shown)?;
    let error = placed(shown, &locations);
    let rules = rules
        .iter()
        .enumerate()
        .map(|(j, r)| scenario_rule_input(r, &format!("[{j}]")))
        .collect::<Result<Vec<_>, Bad>>()
        .map_err(|(path, message)| error(path, message))?;
    drop(error);
    Ok(LoadedScenario { rules, shown: shown.to_owned(), locations })
}

impl LoadedScenario {
    /// The error the server gave for its `field` (`scenario[0].answer.fixed.status`), placed in
    /// the file.
    pub fn locate(&self, field: &str, message: &str) -> SpecError {
        let message = message.strip_prefix(&format!("invalid `{field}`: ")).unwrap_or(message).to_owned();
        let path = file_path(field);
        let path = path.strip_prefix("scenario").unwrap_or(&path).to_owned();
        SpecError { file: self.shown.clone(), line: self.locations.find(&path), path, message }
    }
}

/// The file's key path for a field of the API's input: the few keys the file spells its own way.
fn file_path(field: &str) -> String {
    let mut out: Vec<String> = Vec::new();
    for segment in field.split('.') {
        let (name, index) = segment.split_at(segment.find('[').unwrap_or(segment.len()));
        let name = match name {
            "toleranceSeconds" => "tolerance",
            "delayMs" | "ms" => "delay",
            "ttlSeconds" => "ttl",
            // A scenario rule's answer kind is a key of the rule itself in the file.
            "answer" if index.is_empty() => continue,
            // A secret's value is read from its reference, which is what the file shows.
            "value" if out.last().is_some_and(|l| l.starts_with("secrets[")) => continue,
            other => other,
        };
        out.push(format!("{name}{index}"));
    }
    out.join(".")
}

type Bad = (String, String);

fn endpoint_input(e: &EndpointSpec, at: &str, base: &Path, env: &dyn Fn(&str) -> Option<String>) -> Result<Value, Bad> {
    let mut input = json!({ "name": e.name, "handshakes": e.handshakes });
    if let Some(r) = &e.response {
        input["response"] = response_input(r, &format!("{at}.response"))?;
    }
    if let Some(v) = &e.verification {
        input["verification"] = verification_input(v, &format!("{at}.verification"), base, env)?;
    }
    if let Some(f) = &e.event_fields {
        input["eventFields"] = json!({ "id": f.id, "type": f.kind, "createdAt": f.created_at, "attempt": f.attempt, "resource": f.resource });
    }
    input["scenario"] = e
        .scenario
        .iter()
        .enumerate()
        .map(|(j, r)| scenario_rule_input(r, &format!("{at}.scenario[{j}]")))
        .collect::<Result<Vec<_>, Bad>>()?
        .into();
    if let Some(max) = e.max_captures {
        input["maxCaptures"] = json!(max);
    }
    if let Some(Human(ttl)) = e.ttl {
        if ttl.subsec_nanos() != 0 {
            return Err((
                format!("{at}.ttl"),
                format!("must be whole seconds, got `{}`", humantime::format_duration(ttl)),
            ));
        }
        input["ttlSeconds"] = json!(ttl.as_secs());
    }
    input["forwardingRules"] = e
        .forwarding_rules
        .iter()
        .map(|r| {
            json!({
                "id": r.id, "target": r.target, "method": r.method, "pathPrefix": r.path_prefix,
                "header": r.header.as_ref().map(|h| json!({ "name": h.name, "contains": h.contains })),
                "eventTypes": r.event_types,
            })
        })
        .collect();
    Ok(input)
}

fn scenario_rule_input(r: &ScenarioRuleSpec, at: &str) -> Result<Value, Bad> {
    let reply = |r: &ReplySpec, at: String| reply_input(r, &at);
    let mut kinds = Vec::new();
    if let Some(f) = &r.fixed {
        kinds.push(("fixed", reply(f, format!("{at}.fixed"))?));
    }
    if let Some(s) = &r.sequence {
        let steps = s.steps.iter().enumerate().map(|(k, st)| reply(st, format!("{at}.sequence.steps[{k}]")));
        let then = match s.then.unwrap_or(SequenceEnd::Repeat) {
            SequenceEnd::Repeat => "REPEAT",
            SequenceEnd::Stick => "STICK",
        };
        kinds.push(("sequence", json!({ "steps": steps.collect::<Result<Vec<_>, _>>()?, "then": then })));
    }
    if let Some(m) = &r.mix {
        let choices = m
            .choices
            .iter()
            .enumerate()
            .map(|(k, c)| {
                Ok(json!({ "percent": c.percent, "reply": reply(&c.reply, format!("{at}.mix.choices[{k}].reply"))? }))
            })
            .collect::<Result<Vec<_>, Bad>>()?;
        kinds.push(("mix", json!({ "choices": choices, "rest": reply(&m.rest, format!("{at}.mix.rest"))? })));
    }
    if let Some(g) = &r.gone_after {
        let mut v = json!({ "count": g.count });
        if let Some(b) = &g.before {
            v["before"] = reply(b, format!("{at}.goneAfter.before"))?;
        }
        if let Some(a) = &g.after {
            v["after"] = reply(a, format!("{at}.goneAfter.after"))?;
        }
        kinds.push(("goneAfter", v));
    }
    if let Some(l) = &r.latency {
        let points = l
            .points
            .iter()
            .enumerate()
            .map(|(k, p)| {
                let ms = i32::try_from(p.delay.0.as_millis())
                    .map_err(|_| (format!("{at}.latency.points[{k}].delay"), "is too long".to_owned()))?;
                Ok(json!({ "percentile": p.percentile, "ms": ms }))
            })
            .collect::<Result<Vec<_>, Bad>>()?;
        let mut v = json!({ "points": points });
        if let Some(rep) = &l.reply {
            v["reply"] = reply(rep, format!("{at}.latency.reply"))?;
        }
        kinds.push(("latency", v));
    }
    let answer = match kinds.len() {
        1 => {
            let (kind, v) = kinds.remove(0);
            json!({ kind: v })
        }
        0 => {
            return Err((
                at.to_owned(),
                "needs an answer: one of `fixed`, `sequence`, `mix`, `goneAfter` or `latency`".to_owned(),
            ));
        }
        _ => {
            let names: Vec<String> = kinds.iter().map(|(k, _)| format!("`{k}`")).collect();
            return Err((at.to_owned(), format!("has one answer, not several ({})", names.join(", "))));
        }
    };
    Ok(json!({
        "id": r.id, "method": r.method, "pathPrefix": r.path_prefix,
        "header": r.header.as_ref().map(|h| json!({ "name": h.name, "contains": h.contains })),
        "eventTypes": r.event_types, "answer": answer,
    }))
}

fn reply_input(r: &ReplySpec, at: &str) -> Result<Value, Bad> {
    let spec = ResponseSpec { status: r.status, headers: r.headers.clone(), body: r.body.clone(), delay: r.delay };
    let mut v = response_input(&spec, at)?;
    v["timeout"] = json!(r.timeout);
    Ok(v)
}

fn response_input(r: &ResponseSpec, at: &str) -> Result<Value, Bad> {
    let headers = r
        .headers
        .iter()
        .enumerate()
        .map(|(j, h)| match h.split_once(':') {
            Some((name, value)) if !name.trim().is_empty() => Ok(json!({ "name": name.trim(), "value": value.trim() })),
            _ => Err((format!("{at}.headers[{j}]"), format!("must be `Name: value`, got `{h}`"))),
        })
        .collect::<Result<Vec<_>, _>>()?;
    let delay_ms = match r.delay {
        None => 0,
        Some(Human(d)) => {
            i32::try_from(d.as_millis()).map_err(|_| (format!("{at}.delay"), "is too long".to_owned()))?
        }
    };
    Ok(json!({ "status": r.status, "headers": headers, "body": r.body, "delayMs": delay_ms }))
}

fn verification_input(
    v: &VerificationSpec,
    at: &str,
    base: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Value, Bad> {
    let mut input = json!({ "provider": v.provider, "publicUrl": v.public_url });
    if let Some(secrets) = &v.secrets {
        let values = secrets
            .iter()
            .enumerate()
            .map(|(j, s)| {
                Ok(json!({ "label": s.label, "value": secret_value(s, &format!("{at}.secrets[{j}]"), base, env)? }))
            })
            .collect::<Result<Vec<_>, Bad>>()?;
        input["secrets"] = Value::Array(values);
    }
    if let Some(Human(t)) = v.tolerance {
        if t.subsec_nanos() != 0 {
            return Err((
                format!("{at}.tolerance"),
                format!("must be whole seconds, got `{}`", humantime::format_duration(t)),
            ));
        }
        input["toleranceSeconds"] = json!(t.as_secs());
    }
    if let Some(g) = &v.generic {
        let mut generic = json!({ "header": g.header, "timestampHeader": g.timestamp_header, "idHeader": g.id_header });
        // Left out, the API's defaults apply (`sha256`, `hex`, no prefix, `{body}`).
        for (key, value) in
            [("algorithm", &g.algorithm), ("encoding", &g.encoding), ("prefix", &g.prefix), ("template", &g.template)]
        {
            if let Some(value) = value {
                generic[key] = json!(value);
            }
        }
        input["generic"] = generic;
    }
    Ok(input)
}

/// The value a secret reference points at; messages name the reference, never the value.
fn secret_value(s: &SecretRef, at: &str, base: &Path, env: &dyn Fn(&str) -> Option<String>) -> Result<String, Bad> {
    if s.value.is_some() {
        return Err((
            format!("{at}.value"),
            "secret values are not written in the file (it ends up in version control); \
             give `env: VARIABLE` or `file: PATH` instead"
                .into(),
        ));
    }
    let value = match (&s.env, &s.file) {
        (Some(var), None) => env(var).ok_or_else(|| {
            (format!("{at}.env"), format!("the environment variable {var} is not set (secret `{}`)", s.label))
        })?,
        (None, Some(path)) => {
            let full = base.join(path);
            std::fs::read_to_string(&full)
                .map_err(|e| (format!("{at}.file"), format!("{} cannot be read: {e}", full.display())))?
        }
        _ => return Err((at.to_owned(), format!("secret `{}` needs exactly one of `env` and `file`", s.label))),
    };
    let value = value.trim().to_owned();
    if value.is_empty() {
        let from = s.env.as_deref().map_or_else(|| "its file".to_owned(), |v| format!("${v}"));
        return Err((at.to_owned(), format!("secret `{}` is empty ({from})", s.label)));
    }
    Ok(value)
}

/// `HOOKMETRY_SECRET_<ENDPOINT>_<LABEL>`, upper snake case: the variable `export` names.
pub(crate) fn secret_env_name(endpoint: &str, label: &str) -> String {
    let snake = |s: &str| {
        let mut out = String::new();
        for c in s.chars() {
            if c.is_ascii_alphanumeric() {
                out.push(c.to_ascii_uppercase());
            } else if !out.ends_with('_') {
                out.push('_');
            }
        }
        out.trim_matches('_').to_owned()
    };
    format!("HOOKMETRY_SECRET_{}_{}", snake(endpoint), snake(label))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(var: &str) -> Option<String> {
        (var == "STRIPE_SECRET").then(|| "whsec_from_env\n".to_owned())
    }

    fn check(text: &str) -> Result<Loaded, String> {
        parse(text, "hookmetry.yaml", Path::new("."), &env).map_err(|e| e.to_string())
    }

    #[test]
    fn a_good_file_becomes_the_api_input_with_secrets_resolved() {
        let text = "version: 1\nendpoints:\n  - name: stripe-prod\n    verification:\n      provider: stripe\n      \
                    secrets:\n        - label: current\n          env: STRIPE_SECRET\n      tolerance: 5m\n    \
                    response:\n      status: 503\n      headers: [\"Retry-After: 30\"]\n      delay: 250ms\n";
        let loaded = check(text).unwrap();
        assert_eq!(
            loaded.endpoints[0],
            json!({
                "name": "stripe-prod", "handshakes": false, "forwardingRules": [], "scenario": [],
                "verification": { "provider": "stripe", "publicUrl": null, "toleranceSeconds": 300,
                                  "secrets": [{ "label": "current", "value": "whsec_from_env" }] },
                "response": { "status": 503, "headers": [{ "name": "Retry-After", "value": "30" }], "body": "", "delayMs": 250 },
            })
        );
    }

    #[test]
    fn errors_name_line_column_and_key() {
        let e = check(
            "version: 1\nendpoints:\n  - name: a\n    verification:\n      provider: stripe\n      tolerence: 5m\n",
        )
        .unwrap_err();
        assert!(
            e.starts_with(
                "hookmetry.yaml:6:7: endpoints[0].verification.tolerence: unknown field `tolerence`, expected one of"
            ),
            "{e}"
        );
        let e = check(
            "version: 1\nendpoints:\n  - name: a\n    verification:\n      provider: stripe\n      tolerance: soon\n",
        )
        .unwrap_err();
        assert_eq!(
            e,
            "hookmetry.yaml:6:7: endpoints[0].verification.tolerance: `soon` is not a duration such as `5m` or `250ms` (expected number at 0)"
        );
        let e = check("version: 1\nendpoints:\n  - name: a\n    verification:\n      provider: stripe\n      secrets:\n        - label: current\n          value: whsec_inline\n")
            .unwrap_err();
        assert_eq!(
            e,
            "hookmetry.yaml:8:11: endpoints[0].verification.secrets[0].value: secret values are not written in the file \
             (it ends up in version control); give `env: VARIABLE` or `file: PATH` instead"
        );
        assert!(!e.contains("whsec_inline"));
        let e = check("version: 1\nendpoints:\n  - name: a\n    verification:\n      provider: stripe\n      secrets:\n        - label: current\n          env: NOT_SET_ANYWHERE\n")
            .unwrap_err();
        assert_eq!(
            e,
            "hookmetry.yaml:8:11: endpoints[0].verification.secrets[0].env: the environment variable NOT_SET_ANYWHERE is not set (secret `current`)"
        );
        assert_eq!(check("version: 2\n").unwrap_err(), "hookmetry.yaml:1:1: version: must be 1, got 2");
        assert_eq!(check("endpoints: []\n").unwrap_err(), "hookmetry.yaml:1:1: missing field `version`");
        let e =
            check("version: 1\nendpoints:\n  - name: a\n    response:\n      headers: [\"no colon\"]\n").unwrap_err();
        assert_eq!(e, "hookmetry.yaml:5:17: endpoints[0].response.headers[0]: must be `Name: value`, got `no colon`");
    }

    #[test]
    fn server_fields_are_found_in_the_file() {
        let text = "version: 1\nendpoints:\n  - name: a\n  - name: b\n    verification:\n      provider: stripe\n      tolerance: 5m\n";
        let loaded = check(text).unwrap();
        let e = loaded.locate(
            "endpoints[1].verification.toleranceSeconds",
            "invalid `endpoints[1].verification.toleranceSeconds`: must be between 0 and 604800, got 9999999",
        );
        assert_eq!(
            e.to_string(),
            "hookmetry.yaml:7:7: endpoints[1].verification.tolerance: must be between 0 and 604800, got 9999999"
        );
        let e = loaded.locate("endpoints[1].response.headers", "invalid `endpoints[1].response.headers`: no");
        assert_eq!(e.to_string(), "hookmetry.yaml:4:5: endpoints[1].response.headers: no", "the nearest written key");
    }

    #[test]
    fn scenario_rules_have_exactly_one_answer_and_map_to_the_api() {
        let text = "version: 1\nendpoints:\n  - name: a\n    maxCaptures: 100\n    ttl: 30m\n    scenario:\n      \
                    - id: flaky\n        sequence:\n          steps:\n            - status: 500\n            \
                    - status: 429\n              headers: [\"Retry-After: 30\"]\n          then: stick\n      \
                    - latency:\n          points:\n            - percentile: 99\n              delay: 2s\n";
        let loaded = check(text).unwrap();
        let e = &loaded.endpoints[0];
        assert_eq!((e["maxCaptures"].clone(), e["ttlSeconds"].clone()), (json!(100), json!(1800)));
        let reply = |status: u16, headers: Value| json!({ "status": status, "headers": headers, "body": "", "delayMs": 0, "timeout": false });
        let retry = json!([{ "name": "Retry-After", "value": "30" }]);
        assert_eq!(
            e["scenario"][0]["answer"],
            json!({ "sequence": { "steps": [reply(500, json!([])), reply(429, retry)], "then": "STICK" } })
        );
        assert_eq!(
            e["scenario"][1]["answer"],
            json!({ "latency": { "points": [{ "percentile": 99.0, "ms": 2000 }] } })
        );
        let two = "version: 1\nendpoints:\n  - name: a\n    scenario:\n      - id: x\n        fixed: {status: 500}\n        \
                   mix: {choices: [], rest: {}}\n";
        assert_eq!(
            check(two).unwrap_err(),
            "hookmetry.yaml:5:9: endpoints[0].scenario[0]: has one answer, not several (`fixed`, `mix`)"
        );
        let e = check("version: 1\nendpoints:\n  - name: a\n    scenario:\n      - id: x\n").unwrap_err();
        assert!(e.starts_with("hookmetry.yaml:5:9: endpoints[0].scenario[0]: needs an answer"), "{e}");
        assert_eq!(
            file_path("endpoints[0].scenario[1].answer.latency.points[0].ms"),
            "endpoints[0].scenario[1].latency.points[0].delay"
        );
        assert_eq!(file_path("endpoints[2].verification.secrets[0].value"), "endpoints[2].verification.secrets[0]");
        assert_eq!(file_path("endpoints[2].ttlSeconds"), "endpoints[2].ttl");
    }

    #[test]
    fn a_scenario_file_is_a_list_of_rules() {
        let loaded = parse_scenario("- id: down\n  fixed:\n    status: 503\n", "s.yaml").unwrap();
        assert_eq!(loaded.rules[0]["answer"]["fixed"]["status"], 503);
        let e = loaded.locate("scenario[0].answer.fixed.status", "invalid `scenario[0].answer.fixed.status`: no");
        assert_eq!(e.to_string(), "s.yaml:3:5: [0].fixed.status: no");
        let e = parse_scenario("- id: down\n  fixd: {}\n", "s.yaml").unwrap_err().to_string();
        assert!(e.starts_with("s.yaml:2:3: [0].fixd: unknown field `fixd`"), "{e}");
    }

    #[test]
    fn env_names_are_upper_snake_case() {
        assert_eq!(secret_env_name("stripe-prod", "current"), "HOOKMETRY_SECRET_STRIPE_PROD_CURRENT");
        assert_eq!(secret_env_name("Shop (EU) / v2", "old key"), "HOOKMETRY_SECRET_SHOP_EU_V2_OLD_KEY");
    }
}
