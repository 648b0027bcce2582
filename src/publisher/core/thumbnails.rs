//! The thumbnail track (`thumbnails.vtt`, output-layout §11) beside `index.json`. It is
//! rewritten whenever the durable preview count grows, and `index.json` follows it: each index
//! is written with the count of the track that has just become durable. So the track lists
//! every image the index counts before the index (and its announcement) says so, through any
//! interleaving of storage answers (`invariants.rs` checks it).

use super::{Action, Announcement, PublisherCore, StreamType};
use crate::hls::preview::{index_json, thumbnails_vtt, THUMBNAILS_VTT};

/// The preview counts the track's writes list. They mirror the track path's write slot: one
/// write in flight, and the newest content waiting for it (latest wins).
#[derive(Debug, Default)]
pub(super) struct TrackWrites {
    in_flight: Option<u64>,
    pending: Option<u64>,
    /// The count of the newest `index.json` handed to storage (the previous runs' at start).
    indexed: u64,
}

impl TrackWrites {
    pub(super) fn resuming(indexed: u64) -> TrackWrites {
        TrackWrites { indexed, ..TrackWrites::default() }
    }
}

impl PublisherCore {
    /// The durable preview count grew: the track lists the new images.
    pub(super) fn grow_thumbnail_track(&mut self, out: &mut Vec<Action>) {
        let Some(spec) = self.settings.previews else { return };
        let count = self.preview_count;
        let track = &mut self.thumbnails;
        if track.in_flight.is_some() {
            track.pending = Some(count);
        } else {
            track.in_flight = Some(count);
        }
        let path = self.preview_path(THUMBNAILS_VTT);
        self.submit_write(path, thumbnails_vtt(count, spec.interval), None, out);
    }

    pub(super) fn is_thumbnail_track(&self, path: &str) -> bool {
        self.settings.previews.is_some() && path.ends_with(THUMBNAILS_VTT) && path == self.preview_path(THUMBNAILS_VTT)
    }

    /// A put of the track came back; called before its write slot sends the waiting content.
    pub(super) fn on_thumbnail_track_stored(&mut self, ok: bool, out: &mut Vec<Action>) {
        let stored = self.thumbnails.in_flight.take();
        self.thumbnails.in_flight = self.thumbnails.pending.take();
        match stored {
            Some(count) if ok => self.write_preview_index(count, out),
            Some(count) => {
                tracing::warn!(count, "thumbnails.vtt could not be stored: index.json waits for the next track write")
            }
            None => {}
        }
    }

    /// `index.json` with `count` images, announced with its first write (output-layout §12).
    fn write_preview_index(&mut self, count: u64, out: &mut Vec<Action>) {
        let Some(spec) = self.settings.previews else { return };
        if count <= self.thumbnails.indexed {
            return;
        }
        self.thumbnails.indexed = count;
        let path = self.preview_path("index.json");
        let announce = (!self.preview_announced).then(|| Announcement {
            stream_type: StreamType::ImgPreview,
            resolution: spec.label(),
            index_file: path.clone(),
            start_time: None,
        });
        self.preview_announced = true;
        self.submit_write(path, index_json(count), announce, out);
    }
}
