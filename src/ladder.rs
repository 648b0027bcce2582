//! Resolution labels, ladder fitting and ladder profiles (output-layout.md §2–§4).
//!
//! Everything here is pure: a source description and requested items in, renditions out. Frame
//! rates are exact rationals and no float is involved, so the same input always yields the same
//! labels, which are directory names the coordinator and its applications rely on.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use num_rational::Ratio;
use serde::{Deserialize, Serialize};

/// An exact frame rate in frames per second.
pub type Rate = Ratio<i64>;

/// Largest accepted `W` or `H` of a requested item (§2).
const MAX_SIDE: u32 = 8192;
/// Largest accepted `FPS` or `KBPS` of a requested item: 2³¹−1 (§2).
const MAX_NUM: u32 = i32::MAX as u32;
/// A source rate above this is not believed (§3).
const MAX_SOURCE_FPS: i64 = 240;
/// Rate used for everything but the ORIGINAL label when the source rate is unknown (§3).
const FALLBACK_FPS: i64 = 30;
/// Upper bound of a profile's reference bitrate; keeps `native_kbps` exact in `i128`.
const MAX_REFERENCE_KBPS: u32 = 1_000_000;

#[derive(Debug, thiserror::Error)]
pub enum LadderError {
    #[error("invalid resolution item {item:?}: {reason}")]
    InvalidItem { item: String, reason: &'static str },
    #[error("invalid profile name {name:?}: only letters, digits, '_' and '-' are allowed")]
    ProfileName { name: String },
    #[error("cannot read profile {}: {source}", path.display())]
    ProfileRead { path: PathBuf, source: std::io::Error },
    #[error("cannot parse profile {origin}: {source}")]
    ProfileSyntax { origin: String, source: toml::de::Error },
    #[error("invalid profile {origin}: {reason}")]
    Profile { origin: String, reason: String },
}

/// One `res` item of a `Resolutions` list; 0 in `fps` or `kbps` means the part was absent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestedRes {
    pub width: u32,
    pub height: u32,
    pub fps: u32,
    pub kbps: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RequestItem {
    Original,
    Res(RequestedRes),
}

/// Parses one item of a `Resolutions` list (§2 grammar).
pub fn parse_item(s: &str) -> Result<RequestItem, LadderError> {
    let item = s.trim();
    if item.eq_ignore_ascii_case("ORIGINAL") {
        return Ok(RequestItem::Original);
    }
    parse_res(item).map(RequestItem::Res).map_err(|reason| LadderError::InvalidItem { item: item.to_owned(), reason })
}

fn parse_res(item: &str) -> Result<RequestedRes, &'static str> {
    // Splitting on the first `~`, then the first `-`, leaves any second one inside a number,
    // which then fails the digit check: that is the "at most one" rule.
    let (rest, kbps) = match item.split_once('~') {
        Some((rest, kbps)) => (rest, Some(kbps)),
        None => (item, None),
    };
    let (size, fps) = match rest.split_once('-') {
        Some((size, fps)) => (size, Some(fps)),
        None => (rest, None),
    };
    // ABNF quoted strings are case-insensitive, so `X` is accepted as well.
    let (w, h) = size.split_once(['x', 'X']).ok_or("expected WxH[-FPS][~KBPS]")?;
    let width = parse_num(w, 1, MAX_SIDE).ok_or("width is not a number in 1..8192")?;
    let height = parse_num(h, 1, MAX_SIDE).ok_or("height is not a number in 1..8192")?;
    let fps = match fps {
        Some(f) => parse_num(f, 0, MAX_NUM).ok_or("fps is not a number in 0..2147483647")?,
        None => 0,
    };
    let kbps = match kbps {
        Some(b) => parse_num(b, 0, MAX_NUM).ok_or("kbps is not a number in 0..2147483647")?,
        None => 0,
    };
    Ok(RequestedRes { width, height, fps, kbps })
}

/// `num = 1*DIGIT` within `min..=max`; `str::parse` alone would also take a leading `+`.
fn parse_num(s: &str, min: u32, max: u32) -> Option<u32> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse::<u64>().ok().filter(|v| (u64::from(min)..=u64::from(max)).contains(v)).map(|v| v as u32)
}

/// Parses a comma list; invalid items are dropped and returned as errors (caller logs warnings).
pub fn parse_list(s: &str) -> (Vec<RequestItem>, Vec<LadderError>) {
    if s.trim().is_empty() {
        return (Vec::new(), Vec::new());
    }
    let mut items = Vec::new();
    let mut errors = Vec::new();
    for part in s.split(',') {
        match parse_item(part) {
            Ok(item) => items.push(item),
            Err(e) => errors.push(e),
        }
    }
    (items, errors)
}

/// [`parse_list`] that logs each dropped item as a warning, as §2 asks.
pub fn parse_list_warn(s: &str) -> Vec<RequestItem> {
    let (items, errors) = parse_list(s);
    for error in errors {
        tracing::warn!(%error, "resolution item dropped");
    }
    items
}

/// `{W}x{H}`, then `-{FPS}` if FPS > 0, then `~{KBPS}` if KBPS > 0.
pub fn label(width: u32, height: u32, fps: u32, kbps: u32) -> String {
    let mut label = format!("{width}x{height}");
    if fps > 0 {
        label.push_str(&format!("-{fps}"));
    }
    if kbps > 0 {
        label.push_str(&format!("~{kbps}"));
    }
    label
}

/// What the fitting needs to know about the first video stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourceVideo {
    pub width: i64,
    pub height: i64,
    pub avg_rate: Option<Rate>,
    pub base_rate: Option<Rate>,
}

impl SourceVideo {
    /// `R0`: the average rate, else the base rate, each only when in (0, 240].
    pub fn r0(&self) -> Option<Rate> {
        self.avg_rate.and_then(believable_rate).or_else(|| self.base_rate.and_then(believable_rate))
    }

