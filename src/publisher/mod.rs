//! Publication of one stream: uploads what the pipeline produced, publishes segment groups
//! in order once every rendition's segment is durable, writes playlists (latest wins per
//! file) and emits "index available" only after the index is durable (DESIGN invariant 1).
//!
//! # Layout
//! - `core`: the sans-IO [`PublisherCore`]: pipeline outputs and storage completions in,
//!   puts, deletes and events out. Every rule lives there.
//! - this file: the async shell that feeds it and executes its actions: at most
//!   [`MAX_UPLOADS`] storage requests at a time, each with a child of the transcode's abort
//!   token.

mod core;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;

pub use self::core::{Action, Input, Op, PublishSettings, PublishSummary, PublisherCore, Retry};
use crate::cdn::push::{self, Pusher, Segment, ServerHealth};
use crate::cdn::CdnConfig;
use crate::child_protocol::Event;
use crate::pipeline::sink::{ByteBudget, MediaOutput};
use crate::storage::{append_with_retry, put_with_retry, RetryPolicy, Storage, StoragePath};

/// Uploads in flight per stream (output-layout §13).
const MAX_UPLOADS: usize = 4;

/// The retry deadline of a [`Retry::WhileRunning`] put: longer than any stream, so in
/// practice the transcode's abort (its drain deadline after the pipeline ends) ends it.
const WHILE_RUNNING: Duration = Duration::from_secs(10 * 365 * 24 * 3600);

pub struct Publisher {
    core: PublisherCore,
    storage: Arc<dyn Storage>,
    budget: Arc<ByteBudget>,
    /// Where the stream's events go (the transcode's event output).
    emit: Box<dyn Fn(&Event) + Send>,
    retry: RetryPolicy,
    /// Storage requests in flight: a put reports its op and whether it is durable; a delete
    /// reports nothing.
    tasks: JoinSet<Option<(Op, bool)>>,
    limiter: Arc<Semaphore>,
    /// Cancels every request in flight: the transcode's phase-two stop.
    abort: CancellationToken,
    started: Instant,
    /// Per group not yet decided: when its latest segment left the encoders (the publish
    /// latency of the `segment` event counts from there).
    segment_ready: HashMap<u64, Instant>,
    cdn: Option<CdnPush>,
}

/// The CDN side of publication: one push per rendition, fed with each published segment,
/// and the HLS-LIVE announcements held until the rendition's push is ready (§12, §14).
struct CdnPush {
    config: Arc<CdnConfig>,
    servers: ServerHealth,
    pushers: Vec<Pusher>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    /// Each push says once per connection that it is ready. Unbounded, and it cannot grow:
    /// a push reconnects at most every few hundred milliseconds (its backoff), and the loop
    /// takes every message as it comes.
    ready_tx: tokio::sync::mpsc::UnboundedSender<usize>,
    ready_rx: tokio::sync::mpsc::UnboundedReceiver<usize>,
    /// Segments of groups not yet decided, by (n, rung): what the push sends once published.
    segments: HashMap<(u64, usize), Segment>,
    /// When the core's held HLS-LIVE announcements stop waiting: (deadline, rung).
    waits: Vec<(tokio::time::Instant, usize)>,
}

impl Publisher {
    pub fn new(
        settings: PublishSettings,
        storage: Arc<dyn Storage>,
        budget: Arc<ByteBudget>,
        emit: impl Fn(&Event) + Send + 'static,
        abort: CancellationToken,
    ) -> Self {
        let retry = settings.retry;
        let cdn = settings.cdn.clone();
        Publisher {
            core: PublisherCore::new(settings, now_ms()),
            storage,
            budget,
            emit: Box::new(emit),
            retry,
            tasks: JoinSet::new(),
            limiter: Arc::new(Semaphore::new(MAX_UPLOADS)),
            abort,
            started: Instant::now(),
            segment_ready: HashMap::new(),
            cdn: cdn.map(|config| {
                let (ready_tx, ready_rx) = tokio::sync::mpsc::unbounded_channel();
                let servers = Arc::new(std::sync::Mutex::new(vec![None; config.urls.len()]));
                CdnPush {
                    config,
                    servers,
                    pushers: Vec::new(),
                    tasks: Vec::new(),
                    ready_tx,
                    ready_rx,
                    segments: HashMap::new(),
                    waits: Vec::new(),
                }
            }),
        }
    }

