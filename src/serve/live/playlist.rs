//! A low-latency media playlist as the origin reads it, and what a request gets from it: pure
//! functions of the playlist's text, tested without files or sockets.
//!
//! Parts are byte ranges of the segment being made (`EXT-X-PART:...,URI="6.m4s",
//! BYTERANGE="12000@0"`): the worker appends each part to the segment file in place before it
//! rewrites the playlist that lists it, so the file may already hold more than the playlist
//! lists, and only the playlist says which bytes are complete. Parts that are files of their
//! own (`URI="6.2.m4s"`, no BYTERANGE) are read too: such a file is complete once listed.

use std::sync::Arc;
use std::time::Duration;

/// Bytes `start..start + len` of a segment file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    pub start: u64,
    pub len: u64,
}

impl Span {
    fn end(&self) -> u64 {
        self.start + self.len
    }

    fn contains(&self, offset: u64) -> bool {
        (self.start..self.end()).contains(&offset)
    }
}

/// One `EXT-X-PART`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    pub uri: String,
    /// `None`: the part is a file of its own.
    pub span: Option<Span>,
}

/// `EXT-X-PRELOAD-HINT:TYPE=PART`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hint {
    pub uri: String,
    /// `BYTERANGE-START`: the hinted part starts there in `uri` (a growing segment).
    pub start: Option<u64>,
}

/// What the origin needs of a media playlist.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Playlist {
    pub text: Arc<str>,
    pub target_duration: f64,
    pub media_sequence: u64,
    /// URIs of the complete segments listed (`EXTINF` + URI), oldest first.
    pub segments: Vec<String>,
    /// Every `EXT-X-PART` listed (all written, invariant 1), oldest first.
    pub parts: Vec<Part>,
    /// `EXT-X-PART` lines after the last complete segment: parts of the segment being made.
    pub trailing_parts: u64,
    pub hint: Option<Hint>,
    /// `EXT-X-PART-INF` present: a low-latency playlist.
    pub low_latency: bool,
    pub ended: bool,
}

/// The value of attribute `name` of a tag line (`#EXT-X-PART:DURATION=0.3,URI="a.m4s"`).
fn attribute<'a>(line: &'a str, name: &str) -> Option<&'a str> {
    let (_, attrs) = line.split_once(':')?;
    // Attribute values (URI, TYPE, BYTERANGE) never contain commas except inside quotes;
    // split on commas outside quotes.
    let mut rest = attrs;
    while !rest.is_empty() {
        let (key, after) = rest.split_once('=')?;
        let (value, next) = if let Some(quoted) = after.strip_prefix('"') {
            let end = quoted.find('"')?;
            (&quoted[..end], quoted[end + 1..].trim_start_matches(','))
        } else {
            match after.split_once(',') {
                Some((v, n)) => (v, n),
                None => (after, ""),
            }
        };
        if key.trim() == name {
            return Some(value);
        }
        rest = next;
    }
    None
}

impl Playlist {
    pub fn parse(text: &str) -> Playlist {
        let mut p = Playlist { text: Arc::from(text), ..Playlist::default() };
        let mut in_segment = false;
        for line in text.lines().map(str::trim) {
            if let Some(v) = line.strip_prefix("#EXT-X-TARGETDURATION:") {
                p.target_duration = v.trim().parse().unwrap_or(0.0);
            } else if let Some(v) = line.strip_prefix("#EXT-X-MEDIA-SEQUENCE:") {
                p.media_sequence = v.trim().parse().unwrap_or(0);
            } else if line.starts_with("#EXT-X-PART-INF") {
                p.low_latency = true;
            } else if line.starts_with("#EXT-X-PART:") {
                p.trailing_parts += 1;
                if let Some(uri) = attribute(line, "URI") {
                    let span = attribute(line, "BYTERANGE").and_then(|r| p.byterange(uri, r));
                    p.parts.push(Part { uri: uri.to_string(), span });
                }
            } else if line.starts_with("#EXT-X-PRELOAD-HINT:") {
                if attribute(line, "TYPE") == Some("PART") {
                    p.hint = attribute(line, "URI").map(|uri| Hint {
                        uri: uri.to_string(),
                        start: attribute(line, "BYTERANGE-START").and_then(|s| s.parse().ok()),
                    });
                }
            } else if line.starts_with("#EXTINF") {
                in_segment = true;
            } else if line.starts_with("#EXT-X-ENDLIST") {
                p.ended = true;
            } else if !line.is_empty() && !line.starts_with('#') && in_segment {
                p.segments.push(line.to_string());
                p.trailing_parts = 0;
                in_segment = false;
            }
        }
        p
    }

