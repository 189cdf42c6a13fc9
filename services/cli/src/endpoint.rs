//! `hookmetry endpoint create|list|show|update|delete`.

use std::io::{BufRead, Write};

use serde::Deserialize;
use serde_json::{Value, json};

use crate::client::{Client, Connection};
use crate::error::CliError;
use crate::format;
use crate::ids::{self, IdPrefix};
use crate::model::{ENDPOINT_DETAIL_FIELDS, ENDPOINT_FIELDS, Endpoint};
use crate::output::Output;

#[derive(Debug, clap::Args)]
pub struct EndpointArgs {
    #[command(subcommand)]
    pub command: EndpointCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum EndpointCommand {
    /// Create an endpoint and print its capture URL.
    Create {
        /// A name for people, e.g. `stripe-test` (1 to 200 characters).
        name: String,
        /// Team id [default: the token's team].
        #[arg(long)]
        team: Option<String>,
        /// Delete the endpoint and its captures this long after now (`30m`, `2h`, `7d`): a
        /// throwaway endpoint for a CI run.
        #[arg(long, value_name = "DURATION", value_parser = parse_ttl)]
        ttl: Option<u64>,
        /// Store at most this many captures; past it the capture URL answers 429.
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=i32::MAX as u64))]
        max_captures: Option<u64>,
        /// Print the endpoint as JSON.
        #[arg(long, conflicts_with = "print")]
        json: bool,
        /// Print only this field, e.g. `URL=$(hookmetry endpoint create ci --ttl 30m --print url)`.
        #[arg(long, value_name = "FIELD", value_parser = PRINTABLE)]
        print: Option<String>,
    },
    /// List a team's endpoints, oldest first.
    List {
        /// Team id [default: the token's team].
        #[arg(long)]
        team: Option<String>,
        /// Print a JSON array with every field instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Show one endpoint: capture URL, custom answer, verification, forwarding rules.
    Show {
        /// Endpoint id, a unique id prefix (8 or more hex digits), or its exact name.
        endpoint: String,
        /// Team whose names `<ENDPOINT>` is looked up in [default: the token's team].
        #[arg(long)]
        team: Option<String>,
        /// Print the endpoint as JSON.
        #[arg(long, conflicts_with = "print")]
        json: bool,
        /// Print only this field (`id`, `url`, `expiresAt`, …), for a shell variable.
        #[arg(long, value_name = "FIELD", value_parser = PRINTABLE)]
        print: Option<String>,
    },
    /// Rename an endpoint, change its answer, how it verifies signatures, or its forwarding rules.
    Update(Box<crate::endpoint_update::UpdateArgs>),
    /// Delete an endpoint and every capture of it; its capture URL answers 404 from then on.
    /// Asks first on a terminal; elsewhere needs `--yes`.
    Delete {
        /// Endpoint id, a unique id prefix (8 or more hex digits), or its exact name.
        endpoint: String,
        /// Team whose names `<ENDPOINT>` is looked up in [default: the token's team].
        #[arg(long)]
        team: Option<String>,
        /// Delete without asking.
        #[arg(long, short = 'y')]
        yes: bool,
    },
}

/// The fields `--print` takes: those of `--json` a script puts in a variable.
const PRINTABLE: [&str; 8] = ["id", "name", "url", "token", "teamId", "createdAt", "expiresAt", "maxCaptures"];

/// A TTL in whole seconds, as `createEndpoint` takes it.
fn parse_ttl(raw: &str) -> Result<u64, String> {
    let d = humantime::parse_duration(raw.trim())
        .map_err(|e| format!("expected a duration such as `30m`, `2h` or `7d` ({e})"))?;
    match d.as_secs() {
        0 => Err("must be at least 1s".into()),
        s if s > i32::MAX as u64 => Err(format!(
            "must be at most {}",
            humantime::format_duration(std::time::Duration::from_secs(i32::MAX as u64))
        )),
        s => Ok(s),
    }
}

