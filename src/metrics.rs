//! Prometheus metrics: requests by route and status, latency, database pool use.

use std::time::Duration;

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, Opts, Registry, TextEncoder,
};

use crate::db::Db;

/// The one label value of every request no route matched.
pub const UNMATCHED_ROUTE: &str = "unmatched";

/// The standard methods by name; every other (invented) method as one value.
pub fn method_label(method: &actix_web::http::Method) -> &'static str {
    use actix_web::http::Method;
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        Method::TRACE => "TRACE",
        Method::CONNECT => "CONNECT",
        _ => "OTHER",
    }
}

pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    latency: HistogramVec,
    pool_in_use: IntGauge,
    pool_size: IntGauge,
}

impl Metrics {
    pub fn new() -> anyhow::Result<Self> {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new("http_requests_total", "HTTP requests by route and status"),
            &["method", "route", "status"],
        )?;
        let latency = HistogramVec::new(
            HistogramOpts::new("http_request_duration_seconds", "HTTP request latency").buckets(
                vec![
                    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
                ],
            ),
            &["method", "route"],
        )?;
        let pool_in_use = IntGauge::new(
            "db_pool_connections_in_use",
            "Database connections currently checked out",
        )?;
        let pool_size = IntGauge::new("db_pool_connections", "Database connections open")?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(latency.clone()))?;
        registry.register(Box::new(pool_in_use.clone()))?;
        registry.register(Box::new(pool_size.clone()))?;
        Ok(Self {
            registry,
            requests,
            latency,
            pool_in_use,
            pool_size,
        })
    }

    /// Counts a request. `route` must be a route pattern or `UNMATCHED_ROUTE` and `method` a
    /// value of `method_label`, so that clients cannot invent new series.
    pub fn observe(&self, method: &str, route: &str, status: u16, elapsed: Duration) {
        self.requests
            .with_label_values(&[method, route, &status.to_string()])
            .inc();
        self.latency
            .with_label_values(&[method, route])
            .observe(elapsed.as_secs_f64());
    }

    pub fn render(&self, db: &Db) -> anyhow::Result<String> {
        let state = db.pool.state();
        self.pool_size.set(i64::from(state.connections));
        self.pool_in_use.set(i64::from(db.in_use()));
        let mut out = Vec::new();
        TextEncoder::new().encode(&self.registry.gather(), &mut out)?;
        Ok(String::from_utf8(out)?)
    }
}

#[cfg(test)]
mod tests {
    use actix_web::http::Method;

    #[test]
    fn invented_methods_share_one_label() {
        assert_eq!(super::method_label(&Method::PATCH), "PATCH");
        let invented = Method::from_bytes(b"FOO123").unwrap();
        assert_eq!(super::method_label(&invented), "OTHER");
    }
}
