//! Per-organisation admission: how many of one organisation's events may be at the broker, awaiting
//! their confirms, at once.
//!
//! The broker takes an ingest's publishes in the order they arrive. Without a bound, an organisation
//! publishing a burst as fast as it can puts thousands of messages ahead of every other organisation's next
//! event: with 4,000 of one organisation's events in flight, another's single `PublishEvent` took 254 ms at
//! the median instead of 1.5 ms. Capping each organisation's in-flight events bounds what anyone else's
//! event queues behind to that cap per busy organisation. The excess waits here, in arrival order, and costs
//! the bursting producer latency, never an error or a lost event.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Below this many organisations the table is never swept: idle entries cost a few bytes each.
const SWEEP_FLOOR: usize = 1024;

pub struct Admission {
    limit: usize,
    table: Mutex<Table>,
}

struct Table {
    organisations: HashMap<String, Arc<Semaphore>>,
    /// The table's size after its last sweep; the next sweep waits until it has doubled.
    swept_at: usize,
}

impl Admission {
    /// `limit` events of each organisation in flight at once (at least one).
    pub fn new(limit: usize) -> Self {
        Self {
            limit: limit.max(1),
            table: Mutex::new(Table {
                organisations: HashMap::new(),
                swept_at: 0,
            }),
        }
    }

    /// Waits for a place among `organisation`'s events in flight; the place is freed when the permit drops.
    pub async fn admit(&self, organisation: &str) -> OwnedSemaphorePermit {
        let semaphore = self.semaphore(organisation);
        semaphore
            .acquire_owned()
            .await
            .expect("admission semaphores are never closed")
    }

    fn semaphore(&self, organisation: &str) -> Arc<Semaphore> {
        let mut table = self.table.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(semaphore) = table.organisations.get(organisation) {
            return semaphore.clone();
        }
        if table.organisations.len() >= SWEEP_FLOOR.max(2 * table.swept_at) {
            // An entry only the table holds has no event waiting or in flight: a new one is equivalent.
            table
                .organisations
                .retain(|_, semaphore| Arc::strong_count(semaphore) > 1);
            table.swept_at = table.organisations.len();
        }
        let semaphore = Arc::new(Semaphore::new(self.limit));
        table
            .organisations
            .insert(organisation.to_owned(), semaphore.clone());
        semaphore
    }

    #[cfg(test)]
    fn tracked(&self) -> usize {
        self.table
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .organisations
            .len()
    }
}

#[cfg(test)]
mod tests {
    use futures_util::FutureExt as _;

    use super::*;

    #[tokio::test]
    async fn a_full_organisation_waits_while_another_passes() {
        let admission = Admission::new(2);
        let a1 = admission.admit("org_a").await;
        let _a2 = admission.admit("org_a").await;
        let mut a3 = Box::pin(admission.admit("org_a"));
        assert!((&mut a3).now_or_never().is_none(), "org_a is at its limit");
        assert!(
            admission.admit("org_b").now_or_never().is_some(),
            "org_b is not held back by org_a"
        );
        drop(a1);
        assert!(
            a3.now_or_never().is_some(),
            "a freed place goes to the waiting event"
        );
    }

    #[tokio::test]
    async fn idle_organisations_are_forgotten() {
        let admission = Admission::new(1);
        let held = admission.admit("busy").await;
        for i in 0..3 * SWEEP_FLOOR {
            drop(admission.admit(&format!("org_{i}")).await);
        }
        assert!(admission.tracked() <= 2 * SWEEP_FLOOR);
        // The busy organisation's entry survived every sweep: its limit still holds.
        assert!(admission.admit("busy").now_or_never().is_none());
        drop(held);
    }
}
