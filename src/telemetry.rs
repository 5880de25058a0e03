//! Structured logs and the request id carried by every request and every log line.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{web, HttpMessage};
use tracing::field::Empty;
use tracing::Instrument;
use tracing_subscriber::{fmt, EnvFilter};

use crate::app::AppState;
use crate::config::LogFormat;
use crate::metrics::{method_label, UNMATCHED_ROUTE};

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The request's id, for handlers that want to mention it.
#[derive(Clone, Debug)]
pub struct RequestId(pub String);

pub fn init(format: &LogFormat) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,actix_server=warn"));
    let builder = fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    // A second init (tests start several apps) is harmless: the first subscriber stays.
    let _ = match format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

/// Accepts a caller's id if it is short and plain, else makes one.
fn pick_id(incoming: Option<&str>) -> String {
    incoming
        .filter(|v| {
            !v.is_empty()
                && v.len() <= 128
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
        })
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::now_v7().to_string())
}

/// A path no route matched, for the log: segments long enough to be a token or an id are
/// left out.
fn redact(path: &str) -> String {
    path.split('/')
        .map(|seg| if seg.chars().count() > 16 { "…" } else { seg })
        .collect::<Vec<_>>()
        .join("/")
        .chars()
        .take(200)
        .collect()
}

/// Probes and scrapes come every few seconds and say nothing new: logged at DEBUG only.
fn is_quiet(path: &str) -> bool {
    matches!(path, "/healthz" | "/readyz" | "/metrics")
}

/// Gives the request an id, runs it inside a span that carries the id, echoes the id back, and
/// counts the request for `/metrics`. One log line per request (none at INFO for probes).
pub async fn middleware(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let id = pick_id(req.headers().get(&REQUEST_ID).and_then(|v| v.to_str().ok()));
    req.extensions_mut().insert(RequestId(id.clone()));
    let state = req.app_data::<web::Data<AppState>>().cloned();
    let method = method_label(req.method());
    // Probes have fixed paths, so they are told apart before routing.
    let quiet = is_quiet(req.path());
    // The route is recorded once routing has run: then it is a lookup, where matching the path
    // here first was a second regex pass over the routes for every request.
    let span = if quiet {
        tracing::debug_span!("request", request_id = %id, method, route = Empty, path = Empty)
    } else {
        tracing::info_span!("request", request_id = %id, method, route = Empty, path = Empty)
    };
    let started = Instant::now();
    let mut res = next.call(req).instrument(span.clone()).await?;
    let elapsed = started.elapsed();
    // The route pattern, never the path itself: paths carry link tokens (`/p/{purpose}/{token}`).
    let pattern = res.request().match_pattern();
    let route = pattern.as_deref().unwrap_or(UNMATCHED_ROUTE);
    span.record("route", route);
    if pattern.is_none() {
        span.record("path", redact(res.request().path()));
    }
    if let Ok(v) = HeaderValue::from_str(&id) {
        res.headers_mut().insert(REQUEST_ID, v);
    }
    let status = res.status().as_u16();
    if let Some(state) = state {
        state.metrics.observe(method, route, status, elapsed);
    }
    let elapsed_ms = elapsed.as_secs_f64() * 1000.0;
    span.in_scope(|| {
        if quiet {
            tracing::debug!(status, elapsed_ms, "request finished")
        } else {
            tracing::info!(status, elapsed_ms, "request finished")
        }
    });
    Ok(res)
}

#[cfg(test)]
mod tests {
    use super::{is_quiet, pick_id, redact};

    #[test]
    fn probes_are_quiet_and_the_rest_is_not() {
        assert!(is_quiet("/healthz") && is_quiet("/readyz") && is_quiet("/metrics"));
        assert!(!is_quiet("/api/v1/engagements/{id}") && !is_quiet("unmatched"));
    }

    #[test]
    fn unmatched_paths_lose_their_long_segments() {
        assert_eq!(
            redact("/p/landing/AAAAAAAAAAAAAAAAAAAAAA/x"),
            "/p/landing/…/x"
        );
        assert_eq!(redact("/nope"), "/nope");
    }

    #[test]
    fn ids_are_accepted_or_made() {
        assert_eq!(pick_id(Some("abc-123")), "abc-123");
        assert_ne!(pick_id(Some("bad id\n")), "bad id\n");
        assert_eq!(pick_id(None).len(), 36);
        assert_eq!(pick_id(Some(&"x".repeat(200))).len(), 36);
    }
}
