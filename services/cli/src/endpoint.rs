//! `hookmetry endpoint create|list|delete`.

use serde::Deserialize;
use serde_json::json;

use crate::client::{Client, Connection};
use crate::error::CliError;
use crate::format;
use crate::model::{ENDPOINT_FIELDS, Endpoint};
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
        /// Print the endpoint as JSON.
        #[arg(long)]
        json: bool,
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
    /// Delete an endpoint and every capture of it; its capture URL answers 404 from then on.
    Delete {
        /// Endpoint id, or its exact name when no other endpoint of the team has that name.
        endpoint: String,
        /// Team whose names `<ENDPOINT>` is looked up in [default: the token's team].
        #[arg(long)]
        team: Option<String>,
    },
}

pub(crate) async fn run(args: EndpointArgs, conn: &Connection, out: &mut Output) -> Result<(), CliError> {
    let client = Client::new(conn)?;
    match args.command {
        EndpointCommand::Create { name, team, json } => {
            #[derive(Deserialize)]
            #[serde(rename_all = "camelCase")]
            struct Data {
                create_endpoint: Endpoint,
            }
            let q = format!(
                "mutation($name: String!, $team: ID) {{ createEndpoint(input: {{name: $name, teamId: $team}}) \
                 {{ {ENDPOINT_FIELDS} }} }}"
            );
            let e = client.query::<Data>(&q, json!({ "name": name, "team": team })).await?.create_endpoint;
            if json {
                out.json_pretty(&e)?;
            } else {
                out.text(&format!("created endpoint `{}`\nid:  {}\nurl: {}\n", e.name, e.id, e.url))?;
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
        EndpointCommand::Delete { endpoint, team } => {
            let e = resolve(&client, &endpoint, team.as_deref()).await?;
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

pub(crate) fn endpoint_table(list: &[Endpoint]) -> String {
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|e| vec![e.id.clone(), e.name.clone(), e.url.clone(), format::date_time(&e.created_at)])
        .collect();
    format::table(&["ID", "NAME", "URL", "CREATED (UTC)"], &rows)
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
/// exactly one endpoint of `team` (the token's team by default).
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
    let mut matches: Vec<Endpoint> = list.into_iter().filter(|e| e.name == name).collect();
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
    fn table_lists_id_name_url_created() {
        let t = endpoint_table(&[ep("a1", "stripe-test"), ep("b2", "gh")]);
        assert_eq!(
            t,
            "ID  NAME         URL                         CREATED (UTC)\n\
             a1  stripe-test  http://127.0.0.1:8080/h/a1  2026-11-27 06:55:08\n\
             b2  gh           http://127.0.0.1:8080/h/b2  2026-11-27 06:55:08\n"
        );
    }
}
