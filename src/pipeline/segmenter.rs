//! Cuts one rendition into segments in memory: video packets from its encoder (or the
//! source's own, for a copied ORIGINAL), the shared audio packets interleaved by time, a new
//! segment at each IDR that starts one. The muxing strategy is the stream's format: a fresh
//! MPEG-TS muxer per segment, or CMAF ([`CmafMux`]: video-only `N.m4s` with the audio
//! rendition's segment cut beside it at the same boundary).

use std::collections::VecDeque;
use std::io::Write;
use std::sync::{Arc, Mutex};

use ffmpeg::codec::Parameters;
use ffmpeg::format::context::{Output, StreamIo};
use ffmpeg::{Packet, Rational};
use ffmpeg_next as ffmpeg;

use super::clock::Q;
use super::cmaf::{CmafMux, CmafSegment};
use super::sink::{MediaOutput, Sink};
use super::PipelineError;
use crate::hls::media::RenditionKind;

/// Added to every timestamp so that B-frame decode times before the first presentation
/// time stay positive in the transport stream.
const TS_OFFSET_90K: i64 = 10 * 90_000;

/// The video stream a segment carries: its parameters, and the time base of the packets'
/// timestamps.
#[derive(Clone)]
pub struct VideoTrack {
    pub params: Parameters,
    pub time_base: Rational,
}

impl VideoTrack {
    pub fn of_encoder(encoder: &ffmpeg::encoder::Video) -> VideoTrack {
        VideoTrack { params: Parameters::from(encoder), time_base: encoder.time_base() }
    }

    /// Seconds of `ticks` in this time base.
    fn seconds(&self, ticks: i64) -> Q {
        Q::new(ticks * self.time_base.numerator() as i64, self.time_base.denominator() as i64)
    }
}

pub struct Segmenter {
    rung: usize,
    label: String,
    first_n: u64,
    video: VideoTrack,
    /// A different video stream from the next segment on (a copied ORIGINAL that is encoded
    /// from now on); that segment starts a new timeline.
    next_video: Option<VideoTrack>,
    /// The next segment starts a new timeline (CODECS read again from its first IDR).
    new_timeline: bool,
    /// The segment being opened starts a new timeline.
    discontinuity: bool,
    audio: Option<(Parameters, Rational)>,
    /// Audio that began after the source opened: muxed from run-local segment `.2` on.
    pending_audio: Option<(Parameters, Rational, i64)>,
    current: Option<OpenSegment>,
    audio_queue: VecDeque<Packet>,
    /// Time of the latest video decode timestamp written; audio up to it may follow.
    video_clock: Option<Q>,
    /// `avc1.PPCCLL` from the first keyframe's SPS.
    video_codec: Option<String>,
    sink: Sink,
    /// Added to every timestamp: [`TS_OFFSET_90K`] plus the run's place on the stream's
    /// timeline, in seconds.
    shift: Q,
    /// CMAF output (`HLS_SEGMENT_FORMAT=cmaf`); `None`: MPEG-TS.
    cmaf: Option<CmafMux>,
    /// LL-HLS: where the open segment's video parts ended (run time) that the audio has not
    /// reached yet. The audio, which arrives later than the video, is cut there too once it
    /// gets there: audio parts then follow the video's, and the audio segment does not end in
    /// a sliver of a part (hls.js skipped an 85 ms last audio part and stalled when audio
    /// parts were cut on their own).
    video_part_ends: VecDeque<Q>,
    /// The open segment's first presentation time minus its first decode time.
    reorder: Q,
}

struct OpenSegment {
    k: i64,
    /// Run time of its first picture.
    start: Q,
    discontinuity: bool,
    body: Body,
    has_audio: bool,
}

/// A segment being muxed, in the stream's format.
enum Body {
    Ts { output: Output, buffer: SharedBuffer, video_tb: Rational, audio_tb: Rational },
    Cmaf(Box<CmafSegment>),
}

impl Segmenter {
    pub fn new(
        rung: usize,
        label: String,
        first_n: u64,
        video: VideoTrack,
        audio: Option<(Parameters, Rational)>,
        sink: Sink,
    ) -> Self {
        Segmenter {
            rung,
            label,
            first_n,
            video,
            next_video: None,
            new_timeline: false,
            discontinuity: false,
            audio,
            pending_audio: None,
            current: None,
            audio_queue: VecDeque::new(),
            video_clock: None,
            video_codec: None,
            sink,
            shift: Q::new(TS_OFFSET_90K, 90_000),
            cmaf: None,
            video_part_ends: VecDeque::new(),
            reorder: Q::from_integer(0),
        }
    }

