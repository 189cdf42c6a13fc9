//! The bytes one response may hold: `api.max_response_bytes` (at least twice
//! `ingest.max_body_bytes`). Query complexity bounds how many fields a query resolves, but a body
//! field costs whatever the body weighs, up to `ingest.max_body_bytes` each; this bounds their sum.
//!
//! Every body a resolver loads or encodes is charged to the budget of the response it belongs to
//! (an HTTP request, or one response of a WebSocket operation), before the bytes are held where the
//! size is known in advance and at the largest possible size where it is not (a capture read by
//! id). Past the budget the field fails with `LIMIT_EXCEEDED` naming the key, and what was already
//! resolved is dropped with the response.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::ApiError;

tokio::task_local! {
    static BUDGET: Arc<Budget>;
}

pub(crate) struct Budget {
    limit: u64,
    used: AtomicU64,
}

impl Budget {
    pub fn new(limit: u64) -> Arc<Self> {
        Arc::new(Self { limit, used: AtomicU64::new(0) })
    }
}

/// Runs `f` (one response's resolution) charging bodies to `budget`.
pub(crate) async fn scope<F: Future>(budget: Arc<Budget>, f: F) -> F::Output {
    BUDGET.scope(budget, f).await
}

/// Charges `bytes` to the current response; outside a response (a unit test, a background task)
/// nothing is counted.
pub(crate) fn charge(bytes: u64) -> Result<(), ApiError> {
    let Ok(budget) = BUDGET.try_with(Arc::clone) else { return Ok(()) };
    let before = budget.used.fetch_add(bytes, Ordering::AcqRel);
    if before.saturating_add(bytes) > budget.limit {
        budget.used.fetch_sub(bytes, Ordering::AcqRel);
        return Err(ApiError::LimitExceeded(format!(
            "this response would hold more than {} bytes of bodies (api.max_response_bytes); ask for fewer captures or body fields at once",
            budget.limit
        )));
    }
    Ok(())
}

/// Gives back what [`charge`] took beyond what was really held (a capture read by id is charged
/// at the largest size first).
pub(crate) fn refund(bytes: u64) {
    if let Ok(budget) = BUDGET.try_with(Arc::clone) {
        budget.used.fetch_sub(bytes.min(budget.used.load(Ordering::Acquire)), Ordering::AcqRel);
    }
}

/// Bytes of the base64 text of `n` bytes.
pub(crate) fn base64_len(n: u64) -> u64 {
    n.div_ceil(3) * 4
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn charges_add_up_to_the_limit_and_refunds_give_back() {
        let b = Budget::new(100);
        scope(b.clone(), async {
            charge(60).unwrap();
            let e = charge(41).unwrap_err();
            assert!(e.to_string().contains("api.max_response_bytes"), "{e}");
            charge(40).unwrap();
            refund(70);
            charge(70).unwrap();
            assert!(charge(1).is_err());
        })
        .await;
        assert!(charge(u64::MAX).is_ok(), "outside a response nothing is counted");
        assert_eq!(base64_len(0), 0);
        assert_eq!(base64_len(4), 8);
    }
}
