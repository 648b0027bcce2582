//! One rendition: constant-frame-rate slotting, fit-and-pad scaling, H.264 encoding with
//! keyframes forced on the segment boundaries, and segmenting; or, for a copied ORIGINAL,
//! the source's own packets segmented as they come. Runs on its own OS thread.

use std::collections::{BTreeMap, VecDeque};
use std::sync::mpsc::{Receiver, SyncSender};
use std::sync::Arc;
use std::time::Instant;

use ffmpeg::codec;
use ffmpeg::format::Pixel;
use ffmpeg::{Dictionary, Packet};
use ffmpeg_next as ffmpeg;

use super::captions::{self, Carry};
use super::clock::{SlotGrid, Q};
use super::cuts::{Cut, Cuts};
use super::picture::{Fit, FitScaler, Picture};
use super::segmenter::{Segmenter, VideoTrack};
use super::stats::RungStats;
use super::{drain, PipelineError};
use crate::ladder::Rendition;

/// What a rendition thread receives, in source order.
pub enum RungInput {
    /// A picture (decoded, or scaled by the parent rendition) at reference-grid index `g`;
    /// `read_at`: when its source packet was read (for the lag figure).
    Video { picture: Arc<Picture>, g: i64, read_at: Instant },
    /// An encoded audio packet (shared by every rendition), in the audio encoder's time base.
    Audio(Arc<Packet>),
    /// Audio began after the source opened: the encoder's parameters and time base, and
    /// the run-local segment from which every rendition carries it.
    AudioStart { params: ffmpeg::codec::Parameters, time_base: ffmpeg::Rational, from_k: i64 },
    /// A segment boundary chosen by the reader (ORIGINAL follows the source's keyframes):
    /// sent before any picture at or after it.
    Boundary(Cut),
    /// A source packet for a copied ORIGINAL (Annex B, timestamps in 1/90000 s of run time);
    /// `starts`: the run-local segment it starts; `new_timeline`: that segment follows a
    /// change of the source's sequence parameters.
    Source { packet: Packet, starts: Option<i64>, new_timeline: bool },
    /// The copied ORIGINAL is encoded from this boundary on.
    EncodeFrom(Cut),
    /// End of the run: cover `[0, end)` and reach the boundary `last_boundary`.
    End { end: Q, last_boundary: Option<Q> },
}

/// Whether a picture is encoded again to fill a slot (a gap, the end of the run).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Repeat {
    No,
    Yes,
}

/// Time base of a copied ORIGINAL's packets: MPEG-TS's own.
pub const COPY_TIME_BASE: ffmpeg::Rational = ffmpeg::Rational(1, 90_000);

/// Whether a rendition copies the source's packets.
enum Copying {
    No,
    /// Every packet until told otherwise.
    Yes,
    /// The packets presented before this time; pictures from it on are encoded.
    Until(Q),
}

/// Which kind of H.264 encoder `HLS_VIDEO_CODEC` names: its options and default preset
/// differ (NVENC has no `veryfast`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum EncoderFamily {
    X264,
    Nvenc,
    Vaapi,
    Other,
}

impl EncoderFamily {
    pub fn of(codec: &str) -> EncoderFamily {
        match codec {
            "libx264" => EncoderFamily::X264,
            c if c.ends_with("_nvenc") => EncoderFamily::Nvenc,
            c if c.ends_with("_vaapi") => EncoderFamily::Vaapi,
            _ => EncoderFamily::Other,
        }
    }

    /// `HLS_H264_PRESET` when unset (coordinator-protocol §11).
    pub fn default_preset(self) -> &'static str {
        match self {
            EncoderFamily::Nvenc => "fast",
            _ => "veryfast",
        }
    }
}

/// An encoder by its libav name, with its family.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct VideoEncoder {
    pub name: String,
    pub family: EncoderFamily,
}

