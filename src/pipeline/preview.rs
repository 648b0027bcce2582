//! Preview images: the decoded source frame at each multiple of D seconds, fitted into
//! W x H with black padding, encoded as baseline 4:2:0 JPEG by libav's mjpeg encoder.

use std::sync::mpsc::Receiver;
use std::sync::Arc;

use ffmpeg::format::Pixel;
use ffmpeg::{codec, Packet, Rational};
use ffmpeg_next as ffmpeg;

use super::picture::{Fit, FitScaler, Picture};
use super::sink::{MediaOutput, Sink};
use super::{drain, PipelineError};

/// `{W}x{H},{D}`: image size and interval in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PreviewSpec {
    pub width: u32,
    pub height: u32,
    pub interval: u32,
}

impl PreviewSpec {
    /// Strict `WxH,D`: digits only (no sign), W and H in 1..=8192, D >= 1.
    pub fn parse(s: &str) -> Option<PreviewSpec> {
        let (size, interval) = s.split_once(',')?;
        let (w, h) = size.split_once('x')?;
        let number = |s: &str| -> Option<u32> {
            let s = s.trim();
            if s.is_empty() || s.len() > 9 || !s.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            s.parse().ok()
        };
        let spec = PreviewSpec { width: number(w)?, height: number(h)?, interval: number(interval)? };
        let side = 1..=8192;
        (side.contains(&spec.width) && side.contains(&spec.height) && spec.interval >= 1).then_some(spec)
    }

    /// Directory name and Resolution parameter: `{W}x{H}-{D}`.
    pub fn label(&self) -> String {
        format!("{}x{}-{}", self.width, self.height, self.interval)
    }
}

/// JPEG quality as an mjpeg qscale: 3 is close to libjpeg quality 80 for typical frames.
const JPEG_QSCALE: i32 = 3;

pub fn run(spec: PreviewSpec, input: Receiver<(u64, Arc<Picture>)>, sink: Sink) -> Result<(), PipelineError> {
    let (w, h) = (spec.width, spec.height);
    let mut scaler = FitScaler::new(w, h, Pixel::YUVJ420P, Fit::Centered);
    let mut encoder = open_encoder(w, h).map_err(|e| PipelineError::Preview { reason: e.to_string() })?;
    while let Ok((n, picture)) = input.recv() {
        let scaled = scaler.scale(&picture).map_err(|e| PipelineError::Preview { reason: e.to_string() })?;
        let mut frame = scaled.reference();
        frame.set_pts(Some(n as i64));
        let jpeg = encode(&mut encoder, &mut frame).map_err(|e| PipelineError::Preview { reason: e.to_string() })?;
        sink.send(MediaOutput::Preview { n, jpeg });
    }
    Ok(())
}

fn open_encoder(w: u32, h: u32) -> Result<ffmpeg::encoder::Video, ffmpeg::Error> {
    let codec = ffmpeg::encoder::find(codec::Id::MJPEG).ok_or(ffmpeg::Error::EncoderNotFound)?;
    let mut enc = codec::context::Context::new_with_codec(codec).encoder().video()?;
    enc.set_width(w);
    enc.set_height(h);
    enc.set_format(Pixel::YUVJ420P);
    enc.set_time_base(Rational::new(1, 1));
    enc.set_flags(codec::Flags::QSCALE);
    enc.set_global_quality(JPEG_QSCALE * ffmpeg::ffi::FF_QP2LAMBDA);
    enc.set_qmin(JPEG_QSCALE);
    enc.set_qmax(JPEG_QSCALE);
    enc.open_with(ffmpeg::Dictionary::new())
}

fn encode(encoder: &mut ffmpeg::encoder::Video, frame: &mut ffmpeg::frame::Video) -> Result<Vec<u8>, ffmpeg::Error> {
    // SAFETY: plain field write; quality drives mjpeg's quantiser per frame with QSCALE.
    unsafe { (*frame.as_mut_ptr()).quality = JPEG_QSCALE * ffmpeg::ffi::FF_QP2LAMBDA };
    encoder.send_frame(frame)?;
    let mut packet = Packet::empty();
    let mut jpeg = Vec::new();
    while drain(encoder.receive_packet(&mut packet))? {
        jpeg.extend_from_slice(packet.data().unwrap_or(&[]));
    }
    Ok(jpeg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preview_spec_parses_the_coordinator_format() {
        assert_eq!(PreviewSpec::parse("256x144,5"), Some(PreviewSpec { width: 256, height: 144, interval: 5 }));
        assert_eq!(PreviewSpec::parse(" 256x144 , 1 "), Some(PreviewSpec { width: 256, height: 144, interval: 1 }));
        assert_eq!(PreviewSpec::parse("False"), None);
        assert_eq!(PreviewSpec::parse("256x144,0"), None);
        assert_eq!(PreviewSpec::parse("0x144,5"), None);
        assert_eq!(PreviewSpec::parse("9000x144,5"), None);
        assert_eq!(PreviewSpec::parse("256x144"), None);
        assert_eq!(PreviewSpec::parse("256x144,+5"), None);
        assert_eq!(PreviewSpec::parse("256x144,5").unwrap().label(), "256x144-5");
    }
}
