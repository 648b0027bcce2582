//! Command line: one subcommand per mode. Each field that the Go worker read from the
//! environment keeps that variable name, so the same deployment settings work here.

use std::ffi::OsString;

use clap::{Args, Parser, Subcommand};

use crate::probe::ProbeArgs;
use crate::transcode::TranscodeArgs;
use crate::worker::WorkerArgs;

#[derive(Debug, Parser)]
#[command(name = "hls-ladder", version, about = "Live transcoding worker: RTMP in, keyframe-aligned HLS ladder out")]
pub struct Cli {
    /// Log as JSON lines on stderr (for log collectors).
    #[arg(long, global = true, env = "LOG_JSON", value_parser = parse_bool, default_value = "NO")]
    pub log_json: bool,
    /// Debug logs.
    #[arg(long, global = true, env = "LOG_DEBUG", value_parser = parse_bool, default_value = "NO")]
    pub log_debug: bool,
    /// Per-job lifecycle logs (jobs accepted, started, closed, restarted); NO keeps warnings
    /// and errors only.
    #[arg(long, global = true, env = "LOG_TASK_STATUS", value_parser = parse_bool, action = clap::ArgAction::Set, default_value = "YES")]
    pub log_task_status: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Production mode: take jobs from the coordinator and run each one as a transcode.
    Worker(WorkerArgs),
    /// Transcode one stream (rtmp:// URL, media file, or `testsrc`) into an HLS ladder.
    Transcode(Box<TranscodeArgs>),
    /// Show a source's streams and the ladder the fitting algorithm picks for it.
    Probe(ProbeArgs),
}

/// How every stream is encoded and published, whoever runs it: `transcode` by hand, or each
/// job of `worker`, which hands its own values to every child as flags ([`Self::to_args`]).
/// Each field reads the Go worker's variable.
#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct JobSettings {
    /// Segment length and keyframe interval, seconds.
    #[arg(long, env = "HLS_TIME_SECONDS", default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=60))]
    pub hls_time: u32,
    /// Entries in live.m3u8.
    #[arg(long, env = "HLS_LIVE_PLAYLIST_SIZE", default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..))]
    pub live_size: u32,
    /// Entries per vod-K.m3u8.
    #[arg(long, env = "HLS_VOD_MAX_SIZE", default_value_t = 86400, value_parser = clap::value_parser!(u32).range(1..))]
    pub vod_max_size: u32,
    /// Segments per stream; reaching it ends the stream.
    #[arg(long, env = "HLS_FRAGMENT_COUNT_LIMIT", default_value_t = 16_777_216, value_parser = clap::value_parser!(u64).range(1..))]
    pub fragment_limit: u64,
    /// H.264 encoder (libx264, h264_nvenc, h264_vaapi, ...).
    #[arg(long, env = "HLS_VIDEO_CODEC", default_value = "libx264")]
    pub video_codec: String,
    /// Encoder preset for every rendition [default: veryfast; fast with h264_nvenc].
    #[arg(long, env = "HLS_H264_PRESET")]
    pub preset: Option<String>,
    /// Output pixel format.
    #[arg(long, env = "HLS_PIXEL_FORMAT", default_value = "yuv420p")]
    pub pixel_format: String,
    /// Encoder threads per rendition (0: the encoder decides).
    #[arg(long, env = "HLS_ENCODER_THREADS", default_value_t = 0)]
    pub encoder_threads: usize,
    /// Audio encoder.
    #[arg(long, env = "HLS_AUDIO_CODEC", default_value = "aac")]
    pub audio_codec: String,
    /// AAC bit rate, kbit/s.
    #[arg(long, env = "HLS_AUDIO_BITRATE_KBPS", default_value_t = 128)]
    pub audio_kbps: u32,
    /// First media must arrive within this time; a silent source ends the stream after it.
    #[arg(long, env = "HLS_SOURCE_TIMEOUT_SECONDS", default_value_t = 30)]
    pub source_timeout: u64,
    /// Write master playlists.
    #[arg(long, env = "HLS_MASTER_PLAYLIST", value_parser = parse_bool, action = clap::ArgAction::Set, default_value = "YES")]
    pub master: bool,
    /// Give up storing a file after this many seconds of retries.
    #[arg(long, env = "HLS_STORAGE_RETRY_SECONDS", default_value_t = 30)]
    pub storage_retry: u64,
    /// Bound on bytes waiting for storage, MiB; beyond it segments are dropped.
    #[arg(long, env = "HLS_UPLOAD_QUEUE_MB", default_value_t = 256)]
    pub upload_queue_mb: usize,
    /// Verify the certificate of a wss:// source (ingest servers are addressed by IP, which
    /// usual certificates do not name).
    #[arg(long, env = "HLS_SOURCE_TLS_VERIFY", value_parser = parse_bool, action = clap::ArgAction::Set, default_value = "NO")]
    pub source_tls_verify: bool,
    /// Forward libav's log at trace level.
    #[arg(long, env = "LOG_FFMPEG_TRACE", value_parser = parse_bool, action = clap::ArgAction::Set, default_value = "NO")]
    pub ffmpeg_trace: bool,
}

