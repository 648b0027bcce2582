//! Master playlists and the bandwidth figures they advertise (output-layout §9).
//!
//! BANDWIDTH must bound every segment's bit rate or players under-buffer, but rewriting the
//! master on every new peak would churn it; so it is rewritten only when a measured peak
//! exceeds the advertised value by more than 10 %, and once with final values at the end.

use std::fmt::Write;

use num_rational::Ratio;
use serde::{Deserialize, Serialize};

use crate::hls::entry::add_duration;
use crate::hls::format::fixed;
use crate::hls::media::{AUDIO_CODECS, AUDIO_GROUP, AUDIO_LABEL};
use crate::pipeline::captions::CaptionServices;

/// One rendition of the ladder, as fitted and encoded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RenditionDesc {
    /// Directory name and `Resolution` parameter, e.g. `1280x720-30~2000`.
    pub label: String,
    /// Encoded picture size (the padded one for an odd ORIGINAL): master `RESOLUTION`.
    pub encoded_width: u32,
    pub encoded_height: u32,
    /// Output frame rate: master `FRAME-RATE`.
    pub frame_rate: Ratio<i64>,
    /// Master `CODECS`, e.g. `avc1.64001f,mp4a.40.2`.
    pub codecs: String,
    /// `~B` cap in kbit/s: raises the advertised BANDWIDTH to its floor.
    pub max_kbps: Option<u32>,
}

/// The audio rendition a master lists (CMAF): its playlist's file name in [`AUDIO_LABEL`].
#[derive(Debug, Clone, Copy)]
pub struct AudioGroup<'a> {
    pub index_file: &'a str,
}

/// `⌈bytes·8 / duration⌉` in bit/s; `None` for a duration that is not positive.
pub fn segment_bps(bytes: u64, duration: Ratio<i64>) -> Option<u64> {
    let (n, d) = (i128::from(*duration.numer()), i128::from(*duration.denom()));
    let (n, d) = if d < 0 { (-n, -d) } else { (n, d) };
    let (n, d) = (u128::try_from(n).ok().filter(|&n| n > 0)?, u128::try_from(d).ok()?);
    let bits = u128::from(bytes) * 8;
    let bps = bits.checked_mul(d).map_or(u128::MAX, |x| x.div_ceil(n));
    Some(u64::try_from(bps).unwrap_or(u64::MAX))
}

/// Lowest BANDWIDTH of a `~B` rendition: `(B + audio kbit/s)·1100`, i.e. the VBV cap plus
/// audio plus 10 % for the transport stream, so players never pick it on a link slower than
/// the encoder may burst. `None`: no cap (a `~0` cap means none, §2).
pub fn bandwidth_floor(max_kbps: Option<u32>, audio_kbps: u32) -> Option<u64> {
    let cap = max_kbps.filter(|&b| b > 0)?;
    Some((u64::from(cap) + u64::from(audio_kbps)) * 1100)
}

/// Bit rates measured over a set of published segments of one rendition.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bandwidth {
    /// Highest single-segment bit rate seen, bit/s.
    peak_bps: u64,
    /// Σ bytes of the segments.
    bytes: u64,
    /// Σ EXTINF of the segments, exact.
    duration: Ratio<i64>,
}

impl Bandwidth {
    /// Adds one published segment: the whole TS, video, audio and overhead.
    pub fn record(&mut self, bytes: u64, duration: Ratio<i64>) {
        if let Some(bps) = segment_bps(bytes, duration) {
            self.peak_bps = self.peak_bps.max(bps);
        }
        self.bytes = self.bytes.saturating_add(bytes);
        self.duration = add_duration(self.duration, duration);
    }

    /// Peak segment bit rate, bit/s, rounded up.
    pub fn peak_bps(&self) -> u64 {
        self.peak_bps
    }

    /// Σ bytes·8 / Σ EXTINF, bit/s, rounded up; 0 before any time has been measured.
    pub fn average_bps(&self) -> u64 {
        segment_bps(self.bytes, self.duration).unwrap_or(0)
    }
}

/// One master playlist (`master.m3u8` or one `master-vod-{K}.m3u8`): what was measured over
/// the segments it covers and what it last advertised.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MasterPlaylist {
    /// Measures per rendition, in ladder order.
    measured: Vec<Bandwidth>,
    /// CMAF: the audio rendition's segments, counted in every variant's BANDWIDTH.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    audio: Option<Bandwidth>,
    /// BANDWIDTH per rendition as last rendered; `None` until first rendered.
    advertised: Option<Vec<u64>>,
    /// Caption services to declare (`CLOSED-CAPTIONS`), and those last rendered.
    #[serde(default, skip_serializing_if = "Captions::is_none")]
    captions: Captions,
}

