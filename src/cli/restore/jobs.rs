//! Which files a `restore` run reads and writes: the folder listing (`-r` for subfolders), the
//! output names (`--suffix`), the `--compare` and `--save-faces` places of each photo, and the
//! refusals, before any work, of whatever would overwrite a file.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use daefr::image_io::has_image_extension;

use super::Args;

/// One file to restore and every file its restoration writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Job {
    /// The photo or crop read.
    pub input: PathBuf,
    /// Where its restoration goes.
    pub output: PathBuf,
    /// Where its side-by-side (input | restored) goes, with `--compare`.
    pub compare: Option<PathBuf>,
    /// The folder of its aligned and restored crops, with `--save-faces`.
    pub crops: Option<PathBuf>,
}

/// The files to restore: the one file, or every image in a directory input (with `-r` in its
/// subfolders too), sorted by path, each written under `-o` at its relative path (named with
/// `--suffix`). With a suffix and `-o` the input directory itself, inputs that already end in the
/// suffix are earlier outputs and are left out (said once).
pub(super) fn list_jobs(args: &Args) -> anyhow::Result<Vec<Job>> {
    let compare_at = |name: &Path| args.compare.as_ref().map(|dir| dir.join(name));
    if !args.input.is_dir() {
        let name = PathBuf::from(args.output.file_name().unwrap_or_default());
        let job = Job {
            input: args.input.clone(),
            output: args.output.clone(),
            compare: compare_at(&name),
            crops: args.save_faces.clone(),
        };
        return Ok(vec![job]);
    }
    let excluded: Vec<&Path> = [
        Some(&args.output),
        args.compare.as_ref(),
        args.save_faces.as_ref(),
    ]
    .into_iter()
    .flatten()
    .map(PathBuf::as_path)
    .collect();
    let suffix = args.suffix.as_deref().filter(|s| !s.is_empty());
    let beside_inputs = suffix.is_some() && same_dir(&args.input, &args.output);
    let mut earlier = 0usize;
    let mut jobs = Vec::new();
    for input in list_images(&args.input, args.recursive, &excluded)? {
        let relative = input
            .strip_prefix(&args.input)
            .map(Path::to_path_buf)
            .unwrap_or_else(|_| PathBuf::from(input.file_name().unwrap_or_default()));
        if let (true, Some(suffix)) = (beside_inputs, suffix) {
            let stem = relative.file_stem().unwrap_or_default().to_string_lossy();
            if stem.ends_with(suffix) {
                earlier += 1;
                continue;
            }
        }
        let name = output_name(&relative, suffix);
        jobs.push(Job {
            output: args.output.join(&name),
            compare: compare_at(&name),
            crops: None,
            input,
        });
    }
    if earlier > 0 {
        crate::note!(
            "{earlier} input(s) already end in --suffix {}: left out as earlier outputs",
            suffix.unwrap_or_default()
        );
    }
    assign_crop_dirs(args, &mut jobs);
    Ok(jobs)
}

/// `relative` with `suffix` added to its stem (`a/b.jpg` + `_restored` = `a/b_restored.jpg`).
pub(super) fn output_name(relative: &Path, suffix: Option<&str>) -> PathBuf {
    let Some(suffix) = suffix else {
        return relative.to_path_buf();
    };
    let mut name: OsString = relative.file_stem().unwrap_or_default().to_owned();
    name.push(suffix);
    if let Some(ext) = relative.extension() {
        name.push(".");
        name.push(ext);
    }
    relative.with_file_name(name)
}

/// True when `a` and `b` are one existing directory (symlinks and `./` resolved).
fn same_dir(a: &Path, b: &Path) -> bool {
    same_file::is_same_file(a, b).unwrap_or(false)
}

