//! The libav pipeline of one stream: demux and decode once, fan the pictures out to one
//! thread per rendition (cascading scaled pictures to smaller renditions), encode audio
//! once, cut keyframe-aligned segments, take previews. Blocking code on OS threads; its
//! only output is the non-blocking [`sink::Sink`].

pub mod audio;
pub mod clock;
pub mod input;
pub mod live_edge;
pub mod passthrough;
pub mod picture;
pub mod preview;
pub mod segmenter;
pub mod sink;
pub mod stats;
pub mod video;
pub mod watchdog;
pub mod ws_input;

use std::sync::mpsc::{sync_channel, SyncSender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use ffmpeg::{codec, media, Packet};
use ffmpeg_next as ffmpeg;

use crate::ladder::Profile;
use crate::ladder::{Rendition, RequestItem, SourceVideo};
use audio::AudioPath;
use clock::{SegmentGrid, SourceClock, Q};
use input::Source;
use passthrough::{AnnexB, CopySource, KeyframeCuts, OriginalMode};
use picture::Picture;
use preview::PreviewSpec;
use sink::{MediaOutput, Sink};
use video::{Cuts, RungInput, RungWorker, VideoSettings};
use watchdog::Watchdog;

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error("cannot open source {source_url}: {reason}")]
    Open { source_url: String, reason: String },
    #[error("source {source_url} sent no media within {seconds} s; check that the publisher is live and that the ingest server lets this worker play")]
    SourceTimeout { source_url: String, seconds: u64 },
    #[error("source {source_url} has no video stream")]
    NoVideo { source_url: String },
    #[error("video decoder: {reason}")]
    Decode { reason: String },
    #[error("rendition {rung}: {reason}")]
    Encode { rung: String, reason: String },
    #[error("rendition {rung}: muxing failed: {reason}")]
    Mux { rung: String, reason: String },
    #[error("audio: {reason}")]
    Audio { reason: String },
    #[error("previews: {reason}")]
    Preview { reason: String },
    #[error("stopped before the source produced media")]
    Stopped,
    #[error("pipeline thread panicked: {0}")]
    Panic(String),
}

/// A failed run: what failed, and the last errors libav logged before it, which often name
/// the real cause ("Connection refused", "Invalid data found when processing input").
#[derive(Debug)]
pub struct RunError {
    pub error: PipelineError,
    /// libav's last error lines, oldest first, stream keys redacted.
    pub libav: Vec<String>,
}

impl From<PipelineError> for RunError {
    /// Takes libav's recent error lines with it.
    fn from(error: PipelineError) -> RunError {
        RunError { error, libav: crate::logging::recent_libav_errors() }
    }
}

impl std::fmt::Display for RunError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.error)?;
        if !self.libav.is_empty() {
            write!(f, " (libav: {})", self.libav.join(" | "))?;
        }
        Ok(())
    }
}

impl std::error::Error for RunError {}

/// Why a run ended normally (everything flushed and segmented).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndReason {
    EndOfStream,
    /// No media for the source timeout while running: treated as EOF (spec §9.2).
    SourceStalled,
    Stopped,
    DurationReached,
    FragmentLimit,
}

/// Which renditions to produce.
#[derive(Debug, Clone)]
pub enum LadderChoice {
    Items(Vec<RequestItem>),
    Profile(Profile),
    /// The ladder of an earlier run of the same stream (restart): kept as is.
    Fixed(Vec<Rendition>),
}

#[derive(Debug, Clone)]
pub struct PipelineConfig {
    pub source: Source,
    pub ladder: LadderChoice,
    pub hls_time: u32,
    pub video: VideoSettings,
    pub audio: audio::AudioSettings,
    /// Whether ORIGINAL (and the audio) may carry the source's own packets.
    pub original_mode: OriginalMode,
    pub previews: Option<PreviewSpec>,
    pub source_timeout: Duration,
    /// Stop after this much media time (`--duration`).
    pub max_media: Option<Duration>,
    /// Stop before this run-local segment (fragment limit minus segments already made).
    pub max_segments: Option<u64>,
    /// First segment number of this run (restart: highest ever produced + 1).
    pub first_segment: u64,
    /// First preview number of this run.
    pub first_preview: u64,
    /// Where this run's media time 0 lies on the stream's timeline, seconds: every output
    /// timestamp is shifted by it (0 for a first run).
    pub timeline_offset: Q,
    /// Where the rendition threads count what they do (read by the transcode's reporter).
    pub stats: Arc<stats::PipelineStats>,
    /// Read at the media's own pace (`--realtime`, as `ffmpeg -re`): the reader never runs
    /// ahead of wall time since the first frame.
    pub realtime: bool,
    /// A live source (it sends in real time): how late its packets are read is measured.
    pub live: bool,
    /// A live source read this late drops whole GOPs until it is back at the live edge
    /// (`HLS_DROP_BEHIND_SECONDS`; `None`: never).
    pub drop_behind: Option<Duration>,
}

/// Pictures and audio packets queued per rendition. Each queued picture keeps a decoded
/// frame alive, so this bounds memory; a few are enough to keep every encoder busy.
/// Measured on the default 720p ladder: 3 gives the same wall time as 4 and holds one
/// source frame less (1.4 MB at 720p); 2 costs 5 % wall time.
const RUNG_QUEUE: usize = 3;

