//! A captioned test source, made here because the ffmpeg CLI cannot make one: CEA-608 pop-on
//! captions written as ATSC A/53 user data (SEI `user_data_registered_itu_t_t35`, "GA94",
//! `cc_data`) into an H.264 stream that the ffmpeg CLI encoded, then muxed to FLV with a tone.
//! And the independent judge: FFmpeg's own caption decoder (`movie=FILE[out0+subcc]`).

use std::path::{Path, PathBuf};
use std::process::Command;

use super::util::{describe, make_media, run};

/// What the captioned source shows: `(start, end, text)` in seconds from its first frame.
/// Pop-on captions: each is built off screen and shown by its End Of Caption at `start`,
/// erased at `end`.
pub const CAPTIONS: [(f64, f64, &str); 3] =
    [(1.0, 3.0, "HELLO CAPTIONS"), (4.0, 6.0, "SECOND ONE HERE"), (7.0, 9.0, "LAST WORDS NOW")];

/// Length of the captioned source, seconds.
pub const SECONDS: u32 = 10;

/// The captioned source: 640x360 at 60 fps (so that the default ladder has rungs decimated to
/// 30 fps), H.264 without B-frames, an IDR every 2 s, AAC tone; one field-1 byte pair in
/// every frame's SEI (captions or padding), so dropped frames carry caption bytes too.
/// Built once and kept under the tests' target tmp dir: every test shares it.
pub fn captioned_source() -> PathBuf {
    // Bump the version when the generator changes: the file is kept between test runs.
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("captions-v1");
    let flv = dir.join("captioned.flv");
    if flv.exists() {
        return flv;
    }
    std::fs::create_dir_all(&dir).unwrap();
    // Several test binaries may build it at once: each in its own temporary directory, renamed
    // into place (the last rename wins, all copies are identical in content).
    let work = tempfile::tempdir_in(&dir).unwrap();
    let plain = work.path().join("plain.h264");
    make_media(
        &plain,
        &[
            "-f",
            "lavfi",
            "-i",
            &format!("testsrc2=size=640x360:rate=60:duration={SECONDS}"),
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-bf",
            "0",
            "-g",
            "120",
            "-pix_fmt",
            "yuv420p",
            // Every access unit starts with a delimiter: that is how frames are found below.
            "-bsf:v",
            "h264_metadata=aud=insert",
            "-f",
            "h264",
        ],
    );
    let captioned = work.path().join("captioned.h264");
    let stream = std::fs::read(&plain).unwrap();
    let frames = (SECONDS * 60) as usize;
    std::fs::write(&captioned, insert_captions(&stream, &field1_schedule(frames, 60.0))).unwrap();
    let staged = work.path().join("captioned.flv");
    make_media(
        &staged,
        &[
            "-framerate",
            "60",
            "-f",
            "h264",
            "-i",
            captioned.to_str().unwrap(),
            "-f",
            "lavfi",
            "-i",
            &format!("sine=frequency=440:sample_rate=44100:duration={SECONDS}"),
            "-c:v",
            "copy",
            "-c:a",
            "aac",
            "-b:a",
            "96k",
            "-f",
            "flv",
        ],
    );
    std::fs::rename(&staged, &flv).unwrap();
    flv
}

/// The same source without caption data: what a source without captions looks like.
pub fn uncaptioned_twin(into: &Path) {
    make_media(
        into,
        &["-i", captioned_source().to_str().unwrap(), "-c", "copy", "-bsf:v", "filter_units=remove_types=6"],
    );
}

/// Odd parity in bit 7, as CEA-608 bytes carry it.
fn parity(b: u8) -> u8 {
    let b = b & 0x7f;
    if b.count_ones().is_multiple_of(2) {
        b | 0x80
    } else {
        b
    }
}

fn pair(a: u8, b: u8) -> [u8; 2] {
    [parity(a), parity(b)]
}

