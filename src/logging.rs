//! Tracing setup: human-readable or JSON lines on stderr (stdout carries events), and
//! libav's own log routed through tracing with stream keys redacted (the key in an RTMP URL is
//! the publisher's secret: coordinator-protocol §5), bounded in rate, its last errors kept for
//! the error of a failed run.

use std::collections::VecDeque;
use std::ffi::{c_char, c_int, c_void, CStr};
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use ffmpeg_next::ffi;
use tracing_subscriber::EnvFilter;

/// Modules whose INFO lines are per-job status (LOG_TASK_STATUS): the job table and everything
/// a job's transcode logs.
const TASK_STATUS_MODULES: &[&str] = &["supervisor", "transcode", "publisher", "events", "pipeline"];

pub fn init(json: bool, debug: bool, task_status: bool) {
    let mut default = if debug { "debug" } else { "info" }.to_string();
    if !task_status && !debug {
        for module in TASK_STATUS_MODULES {
            default.push_str(&format!(",hls_ladder::{module}=warn"));
        }
    }
    let filter = EnvFilter::try_from_env("RUST_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    // Colours only for a person at a terminal: log files and collectors get plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi);
    if json {
        builder.json().init();
    } else {
        builder.with_target(false).init();
    }
}

/// How many of libav's error lines are kept for the error of a failed run.
const LIBAV_TAIL: usize = 5;

/// libav's latest error lines (redacted). One process runs one stream, so the lines a failed
/// run finds here are that run's.
static LIBAV_ERRORS: Mutex<VecDeque<String>> = Mutex::new(VecDeque::new());

/// libav's latest error lines, oldest first (at most a few).
pub fn recent_libav_errors() -> Vec<String> {
    LIBAV_ERRORS.lock().map(|tail| tail.iter().cloned().collect()).unwrap_or_default()
}

fn remember_libav_error(line: &str) {
    if let Ok(mut tail) = LIBAV_ERRORS.lock() {
        if tail.len() == LIBAV_TAIL {
            tail.pop_front();
        }
        tail.push_back(line.to_string());
    }
}

/// libav lines let through at once before [`LineBudget`] holds them back.
const LIBAV_BURST: u64 = 20;
/// After the burst, one libav line per this much time.
const LIBAV_LINE_EVERY: Duration = Duration::from_secs(1);

/// Bounds how many of libav's lines reach the log. A damaged or hostile stream makes libav
/// log an error for every packet (measured: 80 lines a second for noise in a 15 fps stream
/// with audio), for as long as it lasts, and the worker passes every line of its children on:
/// without a bound one publisher could flood the log. A burst passes, then one line a second;
/// the first line let through after some were held back says how many. Every error still
/// reaches the tail kept for a failed run's message.
#[derive(Debug)]
struct LineBudget {
    tokens: u64,
    /// When `tokens` was last topped up (`None` before the first line).
    refilled: Option<Instant>,
    held_back: u64,
}

impl LineBudget {
    const fn new() -> LineBudget {
        LineBudget { tokens: LIBAV_BURST, refilled: None, held_back: 0 }
    }

    /// `Some(n)`: log this line, after saying that `n` lines were held back before it;
    /// `None`: hold it back.
    fn admit(&mut self, now: Instant) -> Option<u64> {
        let since = *self.refilled.get_or_insert(now);
        let earned = (now.saturating_duration_since(since).as_nanos() / LIBAV_LINE_EVERY.as_nanos()) as u64;
        if earned > 0 {
            self.tokens = self.tokens.saturating_add(earned).min(LIBAV_BURST);
            self.refilled = Some(since + LIBAV_LINE_EVERY * earned.min(u32::MAX as u64) as u32);
        }
        if self.tokens == 0 {
            self.held_back += 1;
            return None;
        }
        self.tokens -= 1;
        Some(std::mem::take(&mut self.held_back))
    }
}

static LIBAV_BUDGET: Mutex<LineBudget> = Mutex::new(LineBudget::new());

/// Says how many libav lines were held back since the last one logged, if any (at the end of
/// a run, so that a flood at its very end is still counted).
pub fn report_held_back_libav_lines() {
    let held_back = LIBAV_BUDGET.lock().map(|mut budget| std::mem::take(&mut budget.held_back)).unwrap_or(0);
    if held_back > 0 {
        warn_held_back(held_back);
    }
}

fn warn_held_back(held_back: u64) {
    tracing::warn!(
        target: "libav",
        held_back,
        "{held_back} more libav lines were held back (a damaged or hostile stream; after a burst of {LIBAV_BURST}, \
         one a second is logged)"
    );
}

/// Highest libav level forwarded (AV_LOG_ERROR by default, AV_LOG_TRACE with LOG_FFMPEG_TRACE).
static LIBAV_LEVEL: AtomicI32 = AtomicI32::new(ffi::AV_LOG_ERROR);

/// Routes libav's log through tracing, redacted; `trace` forwards everything (LOG_FFMPEG_TRACE).
pub fn set_libav_verbosity(trace: bool) {
    let level = if trace { ffi::AV_LOG_TRACE } else { ffi::AV_LOG_ERROR };
    LIBAV_LEVEL.store(level, Ordering::Relaxed);
    // SAFETY: installs a callback with exactly the signature libav calls.
    unsafe {
        ffi::av_log_set_level(level);
        ffi::av_log_set_callback(Some(libav_log));
    }
}

// bindgen renders `va_list` as a pointer to the tag on x86-64 and as the opaque type elsewhere;
// we only pass it through to libav's own formatter.
#[cfg(target_arch = "x86_64")]
type VaList = *mut ffi::__va_list_tag;
#[cfg(not(target_arch = "x86_64"))]
type VaList = ffi::va_list;

unsafe extern "C" fn libav_log(avcl: *mut c_void, level: c_int, fmt: *const c_char, vl: VaList) {
    if level > LIBAV_LEVEL.load(Ordering::Relaxed) {
        return;
    }
    let mut line = [0 as c_char; 1024];
    let mut print_prefix: c_int = 1;
    // SAFETY: libav formats into our buffer (NUL-terminated, truncated to its size).
    let text = unsafe {
        ffi::av_log_format_line2(avcl, level, fmt, vl, line.as_mut_ptr(), line.len() as c_int, &mut print_prefix);
        CStr::from_ptr(line.as_ptr()).to_string_lossy()
    };
    let text = crate::redact::redact_urls(text.trim_end());
    if text.is_empty() {
        return;
    }
    if level <= ffi::AV_LOG_ERROR {
        remember_libav_error(&text);
    }
    // LOG_FFMPEG_TRACE asks for everything; otherwise the budget applies.
    if LIBAV_LEVEL.load(Ordering::Relaxed) < ffi::AV_LOG_TRACE {
        match LIBAV_BUDGET.lock().map(|mut budget| budget.admit(Instant::now())) {
            Ok(None) => return,
            Ok(Some(held_back)) if held_back > 0 => warn_held_back(held_back),
            _ => {}
        }
    }
    match level {
        l if l <= ffi::AV_LOG_ERROR => tracing::error!(target: "libav", "{text}"),
        l if l <= ffi::AV_LOG_WARNING => tracing::warn!(target: "libav", "{text}"),
        l if l <= ffi::AV_LOG_INFO => tracing::debug!(target: "libav", "{text}"),
        _ => tracing::trace!(target: "libav", "{text}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flood_of_libav_lines_is_cut_to_a_burst_then_one_a_second_and_the_rest_is_counted() {
        let mut budget = LineBudget::new();
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        // 80 lines a second for 3 s, as noise in a stream makes libav write.
        let admitted: Vec<(u64, u64)> =
            (0..240).filter_map(|i| budget.admit(at(i * 1000 / 80)).map(|held| (i, held))).collect();
        assert_eq!(admitted.len(), LIBAV_BURST as usize + 2, "{admitted:?}");
        assert!(admitted[..LIBAV_BURST as usize].iter().all(|&(_, held)| held == 0));
        // One line at 1 s and one at 2 s, each saying how many were held back before it.
        assert_eq!(admitted[LIBAV_BURST as usize], (80, 60));
        assert_eq!(admitted[LIBAV_BURST as usize + 1], (160, 79));
        // After a quiet minute the full burst is back (and no more than that).
        let later = at(63_000);
        let again = (0..30).filter(|_| budget.admit(later).is_some()).count();
        assert_eq!(again, LIBAV_BURST as usize);
    }
}