/// Maps a libav receive result: `Ok(true)` got one, `Ok(false)` drained (EAGAIN or EOF).
pub fn drain(result: Result<(), ffmpeg::Error>) -> Result<bool, ffmpeg::Error> {
    match result {
        Ok(()) => Ok(true),
        Err(ffmpeg::Error::Other { errno }) if errno == ffmpeg::ffi::EAGAIN => Ok(false),
        Err(ffmpeg::Error::Eof) => Ok(false),
        Err(e) => Err(e),
    }
}

/// For each rendition, the index of the rendition it scales from (`None` = the decoded
/// source). A rendition cascades from the smallest rung at least twice its size in both
/// dimensions, when that rung is smaller than the source, has at least its frame rate and
/// is not ORIGINAL (whose picture may be padded by a pixel to an even size, which the
/// child would inherit off-centre); otherwise it scales from the source. A letterboxed
/// parent passes its bars on, scaled with the picture (the same bars direct scaling gives
/// when both rungs have the same aspect ratio, as every ladder of the profiles has).
///
/// Why twice: a bicubic cascade through a rung only a little larger loses detail that direct
/// scaling keeps. Measured with `scripts/scale_paths.py` (PSNR Y against the source scaled
/// directly, x264 veryfast CRF 23 at the rung's cap): 640x360 from 854x480 loses 0.39 dB,
/// 426x240 from 640x360 0.12 dB, but 426x240 from 854x480 only 0.02 dB, at less than half
/// the scaling CPU of 426x240 from a 1280x720 source.
pub fn cascade_parents(renditions: &[Rendition], source_w: u32, source_h: u32) -> Vec<Option<usize>> {
    let area = |r: &Rendition| r.encoded_width as u64 * r.encoded_height as u64;
    let source_area = source_w as u64 * source_h as u64;
    renditions
        .iter()
        .map(|child| {
            renditions
                .iter()
                .enumerate()
                .filter(|(_, p)| {
                    !p.original
                        && area(p) < source_area
                        && p.encoded_width >= 2 * child.encoded_width
                        && p.encoded_height >= 2 * child.encoded_height
                        && p.rate >= child.rate
                })
                .min_by_key(|(_, p)| area(p))
                .map(|(i, _)| i)
        })
        .collect()
}

/// Runs one pipeline to the end. Blocks the calling thread.
pub fn run(cfg: &PipelineConfig, watchdog: &Arc<Watchdog>, sink: &Sink) -> Result<EndReason, RunError> {
    run_pipeline(cfg, watchdog, sink).map_err(RunError::from)
}

/// The steps of a run: open the source and choose the ladder, start the rendition and
/// preview threads, read until the source ends (or a stop or limit), flush, and wait for
/// every thread's verdict.
fn run_pipeline(cfg: &PipelineConfig, watchdog: &Arc<Watchdog>, sink: &Sink) -> Result<EndReason, PipelineError> {
    // `_feed` keeps a websocket source's pipe open for as long as `input` reads it.
    let input::OpenInput { input, feed: _feed } = input::open(&cfg.source, watchdog)?;
    let mut demux = Demux::open(input, cfg)?;
    let renditions = match &cfg.ladder {
        LadderChoice::Items(items) => crate::ladder::fit_ladder(&demux.source, items),
        LadderChoice::Profile(profile) => profile.fit(&demux.source),
        LadderChoice::Fixed(r) => r.clone(),
    };
    let copy = demux.copy_original(cfg, &renditions);
    announce(&demux, &renditions, copy.is_some(), sink);

    let source = &demux.source;
    let rs = source.rs();
    let segments = SegmentGrid { rs, hls_time: cfg.hls_time as i64 };
    let time_base = to_q(demux.video_time_base).unwrap_or(Q::new(1, 1000));
    let audio_params = demux.audio.as_ref().map(AudioPath::output);
    let original = copy.as_ref().map(|(i, annexb)| (*i, annexb.output_parameters()));
    let keyframe_cuts = original.is_some();
    let skip_decoding = keyframe_cuts && renditions.len() == 1 && cfg.previews.is_none();
    let (roots, original_tx, mut threads) =
        spawn_renditions(cfg, &renditions, source, segments, original, audio_params, sink)?;
    let (preview_tx, preview_thread) = spawn_previews(cfg.previews, sink);
    threads.extend(preview_thread);
    let copy = copy.zip(original_tx).map(|((_, annexb), tx)| {
        let limit = cfg.max_segments.map(|m| m as i64);
        let cuts = KeyframeCuts::new(cfg.hls_time as i64, rs, limit);
        let stop = cfg.max_media.map(|d| Q::new(d.as_millis() as i64, 1000));
        CopySource::new(cfg.original_mode, annexb, cuts, tx, time_base, stop, cfg.first_segment)
    });
    let mut reader = Reader {
        clock: SourceClock::new(rs, time_base),
        segments,
        copy,
        skip_decoding,
        roots,
        preview_tx,
        previews: cfg.previews,
        next_preview: 0,
        first_preview: cfg.first_preview,
        stop_at: stop_time(cfg, segments, keyframe_cuts),
        last_g: None,
        frames: 0,
        last_progress: Instant::now(),
        sink: sink.clone(),
        audio_packets: Vec::new(),
        pace: cfg.realtime.then(|| Pace { first: None, watchdog: watchdog.clone() }),
    };

    let reason = demux.read_until_end(&mut reader, cfg, watchdog)?;
    let reason = demux.flush(&mut reader, reason)?;
    let started = reader.last_g.is_some();
    reader.end();
    drop(reader);
    join_workers(threads)?;
    if !started {
        let source_url = cfg.source.redacted();
        return Err(match reason {
            EndReason::Stopped => PipelineError::Stopped,
            EndReason::SourceStalled => {
                PipelineError::SourceTimeout { source_url, seconds: cfg.source_timeout.as_secs() }
            }
            _ => PipelineError::Decode { reason: format!("no decodable video frame in {source_url}") },
        });
    }
    Ok(reason)
}