    /// `Rs`: `R0`, or 30 when `R0` is unknown.
    pub fn rs(&self) -> Rate {
        self.r0().unwrap_or_else(|| Rate::from_integer(FALLBACK_FPS))
    }

    /// `(W0, H0)`: values ≤ 0 count as 1. Capped at `i32::MAX` (libav's own limit) so that an
    /// odd size can still be padded by one in `u32`.
    pub fn size(&self) -> (u32, u32) {
        let side = |v: i64| v.clamp(1, i64::from(i32::MAX)) as u32;
        (side(self.width), side(self.height))
    }
}

/// The rate, reduced, when it lies in (0, 240] and fits a libav rational (both parts in `i32`).
/// The `i32` bound keeps every later product (`Rs/d`, comparisons) far from `i64` overflow.
fn believable_rate(r: Rate) -> Option<Rate> {
    let (n, d) = (*r.numer(), *r.denom());
    // `Ratio::new_raw` can hold anything; `Ratio::new` panics on these.
    if d == 0 || n == i64::MIN || d == i64::MIN {
        return None;
    }
    let r = Rate::new(n, d);
    let fits = |v: i64| v <= i64::from(i32::MAX);
    let positive = *r.numer() > 0;
    (positive && r <= Rate::from_integer(MAX_SOURCE_FPS) && fits(*r.numer()) && fits(*r.denom())).then_some(r)
}

/// One output rendition of the ladder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rendition {
    /// Directory name, `Resolution` parameter and dedup key.
    pub label: String,
    pub original: bool,
    /// Fitted size (w′, h′); for ORIGINAL the source size W0 x H0.
    pub width: u32,
    pub height: u32,
    /// Size handed to the encoder: always even (an odd ORIGINAL is padded by one).
    pub encoded_width: u32,
    pub encoded_height: u32,
    /// Exact output frame rate (`Rs` for ORIGINAL).
    pub rate: Rate,
    /// VBV maximum rate in kbit/s (buffer twice that); `None` = quality-targeted.
    pub max_kbps: Option<u32>,
}

/// Nearest integer, halves up, at least 1.
pub fn round_rate(r: Rate) -> u32 {
    let (mut n, mut d) = (i128::from(*r.numer()), i128::from(*r.denom()));
    if d == 0 {
        return 1;
    }
    if d < 0 {
        (n, d) = (-n, -d);
    }
    let rounded = (2 * n + d).div_euclid(2 * d);
    rounded.clamp(1, i128::from(u32::MAX)) as u32
}

/// Spec §3 algorithm. `items` may be empty (=> ORIGINAL only). Never returns an empty ladder.
pub fn fit_ladder(source: &SourceVideo, items: &[RequestItem]) -> Vec<Rendition> {
    let (w0, h0) = source.size();
    let rs = source.rs();
    let original = items.contains(&RequestItem::Original).then(|| original_rendition(source));
    let mut seen: HashSet<String> = original.iter().map(|o| o.label.clone()).collect();
    let mut kept = Vec::new();
    let mut smallest: Option<Rendition> = None;
    for res in items.iter().filter_map(|item| match item {
        RequestItem::Res(res) => Some(res),
        RequestItem::Original => None,
    }) {
        let rendition = fit_item(w0, h0, rs, res);
        if !seen.insert(rendition.label.clone()) {
            continue;
        }
        if smallest
            .as_ref()
            .is_none_or(|s| rendition.width <= s.width && rendition.height <= s.height && rendition.rate <= s.rate)
        {
            smallest = Some(rendition.clone());
        }
        if rendition.width <= w0 && rendition.height <= h0 {
            kept.push(rendition);
        }
    }
    let mut ladder: Vec<Rendition> = original.into_iter().collect();
    if ladder.is_empty() && kept.is_empty() {
        // Nothing fits and ORIGINAL was not asked for: the closest thing to the request (an
        // upscale), or ORIGINAL when there was no valid item at all.
        ladder.push(smallest.unwrap_or_else(|| original_rendition(source)));
    }
    ladder.extend(kept);
    ladder
}

fn original_rendition(source: &SourceVideo) -> Rendition {
    let (w0, h0) = source.size();
    let fps = source.r0().map_or(0, round_rate);
    Rendition {
        label: label(w0, h0, fps, 0),
        original: true,
        width: w0,
        height: h0,
        encoded_width: w0 + w0 % 2,
        encoded_height: h0 + h0 % 2,
        rate: source.rs(),
        max_kbps: None,
    }
}

fn fit_item(w0: u32, h0: u32, rs: Rate, res: &RequestedRes) -> Rendition {
    let (width, height) = fit_size(w0, h0, res.width, res.height);
    let rate = output_rate(rs, res.fps);
    Rendition {
        label: label(width, height, round_rate(rate), res.kbps),
        original: false,
        width,
        height,
        encoded_width: width,
        encoded_height: height,
        rate,
        max_kbps: (res.kbps > 0).then_some(res.kbps),
    }
}

/// Steps 2.1, 2.3 and 2.4: the largest even size with the source aspect inside the even box.
fn fit_size(w0: u32, h0: u32, w: u32, h: u32) -> (u32, u32) {
    // Parsed items are already in range; this guards items built by hand.
    let (w, h) = (w.clamp(1, MAX_SIDE), h.clamp(1, MAX_SIDE));
    let (w0, h0) = (u64::from(w0), u64::from(h0));
    let fw = u64::from(w + w % 2);
    let fh = u64::from(h + h % 2);
    // Products stay below 2³¹·2¹³, well inside u64.
    let ph = 2 * (h0 * fw).div_ceil(2 * w0);
    let pw = 2 * (w0 * fh).div_ceil(2 * h0);
    let (fitted_w, fitted_h) = if w0 > h0 {
        if ph > fh {
            (pw, fh)
        } else {
            (fw, ph)
        }
    } else if pw > fw {
        (fw, ph)
    } else {
        (pw, fh)
    };
    // The chosen side is never larger than the box (ph > fh implies pw <= fw and vice versa).
    debug_assert!(fitted_w <= fw && fitted_h <= fh);
    (fitted_w as u32, fitted_h as u32)
}

