//! Square: `merchant_id`, `type`, `event_id`, `created_at`, and `data` holding the object under
//! its kind (`data.object.payment`). Square signs the notification URL with the body, so a
//! sample must be signed with the URL it is sent to. Shapes follow Square's webhook reference.

use serde_json::{Map, Value, json};

use super::{Body, Draft, headers};
use crate::fresh::Cx;
use crate::{ProviderSamples, SampleEvent};

pub(crate) const SAMPLES: ProviderSamples = ProviderSamples {
    id: "square",
    name: "Square",
    events: &[
        SampleEvent { name: "payment.created", description: "A card payment was authorised." },
        SampleEvent { name: "payment.updated", description: "A payment was captured and completed." },
        SampleEvent { name: "refund.created", description: "A refund of a payment was started." },
        SampleEvent { name: "order.created", description: "An order was created." },
        SampleEvent { name: "customer.created", description: "A customer profile was created." },
        SampleEvent { name: "invoice.payment_made", description: "An invoice was paid." },
    ],
    draft,
};

/// Ids the objects of one sample share.
struct Ids {
    location: String,
    payment: String,
    order: String,
    customer: String,
}

fn draft(cx: &Cx, event: &str) -> Option<Draft> {
    let ids = Ids {
        location: cx.upper_id("L", 12),
        payment: cx.id("", 29),
        order: cx.id("", 29),
        customer: cx.upper_id("", 26),
    };
    let (kind, object) = match event {
        "payment.created" => ("payment", payment(cx, &ids, false)),
        "payment.updated" => ("payment", payment(cx, &ids, true)),
        "refund.created" => ("refund", refund(cx, &ids)),
        "order.created" => ("order_created", order(cx, &ids)),
        "customer.created" => ("customer", customer(cx, &ids)),
        "invoice.payment_made" => ("invoice", invoice(cx, &ids)),
        _ => return None,
    };
    // `data.id` is the object's id; an `order_created` summary calls it `order_id`.
    let id = object.get("id").or_else(|| object.get("order_id")).cloned().unwrap_or(Value::Null);
    let mut wrapped = Map::new();
    wrapped.insert(kind.to_string(), object);
    let body = json!({
        "merchant_id": cx.upper_id("ML", 11),
        "type": event,
        "event_id": cx.uuid(),
        "created_at": cx.iso(0, 3),
        "data": { "type": kind, "id": id, "object": wrapped },
    });
    Some(Draft {
        headers: headers([
            ("Content-Type", "application/json".into()),
            ("User-Agent", "Square Connect v2".into()),
            ("Square-Initial-Delivery-Timestamp", cx.iso(0, 3)),
        ]),
        body: Body::Json { value: body, pretty: false },
    })
}

fn money(amount: u64) -> Value {
    json!({ "amount": amount, "currency": "USD" })
}

fn payment(cx: &Cx, ids: &Ids, completed: bool) -> Value {
    let mut p = json!({
        "id": ids.payment,
        "created_at": cx.iso(-2, 3),
        "updated_at": cx.iso(0, 3),
        "amount_money": money(2500),
        "total_money": money(2500),
        "approved_money": money(2500),
        "status": if completed { "COMPLETED" } else { "APPROVED" },
        "delay_duration": "PT168H",
        "delay_action": "CANCEL",
        "source_type": "CARD",
        "card_details": {
            "status": if completed { "CAPTURED" } else { "AUTHORIZED" },
            "card": { "card_brand": "VISA", "last_4": "1111", "exp_month": 12, "exp_year": 2034, "card_type": "CREDIT" },
            "entry_method": "KEYED",
            "cvv_status": "CVV_ACCEPTED",
            "avs_status": "AVS_ACCEPTED",
        },
        "location_id": ids.location,
        "order_id": ids.order,
        "customer_id": ids.customer,
        "version": if completed { 1 } else { 0 },
    });
    if completed {
        p["receipt_number"] = json!(ids.payment[..4].to_string());
        p["receipt_url"] = json!(format!("https://squareup.com/receipt/preview/{}", ids.payment));
    }
    p
}

fn refund(cx: &Cx, ids: &Ids) -> Value {
    json!({
        "id": format!("{}_{}", ids.payment, cx.id("", 47)),
        "status": "PENDING",
        "amount_money": money(2500),
        "payment_id": ids.payment,
        "order_id": ids.order,
        "location_id": ids.location,
        "reason": "Returned goods",
        "created_at": cx.iso(0, 3),
        "updated_at": cx.iso(0, 3),
        "version": 0,
    })
}

fn order(cx: &Cx, ids: &Ids) -> Value {
    json!({
        "order_id": ids.order,
        "location_id": ids.location,
        "state": "OPEN",
        "version": 1,
        "created_at": cx.iso(0, 3),
    })
}

fn customer(cx: &Cx, ids: &Ids) -> Value {
    json!({
        "id": ids.customer,
        "created_at": cx.iso(0, 3),
        "updated_at": cx.iso(0, 3),
        "given_name": "Amelia",
        "family_name": "Earhart",
        "email_address": "amelia.earhart@example.com",
        "phone_number": "+14155550142",
        "preferences": { "email_unsubscribed": false },
        "creation_source": "THIRD_PARTY",
        "version": 0,
    })
}

fn invoice(cx: &Cx, ids: &Ids) -> Value {
    json!({
        "id": format!("inv:0-{}", cx.id("", 22)),
        "version": 3,
        "location_id": ids.location,
        "order_id": ids.order,
        "invoice_number": "000042",
        "title": "Event catering",
        "status": "PAID",
        "primary_recipient": { "customer_id": ids.customer, "given_name": "Amelia", "family_name": "Earhart" },
        "payment_requests": [{
            "uid": cx.uuid(),
            "request_type": "BALANCE",
            "due_date": cx.iso(7 * 86_400, 0)[..10].to_string(),
            "computed_amount_money": money(10_000),
            "total_completed_amount_money": money(10_000),
        }],
        "public_url": format!("https://squareup.com/pay-invoice/inv:0-{}", cx.id("", 22)),
        "created_at": cx.iso(-86_400, 3),
        "updated_at": cx.iso(0, 3),
    })
}
