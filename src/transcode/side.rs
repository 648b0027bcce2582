//! What a transcode may serve beside its stream: its own metrics (`--metrics-addr`) and the
//! output with its player page (`--serve`). Both run on the transcode's runtime.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context as _;
use tokio_util::sync::CancellationToken;

use super::{Job, LocalMetrics};
use crate::metrics::http::Probe;
use crate::metrics::{Metrics, StreamLabels};

/// `--metrics-addr`: the stream's series on /metrics, fed by its own events.
pub async fn serve_metrics(addr: SocketAddr, job: &Job) -> anyhow::Result<Arc<LocalMetrics>> {
    let stream = StreamLabels { channel: job.publish.channel.clone(), stream_id: job.publish.stream_id.clone() };
    let local = LocalMetrics::new(Arc::new(Metrics::new()), stream);
    let always: Probe = Arc::new(|| Ok(()));
    crate::metrics::http::serve(addr, local.metrics.clone(), always.clone(), always).await?;
    Ok(local)
}

/// `--serve`: OUT_DIR over HTTP until the returned token is cancelled.
pub async fn serve_output(addr: SocketAddr, dir: &Path, job: &Job) -> anyhow::Result<CancellationToken> {
    let (addr, stop) = crate::serve::spawn(addr, dir).await.context("--serve")?;
    let (channel, stream_id) = (&job.publish.channel, &job.publish.stream_id);
    tracing::info!(
        dir = %dir.display(),
        realtime = job.pipeline.realtime,
        "serving on http://{addr}/ ; this stream: http://{addr}/watch/{channel}/{stream_id}"
    );
    Ok(stop)
}