    /// Consumes pipeline outputs until the pipeline is done, then finishes the stream:
    /// last groups, ENDLIST, final masters and preview index. Returns when every request has
    /// ended (durable, given up, or cancelled by the abort token).
    pub async fn run(mut self, mut rx: UnboundedReceiver<MediaOutput>) -> PublishSummary {
        let mut pipeline_open = true;
        while pipeline_open || !self.tasks.is_empty() {
            let hold_until = self.cdn.as_ref().and_then(|c| c.waits.iter().map(|(at, _)| *at).min());
            tokio::select! {
                Some(rung) = async { self.cdn.as_mut()?.ready_rx.recv().await }, if self.cdn.is_some() => {
                    self.handle(Input::PushReady { rung });
                }
                () = async { tokio::time::sleep_until(hold_until.expect("checked")).await }, if hold_until.is_some() => {
                    self.wait_over();
                }
                msg = rx.recv(), if pipeline_open => match msg {
                    Some(out) => self.on_output(out),
                    None => {
                        pipeline_open = false;
                        self.handle(Input::PipelineDone);
                    }
                },
                Some(done) = self.tasks.join_next(), if !self.tasks.is_empty() => {
                    if let Some((op, ok)) = done.expect("storage tasks never panic") {
                        if let Op::Segment { len, .. } = op {
                            self.budget.release(len);
                        }
                        self.handle(Input::Stored { op, ok });
                    }
                }
            }
        }
        if !self.core.is_finished() {
            tracing::error!("the stream ended before its final playlists could be written");
        }
        self.end_cdn().await;
        self.core.summary()
    }

    fn on_output(&mut self, out: MediaOutput) {
        let input = match out {
            MediaOutput::Ladder { renditions, audio, source } => {
                self.start_cdn(&renditions);
                // The source is open and decoding starts now: PROGRAM-DATE-TIME counts from here.
                Input::Ladder { renditions, audio, source, now_ms: now_ms() }
            }
            MediaOutput::Segment { rung, n, data, duration, start, codecs, discontinuity, cmaf } => {
                self.segment_ready.insert(n, Instant::now());
                let data = Bytes::from(data);
                if let Some(cdn) = self.cdn.as_mut() {
                    cdn.segments.insert((n, rung), Segment { duration, data: data.clone() });
                }
                Input::Segment { rung, n, data, duration, start, codecs, discontinuity, cmaf }
            }
            MediaOutput::Part { kind, n, start, discontinuity, chunk } => {
                Input::Part { kind, n, start, discontinuity, chunk }
            }
            MediaOutput::SegmentDropped { n, .. } => Input::SegmentDropped { n },
            MediaOutput::RenditionShed { rung, n } => Input::RenditionShed { rung, n },
            MediaOutput::Captions(services) => Input::Captions(services),
            MediaOutput::Preview { n, jpeg } => Input::Preview { n, jpeg: Bytes::from(jpeg) },
            MediaOutput::Progress { media_seconds, frames } => {
                let wall = self.started.elapsed().as_secs_f64().max(1e-3);
                (self.emit)(&Event::Progress { media_seconds, frames, speed: media_seconds / wall });
                return;
            }
        };
        self.handle(input);
    }

    fn handle(&mut self, input: Input) {
        for action in self.core.handle(input) {
            match action {
                Action::Emit(Event::Segment { group, timeline_end, .. }) => {
                    let publish_seconds = self.segment_ready.remove(&group.n).map(|t| t.elapsed().as_secs_f64());
                    if let Some(cdn) = self.cdn.as_mut() {
                        cdn.published(group.n);
                    }
                    (self.emit)(&Event::Segment { group, publish_seconds, timeline_end })
                }
                Action::Emit(event) => {
                    if let Event::SegmentSkipped { n, .. } = &event {
                        self.segment_ready.remove(n);
                        if let Some(cdn) = self.cdn.as_mut() {
                            cdn.segments.retain(|(m, _), _| m != n);
                        }
                    }
                    (self.emit)(&event)
                }
                Action::HoldForPush { rung } => {
                    if let Some(cdn) = self.cdn.as_mut() {
                        cdn.waits.push((tokio::time::Instant::now() + cdn.config.ready_timeout, rung));
                    }
                }
                Action::Put { op, path, body, retry } => self.spawn_put(op, path, (body, None), retry),
                Action::Append { op, path, body, from, retry } => self.spawn_put(op, path, (body, Some(from)), retry),
                Action::Delete { path } => self.spawn_delete(path),
            }
        }
    }

