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

pub use self::core::{Action, Input, Op, PublisherCore, Retry};
use crate::child_protocol::Event;
use crate::hls::state::StreamState;
use crate::pipeline::preview::PreviewSpec;
use crate::pipeline::sink::{ByteBudget, MediaOutput};
use crate::storage::{put_with_retry, RetryPolicy, Storage, StoragePath};

/// Uploads in flight per stream (output-layout §13).
const MAX_UPLOADS: usize = 4;

/// The retry deadline of a [`Retry::WhileRunning`] put: longer than any stream, so in
/// practice the transcode's abort (its drain deadline after the pipeline ends) ends it.
const WHILE_RUNNING: Duration = Duration::from_secs(10 * 365 * 24 * 3600);

#[derive(Debug, Clone)]
pub struct PublishSettings {
    pub channel: String,
    pub stream_id: String,
    pub hls_time: u32,
    pub live_size: u32,
    pub vod_max_size: u32,
    pub record: bool,
    pub master: bool,
    pub audio_kbps: u32,
    pub previews: Option<PreviewSpec>,
    pub retry: RetryPolicy,
    pub first_segment: u64,
    pub first_preview: u64,
    /// State of an earlier run of this stream (restart): playlists continue from it.
    pub resume: Option<StreamState>,
}

/// What the publisher knows at the end, for the exit status and summary.
#[derive(Debug, Default, Clone, Copy)]
pub struct PublishSummary {
    pub published: u64,
    pub skipped: u64,
    pub previews: u64,
    pub bytes: u64,
}

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
        }
    }

    /// Consumes pipeline outputs until the pipeline is done, then finishes the stream:
    /// last groups, ENDLIST, final masters and preview index. Returns when every request has
    /// ended (durable, given up, or cancelled by the abort token).
    pub async fn run(mut self, mut rx: UnboundedReceiver<MediaOutput>) -> PublishSummary {
        let mut pipeline_open = true;
        while pipeline_open || !self.tasks.is_empty() {
            tokio::select! {
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
        self.core.summary()
    }

    fn on_output(&mut self, out: MediaOutput) {
        let input = match out {
            MediaOutput::Ladder { renditions, audio, source } => {
                // The source is open and decoding starts now: PROGRAM-DATE-TIME counts from here.
                Input::Ladder { renditions, audio, source, now_ms: now_ms() }
            }
            MediaOutput::Segment { rung, n, data, duration, start, codecs } => {
                self.segment_ready.insert(n, Instant::now());
                Input::Segment { rung, n, data: Bytes::from(data), duration, start, codecs }
            }
            MediaOutput::SegmentDropped { n, .. } => Input::SegmentDropped { n },
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
                Action::Emit(Event::Segment { group, .. }) => {
                    let publish_seconds = self.segment_ready.remove(&group.n).map(|t| t.elapsed().as_secs_f64());
                    (self.emit)(&Event::Segment { group, publish_seconds })
                }
                Action::Emit(event) => {
                    if let Event::SegmentSkipped { n, .. } = &event {
                        self.segment_ready.remove(n);
                    }
                    (self.emit)(&event)
                }
                Action::Put { op, path, body, retry } => self.spawn_put(op, path, body, retry),
                Action::Delete { path } => self.spawn_delete(path),
            }
        }
    }

    fn spawn_put(&mut self, op: Op, path: String, body: Bytes, retry: Retry) {
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
                        match put_with_retry(storage.as_ref(), &p, body, &policy, Some(&cancel)).await {
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

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}
