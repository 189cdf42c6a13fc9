//! The store seam, split by kind of data so each consumer can hold only what it uses (ingest's
//! endpoint cache sees endpoints, the replay worker deliveries). `Store` is their sum, for the
//! composition root and for consumers that need several kinds.

use async_trait::async_trait;

use crate::Result;

mod capture;
mod delivery;
mod endpoint;
mod listener;
mod shape;
mod team;

pub use capture::CaptureStore;
pub use delivery::DeliveryStore;
pub use endpoint::EndpointStore;
pub use listener::ListenerStore;
pub use shape::ShapeStore;
pub use team::TeamStore;

#[async_trait]
pub trait StoreHealth: Send + Sync + 'static {
    /// `Ok` when reads and writes can be expected to succeed.
    async fn health(&self) -> Result<()>;
}

/// Every kind of data in one handle. Implemented for anything that implements all the parts, so
/// a backend implements the parts and never this.
pub trait Store:
    TeamStore + EndpointStore + CaptureStore + DeliveryStore + ListenerStore + ShapeStore + StoreHealth
{
}

impl<T> Store for T where
    T: TeamStore + EndpointStore + CaptureStore + DeliveryStore + ListenerStore + ShapeStore + StoreHealth + ?Sized
{
}
