//! A large object goes to Cloud Storage and comes back in ranges without ever being held whole
//! in memory: the process's peak resident set is measured around each (this test binary has one
//! test, so nothing else runs meanwhile).

mod common;

use gcs::emulator::Emulator;
use sha2::{Digest, Sha256};
use store::ObjectStore;
use tokio::io::AsyncReadExt;

/// The process's resident set now and its peak since the last [`reset_peak`], in bytes (Linux
/// `/proc/self/status`: `VmRSS`, `VmHWM`).
fn rss() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .expect("field")
            * 1024
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// Resets the peak resident set (`VmHWM`) to the current one (Linux ≥ 4.0).
fn reset_peak() {
    std::fs::write("/proc/self/clear_refs", "5").expect("reset the peak RSS");
}

/// Bytes of the test object (`GABARITO_TEST_GCS_MIB` to change; 64 MiB by default: more
/// than Cloud Run's 32 MiB request limit, as a scanner's PDF can be).
fn object_bytes() -> u64 {
    std::env::var("GABARITO_TEST_GCS_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64)
        * 1024
        * 1024
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_object_streams_both_ways_in_bounded_memory() {
    let emulator = Emulator::start();
    let objects = common::objects(&emulator, "gabarito-stream", "big", None).await;
    let len = object_bytes();
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("bundle.pdf");
    {
        use std::io::Write;
        let mut file = std::io::BufWriter::new(std::fs::File::create(&path).expect("create"));
        let block: Vec<u8> = (0..1024 * 1024)
            .map(|i: u32| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
            .collect();
        for _ in 0..len / block.len() as u64 {
            file.write_all(&block).expect("write");
        }
        file.flush().expect("flush");
    }
    let expected = store::objects::content_hash_of_file(&path).expect("hash");
    let key = "escola-a/bundles/big/bundle.pdf";

    reset_peak();
    let (base, _) = rss();
    let started = std::time::Instant::now();
    objects.put_file(key, &path).await.expect("put_file");
    let upload_peak = rss().1.saturating_sub(base);
    let upload_secs = started.elapsed().as_secs_f64();
    assert_eq!(objects.len(key).await.expect("len"), len);

    // Read back in 8 MiB ranges (as HTTP Range requests for the PDF would), hashing as we go.
    reset_peak();
    let (base, _) = rss();
    let started = std::time::Instant::now();
    let mut hasher = Sha256::new();
    let step = 8 * 1024 * 1024;
    let mut buf = vec![0u8; 64 * 1024];
    let mut at = 0;
    while at < len {
        let end = (at + step).min(len);
        let mut reader = objects.read_range(key, at..end).await.expect("range");
        loop {
            let n = reader.read(&mut buf).await.expect("read");
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
        }
        at = end;
    }
    let read_peak = rss().1.saturating_sub(base);
    let read_secs = started.elapsed().as_secs_f64();
    let got: String = hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(got, expected, "the object read back differs");
    let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
    eprintln!(
        "gcs streaming: {} MiB object; upload {:.1} s, peak RSS +{:.1} MiB; ranged read {:.1} s, peak RSS +{:.1} MiB",
        len / (1024 * 1024),
        upload_secs,
        mib(upload_peak),
        read_secs,
        mib(read_peak)
    );
    // Buffers and the client's pools, not the object: a quarter of it at most.
    let bound = (len / 4).max(16 * 1024 * 1024);
    assert!(
        upload_peak < bound,
        "upload held {:.1} MiB",
        mib(upload_peak)
    );
    assert!(read_peak < bound, "reading held {:.1} MiB", mib(read_peak));
}
