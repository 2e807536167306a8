//! `restore` of streams: a Y4M video (every frame, faces tracked; `daefr restore in.y4m -o
//! out.y4m`) and `-` for standard input or output (an image or a Y4M stream). The rules of file
//! outputs hold here too: never over the input, an existing file only with `--force`, written
//! atomically (a failed or stopped run leaves nothing behind).

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context};
use daefr::atomic::{write_atomically_with, AtomicWriteError};
use daefr::capture::Y4mReader;
use daefr::image_io::{decode_rgb_with_metadata, encode_rgb, DEFAULT_MAX_PIXELS};
use daefr::photo::StageTimes;
use daefr::video::{restore_video, VideoError, VideoReport};
use image::ImageFormat;
use indicatif::{ProgressBar, ProgressStyle};

use super::{photo_options, write_options, Args};
use crate::cli::settings::Settings;

/// The magic that starts every Y4M stream.
const Y4M_MAGIC: &[u8] = b"YUV4MPEG2";

/// The name `-` gives standard input or output in messages.
const STDIN_NAME: &str = "<stdin>";

/// True when this run is a stream run: `-` on either side, or a `.y4m` input.
pub(super) fn is_stream(args: &Args) -> bool {
    is_dash(&args.input) || is_dash(&args.output) || is_y4m_name(&args.input)
}

/// True for the path `-`.
fn is_dash(path: &Path) -> bool {
    path.as_os_str() == "-"
}

/// True for a `.y4m` file name (any case).
fn is_y4m_name(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("y4m"))
}

/// Refuses what a stream run cannot do, before the models load.
pub(super) fn check(args: &Args) -> anyhow::Result<()> {
    if args.aligned {
        bail!("--aligned takes image files or folders, not `-` or a Y4M video");
    }
    if !is_dash(&args.input) && args.input.is_dir() {
        bail!(
            "{}: `-o -` takes one file, not a directory",
            args.input.display()
        );
    }
    let unsupported = [
        ("--compare", args.compare.is_some()),
        ("--json", args.json.is_some()),
        ("--save-faces", args.save_faces.is_some()),
        ("-r", args.recursive),
        ("--suffix", args.suffix.is_some()),
        ("--skip-existing", args.skip_existing),
    ];
    let named: Vec<&str> = unsupported.iter().filter(|f| f.1).map(|f| f.0).collect();
    if !named.is_empty() {
        bail!(
            "{} cannot be used with a video or `-` (standard input or output)",
            named.join(", ")
        );
    }
    if !is_dash(&args.output) {
        if args.output.is_file() {
            let same = !is_dash(&args.input)
                && same_file::is_same_file(&args.input, &args.output).unwrap_or(false);
            if same {
                bail!(
                    "{}: is the input itself; a stream cannot be restored in place",
                    args.output.display()
                );
            }
            if !args.force {
                bail!(
                    "{}: already exists; pass --force to overwrite it",
                    args.output.display()
                );
            }
        }
        if args.output.is_dir() {
            bail!(
                "{}: is a directory; give an output file",
                args.output.display()
            );
        }
    }
    Ok(())
}

/// The input as a buffered byte stream, and its name for messages.
fn open_input(args: &Args) -> anyhow::Result<(Box<dyn BufRead>, PathBuf)> {
    if is_dash(&args.input) {
        return Ok((
            Box::new(BufReader::new(std::io::stdin())),
            PathBuf::from(STDIN_NAME),
        ));
    }
    let file =
        std::fs::File::open(&args.input).with_context(|| format!("{}", args.input.display()))?;
    Ok((Box::new(BufReader::new(file)), args.input.clone()))
}

/// Runs a stream restore with resolved `settings`.
pub(super) fn run(args: &Args, settings: &Settings) -> anyhow::Result<ExitCode> {
    let (mut input, name) = open_input(args)?;
    let is_video = input
        .fill_buf()
        .with_context(|| format!("{}", name.display()))?
        .starts_with(Y4M_MAGIC);
    if is_y4m_name(&args.input) && !is_video {
        bail!("{}: not a Y4M stream (no YUV4MPEG2 header)", name.display());
    }
    if is_video {
        restore_y4m(args, settings, input, &name)
    } else {
        restore_image(args, settings, input, &name)
    }
}

/// The one face path a stream run uses (a stream is one job: one worker).
fn one_pipeline(settings: &Settings) -> anyhow::Result<daefr::photo::FacePipeline> {
    settings
        .load_pipelines(1)?
        .pop()
        .context("internal: no face path loaded")
}

