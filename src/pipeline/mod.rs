//! The libav pipeline of one stream: demux and decode once, fan the pictures out to one
//! thread per rendition (cascading scaled pictures to smaller renditions), encode audio
//! once, cut keyframe-aligned segments, take previews. Blocking code on OS threads; its
//! only output is the non-blocking [`sink::Sink`].
//!
//! # Layout
//! - `config`, `error`: what a run is told, and how it fails or ends.
//! - `source` (what to read, pure), `input` (opening it), `ws_input` (the websocket bridge).
//! - `run`: one run, start to end; `demux`: the read loop; `reader`: the decoded side of it.
//! - `clock` (the reference grid, frame slots), `cuts` (where segments start), `live_edge`.
//! - `video` (scale and encode per rendition), `passthrough` (ORIGINAL copied), `audio`.
//! - `segmenter` (cuts segments; muxes MPEG-TS, or CMAF through `cmaf` and the `fmp4`
//!   boxes), `preview`, `picture`, `sink` (the way out), `stats`,
//!   `watchdog`.

pub mod audio;
pub mod clock;
mod cmaf;
mod config;
pub mod cuts;
mod demux;
mod error;
pub mod fmp4;
pub mod input;
pub mod live_edge;
pub mod passthrough;
pub mod picture;
pub mod preview;
mod reader;
mod run;
pub mod segmenter;
pub mod sink;
pub mod source;
pub mod stats;
pub mod video;
pub mod watchdog;
pub mod ws_input;

pub use config::{LadderChoice, PipelineConfig};
pub use demux::format_rate;
pub use error::{drain, EndReason, PipelineError, RunError};
pub use run::{avoid_huge_pages, cascade_parents, run};
