//! Audio: decoded once, resampled to planar float, encoded once to AAC; the packets are
//! shared by every rendition. Timestamps count samples from the first audio frame at or
//! after the first video frame, so audio stays continuous within a run. Audio that began
//! after the source opened starts at a segment boundary instead ([`AudioTranscoder::starting_at`]).

use std::collections::VecDeque;

use ffmpeg::format::Sample;
use ffmpeg::software::resampling;
use ffmpeg::util::channel_layout::ChannelLayout;
use ffmpeg::{codec, frame, Packet, Rational};
use ffmpeg_next as ffmpeg;

use super::clock::{SourceClock, Q};
use super::{drain, PipelineError};

#[derive(Debug, Clone)]
pub struct AudioSettings {
    pub codec: String,
    pub bitrate_kbps: u32,
}

pub struct AudioTranscoder {
    decoder: ffmpeg::decoder::Audio,
    stream_tb: Rational,
    resampler: Option<(ResamplerKey, resampling::Context)>,
    encoder: ffmpeg::encoder::Audio,
    out_rate: u32,
    out_layout: ChannelLayout,
    /// Resampled samples waiting to fill an encoder frame, one queue per channel.
    fifo: Vec<VecDeque<f32>>,
    next_pts: Option<i64>,
    frame_size: usize,
    decode_errors: u64,
    /// Audio that began late starts at this segment boundary: earlier audio is dropped and
    /// silence fills the gap up to the first sample, so the segment's audio starts with its
    /// video. `None`: output starts with the first audio frame at or after run time 0.
    late_start: Option<Q>,
}

/// Longest silence put before audio that began late. The boundary is chosen just ahead of
/// the video, so the gap is normally under one segment; timestamps further off are not
/// trusted to mean silence.
const MAX_LEAD_IN_SECONDS: i64 = 10;

type ResamplerKey = (Sample, u64, u32);

impl AudioTranscoder {
    pub fn new(stream: &ffmpeg::format::stream::Stream, settings: &AudioSettings) -> Result<Self, PipelineError> {
        let fail = |reason: String| PipelineError::Audio { reason };
        let ctx = codec::context::Context::from_parameters(stream.parameters()).map_err(|e| fail(e.to_string()))?;
        let decoder = ctx.decoder().audio().map_err(|e| fail(format!("no decoder for the audio stream: {e}")))?;
        let in_rate = decoder.rate();
        let out_rate = if in_rate == 44_100 || in_rate == 48_000 { in_rate } else { 48_000 };
        let channels = decoder.channels().clamp(1, 2) as i32;
        let out_layout = ChannelLayout::default(channels);

        let codec = ffmpeg::encoder::find_by_name(&settings.codec)
            .ok_or_else(|| fail(format!("audio encoder {} not found in this FFmpeg build", settings.codec)))?;
        let mut enc =
            codec::context::Context::new_with_codec(codec).encoder().audio().map_err(|e| fail(e.to_string()))?;
        enc.set_rate(out_rate as i32);
        enc.set_channel_layout(out_layout);
        enc.set_channels(channels);
        enc.set_format(Sample::F32(ffmpeg::format::sample::Type::Planar));
        enc.set_bit_rate(settings.bitrate_kbps as usize * 1000);
        enc.set_time_base(Rational::new(1, out_rate as i32));
        enc.set_flags(codec::Flags::GLOBAL_HEADER);
        let encoder = enc
            .open_with(ffmpeg::Dictionary::new())
            .map_err(|e| fail(format!("cannot open {}: {e}", settings.codec)))?;
        let frame_size = (encoder.frame_size() as usize).max(1);
        Ok(AudioTranscoder {
            decoder,
            stream_tb: stream.time_base(),
            resampler: None,
            encoder,
            out_rate,
            out_layout,
            fifo: vec![VecDeque::new(); channels as usize],
            next_pts: None,
            frame_size,
            decode_errors: 0,
            late_start: None,
        })
    }

    /// For audio that began after the source opened: output starts exactly at run time
    /// `boundary` (a segment boundary), silence first if the audio itself starts later.
    pub fn starting_at(mut self, boundary: Q) -> Self {
        self.late_start = Some(boundary);
        self
    }

    pub fn encoder(&self) -> &ffmpeg::encoder::Audio {
        &self.encoder
    }

    pub fn time_base(&self) -> Rational {
        Rational::new(1, self.out_rate as i32)
    }

    pub fn on_packet(
        &mut self,
        packet: &Packet,
        clock: &SourceClock,
        out: &mut Vec<Packet>,
    ) -> Result<(), PipelineError> {
        if let Err(e) = self.decoder.send_packet(packet) {
            // A corrupt audio packet costs a few milliseconds of sound, never the stream.
            self.decode_errors += 1;
            if self.decode_errors == 1 || self.decode_errors.is_multiple_of(1000) {
                tracing::warn!(errors = self.decode_errors, "audio decode error: {e}");
            }
            return Ok(());
        }
        self.receive_frames(clock, out)
    }

