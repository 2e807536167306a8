//! `daefr bench --select`: which restorer model and which split of this board's cores into restore
//! workers x matrix threads restores the most faces per second, measured here; with `--write` the
//! winner goes into the profile (a kiosk can tune itself on first boot).
//!
//! Each configuration loads its workers' plans, warms each up once, then every worker restores a
//! face crop in a loop on its own thread for `--seconds`; faces/s counts them all. The live loop
//! also needs CPU for capture, detection and display, so a split that leaves a core free can win
//! there even when it loses here by a little: the table shows every split for that reason.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::Context;
use daefr::config::edit::{write_model_choice, ModelChoice};
use daefr::model::{LoadOptions, Restorer};
use image::{Rgb, RgbImage};

/// Most restore workers a profile allows (`model.restore_workers`).
const MAX_WORKERS: usize = 4;

/// Every (workers, threads) split of `cores` with `workers * threads <= cores`, at most
/// [`MAX_WORKERS`] workers, most cores used first.
pub fn splits(cores: usize) -> Vec<(usize, usize)> {
    let cores = cores.max(1);
    let mut out: Vec<(usize, usize)> = (1..=cores.min(MAX_WORKERS))
        .flat_map(|workers| (1..=cores / workers).map(move |threads| (workers, threads)))
        .collect();
    out.sort_by_key(|&(w, t)| (std::cmp::Reverse(w * t), w));
    out
}

/// One measured configuration.
#[derive(Debug, Clone)]
pub struct Measured {
    /// The restorer model.
    pub model: PathBuf,
    /// Restore workers, each with its own run state over the shared plan.
    pub workers: usize,
    /// Matrix threads per plan.
    pub threads: usize,
    /// Faces restored per second by all workers together.
    pub faces_per_s: f64,
    /// Mean time of one face on one worker.
    pub ms_per_face: f64,
    /// Time to load the workers' plans (in parallel).
    pub load_s: f64,
}

/// Loads `model` with `threads` threads per plan, makes `workers` restorers over that plan (as
/// `restore` and `run` do) and restores for `seconds`.
fn measure(
    model: &Path,
    base: &LoadOptions,
    workers: usize,
    threads: usize,
    seconds: f64,
) -> anyhow::Result<Measured> {
    let options = LoadOptions {
        threads: Some(threads),
        ..base.clone()
    };
    let start = Instant::now();
    let restorers = Restorer::load(model, &options)?.with_others(workers);
    let load_s = start.elapsed().as_secs_f64();
    let size = restorers[0].input_size();
    let face = RgbImage::from_fn(size, size, |x, y| {
        Rgb([(x * 255 / size) as u8, (y * 255 / size) as u8, 128])
    });
    for restorer in &restorers {
        restorer.restore(&face)?; // warm-up
    }
    let faces = AtomicU64::new(0);
    let busy_ns = AtomicU64::new(0);
    let failed = AtomicBool::new(false);
    let first_error: Mutex<Option<daefr::Error>> = Mutex::new(None);
    let duration = Duration::from_secs_f64(seconds);
    let start = Instant::now();
    std::thread::scope(|scope| {
        for restorer in &restorers {
            let (faces, busy_ns, failed, face) = (&faces, &busy_ns, &failed, &face);
            let first_error = &first_error;
            scope.spawn(move || {
                while start.elapsed() < duration && !failed.load(Ordering::Relaxed) {
                    let t0 = Instant::now();
                    if let Err(e) = restorer.restore(face) {
                        failed.store(true, Ordering::Relaxed);
                        if let Ok(mut slot) = first_error.lock() {
                            slot.get_or_insert(e);
                        }
                        return;
                    }
                    busy_ns.fetch_add(t0.elapsed().as_nanos() as u64, Ordering::Relaxed);
                    faces.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
    });
    // The first worker's failure, with its own message (the model file it concerns).
    if let Some(e) = first_error.into_inner().ok().flatten() {
        return Err(e.into());
    }
    let elapsed = start.elapsed().as_secs_f64();
    let faces = faces.load(Ordering::Relaxed).max(1);
    Ok(Measured {
        model: model.to_path_buf(),
        workers,
        threads,
        faces_per_s: faces as f64 / elapsed,
        ms_per_face: busy_ns.load(Ordering::Relaxed) as f64 / 1e6 / faces as f64,
        load_s,
    })
}

/// Measures every candidate model at every split of `cores`, printing a row as each finishes,
/// and returns the rows, best faces/s first.
pub fn select(
    models: &[PathBuf],
    base: &LoadOptions,
    cores: usize,
    seconds: f64,
) -> anyhow::Result<Vec<Measured>> {
    let splits = splits(cores);
    println!(
        "selecting among {} model(s) x {} split(s) of {cores} core(s), {seconds} s each",
        models.len(),
        splits.len()
    );
    println!(
        "{:<44} {:>7} {:>7} {:>9} {:>11} {:>8}",
        "model", "workers", "threads", "faces/s", "ms/face", "load s"
    );
    let mut rows = Vec::new();
    for model in models {
        for &(workers, threads) in &splits {
            let row = measure(model, base, workers, threads, seconds).with_context(|| {
                format!(
                    "{}: {workers} worker(s) x {threads} thread(s)",
                    model.display()
                )
            })?;
            println!(
                "{:<44} {:>7} {:>7} {:>9.2} {:>11.1} {:>8.2}",
                shorten(&row.model),
                row.workers,
                row.threads,
                row.faces_per_s,
                row.ms_per_face,
                row.load_s
            );
            rows.push(row);
        }
    }
    rows.sort_by(|a, b| b.faces_per_s.total_cmp(&a.faces_per_s));
    Ok(rows)
}

/// The file name, or the path when it is short enough.
fn shorten(path: &Path) -> String {
    let text = path.display().to_string();
    if text.len() <= 44 {
        return text;
    }
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or(text)
}

/// Prints the winner and, when `write_to` names a profile, writes it there. `resolved` is the
/// model the profile already resolves to: the profile's `model.restorer` only changes when another
/// candidate won.
pub fn report_and_write(
    rows: &[Measured],
    resolved: &Path,
    write_to: Option<&Path>,
) -> anyhow::Result<()> {
    let best = rows.first().context("nothing was measured")?;
    println!(
        "best: {} with {} worker(s) x {} thread(s): {:.2} faces/s",
        best.model.display(),
        best.workers,
        best.threads,
        best.faces_per_s
    );
    let Some(profile) = write_to else {
        println!("(pass --write to store it in the profile)");
        return Ok(());
    };
    let choice = ModelChoice {
        restorer: (best.model != resolved).then(|| best.model.clone()),
        threads: best.threads as u32,
        restore_workers: best.workers as u32,
    };
    write_model_choice(profile, &choice)?;
    println!(
        "wrote model.threads = {}, model.restore_workers = {}{} into {}",
        choice.threads,
        choice.restore_workers,
        choice
            .restorer
            .as_ref()
            .map(|r| format!(", model.restorer = {:?}", r.display().to_string()))
            .unwrap_or_default(),
        profile.display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_never_oversubscribe_and_list_the_fullest_first() {
        assert_eq!(splits(1), vec![(1, 1)]);
        assert_eq!(splits(2), vec![(1, 2), (2, 1), (1, 1)]);
        let four = splits(4);
        assert_eq!(four.len(), 8);
        assert_eq!(four[..3], [(1, 4), (2, 2), (4, 1)]);
        let six = splits(6);
        assert!(six.iter().all(|&(w, t)| w * t <= 6 && w <= MAX_WORKERS));
        assert!(six.contains(&(3, 2)) && !six.contains(&(6, 1)));
    }
}
