//! ORIGINAL without re-encoding (`--original-mode copy|auto`): which sources qualify, the
//! source's H.264 packets in Annex B form, and where segments are cut when they follow the
//! source's keyframes.
//!
//! When ORIGINAL is copied, the reader thread chooses the segment boundaries from the source's
//! keyframes ([`KeyframeCuts`]) and announces each one to every rendition before any picture
//! at or after it, so the transcoded renditions force their IDR on the frame at that same
//! time and every rendition still cuts at the same presentation times (DESIGN invariant 2).

use std::collections::VecDeque;
use std::ffi::CString;
use std::sync::mpsc::SyncSender;

use ffmpeg::codec::{self, Parameters};
use ffmpeg::packet::Mut as _;
use ffmpeg::{Packet, Rational};
use ffmpeg_next as ffmpeg;

use super::captions::{self, CaptionServices};
use super::clock::{SourceClock, Q};
use super::cuts::KeyframeCuts;
use super::video::RungInput;
use super::PipelineError;

/// How the ORIGINAL rendition is produced (`HLS_ORIGINAL_MODE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OriginalMode {
    /// Decoded and re-encoded like every other rendition.
    Encode,
    /// The source's own packets; a source that does not qualify is encoded, logged at ERROR.
    Copy,
    /// The source's own packets when it qualifies, else encoded.
    Auto,
}

impl OriginalMode {
    pub fn as_str(self) -> &'static str {
        match self {
            OriginalMode::Encode => "encode",
            OriginalMode::Copy => "copy",
            OriginalMode::Auto => "auto",
        }
    }

    /// Logs why the source is not copied at the level the mode asks for: `auto` is the
    /// default, and a source it cannot copy (not H.264, 10-bit) is ordinary, not a fault.
    pub fn log_fallback(self, why: &str) {
        match self {
            OriginalMode::Copy => tracing::error!("original-mode copy: ORIGINAL is encoded instead: {why}"),
            _ => tracing::info!("original-mode auto: ORIGINAL is encoded: {why}"),
        }
    }

    /// Logs that a copied ORIGINAL switches to encoding mid-stream: a discontinuity players
    /// and recordings see, so a WARN even in `auto`.
    pub fn log_switch_to_encoding(self, why: &str) {
        match self {
            OriginalMode::Copy => tracing::error!("original-mode copy: ORIGINAL is encoded instead: {why}"),
            _ => tracing::warn!("original-mode auto: ORIGINAL is encoded: {why}"),
        }
    }
}

/// Why the source's video cannot be copied into ORIGINAL, if it cannot: only 8-bit 4:2:0
/// H.264 plays everywhere HLS does.
pub fn video_disqualified(params: &Parameters, format: ffmpeg::format::Pixel) -> Option<String> {
    use ffmpeg::format::Pixel;
    if params.id() != codec::Id::H264 {
        return Some(format!("the source video is {:?}, not H.264", params.id()));
    }
    if !matches!(format, Pixel::YUV420P | Pixel::YUVJ420P) {
        return Some(format!("the source video is {format:?}, not 8-bit 4:2:0"));
    }
    None
}

/// Whether the source's audio can be muxed unchanged: AAC-LC, mono or stereo, 44.1 or 48 kHz
/// (what OBS and hardware encoders send), with its AudioSpecificConfig (the MPEG-TS muxer
/// builds each frame's ADTS header from it).
pub fn audio_qualifies(params: &Parameters) -> bool {
    // SAFETY: reads plain fields and the extradata bytes libav owns for this stream.
    let (rate, channels, config) = unsafe {
        let p = &*params.as_ptr();
        let config = if p.extradata.is_null() || p.extradata_size < 2 {
            &[][..]
        } else {
            std::slice::from_raw_parts(p.extradata, p.extradata_size as usize)
        };
        (p.sample_rate, p.ch_layout.nb_channels, config.to_vec())
    };
    // audioObjectType 2 = AAC-LC (ISO 14496-3 §1.6.2.1).
    params.id() == codec::Id::AAC
        && config.first().is_some_and(|b| b >> 3 == 2)
        && matches!(rate, 44_100 | 48_000)
        && matches!(channels, 1 | 2)
}

/// The NAL units of an Annex B access unit, each from its header byte on (trailing zero
/// bytes of a following 4-byte start code included, which comparisons tolerate).
fn nal_units(annexb: &[u8]) -> impl Iterator<Item = &[u8]> + '_ {
    let starts: Vec<usize> = (0..annexb.len().saturating_sub(3))
        .filter(|&i| annexb[i] == 0 && annexb[i + 1] == 0 && annexb[i + 2] == 1)
        .map(|i| i + 3)
        .collect();
    let ends: Vec<usize> = starts.iter().skip(1).map(|s| s - 3).chain([annexb.len()]).collect();
    starts.into_iter().zip(ends).map(move |(s, e)| &annexb[s..e])
}

