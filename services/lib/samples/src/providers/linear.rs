//! Linear: the entity kind in `Linear-Event` and the body's `type`, what happened in `action`,
//! and the signed send time in `webhookTimestamp` (Unix milliseconds), which receivers check is
//! within a minute. Sample names join kind and action (`Issue.create`), as
//! `hookmetry_verify::event_type` does. Shapes follow Linear's webhook documentation.

use serde_json::{Value, json};

use super::{Body, Draft, headers};
use crate::fresh::Cx;
use crate::{ProviderSamples, SampleEvent};

pub(crate) const SAMPLES: ProviderSamples = ProviderSamples {
    id: "linear",
    name: "Linear",
    events: &[
        SampleEvent { name: "Issue.create", description: "An issue was created." },
        SampleEvent { name: "Issue.update", description: "An issue moved to In Progress." },
        SampleEvent { name: "Issue.remove", description: "An issue was deleted (moved to trash)." },
        SampleEvent { name: "Comment.create", description: "Someone commented on an issue." },
        SampleEvent { name: "Project.update", description: "A project's progress changed." },
    ],
    draft,
};

const ORG_URL: &str = "https://linear.app/hookmetry";

fn draft(cx: &Cx, event: &str) -> Option<Draft> {
    let (kind, action) = event.split_once('.')?;
    let team = json!({ "id": cx.uuid(), "key": "ENG", "name": "Engineering" });
    let actor = json!({
        "id": cx.uuid(),
        "type": "user",
        "name": "Ada Lovelace",
        "email": "ada@example.com",
        "url": format!("{ORG_URL}/profiles/ada"),
    });
    let (data, updated_from) = match event {
        "Issue.create" => (issue(cx, &team, "Todo", "unstarted"), None),
        "Issue.update" => {
            let was = json!({ "updatedAt": cx.iso(-3600, 3), "stateId": cx.uuid(), "startedAt": null });
            (issue(cx, &team, "In Progress", "started"), Some(was))
        }
        "Issue.remove" => {
            let mut i = issue(cx, &team, "Todo", "unstarted");
            i["archivedAt"] = json!(cx.iso(0, 3));
            i["trashed"] = json!(true);
            (i, None)
        }
        "Comment.create" => (comment(cx, &team, &actor), None),
        "Project.update" => {
            let was = json!({ "updatedAt": cx.iso(-86_400, 3), "progress": 0.25 });
            (project(cx, &team), Some(was))
        }
        _ => return None,
    };
    let url = data["url"].clone();
    let mut body = json!({
        "action": action,
        "type": kind,
        "actor": actor,
        "createdAt": cx.iso(0, 3),
        "data": data,
        "url": url,
        "organizationId": cx.uuid(),
        "webhookTimestamp": cx.millis(),
        "webhookId": cx.uuid(),
    });
    if let Some(was) = updated_from {
        body["updatedFrom"] = was;
    }
    Some(Draft {
        headers: headers([
            ("Content-Type", "application/json; charset=utf-8".into()),
            ("User-Agent", "Linear-Webhook".into()),
            ("Linear-Delivery", cx.uuid()),
            ("Linear-Event", kind.into()),
        ]),
        body: Body::Json { value: body, pretty: false },
    })
}

fn issue(cx: &Cx, team: &Value, state: &str, state_type: &str) -> Value {
    let number = 123;
    let state_id = cx.uuid();
    json!({
        "id": cx.uuid(),
        "createdAt": cx.iso(-7200, 3),
        "updatedAt": cx.iso(0, 3),
        "number": number,
        "identifier": format!("ENG-{number}"),
        "title": "Retry failed webhook deliveries",
        "description": "Deliveries that get a 5xx should be retried with backoff.",
        "priority": 2,
        "priorityLabel": "High",
        "estimate": 3,
        "sortOrder": -1024.5,
        "teamId": team["id"],
        "team": team,
        "stateId": state_id,
        "state": { "id": state_id, "name": state, "color": "#f2c94c", "type": state_type },
        "creatorId": cx.uuid(),
        "assigneeId": null,
        "labelIds": [],
        "labels": [],
        "subscriberIds": [],
        "previousIdentifiers": [],
        "url": format!("{ORG_URL}/issue/ENG-{number}/retry-failed-webhook-deliveries"),
    })
}

fn comment(cx: &Cx, team: &Value, actor: &Value) -> Value {
    let id = cx.uuid();
    json!({
        "id": id,
        "createdAt": cx.iso(0, 3),
        "updatedAt": cx.iso(0, 3),
        "body": "Reproduced on main; fix incoming.",
        "issueId": cx.uuid(),
        "issue": { "id": cx.uuid(), "identifier": "ENG-123", "title": "Retry failed webhook deliveries", "teamId": team["id"] },
        "userId": actor["id"],
        "user": { "id": actor["id"], "name": actor["name"] },
        "reactionData": [],
        "url": format!("{ORG_URL}/issue/ENG-123/retry-failed-webhook-deliveries#comment-{}", &id[..8]),
    })
}

fn project(cx: &Cx, team: &Value) -> Value {
    json!({
        "id": cx.uuid(),
        "createdAt": cx.iso(-30 * 86_400, 3),
        "updatedAt": cx.iso(0, 3),
        "name": "Webhook inspector v2",
        "description": "Faster search and side-by-side diffs.",
        "state": "started",
        "progress": 0.4,
        "startDate": cx.iso(-30 * 86_400, 0)[..10].to_string(),
        "targetDate": cx.iso(60 * 86_400, 0)[..10].to_string(),
        "teamIds": [team["id"]],
        "url": format!("{ORG_URL}/project/webhook-inspector-v2-{}", cx.hex("", 12)),
    })
}
