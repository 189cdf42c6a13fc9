//! `hookmetry capture show <id>` and its exports; `capture list` lives in `capture_list`.

use std::fmt::Write as _;

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::client::{Client, Connection};
use crate::error::CliError;
use crate::format;
use crate::model::{CAPTURE_FIELDS, Capture};
use crate::output::Output;

#[derive(Debug, clap::Args)]
pub struct CaptureArgs {
    #[command(subcommand)]
    pub command: CaptureCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum CaptureCommand {
    /// Show one capture: summary, headers in arrival order, body pretty-printed by content type.
    Show(ShowArgs),
    /// List captures newest first, one line each as `tail` prints them; filters narrow the list.
    List(Box<crate::capture_list::ListArgs>),
}

#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("export").args(["raw", "curl", "har", "json"])))]
pub struct ShowArgs {
    /// Capture id (the last column of `hookmetry tail`), or its first 8 or more hex digits.
    pub id: String,
    /// Write the exact body bytes to stdout and nothing else.
    #[arg(long)]
    pub raw: bool,
    /// Print a bash command that sends this exact request again to its capture URL.
    #[arg(long)]
    pub curl: bool,
    /// Print the capture as a HAR 1.2 document, for browsers' and HTTP tools' importers.
    #[arg(long)]
    pub har: bool,
    /// Print every field as JSON (the body in `bodyBase64`).
    #[arg(long)]
    pub json: bool,
}

pub(crate) async fn run(args: CaptureArgs, conn: &Connection, out: &mut Output) -> Result<(), CliError> {
    let client = Client::new(conn)?;
    let show = match args.command {
        CaptureCommand::Show(show) => show,
        CaptureCommand::List(list) => return crate::capture_list::run(*list, &client, out).await,
    };
    let id = &crate::capture_list::resolve_id(&client, &show.id).await?;
    if show.raw {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Body {
            body_base64: String,
        }
        let c: Body = fetch(&client, id, "bodyBase64").await?;
        let bytes = decode_base64(&client, &c.body_base64)?;
        if out.is_terminal() && !format::terminal_safe(&bytes) {
            // Like curl: raw bytes from a sender can reprogram a terminal; a redirect is explicit.
            return Err(CliError::Usage(
                "the body is binary or holds control characters and stdout is a terminal; redirect it \
                 (`> body.bin`) or pipe it (`| xxd`), or leave out `--raw` for a hex dump"
                    .into(),
            ));
        }
        out.bytes(&bytes)
    } else if show.curl {
        #[derive(Deserialize)]
        struct Curl {
            curl: String,
        }
        let mut text = fetch::<Curl>(&client, id, "curl").await?.curl;
        if !text.ends_with('\n') {
            text.push('\n');
        }
        out.text(&text)
    } else if show.har {
        #[derive(Deserialize)]
        struct Har {
            har: Value,
        }
        let har = fetch::<Har>(&client, id, "har").await?.har;
        out.text(&har_document(&har))
    } else if show.json {
        out.json_pretty(&fetch::<Capture>(&client, id, CAPTURE_FIELDS).await?)
    } else {
        let c: Capture = fetch(&client, id, CAPTURE_FIELDS).await?;
        let body = decode_base64(&client, &c.body_base64)?;
        out.text(&render(&c, &body))
    }
}

async fn fetch<T: DeserializeOwned>(client: &Client, id: &str, fields: &str) -> Result<T, CliError> {
    #[derive(Deserialize)]
    struct Data<T> {
        capture: Option<T>,
    }
    let q = format!("query($id: ID!) {{ capture(id: $id) {{ {fields} }} }}");
    client
        .query::<Data<T>>(&q, json!({ "id": id }))
        .await?
        .capture
        .ok_or_else(|| CliError::NotFound(format!("capture {id} not found")))
}

fn decode_base64(client: &Client, b64: &str) -> Result<Vec<u8>, CliError> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.decode(b64).map_err(|e| CliError::Protocol {
        url: client.base.clone(),
        detail: format!("`bodyBase64` is not base64 ({e})"),
    })
}

