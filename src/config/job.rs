//! How every stream is encoded and published: [`JobSettings`] as flags and environment,
//! [`EncodeSettings`] once validated. The validated form travels to each child inside its
//! job document ([`crate::child_protocol::ChildJob`]); nothing converts it back to flags.

use std::path::PathBuf;
use std::time::Duration;

use super::cdn::CdnArgs;
use super::env::parse_bool;
use crate::child_protocol::EncodeSettings;
use crate::hls::SegmentFormat;
use crate::pipeline::passthrough::OriginalMode;
use crate::pipeline::source::SourceTls;
use crate::pipeline::video::{VideoEncoder, VideoSettings};
use anyhow::Context as _;
use clap::Args;

/// How every stream is encoded and published, whoever runs it: `transcode` by hand, or each
/// job of `worker`. Each field reads the Go worker's variable.
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
    #[arg(long, env = "HLS_ORIGINAL_MODE", value_enum, default_value = "auto")]
    pub original_mode: OriginalMode,
    /// Audio encoder.
    #[arg(long, env = "HLS_AUDIO_CODEC", default_value = "aac")]
    pub audio_codec: String,
    /// AAC bit rate, kbit/s [default: the ladder profile's, 128 for the built-in one].
    #[arg(long, env = "HLS_AUDIO_BITRATE_KBPS", value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub audio_kbps: Option<u32>,
    /// First media must arrive within this time; a silent source ends the stream after it.
    #[arg(long, env = "HLS_SOURCE_TIMEOUT_SECONDS", default_value_t = 30)]
    pub source_timeout: u64,
    /// A live source read this many seconds late (encoders far behind) drops whole GOPs,
    /// undecoded, until it is back at the live edge; 0: never drop.
    #[arg(long, env = "HLS_DROP_BEHIND_SECONDS", default_value_t = 30)]
    pub drop_behind: u64,
    /// Segment packaging: `ts` (MPEG-TS, audio in every rendition) or `cmaf` (fragmented MP4
    /// with init segments, the audio as one rendition of its own; play the master playlist).
    #[arg(long, env = "HLS_SEGMENT_FORMAT", value_enum, default_value = "ts")]
    pub segment_format: SegmentFormat,
    /// DASH manifests (`master.mpd`, `master-vod-K.mpd`) over the same CMAF files as the
    /// HLS playlists; needs `--segment-format cmaf`.
    #[arg(long, env = "HLS_DASH", value_parser = parse_bool, action = clap::ArgAction::Set, default_value = "NO")]
    pub dash: bool,
    /// LL-HLS part target, seconds: every rendition also writes partial segments (CMAF chunks)
    /// of at most this length; 0: off. Needs `--segment-format cmaf`. Kept in milliseconds.
    #[arg(long, env = "HLS_PART_SECONDS", value_parser = parse_part_seconds, default_value = "0")]
    pub part_seconds: u32,
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
    #[command(flatten)]
    pub cdn: CdnArgs,
}