/// Step 2.2: the output rate, never above `Rs`.
fn output_rate(rs: Rate, fps: u32) -> Rate {
    let f = Rate::from_integer(i64::from(fps));
    if fps == 0 || f >= rs {
        return rs;
    }
    // An exact decimation Rs/d keeps every output frame on a source frame; it wins when within
    // 0.2 % of the request (a 59.94 source asked for 30 gets 29.97, not a 30 that drifts).
    // Only the two integers around Rs/f can be that close.
    let d_floor = (rs / f).to_integer();
    [d_floor, d_floor + 1]
        .into_iter()
        .filter(|&d| d >= 1)
        .map(|d| rs / d)
        .map(|candidate| (candidate, abs_diff(candidate, f)))
        .filter(|&(_, diff)| diff * 500 <= f)
        .min_by_key(|&(_, diff)| diff)
        .map_or(f, |(candidate, _)| candidate)
}

fn abs_diff(a: Rate, b: Rate) -> Rate {
    if a > b {
        a - b
    } else {
        b - a
    }
}

/// A ladder profile: fixed rungs plus an optional native rung (ORIGINAL) whose bitrate cap
/// follows the source pixel rate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    name: String,
    audio_kbps: u32,
    native: Option<Native>,
    #[serde(default, rename = "rung")]
    rungs: Vec<Rung>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Native {
    reference: Reference,
    min_kbps: u32,
    max_kbps: u32,
}

/// A picture size and rate that gets `kbps`; the native cap scales linearly from it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Reference {
    width: u32,
    height: u32,
    fps: u32,
    kbps: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Rung {
    width: u32,
    height: u32,
    /// Absent or 0: the source rate.
    #[serde(default)]
    fps: u32,
    /// Absent or 0: quality-targeted.
    #[serde(default)]
    kbps: u32,
}

const BUILTIN_DEFAULT: &str = include_str!("../profiles/default.toml");

impl Profile {
    pub fn from_toml_str(s: &str) -> Result<Profile, LadderError> {
        Self::parse(s, "<string>")
    }

    /// Loads `{dir}/{name}.toml`; the file's `name` must equal `name`.
    pub fn load(dir: &Path, name: &str) -> Result<Profile, LadderError> {
        if !valid_profile_name(name) {
            return Err(LadderError::ProfileName { name: name.to_owned() });
        }
        let path = dir.join(format!("{name}.toml"));
        let text =
            std::fs::read_to_string(&path).map_err(|source| LadderError::ProfileRead { path: path.clone(), source })?;
        let origin = path.display().to_string();
        let profile = Self::parse(&text, &origin)?;
        if profile.name != name {
            return Err(LadderError::Profile {
                origin,
                reason: format!("name {:?} does not match the file name", profile.name),
            });
        }
        Ok(profile)
    }

    /// The `default` profile compiled into the binary.
    pub fn default_builtin() -> Profile {
        Self::parse(BUILTIN_DEFAULT, "built-in default")
            .expect("profiles/default.toml is valid (checked by a unit test)")
    }

    fn parse(s: &str, origin: &str) -> Result<Profile, LadderError> {
        let profile: Profile =
            toml::from_str(s).map_err(|source| LadderError::ProfileSyntax { origin: origin.to_owned(), source })?;
        profile.validate().map_err(|reason| LadderError::Profile { origin: origin.to_owned(), reason })?;
        Ok(profile)
    }

    fn validate(&self) -> Result<(), String> {
        if !valid_profile_name(&self.name) {
            return Err(format!("name {:?} is not [A-Za-z0-9_-]+", self.name));
        }
        if !(1..=MAX_NUM).contains(&self.audio_kbps) {
            return Err("audio_kbps must be at least 1".into());
        }
        if self.native.is_none() && self.rungs.is_empty() {
            return Err("a profile needs a [native] section or at least one [[rung]]".into());
        }
        if let Some(native) = &self.native {
            let r = &native.reference;
            if !(1..=MAX_SIDE).contains(&r.width) || !(1..=MAX_SIDE).contains(&r.height) {
                return Err("native.reference width and height must be in 1..8192".into());
            }
            if !(1..=MAX_SOURCE_FPS as u32).contains(&r.fps) {
                return Err("native.reference.fps must be in 1..240".into());
            }
            if !(1..=MAX_REFERENCE_KBPS).contains(&r.kbps) {
                return Err("native.reference.kbps must be in 1..1000000".into());
            }
            if native.min_kbps < 1 || native.min_kbps > native.max_kbps || native.max_kbps > MAX_NUM {
                return Err("native needs 1 <= min_kbps <= max_kbps <= 2147483647".into());
            }
        }
        for (i, rung) in self.rungs.iter().enumerate() {
            if !(1..=MAX_SIDE).contains(&rung.width) || !(1..=MAX_SIDE).contains(&rung.height) {
                return Err(format!("rung {}: width and height must be in 1..8192", i + 1));
            }
            if rung.fps > MAX_NUM || rung.kbps > MAX_NUM {
                return Err(format!("rung {}: fps and kbps must be at most 2147483647", i + 1));
            }
        }
        Ok(())
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn audio_kbps(&self) -> u32 {
        self.audio_kbps
    }

    /// ORIGINAL first when the profile has a native rung, then the rungs with their caps.
    pub fn request_items(&self) -> Vec<RequestItem> {
        let native = self.native.as_ref().map(|_| RequestItem::Original);
        let rungs = self
            .rungs
            .iter()
            .map(|r| RequestItem::Res(RequestedRes { width: r.width, height: r.height, fps: r.fps, kbps: r.kbps }));
        native.into_iter().chain(rungs).collect()
    }

    /// The native rung's cap for a `w x h` picture at `rate`: the reference bitrate scaled by
    /// pixel rate, rounded half up, clamped to `[min_kbps, max_kbps]`. `None` without native.
    pub fn native_kbps(&self, w: u32, h: u32, rate: Rate) -> Option<u32> {
        let native = self.native.as_ref()?;
        let r = &native.reference;
        let (mut n, mut d) = (i128::from(*rate.numer()), i128::from(*rate.denom()));
        if d < 0 {
            (n, d) = (-n, -d);
        }
        let scaled = if n <= 0 || d == 0 {
            0
        } else {
            // kbps·w·h·n / (rw·rh·rf·d), split into quotient and remainder so that no product
            // leaves i128: w·h·n < 2¹²⁷, the divisor < 2⁹⁷, kbps·remainder < 2¹¹⁸.
            let kbps = i128::from(r.kbps);
            let num = i128::from(w) * i128::from(h) * n;
            let den = i128::from(r.width) * i128::from(r.height) * i128::from(r.fps) * d;
            let (q, rem) = (num / den, num % den);
            let frac = (2 * kbps * rem + den) / (2 * den);
            q.checked_mul(kbps).and_then(|whole| whole.checked_add(frac)).unwrap_or(i128::MAX)
        };
        let clamped = scaled.clamp(i128::from(native.min_kbps), i128::from(native.max_kbps));
        Some(clamped as u32)
    }

    /// [`fit_ladder`] on [`Profile::request_items`], with the native cap on ORIGINAL (whose
    /// label never carries `~B`). A rung that fitted to exactly the ORIGINAL picture and rate is
    /// dropped: it would encode the same frames twice.
    pub fn fit(&self, source: &SourceVideo) -> Vec<Rendition> {
        let mut ladder = fit_ladder(source, &self.request_items());
        let Some(original) = ladder.iter_mut().find(|r| r.original) else {
            return ladder;
        };
        original.max_kbps = self.native_kbps(original.width, original.height, original.rate);
        let same = (original.width, original.height, original.rate);
        ladder.retain(|r| r.original || (r.width, r.height, r.rate) != same);
        ladder
    }
}

fn valid_profile_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rate(n: i64, d: i64) -> Rate {
        Rate::new(n, d)
    }

