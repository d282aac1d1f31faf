//! `--jobs N`: how many pages are graded at once.

use std::num::NonZeroUsize;

/// Parses `--jobs`: a whole number of at least 1 (0 would mean no worker at all; leave the
/// option out for every core).
pub fn parse(text: &str) -> Result<NonZeroUsize, String> {
    let n: usize = text
        .parse()
        .map_err(|_| format!("\"{text}\" is not a whole number of worker threads"))?;
    NonZeroUsize::new(n)
        .ok_or_else(|| "must be at least 1 (leave --jobs out to use every core)".to_string())
}

/// The worker threads to start: what was asked for, but never more than the machine's cores,
/// since grading is CPU-bound and each thread holds a decoded page (hundreds of MB at 300 dpi
/// for a few threads; a machine brought to its knees for `--jobs 100000`).
pub fn worker_threads(requested: Option<NonZeroUsize>) -> usize {
    let cores = std::thread::available_parallelism().map_or(1, NonZeroUsize::get);
    capped(requested, cores)
}

fn capped(requested: Option<NonZeroUsize>, cores: usize) -> usize {
    requested.map_or(cores, |n| n.get().min(cores)).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(n: usize) -> Option<NonZeroUsize> {
        NonZeroUsize::new(n)
    }

    #[test]
    fn jobs_are_capped_at_the_cores() {
        assert_eq!(capped(n(100_000), 2), 2);
        assert_eq!(capped(n(1), 8), 1);
        assert_eq!(capped(n(3), 8), 3);
        assert_eq!(capped(None, 4), 4);
        assert!(worker_threads(n(usize::MAX)) <= worker_threads(None));
    }

    #[test]
    fn zero_and_junk_are_refused_with_a_reason() {
        assert!(parse("0").unwrap_err().contains("at least 1"));
        assert!(parse("-3").unwrap_err().contains("whole number"));
        assert!(parse("many").unwrap_err().contains("whole number"));
        assert_eq!(parse("100000").map(NonZeroUsize::get), Ok(100_000));
    }
}
