//! The scan simulator shared by the end-to-end tests and the benchmarks.