/// The open source: its demuxer, the video decoder, and the audio transcoder when there is
/// usable audio.
struct Demux {
    input: ffmpeg::format::context::Input,
    source: SourceVideo,
    /// Redacted, for logs and errors.
    source_url: String,
    decoder: ffmpeg::decoder::Video,
    video_index: usize,
    video_time_base: ffmpeg::Rational,
    audio_index: Option<usize>,
    audio: Option<AudioPath>,
    decode_errors: u64,
    late_audio_tried: bool,
    /// How late a live source is read; drops GOPs when hopelessly behind.
    live_edge: Option<live_edge::LiveEdge>,
    /// Media seconds of the newest video packet passed to the decoder.
    last_video_seconds: Option<f64>,
    /// Video packets dropped to catch up in the current drop.
    dropped_packets: u64,
    stats: Arc<stats::PipelineStats>,
    /// Video packets since the last keyframe, while nothing is decoded.
    group: Vec<Packet>,
}

impl Demux {
    fn open(input: ffmpeg::format::context::Input, cfg: &PipelineConfig) -> Result<Demux, PipelineError> {
        let source_url = cfg.source.redacted();
        let video_stream = input
            .streams()
            .best(media::Type::Video)
            .ok_or_else(|| PipelineError::NoVideo { source_url: source_url.clone() })?;
        let video_index = video_stream.index();
        let video_time_base = video_stream.time_base();
        let decoder = open_video_decoder(&video_stream)?;
        let source = SourceVideo {
            width: decoder.width() as i64,
            height: decoder.height() as i64,
            avg_rate: to_q(video_stream.avg_frame_rate()),
            base_rate: to_q(video_stream.rate()),
        };
        let audio_stream = input.streams().best(media::Type::Audio);
        let audio_index = audio_stream.as_ref().map(|s| s.index());
        let audio = audio_stream.and_then(|stream| {
            if cfg.original_mode != OriginalMode::Encode && passthrough::audio_qualifies(&stream.parameters()) {
                return Some(AudioPath::Copy(audio::AudioCopier::new(&stream)));
            }
            match audio::AudioTranscoder::new(&stream, &cfg.audio) {
                Ok(a) => Some(AudioPath::Encode(a)),
                Err(e) => {
                    tracing::warn!("audio stream ignored: {e}");
                    None
                }
            }
        });
        Ok(Demux {
            input,
            source,
            source_url,
            decoder,
            video_index,
            video_time_base,
            audio_index,
            audio,
            decode_errors: 0,
            late_audio_tried: false,
            live_edge: cfg.live.then(|| {
                let segment = Duration::from_secs(u64::from(cfg.hls_time.max(1)));
                live_edge::LiveEdge::new(cfg.drop_behind, segment)
            }),
            stats: cfg.stats.clone(),
            last_video_seconds: None,
            dropped_packets: 0,
            group: Vec::new(),
        })
    }

    /// Whether ORIGINAL carries the source's packets in this run: its index in the ladder and
    /// the Annex B filter, when the mode allows it, ORIGINAL is in the ladder and the source
    /// qualifies (logged as the mode says when it does not).
    fn copy_original(&self, cfg: &PipelineConfig, renditions: &[Rendition]) -> Option<(usize, AnnexB)> {
        let index = renditions.iter().position(|r| r.original)?;
        if cfg.original_mode == OriginalMode::Encode {
            return None;
        }
        let stream = self.input.stream(self.video_index)?;
        let params = stream.parameters();
        if let Some(why) = passthrough::video_disqualified(&params, self.decoder.format()) {
            cfg.original_mode.log_fallback(&why);
            return None;
        }
        match AnnexB::new(&params, self.video_time_base) {
            Ok(annexb) => Some((index, annexb)),
            Err(why) => {
                cfg.original_mode.log_fallback(&why);
                None
            }
        }
    }

    /// Reads packets until the source ends, a stop is requested or a limit is reached; video
    /// goes to the decoder and on to the renditions (and, copied, to ORIGINAL), audio to the
    /// audio transcoder or copier.
    fn read_until_end(
        &mut self,
        reader: &mut Reader,
        cfg: &PipelineConfig,
        watchdog: &Watchdog,
    ) -> Result<EndReason, PipelineError> {
        loop {
            let mut packet = Packet::empty();
            let reading = Instant::now();
            let read = packet.read(&mut self.input);
            self.stats.add_read_wait(reading.elapsed());
            match read {
                Ok(()) => watchdog.touch(),
                Err(ffmpeg::Error::Eof) => return Ok(EndReason::EndOfStream),
                Err(ffmpeg::Error::Exit) if watchdog.stop_requested() => return Ok(EndReason::Stopped),
                Err(ffmpeg::Error::Exit) => return Ok(EndReason::SourceStalled),
                Err(_) if watchdog.stop_requested() => return Ok(EndReason::Stopped),
                Err(e) => {
                    tracing::warn!(source = %self.source_url, "read error, ending the stream: {e}");
                    return Ok(EndReason::EndOfStream);
                }
            }
            if watchdog.stop_requested() {
                return Ok(EndReason::Stopped);
            }
            if self.drop_to_catch_up(&packet, reader)? {
                continue;
            }
            if packet.stream() == self.video_index {
                if let Some(reason) = self.on_video_packet(packet, reader)? {
                    return Ok(reason);
                }
            } else if Some(packet.stream()) == self.audio_index {
                if let Some(a) = self.audio.as_mut() {
                    a.on_packet(&packet, &reader.clock, &mut reader.audio_packets)?;
                    reader.send_audio();
                }
            } else if self.audio.is_none() && !self.late_audio_tried && is_audio(&self.input, packet.stream()) {
                self.late_audio_tried = true;
                if let Some(late) = start_late_audio(&self.input, packet.stream(), cfg, reader) {
                    self.audio_index = Some(packet.stream());
                    let a = self.audio.insert(AudioPath::Encode(late));
                    a.on_packet(&packet, &reader.clock, &mut reader.audio_packets)?;
                    reader.send_audio();
                }
            }
        }
    }

