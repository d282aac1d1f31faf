//! The command line: refusals are one line naming the field or row and write nothing;
//! anonymous copies carry a student-number grid; the committed JSON Schema is current.

#[path = "../render/tests/common/mod.rs"]
mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::workspace;
use model::Bundle;

fn cli(args: &[&str]) -> Output {
    // The database the command registers bundles in: a throwaway SQLite file, not the default
    // one in the working directory (the source tree).
    let db = tempfile::tempdir().expect("tempdir");
    Command::new(env!("CARGO_BIN_EXE_render-service"))
        .args(args)
        .env("DATABASE_URL", db.path().join("gabarito.sqlite"))
        .output()
        .expect("run render-service")
}

fn stderr_line(out: &Output) -> String {
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(err.trim_end().lines().count(), 1, "not one line: {err:?}");
    err.trim_end().to_string()
}

fn entries(dir: &Path) -> Vec<String> {
    match std::fs::read_dir(dir) {
        Ok(rd) => rd
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().to_string())
            .collect(),
        Err(_) => Vec::new(),
    }
}

#[test]
fn invalid_exam_is_refused_naming_the_field_and_nothing_is_written() {
    let dir = tempfile::tempdir().expect("tempdir");
    let exam = dir.path().join("exam.json");
    std::fs::write(
        &exam,
        r#"{"title":"T","questions":[{"key":"A"},{"key":"A"},{"key":"A"},{"key":"F"}]}"#,
    )
    .expect("write");
    let out_dir = dir.path().join("out");
    let out = cli(&[
        "render",
        exam.to_str().expect("path"),
        "--copies",
        "2",
        "--out",
        out_dir.to_str().expect("path"),
    ]);
    assert!(!out.status.success());
    let line = stderr_line(&out);
    assert!(line.contains("questions[3].key"), "{line}");
    assert!(line.starts_with("error: exam file:"), "{line}");
    assert!(entries(&out_dir).is_empty(), "{:?}", entries(&out_dir));
}

#[test]
fn bad_roster_row_is_refused_naming_the_row_and_nothing_is_written() {
    let dir = tempfile::tempdir().expect("tempdir");
    let roster = dir.path().join("roster.csv");
    std::fs::write(
        &roster,
        "student_id,name,class\n1,Ana Lúcia,3A\n2,João,3A\n1,José,3B\n",
    )
    .expect("write");
    let out_dir = dir.path().join("out");
    std::fs::create_dir(&out_dir).expect("mkdir");
    let exam = workspace().join("examples/simulado-1.json");
    let out = cli(&[
        "render",
        exam.to_str().expect("path"),
        "--roster",
        roster.to_str().expect("path"),
        "--out",
        out_dir.to_str().expect("path"),
    ]);
    assert!(!out.status.success());
    let line = stderr_line(&out);
    assert!(line.contains("roster row 4"), "{line}");
    assert!(entries(&out_dir).is_empty(), "{:?}", entries(&out_dir));
}

#[test]
fn an_unreachable_database_is_reported_at_once_with_its_reason_and_nothing_is_written() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out_dir = dir.path().join("out");
    let exam = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/simulado-1.json");
    // Port 1 on loopback: nothing listens there, the connection is refused at once.
    let out = cli(&[
        "render",
        exam,
        "--copies",
        "2",
        "--out",
        out_dir.to_str().expect("path"),
        "--db",
        "postgres://gabarito@127.0.0.1:1/gabarito",
    ]);
    assert!(!out.status.success());
    let line = stderr_line(&out);
    assert!(line.starts_with("error: database:"), "{line}");
    assert!(
        line.contains("refused"),
        "the cause, not a pool timeout: {line}"
    );
    assert_eq!(
        line.matches("refused").count(),
        1,
        "each cause once: {line}"
    );
    assert!(entries(&out_dir).is_empty(), "{:?}", entries(&out_dir));
}

