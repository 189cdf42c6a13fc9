//! `hookmetry endpoint update`: name, custom answer, signature verification, forwarding rules,
//! response scenario, capture cap and time to live.
//!
//! What a flag does not mention stays as it is: the answer's other parts, the verification's
//! tolerance and public URL, the secrets when none is given. The server takes a whole answer and
//! a whole verification setting, so they are completed from the endpoint's current ones here.

use std::io::Read;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use serde_json::{Value, json};

use crate::client::Client;
use crate::endpoint;
use crate::error::CliError;
use crate::output::Output;

#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("secret_source").args(["secret", "secret_file", "secret_env"])))]
#[command(group(clap::ArgGroup::new("body_source").args(["response_body", "response_body_file"])))]
pub struct UpdateArgs {
    /// Endpoint id, a unique id prefix (8 or more hex digits), or its exact name.
    pub endpoint: String,
    /// Team whose names `<ENDPOINT>` is looked up in [default: the token's team].
    #[arg(long)]
    pub team: Option<String>,
    /// A new name (names are unique within a team).
    #[arg(long)]
    pub name: Option<String>,

    /// Status of the answer captures get (200 to 599).
    #[arg(long, value_name = "STATUS", help_heading = "Custom answer")]
    pub response_status: Option<u16>,
    /// A header of the answer, `Name: value`; repeat for several. Replaces the answer's headers.
    #[arg(long, value_name = "NAME: VALUE", help_heading = "Custom answer")]
    pub response_header: Vec<String>,
    /// Body of the answer.
    #[arg(long, value_name = "TEXT", help_heading = "Custom answer")]
    pub response_body: Option<String>,
    /// Body of the answer, read from a file (UTF-8).
    #[arg(long, value_name = "FILE", help_heading = "Custom answer")]
    pub response_body_file: Option<PathBuf>,
    /// Wait this long before answering (`250ms`, `2s`; at most 30 s).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, help_heading = "Custom answer")]
    pub response_delay: Option<Duration>,
    /// Go back to the default answer (200 with the capture id).
    #[arg(
        long,
        conflicts_with_all = ["response_status", "response_header", "response_body", "response_body_file", "response_delay"],
        help_heading = "Custom answer"
    )]
    pub default_response: bool,
    /// Answer providers' URL-verification handshakes (Slack, Zoom, Twitch): `on` or `off`.
    #[arg(long, value_name = "on|off", value_parser = parse_on_off, help_heading = "Custom answer")]
    pub handshakes: Option<bool>,

    /// Check captures' signatures as this provider does (`stripe`, `github`, … as `hookmetry
    /// sign --provider` lists them).
    #[arg(long, value_name = "PROVIDER", help_heading = "Signature verification")]
    pub verify_provider: Option<String>,
    /// The signing secret (visible in the process list and shell history; prefer `--secret-file`
    /// or `--secret-env`). Replaces the endpoint's secrets.
    #[arg(long, value_name = "SECRET", help_heading = "Signature verification")]
    pub secret: Option<String>,
    /// Read the signing secret from this file (surrounding whitespace removed).
    #[arg(long, value_name = "FILE", help_heading = "Signature verification")]
    pub secret_file: Option<PathBuf>,
    /// Read the signing secret from this environment variable.
    #[arg(long, value_name = "VAR", help_heading = "Signature verification")]
    pub secret_env: Option<String>,
    /// What to call the secret (shown instead of its value).
    #[arg(long, value_name = "LABEL", default_value = "current", help_heading = "Signature verification")]
    pub secret_label: String,
    /// Largest accepted age of a signature (`5m`, `300s`; `0s` stops checking timestamps).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, help_heading = "Signature verification")]
    pub tolerance: Option<Duration>,
    /// The URL the provider was given, for schemes that sign it (Twilio, Square, HubSpot).
    #[arg(long, value_name = "URL", help_heading = "Signature verification")]
    pub verify_public_url: Option<String>,
    /// Stop checking signatures.
    #[arg(
        long,
        conflicts_with_all = ["verify_provider", "secret", "secret_file", "secret_env", "tolerance", "verify_public_url"],
        help_heading = "Signature verification"
    )]
    pub no_verify: bool,

    /// Replace the forwarding rules with the JSON array in this file (`-` reads stdin), each
    /// `{"id": "r1", "target": "https://…", "method"?, "pathPrefix"?, "header"?: {"name", "contains"}}`.
    #[arg(long, value_name = "FILE", help_heading = "Forwarding")]
    pub forwarding_rules: Option<String>,
    /// Remove every forwarding rule.
    #[arg(long, conflicts_with = "forwarding_rules", help_heading = "Forwarding")]
    pub no_forwarding_rules: bool,

    /// Replace the response scenario with the YAML list of rules in this file (`-` reads stdin),
    /// written as a `scenario:` of an endpoints file (docs/endpoints-as-code.md). A change starts
    /// the rules' counts over.
    #[arg(long, value_name = "FILE", help_heading = "Scenario and limits")]
    pub scenario: Option<String>,
    /// Remove the response scenario.
    #[arg(long, conflicts_with = "scenario", help_heading = "Scenario and limits")]
    pub clear_scenario: bool,
    /// Accept at most this many captures; past it the capture URL answers 429 and stores nothing.
    #[arg(long, value_name = "N", help_heading = "Scenario and limits")]
    pub max_captures: Option<u64>,
    /// Remove the capture cap.
    #[arg(long, conflicts_with = "max_captures", help_heading = "Scenario and limits")]
    pub no_max_captures: bool,
    /// Delete the endpoint and its captures this long after its creation (`30m`, `7d`).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, help_heading = "Scenario and limits")]
    pub ttl: Option<Duration>,
    /// Keep the endpoint until it is deleted.
    #[arg(long, conflicts_with = "ttl", help_heading = "Scenario and limits")]
    pub no_ttl: bool,
    /// Start the counts over: sequences at their first step, gone-after rules and the capture cap
    /// at zero (after the other changes).
    #[arg(long, help_heading = "Scenario and limits")]
    pub reset_counters: bool,

    /// Print the updated endpoint as JSON.
    #[arg(long)]
    pub json: bool,
}