    /// Whether `packet` is dropped because the pipeline is hopelessly behind its live source
    /// (see `live_edge`). On resuming, the decoder is drained of the frames before the gap
    /// and the clock closes the gap, so the output timeline continues without a hole.
    fn drop_to_catch_up(&mut self, packet: &Packet, reader: &mut Reader) -> Result<bool, PipelineError> {
        let Some(edge) = self.live_edge.as_mut() else { return Ok(false) };
        if packet.stream() != self.video_index {
            return Ok(edge.dropping());
        }
        let tb = self.video_time_base;
        let Some(ts) = packet.dts().or(packet.pts()) else { return Ok(edge.dropping()) };
        let seconds = ts as f64 * f64::from(tb.numerator()) / f64::from(tb.denominator().max(1));
        let verdict = edge.video(Instant::now(), seconds, packet.is_key());
        self.stats.set_input_behind(edge.behind_seconds());
        match verdict {
            live_edge::Verdict::Keep => {
                self.last_video_seconds = Some(seconds);
                Ok(false)
            }
            live_edge::Verdict::Drop { started } => {
                if let Some(behind) = started {
                    tracing::warn!(source = %self.source_url, behind_seconds = format!("{behind:.1}"),
                        "hopelessly behind the live source: dropping whole GOPs, undecoded, until the live edge");
                    self.dropped_packets = 0;
                }
                self.dropped_packets += 1;
                Ok(true)
            }
            live_edge::Verdict::Resume { skipped } => {
                // Frames still inside the decoder belong before the gap.
                let _ = self.decoder.send_eof();
                reader.receive_frames(&mut self.decoder)?;
                self.decoder.flush();
                let frame = 1.0 / clock::to_f64(reader.clock.rate()).max(1.0);
                let gap = self.last_video_seconds.map_or(skipped, |last| seconds - last - frame).max(0.0);
                reader.clock.skip(Q::new((gap * 1_000_000.0).round() as i64, 1_000_000));
                self.last_video_seconds = Some(seconds);
                tracing::warn!(source = %self.source_url, dropped_seconds = format!("{gap:.1}"),
                    dropped_packets = self.dropped_packets, "back at the live edge: the output continues without the dropped media");
                Ok(false)
            }
        }
    }

    /// One source video packet: copied (when ORIGINAL is) and decoded, unless nothing needs
    /// the pictures (ORIGINAL alone, copied, no previews). Then the packets of the current
    /// group of pictures are kept, so that decoding can start from its keyframe the moment
    /// ORIGINAL has to be encoded. `Some(reason)` when a stop limit was reached.
    fn on_video_packet(&mut self, packet: Packet, reader: &mut Reader) -> Result<Option<EndReason>, PipelineError> {
        if !reader.skip_decoding {
            reader.copy_packet(&packet)?;
            return self.decode(&packet, reader);
        }
        if let Some(reason) = reader.copy_undecoded(&packet)? {
            return Ok(Some(reason));
        }
        if packet.is_key() {
            self.group.clear();
        }
        self.group.push(packet);
        if reader.copy.as_ref().is_some_and(|c| c.cuts().copying()) {
            return Ok(None);
        }
        reader.skip_decoding = false;
        for packet in std::mem::take(&mut self.group) {
            if let Some(reason) = self.decode(&packet, reader)? {
                return Ok(Some(reason));
            }
        }
        Ok(None)
    }

    fn decode(&mut self, packet: &Packet, reader: &mut Reader) -> Result<Option<EndReason>, PipelineError> {
        if let Err(e) = self.decoder.send_packet(packet) {
            self.decode_errors += 1;
            if self.decode_errors == 1 || self.decode_errors.is_multiple_of(100) {
                tracing::warn!(errors = self.decode_errors, "video decode error (packet skipped): {e}");
            }
            return Ok(None);
        }
        let reason = reader.receive_frames(&mut self.decoder)?;
        reader.release_copied();
        Ok(reason)
    }

    /// Drains the decoders into the renditions (unless a limit already cut the run); returns
    /// the run's end, which a limit reached while flushing may change.
    fn flush(&mut self, reader: &mut Reader, mut reason: EndReason) -> Result<EndReason, PipelineError> {
        if !matches!(reason, EndReason::DurationReached | EndReason::FragmentLimit) {
            let _ = self.decoder.send_eof();
            if let Some(r) = reader.receive_frames(&mut self.decoder)? {
                reason = r;
            }
        }
        if let Some(a) = self.audio.as_mut() {
            a.flush(&reader.clock, &mut reader.audio_packets)?;
            reader.send_audio();
        }
        Ok(reason)
    }
}

