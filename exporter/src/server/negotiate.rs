//! Content negotiation on `Accept` and `Accept-Encoding`.

use crate::render::ExpositionFormat;

/// OpenMetrics if any element of `Accept` has the media type
/// `application/openmetrics-text` (case-insensitive, parameters ignored), else
/// classic. This is the rule Prometheus itself applies to our answer's
/// Content-Type; `*/*` and a missing header get the classic format, which
/// every consumer reads.
pub fn format_for(accept: Option<&str>) -> ExpositionFormat {
    let wants_om = accept.is_some_and(|a| {
        a.split(',').any(|element| {
            let media = element.split(';').next().unwrap_or("").trim();
            media.eq_ignore_ascii_case("application/openmetrics-text")
        })
    });
    if wants_om {
        ExpositionFormat::OpenMetrics
    } else {
        ExpositionFormat::Classic
    }
}

/// Whether `Accept-Encoding` allows gzip: a `gzip` (or `x-gzip`) element
/// whose `q` is not zero.
pub fn accepts_gzip(accept_encoding: Option<&str>) -> bool {
    accept_encoding.is_some_and(|h| {
        h.split(',').any(|element| {
            let mut parts = element.split(';');
            let coding = parts.next().unwrap_or("").trim();
            let is_gzip =
                coding.eq_ignore_ascii_case("gzip") || coding.eq_ignore_ascii_case("x-gzip");
            is_gzip && !parts.any(|p| is_zero_q(p.trim()))
        })
    })
}

fn is_zero_q(param: &str) -> bool {
    param
        .strip_prefix("q=")
        .or_else(|| param.strip_prefix("Q="))
        .and_then(|q| q.trim().parse::<f64>().ok())
        .is_some_and(|q| q == 0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The header Prometheus 2.42 sends.
    const PROMETHEUS_ACCEPT: &str = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

    #[test]
    fn accept_selects_format() {
        assert_eq!(
            format_for(Some(PROMETHEUS_ACCEPT)),
            ExpositionFormat::OpenMetrics
        );
        assert_eq!(
            format_for(Some(
                "text/plain;version=0.0.4, APPLICATION/OpenMetrics-Text"
            )),
            ExpositionFormat::OpenMetrics
        );
        assert_eq!(
            format_for(Some("text/plain;version=0.0.4")),
            ExpositionFormat::Classic
        );
        assert_eq!(format_for(Some("*/*")), ExpositionFormat::Classic);
        assert_eq!(format_for(Some("")), ExpositionFormat::Classic);
        assert_eq!(format_for(None), ExpositionFormat::Classic);
    }

    #[test]
    fn gzip_negotiation() {
        assert!(accepts_gzip(Some("gzip")));
        assert!(accepts_gzip(Some("deflate, GZIP;q=0.5")));
        assert!(!accepts_gzip(Some("gzip;q=0")));
        assert!(!accepts_gzip(Some("identity")));
        assert!(!accepts_gzip(None));
    }
}
