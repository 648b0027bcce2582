//! The CMAF boxes this worker writes, sans IO: init segments (`ftyp` + `moov` with one
//! `avc1`/`avcC` or `mp4a`/`esds` track) and media segments (`moof` + `mdat` of one track).
//!
//! Hand-written rather than libav's mov muxer because it is smaller and exact: `tfdt` is the
//! decode time on the pipeline's clock as we give it (never shifted to zero, no edit list),
//! and every sample duration is an integer we computed, so a segment's `ticks` in the
//! playlists are exactly what the file holds. Checked against libav's demuxer in
//! `tests/cmaf.rs`.

/// One H.264 access unit or AAC frame of a fragment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sample {
    /// Ticks until the next sample's decode time.
    pub duration: u32,
    /// Bytes in `mdat`.
    pub size: u32,
    /// A sync sample (IDR); audio frames are all sync.
    pub sync: bool,
    /// Presentation minus decode time, ticks.
    pub cts: i32,
}

/// What the video init segment describes.
pub struct VideoInit<'a> {
    pub width: u16,
    pub height: u16,
    pub timescale: u32,
    pub sps: &'a [u8],
    pub pps: &'a [u8],
}

/// What the audio init segment describes.
pub struct AudioInit<'a> {
    pub sample_rate: u32,
    pub channels: u16,
    /// AudioSpecificConfig (the AAC encoder's extradata).
    pub asc: &'a [u8],
}

const TRACK_ID: u32 = 1;

/// Appends box `kind` whose body `body` writes; its size is patched in afterwards.
fn bx(out: &mut Vec<u8>, kind: &[u8; 4], body: impl FnOnce(&mut Vec<u8>)) {
    let at = out.len();
    out.extend_from_slice(&[0, 0, 0, 0]);
    out.extend_from_slice(kind);
    body(out);
    let size = (out.len() - at) as u32;
    out[at..at + 4].copy_from_slice(&size.to_be_bytes());
}

/// A full box: version and flags before the body.
fn full(out: &mut Vec<u8>, kind: &[u8; 4], version: u8, flags: u32, body: impl FnOnce(&mut Vec<u8>)) {
    bx(out, kind, |o| {
        o.extend_from_slice(&(u32::from(version) << 24 | flags).to_be_bytes());
        body(o);
    });
}

fn u16be(o: &mut Vec<u8>, v: u16) {
    o.extend_from_slice(&v.to_be_bytes());
}

fn u32be(o: &mut Vec<u8>, v: u32) {
    o.extend_from_slice(&v.to_be_bytes());
}

fn zeros(o: &mut Vec<u8>, n: usize) {
    o.resize(o.len() + n, 0);
}

/// The unity transformation matrix of `mvhd` and `tkhd`.
fn matrix(o: &mut Vec<u8>) {
    for v in [0x0001_0000u32, 0, 0, 0, 0x0001_0000, 0, 0, 0, 0x4000_0000] {
        u32be(o, v);
    }
}

fn ftyp(o: &mut Vec<u8>) {
    bx(o, b"ftyp", |o| {
        o.extend_from_slice(b"iso6");
        u32be(o, 0);
        o.extend_from_slice(b"iso6cmfcmp41");
    });
}