/// Logs the source and the ladder, and hands the ladder to the publisher (once, before any
/// segment).
fn announce(demux: &Demux, renditions: &[Rendition], copied: bool, sink: &Sink) {
    let source = &demux.source;
    tracing::info!(
        source = %demux.source_url,
        width = source.width,
        height = source.height,
        rate = %format_rate(source.r0()),
        audio = match demux.audio {
            None => "none",
            Some(AudioPath::Copy(_)) => "copied",
            Some(AudioPath::Encode(_)) => "encoded",
        },
        original = if copied { "copied" } else { "encoded" },
        ladder = %renditions.iter().map(|r| r.label.as_str()).collect::<Vec<_>>().join(","),
        "source opened"
    );
    sink.send(MediaOutput::Ladder {
        renditions: renditions.to_vec(),
        audio: demux.audio.is_some(),
        source: format!("{}x{} @ {}", source.width, source.height, format_rate(source.r0())),
    });
}

/// The preview thread, when previews are on: decoded pictures in, JPEGs to the sink.
fn spawn_previews(previews: Option<PreviewSpec>, sink: &Sink) -> (Option<PreviewSender>, Option<RungHandle>) {
    let Some(spec) = previews else { return (None, None) };
    let (tx, rx) = sync_channel::<(u64, Arc<Picture>)>(2);
    let sink = sink.clone();
    let handle = std::thread::Builder::new()
        .name("preview".into())
        .spawn(move || preview::run(spec, rx, sink))
        .expect("spawn preview thread");
    (Some(tx), Some(handle))
}

/// Waits for every rendition and preview thread; the first error any of them hit.
fn join_workers(threads: Vec<RungHandle>) -> Result<(), PipelineError> {
    let mut first_error = None;
    for handle in threads {
        let result = handle.join().unwrap_or_else(|p| Err(PipelineError::Panic(panic_message(&p))));
        if let Err(e) = result {
            first_error.get_or_insert(e);
        }
    }
    first_error.map_or(Ok(()), Err)
}

/// Audio that began after the source opened (libav waits about 5 s for it, then opens the
/// source video-only). Every rendition carries it from the next segment boundary on: each
/// segment has its own PAT/PMT, and the publisher marks that group as a new timeline and
/// rewrites the masters' CODECS. `None` (and a warning) if it cannot be decoded.
fn start_late_audio(
    input: &ffmpeg::format::context::Input,
    index: usize,
    cfg: &PipelineConfig,
    reader: &mut Reader,
) -> Option<audio::AudioTranscoder> {
    let stream = input.stream(index)?;
    let transcoder = match audio::AudioTranscoder::new(&stream, &cfg.audio) {
        Ok(a) => a,
        Err(e) => {
            tracing::warn!("audio began after the source opened but cannot be used; the stream stays video-only: {e}");
            return None;
        }
    };
    // The next boundary ahead of the video read so far: no segment that is already being
    // encoded changes its streams.
    let (from_k, boundary) = match (&reader.copy, reader.last_g) {
        (Some(copy), _) => {
            let next = copy.cuts().next_estimate();
            (next.k, next.at)
        }
        (None, Some(g)) => {
            let k = reader.segments.segment_at(reader.clock.time_of(g)) + 1;
            (k, reader.segments.boundary(k))
        }
        (None, None) => (0, Q::from_integer(0)),
    };
    let seconds = clock::to_f64(boundary);
    tracing::warn!(
        from_segment = cfg.first_segment + from_k as u64,
        "audio began after the source opened; every rendition carries it from {seconds:.3} s on, after a \
         discontinuity (the publisher should send audio from the start)"
    );
    let params = codec::Parameters::from(transcoder.encoder());
    let time_base = transcoder.time_base();
    reader.roots.retain(|root| root.send(RungInput::AudioStart { params: params.clone(), time_base, from_k }).is_ok());
    Some(transcoder.starting_at(boundary))
}

/// The run-local time at which reading stops, and why. Boundaries that follow the source's
/// keyframes are not known ahead: the fragment limit is found as they come.
fn stop_time(cfg: &PipelineConfig, segments: SegmentGrid, keyframe_cuts: bool) -> Option<(Q, EndReason)> {
    let by_segments =
        cfg.max_segments.filter(|_| !keyframe_cuts).map(|m| (segments.boundary(m as i64), EndReason::FragmentLimit));
    let by_duration = cfg.max_media.map(|d| (Q::new(d.as_millis() as i64, 1000), EndReason::DurationReached));
    match (by_segments, by_duration) {
        (Some(a), Some(b)) => Some(if a.0 <= b.0 { a } else { b }),
        (a, b) => a.or(b),
    }
}

type RungHandle = JoinHandle<Result<(), PipelineError>>;
/// Decoded pictures for the preview thread, with the preview number each one is taken for.
type PreviewSender = SyncSender<(u64, Arc<Picture>)>;

