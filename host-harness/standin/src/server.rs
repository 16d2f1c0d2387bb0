//! What every imitation shares: serving a router on loopback from a thread and tokio
//! runtime of its own (so it works from synchronous tests), reading bounded bodies, and
//! stopping gracefully.

use std::future::IntoFuture as _;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::sync::{Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::{Context as _, bail};
use axum::Router;
use axum::body::Body;

/// How long in-flight requests may finish after a stop before the server is torn down.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// How much of a body over the limit is read (and dropped) before giving up on it.
const DRAIN_LIMIT: usize = 64 * 1024 * 1024;

/// A router served in the background.
pub(crate) struct Background {
    addr: SocketAddr,
    running: Mutex<Option<(tokio::sync::watch::Sender<bool>, JoinHandle<()>)>>,
}

impl Background {
    /// Bind `bind` (a free loopback port when `None`), then serve what `router` makes
    /// of the bound address on `worker_threads` threads.
    pub(crate) fn start(
        name: &str,
        bind: Option<SocketAddr>,
        worker_threads: usize,
        router: impl FnOnce(SocketAddr) -> Router,
    ) -> anyhow::Result<Self> {
        let bind = bind.unwrap_or(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)));
        let listener =
            TcpListener::bind(bind).with_context(|| format!("binding the {name} to {bind}"))?;
        listener
            .set_nonblocking(true)
            .with_context(|| format!("making the {name}'s listener non-blocking"))?;
        let addr = listener
            .local_addr()
            .with_context(|| format!("the {name}'s address"))?;
        let router = router(addr);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(worker_threads.max(1))
            .thread_name(format!("{name}-worker"))
            .enable_all()
            .build()
            .with_context(|| format!("starting the {name}'s runtime"))?;
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<std::io::Result<()>>();
        let thread = std::thread::Builder::new()
            .name(format!("{name}-{}", addr.port()))
            .spawn(move || {
                runtime.block_on(serve(listener, router, stopped, ready_tx));
                runtime.shutdown_timeout(Duration::from_millis(500));
            })
            .with_context(|| format!("starting the {name}'s thread"))?;
        match ready_rx.recv() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                let _ = thread.join();
                return Err(e).with_context(|| format!("handing the listener to the {name}"));
            }
            Err(_) => {
                let _ = thread.join();
                bail!("the {name}'s thread ended before it was ready");
            }
        }
        Ok(Self {
            addr,
            running: Mutex::new(Some((stop, thread))),
        })
    }

    /// Where it listens.
    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stop serving and wait for the thread; again does nothing.
    pub(crate) fn stop(&self) {
        let running = self
            .running
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some((stop, thread)) = running {
            let _ = stop.send(true);
            if thread.join().is_err() {
                tracing::warn!("a stand-in's server thread panicked");
            }
        }
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Serve until `stopped` turns true (or its sender is dropped), then give in-flight
/// requests [`SHUTDOWN_GRACE`].
async fn serve(
    listener: TcpListener,
    router: Router,
    stopped: tokio::sync::watch::Receiver<bool>,
    ready: std::sync::mpsc::Sender<std::io::Result<()>>,
) {
    let listener = match tokio::net::TcpListener::from_std(listener) {
        Ok(listener) => listener,
        Err(e) => {
            let _ = ready.send(Err(e));
            return;
        }
    };
    let _ = ready.send(Ok(()));
    let wait = |mut receiver: tokio::sync::watch::Receiver<bool>| async move {
        // An error means the sender is gone: the stand-in was dropped.
        let _ = receiver.wait_for(|stop| *stop).await;
    };
    let graceful = axum::serve(listener, router)
        .with_graceful_shutdown(wait(stopped.clone()))
        .into_future();
    let deadline = async {
        wait(stopped).await;
        tokio::time::sleep(SHUTDOWN_GRACE).await;
    };
    tokio::select! {
        result = graceful => {
            if let Err(e) = result {
                tracing::warn!(error = %e, "a stand-in's server failed");
            }
        }
        () = deadline => tracing::debug!("a stand-in stopped with requests still in flight"),
    }
}

/// The body if it fits `limit`; `None` when it does not, or could not be read. A body
/// over the limit is still read to its end (up to [`DRAIN_LIMIT`]) and thrown away, so
/// the client, still sending, gets the 413 instead of a broken pipe.
pub(crate) async fn read_body(mut body: Body, limit: usize) -> Option<Vec<u8>> {
    use axum::body::HttpBody as _;
    let mut kept = Vec::new();
    let mut seen = 0usize;
    while let Some(frame) =
        std::future::poll_fn(|cx| std::pin::Pin::new(&mut body).poll_frame(cx)).await
    {
        let Ok(data) = frame.ok()?.into_data() else {
            continue; // trailers
        };
        seen = seen.saturating_add(data.len());
        if seen > DRAIN_LIMIT.max(limit) {
            return None;
        }
        if seen <= limit {
            kept.extend_from_slice(&data);
        }
    }
    (seen <= limit).then_some(kept)
}
