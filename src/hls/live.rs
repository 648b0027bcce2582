//! The sliding live playlist of one rendition (output-layout §7).

use std::collections::VecDeque;
use std::fmt::Write;

use serde::{Deserialize, Serialize};

use crate::hls::entry::{media_playlist_version, PlaylistEntry};
use crate::hls::format::{extinf, program_date_time, target_duration};
use crate::hls::parts::{write_parts, PartWindow};

/// `live.m3u8` of one rendition: the last L published segments and the counters that let a
/// player keep its place while segments leave the window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LivePlaylist {
    /// `T`: the floor of TARGETDURATION.
    hls_time: u32,
    /// `L`: how many entries the window holds (at least 1).
    size: u32,
    /// The window, oldest first.
    window: VecDeque<PlaylistEntry>,
    /// Entries ever pushed; the first listed one has media sequence `pushed - window.len()`.
    pushed: u64,
    /// Discontinuity-marked entries that have left the window (DISCONTINUITY-SEQUENCE).
    discontinuities_left: u64,
    /// Highest TARGETDURATION so far: players require it never to decrease.
    target: u64,
    /// ENDLIST written: the stream is over.
    ended: bool,
}

impl LivePlaylist {
    /// An empty playlist for segments of nominal length `hls_time` and a window of `size`
    /// entries (0 is treated as 1: a live playlist without entries is useless to players).
    pub fn new(hls_time: u32, size: u32) -> Self {
        Self {
            hls_time,
            size: size.max(1),
            window: VecDeque::new(),
            pushed: 0,
            discontinuities_left: 0,
            target: u64::from(hls_time),
            ended: false,
        }
    }

    /// Appends the next published segment; its media sequence number is the count of entries
    /// pushed before it. The oldest entry leaves once the window is full.
    pub fn push(&mut self, entry: PlaylistEntry) {
        self.target = self.target.max(target_duration(entry.duration, self.hls_time));
        self.window.push_back(entry);
        self.pushed += 1;
        while self.window.len() > self.size as usize {
            if self.window.pop_front().is_some_and(|left| left.discontinuity) {
                self.discontinuities_left += 1;
            }
        }
    }

    /// Marks the end of the stream: ENDLIST is appended, the window stays as it is.
    /// N of the oldest entry still listed.
    pub fn first_listed(&self) -> Option<u64> {
        self.window.front().map(|e| e.n)
    }

    pub fn end(&mut self) {
        self.ended = true;
    }

    /// Whether `end` was called.
    pub fn is_ended(&self) -> bool {
        self.ended
    }

    /// Media sequence number of the first listed entry (of the next pushed one when empty).
    pub fn media_sequence(&self) -> u64 {
        self.pushed - self.window.len() as u64
    }

    /// Entries ever pushed: the media sequence number the next entry will get.
    pub fn pushed(&self) -> u64 {
        self.pushed
    }

    /// The listed entries, oldest first.
    pub fn entries(&self) -> impl Iterator<Item = &PlaylistEntry> {
        self.window.iter()
    }

    /// Current TARGETDURATION.
    pub fn target_duration(&self) -> u64 {
        self.target
    }

    /// The playlist text, exactly as stored.
    pub fn render(&self) -> String {
        self.render_with(None)
    }

    /// The playlist text with the LL-HLS lines of `ll`: server control and part target after
    /// the header, the parts of the listed segments that end within the last 3 target
    /// durations before their EXTINF (RFC 8216bis §4.4.4.9 asks for at least that much), the
    /// parts of the segment being made, the preload hint and the other renditions' reports.
    /// An ended playlist keeps its parts and drops the rest.
    pub fn render_low_latency(&self, ll: &PartWindow) -> String {
        self.render_with(Some(ll))
    }

