//! The CMAF muxing strategy of one rendition's segmenter: collects a segment's video samples
//! (and the shared audio's, for the audio rendition) and, when the segment closes, turns them
//! into `N.m4s` fragments with their exact timing, and names the init segments they need.
//!
//! With LL-HLS parts on (`HLS_PART_SECONDS`), the segment is also cut into parts while it is
//! collected: each part a `moof` + `mdat` chunk of the samples since the last one, cut as soon
//! as one more sample would make it longer than the part target. The segment's bytes are then
//! exactly its parts back to back, so a part is a byte range of its segment.
//!
//! Times come in as seconds on the stream's timeline (the segmenter's shift included, so never
//! negative) and are kept as integer ticks: 90 kHz for video, the sample rate for audio. A
//! segment's `ticks` is the difference of two rounded boundaries, so consecutive segments
//! tile the timeline exactly.

use bytes::Bytes;

use super::clock::Q;
use super::fmp4::{self, AudioInit, Sample, VideoInit};
use super::sink::{AudioOutput, Chunk, CmafOutput};
use crate::hls::media::{init_name, SegmentMedia};

/// Video timescale: the MPEG clock, which every common frame rate divides.
pub const VIDEO_TIMESCALE: u32 = 90_000;

/// AAC frames are 1024 samples: the duration of a last frame whose successor is unknown.
const AAC_FRAME: u32 = 1024;

/// `t` seconds as ticks of `timescale`, rounded to the nearest.
fn ticks(t: Q, timescale: u32) -> i64 {
    (t * i64::from(timescale)).round().to_integer()
}

/// The init segment a rendition's segments refer to now.
#[derive(Clone)]
struct Init {
    name: String,
    bytes: Bytes,
    /// What it was built from: a change needs a new one.
    key: Vec<u8>,
}

/// A rendition's CMAF state across segments.
pub struct CmafMux {
    width: u16,
    height: u16,
    video_init: Option<Init>,
    /// The audio track: its AudioSpecificConfig and the init built from it, once segments carry
    /// audio.
    audio: Option<(u32, Init)>,
    /// Where the audio rendition's last segment ended, ticks: the next one continues there.
    audio_end: Option<i64>,
    /// LL-HLS part target (`HLS_PART_SECONDS`); `None`: one `moof` + `mdat` per segment.
    part_target: Option<Q>,
}

/// What of one track of a segment was already cut into parts.
#[derive(Default)]
struct Cut {
    /// Samples and their bytes in the segment's sample data.
    samples: usize,
    bytes: usize,
    /// Parts so far, and their ticks.
    parts: u32,
    ticks: u64,
    /// The parts' chunks back to back: the start of the segment's bytes.
    data: Vec<u8>,
}

/// One segment being collected.
#[derive(Default)]
pub struct CmafSegment {
    /// (decode time, presentation time) in video ticks, sync flag and size in `video_data`,
    /// for each access unit.
    video: Vec<(i64, i64, bool, u32)>,
    video_data: Vec<u8>,
    /// The parameter sets of the segment's first access unit.
    sps_pps: Option<(Vec<u8>, Vec<u8>)>,
    /// Presentation time in audio ticks of each AAC frame.
    audio: Vec<i64>,
    audio_sizes: Vec<u32>,
    audio_data: Vec<u8>,
    /// Decode time of the first audio frame in audio ticks, once a part or the close fixed it.
    audio_first: Option<i64>,
    /// LL-HLS: what was already cut into parts.
    video_cut: Cut,
    audio_cut: Cut,
}

impl CmafSegment {
    /// A video access unit (Annex B) at `dts`/`pts` seconds on the stream's timeline.
    pub fn push_video(&mut self, annexb: &[u8], dts: Q, pts: Q, key: bool) {
        if self.video.is_empty() {
            let nals = fmp4::annexb_nals(annexb);
            let find = |t| nals.iter().find(|n| fmp4::nal_type(n) == t).map(|n| n.to_vec());
            self.sps_pps = find(7).zip(find(8));
        }
        let before = self.video_data.len();
        fmp4::length_prefixed(annexb, &mut self.video_data);
        let size = (self.video_data.len() - before) as u32;
        self.video.push((ticks(dts, VIDEO_TIMESCALE), ticks(pts, VIDEO_TIMESCALE), key, size));
    }

