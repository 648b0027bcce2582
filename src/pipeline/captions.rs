//! Closed captions carried with the pictures: the CEA-608/708 `cc_data` of ATSC A/53, which
//! the H.264 decoder attaches to each decoded frame (`AV_FRAME_DATA_A53_CC`) and the H.264
//! encoders with `a53cc` write back as SEI in the same frame ([`insert_sei`] does it for the
//! others).
//!
//! A scaled picture is a new frame: [`copy`] moves the caption bytes onto it. A rendition
//! that drops source frames (60 -> 30 fps, or timestamps denser than the grid) must not drop
//! their caption bytes: [`Carry`] keeps them and merges them into the next picture kept,
//! within A/53's limit of 31 `cc_data` triplets per picture (the rest waits for the picture
//! after). A picture repeated to fill a gap carries none ([`remove`]): its bytes were sent.

use ffmpeg::ffi;
use ffmpeg::frame::Video;
use ffmpeg_next as ffmpeg;
use serde::{Deserialize, Serialize};

/// `cc_count` is a 5-bit field: at most 31 triplets per picture (A/53 part 4, 6.2.3.1).
pub const MAX_TRIPLETS: usize = 31;

/// Which caption services a stream carries (master `INSTREAM-ID`s).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaptionServices {
    /// CEA-608 byte pairs (`cc_type` 0 or 1): `CC1`.
    pub cea608: bool,
    /// CEA-708 DTVCC packets (`cc_type` 2 or 3): `SERVICE1`.
    pub cea708: bool,
}

impl CaptionServices {
    /// The services that valid triplets of `cc_data` belong to.
    pub fn of(cc_data: &[u8]) -> CaptionServices {
        let mut found = CaptionServices::default();
        for t in cc_data.chunks_exact(3).filter(|t| is_valid(t)) {
            match t[0] & 3 {
                0 | 1 => found.cea608 |= has_content(t),
                _ => found.cea708 = true,
            }
        }
        found
    }

    pub fn any(self) -> bool {
        self.cea608 || self.cea708
    }

    pub fn union(self, other: CaptionServices) -> CaptionServices {
        CaptionServices { cea608: self.cea608 || other.cea608, cea708: self.cea708 || other.cea708 }
    }

    /// Whether `other` has a service this one lacks.
    pub fn lacks_any_of(self, other: CaptionServices) -> bool {
        (other.cea608 && !self.cea608) || (other.cea708 && !self.cea708)
    }
}

/// `cc_valid` set.
fn is_valid(triplet: &[u8]) -> bool {
    triplet[0] & 0x04 != 0
}

/// A 608 pair that is more than padding (null characters, parity stripped).
fn has_content(triplet: &[u8]) -> bool {
    triplet[1] & 0x7f != 0 || triplet[2] & 0x7f != 0
}

/// The `cc_data` triplets attached to `frame`, if any.
pub fn of(frame: &Video) -> Option<&[u8]> {
    // SAFETY: valid frame; the side data lives as long as the frame's borrow.
    unsafe {
        let sd = ffi::av_frame_get_side_data(frame.as_ptr(), A53_CC);
        if sd.is_null() || (*sd).size == 0 {
            return None;
        }
        Some(std::slice::from_raw_parts((*sd).data, (*sd).size as usize))
    }
}

const A53_CC: ffi::AVFrameSideDataType = ffi::AVFrameSideDataType::AV_FRAME_DATA_A53_CC;

/// Replaces `frame`'s caption bytes with `cc_data` (none when empty).
pub fn set(frame: &mut Video, cc_data: &[u8]) {
    remove(frame);
    if cc_data.is_empty() {
        return;
    }
    // SAFETY: valid frame; the new side data buffer has exactly `cc_data.len()` bytes.
    unsafe {
        let sd = ffi::av_frame_new_side_data(frame.as_mut_ptr(), A53_CC, cc_data.len() as _);
        assert!(!sd.is_null(), "av_frame_new_side_data failed: out of memory");
        std::ptr::copy_nonoverlapping(cc_data.as_ptr(), (*sd).data, cc_data.len());
    }
}

pub fn remove(frame: &mut Video) {
    // SAFETY: valid frame.
    unsafe { ffi::av_frame_remove_side_data(frame.as_mut_ptr(), A53_CC) };
}

/// `dst` gets `src`'s caption bytes (a scaled picture from its source).
pub fn copy(src: &Video, dst: &mut Video) {
    let data = of(src).map(<[u8]>::to_vec).unwrap_or_default();
    set(dst, &data);
}

