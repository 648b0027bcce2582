//! FLV files taken apart and put back together, and a publisher that sends an FLV's tags to an
//! RTMP server exactly as they are (timestamps included), paced by their original times.
//!
//! The ffmpeg CLI cannot publish timestamps that go back: its muxing layer clamps every
//! decreasing DTS ("Non-monotonous DTS ... changing to"), and libavformat refuses them. libav's
//! `rtmp` protocol, written to directly, takes FLV bytes and sends each tag with the timestamp
//! in its header, which is what a buggy or hostile encoder puts on the wire.

use std::ffi::CString;
use std::path::Path;
use std::time::{Duration, Instant};

use ffmpeg_next as ffmpeg;

pub const AUDIO: u8 = 8;
pub const VIDEO: u8 = 9;
pub const SCRIPT: u8 = 18;

/// One FLV tag: its type, the timestamp it carries, its payload, and the time it is sent at
/// (the original timestamp, so the pace stays real time whatever the edits).
#[derive(Debug, Clone)]
pub struct Tag {
    pub kind: u8,
    pub ts: u32,
    pub data: Vec<u8>,
    pub send_at: Duration,
}

/// The 9-byte FLV header plus the first PreviousTagSize, and the tags.
pub struct Flv {
    pub header: Vec<u8>,
    pub tags: Vec<Tag>,
}

impl Flv {
    pub fn read(path: &Path) -> Flv {
        let bytes = std::fs::read(path).unwrap();
        assert_eq!(&bytes[..3], b"FLV", "{} is not an FLV file", path.display());
        let mut tags = Vec::new();
        let mut i = 13;
        while i + 11 <= bytes.len() {
            let size = u32::from_be_bytes([0, bytes[i + 1], bytes[i + 2], bytes[i + 3]]) as usize;
            let ts = u32::from_be_bytes([bytes[i + 7], bytes[i + 4], bytes[i + 5], bytes[i + 6]]);
            let Some(data) = bytes.get(i + 11..i + 11 + size) else { break };
            tags.push(Tag { kind: bytes[i], ts, data: data.to_vec(), send_at: Duration::from_millis(ts.into()) });
            i += 11 + size + 4;
        }
        Flv { header: bytes[..13].to_vec(), tags }
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = self.header.clone();
        for tag in &self.tags {
            out.extend(tag_bytes(tag));
        }
        out
    }

    /// Sets the `framerate` the publisher declares in its onMetaData.
    pub fn declare_frame_rate(&mut self, fps: f64) {
        let meta = self.tags.iter_mut().find(|t| t.kind == SCRIPT).expect("an onMetaData tag");
        let key = b"framerate";
        let at = meta.data.windows(key.len()).position(|w| w == key).expect("a framerate entry") + key.len();
        assert_eq!(meta.data[at], 0, "framerate is an AMF number");
        meta.data[at + 1..at + 9].copy_from_slice(&fps.to_be_bytes());
    }
}

fn tag_bytes(tag: &Tag) -> Vec<u8> {
    let size = tag.data.len() as u32;
    let ts = tag.ts.to_be_bytes();
    let mut out = vec![tag.kind];
    out.extend(&size.to_be_bytes()[1..]);
    out.extend([ts[1], ts[2], ts[3], ts[0]]);
    out.extend([0, 0, 0]);
    out.extend(&tag.data);
    out.extend((size + 11).to_be_bytes());
    out
}

/// A small deterministic generator: the same "random" bytes in every run.
pub struct Noise(u64);

impl Noise {
    pub fn new(seed: u64) -> Noise {
        Noise(seed | 1)
    }

    pub fn fill(&mut self, out: &mut [u8]) {
        for b in out {
            // xorshift64*
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            *b = (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 56) as u8;
        }
    }
}

/// Sends `flv` to `url` (rtmp://...) through libav's rtmp protocol, tag by tag at each tag's
/// `send_at`, from a thread of its own. The thread's result says whether every byte was sent.
pub fn publish_raw(url: &str, flv: Flv) -> std::thread::JoinHandle<Result<(), String>> {
    let url = url.to_string();
    std::thread::spawn(move || {
        ffmpeg::init().map_err(|e| e.to_string())?;
        let c_url = CString::new(url).unwrap();
        let mut ctx: *mut ffmpeg::ffi::AVIOContext = std::ptr::null_mut();
        // SAFETY: opens a write context for a valid C string; `ctx` is only used below.
        let rc = unsafe {
            ffmpeg::ffi::avio_open2(
                &mut ctx,
                c_url.as_ptr(),
                ffmpeg::ffi::AVIO_FLAG_WRITE,
                std::ptr::null(),
                std::ptr::null_mut(),
            )
        };
        if rc < 0 {
            return Err(format!("avio_open2: {}", ffmpeg::Error::from(rc)));
        }
        let write = |bytes: &[u8]| -> Result<(), String> {
            // SAFETY: `ctx` is open; the slice outlives the call.
            unsafe {
                ffmpeg::ffi::avio_write(ctx, bytes.as_ptr(), bytes.len() as i32);
                ffmpeg::ffi::avio_flush(ctx);
                match (*ctx).error {
                    0 => Ok(()),
                    e => Err(format!("avio_write: {}", ffmpeg::Error::from(e))),
                }
            }
        };
        let start = Instant::now();
        let mut result = write(&flv.header);
        for tag in &flv.tags {
            if result.is_err() {
                break;
            }
            if let Some(wait) = tag.send_at.checked_sub(start.elapsed()) {
                std::thread::sleep(wait);
            }
            result = write(&tag_bytes(tag));
        }
        // SAFETY: closes the context opened above, once.
        unsafe { ffmpeg::ffi::avio_closep(&mut ctx) };
        result
    })
}
