//! Pause between retries of a failed log or store call.

use std::time::Duration;

/// Doubling pause between retries of a failed log or store call: 50ms up to 5s.
#[derive(Default)]
pub(super) struct Backoff {
    attempt: u32,
}

impl Backoff {
    pub(super) async fn wait(&mut self) {
        let ms = (50u64 << self.attempt.min(7)).min(5_000);
        self.attempt += 1;
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }

    pub(super) fn reset(&mut self) {
        self.attempt = 0;
    }
}
