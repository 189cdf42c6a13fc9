//! Paddle Billing: a notification of `event_id`, `event_type`, `occurred_at`, `notification_id`
//! and `data`, the entity as the API returns it. Ids are a prefix and 26 lowercase characters.
//! Shapes follow Paddle's webhook and API references.

use serde_json::{Value, json};

use super::{Body, Draft, headers};
use crate::fresh::Cx;
use crate::{ProviderSamples, SampleEvent};

pub(crate) const SAMPLES: ProviderSamples = ProviderSamples {
    id: "paddle",
    name: "Paddle",
    events: &[
        SampleEvent { name: "transaction.completed", description: "A checkout was paid and fully processed." },
        SampleEvent { name: "transaction.paid", description: "A transaction's payment was captured." },
        SampleEvent { name: "subscription.created", description: "A customer subscribed to a monthly plan." },
        SampleEvent { name: "subscription.canceled", description: "A subscription was canceled." },
        SampleEvent { name: "customer.created", description: "A customer was created at checkout." },
    ],
    draft,
};

/// Ids the entities of one sample share.
struct Ids {
    customer: String,
    address: String,
    subscription: String,
    transaction: String,
}

fn id(cx: &Cx, prefix: &str) -> String {
    cx.lower_id(&format!("{prefix}_01"), 24)
}

fn draft(cx: &Cx, event: &str) -> Option<Draft> {
    let ids = Ids {
        customer: id(cx, "ctm"),
        address: id(cx, "add"),
        subscription: id(cx, "sub"),
        transaction: id(cx, "txn"),
    };
    let data = match event {
        "transaction.completed" => transaction(cx, &ids, "completed"),
        "transaction.paid" => transaction(cx, &ids, "paid"),
        "subscription.created" => subscription(cx, &ids, false),
        "subscription.canceled" => subscription(cx, &ids, true),
        "customer.created" => customer(cx, &ids),
        _ => return None,
    };
    let body = json!({
        "event_id": id(cx, "evt"),
        "event_type": event,
        "occurred_at": cx.iso(0, 6),
        "notification_id": id(cx, "ntf"),
        "data": data,
    });
    Some(Draft {
        headers: headers([("Content-Type", "application/json".into())]),
        body: Body::Json { value: body, pretty: false },
    })
}

fn price(cx: &Cx) -> Value {
    json!({
        "id": id(cx, "pri"),
        "product_id": id(cx, "pro"),
        "description": "Pro, monthly",
        "billing_cycle": { "interval": "month", "frequency": 1 },
        "unit_price": { "amount": "3000", "currency_code": "USD" },
        "status": "active",
    })
}

fn period(cx: &Cx) -> Value {
    json!({ "starts_at": cx.iso(0, 6), "ends_at": cx.iso(30 * 86_400, 6) })
}

fn transaction(cx: &Cx, ids: &Ids, status: &str) -> Value {
    let completed = status == "completed";
    json!({
        "id": ids.transaction,
        "status": status,
        "customer_id": ids.customer,
        "address_id": ids.address,
        "business_id": null,
        "custom_data": null,
        "currency_code": "USD",
        "origin": "web",
        "subscription_id": if completed { json!(ids.subscription) } else { Value::Null },
        "invoice_id": if completed { json!(id(cx, "inv")) } else { Value::Null },
        "invoice_number": if completed { json!("325-10566") } else { Value::Null },
        "collection_mode": "automatic",
        "billing_period": period(cx),
        "items": [{ "price": price(cx), "quantity": 1 }],
        "details": {
            "totals": { "subtotal": "3000", "tax": "600", "discount": "0", "total": "3600", "currency_code": "USD" },
        },
        "payments": [{
            "payment_attempt_id": cx.uuid(),
            "amount": "3600",
            "status": "captured",
            "error_code": null,
            "method_details": {
                "type": "card",
                "card": { "type": "visa", "last4": "4242", "expiry_month": 12, "expiry_year": 2034, "cardholder_name": "Sam Miller" },
            },
            "created_at": cx.iso(-5, 6),
            "captured_at": cx.iso(-2, 6),
        }],
        "checkout": { "url": format!("https://example.com/pay?_ptxn={}", ids.transaction) },
        "created_at": cx.iso(-60, 6),
        "updated_at": cx.iso(0, 6),
        "billed_at": cx.iso(-2, 6),
    })
}

fn subscription(cx: &Cx, ids: &Ids, canceled: bool) -> Value {
    let item = json!({
        "status": "active",
        "quantity": 1,
        "recurring": true,
        "price": price(cx),
        "created_at": cx.iso(0, 6),
        "updated_at": cx.iso(0, 6),
    });
    json!({
        "id": ids.subscription,
        "status": if canceled { "canceled" } else { "active" },
        "customer_id": ids.customer,
        "address_id": ids.address,
        "business_id": null,
        "currency_code": "USD",
        "collection_mode": "automatic",
        "billing_cycle": { "interval": "month", "frequency": 1 },
        "current_billing_period": if canceled { Value::Null } else { period(cx) },
        "items": [item],
        "custom_data": null,
        "scheduled_change": null,
        "transaction_id": ids.transaction,
        "created_at": cx.iso(0, 6),
        "updated_at": cx.iso(0, 6),
        "started_at": cx.iso(0, 6),
        "first_billed_at": cx.iso(0, 6),
        "next_billed_at": if canceled { Value::Null } else { json!(cx.iso(30 * 86_400, 6)) },
        "paused_at": null,
        "canceled_at": if canceled { json!(cx.iso(0, 6)) } else { Value::Null },
    })
}

fn customer(cx: &Cx, ids: &Ids) -> Value {
    json!({
        "id": ids.customer,
        "name": "Sam Miller",
        "email": "sam@example.com",
        "status": "active",
        "marketing_consent": false,
        "locale": "en",
        "custom_data": null,
        "import_meta": null,
        "created_at": cx.iso(0, 6),
        "updated_at": cx.iso(0, 6),
    })
}
