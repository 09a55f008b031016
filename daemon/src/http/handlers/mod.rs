//! Route handlers. They are thin by rule (README §3.1): validate the input, then either read the
//! store through the read pool on the blocking pool, or make exactly one actor-handle call for
//! a command. A handler never calls an adapter (git, tmux, …) and never writes SQLite.

pub mod control;
pub mod events;
pub mod fallback;
pub mod orchestrators;
pub mod projects;
pub mod prs;
pub mod sessions;
pub mod status;

use super::error::ApiError;
use super::state::AppState;
use ao_store::{ReadPool, StoreError};

/// Runs a store read (plus any filesystem-only derivation) on the blocking pool.
pub async fn read<T, F>(app: &AppState, f: F) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: FnOnce(&ReadPool) -> Result<T, StoreError> + Send + 'static,
{
    let reader = app.reader.clone();
    match tokio::task::spawn_blocking(move || f(&reader)).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(ApiError::internal(format!("store read failed: {e}"))),
        Err(e) => Err(ApiError::internal(format!("store read task failed: {e}"))),
    }
}
