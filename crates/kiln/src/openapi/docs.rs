//! `/engine/docs`: the OpenAPI document in Swagger UI, served from this binary (the assets are
//! embedded from `crates/kiln/assets/swagger-ui/`, no CDN). The page loads
//! `/engine/api/openapi.json` with the browser's session, so it shows what the signed-in user
//! may see. Kiln's page CSP (`'self'` only) holds: the page has no inline script, and only adds
//! `data:` images, which Swagger UI's icons use.

use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;

const BUNDLE: &str = include_str!("../../assets/swagger-ui/swagger-ui-bundle.js");
const STYLES: &str = include_str!("../../assets/swagger-ui/swagger-ui.css");

/// The documentation page's own `Content-Security-Policy`: Kiln's, plus `data:` images.
const DOCS_CSP: &str = "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; \
                        base-uri 'none'; form-action 'self'";

const PAGE: &str = r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Kiln API</title>
<link rel="stylesheet" href="/engine/docs/swagger-ui.css">
</head>
<body>
<div id="docs"></div>
<script src="/engine/docs/swagger-ui-bundle.js"></script>
<script src="/engine/docs/init.js"></script>
</body>
</html>
"#;

const INIT: &str = r##"window.ui = SwaggerUIBundle({
  url: "/engine/api/openapi.json",
  dom_id: "#docs",
  deepLinking: true,
  validatorUrl: null,
  requestInterceptor: (request) => {
    // State-changing calls made from the page carry the session's CSRF token.
    const csrf = document.cookie.split("; ").find((c) => c.startsWith("kiln_csrf="));
    if (csrf) request.headers["X-CSRF-Token"] = decodeURIComponent(csrf.slice("kiln_csrf=".length));
    return request;
  },
});
"##;

/// The `/engine/docs` routes.
pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/engine/docs", get(page))
        .route("/engine/docs/", get(page))
        .route(
            "/engine/docs/swagger-ui-bundle.js",
            get(|| asset("text/javascript; charset=utf-8", BUNDLE)),
        )
        .route(
            "/engine/docs/swagger-ui.css",
            get(|| asset("text/css; charset=utf-8", STYLES)),
        )
        .route(
            "/engine/docs/init.js",
            get(|| asset("text/javascript; charset=utf-8", INIT)),
        )
}

async fn page() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CONTENT_SECURITY_POLICY, DOCS_CSP),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        PAGE,
    )
}

async fn asset(content_type: &'static str, body: &'static str) -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        body,
    )
}
