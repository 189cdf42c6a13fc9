//! `cargo bench -p hookmetry-shape`: cost per capture of shape inference and drift detection
//! (`Shape::of` of the body, then `observe` into the shape learned from earlier captures), against
//! `serde_json::from_slice::<Value>` of the same body measured in the same run, so the ratio
//! survives a noisy machine. Prints one JSON object per body.
//!
//! Bodies: a Stripe `charge.succeeded` event (~3 KiB), a GitHub `pull_request` event (~20 KiB), and
//! bodies of about 1 MiB built to make inference expensive. `-- stripe wide` runs only those named.

// The sample events are written as `json!` literals, as large as the real ones.
#![recursion_limit = "512"]

use std::hint::black_box;
use std::time::{Duration, Instant};

use hookmetry_shape::{Limits, Shape};
use serde_json::{Value, json};

fn per_op(mut f: impl FnMut()) -> Duration {
    // Calibrate to roughly half a second so short and long operations are both measured well.
    let mut n = 1u32;
    loop {
        let t = Instant::now();
        for _ in 0..n {
            f();
        }
        let e = t.elapsed();
        if e > Duration::from_millis(500) {
            return e / n;
        }
        n *= 2;
    }
}

fn stripe() -> Value {
    json!({
        "id": "evt_3PqL0x2eZvKYlo2C1h6m9Gx4", "object": "event", "api_version": "2024-06-20",
        "created": 1723456789, "livemode": false, "pending_webhooks": 2, "type": "charge.succeeded",
        "request": {"id": "req_Jk8d8QpS1lGq2X", "idempotency_key": "b6f1c1a2-7f0e-4c55-9a57-8e2d8c1d9e11"},
        "data": {"object": {
            "id": "ch_3PqL0x2eZvKYlo2C1xUq0R2T", "object": "charge", "amount": 2000, "amount_captured": 2000,
            "amount_refunded": 0, "application": null, "application_fee": null, "application_fee_amount": null,
            "balance_transaction": "txn_3PqL0x2eZvKYlo2C1d8Xq7rB",
            "billing_details": {"address": {"city": "San Francisco", "country": "US", "line1": "510 Townsend St",
                "line2": null, "postal_code": "94103", "state": "CA"}, "email": "jenny.rosen@example.com",
                "name": "Jenny Rosen", "phone": null},
            "calculated_statement_descriptor": "HOOKMETRY", "captured": true, "created": 1723456788,
            "currency": "usd", "customer": "cus_QhV3xYpL0mN2aB", "description": "Subscription creation",
            "destination": null, "dispute": null, "disputed": false, "failure_balance_transaction": null,
            "failure_code": null, "failure_message": null, "fraud_details": {}, "invoice": "in_1PqL0w2eZvKYlo2C",
            "livemode": false, "metadata": {"order_id": "6735", "plan": "pro"}, "on_behalf_of": null, "order": null,
            "outcome": {"network_status": "approved_by_network", "reason": null, "risk_level": "normal",
                "risk_score": 32, "seller_message": "Payment complete.", "type": "authorized"},
            "paid": true, "payment_intent": "pi_3PqL0x2eZvKYlo2C1pQ9sZ1m", "payment_method": "pm_1PqL0w2eZvKYlo2CkF3",
            "payment_method_details": {"card": {"amount_authorized": 2000, "authorization_code": null, "brand": "visa",
                "checks": {"address_line1_check": "pass", "address_postal_code_check": "pass", "cvc_check": "pass"},
                "country": "US", "exp_month": 8, "exp_year": 2027, "extended_authorization": {"status": "disabled"},
                "fingerprint": "Xt5EWLLDS7FJjR1c", "funding": "credit", "incremental_authorization": {"status": "unavailable"},
                "installments": null, "last4": "4242", "mandate": null, "multicapture": {"status": "unavailable"},
                "network": "visa", "network_token": {"used": false}, "overcapture": {"maximum_amount_capturable": 2000,
                "status": "unavailable"}, "three_d_secure": null, "wallet": null}, "type": "card"},
            "radar_options": {}, "receipt_email": "jenny.rosen@example.com", "receipt_number": null,
            "receipt_url": "https://pay.stripe.com/receipts/payment/CAcaFwoVYWNjdF8xMDMyRDgyZVp2S1lsbzJDKJXu7rUGMgbY",
            "refunded": false, "refunds": {"object": "list", "data": [], "has_more": false, "total_count": 0,
                "url": "/v1/charges/ch_3PqL0x2eZvKYlo2C1xUq0R2T/refunds"},
            "review": null, "shipping": null, "source": null, "source_transfer": null, "statement_descriptor": null,
            "statement_descriptor_suffix": null, "status": "succeeded", "transfer_data": null, "transfer_group": null,
        }, "previous_attributes": null},
    })
}

