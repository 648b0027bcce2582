//! A small ISO BMFF reader for the CMAF tests: what an init segment declares and what a media
//! segment's `moof` says about its samples. Written from the spec, independent of the
//! writer in `src/pipeline/fmp4.rs`.

use std::path::Path;

/// (type, body) of each box directly in `b`; panics on a box that overruns its parent.
pub fn boxes(b: &[u8]) -> Vec<(String, &[u8])> {
    let mut out = Vec::new();
    let mut i = 0;
    while i + 8 <= b.len() {
        let size = u32::from_be_bytes(b[i..i + 4].try_into().unwrap()) as usize;
        assert!(size >= 8 && i + size <= b.len(), "box at {i} of size {size} overruns {} bytes", b.len());
        out.push((String::from_utf8_lossy(&b[i + 4..i + 8]).into_owned(), &b[i + 8..i + size]));
        i += size;
    }
    assert_eq!(i, b.len(), "trailing bytes after the last box");
    out
}

/// The body of the first box along `path` (e.g. `["moov", "trak", "mdia"]`).
pub fn find<'a>(b: &'a [u8], path: &[&str]) -> Option<&'a [u8]> {
    let (first, rest) = path.split_first()?;
    let body = boxes(b).into_iter().find(|(k, _)| k == first)?.1;
    if rest.is_empty() {
        Some(body)
    } else {
        find(body, rest)
    }
}

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes(b[at..at + 4].try_into().unwrap())
}

/// What an init segment declares about its one track.
#[derive(Debug)]
pub struct Init {
    pub top: Vec<String>,
    pub timescale: u32,
    /// The sample entry (`avc1`, `mp4a`) and the configuration box inside it (`avcC`, `esds`).
    pub entry: String,
    pub config: Option<String>,
}

pub fn read_init(path: &Path) -> Init {
    let b = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let top = boxes(&b).into_iter().map(|(k, _)| k).collect();
    let mdhd = find(&b, &["moov", "trak", "mdia", "mdhd"]).expect("mdhd");
    let timescale = be32(mdhd, 12);
    let stsd = find(&b, &["moov", "trak", "mdia", "minf", "stbl", "stsd"]).expect("stsd");
    let entries = boxes(&stsd[8..]);
    let (entry, body) = entries.first().expect("one sample entry");
    // Visual sample entries have 78 bytes before their boxes, audio ones 28.
    let skip = if entry == "mp4a" { 28 } else { 78 };
    let config = boxes(&body[skip..]).into_iter().map(|(k, _)| k).find(|k| k == "avcC" || k == "esds");
    Init { top, timescale, entry: entry.clone(), config }
}

/// One sample of a fragment.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    pub duration: u32,
    pub size: u32,
    pub sync: bool,
    pub cts: i32,
}

/// A media segment: its base decode time and samples.
#[derive(Debug)]
pub struct Fragment {
    pub tfdt: u64,
    pub samples: Vec<Sample>,
}

impl Fragment {
    /// Σ sample durations, ticks.
    pub fn ticks(&self) -> u64 {
        self.samples.iter().map(|s| u64::from(s.duration)).sum()
    }

    /// Presentation time of the first sample, ticks.
    pub fn first_pts(&self) -> i64 {
        self.tfdt as i64 + i64::from(self.samples.first().map_or(0, |s| s.cts))
    }
}

pub fn read_fragment(path: &Path) -> Fragment {
    let b = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let kinds: Vec<String> = boxes(&b).into_iter().map(|(k, _)| k).filter(|k| k != "styp").collect();
    assert_eq!(kinds, ["moof", "mdat"], "{}", path.display());
    let tfdt = find(&b, &["moof", "traf", "tfdt"]).expect("tfdt");
    let tfdt =
        if tfdt[0] == 1 { u64::from_be_bytes(tfdt[4..12].try_into().unwrap()) } else { u64::from(be32(tfdt, 4)) };
    let trun = find(&b, &["moof", "traf", "trun"]).expect("trun");
    let flags = be32(trun, 0) & 0xff_ffff;
    let count = be32(trun, 4) as usize;
    let mut at = 8;
    if flags & 0x1 != 0 {
        at += 4;
    }
    let first_flags = (flags & 0x4 != 0).then(|| {
        at += 4;
        be32(trun, at - 4)
    });
    let mut samples = Vec::with_capacity(count);
    for i in 0..count {
        let mut field = |bit: u32| {
            (flags & bit != 0).then(|| {
                at += 4;
                be32(trun, at - 4)
            })
        };
        let duration = field(0x100).expect("per-sample durations");
        let size = field(0x200).expect("per-sample sizes");
        let sample_flags = field(0x400).or(if i == 0 { first_flags } else { None }).unwrap_or(0);
        let cts = field(0x800).map_or(0, |c| c as i32);
        samples.push(Sample { duration, size, sync: sample_flags & 0x0001_0000 == 0, cts });
    }
    let mdat = find(&b, &["mdat"]).unwrap();
    let total: u64 = samples.iter().map(|s| u64::from(s.size)).sum();
    assert_eq!(total, mdat.len() as u64, "{}: sample sizes cover mdat", path.display());
    Fragment { tfdt, samples }
}
