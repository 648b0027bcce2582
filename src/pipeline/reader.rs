//! The decode side of the reader thread: the clock, the stop conditions, the `--realtime`
//! pace, previews, and the fan-out of pictures and audio to the renditions.

use std::sync::mpsc::SyncSender;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ffmpeg::Packet;
use ffmpeg_next as ffmpeg;

use super::captions::{self, CaptionServices, Carry};
use super::clock::{self, SourceClock, Q};
use super::cuts::SegmentGrid;
use super::error::{drain, EndReason, PipelineError};
use super::passthrough::CopySource;
use super::picture::Picture;
use super::preview::PreviewSpec;
use super::sink::{MediaOutput, Sink};
use super::video::RungInput;
use super::watchdog::Watchdog;

/// The decode side of the reader thread: clock, stop conditions, previews, fan-out.
pub(super) struct Reader {
    pub(super) clock: SourceClock,
    /// Segment boundaries when ORIGINAL is encoded.
    pub(super) segments: SegmentGrid,
    /// The copied ORIGINAL, which then chooses the boundaries.
    pub(super) copy: Option<CopySource>,
    /// Nothing needs decoded pictures: the packets drive the clock (until ORIGINAL has to
    /// be encoded).
    pub(super) skip_decoding: bool,
    pub(super) roots: Vec<SyncSender<RungInput>>,
    pub(super) preview_tx: Option<PreviewSender>,
    pub(super) previews: Option<PreviewSpec>,
    pub(super) next_preview: u64,
    pub(super) first_preview: u64,
    pub(super) stop_at: Option<(Q, EndReason)>,
    pub(super) last_g: Option<i64>,
    pub(super) frames: u64,
    pub(super) last_progress: Instant,
    pub(super) sink: Sink,
    pub(super) audio_packets: Vec<Packet>,
    pub(super) pace: Option<Pace>,
    /// Caption bytes of decoded frames the clock dropped, for the next frame it keeps.
    pub(super) captions: Carry,
    /// Caption services seen so far in this run: the publisher hears of each new one.
    pub(super) caption_services: CaptionServices,
}

/// `--realtime`: holds the reader thread (and so the demuxer) until the wall time since the
/// first frame reaches each frame's media time, as `ffmpeg -re` does.
pub(super) struct Pace {
    pub(super) first: Option<Instant>,
    pub(super) watchdog: Arc<Watchdog>,
}

impl Pace {
    pub(super) fn wait(&mut self, t: Q) {
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
    pub(super) fn copy_packet(&mut self, packet: &Packet) -> Result<(), PipelineError> {
        if let Some(copy) = self.copy.as_mut() {
            let stop = copy.on_packet(packet, &self.clock, &mut self.roots)?;
            let seen = copy.captions();
            self.stop_at_fragment_limit(stop);
            self.note_captions(seen);
        }
        Ok(())
    }

    /// Frame `g` (decoded, or a copied packet) enters the run: the stop limit, the
    /// `--realtime` pace, the counters. Its run time, or the end the limit reached.
    pub(super) fn enter(&mut self, g: i64) -> Result<Q, EndReason> {
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
    pub(super) fn copy_undecoded(&mut self, packet: &Packet) -> Result<Option<EndReason>, PipelineError> {
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

    pub(super) fn report_progress(&mut self, t: Q) {
        if self.last_progress.elapsed() >= Duration::from_secs(1) {
            self.last_progress = Instant::now();
            let media_seconds = clock::to_f64(t);
            self.sink.send(MediaOutput::Progress { media_seconds, frames: self.frames });
        }
    }

    /// Copied packets that waited for the first decoded picture.
    pub(super) fn release_copied(&mut self) {
        if let Some(copy) = self.copy.as_mut() {
            let stop = copy.release(&self.clock, &mut self.roots);
            let seen = copy.captions();
            self.stop_at_fragment_limit(stop);
            self.note_captions(seen);
        }
    }

    pub(super) fn stop_at_fragment_limit(&mut self, at: Option<Q>) {
        if let Some(at) = at {
            if self.stop_at.is_none_or(|(s, _)| at < s) {
                self.stop_at = Some((at, EndReason::FragmentLimit));
            }
        }
    }

    /// The latest boundary (from boundary 1 on) at or before `t`.
    pub(super) fn last_boundary_before(&self, t: Q) -> Option<Q> {
        match &self.copy {
            Some(copy) => copy.cuts().last_boundary_before(t),
            None => {
                let k = self.segments.segment_at(t);
                (k >= 1).then(|| self.segments.boundary(k))
            }
        }
    }

    /// Receives decoded frames; `Some(reason)` when a stop limit was reached.
    pub(super) fn receive_frames(
        &mut self,
        decoder: &mut ffmpeg::decoder::Video,
    ) -> Result<Option<EndReason>, PipelineError> {
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
                self.captions.drop_picture(captions::of(&frame));
                continue;
            };
            let t = match self.enter(g) {
                Ok(t) => t,
                Err(reason) => return Ok(Some(reason)),
            };
            self.take_captions(&mut frame);
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

    /// Merges caption bytes the clock dropped into `frame`, and tells the publisher when a
    /// caption service shows up for the first time in this run (the masters declare it).
    fn take_captions(&mut self, frame: &mut ffmpeg::frame::Video) {
        if let Some(merged) = self.captions.keep_picture(captions::of(frame)) {
            captions::set(frame, &merged);
        }
        if let Some(data) = captions::of(frame) {
            self.note_captions(CaptionServices::of(data));
        }
    }

    /// Caption services seen in decoded frames or copied packets: the publisher hears of
    /// each one the first time.
    fn note_captions(&mut self, seen: CaptionServices) {
        if self.caption_services.lacks_any_of(seen) {
            self.caption_services = self.caption_services.union(seen);
            tracing::info!(cea608 = seen.cea608, cea708 = seen.cea708, "closed captions in the source");
            self.sink.send(MediaOutput::Captions(self.caption_services));
        }
    }

    pub(super) fn take_previews(&mut self, t: Q, picture: &Arc<Picture>) {
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

    pub(super) fn send_audio(&mut self) {
        for packet in self.audio_packets.drain(..) {
            let shared = Arc::new(packet);
            self.roots.retain(|root| root.send(RungInput::Audio(shared.clone())).is_ok());
        }
    }

    /// Tells every rendition where the run ends so that all cut the same segments.
    pub(super) fn end(&mut self) {
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

/// Decoded pictures for the preview thread, with the preview number each one is taken for.
pub(super) type PreviewSender = SyncSender<(u64, Arc<Picture>)>;