fn github_user(login: &str, id: u64) -> Value {
    let u = format!("https://api.github.com/users/{login}");
    json!({
        "login": login, "id": id, "node_id": format!("MDQ6VXNlcj{id}"),
        "avatar_url": format!("https://avatars.githubusercontent.com/u/{id}?v=4"), "gravatar_id": "",
        "url": u, "html_url": format!("https://github.com/{login}"), "followers_url": format!("{u}/followers"),
        "following_url": format!("{u}/following{{/other_user}}"), "gists_url": format!("{u}/gists{{/gist_id}}"),
        "starred_url": format!("{u}/starred{{/owner}}{{/repo}}"), "subscriptions_url": format!("{u}/subscriptions"),
        "organizations_url": format!("{u}/orgs"), "repos_url": format!("{u}/repos"),
        "events_url": format!("{u}/events{{/privacy}}"), "received_events_url": format!("{u}/received_events"),
        "type": "User", "user_view_type": "public", "site_admin": false,
    })
}

fn github_repo(full: &str, id: u64) -> Value {
    let a = format!("https://api.github.com/repos/{full}");
    let mut repo = json!({
        "id": id, "node_id": format!("R_kgDOK{id}"), "name": full.split('/').nth(1).unwrap(), "full_name": full,
        "private": false, "owner": github_user(full.split('/').next().unwrap(), id + 7),
        "html_url": format!("https://github.com/{full}"), "description": "Capture, inspect, verify and replay webhooks",
        "fork": false, "url": a, "created_at": "2023-01-10T09:00:00Z", "updated_at": "2024-08-12T10:11:12Z",
        "pushed_at": "2024-08-12T10:11:10Z", "git_url": format!("git://github.com/{full}.git"),
        "ssh_url": format!("git@github.com:{full}.git"), "clone_url": format!("https://github.com/{full}.git"),
        "svn_url": format!("https://github.com/{full}"), "homepage": null, "size": 18234, "stargazers_count": 412,
        "watchers_count": 412, "language": "Rust", "has_issues": true, "has_projects": false, "has_downloads": true,
        "has_wiki": false, "has_pages": false, "has_discussions": true, "forks_count": 23, "mirror_url": null,
        "archived": false, "disabled": false, "open_issues_count": 17, "license": {"key": "apache-2.0",
        "name": "Apache License 2.0", "spdx_id": "Apache-2.0", "url": "https://api.github.com/licenses/apache-2.0",
        "node_id": "MDc6TGljZW5zZTI="}, "allow_forking": true, "is_template": false,
        "web_commit_signoff_required": false, "topics": ["webhooks", "rust", "observability"], "visibility": "public",
        "forks": 23, "open_issues": 17, "watchers": 412, "default_branch": "main",
        "allow_squash_merge": true, "allow_merge_commit": false, "allow_rebase_merge": true,
        "allow_auto_merge": false, "delete_branch_on_merge": true, "allow_update_branch": true,
        "use_squash_pr_title_as_default": true, "squash_merge_commit_message": "PR_BODY",
        "squash_merge_commit_title": "PR_TITLE", "merge_commit_message": "PR_TITLE", "merge_commit_title": "MERGE_MESSAGE",
    });
    for (k, suffix) in [
        ("forks_url", "/forks"),
        ("keys_url", "/keys{/key_id}"),
        ("collaborators_url", "/collaborators{/collaborator}"),
        ("teams_url", "/teams"),
        ("hooks_url", "/hooks"),
        ("issue_events_url", "/issues/events{/number}"),
        ("events_url", "/events"),
        ("assignees_url", "/assignees{/user}"),
        ("branches_url", "/branches{/branch}"),
        ("tags_url", "/tags"),
        ("blobs_url", "/git/blobs{/sha}"),
        ("git_tags_url", "/git/tags{/sha}"),
        ("git_refs_url", "/git/refs{/sha}"),
        ("trees_url", "/git/trees{/sha}"),
        ("statuses_url", "/statuses/{sha}"),
        ("languages_url", "/languages"),
        ("stargazers_url", "/stargazers"),
        ("contributors_url", "/contributors"),
        ("subscribers_url", "/subscribers"),
        ("subscription_url", "/subscription"),
        ("commits_url", "/commits{/sha}"),
        ("git_commits_url", "/git/commits{/sha}"),
        ("comments_url", "/comments{/number}"),
        ("issue_comment_url", "/issues/comments{/number}"),
        ("contents_url", "/contents/{+path}"),
        ("compare_url", "/compare/{base}...{head}"),
        ("merges_url", "/merges"),
        ("archive_url", "/{archive_format}{/ref}"),
        ("downloads_url", "/downloads"),
        ("issues_url", "/issues{/number}"),
        ("pulls_url", "/pulls{/number}"),
        ("milestones_url", "/milestones{/number}"),
        ("notifications_url", "/notifications{?since,all,participating}"),
        ("labels_url", "/labels{/name}"),
        ("releases_url", "/releases{/id}"),
        ("deployments_url", "/deployments"),
    ] {
        repo[k] = format!("{a}{suffix}").into();
    }
    repo
}