    fn start_cdn(&mut self, renditions: &[crate::ladder::Rendition]) {
        let Some(cdn) = self.cdn.as_mut() else { return };
        if !cdn.pushers.is_empty() {
            return;
        }
        let (channel, stream_id) = self.core.stream();
        for (rung, r) in renditions.iter().enumerate() {
            let id = crate::hls::live_path(&channel, &stream_id, &r.label);
            let (pusher, task) = push::start(
                cdn.config.clone(),
                cdn.servers.clone(),
                id,
                rung,
                cdn.ready_tx.clone(),
                self.abort.clone(),
            );
            cdn.pushers.push(pusher);
            cdn.tasks.push(task);
        }
    }

    /// The ready timeouts that passed: each lets the core announce without the push.
    fn wait_over(&mut self) {
        let Some(cdn) = self.cdn.as_mut() else { return };
        let now = tokio::time::Instant::now();
        let (over, waiting): (Vec<_>, Vec<_>) = cdn.waits.drain(..).partition(|(at, _)| *at <= now);
        cdn.waits = waiting;
        for (_, rung) in over {
            self.handle(Input::PushWaitOver { rung });
        }
    }

    /// The stream ended: announcements still held go out now (their playlist is durable),
    /// and every push sends `CLOSE` (or is cancelled by the abort token).
    async fn end_cdn(&mut self) {
        if self.cdn.is_none() {
            return;
        }
        self.handle(Input::PushClosed);
        let Some(mut cdn) = self.cdn.take() else { return };
        cdn.pushers.clear();
        for task in cdn.tasks {
            let _ = task.await;
        }
    }

    /// Stores `body`: a put, or an append after the `from` bytes stored already.
    fn spawn_put(&mut self, op: Op, path: String, (body, from): (Bytes, Option<usize>), retry: Retry) {
        let storage = self.storage.clone();
        let limiter = self.limiter.clone();
        let cancel = self.abort.child_token();
        let policy = match retry {
            Retry::UntilDeadline => self.retry,
            Retry::WhileRunning => RetryPolicy { deadline: WHILE_RUNNING, ..self.retry },
        };
        self.tasks.spawn(
            async move {
                let ok = match StoragePath::new(path.clone()) {
                    Ok(p) => {
                        let _permit = limiter.acquire_owned().await.expect("semaphore never closed");
                        let stored = match from {
                            None => put_with_retry(storage.as_ref(), &p, body, &policy, Some(&cancel)).await,
                            Some(from) => {
                                append_with_retry(storage.as_ref(), &p, (body, from), &policy, Some(&cancel)).await
                            }
                        };
                        match stored {
                            Ok(()) => true,
                            Err(e) => {
                                tracing::error!(%path, "storage write failed: {e}");
                                false
                            }
                        }
                    }
                    Err(e) => {
                        tracing::error!(%path, "refusing to write: {e}");
                        false
                    }
                };
                Some((op, ok))
            }
            .in_current_span(),
        );
    }

    /// Deletes are best effort (output-layout §10): failures are logged, never retried.
    fn spawn_delete(&mut self, path: String) {
        let storage = self.storage.clone();
        let cancel = self.abort.clone();
        self.tasks.spawn(
            async move {
                let Ok(p) = StoragePath::new(path.clone()) else { return None };
                tokio::select! {
                    result = storage.delete(&p) => if let Err(e) = result {
                        tracing::warn!(%path, "delete failed: {e}");
                    },
                    () = cancel.cancelled() => {}
                }
                None
            }
            .in_current_span(),
        );
    }
}

impl CdnPush {
    /// Group `n` is published: each rendition's segment goes to its push, in order.
    fn published(&mut self, n: u64) {
        for (rung, pusher) in self.pushers.iter().enumerate() {
            if let Some(segment) = self.segments.remove(&(n, rung)) {
                pusher.push(segment);
            }
        }
    }
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}
