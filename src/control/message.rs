//! Typed coordinator messages (spec §3, §4) and the identifier checks of §5.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::control::codec::{self, Frame};

/// ENCODE-START as received: every parameter verbatim (missing ones are empty), so the
/// supervisor can still echo channel and id in a STREAM-CLOSED `BAD_JOB` when the rest is bad.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct EncodeStartRaw {
    pub channel: String,
    pub stream_id: String,
    pub source_type: String,
    pub source_uri: String,
    pub resolutions: String,
    pub record: String,
    pub previews: String,
}

/// Hand-written so that logging a job with `{:?}` never prints the stream key.
impl fmt::Debug for EncodeStartRaw {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EncodeStartRaw")
            .field("channel", &self.channel)
            .field("stream_id", &self.stream_id)
            .field("source_type", &self.source_type)
            .field("source_uri", &crate::redact::redact_url(&self.source_uri))
            .field("resolutions", &self.resolutions)
            .field("record", &self.record)
            .field("previews", &self.previews)
            .finish()
    }
}

/// A message from the coordinator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inbound {
    Heartbeat,
    EncodeStart(EncodeStartRaw),
    EncodeStop {
        channel: String,
        /// Empty means every job of the channel.
        stream_id: String,
        /// `Grace-Period` when present and a valid non-negative decimal; else the worker default.
        grace: Option<Duration>,
    },
    Error {
        code: String,
        message: String,
    },
    /// A method this worker does not know; the session logs it at DEBUG and drops it.
    Unknown(String),
}

impl Inbound {
    /// Parses one text frame (spec §2.2, §4).
    pub fn parse(text: &str) -> Inbound {
        Inbound::from_frame(&codec::parse(text))
    }

    pub fn from_frame(f: &Frame) -> Inbound {
        let p = |name: &str| f.param_or_empty(name).to_string();
        match f.method.as_str() {
            "HEARTBEAT" => Inbound::Heartbeat,
            "ENCODE-START" => Inbound::EncodeStart(EncodeStartRaw {
                channel: p("Stream-Channel"),
                stream_id: p("Stream-ID"),
                source_type: p("Stream-Source-Type"),
                source_uri: p("Stream-Source-URI"),
                resolutions: p("Resolutions"),
                record: p("Record"),
                previews: p("Previews"),
            }),
            "ENCODE-STOP" => Inbound::EncodeStop {
                channel: p("Stream-Channel"),
                stream_id: p("Stream-ID"),
                grace: f.param("Grace-Period").and_then(parse_grace),
            },
            "ERROR" => Inbound::Error { code: p("Error-Code"), message: p("Error-Message") },
            other => Inbound::Unknown(other.to_string()),
        }
    }
}

/// Non-negative decimal seconds (`2`, `0.5`, `10.`); signs, exponents and words are invalid.
fn parse_grace(text: &str) -> Option<Duration> {
    let mut parts = text.splitn(2, '.');
    let int = parts.next().unwrap_or("");
    let frac = parts.next().unwrap_or("");
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if int.is_empty() && frac.is_empty() || !digits(int) || !digits(frac) {
        return None;
    }
    Duration::try_from_secs_f64(text.parse::<f64>().ok()?).ok()
}

/// `Error-Code` values this worker sends (spec §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ErrorCode {
    SourceUnreachable,
    SourceTimeout,
    BadJob,
    OverCapacity,
    PipelineFailed,
    FragmentLimit,
    Shutdown,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::SourceUnreachable => "SOURCE_UNREACHABLE",
            ErrorCode::SourceTimeout => "SOURCE_TIMEOUT",
            ErrorCode::BadJob => "BAD_JOB",
            ErrorCode::OverCapacity => "OVER_CAPACITY",
            ErrorCode::PipelineFailed => "PIPELINE_FAILED",
            ErrorCode::FragmentLimit => "FRAGMENT_LIMIT",
            ErrorCode::Shutdown => "SHUTDOWN",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A message to the coordinator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outbound {
    Register {
        capacity: i32,
    },
    Heartbeat,
    StreamAvailable {
        channel: String,
        stream_id: String,
        /// `HLS-LIVE`, `HLS-VOD` or `IMG-PREVIEW`.
        stream_type: String,
        resolution: String,
        index_file: String,
        /// Only for HLS-VOD with K ≥ 1.
        start_time: Option<String>,
    },
    StreamClosed {
        channel: String,
        stream_id: String,
        error: Option<(ErrorCode, String)>,
    },
    Error {
        code: ErrorCode,
        message: String,
    },
}