fn github() -> Value {
    let pr = "https://api.github.com/repos/hookmetry/hookmetry/pulls/1347";
    let label = |id: u64, name: &str, color: &str| {
        json!({"id": id, "node_id": format!("LA_kwDOK{id}"), "url": format!("https://api.github.com/repos/hookmetry/hookmetry/labels/{name}"),
               "name": name, "color": color, "default": false, "description": format!("{name} changes")})
    };
    let branch = |r: &str, sha: &str, repo: Value| json!({"label": format!("hookmetry:{r}"), "ref": r, "sha": sha, "user": github_user("hookmetry", 101), "repo": repo});
    json!({
        "action": "opened", "number": 1347,
        "pull_request": {
            "url": pr, "id": 2012345678u64, "node_id": "PR_kwDOKabc1234", "html_url": "https://github.com/hookmetry/hookmetry/pull/1347",
            "diff_url": "https://github.com/hookmetry/hookmetry/pull/1347.diff", "patch_url": "https://github.com/hookmetry/hookmetry/pull/1347.patch",
            "issue_url": "https://api.github.com/repos/hookmetry/hookmetry/issues/1347", "number": 1347, "state": "open",
            "locked": false, "title": "shape: infer JSON shapes and report drift", "user": github_user("octocat", 583231),
            "body": "Adds a crate that infers the JSON shape of each endpoint's events and reports added, removed and retyped fields.\n\n- bounded by depth and field count\n- exported as JSON Schema\n",
            "created_at": "2024-08-12T10:00:00Z", "updated_at": "2024-08-12T10:00:00Z", "closed_at": null, "merged_at": null,
            "merge_commit_sha": null, "assignee": null, "assignees": [], "requested_reviewers": [github_user("reviewer", 99)],
            "requested_teams": [], "labels": [label(1, "enhancement", "a2eeef"), label(2, "processor", "0e8a16")],
            "milestone": null, "draft": false, "commits_url": format!("{pr}/commits"), "review_comments_url": format!("{pr}/comments"),
            "review_comment_url": "https://api.github.com/repos/hookmetry/hookmetry/pulls/comments{/number}",
            "comments_url": "https://api.github.com/repos/hookmetry/hookmetry/issues/1347/comments",
            "statuses_url": "https://api.github.com/repos/hookmetry/hookmetry/statuses/6dcb09b5b57875f334f61aebed695e2e4193db5e",
            "head": branch("shape", "6dcb09b5b57875f334f61aebed695e2e4193db5e", github_repo("hookmetry/hookmetry", 7001)),
            "base": branch("main", "f515bf9a1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f", github_repo("hookmetry/hookmetry", 7001)),
            "_links": {"self": {"href": pr}, "html": {"href": "https://github.com/hookmetry/hookmetry/pull/1347"},
                "issue": {"href": "https://api.github.com/repos/hookmetry/hookmetry/issues/1347"},
                "comments": {"href": "https://api.github.com/repos/hookmetry/hookmetry/issues/1347/comments"},
                "review_comments": {"href": format!("{pr}/comments")}, "review_comment": {"href": "https://api.github.com/repos/hookmetry/hookmetry/pulls/comments{/number}"},
                "commits": {"href": format!("{pr}/commits")}, "statuses": {"href": "https://api.github.com/repos/hookmetry/hookmetry/statuses/6dcb09b5b57875f334f61aebed695e2e4193db5e"}},
            "author_association": "CONTRIBUTOR", "auto_merge": null, "active_lock_reason": null, "merged": false,
            "mergeable": null, "rebaseable": null, "mergeable_state": "unknown", "merged_by": null, "comments": 0,
            "review_comments": 0, "maintainer_can_modify": false, "commits": 4, "additions": 1893, "deletions": 2, "changed_files": 14,
        },
        "repository": github_repo("hookmetry/hookmetry", 7001),
        "organization": {"login": "hookmetry", "id": 108, "node_id": "O_kgDOB", "url": "https://api.github.com/orgs/hookmetry",
            "repos_url": "https://api.github.com/orgs/hookmetry/repos", "events_url": "https://api.github.com/orgs/hookmetry/events",
            "hooks_url": "https://api.github.com/orgs/hookmetry/hooks", "issues_url": "https://api.github.com/orgs/hookmetry/issues",
            "members_url": "https://api.github.com/orgs/hookmetry/members{/member}", "public_members_url": "https://api.github.com/orgs/hookmetry/public_members{/member}",
            "avatar_url": "https://avatars.githubusercontent.com/u/108?v=4", "description": "Webhooks, seen"},
        "sender": github_user("octocat", 583231),
        "installation": {"id": 53812345, "node_id": "MDIzOkludGVncmF0aW9uSW5zdGFsbGF0aW9uNTM4MTIzNDU="},
    })
}