/// The `--save-faces` folder of each photo of a directory run: `DIR/REL/STEM` (`REL` its subfolder
/// with `-r`), or `DIR/REL/NAME` (the whole file name) for photos that share a stem (`a.png` and
/// `a.jpg`), so that no two photos write into one folder. One photo alone writes into `DIR`.
fn assign_crop_dirs(args: &Args, jobs: &mut [Job]) {
    let Some(dir) = &args.save_faces else {
        return;
    };
    if jobs.len() == 1 {
        jobs[0].crops = Some(dir.clone());
        return;
    }
    let relative = |job: &Job| {
        job.input
            .strip_prefix(&args.input)
            .map(Path::to_path_buf)
            .unwrap_or_else(|_| PathBuf::from(job.input.file_name().unwrap_or_default()))
    };
    let mut per_stem = std::collections::HashMap::new();
    for job in jobs.iter() {
        *per_stem
            .entry(relative(job).with_extension(""))
            .or_insert(0usize) += 1;
    }
    for job in jobs.iter_mut() {
        let rel = relative(job);
        let stem = rel.with_extension("");
        let name = if per_stem[&stem] > 1 { rel } else { stem };
        job.crops = Some(dir.join(name));
    }
}

/// Why writing `output` needs a flag: it is `input` itself (`--in-place`), or another existing
/// file (`--force`). `None`: it may be written.
fn overwrite_refusal(input: &Path, output: &Path, args: &Args) -> Option<&'static str> {
    if !output.is_file() {
        return None;
    }
    if same_file::is_same_file(input, output).unwrap_or(false) {
        (!args.in_place).then_some("is the input itself; pass --in-place to replace it")
    } else {
        (!args.force).then_some("already exists; pass --force to overwrite it")
    }
}

/// With `--skip-existing`: `jobs` less those whose output exists, and how many were left out.
pub(super) fn leave_out_existing(args: &Args, jobs: Vec<Job>) -> (Vec<Job>, usize) {
    if !args.skip_existing {
        return (jobs, 0);
    }
    let before = jobs.len();
    let kept: Vec<Job> = jobs.into_iter().filter(|j| !j.output.exists()).collect();
    let left_out = before - kept.len();
    (kept, left_out)
}

/// Refuses, before any work, to overwrite an input unless `--in-place` or an existing output or
/// side-by-side unless `--force` (symlinks and `./` spellings are resolved: same file, same
/// answer).
pub(super) fn check_overwrites(args: &Args, jobs: &[Job]) -> anyhow::Result<()> {
    let dir = args.input.is_dir();
    let suffixed = args.suffix.as_deref().is_some_and(|s| !s.is_empty());
    if dir && !args.in_place && !suffixed && same_dir(&args.input, &args.output) {
        bail!(
            "{}: the output directory is the input directory; pass --suffix to write beside the originals, or --in-place to replace them",
            args.output.display()
        );
    }
    if let Some(compare) = &args.compare {
        if dir && same_dir(&args.input, compare) {
            bail!(
                "{}: --compare into the input directory would mix side-by-sides with the photos; choose another folder",
                compare.display()
            );
        }
    }
    let refused: Vec<(&PathBuf, &str)> = jobs
        .iter()
        .flat_map(|job| {
            let output =
                overwrite_refusal(&job.input, &job.output, args).map(|why| (&job.output, why));
            let compare = job.compare.as_ref().and_then(|c| {
                overwrite_refusal(&job.input, c, args).map(|why| {
                    let why = if why.starts_with("is the input") {
                        "is an input photo; choose another --compare folder"
                    } else {
                        why
                    };
                    (c, why)
                })
            });
            output.into_iter().chain(compare)
        })
        .collect();
    match refused.first() {
        None => Ok(()),
        Some((output, why)) if refused.len() == 1 => bail!("{}: {why}", output.display()),
        Some((first, why)) => bail!(
            "{} of the outputs would overwrite a file ({}: {why})",
            refused.len(),
            first.display()
        ),
    }
}

/// True for a file name `--save-faces` writes (`face-NN-aligned.png`, `face-NN-restored.png`).
fn is_crop_name(name: &std::ffi::OsStr) -> bool {
    let name = name.to_string_lossy();
    name.starts_with("face-") && (name.ends_with("-aligned.png") || name.ends_with("-restored.png"))
}

