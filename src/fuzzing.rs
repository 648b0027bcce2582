//! Fuzzing oracles: one function per `cargo fuzz` target (`fuzz/fuzz_targets/*.rs`), shared
//! with `tests/fuzz_corpus.rs`, which replays the checked-in corpora on stable, and the ladder
//! invariants shared with `tests/ladder_properties.rs`. Each oracle takes arbitrary bytes and
//! panics when a parser panics or an invariant breaks; the normal build never calls them.
//!
//! | target          | what it feeds                                                      |
//! |-----------------|--------------------------------------------------------------------|
//! | `control_frame` | coordinator frames (§2.2) and every `Outbound` built from the input |
//! | `resolutions`   | `Resolutions` lists (output-layout §2), then the fitting (§3)       |
//! | `previews`      | `Previews` values (`WxH,D`)                                         |
//! | `child_lines`   | the child's stdout `Event` lines and stdin command lines           |
//! | `job_json`      | the `ChildJob` line and ENCODE-START validation (`JobSpec`)         |

use std::collections::{HashMap, HashSet};

use crate::child_protocol::{
    ChildCommand, ChildJob, EncodeSettings, Event, JobDefaults, JobSpec, Previews, SourceKind,
};
use crate::control::codec;
use crate::control::message::{EncodeStartRaw, ErrorCode, Inbound, Outbound};
use crate::ladder::{self, Rate, Rendition, RequestItem, RequestedRes, SourceVideo};
use crate::supervisor::InvalidJob;

/// What the coordinator's codec trims from methods, names and values (spec §2.2).
const TRIMMED: &[char] = &[' ', '\t', '\r', '\n'];

const ERROR_CODES: [ErrorCode; 7] = [
    ErrorCode::SourceUnreachable,
    ErrorCode::SourceTimeout,
    ErrorCode::BadJob,
    ErrorCode::OverCapacity,
    ErrorCode::PipelineFailed,
    ErrorCode::FragmentLimit,
    ErrorCode::Shutdown,
];

fn text(data: &[u8]) -> String {
    String::from_utf8_lossy(data).into_owned()
}

// ---------------------------------------------------------------------------------------------
// control_frame

/// Coordinator framing: parsing never panics and agrees with a model written from spec §2.2;
/// every [`Outbound`] built from the input's NUL-separated fields encodes to a §2.1 frame that
/// parses back to the same (sanitised) values.
pub fn control_frame(data: &[u8]) {
    let text = text(data);
    check_inbound(&text);
    let fields: Vec<&str> = text.split('\0').collect();
    for message in outbounds_from(&fields, data) {
        check_outbound(&message);
    }
}

/// The frame as spec §2.2 describes it: (method, lower-cased name → value).
fn model_frame(text: &str) -> (String, HashMap<String, String>) {
    let mut lines = text.split('\n');
    let method = lines.next().unwrap_or("").trim_matches(TRIMMED).to_uppercase();
    let mut params = HashMap::new();
    for line in lines {
        if line.is_empty() {
            break;
        }
        match line.find(':') {
            Some(colon) if colon > 0 => {
                let name = line[..colon].trim_matches(TRIMMED).to_lowercase();
                params.insert(name, line[colon + 1..].trim_matches(TRIMMED).to_owned());
            }
            _ => {}
        }
    }
    (method, params)
}