impl VideoEncoder {
    pub fn new(name: &str) -> VideoEncoder {
        VideoEncoder { name: name.to_string(), family: EncoderFamily::of(name) }
    }
}

/// Encoder settings shared by every rendition (HLS_VIDEO_CODEC, HLS_H264_PRESET, ...).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct VideoSettings {
    pub encoder: VideoEncoder,
    pub preset: String,
    #[serde(with = "pixel_name")]
    pub pixel_format: Pixel,
    /// Encoder threads per rendition; 0 lets the encoder decide.
    pub threads: usize,
    /// LL-HLS parts are on (`HLS_PART_SECONDS`): x264 holds fewer frames back.
    #[serde(default)]
    pub low_latency: bool,
}

/// A pixel format travels by its libav name (`yuv420p`), which is stable across builds.
mod pixel_name {
    use ffmpeg_next::format::Pixel;
    use serde::de::Error as _;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(pixel: &Pixel, s: S) -> Result<S::Ok, S::Error> {
        let name =
            pixel.descriptor().map(|d| d.name()).ok_or_else(|| serde::ser::Error::custom("unnamed pixel format"))?;
        s.serialize_str(name)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Pixel, D::Error> {
        let name = String::deserialize(d)?;
        name.parse::<Pixel>().map_err(|_| D::Error::custom(format!("{name:?} is not a pixel format FFmpeg knows")))
    }
}

pub struct RungWorker {
    pub index: usize,
    pub rendition: Rendition,
    pub grid: SlotGrid,
    pub cuts: Cuts,
    pub scaler: FitScaler,
    /// Opened when the first picture is to be encoded (a copied ORIGINAL may never need it).
    encoder: Option<ffmpeg::encoder::Video>,
    settings: VideoSettings,
    hls_time: i64,
    copying: Copying,
    pub children: Vec<SyncSender<RungInput>>,
    pub segmenter: Segmenter,
    /// Slots whose frame was forced to IDR, with the segment (run-local k) it starts.
    forced: VecDeque<(i64, i64)>,
    next_k: i64,
    last_picture: Option<Arc<Picture>>,
    /// Slots sent to the encoder and when their source packets were read, oldest first.
    read_times: VecDeque<(i64, Instant)>,
    stats: Arc<RungStats>,
    /// Shed under overload: pictures are still scaled for the renditions cascading from
    /// this one, nothing is encoded any more.
    shed: bool,
    /// Caption bytes of the pictures this rendition dropped, for the next one it keeps.
    captions: Carry,
    /// The encoder cannot write caption bytes itself (no `a53cc`): each frame's, by slot,
    /// until its packet comes out and gets them as SEI.
    captions_by_sei: Option<BTreeMap<i64, Vec<u8>>>,
}

impl RungWorker {
    /// `copy`: the source's parameters after Annex B conversion, when this rendition copies
    /// the source's packets instead of encoding.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        index: usize,
        rendition: Rendition,
        (rs, cuts, hls_time): (Q, Cuts, i64),
        settings: &VideoSettings,
        copy: Option<ffmpeg::codec::Parameters>,
        children: Vec<SyncSender<RungInput>>,
        stats: Arc<RungStats>,
        segmenter_for: impl FnOnce(VideoTrack) -> Segmenter,
    ) -> Result<Self, PipelineError> {
        let fit = if rendition.original { Fit::OriginalOrCentered } else { Fit::Centered };
        let scaler = FitScaler::new(rendition.encoded_width, rendition.encoded_height, settings.pixel_format, fit);
        let (encoder, track, copying) = match copy {
            Some(params) => (None, VideoTrack { params, time_base: COPY_TIME_BASE }, Copying::Yes),
            None => {
                let encoder =
                    open_encoder(&rendition, settings, hls_time).map_err(|e| encoder_error(&rendition, settings, e))?;
                let track = VideoTrack::of_encoder(&encoder);
                (Some(encoder), track, Copying::No)
            }
        };
        let segmenter = segmenter_for(track);
        Ok(RungWorker {
            index,
            grid: SlotGrid::new(rendition.rate, rs),
            rendition,
            cuts,
            scaler,
            encoder,
            settings: settings.clone(),
            hls_time,
            copying,
            children,
            segmenter,
            forced: VecDeque::new(),
            next_k: 0,
            last_picture: None,
            read_times: VecDeque::new(),
            stats,
            shed: false,
            captions: Carry::default(),
            captions_by_sei: (!captions::encoder_writes_captions(&settings.encoder.name)).then(BTreeMap::new),
        })
    }

