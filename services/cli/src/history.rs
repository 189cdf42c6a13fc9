//! Reading an endpoint's captures back through the API, for `tail` and `listen` catching up
//! after a connection drop or a restart.

use serde::Deserialize;
use serde_json::json;

use crate::client::Client;
use crate::error::CliError;
use crate::model::{Capture, Page};

/// Captures fetched per query while catching up.
const PAGE: i32 = 50;

/// One page of `endpoint_id`'s captures, newest first, with `fields` selected.
pub(crate) async fn page(
    client: &Client,
    endpoint_id: &str,
    first: i32,
    after: Option<&str>,
    fields: &str,
) -> Result<Page, CliError> {
    filtered_page(client, endpoint_id, first, after, &serde_json::Value::Null, fields).await
}

/// [`page`] of the captures passing `filter` (a `CaptureFilter` input; null for all).
pub(crate) async fn filtered_page(
    client: &Client,
    endpoint_id: &str,
    first: i32,
    after: Option<&str>,
    filter: &serde_json::Value,
    fields: &str,
) -> Result<Page, CliError> {
    #[derive(Deserialize)]
    struct Data {
        captures: Page,
    }
    let q = format!(
        "query($e: ID!, $first: Int, $after: String, $filter: CaptureFilter) {{ captures(endpointId: $e, \
         first: $first, after: $after, filter: $filter) {{ edges {{ node {{ {fields} }} }} pageInfo {{ hasNextPage \
         endCursor }} }} }}"
    );
    let vars = json!({ "e": endpoint_id, "first": first, "after": after, "filter": filter });
    Ok(client.query::<Data>(&q, vars).await?.captures)
}

/// The id of `endpoint_id`'s newest capture, if it has any.
pub(crate) async fn newest_id(client: &Client, endpoint_id: &str) -> Result<Option<String>, CliError> {
    let page = page(client, endpoint_id, 1, None, "id").await?;
    Ok(page.edges.into_iter().next().and_then(|e| e.node["id"].as_str().map(str::to_owned)))
}

/// The captures newer than `since` (all of them when `None`), oldest first, at most `max` of
/// them, the newest; and whether older ones were left out for the limit. Ids are time-ordered
/// (UUIDv7), so "newer" is "greater".
pub(crate) async fn captures_since(
    client: &Client,
    endpoint_id: &str,
    since: Option<&str>,
    fields: &str,
    max: usize,
) -> Result<(Vec<Capture>, bool), CliError> {
    let mut newer: Vec<Capture> = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = page(client, endpoint_id, PAGE, after.as_deref(), fields).await?;
        for edge in page.edges {
            let c: Capture = serde_json::from_value(edge.node).map_err(|e| CliError::Protocol {
                url: client.base.clone(),
                detail: format!("a capture has an unexpected shape ({e})"),
            })?;
            if since.is_some_and(|s| c.id.as_str() <= s) {
                newer.reverse();
                return Ok((newer, false));
            }
            if newer.len() == max {
                newer.reverse();
                return Ok((newer, true));
            }
            newer.push(c);
        }
        match page.page_info.end_cursor {
            Some(cursor) if page.page_info.has_next_page => after = Some(cursor),
            _ => {
                newer.reverse();
                return Ok((newer, false));
            }
        }
    }
}
