//! The render service's background jobs, one module each.

pub mod render_bundle;
mod render_shim;

pub use render_bundle::{BundleRequest, RenderBundle, RenderBundlePayload};
pub use render_shim::bundle_page_count;