    /// Muxes CMAF instead of MPEG-TS; `part_target`: also cut LL-HLS parts of at most that
    /// many seconds as the encoder produces the frames.
    pub fn cmaf(mut self, part_target: Option<Q>) -> Self {
        let (w, h) = picture_size(&self.video.params);
        let mux = CmafMux::new(w, h);
        self.cmaf = Some(match part_target {
            Some(target) => mux.with_parts(target),
            None => mux,
        });
        self
    }

    /// Shifts every timestamp by `offset` seconds more: a restarted run continues the
    /// stream's timeline where the last published group ended.
    pub fn shifted_by(mut self, offset: Q) -> Self {
        self.shift += offset;
        self
    }

    /// The next segment starts a new timeline (new sequence parameters in copied video).
    pub fn new_timeline(&mut self) {
        self.new_timeline = true;
    }

    /// From the next segment on, video packets come as `track` describes (after a
    /// discontinuity).
    pub fn switch_video(&mut self, track: VideoTrack) {
        self.next_video = Some(track);
    }

    /// A video packet; `starts` is the run-local segment number when it is an IDR that
    /// starts one.
    pub fn on_video(&mut self, mut packet: Packet, starts: Option<i64>) -> Result<(), PipelineError> {
        let pts = packet.pts().unwrap_or(0);
        if let Some(k) = starts {
            let next = self.next_video.take();
            let track = next.as_ref().unwrap_or(&self.video);
            let (start, first_dts) = (track.seconds(pts), track.seconds(packet.dts().unwrap_or(pts)));
            // Video parts are cut by decode time; the audio they line up with is cut by
            // presentation time, this much later.
            self.reorder = start - first_dts;
            self.write_audio_before(start)?;
            // A new video stream starts a new timeline: its decode times say nothing about
            // where the old one's last frame ends.
            self.close_at(start, next.is_none().then_some(first_dts))?;
            if let Some(track) = next {
                if let Some(cmaf) = self.cmaf.as_mut() {
                    let (w, h) = picture_size(&track.params);
                    cmaf.new_video(w, h);
                }
                self.video = track;
                self.new_timeline = true;
            }
            if std::mem::take(&mut self.new_timeline) {
                self.video_codec = None;
                self.discontinuity = true;
            }
            self.open(k, start)?;
        }
        if self.video_codec.is_none() && packet.is_key() {
            let sps = avc1_codec(packet.data().unwrap_or(&[]));
            self.video_codec = Some(sps.unwrap_or_else(|| "avc1.64001f".to_string()));
        }
        let Some(seg) = self.current.as_mut() else {
            // Packets before the first IDR cannot be decoded on their own: drop them.
            return Ok(());
        };
        let dts = packet.dts().unwrap_or(pts);
        self.video_clock = Some(self.video.seconds(dts));
        packet.set_stream(0);
        match &mut seg.body {
            Body::Cmaf(body) => {
                let (dts, pts) = (self.video.seconds(dts) + self.shift, self.video.seconds(pts) + self.shift);
                let cmaf = self.cmaf.as_mut().expect("CMAF body only with a CMAF muxer");
                let n = self.first_n + seg.k as u64;
                let part = cmaf
                    .video_part(n, body, dts)
                    .map_err(|reason| PipelineError::Mux { rung: self.label.clone(), reason })?;
                if let Some(chunk) = part {
                    let kind = RenditionKind::Video(self.rung);
                    let (start, discontinuity) = (seg.start, seg.discontinuity);
                    self.sink.send(MediaOutput::Part { kind, n, start, discontinuity, chunk });
                    self.video_part_ends.push_back(dts - self.shift + self.reorder);
                }
                body.push_video(packet.data().unwrap_or(&[]), dts, pts, packet.is_key());
            }
            Body::Ts { .. } => {
                write(seg, &mut packet, self.video.time_base, 0, self.shift).map_err(|e| self.mux_error(e))?
            }
        }
        if let Some(clock) = self.video_clock {
            self.write_audio_before(clock)?;
        }
        Ok(())
    }

