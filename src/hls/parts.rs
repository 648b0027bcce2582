//! The Low-Latency HLS lines of a live playlist (RFC 8216bis §4.4.3.7-8, §4.4.4.9,
//! §4.4.5.2-4), as pure values: the parts of recent and growing segments, the preload hint and
//! the other renditions' reports. [`LivePlaylist::render_low_latency`] writes them between the
//! segments it lists.
//!
//! A part is a byte range of its segment file (`N.m4s`): the segment grows part by part and is
//! exactly its parts back to back, so nothing is stored twice.
//!
//! [`LivePlaylist::render_low_latency`]: super::LivePlaylist::render_low_latency

use std::collections::BTreeMap;
use std::fmt::Write;

use num_rational::Ratio;

use super::format::{decimal_trimmed, extinf, program_date_time};

/// One written part of a segment: bytes `offset .. offset + len` of the segment file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartEntry {
    /// Exact duration, seconds.
    pub duration: Ratio<i64>,
    pub offset: u64,
    pub len: u64,
    /// Starts with an IDR (a video segment's first part; every audio part).
    pub independent: bool,
}

/// The segment after the last one listed, while it is being made: the parts written so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenSegment {
    /// Its file name (`N.m4s`).
    pub uri: String,
    pub parts: Vec<PartEntry>,
    /// Its init segment, for `EXT-X-MAP` when it differs from the last listed segment's.
    pub init: Option<String>,
    /// It starts a new timeline (`EXT-X-DISCONTINUITY` before its parts).
    pub discontinuity: bool,
    /// Its PROGRAM-DATE-TIME, written when no segment is listed or after a discontinuity.
    pub program_date_time_ms: i64,
}

/// Where another rendition stands, for its `EXT-X-RENDITION-REPORT`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenditionReport {
    /// That rendition's live playlist, relative to this one (`../720p/live.m3u8`).
    pub uri: String,
    /// Media sequence number of its last segment with a part listed.
    pub last_msn: u64,
    /// Index of its last part listed in that segment (none when no part of it is listed).
    pub last_part: Option<u64>,
}

/// What [`LivePlaylist::render_low_latency`](super::LivePlaylist::render_low_latency) adds to
/// the segments of one rendition's live playlist.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PartWindow {
    /// PART-TARGET, seconds: every part lasts at most this.
    pub part_target: Ratio<i64>,
    /// Parts of listed segments, by segment number; those that end before the last 3 target
    /// durations are left out when rendering.
    pub done: BTreeMap<u64, Vec<PartEntry>>,
    pub open: Option<OpenSegment>,
    /// The next part: file name and the offset it will start at (`EXT-X-PRELOAD-HINT`).
    pub hint: Option<(String, u64)>,
    pub reports: Vec<RenditionReport>,
}

impl PartWindow {
    /// `EXT-X-SERVER-CONTROL` and `EXT-X-PART-INF`, after the playlist's header. A player
    /// stays PART-HOLD-BACK behind the live edge: three part targets, the least allowed.
    pub(super) fn write_header(&self, out: &mut String) {
        let target = decimal_trimmed(self.part_target);
        let hold_back = decimal_trimmed(self.part_target * 3);
        let _ = writeln!(out, "#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK={hold_back}");
        let _ = writeln!(out, "#EXT-X-PART-INF:PART-TARGET={target}");
    }

    /// The open segment's lines (after the last listed segment), the hint and the reports.
    /// `last_init`: the init segment of the last listed segment.
    pub(super) fn write_tail(&self, out: &mut String, listed_any: bool, last_init: Option<&str>) {
        if let Some(open) = self.open.as_ref().filter(|o| !o.parts.is_empty()) {
            if open.discontinuity && listed_any {
                out.push_str("#EXT-X-DISCONTINUITY\n");
            }
            if let Some(init) = open.init.as_deref().filter(|i| Some(*i) != last_init) {
                let _ = writeln!(out, "#EXT-X-MAP:URI=\"{init}\"");
            }
            if open.discontinuity || !listed_any {
                let _ = writeln!(out, "#EXT-X-PROGRAM-DATE-TIME:{}", program_date_time(open.program_date_time_ms));
            }
            write_parts(out, &open.uri, &open.parts);
        }
        if let Some((uri, start)) = &self.hint {
            let _ = writeln!(out, "#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"{uri}\",BYTERANGE-START={start}");
        }
        for r in &self.reports {
            let _ = write!(out, "#EXT-X-RENDITION-REPORT:URI=\"{}\",LAST-MSN={}", r.uri, r.last_msn);
            match r.last_part {
                Some(part) => {
                    let _ = writeln!(out, ",LAST-PART={part}");
                }
                None => out.push('\n'),
            }
        }
    }
}

/// `EXT-X-PART` lines of segment file `uri`.
pub(super) fn write_parts(out: &mut String, uri: &str, parts: &[PartEntry]) {
    for p in parts {
        let independent = if p.independent { ",INDEPENDENT=YES" } else { "" };
        let _ = writeln!(
            out,
            "#EXT-X-PART:DURATION={},URI=\"{uri}\",BYTERANGE=\"{}@{}\"{independent}",
            extinf(p.duration),
            p.len,
            p.offset
        );
    }
}
