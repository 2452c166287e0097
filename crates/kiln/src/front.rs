//! The front service every request enters: it sends Kiln's own paths (`/health*`,
//! `/engine/api/*`, `/engine/docs*`, `/engine/types/*`, `/auth/*`, `/execute`, `/api/execute`, `/api/modules*`)
//! to the axum router
//! and everything else straight to the script dispatcher, all inside the one middleware stack
//! (request context, panic catching). Script requests are the hot path, so they skip the
//! router's path matching, service cloning and extractors.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::Router;
use axum::extract::Request;
use axum::response::Response;
use futures::future::Either;
use tower::Service;

use crate::dispatch;
use crate::server::AppState;

/// Path prefixes (and exact paths) served by Kiln's own router.
const KILN_PATHS: [&str; 8] = [
    "/health",
    "/engine/api",
    "/engine/docs",
    "/engine/types",
    "/auth",
    "/execute",
    "/api/execute",
    "/api/modules",
];

/// True when `path` is one of Kiln's own (handled by the router, not by scripts).
pub fn is_kiln_path(path: &str) -> bool {
    KILN_PATHS.iter().any(|prefix| {
        path.strip_prefix(prefix)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    })
}

/// The service splitting Kiln's routes from scripts' routes.
#[derive(Clone)]
pub struct Front {
    router: Router,
    state: Arc<AppState>,
}

impl Front {
    /// `router` serves Kiln's own paths; scripts are served from `state`.
    pub fn new(router: Router, state: Arc<AppState>) -> Self {
        Front { router, state }
    }
}

type ScriptFuture = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;
type RouterFuture = Pin<Box<<Router as Service<Request>>::Future>>;

impl Service<Request> for Front {
    type Response = Response;
    type Error = Infallible;
    // Both arms are boxed: the router's future is large, and every layer outside `Front` embeds
    // this future by value, so a small one keeps the hot (script) path's moves cheap.
    type Future = Either<RouterFuture, ScriptFuture>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Service::<Request>::poll_ready(&mut self.router, cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        if is_kiln_path(request.uri().path()) {
            Either::Left(Box::pin(self.router.call(request)))
        } else {
            let state = self.state.clone();
            Either::Right(Box::pin(async move {
                Ok(dispatch::script_request(&state, request).await)
            }))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::is_kiln_path;

    #[test]
    fn kiln_paths_are_exact_or_whole_segments() {
        for path in [
            "/health",
            "/health/live",
            "/health/ready",
            "/engine/api",
            "/engine/api/scripts",
            "/engine/types/kiln.d.ts",
            "/api/modules",
            "/api/modules/tool/execute",
        ] {
            assert!(is_kiln_path(path), "{path}");
        }
        for path in [
            "/",
            "/healthz",
            "/engine",
            "/engine/apix",
            "/engine/typesx",
            "/hello/health",
            "/api",
            "/api/things",
            "/api/modulesx",
        ] {
            assert!(!is_kiln_path(path), "{path}");
        }
    }
}