    fn source(width: i64, height: i64, avg: Option<Rate>) -> SourceVideo {
        SourceVideo { width, height, avg_rate: avg, base_rate: None }
    }

    fn fps(n: i64) -> Option<Rate> {
        Some(Rate::from_integer(n))
    }

    /// Fits a list that must parse without errors.
    fn fit_list(src: &SourceVideo, list: &str) -> Vec<Rendition> {
        let (items, errors) = parse_list(list);
        assert!(errors.is_empty(), "{list:?} gave {errors:?}");
        fit_ladder(src, &items)
    }

    fn labels(ladder: &[Rendition]) -> Vec<&str> {
        ladder.iter().map(|r| r.label.as_str()).collect()
    }

    fn res(width: u32, height: u32, fps: u32, kbps: u32) -> RequestItem {
        RequestItem::Res(RequestedRes { width, height, fps, kbps })
    }

    /// One test per row of output-layout.md §4: (label, is ORIGINAL, exact rate) in order.
    macro_rules! worked_example {
        ($name:ident, $w:expr, $h:expr, $avg:expr, $list:expr, [$(($label:expr, $orig:expr, $rate:expr)),+ $(,)?]) => {
            #[test]
            fn $name() {
                let ladder = fit_list(&source($w, $h, $avg), $list);
                let got: Vec<(&str, bool, Rate)> =
                    ladder.iter().map(|r| (r.label.as_str(), r.original, r.rate)).collect();
                assert_eq!(got, vec![$(($label, $orig, $rate)),+], "row {}", stringify!($name));
            }
        };
    }

    const THIRTY: Rate = Rate::new_raw(30, 1);
    const NTSC30: Rate = Rate::new_raw(30000, 1001);

    /// The §4 table, one test per row, laid out like the spec.
    #[rustfmt::skip]
    mod worked_examples {
        use super::*;
        const ORIG: bool = true;
        const RES: bool = false;
        const R25: Rate = Rate::new_raw(25, 1);
        const R60: Rate = Rate::new_raw(60, 1);
        const NTSC15: Rate = Rate::new_raw(15000, 1001);
        fn ntsc(n: i64) -> Option<Rate> { Some(Rate::new(n * 1000, 1001)) }