    pub fn flush(&mut self, clock: &SourceClock, out: &mut Vec<Packet>) -> Result<(), PipelineError> {
        let _ = self.decoder.send_eof();
        self.receive_frames(clock, out)?;
        if self.next_pts.is_some() && !self.fifo[0].is_empty() {
            let n = self.fifo[0].len();
            self.encode_samples(n, out)?;
        }
        self.encoder.send_eof().map_err(|e| PipelineError::Audio { reason: e.to_string() })?;
        self.receive_packets(out)
    }

    fn receive_frames(&mut self, clock: &SourceClock, out: &mut Vec<Packet>) -> Result<(), PipelineError> {
        loop {
            let mut decoded = frame::Audio::empty();
            match drain(self.decoder.receive_frame(&mut decoded)) {
                Ok(true) => {}
                Ok(false) => return Ok(()),
                Err(e) => {
                    self.decode_errors += 1;
                    tracing::debug!("audio decode error: {e}");
                    return Ok(());
                }
            }
            if self.next_pts.is_none() {
                let Some(start) = self.start_time(&decoded, clock) else {
                    continue;
                };
                let rate = self.out_rate as i64;
                let at = (start * rate).round().to_integer();
                match self.late_start.map(|b| (b * rate).round().to_integer()) {
                    Some(from) if at - from <= MAX_LEAD_IN_SECONDS * rate => {
                        for queue in &mut self.fifo {
                            queue.extend(std::iter::repeat_n(0.0, (at - from).max(0) as usize));
                        }
                        self.next_pts = Some(from);
                    }
                    _ => self.next_pts = Some(at),
                }
            }
            self.resample(&decoded)?;
            while self.fifo[0].len() >= self.frame_size {
                self.encode_samples(self.frame_size, out)?;
            }
        }
    }

    /// Run time of a decoded frame; `None` (drop it) before the first video frame, or
    /// before the boundary for audio that began late.
    fn start_time(&self, decoded: &frame::Audio, clock: &SourceClock) -> Option<Q> {
        let pts = decoded.timestamp().or(decoded.pts())?;
        let absolute = Q::new(pts * self.stream_tb.numerator() as i64, self.stream_tb.denominator() as i64);
        let not_before = self.late_start.unwrap_or(Q::from_integer(0));
        clock.seconds_since_start(absolute).filter(|t| *t >= not_before)
    }

    fn resample(&mut self, decoded: &frame::Audio) -> Result<(), PipelineError> {
        let layout = if decoded.channel_layout().bits() == 0 {
            ChannelLayout::default(decoded.channels() as i32)
        } else {
            decoded.channel_layout()
        };
        let key = (decoded.format(), layout.bits(), decoded.rate());
        if self.resampler.as_ref().map(|(k, _)| *k) != Some(key) {
            let ctx = resampling::Context::get(
                decoded.format(),
                layout,
                decoded.rate(),
                Sample::F32(ffmpeg::format::sample::Type::Planar),
                self.out_layout,
                self.out_rate,
            )
            .map_err(|e| PipelineError::Audio { reason: format!("cannot resample: {e}") })?;
            self.resampler = Some((key, ctx));
        }
        let (_, resampler) = self.resampler.as_mut().expect("set above");
        let capacity = decoded.samples() as u64 * self.out_rate as u64 / decoded.rate().max(1) as u64 + 64;
        let mut converted =
            frame::Audio::new(Sample::F32(ffmpeg::format::sample::Type::Planar), capacity as usize, self.out_layout);
        let mut input = decoded.clone();
        input.set_channel_layout(layout);
        resampler
            .run(&input, &mut converted)
            .map_err(|e| PipelineError::Audio { reason: format!("resampling failed: {e}") })?;
        for (ch, queue) in self.fifo.iter_mut().enumerate() {
            queue.extend(&converted.plane::<f32>(ch)[..converted.samples()]);
        }
        Ok(())
    }

    fn encode_samples(&mut self, n: usize, out: &mut Vec<Packet>) -> Result<(), PipelineError> {
        let mut f = frame::Audio::new(Sample::F32(ffmpeg::format::sample::Type::Planar), n, self.out_layout);
        f.set_rate(self.out_rate);
        for (ch, queue) in self.fifo.iter_mut().enumerate() {
            for (dst, src) in f.plane_mut::<f32>(ch).iter_mut().zip(queue.drain(..n)) {
                *dst = src;
            }
        }
        let pts = self.next_pts.expect("started");
        f.set_pts(Some(pts));
        self.next_pts = Some(pts + n as i64);
        self.encoder.send_frame(&f).map_err(|e| PipelineError::Audio { reason: format!("encoding failed: {e}") })?;
        self.receive_packets(out)
    }

    fn receive_packets(&mut self, out: &mut Vec<Packet>) -> Result<(), PipelineError> {
        loop {
            let mut packet = Packet::empty();
            match drain(self.encoder.receive_packet(&mut packet)) {
                Ok(true) => out.push(packet),
                Ok(false) => return Ok(()),
                Err(e) => return Err(PipelineError::Audio { reason: format!("encoder error: {e}") }),
            }
        }
    }
}

