//! LL-HLS parts in the publisher, sans IO. Each rendition's segment grows in storage part by
//! part: every part is an append of the segment file, one append in flight per file (a newer
//! part waits and rides on the next one), and the segment's own write is the last append, so
//! a slow part can never land after the whole segment and cut it short. A part is listed
//! (DESIGN invariant 1 for parts) once its bytes are durable.

use std::collections::{BTreeMap, HashMap};

use bytes::Bytes;

use super::{Op, Retry};
use crate::hls::media::RenditionKind;
use crate::hls::parts::PartEntry;
use crate::pipeline::clock::Q;
use crate::pipeline::sink::Chunk;

/// An append for the shell to run: `body[from..]` after the `from` bytes already stored.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Append {
    pub op: Op,
    pub path: String,
    pub body: Bytes,
    pub from: usize,
    pub retry: Retry,
}

/// Where a segment stands while it grows.
#[derive(Debug)]
pub(super) struct Growing {
    /// The segment file.
    path: String,
    /// Its init segment: name (for `EXT-X-MAP`) and storage path (listed once durable).
    pub init_name: String,
    pub init_path: String,
    /// Its first picture, run time.
    pub start: Q,
    pub discontinuity: bool,
    parts: Vec<PartEntry>,
    /// The parts' bytes back to back, until the segment is complete in storage.
    data: Vec<u8>,
    /// Bytes known durable, and the length the append in flight brings it to.
    durable: usize,
    in_flight: Option<usize>,
    /// The segment's own write, waiting for the append in flight.
    segment: Option<(Op, Bytes, Retry)>,
    /// No more parts: the segment write went out.
    closed: bool,
    /// An append failed: the parts after the durable ones are not listed.
    failed: bool,
}

impl Growing {
    fn new(path: String) -> Self {
        Growing {
            path,
            init_name: String::new(),
            init_path: String::new(),
            start: Q::from_integer(0),
            discontinuity: false,
            parts: Vec::new(),
            data: Vec::new(),
            durable: 0,
            in_flight: None,
            segment: None,
            closed: false,
            failed: false,
        }
    }

    /// Whether every part of the segment is known: its last part came before it.
    pub fn closed(&self) -> bool {
        self.closed
    }

    fn is_durable(&self, p: &PartEntry) -> bool {
        p.offset + p.len <= self.durable as u64
    }

    /// The parts whose bytes are durable, in order.
    pub fn listed(&self) -> impl Iterator<Item = &PartEntry> {
        self.parts.iter().take_while(|p| self.is_durable(p))
    }

    /// Where the next part will start.
    pub fn next_offset(&self) -> u64 {
        self.listed().last().map_or(0, |p| p.offset + p.len)
    }

    /// The next append to run, if none is in flight: the segment's write once it came, else
    /// the parts not yet stored.
    fn next_append(&mut self, part_op: impl FnOnce(usize) -> Op) -> Option<Append> {
        if self.in_flight.is_some() {
            return None;
        }
        if let Some((op, body, retry)) = self.segment.take() {
            self.in_flight = Some(body.len());
            self.data = Vec::new();
            return Some(Append { op, path: self.path.clone(), body, from: self.durable, retry });
        }
        if self.closed || self.failed || self.data.len() <= self.durable {
            return None;
        }
        let len = self.data.len();
        self.in_flight = Some(len);
        let body = Bytes::copy_from_slice(&self.data);
        Some(Append {
            op: part_op(len),
            path: self.path.clone(),
            body,
            from: self.durable,
            retry: Retry::UntilDeadline,
        })
    }
}

/// Every rendition's growing and recent segments.
#[derive(Debug)]
pub(super) struct Parts {
    /// PART-TARGET, seconds.
    pub target: Q,
    tracks: HashMap<RenditionKind, BTreeMap<u64, Growing>>,
}

/// What a part brings besides its chunk: where its segment and init segment are stored.
pub(super) struct PartPlace {
    pub path: String,
    pub init_path: String,
    pub start: Q,
    pub discontinuity: bool,
}

impl Parts {
    pub fn new(target: Q) -> Self {
        Parts { target, tracks: HashMap::new() }
    }

    pub fn get(&self, kind: RenditionKind, n: u64) -> Option<&Growing> {
        self.tracks.get(&kind)?.get(&n)
    }

    /// Part `chunk.index` of segment `n`. Parts come in order; the audio rendition's come
    /// from every video rendition (the same bytes), and only the first of each is kept.
    pub fn on_part(&mut self, kind: RenditionKind, n: u64, place: PartPlace, chunk: Chunk) -> Option<Append> {
        let growing = self.tracks.entry(kind).or_default().entry(n).or_insert_with(|| Growing {
            init_name: chunk.init.0.clone(),
            init_path: place.init_path,
            start: place.start,
            discontinuity: place.discontinuity,
            ..Growing::new(place.path)
        });
        if chunk.index as usize != growing.parts.len() || growing.closed || growing.failed {
            return None;
        }
        let offset = growing.parts.last().map_or(0, |p| p.offset + p.len);
        growing.parts.push(PartEntry {
            duration: chunk.duration,
            offset,
            len: chunk.data.len() as u64,
            independent: chunk.independent,
        });
        growing.data.extend_from_slice(&chunk.data);
        growing.next_append(|len| Op::Part { kind, n, len })
    }

    /// Segment `n` is complete in memory: its write (`op`, the whole `body`) is the
    /// segment's last append, which goes out now or when the append in flight ends.
    pub fn on_segment(
        &mut self,
        kind: RenditionKind,
        n: u64,
        path: String,
        write: (Op, Bytes, Retry),
    ) -> Option<Append> {
        let growing = self.tracks.entry(kind).or_default().entry(n).or_insert_with(|| Growing::new(path));
        growing.closed = true;
        growing.segment = Some(write);
        growing.next_append(|_| unreachable!("a waiting segment goes before any part"))
    }

    /// An append of segment `n` ended (`len`: the length it stores; `ok`: durable). Returns
    /// the next append of that segment, if one waits.
    pub fn on_stored(&mut self, kind: RenditionKind, n: u64, len: usize, ok: bool) -> Option<Append> {
        let growing = self.tracks.get_mut(&kind)?.get_mut(&n)?;
        growing.in_flight = None;
        if ok {
            growing.durable = growing.durable.max(len);
        } else if !growing.failed {
            growing.failed = true;
            tracing::warn!(n, "a part could not be stored: the segment's later parts are not listed");
        }
        growing.next_append(|len| Op::Part { kind, n, len })
    }

    /// Forgets the segments of `kind` before `n` (they left the live window).
    pub fn forget_before(&mut self, kind: RenditionKind, n: u64) {
        if let Some(track) = self.tracks.get_mut(&kind) {
            *track = track.split_off(&n);
        }
    }

    /// Forgets segment `n` everywhere (its group was skipped); returns the files it grew.
    pub fn forget(&mut self, n: u64) -> Vec<String> {
        self.tracks.values_mut().filter_map(|track| track.remove(&n)).map(|g| g.path).collect()
    }
}