    pub fn run(mut self, input: Receiver<RungInput>) -> Result<(), PipelineError> {
        let result = self.run_inner(&input);
        // Children must see the end even when this rendition failed, so they finish too.
        drop(std::mem::take(&mut self.children));
        result
    }

    fn run_inner(&mut self, input: &Receiver<RungInput>) -> Result<(), PipelineError> {
        while let Ok(msg) = input.recv() {
            let working = Instant::now();
            let cpu = super::stats::thread_cpu_us();
            let result = self.on_input(msg);
            RungStats::add(&self.stats.busy_us, working.elapsed().as_micros() as u64);
            RungStats::add(&self.stats.cpu_us, super::stats::thread_cpu_us().saturating_sub(cpu));
            if let Some(result) = result {
                return result;
            }
        }
        // Feeder vanished without End: it failed; it reports the error itself.
        Ok(())
    }

    /// One input; `Some` when the run is over for this rendition.
    fn on_input(&mut self, msg: RungInput) -> Option<Result<(), PipelineError>> {
        let result = match msg {
            RungInput::Video { picture, g, read_at } => self.on_picture(picture, g, read_at),
            RungInput::Audio(packet) => {
                self.forward(|| RungInput::Audio(packet.clone()));
                if self.shed {
                    return None;
                }
                self.segmenter.on_audio(&packet)
            }
            RungInput::AudioStart { params, time_base, from_k } => {
                self.forward(|| RungInput::AudioStart { params: params.clone(), time_base, from_k });
                self.segmenter.add_audio(params, time_base, from_k);
                Ok(())
            }
            RungInput::Boundary(cut) => {
                self.forward(|| RungInput::Boundary(cut));
                if let Cuts::Announced(queue) = &mut self.cuts {
                    queue.push_back(cut);
                    // A copying rendition uses none of them until it is told to encode
                    // from one, which comes with the latest few.
                    if matches!(self.copying, Copying::Yes) && queue.len() > 4 {
                        queue.pop_front();
                    }
                }
                Ok(())
            }
            RungInput::Source { packet, starts, new_timeline } => {
                if new_timeline {
                    self.segmenter.new_timeline();
                }
                self.on_source(packet, starts)
            }
            RungInput::EncodeFrom(cut) => self.encode_from(cut),
            RungInput::End { end, last_boundary } => {
                self.forward(|| RungInput::End { end, last_boundary });
                return Some(if self.shed { Ok(()) } else { self.finish(end, last_boundary) });
            }
        };
        result.err().map(Err)
    }

