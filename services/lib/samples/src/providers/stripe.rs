//! Stripe: an `event` object whose `data.object` is the API resource the event is about, sent
//! pretty-printed. Shapes follow Stripe's API reference for events and each resource.

use serde_json::{Value, json};

use super::{Body, Draft, headers};
use crate::fresh::Cx;
use crate::{ProviderSamples, SampleEvent};

pub(crate) const SAMPLES: ProviderSamples = ProviderSamples {
    id: "stripe",
    name: "Stripe",
    events: &[
        SampleEvent { name: "payment_intent.succeeded", description: "A payment was collected in full." },
        SampleEvent {
            name: "payment_intent.payment_failed",
            description: "A payment attempt failed (here: card declined).",
        },
        SampleEvent { name: "charge.succeeded", description: "A card charge went through." },
        SampleEvent { name: "charge.refunded", description: "A charge was refunded in full." },
        SampleEvent {
            name: "checkout.session.completed",
            description: "A customer finished a Checkout session and paid.",
        },
        SampleEvent { name: "customer.created", description: "A customer was created." },
        SampleEvent {
            name: "customer.subscription.created",
            description: "A customer started a monthly subscription.",
        },
        SampleEvent { name: "invoice.paid", description: "A subscription invoice was paid." },
    ],
    draft,
};

/// The API version the samples are written in.
const API_VERSION: &str = "2024-06-20";

/// Ids shared between the event's object and the ones it refers to.
struct Ids {
    customer: String,
    payment_intent: String,
    charge: String,
    payment_method: String,
    subscription: String,
}

fn draft(cx: &Cx, event: &str) -> Option<Draft> {
    let ids = Ids {
        customer: cx.id("cus_", 14),
        payment_intent: cx.id("pi_3", 23),
        charge: cx.id("ch_3", 23),
        payment_method: cx.id("pm_1", 23),
        subscription: cx.id("sub_1", 23),
    };
    let object = match event {
        "payment_intent.succeeded" => payment_intent(cx, &ids, true),
        "payment_intent.payment_failed" => payment_intent(cx, &ids, false),
        "charge.succeeded" => charge(cx, &ids, false),
        "charge.refunded" => charge(cx, &ids, true),
        "checkout.session.completed" => checkout_session(cx, &ids),
        "customer.created" => customer(cx, &ids),
        "customer.subscription.created" => subscription(cx, &ids),
        "invoice.paid" => invoice(cx, &ids),
        _ => return None,
    };
    let value = json!({
        "id": cx.id("evt_1", 23),
        "object": "event",
        "api_version": API_VERSION,
        "created": cx.now,
        "data": { "object": object },
        "livemode": false,
        "pending_webhooks": 1,
        "request": { "id": cx.id("req_", 14), "idempotency_key": cx.uuid() },
        "type": event,
    });
    Some(Draft {
        headers: headers([
            ("User-Agent", "Stripe/1.0 (+https://stripe.com/docs/webhooks)".into()),
            ("Accept", "*/*; q=0.5, application/xml".into()),
            ("Cache-Control", "no-cache".into()),
            ("Content-Type", "application/json; charset=utf-8".into()),
        ]),
        body: Body::Json { value, pretty: true },
    })
}

fn card() -> Value {
    json!({ "brand": "visa", "country": "US", "exp_month": 12, "exp_year": 2034, "funding": "credit", "last4": "4242" })
}

fn payment_intent(cx: &Cx, ids: &Ids, succeeded: bool) -> Value {
    let mut pi = json!({
        "id": ids.payment_intent,
        "object": "payment_intent",
        "amount": 2000,
        "amount_capturable": 0,
        "amount_received": if succeeded { 2000 } else { 0 },
        "capture_method": "automatic",
        "client_secret": format!("{}_secret_{}", ids.payment_intent, cx.id("", 25)),
        "created": cx.now - 3,
        "currency": "usd",
        "customer": ids.customer,
        "description": "Order #1042",
        "last_payment_error": null,
        "latest_charge": ids.charge,
        "livemode": false,
        "metadata": { "order_id": "1042" },
        "payment_method": ids.payment_method,
        "payment_method_types": ["card"],
        "status": if succeeded { "succeeded" } else { "requires_payment_method" },
    });
    if !succeeded {
        pi["payment_method"] = Value::Null;
        pi["last_payment_error"] = json!({
            "charge": ids.charge,
            "code": "card_declined",
            "decline_code": "generic_decline",
            "doc_url": "https://stripe.com/docs/error-codes/card-declined",
            "message": "Your card was declined.",
            "payment_method": { "id": ids.payment_method, "object": "payment_method", "card": card(), "type": "card" },
            "type": "card_error",
        });
    }
    pi
}

