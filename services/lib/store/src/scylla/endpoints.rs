//! Endpoints and their forwarding rules.

use async_trait::async_trait;
use hookmetry_core::{Endpoint, EndpointId, ForwardingRule, TeamId, Timestamp};
use uuid::Uuid;

use super::ScyllaStore;
use super::requests::bounded;
use super::rows::{EndpointRow, json};
use crate::{EndpointStore, Result, StoreError};

impl ScyllaStore {
    /// `NameTaken` when an endpoint of `team` other than `except` is named `name`.
    ///
    /// A read before the write, not part of it: Scylla has no transaction spanning the team's
    /// endpoint list and the insert, and a lightweight transaction on a name row would need a
    /// table (a migration) of its own. Two creates or renames to the same name racing within a
    /// few milliseconds can therefore both pass, leaving two endpoints with one name; everything
    /// that takes a name copes with that (it asks for the id), as it does for data from before
    /// names were unique. docs/scylla.md says so too.
    async fn check_name_free(&self, team: TeamId, name: &str, except: EndpointId) -> Result<()> {
        let taken = self.endpoints(team).await?.iter().any(|e| e.id != except && e.name == name);
        if taken { Err(StoreError::NameTaken { name: name.to_owned() }) } else { Ok(()) }
    }
}

#[async_trait]
impl EndpointStore for ScyllaStore {
    /// The capture token is reserved first, then the id; a taken id releases the token again.
    async fn create_endpoint(&self, endpoint: &Endpoint) -> Result<()> {
        let s = &*self.inner;
        let what = "create endpoint";
        let response = json("endpoint response", &endpoint.response)?;
        let verification = json("endpoint verification", &endpoint.verification)?;
        let event_fields = json("endpoint event fields", &endpoint.event_fields)?;
        let scenario = scenario_json(endpoint)?;
        let max_captures = max_captures(endpoint)?;
        if !s.team_exists(endpoint.team_id).await? {
            return Err(StoreError::NotFound { entity: "team" });
        }
        self.check_name_free(endpoint.team_id, &endpoint.name, endpoint.id).await?;
        let (id, token) = (endpoint.id.0, endpoint.token.as_str());
        if !s.lwt(&s.st.insert_endpoint_token, (token, id), what).await? {
            return Err(StoreError::Conflict { entity: "endpoint", detail: "capture token is taken".into() });
        }
        let row = (
            id,
            endpoint.team_id.0,
            &endpoint.name,
            token,
            response,
            verification,
            endpoint.handshakes,
            event_fields,
            scenario,
            max_captures,
            endpoint.expires_at.map(|at| at.micros()),
            endpoint.created_at.micros(),
        );
        // Before the endpoint has the expiry (see `expiry`): a create that stops here leaves an
        // index row readers skip, never an expiring endpoint the sweeper cannot find.
        if let Some(at) = endpoint.expires_at {
            s.add_expiry(endpoint.id, at, what).await?;
        }
        if !s.lwt(&s.st.insert_endpoint, row, what).await? {
            if let Some(at) = endpoint.expires_at {
                s.remove_expiry(endpoint.id, at, what).await?;
            }
            s.lwt(&s.st.delete_endpoint_token, (token, id), what).await?;
            return Err(StoreError::Conflict {
                entity: "endpoint",
                detail: format!("endpoint id {} is taken", endpoint.id),
            });
        }
        s.exec(&s.st.insert_endpoint_by_team, (endpoint.team_id.0, endpoint.created_at.micros(), id), what).await?;
        Ok(())
    }

    async fn update_endpoint(&self, endpoint: &Endpoint) -> Result<()> {
        let s = &*self.inner;
        let Some(stored) = self.endpoint(endpoint.id).await? else {
            return Err(StoreError::NotFound { entity: "endpoint" });
        };
        // Only a new name is checked: a name shared in data from before names were unique stays.
        if stored.name != endpoint.name {
            self.check_name_free(stored.team_id, &endpoint.name, endpoint.id).await?;
        }
        let response = json("endpoint response", &endpoint.response)?;
        let verification = json("endpoint verification", &endpoint.verification)?;
        let event_fields = json("endpoint event fields", &endpoint.event_fields)?;
        let scenario = scenario_json(endpoint)?;
        let max_captures = max_captures(endpoint)?;
        let what = "update endpoint";
        // The new expiry's index row before the endpoint row, the old one's after (see `expiry`).
        let moved = stored.expires_at != endpoint.expires_at;
        if moved && let Some(at) = endpoint.expires_at {
            s.add_expiry(endpoint.id, at, what).await?;
        }
        let values = (
            &endpoint.name,
            response,
            verification,
            endpoint.handshakes,
            event_fields,
            scenario,
            max_captures,
            endpoint.expires_at.map(|at| at.micros()),
            endpoint.id.0,
        );
        if !s.lwt(&s.st.update_endpoint, values, what).await? {
            // Deleted meanwhile; the delete removed the index row it knew of, this one is ours.
            if moved && let Some(at) = endpoint.expires_at {
                s.remove_expiry(endpoint.id, at, what).await?;
            }
            return Err(StoreError::NotFound { entity: "endpoint" });
        }
        if moved && let Some(at) = stored.expires_at {
            s.remove_expiry(endpoint.id, at, what).await?;
        }
        Ok(())
    }