/// The source's AAC-LC packets, unchanged, for every rendition (`--original-mode copy|auto`
/// with a qualifying source): only their timestamps move onto the run's clock, counted in
/// samples and continuous within a run as encoded audio's are. The MPEG-TS muxer frames each
/// with an ADTS header built from the stream's AudioSpecificConfig.
pub struct AudioCopier {
    params: codec::Parameters,
    stream_tb: Rational,
    rate: i64,
    next_pts: Option<i64>,
}

/// Samples per AAC-LC frame, when a packet does not say.
const AAC_FRAME: i64 = 1024;

impl AudioCopier {
    pub fn new(stream: &ffmpeg::format::stream::Stream) -> AudioCopier {
        AudioCopier::of(stream.parameters().clone(), stream.time_base())
    }

    fn of(params: codec::Parameters, stream_tb: Rational) -> AudioCopier {
        // SAFETY: a plain field of the stream's codec parameters.
        let rate = unsafe { (*params.as_ptr()).sample_rate.max(1) } as i64;
        AudioCopier { params, stream_tb, rate, next_pts: None }
    }

    pub fn parameters(&self) -> codec::Parameters {
        self.params.clone()
    }

    pub fn time_base(&self) -> Rational {
        Rational::new(1, self.rate as i32)
    }

    /// One source packet: dropped before the first video frame; otherwise placed right after
    /// the previous one unless the source's own time says there was a gap (more than 50 ms).
    pub fn on_packet(&mut self, packet: &Packet, clock: &SourceClock, out: &mut Vec<Packet>) {
        let Some(pts) = packet.pts().or(packet.dts()) else { return };
        let absolute = Q::new(pts * self.stream_tb.numerator() as i64, self.stream_tb.denominator() as i64);
        let Some(t) = clock.seconds_since_start(absolute) else { return };
        let at = (t * self.rate).round().to_integer();
        let out_pts = match self.next_pts {
            None if at < 0 => return,
            Some(next) if at <= next + self.rate / 20 => next,
            _ => at,
        };
        let duration = match packet.duration() {
            d if d > 0 => (Q::new(d * self.stream_tb.numerator() as i64, self.stream_tb.denominator() as i64)
                * self.rate)
                .round()
                .to_integer(),
            _ => AAC_FRAME,
        };
        self.next_pts = Some(out_pts + duration);
        let mut copy = packet.clone();
        copy.set_pts(Some(out_pts));
        copy.set_dts(Some(out_pts));
        copy.set_duration(duration);
        copy.set_position(-1);
        out.push(copy);
    }
}

/// How the source's audio reaches the renditions.
pub enum AudioPath {
    Encode(AudioTranscoder),
    Copy(AudioCopier),
}

impl AudioPath {
    /// What the segmenters mux: the stream's parameters and its packets' time base.
    pub fn output(&self) -> (codec::Parameters, Rational) {
        match self {
            AudioPath::Encode(a) => (codec::Parameters::from(a.encoder()), a.time_base()),
            AudioPath::Copy(c) => (c.parameters(), c.time_base()),
        }
    }

    pub fn on_packet(
        &mut self,
        packet: &Packet,
        clock: &SourceClock,
        out: &mut Vec<Packet>,
    ) -> Result<(), PipelineError> {
        match self {
            AudioPath::Encode(a) => a.on_packet(packet, clock, out),
            AudioPath::Copy(c) => {
                c.on_packet(packet, clock, out);
                Ok(())
            }
        }
    }

    pub fn flush(&mut self, clock: &SourceClock, out: &mut Vec<Packet>) -> Result<(), PipelineError> {
        match self {
            AudioPath::Encode(a) => a.flush(clock, out),
            AudioPath::Copy(_) => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packet_at(ms: i64) -> Packet {
        let mut p = Packet::new(8);
        p.set_pts(Some(ms));
        p.set_dts(Some(ms));
        p
    }

    #[test]
    fn copied_audio_counts_samples_through_jitter_and_keeps_real_gaps() {
        let mut params = codec::Parameters::new();
        // SAFETY: a plain field of parameters this test owns.
        unsafe { (*params.as_mut_ptr()).sample_rate = 48_000 };
        let mut copier = AudioCopier::of(params, Rational::new(1, 1000));
        let mut clock = SourceClock::new(Q::new(30, 1), Q::new(1, 1000));
        let mut out = Vec::new();
        copier.on_packet(&packet_at(990), &clock, &mut out);
        assert!(out.is_empty(), "nothing before the first video frame");
        clock.index(Some(1000));
        // Millisecond timestamps of 1024-sample frames (21.33 ms), then 300 ms missing.
        for ms in [1000, 1021, 1043, 1064, 1385] {
            copier.on_packet(&packet_at(ms), &clock, &mut out);
        }
        let pts: Vec<_> = out.iter().map(|p| p.pts().unwrap()).collect();
        assert_eq!(pts, [0, 1024, 2048, 3072, 18_480]);
        assert!(out.iter().all(|p| p.dts() == p.pts() && p.duration() == 1024));
    }
}