    fn on_picture(&mut self, picture: Arc<Picture>, g: i64, read_at: Instant) -> Result<(), PipelineError> {
        let plan = self.grid.plan(g);
        match self.copying {
            Copying::Yes => return Ok(()),
            Copying::Until(at) => {
                if plan.slot.is_none_or(|s| self.grid.slot_time(s) < at) {
                    return Ok(());
                }
                self.copying = Copying::No;
            }
            Copying::No => {}
        }
        let Some(slot) = plan.slot else {
            RungStats::add(&self.stats.dropped, 1);
            self.captions.drop_picture(captions::of(picture.frame()));
            return Ok(());
        };
        if self.shed && self.children.is_empty() {
            return Ok(());
        }
        let mut scaled = self.scaler.scale(&picture).map_err(|e| self.encode_error(format!("scaling failed: {e}")))?;
        if let Some(merged) = self.captions.keep_picture(captions::of(scaled.frame())) {
            scaled = scaled.with_captions(&merged);
        }
        self.forward(|| RungInput::Video { picture: scaled.clone(), g, read_at });
        if self.shed {
            return Ok(());
        }
        if let Some(previous) = self.last_picture.clone() {
            RungStats::add(
                &self.stats.duplicated,
                plan.repeat_previous.end.saturating_sub(plan.repeat_previous.start) as u64,
            );
            for s in plan.repeat_previous {
                self.encode(&previous, s, read_at, Repeat::Yes)?;
            }
        }
        self.encode(&scaled, slot, read_at, Repeat::No)?;
        self.last_picture = Some(scaled);
        Ok(())
    }

    /// A copied source packet: segmented as it is while this rendition copies.
    fn on_source(&mut self, packet: Packet, starts: Option<i64>) -> Result<(), PipelineError> {
        if matches!(self.copying, Copying::No) {
            return Ok(());
        }
        if let Some(pts) = packet.pts() {
            let media = Q::new(pts, 90_000) + Q::new(1, 1) / self.grid.rate();
            let us = (media * 1_000_000).to_integer().max(0) as u64;
            self.stats.media_us.fetch_max(us, std::sync::atomic::Ordering::Relaxed);
        }
        self.segmenter.on_video(packet, starts)
    }

    /// The source stopped qualifying for copying: encode from boundary `cut` on, a new
    /// timeline in this rendition.
    fn encode_from(&mut self, cut: Cut) -> Result<(), PipelineError> {
        if self.encoder.is_none() {
            let encoder = open_encoder(&self.rendition, &self.settings, self.hls_time)
                .map_err(|e| encoder_error(&self.rendition, &self.settings, e))?;
            self.segmenter.switch_video(VideoTrack::of_encoder(&encoder));
            self.encoder = Some(encoder);
        }
        self.copying = Copying::Until(cut.at);
        Ok(())
    }

    fn finish(&mut self, end: Q, last_boundary: Option<Q>) -> Result<(), PipelineError> {
        if !matches!(self.copying, Copying::No) {
            // Still copying (or the run ended before the first picture to encode).
            return self.segmenter.finish(end);
        }
        if let Some(last) = self.last_picture.clone() {
            let now = Instant::now();
            for s in self.grid.tail(end, last_boundary) {
                RungStats::add(&self.stats.duplicated, 1);
                self.encode(&last, s, now, Repeat::Yes)?;
            }
        }
        self.encoder_mut().send_eof().map_err(|e| self.encode_error(format!("flush failed: {e}")))?;
        self.receive_packets()?;
        let end = self.grid.slot_time(self.grid.next_slot());
        self.segmenter.finish(end)
    }

    fn encoder_mut(&mut self) -> &mut ffmpeg::encoder::Video {
        self.encoder.as_mut().expect("opened before the first picture is encoded")
    }

    fn encode(
        &mut self,
        picture: &Arc<Picture>,
        slot: i64,
        read_at: Instant,
        repeat: Repeat,
    ) -> Result<(), PipelineError> {
        if self.shed {
            return Ok(());
        }
        RungStats::add(&self.stats.encoded, 1);
        self.read_times.push_back((slot, read_at));
        let mut frame = picture.reference();
        if repeat == Repeat::Yes {
            // Its caption bytes went out with the first copy; twice would garble them.
            captions::remove(&mut frame);
        } else if let Some(pending) = self.captions_by_sei.as_mut() {
            if let Some(cc) = captions::of(&frame) {
                pending.insert(slot, cc.to_vec());
                captions::remove(&mut frame);
            }
        }
        frame.set_pts(Some(slot));
        let t = self.grid.slot_time(slot);
        let starts = if slot == 0 { Some(0) } else { self.cuts.starts(t, self.next_k) };
        if let Some(k) = starts {
            if RungStats::flag(&self.stats.shed_requested) {
                self.read_times.pop_back();
                return self.shed_at(slot, k);
            }
            frame.set_kind(ffmpeg::picture::Type::I);
            self.forced.push_back((slot, k));
            self.next_k = k + 1;
        } else {
            frame.set_kind(ffmpeg::picture::Type::None);
        }
        self.encoder_mut().send_frame(&frame).map_err(|e| self.encode_error(format!("encoding failed: {e}")))?;
        if let Some(emulated) = self.stats.emulated.get() {
            RungStats::add(&self.stats.cpu_us, emulated.spend().as_micros() as u64);
        }
        self.receive_packets()
    }

