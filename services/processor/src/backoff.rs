//! Doubling pause between retries: 50 ms up to 5 s, cut short by shutdown.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

#[derive(Default)]
pub(crate) struct Backoff {
    attempt: u32,
}

impl Backoff {
    pub(crate) async fn wait(&mut self, shutdown: &CancellationToken) {
        let ms = (50u64 << self.attempt.min(6)).min(5_000);
        self.attempt += 1;
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(ms)) => {}
            _ = shutdown.cancelled() => {}
        }
    }

    pub(crate) fn reset(&mut self) {
        self.attempt = 0;
    }
}
