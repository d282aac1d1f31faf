//! The `--db` and `--tenant` options, shared with `render-service`.

pub use store::cli::DbArgs;
