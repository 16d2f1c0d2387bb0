//! The dispatcher (queued entries to workers, oldest first, one per pull request at a
//! time) and the purge of expired storage entries.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use crate::queue::serial_of_key;
use crate::server::Shared;
use crate::worker::process;

/// How often expired storage entries are purged.
const PURGE_INTERVAL: Duration = Duration::from_secs(600);

/// Hand queued entries to workers, oldest first, one per pull request at a time.
pub(crate) async fn dispatch(shared: Arc<Shared>) {
    let workers = Arc::new(tokio::sync::Semaphore::new(shared.settings.workers.max(1)));
    let poll = Duration::from_millis(shared.settings.poll_interval_ms.max(10));
    while !shared.stopping() {
        let lister = shared.clone();
        let keys = match tokio::task::spawn_blocking(move || lister.queue.pending()).await {
            Ok(Ok(keys)) => keys,
            Ok(Err(error)) => {
                tracing::warn!(%error, "cannot list the queue");
                tokio::time::sleep(poll).await;
                continue;
            }
            Err(_) => break,
        };
        shared.metrics.set_queue_depth(keys.len());
        let mut waiting_serials: HashSet<String> = HashSet::new();
        for key in keys {
            if shared.stopping() {
                break;
            }
            let serial = serial_of_key(&key).to_owned();
            let running = shared.in_flight.lock().is_ok_and(|s| s.contains(&key));
            // A later job of a pull request waits for its earlier ones.
            if running || !waiting_serials.insert(serial) {
                continue;
            }
            let Ok(permit) = workers.clone().acquire_owned().await else {
                break;
            };
            if let Ok(mut running) = shared.in_flight.lock() {
                running.insert(key.clone());
            }
            let worker = shared.clone();
            tokio::task::spawn_blocking(move || {
                let worked = process(&worker, &key);
                if let Ok(mut running) = worker.in_flight.lock() {
                    running.remove(&key);
                }
                drop(permit);
                if worked {
                    worker.wake.notify_one();
                }
            });
        }
        tokio::select! {
            () = shared.wake.notified() => {}
            () = tokio::time::sleep(poll) => {}
        }
    }
}

pub(crate) async fn purge(shared: Arc<Shared>) {
    loop {
        tokio::time::sleep(PURGE_INTERVAL).await;
        let storage = shared.storage.clone();
        match tokio::task::spawn_blocking(move || storage.purge_expired()).await {
            Ok(Ok(purged)) => tracing::debug!(purged, "purged expired storage entries"),
            Ok(Err(error)) => tracing::warn!(%error, "purging expired storage entries failed"),
            Err(_) => return,
        }
    }
}