    /// An AAC frame at `pts` seconds on the stream's timeline.
    pub fn push_audio(&mut self, frame: &[u8], pts: Q, sample_rate: u32) {
        self.audio.push(ticks(pts, sample_rate));
        self.audio_sizes.push(frame.len() as u32);
        self.audio_data.extend_from_slice(frame);
    }
}

/// Sample rate and channel count from an AudioSpecificConfig (ISO 14496-3 §1.6.2.1).
pub fn asc_rate_channels(asc: &[u8]) -> Option<(u32, u16)> {
    const RATES: [u32; 13] = [96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350];
    let bits = u64::from_be_bytes({
        let mut b = [0u8; 8];
        let n = asc.len().min(8);
        b[..n].copy_from_slice(&asc[..n]);
        b
    });
    let field = |at: u32, len: u32| ((bits >> (64 - at - len)) & ((1 << len) - 1)) as u32;
    let (mut at, object) = (5, field(0, 5));
    if object == 31 {
        at += 6;
    }
    let index = field(at, 4);
    at += 4;
    let rate = if index == 15 {
        at += 24;
        field(at - 24, 24)
    } else {
        *RATES.get(index as usize)?
    };
    let channels = field(at, 4) as u16;
    (asc.len() >= 2 && rate > 0).then_some((rate, if channels == 0 { 2 } else { channels }))
}

impl CmafMux {
    pub fn new(width: u16, height: u16) -> Self {
        CmafMux { width, height, video_init: None, audio: None, audio_end: None, part_target: None }
    }

    /// Cuts every segment into LL-HLS parts of at most `target` seconds as it is collected.
    pub fn with_parts(mut self, target: Q) -> Self {
        self.part_target = Some(target);
        self
    }

    /// The part target in ticks of `timescale`, rounded down: a part never exceeds it.
    fn max_part_ticks(&self, timescale: u32) -> Option<u64> {
        self.part_target.map(|t| (t * i64::from(timescale)).floor().to_integer().max(1) as u64)
    }

    /// Before a video access unit decoded at `next_dts` joins segment `n`: the samples
    /// collected since the last part, as a part, if that access unit would make them longer
    /// than the part target. Their durations are known now (each lasts until the next one's
    /// decode time).
    pub fn video_part(&mut self, n: u64, seg: &mut CmafSegment, next_dts: Q) -> Result<Option<Chunk>, String> {
        let Some(max) = self.max_part_ticks(VIDEO_TIMESCALE) else { return Ok(None) };
        let (Some(first), Some(last)) = (seg.video.get(seg.video_cut.samples), seg.video.last()) else {
            return Ok(None);
        };
        let next = ticks(next_dts, VIDEO_TIMESCALE);
        let (span, frame) = ((next - first.0).max(0) as u64, (next - last.0).max(0) as u64);
        if span + frame <= max {
            return Ok(None);
        }
        let init = self.video_init_for(n, seg.sps_pps.as_ref())?;
        let samples = video_samples(&seg.video[seg.video_cut.samples..], next);
        let independent = samples.first().is_some_and(|s| s.sync);
        let decode_time = first.0;
        let piece = Piece {
            samples: &samples,
            data: &seg.video_data,
            decode_time,
            ticks: span,
            timescale: VIDEO_TIMESCALE,
            independent,
        };
        let chunk = cut(&mut seg.video_cut, n, piece);
        Ok(Some(Chunk { init: (init.name, init.bytes), ..chunk }))
    }

