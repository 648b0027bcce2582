//! Number and date formats shared by every playlist and announcement.
//!
//! Durations are exact rationals; every decimal shown is rounded once, half up, from the exact
//! value, so two renderings of the same duration can never disagree.

use num_rational::Ratio;

const MICROS: i128 = 1_000_000;
const MS_PER_DAY: i64 = 86_400_000;

/// `d` as (numerator, denominator) with a positive denominator, widened so scaling cannot
/// overflow. A deserialized `Ratio` is not normalised, so its denominator may be negative.
fn widened(d: Ratio<i64>) -> (i128, i128) {
    let (n, den) = (i128::from(*d.numer()), i128::from(*d.denom()));
    if den < 0 {
        (-n, -den)
    } else {
        (n, den)
    }
}

/// `floor(d · scale + 1/2)`: `d` scaled and rounded half up (towards +∞ on ties).
/// A zero denominator (only constructible with `Ratio::new_raw`) counts as 0.
pub(crate) fn round_scaled(d: Ratio<i64>, scale: i128) -> i128 {
    let (n, den) = widened(d);
    if den == 0 {
        return 0;
    }
    (2 * n * scale + den).div_euclid(2 * den)
}

/// `d` rounded half up to `digits` fraction digits, all of them written: `fixed(3003/1000, 6)`
/// is `3.003000`.
pub fn fixed(d: Ratio<i64>, digits: u32) -> String {
    let scale = 10i128.pow(digits);
    let q = round_scaled(d, scale);
    let sign = if q < 0 { "-" } else { "" };
    let (int, frac) = (q.abs() / scale, q.abs() % scale);
    if digits == 0 {
        format!("{sign}{int}")
    } else {
        format!("{sign}{int}.{frac:0width$}", width = digits as usize)
    }
}

/// EXTINF value: exactly 6 decimals, rounded half up (`3.003000`).
pub fn extinf(d: Ratio<i64>) -> String {
    fixed(d, 6)
}

/// Start-Time and CDN duration format: at most 6 fraction digits (rounded half up), trailing
/// zeros and a trailing `.` removed: `6`, `3.003`, `1036800.5`.
pub fn decimal_trimmed(d: Ratio<i64>) -> String {
    let mut s = fixed(d, 6);
    let trimmed = s.trim_end_matches('0').trim_end_matches('.').len();
    s.truncate(trimmed);
    s
}

/// `max(T, EXTINF rounded to the nearest integer)`, rounding half up on the 6-decimal value
/// that is actually written, so the playlist satisfies RFC 8216 §4.3.3.1 as a player reads it.
pub fn target_duration(longest: Ratio<i64>, hls_time: u32) -> u64 {
    let micros = round_scaled(longest, MICROS);
    let rounded = (micros + MICROS / 2).div_euclid(MICROS);
    let rounded = u64::try_from(rounded.max(0)).unwrap_or(u64::MAX);
    rounded.max(u64::from(hls_time))
}

/// PROGRAM-DATE-TIME value, UTC with milliseconds: `2025-03-01T10:05:54.000Z`.
pub fn program_date_time(unix_ms: i64) -> String {
    let days = unix_ms.div_euclid(MS_PER_DAY);
    let ms_of_day = unix_ms.rem_euclid(MS_PER_DAY);
    let (year, month, day) = civil_from_days(days);
    let (secs, ms) = (ms_of_day / 1000, ms_of_day % 1000);
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}.{ms:03}Z")
}