    /// Sheds this rendition at the boundary of segment `k` (slot `slot`): the encoder is
    /// drained into the segment before it, which ends there; nothing is encoded after.
    fn shed_at(&mut self, slot: i64, k: i64) -> Result<(), PipelineError> {
        tracing::error!(rendition = %self.rendition.label, segment = k, "rendition shed under overload: \
            its playlists end here and the masters no longer list it");
        self.shed = true;
        self.stats.shed.store(true, std::sync::atomic::Ordering::Relaxed);
        self.last_picture = None;
        if slot > 0 {
            self.encoder_mut().send_eof().map_err(|e| self.encode_error(format!("flush failed: {e}")))?;
            self.receive_packets()?;
        }
        self.segmenter.shed(self.grid.slot_time(slot), k)
    }

    fn receive_packets(&mut self) -> Result<(), PipelineError> {
        loop {
            let mut packet = Packet::empty();
            match drain(self.encoder_mut().receive_packet(&mut packet)) {
                Ok(true) => {}
                Ok(false) => return Ok(()),
                Err(e) => return Err(self.encode_error(format!("encoder error: {e}"))),
            }
            self.measure(packet.pts());
            let packet = self.with_caption_sei(packet);
            let starts = match (packet.pts(), self.forced.front()) {
                (Some(pts), Some(&(slot, k))) if pts >= slot => {
                    self.forced.pop_front();
                    Some(k)
                }
                _ => None,
            };
            self.segmenter.on_video(packet, starts)?;
        }
    }

    /// The encoder output the frame of `slot`: media time and lag so far.
    fn measure(&mut self, slot: Option<i64>) {
        let Some(slot) = slot else { return };
        let mut read_at = None;
        while self.read_times.front().is_some_and(|&(s, _)| s <= slot) {
            read_at = self.read_times.pop_front().map(|(_, t)| t);
        }
        if let Some(t) = read_at {
            self.stats.lag_us.store(t.elapsed().as_micros() as u64, std::sync::atomic::Ordering::Relaxed);
        }
        let media = self.grid.slot_time(slot + 1);
        let us = (media * 1_000_000).to_integer().max(0) as u64;
        self.stats.media_us.fetch_max(us, std::sync::atomic::Ordering::Relaxed);
    }

    /// An encoded frame whose picture had caption bytes the encoder could not write: the
    /// same frame with them as A/53 SEI.
    fn with_caption_sei(&mut self, packet: Packet) -> Packet {
        let (Some(pending), Some(pts)) = (self.captions_by_sei.as_mut(), packet.pts()) else { return packet };
        let Some(cc) = pending.remove(&pts) else { return packet };
        // Frames an encoder never output (none should) do not pile up.
        pending.retain(|&slot, _| slot > pts - 600);
        let Some(data) = packet.data() else { return packet };
        let mut out = Packet::copy(&captions::insert_sei(data, &cc));
        // SAFETY: both packets are valid; this copies timestamps, flags and side data only.
        unsafe {
            use ffmpeg::packet::{Mut as _, Ref as _};
            ffmpeg::ffi::av_packet_copy_props(out.as_mut_ptr(), packet.as_ptr());
        }
        out
    }