    /// Captures first, then the lookup rows, the endpoint row last: a delete that fails halfway
    /// can be retried, because the endpoint is still found.
    async fn delete_endpoint(&self, id: EndpointId) -> Result<()> {
        let s = &*self.inner;
        let what = "delete endpoint";
        let Some(endpoint) = self.endpoint(id).await? else {
            return Err(StoreError::NotFound { entity: "endpoint" });
        };
        s.delete_endpoint_captures(id.0).await?;
        s.exec(&s.st.delete_forwarding, (id.0,), what).await?;
        s.exec(&s.st.delete_event_shapes, (id.0,), what).await?;
        s.exec(&s.st.delete_listener_cursors, (id.0,), what).await?;
        s.exec(&s.st.delete_listeners, (id.0,), what).await?;
        s.exec(&s.st.delete_leases, (id.0,), what).await?;
        s.exec(&s.st.delete_counters, (id.0,), what).await?;
        s.lwt(&s.st.delete_endpoint_token, (endpoint.token.as_str(), id.0), what).await?;
        s.exec(&s.st.delete_endpoint_by_team, (endpoint.team_id.0, endpoint.created_at.micros(), id.0), what).await?;
        if !s.lwt(&s.st.delete_endpoint, (id.0,), what).await? {
            return Err(StoreError::NotFound { entity: "endpoint" });
        }
        // After the endpoint row (see `expiry`): a delete that stops before this leaves the row
        // for the sweeper to find again and finish the delete.
        if let Some(at) = endpoint.expires_at {
            s.remove_expiry(id, at, what).await?;
        }
        Ok(())
    }

    async fn endpoint(&self, id: EndpointId) -> Result<Option<Endpoint>> {
        let s = &*self.inner;
        s.one::<EndpointRow>(&s.st.select_endpoint, (id.0,), "read endpoint")
            .await?
            .map(EndpointRow::into_endpoint)
            .transpose()
    }

    async fn endpoint_by_token(&self, token: &str) -> Result<Option<Endpoint>> {
        let s = &*self.inner;
        let what = "read endpoint by token";
        let Some((id,)) = s.one::<(Uuid,)>(&s.st.select_endpoint_id_by_token, (token,), what).await? else {
            return Ok(None);
        };
        // As for token hashes: the endpoint must agree that the token is its own.
        Ok(self.endpoint(EndpointId(id)).await?.filter(|e| e.token == token))
    }

    async fn endpoints(&self, team: TeamId) -> Result<Vec<Endpoint>> {
        let s = &*self.inner;
        // Clustered by (created_at, endpoint_id): already oldest first.
        let ids: Vec<(Uuid,)> = s.all(&s.st.select_endpoint_ids_by_team, &(team.0,), "list endpoints").await?;
        let endpoints: Vec<Option<Endpoint>> =
            bounded(ids.into_iter().map(|(id,)| self.endpoint(EndpointId(id))).collect()).await?;
        Ok(endpoints.into_iter().flatten().filter(|e| e.team_id == team).collect())
    }

    async fn set_forwarding_rules(&self, endpoint: EndpointId, rules: &[ForwardingRule]) -> Result<()> {
        let s = &*self.inner;
        let what = "set forwarding rules";
        if self.endpoint(endpoint).await?.is_none() {
            return Err(StoreError::NotFound { entity: "endpoint" });
        }
        if rules.is_empty() {
            s.exec(&s.st.delete_forwarding, (endpoint.0,), what).await.map(drop)
        } else {
            s.exec(&s.st.upsert_forwarding, (endpoint.0, crate::rules_to_json(rules)?), what).await.map(drop)
        }
    }

    async fn forwarding_rules(&self, endpoint: EndpointId) -> Result<Vec<ForwardingRule>> {
        let s = &*self.inner;
        let row: Option<(Option<String>,)> =
            s.one(&s.st.select_forwarding, (endpoint.0,), "read forwarding rules").await?;
        match row {
            Some((Some(json),)) => crate::rules_from_json(&json),
            _ => Ok(Vec::new()),
        }
    }

    /// A lightweight transaction per bump (see `counters`): ~6 round trips to a quorum of
    /// replicas, after a plain read of the endpoint. Every ingest node gets its own value.
    async fn bump_counter(&self, endpoint: EndpointId, key: &str) -> Result<u64> {
        if self.endpoint(endpoint).await?.is_none() {
            return Err(StoreError::NotFound { entity: "endpoint" });
        }
        self.inner.bump_counter(endpoint.0, key).await
    }

    async fn counters(&self, endpoint: EndpointId) -> Result<Vec<(String, u64)>> {
        self.inner.counters(endpoint.0).await
    }

    async fn reset_counters(&self, endpoint: EndpointId, prefix: &str) -> Result<()> {
        self.inner.reset_counters(endpoint.0, prefix).await
    }

    async fn expired_endpoints(&self, now: Timestamp, limit: usize) -> Result<Vec<Endpoint>> {
        self.due_endpoints(now, limit).await
    }
}

fn scenario_json(endpoint: &Endpoint) -> Result<Option<String>> {
    // No rules is null, as in rows from before schema version 10.
    if endpoint.scenario.is_empty() {
        return Ok(None);
    }
    serde_json::to_string(&endpoint.scenario)
        .map(Some)
        .map_err(|e| StoreError::Backend(format!("encode endpoint scenario: {e}")))
}

fn max_captures(endpoint: &Endpoint) -> Result<Option<i64>> {
    endpoint
        .max_captures
        .map(|n| {
            i64::try_from(n).map_err(|_| StoreError::Backend(format!("max_captures {n} is beyond the store's range")))
        })
        .transpose()
}