/// One thread per rendition; returns the inputs of those that take decoded pictures, the
/// input of the copied ORIGINAL (`original`: its index and the parameters of the source's
/// video after Annex B conversion), and the threads.
fn spawn_renditions(
    cfg: &PipelineConfig,
    renditions: &[Rendition],
    source: &SourceVideo,
    segments: SegmentGrid,
    original: Option<(usize, codec::Parameters)>,
    audio: Option<(codec::Parameters, ffmpeg::Rational)>,
    sink: &Sink,
) -> Result<Spawned, PipelineError> {
    let parents = cascade_parents(renditions, source.width as u32, source.height as u32);
    let mut senders = Vec::new();
    let mut receivers = Vec::new();
    for _ in renditions {
        let (tx, rx) = sync_channel::<RungInput>(RUNG_QUEUE);
        senders.push(tx);
        receivers.push(Some(rx));
    }
    let mut roots = Vec::new();
    let mut children: Vec<Vec<SyncSender<RungInput>>> = vec![Vec::new(); renditions.len()];
    for (i, parent) in parents.iter().enumerate() {
        match parent {
            Some(p) => children[*p].push(senders[i].clone()),
            None => roots.push(senders[i].clone()),
        }
    }
    let original_tx = original.as_ref().map(|(i, _)| senders[*i].clone());
    drop(senders);
    let mut video = cfg.video.clone();
    if video.threads == 0 {
        video.threads = default_encoder_threads(renditions.len());
    }
    let mut handles = Vec::new();
    for (i, rendition) in renditions.iter().enumerate() {
        let segmenter_sink = sink.clone();
        let label = rendition.label.clone();
        let first_n = cfg.first_segment;
        let audio = audio.clone();
        let stats = cfg.stats.rung(&rendition.label);
        let outputs = std::mem::take(&mut children[i]);
        let cuts = match original {
            Some(_) => Cuts::Announced(Default::default()),
            None => Cuts::Grid(segments),
        };
        let copy = original.as_ref().filter(|(o, _)| *o == i).map(|(_, params)| params.clone());
        let timing = (segments.rs, cuts, segments.hls_time);
        let worker = RungWorker::new(i, rendition.clone(), timing, &video, copy, outputs, stats, |track| {
            let segmenter = segmenter::Segmenter::new(i, label, first_n, track, audio, segmenter_sink);
            segmenter.shifted_by(cfg.timeline_offset)
        })?;
        let rx = receivers[i].take().expect("one receiver per rendition");
        let handle = std::thread::Builder::new()
            .name(format!("rung-{}", rendition.label))
            .spawn(move || worker.run(rx))
            .expect("spawn rendition thread");
        handles.push(handle);
    }
    // Before the first picture: a restarted run sheds what the runs before it shed.
    cfg.stats.set_ladder(renditions);
    Ok((roots, original_tx, handles))
}

type Spawned = (Vec<SyncSender<RungInput>>, Option<SyncSender<RungInput>>, Vec<RungHandle>);

/// Turns transparent huge pages off for this process. x264 asks for huge pages for every
/// buffer of 1.75 MB or more and rounds each up to whole 2 MB pages, which a partly used
/// last page then holds resident. Measured on the default 720p ladder: 3 MB less peak
/// memory per job and no measurable CPU difference. Best effort: a kernel without THP
/// support refuses the call, and then there is nothing to turn off.
pub fn avoid_huge_pages() {
    // SAFETY: prctl with integer arguments only; it changes no memory we hold.
    let rc = unsafe { libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0) };
    if rc != 0 {
        tracing::debug!("PR_SET_THP_DISABLE refused: {}", std::io::Error::last_os_error());
    }
}

/// Encoder threads per rendition when not configured: the renditions already run in
/// parallel, so the cores are shared among them. Extra x264 frame threads each hold more
/// frames (memory) and cost some efficiency; measured on the default 720p ladder with 2
/// cores, one thread per rendition used 7 % less CPU and 21 % less memory than x264's auto.
fn default_encoder_threads(renditions: usize) -> usize {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    cores.div_ceil(renditions.max(1)).max(1)
}

/// The decode side of the reader thread: clock, stop conditions, previews, fan-out.
struct Reader {
    clock: SourceClock,
    /// Segment boundaries when ORIGINAL is encoded.
    segments: SegmentGrid,
    /// The copied ORIGINAL, which then chooses the boundaries.
    copy: Option<CopySource>,
    /// Nothing needs decoded pictures: the packets drive the clock (until ORIGINAL has to
    /// be encoded).
    skip_decoding: bool,
    roots: Vec<SyncSender<RungInput>>,
    preview_tx: Option<PreviewSender>,
    previews: Option<PreviewSpec>,
    next_preview: u64,
    first_preview: u64,
    stop_at: Option<(Q, EndReason)>,
    last_g: Option<i64>,
    frames: u64,
    last_progress: Instant,
    sink: Sink,
    audio_packets: Vec<Packet>,
    pace: Option<Pace>,
}

/// `--realtime`: holds the reader thread (and so the demuxer) until the wall time since the
/// first frame reaches each frame's media time, as `ffmpeg -re` does.
struct Pace {
    first: Option<Instant>,
    watchdog: Arc<Watchdog>,
}

impl Pace {
    fn wait(&mut self, t: Q) {
        let first = *self.first.get_or_insert_with(Instant::now);
        let due = first + Duration::from_secs_f64(clock::to_f64(t).max(0.0));
        while !self.watchdog.stop_requested() {
            let now = Instant::now();
            if now >= due {
                break;
            }
            std::thread::sleep((due - now).min(Duration::from_millis(100)));
            // Held back by us, not silent: the source timeout must not count this.
            self.watchdog.touch();
        }
    }
}

