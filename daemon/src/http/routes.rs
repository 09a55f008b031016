//! The route table: the single list of (method, path, time budget, handler) the router is built
//! from. Tests enumerate [`ROUTES`] to check the OpenAPI document against the router.
//!
//! Time budgets (http-api.md §12): reads and short commands are bounded by
//! `AO_REQUEST_TIMEOUT`, the long commands by 10 minutes, and SSE, health probes and
//! `/shutdown` are unbounded. Expiry answers 504 `REQUEST_TIMEOUT`; the operation itself is not
//! cancelled (it lives in an actor, not in the handler).

use std::time::Duration;

use ao_protocol::{ErrorCode, env::format_duration, routes as paths};
use axum::Router;
use axum::extract::{Request, State};
use axum::http::Method;
use axum::middleware::{Next, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, delete, get, patch, post, put};

use super::error::ApiError;
use super::gates;
use super::handlers::{control, events, fallback, orchestrators, projects, prs, sessions, status};
use super::openapi;
use super::state::AppState;

/// How long a route's handler may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Budget {
    /// `AO_REQUEST_TIMEOUT`.
    Short,
    /// 10 minutes (the long commands).
    Long,
    /// No timeout (SSE, health, `/shutdown`).
    Unbounded,
}

/// One row of the route table.
pub struct RouteDef {
    pub method: Method,
    pub path: &'static str,
    pub budget: Budget,
    make: fn() -> MethodRouter<AppState>,
}

/// Every route the daemon serves.
pub const ROUTES: &[RouteDef] = &[
    RouteDef {
        method: Method::GET,
        path: paths::HEALTHZ,
        budget: Budget::Unbounded,
        make: || get(control::healthz),
    },
    RouteDef {
        method: Method::GET,
        path: paths::READYZ,
        budget: Budget::Unbounded,
        make: || get(control::readyz),
    },
    RouteDef {
        method: Method::POST,
        path: paths::SHUTDOWN,
        budget: Budget::Unbounded,
        make: || post(control::shutdown),
    },
    RouteDef {
        method: Method::GET,
        path: paths::STATUS,
        budget: Budget::Short,
        make: || get(status::status),
    },
    RouteDef {
        method: Method::GET,
        path: paths::OPENAPI,
        budget: Budget::Short,
        make: || get(openapi::serve),
    },
    RouteDef {
        method: Method::GET,
        path: paths::PROJECTS,
        budget: Budget::Short,
        make: || get(projects::list),
    },
    RouteDef {
        method: Method::POST,
        path: paths::PROJECTS,
        budget: Budget::Short,
        make: || post(projects::add),
    },
    RouteDef {
        method: Method::GET,
        path: paths::PROJECT,
        budget: Budget::Short,
        make: || get(projects::get),
    },
    RouteDef {
        method: Method::DELETE,
        path: paths::PROJECT,
        budget: Budget::Long,
        make: || delete(projects::remove),
    },
    RouteDef {
        method: Method::PUT,
        path: paths::PROJECT_CONFIG,
        budget: Budget::Short,
        make: || put(projects::put_config),
    },
    RouteDef {
        method: Method::PATCH,
        path: paths::PROJECT_CONFIG,
        budget: Budget::Short,
        make: || patch(projects::patch_config),
    },
    RouteDef {
        method: Method::GET,
        path: paths::EVENTS,
        budget: Budget::Unbounded,
        make: || get(events::events),
    },
    RouteDef {
        method: Method::GET,
        path: paths::EVENTS_LOG,
        budget: Budget::Short,
        make: || get(events::log),
    },
    RouteDef {
        method: Method::GET,
        path: paths::SESSIONS,
        budget: Budget::Short,
        make: || get(sessions::list),
    },
    RouteDef {
        method: Method::POST,
        path: paths::SESSIONS,
        budget: Budget::Long,
        make: || post(sessions::spawn),
    },
    RouteDef {
        method: Method::POST,
        path: paths::SESSIONS_CLEANUP,
        budget: Budget::Long,
        make: || post(sessions::cleanup),
    },
    RouteDef {
        method: Method::GET,
        path: paths::SESSION,
        budget: Budget::Short,
        make: || get(sessions::get),
    },
    RouteDef {
        method: Method::PATCH,
        path: paths::SESSION,
        budget: Budget::Short,
        make: || patch(sessions::rename),
    },
    RouteDef {
        method: Method::POST,
        path: paths::SESSION_KILL,
        budget: Budget::Short,
        make: || post(sessions::kill),
    },
    RouteDef {
        method: Method::POST,
        path: paths::SESSION_RESTORE,
        budget: Budget::Long,
        make: || post(sessions::restore),
    },
    RouteDef {
        method: Method::POST,
        path: paths::SESSION_ROLLBACK,
        budget: Budget::Short,
        make: || post(sessions::rollback),
    },
    RouteDef {
        method: Method::POST,
        path: paths::SESSION_SEND,
        budget: Budget::Short,
        make: || post(sessions::send),
    },
    RouteDef {
        method: Method::POST,
        path: paths::SESSION_ACTIVITY,
        budget: Budget::Short,
        make: || post(sessions::activity),
    },
    RouteDef {
        method: Method::GET,
        path: paths::SESSION_ATTACH,
        budget: Budget::Short,
        make: || get(sessions::attach),
    },
    RouteDef {
        method: Method::GET,
        path: paths::SESSION_PR,
        budget: Budget::Short,
        make: || get(prs::summary),
    },
    RouteDef {
        method: Method::POST,
        path: paths::SESSION_PR_CLAIM,
        budget: Budget::Long,
        make: || post(prs::claim),
    },
    RouteDef {
        method: Method::GET,
        path: paths::ORCHESTRATORS,
        budget: Budget::Short,
        make: || get(orchestrators::list),
    },
    RouteDef {
        method: Method::POST,
        path: paths::ORCHESTRATORS,
        budget: Budget::Long,
        make: || post(orchestrators::start),
    },
    RouteDef {
        method: Method::GET,
        path: paths::ORCHESTRATOR,
        budget: Budget::Short,
        make: || get(orchestrators::get),
    },
];