/// The caption services in an H.264 access unit's A/53 SEI (Annex B), for copied video that
/// is never decoded: the masters must declare its captions too.
pub fn in_access_unit(annexb: &[u8]) -> CaptionServices {
    let mut found = CaptionServices::default();
    let mut rest = annexb;
    while let Some(at) = find_start_code(rest) {
        rest = &rest[at + 3..];
        match rest.first().map(|h| h & 0x1f) {
            // SEI comes before the first slice: the slices' bytes need no scan.
            Some(1..=5) | None => break,
            Some(6) => {
                let end = find_start_code(rest).unwrap_or(rest.len());
                found = found.union(in_sei(&unescape(&rest[1..end])));
            }
            Some(_) => {}
        }
    }
    found
}

fn find_start_code(data: &[u8]) -> Option<usize> {
    data.windows(3).position(|w| w == [0, 0, 1])
}

/// The RBSP of a NAL unit payload: emulation prevention bytes (0x000003) removed.
fn unescape(ebsp: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(ebsp.len());
    let mut zeros = 0;
    for &b in ebsp {
        if zeros >= 2 && b == 3 {
            zeros = 0;
            continue;
        }
        zeros = if b == 0 { zeros + 1 } else { 0 };
        out.push(b);
    }
    out
}

/// The services of the A/53 `cc_data` in one SEI RBSP's `user_data_registered_itu_t_t35`
/// messages (H.264 D.1.6; A/53 part 4 6.2.3: country 0xB5, provider 0x0031, "GA94", type 3).
fn in_sei(mut rbsp: &[u8]) -> CaptionServices {
    let mut found = CaptionServices::default();
    let read_number = |data: &mut &[u8]| -> Option<usize> {
        let mut n = 0;
        loop {
            let (&b, rest) = data.split_first()?;
            *data = rest;
            n += b as usize;
            if b != 0xff {
                return Some(n);
            }
        }
    };
    while rbsp.len() > 2 {
        let (Some(kind), Some(size)) = (read_number(&mut rbsp), read_number(&mut rbsp)) else { break };
        let Some(payload) = rbsp.get(..size) else { break };
        rbsp = &rbsp[size..];
        if kind != 4 || payload.len() < 10 || payload[..8] != [0xb5, 0x00, 0x31, b'G', b'A', b'9', b'4', 0x03] {
            continue;
        }
        if payload[8] & 0x40 == 0 {
            continue;
        }
        let count = (payload[8] & 0x1f) as usize;
        let triplets = &payload[10..];
        found = found.union(CaptionServices::of(&triplets[..(count * 3).min(triplets.len() / 3 * 3)]));
    }
    found
}

/// Whether the H.264 encoder `name` writes a frame's caption bytes as A/53 SEI itself (it has
/// the `a53cc` option: libx264, NVENC, QSV, VideoToolbox). For the others (VAAPI, V4L2, ...)
/// the rendition inserts the SEI into each encoded frame with [`insert_sei`].
pub fn encoder_writes_captions(name: &str) -> bool {
    let Some(codec) = ffmpeg::encoder::find_by_name(name) else { return false };
    let option = std::ffi::CString::new("a53cc").expect("no NUL");
    // SAFETY: av_opt_find with AV_OPT_SEARCH_FAKE_OBJ reads the class through a pointer to
    // the class pointer; the codec and its class are static.
    unsafe {
        let class = (*codec.as_ptr()).priv_class;
        if class.is_null() {
            return false;
        }
        let fake = &class as *const *const ffi::AVClass as *mut std::ffi::c_void;
        !ffi::av_opt_find(fake, option.as_ptr(), std::ptr::null(), 0, ffi::AV_OPT_SEARCH_FAKE_OBJ).is_null()
    }
}

/// `access_unit` (Annex B, as our encoders emit it: no global header) with an A/53 SEI NAL
/// unit carrying `cc_data` (at most 31 triplets) before its first slice.
pub fn insert_sei(access_unit: &[u8], cc_data: &[u8]) -> Vec<u8> {
    let cc = &cc_data[..cc_data.len().min(MAX_TRIPLETS * 3) / 3 * 3];
    let mut payload = vec![0xb5, 0x00, 0x31, b'G', b'A', b'9', b'4', 0x03, 0x40 | (cc.len() / 3) as u8, 0xff];
    payload.extend_from_slice(cc);
    payload.push(0xff); // marker_bits
    let mut rbsp = vec![4, payload.len() as u8];
    rbsp.extend(payload);
    rbsp.push(0x80); // rbsp_trailing_bits
    let mut nal = vec![0, 0, 0, 1, 0x06];
    let mut zeros = 0;
    for b in rbsp {
        if zeros >= 2 && b <= 3 {
            nal.push(3);
            zeros = 0;
        }
        zeros = if b == 0 { zeros + 1 } else { 0 };
        nal.push(b);
    }
    // Before the first VCL NAL unit (types 1 to 5), start code included.
    let mut at = access_unit.len();
    let mut i = 0;
    while let Some(found) = find_start_code(&access_unit[i..]) {
        let start = i + found;
        let header = start + 3;
        if access_unit.get(header).is_some_and(|h| (1..=5).contains(&(h & 0x1f))) {
            at = if start > 0 && access_unit[start - 1] == 0 { start - 1 } else { start };
            break;
        }
        i = header;
    }
    let mut out = Vec::with_capacity(access_unit.len() + nal.len());
    out.extend_from_slice(&access_unit[..at]);
    out.extend(nal);
    out.extend_from_slice(&access_unit[at..]);
    out
}

