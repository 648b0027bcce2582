//! The pipeline's only way out: typed outputs to the publisher, never blocking the libav
//! threads. Segment bytes are accounted against a per-stream budget (HLS_UPLOAD_QUEUE_MB);
//! a segment that does not fit is dropped here and reported, so slow storage can never
//! stall decoding (DESIGN invariant 6).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::sync::mpsc::UnboundedSender;

use super::captions::CaptionServices;
use super::clock::Q;
use crate::hls::media::{RenditionKind, SegmentMedia};
use crate::ladder::Rendition;

/// One LL-HLS part of a segment, as cut.
#[derive(Debug, Clone, PartialEq)]
pub struct Chunk {
    /// Its index in the segment, from 0.
    pub index: u32,
    /// `moof` + `mdat`.
    pub data: bytes::Bytes,
    /// Exact duration, seconds. The parts of a segment add up to its EXTINF exactly.
    pub duration: Q,
    /// Starts with an IDR (a segment's first video part; every audio part).
    pub independent: bool,
    /// The init segment it needs: name and bytes.
    pub init: (String, bytes::Bytes),
}

/// What a CMAF segment of a video rendition brings besides its bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct CmafOutput {
    /// The segment's exact timing and the name of its init segment.
    pub media: SegmentMedia,
    /// That init segment's bytes (`ftyp` + `moov`), sent with every segment so the publisher
    /// can store it whichever segment reaches it first; it is stored once per name.
    pub init: bytes::Bytes,
    /// The audio rendition's segment with the same number, cut at the same boundary.
    pub audio: Option<AudioOutput>,
    /// LL-HLS: the segment's last part (the segmenter sends it as a [`MediaOutput::Part`]).
    pub last_part: Option<Chunk>,
}

/// One segment of the audio rendition (CMAF).
#[derive(Debug, Clone, PartialEq)]
pub struct AudioOutput {
    pub data: bytes::Bytes,
    pub media: SegmentMedia,
    pub init: bytes::Bytes,
    /// LL-HLS: the segment's last part, as [`CmafOutput::last_part`].
    pub last_part: Option<Chunk>,
}

#[derive(Debug)]
pub enum MediaOutput {
    /// The ladder chosen for this run, once, before any segment.
    Ladder { renditions: Vec<Rendition>, audio: bool, source: String },
    /// Segment `n` of rendition `rung` is complete in memory; `discontinuity`: it starts a
    /// new timeline in that rendition (a copied ORIGINAL encoded from now on).
    /// `cmaf`: the CMAF extras ([`CmafOutput`]), `None` in TS mode.
    Segment {
        rung: usize,
        n: u64,
        data: Vec<u8>,
        duration: Q,
        start: Q,
        codecs: String,
        discontinuity: bool,
        cmaf: Option<Box<CmafOutput>>,
    },
    /// LL-HLS: a part of segment `n` of a rendition (video rung, or the audio rendition from
    /// whichever rung cut it first), sent as soon as it is cut and before its segment.
    /// `start`: the segment's first picture, run time; `discontinuity`: as for the segment.
    Part { kind: RenditionKind, n: u64, start: Q, discontinuity: bool, chunk: Chunk },
    /// Segment `n` of `rung` was dropped because the upload queue was full.
    SegmentDropped { rung: usize, n: u64 },
    /// Rendition `rung` was shed under overload: it has no segment `n` or later.
    RenditionShed { rung: usize, n: u64 },
    /// The source carries these caption services (sent when one is first seen in a run):
    /// the masters declare them from the next group on.
    Captions(CaptionServices),
    /// Preview image `n` (global numbering), JPEG bytes.
    Preview { n: u64, jpeg: Vec<u8> },
    /// Media time reached so far in this run, for progress reporting.
    Progress { media_seconds: f64, frames: u64 },
}

/// Bytes waiting for storage, shared by the pipeline (reserve) and the publisher (release).
#[derive(Debug)]
pub struct ByteBudget {
    limit: usize,
    used: AtomicUsize,
}

impl ByteBudget {
    pub fn new(limit: usize) -> Arc<Self> {
        Arc::new(ByteBudget { limit, used: AtomicUsize::new(0) })
    }

    pub fn try_reserve(&self, n: usize) -> bool {
        let mut used = self.used.load(Ordering::Relaxed);
        loop {
            if used + n > self.limit {
                return false;
            }
            match self.used.compare_exchange_weak(used, used + n, Ordering::AcqRel, Ordering::Relaxed) {
                Ok(_) => return true,
                Err(actual) => used = actual,
            }
        }
    }

    pub fn release(&self, n: usize) {
        self.used.fetch_sub(n, Ordering::AcqRel);
    }

    pub fn used(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }
}

#[derive(Clone)]
pub struct Sink {
    tx: UnboundedSender<MediaOutput>,
    budget: Arc<ByteBudget>,
}

impl Sink {
    pub fn new(tx: UnboundedSender<MediaOutput>, budget: Arc<ByteBudget>) -> Self {
        Sink { tx, budget }
    }

    pub fn send(&self, out: MediaOutput) {
        // The publisher outlives the pipeline; if it is gone the process is ending anyway.
        let _ = self.tx.send(out);
    }

    #[allow(clippy::too_many_arguments)]
    pub fn segment(
        &self,
        rung: usize,
        n: u64,
        data: Vec<u8>,
        duration: Q,
        start: Q,
        codecs: String,
        discontinuity: bool,
        cmaf: Option<Box<CmafOutput>>,
    ) {
        if self.budget.try_reserve(data.len()) {
            self.send(MediaOutput::Segment { rung, n, data, duration, start, codecs, discontinuity, cmaf });
        } else {
            tracing::error!(rung, n, queued_bytes = self.budget.used(), "upload queue full: segment dropped");
            self.send(MediaOutput::SegmentDropped { rung, n });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_refuses_what_does_not_fit_and_frees_on_release() {
        let b = ByteBudget::new(100);
        assert!(b.try_reserve(60));
        assert!(!b.try_reserve(50));
        b.release(60);
        assert!(b.try_reserve(100));
    }
}
