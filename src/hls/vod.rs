//! One recording part `vod-{K}.m3u8` of one rendition (output-layout §8).
//!
//! Players and CDNs may have cached any prefix of a growing part, so bytes once written never
//! change: entries are kept as append-only text, and only the short header is regenerated,
//! which alters earlier bytes only when TARGETDURATION rises or the part is finished.

use std::fmt::Write;

use num_rational::Ratio;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::hls::entry::{add_duration, media_playlist_version, PlaylistEntry};
use crate::hls::format::{extinf, program_date_time, target_duration};

/// What an append did to the stored text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Growth {
    /// New bytes at the end only: the old text is a prefix of the new one.
    Appended,
    /// TARGETDURATION rose: the header changed, the whole text is new.
    Rewritten,
}

/// A finished part never changes again.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("vod-{0}.m3u8 is finished and cannot take more entries")]
pub struct PartFinished(pub u64);

/// `vod-{K}.m3u8` of one rendition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VodPart {
    /// K.
    part: u64,
    /// `T`: the floor of TARGETDURATION.
    hls_time: u32,
    /// TARGETDURATION: max(T, longest EXTINF of this part rounded).
    target: u64,
    /// Every entry's lines, as already written; only ever appended to.
    body: String,
    /// Number of entries in `body`.
    entries: u64,
    /// Σ EXTINF of the entries, exact: the next part's Start-Time builds on it.
    total: Ratio<i64>,
    /// `PLAYLIST-TYPE:VOD` and ENDLIST written; the part is closed.
    finished: bool,
    /// CMAF: the last entry, for `EXT-X-MAP` when the init segment changes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    last: Option<PlaylistEntry>,
}

impl VodPart {
    /// An empty part K. It is not meant to be stored before its first entry (§8).
    pub fn new(part: u64, hls_time: u32) -> Self {
        Self {
            part,
            hls_time,
            target: u64::from(hls_time),
            body: String::new(),
            entries: 0,
            total: Ratio::from_integer(0),
            finished: false,
            last: None,
        }
    }

    /// Appends a published segment. A discontinuity on the part's first entry is not written:
    /// the part starts its own timeline anyway.
    pub fn push(&mut self, entry: &PlaylistEntry) -> Result<Growth, PartFinished> {
        if self.finished {
            return Err(PartFinished(self.part));
        }
        let first = self.entries == 0;
        if entry.discontinuity && !first {
            self.body.push_str("#EXT-X-DISCONTINUITY\n");
        }
        if let Some(map) = entry.map_line(self.last.as_ref()) {
            self.body.push_str(&map);
        }
        if first || entry.discontinuity {
            let pdt = program_date_time(entry.program_date_time_ms);
            let _ = writeln!(self.body, "#EXT-X-PROGRAM-DATE-TIME:{pdt}");
        }
        let _ = write!(self.body, "#EXTINF:{},\n{}\n", extinf(entry.duration), entry.uri());
        if entry.media.is_some() {
            self.last = Some(entry.clone());
        }
        self.entries += 1;
        self.total = add_duration(self.total, entry.duration);
        let target = target_duration(entry.duration, self.hls_time);
        if target > self.target {
            self.target = target;
            return Ok(Growth::Rewritten);
        }
        Ok(Growth::Appended)
    }

    /// Closes the part: the next render says `PLAYLIST-TYPE:VOD` and ends with ENDLIST.
    /// TARGETDURATION is already final, since it only ever followed this part's entries.
    pub fn finish(&mut self) {
        self.finished = true;
    }

    /// The playlist text, exactly as stored.
    pub fn render(&self) -> String {
        let kind = if self.finished { "VOD" } else { "EVENT" };
        let mut out = String::with_capacity(192 + self.body.len());
        let _ = write!(
            out,
            "#EXTM3U\n#EXT-X-PLAYLIST-TYPE:{kind}\n#EXT-X-VERSION:{}\n\
             #EXT-X-TARGETDURATION:{}\n#EXT-X-MEDIA-SEQUENCE:0\n#EXT-X-INDEPENDENT-SEGMENTS\n",
            media_playlist_version(self.last.is_some()),
            self.target
        );
        out.push_str(&self.body);
        if self.finished {
            out.push_str("#EXT-X-ENDLIST\n");
        }
        out
    }

    /// K.
    pub fn part(&self) -> u64 {
        self.part
    }

    /// Number of entries.
    pub fn len(&self) -> u64 {
        self.entries
    }

    /// No entry yet: the part must be neither written nor announced.
    pub fn is_empty(&self) -> bool {
        self.entries == 0
    }

    /// Σ EXTINF of the entries, exact.
    pub fn total_duration(&self) -> Ratio<i64> {
        self.total
    }

