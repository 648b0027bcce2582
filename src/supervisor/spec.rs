//! ENCODE-START validation (spec §4, §5): the wire's strings become a [`JobSpec`] once, before
//! any path is built or any process started. (`JobSpec` itself is part of the child protocol:
//! it is what a `transcode --job` child is started with.)

pub use crate::child_protocol::{JobSpec, Previews, SourceKind};
use crate::control::message::{is_coordinator_stream_id, validate_id, EncodeStartRaw};

/// Why an ENCODE-START cannot become a job; the text is the STREAM-CLOSED `Error-Message`, so
/// it never echoes the source URI.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidJob {
    #[error("Stream-Channel must match ^[A-Za-z0-9_-]{{1,128}}$")]
    Channel,
    #[error("Stream-ID must match ^[A-Za-z0-9_-]{{1,128}}$")]
    StreamId,
    #[error("Stream-Source-Type must be RTMP or WS")]
    SourceType,
    #[error("Stream-Source-URI is not a {0} URI")]
    SourceUri(SourceKind),
}

impl TryFrom<&EncodeStartRaw> for JobSpec {
    type Error = InvalidJob;

    fn try_from(raw: &EncodeStartRaw) -> Result<JobSpec, InvalidJob> {
        if !validate_id(&raw.channel) {
            return Err(InvalidJob::Channel);
        }
        if !validate_id(&raw.stream_id) {
            return Err(InvalidJob::StreamId);
        }
        if !is_coordinator_stream_id(&raw.stream_id) {
            tracing::warn!(channel = %raw.channel, stream_id = %raw.stream_id, "Stream-ID is not 32 lower-case hex digits");
        }
        let source = SourceKind::parse(&raw.source_type).ok_or(InvalidJob::SourceType)?;
        if !uri_matches(source, &raw.source_uri) {
            return Err(InvalidJob::SourceUri(source));
        }
        Ok(JobSpec {
            channel: raw.channel.clone(),
            stream_id: raw.stream_id.clone(),
            source,
            source_uri: raw.source_uri.clone(),
            resolutions: raw.resolutions.clone(),
            record: raw.record.eq_ignore_ascii_case("true"),
            previews: previews(raw),
        })
    }
}

/// `scheme://rest` with a scheme allowed for `kind`, a non-empty rest and nothing that could
/// split a command line or a log line.
fn uri_matches(kind: SourceKind, uri: &str) -> bool {
    let Some((scheme, rest)) = uri.split_once("://") else {
        return false;
    };
    let clean = !uri.chars().any(|c| c.is_control() || c.is_whitespace());
    clean && !rest.is_empty() && kind.schemes().iter().any(|s| scheme.eq_ignore_ascii_case(s))
}

fn previews(raw: &EncodeStartRaw) -> Option<Previews> {
    if raw.previews.eq_ignore_ascii_case("false") {
        return None;
    }
    let parsed = Previews::parse(&raw.previews);
    if parsed.is_none() {
        tracing::warn!(channel = %raw.channel, stream_id = %raw.stream_id, previews = ?raw.previews, "unparsable Previews: previews off");
    }
    parsed
}

