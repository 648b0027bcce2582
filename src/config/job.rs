//! How every stream is encoded and published: [`JobSettings`] as flags and environment,
//! [`EncodeSettings`] once validated.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use clap::Args;

use super::parse_bool;
use crate::pipeline::audio::AudioSettings;
use crate::pipeline::input::SourceTls;
use crate::pipeline::passthrough::OriginalMode;
use crate::pipeline::video::{EncoderFamily, VideoEncoder, VideoSettings};

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
    /// ORIGINAL: `encode` it, `copy` the source's H.264 and AAC packets (keyframe-aligned
    /// segments), or `auto`: copy when the source qualifies, else encode.
    #[arg(long, env = "HLS_ORIGINAL_MODE", value_enum, default_value = "encode")]
    pub original_mode: OriginalMode,
    /// Audio encoder.
    #[arg(long, env = "HLS_AUDIO_CODEC", default_value = "aac")]
    pub audio_codec: String,
    /// AAC bit rate, kbit/s.
    #[arg(long, env = "HLS_AUDIO_BITRATE_KBPS", default_value_t = 128)]
    pub audio_kbps: u32,
    /// First media must arrive within this time; a silent source ends the stream after it.
    #[arg(long, env = "HLS_SOURCE_TIMEOUT_SECONDS", default_value_t = 30)]
    pub source_timeout: u64,
    /// A live source read this many seconds late (encoders far behind) drops whole GOPs,
    /// undecoded, until it is back at the live edge; 0: never drop.
    #[arg(long, env = "HLS_DROP_BEHIND_SECONDS", default_value_t = 30)]
    pub drop_behind: u64,
    /// Write master playlists.
    #[arg(long, env = "HLS_MASTER_PLAYLIST", value_parser = parse_bool, action = clap::ArgAction::Set, default_value = "YES")]
    pub master: bool,
    /// Give up storing a file after this many seconds of retries (recorded segments are kept
    /// retrying while the stream runs); also how long a finished stream waits for its last
    /// uploads.
    #[arg(long, env = "HLS_STORAGE_RETRY_SECONDS", default_value_t = 30)]
    pub storage_retry: u64,
    /// Bound on bytes waiting for storage, MiB; beyond it segments are dropped.
    #[arg(long, env = "HLS_UPLOAD_QUEUE_MB", default_value_t = 256)]
    pub upload_queue_mb: usize,
    /// Verify the certificate of an rtmps:// or wss:// source: its chain and that it names
    /// the address dialled (ingest servers are addressed by IP, which usual certificates do
    /// not name).
    #[arg(long, env = "HLS_SOURCE_TLS_VERIFY", value_parser = parse_bool, action = clap::ArgAction::Set, default_value = "NO")]
    pub source_tls_verify: bool,
    /// PEM file of the certificate authorities a source certificate must chain to when
    /// verified, instead of the system's roots (a private CA of the ingest servers).
    #[arg(long, env = "HLS_SOURCE_TLS_CA_FILE")]
    pub source_tls_ca_file: Option<PathBuf>,
    /// Forward libav's log at trace level.
    #[arg(long, env = "LOG_FFMPEG_TRACE", value_parser = parse_bool, action = clap::ArgAction::Set, default_value = "NO")]
    pub ffmpeg_trace: bool,
    /// Testing only: each job behaves as if its whole ladder needed this many percent of a
    /// core while it has exactly one (an emulated core the renditions' frames queue for,
    /// sleeping, shared by pixels), so overload means the same on any machine. 200: the job
    /// runs at half real time until half its pixels are shed.
    #[arg(long, env = "HLS_TEST_EMULATED_LOAD_PERCENT", hide = true)]
    pub test_emulated_load_percent: Option<u32>,
}

