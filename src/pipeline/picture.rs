//! Pictures shared between threads, and the fit-and-pad scaler used by renditions and
//! previews.
//!
//! A decoded or scaled frame is wrapped in `Arc<Picture>` and handed to several consumers
//! (encoder, cascaded renditions, previews) without copying pixels. Nobody writes to a
//! picture once it is shared; an encoder gets its own `AVFrame` reference with its own pts.

use std::sync::Arc;

use ffmpeg::ffi;
use ffmpeg::format::Pixel;
use ffmpeg::frame::Video;
use ffmpeg_next as ffmpeg;

/// A read-only picture. `Send + Sync` is sound because nothing mutates it after it is
/// wrapped, and libav buffers are reference counted with atomic counters.
pub struct Picture(Video);

unsafe impl Send for Picture {}
unsafe impl Sync for Picture {}

impl Picture {
    pub fn new(frame: Video) -> Arc<Self> {
        Arc::new(Picture(frame))
    }

    pub fn frame(&self) -> &Video {
        &self.0
    }

    pub fn width(&self) -> u32 {
        self.0.width()
    }

    pub fn height(&self) -> u32 {
        self.0.height()
    }

    /// A new frame referencing the same buffers (no pixel copy), for an encoder.
    pub fn reference(&self) -> Video {
        let mut out = Video::empty();
        // SAFETY: both pointers are valid AVFrames; av_frame_ref only adds buffer refs.
        let ret = unsafe { ffi::av_frame_ref(out.as_mut_ptr(), self.0.as_ptr()) };
        assert!(ret >= 0, "av_frame_ref failed: out of memory");
        out
    }

    /// The same pixels (no copy) carrying `cc_data` as their caption bytes instead.
    pub fn with_captions(&self, cc_data: &[u8]) -> Arc<Picture> {
        let mut frame = self.reference();
        super::captions::set(&mut frame, cc_data);
        Picture::new(frame)
    }
}

/// Where a picture goes inside the output frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Placement {
    pub x: u32,
    pub y: u32,
    pub width: u32,
    pub height: u32,
}

/// How a source that does not match the output size is placed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fit {
    /// Keep the source pixels 1:1 at the top-left when they fit (odd ORIGINAL sizes padded
    /// by one pixel on the right/bottom); otherwise scale to fit, centred.
    OriginalOrCentered,
    /// Scale to fit keeping the aspect ratio, centred (previews, renditions).
    Centered,
}

/// Geometry of fitting `src` (with sample aspect ratio `sar`) into `dst`; even offsets and
/// sizes so chroma planes stay aligned.
pub fn place(src_w: u32, src_h: u32, sar: (i32, i32), dst_w: u32, dst_h: u32, fit: Fit) -> Placement {
    if fit == Fit::OriginalOrCentered && src_w <= dst_w && src_h <= dst_h && dst_w - src_w <= 1 && dst_h - src_h <= 1 {
        return Placement { x: 0, y: 0, width: src_w, height: src_h };
    }
    let (sn, sd) = if sar.0 > 0 && sar.1 > 0 { (sar.0 as u64, sar.1 as u64) } else { (1, 1) };
    // display width = src_w * sn / sd; fit inside dst keeping display aspect.
    let disp_w = src_w as u64 * sn;
    let disp_h = src_h as u64 * sd;
    let (w, h) = if disp_w * dst_h as u64 >= disp_h * dst_w as u64 {
        (dst_w as u64, (dst_w as u64 * disp_h).div_ceil(disp_w))
    } else {
        ((dst_h as u64 * disp_w).div_ceil(disp_h), dst_h as u64)
    };
    let even = |v: u64, max: u32| ((v.max(2) + 1) & !1).min(max as u64) as u32;
    let (w, h) = (even(w, dst_w), even(h, dst_h));
    let x = ((dst_w - w) / 2) & !1;
    let y = ((dst_h - h) / 2) & !1;
    Placement { x, y, width: w, height: h }
}

/// Scales any decoded picture into a fixed output size and pixel format, padding with
/// black. Rebuilds its swscale context when the input geometry or format changes
/// (mid-stream resolution change) and reuses output buffers that no consumer still holds.
pub struct FitScaler {
    dst_w: u32,
    dst_h: u32,
    dst_fmt: Pixel,
    fit: Fit,
    key: Option<(u32, u32, Pixel)>,
    placement: Placement,
    sws: *mut ffi::SwsContext,
    pool: Vec<Arc<Picture>>,
}

unsafe impl Send for FitScaler {}

const POOL_SIZE: usize = 6;

impl FitScaler {
    pub fn new(dst_w: u32, dst_h: u32, dst_fmt: Pixel, fit: Fit) -> Self {
        FitScaler {
            dst_w,
            dst_h,
            dst_fmt,
            fit,
            key: None,
            placement: Placement { x: 0, y: 0, width: dst_w, height: dst_h },
            sws: std::ptr::null_mut(),
            pool: Vec::new(),
        }
    }

    /// True when `src` can be used as is (same size and format: no scaling, no copy).
    pub fn is_passthrough(&self, src: &Video) -> bool {
        src.width() == self.dst_w && src.height() == self.dst_h && same_format(src.format(), self.dst_fmt)
    }

