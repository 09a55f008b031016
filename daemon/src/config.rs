//! Daemon configuration: the validated [`EnvConfig`] plus the checks that only the daemon makes.
//!
//! `AO_LOG` is validated here with `tracing_subscriber::EnvFilter` (the protocol crate keeps it
//! as a plain string); an invalid directive is a startup failure (exit 1).

use ao_protocol::EnvConfig;
use tracing_subscriber::EnvFilter;

use crate::DaemonError;

/// Parses `AO_LOG` strictly: every directive must be valid.
pub fn log_filter(env: &EnvConfig) -> Result<EnvFilter, DaemonError> {
    EnvFilter::builder()
        .parse(&env.log)
        .map_err(|e| DaemonError::InvalidLog {
            value: env.log.clone(),
            reason: e.to_string(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(log: &str) -> EnvConfig {
        let log = log.to_string();
        EnvConfig::from_lookup(|k| match k {
            "HOME" => Some("/h".into()),
            "AO_LOG" => Some(log.clone()),
            _ => None,
        })
        .expect("valid env")
    }

    #[test]
    fn valid_directives_pass_and_invalid_ones_name_ao_log() {
        for ok in ["info", "ao=debug,hyper=warn", "warn,ao_daemon=trace"] {
            assert!(log_filter(&env(ok)).is_ok(), "{ok}");
        }
        for bad in ["ao=loud", "=info=x", "[bad"] {
            let err = log_filter(&env(bad)).expect_err(bad).to_string();
            assert!(err.starts_with("invalid AO_LOG="), "{err}");
        }
    }
}