fn parse_duration(raw: &str) -> Result<Duration, String> {
    humantime::parse_duration(raw.trim()).map_err(|e| format!("`{raw}` is not a duration like `5m` or `250ms` ({e})"))
}

fn parse_on_off(raw: &str) -> Result<bool, String> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "on" | "true" | "yes" => Ok(true),
        "off" | "false" | "no" => Ok(false),
        _ => Err(format!("`{raw}` is not `on` or `off`")),
    }
}

impl UpdateArgs {
    fn changes_response(&self) -> bool {
        self.response_status.is_some()
            || !self.response_header.is_empty()
            || self.response_body.is_some()
            || self.response_body_file.is_some()
            || self.response_delay.is_some()
    }

    fn changes_verification(&self) -> bool {
        self.verify_provider.is_some()
            || self.secret.is_some()
            || self.secret_file.is_some()
            || self.secret_env.is_some()
            || self.tolerance.is_some()
            || self.verify_public_url.is_some()
    }
}

pub(crate) async fn run(args: UpdateArgs, client: &Client, out: &mut Output) -> Result<(), CliError> {
    let found = endpoint::resolve(client, &args.endpoint, args.team.as_deref()).await?;
    let current = endpoint::detail(client, &found.id).await?;
    // Everything is read and checked before anything is changed.
    let mut input = update_input(&args, &current)?;
    let rules = forwarding_rules(&args)?;
    let scenario = scenario(&args)?;
    if let Some(s) = &scenario {
        input["scenario"] = Value::Array(s.rules.clone());
    }
    if input.as_object().is_some_and(|o| o.len() > 1) {
        let sent = client
            .query::<serde::de::IgnoredAny>(
                "mutation($input: UpdateEndpointInput!) { updateEndpoint(input: $input) { id } }",
                json!({ "input": input }),
            )
            .await;
        match (sent, &scenario) {
            // A refused rule is shown at its line in the scenario file.
            (Err(CliError::Server { field: Some(f), message, .. }), Some(s)) if f.starts_with("scenario") => {
                return Err(CliError::Usage(s.locate(&f, &message).to_string()));
            }
            (sent, _) => {
                sent?;
            }
        }
    }
    if let Some(rules) = rules {
        client
            .query::<serde::de::IgnoredAny>(
                "mutation($id: ID!, $rules: [ForwardingRuleInput!]!) { setForwardingRules(input: {endpointId: $id, rules: $rules}) { id } }",
                json!({ "id": found.id, "rules": rules }),
            )
            .await?;
    }
    if args.reset_counters {
        client
            .query::<serde::de::IgnoredAny>(
                "mutation($id: ID!) { resetEndpointCounters(input: {id: $id}) { id } }",
                json!({ "id": found.id }),
            )
            .await?;
    }
    let updated = endpoint::detail(client, &found.id).await?;
    if args.json {
        out.json_pretty(&updated)
    } else {
        out.text(&format!("updated endpoint `{}`\n{}", found.name, endpoint::render_detail(&updated)))
    }
}