    fn forward(&mut self, mut msg: impl FnMut() -> RungInput) {
        // A child that died reports its own error; keep feeding the others.
        self.children.retain(|child| child.send(msg()).is_ok());
    }

    fn encode_error(&self, reason: String) -> PipelineError {
        PipelineError::Encode { rung: self.rendition.label.clone(), reason }
    }
}

fn encoder_error(r: &Rendition, s: &VideoSettings, e: ffmpeg::Error) -> PipelineError {
    PipelineError::Encode { rung: r.label.clone(), reason: format!("cannot open encoder {}: {e}", s.encoder.name) }
}

/// Opens the H.264 encoder for one rendition: CFR time base, keyframes only where we
/// force them (no scene cuts, no periodic IDR within a segment), closed GOPs, in-band
/// SPS/PPS (no global header) so every segment decodes on its own.
fn open_encoder(r: &Rendition, s: &VideoSettings, hls_time: i64) -> Result<ffmpeg::encoder::Video, ffmpeg::Error> {
    let codec = ffmpeg::encoder::find_by_name(&s.encoder.name).ok_or(ffmpeg::Error::EncoderNotFound)?;
    let mut enc = codec::context::Context::new_with_codec(codec).encoder().video()?;
    enc.set_width(r.encoded_width);
    enc.set_height(r.encoded_height);
    enc.set_format(s.pixel_format);
    let rate = ffmpeg::Rational::new(*r.rate.numer() as i32, *r.rate.denom() as i32);
    enc.set_time_base(rate.invert());
    enc.set_frame_rate(Some(rate));
    let segment_frames = (r.rate * hls_time).ceil().to_integer().max(1) as u32;
    // Longer than any segment can be, so the encoder never inserts a periodic keyframe.
    enc.set_gop(segment_frames * 10 + 10);
    let mut opts = Dictionary::new();
    opts.set("threads", &s.threads.to_string());
    if s.encoder.family == EncoderFamily::X264 {
        opts.set("preset", &s.preset);
        opts.set("crf", "23");
        opts.set("forced-idr", "1");
        // force-cfr: every rendition's frames are constant-rate by construction (one per
        // tick of its time base), so x264 need not buffer one extra frame to learn each
        // frame's duration. The decoded pictures are bit-identical either way (checked with
        // ffmpeg's md5 muxer); it saves one lookahead frame per rendition (3 MB at 720p).
        // With LL-HLS parts, every frame x264 holds back delays its part: a 5-frame lookahead
        // (veryfast's is 10), no sync lookahead and sliced instead of frame threads hold 5
        // frames (167 ms at 30 fps) instead of 10 to 17, for +4.2 % BD-rate at 720p and +4.8 %
        // at 360p (measured: docs/ll-hls.md#encoder-delay). mbtree stays: with VBV on every
        // capped rung, turning it off gives no delay back and costs +10 to 21 %.
        let params = if s.low_latency {
            "scenecut=0:open-gop=0:force-cfr=1:rc-lookahead=5:sync-lookahead=0:sliced-threads=1"
        } else {
            "scenecut=0:open-gop=0:force-cfr=1"
        };
        opts.set("x264-params", params);
    } else {
        opts.set("preset", &s.preset);
        opts.set("forced-idr", "1");
        opts.set("no-scenecut", "1");
    }
    if captions::encoder_writes_captions(&s.encoder.name) {
        // Caption bytes attached to a frame come out as A/53 SEI in that frame (the default,
        // said here because every rendition relies on it); other encoders get the SEI from us.
        opts.set("a53cc", "1");
    }
    if let Some(kbps) = r.max_kbps {
        opts.set("maxrate", &format!("{}k", kbps));
        opts.set("bufsize", &format!("{}k", kbps as u64 * 2));
    }
    enc.open_with(opts)
}
