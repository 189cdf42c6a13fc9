//! The GraphQL schema, one module per domain, merged into the three roots.
//!
//! Authorization happens in resolvers through [`common::Access`]: visibility first (an id of
//! another team is "not found", exactly like an id that does not exist), then the role.
//!
//! Resolvers parse input, call one operation (the store, or `hookmetry_replay` for deliveries
//! and announcements) and map its result. Helpers they share live in [`common`]; a schema module
//! imports a sibling only for its GraphQL types.

use async_graphql::{MergedObject, MergedSubscription};

mod captures;
mod common;
mod compare;
mod delivery;
mod endpoints;
mod events;
mod listen;
mod live;
mod replay;
mod rules;
mod scenario;
mod teams;
mod test_events;
mod verification;

pub use captures::CaptureObject;

#[derive(MergedObject, Default)]
#[graphql(name = "Query")]
pub struct QueryRoot(
    teams::TeamQuery,
    endpoints::EndpointQuery,
    captures::CaptureQuery,
    verification::VerificationQuery,
    delivery::DeliveryQuery,
    compare::CompareQuery,
    listen::ListenQuery,
    test_events::TestEventQuery,
);

#[derive(MergedObject, Default)]
#[graphql(name = "Mutation")]
pub struct MutationRoot(
    teams::TeamMutation,
    endpoints::EndpointMutation,
    captures::CaptureMutation,
    verification::VerificationMutation,
    replay::ReplayMutation,
    rules::RulesMutation,
    delivery::DeliveryMutation,
    listen::ListenMutation,
    test_events::TestEventMutation,
);

#[derive(MergedSubscription, Default)]
#[graphql(name = "Subscription")]
pub struct SubscriptionRoot(live::LiveSubscription, delivery::DeliverySubscription);