impl Outbound {
    /// The wire text, parameters in the order of the spec §3 tables.
    pub fn encode(&self) -> String {
        match self {
            Outbound::Register { capacity } => codec::emit("REGISTER", &[("Capacity", &capacity.to_string())]),
            Outbound::Heartbeat => codec::emit("HEARTBEAT", &[]),
            Outbound::StreamAvailable { channel, stream_id, stream_type, resolution, index_file, start_time } => {
                let mut params = vec![
                    ("Stream-Channel", channel.as_str()),
                    ("Stream-ID", stream_id.as_str()),
                    ("Stream-Type", stream_type.as_str()),
                    ("Resolution", resolution.as_str()),
                    ("Index-file", index_file.as_str()),
                ];
                if let Some(t) = start_time {
                    params.push(("Start-Time", t.as_str()));
                }
                codec::emit("STREAM-AVAILABLE", &params)
            }
            Outbound::StreamClosed { channel, stream_id, error } => {
                let mut params = vec![("Stream-Channel", channel.as_str()), ("Stream-ID", stream_id.as_str())];
                if let Some((code, message)) = error {
                    params.push(("Error-Code", code.as_str()));
                    params.push(("Error-Message", message.as_str()));
                }
                codec::emit("STREAM-CLOSED", &params)
            }
            Outbound::Error { code, message } => {
                codec::emit("ERROR", &[("Error-Code", code.as_str()), ("Error-Message", message)])
            }
        }
    }

    /// Whether the message must survive a lost connection (spec §7.2). REGISTER and HEARTBEAT
    /// describe the present, so a stale copy is worthless; the session regenerates them.
    pub fn is_queued(&self) -> bool {
        !matches!(self, Outbound::Register { .. } | Outbound::Heartbeat)
    }
}

