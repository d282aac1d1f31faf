//! Grading throughput on one core, end to end: 300-dpi A4 grayscale JPEG scans (quality 75–85,
//! flatbed and feeder captures of the 90-question example exam) taken through the command
//! line's own grading path (`grader::grading`: the file hashed and stored, its scan received in
//! the default embedded SQLite database, decoded, aligned, identified, its marks read and
//! scored, the outcome recorded). Beside each sheet, interleaved in the same process, the same
//! file is decoded at half scale by the system's libjpeg(-turbo), the floor issue 10 measures the
//! grader against; and `Grader::grade_bytes` alone (no store) and the pipeline's own decode, to
//! show where the time goes. Prints CPU ms per sheet (medians over several rounds), sheets per
//! second per core, the ratio to the libjpeg decode, and peak memory.
//!
//! `cargo bench -p gabarito-tests --bench throughput` (needs `pdftoppm`).
//! Environment: `GABARITO_SHEETS` (default 60), `GABARITO_ROUNDS` (default 5),
//! `GABARITO_KEEP_SCANS=DIR` (write the scans there and keep them, to profile a decoder on).
//! The libjpeg reference is `libjpeg.so.62` (Debian's libjpeg62-turbo, which poppler-utils
//! pulls in), opened with dlopen: without it the grader's figures are printed alone.
//!
//! The scans are generated first and written to a temporary folder; a child process of this
//! same program then grades them, so the peak memory it reports is the grader's, not the
//! simulator's.

use std::ffi::{c_int, c_uint, c_ulong, c_void};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use gabarito_tests::fixture::{RenderedFixture, example_exam, roster};
use gabarito_tests::run::{SetOptions, for_each_scan};
use gabarito_tests::scenario::Mix;

const SEED: u64 = 0x7E57_2026;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

/// CPU time of the whole process (all threads), seconds.
fn process_cpu_seconds() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec through a valid pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--grade-only") {
        let dir = args.get(i + 1).context("--grade-only DIR")?;
        return grade_only(Path::new(dir));
    }
    let sheets = env_usize("GABARITO_SHEETS", 60);
    let started = Instant::now();
    let exam = example_exam()?;
    let fx = RenderedFixture::render(&exam, &roster(sheets), SEED)?;
    let work = tempfile::tempdir()?;
    // GABARITO_KEEP_SCANS=DIR: the scans and bundle are written there and kept (to profile).
    let keep = std::env::var_os("GABARITO_KEEP_SCANS").map(PathBuf::from);
    let root = keep.as_deref().unwrap_or(work.path());
    let scans = root.join("scans");
    std::fs::create_dir_all(&scans)?;
    let opts = SetOptions {
        seed: SEED,
        sheets,
        dpi: 300,
        mix: Mix::scanner((75, 85)),
        keep_failures: None,
    };
    let written = for_each_scan(&fx, &opts, |scan| {
        let path = scans.join(&scan.truth.file_name);
        std::fs::write(&path, &scan.bytes).map(|_| scan.bytes.len())
    })?;
    let bytes: usize = written
        .into_iter()
        .collect::<Result<Vec<_>, _>>()?
        .iter()
        .sum();
    println!(
        "generated {sheets} scans (300 dpi, JPEG 75-85, seed {SEED:#x}), {:.0} KiB each, in {:.0} s",
        bytes as f64 / sheets as f64 / 1024.0,
        started.elapsed().as_secs_f64()
    );
    let bundle_json = root.join("bundle.json");
    std::fs::write(&bundle_json, serde_json::to_string(&fx.bundle)?)?;
    let status = std::process::Command::new(std::env::current_exe()?)
        .arg("--grade-only")
        .arg(root)
        .status()?;
    anyhow::ensure!(status.success(), "grading child failed: {status}");
    Ok(())
}