/// Whether an Annex B access unit is an IDR picture: the only place a segment of copied
/// video can start, since nothing after it refers to anything before it.
pub fn is_idr(annexb: &[u8]) -> bool {
    nal_units(annexb).any(|nal| nal.first().is_some_and(|h| h & 0x1f == 5))
}

/// The access unit's sequence parameter set, if it carries one.
fn sps(annexb: &[u8]) -> Option<&[u8]> {
    nal_units(annexb).find(|nal| nal.first().is_some_and(|h| h & 0x1f == 7))
}

/// libav's `h264_mp4toannexb` bitstream filter: length-prefixed NAL units (RTMP, FLV, MP4)
/// become start-code delimited ones with the SPS and PPS before every IDR, as MPEG-TS needs
/// them; an input that is Annex B already passes through.
pub struct AnnexB {
    ctx: *mut ffmpeg::ffi::AVBSFContext,
}

impl AnnexB {
    pub fn new(params: &Parameters, time_base: Rational) -> Result<AnnexB, String> {
        let name = CString::new("h264_mp4toannexb").expect("no NUL");
        // SAFETY: the filter context is allocated, filled and initialised here and freed in
        // Drop; the parameters are copied into it.
        unsafe {
            let filter = ffmpeg::ffi::av_bsf_get_by_name(name.as_ptr());
            if filter.is_null() {
                return Err("this FFmpeg build has no h264_mp4toannexb filter".into());
            }
            let mut ctx = std::ptr::null_mut();
            check(ffmpeg::ffi::av_bsf_alloc(filter, &mut ctx))?;
            let annexb = AnnexB { ctx };
            check(ffmpeg::ffi::avcodec_parameters_copy((*ctx).par_in, params.as_ptr()))?;
            (*ctx).time_base_in = time_base.into();
            check(ffmpeg::ffi::av_bsf_init(ctx))?;
            Ok(annexb)
        }
    }

    /// The stream's parameters after the filter (extradata in Annex B form).
    pub fn output_parameters(&self) -> Parameters {
        let mut out = Parameters::new();
        // SAFETY: par_out belongs to the initialised context; it is copied, not kept.
        unsafe { ffmpeg::ffi::avcodec_parameters_copy(out.as_mut_ptr(), (*self.ctx).par_out) };
        out
    }

    /// Filters one packet; what comes out goes to `out` (normally exactly one packet).
    pub fn convert(&mut self, packet: &Packet, out: &mut Vec<Packet>) -> Result<(), String> {
        let mut input = packet.clone();
        // SAFETY: send takes the reference held by `input` (leaving it blank); each
        // received packet is a fresh reference owned by the Packet it was written into.
        unsafe {
            check(ffmpeg::ffi::av_bsf_send_packet(self.ctx, input.as_mut_ptr()))?;
            loop {
                let mut filtered = Packet::empty();
                match ffmpeg::ffi::av_bsf_receive_packet(self.ctx, filtered.as_mut_ptr()) {
                    0 => out.push(filtered),
                    e if e == ffmpeg::ffi::AVERROR(ffmpeg::ffi::EAGAIN) || e == ffmpeg::ffi::AVERROR_EOF => {
                        return Ok(())
                    }
                    e => return Err(ffmpeg::Error::from(e).to_string()),
                }
            }
        }
    }
}

impl Drop for AnnexB {
    fn drop(&mut self) {
        // SAFETY: allocated by av_bsf_alloc; av_bsf_free accepts the pointer once.
        unsafe { ffmpeg::ffi::av_bsf_free(&mut self.ctx) };
    }
}

fn check(rc: i32) -> Result<(), String> {
    if rc < 0 {
        Err(ffmpeg::Error::from(rc).to_string())
    } else {
        Ok(())
    }
}

/// The reader's side of a copied ORIGINAL: each source video packet, before it is decoded,
/// becomes Annex B, gets its place on the run's clock, may start a segment (announced to every
/// rendition first) and goes to the ORIGINAL rendition's thread.
pub struct CopySource {
    mode: OriginalMode,
    annexb: AnnexB,
    cuts: KeyframeCuts,
    /// The ORIGINAL rendition's input (it is also one of the reader's roots).
    original: SyncSender<RungInput>,
    /// The source stream's time base.
    time_base: Q,
    /// Packets read before the first picture was decoded (the clock has no origin yet).
    held: VecDeque<Packet>,
    /// The sequence parameter set of the latest IDR: a new one (a resolution change) starts
    /// a new segment and timeline in ORIGINAL.
    sps: Option<Vec<u8>>,
    last_dts: Option<i64>,
    /// No packet presented at or after this run time is copied (`--duration`, the fragment
    /// limit).
    stop: Option<Q>,
    /// First segment number of the run, for logs.
    first_segment: u64,
    /// Caption services seen in the copied packets' SEI (they are never decoded).
    captions: CaptionServices,
}

/// 90 kHz ticks of a run time.
fn ticks(t: Q) -> i64 {
    (t * 90_000).round().to_integer()
}

