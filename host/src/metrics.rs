//! Prometheus metrics, and the optional endpoint that serves them
//! (`[metrics] listen = "127.0.0.1:9464"`).
//!
//! The counters are process-wide (one registry, as Prometheus expects of a
//! process) and labelled by gateway where a gateway is known. Counting is
//! an atomic add, so the hot paths (every stanza, every plugin call) pay
//! next to nothing whether or not anyone scrapes.

use std::net::SocketAddr;
use std::sync::LazyLock;
use std::time::Duration;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Labels as `(name, value)` pairs, for the metrics that move rarely.
type Labels = Vec<(&'static str, String)>;

/// The label of the per-call metrics: a fixed export name, so that counting
/// a call allocates nothing.
#[derive(Clone, Debug, Hash, PartialEq, Eq, prometheus_client::encoding::EncodeLabelSet)]
pub struct ExportLabel {
    export: &'static str,
}

/// The label of the failure counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, prometheus_client::encoding::EncodeLabelSet)]
pub struct ReasonLabel {
    reason: &'static str,
}

/// One link's counters, looked up once per connection so that counting a
/// stanza is one atomic add.
#[derive(Clone)]
pub struct LinkMetrics {
    /// Messages received.
    pub messages_in: Counter,
    /// Presences received.
    pub presences_in: Counter,
    /// Iqs received.
    pub iqs_in: Counter,
    /// Stanzas written.
    pub out: Counter,
    /// Stanzas queued.
    pub queue: Gauge,
    /// Handshakes.
    pub connects: Counter,
}

impl LinkMetrics {
    /// The counters of gateway `jid`.
    pub fn of(jid: &str) -> Self {
        let kind = |kind: &str| {
            METRICS.stanzas_in.get_or_create_owned(&vec![
                ("gateway", jid.to_owned()),
                ("kind", kind.to_owned()),
            ])
        };
        let labels = gateway(jid);
        LinkMetrics {
            messages_in: kind("message"),
            presences_in: kind("presence"),
            iqs_in: kind("iq"),
            out: METRICS.stanzas_out.get_or_create_owned(&labels),
            queue: METRICS.queue_depth.get_or_create_owned(&labels),
            connects: METRICS.link_connects.get_or_create_owned(&labels),
        }
    }
}

/// Every metric of the host.
pub struct Metrics {
    registry: Registry,
    /// Stanzas received from the server, by gateway and kind.
    pub stanzas_in: Family<Labels, Counter>,
    /// Stanzas written to the server, by gateway.
    pub stanzas_out: Family<Labels, Counter>,
    /// Stanzas waiting to be written, by gateway.
    pub queue_depth: Family<Labels, Gauge>,
    /// Stanzas waiting in the sessions' queues (paced), by gateway.
    pub outgoing_backlog: Family<Labels, Gauge>,
    /// Plugin calls refused because the user's queue was full, by gateway.
    pub outgoing_refused: Family<Labels, Counter>,
    /// Stanzas dropped instead of sent, by gateway and reason
    /// (`too-large`).
    pub stanzas_dropped: Family<Labels, Counter>,
    /// Calls into plugins, by export.
    pub plugin_calls: Family<ExportLabel, Counter>,
    /// How long calls into plugins took, by export.
    pub plugin_call_seconds: Family<ExportLabel, Histogram, fn() -> Histogram>,
    /// Calls that failed, by reason: `trap`, `deadline`, `memory`.
    pub plugin_failures: Family<ReasonLabel, Counter>,
    /// Sessions, by gateway and login state.
    pub sessions: Family<Labels, Gauge>,
    /// Plugin reloads, by outcome: `ok`, `failed`.
    pub reloads: Family<Labels, Counter>,
    /// Component link connections made, by gateway.
    pub link_connects: Family<Labels, Counter>,
}

fn call_histogram() -> Histogram {
    // 10 µs to about 5 s.
    Histogram::new(exponential_buckets(0.000_01, 4.0, 10))
}

/// The process's metrics.
pub static METRICS: LazyLock<Metrics> = LazyLock::new(|| {
    let mut registry = Registry::with_prefix("gatehouse");
    let metrics = Metrics {
        stanzas_in: Family::default(),
        stanzas_out: Family::default(),
        queue_depth: Family::default(),
        outgoing_backlog: Family::default(),
        outgoing_refused: Family::default(),
        stanzas_dropped: Family::default(),
        plugin_calls: Family::default(),
        plugin_call_seconds: Family::new_with_constructor(call_histogram as fn() -> Histogram),
        plugin_failures: Family::default(),
        sessions: Family::default(),
        reloads: Family::default(),
        link_connects: Family::default(),
        registry: Registry::default(),
    };
    registry.register(
        "stanzas_in",
        "Stanzas received from the XMPP server",
        metrics.stanzas_in.clone(),
    );
    registry.register(
        "stanzas_out",
        "Stanzas written to the XMPP server",
        metrics.stanzas_out.clone(),
    );
    registry.register(
        "queue_depth",
        "Stanzas waiting to be written to the XMPP server",
        metrics.queue_depth.clone(),
    );
    registry.register(
        "outgoing_backlog",
        "Stanzas waiting in the users' queues: paced by their rates, or behind paced ones",
        metrics.outgoing_backlog.clone(),
    );
    registry.register(
        "outgoing_refused",
        "Plugin calls refused because their user's outgoing queue was full",
        metrics.outgoing_refused.clone(),
    );
    registry.register(
        "stanzas_dropped",
        "Stanzas dropped instead of sent (too-large: past max_stanza_kb)",
        metrics.stanzas_dropped.clone(),
    );
    registry.register(
        "plugin_calls",
        "Calls into plugins",
        metrics.plugin_calls.clone(),
    );
    registry.register(
        "plugin_call_seconds",
        "How long calls into plugins took",
        metrics.plugin_call_seconds.clone(),
    );
    registry.register(
        "plugin_failures",
        "Plugin calls that trapped, ran past their deadline or hit the memory cap",
        metrics.plugin_failures.clone(),
    );
    registry.register(
        "sessions",
        "Sessions, by login state",
        metrics.sessions.clone(),
    );
    registry.register("plugin_reloads", "Plugin reloads", metrics.reloads.clone());
    registry.register(
        "link_connects",
        "Component link handshakes",
        metrics.link_connects.clone(),
    );
    Metrics {
        registry,
        ..metrics
    }
});

impl Metrics {
    /// The text exposition format of every metric.
    pub fn render(&self) -> String {
        let mut text = String::new();
        // Writing to a String cannot fail.
        let _ = encode(&mut text, &self.registry);
        text
    }

    /// Counts one finished plugin call.
    pub fn plugin_call(&self, export: &'static str, took: Duration, failure: Option<&'static str>) {
        let label = ExportLabel { export };
        self.plugin_calls.get_or_create(&label).inc();
        self.plugin_call_seconds
            .get_or_create(&label)
            .observe(took.as_secs_f64());
        if let Some(reason) = failure {
            self.plugin_failures
                .get_or_create(&ReasonLabel { reason })
                .inc();
        }
    }

    /// Moves one session of `gateway` from one state to another (either
    /// may be None: a session starting or ending).
    pub fn session_state(&self, gateway: &str, from: Option<&str>, to: Option<&str>) {
        let labels =
            |state: &str| vec![("gateway", gateway.to_owned()), ("state", state.to_owned())];
        if let Some(from) = from {
            self.sessions.get_or_create(&labels(from)).dec();
        }
        if let Some(to) = to {
            self.sessions.get_or_create(&labels(to)).inc();
        }
    }
}

/// Labels of one gateway.
pub fn gateway(jid: &str) -> Labels {
    vec![("gateway", jid.to_owned())]
}

/// Why the endpoint could not start.
#[derive(Debug, thiserror::Error)]
#[error("metrics endpoint {address}: {source}")]
pub struct ServeError {
    address: SocketAddr,
    source: std::io::Error,
}

/// Serves `GET /metrics` (any path, in fact) on `address` until the task
/// is dropped.
pub async fn serve(address: SocketAddr) -> Result<tokio::task::JoinHandle<()>, ServeError> {
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .map_err(|source| ServeError { address, source })?;
    tracing::info!(%address, "metrics endpoint listening");
    Ok(tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                continue;
            };
            tokio::spawn(async move {
                let service = hyper::service::service_fn(|_request| async {
                    let body =
                        http_body_util::Full::new(hyper::body::Bytes::from(METRICS.render()));
                    http::Response::builder()
                        .header(
                            "content-type",
                            "application/openmetrics-text; version=1.0.0; charset=utf-8",
                        )
                        .body(body)
                });
                let io = hyper_util::rt::TokioIo::new(tcp);
                if let Err(e) = hyper::server::conn::http1::Builder::new()
                    .serve_connection(io, service)
                    .await
                {
                    tracing::debug!(error = %e, "metrics connection");
                }
            });
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_show_in_the_exposition() {
        METRICS.plugin_call("on-text", Duration::from_micros(30), None);
        METRICS.plugin_call("login", Duration::from_millis(2), Some("deadline"));
        METRICS.session_state("gw.test", None, Some("logging-in"));
        METRICS.session_state("gw.test", Some("logging-in"), Some("logged-in"));
        let text = METRICS.render();
        assert!(
            text.contains("gatehouse_plugin_calls_total{export=\"on-text\"}"),
            "{text}"
        );
        assert!(
            text.contains("gatehouse_plugin_failures_total{reason=\"deadline\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("gatehouse_sessions{gateway=\"gw.test\",state=\"logged-in\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("gatehouse_sessions{gateway=\"gw.test\",state=\"logging-in\"} 0"),
            "{text}"
        );
        assert!(
            text.contains("gatehouse_plugin_call_seconds_count{export=\"on-text\"}"),
            "{text}"
        );
        assert!(text.ends_with("# EOF\n"), "{text}");
    }
}