fn grade_only(dir: &Path) -> anyhow::Result<()> {
    use pipeline::SheetDirectory as _;
    let rounds = env_usize("GABARITO_ROUNDS", 5);
    let bundle: model::Bundle =
        serde_json::from_str(&std::fs::read_to_string(dir.join("bundle.json"))?)?;
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir.join("scans"))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    files.sort();
    let scans: Vec<(String, Vec<u8>)> = files
        .iter()
        .map(|p| {
            let name = p.file_name().map(|n| n.to_string_lossy().into_owned());
            Ok((name.unwrap_or_default(), std::fs::read(p)?))
        })
        .collect::<std::io::Result<_>>()?;
    let in_memory: usize = scans.iter().map(|s| s.1.len()).sum();
    let libjpeg = LibJpeg::open();
    if let Err(why) = &libjpeg {
        println!("libjpeg reference unavailable ({why}): install libjpeg62-turbo");
    }
    println!(
        "grader's JPEG decode: {}",
        if pipeline::decode::jpeg_through_libjpeg_turbo() {
            "libjpeg-turbo (libturbojpeg.so.0, IDCT scaled to working size)"
        } else {
            "pure Rust (zune-jpeg whole + 2x2 box, or jpeg-decoder scaled): no libturbojpeg.so.0, or GABARITO_TURBOJPEG=off"
        }
    );
    let rss_before = gabarito_tests::measure::peak_rss_mib();
    // One worker thread: whatever the grader runs on rayon runs on this one core.
    let pool = rayon::ThreadPoolBuilder::new().num_threads(1).build()?;
    let rt = store::runtime()?;
    let tenant = store::TenantId::default_tenant();
    let grader = pipeline::Grader::new(bundle.clone());
    let directory = pipeline::BundleDirectory::new(bundle.clone());
    let frames = directory.frames();
    let limits = pipeline::Limits::default();
    let mut t = Times::default();
    let mut identified = 0usize;
    let mut recorded = 0usize;
    let (cpu1, wall1) = (process_cpu_seconds(), Instant::now());
    for round in 0..=rounds {
        // A fresh database and object folder each round, as a first `grader grade` of a
        // folder of scans finds them (the default embedded SQLite file, its schema migrated).
        let round_dir = tempfile::tempdir()?;
        let db = round_dir.path().join("gabarito.sqlite");
        let store = rt.block_on(async {
            let store = store::Store::connect(&format!("sqlite:{}", db.display())).await?;
            store.migrate().await?;
            store.ensure_bundle(&tenant, &bundle).await?;
            Ok::<_, store::StoreError>(store)
        })?;
        let objects = store::LocalObjects::new(round_dir.path().join("objects"));
        let grading = grader::grading::Grading {
            store: &store,
            objects: &objects,
            tenant: &tenant,
        };
        // Round 0 is the warm-up, not counted: page cache, allocator, lazy tables.
        let count = round > 0;
        pool.install(|| -> anyhow::Result<()> {
            for (i, (name, bytes)) in scans.iter().enumerate() {
                let path = dir.join("scans").join(name);
                // Alternate which comes first so neither always meets a cold cache.
                let jpeg_first = i % 2 == 0;
                if jpeg_first && let Ok(lib) = &libjpeg {
                    let ms = cpu_ms(|| lib.decode_half(bytes))?;
                    if count {
                        t.libjpeg.push(ms);
                    }
                }
                let mut outcome = None;
                let ms = cpu_ms(|| -> anyhow::Result<()> {
                    let (ingested, taken) =
                        rt.block_on(grading.ingest_file(&path, name, &limits, false))?;
                    let grader::grading::Taken::Bytes(file) = taken else {
                        anyhow::bail!("{name}: not taken in for grading");
                    };
                    let pages = grader::grading::grade_pages(&grader, name, &file, |_| {});
                    drop(file);
                    outcome = Some(rt.block_on(grading.record(&ingested, &pages))?);
                    Ok(())
                })?;
                if count {
                    t.end_to_end.push(ms);
                }
                if !jpeg_first && let Ok(lib) = &libjpeg {
                    let ms = cpu_ms(|| lib.decode_half(bytes))?;
                    if count {
                        t.libjpeg.push(ms);
                    }
                }
                if round == 1
                    && let Some(outcome) = &outcome
                {
                    recorded += 1;
                    identified += outcome
                        .reports
                        .iter()
                        .filter(|r| r.sheet_code.is_some())
                        .count();
                }
                if count {
                    t.pipeline
                        .push(cpu_ms(|| Ok(grader.grade_bytes(name, bytes)))?);
                    let mut image = None;
                    t.decode.push(cpu_ms(|| {
                        image = pipeline::decode::decode_image(bytes, &limits).ok();
                        Ok(())
                    })?);
                    if let Some(image) = &image {
                        stages(image, &directory, &frames, &mut t)?;
                    }
                }
            }
            Ok(())
        })?;
        rt.block_on(store.close());
    }
    let wall = wall1.elapsed().as_secs_f64();
    let cpu = process_cpu_seconds() - cpu1;
    let n = t.end_to_end.len();
    println!(
        "graded {} scans x {rounds} rounds (+1 warm-up) on 1 thread, recorded in SQLite ({recorded} recorded, {identified} identified in round 1); {:.0} s wall, {:.0} s CPU in all",
        scans.len(),
        wall,
        cpu
    );
    let e2e = Stat::of(&mut t.end_to_end);
    println!("CPU ms per sheet (median, mean, p90):");
    println!("  end to end (store, decode, grade, record)  {e2e}");
    let pipe = Stat::of(&mut t.pipeline);
    println!("  pipeline alone (Grader::grade_bytes)       {pipe}");
    let dec = Stat::of(&mut t.decode);
    println!("  pipeline decode alone (decode_image)       {dec}");
    for (what, v) in [
        (
            "  align                                      ",
            &mut t.align,
        ),
        (
            "  identify                                   ",
            &mut t.identify,
        ),
        (
            "  marks                                      ",
            &mut t.marks,
        ),
    ] {
        println!("{what}{}", Stat::of(v));
    }
    println!(
        "THROUGHPUT {:.1} sheets/s per core end to end (1000 / median CPU ms; {:.1} by mean; {n} sheet-gradings)",
        1000.0 / e2e.median,
        1000.0 / e2e.mean
    );
    if !t.libjpeg.is_empty() {
        let lj = Stat::of(&mut t.libjpeg);
        println!("  libjpeg decode at 1/2 scale               {lj}");
        println!(
            "LIBJPEG HALF-SCALE DECODE {:.1} sheets/s per core; RATIO grader / decode = {:.2} (by median; {:.2} by mean; target <= 2)",
            1000.0 / lj.median,
            e2e.median / lj.median,
            e2e.mean / lj.mean
        );
    }
    println!(
        "PEAK RSS {:.0} MiB (before grading {:.0} MiB, of which scans in memory {:.0} MiB)",
        gabarito_tests::measure::peak_rss_mib(),
        rss_before,
        in_memory as f64 / (1024.0 * 1024.0)
    );
    Ok(())
}

