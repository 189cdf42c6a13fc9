//! Slack's Events API: every event arrives wrapped in an `event_callback` envelope naming the
//! workspace and app, except the `url_verification` challenge Slack sends when the request URL is
//! set. Shapes follow Slack's Events API and event type reference.

use serde_json::{Value, json};

use super::{Body, Draft, headers};
use crate::fresh::Cx;
use crate::{ProviderSamples, SampleEvent};

pub(crate) const SAMPLES: ProviderSamples = ProviderSamples {
    id: "slack",
    name: "Slack",
    events: &[
        SampleEvent {
            name: "url_verification",
            description: "The challenge Slack sends when an Events API request URL is saved.",
        },
        SampleEvent { name: "app_mention", description: "Someone mentioned the app in a channel." },
        SampleEvent { name: "message", description: "A message was posted in a channel the app is in." },
        SampleEvent { name: "reaction_added", description: "Someone reacted to a message with an emoji." },
        SampleEvent { name: "app_home_opened", description: "Someone opened the app's Home tab." },
        SampleEvent { name: "member_joined_channel", description: "Someone joined a channel the app is in." },
    ],
    draft,
};

/// The workspace, app and people every event in one sample refers to.
struct Ids {
    team: String,
    app: String,
    bot_user: String,
    user: String,
    channel: String,
    /// Message timestamp: `<unix seconds>.<6 digits>`, Slack's message id within a channel.
    ts: String,
}

fn draft(cx: &Cx, event: &str) -> Option<Draft> {
    let ids = Ids {
        team: cx.upper_id("T0", 9),
        app: cx.upper_id("A0", 9),
        bot_user: cx.upper_id("U0", 9),
        user: cx.upper_id("U0", 9),
        channel: cx.upper_id("C0", 9),
        ts: format!("{}.{:06}", cx.now, cx.number(6) % 1_000_000),
    };
    let token = cx.id("", 24);
    let body = match event {
        "url_verification" => {
            json!({ "token": token, "challenge": cx.id("", 48), "type": "url_verification" })
        }
        _ => {
            let inner = inner_event(cx, &ids, event)?;
            json!({
                "token": token,
                "team_id": ids.team,
                "context_team_id": ids.team,
                "api_app_id": ids.app,
                "event": inner,
                "type": "event_callback",
                "event_id": cx.upper_id("Ev0", 9),
                "event_time": cx.now,
                "authorizations": [{
                    "enterprise_id": null,
                    "team_id": ids.team,
                    "user_id": ids.bot_user,
                    "is_bot": true,
                    "is_enterprise_install": false,
                }],
                "is_ext_shared_channel": false,
                "event_context": format!("4-{}", cx.id("", 40)),
            })
        }
    };
    Some(Draft {
        headers: headers([
            ("Content-Type", "application/json".into()),
            ("User-Agent", "Slackbot 1.0 (+https://api.slack.com/robots)".into()),
            ("Accept", "*/*".into()),
        ]),
        body: Body::Json { value: body, pretty: false },
    })
}

fn inner_event(cx: &Cx, ids: &Ids, event: &str) -> Option<Value> {
    Some(match event {
        "app_mention" => json!({
            "type": "app_mention",
            "client_msg_id": cx.uuid(),
            "text": format!("<@{}> deploy the staging branch", ids.bot_user),
            "user": ids.user,
            "ts": ids.ts,
            "team": ids.team,
            "channel": ids.channel,
            "event_ts": ids.ts,
        }),
        "message" => json!({
            "type": "message",
            "client_msg_id": cx.uuid(),
            "text": "The 14:00 deploy is done.",
            "user": ids.user,
            "ts": ids.ts,
            "team": ids.team,
            "channel": ids.channel,
            "event_ts": ids.ts,
            "channel_type": "channel",
        }),
        "reaction_added" => json!({
            "type": "reaction_added",
            "user": ids.user,
            "reaction": "white_check_mark",
            "item_user": ids.bot_user,
            "item": { "type": "message", "channel": ids.channel, "ts": format!("{}.000200", cx.now - 300) },
            "event_ts": ids.ts,
        }),
        "app_home_opened" => json!({
            "type": "app_home_opened",
            "user": ids.user,
            "channel": cx.upper_id("D0", 9),
            "tab": "home",
            "event_ts": ids.ts,
        }),
        "member_joined_channel" => json!({
            "type": "member_joined_channel",
            "user": ids.user,
            "channel": ids.channel,
            "channel_type": "C",
            "team": ids.team,
            "event_ts": ids.ts,
        }),
        _ => return None,
    })
}
