//! Builders shared by the unit tests of several modules: one rendition, its description in a
//! stream's publication state, a one-rendition stream configuration, a published group, and a
//! seeded random number generator for the randomised runs. Tests change what they care about
//! with struct update syntax (`Rendition { original: true, ..rendition(...) }`).

use num_rational::Ratio;

use crate::hls::state::{GroupRecord, RenditionDesc, RenditionSegment, StreamConfig};
use crate::ladder::Rendition;

/// A `w`x`h` rendition at 30 fps, not ORIGINAL, without a bit rate cap.
pub fn rendition(label: &str, w: u32, h: u32) -> Rendition {
    Rendition {
        label: label.into(),
        original: false,
        width: w,
        height: h,
        encoded_width: w,
        encoded_height: h,
        rate: Ratio::new(30, 1),
        max_kbps: None,
    }
}

/// How the publication state describes `rendition`, encoded with `codecs`.
pub fn rendition_desc(rendition: &Rendition, codecs: &str) -> RenditionDesc {
    RenditionDesc {
        label: rendition.label.clone(),
        encoded_width: rendition.encoded_width,
        encoded_height: rendition.encoded_height,
        frame_rate: rendition.rate,
        codecs: codecs.into(),
        max_kbps: rendition.max_kbps,
    }
}

/// Stream `stream_id` of channel `c1` publishing `rendition` alone: one-second segments, three
/// live entries, recording parts of two, 128 kbit/s audio, master playlists.
pub fn stream_config(stream_id: &str, rendition: RenditionDesc) -> StreamConfig {
    StreamConfig {
        channel: "c1".into(),
        stream_id: stream_id.into(),
        renditions: vec![rendition],
        hls_time: 1,
        live_size: 3,
        vod_max_size: 2,
        record: true,
        audio_kbps: 128,
        master: true,
        format: Default::default(),
        dash: false,
    }
}

/// Group `n` of one rendition, every group `duration` long and 50 000 bytes, its
/// PROGRAM-DATE-TIME `n` durations after 2023-11-14T22:13:20Z.
pub fn group(n: u64, duration: Ratio<i64>) -> GroupRecord {
    let start = duration * Ratio::from_integer(n as i64 * 1000);
    GroupRecord {
        n,
        discontinuity: false,
        program_date_time_ms: 1_700_000_000_000 + start.to_integer(),
        renditions: vec![RenditionSegment { duration, bytes: 50_000, media: None }],
        tracks: None,
        audio: None,
        captions: None,
    }
}

/// xorshift64*: enough randomness for interleavings, no extra crate. Seeded, so a failing run
/// can be replayed.
pub struct Rng(pub u64);

impl Rng {
    pub fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n
    }

    pub fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }
}