/// The pipeline's stages one by one on a decoded page, to show where the time goes.
fn stages(
    image: &image::GrayImage,
    directory: &pipeline::BundleDirectory,
    frames: &[pipeline::PageFrame],
    t: &mut Times,
) -> anyhow::Result<()> {
    let mut alignment = None;
    t.align.push(cpu_ms(|| {
        alignment = pipeline::align::align(image, frames).ok();
        Ok(())
    })?);
    let alignment = alignment.context("not aligned")?;
    let mut identity = None;
    t.identify.push(cpu_ms(|| {
        identity =
            pipeline::identify::identify(image, &alignment, frames, directory, true, None).ok();
        Ok(())
    })?);
    let identity = identity.context("not identified")?;
    let h = pipeline::align::homography_for(&identity.marks, &identity.sheet.layout.corner_marks)
        .context("degenerate")?;
    t.marks.push(cpu_ms(|| {
        Ok(pipeline::marks::read_marks(
            image,
            &h,
            &identity.sheet.layout,
        ))
    })?);
    Ok(())
}

/// CPU milliseconds per sheet of each thing timed.
#[derive(Default)]
struct Times {
    end_to_end: Vec<f64>,
    pipeline: Vec<f64>,
    decode: Vec<f64>,
    align: Vec<f64>,
    identify: Vec<f64>,
    marks: Vec<f64>,
    libjpeg: Vec<f64>,
}