    fn render_with(&self, ll: Option<&PartWindow>) -> String {
        let mut out = String::with_capacity(160 + 64 * self.window.len());
        let cmaf = self.window.front().is_some_and(|e| e.media.is_some());
        let _ = write!(out, "#EXTM3U\n#EXT-X-VERSION:{}\n", media_playlist_version(cmaf));
        let _ = writeln!(out, "#EXT-X-TARGETDURATION:{}", self.target);
        let _ = writeln!(out, "#EXT-X-MEDIA-SEQUENCE:{}", self.media_sequence());
        if self.discontinuities_left > 0 {
            let _ = writeln!(out, "#EXT-X-DISCONTINUITY-SEQUENCE:{}", self.discontinuities_left);
        }
        out.push_str("#EXT-X-INDEPENDENT-SEGMENTS\n");
        if let Some(ll) = ll {
            ll.write_header(&mut out);
        }
        let listed: num_rational::Ratio<i64> = self.window.iter().map(|e| e.duration).sum();
        let horizon = listed - num_rational::Ratio::from_integer(3 * self.target as i64);
        let mut end = num_rational::Ratio::from_integer(0);
        for (i, entry) in self.window.iter().enumerate() {
            end += entry.duration;
            if entry.discontinuity {
                out.push_str("#EXT-X-DISCONTINUITY\n");
            }
            let previous = i.checked_sub(1).and_then(|p| self.window.get(p));
            if let Some(map) = entry.map_line(previous) {
                out.push_str(&map);
            }
            if i == 0 || entry.discontinuity {
                let pdt = program_date_time(entry.program_date_time_ms);
                let _ = writeln!(out, "#EXT-X-PROGRAM-DATE-TIME:{pdt}");
            }
            if let Some(parts) = ll.filter(|_| end > horizon).and_then(|ll| ll.done.get(&entry.n)) {
                write_parts(&mut out, &entry.uri(), parts);
            }
            let _ = write!(out, "#EXTINF:{},\n{}\n", extinf(entry.duration), entry.uri());
        }
        if let Some(ll) = ll.filter(|_| !self.ended) {
            let last_init = self.window.back().and_then(|e| e.media.as_ref()).map(|m| m.init.as_str());
            ll.write_tail(&mut out, !self.window.is_empty(), last_init);
        }
        if self.ended {
            out.push_str("#EXT-X-ENDLIST\n");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use num_rational::Ratio;

    /// 2025-03-01T10:00:00.000Z
    const T0: i64 = 1_740_823_200_000;

    fn entry(n: u64, secs: i64, discontinuity: bool) -> PlaylistEntry {
        PlaylistEntry {
            n,
            duration: Ratio::from_integer(secs),
            discontinuity,
            program_date_time_ms: T0 + 3000 * n as i64,
            media: None,
        }
    }

    #[test]
    fn empty_playlist_has_only_the_header() {
        let live = LivePlaylist::new(3, 3);
        assert_eq!(
            live.render(),
            "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:3\n#EXT-X-MEDIA-SEQUENCE:0\n\
             #EXT-X-INDEPENDENT-SEGMENTS\n"
        );
    }

    #[test]
    fn reproduces_the_spec_example() {
        let mut live = LivePlaylist::new(3, 3);
        for n in 0..118 {
            live.push(entry(n, 3, n == 50));
        }
        live.push(PlaylistEntry { program_date_time_ms: 1_740_823_554_000, ..entry(118, 3, false) });
        live.push(entry(119, 3, false));
        live.push(PlaylistEntry { program_date_time_ms: 1_740_823_563_412, ..entry(120, 3, true) });
        assert_eq!(
            live.render(),
            "#EXTM3U\n\
             #EXT-X-VERSION:3\n\
             #EXT-X-TARGETDURATION:3\n\
             #EXT-X-MEDIA-SEQUENCE:118\n\
             #EXT-X-DISCONTINUITY-SEQUENCE:1\n\
             #EXT-X-INDEPENDENT-SEGMENTS\n\
             #EXT-X-PROGRAM-DATE-TIME:2025-03-01T10:05:54.000Z\n\
             #EXTINF:3.000000,\n\
             118.ts\n\
             #EXTINF:3.000000,\n\
             119.ts\n\
             #EXT-X-DISCONTINUITY\n\
             #EXT-X-PROGRAM-DATE-TIME:2025-03-01T10:06:03.412Z\n\
             #EXTINF:3.000000,\n\
             120.ts\n"
        );
    }

    #[test]
    fn window_slides_and_media_sequence_follows_the_first_entry() {
        let mut live = LivePlaylist::new(3, 2);
        live.push(entry(0, 3, false));
        assert_eq!(live.media_sequence(), 0);
        live.push(entry(1, 3, false));
        live.push(entry(2, 3, false));
        assert_eq!(live.media_sequence(), 1);
        assert_eq!(
            live.render(),
            "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:3\n#EXT-X-MEDIA-SEQUENCE:1\n\
             #EXT-X-INDEPENDENT-SEGMENTS\n\
             #EXT-X-PROGRAM-DATE-TIME:2025-03-01T10:00:03.000Z\n\
             #EXTINF:3.000000,\n1.ts\n#EXTINF:3.000000,\n2.ts\n"
        );
    }

    #[test]
    fn media_sequence_counts_pushes_not_segment_numbers() {
        let mut live = LivePlaylist::new(3, 2);
        live.push(entry(0, 3, false));
        live.push(entry(5, 3, true));
        live.push(entry(6, 3, false));
        assert_eq!(live.media_sequence(), 1);
        let text = live.render();
        assert!(text.contains("#EXT-X-MEDIA-SEQUENCE:1\n"), "{text}");
        assert!(
            text.contains(
                "#EXT-X-DISCONTINUITY\n#EXT-X-PROGRAM-DATE-TIME:2025-03-01T10:00:15.000Z\n#EXTINF:3.000000,\n5.ts\n"
            ),
            "{text}"
        );
    }

    #[test]
    fn discontinuity_sequence_appears_once_a_marked_entry_leaves() {
        let mut live = LivePlaylist::new(3, 2);
        live.push(entry(0, 3, false));
        live.push(entry(1, 3, true));
        live.push(entry(2, 3, false));
        let text = live.render();
        assert!(!text.contains("DISCONTINUITY-SEQUENCE"), "{text}");
        assert!(text.starts_with("#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:3\n#EXT-X-MEDIA-SEQUENCE:1\n#EXT-X-INDEPENDENT-SEGMENTS\n#EXT-X-DISCONTINUITY\n"), "{text}");
        live.push(entry(3, 3, false));
        assert_eq!(
            live.render(),
            "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:3\n#EXT-X-MEDIA-SEQUENCE:2\n\
             #EXT-X-DISCONTINUITY-SEQUENCE:1\n#EXT-X-INDEPENDENT-SEGMENTS\n\
             #EXT-X-PROGRAM-DATE-TIME:2025-03-01T10:00:06.000Z\n\
             #EXTINF:3.000000,\n2.ts\n#EXTINF:3.000000,\n3.ts\n"
        );
    }

    #[test]
    fn target_duration_rises_and_never_decreases() {
        let mut live = LivePlaylist::new(3, 1);
        live.push(entry(0, 3, false));
        assert_eq!(live.target_duration(), 3);
        live.push(PlaylistEntry { duration: Ratio::new(9, 2), ..entry(1, 0, false) });
        assert_eq!(live.target_duration(), 5);
        live.push(entry(2, 3, false));
        assert_eq!(
            live.render(),
            "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:5\n#EXT-X-MEDIA-SEQUENCE:2\n\
             #EXT-X-INDEPENDENT-SEGMENTS\n\
             #EXT-X-PROGRAM-DATE-TIME:2025-03-01T10:00:06.000Z\n\
             #EXTINF:3.000000,\n2.ts\n"
        );
    }

    #[test]
    fn end_appends_endlist_and_keeps_the_window() {
        let mut live = LivePlaylist::new(3, 2);
        live.push(entry(0, 3, false));
        live.push(PlaylistEntry { duration: Ratio::new(3003, 2000), ..entry(1, 0, false) });
        let before = live.render();
        live.end();
        assert!(live.is_ended());
        assert_eq!(live.render(), format!("{before}#EXT-X-ENDLIST\n"));
        assert!(before.ends_with("#EXTINF:1.501500,\n1.ts\n"), "{before}");
    }

    #[test]
    fn zero_size_behaves_as_a_window_of_one() {
        let mut live = LivePlaylist::new(3, 0);
        live.push(entry(0, 3, false));
        live.push(entry(1, 3, false));
        assert_eq!(live.media_sequence(), 1);
        assert!(live.render().ends_with("#EXTINF:3.000000,\n1.ts\n"));
    }

    #[test]
    fn serde_round_trip_keeps_every_counter() {
        let mut live = LivePlaylist::new(3, 2);
        for n in 0..5 {
            live.push(entry(n, 3, n == 1));
        }
        let json = serde_json::to_string(&live).unwrap();
        let mut back: LivePlaylist = serde_json::from_str(&json).unwrap();
        assert_eq!(back, live);
        back.push(entry(5, 4, false));
        live.push(entry(5, 4, false));
        assert_eq!(back.render(), live.render());
    }

    fn parts(durations: &[Ratio<i64>], bytes: u64) -> Vec<crate::hls::parts::PartEntry> {
        let mut offset = 0;
        let mut out = Vec::new();
        for (i, &duration) in durations.iter().enumerate() {
            out.push(crate::hls::parts::PartEntry { duration, offset, len: bytes, independent: i == 0 });
            offset += bytes;
        }
        out
    }

    #[test]
    fn low_latency_lines_follow_rfc_8216bis() {
        use crate::hls::parts::{OpenSegment, PartWindow, RenditionReport};
        // 2-second segments in 0.5-second parts (TS-style entries: only the LL lines matter).
        let mut live = LivePlaylist::new(2, 6);
        let half = Ratio::new(1, 2);
        let mut ll = PartWindow { part_target: half, ..PartWindow::default() };
        for n in 0..4 {
            live.push(entry(n, 2, false));
            ll.done.insert(n, parts(&[half; 4], 100));
        }
        ll.open = Some(OpenSegment {
            uri: "4.m4s".into(),
            parts: parts(&[half, Ratio::new(2, 5)], 100),
            init: None,
            discontinuity: false,
            program_date_time_ms: T0 + 12_000,
        });
        ll.hint = Some(("4.m4s".into(), 200));
        ll.reports = vec![
            RenditionReport { uri: "../audio/live.m3u8".into(), last_msn: 4, last_part: Some(1) },
            RenditionReport { uri: "../720p/live.m3u8".into(), last_msn: 3, last_part: None },
        ];
        let text = live.render_low_latency(&ll);
        assert!(text.contains("#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=1.5\n"), "{text}");
        assert!(text.contains("#EXT-X-PART-INF:PART-TARGET=0.5\n"), "{text}");
        // Segments 0..=3 end at 2, 4, 6, 8 s: the last 3 target durations start at 2 s, so
        // segment 0 lists no parts and 1, 2, 3 do.
        assert!(!text.contains("URI=\"0.ts\""), "{text}");
        let tail = "#EXT-X-PART:DURATION=0.500000,URI=\"3.ts\",BYTERANGE=\"100@300\"\n#EXTINF:2.000000,\n3.ts\n\
                    #EXT-X-PART:DURATION=0.500000,URI=\"4.m4s\",BYTERANGE=\"100@0\",INDEPENDENT=YES\n\
                    #EXT-X-PART:DURATION=0.400000,URI=\"4.m4s\",BYTERANGE=\"100@100\"\n\
                    #EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"4.m4s\",BYTERANGE-START=200\n\
                    #EXT-X-RENDITION-REPORT:URI=\"../audio/live.m3u8\",LAST-MSN=4,LAST-PART=1\n\
                    #EXT-X-RENDITION-REPORT:URI=\"../720p/live.m3u8\",LAST-MSN=3\n";
        assert!(text.ends_with(tail), "{text}");
        assert_eq!(text.matches("INDEPENDENT=YES").count(), 4, "{text}");
        // Without parts the playlist is exactly as before; an ended one keeps only its parts.
        assert!(!live.render().contains("EXT-X-PART"));
        live.end();
        let ended = live.render_low_latency(&ll);
        assert!(ended.ends_with("#EXTINF:2.000000,\n3.ts\n#EXT-X-ENDLIST\n"), "{ended}");
        assert!(!ended.contains("PRELOAD-HINT") && !ended.contains("RENDITION-REPORT"), "{ended}");
    }

    #[test]
    fn parts_of_a_first_or_new_timeline_segment_carry_its_map_and_date() {
        use crate::hls::parts::{OpenSegment, PartWindow};
        let half = Ratio::new(1, 2);
        let open = |discontinuity| OpenSegment {
            uri: "0.m4s".into(),
            parts: parts(&[half], 10),
            init: Some("init-0.mp4".into()),
            discontinuity,
            program_date_time_ms: T0,
        };
        let ll = PartWindow { part_target: half, open: Some(open(false)), ..PartWindow::default() };
        let text = LivePlaylist::new(2, 3).render_low_latency(&ll);
        assert!(
            text.ends_with(
                "#EXT-X-MAP:URI=\"init-0.mp4\"\n#EXT-X-PROGRAM-DATE-TIME:2025-03-01T10:00:00.000Z\n\
                 #EXT-X-PART:DURATION=0.500000,URI=\"0.m4s\",BYTERANGE=\"10@0\",INDEPENDENT=YES\n"
            ),
            "{text}"
        );
        let mut live = LivePlaylist::new(2, 3);
        live.push(entry(5, 2, false));
        let ll = PartWindow { part_target: half, open: Some(open(true)), ..PartWindow::default() };
        let text = live.render_low_latency(&ll);
        assert!(
            text.contains("5.ts\n#EXT-X-DISCONTINUITY\n#EXT-X-MAP:URI=\"init-0.mp4\"\n#EXT-X-PROGRAM-DATE-TIME:"),
            "{text}"
        );
    }
}