/// A video: every frame through the tracked face path, into a Y4M file or standard output.
fn restore_y4m(
    args: &Args,
    settings: &Settings,
    input: Box<dyn BufRead>,
    name: &Path,
) -> anyhow::Result<ExitCode> {
    if !is_dash(&args.output) && !is_y4m_name(&args.output) {
        bail!(
            "{}: a video is written as Y4M; name the output .y4m (or `-`)",
            args.output.display()
        );
    }
    let stop = super::super::signals::StopSignals::install()?;
    let mut pipeline = one_pipeline(settings)?;
    let mut reader = Y4mReader::new(input, name)?;
    let (width, height) = reader.size();
    let bar = video_bar(args, width, height);
    let options = photo_options(args, None);
    let mut run = |out: &mut dyn Write| {
        restore_video(&mut reader, out, &mut pipeline, &options, &stop.flag, |n| {
            bar.set_position(n)
        })
    };
    let result = if is_dash(&args.output) {
        let stdout = std::io::stdout();
        let mut out = std::io::BufWriter::new(stdout.lock());
        run(&mut out).and_then(|report| {
            out.flush()
                .map_err(|e| VideoError::Write(e.into()))
                .map(|()| report)
        })
    } else {
        let mut report = None;
        write_atomically_with(&args.output, write_options(args).replace, |w| {
            report = Some(run(w)?);
            Ok(())
        })
        .map_err(|e| match e {
            AtomicWriteError::Content(e) => e,
            AtomicWriteError::Io(e) => VideoError::Write(e.into()),
        })
        .map(|()| report.unwrap_or_default())
    };
    bar.finish_and_clear();
    match result {
        Ok(report) => {
            say_video(name, &args.output, &report);
            Ok(ExitCode::SUCCESS)
        }
        Err(VideoError::Stopped { frames }) => {
            crate::say!(
                "daefr: stopped after {frames} frame(s); {} was not written",
                args.output.display()
            );
            Ok(stop.exit_code(0, 1).unwrap_or(ExitCode::FAILURE))
        }
        Err(e) => Err(anyhow::Error::new(e).context(format!("{}", name.display()))),
    }
}

/// A progress bar over the frames of a video file (a counter for standard input), hidden with
/// `-q` and when stderr is not a terminal.
fn video_bar(args: &Args, width: u32, height: u32) -> ProgressBar {
    if crate::cli::quiet() {
        return ProgressBar::hidden();
    }
    // 4:2:0 is the common case; the estimate only sizes the bar
    let frame_bytes = u64::from(width) * u64::from(height) * 3 / 2 + 6;
    let total = std::fs::metadata(&args.input)
        .ok()
        .filter(|_| !is_dash(&args.input))
        .map(|m| m.len() / frame_bytes.max(1));
    let (bar, template) = match total {
        Some(total) => (
            ProgressBar::new(total),
            "{bar:40} {pos}/~{len} frames, {elapsed} elapsed, eta {eta}",
        ),
        None => (ProgressBar::no_length(), "{pos} frames, {elapsed} elapsed"),
    };
    bar.set_style(
        ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar
}

/// The video's summary line.
fn say_video(input: &Path, output: &Path, report: &VideoReport) {
    let StageTimes {
        detect, restore, ..
    } = report.times;
    crate::note!(
        "{}: {} frame(s), {} face(s) restored in {} frame(s) (detect {:.1?}, restore {:.1?} in all) -> {}",
        input.display(),
        report.frames,
        report.faces,
        report.frames_with_faces,
        detect,
        restore,
        output.display()
    );
}

/// An image from a file or standard input, to a file or standard output (in the input's format).
fn restore_image(
    args: &Args,
    settings: &Settings,
    mut input: Box<dyn BufRead>,
    name: &Path,
) -> anyhow::Result<ExitCode> {
    let mut bytes = Vec::new();
    input
        .read_to_end(&mut bytes)
        .with_context(|| format!("{}", name.display()))?;
    let (photo, metadata) = decode_rgb_with_metadata(&bytes, name, DEFAULT_MAX_PIXELS)?;
    let mut pipeline = one_pipeline(settings)?;
    let result = pipeline
        .run(&photo, &photo_options(args, None))
        .with_context(|| format!("{}", name.display()))?;
    if is_dash(&args.output) {
        let format = image::guess_format(&bytes).unwrap_or(ImageFormat::Png);
        let encoded = encode_rgb(&result.image, format, args.jpeg_quality)?;
        let mut out = std::io::stdout().lock();
        out.write_all(&encoded)
            .and_then(|()| out.flush())
            .context("cannot write to standard output")?;
    } else {
        super::write_photo(&args.output, &result.image, args, &metadata)?;
    }
    crate::note!(
        "{}: {} face(s) found, {} restored -> {}",
        name.display(),
        result.faces.len(),
        result.restored(),
        args.output.display()
    );
    Ok(ExitCode::SUCCESS)
}
