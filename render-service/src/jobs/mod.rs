//! The render service's background jobs, one module each.

pub mod render_bundle;

pub use render_bundle::{BundleRequest, RenderBundle, RenderBundlePayload};