        worked_example!(row_both_rungs_fit_a_1080p_source, 1920, 1080, fps(30), "1280x720-30,640x360-30",
            [("1280x720-30", RES, THIRTY), ("640x360-30", RES, THIRTY)]);
        worked_example!(row_rung_larger_than_the_source_is_dropped, 1280, 720, fps(30), "1920x1080-30,1280x720-30,854x480-30",
            [("1280x720-30", RES, THIRTY), ("854x480-30", RES, THIRTY)]);
        worked_example!(row_nothing_fits_without_original_gives_the_smallest_alone, 640, 360, fps(30), "1280x720-30,1920x1080-60",
            [("1280x720-30", RES, THIRTY)]);
        worked_example!(row_rung_with_the_original_label_is_deduplicated, 1280, 720, fps(30), "ORIGINAL,1280x720-30",
            [("1280x720-30", ORIG, THIRTY)]);
        worked_example!(row_bitrate_makes_a_distinct_label, 1280, 720, fps(30), "ORIGINAL,1280x720-30~3000",
            [("1280x720-30", ORIG, THIRTY), ("1280x720-30~3000", RES, THIRTY)]);
        worked_example!(row_nothing_fits_with_original_gives_original_alone, 1280, 720, fps(30), "ORIGINAL,1920x1080-30",
            [("1280x720-30", ORIG, THIRTY)]);
        worked_example!(row_ntsc_source_caps_the_rate_and_the_label_rounds, 1280, 720, ntsc(30), "1280x720-30",
            [("1280x720-30", RES, NTSC30)]);
        worked_example!(row_ntsc_source_with_original_is_deduplicated, 1280, 720, ntsc(30), "ORIGINAL,1280x720-30",
            [("1280x720-30", ORIG, NTSC30)]);
        worked_example!(row_ntsc_59_94_decimates_exactly_by_two_and_four, 1920, 1080, ntsc(60), "1280x720-30,640x360-15",
            [("1280x720-30", RES, NTSC30), ("640x360-15", RES, NTSC15)]);
        worked_example!(row_bitrate_is_kept_in_the_label, 1920, 1080, fps(30), "1280x720-30~2000",
            [("1280x720-30~2000", RES, THIRTY)]);
        worked_example!(row_odd_width_is_rounded_up_to_even, 1280, 720, fps(30), "853x480-30",
            [("854x480-30", RES, THIRTY)]);
        worked_example!(row_portrait_source_fits_inside_the_box, 720, 1280, fps(30), "1280x720-30",
            [("406x720-30", RES, THIRTY)]);
        worked_example!(row_four_by_three_source, 1440, 1080, fps(30), "1280x720-30",
            [("960x720-30", RES, THIRTY)]);
        worked_example!(row_cinemascope_height_is_rounded_up_to_even, 1920, 800, fps(30), "1280x720-30",
            [("1280x534-30", RES, THIRTY)]);
        worked_example!(row_square_source, 1080, 1080, fps(30), "1280x720-30",
            [("720x720-30", RES, THIRTY)]);
        worked_example!(row_no_rate_asked_uses_the_source_rate, 1920, 1080, fps(60), "1280x720",
            [("1280x720-60", RES, R60)]);
        worked_example!(row_rate_never_exceeds_the_source, 1920, 1080, fps(25), "1280x720-30",
            [("1280x720-25", RES, R25)]);
        worked_example!(row_unknown_rate_drops_fps_from_original_only, 1280, 720, None, "ORIGINAL,640x360",
            [("1280x720", ORIG, THIRTY), ("640x360-30", RES, THIRTY)]);
        worked_example!(row_odd_source_keeps_its_label, 1281, 721, fps(30), "ORIGINAL,640x360-30",
            [("1281x721-30", ORIG, THIRTY), ("640x360-30", RES, THIRTY)]);
    }

    #[test]
    fn bitrate_item_carries_a_vbv_cap_and_others_do_not() {
        let ladder = fit_list(&source(1280, 720, fps(30)), "ORIGINAL,1280x720-30~3000");
        assert_eq!(ladder[0].max_kbps, None);
        assert_eq!(ladder[1].max_kbps, Some(3000));
    }

    #[test]
    fn odd_original_is_encoded_padded_to_even() {
        let ladder = fit_list(&source(1281, 721, fps(30)), "ORIGINAL,640x360-30");
        assert_eq!((ladder[0].width, ladder[0].height), (1281, 721));
        assert_eq!((ladder[0].encoded_width, ladder[0].encoded_height), (1282, 722));
        assert_eq!((ladder[1].encoded_width, ladder[1].encoded_height), (640, 360));
    }

    #[test]
    fn spaces_around_items_are_trimmed() {
        assert_eq!(parse_item("  1280x720-30~2000 ").unwrap(), res(1280, 720, 30, 2000));
        assert_eq!(parse_item("\t640x360").unwrap(), res(640, 360, 0, 0));
    }

    #[test]
    fn original_is_case_insensitive_and_exact() {
        for s in ["ORIGINAL", "original", " Original "] {
            assert_eq!(parse_item(s).unwrap(), RequestItem::Original, "{s:?}");
        }
        for s in ["ORIGINAL-30", "ORIGINALS", "ORIG INAL"] {
            assert!(parse_item(s).is_err(), "{s:?}");
        }
    }

    #[test]
    fn optional_parts_parse_in_any_combination() {
        assert_eq!(parse_item("1280x720").unwrap(), res(1280, 720, 0, 0));
        assert_eq!(parse_item("1280x720-25").unwrap(), res(1280, 720, 25, 0));
        assert_eq!(parse_item("1280x720~900").unwrap(), res(1280, 720, 0, 900));
        assert_eq!(parse_item("1280X720").unwrap(), res(1280, 720, 0, 0));
        assert_eq!(parse_item("0640x0360-030").unwrap(), res(640, 360, 30, 0));
    }

    #[test]
    fn zero_fps_and_kbps_mean_absent() {
        assert_eq!(parse_item("1280x720-0~0").unwrap(), res(1280, 720, 0, 0));
    }

    #[test]
    fn at_most_one_tilde_and_one_dash_in_that_order() {
        for s in ["1280x720-30-60", "1280x720~1~2", "1280x720~2000-30", "1280x720--30"] {
            assert!(parse_item(s).is_err(), "{s:?}");
        }
    }

    #[test]
    fn width_and_height_are_bounded_to_8192() {
        assert_eq!(parse_item("8192x8192").unwrap(), res(8192, 8192, 0, 0));
        assert_eq!(parse_item("1x1").unwrap(), res(1, 1, 0, 0));
        for s in ["0x720", "1280x0", "8193x720", "1280x8193", "99999999999999999999x1"] {
            assert!(parse_item(s).is_err(), "{s:?}");
        }
    }

    #[test]
    fn fps_and_kbps_are_bounded_to_i32_max() {
        let max = "1280x720-2147483647~2147483647";
        assert_eq!(parse_item(max).unwrap(), res(1280, 720, MAX_NUM, MAX_NUM));
        for s in ["1280x720-2147483648", "1280x720~2147483648", "1280x720-18446744073709551616"] {
            assert!(parse_item(s).is_err(), "{s:?}");
        }
    }

    #[test]
    fn junk_items_are_rejected_with_the_item_in_the_error() {
        let junk = [
            "",
            "abc",
            "1280x",
            "x720",
            "1280*720",
            "+1280x720",
            "1280x+720",
            "1280x720-",
            "1280x720~",
            "1280 x 720",
            "1280x720-29.97",
            "-30",
            "1280x720x2",
            "١٢٨٠x720",
        ];
        for s in junk {
            match parse_item(s) {
                Err(LadderError::InvalidItem { item, .. }) => assert_eq!(item, s.trim()),
                other => panic!("{s:?} gave {other:?}"),
            }
        }
    }