/// What the master declares of the source's closed captions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Captions {
    carried: CaptionServices,
    declared: CaptionServices,
}

impl Captions {
    fn is_none(&self) -> bool {
        !self.carried.any() && !self.declared.any()
    }
}

/// Group of the `CLOSED-CAPTIONS` renditions every variant refers to.
const CAPTIONS_GROUP: &str = "cc";

/// `#EXT-X-MEDIA` lines of the caption services carried in the video (RFC 8216bis 4.4.6.1):
/// CEA-608 channel 1, CEA-708 service 1. The language is not signalled in A/53 608 data, so
/// the name is the one every publisher tool defaults to.
fn caption_media(services: CaptionServices) -> String {
    let mut out = String::new();
    for (on, name, id) in [(services.cea608, "English", "CC1"), (services.cea708, "English (708)", "SERVICE1")] {
        if on {
            let _ = writeln!(
                out,
                "#EXT-X-MEDIA:TYPE=CLOSED-CAPTIONS,GROUP-ID=\"{CAPTIONS_GROUP}\",NAME=\"{name}\",INSTREAM-ID=\"{id}\""
            );
        }
    }
    out
}

impl MasterPlaylist {
    /// A master over `renditions` renditions, not yet written.
    pub fn new(renditions: usize) -> Self {
        Self {
            measured: vec![Bandwidth::default(); renditions],
            audio: None,
            advertised: None,
            captions: Captions::default(),
        }
    }

    /// Adds one published segment of the audio rendition (CMAF).
    pub fn record_audio(&mut self, bytes: u64, duration: Ratio<i64>) {
        self.audio.get_or_insert_with(Bandwidth::default).record(bytes, duration);
    }

    /// The renditions carry these caption services: declared from the next render on.
    pub fn set_captions(&mut self, carried: CaptionServices) {
        self.captions.carried = carried;
    }

    /// Adds rendition `i`'s segment to the measures.
    pub fn record(&mut self, i: usize, bytes: u64, duration: Ratio<i64>) {
        if let Some(m) = self.measured.get_mut(i) {
            m.record(bytes, duration);
        }
    }

    /// Whether the master was rendered at least once.
    pub fn is_written(&self) -> bool {
        self.advertised.is_some()
    }

    /// Never rendered, or some rendition's measured peak exceeds its advertised BANDWIDTH by
    /// more than 10 %.
    pub fn needs_write(&self) -> bool {
        let Some(advertised) = &self.advertised else {
            return true;
        };
        let audio = u128::from(self.audio.as_ref().map_or(0, Bandwidth::peak_bps));
        self.captions.carried != self.captions.declared
            || self
                .measured
                .iter()
                .zip(advertised)
                .any(|(m, &bw)| (u128::from(m.peak_bps()) + audio) * 10 > u128::from(bw) * 11)
    }

    /// The master text with current values, listing `{label}/{index_file}` per rendition;
    /// remembers the advertised BANDWIDTH values for `needs_write`.
    pub fn render(&mut self, renditions: &[RenditionDesc], audio_kbps: u32, index_file: &str) -> String {
        self.render_listed(renditions, &[], audio_kbps, index_file)
    }

    /// As [`render`](Self::render), leaving out the renditions marked in `unlisted` (shed
    /// under overload): their entries are gone, their measures stay.
    pub fn render_listed(
        &mut self,
        renditions: &[RenditionDesc],
        unlisted: &[bool],
        audio_kbps: u32,
        index_file: &str,
    ) -> String {
        self.render_grouped(renditions, unlisted, audio_kbps, index_file, None)
    }

