//! `hookmetry sign`: the headers a provider would send for a body, for testing one's own
//! receiver (and the same signer replay uses to re-sign).

use std::io::Read as _;
use std::path::PathBuf;

use hookmetry_core::GenericHmac;

use crate::error::CliError;
use crate::output::Output;

#[derive(Debug, clap::Args)]
pub struct SignArgs {
    /// Provider id, e.g. `stripe`, `github`, `standard-webhooks`, `generic-hmac`
    /// (`hookmetry sign --list` shows them all).
    #[arg(long, required_unless_present = "list")]
    provider: Option<String>,
    /// The signing secret; for SendGrid and Discord the PRIVATE key. Prefer HOOKMETRY_SIGN_SECRET
    /// or `--secret-file` to keep it out of shell history.
    #[arg(long, env = "HOOKMETRY_SIGN_SECRET", hide_env_values = true)]
    secret: Option<String>,
    /// Read the secret from this file (surrounding whitespace removed).
    #[arg(long, conflicts_with = "secret")]
    secret_file: Option<PathBuf>,
    /// Unix seconds to sign with; default now.
    #[arg(long)]
    timestamp: Option<i64>,
    /// The full URL the request is sent to, for schemes that sign it (Twilio, Square, HubSpot;
    /// `--list` marks them): required for those.
    #[arg(long = "target-url", value_name = "URL")]
    target_url: Option<String>,
    #[arg(long, default_value = "POST")]
    method: String,
    /// Message id for schemes that sign one (Standard Webhooks, Twitch).
    #[arg(long)]
    id: Option<String>,
    /// Print JSON: `{"headers": [[name, value], …], "body": <text or null>}`.
    #[arg(long)]
    json: bool,
    /// Where to write the body when the scheme carries its signature inside it (Mailgun, Adyen).
    #[arg(long)]
    body_out: Option<PathBuf>,
    /// List the providers and exit.
    #[arg(long)]
    list: bool,
    /// generic-hmac: header carrying the signature.
    #[arg(long, help_heading = "generic-hmac")]
    header: Option<String>,
    /// generic-hmac: sha1, sha256 or sha512.
    #[arg(long, default_value = "sha256", help_heading = "generic-hmac")]
    algorithm: String,
    /// generic-hmac: hex or base64.
    #[arg(long, default_value = "hex", help_heading = "generic-hmac")]
    encoding: String,
    /// generic-hmac: text before the signature, e.g. `sha256=`.
    #[arg(long, default_value = "", help_heading = "generic-hmac")]
    prefix: String,
    /// generic-hmac: what is signed, with {timestamp} {id} {body} {url} {method}.
    #[arg(long, default_value = "{body}", help_heading = "generic-hmac")]
    template: String,
    /// generic-hmac: header carrying the timestamp.
    #[arg(long, help_heading = "generic-hmac")]
    timestamp_header: Option<String>,
    /// generic-hmac: header carrying the message id.
    #[arg(long, help_heading = "generic-hmac")]
    id_header: Option<String>,
    /// The body to sign, byte for byte; `-` reads stdin.
    #[arg(required_unless_present = "list")]
    body_file: Option<PathBuf>,
}

pub(crate) fn run(args: SignArgs, out: &mut Output) -> Result<(), CliError> {
    if args.list {
        for p in hookmetry_verify::providers() {
            let tolerance = p.default_tolerance.map(|t| format!("{t}s")).unwrap_or_else(|| "-".into());
            out.text(&format!(
                "{:<20} {:<22} tolerance {tolerance}{}\n",
                p.id,
                p.name,
                if p.url_bound { ", signs the URL" } else { "" }
            ))?;
        }
        return Ok(());
    }
    let provider = args.provider.clone().unwrap_or_default();
    let secret = match (&args.secret, &args.secret_file) {
        (Some(s), _) => s.clone(),
        (None, Some(path)) => std::fs::read_to_string(path)
            .map_err(|e| CliError::Usage(format!("cannot read the secret file {}: {e}", path.display())))?
            .trim()
            .to_string(),
        (None, None) => {
            return Err(CliError::Usage(
                "no secret: pass `--secret`, `--secret-file` or set HOOKMETRY_SIGN_SECRET".into(),
            ));
        }
    };
    let path = args.body_file.clone().unwrap_or_default();
    let body = if path.as_os_str() == "-" {
        let mut b = Vec::new();
        std::io::stdin().read_to_end(&mut b)?;
        b
    } else {
        std::fs::read(&path)
            .map_err(|e| CliError::Usage(format!("cannot read the body file {}: {e}", path.display())))?
    };
    let generic = (provider == "generic-hmac").then(|| GenericHmac {
        header: args.header.clone().unwrap_or_default(),
        algorithm: args.algorithm.clone(),
        encoding: args.encoding.clone(),
        prefix: args.prefix.clone(),
        template: args.template.clone(),
        timestamp_header: args.timestamp_header.clone(),
        id_header: args.id_header.clone(),
    });
    let url_bound = hookmetry_verify::providers().iter().any(|p| p.id == provider && p.url_bound);
    let url = match (&args.target_url, url_bound) {
        (Some(u), _) => u.trim().to_string(),
        (None, false) => String::new(),
        (None, true) => {
            return Err(CliError::Usage(format!(
                "`{provider}` signs the URL the request is sent to: pass `--target-url`, e.g. the endpoint's capture URL \
                 or http://localhost:3000/hook"
            )));
        }
    };
    let timestamp = args.timestamp.unwrap_or_else(|| hookmetry_core::Timestamp::now().micros().div_euclid(1_000_000));
    let input = hookmetry_verify::SignInput {
        method: &args.method,
        url: &url,
        body: &body,
        timestamp,
        id: args.id.as_deref(),
        headers: &[],
    };
    let signed = hookmetry_verify::sign(&provider, &secret, generic.as_ref(), &input)
        .map_err(|e| CliError::Usage(format!("cannot sign as `{provider}`: {e}")))?;
    if let (Some(new_body), Some(path)) = (&signed.body, &args.body_out) {
        std::fs::write(path, new_body)
            .map_err(|e| CliError::Usage(format!("cannot write the body to {}: {e}", path.display())))?;
    }
    if args.json {
        let body = signed.body.as_ref().map(|b| String::from_utf8_lossy(b).into_owned());
        return out.json_pretty(&serde_json::json!({ "headers": signed.headers, "body": body }));
    }
    for (name, value) in &signed.headers {
        out.text(&format!("{name}: {value}\n"))?;
    }
    if signed.body.is_some() && args.body_out.is_none() {
        eprintln!(
            "note: {provider} signs inside the body; pass `--body-out FILE` (or `--json`) to get the signed body"
        );
    }
    Ok(())
}