impl CopySource {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        mode: OriginalMode,
        annexb: AnnexB,
        cuts: KeyframeCuts,
        original: SyncSender<RungInput>,
        time_base: Q,
        stop: Option<Q>,
        first_segment: u64,
    ) -> CopySource {
        CopySource {
            mode,
            annexb,
            cuts,
            original,
            time_base,
            held: VecDeque::new(),
            sps: None,
            last_dts: None,
            stop,
            first_segment,
            captions: CaptionServices::default(),
        }
    }

    /// The caption services the copied packets carried so far.
    pub fn captions(&self) -> CaptionServices {
        self.captions
    }

    pub fn cuts(&self) -> &KeyframeCuts {
        &self.cuts
    }

    /// A source video packet, before the decoder sees it. Returns the run time at which the
    /// run must end when the next boundary would pass the fragment limit.
    pub fn on_packet(
        &mut self,
        packet: &Packet,
        clock: &SourceClock,
        roots: &mut Vec<SyncSender<RungInput>>,
    ) -> Result<Option<Q>, PipelineError> {
        let mut filtered = Vec::new();
        self.annexb
            .convert(packet, &mut filtered)
            .map_err(|reason| PipelineError::Decode { reason: format!("h264_mp4toannexb: {reason}") })?;
        self.held.extend(filtered);
        Ok(self.release(clock, roots))
    }

    /// Dispatches the packets held until the clock had its origin (the first decoded picture).
    pub fn release(&mut self, clock: &SourceClock, roots: &mut Vec<SyncSender<RungInput>>) -> Option<Q> {
        let mut stop = None;
        while let Some(packet) = self.held.front() {
            let Some(pts) = packet.pts().or(packet.dts()) else {
                self.held.pop_front();
                continue;
            };
            let Some(t) = clock.place(pts) else { break };
            let packet = self.held.pop_front().expect("front exists");
            stop = stop.or(self.dispatch(packet, pts, t, roots));
        }
        stop
    }

    fn dispatch(&mut self, mut packet: Packet, pts: i64, t: Q, roots: &mut Vec<SyncSender<RungInput>>) -> Option<Q> {
        let data = packet.data().unwrap_or(&[]);
        if !(self.captions.cea608 && self.captions.cea708) {
            self.captions = self.captions.union(captions::in_access_unit(data));
        }
        let idr = is_idr(data);
        let new_sequence = match sps(data).filter(|_| idr) {
            Some(sps) if self.sps.as_deref().is_some_and(|old| old.trim_ascii_end() != sps.trim_ascii_end()) => {
                self.sps = Some(sps.to_vec());
                tracing::info!("the source's sequence parameters changed: ORIGINAL starts a new segment and timeline");
                true
            }
            Some(sps) => {
                self.sps.get_or_insert_with(|| sps.to_vec());
                false
            }
            None => false,
        };
        let plan = self.cuts.on_packet(t, idr, new_sequence);
        for cut in &plan.announce {
            roots.retain(|root| root.send(RungInput::Boundary(*cut)).is_ok());
        }
        if let Some(cut) = plan.encode_from {
            let n = self.first_segment + cut.k as u64;
            self.mode.log_switch_to_encoding(&format!(
                "no source keyframe for over twice the segment length (HLS_TIME_SECONDS); ORIGINAL is encoded \
                 from segment {n} on, after a discontinuity"
            ));
            let _ = self.original.send(RungInput::EncodeFrom(cut));
        }
        if let Some(at) = plan.stop_at {
            self.stop = Some(self.stop.map_or(at, |s| s.min(at)));
        }
        let Some(starts) = plan.copy.filter(|_| self.stop.is_none_or(|s| t < s)) else {
            return plan.stop_at;
        };
        // The source's own decode delay, on the picture's place on the grid; decode times
        // only ever go forward.
        let delay = Q::from_integer(pts - packet.dts().unwrap_or(pts)) * self.time_base;
        let mut dts = ticks(t - delay);
        if let Some(last) = self.last_dts {
            dts = dts.max(last + 1);
        }
        self.last_dts = Some(dts);
        packet.set_pts(Some(ticks(t).max(dts)));
        packet.set_dts(Some(dts));
        packet.set_duration(ticks(Q::from_integer(packet.duration().max(0)) * self.time_base));
        packet.set_position(-1);
        let new_timeline = new_sequence && starts.is_some();
        let _ = self.original.send(RungInput::Source { packet, starts, new_timeline });
        plan.stop_at
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idr_pictures_and_their_parameters_are_found_in_annex_b() {
        let idr = [0, 0, 0, 1, 0x09, 0xf0, 0, 0, 0, 1, 0x67, 0x64, 0, 0, 1, 0x68, 0xee, 0, 0, 1, 0x65, 0x88];
        let p = [0, 0, 0, 1, 0x09, 0x30, 0, 0, 1, 0x41, 0x9a];
        assert!(is_idr(&idr));
        assert!(!is_idr(&p));
        assert_eq!(sps(&idr).map(|s| s.trim_ascii_end()), Some(&[0x67, 0x64][..]));
        assert_eq!(sps(&p), None);
    }
}
