//! Twilio: form-encoded POST parameters, as Twilio sends to a Messaging or Voice webhook and to
//! status callbacks. Nothing in the request names the event; the sample names are ours. Fields
//! follow Twilio's TwiML request and status callback references.

use super::{Body, Draft, headers};
use crate::fresh::Cx;
use crate::{ProviderSamples, SampleEvent};

pub(crate) const SAMPLES: ProviderSamples = ProviderSamples {
    id: "twilio",
    name: "Twilio",
    events: &[
        SampleEvent { name: "incoming-sms", description: "An SMS arrived at one of your numbers." },
        SampleEvent { name: "message-status", description: "A message you sent was delivered." },
        SampleEvent { name: "incoming-call", description: "A call is ringing on one of your numbers." },
        SampleEvent { name: "call-status", description: "A call ended (its status callback)." },
    ],
    draft,
};

const API_VERSION: &str = "2010-04-01";
const CUSTOMER: &str = "+14155550100";
const YOUR_NUMBER: &str = "+14155550199";

/// Where Twilio's number lookup places the two numbers; sent with incoming SMS and calls.
const GEO: &[(&str, &str)] = &[
    ("FromCity", "SAN FRANCISCO"),
    ("FromState", "CA"),
    ("FromZip", "94103"),
    ("FromCountry", "US"),
    ("ToCity", "OAKLAND"),
    ("ToState", "CA"),
    ("ToZip", "94612"),
    ("ToCountry", "US"),
];

fn draft(cx: &Cx, event: &str) -> Option<Draft> {
    let account = cx.hex("AC", 32);
    let message = cx.hex("SM", 32);
    let call = cx.hex("CA", 32);
    let mut f: Vec<(&str, String)> = match event {
        "incoming-sms" => vec![
            ("SmsMessageSid", message.clone()),
            ("NumMedia", "0".into()),
            ("SmsSid", message.clone()),
            ("SmsStatus", "received".into()),
            ("Body", "Is my order on its way?".into()),
            ("NumSegments", "1".into()),
            ("MessageSid", message),
            ("AccountSid", account),
            ("From", CUSTOMER.into()),
            ("To", YOUR_NUMBER.into()),
            ("ApiVersion", API_VERSION.into()),
        ],
        "message-status" => vec![
            ("SmsSid", message.clone()),
            ("SmsStatus", "delivered".into()),
            ("MessageStatus", "delivered".into()),
            ("To", CUSTOMER.into()),
            ("MessageSid", message),
            ("AccountSid", account),
            ("From", YOUR_NUMBER.into()),
            ("ApiVersion", API_VERSION.into()),
        ],
        "incoming-call" => vec![
            ("Called", YOUR_NUMBER.into()),
            ("CallStatus", "ringing".into()),
            ("Direction", "inbound".into()),
            ("Caller", CUSTOMER.into()),
            ("CallSid", call),
            ("AccountSid", account),
            ("From", CUSTOMER.into()),
            ("To", YOUR_NUMBER.into()),
            ("ApiVersion", API_VERSION.into()),
        ],
        "call-status" => vec![
            ("Called", YOUR_NUMBER.into()),
            ("CallStatus", "completed".into()),
            ("Duration", "1".into()),
            ("CallDuration", "42".into()),
            ("Direction", "inbound".into()),
            ("Timestamp", cx.rfc2822()),
            ("CallbackSource", "call-progress-events".into()),
            ("SequenceNumber", "0".into()),
            ("Caller", CUSTOMER.into()),
            ("CallSid", call),
            ("AccountSid", account),
            ("From", CUSTOMER.into()),
            ("To", YOUR_NUMBER.into()),
            ("ApiVersion", API_VERSION.into()),
        ],
        _ => return None,
    };
    // Incoming messages and calls say where the numbers are; status callbacks do not.
    if matches!(event, "incoming-sms" | "incoming-call") {
        f.splice(0..0, GEO.iter().map(|(n, v)| (*n, (*v).to_string())));
    }
    Some(Draft {
        headers: headers([
            ("Content-Type", "application/x-www-form-urlencoded".into()),
            ("User-Agent", "TwilioProxy/1.1".into()),
            ("I-Twilio-Idempotency-Token", cx.uuid()),
            ("X-Home-Region", "us1".into()),
        ]),
        body: Body::Form(f.into_iter().map(|(n, v)| (n.to_string(), v)).collect()),
    })
}