/// Process CPU time of `f`, milliseconds (the store's threads included).
fn cpu_ms<T>(f: impl FnOnce() -> anyhow::Result<T>) -> anyhow::Result<f64> {
    let t = process_cpu_seconds();
    std::hint::black_box(f()?);
    Ok((process_cpu_seconds() - t) * 1000.0)
}

struct Stat {
    median: f64,
    mean: f64,
    p90: f64,
}

impl Stat {
    fn of(v: &mut [f64]) -> Stat {
        v.sort_by(f64::total_cmp);
        let n = v.len().max(1);
        Stat {
            median: v.get(v.len() / 2).copied().unwrap_or(f64::NAN),
            mean: v.iter().sum::<f64>() / n as f64,
            p90: v.get(v.len() * 9 / 10).copied().unwrap_or(f64::NAN),
        }
    }
}

impl std::fmt::Display for Stat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:6.2} {:6.2} {:6.2}", self.median, self.mean, self.p90)
    }
}

/// The system's libjpeg (Debian's libjpeg62-turbo, SIMD), loaded at run time so that nothing in
/// the build needs a C library or its headers. The struct layouts below are libjpeg-turbo's ABI
/// 6.2 on 64-bit Linux (`sizeof`/`offsetof` from its `jpeglib.h`); `jpeg_CreateDecompress`
/// refuses a wrong struct size, so a mismatched library fails rather than misbehaves.
type StdErrorFn = unsafe extern "C" fn(*mut c_void) -> *mut c_void;
type CreateFn = unsafe extern "C" fn(*mut c_void, c_int, usize);
type MemSrcFn = unsafe extern "C" fn(*mut c_void, *const u8, c_ulong);
type ReadHeaderFn = unsafe extern "C" fn(*mut c_void, c_int) -> c_int;
type StartFn = unsafe extern "C" fn(*mut c_void) -> c_int;
type ReadScanlinesFn = unsafe extern "C" fn(*mut c_void, *mut *mut u8, c_uint) -> c_uint;
type FinishFn = unsafe extern "C" fn(*mut c_void) -> c_int;
type DestroyFn = unsafe extern "C" fn(*mut c_void);

struct LibJpeg {
    std_error: StdErrorFn,
    create: CreateFn,
    mem_src: MemSrcFn,
    read_header: ReadHeaderFn,
    start: StartFn,
    read_scanlines: ReadScanlinesFn,
    finish: FinishFn,
    destroy: DestroyFn,
}

const JPEG_LIB_VERSION: c_int = 62;
const DECOMPRESS_STRUCT_SIZE: usize = 632;
const ERROR_MGR_SIZE: usize = 168;
const OFF_OUT_COLOR_SPACE: usize = 64;
const OFF_SCALE_NUM: usize = 68;
const OFF_SCALE_DENOM: usize = 72;
const OFF_OUTPUT_WIDTH: usize = 136;
const OFF_OUTPUT_HEIGHT: usize = 140;
const JCS_GRAYSCALE: u32 = 1;