impl JobSettings {
    /// The same settings as `transcode` flags. The preset is always explicit, so a child
    /// never has to guess the encoder's default again.
    pub fn to_args(&self) -> Vec<String> {
        let yes_no = |b: bool| if b { "YES" } else { "NO" }.to_string();
        let preset =
            self.preset.clone().unwrap_or_else(|| EncoderFamily::of(&self.video_codec).default_preset().to_string());
        let pairs = [
            ("--hls-time", self.hls_time.to_string()),
            ("--live-size", self.live_size.to_string()),
            ("--vod-max-size", self.vod_max_size.to_string()),
            ("--fragment-limit", self.fragment_limit.to_string()),
            ("--video-codec", self.video_codec.clone()),
            ("--preset", preset),
            ("--pixel-format", self.pixel_format.clone()),
            ("--encoder-threads", self.encoder_threads.to_string()),
            ("--original-mode", self.original_mode.as_str().to_string()),
            ("--audio-codec", self.audio_codec.clone()),
            ("--audio-kbps", self.audio_kbps.to_string()),
            ("--source-timeout", self.source_timeout.to_string()),
            ("--drop-behind", self.drop_behind.to_string()),
            ("--master", yes_no(self.master)),
            ("--storage-retry", self.storage_retry.to_string()),
            ("--upload-queue-mb", self.upload_queue_mb.to_string()),
            ("--source-tls-verify", yes_no(self.source_tls_verify)),
            ("--ffmpeg-trace", yes_no(self.ffmpeg_trace)),
        ];
        let ca_file = self.source_tls_ca_file.iter().map(|f| ("--source-tls-ca-file", f.display().to_string()));
        let emulated = self.test_emulated_load_percent.map(|p| ("--test-emulated-load-percent", p.to_string()));
        pairs.into_iter().chain(ca_file).chain(emulated).flat_map(|(flag, value)| [flag.to_string(), value]).collect()
    }
}

/// [`JobSettings`] validated: what the pipeline and the publisher run with.
#[derive(Debug, Clone)]
pub struct EncodeSettings {
    pub hls_time: u32,
    pub live_size: u32,
    pub vod_max_size: u32,
    pub fragment_limit: u64,
    pub video: VideoSettings,
    pub audio: AudioSettings,
    pub original_mode: OriginalMode,
    /// At least one second.
    pub source_timeout: Duration,
    /// `None`: never drop GOPs to catch up with a live source.
    pub drop_behind: Option<Duration>,
    pub master: bool,
    pub storage_retry: Duration,
    /// At least one MiB.
    pub upload_queue_bytes: usize,
    pub source_tls: SourceTls,
    pub ffmpeg_trace: bool,
    /// `--test-emulated-load-percent` as cores (see `pipeline::stats::EmulatedCost`).
    pub emulated_load: Option<f64>,
}

impl TryFrom<&JobSettings> for EncodeSettings {
    type Error = anyhow::Error;

