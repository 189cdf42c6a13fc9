//! Shopify: the topic in `X-Shopify-Topic`, the shop in `X-Shopify-Shop-Domain`, and the body
//! the REST Admin API resource the topic is about. Shapes follow Shopify's webhook topic reference.

use serde_json::{Value, json};

use super::{Body, Draft, headers};
use crate::fresh::Cx;
use crate::{ProviderSamples, SampleEvent};

pub(crate) const SAMPLES: ProviderSamples = ProviderSamples {
    id: "shopify",
    name: "Shopify",
    events: &[
        SampleEvent { name: "orders/create", description: "An order was placed, not yet paid." },
        SampleEvent { name: "orders/paid", description: "An order's payment was captured." },
        SampleEvent { name: "orders/cancelled", description: "An order was cancelled at the customer's request." },
        SampleEvent { name: "products/update", description: "A product's price or stock changed." },
        SampleEvent { name: "customers/create", description: "A customer account was created." },
        SampleEvent { name: "app/uninstalled", description: "The shop uninstalled the app." },
    ],
    draft,
};

const SHOP: &str = "hookmetry-demo.myshopify.com";
/// The Admin API version the payloads are written in.
const API_VERSION: &str = "2025-01";

fn draft(cx: &Cx, topic: &str) -> Option<Draft> {
    let body = match topic {
        "orders/create" => order(cx, "pending"),
        "orders/paid" => order(cx, "paid"),
        "orders/cancelled" => {
            let mut o = order(cx, "voided");
            o["cancelled_at"] = json!(cx.local_iso(0));
            o["cancel_reason"] = json!("customer");
            o
        }
        "products/update" => product(cx),
        "customers/create" => customer(cx),
        "app/uninstalled" => shop(cx),
        _ => return None,
    };
    Some(Draft {
        headers: headers([
            ("Content-Type", "application/json".into()),
            ("User-Agent", "Shopify-Captain-Hook".into()),
            ("X-Shopify-Topic", topic.into()),
            ("X-Shopify-Shop-Domain", SHOP.into()),
            ("X-Shopify-API-Version", API_VERSION.into()),
            ("X-Shopify-Webhook-Id", cx.uuid()),
            ("X-Shopify-Triggered-At", cx.iso(0, 6)),
            ("X-Shopify-Event-Id", cx.uuid()),
        ]),
        body: Body::Json { value: body, pretty: false },
    })
}

fn gid(kind: &str, id: u64) -> String {
    format!("gid://shopify/{kind}/{id}")
}

fn customer_fields(cx: &Cx) -> Value {
    let id = cx.number(13);
    json!({
        "id": id,
        "admin_graphql_api_id": gid("Customer", id),
        "email": "bob.norman@example.com",
        "first_name": "Bob",
        "last_name": "Norman",
        "phone": "+16136120707",
        "state": "enabled",
        "verified_email": true,
        "currency": "USD",
        "tags": "",
        "created_at": cx.local_iso(-86_400),
        "updated_at": cx.local_iso(0),
    })
}

fn address() -> Value {
    json!({
        "first_name": "Bob",
        "last_name": "Norman",
        "address1": "Chestnut Street 92",
        "city": "Louisville",
        "province": "Kentucky",
        "province_code": "KY",
        "country": "United States",
        "country_code": "US",
        "zip": "40202",
    })
}

fn order(cx: &Cx, financial_status: &str) -> Value {
    let id = cx.number(13);
    let (product_id, variant_id, line_id) = (cx.number(13), cx.number(14), cx.number(14));
    json!({
        "id": id,
        "admin_graphql_api_id": gid("Order", id),
        "name": "#1001",
        "order_number": 1001,
        "email": "bob.norman@example.com",
        "created_at": cx.local_iso(-60),
        "updated_at": cx.local_iso(0),
        "processed_at": cx.local_iso(-60),
        "cancelled_at": null,
        "cancel_reason": null,
        "currency": "USD",
        "presentment_currency": "USD",
        "financial_status": financial_status,
        "fulfillment_status": null,
        "subtotal_price": "398.00",
        "total_discounts": "0.00",
        "total_tax": "11.94",
        "total_price": "409.94",
        "test": false,
        "line_items": [{
            "id": line_id,
            "admin_graphql_api_id": gid("LineItem", line_id),
            "product_id": product_id,
            "variant_id": variant_id,
            "title": "Aviator sunglasses",
            "variant_title": null,
            "sku": "SKU-2006-001",
            "quantity": 2,
            "price": "199.00",
            "requires_shipping": true,
            "taxable": true,
        }],
        "customer": customer_fields(cx),
        "billing_address": address(),
        "shipping_address": address(),
    })
}

fn product(cx: &Cx) -> Value {
    let id = cx.number(13);
    let variant = cx.number(14);
    json!({
        "id": id,
        "admin_graphql_api_id": gid("Product", id),
        "title": "Aviator sunglasses",
        "body_html": "<p>Polarised lenses, metal frame.</p>",
        "vendor": "Hookmetry Demo",
        "product_type": "Accessories",
        "handle": "aviator-sunglasses",
        "status": "active",
        "tags": "summer, sunglasses",
        "created_at": cx.local_iso(-30 * 86_400),
        "updated_at": cx.local_iso(0),
        "published_at": cx.local_iso(-30 * 86_400),
        "variants": [{
            "id": variant,
            "admin_graphql_api_id": gid("ProductVariant", variant),
            "product_id": id,
            "title": "Default Title",
            "price": "179.00",
            "compare_at_price": "199.00",
            "sku": "SKU-2006-001",
            "inventory_quantity": 12,
            "position": 1,
        }],
        "options": [{ "name": "Title", "position": 1, "values": ["Default Title"] }],
        "images": [],
    })
}

fn customer(cx: &Cx) -> Value {
    let mut c = customer_fields(cx);
    c["created_at"] = json!(cx.local_iso(0));
    c["addresses"] = json!([address()]);
    c["email_marketing_consent"] =
        json!({ "state": "not_subscribed", "opt_in_level": "single_opt_in", "consent_updated_at": null });
    c
}

fn shop(cx: &Cx) -> Value {
    let id = cx.number(11);
    json!({
        "id": id,
        "name": "Hookmetry Demo",
        "email": "owner@example.com",
        "domain": SHOP,
        "myshopify_domain": SHOP,
        "country_code": "US",
        "currency": "USD",
        "iana_timezone": "America/New_York",
        "plan_name": "basic",
        "created_at": cx.local_iso(-365 * 86_400),
        "updated_at": cx.local_iso(0),
    })
}
