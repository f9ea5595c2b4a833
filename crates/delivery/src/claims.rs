//! Attempts in progress in this worker, so a second copy of a task is not sent while the first is.

use std::collections::HashSet;
use std::sync::Arc;

use uuid::Uuid;

/// The attempts (delivery, attempt number) this worker is making. A second copy of a task that arrives
/// meanwhile, such as the task a fan-out republishes for an event the broker redelivered, is acked
/// without a second request: the first copy is acked or returned to the queue when it ends.
#[derive(Debug, Default)]
pub struct InProgress(Arc<std::sync::Mutex<HashSet<(Uuid, u32)>>>);

impl InProgress {
    /// Claims the attempt, or `None` when it is already in progress here.
    pub fn claim(&self, delivery: Uuid, attempt: u32) -> Option<Claim> {
        let key = (delivery, attempt);
        let fresh = self.0.lock().expect("in-progress lock").insert(key);
        fresh.then(|| Claim {
            set: self.0.clone(),
            key,
        })
    }
}

/// An attempt in progress; released when dropped.
pub struct Claim {
    set: Arc<std::sync::Mutex<HashSet<(Uuid, u32)>>>,
    key: (Uuid, u32),
}

impl Drop for Claim {
    fn drop(&mut self) {
        self.set.lock().expect("in-progress lock").remove(&self.key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_attempt_is_claimed_once_until_it_ends() {
        let in_progress = InProgress::default();
        let delivery = Uuid::now_v7();
        let first = in_progress.claim(delivery, 1).expect("a fresh attempt");
        assert!(
            in_progress.claim(delivery, 1).is_none(),
            "a copy is refused"
        );
        assert!(
            in_progress.claim(delivery, 2).is_some(),
            "another attempt of the same delivery is its own"
        );
        drop(first);
        assert!(
            in_progress.claim(delivery, 1).is_some(),
            "free once it ended"
        );
    }
}
