//! One run of the pipeline, start to end: open the source and choose the ladder, start the
//! rendition and preview threads, read until the source ends (or a stop or limit), flush,
//! and wait for every thread's verdict.

use std::sync::mpsc::{sync_channel, SyncSender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;

use ffmpeg::codec;
use ffmpeg_next as ffmpeg;

use super::audio::AudioPath;
use super::clock::{SourceClock, Q};
use super::config::{LadderChoice, PipelineConfig};
use super::cuts::{Cuts, KeyframeCuts, SegmentGrid};
use super::demux::{format_rate, to_q, Demux};
use super::error::{panic_message, EndReason, PipelineError, RunError};
use super::passthrough::CopySource;
use super::picture::Picture;
use super::preview::{self, PreviewSpec};
use super::reader::{Pace, PreviewSender, Reader};
use super::sink::{MediaOutput, Sink};
use super::video::{RungInput, RungWorker};
use super::watchdog::Watchdog;
use super::{input, segmenter};
use crate::ladder::{Rendition, SourceVideo};

/// Pictures and audio packets queued per rendition. Each queued picture keeps a decoded
/// frame alive, so this bounds memory; a few are enough to keep every encoder busy.
/// Measured on the default 720p ladder: 3 gives the same wall time as 4 and holds one
/// source frame less (1.4 MB at 720p); 2 costs 5 % wall time.
const RUNG_QUEUE: usize = 3;

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
        captions: Default::default(),
        caption_services: Default::default(),
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

/// The run-local time at which reading stops, and why. Boundaries that follow the source's
/// keyframes are not known ahead: the fragment limit is found as they come.
pub(super) fn stop_time(cfg: &PipelineConfig, segments: SegmentGrid, keyframe_cuts: bool) -> Option<(Q, EndReason)> {
    let by_segments =
        cfg.max_segments.filter(|_| !keyframe_cuts).map(|m| (segments.boundary(m as i64), EndReason::FragmentLimit));
    let by_duration = cfg.max_media.map(|d| (Q::new(d.as_millis() as i64, 1000), EndReason::DurationReached));
    match (by_segments, by_duration) {
        (Some(a), Some(b)) => Some(if a.0 <= b.0 { a } else { b }),
        (a, b) => a.or(b),
    }
}

pub(super) type RungHandle = JoinHandle<Result<(), PipelineError>>;

/// One thread per rendition; returns the inputs of those that take decoded pictures, the
/// input of the copied ORIGINAL (`original`: its index and the parameters of the source's
/// video after Annex B conversion), and the threads.
pub(super) fn spawn_renditions(
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
            let segmenter = segmenter.shifted_by(cfg.timeline_offset);
            match cfg.format {
                crate::hls::SegmentFormat::Ts => segmenter,
                crate::hls::SegmentFormat::Cmaf => segmenter.cmaf(cfg.part_target),
            }
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

pub(super) type Spawned = (Vec<SyncSender<RungInput>>, Option<SyncSender<RungInput>>, Vec<RungHandle>);

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
pub(super) fn default_encoder_threads(renditions: usize) -> usize {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    cores.div_ceil(renditions.max(1)).max(1)
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
