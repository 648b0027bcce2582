//! The MPD text (ISO/IEC 23009-1, live profile) of a [`Presentation`]: a pure function from
//! values to bytes, so the same state always renders the same manifest.
//!
//! Every Representation carries its own `SegmentTemplate` with an explicit `SegmentTimeline`:
//! the durations are the integers the segments were cut with (no `@duration` average that
//! would drift), and the URLs are the files the HLS playlists list.

use std::fmt::Write;

use num_rational::Ratio;

use crate::hls::format::{decimal_trimmed, program_date_time};

/// Live profile: `SegmentTemplate` addressing, one init segment per Representation.
const PROFILE: &str = "urn:mpeg:dash:profile:isoff-live:2011";

/// One manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Presentation {
    pub kind: Kind,
    /// `MPD@minBufferTime`, seconds.
    pub min_buffer: Ratio<i64>,
    /// `MPD@maxSegmentDuration`, seconds: the longest segment listed.
    pub max_segment: Ratio<i64>,
    /// In presentation order; their starts never decrease.
    pub periods: Vec<Period>,
}

/// `MPD@type` and the attributes that go with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// `type="dynamic"`: the live window.
    Dynamic {
        /// `MPD@availabilityStartTime`, Unix ms: fixed for the life of the stream.
        availability_start_ms: i64,
        /// `MPD@publishTime` and the `UTCTiming` value, Unix ms.
        publish_ms: i64,
        /// `MPD@minimumUpdatePeriod`, seconds; `None` once the stream has ended.
        update_period: Option<Ratio<i64>>,
        /// `MPD@timeShiftBufferDepth`, seconds.
        time_shift_buffer: Ratio<i64>,
        /// `MPD@suggestedPresentationDelay`, seconds.
        presentation_delay: Ratio<i64>,
        /// `MPD@mediaPresentationDuration` once the stream has ended: the end of its last
        /// segment, counted from the availability start.
        ended_at: Option<Ratio<i64>>,
    },
    /// `type="static"`: a recording part.
    Static {
        /// `MPD@mediaPresentationDuration`, seconds.
        duration: Ratio<i64>,
    },
}

/// One `Period`: a stretch with one init segment per track and consecutive segment numbers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Period {
    pub id: String,
    /// `Period@start`, seconds (from the availability start when dynamic).
    pub start: Ratio<i64>,
    /// Video first, then audio when the stream has any.
    pub sets: Vec<AdaptationSet>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Content {
    Video,
    Audio,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdaptationSet {
    pub content: Content,
    pub representations: Vec<Representation>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Representation {
    /// `Representation@id`: the rendition's directory name (a checked label).
    pub id: String,
    /// RFC 6381 codecs of this track alone (`avc1.64001f`, `mp4a.40.2`).
    pub codecs: String,
    /// bit/s.
    pub bandwidth: u64,
    /// Video only: width, height, frame rate.
    pub picture: Option<(u32, u32, Ratio<i64>)>,
    pub template: Template,
}

/// `SegmentTemplate` with its `SegmentTimeline`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    pub timescale: u32,
    /// `@presentationTimeOffset`: the media time at which the Period starts.
    pub presentation_time_offset: u64,
    /// `@initialization`, relative to the MPD.
    pub initialization: String,
    /// `@media`, relative to the MPD, with `$Number$`.
    pub media: String,
    /// `@startNumber`: the number of the first segment of `timeline`.
    pub start_number: u64,
    /// (media time, duration) of consecutive segment numbers, in `timescale` units.
    pub timeline: Vec<(u64, u64)>,
}

impl Presentation {
    /// The manifest text, exactly as stored.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(1024);
        out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        let _ = write!(out, "<MPD xmlns=\"urn:mpeg:dash:schema:mpd:2011\" profiles=\"{PROFILE}\"");
        match &self.kind {
            Kind::Dynamic {
                availability_start_ms,
                publish_ms,
                update_period,
                time_shift_buffer,
                presentation_delay,
                ended_at,
            } => {
                out.push_str(" type=\"dynamic\"");
                attr(&mut out, "availabilityStartTime", &program_date_time(*availability_start_ms));
                attr(&mut out, "publishTime", &program_date_time(*publish_ms));
                if let Some(period) = update_period {
                    attr(&mut out, "minimumUpdatePeriod", &duration(*period));
                }
                if let Some(end) = ended_at {
                    attr(&mut out, "mediaPresentationDuration", &duration(*end));
                }
                attr(&mut out, "timeShiftBufferDepth", &duration(*time_shift_buffer));
                attr(&mut out, "suggestedPresentationDelay", &duration(*presentation_delay));
            }
            Kind::Static { duration: total } => {
                out.push_str(" type=\"static\"");
                attr(&mut out, "mediaPresentationDuration", &duration(*total));
            }
        }
        attr(&mut out, "maxSegmentDuration", &duration(self.max_segment));
        attr(&mut out, "minBufferTime", &duration(self.min_buffer));
        out.push_str(">\n");
        for period in &self.periods {
            render_period(&mut out, period);
        }
        if let Kind::Dynamic { publish_ms, .. } = &self.kind {
            // The publish time is when this text was made: a client that reads it knows the
            // time was at least that, so it never asks for a segment that is not there yet.
            let _ = writeln!(
                out,
                "  <UTCTiming schemeIdUri=\"urn:mpeg:dash:utc:direct:2014\" value=\"{}\"/>",
                program_date_time(*publish_ms)
            );
        }
        out.push_str("</MPD>\n");
        out
    }
}

