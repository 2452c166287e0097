//! CORS for individual script routes: `registerWebHandler(m, p, h, { cors })` with `cors: true`
//! (any origin, no credentials) or `{ origins, methods, headers, exposeHeaders, credentials,
//! maxAge }`. The dispatcher answers preflights for such routes and adds the CORS headers to
//! their answers when the request's `Origin` is allowed. The global `[http.cors]` layer, when
//! configured, runs first and takes precedence.

use http::header::{
    ACCESS_CONTROL_ALLOW_CREDENTIALS, ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS,
    ACCESS_CONTROL_ALLOW_ORIGIN, ACCESS_CONTROL_EXPOSE_HEADERS, ACCESS_CONTROL_MAX_AGE,
    ACCESS_CONTROL_REQUEST_HEADERS, ORIGIN, VARY,
};
use http::{HeaderMap, HeaderValue};

/// Default preflight cache time, seconds.
const DEFAULT_MAX_AGE: u64 = 600;

/// A route's CORS policy, read from its options.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouteCors {
    /// `None` = any origin.
    origins: Option<Vec<String>>,
    methods: Option<Vec<String>>,
    headers: Option<Vec<String>>,
    expose: Option<Vec<String>>,
    credentials: bool,
    max_age: u64,
}

fn strings(value: Option<&serde_json::Value>) -> Option<Vec<String>> {
    value?.as_array().map(|items| {
        items
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect()
    })
}

impl RouteCors {
    /// The policy in a route's options (validated at deploy time by the prelude), if any.
    pub fn from_options(options: &serde_json::Value) -> Option<RouteCors> {
        let cors = options.get("cors")?;
        Some(RouteCors {
            origins: strings(cors.get("origins")),
            methods: strings(cors.get("methods")),
            headers: strings(cors.get("headers")),
            expose: strings(cors.get("exposeHeaders")),
            credentials: cors
                .get("credentials")
                .and_then(serde_json::Value::as_bool)
                .unwrap_or(false),
            max_age: cors
                .get("maxAge")
                .and_then(serde_json::Value::as_u64)
                .unwrap_or(DEFAULT_MAX_AGE),
        })
    }

    /// The `Access-Control-Allow-Origin` value for `origin`, if it is allowed.
    fn allow_origin(&self, origin: &str) -> Option<HeaderValue> {
        match &self.origins {
            None if !self.credentials => Some(HeaderValue::from_static("*")),
            None => HeaderValue::from_str(origin).ok(),
            Some(list) => list
                .iter()
                .any(|o| o.eq_ignore_ascii_case(origin))
                .then(|| HeaderValue::from_str(origin).ok())
                .flatten(),
        }
    }

    /// Adds the CORS headers of an actual (non-preflight) answer.
    pub fn decorate(&self, request: &HeaderMap, response: &mut HeaderMap) {
        response.append(VARY, HeaderValue::from_static("origin"));
        let Some(origin) = request.get(ORIGIN).and_then(|v| v.to_str().ok()) else {
            return;
        };
        let Some(allow) = self.allow_origin(origin) else {
            return;
        };
        response.insert(ACCESS_CONTROL_ALLOW_ORIGIN, allow);
        if self.credentials {
            response.insert(
                ACCESS_CONTROL_ALLOW_CREDENTIALS,
                HeaderValue::from_static("true"),
            );
        }
        if let Some(expose) = &self.expose
            && let Ok(value) = HeaderValue::from_str(&expose.join(", "))
        {
            response.insert(ACCESS_CONTROL_EXPOSE_HEADERS, value);
        }
    }

    /// The headers answering a preflight for `method` (the route's own methods when the
    /// policy lists none), or `None` when the origin is not allowed.
    pub fn preflight(&self, request: &HeaderMap, route_methods: &str) -> Option<HeaderMap> {
        let origin = request.get(ORIGIN)?.to_str().ok()?;
        let allow = self.allow_origin(origin)?;
        let mut headers = HeaderMap::new();
        headers.insert(ACCESS_CONTROL_ALLOW_ORIGIN, allow);
        headers.append(VARY, HeaderValue::from_static("origin"));
        let methods = match &self.methods {
            Some(list) => list.join(", "),
            None => route_methods.to_owned(),
        };
        if let Ok(value) = HeaderValue::from_str(&methods) {
            headers.insert(ACCESS_CONTROL_ALLOW_METHODS, value);
        }
        let allowed_headers = match &self.headers {
            Some(list) => HeaderValue::from_str(&list.join(", ")).ok(),
            // Without a list, whatever the browser asks to send is fine.
            None => request.get(ACCESS_CONTROL_REQUEST_HEADERS).cloned(),
        };
        if let Some(value) = allowed_headers {
            headers.insert(ACCESS_CONTROL_ALLOW_HEADERS, value);
        }
        if self.credentials {
            headers.insert(
                ACCESS_CONTROL_ALLOW_CREDENTIALS,
                HeaderValue::from_static("true"),
            );
        }
        headers.insert(ACCESS_CONTROL_MAX_AGE, HeaderValue::from(self.max_age));
        Some(headers)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn origin(value: &'static str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(ORIGIN, HeaderValue::from_static(value));
        headers
    }

    #[test]
    fn any_origin_without_credentials_is_a_star() {
        let cors = RouteCors::from_options(&json!({ "cors": { "origins": "*" } })).unwrap();
        let mut out = HeaderMap::new();
        cors.decorate(&origin("https://a.example"), &mut out);
        assert_eq!(out[ACCESS_CONTROL_ALLOW_ORIGIN], "*");
        assert!(RouteCors::from_options(&json!({})).is_none());
    }

    #[test]
    fn listed_origins_are_echoed_and_others_get_nothing() {
        let cors = RouteCors::from_options(&json!({ "cors": {
            "origins": ["https://app.example"], "credentials": true, "exposeHeaders": ["x-total"],
            "methods": ["GET", "PUT"], "maxAge": 60
        }}))
        .unwrap();
        let mut out = HeaderMap::new();
        cors.decorate(&origin("https://app.example"), &mut out);
        assert_eq!(out[ACCESS_CONTROL_ALLOW_ORIGIN], "https://app.example");
        assert_eq!(out[ACCESS_CONTROL_ALLOW_CREDENTIALS], "true");
        assert_eq!(out[ACCESS_CONTROL_EXPOSE_HEADERS], "x-total");
        let mut denied = HeaderMap::new();
        cors.decorate(&origin("https://evil.example"), &mut denied);
        assert!(denied.get(ACCESS_CONTROL_ALLOW_ORIGIN).is_none());
        let pre = cors
            .preflight(&origin("https://app.example"), "GET")
            .unwrap();
        assert_eq!(pre[ACCESS_CONTROL_ALLOW_METHODS], "GET, PUT");
        assert_eq!(pre[ACCESS_CONTROL_MAX_AGE], "60");
        assert!(
            cors.preflight(&origin("https://evil.example"), "GET")
                .is_none()
        );
    }
}