    /// Fails, naming the variable, on anything that would make every job fail: an encoder this
    /// FFmpeg build lacks, a pixel format it does not know.
    fn try_from(s: &JobSettings) -> anyhow::Result<EncodeSettings> {
        ffmpeg_next::init().context("initialising FFmpeg")?;
        for (name, codec) in [("HLS_VIDEO_CODEC", &s.video_codec), ("HLS_AUDIO_CODEC", &s.audio_codec)] {
            anyhow::ensure!(
                ffmpeg_next::encoder::find_by_name(codec).is_some(),
                "{name}={codec:?}: this FFmpeg build has no such encoder (see `ffmpeg -encoders`)"
            );
        }
        let pixel_format = s.pixel_format.parse::<ffmpeg_next::format::Pixel>().map_err(|_| {
            anyhow::anyhow!(
                "HLS_PIXEL_FORMAT={:?} is not a pixel format FFmpeg knows; yuv420p is the usual one",
                s.pixel_format
            )
        })?;
        let ca_file = s.source_tls_ca_file.clone();
        if let Some(ca_file) = &ca_file {
            crate::tls::trusting_only(ca_file).map_err(|e| anyhow::anyhow!("HLS_SOURCE_TLS_CA_FILE: {e}"))?;
        }
        let encoder = VideoEncoder::new(&s.video_codec);
        let preset = s.preset.clone().unwrap_or_else(|| encoder.family.default_preset().to_string());
        Ok(EncodeSettings {
            hls_time: s.hls_time,
            live_size: s.live_size,
            vod_max_size: s.vod_max_size,
            fragment_limit: s.fragment_limit,
            video: VideoSettings { encoder, preset, pixel_format, threads: s.encoder_threads },
            audio: AudioSettings { codec: s.audio_codec.clone(), bitrate_kbps: s.audio_kbps },
            original_mode: s.original_mode,
            source_timeout: Duration::from_secs(s.source_timeout.max(1)),
            drop_behind: (s.drop_behind > 0).then(|| Duration::from_secs(s.drop_behind)),
            master: s.master,
            storage_retry: Duration::from_secs(s.storage_retry),
            upload_queue_bytes: s.upload_queue_mb.max(1) << 20,
            source_tls: SourceTls { verify: s.source_tls_verify, ca_file },
            ffmpeg_trace: s.ffmpeg_trace,
            emulated_load: s.test_emulated_load_percent.filter(|p| *p > 0).map(|p| f64::from(p) / 100.0),
        })
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Flags {
        #[command(flatten)]
        settings: JobSettings,
    }

    fn settings(args: &[&str]) -> JobSettings {
        Flags::parse_from(std::iter::once("x").chain(args.iter().copied())).settings
    }

    #[test]
    fn job_settings_survive_the_trip_to_a_child_as_flags() {
        let custom = settings(&[
            "--hls-time",
            "2",
            "--preset",
            "fast",
            "--master",
            "NO",
            "--source-tls-verify",
            "YES",
            "--source-tls-ca-file",
            "/etc/ingest ca.pem",
            "--original-mode",
            "auto",
            "--test-emulated-load-percent",
            "250",
        ]);
        let again = Flags::parse_from(std::iter::once("x".to_string()).chain(custom.to_args())).settings;
        assert_eq!(again, custom);
        assert_eq!((again.hls_time, again.master, again.source_tls_verify), (2, false, true));
        assert_eq!(again.source_tls_ca_file, Some(PathBuf::from("/etc/ingest ca.pem")));
        assert!(!settings(&[]).to_args().contains(&"--source-tls-ca-file".to_string()));
        assert_eq!(again.original_mode, OriginalMode::Auto);
        let emulated = settings(&["--test-emulated-load-percent", "250"]);
        assert_eq!(EncodeSettings::try_from(&emulated).unwrap().emulated_load, Some(2.5));
        assert!(!settings(&[]).to_args().iter().any(|a| a.contains("emulated")), "only when asked for");
    }

    #[test]
    fn the_default_preset_depends_on_the_encoder_family() {
        let preset = |args: &[&str]| {
            let mut s = settings(args);
            if !args.contains(&"--preset") {
                s.preset = None; // as if HLS_H264_PRESET were unset, whatever this machine has
            }
            EncodeSettings::try_from(&s).map(|e| (e.video.preset, e.video.encoder.family))
        };
        assert_eq!(preset(&["--preset", "medium"]).unwrap().0, "medium");
        assert_eq!(preset(&["--video-codec", "libx264"]).unwrap(), ("veryfast".to_string(), EncoderFamily::X264));
        // NVENC is not in this FFmpeg build on every machine; the family and its preset are.
        assert_eq!(EncoderFamily::of("h264_nvenc").default_preset(), "fast");
        assert_eq!(EncoderFamily::of("h264_vaapi"), EncoderFamily::Vaapi);
        let mut s = settings(&["--video-codec", "h264_nvenc"]);
        s.preset = None;
        assert!(s.to_args().windows(2).any(|w| w == ["--preset", "fast"]), "{:?}", s.to_args());
    }

    #[test]
    fn media_settings_that_would_fail_every_job_are_fatal() {
        assert!(EncodeSettings::try_from(&settings(&[])).is_ok());
        let err = EncodeSettings::try_from(&settings(&["--video-codec", "h264_nope"])).unwrap_err();
        assert!(err.to_string().contains("HLS_VIDEO_CODEC"), "{err}");
        let err = EncodeSettings::try_from(&settings(&["--audio-codec", "nope"])).unwrap_err();
        assert!(err.to_string().contains("HLS_AUDIO_CODEC"), "{err}");
        let err = EncodeSettings::try_from(&settings(&["--pixel-format", "nonsense"])).unwrap_err();
        assert!(err.to_string().contains("HLS_PIXEL_FORMAT"), "{err}");
        let err = EncodeSettings::try_from(&settings(&["--source-tls-ca-file", "/nonexistent/ca.pem"])).unwrap_err();
        assert!(
            err.to_string().contains("HLS_SOURCE_TLS_CA_FILE") && err.to_string().contains("/nonexistent"),
            "{err}"
        );
        let not_pem = std::env::temp_dir().join(format!("not-a-ca-{}.pem", std::process::id()));
        std::fs::write(&not_pem, "hello\n").unwrap();
        let err =
            EncodeSettings::try_from(&settings(&["--source-tls-ca-file", not_pem.to_str().unwrap()])).unwrap_err();
        std::fs::remove_file(&not_pem).unwrap();
        assert!(err.to_string().contains("holds no certificate"), "{err}");
    }
}
