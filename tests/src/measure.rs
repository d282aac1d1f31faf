//! What the benchmarks measure of their own process.

/// Peak resident set size of this process, MiB: `VmHWM` of /proc/self/status, which starts
/// afresh at exec (getrusage's `ru_maxrss` can carry the parent's peak over a vfork-and-exec
/// spawn). `NaN` where /proc is not there.
pub fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kib| kib / 1024.0)
}
