//! The panic guard: decoders (JPEG, PDF, QR) run on hostile input, and a panic in one of them
//! must end as that page's error, never as the end of the run.

use std::panic::{AssertUnwindSafe, catch_unwind};

/// Runs `f`, turning a panic (a decoder bug on hostile input) into `Err`.
pub(crate) fn guarded<T>(f: impl FnOnce() -> T) -> Result<T, ()> {
    catch_unwind(AssertUnwindSafe(f)).map_err(|_| ())
}
