//! The metrics and health endpoint, on axum (the one HTTP stack of this program):
//! - `GET /metrics`: the OpenMetrics text exposition, which Prometheus scrapes;
//! - `GET /healthz`: 200 while the process runs its loops (no coordinator needed);
//! - `GET /readyz`: 200 when ready for work, else 503 with a one-line reason.
//!
//! And `hls-ladder health`, the container HEALTHCHECK: a plain HTTP/1.0 GET of `/healthz`
//! that needs no other tool in the image.

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use clap::Args;

use super::Metrics;

/// Answers "is it alive?" and "is it ready?": `Ok` or the reason why not.
pub type Probe = Arc<dyn Fn() -> Result<(), String> + Send + Sync>;

#[derive(Clone)]
struct Endpoint {
    metrics: Arc<Metrics>,
    live: Probe,
    ready: Probe,
}

/// Binds `addr` now (so a port in use fails start-up with a clear error) and serves on the
/// current tokio runtime until it stops. Returns the bound address.
pub async fn serve(addr: SocketAddr, metrics: Arc<Metrics>, live: Probe, ready: Probe) -> anyhow::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| {
        format!("METRICS_ADDR={addr}: cannot listen there (in use, or not an address of this host)")
    })?;
    let bound = listener.local_addr()?;
    let app = Router::new()
        .route("/metrics", get(metrics_text))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(Endpoint { metrics, live, ready });
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!("metrics endpoint stopped: {e}");
        }
    });
    tracing::info!(addr = %bound, "metrics on http://{bound}/metrics");
    Ok(bound)
}

async fn metrics_text(State(e): State<Endpoint>) -> impl IntoResponse {
    let text = e.metrics.encode();
    ([(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], text)
}

async fn healthz(State(e): State<Endpoint>) -> impl IntoResponse {
    answer((e.live)())
}

async fn readyz(State(e): State<Endpoint>) -> impl IntoResponse {
    answer((e.ready)())
}

fn answer(state: Result<(), String>) -> (StatusCode, String) {
    match state {
        Ok(()) => (StatusCode::OK, "ok\n".to_string()),
        Err(why) => (StatusCode::SERVICE_UNAVAILABLE, format!("{why}\n")),
    }
}

#[derive(Debug, Args)]
pub struct HealthArgs {
    /// The metrics listener to ask (an unspecified host such as 0.0.0.0 means this host).
    #[arg(long, env = "METRICS_ADDR", default_value = "127.0.0.1:9090")]
    pub addr: String,
}

/// `hls-ladder health`: exit 0 when `/healthz` answers 200 within 5 s, 1 otherwise.
pub fn health(args: HealthArgs) -> anyhow::Result<ExitCode> {
    let addr = local_target(&args.addr)?;
    match get_status(addr, "/healthz") {
        Ok(200) => Ok(ExitCode::SUCCESS),
        Ok(status) => {
            eprintln!("unhealthy: http://{addr}/healthz answered {status}");
            Ok(ExitCode::FAILURE)
        }
        Err(e) => {
            eprintln!("unhealthy: http://{addr}/healthz: {e}");
            Ok(ExitCode::FAILURE)
        }
    }
}

/// `0.0.0.0:9090` (a listen address) becomes `127.0.0.1:9090` (somewhere to connect to).
fn local_target(addr: &str) -> anyhow::Result<SocketAddr> {
    let mut addr = addr
        .to_socket_addrs()
        .with_context(|| format!("METRICS_ADDR={addr:?} is not host:port"))?
        .next()
        .with_context(|| format!("METRICS_ADDR={addr:?} resolves to nothing"))?;
    if addr.ip().is_unspecified() {
        addr.set_ip(if addr.is_ipv4() { [127, 0, 0, 1].into() } else { std::net::Ipv6Addr::LOCALHOST.into() });
    }
    Ok(addr)
}

fn get_status(addr: SocketAddr, path: &str) -> std::io::Result<u16> {
    let timeout = Duration::from_secs(5);
    let mut stream = TcpStream::connect_timeout(&addr, timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n")?;
    let mut head = [0u8; 64];
    let n = stream.read(&mut head)?;
    let line = String::from_utf8_lossy(&head[..n]);
    line.split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("not an HTTP answer: {line:?}")))
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};

    use super::*;

    #[tokio::test]
    async fn the_endpoint_answers_metrics_health_and_readiness() {
        let ready = Arc::new(AtomicBool::new(false));
        let flag = ready.clone();
        let probe: Probe =
            Arc::new(move || if flag.load(Ordering::Relaxed) { Ok(()) } else { Err("not registered".into()) });
        let metrics = Arc::new(Metrics::new());
        metrics.jobs_started.inc();
        let addr = serve("127.0.0.1:0".parse().unwrap(), metrics, Arc::new(|| Ok(())), probe).await.unwrap();
        let status = |path: &'static str| tokio::task::spawn_blocking(move || get_status(addr, path).unwrap());
        assert_eq!(status("/healthz").await.unwrap(), 200);
        assert_eq!(status("/readyz").await.unwrap(), 503);
        ready.store(true, Ordering::Relaxed);
        assert_eq!(status("/readyz").await.unwrap(), 200);
        let body = reqwest::get(format!("http://{addr}/metrics")).await.unwrap().text().await.unwrap();
        assert!(body.contains("hls_ladder_jobs_started_total 1\n"), "{body}");
        let why = reqwest::get(format!("http://{addr}/nope")).await.unwrap().status();
        assert_eq!(why, 404);
    }

    #[test]
    fn the_health_command_targets_this_host_for_a_wildcard_listener() {
        assert_eq!(local_target("0.0.0.0:9090").unwrap(), "127.0.0.1:9090".parse().unwrap());
        assert_eq!(local_target("[::]:9090").unwrap(), "[::1]:9090".parse().unwrap());
        assert!(local_target("nonsense").is_err());
    }
}