#[test]
fn copies_with_a_roster_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = workspace();
    let out_dir = dir.path().join("out");
    let out = cli(&[
        "render",
        root.join("examples/simulado-1.json")
            .to_str()
            .expect("path"),
        "--roster",
        root.join("examples/turma-3a.csv").to_str().expect("path"),
        "--copies",
        "3",
        "--out",
        out_dir.to_str().expect("path"),
    ]);
    assert!(!out.status.success());
    assert!(stderr_line(&out).contains("--copies"));
    assert!(entries(&out_dir).is_empty());
}

#[test]
fn anonymous_copies_get_a_student_number_grid() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out_dir = dir.path().join("out");
    let exam = workspace().join("examples/simulado-1.json");
    let out = cli(&[
        "render",
        exam.to_str().expect("path"),
        "--copies",
        "3",
        "--out",
        out_dir.to_str().expect("path"),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut files = entries(&out_dir);
    files.sort();
    assert_eq!(files, vec!["bundle.json", "bundle.pdf"]);
    let manifest: Bundle =
        serde_json::from_slice(&std::fs::read(out_dir.join("bundle.json")).expect("json"))
            .expect("manifest parses");
    assert_eq!(manifest.layout_version, model::layout::LAYOUT_VERSION);
    assert_eq!(manifest.pages.len(), 3);
    let digits = usize::from(manifest.exam.student_number_digits);
    for (i, page) in manifest.pages.iter().enumerate() {
        assert_eq!(page.pdf_page as usize, i + 1);
        assert_eq!(page.student_id, None);
        assert_eq!(page.version, ["A", "B"][i % 2]);
        assert_eq!(page.layout.student_number_bubbles.len(), digits * 10);
        assert_eq!(page.layout.student_number_boxes.len(), digits);
    }
    assert_eq!(
        common::pdfinfo_pages(&out_dir.join("bundle.pdf")),
        manifest.pages.len()
    );
    // The manifest names the contract's fields.
    let raw: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out_dir.join("bundle.json")).expect("json"))
            .expect("json");
    let page = &raw["pages"][0];
    for field in [
        "pdf_page",
        "sheet_code",
        "student_id",
        "version",
        "sheet_page",
        "layout",
    ] {
        assert!(page.get(field).is_some(), "bundle.json page lacks {field}");
    }
    // Each geometry is written once; pages name theirs by index.
    let layouts = raw["layouts"].as_array().expect("layouts");
    assert_eq!(layouts.len(), 1, "one answer-sheet page, one layout");
    let layout = &layouts[page["layout"].as_u64().expect("layout index") as usize];
    for field in ["paper", "corner_marks", "qr", "text_id", "bubbles"] {
        assert!(
            layout.get(field).is_some(),
            "bundle.json layout lacks {field}"
        );
    }
}

#[test]
fn committed_schema_is_the_generated_one() {
    let out = cli(&["schema"]);
    assert!(out.status.success());
    let generated = String::from_utf8(out.stdout).expect("utf-8");
    let committed = std::fs::read_to_string(workspace().join("docs/exam.schema.json"))
        .expect("docs/exam.schema.json");
    assert_eq!(
        committed.trim_end(),
        generated.trim_end(),
        "docs/exam.schema.json is stale: run `cargo run -p render-service -- schema > docs/exam.schema.json`"
    );
}

/// The exams registered in the SQLite database at `db`, for the default school.
fn registered_exams(db: &Path) -> Vec<String> {
    let rt = store::runtime().expect("runtime");
    rt.block_on(async {
        let url = format!("sqlite:{}", db.display());
        let store = store::Store::connect(&url)
            .await
            .expect("open the database");
        store.migrate().await.expect("migrate");
        let tenant = store::TenantId::new(store::DEFAULT_TENANT).expect("tenant");
        let exams = store.exams(&tenant).await.expect("exams");
        store.close().await;
        exams.into_iter().map(|e| e.id).collect()
    })
}

