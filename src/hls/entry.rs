//! One segment as a media playlist lists it, and the exact sum of durations.

use num_integer::Integer;
use num_rational::Ratio;
use serde::{Deserialize, Serialize};

use super::format;
use super::media::SegmentMedia;

/// One published segment as a media playlist lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlaylistEntry {
    /// Segment number: the URI is `{n}.ts` (`{n}.m4s` in CMAF).
    pub n: u64,
    /// Exact EXTINF of this segment in this rendition.
    pub duration: Ratio<i64>,
    /// The segment starts a new timeline (after a skip or a restart).
    pub discontinuity: bool,
    /// Wall-clock time of the segment's first frame, Unix milliseconds.
    pub program_date_time_ms: i64,
    /// CMAF: the exact timing and the init segment (`EXT-X-MAP`); `None` for MPEG-TS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media: Option<SegmentMedia>,
}

impl PlaylistEntry {
    /// The segment's URI relative to its playlist.
    pub fn uri(&self) -> String {
        match self.media {
            None => format!("{}.ts", self.n),
            Some(_) => format!("{}.m4s", self.n),
        }
    }

    /// `EXT-X-MAP` to write before this entry: the first listed one needs it, and so does
    /// one whose init segment differs from the entry before (`previous`).
    pub(crate) fn map_line(&self, previous: Option<&PlaylistEntry>) -> Option<String> {
        let init = &self.media.as_ref()?.init;
        let same = previous.and_then(|p| p.media.as_ref()).is_some_and(|m| &m.init == init);
        (!same).then(|| format!("#EXT-X-MAP:URI=\"{init}\"\n"))
    }
}

/// `EXT-X-VERSION` of a media playlist: 6 for `EXT-X-MAP` outside I-frame playlists.
pub(crate) fn media_playlist_version(cmaf: bool) -> u32 {
    if cmaf {
        6
    } else {
        3
    }
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

#[cfg(test)]
mod tests {
    use super::*;

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