fn check_inbound(text: &str) {
    let frame = codec::parse(text);
    let (method, params) = model_frame(text);
    assert_eq!(frame.method, method, "method of {text:?}");
    assert_eq!(frame.param_count(), params.len(), "parameter count of {text:?}");
    for (name, value) in &params {
        // Names are looked up as the worker does: the spelling is free, the case is not.
        if name.is_ascii() {
            assert_eq!(frame.param(name), Some(value.as_str()), "{name:?} in {text:?}");
            assert_eq!(frame.param(&name.to_ascii_uppercase()), Some(value.as_str()), "{name:?} in {text:?}");
        }
    }
    for value in params.values() {
        assert!(!value.contains('\n') && value.trim_matches(TRIMMED) == value, "{value:?}");
    }
    let message = Inbound::parse(text);
    assert_eq!(message, Inbound::from_frame(&frame));
    let p = |name: &str| params.get(name).cloned().unwrap_or_default();
    match &message {
        Inbound::Heartbeat => assert_eq!(method, "HEARTBEAT"),
        Inbound::EncodeStart(raw) => {
            assert_eq!(method, "ENCODE-START");
            let want = EncodeStartRaw {
                channel: p("stream-channel"),
                stream_id: p("stream-id"),
                source_type: p("stream-source-type"),
                source_uri: p("stream-source-uri"),
                resolutions: p("resolutions"),
                record: p("record"),
                previews: p("previews"),
            };
            assert_eq!(raw, &want);
            check_encode_start(raw);
        }
        Inbound::EncodeStop { channel, stream_id, grace } => {
            assert_eq!(method, "ENCODE-STOP");
            assert_eq!((channel, stream_id), (&p("stream-channel"), &p("stream-id")));
            let text = params.get("grace-period").map(String::as_str);
            assert_eq!(grace.is_some(), text.is_some_and(is_grace), "Grace-Period {text:?} gave {grace:?}");
            if let (Some(grace), Some(text)) = (grace, text) {
                let want: f64 = text.parse().expect("a grace period the model accepts is a float");
                assert!((grace.as_secs_f64() - want).abs() <= want * 1e-9 + 2e-9, "{text:?} gave {grace:?}");
            }
        }
        Inbound::Error { code, message } => {
            assert_eq!(method, "ERROR");
            assert_eq!((code, message), (&p("error-code"), &p("error-message")));
        }
        Inbound::Unknown(name) => {
            assert_eq!(name, &method);
            assert!(!["HEARTBEAT", "ENCODE-START", "ENCODE-STOP", "ERROR"].contains(&name.as_str()));
        }
    }
}

