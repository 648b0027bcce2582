//! What a segment is made of, beyond its duration: the packaging of the stream
//! ([`SegmentFormat`]) and, for CMAF, each segment's exact timing in its track's timescale and
//! the init segment it needs ([`SegmentMedia`]).
//!
//! These are the facts every manifest is a view of: the HLS playlists derive EXTINF and
//! `EXT-X-MAP` from them, and a DASH SegmentTimeline can use the same integers (`start`,
//! `ticks`, `timescale`) and file names, so the two can never disagree.

use std::fmt;

use num_rational::Ratio;
use serde::{Deserialize, Serialize};

/// How segments are packaged (`HLS_SEGMENT_FORMAT`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum SegmentFormat {
    /// MPEG-TS `N.ts`, each rendition with its own copy of the audio (output-layout §6).
    #[default]
    Ts,
    /// Fragmented MP4 `N.m4s` with one init segment per rendition and timeline; video
    /// renditions carry video only, the audio is one rendition of its own ([`AUDIO_LABEL`]).
    Cmaf,
}

impl SegmentFormat {
    /// File extension of a media segment.
    pub fn extension(self) -> &'static str {
        match self {
            SegmentFormat::Ts => "ts",
            SegmentFormat::Cmaf => "m4s",
        }
    }

    pub fn is_ts(&self) -> bool {
        *self == SegmentFormat::Ts
    }
}

impl fmt::Display for SegmentFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SegmentFormat::Ts => "ts",
            SegmentFormat::Cmaf => "cmaf",
        })
    }
}

/// Directory of the audio rendition in CMAF mode, beside the video renditions' `{RES}/`.
pub const AUDIO_LABEL: &str = "audio";

/// `GROUP-ID` of the audio rendition in the master playlists.
pub const AUDIO_GROUP: &str = "audio";

/// `CODECS` of the audio rendition (AAC-LC).
pub const AUDIO_CODECS: &str = "mp4a.40.2";

/// The kind of a rendition: a rung of the video ladder, or the single audio rendition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum RenditionKind {
    /// Rung `i` of the ladder (ladder order).
    Video(usize),
    /// The audio rendition (CMAF only).
    Audio,
}

/// One CMAF segment's place on its track's timeline, exactly, and the init segment it needs.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SegmentMedia {
    /// Presentation time of the segment's first sample in `timescale` units, on the stream's
    /// shared clock (the same for every rendition, continued across restarts; never
    /// negative). For video the first sample is the IDR; `tfdt` holds its decode time.
    pub start: u64,
    /// Duration in `timescale` units: exactly the next segment's `start` minus this one's
    /// within a timeline.
    pub ticks: u64,
    /// Units per second of `start` and `ticks` (the track's `mdhd` timescale).
    pub timescale: u32,
    /// File name of the init segment, relative to the rendition's directory (`init-5.mp4`).
    pub init: String,
}

impl SegmentMedia {
    /// The exact duration in seconds: what EXTINF is derived from.
    /// `start` in seconds.
    pub fn start_seconds(&self) -> Ratio<i64> {
        Ratio::new(self.start as i64, i64::from(self.timescale.max(1)))
    }

    pub fn duration(&self) -> Ratio<i64> {
        Ratio::new(self.ticks as i64, i64::from(self.timescale.max(1)))
    }
}

/// Name of an init segment first needed by segment `n`: segment numbers never repeat within
/// a stream, so neither do these names, and a recording keeps pointing at the right one.
pub fn init_name(n: u64) -> String {
    format!("init-{n}.mp4")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_the_exact_ticks() {
        let m = SegmentMedia { start: 900_000, ticks: 270_270, timescale: 90_000, init: init_name(0) };
        assert_eq!(m.duration(), Ratio::new(3003, 1000));
        assert_eq!(m.init, "init-0.mp4");
        assert_eq!(SegmentFormat::Cmaf.extension(), "m4s");
        assert_eq!(serde_json::to_string(&SegmentFormat::Cmaf).unwrap(), "\"cmaf\"");
    }
}