    /// After an audio frame joined segment `n`: the frames collected since the last part, as
    /// a part, if one more frame would make them longer than the part target; `with_video`:
    /// a video part was just cut, and the frames become a part as soon as they last 85 % of
    /// the target (the shortest part RFC 8216bis allows before a segment's last).
    pub fn audio_part(&mut self, n: u64, seg: &mut CmafSegment, with_video: bool) -> Option<Chunk> {
        let rate = self.audio_rate()?;
        let max = self.max_part_ticks(rate)?;
        let pending = (seg.audio.len() - seg.audio_cut.samples) as u64;
        let ticks = pending * u64::from(AAC_FRAME);
        let full = ticks + u64::from(AAC_FRAME) > max;
        let enough = with_video && ticks * 100 >= max * 85;
        if pending == 0 || !(full || enough) {
            return None;
        }
        let init = self.named_audio_init(n)?;
        let decode_time = self.audio_first(seg)? + seg.audio_cut.samples as i64 * i64::from(AAC_FRAME);
        let samples: Vec<Sample> = seg.audio_sizes[seg.audio_cut.samples..]
            .iter()
            .map(|&size| Sample { duration: AAC_FRAME, size, sync: true, cts: 0 })
            .collect();
        let span = pending * u64::from(AAC_FRAME);
        let piece = Piece {
            samples: &samples,
            data: &seg.audio_data,
            decode_time,
            ticks: span,
            timescale: rate,
            independent: true,
        };
        let chunk = cut(&mut seg.audio_cut, n, piece);
        Some(Chunk { init: (init.name, init.bytes), ..chunk })
    }

    /// The audio segment's first decode time: where the last one ended, unless its first
    /// frame is more than half a frame away from there (a gap in the source).
    fn audio_first(&self, seg: &mut CmafSegment) -> Option<i64> {
        if seg.audio_first.is_none() {
            let &stamped = seg.audio.first()?;
            seg.audio_first = Some(match self.audio_end {
                Some(end) if (stamped - end).abs() <= i64::from(AAC_FRAME / 2) => end,
                _ => stamped,
            });
        }
        seg.audio_first
    }

    /// The audio init segment, named after segment `n` if this is its first segment.
    fn named_audio_init(&mut self, n: u64) -> Option<Init> {
        let (_, init) = self.audio.as_mut()?;
        if init.name.is_empty() {
            init.name = init_name(n);
        }
        Some(init.clone())
    }

    /// A new video stream (a copied ORIGINAL encoded from now on, or new parameters): the
    /// next segment gets a new init segment even with the same parameter sets.
    pub fn new_video(&mut self, width: u16, height: u16) {
        (self.width, self.height) = (width, height);
        self.video_init = None;
    }

    /// Segments carry audio from now on, described by `asc`.
    pub fn set_audio(&mut self, asc: &[u8]) -> Result<(), String> {
        let (rate, channels) =
            asc_rate_channels(asc).ok_or_else(|| format!("audio has no usable AudioSpecificConfig ({asc:02x?})"))?;
        let bytes = Bytes::from(fmp4::audio_init(&AudioInit { sample_rate: rate, channels, asc }));
        // Named when its first segment closes; an unchanged config keeps the old one.
        if self.audio.as_ref().is_none_or(|(_, init)| init.key != asc) {
            self.audio = Some((rate, Init { name: String::new(), bytes, key: asc.to_vec() }));
        }
        Ok(())
    }

    /// The audio sample rate, once segments carry audio.
    pub fn audio_rate(&self) -> Option<u32> {
        self.audio.as_ref().map(|(rate, _)| *rate)
    }

