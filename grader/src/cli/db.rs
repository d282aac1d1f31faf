//! The `--db` and `--tenant` options, shared with `render-service`.

pub use shared::cli::DbArgs;