/// `capture show`'s page: summary, headers, body.
pub(crate) fn render(c: &Capture, body: &[u8]) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "{} {}", format::escape_text(&c.method, false), format::escape_text(&c.target(), false));
    let received = c.received_at.replacen('T', " ", 1);
    let received = received.strip_suffix('Z').map(|r| format!("{r} UTC")).unwrap_or(received);
    let size = format!("{} bytes ({})", format::group_thousands(c.body_size), format::human_size(c.body_size));
    let rows = [
        ("url", c.url.as_str()),
        ("received", &received),
        ("from", &c.remote_addr),
        ("http version", &c.http_version),
        ("body size", &size),
        ("body sha256", &c.body_sha256),
        ("capture id", &c.id),
        ("endpoint id", &c.endpoint_id),
    ];
    for (label, value) in rows {
        let _ = writeln!(s, "  {label:<13} {}", format::escape_text(value, false));
    }
    if let Some(v) = &c.verification {
        let provider = v.provider.as_deref().map(|p| format!(" ({p})")).unwrap_or_default();
        let line = format!("{}{provider}: {}", format::verdict_label(&v.verdict), v.reason);
        let _ = writeln!(s, "  {:<13} {}", "signature", format::escape_text(&line, false));
    }
    if let Some(e) = &c.event {
        let _ = writeln!(s, "  {:<13} {}", "event", format::escape_text(&e.line(), false));
    }
    if let Some(a) = &c.answer {
        let _ = writeln!(s, "  {:<13} {}", "answered", format::escape_text(&a.line(), false));
    }

    let _ = writeln!(s, "\nheaders ({}, in arrival order)", c.headers.len());
    for h in &c.headers {
        let _ = writeln!(s, "  {}: {}", format::escape_text(&h.name, false), format::escape_bytes(&h.bytes()));
    }

    let rendered = format::render_body(c.content_type.as_deref(), body);
    if body.is_empty() {
        s.push_str("\nbody: empty\n");
    } else {
        let _ = writeln!(s, "\nbody ({}; `--raw` for the exact bytes)", rendered.how);
        s.push_str(&rendered.text);
        if !rendered.text.ends_with('\n') {
            s.push('\n');
        }
    }
    s
}