/// `ftyp` + `moov` of a one-track movie; `handler` is `vide` or `soun`, `entry` writes the
/// sample entry.
fn init(timescale: u32, handler: &[u8; 4], size: (u16, u16), entry: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let mut o = Vec::with_capacity(800);
    ftyp(&mut o);
    bx(&mut o, b"moov", |o| {
        full(o, b"mvhd", 0, 0, |o| {
            zeros(o, 8); // creation, modification
            u32be(o, 1000);
            u32be(o, 0); // duration: fragmented, unknown
            u32be(o, 0x0001_0000); // rate 1.0
            u16be(o, 0x0100); // volume 1.0
            zeros(o, 10);
            matrix(o);
            zeros(o, 24);
            u32be(o, TRACK_ID + 1);
        });
        bx(o, b"trak", |o| {
            full(o, b"tkhd", 0, 3, |o| {
                zeros(o, 8);
                u32be(o, TRACK_ID);
                zeros(o, 4);
                u32be(o, 0); // duration
                zeros(o, 8);
                u16be(o, 0); // layer
                u16be(o, 0); // alternate group
                u16be(o, if handler == b"soun" { 0x0100 } else { 0 });
                zeros(o, 2);
                matrix(o);
                u32be(o, u32::from(size.0) << 16);
                u32be(o, u32::from(size.1) << 16);
            });
            bx(o, b"mdia", |o| {
                full(o, b"mdhd", 0, 0, |o| {
                    zeros(o, 8);
                    u32be(o, timescale);
                    u32be(o, 0);
                    u16be(o, 0x55c4); // "und"
                    u16be(o, 0);
                });
                full(o, b"hdlr", 0, 0, |o| {
                    u32be(o, 0);
                    o.extend_from_slice(handler);
                    zeros(o, 12);
                    o.extend_from_slice(if handler == b"soun" { b"SoundHandler\0" } else { b"VideoHandler\0" });
                });
                bx(o, b"minf", |o| {
                    if handler == b"soun" {
                        full(o, b"smhd", 0, 0, |o| zeros(o, 4));
                    } else {
                        full(o, b"vmhd", 0, 1, |o| zeros(o, 8));
                    }
                    bx(o, b"dinf", |o| {
                        full(o, b"dref", 0, 0, |o| {
                            u32be(o, 1);
                            full(o, b"url ", 0, 1, |_| {});
                        });
                    });
                    bx(o, b"stbl", |o| {
                        full(o, b"stsd", 0, 0, |o| {
                            u32be(o, 1);
                            entry(o);
                        });
                        // Fragmented: the sample tables are empty, the samples are in `moof`s.
                        full(o, b"stts", 0, 0, |o| u32be(o, 0));
                        full(o, b"stsc", 0, 0, |o| u32be(o, 0));
                        full(o, b"stsz", 0, 0, |o| zeros(o, 8));
                        full(o, b"stco", 0, 0, |o| u32be(o, 0));
                    });
                });
            });
        });
        bx(o, b"mvex", |o| {
            full(o, b"trex", 0, 0, |o| {
                u32be(o, TRACK_ID);
                u32be(o, 1); // sample description index
                zeros(o, 12); // default duration, size, flags: every sample says its own
            });
        });
    });
    o
}

/// The init segment of an H.264 track.
pub fn video_init(v: &VideoInit) -> Vec<u8> {
    init(v.timescale, b"vide", (v.width, v.height), |o| {
        bx(o, b"avc1", |o| {
            zeros(o, 6);
            u16be(o, 1); // data reference index
            zeros(o, 16);
            u16be(o, v.width);
            u16be(o, v.height);
            u32be(o, 0x0048_0000); // 72 dpi
            u32be(o, 0x0048_0000);
            u32be(o, 0);
            u16be(o, 1); // frames per sample
            zeros(o, 32); // compressor name
            u16be(o, 0x0018);
            o.extend_from_slice(&(-1i16).to_be_bytes());
            bx(o, b"avcC", |o| {
                o.push(1);
                o.extend_from_slice(v.sps.get(1..4).unwrap_or(&[0x64, 0, 0x1f]));
                o.push(0xff); // 4-byte NAL lengths
                o.push(0xe1); // one SPS
                u16be(o, v.sps.len() as u16);
                o.extend_from_slice(v.sps);
                o.push(1); // one PPS
                u16be(o, v.pps.len() as u16);
                o.extend_from_slice(v.pps);
            });
        });
    })
}