/// `Grace-Period` the worker honours: digits, an optional `.` and digits, at least one digit,
/// and a value a `Duration` can hold.
fn is_grace(text: &str) -> bool {
    let (int, frac) = text.split_once('.').unwrap_or((text, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    let shaped = !(int.is_empty() && frac.is_empty()) && digits(int) && digits(frac);
    shaped && text.parse::<f64>().is_ok_and(|v| v.is_finite() && v < u64::MAX as f64)
}

fn outbounds_from(fields: &[&str], data: &[u8]) -> Vec<Outbound> {
    let field = |i: usize| fields.get(i).copied().unwrap_or("").to_owned();
    let code = ERROR_CODES[data.first().map_or(0, |&b| usize::from(b) % ERROR_CODES.len())];
    let capacity = data.iter().take(4).fold(0i32, |acc, &b| acc.wrapping_shl(8) | i32::from(b));
    vec![
        Outbound::Register { capacity },
        Outbound::Heartbeat,
        Outbound::StreamAvailable {
            channel: field(0),
            stream_id: field(1),
            stream_type: field(2),
            resolution: field(3),
            index_file: field(4),
            start_time: (fields.len() > 5).then(|| field(5)),
        },
        Outbound::StreamClosed { channel: field(0), stream_id: field(1), error: None },
        Outbound::StreamClosed { channel: field(1), stream_id: field(2), error: Some((code, field(0))) },
        Outbound::Error { code, message: field(0) },
    ]
}

/// What the coordinator reads back for an emitted value: line breaks become spaces, then trim.
fn read_back(value: &str) -> String {
    value.replace(['\r', '\n'], " ").trim_matches(TRIMMED).to_owned()
}

fn check_outbound(message: &Outbound) {
    let (method, params): (&str, Vec<(&str, String)>) = match message {
        Outbound::Register { capacity } => ("REGISTER", vec![("Capacity", capacity.to_string())]),
        Outbound::Heartbeat => ("HEARTBEAT", vec![]),
        Outbound::StreamAvailable { channel, stream_id, stream_type, resolution, index_file, start_time } => {
            let mut params = vec![
                ("Stream-Channel", channel.clone()),
                ("Stream-ID", stream_id.clone()),
                ("Stream-Type", stream_type.clone()),
                ("Resolution", resolution.clone()),
                ("Index-file", index_file.clone()),
            ];
            params.extend(start_time.iter().map(|t| ("Start-Time", t.clone())));
            ("STREAM-AVAILABLE", params)
        }
        Outbound::StreamClosed { channel, stream_id, error } => {
            let mut params = vec![("Stream-Channel", channel.clone()), ("Stream-ID", stream_id.clone())];
            if let Some((code, text)) = error {
                params.push(("Error-Code", code.as_str().to_owned()));
                params.push(("Error-Message", text.clone()));
            }
            ("STREAM-CLOSED", params)
        }
        Outbound::Error { code, message } => {
            ("ERROR", vec![("Error-Code", code.as_str().to_owned()), ("Error-Message", message.clone())])
        }
    };
    let wire = message.encode();
    // §2.1: `\n` only, no blank line anywhere (so none after the method), one line per parameter.
    assert!(!wire.contains('\r'), "{wire:?}");
    assert!(wire.ends_with('\n') && !wire.contains("\n\n"), "{wire:?}");
    assert_eq!(wire.matches('\n').count(), 1 + params.len(), "{wire:?}");
    let mut lines = wire.lines();
    assert_eq!(lines.next(), Some(method), "{wire:?}");
    for ((name, value), line) in params.iter().zip(lines) {
        let (got_name, got_value) = line.split_once(':').expect("a parameter line has a colon");
        assert_eq!((got_name, got_value), (*name, read_back(value).as_str()), "{wire:?}");
    }
    let frame = codec::parse(&wire);
    assert_eq!(frame.method, method);
    assert_eq!(frame.param_count(), params.len(), "{wire:?}");
    for (name, value) in &params {
        let back = read_back(value);
        assert_eq!(frame.param(name), Some(back.as_str()), "{name} in {wire:?}");
        if !value.contains(['\r', '\n']) && value.trim_matches(TRIMMED) == value {
            assert_eq!(&back, value, "a clean value comes back verbatim");
        }
    }
    match message {
        Outbound::Heartbeat => assert_eq!(Inbound::parse(&wire), Inbound::Heartbeat),
        Outbound::Error { code, message } => assert_eq!(
            Inbound::parse(&wire),
            Inbound::Error { code: code.as_str().to_owned(), message: read_back(message) }
        ),
        _ => assert_eq!(Inbound::parse(&wire), Inbound::Unknown(method.to_owned())),
    }
}

// ---------------------------------------------------------------------------------------------
// job_json

/// The job as it travels: a `ChildJob` line that parses re-serializes to one line that parses
/// back equal; an ENCODE-START (the input as a frame, and its lines taken verbatim as fields)
/// validates exactly when a model of spec §5 says so, and a valid one makes a child job line.
pub fn job_json(data: &[u8]) {
    let text = text(data);
    if let Ok(job) = ChildJob::from_line(&text) {
        check_child_job(&job);
    }
    if let Inbound::EncodeStart(raw) = Inbound::parse(&text) {
        check_encode_start(&raw);
    }
    let mut lines = text.split('\n').map(str::to_owned);
    let mut next = || lines.next().unwrap_or_default();
    let raw = EncodeStartRaw {
        channel: next(),
        stream_id: next(),
        source_type: next(),
        source_uri: next(),
        resolutions: next(),
        record: next(),
        previews: next(),
    };
    check_encode_start(&raw);
}

fn check_child_job(job: &ChildJob) {
    let line = job.to_line();
    assert!(line.ends_with('\n') && !line[..line.len() - 1].contains(['\n', '\r']), "{line:?}");
    let back = ChildJob::from_line(&line).unwrap_or_else(|e| panic!("{line:?} does not parse back: {e}"));
    assert_eq!(&back, job, "{line:?}");
    assert_eq!(back.to_line(), line, "serialization is stable");
}

/// A worker's validated job settings as a literal (no FFmpeg lookup): what every job document
/// of the oracles and of the unit tests carries.
pub fn sample_defaults() -> JobDefaults {
    use std::time::Duration;

    use crate::pipeline::video::{VideoEncoder, VideoSettings};
    let settings = EncodeSettings {
        hls_time: 3,
        live_size: 10,
        vod_max_size: 86400,
        fragment_limit: 16_777_216,
        video: VideoSettings {
            encoder: VideoEncoder::new("libx264"),
            preset: "veryfast".into(),
            pixel_format: ffmpeg_next::format::Pixel::YUV420P,
            threads: 0,
            low_latency: false,
        },
        audio_codec: "aac".into(),
        audio_kbps: None,
        original_mode: crate::pipeline::passthrough::OriginalMode::Encode,
        source_timeout: Duration::from_secs(30),
        drop_behind: Some(Duration::from_secs(30)),
        master: true,
        segment_format: crate::hls::SegmentFormat::Ts,
        dash: false,
        part_seconds: None,
        storage_retry: Duration::from_secs(30),
        upload_queue_bytes: 256 << 20,
        source_tls: Default::default(),
        ffmpeg_trace: false,
        emulated_load: None,
    };
    let storage = crate::storage::StorageConfig::S3 {
        bucket: "b".into(),
        region: None,
        endpoint: Some("http://127.0.0.1:9000".into()),
        access_key_id: Some("id".into()),
        secret_access_key: Some(crate::redact::Secret::new("storage-secret")),
        options: vec![("AWS_SESSION_TOKEN", crate::redact::Secret::new("token-secret"))],
        timeout: Duration::from_secs(30),
    };
    JobDefaults { settings, storage, cdn: None }
}

fn valid_id_model(s: &str) -> bool {
    (1..=128).contains(&s.len()) && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

fn uri_ok_model(kind: SourceKind, uri: &str) -> bool {
    let Some(at) = uri.find("://") else {
        return false;
    };
    let scheme = uri[..at].to_ascii_lowercase();
    let allowed = match kind {
        SourceKind::Rtmp => ["rtmp", "rtmps"],
        SourceKind::Ws => ["ws", "wss"],
    };
    let clean = uri.chars().all(|c| !c.is_control() && !c.is_whitespace());
    allowed.contains(&scheme.as_str()) && uri.len() > at + 3 && clean
}

fn check_encode_start(raw: &EncodeStartRaw) {
    let kind = match raw.source_type.to_ascii_uppercase().as_str() {
        "RTMP" => Some(SourceKind::Rtmp),
        "WS" => Some(SourceKind::Ws),
        _ => None,
    };
    let want = if !valid_id_model(&raw.channel) {
        Err(InvalidJob::Channel)
    } else if !valid_id_model(&raw.stream_id) {
        Err(InvalidJob::StreamId)
    } else if let Some(kind) = kind {
        if uri_ok_model(kind, &raw.source_uri) {
            Ok(kind)
        } else {
            Err(InvalidJob::SourceUri(kind))
        }
    } else {
        Err(InvalidJob::SourceType)
    };
    let got = JobSpec::try_from(raw);
    match (&got, want) {
        (Ok(spec), Ok(kind)) => {
            assert!(valid_id_model(&spec.channel) && valid_id_model(&spec.stream_id), "{spec:?}");
            assert_eq!((&spec.channel, &spec.stream_id, spec.source), (&raw.channel, &raw.stream_id, kind));
            assert_eq!((&spec.source_uri, &spec.resolutions), (&raw.source_uri, &raw.resolutions));
            assert!(uri_ok_model(spec.source, &spec.source_uri));
            assert_eq!(spec.record, raw.record.eq_ignore_ascii_case("true"));
            let previews =
                if raw.previews.eq_ignore_ascii_case("false") { None } else { Previews::parse(&raw.previews) };
            assert_eq!(spec.previews, previews);
            let ladder = crate::ladder::parse_list(&spec.resolutions).0;
            check_child_job(&ChildJob::for_run(spec, ladder, &sample_defaults(), None));
        }
        (Err(got), Err(want)) => assert_eq!(got, &want, "{raw:?}"),
        (got, want) => panic!("{raw:?}: validation gave {got:?}, the spec says {want:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// child_lines

/// Each line of the input as a child stdout line and as a stdin command line: an [`Event`]
/// that parses re-serializes to one line that parses back equal.
pub fn child_lines(data: &[u8]) {
    let text = text(data);
    for line in text.split('\n') {
        if let Ok(event) = Event::from_line(line) {
            let again = event.to_line();
            assert!(!again.contains(['\n', '\r']), "{again:?}");
            let back = Event::from_line(&again).unwrap_or_else(|e| panic!("{again:?} does not parse back: {e}"));
            assert_eq!(back, event, "{line:?} re-serialized as {again:?}");
            assert_eq!(back.to_line(), again, "serialization is stable");
        }
        match ChildCommand::parse(line) {
            Some(command) => {
                let word = line.split_whitespace().next();
                assert!(word == Some("stop") || word == Some("shed"), "{line:?} parsed as {command:?}");
                assert_eq!(ChildCommand::parse(&command.to_line()), Some(command));
            }
            None => assert_ne!(line.trim(), "stop"),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// previews

/// `Previews` values: whatever parses is in range and its canonical text parses back equal;
/// acceptance matches a model of the grammar.
pub fn previews(data: &[u8]) {
    let text = text(data);
    let got = Previews::parse(&text);
    assert_eq!(got, previews_model(&text), "{text:?}");
    if let Some(spec) = got {
        assert!((1..=8192).contains(&spec.width) && (1..=8192).contains(&spec.height) && spec.interval >= 1);
        let canonical = format!("{}x{},{}", spec.width, spec.height, spec.interval);
        assert_eq!(Previews::parse(&canonical), Some(spec));
        assert_eq!(spec.label(), format!("{}x{}-{}", spec.width, spec.height, spec.interval));
        let json = serde_json::to_string(&spec).expect("a preview spec serializes");
        assert_eq!(serde_json::from_str::<Previews>(&json).ok(), Some(spec));
    }
}

/// `W x H , D`, each a trimmed run of 1 to 9 ASCII digits; W, H in 1..=8192, D ≥ 1.
fn previews_model(text: &str) -> Option<Previews> {
    let comma = text.find(',')?;
    let (size, interval) = (&text[..comma], &text[comma + 1..]);
    let x = size.find('x')?;
    let number = |s: &str| {
        let s = s.trim();
        let ok = (1..=9).contains(&s.len()) && s.chars().all(|c| c.is_ascii_digit());
        ok.then(|| s.bytes().fold(0u32, |acc, b| acc * 10 + u32::from(b - b'0')))
    };
    let (width, height, interval) = (number(&size[..x])?, number(&size[x + 1..])?, number(interval)?);
    let side = |v: u32| (1..=8192).contains(&v);
    (side(width) && side(height) && interval >= 1).then_some(Previews { width, height, interval })
}

// ---------------------------------------------------------------------------------------------
// resolutions

/// `Resolutions` lists: each item is accepted exactly when a model of the §2 grammar accepts
/// it, an accepted item's label parses back to it, and the ladder fitted from the list on a
/// few sources keeps every §3 invariant ([`check_ladder`]).
pub fn resolutions(data: &[u8]) {
    let text = text(data);
    let (items, errors) = ladder::parse_list(&text);
    if text.trim().is_empty() {
        assert!(items.is_empty() && errors.is_empty());
    } else {
        assert_eq!(items.len() + errors.len(), text.split(',').count());
        let want: Vec<RequestItem> = text.split(',').filter_map(item_model).collect();
        assert_eq!(items, want, "{text:?}");
    }
    assert_eq!(ladder::parse_list_warn(&text), items);
    for item in &items {
        if let RequestItem::Res(r) = item {
            let label = ladder::label(r.width, r.height, r.fps, r.kbps);
            assert_eq!(ladder::parse_item(&label).ok(), Some(*item), "{label}");
        }
    }
    let ntsc = Some(Rate::new(60000, 1001));
    let sources = [
        SourceVideo { width: 1920, height: 1080, avg_rate: ntsc, base_rate: None },
        SourceVideo { width: 1281, height: 721, avg_rate: Some(Rate::from_integer(25)), base_rate: None },
        SourceVideo { width: 720, height: 1280, avg_rate: None, base_rate: Some(Rate::new(24000, 1001)) },
        SourceVideo { width: 0, height: 0, avg_rate: None, base_rate: None },
    ];
    for source in &sources {
        check_ladder(source, &items, &ladder::fit_ladder(source, &items));
    }
}

/// One item by the §2 grammar: `ORIGINAL` (any case), or digits `x`|`X` digits, then
/// optionally `-` digits, then optionally `~` digits, after trimming.
fn item_model(item: &str) -> Option<RequestItem> {
    let item = item.trim();
    if item.eq_ignore_ascii_case("ORIGINAL") {
        return Some(RequestItem::Original);
    }
    let bytes = item.as_bytes();
    let mut at = 0;
    let number = |at: &mut usize| -> Option<u64> {
        let start = *at;
        let mut value = 0u64;
        while *at < bytes.len() && bytes[*at].is_ascii_digit() {
            value = value.saturating_mul(10).saturating_add(u64::from(bytes[*at] - b'0'));
            *at += 1;
        }
        (*at > start).then_some(value)
    };
    let width = number(&mut at)?;
    if !matches!(bytes.get(at), Some(b'x' | b'X')) {
        return None;
    }
    at += 1;
    let height = number(&mut at)?;
    let mut fps = 0;
    if bytes.get(at) == Some(&b'-') {
        at += 1;
        fps = number(&mut at)?;
    }
    let mut kbps = 0;
    if bytes.get(at) == Some(&b'~') {
        at += 1;
        kbps = number(&mut at)?;
    }
    let side = 1..=8192;
    let num = 0..=i32::MAX as u64;
    let ok = at == bytes.len()
        && side.contains(&width)
        && side.contains(&height)
        && num.contains(&fps)
        && num.contains(&kbps);
    ok.then_some(RequestItem::Res(RequestedRes {
        width: width as u32,
        height: height as u32,
        fps: fps as u32,
        kbps: kbps as u32,
    }))
}

/// Every §3 invariant of a fitted ladder (the proptests call the parts one by one).
pub fn check_ladder(source: &SourceVideo, items: &[RequestItem], fitted: &[Rendition]) {
    check_ladder_shape(source, items, fitted);
    check_even_sizes(fitted);
    check_rates(source, items, fitted);
    for res in items.iter().filter_map(as_res) {
        check_fit(source, res, &fit_one(source, res));
    }
    check_never_above_source(source, items, fitted);
}

fn as_res(item: &RequestItem) -> Option<&RequestedRes> {
    match item {
        RequestItem::Res(res) => Some(res),
        RequestItem::Original => None,
    }
}

/// The one rendition a lone item fits to (kept, or the upscale when it does not fit).
pub fn fit_one(source: &SourceVideo, res: &RequestedRes) -> Rendition {
    let mut one = ladder::fit_ladder(source, &[RequestItem::Res(*res)]);
    assert_eq!(one.len(), 1, "a lone item gives one rendition");
    one.pop().expect("one rendition")
}

/// Composition (§3 steps 1, 2.5–2.7 and 3, 4): ORIGINAL first when asked for, then the fitted
/// items in request order without repeated labels and without the ones larger than the source;
/// when nothing is left, ORIGINAL, else the smallest candidate alone; never empty.
pub fn check_ladder_shape(source: &SourceVideo, items: &[RequestItem], fitted: &[Rendition]) {
    let (w0, h0) = source.size();
    assert!(!fitted.is_empty(), "never an empty ladder");
    let labels: HashSet<&str> = fitted.iter().map(|r| r.label.as_str()).collect();
    assert_eq!(labels.len(), fitted.len(), "labels are unique: {fitted:?}");
    let original = ladder::fit_ladder(source, &[RequestItem::Original]).remove(0);
    let fps = source.r0().map_or(0, ladder::round_rate);
    assert!(original.original && original.max_kbps.is_none());
    assert_eq!((original.width, original.height, original.rate), (w0, h0, source.rs()));
    assert_eq!(original.label, ladder::label(w0, h0, fps, 0));
    let mut seen = HashSet::new();
    let mut want = Vec::new();
    if items.contains(&RequestItem::Original) {
        seen.insert(original.label.clone());
        want.push(original.clone());
    }
    let mut candidates = Vec::new();
    for res in items.iter().filter_map(as_res) {
        let r = fit_one(source, res);
        if seen.insert(r.label.clone()) {
            candidates.push(r);
        }
    }
    let kept: Vec<Rendition> = candidates.iter().filter(|r| r.width <= w0 && r.height <= h0).cloned().collect();
    if want.is_empty() && kept.is_empty() {
        let mut smallest: Option<&Rendition> = None;
        for c in &candidates {
            if smallest.is_none_or(|s| c.width <= s.width && c.height <= s.height && c.rate <= s.rate) {
                smallest = Some(c);
            }
        }
        want.push(smallest.cloned().unwrap_or(original));
    }
    want.extend(kept);
    assert_eq!(fitted, want.as_slice(), "ladder of {items:?} on {source:?}");
}

/// Every rendition is encoded at an even, non-zero size; only ORIGINAL is padded (by one).
pub fn check_even_sizes(fitted: &[Rendition]) {
    for r in fitted {
        assert!(r.width >= 1 && r.height >= 1, "{r:?}");
        assert!(r.encoded_width % 2 == 0 && r.encoded_height % 2 == 0, "odd encoded size: {r:?}");
        assert!(r.encoded_width >= 2 && r.encoded_height >= 2, "{r:?}");
        if r.original {
            assert_eq!((r.encoded_width, r.encoded_height), (r.width + r.width % 2, r.height + r.height % 2));
        } else {
            assert_eq!((r.encoded_width, r.encoded_height), (r.width, r.height), "{r:?}");
        }
    }
}

/// The size of one item (§3 steps 2.1, 2.3, 2.4): inside the even box `fw x fh`, filling it
/// along one side, the other side being the source aspect's exact length rounded up to even
/// (so less than 2 px more than exact).
pub fn check_fit(source: &SourceVideo, res: &RequestedRes, r: &Rendition) {
    let (w0, h0) = source.size();
    let (w0, h0) = (i128::from(w0), i128::from(h0));
    let even_up = |v: u32| {
        let v = i128::from(v.clamp(1, 8192));
        v + v % 2
    };
    let (fw, fh) = (even_up(res.width), even_up(res.height));
    let (w, h) = (i128::from(r.width), i128::from(r.height));
    assert!(w % 2 == 0 && h % 2 == 0 && w >= 2 && h >= 2, "{r:?}");
    assert!(w <= fw && h <= fh, "{r:?} outside the box {fw}x{fh}");
    // Width bound: h is H0·fw/W0 rounded up to even, i.e. 0 ≤ h·W0 − fw·H0 < 2·W0.
    let width_bound = w == fw && (0..2 * w0).contains(&(h * w0 - fw * h0));
    let height_bound = h == fh && (0..2 * h0).contains(&(w * h0 - fh * w0));
    assert!(width_bound || height_bound, "{r:?} does not keep the aspect of {w0}x{h0} in the box {fw}x{fh}");
    assert!(!r.original);
    assert_eq!(r.max_kbps, (res.kbps > 0).then_some(res.kbps));
    assert_eq!(r.label, ladder::label(r.width, r.height, ladder::round_rate(r.rate), res.kbps));
}

/// No rendition is faster than the source (`Rs`); an item's rate is its FPS, or an exact
/// decimation `Rs/d` within 0.2 % of it, or `Rs` when FPS is absent or not below `Rs`.
pub fn check_rates(source: &SourceVideo, items: &[RequestItem], fitted: &[Rendition]) {
    let rs = source.rs();
    assert!(rs > Rate::from_integer(0) && rs <= Rate::from_integer(240), "{rs}");
    for r in fitted {
        assert!(r.rate > Rate::from_integer(0) && r.rate <= rs, "{r:?} faster than the source's {rs}");
        if r.original {
            assert_eq!(r.rate, rs);
        }
    }
    for res in items.iter().filter_map(as_res) {
        let r = fit_one(source, res).rate;
        let f = Rate::from_integer(i64::from(res.fps));
        if res.fps == 0 || f >= rs {
            assert_eq!(r, rs, "{res:?}");
        } else if r != f {
            let d = rs / r;
            assert!(d.is_integer() && d >= Rate::from_integer(1), "{r} is not {rs}/d for {res:?}");
            let diff = if r > f { r - f } else { f - r };
            assert!(diff * 500 <= f, "{r} is more than 0.2 % away from {f}");
        }
    }
}

/// No rendition is larger than the source in either dimension, except ORIGINAL's padding and
/// the documented upscale: the smallest candidate alone, when no item fits and ORIGINAL was not
/// asked for.
pub fn check_never_above_source(source: &SourceVideo, items: &[RequestItem], fitted: &[Rendition]) {
    let (w0, h0) = source.size();
    for r in fitted.iter().filter(|r| !r.original) {
        if r.width > w0 || r.height > h0 {
            assert_eq!(fitted.len(), 1, "an upscale is alone: {fitted:?}");
            assert!(!items.contains(&RequestItem::Original), "{items:?}");
            let fits = |res: &&RequestedRes| {
                let one = fit_one(source, res);
                one.width <= w0 && one.height <= h0
            };
            assert!(!items.iter().filter_map(as_res).any(|res| fits(&res)), "an item fits, yet {r:?}");
        }
    }
}
