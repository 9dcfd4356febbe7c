//! A client-side rate limit: AWS throttles Lambda's control plane at about
//! 15 requests per second per account, and backing off after a throttle
//! costs more than pacing before it.

use std::time::Duration;

use tokio::sync::Mutex;
use tokio::time::Instant;

#[derive(Debug)]
pub struct RateLimit {
    interval: Duration,
    next: Mutex<Instant>,
}

impl RateLimit {
    /// At most `per_second` requests a second; 0 means unlimited.
    pub fn per_second(per_second: u32) -> Self {
        let interval = if per_second == 0 {
            Duration::ZERO
        } else {
            Duration::from_secs(1) / per_second
        };
        RateLimit {
            interval,
            next: Mutex::new(Instant::now()),
        }
    }

    /// Waits for the next free slot.
    pub async fn acquire(&self) {
        if self.interval.is_zero() {
            return;
        }
        let slot = {
            let mut next = self.next.lock().await;
            let slot = (*next).max(Instant::now());
            *next = slot + self.interval;
            slot
        };
        tokio::time::sleep_until(slot).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn paces_requests_to_the_limit() {
        let limit = RateLimit::per_second(10);
        let start = Instant::now();
        for _ in 0..11 {
            limit.acquire().await;
        }
        // 11 requests at 10/s: the last one leaves a second after the first.
        assert_eq!(start.elapsed(), Duration::from_secs(1));
    }
}
