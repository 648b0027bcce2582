//! HLS output of one stream as pure values: playlist texts, paths to write and delete, and the
//! announcements they unlock (output-layout §6–§10, §12). No IO, no clock: the caller stores
//! what comes out and passes wall-clock times in.
//!
//! # Layout
//! - `format`: decimal, duration and date formats shared by every playlist.
//! - `live`: the sliding `live.m3u8` of one rendition.
//! - `vod`: one append-only recording part `vod-{K}.m3u8` of one rendition.
//! - `master`: `master.m3u8` / `master-vod-{K}.m3u8` and the bandwidth figures behind them.
//! - `state`: the stream's publication state machine, which ties the above together.

pub mod format;
pub mod live;
pub mod master;
pub mod preview;
pub mod state;
pub mod vod;

pub use live::LivePlaylist;
pub use state::{
    Announcement, FileWrite, GroupRecord, Publication, PublishError, RenditionDesc, RenditionSegment, StreamConfig,
    StreamState, StreamType,
};
pub use vod::VodPart;

use num_integer::Integer;
use num_rational::Ratio;
use serde::{Deserialize, Serialize};

/// One published segment as a media playlist lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlaylistEntry {
    /// Segment number: the URI is `{n}.ts`.
    pub n: u64,
    /// Exact EXTINF of this segment in this rendition.
    pub duration: Ratio<i64>,
    /// The segment starts a new timeline (after a skip or a restart).
    pub discontinuity: bool,
    /// Wall-clock time of the segment's first frame, Unix milliseconds.
    pub program_date_time_ms: i64,
}

/// Exact `a + b`. Durations share a few time bases in practice, so the sum stays small; should
/// hostile denominators overflow `i64`, both are rounded to microseconds instead of panicking.
pub(crate) fn add_duration(a: Ratio<i64>, b: Ratio<i64>) -> Ratio<i64> {
    exact_sum(a, b).unwrap_or_else(|| {
        let micros = format::round_scaled(a, 1_000_000) + format::round_scaled(b, 1_000_000);
        let micros = i64::try_from(micros).unwrap_or(if micros < 0 { i64::MIN } else { i64::MAX });
        Ratio::new(micros, 1_000_000)
    })
}

/// `a + b` computed in `i128` and reduced, if the result fits `Ratio<i64>`.
fn exact_sum(a: Ratio<i64>, b: Ratio<i64>) -> Option<Ratio<i64>> {
    let (an, ad) = (i128::from(*a.numer()), i128::from(*a.denom()));
    let (bn, bd) = (i128::from(*b.numer()), i128::from(*b.denom()));
    let numer = (an * bd).checked_add(bn * ad)?;
    let denom = ad * bd;
    if denom == 0 {
        return None;
    }
    let gcd = numer.gcd(&denom) * denom.signum();
    let (numer, denom) = (i64::try_from(numer / gcd).ok()?, i64::try_from(denom / gcd).ok()?);
    Some(Ratio::new_raw(numer, denom))
}

/// `hls/{ch}/{id}`: the stream's directory.
pub fn stream_dir(channel: &str, stream_id: &str) -> String {
    format!("hls/{channel}/{stream_id}")
}

/// `hls/{ch}/{id}/{RES}/{N}.ts`
pub fn segment_path(channel: &str, stream_id: &str, label: &str, n: u64) -> String {
    format!("{}/{label}/{n}.ts", stream_dir(channel, stream_id))
}

/// `hls/{ch}/{id}/{RES}/live.m3u8`
pub fn live_path(channel: &str, stream_id: &str, label: &str) -> String {
    format!("{}/{label}/live.m3u8", stream_dir(channel, stream_id))
}

/// `hls/{ch}/{id}/{RES}/vod-{K}.m3u8`
pub fn vod_path(channel: &str, stream_id: &str, label: &str, part: u64) -> String {
    format!("{}/{label}/vod-{part}.m3u8", stream_dir(channel, stream_id))
}

/// `hls/{ch}/{id}/master.m3u8`
pub fn master_path(channel: &str, stream_id: &str) -> String {
    format!("{}/master.m3u8", stream_dir(channel, stream_id))
}

/// `hls/{ch}/{id}/master-vod-{K}.m3u8`
pub fn master_vod_path(channel: &str, stream_id: &str, part: u64) -> String {
    format!("{}/master-vod-{part}.m3u8", stream_dir(channel, stream_id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_follow_the_layout_table() {
        assert_eq!(segment_path("c", "s", "640x360-30", 7), "hls/c/s/640x360-30/7.ts");
        assert_eq!(live_path("c", "s", "640x360-30"), "hls/c/s/640x360-30/live.m3u8");
        assert_eq!(vod_path("c", "s", "640x360-30", 2), "hls/c/s/640x360-30/vod-2.m3u8");
        assert_eq!(master_path("c", "s"), "hls/c/s/master.m3u8");
        assert_eq!(master_vod_path("c", "s", 0), "hls/c/s/master-vod-0.m3u8");
    }

    #[test]
    fn durations_add_exactly() {
        let sum = add_duration(Ratio::new(3003, 1000), Ratio::new(1, 3));
        assert_eq!(sum, Ratio::new(10009, 3000));
    }

    #[test]
    fn overflowing_durations_fall_back_to_microseconds() {
        let a = Ratio::new(1, i64::MAX);
        let b = Ratio::new(1, i64::MAX - 1);
        assert_eq!(add_duration(a, b), Ratio::new(0, 1));
        // ~146 000 years over a prime denominator: the exact sum overflows, microseconds do not.
        let big = Ratio::new(i64::MAX / 2, 1_000_003);
        let sum = add_duration(big, Ratio::new(1, 11));
        assert_eq!(1_000_000 % *sum.denom(), 0);
        let micros = |d| format::round_scaled(d, 1_000_000);
        assert_eq!(micros(sum), micros(big) + micros(Ratio::new(1, 11)));
    }
}