/// The `UpdateEndpointInput` the flags ask for, completed from `current` (the endpoint as
/// `endpoint::detail` reads it). Only `id` when the flags change none of its fields.
pub(crate) fn update_input(args: &UpdateArgs, current: &Value) -> Result<Value, CliError> {
    let mut input = serde_json::Map::new();
    input.insert("id".into(), current["id"].clone());
    if let Some(name) = &args.name {
        input.insert("name".into(), json!(name));
    }
    if args.default_response {
        input.insert("clearResponse".into(), json!(true));
    } else if args.changes_response() {
        input.insert("response".into(), response_input(args, &current["response"])?);
    }
    if let Some(h) = args.handshakes {
        input.insert("handshakes".into(), json!(h));
    }
    if args.clear_scenario {
        input.insert("scenario".into(), Value::Null);
    }
    if args.no_max_captures {
        input.insert("maxCaptures".into(), Value::Null);
    } else if let Some(n) = args.max_captures {
        input.insert("maxCaptures".into(), json!(n));
    }
    if args.no_ttl {
        input.insert("ttlSeconds".into(), Value::Null);
    } else if let Some(ttl) = args.ttl {
        if ttl.subsec_nanos() != 0 || ttl.as_secs() == 0 {
            return Err(CliError::Usage(format!(
                "`--ttl` must be whole seconds, at least 1s, got `{}`",
                humantime::format_duration(ttl)
            )));
        }
        input.insert("ttlSeconds".into(), json!(ttl.as_secs()));
    }
    if args.no_verify {
        input.insert("verification".into(), Value::Null);
    } else if args.changes_verification() {
        input.insert("verification".into(), verification_input(args, &current["verification"])?);
    }
    Ok(Value::Object(input))
}

fn response_input(args: &UpdateArgs, current: &Value) -> Result<Value, CliError> {
    let status = args.response_status.map(u64::from).or(current["status"].as_u64()).unwrap_or(200);
    let headers = if args.response_header.is_empty() {
        current["headers"].as_array().cloned().unwrap_or_default()
    } else {
        args.response_header
            .iter()
            .map(|h| match h.split_once(':') {
                Some((name, value)) if !name.trim().is_empty() => {
                    Ok(json!({ "name": name.trim(), "value": value.trim() }))
                }
                _ => Err(CliError::Usage(format!("`--response-header` must be `Name: value`, got `{h}`"))),
            })
            .collect::<Result<Vec<_>, _>>()?
    };
    let body = match (&args.response_body, &args.response_body_file) {
        (Some(b), _) => b.clone(),
        (None, Some(path)) => std::fs::read_to_string(path).map_err(|e| {
            CliError::Usage(format!("`--response-body-file` {} cannot be read as UTF-8 text: {e}", path.display()))
        })?,
        (None, None) => current["body"].as_str().unwrap_or_default().to_owned(),
    };
    let delay_ms = match args.response_delay {
        Some(d) => u64::try_from(d.as_millis()).unwrap_or(u64::MAX),
        None => current["delayMs"].as_u64().unwrap_or(0),
    };
    Ok(json!({ "status": status, "headers": headers, "body": body, "delayMs": delay_ms }))
}