/// The init segment of an AAC track; its timescale is the sample rate.
pub fn audio_init(a: &AudioInit) -> Vec<u8> {
    init(a.sample_rate, b"soun", (0, 0), |o| {
        bx(o, b"mp4a", |o| {
            zeros(o, 6);
            u16be(o, 1);
            zeros(o, 8);
            u16be(o, a.channels);
            u16be(o, 16);
            zeros(o, 4);
            u32be(o, a.sample_rate.min(0xffff) << 16);
            full(o, b"esds", 0, 0, |o| esds(o, a.asc));
        });
    })
}

/// ES_Descriptor with the AudioSpecificConfig (ISO 14496-1 §7.2.6.5).
fn esds(o: &mut Vec<u8>, asc: &[u8]) {
    let descriptor = |o: &mut Vec<u8>, tag: u8, body: &[u8]| {
        o.push(tag);
        o.push(body.len() as u8); // every descriptor here is under 128 bytes
        o.extend_from_slice(body);
    };
    let mut specific = Vec::new();
    descriptor(&mut specific, 0x05, asc);
    let mut config = vec![0x40, 0x15, 0, 0, 0]; // MPEG-4 audio, audio stream, buffer size
    config.extend_from_slice(&[0; 8]); // max and average bit rate: unknown
    config.extend_from_slice(&specific);
    let mut es = vec![0, TRACK_ID as u8, 0];
    descriptor(&mut es, 0x04, &config);
    descriptor(&mut es, 0x06, &[0x02]);
    descriptor(o, 0x03, &es);
}

/// `moof` + `mdat` of one fragment: `samples` whose bytes are `data`, in decode order, the
/// first decoded at `decode_time`.
pub fn fragment(sequence: u32, decode_time: u64, samples: &[Sample], data: &[u8]) -> Vec<u8> {
    let mut o = Vec::with_capacity(data.len() + 64 + samples.len() * 16);
    let mut offset_at = 0;
    bx(&mut o, b"moof", |o| {
        full(o, b"mfhd", 0, 0, |o| u32be(o, sequence));
        bx(o, b"traf", |o| {
            full(o, b"tfhd", 0, 0x02_0000, |o| u32be(o, TRACK_ID)); // default-base-is-moof
            full(o, b"tfdt", 1, 0, |o| o.extend_from_slice(&decode_time.to_be_bytes()));
            // data offset, and per sample: duration, size, flags, composition offset (signed).
            full(o, b"trun", 1, 0x0001 | 0x0100 | 0x0200 | 0x0400 | 0x0800, |o| {
                u32be(o, samples.len() as u32);
                offset_at = o.len();
                u32be(o, 0);
                for s in samples {
                    u32be(o, s.duration);
                    u32be(o, s.size);
                    // sync: depends on no other; else depends on others, non-sync.
                    u32be(o, if s.sync { 0x0200_0000 } else { 0x0101_0000 });
                    o.extend_from_slice(&s.cts.to_be_bytes());
                }
            });
        });
    });
    let data_offset = (o.len() + 8) as u32;
    o[offset_at..offset_at + 4].copy_from_slice(&data_offset.to_be_bytes());
    bx(&mut o, b"mdat", |o| o.extend_from_slice(data));
    o
}

/// NAL units of an Annex B access unit, without their start codes.
pub fn annexb_nals(au: &[u8]) -> Vec<&[u8]> {
    let mut starts = Vec::new();
    let mut i = 0;
    while i + 3 <= au.len() {
        if au[i] == 0 && au[i + 1] == 0 && au[i + 2] == 1 {
            starts.push(i + 3);
            i += 3;
        } else {
            i += 1;
        }
    }
    let mut nals = Vec::with_capacity(starts.len());
    for (k, &s) in starts.iter().enumerate() {
        let mut end = starts.get(k + 1).map_or(au.len(), |&next| next - 3);
        // A 4-byte start code's leading zero (and trailing zeros) belong to no NAL unit.
        while end > s && au[end - 1] == 0 {
            end -= 1;
        }
        if end > s {
            nals.push(&au[s..end]);
        }
    }
    nals
}