    /// Turns segment `n`, which ends at `end` seconds (the next segment's first presentation
    /// time), into the video fragment and its extras. `next_dts`: the next segment's first
    /// decode time (`None` at the end of the run).
    pub fn close(
        &mut self,
        n: u64,
        mut seg: CmafSegment,
        end: Q,
        next_dts: Option<Q>,
    ) -> Result<(Vec<u8>, CmafOutput), String> {
        let Some(&(first_dts, first_pts, _, _)) = seg.video.first() else {
            return Err(format!("segment {n} has no video"));
        };
        let init = self.video_init_for(n, seg.sps_pps.as_ref())?;
        let end_ticks = ticks(end, VIDEO_TIMESCALE);
        // The last access unit lasts until the next segment's first decode time; at the end of
        // the run, until the segment's presentation end less the reordering delay.
        let last_end = next_dts.map_or(end_ticks - (first_pts - first_dts), |d| ticks(d, VIDEO_TIMESCALE));
        let media = SegmentMedia {
            start: first_pts.max(0) as u64,
            ticks: (end_ticks - first_pts).max(0) as u64,
            timescale: VIDEO_TIMESCALE,
            init: init.name.clone(),
        };
        let (data, last_part) = if self.part_target.is_some() {
            // The last part: what is left, lasting what the parts before it leave of EXTINF.
            let units = &seg.video[seg.video_cut.samples..];
            let samples = video_samples(units, last_end);
            let independent = samples.first().is_some_and(|s| s.sync);
            let decode_time = units.first().map_or(0, |u| u.0);
            let rest = media.ticks.saturating_sub(seg.video_cut.ticks);
            let piece = Piece {
                samples: &samples,
                data: &seg.video_data,
                decode_time,
                ticks: rest,
                timescale: VIDEO_TIMESCALE,
                independent,
            };
            let chunk = cut(&mut seg.video_cut, n, piece);
            let chunk = Chunk { init: (init.name.clone(), init.bytes.clone()), ..chunk };
            (std::mem::take(&mut seg.video_cut.data), (!chunk.data.is_empty()).then_some(chunk))
        } else {
            let samples = video_samples(&seg.video, last_end);
            (fmp4::fragment(n as u32 + 1, first_dts.max(0) as u64, &samples, &seg.video_data), None)
        };
        let audio = self.audio_fragment(n, &mut seg);
        Ok((data, CmafOutput { media, init: init.bytes, audio, last_part }))
    }

    fn video_init_for(&mut self, n: u64, sps_pps: Option<&(Vec<u8>, Vec<u8>)>) -> Result<Init, String> {
        let key = sps_pps.map(|(s, p)| [s.as_slice(), p.as_slice()].concat());
        let current = self.video_init.as_ref().filter(|i| key.as_ref().is_none_or(|k| *k == i.key));
        if let Some(init) = current {
            return Ok(init.clone());
        }
        let Some((sps, pps)) = sps_pps else {
            return Err(format!("segment {n} starts without SPS and PPS: no init segment can describe it"));
        };
        let v = VideoInit { width: self.width, height: self.height, timescale: VIDEO_TIMESCALE, sps, pps };
        let init = Init { name: init_name(n), bytes: Bytes::from(fmp4::video_init(&v)), key: key.unwrap_or_default() };
        self.video_init = Some(init.clone());
        Ok(init)
    }

    /// The audio rendition's segment `n`. Every AAC frame lasts exactly 1024 samples: a
    /// source's millisecond timestamps (RTMP) would otherwise give jittering durations. A
    /// segment continues where the last one ended unless its first frame is more than half a
    /// frame away from there (a gap in the source), when it starts at its own time.
    fn audio_fragment(&mut self, n: u64, seg: &mut CmafSegment) -> Option<AudioOutput> {
        let rate = self.audio_rate()?;
        let first = self.audio_first(seg)?;
        let init = self.named_audio_init(n)?;
        let frame = |&size: &u32| Sample { duration: AAC_FRAME, size, sync: true, cts: 0 };
        let total = u64::from(AAC_FRAME) * seg.audio_sizes.len() as u64;
        self.audio_end = Some(first + total as i64);
        let (data, last_part) = if self.part_target.is_some() {
            let samples: Vec<Sample> = seg.audio_sizes[seg.audio_cut.samples..].iter().map(frame).collect();
            let rest = u64::from(AAC_FRAME) * samples.len() as u64;
            let decode_time = first + seg.audio_cut.samples as i64 * i64::from(AAC_FRAME);
            let piece = Piece {
                samples: &samples,
                data: &seg.audio_data,
                decode_time,
                ticks: rest,
                timescale: rate,
                independent: true,
            };
            let chunk = cut(&mut seg.audio_cut, n, piece);
            let chunk = Chunk { init: (init.name.clone(), init.bytes.clone()), ..chunk };
            (std::mem::take(&mut seg.audio_cut.data), (!chunk.data.is_empty()).then_some(chunk))
        } else {
            let samples: Vec<Sample> = seg.audio_sizes.iter().map(frame).collect();
            (fmp4::fragment(n as u32 + 1, first.max(0) as u64, &samples, &seg.audio_data), None)
        };
        let media = SegmentMedia { start: first.max(0) as u64, ticks: total, timescale: rate, init: init.name };
        Some(AudioOutput { data: Bytes::from(data), media, init: init.bytes, last_part })
    }
}

