//! GitHub: the event kind in `X-GitHub-Event`, what happened in the body's `action`, and every
//! payload carrying the `repository` and the `sender`. Sample names join the two
//! (`pull_request.opened`), as `hookmetry_verify::event_type` does. Shapes follow GitHub's
//! "Webhook events and payloads" reference.

use serde_json::{Value, json};

use super::{Body, Draft, headers};
use crate::fresh::Cx;
use crate::{ProviderSamples, SampleEvent};

pub(crate) const SAMPLES: ProviderSamples = ProviderSamples {
    id: "github",
    name: "GitHub",
    events: &[
        SampleEvent { name: "ping", description: "Sent once when a webhook is created." },
        SampleEvent { name: "push", description: "One commit was pushed to the default branch." },
        SampleEvent { name: "pull_request.opened", description: "A pull request was opened." },
        SampleEvent { name: "pull_request.closed", description: "A pull request was merged and closed." },
        SampleEvent { name: "issues.opened", description: "An issue was opened." },
        SampleEvent { name: "issue_comment.created", description: "Someone commented on an issue." },
        SampleEvent { name: "release.published", description: "A release was published." },
        SampleEvent { name: "star.created", description: "Someone starred the repository." },
    ],
    draft,
};

const OWNER: &str = "octo-org";
const REPO: &str = "hello-world";

fn draft(cx: &Cx, event: &str) -> Option<Draft> {
    let hook_id = cx.number(9);
    let repo_id = cx.number(9);
    let sender = json!({
        "login": "octocat",
        "id": 583_231,
        "node_id": "MDQ6VXNlcjU4MzIzMQ==",
        "avatar_url": "https://avatars.githubusercontent.com/u/583231?v=4",
        "html_url": "https://github.com/octocat",
        "type": "User",
        "site_admin": false,
    });
    let (kind, action) = match event.split_once('.') {
        Some((kind, action)) => (kind, Some(action)),
        None => (event, None),
    };
    let mut body = match event {
        "ping" => ping(cx, hook_id),
        "push" => push(cx),
        "pull_request.opened" => pull_request(cx, &sender, false),
        "pull_request.closed" => pull_request(cx, &sender, true),
        "issues.opened" => json!({ "issue": issue(cx, &sender) }),
        "issue_comment.created" => issue_comment(cx, &sender),
        "release.published" => release(cx, &sender),
        "star.created" => json!({ "starred_at": cx.iso(0, 0) }),
        _ => return None,
    };
    if let Some(action) = action {
        body["action"] = json!(action);
    }
    body["repository"] = repository(cx, repo_id);
    body["sender"] = sender;
    Some(Draft {
        headers: headers([
            ("Accept", "*/*".into()),
            ("Content-Type", "application/json".into()),
            ("User-Agent", format!("GitHub-Hookshot/{}", cx.hex("", 7))),
            ("X-GitHub-Delivery", cx.uuid()),
            ("X-GitHub-Event", kind.into()),
            ("X-GitHub-Hook-ID", hook_id.to_string()),
            ("X-GitHub-Hook-Installation-Target-ID", repo_id.to_string()),
            ("X-GitHub-Hook-Installation-Target-Type", "repository".into()),
        ]),
        body: Body::Json { value: body, pretty: false },
    })
}

fn repository(cx: &Cx, id: u64) -> Value {
    json!({
        "id": id,
        "name": REPO,
        "full_name": format!("{OWNER}/{REPO}"),
        "private": false,
        "owner": { "login": OWNER, "id": 6_811_672, "type": "Organization" },
        "html_url": format!("https://github.com/{OWNER}/{REPO}"),
        "description": "My first repository on GitHub.",
        "fork": false,
        "url": format!("https://api.github.com/repos/{OWNER}/{REPO}"),
        "created_at": cx.iso(-400 * 86_400, 0),
        "updated_at": cx.iso(-86_400, 0),
        "pushed_at": cx.iso(-60, 0),
        "default_branch": "main",
        "visibility": "public",
    })
}

fn ping(cx: &Cx, hook_id: u64) -> Value {
    json!({
        "zen": "Design for failure.",
        "hook_id": hook_id,
        "hook": {
            "type": "Repository",
            "id": hook_id,
            "name": "web",
            "active": true,
            "events": ["*"],
            "config": { "content_type": "json", "insecure_ssl": "0", "url": "https://hooks.example.com/h/tok" },
            "created_at": cx.iso(0, 0),
            "updated_at": cx.iso(0, 0),
        },
    })
}

