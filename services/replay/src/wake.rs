//! The `deliveries`-log record that wakes a replay worker for a delivery, and its reading.

use hookmetry_core::{Delivery, DeliveryId};
use hookmetry_egress::Url;
use hookmetry_log::{NewRecord, Record};

/// The `deliveries`-log record that wakes a replay worker for `d`, written by whoever creates a
/// delivery (the API, the processor's forwarding rules). It is keyed by the target's host, so one
/// target's deliveries meet on one partition, and so on one worker, which holds the per-target
/// limit.
///
/// It carries the delivery's trace context (`traceparent`) in its headers too, for whoever reads
/// the log; the worker itself takes the context from the stored delivery, which a scan reads
/// the same way.
pub fn wake_record(d: &Delivery) -> NewRecord {
    let host = Url::parse(&d.request.url).ok().and_then(|u| u.host_str().map(str::to_owned)).unwrap_or_default();
    let mut record = NewRecord::new(host, hookmetry_proto::encode_delivery_request(d.id))
        .with_header(hookmetry_proto::SCHEMA_HEADER, hookmetry_proto::SCHEMA_DELIVERY_REQUEST);
    if let Some(parent) = d.trace_parent.as_deref().and_then(hookmetry_telemetry::TraceParent::parse) {
        parent.write_headers(&mut record.headers);
    }
    record
}

/// The delivery a wake-up record names.
pub(crate) fn decode(record: &Record) -> Result<DeliveryId, String> {
    if let Some(schema) = record.header(hookmetry_proto::SCHEMA_HEADER)
        && schema.as_ref() != hookmetry_proto::SCHEMA_DELIVERY_REQUEST.as_bytes()
    {
        return Err(format!(
            "schema `{}` is not {}",
            String::from_utf8_lossy(schema),
            hookmetry_proto::SCHEMA_DELIVERY_REQUEST
        ));
    }
    hookmetry_proto::decode_delivery_request(record.payload.clone()).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use hookmetry_core::{DeliveryState, Timestamp};

    use super::*;

    #[test]
    fn the_wake_record_carries_the_delivery_trace_context() {
        let now = Timestamp::now();
        let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let d = Delivery {
            id: DeliveryId::new(),
            team_id: hookmetry_core::TeamId::new(),
            endpoint_id: hookmetry_core::EndpointId::new(),
            capture_id: hookmetry_core::CaptureId::new(),
            origin: hookmetry_core::DeliveryOrigin::Manual,
            request: hookmetry_core::OutgoingRequest {
                method: "POST".into(),
                url: "https://r.example/hook?token=x".into(),
                headers: vec![],
                body: Bytes::new(),
                body_sha256: [0; 32],
            },
            edited: false,
            resigned: false,
            state: DeliveryState::Pending,
            attempts: 0,
            max_attempts: 3,
            next_attempt_at: Some(now),
            created_at: now,
            updated_at: now,
            trace_parent: Some(traceparent.into()),
            retry_like: None,
        };
        let header = |r: &NewRecord, name: &str| r.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone());
        let traced = wake_record(&d);
        assert_eq!(traced.key, Bytes::from_static(b"r.example"));
        assert_eq!(header(&traced, "traceparent"), Some(Bytes::from_static(traceparent.as_bytes())));
        let untraced = wake_record(&Delivery { trace_parent: None, ..d.clone() });
        assert_eq!(untraced.headers.len(), 1, "the schema only: {:?}", untraced.headers);
        let garbled = wake_record(&Delivery { trace_parent: Some("not a traceparent".into()), ..d });
        assert_eq!(header(&garbled, "traceparent"), None, "a stored value that does not parse is not passed on");
    }
}