fn verification_input(args: &UpdateArgs, current: &Value) -> Result<Value, CliError> {
    let current_provider = current["provider"].as_str();
    let provider = match (&args.verify_provider, current_provider) {
        (Some(p), _) => p.trim().to_owned(),
        (None, Some(p)) => p.to_owned(),
        (None, None) => {
            return Err(CliError::Usage(
                "`--verify-provider` is needed: the endpoint does not verify signatures yet".into(),
            ));
        }
    };
    let mut v = serde_json::Map::new();
    v.insert("provider".into(), json!(provider));
    if let Some(secret) = secret(args)? {
        v.insert("secrets".into(), json!([{ "label": args.secret_label, "value": secret }]));
    }
    // The same provider keeps what the flags leave out; another one starts from its defaults.
    let same = current_provider == Some(provider.as_str());
    let tolerance = match args.tolerance {
        Some(t) => Some(json!(t.as_secs())),
        None if same => Some(current["toleranceSeconds"].clone()),
        None => None,
    };
    if let Some(t) = tolerance.filter(|t| !t.is_null()) {
        v.insert("toleranceSeconds".into(), t);
    }
    let public_url = match &args.verify_public_url {
        Some(u) => Some(json!(u)),
        None if same => Some(current["publicUrl"].clone()),
        None => None,
    };
    if let Some(u) = public_url.filter(|u| !u.is_null()) {
        v.insert("publicUrl".into(), u);
    }
    if same && !current["generic"].is_null() {
        v.insert("generic".into(), current["generic"].clone());
    }
    Ok(Value::Object(v))
}

/// The secret from `--secret`, `--secret-file` or `--secret-env`; its value is never put in a
/// message.
fn secret(args: &UpdateArgs) -> Result<Option<String>, CliError> {
    let value = if let Some(s) = &args.secret {
        s.clone()
    } else if let Some(path) = &args.secret_file {
        std::fs::read_to_string(path)
            .map_err(|e| CliError::Usage(format!("`--secret-file` {} cannot be read: {e}", path.display())))?
    } else if let Some(var) = &args.secret_env {
        std::env::var(var).map_err(|_| {
            CliError::Usage(format!("`--secret-env` names {var}, which is not set (or not UTF-8) in this environment"))
        })?
    } else {
        return Ok(None);
    };
    let value = value.trim().to_owned();
    if value.is_empty() {
        return Err(CliError::Usage(
            "the secret given with `--secret`, `--secret-file` or `--secret-env` is empty".into(),
        ));
    }
    Ok(Some(value))
}

/// The rules `--scenario` names, read and checked; errors name the file's line and key.
fn scenario(args: &UpdateArgs) -> Result<Option<crate::spec::LoadedScenario>, CliError> {
    let Some(source) = &args.scenario else { return Ok(None) };
    let (text, shown) = if source == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|e| CliError::Usage(format!("`--scenario -` cannot read stdin: {e}")))?;
        (text, "stdin".to_owned())
    } else {
        let text = std::fs::read_to_string(source)
            .map_err(|e| CliError::Usage(format!("`--scenario` file {source} cannot be read: {e}")))?;
        (text, source.clone())
    };
    crate::spec::parse_scenario(&text, &shown).map(Some).map_err(|e| CliError::Usage(e.to_string()))
}