fn push(cx: &Cx) -> Value {
    let (before, after) = (cx.hex("", 40), cx.hex("", 40));
    let commit = json!({
        "id": after,
        "tree_id": cx.hex("", 40),
        "distinct": true,
        "message": "Fix typo in README",
        "timestamp": cx.iso(-30, 0),
        "url": format!("https://github.com/{OWNER}/{REPO}/commit/{after}"),
        "author": { "name": "Mona Octocat", "email": "octocat@github.com", "username": "octocat" },
        "committer": { "name": "GitHub", "email": "noreply@github.com", "username": "web-flow" },
        "added": [],
        "removed": [],
        "modified": ["README.md"],
    });
    json!({
        "ref": "refs/heads/main",
        "before": before,
        "after": after,
        "created": false,
        "deleted": false,
        "forced": false,
        "base_ref": null,
        "compare": format!("https://github.com/{OWNER}/{REPO}/compare/{}...{}", &before[..12], &after[..12]),
        "commits": [commit.clone()],
        "head_commit": commit,
        "pusher": { "name": "octocat", "email": "octocat@github.com" },
    })
}

fn pull_request(cx: &Cx, sender: &Value, merged: bool) -> Value {
    let number = 42;
    let closed_at = if merged { json!(cx.iso(0, 0)) } else { Value::Null };
    json!({
        "number": number,
        "pull_request": {
            "url": format!("https://api.github.com/repos/{OWNER}/{REPO}/pulls/{number}"),
            "id": cx.number(10),
            "html_url": format!("https://github.com/{OWNER}/{REPO}/pull/{number}"),
            "number": number,
            "state": if merged { "closed" } else { "open" },
            "locked": false,
            "title": "Retry deliveries with backoff",
            "user": sender,
            "body": "Failed deliveries are retried up to 5 times with exponential backoff.",
            "created_at": cx.iso(if merged { -7200 } else { 0 }, 0),
            "updated_at": cx.iso(0, 0),
            "closed_at": closed_at,
            "merged_at": closed_at,
            "merge_commit_sha": cx.hex("", 40),
            "draft": false,
            "head": { "label": "octocat:retry-backoff", "ref": "retry-backoff", "sha": cx.hex("", 40) },
            "base": { "label": format!("{OWNER}:main"), "ref": "main", "sha": cx.hex("", 40) },
            "merged": merged,
            "comments": 1,
            "commits": 3,
            "additions": 120,
            "deletions": 8,
            "changed_files": 4,
        },
    })
}

fn issue(cx: &Cx, sender: &Value) -> Value {
    let number = 7;
    json!({
        "url": format!("https://api.github.com/repos/{OWNER}/{REPO}/issues/{number}"),
        "html_url": format!("https://github.com/{OWNER}/{REPO}/issues/{number}"),
        "id": cx.number(10),
        "number": number,
        "title": "Webhook retries are not idempotent",
        "user": sender,
        "labels": [{ "id": cx.number(9), "name": "bug", "color": "d73a4a", "default": true }],
        "state": "open",
        "locked": false,
        "assignee": null,
        "comments": 0,
        "created_at": cx.iso(0, 0),
        "updated_at": cx.iso(0, 0),
        "closed_at": null,
        "author_association": "MEMBER",
        "body": "A retried delivery creates a second order.",
    })
}

fn issue_comment(cx: &Cx, sender: &Value) -> Value {
    let mut issue = issue(cx, sender);
    issue["comments"] = json!(1);
    issue["created_at"] = json!(cx.iso(-3600, 0));
    let id = cx.number(10);
    json!({
        "issue": issue,
        "comment": {
            "id": id,
            "html_url": format!("https://github.com/{OWNER}/{REPO}/issues/7#issuecomment-{id}"),
            "user": sender,
            "created_at": cx.iso(0, 0),
            "updated_at": cx.iso(0, 0),
            "author_association": "MEMBER",
            "body": "Reproduced on main; the event id should be the idempotency key.",
        },
    })
}

fn release(cx: &Cx, sender: &Value) -> Value {
    let id = cx.number(9);
    json!({
        "release": {
            "url": format!("https://api.github.com/repos/{OWNER}/{REPO}/releases/{id}"),
            "html_url": format!("https://github.com/{OWNER}/{REPO}/releases/tag/v1.4.0"),
            "id": id,
            "tag_name": "v1.4.0",
            "target_commitish": "main",
            "name": "v1.4.0",
            "draft": false,
            "prerelease": false,
            "author": sender,
            "created_at": cx.iso(-600, 0),
            "published_at": cx.iso(0, 0),
            "assets": [],
            "body": "Retries with backoff, and a faster inspector.",
        },
    })
}