fn charge(cx: &Cx, ids: &Ids, refunded: bool) -> Value {
    json!({
        "id": ids.charge,
        "object": "charge",
        "amount": 2000,
        "amount_captured": 2000,
        "amount_refunded": if refunded { 2000 } else { 0 },
        "balance_transaction": cx.id("txn_3", 23),
        "billing_details": { "email": "jenny.rosen@example.com", "name": "Jenny Rosen" },
        "captured": true,
        "created": cx.now - if refunded { 3600 } else { 2 },
        "currency": "usd",
        "customer": ids.customer,
        "description": "Order #1042",
        "livemode": false,
        "metadata": { "order_id": "1042" },
        "outcome": { "network_status": "approved_by_network", "risk_level": "normal", "seller_message": "Payment complete.", "type": "authorized" },
        "paid": true,
        "payment_intent": ids.payment_intent,
        "payment_method": ids.payment_method,
        "payment_method_details": { "card": card(), "type": "card" },
        "receipt_url": format!("https://pay.stripe.com/receipts/payment/{}", cx.id("", 40)),
        "refunded": refunded,
        "status": "succeeded",
    })
}

fn checkout_session(cx: &Cx, ids: &Ids) -> Value {
    json!({
        "id": cx.id("cs_test_a1", 56),
        "object": "checkout.session",
        "amount_subtotal": 2000,
        "amount_total": 2000,
        "cancel_url": "https://example.com/cart",
        "created": cx.now - 120,
        "currency": "usd",
        "customer": ids.customer,
        "customer_details": { "email": "jenny.rosen@example.com", "name": "Jenny Rosen", "address": { "country": "US", "postal_code": "94103" } },
        "expires_at": cx.now - 120 + 86_400,
        "livemode": false,
        "metadata": { "order_id": "1042" },
        "mode": "payment",
        "payment_intent": ids.payment_intent,
        "payment_status": "paid",
        "status": "complete",
        "success_url": "https://example.com/thanks?session_id={CHECKOUT_SESSION_ID}",
    })
}

fn customer(cx: &Cx, ids: &Ids) -> Value {
    json!({
        "id": ids.customer,
        "object": "customer",
        "balance": 0,
        "created": cx.now,
        "currency": null,
        "delinquent": false,
        "description": null,
        "email": "jenny.rosen@example.com",
        "invoice_prefix": cx.upper_id("", 8),
        "livemode": false,
        "metadata": {},
        "name": "Jenny Rosen",
        "phone": null,
    })
}

fn price(cx: &Cx) -> Value {
    json!({
        "id": cx.id("price_1", 23),
        "object": "price",
        "currency": "usd",
        "nickname": "Pro monthly",
        "product": cx.id("prod_", 14),
        "recurring": { "interval": "month", "interval_count": 1 },
        "type": "recurring",
        "unit_amount": 1500,
    })
}

fn subscription(cx: &Cx, ids: &Ids) -> Value {
    json!({
        "id": ids.subscription,
        "object": "subscription",
        "cancel_at_period_end": false,
        "collection_method": "charge_automatically",
        "created": cx.now,
        "currency": "usd",
        "current_period_end": cx.now + 30 * 86_400,
        "current_period_start": cx.now,
        "customer": ids.customer,
        "items": {
            "object": "list",
            "data": [{ "id": cx.id("si_", 14), "object": "subscription_item", "price": price(cx), "quantity": 1 }],
            "has_more": false,
            "url": format!("/v1/subscription_items?subscription={}", ids.subscription),
        },
        "latest_invoice": cx.id("in_1", 23),
        "livemode": false,
        "metadata": {},
        "start_date": cx.now,
        "status": "active",
    })
}

fn invoice(cx: &Cx, ids: &Ids) -> Value {
    let prefix = cx.upper_id("", 8);
    json!({
        "id": cx.id("in_1", 23),
        "object": "invoice",
        "amount_due": 1500,
        "amount_paid": 1500,
        "amount_remaining": 0,
        "billing_reason": "subscription_cycle",
        "charge": ids.charge,
        "created": cx.now - 3600,
        "currency": "usd",
        "customer": ids.customer,
        "customer_email": "jenny.rosen@example.com",
        "hosted_invoice_url": format!("https://invoice.stripe.com/i/acct_{}/test_{}", cx.id("", 16), cx.id("", 40)),
        "lines": {
            "object": "list",
            "data": [{
                "id": cx.id("il_1", 23),
                "object": "line_item",
                "amount": 1500,
                "currency": "usd",
                "description": "1 × Pro (at $15.00 / month)",
                "period": { "end": cx.now + 30 * 86_400, "start": cx.now },
                "quantity": 1,
            }],
            "has_more": false,
        },
        "livemode": false,
        "number": format!("{prefix}-0002"),
        "paid": true,
        "payment_intent": ids.payment_intent,
        "period_end": cx.now,
        "period_start": cx.now - 30 * 86_400,
        "status": "paid",
        "subscription": ids.subscription,
        "total": 1500,
    })
}
