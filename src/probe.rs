//! `hls-ladder probe`: what is in a source and which ladder it would get.

use std::process::ExitCode;

use anyhow::Context as _;
use clap::Args;
use ffmpeg_next as ffmpeg;
use serde::Serialize;

use crate::ladder::{self, Profile, Rendition, SourceVideo};
use crate::pipeline::input;
use crate::pipeline::source::Source;
use crate::pipeline::watchdog::Watchdog;
use crate::pipeline::{format_rate, PipelineError};

#[derive(Debug, Args)]
pub struct ProbeArgs {
    /// rtmp:// URL, media file, or `testsrc`.
    pub input: String,
    /// Requested renditions (default: the default profile's ladder).
    #[arg(long)]
    pub resolutions: Option<String>,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Give up when the source says nothing for this long, seconds.
    #[arg(long, default_value_t = 30)]
    pub source_timeout: u64,
}

#[derive(Debug, Serialize)]
struct StreamInfo {
    index: usize,
    kind: String,
    codec: String,
    detail: String,
}

#[derive(Debug, Serialize)]
struct ProbeReport {
    source: String,
    streams: Vec<StreamInfo>,
    ladder: Vec<Rendition>,
}

pub fn run(args: ProbeArgs) -> anyhow::Result<ExitCode> {
    ffmpeg::init().context("initialising FFmpeg")?;
    crate::logging::set_libav_verbosity(false);
    let source = Source::parse(&args.input, &Default::default());
    let dog = Watchdog::new(std::time::Duration::from_secs(args.source_timeout.max(1)), Default::default());
    let input = input::open(&source, &dog)?.input;
    let mut streams = Vec::new();
    let mut video = None;
    for stream in input.streams() {
        let params = stream.parameters();
        let ctx = ffmpeg::codec::context::Context::from_parameters(params)?;
        let kind = format!("{:?}", ctx.medium()).to_lowercase();
        let codec = ctx.id().name().to_string();
        let detail = match ctx.medium() {
            ffmpeg::media::Type::Video => {
                let dec = ctx.decoder().video()?;
                let avg = stream.avg_frame_rate();
                let sv = SourceVideo {
                    width: dec.width() as i64,
                    height: dec.height() as i64,
                    avg_rate: (avg.numerator() > 0 && avg.denominator() > 0)
                        .then(|| ladder::Rate::new(avg.numerator() as i64, avg.denominator() as i64)),
                    base_rate: {
                        let r = stream.rate();
                        (r.numerator() > 0 && r.denominator() > 0)
                            .then(|| ladder::Rate::new(r.numerator() as i64, r.denominator() as i64))
                    },
                };
                let d = format!("{}x{} @ {} fps, {:?}", dec.width(), dec.height(), format_rate(sv.r0()), dec.format());
                video.get_or_insert(sv);
                d
            }
            ffmpeg::media::Type::Audio => {
                let dec = ctx.decoder().audio()?;
                format!("{} Hz, {} channels, {:?}", dec.rate(), dec.channels(), dec.format())
            }
            _ => String::new(),
        };
        streams.push(StreamInfo { index: stream.index(), kind, codec, detail });
    }
    let video = video.ok_or_else(|| PipelineError::NoVideo { source_url: source.redacted() })?;
    let ladder = match &args.resolutions {
        Some(list) => {
            let (items, errors) = ladder::parse_list(list);
            for e in errors {
                eprintln!("warning: dropped: {e}");
            }
            ladder::fit_ladder(&video, &items)
        }
        None => Profile::default_builtin().fit(&video),
    };
    let report = ProbeReport { source: source.redacted(), streams, ladder };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_table(&report);
    }
    Ok(ExitCode::SUCCESS)
}

fn print_table(r: &ProbeReport) {
    println!("source: {}", r.source);
    println!("\n{:<6} {:<7} {:<10} detail", "index", "kind", "codec");
    for s in &r.streams {
        println!("{:<6} {:<7} {:<10} {}", s.index, s.kind, s.codec, s.detail);
    }
    println!("\n{:<22} {:<12} {:<10} {:<10} original", "rendition", "encoded", "fps", "max kbps");
    for x in &r.ladder {
        let fps = crate::pipeline::clock::to_f64(x.rate);
        let cap = x.max_kbps.map_or("crf 23".to_string(), |k| k.to_string());
        println!(
            "{:<22} {:<12} {:<10.3} {:<10} {}",
            x.label,
            format!("{}x{}", x.encoded_width, x.encoded_height),
            fps,
            cap,
            if x.original { "yes" } else { "" }
        );
    }
}
