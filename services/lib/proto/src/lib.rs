//! Wire format of the logs. Generated types stay private to this crate: everything else speaks
//! `hookmetry_core` types and calls `encode_*` / `decode_*`.

use bytes::Bytes;
use hookmetry_core::{
    CaptureId, CaptureSummary, CapturedRequest, DeliveryId, DeliveryState, EndpointId, Header, TeamId, Timestamp,
};
use prost::Message;

mod pb {
    #![allow(clippy::all, clippy::pedantic, missing_docs)]
    include!(concat!(env!("OUT_DIR"), "/hookmetry.v1.rs"));
}

/// Value of the `schema` record header for a `CapturedRequest` payload.
pub const SCHEMA_CAPTURED_REQUEST: &str = "captured-request/1";
/// Value of the `schema` record header for a `DeliveryRequest` payload.
pub const SCHEMA_DELIVERY_REQUEST: &str = "delivery-request/1";
/// Value of the `schema` record header for an `Event` payload.
pub const SCHEMA_EVENT: &str = "event/1";
/// Name of the record header that carries the schema.
pub const SCHEMA_HEADER: &str = "schema";

#[derive(Debug, thiserror::Error)]
pub enum ProtoError {
    #[error("cannot decode {message}: {source}")]
    Decode {
        message: &'static str,
        #[source]
        source: prost::DecodeError,
    },
    #[error("invalid {message}: field `{field}` {problem}")]
    Invalid { message: &'static str, field: &'static str, problem: String },
}

/// Events for live subscribers, published by the processor, the replay worker and the API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    CaptureStored(CaptureSummary),
    DeliveryUpdated(DeliveryUpdate),
    CaptureChanged(CaptureChange),
}

impl Event {
    /// The endpoint the event is about: the record key on `events`, so that one endpoint's
    /// events keep their order on every partition count.
    pub fn endpoint_id(&self) -> EndpointId {
        match self {
            Event::CaptureStored(s) => s.endpoint_id,
            Event::DeliveryUpdated(d) => d.endpoint_id,
            Event::CaptureChanged(c) => c.endpoint_id,
        }
    }
}

/// The `events` log record of `e`: keyed by its endpoint, with the schema header.
pub fn event_record(e: &Event) -> hookmetry_log::NewRecord {
    hookmetry_log::NewRecord::new(Bytes::copy_from_slice(e.endpoint_id().as_bytes()), encode_event(e))
        .with_header(SCHEMA_HEADER, SCHEMA_EVENT)
}

/// A stored capture changed; what it is now is in the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CaptureChange {
    pub capture_id: CaptureId,
    pub endpoint_id: EndpointId,
    pub team_id: TeamId,
    pub kind: CaptureChangeKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaptureChangeKind {
    Deleted,
    /// Verified again with an outcome other than the one stored before.
    Verified,
    /// Its body changed the learned shape of its event type (added, removed or retyped fields).
    SchemaChanged,
}

impl CaptureChangeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            CaptureChangeKind::Deleted => "deleted",
            CaptureChangeKind::Verified => "verified",
            CaptureChangeKind::SchemaChanged => "schema_changed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "deleted" => Some(CaptureChangeKind::Deleted),
            "verified" => Some(CaptureChangeKind::Verified),
            "schema_changed" => Some(CaptureChangeKind::SchemaChanged),
            _ => None,
        }
    }
}

impl CaptureChange {
    pub fn of(c: &CapturedRequest, kind: CaptureChangeKind) -> Self {
        Self { capture_id: c.id, endpoint_id: c.endpoint_id, team_id: c.team_id, kind }
    }
}

/// A delivery changed; the details are in the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryUpdate {
    pub delivery_id: DeliveryId,
    pub capture_id: CaptureId,
    pub endpoint_id: EndpointId,
    pub team_id: TeamId,
    pub state: DeliveryState,
    pub attempts: u32,
}

impl DeliveryUpdate {
    pub fn of(d: &hookmetry_core::Delivery) -> Self {
        Self {
            delivery_id: d.id,
            capture_id: d.capture_id,
            endpoint_id: d.endpoint_id,
            team_id: d.team_id,
            state: d.state,
            attempts: d.attempts,
        }
    }
}

