//! What both Gabarito HTTP services share: [problem documents](problem) as the one error type,
//! [bearer-token auth](auth), [request logs and metrics](telemetry), the
//! [operations routes](ops), the [OpenAPI document](openapi), [running and stopping](server),
//! and the [job worker](worker).

pub mod auth;
pub mod extract;
pub mod number;
pub mod openapi;
pub mod ops;
pub mod problem;
pub mod server;
pub mod storage;
pub mod telemetry;
pub mod worker;

pub use auth::Caller;
pub use extract::{Path, Query};
pub use ops::Ops;
pub use problem::{ApiResult, FieldError, Problem, ProblemType};
pub use server::ServeArgs;
pub use worker::{JobError, JobKind, JobRun, Wake, Worker};