impl Reader {
    /// A source video packet before it is decoded: to the copied ORIGINAL, if any.
    fn copy_packet(&mut self, packet: &Packet) -> Result<(), PipelineError> {
        if let Some(copy) = self.copy.as_mut() {
            let stop = copy.on_packet(packet, &self.clock, &mut self.roots)?;
            self.stop_at_fragment_limit(stop);
        }
        Ok(())
    }

    /// Frame `g` (decoded, or a copied packet) enters the run: the stop limit, the
    /// `--realtime` pace, the counters. Its run time, or the end the limit reached.
    fn enter(&mut self, g: i64) -> Result<Q, EndReason> {
        let t = self.clock.time_of(g);
        if let Some((limit, reason)) = self.stop_at {
            if t >= limit {
                return Err(reason);
            }
        }
        if let Some(pace) = &mut self.pace {
            pace.wait(t);
        }
        self.last_g = Some(g);
        self.frames += 1;
        Ok(t)
    }

    /// A packet that is copied and not decoded: it moves the clock, the stop limits and the
    /// progress as its picture would have. `Some(reason)` when a stop limit was reached.
    fn copy_undecoded(&mut self, packet: &Packet) -> Result<Option<EndReason>, PipelineError> {
        // The run starts at the first keyframe, as the decoder would.
        if self.clock.started() || packet.is_key() {
            if let Some(g) = self.clock.index(packet.pts().or(packet.dts())) {
                match self.enter(g) {
                    Ok(t) => self.report_progress(t),
                    Err(reason) => return Ok(Some(reason)),
                }
            }
        }
        self.copy_packet(packet)?;
        Ok(None)
    }

    fn report_progress(&mut self, t: Q) {
        if self.last_progress.elapsed() >= Duration::from_secs(1) {
            self.last_progress = Instant::now();
            let media_seconds = clock::to_f64(t);
            self.sink.send(MediaOutput::Progress { media_seconds, frames: self.frames });
        }
    }

    /// Copied packets that waited for the first decoded picture.
    fn release_copied(&mut self) {
        if let Some(copy) = self.copy.as_mut() {
            let stop = copy.release(&self.clock, &mut self.roots);
            self.stop_at_fragment_limit(stop);
        }
    }

    fn stop_at_fragment_limit(&mut self, at: Option<Q>) {
        if let Some(at) = at {
            if self.stop_at.is_none_or(|(s, _)| at < s) {
                self.stop_at = Some((at, EndReason::FragmentLimit));
            }
        }
    }

    /// The latest boundary (from boundary 1 on) at or before `t`.
    fn last_boundary_before(&self, t: Q) -> Option<Q> {
        match &self.copy {
            Some(copy) => copy.cuts().last_boundary_before(t),
            None => {
                let k = self.segments.segment_at(t);
                (k >= 1).then(|| self.segments.boundary(k))
            }
        }
    }

    /// Receives decoded frames; `Some(reason)` when a stop limit was reached.
    fn receive_frames(&mut self, decoder: &mut ffmpeg::decoder::Video) -> Result<Option<EndReason>, PipelineError> {
        loop {
            let mut frame = ffmpeg::frame::Video::empty();
            match drain(decoder.receive_frame(&mut frame)) {
                Ok(true) => {}
                Ok(false) => return Ok(None),
                Err(e) => {
                    tracing::debug!("video decode error: {e}");
                    return Ok(None);
                }
            }
            let Some(g) = self.clock.index(frame.timestamp().or(frame.pts())) else {
                continue;
            };
            let t = match self.enter(g) {
                Ok(t) => t,
                Err(reason) => return Ok(Some(reason)),
            };
            let picture = Picture::new(frame);
            self.take_previews(t, &picture);
            let read_at = Instant::now();
            self.roots.retain(|root| root.send(RungInput::Video { picture: picture.clone(), g, read_at }).is_ok());
            if self.roots.is_empty() {
                // Every rendition thread has failed; they report why when joined.
                return Ok(Some(EndReason::Stopped));
            }
            self.report_progress(t);
        }
    }

    fn take_previews(&mut self, t: Q, picture: &Arc<Picture>) {
        let (Some(spec), Some(tx)) = (self.previews, self.preview_tx.as_ref()) else {
            return;
        };
        // Image N is the first frame with t >= N*D; a jump over several multiples reuses it.
        while t >= Q::from_integer(self.next_preview as i64 * spec.interval as i64) {
            if tx.send((self.first_preview + self.next_preview, picture.clone())).is_err() {
                self.preview_tx = None;
                return;
            }
            self.next_preview += 1;
        }
    }

    fn send_audio(&mut self) {
        for packet in self.audio_packets.drain(..) {
            let shared = Arc::new(packet);
            self.roots.retain(|root| root.send(RungInput::Audio(shared.clone())).is_ok());
        }
    }

    /// Tells every rendition where the run ends so that all cut the same segments.
    fn end(&mut self) {
        let (end, last_boundary) = match (self.stop_at, self.last_g) {
            (Some((limit, _)), Some(g)) if self.clock.time_of(g + 1) >= limit => {
                (limit, self.last_boundary_before(limit - Q::new(1, 1_000_000)))
            }
            (_, Some(g)) => (self.clock.time_of(g + 1), self.last_boundary_before(self.clock.time_of(g))),
            (_, None) => (Q::from_integer(0), None),
        };
        for root in self.roots.drain(..) {
            let _ = root.send(RungInput::End { end, last_boundary });
        }
    }
}