impl JobSettings {
    /// `HLS_H264_PRESET`, or the spec's default for the encoder: NVENC has no `veryfast`.
    pub fn effective_preset(&self) -> &str {
        match &self.preset {
            Some(preset) => preset,
            None if self.video_codec == "h264_nvenc" => "fast",
            None => "veryfast",
        }
    }

    /// The same settings as `transcode` flags.
    pub fn to_args(&self) -> Vec<String> {
        let yes_no = |b: bool| if b { "YES" } else { "NO" }.to_string();
        let pairs = [
            ("--hls-time", self.hls_time.to_string()),
            ("--live-size", self.live_size.to_string()),
            ("--vod-max-size", self.vod_max_size.to_string()),
            ("--fragment-limit", self.fragment_limit.to_string()),
            ("--video-codec", self.video_codec.clone()),
            ("--preset", self.effective_preset().to_string()),
            ("--pixel-format", self.pixel_format.clone()),
            ("--encoder-threads", self.encoder_threads.to_string()),
            ("--audio-codec", self.audio_codec.clone()),
            ("--audio-kbps", self.audio_kbps.to_string()),
            ("--source-timeout", self.source_timeout.to_string()),
            ("--master", yes_no(self.master)),
            ("--storage-retry", self.storage_retry.to_string()),
            ("--upload-queue-mb", self.upload_queue_mb.to_string()),
            ("--source-tls-verify", yes_no(self.source_tls_verify)),
            ("--ffmpeg-trace", yes_no(self.ffmpeg_trace)),
        ];
        pairs.into_iter().flat_map(|(flag, value)| [flag.to_string(), value]).collect()
    }
}

/// Spec §11: a variable with an invalid value falls back to its default with a warning, as
/// the Go worker did, where clap would refuse to start. Before parsing, this removes every
/// variable of `T`'s flags that the flag's own parser rejects, and returns the warnings to
/// log once logging is up. Explicit flags are still checked strictly by clap.
pub fn drop_invalid_env<T: Args>() -> Vec<String> {
    use clap::error::{ContextKind, ContextValue};
    // Built afresh each time: clap reads the environment when a command is built.
    let fresh = || {
        let mut cmd = T::augment_args(clap::Command::new("check")).no_binary_name(true);
        cmd.build();
        cmd
    };
    let mut warnings = Vec::new();
    for _ in fresh().get_arguments() {
        let cmd = fresh();
        // No command line at all: whatever clap rejects now came from the environment.
        let Err(err) = cmd.clone().try_get_matches_from(std::iter::empty::<OsString>()) else { break };
        // A missing required flag (say CONTROL_BASE_URL) is for clap to report, not us.
        let Some(ContextValue::String(shown)) = err.get(ContextKind::InvalidArg) else { break };
        let Some(var) = cmd.get_arguments().find(|a| a.to_string() == *shown).and_then(|a| a.get_env()) else {
            break;
        };
        let Some(value) = std::env::var_os(var) else { break };
        let name = var.to_string_lossy();
        warnings.push(format!("{name}={value:?} is not a valid value; using the default"));
        std::env::remove_var(var);
    }
    warnings
}

