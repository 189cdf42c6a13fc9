//! Standard Webhooks: a body of `type`, `timestamp` and `data`, and a `webhook-id` header that
//! the signature covers. The spec leaves the event names to each sender; these are the kind its
//! examples use. Shapes follow the spec's payload section.

use serde_json::{Value, json};

use super::{Body, Draft, headers};
use crate::fresh::Cx;
use crate::{ProviderSamples, SampleEvent};

pub(crate) const SAMPLES: ProviderSamples = ProviderSamples {
    id: "standard-webhooks",
    name: "Standard Webhooks",
    events: &[
        SampleEvent { name: "contact.created", description: "A contact was added." },
        SampleEvent { name: "contact.updated", description: "A contact's details changed." },
        SampleEvent { name: "contact.deleted", description: "A contact was removed." },
        SampleEvent { name: "invoice.paid", description: "An invoice was paid." },
    ],
    draft,
};

fn draft(cx: &Cx, event: &str) -> Option<Draft> {
    let contact = || {
        json!({
            "id": cx.uuid(),
            "type": "contact",
            "email": "ada@example.com",
            "name": "Ada Lovelace",
            "created_at": cx.iso(-86_400, 3),
        })
    };
    let data: Value = match event {
        "contact.created" => contact(),
        "contact.updated" => {
            let mut c = contact();
            c["email"] = json!("ada.lovelace@example.com");
            c["updated_at"] = json!(cx.iso(0, 3));
            c
        }
        "contact.deleted" => json!({ "id": cx.uuid(), "type": "contact", "deleted": true }),
        "invoice.paid" => json!({
            "id": cx.id("inv_", 24),
            "type": "invoice",
            "amount": 4900,
            "currency": "USD",
            "status": "paid",
            "contact_id": cx.uuid(),
            "paid_at": cx.iso(0, 3),
        }),
        _ => return None,
    };
    let body = json!({ "type": event, "timestamp": cx.iso(0, 6), "data": data });
    Some(Draft {
        headers: headers([
            ("content-type", "application/json".into()),
            // The message id, which the signature covers and a receiver de-duplicates on: Svix's
            // `msg_` + 27 characters form, which the spec's examples use.
            ("webhook-id", cx.id("msg_", 27)),
        ]),
        body: Body::Json { value: body, pretty: false },
    })
}
