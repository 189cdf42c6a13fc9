//! `hookmetry apply -f FILE`: make a team's endpoints match a file, printing the diff.
//!
//! The file is read and checked here (keys, durations, secret references); the server checks
//! the rest with the validators every endpoint mutation uses, compares secrets (only it knows the
//! stored ones), and makes the changes in one `applyEndpoints` call. A server error is placed at
//! the file's line and key it came from.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::client::Client;
use crate::error::CliError;
use crate::output::Output;
use crate::spec;

#[derive(Debug, clap::Args)]
pub struct ApplyArgs {
    /// The endpoints file (YAML; see docs/endpoints-as-code.md).
    #[arg(long, short = 'f', value_name = "FILE")]
    pub file: PathBuf,
    /// Show what would change and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Also delete the team's endpoints the file does not name, with their captures.
    #[arg(long)]
    pub prune: bool,
    /// Team id [default: the file's `team`, else the token's team].
    #[arg(long)]
    pub team: Option<String>,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ApplyResult {
    pub applied: bool,
    pub changes: Vec<Change>,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Change {
    pub name: String,
    pub action: String,
    pub endpoint: Option<ChangedEndpoint>,
    pub fields: Vec<FieldChange>,
}

#[derive(Debug, Deserialize, Serialize)]
pub(crate) struct ChangedEndpoint {
    pub id: String,
    pub url: String,
}

#[derive(Debug, Deserialize, Serialize)]
pub(crate) struct FieldChange {
    pub field: String,
    pub before: String,
    pub after: String,
}

const MUTATION: &str = "mutation($input: ApplyEndpointsInput!) { applyEndpoints(input: $input) { \
     applied changes { name action endpoint { id url } fields { field before after } } } }";

pub(crate) async fn run(args: ApplyArgs, client: &Client, out: &mut Output) -> Result<(), CliError> {
    let loaded = spec::load(&args.file, &|var| std::env::var(var).ok()).map_err(|e| CliError::Usage(e.to_string()))?;
    let team = args.team.clone().or_else(|| loaded.file.team.clone());
    let input = json!({
        "teamId": team, "endpoints": loaded.endpoints, "prune": args.prune, "dryRun": args.dry_run,
    });
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Data {
        apply_endpoints: ApplyResult,
    }
    let result = match client.query::<Data>(MUTATION, json!({ "input": input })).await {
        Ok(d) => d.apply_endpoints,
        Err(CliError::Server { field: Some(field), message, .. }) if field.starts_with("endpoints") => {
            return Err(CliError::Usage(loaded.locate(&field, &message).to_string()));
        }
        Err(e) => return Err(e),
    };
    if args.json { out.json_pretty(&result) } else { out.text(&render(&result)) }
}

/// The diff as people read it: `+ create`, `~ update` with a line per field, `= unchanged`,
/// `- delete`, then a count.
pub(crate) fn render(r: &ApplyResult) -> String {
    let mut s = String::new();
    let count = |a: &str| r.changes.iter().filter(|c| c.action == a).count();
    for c in &r.changes {
        let (mark, word) = match c.action.as_str() {
            "CREATE" => ('+', "create"),
            "UPDATE" => ('~', "update"),
            "DELETE" => ('-', "delete"),
            _ => ('=', "unchanged"),
        };
        s.push_str(&format!("{mark} {word} {}\n", c.name));
        for f in &c.fields {
            s.push_str(&format!("    {}: {} → {}\n", f.field, f.before, f.after));
        }
    }
    let (create, update, delete, same) = (count("CREATE"), count("UPDATE"), count("DELETE"), count("UNCHANGED"));
    if r.applied {
        s.push_str(&format!("{create} created, {update} updated, {delete} deleted, {same} unchanged\n"));
    } else {
        s.push_str(&format!(
            "dry run, nothing changed: {create} to create, {update} to update, {delete} to delete, {same} unchanged\n"
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_diff_reads_as_a_list_of_marks() {
        let r: ApplyResult = serde_json::from_value(json!({
            "applied": false,
            "changes": [
                { "name": "a", "action": "CREATE", "endpoint": null, "fields": [{ "field": "handshakes", "before": "off", "after": "on" }] },
                { "name": "b", "action": "UPDATE", "endpoint": null,
                  "fields": [{ "field": "verification.secrets", "before": "current", "after": "current (value changed)" }] },
                { "name": "c", "action": "UNCHANGED", "endpoint": null, "fields": [] },
                { "name": "d", "action": "DELETE", "endpoint": null, "fields": [] },
            ],
        }))
        .unwrap();
        assert_eq!(
            render(&r),
            "+ create a\n    handshakes: off → on\n~ update b\n    verification.secrets: current → current (value changed)\n\
             = unchanged c\n- delete d\ndry run, nothing changed: 1 to create, 1 to update, 1 to delete, 1 unchanged\n"
        );
    }
}