/// `YES`/`NO` as the Go worker wrote them; `TRUE`/`FALSE`, `1`/`0` accepted too.
pub fn parse_bool(s: &str) -> Result<bool, String> {
    match s.trim().to_ascii_lowercase().as_str() {
        "yes" | "true" | "1" | "on" => Ok(true),
        "no" | "false" | "0" | "off" | "" => Ok(false),
        other => Err(format!("expected YES or NO, got {other:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_settings_survive_the_trip_to_a_child_as_flags() {
        #[derive(Debug, Parser)]
        struct Probe {
            #[command(flatten)]
            settings: JobSettings,
        }
        let custom = ["x", "--hls-time", "2", "--preset", "fast", "--master", "NO", "--source-tls-verify", "YES"];
        let settings = Probe::parse_from(custom).settings;
        let again = Probe::parse_from(std::iter::once("x".to_string()).chain(settings.to_args())).settings;
        assert_eq!(again, settings);
        assert_eq!((again.hls_time, again.master, again.source_tls_verify), (2, false, true));
    }

    #[test]
    fn the_default_preset_depends_on_the_encoder() {
        #[derive(Debug, Parser)]
        struct Flags {
            #[command(flatten)]
            settings: JobSettings,
        }
        let preset = |args: &[&str]| {
            let flags = Flags::parse_from(std::iter::once("x").chain(args.iter().copied()));
            flags.settings.effective_preset().to_string()
        };
        assert_eq!(preset(&["--preset", "medium"]), "medium");
        assert_eq!(preset(&["--video-codec", "h264_nvenc", "--preset", "p4"]), "p4");
        if std::env::var_os("HLS_H264_PRESET").is_none() {
            assert_eq!(preset(&["--video-codec", "libx264"]), "veryfast");
            assert_eq!(preset(&["--video-codec", "h264_nvenc"]), "fast");
        }
    }

    #[test]
    fn invalid_values_in_the_environment_are_dropped_with_a_warning() {
        // Variables of its own: other tests read the real ones concurrently.
        #[derive(Debug, Parser)]
        struct Flags {
            #[arg(long, env = "HLS_LADDER_TEST_COUNT", default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
            count: u32,
            #[arg(long, env = "HLS_LADDER_TEST_SWITCH", value_parser = parse_bool, default_value = "NO")]
            switch: bool,
            #[arg(long, env = "HLS_LADDER_TEST_WORD", default_value = "x")]
            word: String,
        }
        std::env::set_var("HLS_LADDER_TEST_COUNT", "0");
        std::env::set_var("HLS_LADDER_TEST_SWITCH", "maybe");
        std::env::set_var("HLS_LADDER_TEST_WORD", "kept");
        let warnings = drop_invalid_env::<Flags>();
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        assert!(warnings[0].starts_with("HLS_LADDER_TEST_COUNT=\"0\""), "{warnings:?}");
        let flags = Flags::parse_from(["x"]);
        assert_eq!((flags.count, flags.switch, flags.word.as_str()), (3, false, "kept"));
    }

    #[test]
    fn booleans_accept_the_go_worker_spellings() {
        assert_eq!(parse_bool("YES"), Ok(true));
        assert_eq!(parse_bool("no"), Ok(false));
        assert_eq!(parse_bool("True"), Ok(true));
        assert!(parse_bool("maybe").is_err());
    }
}