pub fn encode_delivery_request(id: DeliveryId) -> Bytes {
    pb::DeliveryRequest { delivery_id: Bytes::copy_from_slice(id.as_bytes()) }.encode_to_vec().into()
}

pub fn decode_delivery_request(buf: Bytes) -> Result<DeliveryId, ProtoError> {
    const M: &str = "DeliveryRequest";
    let m = pb::DeliveryRequest::decode(buf).map_err(|source| ProtoError::Decode { message: M, source })?;
    Ok(DeliveryId::from_bytes(uuid_bytes(&m.delivery_id, M, "delivery_id")?))
}

pub fn encode_capture(c: &CapturedRequest) -> Bytes {
    let msg = pb::CapturedRequest {
        id: Bytes::copy_from_slice(c.id.as_bytes()),
        endpoint_id: Bytes::copy_from_slice(c.endpoint_id.as_bytes()),
        team_id: Bytes::copy_from_slice(c.team_id.as_bytes()),
        method: c.method.clone(),
        path: c.path.clone(),
        query: c.query.clone(),
        headers: c.headers.iter().map(|h| pb::Header { name: h.name.clone(), value: h.value.clone() }).collect(),
        body: c.body.clone(),
        body_sha256: Bytes::copy_from_slice(&c.body_sha256),
        remote_addr: c.remote_addr.clone(),
        http_version: c.http_version.clone(),
        received_at_micros: c.received_at.micros(),
        answered: c.answered.as_ref().map(|a| pb::Answered {
            status: u32::from(a.status),
            delay_ms: a.delay_ms,
            rule_id: a.rule_id.clone(),
            step: a.step,
            timed_out: a.timed_out,
        }),
    };
    msg.encode_to_vec().into()
}

pub fn decode_capture(buf: Bytes) -> Result<CapturedRequest, ProtoError> {
    const M: &str = "CapturedRequest";
    let m = pb::CapturedRequest::decode(buf).map_err(|source| ProtoError::Decode { message: M, source })?;
    Ok(CapturedRequest {
        id: CaptureId::from_bytes(uuid_bytes(&m.id, M, "id")?),
        endpoint_id: EndpointId::from_bytes(uuid_bytes(&m.endpoint_id, M, "endpoint_id")?),
        team_id: TeamId::from_bytes(uuid_bytes(&m.team_id, M, "team_id")?),
        method: m.method,
        path: m.path,
        query: m.query,
        headers: m.headers.into_iter().map(|h| Header { name: h.name, value: h.value }).collect(),
        body_sha256: m.body_sha256.as_ref().try_into().map_err(|_| ProtoError::Invalid {
            message: M,
            field: "body_sha256",
            problem: format!("has {} bytes, expected 32", m.body_sha256.len()),
        })?,
        body: m.body,
        remote_addr: m.remote_addr,
        http_version: m.http_version,
        received_at: Timestamp::from_micros(m.received_at_micros),
        // A status that is no HTTP status is not an answer anyone saw.
        answered: m.answered.and_then(|a| {
            u16::try_from(a.status).ok().filter(|s| (100..=999).contains(s)).map(|status| hookmetry_core::Answered {
                status,
                delay_ms: a.delay_ms,
                rule_id: a.rule_id,
                step: a.step,
                timed_out: a.timed_out,
            })
        }),
    })
}

