pub mod cli;
pub mod events;
pub mod hls;
pub mod ladder;
pub mod logging;
pub mod pipeline;
pub mod probe;
