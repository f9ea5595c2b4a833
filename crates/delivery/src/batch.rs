//! Batched writes that one bad message cannot hold hostage.
//!
//! Both stages write many messages with one statement. A statement fails whole, so a single value the
//! database refuses (U+0000 in `jsonb`, say) would fail its batch on every try, and the messages around
//! it would wait forever. Here a batch that fails because of its data is split in halves until the
//! culprit stands alone; a lone message is tried a few times and then given up, for the caller to set
//! aside. Failures of the database itself (it is away, a lock timed out) are retried, whole, without
//! limit: they pass, and nothing may be lost meanwhile.

use std::future::Future;
use std::ops::Range;
use std::time::Duration;

use backon::BackoffBuilder as _;
use hookline_runtime::amqp::reconnect_backoff;
use hookline_store::db::is_data_error;
use tokio_util::sync::CancellationToken;

/// Tries of a lone message that keeps failing because of its data, before it is given up. More than one,
/// so a misclassified passing fault is not taken for bad data at once.
pub const MAX_TRIES: u32 = 3;

/// The pause before each further try of lone suspects, times the try's number.
const SUSPECT_PAUSE: Duration = Duration::from_millis(100);

/// What became of a part of the batch, by index into it.
#[derive(Debug)]
pub enum Settled<O> {
    /// These messages were written together; `O` is what the write returned.
    Written(Range<usize>, O),
    /// This message's data cannot be written: the error of its last try.
    Refused(usize, sqlx::Error),
    /// Shutdown came while these still waited for the database.
    Unwritten(Range<usize>),
}

/// Writes `items` with `write`, splitting around bad data as described above. `what` names the writes
/// in the log ("events", "outcomes"). Good messages are written first; the suspects' further tries come
/// after, all together, so a batch with many bad messages costs one round of pauses, not one each.
pub async fn write_apart<'a, T, O, F, Fut>(
    items: &'a [T],
    what: &str,
    shutdown: &CancellationToken,
    mut write: F,
) -> Vec<Settled<O>>
where
    F: FnMut(&'a [T]) -> Fut,
    Fut: Future<Output = Result<O, sqlx::Error>>,
{
    let mut settled = Vec::new();
    // A stack of ranges still to write; the first half of a split is written first.
    let mut todo = Vec::new();
    todo.push(0..items.len());
    let mut suspects = Vec::new();
    while let Some(range) = todo.pop() {
        match persist(&mut write, &items[range.clone()], what, shutdown).await {
            Some(Ok(out)) => settled.push(Settled::Written(range, out)),
            Some(Err(_)) if range.len() > 1 => {
                let middle = range.start + range.len() / 2;
                todo.push(middle..range.end);
                todo.push(range.start..middle);
            }
            Some(Err(error)) => suspects.push((range.start, error)),
            None => {
                settled.push(Settled::Unwritten(range));
                settled.extend(todo.drain(..).map(Settled::Unwritten));
                settled.extend(
                    suspects
                        .into_iter()
                        .map(|(i, _)| Settled::Unwritten(i..i + 1)),
                );
                return settled;
            }
        }
    }
    for round in 1..MAX_TRIES {
        if suspects.is_empty() {
            break;
        }
        tokio::select! {
            () = tokio::time::sleep(SUSPECT_PAUSE * round) => {}
            () = shutdown.cancelled() => break,
        }
        let mut still = Vec::new();
        for (i, last) in suspects {
            match persist(&mut write, &items[i..i + 1], what, shutdown).await {
                Some(Ok(out)) => settled.push(Settled::Written(i..i + 1, out)),
                Some(Err(error)) => still.push((i, error)),
                None => still.push((i, last)),
            }
        }
        suspects = still;
    }
    if shutdown.is_cancelled() {
        settled.extend(
            suspects
                .into_iter()
                .map(|(i, _)| Settled::Unwritten(i..i + 1)),
        );
    } else {
        settled.extend(
            suspects
                .into_iter()
                .map(|(i, error)| Settled::Refused(i, error)),
        );
    }
    settled
}

/// Writes `chunk`, retrying passing faults with backoff until they pass: `Some(Err)` is a data error,
/// `None` means shutdown came first.
async fn persist<'a, T, O, F, Fut>(
    write: &mut F,
    chunk: &'a [T],
    what: &str,
    shutdown: &CancellationToken,
) -> Option<Result<O, sqlx::Error>>
where
    F: FnMut(&'a [T]) -> Fut,
    Fut: Future<Output = Result<O, sqlx::Error>>,
{
    let mut pauses = reconnect_backoff().build();
    loop {
        match write(chunk).await {
            Ok(out) => return Some(Ok(out)),
            Err(error) if is_data_error(&error) => return Some(Err(error)),
            Err(error) => tracing::warn!(%error, "cannot record {what}; retrying"),
        }
        let pause = pauses.next().unwrap_or(Duration::from_secs(5));
        tokio::select! {
            () = tokio::time::sleep(pause) => {}
            () = shutdown.cancelled() => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// A data error, as PostgreSQL reports U+0000 in `jsonb`.
    fn bad_data() -> sqlx::Error {
        sqlx::Error::Encode("unsupported Unicode escape sequence".into())
    }

    #[tokio::test(start_paused = true)]
    async fn a_bad_item_is_split_out_and_the_rest_written() {
        let items: Vec<u32> = (0..10).collect();
        let calls = Mutex::new(0);
        let settled = write_apart(&items, "items", &CancellationToken::new(), |chunk| {
            *calls.lock().unwrap() += 1;
            let result = if chunk.contains(&6) {
                Err(bad_data())
            } else {
                Ok(chunk.len())
            };
            async move { result }
        })
        .await;
        let written: usize = settled
            .iter()
            .map(|s| match s {
                Settled::Written(r, n) => {
                    assert_eq!(r.len(), *n);
                    *n
                }
                _ => 0,
            })
            .sum();
        assert_eq!(written, 9, "every good item is written");
        let refused: Vec<usize> = settled
            .iter()
            .filter_map(|s| match s {
                Settled::Refused(i, _) => Some(*i),
                _ => None,
            })
            .collect();
        assert_eq!(refused, vec![6]);
        assert!(
            *calls.lock().unwrap() <= 2 * 4 + MAX_TRIES as usize + 1,
            "a split costs a few statements, not one per item"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_passing_fault_is_retried_whole_until_it_passes() {
        let items = [1, 2, 3];
        let mut failures = 20;
        let settled = write_apart(&items, "items", &CancellationToken::new(), |chunk| {
            let result = if failures > 0 {
                failures -= 1;
                Err(sqlx::Error::PoolTimedOut)
            } else {
                Ok(chunk.len())
            };
            async move { result }
        })
        .await;
        assert!(matches!(settled[..], [Settled::Written(ref r, 3)] if *r == (0..3)));
    }

    #[tokio::test(start_paused = true)]
    async fn shutdown_leaves_the_rest_unwritten() {
        let items = [1, 2];
        let shutdown = CancellationToken::new();
        let settled = write_apart(&items, "items", &shutdown, |_| {
            shutdown.cancel();
            async { Err::<(), _>(sqlx::Error::PoolTimedOut) }
        })
        .await;
        assert!(matches!(settled[..], [Settled::Unwritten(ref r)] if *r == (0..2)));
    }
}