/// `^[A-Za-z0-9_-]{1,128}$`: the only channels and ids that may become path segments (spec §5).
pub fn validate_id(s: &str) -> bool {
    (1..=128).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// `^[0-9a-f]{32}$`: what the coordinator always sends; anything else deserves a warning.
pub fn is_coordinator_stream_id(s: &str) -> bool {
    s.len() == 32 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stop(text: &str) -> Option<Duration> {
        match Inbound::parse(text) {
            Inbound::EncodeStop { grace, .. } => grace,
            other => panic!("not an ENCODE-STOP: {other:?}"),
        }
    }

    #[test]
    fn encode_start_example_becomes_typed_with_verbatim_values() {
        let text = "ENCODE-START\nStream-Channel:mychan\nStream-ID:0000018f4a2b3c4d00000007a1b2c3d4\n\
            Stream-Source-Type:RTMP\nStream-Source-URI:rtmp://10.0.0.5:1935/mychan/secretkey\n\
            Resolutions:ORIGINAL,1280x720-30~2000,640x360-30\nRecord:True\nPreviews:256x144,5\n";
        let Inbound::EncodeStart(job) = Inbound::parse(text) else {
            panic!("not an ENCODE-START");
        };
        assert_eq!(job.channel, "mychan");
        assert_eq!(job.stream_id, "0000018f4a2b3c4d00000007a1b2c3d4");
        assert_eq!(job.source_type, "RTMP");
        assert_eq!(job.source_uri, "rtmp://10.0.0.5:1935/mychan/secretkey");
        assert_eq!(job.resolutions, "ORIGINAL,1280x720-30~2000,640x360-30");
        assert_eq!(job.record, "True");
        assert_eq!(job.previews, "256x144,5");
    }

    #[test]
    fn debug_of_a_job_hides_the_stream_key() {
        let job = EncodeStartRaw { source_uri: "rtmp://10.0.0.5:1935/mychan/secretkey".into(), ..Default::default() };
        let shown = format!("{job:?}");
        assert!(!shown.contains("secretkey"), "{shown}");
        assert!(shown.contains("rtmp://10.0.0.5:1935/mychan/***"), "{shown}");
    }

    #[test]
    fn missing_encode_start_parameters_are_empty_strings() {
        let Inbound::EncodeStart(job) = Inbound::parse("encode-start\nstream-channel:c1\n") else {
            panic!("not an ENCODE-START");
        };
        assert_eq!(job.channel, "c1");
        assert_eq!(job, EncodeStartRaw { channel: "c1".into(), ..Default::default() });
    }

    #[test]
    fn encode_stop_with_empty_id_means_whole_channel() {
        let msg = Inbound::parse("ENCODE-STOP\nStream-Channel:c1\nStream-ID:\n");
        assert_eq!(msg, Inbound::EncodeStop { channel: "c1".into(), stream_id: String::new(), grace: None });
    }

    #[test]
    fn grace_period_accepts_only_non_negative_decimals() {
        let base = "ENCODE-STOP\nStream-Channel:c\nStream-ID:i\n";
        assert_eq!(stop(&format!("{base}Grace-Period:2\n")), Some(Duration::from_secs(2)));
        assert_eq!(stop(&format!("{base}Grace-Period: 0.5 \n")), Some(Duration::from_millis(500)));
        assert_eq!(stop(&format!("{base}Grace-Period:0\n")), Some(Duration::ZERO));
        assert_eq!(stop(&format!("{base}Grace-Period:10.\n")), Some(Duration::from_secs(10)));
        for bad in ["-1", "+1", "1e3", "inf", "NaN", "", ".", "1.2.3", "1s", "1e400"] {
            assert_eq!(stop(&format!("{base}Grace-Period:{bad}\n")), None, "{bad:?}");
        }
        assert_eq!(stop(base), None);
    }

    #[test]
    fn heartbeat_error_and_unknown_methods_parse() {
        assert_eq!(Inbound::parse("heartbeat"), Inbound::Heartbeat);
        assert_eq!(
            Inbound::parse("ERROR\nError-Code:X\nError-Message:a: b\n"),
            Inbound::Error { code: "X".into(), message: "a: b".into() }
        );
        assert_eq!(Inbound::parse("foo\nA:1\n"), Inbound::Unknown("FOO".into()));
    }

    #[test]
    fn outbound_frames_follow_the_spec_tables() {
        assert_eq!(Outbound::Register { capacity: -1 }.encode(), "REGISTER\nCapacity:-1\n");
        assert_eq!(Outbound::Heartbeat.encode(), "HEARTBEAT\n");
        let vod = Outbound::StreamAvailable {
            channel: "c1".into(),
            stream_id: "0000018f4a2b3c4d00000007a1b2c3d4".into(),
            stream_type: "HLS-VOD".into(),
            resolution: "1280x720-30~2000".into(),
            index_file: "hls/c1/0000018f4a2b3c4d00000007a1b2c3d4/1280x720-30~2000/vod-1.m3u8".into(),
            start_time: Some("3.003".into()),
        };
        assert_eq!(
            vod.encode(),
            "STREAM-AVAILABLE\nStream-Channel:c1\nStream-ID:0000018f4a2b3c4d00000007a1b2c3d4\n\
             Stream-Type:HLS-VOD\nResolution:1280x720-30~2000\n\
             Index-file:hls/c1/0000018f4a2b3c4d00000007a1b2c3d4/1280x720-30~2000/vod-1.m3u8\n\
             Start-Time:3.003\n"
        );
        let closed = Outbound::StreamClosed {
            channel: "c1".into(),
            stream_id: "i".into(),
            error: Some((ErrorCode::OverCapacity, "full\nnow".into())),
        };
        assert_eq!(
            closed.encode(),
            "STREAM-CLOSED\nStream-Channel:c1\nStream-ID:i\nError-Code:OVER_CAPACITY\n\
             Error-Message:full now\n"
        );
        let plain = Outbound::StreamClosed { channel: "c".into(), stream_id: "i".into(), error: None };
        assert_eq!(plain.encode(), "STREAM-CLOSED\nStream-Channel:c\nStream-ID:i\n");
    }

    #[test]
    fn only_job_messages_are_queued() {
        assert!(!Outbound::Heartbeat.is_queued());
        assert!(!Outbound::Register { capacity: 0 }.is_queued());
        let err = Outbound::Error { code: ErrorCode::BadJob, message: String::new() };
        assert!(err.is_queued());
    }

    #[test]
    fn error_codes_serialize_as_wire_tokens() {
        let all = [
            ErrorCode::SourceUnreachable,
            ErrorCode::SourceTimeout,
            ErrorCode::BadJob,
            ErrorCode::OverCapacity,
            ErrorCode::PipelineFailed,
            ErrorCode::FragmentLimit,
            ErrorCode::Shutdown,
        ];
        for code in all {
            let json = serde_json::to_string(&code).unwrap();
            assert_eq!(json, format!("\"{}\"", code.as_str()));
            assert_eq!(serde_json::from_str::<ErrorCode>(&json).unwrap(), code);
        }
    }

    #[test]
    fn ids_are_validated_before_becoming_paths() {
        assert!(validate_id("mychan"));
        assert!(validate_id("A-z_09"));
        assert!(validate_id(&"a".repeat(128)));
        for bad in ["", "../x", "a/b", "a b", "a\r", "é", ".", "a.b"] {
            assert!(!validate_id(bad), "{bad:?}");
        }
        assert!(!validate_id(&"a".repeat(129)));
        assert!(is_coordinator_stream_id("0000018f4a2b3c4d00000007a1b2c3d4"));
        assert!(!is_coordinator_stream_id("0000018F4A2B3C4D00000007A1B2C3D4"));
        assert!(!is_coordinator_stream_id("0000018f4a2b3c4d00000007a1b2c3d"));
        assert!(!is_coordinator_stream_id("0000018f4a2b3c4d00000007a1b2c3dg"));
    }
}
