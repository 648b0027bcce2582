//! Tracing setup: human-readable or JSON lines on stderr (stdout carries events), and
//! libav's own log routed through tracing with stream keys redacted, its last errors kept for
//! the error of a failed run (the key in an RTMP
//! URL is the publisher's secret: coordinator-protocol §5).

use std::collections::VecDeque;
use std::ffi::{c_char, c_int, c_void, CStr};
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Mutex;

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
    match level {
        l if l <= ffi::AV_LOG_ERROR => {
            remember_libav_error(&text);
            tracing::error!(target: "libav", "{text}")
        }
        l if l <= ffi::AV_LOG_WARNING => tracing::warn!(target: "libav", "{text}"),
        l if l <= ffi::AV_LOG_INFO => tracing::debug!(target: "libav", "{text}"),
        _ => tracing::trace!(target: "libav", "{text}"),
    }
}
