//! What a new user can throw at the `grader` command line: symlink loops and files named twice,
//! same-named scans in two folders with `--annotate`, absurd `--jobs`, and a reader that closes
//! the pipe early (`grader results --json | head -1`). Each runs the real binaries in a folder of
//! its own, with the default SQLite database there.
//!
//! Build the binaries first when running this file alone:
//! `cargo build --release -p grader -p render-service`.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use gabarito_tests::binaries::workspace_binary;
use gabarito_tests::fixture::{RenderedFixture, roster};
use gabarito_tests::run::{SetOptions, for_each_scan};
use gabarito_tests::scenario::Mix;

const DPI: u32 = 150;

fn command(work: &Path, bin: &str, args: &[&str]) -> Command {
    let mut cmd = Command::new(workspace_binary(bin));
    cmd.args(args)
        .current_dir(work)
        .env_remove("DATABASE_URL")
        .env_remove("DATABASE_READ_URL")
        .env_remove("GABARITO_STORAGE");
    cmd
}

fn run(work: &Path, bin: &str, args: &[&str]) -> Output {
    command(work, bin, args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {bin}: {e}"))
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// `render-service render` of the example exam for three students into `work/bundle`
/// (registering it in the folder's default database), and a simulated scan of each sheet.
fn render_and_scan(work: &Path, seed: u64) -> (RenderedFixture, Vec<Vec<u8>>) {
    let mut csv = String::from("student_id,name,class\n");
    for s in roster(3) {
        csv.push_str(&format!("{},{},{}\n", s.student_id, s.name, s.class));
    }
    std::fs::write(work.join("roster.csv"), csv).expect("roster");
    let exam = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/simulado-1.json");
    let exam = exam.display().to_string();
    let out = run(
        work,
        "render-service",
        &["render", &exam, "--roster", "roster.csv", "--out", "bundle"],
    );
    assert!(out.status.success(), "render failed: {}", text(&out.stderr));
    let fx = RenderedFixture::load(&work.join("bundle")).expect("bundle.json");
    let opts = SetOptions {
        seed,
        sheets: 3,
        dpi: DPI,
        mix: Mix {
            all_styles: false,
            stray_rate: 0.0,
            ..Mix::scanner((70, 90))
        },
        keep_failures: None,
    };
    let scans = for_each_scan(&fx, &opts, |scan| scan.bytes).expect("simulates");
    (fx, scans)
}

fn write(path: &Path, bytes: &[u8]) {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).expect("mkdir");
    }
    std::fs::write(path, bytes).expect("write scan");
}

/// The number of files the run's summary line counts (`grader: N files, …` on stderr).
fn files_counted(out: &Output) -> usize {
    let stderr = text(&out.stderr);
    stderr
        .lines()
        .find_map(|l| {
            let rest = l.strip_prefix("grader: ")?;
            let (n, tail) = rest.split_once(' ')?;
            tail.starts_with("files").then(|| n.parse().ok()).flatten()
        })
        .unwrap_or_else(|| panic!("no summary line in: {stderr}"))
}