    #[test]
    fn list_keeps_valid_items_in_order_and_reports_the_rest() {
        let (items, errors) = parse_list("1280x720-30, junk ,ORIGINAL,,640x360~800");
        assert_eq!(items, vec![res(1280, 720, 30, 0), RequestItem::Original, res(640, 360, 0, 800)]);
        assert_eq!(errors.len(), 2);
        assert!(errors[0].to_string().contains("\"junk\""), "{}", errors[0]);
    }

    #[test]
    fn empty_list_has_no_items_and_no_warnings() {
        for s in ["", "   "] {
            let (items, errors) = parse_list(s);
            assert!(items.is_empty() && errors.is_empty(), "{s:?}");
        }
    }

    #[test]
    fn empty_or_all_invalid_list_means_original_only() {
        let src = source(1920, 1080, fps(30));
        for list in ["", "junk,0x0,1280x720~"] {
            let ladder = fit_ladder(&src, &parse_list_warn(list));
            assert_eq!(labels(&ladder), ["1920x1080-30"], "{list:?}");
            assert!(ladder[0].original);
        }
    }

    #[test]
    fn original_anywhere_in_the_list_comes_first() {
        let ladder = fit_list(&source(1920, 1080, fps(30)), "640x360-30,ORIGINAL,original");
        assert_eq!(labels(&ladder), ["1920x1080-30", "640x360-30"]);
    }

    #[test]
    fn label_appends_only_present_parts() {
        assert_eq!(label(1280, 720, 30, 2000), "1280x720-30~2000");
        assert_eq!(label(1280, 720, 30, 0), "1280x720-30");
        assert_eq!(label(1280, 720, 0, 500), "1280x720~500");
        assert_eq!(label(1281, 721, 0, 0), "1281x721");
    }

    #[test]
    fn round_rate_is_nearest_halves_up_and_at_least_one() {
        assert_eq!(round_rate(rate(30000, 1001)), 30);
        assert_eq!(round_rate(rate(24000, 1001)), 24);
        assert_eq!(round_rate(rate(15000, 1001)), 15);
        assert_eq!(round_rate(rate(5, 2)), 3);
        assert_eq!(round_rate(rate(3, 2)), 2);
        assert_eq!(round_rate(rate(7, 3)), 2);
        assert_eq!(round_rate(rate(1, 3)), 1);
        assert_eq!(round_rate(Rate::from_integer(0)), 1);
        assert_eq!(round_rate(Rate::from_integer(-5)), 1);
        assert_eq!(round_rate(Rate::new_raw(1, 0)), 1);
        assert_eq!(round_rate(Rate::new_raw(-5, -2)), 3);
        assert_eq!(round_rate(Rate::from_integer(i64::MAX)), u32::MAX);
    }

    #[test]
    fn r0_prefers_a_believable_average_then_the_base_rate() {
        let with = |avg: Option<Rate>, base: Option<Rate>| SourceVideo {
            width: 1280,
            height: 720,
            avg_rate: avg,
            base_rate: base,
        };
        assert_eq!(with(Some(rate(30000, 1001)), fps(25)).r0(), Some(rate(30000, 1001)));
        assert_eq!(with(fps(240), None).r0(), fps(240));
        assert_eq!(with(fps(0), fps(25)).r0(), fps(25));
        assert_eq!(with(fps(1000), fps(30)).r0(), fps(30));
        assert_eq!(with(Some(Rate::new_raw(30, 0)), fps(50)).r0(), fps(50));
        assert_eq!(with(Some(Rate::new_raw(60, 2)), None).r0(), fps(30));
        assert_eq!(with(Some(Rate::new_raw(-30, -1)), None).r0(), fps(30));
        assert_eq!(with(Some(Rate::new_raw(i64::MIN, 1)), None).r0(), None);
        assert_eq!(with(Some(rate(1, i64::MAX)), None).r0(), None);
        assert_eq!(with(Some(rate(241, 1)), fps(-1)).r0(), None);
        assert_eq!(with(None, None).r0(), None);
        assert_eq!(with(None, None).rs(), fps(30).unwrap());
    }

    #[test]
    fn ntsc_59_94_asked_30_gets_29_97() {
        assert_eq!(output_rate(rate(60000, 1001), 30), rate(30000, 1001));
    }

    #[test]
    fn decimation_is_used_only_within_two_per_mille() {
        assert_eq!(output_rate(rate(60000, 1001), 29), Rate::from_integer(29));
        assert_eq!(output_rate(rate(24000, 1001), 12), rate(12000, 1001));
        assert_eq!(output_rate(Rate::from_integer(60), 24), Rate::from_integer(24));
        assert_eq!(output_rate(Rate::from_integer(50), 25), Rate::from_integer(25));
        assert_eq!(output_rate(Rate::from_integer(30), 29), Rate::from_integer(29));
        assert_eq!(output_rate(Rate::from_integer(240), 1), Rate::from_integer(1));
    }

    #[test]
    fn a_25_source_asked_30_stays_at_25() {
        assert_eq!(output_rate(Rate::from_integer(25), 30), Rate::from_integer(25));
        assert_eq!(output_rate(rate(24000, 1001), 24), rate(24000, 1001));
        assert_eq!(output_rate(Rate::from_integer(25), MAX_NUM), Rate::from_integer(25));
    }

    #[test]
    fn unknown_source_rate_runs_rungs_at_30_at_most() {
        let ladder = fit_list(&source(1920, 1080, None), "1280x720-60,640x360-15");
        assert_eq!(labels(&ladder), ["1280x720-30", "640x360-15"]);
    }

    #[test]
    fn smallest_candidate_must_be_no_larger_in_every_dimension_and_rate() {
        let src = source(640, 360, fps(30));
        // The later item is smaller but faster: the first stays the candidate.
        assert_eq!(labels(&fit_list(&src, "1920x1080-15,1280x720-30")), ["1920x1080-15"]);
        assert_eq!(labels(&fit_list(&src, "1920x1080-30,1280x720-30")), ["1280x720-30"]);
        assert_eq!(labels(&fit_list(&src, "1920x1080-30,1280x720-15")), ["1280x720-15"]);
    }