#[test]
fn a_render_that_cannot_be_written_registers_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("gabarito.sqlite");
    let db_arg = format!("sqlite:{}", db.display());
    let exam = workspace().join("examples/simulado-1.json");
    // `--out` names an existing regular file.
    let file = dir.path().join("out");
    std::fs::write(&file, "not a directory").expect("write");
    let out = cli(&[
        "render",
        exam.to_str().expect("path"),
        "--copies",
        "2",
        "--out",
        file.to_str().expect("path"),
        "--db",
        &db_arg,
    ]);
    assert!(!out.status.success());
    let line = stderr_line(&out);
    assert!(line.contains(file.to_str().expect("path")), "{line}");
    assert!(
        line.ends_with("a file has this name, not a folder"),
        "{line}"
    );
    assert!(registered_exams(&db).is_empty(), "{line}");
    assert_eq!(
        std::fs::read(&file).expect("read"),
        b"not a directory",
        "the file is left alone"
    );
    // `--out` whose `bundle.pdf` is a directory: refused before registering, and the temporary
    // files are gone.
    let out_dir = dir.path().join("taken");
    std::fs::create_dir_all(out_dir.join("bundle.pdf")).expect("mkdir");
    let out = cli(&[
        "render",
        exam.to_str().expect("path"),
        "--out",
        out_dir.to_str().expect("path"),
        "--db",
        &db_arg,
    ]);
    assert!(!out.status.success());
    let line = stderr_line(&out);
    assert!(line.contains("bundle.pdf"), "{line}");
    assert!(registered_exams(&db).is_empty(), "{line}");
    assert_eq!(entries(&out_dir), vec!["bundle.pdf"]);

    // Written, then registered: one exam, the one bundle.json names.
    let good = dir.path().join("good");
    let out = cli(&[
        "render",
        exam.to_str().expect("path"),
        "--out",
        good.to_str().expect("path"),
        "--db",
        &db_arg,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let manifest: Bundle =
        serde_json::from_slice(&std::fs::read(good.join("bundle.json")).expect("json"))
            .expect("manifest parses");
    assert_eq!(
        registered_exams(&db),
        vec![manifest.exam_id.expect("exam id")]
    );
}

#[test]
fn a_render_that_cannot_be_registered_leaves_no_folder_behind() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out_dir = dir.path().join("new").join("out");
    let exam = workspace().join("examples/simulado-1.json");
    let out = cli(&[
        "render",
        exam.to_str().expect("path"),
        "--out",
        out_dir.to_str().expect("path"),
        "--db",
        "postgres://gabarito@127.0.0.1:1/gabarito",
    ]);
    assert!(!out.status.success());
    stderr_line(&out);
    assert!(!out_dir.exists(), "{:?}", entries(&out_dir));
}

#[test]
fn an_exam_file_of_the_wrong_shape_says_what_was_expected() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out_dir = dir.path().join("out");
    for (exam_json, expected) in [
        (
            r#"{"title":"T","questions":[{"key":5}]}"#,
            r#"error: exam file: questions[0].key: invalid type: integer `5`, expected a choice letter like "C", a list like ["A","C"], or per-version keys like {"A":"C"}"#,
        ),
        (
            &format!(
                r#"{{"title":"{}","questions":[{{"key":"A"}}]}}"#,
                "T".repeat(20_000)
            ),
            "error: exam file: title: 20000 characters, at most 200",
        ),
        (
            r#"{"title":"T","date":"2026-02-31","questions":[{"key":"A"}]}"#,
            r#"error: exam file: date: "2026-02-31" is not a date: 2026-02 has 28 days"#,
        ),
    ] {
        let exam = dir.path().join("exam.json");
        std::fs::write(&exam, exam_json).expect("write");
        let out = cli(&[
            "render",
            exam.to_str().expect("path"),
            "--out",
            out_dir.to_str().expect("path"),
        ]);
        assert!(!out.status.success());
        let line = stderr_line(&out);
        assert!(line.starts_with(expected), "{line}");
        assert!(!out_dir.exists());
    }
}