pub(crate) async fn run(args: EndpointArgs, conn: &Connection, out: &mut Output) -> Result<(), CliError> {
    let client = Client::new(conn)?;
    match args.command {
        EndpointCommand::Create { name, team, ttl, max_captures, json, print } => {
            #[derive(Deserialize)]
            #[serde(rename_all = "camelCase")]
            struct Data {
                create_endpoint: Endpoint,
            }
            // Only what was given: a server from before TTLs still creates plain endpoints.
            let mut input = json!({ "name": name, "teamId": team });
            if let Some(ttl) = ttl {
                input["ttlSeconds"] = json!(ttl);
            }
            if let Some(max) = max_captures {
                input["maxCaptures"] = json!(max);
            }
            let q = format!(
                "mutation($input: CreateEndpointInput!) {{ createEndpoint(input: $input) {{ {ENDPOINT_FIELDS} }} }}"
            );
            let e = client.query::<Data>(&q, json!({ "input": input })).await?.create_endpoint;
            if json {
                out.json_pretty(&e)?;
            } else if let Some(field) = &print {
                out.field(&e, field)?;
            } else {
                out.text(&created_text(&e))?;
            }
            // A provider's dashboard takes any URL; the first real test would then never arrive.
            if let Some(note) = crate::format::reachability_note(&e.url) {
                eprint!("{note}");
            }
        }
        EndpointCommand::List { team, json } => {
            let list = list(&client, team.as_deref()).await?;
            if json {
                out.json_pretty(&list)?;
            } else if list.is_empty() {
                eprintln!("no endpoints yet; create one with `hookmetry endpoint create <name>`");
            } else {
                out.text(&endpoint_table(&list))?;
            }
        }
        EndpointCommand::Show { endpoint, team, json, print } => {
            let e = resolve(&client, &endpoint, team.as_deref()).await?;
            let detail = detail(&client, &e.id).await?;
            if json {
                out.json_pretty(&detail)?;
            } else if let Some(field) = &print {
                out.field(&detail, field)?;
            } else {
                out.text(&render_detail(&detail))?;
            }
        }
        EndpointCommand::Update(args) => crate::endpoint_update::run(*args, &client, out).await?,
        EndpointCommand::Delete { endpoint, team, yes } => {
            let e = resolve(&client, &endpoint, team.as_deref()).await?;
            if !yes {
                confirm_delete(&client, &e).await?;
            }
            client
                .query::<serde::de::IgnoredAny>(
                    "mutation($id: ID!) { deleteEndpoint(input: {id: $id}) { id } }",
                    json!({ "id": e.id }),
                )
                .await?;
            out.text(&format!("deleted endpoint `{}` ({}) and its captures\n", e.name, e.id))?;
        }
    }
    Ok(())
}

/// `endpoint create`'s lines: name, id, URL, and the expiry and cap when set.
fn created_text(e: &Endpoint) -> String {
    let mut s = format!("created endpoint `{}`\nid:  {}\nurl: {}\n", e.name, e.id, e.url);
    if let Some(at) = &e.expires_at {
        s.push_str(&format!("expires at {} with its captures\n", format::local_date_time(at)));
    }
    if let Some(max) = e.max_captures {
        s.push_str(&format!("stores at most {} captures, then answers 429\n", format::group_thousands(max)));
    }
    s
}

/// Asks on the terminal whether to delete `e`; without a terminal to ask on (stdin, stdout and
/// stderr), refuses.
async fn confirm_delete(client: &Client, e: &Endpoint) -> Result<(), CliError> {
    if !crate::output::can_ask() {
        return Err(CliError::Usage(format!(
            "deleting endpoint `{}` ({}) deletes its captures too; pass `--yes` to confirm when not on a terminal",
            e.name, e.id
        )));
    }
    let count = capture_count(client, &e.id).await?;
    eprint!("Delete endpoint `{}` ({}) and its {count} captures? [y/N] ", e.name, e.id);
    std::io::stderr().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    if matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes") {
        Ok(())
    } else {
        Err(CliError::Usage(format!("endpoint `{}` was not deleted", e.name)))
    }
}

/// Most captures counted for the question; past it the question says "more than".
const COUNT_MAX: usize = 10_000;

/// How many captures `endpoint` has, as the question shows it (`1,204`, `more than 10,000`).
async fn capture_count(client: &Client, endpoint: &str) -> Result<String, CliError> {
    let ids = crate::capture_list::merged(client, &[endpoint.to_owned()], &json!({}), "id", COUNT_MAX + 1).await?;
    Ok(if ids.len() > COUNT_MAX {
        format!("more than {}", format::group_thousands(COUNT_MAX as u64))
    } else {
        format::group_thousands(ids.len() as u64)
    })
}

/// Every field of endpoint `id`, as the server sends it.
pub(crate) async fn detail(client: &Client, id: &str) -> Result<Value, CliError> {
    #[derive(Deserialize)]
    struct Data {
        endpoint: Option<Value>,
    }
    let q = format!("query($id: ID!) {{ endpoint(id: $id) {{ {ENDPOINT_DETAIL_FIELDS} }} }}");
    client
        .query::<Data>(&q, json!({ "id": id }))
        .await?
        .endpoint
        .ok_or_else(|| CliError::NotFound(format!("endpoint {id} not found")))
}