pub fn encode_event(e: &Event) -> Bytes {
    let kind = match e {
        Event::CaptureStored(s) => pb::event::Kind::CaptureStored(pb::CaptureStored {
            capture_id: Bytes::copy_from_slice(s.id.as_bytes()),
            endpoint_id: Bytes::copy_from_slice(s.endpoint_id.as_bytes()),
            team_id: Bytes::copy_from_slice(s.team_id.as_bytes()),
            method: s.method.clone(),
            path: s.path.clone(),
            body_size: s.body_size,
            received_at_micros: s.received_at.micros(),
        }),
        Event::DeliveryUpdated(d) => pb::event::Kind::DeliveryUpdated(pb::DeliveryUpdated {
            delivery_id: Bytes::copy_from_slice(d.delivery_id.as_bytes()),
            capture_id: Bytes::copy_from_slice(d.capture_id.as_bytes()),
            endpoint_id: Bytes::copy_from_slice(d.endpoint_id.as_bytes()),
            team_id: Bytes::copy_from_slice(d.team_id.as_bytes()),
            state: d.state.as_str().to_owned(),
            attempts: d.attempts,
        }),
        Event::CaptureChanged(c) => pb::event::Kind::CaptureChanged(pb::CaptureChanged {
            capture_id: Bytes::copy_from_slice(c.capture_id.as_bytes()),
            endpoint_id: Bytes::copy_from_slice(c.endpoint_id.as_bytes()),
            team_id: Bytes::copy_from_slice(c.team_id.as_bytes()),
            kind: c.kind.as_str().to_owned(),
        }),
    };
    pb::Event { kind: Some(kind) }.encode_to_vec().into()
}

/// `Ok(None)` for an event kind this version does not know (a newer producer), so consumers can
/// skip it instead of stalling.
pub fn decode_event(buf: Bytes) -> Result<Option<Event>, ProtoError> {
    const M: &str = "Event";
    let m = pb::Event::decode(buf).map_err(|source| ProtoError::Decode { message: M, source })?;
    Ok(match m.kind {
        Some(pb::event::Kind::CaptureStored(s)) => Some(Event::CaptureStored(CaptureSummary {
            id: CaptureId::from_bytes(uuid_bytes(&s.capture_id, M, "capture_id")?),
            endpoint_id: EndpointId::from_bytes(uuid_bytes(&s.endpoint_id, M, "endpoint_id")?),
            team_id: TeamId::from_bytes(uuid_bytes(&s.team_id, M, "team_id")?),
            method: s.method,
            path: s.path,
            body_size: s.body_size,
            received_at: Timestamp::from_micros(s.received_at_micros),
        })),
        Some(pb::event::Kind::DeliveryUpdated(d)) => Some(Event::DeliveryUpdated(DeliveryUpdate {
            delivery_id: DeliveryId::from_bytes(uuid_bytes(&d.delivery_id, M, "delivery_id")?),
            capture_id: CaptureId::from_bytes(uuid_bytes(&d.capture_id, M, "capture_id")?),
            endpoint_id: EndpointId::from_bytes(uuid_bytes(&d.endpoint_id, M, "endpoint_id")?),
            team_id: TeamId::from_bytes(uuid_bytes(&d.team_id, M, "team_id")?),
            state: DeliveryState::parse(&d.state).ok_or_else(|| ProtoError::Invalid {
                message: M,
                field: "state",
                problem: format!("`{}` is not a delivery state", d.state),
            })?,
            attempts: d.attempts,
        })),
        Some(pb::event::Kind::CaptureChanged(c)) => match CaptureChangeKind::parse(&c.kind) {
            Some(kind) => Some(Event::CaptureChanged(CaptureChange {
                capture_id: CaptureId::from_bytes(uuid_bytes(&c.capture_id, M, "capture_id")?),
                endpoint_id: EndpointId::from_bytes(uuid_bytes(&c.endpoint_id, M, "endpoint_id")?),
                team_id: TeamId::from_bytes(uuid_bytes(&c.team_id, M, "team_id")?),
                kind,
            })),
            // A kind of change from a newer version: skipped like an unknown event.
            None => None,
        },
        None => None,
    })
}