fn json_lines(out: &Output) -> Vec<serde_json::Value> {
    text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

#[cfg(unix)]
#[test]
fn a_symlink_loop_under_a_graded_folder_is_walked_once() {
    let work = tempfile::tempdir().expect("temp dir");
    let (_fx, scans) = render_and_scan(work.path(), 0x100F);
    let dir = work.path().join("scans");
    for (i, bytes) in scans.iter().enumerate() {
        write(&dir.join(format!("sub{i}/scan{i}.jpg")), bytes);
    }
    std::os::unix::fs::symlink("..", dir.join("sub0/up")).expect("symlink");
    std::os::unix::fs::symlink(".", dir.join("here")).expect("symlink");
    std::os::unix::fs::symlink(&dir, dir.join("sub1/again")).expect("symlink");
    let out = run(
        work.path(),
        "grader",
        &["grade", "scans", "--json", "--jobs", "2"],
    );
    assert!(out.status.code() != Some(2), "{}", text(&out.stderr));
    assert_eq!(files_counted(&out), 3, "{}", text(&out.stderr));
    let files: Vec<String> = json_lines(&out)
        .iter()
        .map(|v| v["file"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(files.len(), 3, "{files:?}");
}

#[cfg(unix)]
#[test]
fn a_file_named_twice_or_through_a_link_is_graded_once() {
    let work = tempfile::tempdir().expect("temp dir");
    let (_fx, scans) = render_and_scan(work.path(), 0x2F11);
    write(&work.path().join("scans/one.jpg"), &scans[0]);
    std::os::unix::fs::symlink("scans/one.jpg", work.path().join("link.jpg")).expect("symlink");
    let out = run(
        work.path(),
        "grader",
        &[
            "grade",
            "scans/one.jpg",
            "scans/one.jpg",
            "link.jpg",
            "scans",
            "--json",
        ],
    );
    assert!(out.status.code() != Some(2), "{}", text(&out.stderr));
    assert_eq!(files_counted(&out), 1, "{}", text(&out.stderr));
    assert_eq!(json_lines(&out).len(), 1);
}

#[test]
fn annotations_of_same_named_scans_in_two_folders_do_not_collide() {
    let work = tempfile::tempdir().expect("temp dir");
    let (_fx, scans) = render_and_scan(work.path(), 0xA770);
    write(&work.path().join("scans/a/page.jpg"), &scans[0]);
    write(&work.path().join("scans/b/page.jpg"), &scans[1]);
    let out = run(
        work.path(),
        "grader",
        &["grade", "scans", "--annotate", "annotated"],
    );
    assert!(out.status.code() != Some(2), "{}", text(&out.stderr));
    let a = work.path().join("annotated/a/page-p1.png");
    let b = work.path().join("annotated/b/page-p1.png");
    let (a, b) = (
        std::fs::read(&a).unwrap_or_else(|e| panic!("{}: {e}", a.display())),
        std::fs::read(&b).unwrap_or_else(|e| panic!("{}: {e}", b.display())),
    );
    assert_ne!(a, b, "two scans, two pictures");

    // Two files named on the command line (into a database of their own, so that they are
    // graded again): named below the folder they share.
    let out = run(
        work.path(),
        "grader",
        &[
            "grade",
            "scans/a/page.jpg",
            "scans/b/page.jpg",
            "--annotate",
            "again",
            "--bundle",
            "bundle",
            "--db",
            "sqlite:again.sqlite",
            "--objects",
            "again-objects",
        ],
    );
    assert!(out.status.code() != Some(2), "{}", text(&out.stderr));
    assert!(work.path().join("again/a/page-p1.png").exists());
    assert!(work.path().join("again/b/page-p1.png").exists());
}

#[test]
fn jobs_beyond_the_cores_are_capped_and_zero_is_refused() {
    let work = tempfile::tempdir().expect("temp dir");
    let (_fx, scans) = render_and_scan(work.path(), 0x70B5);
    write(&work.path().join("scans/one.jpg"), &scans[0]);

    let out = run(work.path(), "grader", &["grade", "scans", "--jobs", "0"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("--jobs") && stderr.contains("at least 1"),
        "{stderr}"
    );

    let out = run(
        work.path(),
        "grader",
        &["grade", "scans", "--jobs", "100000"],
    );
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(files_counted(&out), 1, "{stderr}");
    assert!(!stderr.contains("thread"), "{stderr}");
}

/// Runs `args` with its stdout a pipe closed before anything is written, as `| head -0` would;
/// returns the exit code and stderr.
fn with_stdout_closed(work: &Path, args: &[&str]) -> (Option<i32>, String) {
    let mut child = command(work, "grader", args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn grader");
    drop(child.stdout.take());
    let mut stderr = String::new();
    if let Some(mut e) = child.stderr.take() {
        e.read_to_string(&mut stderr).expect("stderr");
    }
    let status = child.wait().expect("wait");
    (status.code(), stderr)
}

#[test]
fn a_reader_that_closes_the_pipe_early_is_a_normal_end() {
    let work = tempfile::tempdir().expect("temp dir");
    let (fx, scans) = render_and_scan(work.path(), 0xC105);
    for (i, bytes) in scans.iter().enumerate() {
        write(&work.path().join(format!("scans/scan{i}.jpg")), bytes);
    }
    // A page that cannot be graded, so that `review` has something to print.
    write(&work.path().join("scans/garbage.jpg"), b"not a jpeg at all");
    let exam = fx
        .bundle
        .exam_id
        .clone()
        .expect("bundle.json carries the exam id");

    let (code, stderr) = with_stdout_closed(work.path(), &["grade", "scans", "--json"]);
    assert_eq!(code, Some(1), "garbage.jpg needs attention: {stderr}");
    assert!(!stderr.to_lowercase().contains("broken pipe"), "{stderr}");
    assert_eq!(
        run(work.path(), "grader", &["results", &exam, "--csv"])
            .stdout
            .iter()
            .filter(|&&b| b == b'\n')
            .count(),
        4,
        "the grading run finished and recorded every sheet"
    );

    // Results read from a replica (DATABASE_READ_URL) without opening the primary: a copy of
    // the database stands for the replica, and the primary's URL names no server at all.
    for file in ["gabarito.sqlite", "gabarito.sqlite-wal"] {
        let from = work.path().join(file);
        if from.exists() {
            std::fs::copy(&from, work.path().join(file.replace("gabarito", "replica")))
                .expect("copy the database");
        }
    }
    let unreachable = "postgres://nobody@127.0.0.1:9/none?connect_timeout=2";
    let from_replica = command(work.path(), "grader", &["results", &exam, "--csv"])
        .args(["--db", unreachable])
        .env("DATABASE_READ_URL", "sqlite:replica.sqlite")
        .output()
        .expect("grader results");
    assert_eq!(
        from_replica.status.code(),
        Some(0),
        "{}",
        text(&from_replica.stderr)
    );
    assert_eq!(
        from_replica.stdout,
        run(work.path(), "grader", &["results", &exam, "--csv"]).stdout,
        "the replica's results are the database's"
    );
    let without = command(work.path(), "grader", &["results", &exam, "--csv"])
        .args(["--db", unreachable])
        .output()
        .expect("grader results");
    assert_ne!(
        without.status.code(),
        Some(0),
        "no replica: the primary is read"
    );

    for args in [
        vec!["results", exam.as_str(), "--json"],
        vec!["results", exam.as_str(), "--csv"],
        vec!["results", exam.as_str(), "--csv", "--items"],
        vec!["results", exam.as_str()],
        vec!["review", "--json"],
        vec!["review"],
    ] {
        let (code, stderr) = with_stdout_closed(work.path(), &args);
        assert_eq!(code, Some(0), "{args:?}: {stderr}");
        assert!(
            !stderr.to_lowercase().contains("broken pipe"),
            "{args:?}: {stderr}"
        );
    }
}