/// The samples of access units (decode time, presentation time, sync, size), each lasting
/// until the next one's decode time, the last until `last_end`.
fn video_samples(units: &[(i64, i64, bool, u32)], last_end: i64) -> Vec<Sample> {
    let mut samples = Vec::with_capacity(units.len());
    for (i, &(dts, pts, key, size)) in units.iter().enumerate() {
        let next = units.get(i + 1).map_or(last_end, |s| s.0);
        samples.push(Sample { duration: (next - dts).max(0) as u32, size, sync: key, cts: (pts - dts) as i32 });
    }
    samples
}

/// Cuts `samples` (the track's next ones after `done`, whose bytes follow `done.bytes` in
/// `data`, the first decoded at `decode_time`) as the next part of segment `n`, lasting
/// `ticks`; an empty chunk when there are none. Part `p` of segment `n` has `mfhd` sequence number `(n + 1) * 256 + p`, so the
/// numbers increase across parts and segments (a segment has far fewer than 256 parts).
struct Piece<'a> {
    samples: &'a [Sample],
    data: &'a [u8],
    decode_time: i64,
    ticks: u64,
    timescale: u32,
    independent: bool,
}

fn cut(done: &mut Cut, n: u64, piece: Piece) -> Chunk {
    let Piece { samples, data, decode_time, ticks, timescale, independent } = piece;
    let index = done.parts;
    let mut chunk = Chunk {
        index,
        data: Bytes::new(),
        duration: Q::new(ticks as i64, i64::from(timescale)),
        independent,
        init: (String::new(), Bytes::new()),
    };
    if samples.is_empty() {
        return chunk;
    }
    let size: usize = samples.iter().map(|s| s.size as usize).sum();
    let sequence = (n as u32).wrapping_add(1).wrapping_mul(256).wrapping_add(index);
    let bytes = fmp4::fragment(sequence, decode_time.max(0) as u64, samples, &data[done.bytes..done.bytes + size]);
    done.data.extend_from_slice(&bytes);
    done.samples += samples.len();
    done.bytes += size;
    done.parts += 1;
    done.ticks += ticks;
    chunk.data = Bytes::from(bytes);
    chunk
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audio_specific_config_gives_rate_and_channels() {
        assert_eq!(asc_rate_channels(&[0x11, 0x90]), Some((48_000, 2)));
        assert_eq!(asc_rate_channels(&[0x12, 0x10]), Some((44_100, 2)));
        assert_eq!(asc_rate_channels(&[0x11, 0x88]), Some((48_000, 1)));
        assert_eq!(asc_rate_channels(&[0x11]), None);
    }

    /// An Annex B access unit: SPS and PPS before an IDR, a plain slice otherwise.
    fn access_unit(key: bool, size: usize) -> Vec<u8> {
        let mut au = Vec::new();
        if key {
            au.extend_from_slice(&[0, 0, 0, 1, 0x67, 0x64, 0x00, 0x1f, 0xac, 0xd9, 0, 0, 0, 1, 0x68, 0xeb, 0xe3]);
        }
        au.extend_from_slice(&[0, 0, 0, 1, if key { 0x65 } else { 0x41 }]);
        au.resize(au.len() + size, 0x5a);
        au
    }

    #[test]
    fn parts_are_cut_as_frames_come_and_tile_their_segment() {
        // 30 fps video and 48 kHz audio, 0.333 s parts: 9 frames (10 would be 0.3333 s) and
        // 15 AAC frames (16 would be 0.3413 s).
        let mut mux = CmafMux::new(640, 360).with_parts(Q::new(333, 1000));
        mux.set_audio(&[0x11, 0x90]).unwrap();
        let frame = Q::new(1, 30);
        let mut seg = CmafSegment::default();
        let mut parts = Vec::new();
        let mut audio_parts = Vec::new();
        for i in 0..60i64 {
            let t = Q::from_integer(10) + frame * i;
            parts.extend(mux.video_part(4, &mut seg, t).unwrap());
            seg.push_video(&access_unit(i == 0, 100 + i as usize), t, t, i == 0);
            while seg.audio.len() < ((t - 10) * 48_000 / 1024).to_integer() as usize {
                let at = Q::from_integer(10) + Q::new(1024 * seg.audio.len() as i64, 48_000);
                seg.push_audio(&[7; 20], at, 48_000);
                audio_parts.extend(mux.audio_part(4, &mut seg, false));
            }
        }
        // Cut before a frame would make the part longer than the target: 6 full parts so far.
        assert_eq!(parts.len(), 6);
        assert!(
            parts.iter().all(|p| p.duration == Q::new(3, 10)),
            "{:?}",
            parts.iter().map(|p| p.duration).collect::<Vec<_>>()
        );
        assert_eq!(parts.iter().map(|p| p.independent).collect::<Vec<_>>(), [true, false, false, false, false, false]);
        assert_eq!(parts.iter().map(|p| p.index).collect::<Vec<_>>(), [0, 1, 2, 3, 4, 5]);
        assert!(audio_parts.iter().all(|p| p.duration == Q::new(15 * 1024, 48_000) && p.independent));
        assert_eq!(parts[0].init.0, "init-4.mp4");

        let (data, mut out) = mux.close(4, seg, Q::from_integer(12), Some(Q::from_integer(12))).unwrap();
        let last = out.last_part.take().expect("the rest is the last part");
        assert_eq!(last.index, 6);
        parts.push(last);
        // The segment is exactly its parts back to back, and they add up to its EXTINF.
        assert_eq!(data, parts.iter().flat_map(|p| p.data.to_vec()).collect::<Vec<u8>>());
        let total: Q = parts.iter().map(|p| p.duration).sum();
        assert_eq!(total, out.media.duration());
        let mut audio = out.audio.expect("audio");
        audio_parts.extend(audio.last_part.take());
        assert_eq!(audio.data.to_vec(), audio_parts.iter().flat_map(|p| p.data.to_vec()).collect::<Vec<u8>>());
        assert_eq!(audio_parts.iter().map(|p| p.duration).sum::<Q>(), audio.media.duration());
        // Each part is a fragment of its own, decoding where the one before ended.
        let tfdt = |chunk: &[u8]| {
            let at = chunk.windows(4).position(|w| w == b"tfdt").expect("tfdt") + 4;
            let version = chunk[at];
            if version == 1 {
                u64::from_be_bytes(chunk[at + 4..at + 12].try_into().unwrap())
            } else {
                u64::from(u32::from_be_bytes(chunk[at + 4..at + 8].try_into().unwrap()))
            }
        };
        for (i, p) in parts.iter().enumerate() {
            assert_eq!(tfdt(&p.data), 900_000 + 27_000 * i as u64, "part {i}");
        }
    }

    #[test]
    fn audio_cut_with_a_video_part_needs_85_percent_of_the_target() {
        let mut mux = CmafMux::new(640, 360).with_parts(Q::new(333, 1000));
        mux.set_audio(&[0x11, 0x90]).unwrap();
        let mut seg = CmafSegment::default();
        let frame = Q::new(1024, 48_000);
        for i in 0..13 {
            seg.push_audio(&[1; 10], Q::from_integer(10) + frame * i, 48_000);
        }
        // 13 frames are 0.277 s, under 85 % of 0.333 s: not yet; 14 (0.299 s) are enough.
        assert!(mux.audio_part(0, &mut seg, true).is_none());
        seg.push_audio(&[1; 10], Q::from_integer(10) + frame * 13, 48_000);
        assert!(mux.audio_part(0, &mut seg, false).is_none(), "alone, audio waits for a full part");
        let part = mux.audio_part(0, &mut seg, true).expect("cut with the video");
        assert_eq!(part.duration, frame * 14);
    }
}