    pub fn scale(&mut self, src: &Arc<Picture>) -> Result<Arc<Picture>, ffmpeg::Error> {
        let frame = src.frame();
        if self.is_passthrough(frame) {
            return Ok(src.clone());
        }
        let key = (frame.width(), frame.height(), frame.format());
        if self.key != Some(key) {
            self.rebuild(frame)?;
        }
        let mut out = self.take_buffer();
        {
            let dst = Arc::get_mut(&mut out).expect("pooled picture is unshared");
            let dst_frame = &mut dst.0;
            let p = self.placement;
            // SAFETY: the context was built for exactly these geometries; destination
            // pointers are offset inside the allocated planes (even offsets, 4:2:0 or 4:4:4).
            unsafe {
                let d = dst_frame.as_mut_ptr();
                let s = frame.as_ptr();
                let (cx, cy) = chroma_shift(self.dst_fmt);
                let mut planes: [*mut u8; 4] = [std::ptr::null_mut(); 4];
                for (i, plane) in planes.iter_mut().enumerate().take(3) {
                    let base = (*d).data[i];
                    if base.is_null() {
                        continue;
                    }
                    let (sx, sy) = if i == 0 { (0, 0) } else { (cx, cy) };
                    let off = (p.y >> sy) as isize * (*d).linesize[i] as isize + (p.x >> sx) as isize;
                    *plane = base.offset(off);
                }
                let ret = ffi::sws_scale(
                    self.sws,
                    (*s).data.as_ptr() as *const *const u8,
                    (*s).linesize.as_ptr(),
                    0,
                    frame.height() as i32,
                    planes.as_ptr(),
                    (*d).linesize.as_ptr(),
                );
                if ret <= 0 {
                    return Err(ffmpeg::Error::from(if ret == 0 { ffi::AVERROR_EXTERNAL } else { ret }));
                }
            }
            // The captions of the source picture go with it (a pooled buffer's old ones go).
            super::captions::copy(frame, dst_frame);
        }
        self.pool.push(out.clone());
        Ok(out)
    }

    fn rebuild(&mut self, src: &Video) -> Result<(), ffmpeg::Error> {
        let sar = src.aspect_ratio();
        let sar = if self.fit == Fit::Centered { (sar.numerator(), sar.denominator()) } else { (1, 1) };
        self.placement = place(src.width(), src.height(), sar, self.dst_w, self.dst_h, self.fit);
        self.free_context();
        // SAFETY: plain constructor; null on unsupported formats, checked below.
        self.sws = unsafe {
            ffi::sws_getContext(
                src.width() as i32,
                src.height() as i32,
                src.format().into(),
                self.placement.width as i32,
                self.placement.height as i32,
                self.dst_fmt.into(),
                ffi::SWS_BICUBIC,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                std::ptr::null(),
            )
        };
        if self.sws.is_null() {
            return Err(ffmpeg::Error::InvalidData);
        }
        self.key = Some((src.width(), src.height(), src.format()));
        // Buffers padded for the old geometry may hold stale pixels in the padding.
        self.pool.clear();
        Ok(())
    }

    fn take_buffer(&mut self) -> Arc<Picture> {
        if let Some(i) = self.pool.iter().position(|p| Arc::strong_count(p) == 1 && is_writable(&p.0)) {
            return self.pool.swap_remove(i);
        }
        if self.pool.len() >= POOL_SIZE {
            // Every pooled buffer is still in use downstream; drop the oldest reference.
            self.pool.remove(0);
        }
        let mut frame = Video::new(self.dst_fmt, self.dst_w, self.dst_h);
        fill_black(&mut frame);
        Arc::new(Picture(frame))
    }

    fn free_context(&mut self) {
        if !self.sws.is_null() {
            // SAFETY: created by sws_getContext and not used after this point.
            unsafe { ffi::sws_freeContext(self.sws) };
            self.sws = std::ptr::null_mut();
        }
    }
}

impl Drop for FitScaler {
    fn drop(&mut self) {
        self.free_context();
    }
}

fn is_writable(frame: &Video) -> bool {
    // SAFETY: valid frame pointer.
    unsafe { ffi::av_frame_is_writable(frame.as_ptr() as *mut _) > 0 }
}

fn same_format(a: Pixel, b: Pixel) -> bool {
    a == b || matches!((a, b), (Pixel::YUVJ420P, Pixel::YUV420P))
}

fn chroma_shift(fmt: Pixel) -> (u32, u32) {
    match fmt {
        Pixel::YUV420P | Pixel::YUVJ420P | Pixel::NV12 => (1, 1),
        Pixel::YUV422P | Pixel::YUVJ422P => (1, 0),
        _ => (0, 0),
    }
}

/// Black in the given planar YUV format (limited range unless it is a J format).
fn fill_black(frame: &mut Video) {
    let full_range = matches!(frame.format(), Pixel::YUVJ420P | Pixel::YUVJ422P | Pixel::YUVJ444P);
    let luma = if full_range { 0 } else { 16 };
    let planes = frame.planes();
    for i in 0..planes {
        let value = if i == 0 { luma } else { 128 };
        frame.data_mut(i).fill(value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn odd_original_is_kept_unscaled_at_top_left() {
        let p = place(1281, 721, (1, 1), 1282, 722, Fit::OriginalOrCentered);
        assert_eq!(p, Placement { x: 0, y: 0, width: 1281, height: 721 });
    }

    #[test]
    fn a_4_3_source_is_pillarboxed_in_a_16_9_preview() {
        let p = place(640, 480, (1, 1), 256, 144, Fit::Centered);
        assert_eq!(p, Placement { x: 32, y: 0, width: 192, height: 144 });
    }

    #[test]
    fn anamorphic_sources_fit_by_display_aspect() {
        // 720x576 with SAR 64:45 displays as 1024x576 (16:9).
        let p = place(720, 576, (64, 45), 256, 144, Fit::Centered);
        assert_eq!(p, Placement { x: 0, y: 0, width: 256, height: 144 });
    }

    #[test]
    fn a_portrait_change_mid_stream_is_centred_in_a_landscape_rung() {
        let p = place(720, 1280, (1, 1), 1280, 720, Fit::OriginalOrCentered);
        assert_eq!(p, Placement { x: 436, y: 0, width: 406, height: 720 });
    }
}