/// `endpoint show`'s page.
pub(crate) fn render_detail(e: &Value) -> String {
    use std::fmt::Write as _;
    let text = |v: &Value| format::escape_text(v.as_str().unwrap_or(""), false);
    let mut s = format!("endpoint `{}`\n", text(&e["name"]));
    let mut row = |label: &str, value: String| {
        let _ = writeln!(s, "  {label:<13} {value}");
    };
    row("id", text(&e["id"]));
    row("url", text(&e["url"]));
    row("created", format::date_time(e["createdAt"].as_str().unwrap_or("")));
    if let Some(at) = e["expiresAt"].as_str() {
        row("expires", format!("at {} with its captures", format::local_date_time(at)));
    }
    if let Some(max) = e["maxCaptures"].as_u64() {
        row("max captures", format::group_thousands(max));
    }
    let scenario = e["scenario"].as_array().cloned().unwrap_or_default();
    for (i, rule) in scenario.iter().enumerate() {
        let mut when = Vec::new();
        if let Some(m) = rule["method"].as_str() {
            when.push(format!("method {}", format::escape_text(m, false)));
        }
        if let Some(p) = rule["pathPrefix"].as_str() {
            when.push(format!("path {}…", format::escape_text(p, false)));
        }
        if let Some(h) = rule["header"]["name"].as_str() {
            let contains = rule["header"]["contains"].as_str().unwrap_or("");
            when.push(if contains.is_empty() {
                format!("header {}", format::escape_text(h, false))
            } else {
                format!("header {} ∋ {}", format::escape_text(h, false), format::escape_text(contains, false))
            });
        }
        let types: Vec<String> = rule["eventTypes"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|t| t.as_str().map(|t| format::escape_text(t, false)))
            .collect();
        if !types.is_empty() {
            when.push(format!("event {}", types.join(" or ")));
        }
        let when = if when.is_empty() { "every request".to_string() } else { when.join(", ") };
        let label = if i == 0 { "scenario" } else { "" };
        row(label, format!("{}: {when} → {}", text(&rule["id"]), text(&rule["answer"]["summary"])));
    }
    // With rules, the response answers only what no rule takes.
    let r = &e["response"];
    row(
        if scenario.is_empty() { "response" } else { "otherwise" },
        if r.is_null() {
            "default (200 with the capture id)".to_string()
        } else {
            let headers = r["headers"].as_array().map_or(0, Vec::len);
            let body = r["body"].as_str().map_or(0, str::len);
            let delay = r["delayMs"].as_u64().unwrap_or(0);
            format!(
                "{}, {headers} header(s), {} body{}",
                r["status"],
                format::human_size(body as u64),
                if delay > 0 { format!(", after {delay} ms") } else { String::new() }
            )
        },
    );
    let v = &e["verification"];
    row(
        "verification",
        if v.is_null() {
            "none".into()
        } else {
            let labels: Vec<String> =
                v["secrets"].as_array().into_iter().flatten().map(|s| text(&s["label"])).collect();
            let tolerance = match v["effectiveToleranceSeconds"].as_u64() {
                Some(0) => "timestamps not checked".to_string(),
                Some(t) => format!("tolerance {}", humantime::format_duration(std::time::Duration::from_secs(t))),
                None => "no timestamp".to_string(),
            };
            format!("{} (secrets: {}; {tolerance})", text(&v["provider"]), labels.join(", "))
        },
    );
    row("handshakes", if e["handshakes"].as_bool() == Some(true) { "answered" } else { "not answered" }.into());
    let rules = e["forwardingRules"].as_array().cloned().unwrap_or_default();
    if rules.is_empty() {
        row("forwarding", "none".into());
    }
    for (i, r) in rules.iter().enumerate() {
        let mut when = Vec::new();
        if let Some(m) = r["method"].as_str() {
            when.push(format!("method {}", format::escape_text(m, false)));
        }
        if let Some(p) = r["pathPrefix"].as_str() {
            when.push(format!("path {}…", format::escape_text(p, false)));
        }
        if let Some(h) = r["headerName"].as_str() {
            when.push(format!("header {}", format::escape_text(h, false)));
        }
        let when = if when.is_empty() { "every capture".to_string() } else { when.join(", ") };
        let label = if i == 0 { "forwarding" } else { "" };
        row(label, format!("{}: {when} → {}", text(&r["id"]), text(&r["target"])));
    }
    s
}