/// Proleptic Gregorian (year, month, day) of a day count from 1970-01-01.
///
/// Works in 400-year eras starting on March 1st, so that the leap day is the last day of its
/// year and every month length but February's follows a fixed 153-day/5-month pattern.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    const DAYS_PER_ERA: i64 = 146_097;
    // 1970-01-01 is day 719_468 counted from 0000-03-01.
    let from_0000_03_01 = days + 719_468;
    let era = from_0000_03_01.div_euclid(DAYS_PER_ERA);
    let day_of_era = from_0000_03_01.rem_euclid(DAYS_PER_ERA); // 0..=146_096
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153; // 0 = March … 11 = February
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 { month_from_march + 3 } else { month_from_march - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month as u32, day as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(n: i64, d: i64) -> Ratio<i64> {
        Ratio::new(n, d)
    }

    #[test]
    fn extinf_writes_exactly_six_decimals() {
        assert_eq!(extinf(r(3, 1)), "3.000000");
        assert_eq!(extinf(r(3003, 1000)), "3.003000");
        assert_eq!(extinf(r(1001, 30000)), "0.033367");
        assert_eq!(extinf(r(0, 1)), "0.000000");
        assert_eq!(extinf(r(1_036_800, 1)), "1036800.000000");
    }

    #[test]
    fn extinf_rounds_exact_halves_up() {
        // 0.0000005 exactly: the half goes up.
        assert_eq!(extinf(r(1, 2_000_000)), "0.000001");
        // Just below the half goes down.
        assert_eq!(extinf(r(4_999_999, 10_000_000_000_000)), "0.000000");
        assert_eq!(extinf(r(29_999_995, 10_000_000)), "3.000000");
        assert_eq!(extinf(r(2, 3)), "0.666667");
    }

    #[test]
    fn unnormalised_ratios_format_like_their_value() {
        assert_eq!(extinf(Ratio::new_raw(-3, -1)), "3.000000");
        assert_eq!(extinf(Ratio::new_raw(6006, 2000)), "3.003000");
        assert_eq!(extinf(Ratio::new_raw(1, -2)), "-0.500000");
        assert_eq!(extinf(Ratio::new_raw(1, 0)), "0.000000");
    }

    #[test]
    fn extreme_values_do_not_overflow() {
        assert_eq!(extinf(r(i64::MAX, 1)), format!("{}.000000", i64::MAX));
        assert_eq!(extinf(r(1, i64::MAX)), "0.000000");
        assert_eq!(decimal_trimmed(r(i64::MAX, 2)), "4611686018427387903.5");
    }

    #[test]
    fn decimal_trimmed_matches_the_spec_examples() {
        assert_eq!(decimal_trimmed(r(6, 1)), "6");
        assert_eq!(decimal_trimmed(r(259_200, 1)), "259200");
        assert_eq!(decimal_trimmed(r(3003, 1000)), "3.003");
        assert_eq!(decimal_trimmed(r(2_073_601, 2)), "1036800.5");
        assert_eq!(decimal_trimmed(r(0, 1)), "0");
    }

    #[test]
    fn decimal_trimmed_rounds_to_six_digits_before_trimming() {
        assert_eq!(decimal_trimmed(r(1001, 30000)), "0.033367");
        assert_eq!(decimal_trimmed(r(1_999_999_999, 1_000_000_000)), "2");
        assert_eq!(decimal_trimmed(r(10, 1)), "10");
        assert_eq!(decimal_trimmed(r(100_001, 100_000)), "1.00001");
    }

    #[test]
    fn fixed_with_three_digits_formats_frame_rates() {
        assert_eq!(fixed(r(30000, 1001), 3), "29.970");
        assert_eq!(fixed(r(30, 1), 3), "30.000");
        assert_eq!(fixed(r(15000, 1001), 3), "14.985");
        assert_eq!(fixed(r(60000, 1001), 3), "59.940");
        assert_eq!(fixed(r(7, 2), 0), "4");
    }

    #[test]
    fn target_duration_is_at_least_hls_time() {
        assert_eq!(target_duration(r(3003, 1000), 3), 3);
        assert_eq!(target_duration(r(1, 1), 3), 3);
        assert_eq!(target_duration(r(0, 1), 0), 0);
    }

    #[test]
    fn target_duration_rounds_the_written_value_half_up() {
        assert_eq!(target_duration(r(7, 2), 3), 4);
        assert_eq!(target_duration(r(3_499_999, 1_000_000), 3), 3);
        // 3.4999996 is written as 3.500000, which a player rounds to 4.
        assert_eq!(target_duration(r(34_999_996, 10_000_000), 3), 4);
        assert_eq!(target_duration(r(61, 10), 3), 6);
        assert_eq!(target_duration(r(-5, 1), 2), 2);
    }

    #[test]
    fn program_date_time_matches_the_spec_example() {
        assert_eq!(program_date_time(1_740_823_554_000), "2025-03-01T10:05:54.000Z");
        assert_eq!(program_date_time(1_740_823_563_412), "2025-03-01T10:06:03.412Z");
    }

    #[test]
    fn program_date_time_handles_the_epoch_and_times_before_it() {
        assert_eq!(program_date_time(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(program_date_time(-1), "1969-12-31T23:59:59.999Z");
        assert_eq!(program_date_time(-86_400_000), "1969-12-31T00:00:00.000Z");
    }

    #[test]
    fn program_date_time_follows_gregorian_leap_years() {
        // 2024 and 2000 are leap years; 1900 and 2100 are not.
        assert_eq!(program_date_time(1_709_164_800_000), "2024-02-29T00:00:00.000Z");
        assert_eq!(program_date_time(1_709_251_200_000), "2024-03-01T00:00:00.000Z");
        assert_eq!(program_date_time(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(program_date_time(-2_203_891_200_000), "1900-03-01T00:00:00.000Z");
        assert_eq!(program_date_time(4_107_456_000_000), "2100-02-28T00:00:00.000Z");
        assert_eq!(program_date_time(4_107_542_400_000), "2100-03-01T00:00:00.000Z");
        assert_eq!(program_date_time(1_735_689_599_999), "2024-12-31T23:59:59.999Z");
        assert_eq!(program_date_time(1_735_689_600_000), "2025-01-01T00:00:00.000Z");
    }
}