/// A HAR 1.2 document holding one entry, pretty-printed. Written as text so `log` keeps the
/// order the format's documentation uses (version, creator, entries).
pub(crate) fn har_document(entry: &Value) -> String {
    let creator = json!({ "name": "Hookmetry", "version": env!("CARGO_PKG_VERSION") });
    let doc = format!(r#"{{"log":{{"version":"1.2","creator":{creator},"entries":[{entry}]}}}}"#);
    let mut text = format::pretty_json(&doc).unwrap_or(doc);
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Header;

    #[test]
    fn show_page_has_summary_headers_and_pretty_body() {
        let body = br#"{"type":"charge.succeeded","amount":100}"#;
        let header = |name: &str, value: &[u8]| {
            use base64::Engine as _;
            Header {
                name: name.into(),
                value: String::from_utf8_lossy(value).into_owned(),
                value_base64: base64::engine::general_purpose::STANDARD.encode(value),
            }
        };
        let c = Capture {
            id: "c1".into(),
            endpoint_id: "e1".into(),
            team_id: "t1".into(),
            method: "POST".into(),
            path: "/events".into(),
            query: Some("live=1".into()),
            headers: vec![
                header("Host", b"127.0.0.1:8080"),
                header("Content-Type", b"application/json"),
                header("X-Odd", b"caf\xe9\x1b[2J"),
            ],
            body_base64: String::new(),
            body_text: None,
            body_size: body.len() as u64,
            body_sha256: "abc123".into(),
            remote_addr: "127.0.0.1:50000".into(),
            http_version: "HTTP/1.1".into(),
            received_at: "2026-11-27T06:55:08.123456Z".into(),
            content_type: Some("application/json".into()),
            url: "http://127.0.0.1:8080/h/tok/events?live=1".into(),
            verification: None,
            event: None,
            answer: None,
        };
        let page = render(&c, body);
        assert_eq!(
            page,
            "POST /events?live=1\n\
             \x20 url           http://127.0.0.1:8080/h/tok/events?live=1\n\
             \x20 received      2026-11-27 06:55:08.123456 UTC\n\
             \x20 from          127.0.0.1:50000\n\
             \x20 http version  HTTP/1.1\n\
             \x20 body size     40 bytes (40 B)\n\
             \x20 body sha256   abc123\n\
             \x20 capture id    c1\n\
             \x20 endpoint id   e1\n\
             \n\
             headers (3, in arrival order)\n\
             \x20 Host: 127.0.0.1:8080\n\
             \x20 Content-Type: application/json\n\
             \x20 X-Odd: caf\\xe9\\x1b[2J\n\
             \n\
             body (application/json, pretty-printed; `--raw` for the exact bytes)\n\
             {\n  \"type\": \"charge.succeeded\",\n  \"amount\": 100\n}\n"
        );
        assert!(render(&c, b"").ends_with("\nbody: empty\n"));
        let verified = Capture {
            verification: Some(crate::model::Verification {
                provider: Some("stripe".into()),
                verdict: "TIMESTAMP_OUT_OF_TOLERANCE".into(),
                reason: "signed 7m12s before receipt; tolerance is 5m".into(),
                secret_label: Some("current".into()),
            }),
            ..c
        };
        assert!(render(&verified, body).contains(
            "\n  endpoint id   e1\n  signature     outside tolerance (stripe): signed 7m12s before receipt; tolerance is 5m\n\nheaders"
        ));
        let with_event = Capture {
            event: Some(crate::model::Event {
                id: Some("evt_1".into()),
                kind: Some("charge.succeeded".into()),
                created_at: Some("2026-12-01T10:00:00.000000Z".into()),
                attempt: Some(2),
                retry_reason: Some("http_timeout".into()),
                resource: Some("ch_\u{1b}9".into()),
            }),
            ..verified
        };
        assert!(
            render(&with_event, body).contains(
                "\n  event         charge.succeeded evt_1 (attempt 2, http_timeout), created 2026-12-01 10:00:00.000000 UTC, about ch_\\x1b9\n"
            ),
            "{}",
            render(&with_event, body)
        );
        let answered = |status, delay_ms, timed_out| Capture {
            answer: Some(crate::model::Answer {
                rule_id: Some("flaky".into()),
                status,
                delay_ms,
                step: Some(2),
                timed_out,
            }),
            ..with_event.clone()
        };
        assert!(render(&answered(500, 0, false), body).contains("\n  answered      500 by rule flaky (step 2)\n"));
        assert!(
            render(&answered(504, 30_000, true), body)
                .contains("\n  answered      timeout (held 30 s, then 504) by rule flaky (step 2)\n")
        );
        assert!(
            render(&answered(201, 400, false), body)
                .contains("\n  answered      201 after 400 ms by rule flaky (step 2)\n")
        );
        let only_type = crate::model::Event {
            id: None,
            kind: Some("push".into()),
            created_at: None,
            attempt: None,
            retry_reason: None,
            resource: None,
        };
        assert_eq!(only_type.line(), "push");
    }

    #[test]
    fn har_document_wraps_the_entry() {
        let doc = har_document(&json!({ "request": { "method": "POST" } }));
        let v: Value = serde_json::from_str(&doc).unwrap();
        assert_eq!(v["log"]["version"], "1.2");
        assert_eq!(v["log"]["creator"]["name"], "Hookmetry");
        assert_eq!(v["log"]["entries"][0]["request"]["method"], "POST");
        assert!(doc.starts_with("{\n  \"log\": {\n    \"version\": \"1.2\",\n    \"creator\": {"), "{doc}");
    }
}