fn is_audio(input: &ffmpeg::format::context::Input, index: usize) -> bool {
    input.stream(index).is_some_and(|s| s.parameters().medium() == media::Type::Audio)
}

/// The largest picture H.264 allows: level 6.2's 139 264 macroblocks of 16x16 (8192x4352).
/// No conforming stream has a bigger one, and each such picture takes hundreds of MB (a
/// 16000x16000 one 384 MB, and the decoder holds several): measured, two seconds of black
/// 8192x8192 in a 160x90 stream (430 kB sent) took a transcode from 60 to 358 MB. The decoder
/// refuses them (libav's `max_pixels`), so a publisher cannot make a transcode allocate
/// without bound.
const MAX_SOURCE_PIXELS: u64 = 139_264 * 16 * 16;

fn open_video_decoder(stream: &ffmpeg::format::stream::Stream) -> Result<ffmpeg::decoder::Video, PipelineError> {
    let (width, height) = picture_size(&stream.parameters());
    if width * height > MAX_SOURCE_PIXELS {
        return Err(PipelineError::Decode {
            reason: format!(
                "the source picture is {width}x{height}, larger than H.264 allows (8192x4352, {MAX_SOURCE_PIXELS} \
                 pixels): refused"
            ),
        });
    }
    let mut ctx = codec::context::Context::from_parameters(stream.parameters())
        .map_err(|e| PipelineError::Decode { reason: e.to_string() })?;
    ctx.set_threading(decoder_threading(stream.parameters()));
    // SAFETY: sets a plain field of the codec context before it is opened.
    unsafe { (*ctx.as_mut_ptr()).max_pixels = MAX_SOURCE_PIXELS as i64 };
    ctx.decoder().video().map_err(|e| PipelineError::Decode { reason: format!("no decoder for the video stream: {e}") })
}

/// Frame size up to which one decoder thread is used: 1080p, at any rate. Measured here,
/// one thread decodes 1080p60 H.264 at 6x real time (about 16 % of a core), while frame
/// threads each hold their own reference frames: 19 MB more at 1080p for no gain, since
/// the renditions already keep the cores busy. Larger sources get frame threads so that
/// the reader thread, which every rendition waits on, stays well ahead of real time.
const SINGLE_THREAD_DECODE_MAX_PIXELS: u64 = 1920 * 1080;

/// Width and height in a stream's codec parameters (0 when unknown).
fn picture_size(params: &ffmpeg::codec::Parameters) -> (u64, u64) {
    // SAFETY: reads plain fields of the stream's codec parameters.
    unsafe { ((*params.as_ptr()).width.max(0) as u64, (*params.as_ptr()).height.max(0) as u64) }
}

fn decoder_threading(params: ffmpeg::codec::Parameters) -> codec::threading::Config {
    let (width, height) = picture_size(&params);
    if width * height <= SINGLE_THREAD_DECODE_MAX_PIXELS {
        codec::threading::Config { kind: codec::threading::Type::Slice, count: 1, ..Default::default() }
    } else {
        codec::threading::Config { kind: codec::threading::Type::Frame, count: 0, ..Default::default() }
    }
}

fn to_q(r: ffmpeg::Rational) -> Option<Q> {
    (r.numerator() > 0 && r.denominator() > 0).then(|| Q::new(r.numerator() as i64, r.denominator() as i64))
}

pub fn format_rate(r: Option<Q>) -> String {
    match r {
        Some(r) => format!("{:.3}", clock::to_f64(r)),
        None => "unknown".into(),
    }
}

fn panic_message(p: &Box<dyn std::any::Any + Send>) -> String {
    p.downcast_ref::<&str>().map(|s| s.to_string()).or_else(|| p.downcast_ref::<String>().cloned()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ladder::{RequestItem, RequestedRes};

    fn item(width: u32, height: u32, fps: u32) -> RequestItem {
        RequestItem::Res(RequestedRes { width, height, fps, kbps: 0 })
    }

    #[test]
    fn smaller_renditions_cascade_only_from_a_rung_twice_their_size() {
        let source = SourceVideo { width: 1920, height: 1080, avg_rate: Some(Q::new(30, 1)), base_rate: None };
        let items = [
            RequestItem::Original,
            item(1280, 720, 30),
            item(640, 360, 30),
            item(426, 240, 15),
            item(854, 480, 60),
            item(320, 180, 30),
        ];
        let ladder = crate::ladder::fit_ladder(&source, &items);
        let labels: Vec<_> = ladder.iter().map(|r| r.label.as_str()).collect();
        assert_eq!(labels, ["1920x1080-30", "1280x720-30", "640x360-30", "426x240-15", "854x480-30", "320x180-30"]);
        let parents = cascade_parents(&ladder, 1920, 1080);
        // ORIGINAL, 720p and 480p (60 asked, capped at the source's 30) scale from the source:
        // no rung is twice their size. 360p from 720p; 240p@15 from 480p, the smallest rung
        // twice its size (not 360p, only 1.5x); 180p from 360p.
        assert_eq!(parents, [None, None, Some(1), Some(4), None, Some(2)]);
    }

    #[test]
    fn a_padded_original_is_never_a_cascade_parent() {
        let source = SourceVideo { width: 1281, height: 721, avg_rate: Some(Q::new(30, 1)), base_rate: None };
        let ladder = crate::ladder::fit_ladder(&source, &[RequestItem::Original, item(640, 360, 30)]);
        assert_eq!(cascade_parents(&ladder, 1281, 721), [None, None]);
    }
}