    /// `len@offset`, or `len` alone: then it follows the previous part of the same URI
    /// (RFC 8216bis §4.4.4.9).
    fn byterange(&self, uri: &str, value: &str) -> Option<Span> {
        let (len, start) = match value.split_once('@') {
            Some((len, start)) => (len.parse().ok()?, start.parse().ok()?),
            None => {
                let previous = self.parts.last().filter(|p| p.uri == uri).and_then(|p| p.span);
                (value.parse().ok()?, previous.map_or(0, |s| s.end()))
            }
        };
        Some(Span { start, len })
    }

    /// The next segment's number, the one being made.
    fn next_msn(&self) -> u64 {
        self.media_sequence + self.segments.len() as u64
    }

    /// Whether a request for part `part` (or, without one, the whole segment) of segment
    /// `msn` can be answered with this playlist: it lists that part, or a later segment.
    pub fn has(&self, msn: u64, part: Option<u64>) -> bool {
        if self.ended || msn < self.next_msn() {
            return true;
        }
        msn == self.next_msn() && part.is_some_and(|p| p < self.trailing_parts)
    }

    /// RFC 8216bis §6.2.5.2: more than two segments beyond the last one is a bad request.
    pub fn too_far_ahead(&self, msn: u64) -> bool {
        // The last segment is next_msn - 1; "plus two" allows up to next_msn + 1.
        !self.ended && msn > self.next_msn() + 1
    }

    /// The longest a request is held: three target durations (RFC 8216bis §6.2.5.2).
    pub fn hold_limit(&self) -> Duration {
        let target = if self.target_duration > 0.0 { self.target_duration } else { 2.0 };
        Duration::from_secs_f64(3.0 * target)
    }

    /// Whether the file `name` is complete: listed as a segment, or as a part file.
    fn complete(&self, name: &str) -> bool {
        self.segments.iter().any(|s| s == name) || self.parts.iter().any(|p| p.uri == name && p.span.is_none())
    }

    /// What a GET for the file `name` beside this playlist gets, given what its Range header
    /// asks.
    pub fn answer(&self, name: &str, ask: Ask) -> Answer {
        if !self.low_latency {
            return Answer::Ready(Serve::AsUsual { immutable: false });
        }
        let complete = self.complete(name);
        if self.ended {
            return Answer::Ready(Serve::AsUsual { immutable: complete });
        }
        let spans: Vec<Span> = self.parts.iter().filter(|p| p.uri == name).filter_map(|p| p.span).collect();
        let listed = spans.iter().map(Span::end).max().unwrap_or(0);
        let hint = self.hint.as_ref().filter(|h| h.uri == name);
        // The hinted part is not written yet: whoever asks for it (or for bytes from its start)
        // waits for it.
        let hinted_at = |offset: u64| hint.is_some_and(|h| h.start.is_none_or(|s| s == offset));
        let mentioned = !spans.is_empty() || hint.is_some();
        match ask {
            _ if complete && !matches!(ask, Ask::From(_)) => Answer::Ready(Serve::AsUsual { immutable: true }),
            Ask::Whole if mentioned => Answer::Wait,
            Ask::Whole => Answer::Ready(Serve::AsUsual { immutable: false }),
            // An open-ended range from a part's start is how a player fetches a part it only
            // knows the start of (a preload hint): it gets that part, never more, so every
            // byte sent is complete.
            Ask::From(offset) => match spans.iter().find(|s| s.contains(offset)) {
                Some(span) => Answer::Ready(Serve::Bytes { start: offset, end: span.end() - 1, complete }),
                None if complete => Answer::Ready(Serve::AsUsual { immutable: true }),
                None if hinted_at(offset) => Answer::Wait,
                None if mentioned => Answer::BeyondListed { listed },
                None => Answer::Ready(Serve::AsUsual { immutable: false }),
            },
            Ask::Span { start, end } if start < listed => {
                Answer::Ready(Serve::Bytes { start, end: end.min(listed - 1), complete: false })
            }
            Ask::Span { start, .. } if hinted_at(start) => Answer::Wait,
            Ask::Span { .. } if mentioned => Answer::BeyondListed { listed },
            Ask::Span { .. } => Answer::Ready(Serve::AsUsual { immutable: false }),
        }
    }
}

/// What a GET's Range header asks, as far as the origin cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ask {
    /// No Range header, or one the origin does not treat specially (several ranges, a
    /// suffix): the whole file.
    Whole,
    /// `bytes=S-`.
    From(u64),
    /// `bytes=S-E`, both inclusive.
    Span { start: u64, end: u64 },
}