/// The complete application: routes with their budgets, the 404/405 fallbacks, and the front
/// middleware (gates) around all of it.
pub fn router(app: AppState) -> Router {
    let mut router = Router::new();
    for def in ROUTES {
        let method_router = (def.make)();
        let limit = match def.budget {
            Budget::Short => Some(app.env.request_timeout),
            Budget::Long => Some(app.tuning.long_timeout),
            Budget::Unbounded => None,
        };
        let method_router = match limit {
            Some(limit) => method_router.layer(from_fn_with_state(limit, deadline)),
            None => method_router,
        };
        router = router.route(def.path, method_router);
    }
    router
        .method_not_allowed_fallback(fallback::method_not_allowed)
        .fallback(fallback::not_found)
        .layer(from_fn_with_state(app.clone(), gates::front))
        .with_state(app)
}

/// Bounds a handler by `limit`; expiry is 504 `REQUEST_TIMEOUT`.
async fn deadline(State(limit): State<Duration>, req: Request, next: Next) -> Response {
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(res) => res,
        Err(_) => ApiError::new(
            ErrorCode::RequestTimeout,
            format!(
                "the request did not complete within {}; the operation may still complete",
                format_duration(limit)
            ),
        )
        .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use std::future::IntoFuture;

    use super::*;

    #[tokio::test]
    async fn handlers_past_their_budget_get_504() {
        let limit = || from_fn_with_state(Duration::from_millis(50), deadline);
        let app: Router = Router::new()
            .route(
                "/slow",
                get(|| async {
                    tokio::time::sleep(Duration::from_secs(30)).await;
                    "late"
                })
                .layer(limit()),
            )
            .route("/fast", get(|| async { "ok" }).layer(limit()));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        tokio::spawn(axum::serve(listener, app).into_future());
        crate::install_crypto_provider();
        crate::install_crypto_provider();
        let client = reqwest::Client::new();
        let slow = client
            .get(format!("http://127.0.0.1:{port}/slow"))
            .send()
            .await
            .expect("response");
        assert_eq!(slow.status(), 504);
        let fast = client
            .get(format!("http://127.0.0.1:{port}/fast"))
            .send()
            .await
            .expect("response");
        assert_eq!(fast.status(), 200);
    }

    #[test]
    fn budgets_follow_the_spec() {
        let budget = |m: Method, p: &str| {
            ROUTES
                .iter()
                .find(|r| r.method == m && r.path == p)
                .map(|r| r.budget)
        };
        assert_eq!(budget(Method::GET, paths::EVENTS), Some(Budget::Unbounded));
        assert_eq!(budget(Method::GET, paths::HEALTHZ), Some(Budget::Unbounded));
        assert_eq!(
            budget(Method::POST, paths::SHUTDOWN),
            Some(Budget::Unbounded)
        );
        assert_eq!(budget(Method::DELETE, paths::PROJECT), Some(Budget::Long));
        assert_eq!(budget(Method::POST, paths::PROJECTS), Some(Budget::Short));
        assert_eq!(budget(Method::GET, paths::EVENTS_LOG), Some(Budget::Short));
        for long in [
            (Method::POST, paths::SESSIONS),
            (Method::POST, paths::ORCHESTRATORS),
            (Method::POST, paths::SESSION_RESTORE),
            (Method::POST, paths::SESSIONS_CLEANUP),
            (Method::POST, paths::SESSION_PR_CLAIM),
        ] {
            assert_eq!(
                budget(long.0.clone(), long.1),
                Some(Budget::Long),
                "{long:?}"
            );
        }
        for short in [
            (Method::POST, paths::SESSION_KILL),
            (Method::POST, paths::SESSION_SEND),
            (Method::POST, paths::SESSION_ACTIVITY),
            (Method::GET, paths::SESSION_ATTACH),
            (Method::GET, paths::SESSION_PR),
        ] {
            assert_eq!(
                budget(short.0.clone(), short.1),
                Some(Budget::Short),
                "{short:?}"
            );
        }
    }
}