    /// Whether `finish` was called.
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// Current TARGETDURATION.
    pub fn target_duration(&self) -> u64 {
        self.target
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2025-03-01T10:00:00.000Z
    const T0: i64 = 1_740_823_200_000;

    fn entry(n: u64, duration: Ratio<i64>, discontinuity: bool) -> PlaylistEntry {
        PlaylistEntry { n, duration, discontinuity, program_date_time_ms: T0 + 3000 * n as i64, media: None }
    }

    fn three(n: u64) -> PlaylistEntry {
        entry(n, Ratio::from_integer(3), false)
    }

    #[test]
    fn growing_part_matches_the_spec_example() {
        let mut vod = VodPart::new(0, 3);
        assert_eq!(vod.push(&three(0)), Ok(Growth::Appended));
        assert_eq!(
            vod.render(),
            "#EXTM3U\n\
             #EXT-X-PLAYLIST-TYPE:EVENT\n\
             #EXT-X-VERSION:3\n\
             #EXT-X-TARGETDURATION:3\n\
             #EXT-X-MEDIA-SEQUENCE:0\n\
             #EXT-X-INDEPENDENT-SEGMENTS\n\
             #EXT-X-PROGRAM-DATE-TIME:2025-03-01T10:00:00.000Z\n\
             #EXTINF:3.000000,\n\
             0.ts\n"
        );
    }

    #[test]
    fn growth_only_appends_bytes() {
        let mut vod = VodPart::new(0, 3);
        let mut old = vod.render();
        for n in 0..20 {
            let e = entry(n, Ratio::new(3003, 1000), n == 7 || n == 12);
            assert_eq!(vod.push(&e), Ok(Growth::Appended));
            let new = vod.render();
            assert!(new.starts_with(&old), "entry {n} changed written bytes");
            assert!(new.len() > old.len());
            old = new;
        }
        assert_eq!(vod.len(), 20);
        assert_eq!(vod.total_duration(), Ratio::new(3003 * 20, 1000));
    }

    #[test]
    fn discontinuities_are_written_with_a_date_except_on_the_first_entry() {
        let mut vod = VodPart::new(1, 3);
        vod.push(&entry(10, Ratio::from_integer(3), true)).unwrap();
        vod.push(&three(11)).unwrap();
        vod.push(&entry(13, Ratio::from_integer(3), true)).unwrap();
        let text = vod.render();
        assert_eq!(text.matches("#EXT-X-DISCONTINUITY\n").count(), 1, "{text}");
        assert!(!text.contains("DISCONTINUITY-SEQUENCE"));
        assert!(text.ends_with(
            "#EXT-X-INDEPENDENT-SEGMENTS\n\
             #EXT-X-PROGRAM-DATE-TIME:2025-03-01T10:00:30.000Z\n\
             #EXTINF:3.000000,\n10.ts\n\
             #EXTINF:3.000000,\n11.ts\n\
             #EXT-X-DISCONTINUITY\n\
             #EXT-X-PROGRAM-DATE-TIME:2025-03-01T10:00:39.000Z\n\
             #EXTINF:3.000000,\n13.ts\n"
        ));
    }

    #[test]
    fn a_target_rise_rewrites_the_header_only() {
        let mut vod = VodPart::new(0, 3);
        vod.push(&three(0)).unwrap();
        let old = vod.render();
        assert_eq!(vod.push(&entry(1, Ratio::new(7, 2), false)), Ok(Growth::Rewritten));
        let new = vod.render();
        assert!(!new.starts_with(&old));
        assert_eq!(new, old.replace("TARGETDURATION:3", "TARGETDURATION:4") + "#EXTINF:3.500000,\n1.ts\n");
        // A shorter entry afterwards appends again and keeps the raised target.
        assert_eq!(vod.push(&three(2)), Ok(Growth::Appended));
        assert_eq!(vod.target_duration(), 4);
    }

    #[test]
    fn finish_renders_vod_with_endlist_and_final_target() {
        let mut vod = VodPart::new(0, 2);
        vod.push(&entry(0, Ratio::from_integer(2), false)).unwrap();
        vod.push(&entry(1, Ratio::new(5, 2), false)).unwrap();
        vod.finish();
        assert!(vod.is_finished());
        assert_eq!(
            vod.render(),
            "#EXTM3U\n\
             #EXT-X-PLAYLIST-TYPE:VOD\n\
             #EXT-X-VERSION:3\n\
             #EXT-X-TARGETDURATION:3\n\
             #EXT-X-MEDIA-SEQUENCE:0\n\
             #EXT-X-INDEPENDENT-SEGMENTS\n\
             #EXT-X-PROGRAM-DATE-TIME:2025-03-01T10:00:00.000Z\n\
             #EXTINF:2.000000,\n0.ts\n\
             #EXTINF:2.500000,\n1.ts\n\
             #EXT-X-ENDLIST\n"
        );
    }

    #[test]
    fn a_finished_part_refuses_entries() {
        let mut vod = VodPart::new(4, 3);
        vod.push(&three(0)).unwrap();
        vod.finish();
        let text = vod.render();
        assert_eq!(vod.push(&three(1)), Err(PartFinished(4)));
        assert_eq!(vod.render(), text);
    }

    #[test]
    fn serde_round_trip_continues_the_same_text() {
        let mut vod = VodPart::new(2, 3);
        vod.push(&three(0)).unwrap();
        let mut back: VodPart = serde_json::from_str(&serde_json::to_string(&vod).unwrap()).unwrap();
        assert_eq!(back, vod);
        back.push(&three(1)).unwrap();
        vod.push(&three(1)).unwrap();
        assert_eq!(back.render(), vod.render());
    }
}