impl LibJpeg {
    fn open() -> anyhow::Result<LibJpeg> {
        // SAFETY: dlopen/dlsym with NUL-terminated names; each symbol is cast to the signature
        // jpeglib.h declares for it.
        unsafe {
            let lib = libc::dlopen(c"libjpeg.so.62".as_ptr(), libc::RTLD_NOW);
            anyhow::ensure!(!lib.is_null(), "libjpeg.so.62 not found");
            let sym = |name: &std::ffi::CStr| -> anyhow::Result<*mut c_void> {
                let p = libc::dlsym(lib, name.as_ptr());
                anyhow::ensure!(!p.is_null(), "{name:?} missing from libjpeg.so.62");
                Ok(p)
            };
            Ok(LibJpeg {
                std_error: std::mem::transmute::<*mut c_void, StdErrorFn>(sym(c"jpeg_std_error")?),
                create: std::mem::transmute::<*mut c_void, CreateFn>(sym(
                    c"jpeg_CreateDecompress",
                )?),
                mem_src: std::mem::transmute::<*mut c_void, MemSrcFn>(sym(c"jpeg_mem_src")?),
                read_header: std::mem::transmute::<*mut c_void, ReadHeaderFn>(sym(
                    c"jpeg_read_header",
                )?),
                start: std::mem::transmute::<*mut c_void, StartFn>(sym(c"jpeg_start_decompress")?),
                read_scanlines: std::mem::transmute::<*mut c_void, ReadScanlinesFn>(sym(
                    c"jpeg_read_scanlines",
                )?),
                finish: std::mem::transmute::<*mut c_void, FinishFn>(sym(
                    c"jpeg_finish_decompress",
                )?),
                destroy: std::mem::transmute::<*mut c_void, DestroyFn>(sym(
                    c"jpeg_destroy_decompress",
                )?),
            })
        }
    }

    /// Decodes `bytes` to grayscale at half scale (the IDCT scaled, as `djpeg -scale 1/2
    /// -grayscale` does), returning the pixels. libjpeg's default error handler ends the
    /// process on a corrupt file: the bench decodes only the simulator's clean scans.
    fn decode_half(&self, bytes: &[u8]) -> anyhow::Result<Vec<u8>> {
        let mut cinfo = vec![0u64; DECOMPRESS_STRUCT_SIZE / 8];
        let mut err = vec![0u64; ERROR_MGR_SIZE / 8];
        let base = cinfo.as_mut_ptr().cast::<u8>();
        // SAFETY: the buffers are the size libjpeg's ABI 6.2 declares (checked by
        // jpeg_CreateDecompress), 8-byte aligned; fields are written at their offsets; the
        // output buffer holds output_width bytes a line, one line at a time.
        unsafe {
            let e = (self.std_error)(err.as_mut_ptr().cast());
            base.cast::<*mut c_void>().write(e);
            (self.create)(base.cast(), JPEG_LIB_VERSION, DECOMPRESS_STRUCT_SIZE);
            (self.mem_src)(base.cast(), bytes.as_ptr(), bytes.len() as c_ulong);
            (self.read_header)(base.cast(), 1);
            base.add(OFF_OUT_COLOR_SPACE)
                .cast::<u32>()
                .write(JCS_GRAYSCALE);
            base.add(OFF_SCALE_NUM).cast::<u32>().write(1);
            base.add(OFF_SCALE_DENOM).cast::<u32>().write(2);
            (self.start)(base.cast());
            let w = base.add(OFF_OUTPUT_WIDTH).cast::<u32>().read() as usize;
            let h = base.add(OFF_OUTPUT_HEIGHT).cast::<u32>().read() as usize;
            let mut out = vec![0u8; w * h];
            let mut line = 0;
            while line < h {
                let mut row = out.as_mut_ptr().add(line * w);
                let got = (self.read_scanlines)(base.cast(), &mut row, 1) as usize;
                anyhow::ensure!(got > 0, "libjpeg read no line");
                line += got;
            }
            (self.finish)(base.cast());
            (self.destroy)(base.cast());
            Ok(out)
        }
    }
}
