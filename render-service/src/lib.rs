//! The render service as a library: its HTTP API ([`http`]) and its bundle job ([`jobs`]),
//! which `render-service serve` runs and the tests start in-process.

pub mod booklets;
pub mod http;
pub mod jobs;