    /// Audio that began after the source opened: segments from run-local number `from_k` on
    /// carry it (each segment has its own PAT/PMT, so earlier ones stay video-only).
    pub fn add_audio(&mut self, params: Parameters, time_base: Rational, from_k: i64) {
        if self.audio.is_none() {
            self.pending_audio = Some((params, time_base, from_k));
        }
    }

    pub fn on_audio(&mut self, packet: &Packet) -> Result<(), PipelineError> {
        self.audio_queue.push_back(packet.clone());
        if let Some(clock) = self.video_clock {
            self.write_audio_before(clock)?;
        }
        Ok(())
    }

    /// The rendition is shed (overload): the segment open now ends at run time `end`, the
    /// publisher learns that groups from run-local segment `k` on come without it.
    pub fn shed(&mut self, end: Q, k: i64) -> Result<(), PipelineError> {
        self.finish(end)?;
        self.sink.send(MediaOutput::RenditionShed { rung: self.rung, n: self.first_n + k.max(0) as u64 });
        Ok(())
    }

    /// End of the run: the last segment ends at run time `end` (after its last frame).
    pub fn finish(&mut self, end: Q) -> Result<(), PipelineError> {
        self.write_audio_before(end)?;
        self.audio_queue.clear();
        self.close(end)
    }

    fn write_audio_before(&mut self, limit: Q) -> Result<(), PipelineError> {
        let Some((_, audio_tb)) = self.audio else {
            // Audio waiting for its first segment stays queued until that segment opens.
            if self.pending_audio.is_none() {
                self.audio_queue.clear();
            }
            return Ok(());
        };
        let Some(seg) = self.current.as_mut() else {
            return Ok(());
        };
        while let Some(front) = self.audio_queue.front() {
            let t = Q::new(front.pts().unwrap_or(0) * audio_tb.numerator() as i64, audio_tb.denominator() as i64);
            if t >= limit {
                break;
            }
            let mut packet = self.audio_queue.pop_front().expect("front exists");
            if let (Body::Cmaf(body), Some(cmaf)) = (&mut seg.body, self.cmaf.as_mut()) {
                let Some(rate) = cmaf.audio_rate() else { continue };
                // The audio rendition's segments start within one AAC frame of the video's:
                // audio read before a run's first keyframe ends before its first segment.
                if t + Q::new(1024, i64::from(rate)) >= seg.start {
                    let n = self.first_n + seg.k as u64;
                    let (start, discontinuity) = (seg.start, seg.discontinuity);
                    let mut cut = Vec::new();
                    while self.video_part_ends.front().is_some_and(|&end| end <= t) {
                        self.video_part_ends.pop_front();
                        cut.extend(cmaf.audio_part(n, body, true));
                    }
                    body.push_audio(packet.data().unwrap_or(&[]), t + self.shift, rate);
                    cut.extend(cmaf.audio_part(n, body, false));
                    for chunk in cut {
                        let kind = RenditionKind::Audio;
                        self.sink.send(MediaOutput::Part { kind, n, start, discontinuity, chunk });
                    }
                }
                continue;
            }
            packet.set_stream(1);
            if let Err(e) = write(seg, &mut packet, audio_tb, 1, self.shift) {
                return Err(PipelineError::Mux { rung: self.label.clone(), reason: e.to_string() });
            }
        }
        Ok(())
    }