fn render_period(out: &mut String, period: &Period) {
    let _ = write!(out, "  <Period");
    attr(out, "id", &period.id);
    attr(out, "start", &duration(period.start));
    out.push_str(">\n");
    for set in &period.sets {
        let content = match set.content {
            Content::Video => "video",
            Content::Audio => "audio",
        };
        let mime = match set.content {
            Content::Video => "video/mp4",
            Content::Audio => "audio/mp4",
        };
        let _ = write!(out, "    <AdaptationSet contentType=\"{content}\" mimeType=\"{mime}\"");
        out.push_str(" segmentAlignment=\"true\" startWithSAP=\"1\">\n");
        for rep in &set.representations {
            render_representation(out, rep);
        }
        out.push_str("    </AdaptationSet>\n");
    }
    out.push_str("  </Period>\n");
}

fn render_representation(out: &mut String, rep: &Representation) {
    out.push_str("      <Representation");
    attr(out, "id", &rep.id);
    attr(out, "codecs", &rep.codecs);
    attr(out, "bandwidth", &rep.bandwidth.to_string());
    if let Some((width, height, rate)) = rep.picture {
        attr(out, "width", &width.to_string());
        attr(out, "height", &height.to_string());
        attr(out, "frameRate", &frame_rate(rate));
    }
    out.push_str(">\n");
    let t = &rep.template;
    out.push_str("        <SegmentTemplate");
    attr(out, "timescale", &t.timescale.to_string());
    attr(out, "presentationTimeOffset", &t.presentation_time_offset.to_string());
    attr(out, "initialization", &t.initialization);
    attr(out, "media", &t.media);
    attr(out, "startNumber", &t.start_number.to_string());
    out.push_str(">\n          <SegmentTimeline>\n");
    render_timeline(out, &t.timeline);
    out.push_str("          </SegmentTimeline>\n        </SegmentTemplate>\n      </Representation>\n");
}

/// `S` elements, run-length coded: `@t` on the first and after any gap, `@r` for repeats of
/// one duration without a gap.
fn render_timeline(out: &mut String, timeline: &[(u64, u64)]) {
    let mut i = 0;
    let mut expected: Option<u64> = None;
    while i < timeline.len() {
        let (t, d) = timeline[i];
        let mut repeats = 0;
        while let Some(&(next_t, next_d)) = timeline.get(i + repeats + 1) {
            if next_d != d || next_t != t + d * (repeats as u64 + 1) {
                break;
            }
            repeats += 1;
        }
        out.push_str("            <S");
        if expected != Some(t) {
            attr(out, "t", &t.to_string());
        }
        attr(out, "d", &d.to_string());
        if repeats > 0 {
            attr(out, "r", &repeats.to_string());
        }
        out.push_str("/>\n");
        i += repeats + 1;
        expected = Some(t + d * (repeats as u64 + 1));
    }
}

fn attr(out: &mut String, name: &str, value: &str) {
    let _ = write!(out, " {name}=\"");
    for c in value.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// xs:duration in seconds: `PT2S`, `PT3.003S`, exact to the microsecond.
fn duration(seconds: Ratio<i64>) -> String {
    format!("PT{}S", decimal_trimmed(seconds))
}

/// `FrameRateType`: `30`, or `30000/1001` when not whole.
fn frame_rate(rate: Ratio<i64>) -> String {
    if rate.is_integer() {
        rate.to_integer().to_string()
    } else {
        format!("{}/{}", rate.numer(), rate.denom())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timeline_text(timeline: &[(u64, u64)]) -> String {
        let mut out = String::new();
        render_timeline(&mut out, timeline);
        out.lines().map(str::trim).collect::<Vec<_>>().join("")
    }

    #[test]
    fn timeline_repeats_equal_contiguous_durations_and_marks_gaps() {
        assert_eq!(
            timeline_text(&[(900, 180), (1080, 180), (1260, 180), (1440, 179), (1800, 180)]),
            "<S t=\"900\" d=\"180\" r=\"2\"/><S d=\"179\"/><S t=\"1800\" d=\"180\"/>"
        );
        assert_eq!(timeline_text(&[]), "");
    }

    #[test]
    fn durations_and_rates_use_their_exact_forms() {
        assert_eq!(duration(Ratio::new(3003, 1000)), "PT3.003S");
        assert_eq!(duration(Ratio::from_integer(12)), "PT12S");
        assert_eq!(duration(Ratio::from_integer(0)), "PT0S");
        assert_eq!(frame_rate(Ratio::new(30000, 1001)), "30000/1001");
        assert_eq!(frame_rate(Ratio::from_integer(25)), "25");
    }

    #[test]
    fn attribute_values_are_escaped() {
        let mut out = String::new();
        attr(&mut out, "id", "a&b\"<c>");
        assert_eq!(out, " id=\"a&amp;b&quot;&lt;c&gt;\"");
    }
}