/// The rules `--forwarding-rules` names (an empty list for `--no-forwarding-rules`), checked to
/// be a JSON array; the server checks each rule.
fn forwarding_rules(args: &UpdateArgs) -> Result<Option<Vec<Value>>, CliError> {
    if args.no_forwarding_rules {
        return Ok(Some(Vec::new()));
    }
    let Some(source) = &args.forwarding_rules else { return Ok(None) };
    let (text, from) = if source == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|e| CliError::Usage(format!("`--forwarding-rules -` cannot read stdin: {e}")))?;
        (text, "stdin".to_owned())
    } else {
        let text = std::fs::read_to_string(source)
            .map_err(|e| CliError::Usage(format!("`--forwarding-rules` file {source} cannot be read: {e}")))?;
        (text, source.clone())
    };
    #[derive(Deserialize)]
    #[serde(transparent)]
    struct Rules(Vec<Value>);
    let rules: Rules = serde_json::from_str(&text)
        .map_err(|e| CliError::Usage(format!("`--forwarding-rules` {from} is not a JSON array of rules ({e})")))?;
    Ok(Some(rules.0))
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: UpdateArgs,
    }

    fn parse(flags: &[&str]) -> UpdateArgs {
        Cli::try_parse_from([&["update", "ep"], flags].concat()).unwrap().args
    }

    fn current() -> Value {
        json!({
            "id": "e1",
            "response": { "status": 202, "headers": [{ "name": "X-A", "value": "1" }], "body": "ok", "delayMs": 0 },
            "verification": { "provider": "stripe", "toleranceSeconds": 600, "publicUrl": null, "generic": null },
        })
    }

    #[test]
    fn unmentioned_parts_of_the_answer_stay() {
        let input =
            update_input(&parse(&["--response-status", "503", "--response-delay", "1.5s"]), &current()).unwrap();
        assert_eq!(
            input,
            json!({ "id": "e1", "response": {
                "status": 503, "headers": [{ "name": "X-A", "value": "1" }], "body": "ok", "delayMs": 1500 } })
        );
        let input = update_input(&parse(&["--response-header", "Retry-After: 30"]), &json!({ "id": "e1" })).unwrap();
        assert_eq!(input["response"]["status"], 200, "the default answer's status");
        assert_eq!(input["response"]["headers"], json!([{ "name": "Retry-After", "value": "30" }]));
        let input = update_input(&parse(&["--default-response", "--name", "n"]), &current()).unwrap();
        assert_eq!(input, json!({ "id": "e1", "name": "n", "clearResponse": true }));
        assert_eq!(update_input(&parse(&[]), &current()).unwrap(), json!({ "id": "e1" }));
    }

    #[test]
    fn verification_keeps_tolerance_for_the_same_provider_and_never_shows_the_secret() {
        let input = update_input(&parse(&["--secret", "whsec_x"]), &current()).unwrap();
        assert_eq!(
            input["verification"],
            json!({ "provider": "stripe", "secrets": [{ "label": "current", "value": "whsec_x" }], "toleranceSeconds": 600 })
        );
        let input = update_input(&parse(&["--verify-provider", "github", "--tolerance", "5m"]), &current()).unwrap();
        assert_eq!(input["verification"], json!({ "provider": "github", "toleranceSeconds": 300 }));
        assert_eq!(update_input(&parse(&["--no-verify"]), &current()).unwrap()["verification"], Value::Null);
        let e = update_input(&parse(&["--tolerance", "5m"]), &json!({ "id": "e1" })).unwrap_err().to_string();
        assert_eq!(e, "`--verify-provider` is needed: the endpoint does not verify signatures yet");
        let mut args = parse(&["--secret-env", "HOOKMETRY_TEST_SURELY_UNSET_VAR"]);
        let e = update_input(&args, &current()).unwrap_err().to_string();
        assert!(e.contains("HOOKMETRY_TEST_SURELY_UNSET_VAR, which is not set"), "{e}");
        args.secret_env = None;
        args.secret = Some("  ".into());
        let e = update_input(&args, &current()).unwrap_err().to_string();
        assert!(!e.contains("whsec"), "{e}");
    }

    #[test]
    fn caps_ttl_and_scenario_flags_set_clear_or_leave_alone() {
        let input = update_input(&parse(&["--max-captures", "100", "--ttl", "30m"]), &current()).unwrap();
        assert_eq!(input, json!({ "id": "e1", "maxCaptures": 100, "ttlSeconds": 1800 }));
        let input = update_input(&parse(&["--no-max-captures", "--no-ttl", "--clear-scenario"]), &current()).unwrap();
        assert_eq!(input, json!({ "id": "e1", "scenario": null, "maxCaptures": null, "ttlSeconds": null }));
        let e = update_input(&parse(&["--ttl", "1500ms"]), &current()).unwrap_err().to_string();
        assert_eq!(e, "`--ttl` must be whole seconds, at least 1s, got `1s 500ms`");
        assert!(Cli::try_parse_from(["update", "ep", "--ttl", "5m", "--no-ttl"]).is_err());
        assert!(Cli::try_parse_from(["update", "ep", "--scenario", "s.yaml", "--clear-scenario"]).is_err());
    }

    #[test]
    fn conflicting_and_malformed_flags_are_refused() {
        assert!(Cli::try_parse_from(["update", "ep", "--no-verify", "--secret", "s"]).is_err());
        assert!(Cli::try_parse_from(["update", "ep", "--secret", "s", "--secret-env", "V"]).is_err());
        assert!(Cli::try_parse_from(["update", "ep", "--default-response", "--response-status", "201"]).is_err());
        assert!(Cli::try_parse_from(["update", "ep", "--tolerance", "soon"]).is_err());
        let e = update_input(&parse(&["--response-header", "no colon"]), &current()).unwrap_err().to_string();
        assert_eq!(e, "`--response-header` must be `Name: value`, got `no colon`");
    }
}