    fn open(&mut self, k: i64, start: Q) -> Result<(), PipelineError> {
        if self.pending_audio.as_ref().is_some_and(|(_, _, from_k)| k >= *from_k) {
            let (params, tb, _) = self.pending_audio.take().expect("checked");
            self.audio = Some((params, tb));
        }
        if let Some(cmaf) = self.cmaf.as_mut() {
            if let Some((params, _)) = &self.audio {
                if cmaf.audio_rate().is_none() {
                    cmaf.set_audio(extradata(params)).map_err(|reason| PipelineError::Mux {
                        rung: self.label.clone(),
                        reason: format!("{reason}: set HLS_SEGMENT_FORMAT=ts for this source"),
                    })?;
                }
            }
            let has_audio = self.audio.is_some();
            let discontinuity = std::mem::take(&mut self.discontinuity);
            let body = Body::Cmaf(Box::default());
            self.current = Some(OpenSegment { k, start, discontinuity, body, has_audio });
            return Ok(());
        }
        let buffer = SharedBuffer::default();
        let io = StreamIo::from_write(buffer.clone()).map_err(|e| self.mux_error(e))?;
        let mut output = ffmpeg::format::output_to_stream(io, None, Some("mpegts")).map_err(|e| self.mux_error(e))?;
        {
            let mut st =
                output.add_stream(ffmpeg::encoder::find(ffmpeg::codec::Id::None)).map_err(|e| self.mux_error(e))?;
            st.set_parameters(self.video.params.clone());
            st.set_time_base(self.video.time_base);
        }
        if let Some((params, tb)) = &self.audio {
            let mut st =
                output.add_stream(ffmpeg::encoder::find(ffmpeg::codec::Id::None)).map_err(|e| self.mux_error(e))?;
            st.set_parameters(params.clone());
            st.set_time_base(*tb);
        }
        // SAFETY: codec_tag must be 0 so the muxer picks its own tag for each stream.
        unsafe {
            for i in 0..(*output.as_ptr()).nb_streams as usize {
                (*(**(*output.as_mut_ptr()).streams.add(i)).codecpar).codec_tag = 0;
            }
        }
        // Group audio frames into PES packets up to 0.7 s apart (as the ffmpeg CLI does);
        // otherwise every 21 ms AAC frame gets its own PES header and padding.
        // SAFETY: plain field write before the header is written.
        unsafe { (*output.as_mut_ptr()).max_delay = 700_000 };
        // Each segment starts with PAT and PMT; repeating them every 100 ms inside a
        // segment only costs bytes (players start at segment boundaries).
        let mut opts = ffmpeg::Dictionary::new();
        opts.set("pat_period", "3600");
        opts.set("sdt_period", "3600");
        // Every segment is a fresh muxer, so each PID's continuity counter restarts at 0;
        // without the discontinuity indicator on each PID's first packet, a demuxer reading
        // the segments back to back (ffmpeg's HLS input) flags the previous segment's last
        // packet as corrupt.
        opts.set("mpegts_flags", "+initial_discontinuity");
        output.write_header_with(opts).map_err(|e| self.mux_error(e))?;
        let video_tb = output.stream(0).expect("video stream").time_base();
        let audio_tb = output.stream(1).map_or(video_tb, |s| s.time_base());
        let has_audio = self.audio.is_some();
        let discontinuity = std::mem::take(&mut self.discontinuity);
        let body = Body::Ts { output, buffer, video_tb, audio_tb };
        self.current = Some(OpenSegment { k, start, discontinuity, body, has_audio });
        Ok(())
    }

    /// Closes the open segment at run time `end`; `next_dts`: the decode time of the packet
    /// that opens the next one (run time), if any.
    fn close_at(&mut self, end: Q, next_dts: Option<Q>) -> Result<(), PipelineError> {
        let Some(seg) = self.current.take() else {
            return Ok(());
        };
        // The audio up to the segment's end went in just before: what is left of the audio
        // is its last part.
        self.video_part_ends.clear();
        let duration = end - seg.start;
        let start = seg.start;
        let n = self.first_n + seg.k as u64;
        let (bytes, cmaf, has_audio) = match seg.body {
            Body::Ts { mut output, buffer, .. } => {
                output.write_trailer().map_err(|e| self.mux_error(e))?;
                drop(output);
                (buffer.take(), None, seg.has_audio)
            }
            Body::Cmaf(body) => {
                let cmaf = self.cmaf.as_mut().expect("CMAF body only with a CMAF muxer");
                let shift = self.shift;
                let (data, mut out) = cmaf
                    .close(n, *body, end + shift, next_dts.map(|d| d + shift))
                    .map_err(|reason| PipelineError::Mux { rung: self.label.clone(), reason })?;
                // The last parts go out before the segment they complete.
                let last_audio = out.audio.as_mut().and_then(|a| a.last_part.take());
                let parts =
                    [(RenditionKind::Video(self.rung), out.last_part.take()), (RenditionKind::Audio, last_audio)];
                for (kind, chunk) in parts {
                    if let Some(chunk) = chunk {
                        let discontinuity = seg.discontinuity;
                        self.sink.send(MediaOutput::Part { kind, n, start, discontinuity, chunk });
                    }
                }
                // A video rendition's own CODECS name its video only: the audio is a rendition
                // of its own, which the masters add.
                (data, Some(Box::new(out)), false)
            }
        };
        let codecs = match (&self.video_codec, has_audio) {
            (Some(video), true) => format!("{video},mp4a.40.2"),
            (Some(video), false) => video.clone(),
            (None, _) => String::new(),
        };
        self.sink.segment(self.rung, n, bytes, duration, start, codecs, seg.discontinuity, cmaf);
        Ok(())
    }

