//! A service's background tasks (health watchers, retention, metrics sampling, catalog following), kept
//! and awaited rather than spawned and forgotten.
//!
//! A task spawned and forgotten that panics stops silently: retention no longer deletes, ingest no
//! longer learns new event types, and the process goes on looking healthy. Here a panic is logged at
//! ERROR with the task's name, stops the service (its shutdown token is cancelled, so in-flight calls
//! finish), and the service returns an error, so the process exits non-zero and is restarted.

use std::collections::HashMap;
use std::future::Future;

use tokio::task::{Id, JoinSet};
use tokio_util::sync::CancellationToken;

use crate::config::StartError;

pub struct Background {
    tasks: JoinSet<()>,
    names: HashMap<Id, &'static str>,
    shutdown: CancellationToken,
}

impl Background {
    /// Tasks whose panic cancels `shutdown`.
    pub fn new(shutdown: &CancellationToken) -> Self {
        Self {
            tasks: JoinSet::new(),
            names: HashMap::new(),
            shutdown: shutdown.clone(),
        }
    }

    pub fn spawn<F>(&mut self, name: &'static str, task: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let id = self.tasks.spawn(task).id();
        self.names.insert(id, name);
    }

    /// Watches the tasks from now on: call it once all are spawned, and await the handle after the
    /// service has stopped. Its result is the first panic, if any.
    pub fn watch(self) -> tokio::task::JoinHandle<Result<(), StartError>> {
        tokio::spawn(self.join())
    }

    async fn join(mut self) -> Result<(), StartError> {
        let mut first = Ok(());
        let token = self.shutdown.clone();
        let overdue = async move {
            token.cancelled().await;
            tokio::time::sleep(STOP_GRACE).await;
        };
        tokio::pin!(overdue);
        let mut aborted = false;
        loop {
            tokio::select! {
                ended = self.tasks.join_next_with_id() => {
                    let Some(ended) = ended else { break };
                    let Err(error) = ended else { continue };
                    let name = self.names.get(&error.id()).copied().unwrap_or("unnamed");
                    if error.is_panic() {
                        tracing::error!(task = name, %error, "background task panicked; stopping the service");
                        self.shutdown.cancel();
                        if first.is_ok() {
                            first = Err(StartError::Setup(format!(
                                "background task `{name}` panicked"
                            )));
                        }
                    }
                }
                () = &mut overdue, if !aborted => {
                    // A task stuck on an unresponsive broker or database must not hold the process.
                    tracing::warn!(tasks = self.tasks.len(), "background tasks still running after the grace; abandoned");
                    self.tasks.abort_all();
                    aborted = true;
                }
            }
        }
        first
    }
}

/// How long background tasks may take to stop once the service is stopping.
const STOP_GRACE: std::time::Duration = std::time::Duration::from_secs(5);

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panic_stops_the_service_and_is_reported_by_name() {
        let shutdown = CancellationToken::new();
        let mut background = Background::new(&shutdown);
        let stop = shutdown.clone();
        background.spawn("patient", async move { stop.cancelled().await });
        background.spawn("broken", async { panic!("a bug") });
        let watched = background.watch();
        // The panic cancels the token, which ends the patient task too; then the watch reports.
        let result = watched.await.expect("the watch itself never panics");
        assert!(shutdown.is_cancelled());
        let message = result.expect_err("a panic is an error").to_string();
        assert!(message.contains("`broken`"), "{message}");
    }

    #[tokio::test]
    async fn tasks_that_end_normally_are_not_errors() {
        let shutdown = CancellationToken::new();
        let mut background = Background::new(&shutdown);
        background.spawn("quick", async {});
        let stop = shutdown.clone();
        background.spawn("until stopped", async move { stop.cancelled().await });
        let watched = background.watch();
        shutdown.cancel();
        assert!(watched.await.expect("joined").is_ok());
    }

    #[tokio::test]
    async fn a_task_that_ignores_the_stop_is_abandoned_after_the_grace() {
        let shutdown = CancellationToken::new();
        let mut background = Background::new(&shutdown);
        background.spawn("stuck", std::future::pending());
        let watched = background.watch();
        shutdown.cancel();
        assert!(watched.await.expect("joined").is_ok());
    }
}