/// About 1 MiB each, built so that a naive walker would blow up in paths, depth or elements.
fn adversarial() -> Vec<(&'static str, Vec<u8>)> {
    const MIB: usize = 1 << 20;
    let mut wide = String::from("{");
    let mut i = 0;
    while wide.len() < MIB - 32 {
        if i > 0 {
            wide.push(',');
        }
        wide.push_str(&format!("\"k{i:x}\":{i}"));
        i += 1;
    }
    wide.push('}');
    let n = (MIB - 16) / 6;
    let deep_objects = format!("{}1{}", "{\"a\":".repeat(n), "}".repeat(n));
    let n = (MIB - 2) / 2;
    let deep_arrays = format!("{}{}", "[".repeat(n), "]".repeat(n));
    let mut elements = String::from("[");
    let mut i = 0;
    while elements.len() < MIB - 64 {
        if i > 0 {
            elements.push(',');
        }
        elements.push_str(&format!("{{\"a{i:x}\":{{\"b{i:x}\":[{{\"c\":{i}}}]}}}}"));
        i += 1;
    }
    elements.push(']');
    let mut floats = String::from("{\"l\":[");
    let mut i = 0u64;
    while floats.len() < MIB - 64 {
        if i > 0 {
            floats.push(',');
        }
        floats.push_str(&format!("{{\"x\":{}.{},\"s\":\"\\u00e9{i}\"}}", i * 7919, i % 97));
        i += 1;
    }
    floats.push_str("]}");
    vec![
        ("wide", wide.into_bytes()),
        ("deep_objects", deep_objects.into_bytes()),
        ("deep_arrays", deep_arrays.into_bytes()),
        ("distinct_elements", elements.into_bytes()),
        ("long_array", floats.into_bytes()),
    ]
}

fn measure(name: &str, body: &[u8], limits: &Limits) {
    let mut warm = Shape::default();
    let one = Shape::of(body, limits).unwrap_or_else(|e| panic!("{name}: {e}"));
    for _ in 0..10 {
        warm.observe(&one, limits);
    }
    let value_ok = serde_json::from_slice::<Value>(body).is_ok();
    let value = per_op(|| {
        let _ = black_box(serde_json::from_slice::<Value>(black_box(body)));
    });
    let of = per_op(|| {
        black_box(Shape::of(black_box(body), limits).unwrap());
    });
    let capture = per_op(|| {
        let seen = Shape::of(black_box(body), limits).unwrap();
        black_box(warm.observe(&seen, limits));
    });
    // Steady state: the capture is merged into a shape that already knows it.
    let observe = per_op(|| {
        black_box(warm.observe(black_box(&one), limits));
    });
    let all = Limits { max_fields: usize::MAX, ..*limits };
    let ns = |d: Duration| d.as_nanos() as u64;
    println!(
        "{}",
        serde_json::json!({
            "body": name,
            "bytes": body.len(),
            "paths": warm.paths(),
            "truncated": warm.truncated(),
            "paths_without_field_limit": Shape::of(body, &all).unwrap().paths(),
            "stored_shape_bytes": serde_json::to_vec(&warm).unwrap().len(),
            "ns_per_capture": ns(capture),
            "ns_of": ns(of),
            "ns_observe": ns(observe),
            "ns_value_parse": ns(value),
            "value_parse_ok": value_ok,
            "ratio_to_value_parse": (capture.as_secs_f64() / value.as_secs_f64() * 100.0).round() / 100.0,
        })
    );
}

fn main() {
    let only: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    let wanted = |name: &str| only.is_empty() || only.iter().any(|o| name.contains(o.as_str()));
    let limits = Limits::default();
    let mut bodies = vec![
        ("stripe_charge_succeeded", serde_json::to_vec(&stripe()).unwrap()),
        ("github_pull_request", serde_json::to_vec(&github()).unwrap()),
    ];
    if only.is_empty() || only.iter().any(|o| !o.starts_with("stripe") && !o.starts_with("github")) {
        bodies.extend(adversarial());
    }
    for (name, body) in bodies {
        if wanted(name) {
            measure(name, &body, &limits);
        }
    }
}