/// The table `endpoint list` prints; an EXPIRES column (local time) only when an endpoint expires.
pub(crate) fn endpoint_table(list: &[Endpoint]) -> String {
    let expiring = list.iter().any(|e| e.expires_at.is_some());
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|e| {
            let mut row = vec![e.id.clone(), e.name.clone(), e.url.clone(), format::date_time(&e.created_at)];
            if expiring {
                row.push(e.expires_at.as_deref().map_or_else(|| "-".to_string(), format::local_date_time));
            }
            row
        })
        .collect();
    if expiring {
        format::table(&["ID", "NAME", "URL", "CREATED (UTC)", "EXPIRES"], &rows)
    } else {
        format::table(&["ID", "NAME", "URL", "CREATED (UTC)"], &rows)
    }
}

pub(crate) async fn list(client: &Client, team: Option<&str>) -> Result<Vec<Endpoint>, CliError> {
    #[derive(Deserialize)]
    struct Data {
        endpoints: Vec<Endpoint>,
    }
    let q = format!("query($team: ID) {{ endpoints(teamId: $team) {{ {ENDPOINT_FIELDS} }} }}");
    Ok(client.query::<Data>(&q, json!({ "team": team })).await?.endpoints)
}

/// The endpoint `ident` names: an id of any endpoint the token may see, or the exact name of
/// exactly one endpoint of `team` (the token's team by default), or else a prefix of the id of
/// exactly one of them.
pub(crate) async fn resolve(client: &Client, ident: &str, team: Option<&str>) -> Result<Endpoint, CliError> {
    let ident = ident.trim();
    if uuid::Uuid::parse_str(ident).is_ok() {
        #[derive(Deserialize)]
        struct Data {
            endpoint: Option<Endpoint>,
        }
        let q = format!("query($id: ID!) {{ endpoint(id: $id) {{ {ENDPOINT_FIELDS} }} }}");
        if let Some(e) = client.query::<Data>(&q, json!({ "id": ident })).await?.endpoint {
            return Ok(e);
        }
        // Not an id the token can see; it may still be a name that looks like one.
    }
    pick_by_name(list(client, team).await?, ident)
}

