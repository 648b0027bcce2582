//! A server task on a free loopback port, stopped when its owner is dropped: the shape of
//! every fake server here, so none of them outlives its test.

use std::future::Future;
use std::net::SocketAddr;

use tokio::net::TcpListener;

/// A task serving a listener on `127.0.0.1:0`; dropping it aborts the task.
pub struct Loopback {
    pub addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Loopback {
    /// Binds a free loopback port and runs `serve` on its listener in a task.
    pub async fn spawn<F, Fut>(serve: F) -> Loopback
    where
        F: FnOnce(TcpListener) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        Loopback { addr, task: tokio::spawn(serve(listener)) }
    }
}

impl Drop for Loopback {
    fn drop(&mut self) {
        self.task.abort();
    }
}
