//! Supervision of the switch's long-running tasks (inbox consumer, relay, sweeper,
//! dead-letter collector, retention job). A task that ends before shutdown, panics, or keeps
//! failing for longer than `supervision.failing_max_ms` puts the access point DOWN:
//! `/health` answers 503 with the reason, and `Switch::run` stops the other tasks
//! and returns an error, so `serve` exits non-zero and its process manager restarts
//! it. A process that answers UP while nothing consumes its inbox is what this
//! prevents.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tokio::sync::watch;

pub struct Supervisor {
    failing_max: Duration,
    /// Since when each task has been failing without a success in between.
    failing: Mutex<HashMap<&'static str, Instant>>,
    down: watch::Sender<Option<String>>,
}

impl Supervisor {
    pub fn new(failing_max: Duration) -> Supervisor {
        Supervisor {
            failing_max,
            failing: Mutex::new(HashMap::new()),
            down: watch::channel(None).0,
        }
    }

    pub fn failing_max(&self) -> Duration {
        self.failing_max
    }

    /// `task` did its work: whatever failed before is over.
    pub fn ok(&self, task: &'static str) {
        let mut f = self.failing.lock().unwrap_or_else(|p| p.into_inner());
        if !f.is_empty() {
            f.remove(task);
        }
    }

    /// `task` failed once more; past the bound, the access point is DOWN.
    pub fn failing(&self, task: &'static str, why: &str) {
        let since = *self
            .failing
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(task)
            .or_insert_with(Instant::now);
        if since.elapsed() >= self.failing_max {
            self.down(format!(
                "{task} has been failing for {} s: {why}",
                since.elapsed().as_secs()
            ));
        }
    }

    /// The access point cannot go on; the first reason is kept.
    pub fn down(&self, reason: String) {
        self.down.send_if_modified(|r| {
            if r.is_some() {
                return false;
            }
            tracing::error!(%reason, "access point DOWN");
            *r = Some(reason);
            true
        });
    }

    pub fn reason(&self) -> Option<String> {
        self.down.borrow().clone()
    }

    /// Resolves once the access point is DOWN.
    pub async fn wait_down(&self) -> String {
        let mut rx = self.down.subscribe();
        loop {
            if let Some(r) = rx.borrow_and_update().clone() {
                return r;
            }
            if rx.changed().await.is_err() {
                // The sender lives as long as `self`: not reached while borrowed.
                std::future::pending::<()>().await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_task_failing_past_the_bound_puts_the_access_point_down_and_success_resets() {
        let s = Supervisor::new(Duration::from_millis(30));
        s.failing("relay", "store unavailable");
        assert_eq!(s.reason(), None, "within the bound");
        std::thread::sleep(Duration::from_millis(40));
        s.ok("relay");
        s.failing("relay", "store unavailable");
        assert_eq!(s.reason(), None, "a success in between starts over");
        std::thread::sleep(Duration::from_millis(40));
        s.failing("relay", "store unavailable");
        let r = s.reason().expect("down");
        assert!(r.starts_with("relay has been failing"), "{r}");
        s.down("another".into());
        assert_eq!(s.reason(), Some(r), "the first reason stays");
    }

    #[tokio::test]
    async fn waiting_for_down_wakes_when_it_happens() {
        let s = std::sync::Arc::new(Supervisor::new(Duration::from_secs(60)));
        let s2 = s.clone();
        let w = tokio::spawn(async move { s2.wait_down().await });
        tokio::task::yield_now().await;
        s.down("inbox consumer ended".into());
        assert_eq!(w.await.unwrap(), "inbox consumer ended");
    }
}
