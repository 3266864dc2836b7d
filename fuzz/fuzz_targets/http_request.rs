//! The scrape server's pure request decisions: routing on method and URL,
//! content negotiation on `Accept` and `Accept-Encoding`.
//!
//! The input is split on `\n` into method, URL, Accept and Accept-Encoding
//! (a missing part is an absent header). Checks: no panic; routing answers the
//! exposition only for `GET|HEAD` on `/metrics` (query ignored), and the known
//! paths with another method get 405; OpenMetrics is chosen only when the
//! header names its media type, and stays chosen when more elements follow;
//! gzip only when the header mentions it, always when a plain `gzip` element
//! is appended, and never for a lone `gzip;q=0`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use motifd_exporter::server::negotiate::{accepts_gzip, format_for};
use motifd_exporter::server::route::{route, Route};
use motifd_exporter::Format;

fn check_route(method: &str, url: &str) {
    let r = route(method, url);
    let path = url.split('?').next().unwrap_or("");
    let read = method == "GET" || method == "HEAD";
    let known = matches!(path, "/metrics" | "/healthz" | "/" | "/episodes.json");
    match r {
        Route::Metrics => assert!(read && path == "/metrics"),
        Route::Healthz => assert!(read && path == "/healthz"),
        Route::Index => assert!(read && path == "/"),
        Route::Episodes => assert!(read && path == "/episodes.json"),
        Route::MethodNotAllowed => assert!(known && !read),
        Route::NotFound => assert!(!known),
    }
    // Anything after the path's `?` never changes the route.
    assert_eq!(route(method, &format!("{path}?{url}")), r);
}

fn check_accept(accept: Option<&str>) {
    let f = format_for(accept);
    if let Some(a) = accept {
        if f == Format::OpenMetrics {
            assert!(a
                .to_ascii_lowercase()
                .contains("application/openmetrics-text"));
            assert_eq!(format_for(Some(&format!("{a},text/plain"))), f);
        }
        let om = format_for(Some(&format!("{a},application/openmetrics-text")));
        assert_eq!(om, Format::OpenMetrics);
    } else {
        assert_eq!(f, Format::Classic);
    }
}

fn check_encoding(encoding: Option<&str>) {
    let gzip = accepts_gzip(encoding);
    if let Some(e) = encoding {
        if gzip {
            assert!(e.to_ascii_lowercase().contains("gzip"));
        }
        assert!(accepts_gzip(Some(&format!("{e}, gzip"))));
        assert_eq!(accepts_gzip(Some(&format!("{e},gzip;q=0"))), gzip);
    } else {
        assert!(!gzip);
    }
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut parts = text.split('\n');
    let method = parts.next().unwrap_or("");
    let url = parts.next().unwrap_or("");
    let accept = parts.next();
    let encoding = parts.next();
    check_route(method, url);
    check_accept(accept);
    check_encoding(encoding);
});