    fn close(&mut self, end: Q) -> Result<(), PipelineError> {
        self.close_at(end, None)
    }

    fn mux_error(&self, e: ffmpeg::Error) -> PipelineError {
        PipelineError::Mux { rung: self.label.clone(), reason: e.to_string() }
    }
}

/// The encoded picture size of a video stream.
fn picture_size(params: &Parameters) -> (u16, u16) {
    // SAFETY: reads two plain fields of the parameters this value owns.
    let (w, h) = unsafe { ((*params.as_ptr()).width, (*params.as_ptr()).height) };
    (w.clamp(0, 0xffff) as u16, h.clamp(0, 0xffff) as u16)
}

/// A stream's extradata (for AAC: its AudioSpecificConfig).
fn extradata(params: &Parameters) -> &[u8] {
    // SAFETY: extradata is extradata_size bytes owned by the parameters, which outlive the
    // returned slice.
    unsafe {
        let p = params.as_ptr();
        if (*p).extradata.is_null() || (*p).extradata_size <= 0 {
            return &[];
        }
        std::slice::from_raw_parts((*p).extradata, (*p).extradata_size as usize)
    }
}

fn write(
    seg: &mut OpenSegment,
    packet: &mut Packet,
    src_tb: Rational,
    stream: usize,
    shift: Q,
) -> Result<(), ffmpeg::Error> {
    let Body::Ts { output, video_tb, audio_tb, .. } = &mut seg.body else {
        unreachable!("only MPEG-TS segments are written through libav");
    };
    let dst_tb = if stream == 0 { *video_tb } else { *audio_tb };
    packet.rescale_ts(src_tb, dst_tb);
    let offset = (shift * dst_tb.denominator() as i64 / dst_tb.numerator() as i64).round().to_integer();
    packet.set_pts(packet.pts().map(|p| p + offset));
    packet.set_dts(packet.dts().map(|d| d + offset));
    packet.set_position(-1);
    packet.write(output).map(|_| ())
}

/// `avc1.PPCCLL` from the SPS in an Annex B access unit (profile_idc, constraint flags,
/// level_idc), as the master playlist's CODECS attribute wants it.
pub fn avc1_codec(annexb: &[u8]) -> Option<String> {
    let mut i = 0;
    while i + 3 < annexb.len() {
        if annexb[i] == 0 && annexb[i + 1] == 0 && annexb[i + 2] == 1 {
            let nal = annexb.get(i + 3..i + 7)?;
            if nal[0] & 0x1f == 7 {
                return Some(format!("avc1.{:02x}{:02x}{:02x}", nal[1], nal[2], nal[3]));
            }
            i += 3;
        } else {
            i += 1;
        }
    }
    None
}

/// A `Write` target that the muxer fills and we take back when the segment is closed.
#[derive(Clone, Default)]
struct SharedBuffer(Arc<Mutex<Vec<u8>>>);

impl SharedBuffer {
    fn take(&self) -> Vec<u8> {
        std::mem::take(&mut *self.0.lock().expect("buffer lock"))
    }
}

impl Write for SharedBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("buffer lock").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codecs_string_comes_from_the_sps() {
        // AUD, then SPS of High profile level 3.1 (0x64 0x00 0x1f).
        let au = [0, 0, 0, 1, 0x09, 0xf0, 0, 0, 0, 1, 0x67, 0x64, 0x00, 0x1f, 0xac, 0xd9];
        assert_eq!(avc1_codec(&au).as_deref(), Some("avc1.64001f"));
        assert_eq!(avc1_codec(&[0, 0, 1, 0x65, 1, 2, 3, 4]), None);
    }
}
