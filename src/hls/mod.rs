//! HLS output of one stream as pure values: playlist texts, paths to write and delete, and the
//! announcements they unlock (output-layout §6–§10, §12). No IO, no clock: the caller stores
//! what comes out and passes wall-clock times in.
//!
//! # Layout
//! - `paths`: where each file of a stream goes.
//! - `media`: the segment format, and a CMAF segment's exact timing and init segment.
//! - `entry`: one segment as a media playlist lists it, and exact duration sums.
//! - `format`: decimal, duration and date formats shared by every playlist.
//! - `live`: the sliding `live.m3u8` of one rendition.
//! - `parts`: its Low-Latency HLS lines (parts as byte ranges, preload hint, reports).
//! - `vod`: one append-only recording part `vod-{K}.m3u8` of one rendition.
//! - `master`: `master.m3u8` / `master-vod-{K}.m3u8` and the bandwidth figures behind them.
//! - `dash`: `master.mpd` / `master-vod-{K}.mpd`, DASH manifests over the same CMAF files.
//! - `state`: the stream's publication state machine, which ties the above together.

pub mod dash;
mod entry;
pub mod format;
pub mod live;
pub mod master;
pub mod media;
pub mod parts;
mod paths;
pub mod preview;
pub mod state;
pub mod vod;

pub use live::LivePlaylist;
pub use state::{
    Announcement, FileWrite, GroupRecord, Publication, PublishError, RenditionDesc, RenditionSegment, StreamConfig,
    StreamState, StreamType,
};
pub use vod::VodPart;

pub use entry::PlaylistEntry;
pub use media::{RenditionKind, SegmentFormat, SegmentMedia};
pub use paths::{
    live_path, master_path, master_vod_path, media_segment_path, rendition_file_path, segment_path, stream_dir,
    vod_path,
};