/// `HLS_PART_SECONDS`: seconds with at most millisecond precision, as milliseconds.
fn parse_part_seconds(v: &str) -> Result<u32, String> {
    let secs: f64 = v.trim().parse().map_err(|_| format!("{v:?} is not a number of seconds (e.g. 0.333)"))?;
    if !(0.0..=60.0).contains(&secs) {
        return Err(format!("{v:?} is outside 0 to 60 seconds"));
    }
    Ok((secs * 1000.0).round() as u32)
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
        // Output-layout §14 pushes `N.ts` and playlists only: it has no message for an init
        // segment, so a CDN player could never start a CMAF rendition.
        anyhow::ensure!(
            !(s.cdn.enabled && s.segment_format == SegmentFormat::Cmaf),
            "HLS_SEGMENT_FORMAT=cmaf cannot be used with HLS_WS_CDN_ENABLED=YES: the HLS WebSocket CDN \
             protocol has no place for an init segment, so its players could not start a CMAF rendition; \
             set HLS_SEGMENT_FORMAT=ts or HLS_WS_CDN_ENABLED=NO"
        );
        // DASH segments are fMP4 with init segments: MPEG-TS has neither.
        anyhow::ensure!(
            !s.dash || s.segment_format == SegmentFormat::Cmaf,
            "HLS_DASH=YES needs HLS_SEGMENT_FORMAT=cmaf: the DASH manifests list the CMAF files the HLS \
             playlists use, and MPEG-TS segments are not playable from a DASH manifest; set \
             HLS_SEGMENT_FORMAT=cmaf (--segment-format cmaf) or HLS_DASH=NO"
        );
        anyhow::ensure!(
            s.part_seconds == 0 || s.segment_format == SegmentFormat::Cmaf,
            "HLS_PART_SECONDS={} needs HLS_SEGMENT_FORMAT=cmaf: partial segments are CMAF chunks \
             (moof + mdat); set HLS_SEGMENT_FORMAT=cmaf or HLS_PART_SECONDS=0",
            f64::from(s.part_seconds) / 1000.0
        );
        anyhow::ensure!(
            s.part_seconds == 0 || (100..=s.hls_time.max(1) * 500).contains(&s.part_seconds),
            "HLS_PART_SECONDS={} is outside 0.1 to half of HLS_TIME ({} s): a useful part target is \
             0.2 to 1.0 s, or 0 for no parts",
            f64::from(s.part_seconds) / 1000.0,
            s.hls_time
        );
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
            video: VideoSettings {
                encoder,
                preset,
                pixel_format,
                threads: s.encoder_threads,
                low_latency: s.part_seconds > 0,
            },
            audio_codec: s.audio_codec.clone(),
            audio_kbps: s.audio_kbps,
            original_mode: s.original_mode,
            source_timeout: Duration::from_secs(s.source_timeout.max(1)),
            drop_behind: (s.drop_behind > 0).then(|| Duration::from_secs(s.drop_behind)),
            master: s.master,
            segment_format: s.segment_format,
            dash: s.dash,
            part_seconds: (s.part_seconds > 0).then(|| f64::from(s.part_seconds) / 1000.0),
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
    use crate::pipeline::video::EncoderFamily;

    #[derive(Debug, Parser)]
    struct Flags {
        #[command(flatten)]
        settings: JobSettings,
    }

    fn settings(args: &[&str]) -> JobSettings {
        Flags::parse_from(std::iter::once("x").chain(args.iter().copied())).settings
    }

    #[test]
    fn validated_settings_survive_the_trip_to_a_child_in_the_job_document() {
        let custom = settings(&[
            "--hls-time",
            "2",
            "--master",
            "NO",
            "--source-tls-verify",
            "YES",
            "--original-mode",
            "auto",
            "--audio-kbps",
            "96",
            "--test-emulated-load-percent",
            "250",
        ]);
        let encode = EncodeSettings::try_from(&custom).unwrap();
        let again: EncodeSettings = serde_json::from_str(&serde_json::to_string(&encode).unwrap()).unwrap();
        assert_eq!(again, encode);
        assert_eq!((again.hls_time, again.master, again.source_tls.verify), (2, false, true));
        assert_eq!((again.original_mode, again.audio_kbps), (OriginalMode::Auto, Some(96)));
        // The child never guesses a default again: the preset is resolved here, once.
        assert_eq!(again.video.preset, "veryfast");
        assert_eq!(again.video.pixel_format, ffmpeg_next::format::Pixel::YUV420P);
        assert_eq!(EncodeSettings::try_from(&settings(&[])).unwrap().audio_kbps, None, "unset: the profile's");
        let mode = |args: &[&str]| EncodeSettings::try_from(&settings(args)).unwrap().original_mode;
        assert_eq!(mode(&[]), OriginalMode::Auto, "unset: ORIGINAL passed through when the source qualifies");
        assert_eq!(mode(&["--original-mode", "encode"]), OriginalMode::Encode, "encode stays one setting away");
        assert_eq!(again.emulated_load, Some(2.5));
        assert_eq!(EncodeSettings::try_from(&settings(&[])).unwrap().emulated_load, None, "only when asked for");
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

    #[test]
    fn dash_needs_cmaf_segments_and_travels_in_the_job_document() {
        assert!(!EncodeSettings::try_from(&settings(&[])).unwrap().dash, "off by default");
        let err = EncodeSettings::try_from(&settings(&["--dash", "YES"])).unwrap_err().to_string();
        assert!(err.contains("HLS_DASH=YES needs HLS_SEGMENT_FORMAT=cmaf"), "{err}");
        let on = EncodeSettings::try_from(&settings(&["--dash", "YES", "--segment-format", "cmaf"])).unwrap();
        let again: EncodeSettings = serde_json::from_str(&serde_json::to_string(&on).unwrap()).unwrap();
        assert!(again.dash);
        assert_eq!(again.segment_format, SegmentFormat::Cmaf);
    }

    #[test]
    fn part_seconds_need_cmaf_and_a_useful_target() {
        let parse = settings;
        let ts = parse(&["--part-seconds", "0.333"]);
        assert_eq!(ts.part_seconds, 333);
        let err = EncodeSettings::try_from(&ts).unwrap_err().to_string();
        assert!(err.contains("HLS_PART_SECONDS=0.333 needs HLS_SEGMENT_FORMAT=cmaf"), "{err}");
        let cmaf = EncodeSettings::try_from(&parse(&["--part-seconds", "0.333", "--segment-format", "cmaf"]));
        assert_eq!(cmaf.expect("valid").part_seconds, Some(0.333));
        let long = parse(&["--part-seconds", "2", "--segment-format", "cmaf"]);
        assert!(EncodeSettings::try_from(&long).unwrap_err().to_string().contains("half of HLS_TIME"));
        assert_eq!(EncodeSettings::try_from(&parse(&[])).expect("defaults").part_seconds, None);
    }
}