/// Refuses, before any work, a `--save-faces` folder that holds a photo being restored under a
/// crop's name (never replaced, not even with `--force`) or crops of an earlier run (replaced only
/// with `--force`).
pub(super) fn check_save_faces(args: &Args, jobs: &[Job]) -> anyhow::Result<()> {
    for job in jobs {
        let Some(dir) = &job.crops else { continue };
        let in_dir = job.input.parent().is_some_and(|parent| {
            let parent = if parent.as_os_str().is_empty() {
                Path::new(".")
            } else {
                parent
            };
            same_dir(parent, dir)
        });
        if in_dir && job.input.file_name().is_some_and(is_crop_name) {
            bail!(
                "{}: --save-faces {} would write its crops over this input photo; choose another folder",
                job.input.display(),
                dir.display()
            );
        }
        let Ok(entries) = std::fs::read_dir(dir) else {
            continue;
        };
        let old = entries
            .filter_map(|e| e.ok())
            .find(|e| is_crop_name(&e.file_name()));
        if let (Some(old), false) = (old, args.force) {
            bail!(
                "{}: --save-faces would overwrite the crops of an earlier run; pass --force to overwrite them",
                old.path().display()
            );
        }
    }
    Ok(())
}

/// Image files inside `dir` (with `recursive`, in its subfolders too, except the `excluded`
/// folders and links to folders), sorted by path. An entry named like an image that is not a
/// readable file (a dangling or looping link, a folder, a device) is skipped with a warning, as
/// is a subfolder that cannot be read.
pub(super) fn list_images(
    dir: &Path,
    recursive: bool,
    excluded: &[&Path],
) -> anyhow::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    let mut skipped = Vec::new();
    let entries = std::fs::read_dir(dir).with_context(|| format!("{}", dir.display()))?;
    let mut folders = vec![entries];
    while let Some(entries) = folders.pop() {
        for entry in entries {
            let entry = match entry {
                Ok(entry) => entry,
                Err(e) => {
                    log::warn!("{}: {e}; some entries skipped", dir.display());
                    continue;
                }
            };
            let path = entry.path();
            // `file_type` does not follow links: a link to a folder is not descended into.
            if recursive && entry.file_type().is_ok_and(|t| t.is_dir()) {
                if excluded.iter().any(|x| same_dir(&path, x)) {
                    log::info!(
                        "{}: an output folder of this run; not searched",
                        path.display()
                    );
                } else {
                    match std::fs::read_dir(&path) {
                        Ok(sub) => folders.push(sub),
                        Err(e) => log::warn!("{}: {e}; folder skipped", path.display()),
                    }
                }
                continue;
            }
            if !has_image_extension(&path) {
                continue;
            }
            if path.is_file() {
                files.push(path);
            } else {
                skipped.push(path);
            }
        }
    }
    skipped.sort();
    for path in &skipped {
        let why = if path.is_symlink() && !path.exists() {
            "a symbolic link that leads nowhere (dangling, or a loop)"
        } else {
            "not a regular file"
        };
        log::warn!("{}: {why}; skipped", path.display());
    }
    files.sort();
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_suffix_goes_between_stem_and_extension() {
        let named = |rel: &str, suffix| output_name(Path::new(rel), suffix);
        assert_eq!(named("a.jpg", None), PathBuf::from("a.jpg"));
        assert_eq!(named("a.jpg", Some("_r")), PathBuf::from("a_r.jpg"));
        assert_eq!(named("sub/b.png", Some("-x")), PathBuf::from("sub/b-x.png"));
        assert_eq!(named("noext", Some("_r")), PathBuf::from("noext_r"));
        assert_eq!(named("a.b.jpg", Some("_r")), PathBuf::from("a.b_r.jpg"));
    }

    #[test]
    fn recursive_listing_descends_sorted_and_leaves_out_excluded_folders() {
        let root = tempfile::tempdir().expect("tempdir");
        let r = root.path();
        for f in [
            "b.png",
            "a.jpg",
            "sub/c.png",
            "sub/deeper/d.jpeg",
            "out/old.png",
            "note.txt",
        ] {
            let path = r.join(f);
            std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
            std::fs::write(&path, b"x").expect("write");
        }
        let out = r.join("out");
        let flat = list_images(r, false, &[]).expect("lists");
        assert_eq!(flat, vec![r.join("a.jpg"), r.join("b.png")]);
        let deep = list_images(r, true, &[out.as_path()]).expect("lists");
        assert_eq!(
            deep,
            vec![
                r.join("a.jpg"),
                r.join("b.png"),
                r.join("sub/c.png"),
                r.join("sub/deeper/d.jpeg")
            ]
        );
    }
}
