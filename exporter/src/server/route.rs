//! Routing: which answer a request gets, decided from its method and URL alone.

/// What a request is answered with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// `GET|HEAD /metrics`: the exposition.
    Metrics,
    /// `GET|HEAD /healthz`: engine liveness.
    Healthz,
    /// `GET|HEAD /`: the live episode page (the plain index without one).
    Index,
    /// `GET|HEAD /episodes.json`: the live episodes for scripts.
    Episodes,
    /// A known path with another method: 405 with `Allow: GET, HEAD`.
    MethodNotAllowed,
    /// Anything else: 404.
    NotFound,
}

/// Routes `method` (as sent, case-sensitive like HTTP methods are) and `url`
/// (the request target; a query string is ignored).
pub fn route(method: &str, url: &str) -> Route {
    let path = url.split('?').next().unwrap_or("");
    let is_read = matches!(method, "GET" | "HEAD");
    match (path, is_read) {
        ("/metrics" | "/healthz" | "/" | "/episodes.json", false) => Route::MethodNotAllowed,
        ("/metrics", true) => Route::Metrics,
        ("/healthz", true) => Route::Healthz,
        ("/", true) => Route::Index,
        ("/episodes.json", true) => Route::Episodes,
        _ => Route::NotFound,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_by_path_and_method() {
        assert_eq!(route("GET", "/metrics?x=1"), Route::Metrics);
        assert_eq!(route("HEAD", "/healthz"), Route::Healthz);
        assert_eq!(route("GET", "/"), Route::Index);
        assert_eq!(route("GET", "/episodes.json?x"), Route::Episodes);
        assert_eq!(route("PUT", "/episodes.json"), Route::MethodNotAllowed);
        assert_eq!(route("POST", "/metrics"), Route::MethodNotAllowed);
        assert_eq!(route("get", "/metrics"), Route::MethodNotAllowed);
        assert_eq!(route("GET", "/metrics/"), Route::NotFound);
        assert_eq!(route("GET", ""), Route::NotFound);
    }
}
