//! # hls-ladder
//!
//! A live transcoding worker: pulls one RTMP stream per job, decodes it once and publishes
//! a keyframe-aligned HLS ladder (live, recording and master playlists, JPEG previews) to
//! storage, announcing each index only once it is durable.
//!
//! # Layout
//! - `cli`        command line: `worker`, `transcode`, `probe`, env-compatible flags
//! - `worker`     production mode: configuration, signals, session + supervisor wiring
//! - `control`    coordinator link: framing, messages, JWT, backoff, websocket session
//! - `transcode`  the single-stream command: pipeline thread + publisher, events out
//! - `probe`      source streams and the ladder the fitting algorithm picks
//! - `ladder`     resolution grammar, ladder fitting, profiles (pure)
//! - `pipeline`   libav: input, clock, video renditions, audio, segmenter, previews
//! - `publisher`  uploads, in-order group publication, playlist writes, announcements
//! - `hls`        playlist texts and the stream's publication state machine (pure)
//! - `storage`    filesystem / HTTP / S3 / Azure backends, retries, path validation
//! - `supervisor` job table (sans-IO), child processes, restart hand-over, stall detection
//! - `events`     the JSON-lines event schema between a transcode and its supervisor
//! - `logging`    tracing setup

pub mod cli;
pub mod control;
pub mod events;
pub mod hls;
pub mod ladder;
pub mod logging;
pub mod pipeline;
pub mod probe;
pub mod publisher;
pub mod storage;
pub mod supervisor;
pub mod transcode;
pub mod worker;
