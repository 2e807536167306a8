//! `daefr bench --select`: every split of the cores is timed, the best is named, and `--write`
//! stores it in the profile without touching the rest of the file.

use crate::util::*;
use daefr::config::Config;

const PROFILE: &str = "# kiosk profile\n[source]\nkind = \"synthetic\"   # no camera\n\n[model]\n# tuned on first boot\nrestorer = \"RESTORER\"\nthreads = 0\nmin_score = 0.5\n";

#[test]
fn select_times_every_split_and_writes_the_winner_into_the_profile() {
    let dir = tempfile::tempdir().expect("tempdir");
    let profile = dir.path().join("kiosk.toml");
    let text = PROFILE.replace("RESTORER", &repo_arg("tests/fixtures/daefr-tiny.onnx"));
    std::fs::write(&profile, &text).expect("write profile");
    let out = daefr(&[
        "bench",
        "--config",
        &s(&profile),
        "--select",
        "--seconds",
        "0.2",
        "--write",
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}\n{stdout}", stderr(&out));
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let expected_rows = (1..=cores.min(4)).map(|w| cores / w).sum::<usize>();
    let rows = stdout
        .lines()
        .filter(|l| l.contains("daefr-tiny.onnx") && !l.starts_with("best"))
        .count();
    assert_eq!(rows, expected_rows, "{stdout}");
    assert!(stdout.contains("best: "), "{stdout}");

    let written = std::fs::read_to_string(&profile).expect("read profile");
    assert!(written.contains("# kiosk profile") && written.contains("# tuned on first boot"));
    assert!(written.contains("kind = \"synthetic\"   # no camera"));
    let config = Config::load(&profile).expect("the written profile is valid");
    let (workers, threads) = (config.model.restore_workers, config.model.threads);
    assert!(workers >= 1 && threads >= 1, "{written}");
    assert!((workers * threads) as usize <= cores, "{written}");
    assert!(
        stdout.contains(&format!("{workers} worker(s) x {threads} thread(s)")),
        "the profile holds the winner: {stdout}\n{written}"
    );
    assert_eq!(
        config.model.restorer.as_deref(),
        Some(repo("tests/fixtures/daefr-tiny.onnx").as_path()),
        "the only candidate won: the restorer line is left as it was"
    );
}

#[test]
fn select_refuses_to_write_without_a_profile_or_with_threads() {
    let tiny = repo_arg("tests/fixtures/daefr-tiny.onnx");
    let out = daefr(&["bench", "--model", &tiny, "--select", "--write"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("--write needs --config"),
        "{}",
        stderr(&out)
    );
    let out = daefr(&["--threads", "2", "bench", "--model", &tiny, "--select"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("drop --threads"), "{}", stderr(&out));
    let out = daefr(&["bench", "--model", &tiny, "--write"]);
    assert!(
        !out.status.success(),
        "--write without --select is refused by the parser"
    );
}
