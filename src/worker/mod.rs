//! `hls-ladder worker`: the production mode (coordinator-protocol.md). Connects to the
//! coordinator, takes ENCODE-START / ENCODE-STOP, runs each job as a `transcode --job` child
//! and reports STREAM-AVAILABLE / STREAM-CLOSED.
//!
//! Its settings are [`crate::config::WorkerArgs`], validated into [`WorkerConfig`]; this
//! module is the wiring of session and supervisor. Signals are the binary's: they arrive here
//! as shutdown requests.

use std::sync::Arc;

use anyhow::Context as _;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

pub use crate::config::WorkerConfig;
use crate::control;
use crate::control::session::LinkStatus;
use crate::metrics::http::Probe;
use crate::metrics::{LoopHealth, Metrics};
use crate::supervisor::{Capacity, Supervisor, SupervisorSettings};

mod calibrate;

/// Runs the worker until shutdown completes. Each message on `shutdown` is one shutdown
/// request (spec §9.4): the first drains, the second kills every job. Returns after the
/// last STREAM-CLOSED was delivered, or the 10 s flush bound passed.
pub async fn serve(mut config: WorkerConfig, shutdown: mpsc::Receiver<()>) -> anyhow::Result<()> {
    let (capacity_tx, capacity_rx) = watch::channel(-1);
    // Job messages are few (a handful per job); the session drains this even while offline.
    let (outbound_tx, outbound_rx) = mpsc::channel(1024);
    let (inbound_tx, inbound_rx) = mpsc::channel(64);
    let metrics = Arc::new(Metrics::new());
    let health = Arc::new(LoopHealth::default());
    // The control link sets its own gauges: they are the metrics' series.
    config.session.link =
        LinkStatus { connected: metrics.control_connected.clone(), reconnects: metrics.control_reconnects.clone() };
    if let Some(addr) = config.metrics_addr {
        let (live, ready, link) = (health.clone(), health.clone(), metrics.control_connected.clone());
        let live: Probe = Arc::new(move || live.live());
        let ready: Probe = Arc::new(move || ready.ready(link.get() == 1));
        crate::metrics::http::serve(addr, metrics.clone(), live, ready).await?;
    }
    let budget = match config.table.capacity {
        Capacity::Auto => {
            let (children, cores) = (config.children.clone(), config.capacity_cores);
            let measured = tokio::task::spawn_blocking(move || calibrate::measure(&children, cores)).await;
            Some(measured.context("self-benchmark")?.context("SERVER_CAPACITY=auto")?)
        }
        Capacity::Jobs(_) | Capacity::Unlimited => None,
    };
    let settings = SupervisorSettings {
        table: config.table,
        children: config.children,
        cleanup: config.cleanup,
        overload: config.overload,
        budget,
    };
    let mut supervisor = Supervisor::new(settings, outbound_tx, capacity_tx, metrics, health);
    let link_done = CancellationToken::new();
    tracing::info!(url = %config.session.url, "worker starting");
    let session = tokio::spawn(control::run(config.session, capacity_rx, outbound_rx, inbound_tx, link_done.clone()));
    supervisor.run(inbound_rx, shutdown).await;
    // Every STREAM-CLOSED is in the session's queue now; it flushes them, then closes.
    drop(supervisor);
    link_done.cancel();
    session.await.context("control session panicked")?.context("control session")?;
    tracing::info!("worker stopped");
    Ok(())
}