/// NAL unit type of an H.264 NAL unit.
pub fn nal_type(nal: &[u8]) -> u8 {
    nal.first().map_or(0, |b| b & 0x1f)
}

/// An Annex B access unit as an `avc1` sample: 4-byte lengths, without the parameter sets and
/// access unit delimiters (the init segment holds the parameter sets).
pub fn length_prefixed(au: &[u8], out: &mut Vec<u8>) {
    for nal in annexb_nals(au) {
        if matches!(nal_type(nal), 7..=9) {
            continue;
        }
        u32be(out, nal.len() as u32);
        out.extend_from_slice(nal);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (type, body) of each box in `b`.
    fn boxes(b: &[u8]) -> Vec<(String, &[u8])> {
        let mut out = Vec::new();
        let mut i = 0;
        while i + 8 <= b.len() {
            let size = u32::from_be_bytes(b[i..i + 4].try_into().unwrap()) as usize;
            out.push((String::from_utf8_lossy(&b[i + 4..i + 8]).to_string(), &b[i + 8..i + size]));
            i += size;
        }
        assert_eq!(i, b.len(), "boxes fill the buffer exactly");
        out
    }

    #[test]
    fn annexb_splits_on_three_and_four_byte_start_codes() {
        let au = [0, 0, 0, 1, 0x09, 0xf0, 0, 0, 1, 0x67, 1, 2, 0, 0, 0, 1, 0x65, 7, 7, 0];
        let nals = annexb_nals(&au);
        assert_eq!(nals, vec![&[0x09, 0xf0][..], &[0x67, 1, 2][..], &[0x65, 7, 7][..]]);
        let mut sample = Vec::new();
        length_prefixed(&au, &mut sample);
        assert_eq!(sample, [0, 0, 0, 3, 0x65, 7, 7], "AUD and SPS leave the sample");
    }

    #[test]
    fn a_fragment_points_its_data_offset_at_the_mdat_payload() {
        let samples = [
            Sample { duration: 3000, size: 3, sync: true, cts: 6000 },
            Sample { duration: 3000, size: 2, sync: false, cts: -3000 },
        ];
        let frag = fragment(7, 900_000, &samples, &[1, 2, 3, 4, 5]);
        let top = boxes(&frag);
        assert_eq!(top.iter().map(|b| b.0.as_str()).collect::<Vec<_>>(), ["moof", "mdat"]);
        let moof_len = top[0].1.len() + 8;
        let traf = boxes(top[0].1)[1].1;
        let parts = boxes(traf);
        assert_eq!(parts.iter().map(|b| b.0.as_str()).collect::<Vec<_>>(), ["tfhd", "tfdt", "trun"]);
        assert_eq!(u64::from_be_bytes(parts[1].1[4..12].try_into().unwrap()), 900_000);
        let offset = u32::from_be_bytes(parts[2].1[8..12].try_into().unwrap()) as usize;
        assert_eq!(offset, moof_len + 8);
        assert_eq!(&frag[offset..], [1, 2, 3, 4, 5]);
    }

    #[test]
    fn init_segments_hold_one_track_with_its_decoder_configuration() {
        let v = video_init(&VideoInit {
            width: 640,
            height: 360,
            timescale: 90_000,
            sps: &[0x67, 0x64, 0, 0x1e, 9],
            pps: &[0x68, 1],
        });
        let top = boxes(&v);
        assert_eq!(top.iter().map(|b| b.0.as_str()).collect::<Vec<_>>(), ["ftyp", "moov"]);
        assert!(v.windows(4).any(|w| w == b"avcC"));
        let a = audio_init(&AudioInit { sample_rate: 48_000, channels: 2, asc: &[0x11, 0x90] });
        assert!(a.windows(4).any(|w| w == b"esds"));
        assert!(a.windows(2).any(|w| w == [0x11, 0x90]));
    }
}