/// Channel 1 control codes (CEA-608 table 49), sent twice as broadcasters do.
const RCL: [u8; 2] = [0x14, 0x20];
const ENM: [u8; 2] = [0x14, 0x2e];
const EDM: [u8; 2] = [0x14, 0x2c];
const EOC: [u8; 2] = [0x14, 0x2f];
/// Preamble address: row 15, column 0, white.
const PAC_ROW15: [u8; 2] = [0x14, 0x70];

/// One field-1 byte pair per frame (`None`: nothing to say, padding), timed so that each
/// caption's EOC falls on the frame at its start time and its EDM on the frame at its end.
fn field1_schedule(frames: usize, fps: f64) -> Vec<Option<[u8; 2]>> {
    let mut slots: Vec<Option<[u8; 2]>> = vec![None; frames];
    for (start, end, text) in CAPTIONS {
        let mut build: Vec<[u8; 2]> = Vec::new();
        for code in [RCL, ENM, PAC_ROW15] {
            build.push(pair(code[0], code[1]));
            build.push(pair(code[0], code[1]));
        }
        let bytes = text.as_bytes();
        for chunk in bytes.chunks(2) {
            build.push(pair(chunk[0], *chunk.get(1).unwrap_or(&0)));
        }
        // The first EOC shows the caption; its repeat on the next frame is ignored.
        let show = (start * fps).round() as usize;
        let first = show - build.len();
        for (i, p) in build.into_iter().enumerate() {
            slots[first + i] = Some(p);
        }
        slots[show] = Some(pair(EOC[0], EOC[1]));
        slots[show + 1] = Some(pair(EOC[0], EOC[1]));
        let erase = (end * fps).round() as usize;
        slots[erase] = Some(pair(EDM[0], EDM[1]));
        slots[erase + 1] = Some(pair(EDM[0], EDM[1]));
    }
    slots
}

/// `stream` (Annex B, an access unit delimiter opening every frame, frames in presentation
/// order) with an A/53 SEI before the first slice of frame i carrying `pairs[i]` (or
/// padding: a null pair, 0x80 0x80).
fn insert_captions(stream: &[u8], pairs: &[Option<[u8; 2]>]) -> Vec<u8> {
    let nals = split_nal_units(stream);
    let mut out = Vec::with_capacity(stream.len() + pairs.len() * 20);
    let mut frame: Option<usize> = None;
    let mut captioned = false;
    for nal in nals {
        let kind = nal[0] & 0x1f;
        if kind == 9 {
            frame = Some(frame.map_or(0, |f| f + 1));
            captioned = false;
        }
        if (kind == 1 || kind == 5) && !captioned {
            let i = frame.expect("the stream starts with an access unit delimiter");
            let p = pairs.get(i).copied().flatten().unwrap_or([0x80, 0x80]);
            out.extend_from_slice(&[0, 0, 0, 1]);
            out.extend(a53_sei(&[[0xfc, p[0], p[1]]]));
            captioned = true;
        }
        out.extend_from_slice(&[0, 0, 0, 1]);
        out.extend_from_slice(nal);
    }
    out
}

/// NAL units of an Annex B stream, without start codes.
fn split_nal_units(stream: &[u8]) -> Vec<&[u8]> {
    let mut starts = Vec::new();
    let mut i = 0;
    while i + 3 <= stream.len() {
        if stream[i] == 0 && stream[i + 1] == 0 && stream[i + 2] == 1 {
            starts.push(i + 3);
            i += 3;
        } else {
            i += 1;
        }
    }
    starts
        .iter()
        .enumerate()
        .map(|(n, &s)| {
            let mut end = starts.get(n + 1).map_or(stream.len(), |&next| next - 3);
            // A four-byte start code leaves its leading zero on the unit before.
            while end > s && stream[end - 1] == 0 {
                end -= 1;
            }
            &stream[s..end]
        })
        .collect()
}

