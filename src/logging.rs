//! Tracing setup: human-readable or JSON lines on stderr (stdout carries events).

use tracing_subscriber::EnvFilter;

pub fn init(json: bool, debug: bool) {
    let default = if debug { "debug" } else { "info" };
    let filter = EnvFilter::try_from_env("RUST_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.with_target(false).init();
    }
}

/// Routes libav's own log through `av_log_set_level` (LOG_FFMPEG_TRACE).
pub fn set_libav_verbosity(trace: bool) {
    use ffmpeg_next::util::log;
    log::set_level(if trace { log::Level::Trace } else { log::Level::Error });
}
