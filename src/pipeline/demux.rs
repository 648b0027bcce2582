//! The open source: its demuxer, the video decoder, the audio path, and the read loop that
//! feeds packets to the [`Reader`] (with the live edge, late audio and GOP dropping).

use std::sync::Arc;
use std::time::{Duration, Instant};

use ffmpeg::{codec, media, Packet};
use ffmpeg_next as ffmpeg;

use super::audio::{self, AudioPath};
use super::clock::{self, Q};
use super::config::PipelineConfig;
use super::error::{EndReason, PipelineError};
use super::passthrough::{self, AnnexB, OriginalMode};
use super::reader::Reader;
use super::video::RungInput;
use super::watchdog::Watchdog;
use super::{live_edge, stats};
use crate::ladder::{Rendition, SourceVideo};

/// The open source: its demuxer, the video decoder, and the audio transcoder when there is
/// usable audio.
pub(super) struct Demux {
    pub(super) input: ffmpeg::format::context::Input,
    pub(super) source: SourceVideo,
    /// Redacted, for logs and errors.
    pub(super) source_url: String,
    pub(super) decoder: ffmpeg::decoder::Video,
    pub(super) video_index: usize,
    pub(super) video_time_base: ffmpeg::Rational,
    pub(super) audio_index: Option<usize>,
    pub(super) audio: Option<AudioPath>,
    pub(super) decode_errors: u64,
    pub(super) late_audio_tried: bool,
    /// How late a live source is read; drops GOPs when hopelessly behind.
    pub(super) live_edge: Option<live_edge::LiveEdge>,
    /// Media seconds of the newest video packet passed to the decoder.
    pub(super) last_video_seconds: Option<f64>,
    /// Video packets dropped to catch up in the current drop.
    pub(super) dropped_packets: u64,
    pub(super) stats: Arc<stats::PipelineStats>,
    /// Video packets since the last keyframe, while nothing is decoded.
    pub(super) group: Vec<Packet>,
}

impl Demux {
    pub(super) fn open(input: ffmpeg::format::context::Input, cfg: &PipelineConfig) -> Result<Demux, PipelineError> {
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
    pub(super) fn copy_original(&self, cfg: &PipelineConfig, renditions: &[Rendition]) -> Option<(usize, AnnexB)> {
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
    pub(super) fn read_until_end(
        &mut self,
        reader: &mut Reader,
        cfg: &PipelineConfig,
        watchdog: &Watchdog,
    ) -> Result<EndReason, PipelineError> {
        loop {
            let mut packet = Packet::empty();
            // How long the reader waits for input: a live job that finds its packets queued
            // up is behind real time (the overload governor reads this).
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
    pub(super) fn drop_to_catch_up(&mut self, packet: &Packet, reader: &mut Reader) -> Result<bool, PipelineError> {
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
    pub(super) fn on_video_packet(
        &mut self,
        packet: Packet,
        reader: &mut Reader,
    ) -> Result<Option<EndReason>, PipelineError> {
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

    pub(super) fn decode(&mut self, packet: &Packet, reader: &mut Reader) -> Result<Option<EndReason>, PipelineError> {
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
    pub(super) fn flush(&mut self, reader: &mut Reader, mut reason: EndReason) -> Result<EndReason, PipelineError> {
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

/// Audio that began after the source opened (libav waits about 5 s for it, then opens the
/// source video-only). Every rendition carries it from the next segment boundary on: each
/// segment has its own PAT/PMT, and the publisher marks that group as a new timeline and
/// rewrites the masters' CODECS. `None` (and a warning) if it cannot be decoded.
pub(super) fn start_late_audio(
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

pub(super) fn is_audio(input: &ffmpeg::format::context::Input, index: usize) -> bool {
    input.stream(index).is_some_and(|s| s.parameters().medium() == media::Type::Audio)
}

/// The largest picture H.264 allows: level 6.2's 139 264 macroblocks of 16x16 (8192x4352).
/// No conforming stream has a bigger one, and each such picture takes hundreds of MB (a
/// 16000x16000 one 384 MB, and the decoder holds several): measured, two seconds of black
/// 8192x8192 in a 160x90 stream (430 kB sent) took a transcode from 60 to 358 MB. The decoder
/// refuses them (libav's `max_pixels`), so a publisher cannot make a transcode allocate
/// without bound.
pub(super) const MAX_SOURCE_PIXELS: u64 = 139_264 * 16 * 16;

pub(super) fn open_video_decoder(
    stream: &ffmpeg::format::stream::Stream,
) -> Result<ffmpeg::decoder::Video, PipelineError> {
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
pub(super) const SINGLE_THREAD_DECODE_MAX_PIXELS: u64 = 1920 * 1080;

/// Width and height in a stream's codec parameters (0 when unknown).
pub(super) fn picture_size(params: &ffmpeg::codec::Parameters) -> (u64, u64) {
    // SAFETY: reads plain fields of the stream's codec parameters.
    unsafe { ((*params.as_ptr()).width.max(0) as u64, (*params.as_ptr()).height.max(0) as u64) }
}

pub(super) fn decoder_threading(params: ffmpeg::codec::Parameters) -> codec::threading::Config {
    let (width, height) = picture_size(&params);
    if width * height <= SINGLE_THREAD_DECODE_MAX_PIXELS {
        codec::threading::Config { kind: codec::threading::Type::Slice, count: 1, ..Default::default() }
    } else {
        codec::threading::Config { kind: codec::threading::Type::Frame, count: 0, ..Default::default() }
    }
}

pub(super) fn to_q(r: ffmpeg::Rational) -> Option<Q> {
    (r.numerator() > 0 && r.denominator() > 0).then(|| Q::new(r.numerator() as i64, r.denominator() as i64))
}

pub fn format_rate(r: Option<Q>) -> String {
    match r {
        Some(r) => format!("{:.3}", clock::to_f64(r)),
        None => "unknown".into(),
    }
}