/// Present and free of control characters: safe to echo in a STREAM-CLOSED (spec §5).
pub(crate) fn echoable(value: &str) -> bool {
    !value.is_empty() && !value.chars().any(char::is_control)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "0000018f4a2b3c4d00000007a1b2c3d4";

    fn raw(source_type: &str, uri: &str) -> EncodeStartRaw {
        EncodeStartRaw {
            channel: "mychan".into(),
            stream_id: ID.into(),
            source_type: source_type.into(),
            source_uri: uri.into(),
            resolutions: "ORIGINAL,1280x720-30~2000,640x360-30".into(),
            record: "True".into(),
            previews: "256x144,5".into(),
        }
    }

    #[test]
    fn spec_example_becomes_a_job() {
        let spec = JobSpec::try_from(&raw("RTMP", "rtmp://10.0.0.5:1935/mychan/secretkey")).unwrap();
        assert_eq!(spec.channel, "mychan");
        assert_eq!(spec.stream_id, ID);
        assert_eq!(spec.source, SourceKind::Rtmp);
        assert_eq!(spec.resolutions, "ORIGINAL,1280x720-30~2000,640x360-30");
        assert!(spec.record);
        assert_eq!(spec.previews, Some(Previews { width: 256, height: 144, interval: 5 }));
        assert!(!format!("{spec:?}").contains("secretkey"));
    }

    #[test]
    fn source_type_is_case_insensitive_and_scheme_must_match_it() {
        for (kind, uri) in [
            ("rtmp", "rtmp://1.2.3.4:1935/c/k"),
            ("Rtmp", "RTMPS://1.2.3.4:443/c/k"),
            ("ws", "ws://[::1]:80/c/k"),
            ("WS", "wss://1.2.3.4:443/c/k"),
        ] {
            assert!(JobSpec::try_from(&raw(kind, uri)).is_ok(), "{kind} {uri}");
        }
        for (kind, uri) in [
            ("RTMP", "ws://1.2.3.4:80/c/k"),
            ("WS", "rtmp://1.2.3.4:1935/c/k"),
            ("RTMP", "http://1.2.3.4/c/k"),
            ("RTMP", "rtmp://"),
            ("RTMP", "1.2.3.4/c/k"),
            ("RTMP", "rtmp://1.2.3.4/c/k ey"),
            ("RTMP", "rtmp://1.2.3.4/c/k\u{0}"),
        ] {
            let kind_parsed = SourceKind::parse(kind).unwrap();
            assert_eq!(JobSpec::try_from(&raw(kind, uri)), Err(InvalidJob::SourceUri(kind_parsed)), "{uri:?}");
        }
        for kind in ["FOO", "", "RTMPS", "HTTP"] {
            assert_eq!(JobSpec::try_from(&raw(kind, "rtmp://1.2.3.4/c/k")), Err(InvalidJob::SourceType), "{kind}");
        }
    }

    #[test]
    fn channel_and_id_must_be_safe_path_segments() {
        let mut bad = raw("RTMP", "rtmp://1.2.3.4/c/k");
        bad.channel = "../x".into();
        assert_eq!(JobSpec::try_from(&bad), Err(InvalidJob::Channel));
        let mut bad = raw("RTMP", "rtmp://1.2.3.4/c/k");
        bad.stream_id = "a/b".into();
        assert_eq!(JobSpec::try_from(&bad), Err(InvalidJob::StreamId));
        let mut odd = raw("RTMP", "rtmp://1.2.3.4/c/k");
        odd.stream_id = "Not_Hex-But-Valid".into();
        assert!(JobSpec::try_from(&odd).is_ok(), "a non-coordinator id is only a warning");
    }

    #[test]
    fn record_is_true_only_for_true_in_any_case() {
        for (value, want) in
            [("true", true), ("TRUE", true), ("True", true), ("False", false), ("yes", false), ("", false)]
        {
            let mut r = raw("RTMP", "rtmp://1.2.3.4/c/k");
            r.record = value.into();
            assert_eq!(JobSpec::try_from(&r).unwrap().record, want, "{value:?}");
        }
    }

    #[test]
    fn unparsable_previews_turn_previews_off() {
        assert_eq!(Previews::parse("256x144,1"), Some(Previews { width: 256, height: 144, interval: 1 }));
        assert_eq!(Previews::parse("8192x8192,3600"), Some(Previews { width: 8192, height: 8192, interval: 3600 }));
        for bad in [
            "False",
            "",
            "256x144",
            "256x144,0",
            "0x144,5",
            "256X144,5",
            "+256x144,5",
            "256x144,-1",
            "8193x10,1",
            "a x b,c",
            "256x144,99999999999",
        ] {
            assert_eq!(Previews::parse(bad), None, "{bad:?}");
            let mut r = raw("WS", "ws://1.2.3.4/c/k");
            r.previews = bad.into();
            assert_eq!(JobSpec::try_from(&r).unwrap().previews, None, "{bad:?}");
        }
    }

    #[test]
    fn only_present_control_free_values_are_echoed() {
        assert!(echoable("../x"));
        assert!(!echoable(""));
        assert!(!echoable("a\rb"));
        assert!(!echoable("a\u{7f}"));
    }
}