    #[test]
    fn duplicate_labels_after_fitting_are_dropped() {
        let src = source(1920, 1080, fps(30));
        let list = "640x360-30,640x360-30,640x360-30~800,1280x721-30,1280x720-60,1280x720-30";
        assert_eq!(labels(&fit_list(&src, list)), ["640x360-30", "640x360-30~800", "1280x720-30"]);
    }

    #[test]
    fn odd_request_is_fitted_to_an_even_box() {
        let ladder = fit_list(&source(1920, 1080, fps(30)), "641x361");
        assert_eq!(labels(&ladder), ["642x362-30"]);
    }

    #[test]
    fn portrait_source_keeps_width_bound_when_height_overflows() {
        // 9:16 source in a 360x1280 box: width is the binding side.
        let ladder = fit_list(&source(1080, 1920, fps(30)), "360x1280");
        assert_eq!(labels(&ladder), ["360x640-30"]);
    }

    #[test]
    fn degenerate_sources_never_panic_and_never_give_an_empty_ladder() {
        let sources = [(0, -5), (1, 100_000), (100_000, 1), (i64::MAX, i64::MIN), (3, 3)];
        for (w, h) in sources {
            let src = source(w, h, Some(Rate::new_raw(7, 0)));
            for list in ["", "ORIGINAL", "8192x8192-2147483647~5", "1x1,ORIGINAL,8191x1"] {
                let ladder = fit_list(&src, list);
                assert!(!ladder.is_empty(), "{w}x{h} {list:?}");
                for r in &ladder {
                    assert!(r.encoded_width % 2 == 0 && r.encoded_height % 2 == 0, "{r:?}");
                }
            }
        }
        let zero = fit_ladder(&source(0, -5, None), &[RequestItem::Original]);
        assert_eq!(zero[0].label, "1x1");
        assert_eq!((zero[0].encoded_width, zero[0].encoded_height), (2, 2));
    }

    #[test]
    fn hand_built_out_of_range_items_are_clamped_not_panicking() {
        let items = [res(0, u32::MAX, u32::MAX, u32::MAX)];
        let ladder = fit_ladder(&source(1920, 1080, fps(30)), &items);
        assert_eq!(labels(&ladder), ["2x2-30~4294967295"]);
    }

    #[test]
    fn rendition_deserializes_with_an_exact_rate() {
        let text = r#"label = "1280x720-30"
            original = false
            width = 1280
            height = 720
            encoded_width = 1280
            encoded_height = 720
            rate = [30000, 1001]"#;
        let r: Rendition = toml::from_str(text).unwrap();
        assert_eq!((r.rate, r.max_kbps), (rate(30000, 1001), None));
    }

    fn summary(ladder: &[Rendition]) -> Vec<(&str, Option<u32>)> {
        ladder.iter().map(|r| (r.label.as_str(), r.max_kbps)).collect()
    }

    #[test]
    fn builtin_default_profile_is_the_documented_ladder() {
        let p = Profile::default_builtin();
        assert_eq!((p.name(), p.audio_kbps()), ("default", 128));
        let items = vec![
            RequestItem::Original,
            res(426, 240, 30, 400),
            res(640, 360, 30, 800),
            res(854, 480, 30, 1400),
            res(1280, 720, 60, 2800),
        ];
        assert_eq!(p.request_items(), items);
    }

    #[test]
    fn default_profile_serves_the_rungs_below_720p_at_30_fps_from_a_60_fps_source() {
        let ladder = Profile::default_builtin().fit(&source(1920, 1080, fps(60)));
        let labels: Vec<&str> = summary(&ladder).into_iter().map(|(l, _)| l).collect();
        assert_eq!(labels, ["1920x1080-60", "426x240-30~400", "640x360-30~800", "854x480-30~1400", "1280x720-60~2800"]);
        // NTSC: exactly every second frame.
        let ntsc = Profile::default_builtin().fit(&source(1920, 1080, Some(rate(60000, 1001))));
        let rates: Vec<Rate> = ntsc.iter().map(|r| r.rate).collect();
        let (full, half) = (rate(60000, 1001), rate(30000, 1001));
        assert_eq!(rates, [full, half, half, half, full]);
        // A 120 fps source: 720p stops at 60, the native rung keeps the source rate.
        let fast = Profile::default_builtin().fit(&source(1920, 1080, fps(120)));
        assert_eq!(fast.iter().map(|r| r.rate).collect::<Vec<_>>(), [120, 30, 30, 30, 60].map(Rate::from_integer));
    }

    #[test]
    fn default_profile_on_a_1080p_source_keeps_every_rung() {
        let ladder = Profile::default_builtin().fit(&source(1920, 1080, fps(30)));
        let expected = [
            ("1920x1080-30", Some(6300)),
            ("426x240-30~400", Some(400)),
            ("640x360-30~800", Some(800)),
            ("854x480-30~1400", Some(1400)),
            ("1280x720-30~2800", Some(2800)),
        ];
        assert_eq!(summary(&ladder), expected);
        assert!(ladder[0].original);
    }

    #[test]
    fn default_profile_on_a_720p_source_drops_the_rung_equal_to_native() {
        let ladder = Profile::default_builtin().fit(&source(1280, 720, fps(30)));
        let expected = [
            ("1280x720-30", Some(2800)),
            ("426x240-30~400", Some(400)),
            ("640x360-30~800", Some(800)),
            ("854x480-30~1400", Some(1400)),
        ];
        assert_eq!(summary(&ladder), expected);
    }

    #[test]
    fn default_profile_on_a_360p_source_drops_larger_rungs() {
        let ladder = Profile::default_builtin().fit(&source(640, 360, fps(30)));
        assert_eq!(summary(&ladder), [("640x360-30", Some(700)), ("426x240-30~400", Some(400))]);
    }