fn uuid_bytes(b: &[u8], message: &'static str, field: &'static str) -> Result<[u8; 16], ProtoError> {
    b.try_into().map_err(|_| ProtoError::Invalid {
        message,
        field,
        problem: format!("has {} bytes, expected 16", b.len()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> CapturedRequest {
        CapturedRequest {
            id: CaptureId::new(),
            endpoint_id: EndpointId::new(),
            team_id: TeamId::new(),
            method: "PURGE".into(),
            path: "/a%20b".into(),
            query: Some(String::new()),
            headers: vec![
                Header::new("x-dup", &b"1"[..]),
                Header::new("x-bin", &b"\xff\x00"[..]),
                Header::new("x-dup", &b"2"[..]),
            ],
            body: Bytes::from_static(b"\x00\xffbody"),
            body_sha256: [7; 32],
            remote_addr: "127.0.0.1:5000".into(),
            http_version: "HTTP/1.1".into(),
            received_at: Timestamp::from_micros(1_795_762_508_000_001),
            answered: Some(hookmetry_core::Answered::plain(503, 1500)),
        }
    }

    #[test]
    fn capture_round_trips_exactly() {
        let c = sample();
        assert_eq!(decode_capture(encode_capture(&c)).unwrap(), c);
        let none = CapturedRequest { query: None, ..c.clone() };
        assert_eq!(decode_capture(encode_capture(&none)).unwrap().query, None);
        let by_rule = hookmetry_core::Answered {
            status: 504,
            delay_ms: 30_000,
            rule_id: Some("flaky".into()),
            step: Some(3),
            timed_out: true,
        };
        let ruled = CapturedRequest { answered: Some(by_rule), ..c };
        assert_eq!(decode_capture(encode_capture(&ruled)).unwrap(), ruled);
    }

    #[test]
    fn event_round_trips() {
        let e = Event::CaptureStored(sample().summary());
        assert_eq!(decode_event(encode_event(&e)).unwrap(), Some(e));
    }

    #[test]
    fn delivery_update_and_request_round_trip() {
        let e = Event::DeliveryUpdated(DeliveryUpdate {
            delivery_id: DeliveryId::new(),
            capture_id: CaptureId::new(),
            endpoint_id: EndpointId::new(),
            team_id: TeamId::new(),
            state: DeliveryState::DeadLettered,
            attempts: 8,
        });
        assert_eq!(decode_event(encode_event(&e)).unwrap(), Some(e));
        let id = DeliveryId::new();
        assert_eq!(decode_delivery_request(encode_delivery_request(id)).unwrap(), id);
        for kind in [CaptureChangeKind::Deleted, CaptureChangeKind::Verified] {
            let e = Event::CaptureChanged(CaptureChange::of(&sample(), kind));
            assert_eq!(decode_event(encode_event(&e)).unwrap(), Some(e));
        }
        let newer = pb::Event {
            kind: Some(pb::event::Kind::CaptureChanged(pb::CaptureChanged {
                kind: "renamed".into(),
                ..Default::default()
            })),
        };
        assert_eq!(decode_event(newer.encode_to_vec().into()).unwrap(), None, "an unknown kind is skipped");
        assert!(decode_delivery_request(Bytes::from_static(b"\x0a\x02ab")).is_err());
    }

    #[test]
    fn event_records_are_keyed_by_endpoint_and_name_their_schema() {
        let c = sample();
        for e in [
            Event::CaptureStored(c.summary()),
            Event::CaptureChanged(CaptureChange::of(&c, CaptureChangeKind::Deleted)),
        ] {
            let r = event_record(&e);
            assert_eq!(r.key, Bytes::copy_from_slice(c.endpoint_id.as_bytes()));
            assert_eq!(r.headers, vec![(SCHEMA_HEADER.to_string(), Bytes::from_static(SCHEMA_EVENT.as_bytes()))]);
            assert_eq!(decode_event(r.payload).unwrap(), Some(e));
        }
    }

    #[test]
    fn bad_id_length_is_named() {
        let mut c = pb::CapturedRequest::decode(encode_capture(&sample())).unwrap();
        c.id = Bytes::from_static(b"short");
        let err = decode_capture(c.encode_to_vec().into()).unwrap_err();
        assert_eq!(err.to_string(), "invalid CapturedRequest: field `id` has 5 bytes, expected 16");
    }

    #[test]
    fn garbage_is_a_decode_error() {
        assert!(matches!(decode_capture(Bytes::from_static(b"\xff\xff\xff")), Err(ProtoError::Decode { .. })));
    }
}
