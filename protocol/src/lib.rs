//! `ao-protocol` — the shared language of `ao` and its wire format.
//!
//! Everything that crosses a crate or process boundary is defined here: validated ID newtypes
//! ([`ProjectId`], [`SessionId`]), every closed vocabulary of the spec as a string enum with
//! `as_str`/`FromStr` ([`enums`]), the JSON DTOs of the HTTP API ([`dto`]), the error envelope and
//! the complete [`ErrorCode`] catalogue ([`error`]), the change-log event ([`ChangeEvent`]) and
//! the project configuration with its validation and RFC 7386 merge patch ([`config`]).
//!
//! Invariants:
//! * serde + serde_json (and utoipa derives for the OpenAPI document) only: no tokio, axum,
//!   rusqlite or ractor here, so every other crate may depend on this one.
//! * JSON is camelCase; enum values are snake_case; absent values are `null`, never omitted
//!   (the error envelope's `details` is the one exception).
//! * Constructors validate: a value of an ID type is always well-formed.
//! * `faults` (the test-only fault-injection registry) exists only with the
//!   `fault-injection` feature, which only dev-dependencies enable.

pub mod config;
pub mod dto;
pub mod enums;
pub mod env;
pub mod error;
#[cfg(feature = "fault-injection")]
pub mod faults;
pub mod hooks;
pub mod ids;
pub mod limits;
pub mod scm;
pub mod time;

pub use config::{AgentConfig, ConfigError, ProjectConfig, RoleConfig};
pub use dto::*;
pub use enums::*;
pub use env::{EnvConfig, EnvError};
pub use error::{ErrorBody, ErrorCode};
pub use ids::{IdError, ProjectId, SessionId};

/// The version of this build (all crates share the workspace version).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The `service` word of `/healthz`, `/readyz` and `/shutdown` bodies.
pub const SERVICE_NAME: &str = "ao-daemon";