    #[test]
    fn default_profile_on_an_ntsc_source_keeps_the_720p_rung_at_the_source_rate() {
        let ladder = Profile::default_builtin().fit(&source(1920, 1080, Some(rate(30000, 1001))));
        assert_eq!(ladder[0].max_kbps, Some(6294));
        assert!(ladder.iter().all(|r| r.rate == rate(30000, 1001)));
    }

    #[test]
    fn native_kbps_scales_by_pixel_rate_and_clamps() {
        let p = Profile::default_builtin();
        assert_eq!(p.native_kbps(1280, 720, fps(30).unwrap()), Some(2800));
        assert_eq!(p.native_kbps(1280, 720, rate(30000, 1001)), Some(2797));
        assert_eq!(p.native_kbps(1920, 1080, fps(60).unwrap()), Some(12000));
        assert_eq!(p.native_kbps(320, 180, fps(30).unwrap()), Some(400));
        assert_eq!(p.native_kbps(u32::MAX, u32::MAX, Rate::from_integer(i64::MAX)), Some(12000));
        assert_eq!(p.native_kbps(u32::MAX, u32::MAX, rate(1, i64::MAX)), Some(400));
        assert_eq!(p.native_kbps(1280, 720, Rate::from_integer(-30)), Some(400));
        assert_eq!(p.native_kbps(1280, 720, Rate::new_raw(30, 0)), Some(400));
    }

    const SMALL: &str = r#"
        name = "small"
        audio_kbps = 96
        [native]
        reference = { width = 2, height = 1, fps = 1, kbps = 1 }
        min_kbps = 1
        max_kbps = 100
        [[rung]]
        width = 320
        height = 180
        fps = 15
    "#;

    #[test]
    fn native_kbps_rounds_halves_up() {
        let p = Profile::from_toml_str(SMALL).unwrap();
        assert_eq!(p.native_kbps(3, 1, Rate::from_integer(1)), Some(2));
        assert_eq!(p.native_kbps(5, 1, Rate::from_integer(1)), Some(3));
        assert_eq!(p.native_kbps(7, 1, rate(1, 2)), Some(2));
    }

    #[test]
    fn profile_rung_fps_and_missing_kbps_are_honoured() {
        let p = Profile::from_toml_str(SMALL).unwrap();
        assert_eq!(p.audio_kbps(), 96);
        let ladder = p.fit(&source(640, 360, fps(30)));
        assert_eq!(summary(&ladder), [("640x360-30", Some(100)), ("320x180-15", None)]);
    }

    #[test]
    fn profile_without_native_has_no_original() {
        let text = "name = \"x\"\naudio_kbps = 64\n[[rung]]\nwidth = 1280\nheight = 720\nkbps = 900\n";
        let p = Profile::from_toml_str(text).unwrap();
        assert_eq!(p.request_items(), [res(1280, 720, 0, 900)]);
        assert_eq!(p.native_kbps(1, 1, THIRTY), None);
        // Smaller source: the rung is the smallest candidate, kept as an upscale.
        assert_eq!(summary(&p.fit(&source(320, 180, fps(30)))), [("1280x720-30~900", Some(900))]);
    }

    #[test]
    fn invalid_profiles_are_rejected() {
        let base = "name = \"x\"\naudio_kbps = 64\n";
        let rung = "[[rung]]\nwidth = 640\nheight = 360\n";
        let native = |min: u32, max: u32, w: u32| {
            format!(
                "[native]\nreference = {{ width = {w}, height = 720, fps = 30, kbps = 2800 }}\n\
                 min_kbps = {min}\nmax_kbps = {max}\n"
            )
        };
        let semantic = [
            base.to_owned(),
            format!("{base}[[rung]]\nwidth = 0\nheight = 360\n"),
            format!("{base}[[rung]]\nwidth = 640\nheight = 9000\n"),
            format!("{base}[[rung]]\nwidth = 640\nheight = 360\nkbps = 3000000000\n"),
            format!("{base}{}", native(500, 400, 1280)),
            format!("{base}{}", native(0, 400, 1280)),
            format!("{base}{}", native(1, 400, 0)),
            format!("name = \"a b\"\naudio_kbps = 64\n{rung}"),
            format!("name = \"x\"\naudio_kbps = 0\n{rung}"),
        ];
        for text in &semantic {
            let err = Profile::from_toml_str(text).unwrap_err();
            assert!(matches!(err, LadderError::Profile { .. }), "{text}\n{err}");
        }
        let syntax = [
            format!("{base}{rung}colour = 1\n"),
            format!("name = \"x\"\n{rung}"),
            format!("{base}[[rung]]\nwidth = -640\nheight = 360\n"),
            "name = ".to_owned(),
        ];
        for text in &syntax {
            let err = Profile::from_toml_str(text).unwrap_err();
            assert!(matches!(err, LadderError::ProfileSyntax { .. }), "{text}\n{err}");
        }
    }

    #[test]
    fn shipped_default_profile_loads_from_the_profiles_directory() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("profiles");
        assert_eq!(Profile::load(&dir, "default").unwrap(), Profile::default_builtin());
    }

    #[test]
    fn load_checks_the_name_the_file_and_its_contents() {
        let dir = std::env::temp_dir().join(format!("ladder-profiles-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("small.toml"), SMALL).unwrap();
        std::fs::write(dir.join("other.toml"), SMALL).unwrap();
        assert_eq!(Profile::load(&dir, "small").unwrap().name(), "small");
        let mismatch = Profile::load(&dir, "other").unwrap_err();
        assert!(matches!(mismatch, LadderError::Profile { .. }), "{mismatch}");
        let missing = Profile::load(&dir, "absent").unwrap_err();
        assert!(matches!(missing, LadderError::ProfileRead { .. }), "{missing}");
        for name in ["", "../small", "small.toml", "a/b", "ünï"] {
            let err = Profile::load(&dir, name).unwrap_err();
            assert!(matches!(err, LadderError::ProfileName { .. }), "{name:?}: {err}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