pub(crate) fn pick_by_name(list: Vec<Endpoint>, name: &str) -> Result<Endpoint, CliError> {
    let (mut matches, others): (Vec<Endpoint>, Vec<Endpoint>) = list.into_iter().partition(|e| e.name == name);
    // A name wins over an id prefix: names are what people chose.
    if let Some(prefix) = IdPrefix::parse(name).filter(|_| matches.is_empty()) {
        let mut by_id: Vec<Endpoint> = others.into_iter().filter(|e| prefix.matches(&e.id)).collect();
        let id = ids::pick_one(
            "endpoint",
            name,
            by_id.iter().map(|e| e.id.clone()).collect(),
            "`hookmetry endpoint list` shows the team's endpoints",
        )?;
        by_id.retain(|e| e.id == id);
        return Ok(by_id.remove(0));
    }
    match matches.len() {
        0 => Err(CliError::NotFound(format!(
            "no endpoint has the id or name `{name}`; `hookmetry endpoint list` shows the team's endpoints"
        ))),
        1 => Ok(matches.remove(0)),
        n => Err(CliError::Usage(format!(
            "{n} endpoints are named `{name}` ({}); pass the id instead",
            matches.iter().map(|e| e.id.as_str()).collect::<Vec<_>>().join(", ")
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ep(id: &str, name: &str) -> Endpoint {
        Endpoint {
            id: id.into(),
            team_id: "t".into(),
            name: name.into(),
            token: "tok".into(),
            url: format!("http://127.0.0.1:8080/h/{id}"),
            response: None,
            created_at: "2026-11-27T06:55:08.123456Z".into(),
            expires_at: None,
            max_captures: None,
        }
    }

    #[test]
    fn names_resolve_only_when_unambiguous() {
        let list = vec![ep("1", "stripe"), ep("2", "github"), ep("3", "github")];
        assert_eq!(pick_by_name(list.clone(), "stripe").unwrap().id, "1");
        let e = pick_by_name(list.clone(), "github").unwrap_err().to_string();
        assert_eq!(e, "2 endpoints are named `github` (2, 3); pass the id instead");
        let e = pick_by_name(list, "nope").unwrap_err().to_string();
        assert!(e.starts_with("no endpoint has the id or name `nope`"), "{e}");
    }

    #[test]
    fn a_unique_id_prefix_names_an_endpoint() {
        let a = "0193a1b2-c3d4-7000-8000-000000000001";
        let b = "0193a1b2-c3d4-7000-8000-000000000012";
        let c = "0193ffff-0000-7000-8000-000000000003";
        let list = vec![ep(a, "one"), ep(b, "two"), ep(c, "three")];
        assert_eq!(pick_by_name(list.clone(), "0193ffff").unwrap().id, c);
        assert_eq!(pick_by_name(list.clone(), "0193A1B2-C3D4-7000-8000-00000000000").unwrap().id, a);
        let e = pick_by_name(list.clone(), "0193a1b2").unwrap_err().to_string();
        assert_eq!(e, format!("2 endpoints have ids starting with `0193a1b2` ({a}, {b}); give more of the id"));
        // A name that looks like a prefix is still a name first.
        let named = vec![ep(a, "one"), ep(c, "0193a1b2")];
        assert_eq!(pick_by_name(named, "0193a1b2").unwrap().id, c);
        let e = pick_by_name(list, "deadbeef").unwrap_err().to_string();
        assert!(e.starts_with("no endpoint id starts with `deadbeef`"), "{e}");
    }

    #[test]
    fn table_lists_id_name_url_created() {
        let t = endpoint_table(&[ep("a1", "stripe-test"), ep("b2", "gh")]);
        assert_eq!(
            t,
            "ID  NAME         URL                         CREATED (UTC)\n\
             a1  stripe-test  http://127.0.0.1:8080/h/a1  2026-11-27 06:55:08\n\
             b2  gh           http://127.0.0.1:8080/h/b2  2026-11-27 06:55:08\n"
        );
    }

    #[test]
    fn an_expires_column_appears_only_when_an_endpoint_expires() {
        let at = "2026-12-05T18:00:00Z";
        let mut expiring = ep("a1", "ci");
        expiring.expires_at = Some(at.into());
        let t = endpoint_table(&[ep("b2", "kept"), expiring]);
        let lines: Vec<&str> = t.lines().collect();
        assert!(lines[0].ends_with("CREATED (UTC)        EXPIRES"), "{t}");
        assert!(lines[1].ends_with("2026-11-27 06:55:08  -"), "{t}");
        assert!(lines[2].ends_with(&format!("2026-11-27 06:55:08  {}", format::local_date_time(at))), "{t}");
        // The zone is said, whichever it is.
        assert!(format::local_date_time(at).rsplit(' ').next().unwrap().starts_with(['+', '-']), "{t}");
    }

    #[test]
    fn ttls_are_whole_seconds_within_the_apis_int() {
        assert_eq!(parse_ttl("30m"), Ok(1800));
        assert_eq!(parse_ttl("7days"), Ok(604_800));
        assert_eq!(parse_ttl("500ms").unwrap_err(), "must be at least 1s");
        assert!(parse_ttl("100years").unwrap_err().starts_with("must be at most 68years"));
        assert!(parse_ttl("soon").unwrap_err().starts_with("expected a duration such as `30m`"));
    }

    #[test]
    fn the_detail_page_lists_scenario_rules_before_what_answers_otherwise() {
        let e = json!({
            "id": "e1", "name": "flaky", "url": "http://h/h/t", "createdAt": "2026-12-01T10:00:00Z",
            "response": null, "verification": null, "handshakes": false, "forwardingRules": [],
            "scenario": [
                { "id": "fail-twice", "method": null, "pathPrefix": null, "header": null, "eventTypes": [],
                  "answer": { "summary": "500, 429 Retry-After: 30, 200 then stay" } },
                { "id": "gh", "method": "POST", "pathPrefix": "/gh", "header": { "name": "X-GitHub-Event", "contains": "" },
                  "eventTypes": ["push", "\u{1b}[2J"], "answer": { "summary": "503" } },
            ],
        });
        let page = render_detail(&e);
        assert!(
            page.contains(
                "\n  scenario      fail-twice: every request → 500, 429 Retry-After: 30, 200 then stay\n                gh: method POST, path /gh…, header X-GitHub-Event, event push or \\x1b[2J → 503\n  otherwise     default (200 with the capture id)\n"
            ),
            "{page}"
        );
        let plain = render_detail(&json!({ "scenario": [], "response": null }));
        assert!(plain.contains("\n  response      default (200 with the capture id)\n"), "{plain}");
    }
}