impl Ask {
    pub fn from_header(range: Option<&str>) -> Ask {
        let Some(spec) = range.and_then(|r| r.trim().split_once('=')) else { return Ask::Whole };
        if !spec.0.trim().eq_ignore_ascii_case("bytes") || spec.1.contains(',') {
            return Ask::Whole;
        }
        let Some((first, last)) = spec.1.trim().split_once('-') else { return Ask::Whole };
        let number =
            |s: &str| s.trim().bytes().all(|b| b.is_ascii_digit()).then(|| s.trim().parse::<u64>().ok()).flatten();
        match (number(first), last.trim()) {
            (Some(start), "") => Ask::From(start),
            (Some(start), last) => match number(last) {
                Some(end) if end >= start => Ask::Span { start, end },
                _ => Ask::Whole,
            },
            (None, _) => Ask::Whole,
        }
    }
}

/// How a file request is served once it need not wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Serve {
    /// From the file as it is on disk, its Range header honoured as for any file;
    /// `immutable` when the playlist lists it complete.
    AsUsual { immutable: bool },
    /// Exactly bytes `start..=end` of the file, all of them listed; `complete` when the
    /// segment is listed whole (its length is final then, and can be sent).
    Bytes { start: u64, end: u64, complete: bool },
}

/// What a file request gets from the playlist beside it now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    Ready(Serve),
    /// Not listed yet but hinted at, or a segment still being made asked for whole: ask again
    /// with a newer playlist.
    Wait,
    /// A range beyond the `listed` bytes of a segment being made, not at the hint: 416.
    BeyondListed {
        listed: u64,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A live playlist as the worker writes it (parts as byte ranges of the growing segment).
    const BYTE_RANGES: &str = "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:3\n\
#EXT-X-INDEPENDENT-SEGMENTS\n#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=1\n\
#EXT-X-PART-INF:PART-TARGET=0.333\n#EXT-X-MAP:URI=\"init-0.mp4\"\n\
#EXT-X-PROGRAM-DATE-TIME:2026-12-06T17:00:00.000Z\n#EXTINF:2.000000,\n3.m4s\n#EXTINF:2.000000,\n4.m4s\n\
#EXT-X-PART:DURATION=0.3,URI=\"5.m4s\",BYTERANGE=\"12345@0\",INDEPENDENT=YES\n\
#EXT-X-PART:DURATION=0.3,URI=\"5.m4s\",BYTERANGE=\"11000@12345\"\n#EXTINF:2.000000,\n5.m4s\n\
#EXT-X-PART:DURATION=0.3,URI=\"6.m4s\",BYTERANGE=\"12000@0\",INDEPENDENT=YES\n\
#EXT-X-PART:DURATION=0.3,URI=\"6.m4s\",BYTERANGE=\"9000\"\n\
#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"6.m4s\",BYTERANGE-START=21000\n\
#EXT-X-RENDITION-REPORT:URI=\"../audio/live.m3u8\",LAST-MSN=6,LAST-PART=0\n";

    #[test]
    fn a_byte_range_playlist_is_read_as_the_origin_needs() {
        let p = Playlist::parse(BYTE_RANGES);
        assert!(p.low_latency && !p.ended);
        assert_eq!((p.media_sequence, p.segments.len(), p.trailing_parts), (3, 3, 2));
        assert_eq!(p.hint, Some(Hint { uri: "6.m4s".into(), start: Some(21000) }));
        let spans: Vec<_> = p.parts.iter().map(|p| (p.uri.as_str(), p.span.unwrap())).collect();
        assert_eq!(
            spans,
            [
                ("5.m4s", Span { start: 0, len: 12345 }),
                ("5.m4s", Span { start: 12345, len: 11000 }),
                ("6.m4s", Span { start: 0, len: 12000 }),
                // No offset: it follows the previous part of the same segment.
                ("6.m4s", Span { start: 12000, len: 9000 }),
            ]
        );
        assert!(p.has(5, None) && p.has(6, Some(1)) && !p.has(6, Some(2)) && !p.has(6, None));
        assert!(!p.too_far_ahead(7) && p.too_far_ahead(8));
        assert_eq!(p.hold_limit(), Duration::from_secs(6));
    }

    #[test]
    fn the_hinted_part_of_a_growing_segment_waits_and_is_then_served_exactly() {
        let p = Playlist::parse(BYTE_RANGES);
        let answer = |name, range| p.answer(name, Ask::from_header(range));
        let bytes = |start, end, complete| Answer::Ready(Serve::Bytes { start, end, complete });
        // The hint: wait, whatever the end of the range asked.
        assert_eq!(answer("6.m4s", Some("bytes=21000-")), Answer::Wait);
        assert_eq!(answer("6.m4s", Some("bytes=21000-30000")), Answer::Wait);
        // A listed part by its start alone: that part, never the bytes after it.
        assert_eq!(answer("6.m4s", Some("bytes=12000-")), bytes(12000, 20999, false));
        assert_eq!(answer("6.m4s", Some("bytes=0-")), bytes(0, 11999, false));
        // A closed range within the listed bytes; one reaching beyond them is cut there.
        assert_eq!(answer("6.m4s", Some("bytes=100-199")), bytes(100, 199, false));
        assert_eq!(answer("6.m4s", Some("bytes=20000-99999")), bytes(20000, 20999, false));
        // Beyond the listed bytes and not the hint: nothing there that is complete.
        assert_eq!(answer("6.m4s", Some("bytes=30000-")), Answer::BeyondListed { listed: 21000 });
        // The growing segment whole (or a range the origin does not split): wait until it is
        // listed complete.
        assert_eq!(answer("6.m4s", None), Answer::Wait);
        assert_eq!(answer("6.m4s", Some("bytes=-500")), Answer::Wait);
        // A complete segment: as any file, immutable; its parts still by their start.
        assert_eq!(answer("5.m4s", None), Answer::Ready(Serve::AsUsual { immutable: true }));
        assert_eq!(answer("5.m4s", Some("bytes=0-99")), Answer::Ready(Serve::AsUsual { immutable: true }));
        assert_eq!(answer("5.m4s", Some("bytes=12345-")), bytes(12345, 23344, true));
        assert_eq!(answer("3.m4s", Some("bytes=5-")), Answer::Ready(Serve::AsUsual { immutable: true }));
        // Not mentioned at all: as today.
        assert_eq!(answer("9.m4s", None), Answer::Ready(Serve::AsUsual { immutable: false }));
        assert_eq!(answer("init-0.mp4", Some("bytes=0-")), Answer::Ready(Serve::AsUsual { immutable: false }));
    }

    #[test]
    fn a_hint_at_the_next_segment_waits_for_its_first_part() {
        let text = BYTE_RANGES.replace("URI=\"6.m4s\",BYTERANGE-START=21000", "URI=\"7.m4s\",BYTERANGE-START=0");
        let p = Playlist::parse(&text);
        assert_eq!(p.answer("7.m4s", Ask::From(0)), Answer::Wait);
        assert_eq!(p.answer("7.m4s", Ask::Whole), Answer::Wait);
        let next = format!("{text}#EXT-X-PART:DURATION=0.3,URI=\"7.m4s\",BYTERANGE=\"500@0\",INDEPENDENT=YES\n");
        let p = Playlist::parse(&next);
        assert_eq!(
            p.answer("7.m4s", Ask::From(0)),
            Answer::Ready(Serve::Bytes { start: 0, end: 499, complete: false })
        );
        let ended = format!("{text}#EXT-X-ENDLIST\n");
        assert_eq!(
            Playlist::parse(&ended).answer("7.m4s", Ask::From(0)),
            Answer::Ready(Serve::AsUsual { immutable: false })
        );
    }

    #[test]
    fn part_files_are_complete_once_listed() {
        let text = "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-PART-INF:PART-TARGET=0.333\n\
#EXT-X-MEDIA-SEQUENCE:5\n#EXTINF:2.0,\n5.m4s\n#EXT-X-PART:DURATION=0.333,URI=\"6.0.m4s\",INDEPENDENT=YES\n\
#EXT-X-PART:DURATION=0.333,URI=\"6.1.m4s\"\n#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"6.2.m4s\"\n";
        let p = Playlist::parse(text);
        assert_eq!((p.media_sequence, p.segments.len(), p.trailing_parts), (5, 1, 2));
        assert_eq!(p.hint, Some(Hint { uri: "6.2.m4s".into(), start: None }));
        assert!(p.has(5, Some(9)) && p.has(6, Some(1)) && !p.has(6, Some(2)) && !p.has(7, Some(0)));
        assert_eq!(p.answer("6.1.m4s", Ask::Whole), Answer::Ready(Serve::AsUsual { immutable: true }));
        assert_eq!(p.answer("6.2.m4s", Ask::Whole), Answer::Wait);
        assert_eq!(p.answer("6.2.m4s", Ask::From(0)), Answer::Wait);
        assert_eq!(p.answer("6.m4s", Ask::Whole), Answer::Ready(Serve::AsUsual { immutable: false }));
    }

    #[test]
    fn ranges_the_origin_splits_and_those_it_leaves_whole() {
        assert_eq!(Ask::from_header(Some("bytes=5-")), Ask::From(5));
        assert_eq!(Ask::from_header(Some("Bytes = 5 - 9")), Ask::Span { start: 5, end: 9 });
        for whole in
            [None, Some("bytes=-5"), Some("bytes=0-1,4-5"), Some("bytes=9-5"), Some("items=0-"), Some("bytes=x-")]
        {
            assert_eq!(Ask::from_header(whole), Ask::Whole, "{whole:?}");
        }
    }
}