/// Caption bytes of dropped pictures, waiting for the next picture kept.
#[derive(Debug, Default)]
pub struct Carry {
    pending: Vec<u8>,
}

impl Carry {
    /// A picture is dropped: its valid triplets wait (padding is not worth carrying).
    pub fn drop_picture(&mut self, cc_data: Option<&[u8]>) {
        if let Some(data) = cc_data {
            self.pending.extend(data.chunks_exact(3).filter(|t| is_valid(t)).flatten());
        }
    }

    /// A picture with `own` caption bytes is kept: `None` when they need no change, else the
    /// bytes it must carry: what waited, in order, then its own, at most 31 triplets (padding
    /// dropped first; valid triplets over the limit wait for the next picture).
    pub fn keep_picture(&mut self, own: Option<&[u8]>) -> Option<Vec<u8>> {
        if self.pending.is_empty() {
            return None;
        }
        let own = own.unwrap_or_default();
        let mut merged = std::mem::take(&mut self.pending);
        if merged.len() + own.len() <= MAX_TRIPLETS * 3 {
            merged.extend_from_slice(own);
            return Some(merged);
        }
        merged.extend(own.chunks_exact(3).filter(|t| is_valid(t)).flatten());
        if merged.len() > MAX_TRIPLETS * 3 {
            self.pending = merged.split_off(MAX_TRIPLETS * 3);
        }
        Some(merged)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Field-1 pair (valid, cc_type 0), as a 60 fps source sends one per frame.
    fn f1(a: u8, b: u8) -> [u8; 3] {
        [0xfc, a, b]
    }

    #[test]
    fn a_dropped_pictures_bytes_come_first_in_the_next_kept_one() {
        let mut carry = Carry::default();
        assert_eq!(carry.keep_picture(Some(&f1(0x94, 0x20))), None);
        carry.drop_picture(Some(&f1(0x94, 0x2e)));
        let merged = carry.keep_picture(Some(&f1(0xc1, 0xc2))).unwrap();
        assert_eq!(merged, [f1(0x94, 0x2e), f1(0xc1, 0xc2)].concat());
        assert_eq!(carry.keep_picture(None), None);
    }

    #[test]
    fn padding_of_dropped_pictures_is_not_carried() {
        let mut carry = Carry::default();
        carry.drop_picture(Some(&[0xf8, 0x80, 0x80, 0xfc, 0x94, 0x2f]));
        assert_eq!(carry.keep_picture(None).unwrap(), f1(0x94, 0x2f));
    }

    #[test]
    fn more_than_31_triplets_wait_for_the_next_picture_in_order() {
        let mut carry = Carry::default();
        let dropped: Vec<u8> = (0..20u8).flat_map(|i| f1(i, i)).collect();
        carry.drop_picture(Some(&dropped));
        let mut own: Vec<u8> = (20..40u8).flat_map(|i| f1(i, i)).collect();
        own.extend([0xfa, 0, 0]); // padding, dropped first
        let first = carry.keep_picture(Some(&own)).unwrap();
        assert_eq!(first.len(), MAX_TRIPLETS * 3);
        assert_eq!(first, (0..31u8).flat_map(|i| f1(i, i)).collect::<Vec<_>>());
        let second = carry.keep_picture(None).unwrap();
        assert_eq!(second, (31..40u8).flat_map(|i| f1(i, i)).collect::<Vec<_>>());
    }

    #[test]
    fn services_follow_cc_type_and_ignore_padding() {
        assert_eq!(CaptionServices::of(&[0xfc, 0x80, 0x80]), CaptionServices::default());
        assert_eq!(CaptionServices::of(&[0xf8, 0x94, 0x20]), CaptionServices::default());
        assert_eq!(CaptionServices::of(&f1(0x94, 0x20)), CaptionServices { cea608: true, cea708: false });
        assert_eq!(CaptionServices::of(&[0xff, 0x02, 0x21]), CaptionServices { cea608: false, cea708: true });
    }

    #[test]
    fn services_are_found_in_the_sei_of_an_access_unit() {
        // An SEI with a user_data_unregistered message (16 zero bytes of UUID and one more
        // byte: emulation prevention needed) before the A/53 one: a field-1 pair and a 708
        // packet start.
        let mut rbsp = vec![5, 17];
        rbsp.extend([0; 16]);
        rbsp.push(1);
        rbsp.extend([4, 16, 0xb5, 0, 0x31, b'G', b'A', b'9', b'4', 3, 0x42, 0xff, 0xfc, 0x94, 0x20, 0xff, 0x02, 0x21]);
        rbsp.extend([0xff, 0x80]);
        let mut sei = vec![6];
        let mut zeros = 0;
        for b in rbsp {
            if zeros >= 2 && b <= 3 {
                sei.push(3);
                zeros = 0;
            }
            zeros = if b == 0 { zeros + 1 } else { 0 };
            sei.push(b);
        }
        let au = [&[0, 0, 0, 1, 9, 0xf0, 0, 0, 1][..], &sei, &[0, 0, 1, 0x65, 0x88]].concat();
        assert_eq!(in_access_unit(&au), CaptionServices { cea608: true, cea708: true });
        let plain = [0, 0, 0, 1, 9, 0xf0, 0, 0, 1, 0x65, 0x88];
        assert_eq!(in_access_unit(&plain), CaptionServices::default());
    }

    #[test]
    fn encoders_with_their_own_a53_support_are_told_apart() {
        assert!(encoder_writes_captions("libx264"));
        assert!(!encoder_writes_captions("mjpeg"));
        assert!(!encoder_writes_captions("no-such-encoder"));
    }

    /// libx264 with its own A/53 writer off stands in for an encoder without one: the SEI we
    /// insert is what FFmpeg's H.264 decoder hands back as each frame's caption bytes.
    #[test]
    fn inserted_sei_is_decoded_as_the_frames_caption_bytes() {
        ffmpeg::init().unwrap();
        let codec = ffmpeg::encoder::find_by_name("libx264").unwrap();
        let mut enc = ffmpeg::codec::context::Context::new_with_codec(codec).encoder().video().unwrap();
        enc.set_width(64);
        enc.set_height(64);
        enc.set_format(ffmpeg::format::Pixel::YUV420P);
        enc.set_time_base(ffmpeg::Rational(1, 30));
        let mut opts = ffmpeg::Dictionary::new();
        opts.set("a53cc", "0");
        opts.set("preset", "ultrafast");
        opts.set("bf", "0");
        let mut enc = enc.open_with(opts).unwrap();
        let mut dec =
            ffmpeg::codec::context::Context::new_with_codec(ffmpeg::decoder::find(ffmpeg::codec::Id::H264).unwrap())
                .decoder()
                .video()
                .unwrap();
        let sent: Vec<Vec<u8>> = (0..4u8).map(|i| [f1(0x94, 0x20 + i), f1(0xc1, 0xc2 + i)].concat()).collect();
        let mut packets = Vec::new();
        for (i, cc) in sent.iter().enumerate() {
            let mut frame = Video::new(ffmpeg::format::Pixel::YUV420P, 64, 64);
            frame.set_pts(Some(i as i64));
            set(&mut frame, cc);
            enc.send_frame(&frame).unwrap();
        }
        enc.send_eof().unwrap();
        let mut packet = ffmpeg::Packet::empty();
        while enc.receive_packet(&mut packet).is_ok() {
            let data = packet.data().unwrap();
            assert_eq!(in_access_unit(data), CaptionServices::default(), "a53cc=0 wrote captions");
            let pts = packet.pts().unwrap() as usize;
            packets.push(ffmpeg::Packet::copy(&insert_sei(data, &sent[pts])));
        }
        let mut got = Vec::new();
        let mut frame = Video::empty();
        for p in packets.iter().map(Some).chain([None]) {
            match p {
                Some(p) => dec.send_packet(p).unwrap(),
                None => dec.send_eof().unwrap(),
            }
            while dec.receive_frame(&mut frame).is_ok() {
                got.push(of(&frame).map(<[u8]>::to_vec).unwrap_or_default());
            }
        }
        assert_eq!(got, sent);
    }

    #[test]
    fn caption_bytes_move_with_a_frame_and_go() {
        let mut a = Video::new(ffmpeg::format::Pixel::YUV420P, 16, 16);
        let mut b = Video::new(ffmpeg::format::Pixel::YUV420P, 16, 16);
        set(&mut a, &f1(0x94, 0x20));
        set(&mut b, &f1(1, 1));
        copy(&a, &mut b);
        assert_eq!(of(&b), Some(&f1(0x94, 0x20)[..]));
        remove(&mut b);
        assert_eq!(of(&b), None);
    }
}