/// A whole SEI NAL unit (header included, emulation prevention applied): one
/// `user_data_registered_itu_t_t35` message with ATSC A/53 `cc_data` triplets.
fn a53_sei(triplets: &[[u8; 3]]) -> Vec<u8> {
    let mut payload = vec![0xb5, 0x00, 0x31, b'G', b'A', b'9', b'4', 0x03];
    // process_em_data_flag 0, process_cc_data_flag 1, additional_data_flag 0, cc_count.
    payload.push(0x40 | triplets.len() as u8);
    payload.push(0xff); // em_data
    for t in triplets {
        payload.extend_from_slice(t);
    }
    payload.push(0xff); // marker_bits
    let mut rbsp = vec![4u8, payload.len() as u8];
    rbsp.extend(payload);
    rbsp.push(0x80); // rbsp_trailing_bits
    let mut nal = vec![0x06];
    let mut zeros = 0;
    for b in rbsp {
        if zeros >= 2 && b <= 3 {
            nal.push(3);
            zeros = 0;
        }
        zeros = if b == 0 { zeros + 1 } else { 0 };
        nal.push(b);
    }
    nal
}

/// The captions FFmpeg's own decoder finds in the first video stream of `path` (a media file):
/// `(start, end, text)`, seconds as the file's timestamps give them.
pub fn decoded_captions(path: &Path) -> Vec<(f64, f64, String)> {
    // The movie source takes a filter-graph string: escape what that syntax would read.
    let name = path.to_str().unwrap().replace('\\', "\\\\\\\\").replace('\'', "\\\\\\'").replace(':', "\\\\:");
    let mut cmd = Command::new("ffmpeg");
    cmd.args(["-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i"])
        .arg(format!("movie={name}[out0+subcc]"))
        .args(["-map", "0:s", "-f", "srt", "-"]);
    let out = run(&mut cmd);
    assert!(out.status.success(), "{}", describe(&format!("{cmd:?}"), &out));
    parse_srt(&String::from_utf8_lossy(&out.stdout))
}

/// ffprobe's `closed_captions` for the first video stream. ffprobe 5.1 learns it from its own
/// decoder, so it must decode a few frames (`-read_intervals` with a frame entry) to say 1.
pub fn ffprobe_says_captioned(path: &Path) -> bool {
    let args =
        ["-select_streams", "v:0", "-read_intervals", "%+#3", "-show_entries", "stream=closed_captions:frame=pts"];
    super::util::ffprobe(path, &args)["streams"][0]["closed_captions"] == 1
}

/// The SRT text without the styling FFmpeg's decoder adds (`<font ...>`, `{\an7}`).
fn plain_text(styled: &str) -> String {
    let mut out = String::new();
    let mut skip: Option<char> = None;
    for c in styled.chars() {
        match (skip, c) {
            (None, '<') => skip = Some('>'),
            (None, '{') => skip = Some('}'),
            (Some(end), c) if c == end => skip = None,
            (Some(_), _) => {}
            (None, c) => out.push(c),
        }
    }
    out.trim().to_string()
}

fn parse_srt(text: &str) -> Vec<(f64, f64, String)> {
    let time = |s: &str| {
        let (hms, ms) = s.trim().split_once(',').unwrap();
        let mut parts = hms.split(':').map(|p| p.parse::<f64>().unwrap());
        let (h, m, s) = (parts.next().unwrap(), parts.next().unwrap(), parts.next().unwrap());
        h * 3600.0 + m * 60.0 + s + ms.parse::<f64>().unwrap() / 1000.0
    };
    text.replace('\r', "")
        .split("\n\n")
        .filter_map(|block| {
            let mut lines = block.lines().filter(|l| !l.is_empty());
            lines.next()?;
            let (from, to) = lines.next()?.split_once("-->")?;
            let body: Vec<&str> = lines.collect();
            Some((time(from), time(to), plain_text(&body.join("\n"))))
        })
        .collect()
}