    /// As [`Self::render_listed`]; with `audio` (CMAF), the audio rendition is listed once as
    /// an `EXT-X-MEDIA` of group [`AUDIO_GROUP`] that every variant refers to, and each
    /// variant's BANDWIDTH, AVERAGE-BANDWIDTH and CODECS count its video plus that audio
    /// (RFC 8216 §4.3.4.2).
    pub fn render_grouped(
        &mut self,
        renditions: &[RenditionDesc],
        unlisted: &[bool],
        audio_kbps: u32,
        index_file: &str,
        audio: Option<AudioGroup<'_>>,
    ) -> String {
        let version = if audio.is_some() { 6 } else { 3 };
        let mut out = format!("#EXTM3U\n#EXT-X-VERSION:{version}\n#EXT-X-INDEPENDENT-SEGMENTS\n");
        let captions = self.captions.carried;
        out.push_str(&caption_media(captions));
        if let Some(group) = &audio {
            let _ = writeln!(
                out,
                "#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"{AUDIO_GROUP}\",NAME=\"audio\",DEFAULT=YES,AUTOSELECT=YES,\
                 URI=\"{AUDIO_LABEL}/{}\"",
                group.index_file
            );
        }
        let measured_audio = self.audio.as_ref().filter(|_| audio.is_some());
        let (audio_peak, audio_average) = measured_audio.map_or((0, 0), |a| (a.peak_bps(), a.average_bps()));
        let mut advertised = Vec::with_capacity(renditions.len());
        for (i, (desc, m)) in renditions.iter().zip(&self.measured).enumerate() {
            if unlisted.get(i).copied().unwrap_or(false) {
                // Never listed again, so never a reason to rewrite.
                advertised.push(u64::MAX);
                continue;
            }
            let floor = bandwidth_floor(desc.max_kbps, audio_kbps).unwrap_or(0);
            let bandwidth = (m.peak_bps() + audio_peak).max(floor);
            advertised.push(bandwidth);
            let _ = write!(
                out,
                "#EXT-X-STREAM-INF:BANDWIDTH={bandwidth},AVERAGE-BANDWIDTH={},RESOLUTION={}x{},FRAME-RATE={}",
                m.average_bps() + audio_average,
                desc.encoded_width,
                desc.encoded_height,
                fixed(desc.frame_rate, 3),
            );
            match (&audio, desc.codecs.is_empty()) {
                (None, false) => {
                    let _ = write!(out, ",CODECS=\"{}\"", desc.codecs);
                }
                (Some(_), false) => {
                    let _ = write!(out, ",CODECS=\"{},{AUDIO_CODECS}\",AUDIO=\"{AUDIO_GROUP}\"", desc.codecs);
                }
                (Some(_), true) => {
                    let _ = write!(out, ",AUDIO=\"{AUDIO_GROUP}\"");
                }
                (None, true) => {}
            }
            if captions.any() {
                let _ = write!(out, ",CLOSED-CAPTIONS=\"{CAPTIONS_GROUP}\"");
            }
            let _ = write!(out, "\n{}/{index_file}\n", desc.label);
        }
        self.advertised = Some(advertised);
        self.captions.declared = captions;
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn desc(label: &str, w: u32, h: u32, codecs: &str, max_kbps: Option<u32>) -> RenditionDesc {
        RenditionDesc {
            label: label.into(),
            encoded_width: w,
            encoded_height: h,
            frame_rate: Ratio::new(30000, 1001),
            codecs: codecs.into(),
            max_kbps,
        }
    }

    #[test]
    fn segment_bit_rate_rounds_up() {
        assert_eq!(segment_bps(1000, Ratio::from_integer(3)), Some(2667));
        assert_eq!(segment_bps(750, Ratio::from_integer(3)), Some(2000));
        assert_eq!(segment_bps(1001, Ratio::new(3003, 1000)), Some(2667));
        assert_eq!(segment_bps(1, Ratio::new(0, 1)), None);
        assert_eq!(segment_bps(1, Ratio::new(-1, 1)), None);
        assert_eq!(segment_bps(u64::MAX, Ratio::new(1, i64::MAX)), Some(u64::MAX));
    }

    #[test]
    fn floor_applies_only_to_capped_renditions() {
        assert_eq!(bandwidth_floor(Some(2000), 128), Some(2_340_800));
        assert_eq!(bandwidth_floor(Some(2000), 0), Some(2_200_000));
        assert_eq!(bandwidth_floor(None, 128), None);
        assert_eq!(bandwidth_floor(Some(0), 128), None);
    }

    #[test]
    fn renders_every_attribute_in_ladder_order() {
        let ladder = [
            desc("1280x720-30~2000", 1280, 720, "avc1.64001f,mp4a.40.2", Some(2000)),
            desc("640x360-30", 640, 360, "avc1.64001e,mp4a.40.2", None),
        ];
        let mut master = MasterPlaylist::new(2);
        // 720p: 1 MB over 3 s = 2 666 667 bit/s, above its floor of 2 340 800.
        master.record(0, 1_000_000, Ratio::from_integer(3));
        master.record(0, 500_000, Ratio::from_integer(3));
        master.record(1, 423_750, Ratio::from_integer(3));
        master.record(1, 300_000, Ratio::from_integer(3));
        assert_eq!(
            master.render(&ladder, 128, "live.m3u8"),
            "#EXTM3U\n\
             #EXT-X-VERSION:3\n\
             #EXT-X-INDEPENDENT-SEGMENTS\n\
             #EXT-X-STREAM-INF:BANDWIDTH=2666667,AVERAGE-BANDWIDTH=2000000,RESOLUTION=1280x720,FRAME-RATE=29.970,CODECS=\"avc1.64001f,mp4a.40.2\"\n\
             1280x720-30~2000/live.m3u8\n\
             #EXT-X-STREAM-INF:BANDWIDTH=1130000,AVERAGE-BANDWIDTH=965000,RESOLUTION=640x360,FRAME-RATE=29.970,CODECS=\"avc1.64001e,mp4a.40.2\"\n\
             640x360-30/live.m3u8\n"
        );
    }

    #[test]
    fn a_capped_rendition_advertises_at_least_its_floor() {
        let ladder = [desc("1280x720-30~2000", 1280, 720, "avc1.64001f", Some(2000))];
        let mut master = MasterPlaylist::new(1);
        master.record(0, 100_000, Ratio::from_integer(4));
        let text = master.render(&ladder, 0, "vod-3.m3u8");
        assert!(text.contains("BANDWIDTH=2200000,AVERAGE-BANDWIDTH=200000,"), "{text}");
        assert!(text.ends_with("CODECS=\"avc1.64001f\"\n1280x720-30~2000/vod-3.m3u8\n"), "{text}");
    }

    #[test]
    fn empty_codecs_are_left_out_rather_than_written_empty() {
        let ladder = [desc("640x360", 640, 360, "", None)];
        let text = MasterPlaylist::new(1).render(&ladder, 0, "live.m3u8");
        assert!(text.contains("FRAME-RATE=29.970\n640x360/live.m3u8\n"), "{text}");
    }

    #[test]
    fn rewrite_is_needed_only_beyond_ten_percent_over_the_advertised_peak() {
        let ladder = [desc("640x360-30", 640, 360, "avc1.64001e", None)];
        let mut master = MasterPlaylist::new(1);
        assert!(master.needs_write());
        master.record(0, 375_000, Ratio::from_integer(3)); // 1 000 000 bit/s
        master.render(&ladder, 0, "live.m3u8");
        assert!(!master.needs_write());
        master.record(0, 412_500, Ratio::from_integer(3)); // exactly +10 %
        assert!(!master.needs_write());
        master.record(0, 412_501, Ratio::from_integer(3)); // just over
        assert!(master.needs_write());
        let text = master.render(&ladder, 0, "live.m3u8");
        assert!(text.contains("BANDWIDTH=1100003,"), "{text}");
        assert!(!master.needs_write());
    }

    #[test]
    fn captions_are_declared_once_carried_and_force_a_rewrite() {
        let ladder =
            [desc("640x360-30", 640, 360, "avc1.64001e", None), desc("426x240-30", 426, 240, "avc1.640015", None)];
        let mut master = MasterPlaylist::new(2);
        let plain = master.render(&ladder, 0, "live.m3u8");
        assert!(!plain.contains("CLOSED-CAPTIONS"), "{plain}");
        assert!(!master.needs_write());
        master.set_captions(CaptionServices { cea608: true, cea708: false });
        assert!(master.needs_write());
        let text = master.render(&ladder, 0, "live.m3u8");
        assert_eq!(
            text.lines().nth(3),
            Some("#EXT-X-MEDIA:TYPE=CLOSED-CAPTIONS,GROUP-ID=\"cc\",NAME=\"English\",INSTREAM-ID=\"CC1\"")
        );
        assert_eq!(text.matches(",CLOSED-CAPTIONS=\"cc\"\n").count(), 2, "{text}");
        assert!(!text.contains("SERVICE1"), "{text}");
        assert!(!master.needs_write());
        master.set_captions(CaptionServices { cea608: true, cea708: true });
        let text = master.render(&ladder, 0, "live.m3u8");
        assert!(text.contains("NAME=\"English (708)\",INSTREAM-ID=\"SERVICE1\"\n"), "{text}");
    }

    #[test]
    fn a_peak_under_the_floor_does_not_force_a_rewrite() {
        let ladder = [desc("640x360-30~1000", 640, 360, "avc1.64001e", Some(1000))];
        let mut master = MasterPlaylist::new(1);
        master.record(0, 300_000, Ratio::from_integer(3)); // 800 000 bit/s
        master.render(&ladder, 128, "live.m3u8");
        master.record(0, 450_000, Ratio::from_integer(3)); // 1 200 000 < 1.1 × 1 240 800
        assert!(!master.needs_write());
    }
}
