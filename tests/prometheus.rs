//! The Prometheus example's pipeline and HTTP endpoint, in-process: a scrape over loopback
//! shows every metric family with plausible values.

#[path = "../examples/prometheus.rs"]
#[allow(dead_code)]
mod example;

use std::time::Duration;

use metrics_exporter_prometheus::PrometheusBuilder;
use mycelium::prelude::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// One request over loopback; the server closes the connection after answering.
async fn get(addr: std::net::SocketAddr, request: &str) -> String {
    let mut conn = TcpStream::connect(addr).await.unwrap();
    conn.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    conn.read_to_string(&mut response).await.unwrap();
    response
}

/// The value of the first sample line that starts with `series`.
fn value(body: &str, series: &str) -> f64 {
    body.lines()
        .find(|l| l.starts_with(series))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no sample {series} in:\n{body}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scrape_shows_the_pipelines_metrics() {
    // The only test of this binary: it owns the process's recorder.
    let handle = PrometheusBuilder::new().install_recorder().unwrap();
    std::panic::set_hook(Box::new(|_| {}));
    let bus = Bus::builder().metrics(true).build().unwrap();
    let mut pipeline = example::start_pipeline(&bus).await.unwrap();
    // Order 100 fails the execution actor: 150 fills mean it was restarted.
    example::wait_fills(&mut pipeline.fills, 150).await;

    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(example::serve(listener, handle));

    let response = get(addr, "GET /metrics HTTP/1.1\r\nhost: localhost\r\n\r\n").await;
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200 OK"), "{head}");
    assert!(head.contains("text/plain; version=0.0.4"), "{head}");

    for family in [
        "# TYPE mycelium_actor_mailbox_depth gauge",
        "# TYPE mycelium_actor_handle_seconds summary",
        "# TYPE mycelium_supervisor_failures_total counter",
        "# TYPE mycelium_supervisor_restarts_total counter",
        "# TYPE mycelium_topic_published_total counter",
        "# TYPE mycelium_topic_delivery_seconds summary",
        "# TYPE mycelium_subscription_dropped_total counter",
    ] {
        assert!(body.contains(family), "missing {family:?} in:\n{body}");
    }
    assert!(value(body, "mycelium_topic_published_total{topic=\"fills\"}") >= 150.0);
    assert!(
        value(
            body,
            "mycelium_topic_published_total{topic=\"md.quote.AAPL\"}"
        ) >= 75.0
    );
    assert!(
        value(
            body,
            "mycelium_supervisor_restarts_total{supervisor=\"supervisor\"}"
        ) >= 1.0
    );
    assert!(
        value(
            body,
            "mycelium_supervisor_failures_total{supervisor=\"supervisor\"}"
        ) >= 1.0
    );
    // The audit stream holds 4 quotes and is never read: the rest were dropped.
    let dropped = value(
        body,
        "mycelium_subscription_dropped_total{pattern=\"md.quote.*\",subscriber=\"stream\"}",
    );
    assert!(dropped >= 150.0 - 4.0, "dropped {dropped}");
    let handled = value(
        body,
        "mycelium_actor_handle_seconds_count{actor=\"execution\",actor_type=\"Execution\"}",
    );
    assert!(handled >= 150.0, "handled {handled}");
    let delivered = value(
        body,
        "mycelium_topic_delivery_seconds_count{topic=\"orders\"}",
    );
    assert!(delivered >= 150.0, "delivered {delivered}");
    let latency = value(
        body,
        "mycelium_topic_delivery_seconds_sum{topic=\"orders\"}",
    );
    assert!(
        latency > 0.0 && latency < delivered * 1.0,
        "latency sum {latency} s"
    );

    // Other paths and methods are refused.
    let missing = get(addr, "GET /other HTTP/1.1\r\n\r\n").await;
    assert!(missing.starts_with("HTTP/1.1 404"), "{missing}");
    let post = get(addr, "POST /metrics HTTP/1.1\r\n\r\n").await;
    assert!(post.starts_with("HTTP/1.1 405"), "{post}");

    server.abort();
    pipeline.tree.stop().await;
    bus.shutdown(Duration::from_secs(1)).await;
}

#[test]
fn the_command_line_is_checked() {
    let args = |a: &[&str]| example::parse_args(a.iter().map(|s| s.to_string()));
    assert_eq!(args(&[]), Ok(None));
    assert_eq!(
        args(&["--listen", "127.0.0.1:9184"]),
        Ok(Some("127.0.0.1:9184".parse().unwrap()))
    );
    assert_eq!(args(&["--listen"]), Err(example::ArgError::MissingAddress));
    assert_eq!(
        args(&["--listen", "localhost"]),
        Err(example::ArgError::BadAddress("localhost".into()))
    );
    assert_eq!(
        args(&["--verbose"]),
        Err(example::ArgError::Unknown("--verbose".into()))
    );
    assert!(example::ArgError::MissingAddress
        .to_string()
        .contains("--listen"));
}

/// A client that connects and sends nothing, or stops half-way through its request, is cut
/// off after the example's deadline; a scrape that comes meanwhile is answered.
#[tokio::test(start_paused = true)]
async fn a_silent_client_is_cut_off_and_does_not_hold_up_others() {
    // A recorder that is not installed: the other test of this binary owns the process's.
    let handle = PrometheusBuilder::new().build_recorder().handle();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(example::serve(listener, handle));

    let mut silent = TcpStream::connect(addr).await.unwrap();
    let mut halfway = TcpStream::connect(addr).await.unwrap();
    halfway
        .write_all(b"GET /metrics HTTP/1.1\r\n")
        .await
        .unwrap();
    let scrape = get(addr, "GET /metrics HTTP/1.1\r\n\r\n").await;
    assert!(scrape.starts_with("HTTP/1.1 200 OK"), "{scrape}");

    for conn in [&mut silent, &mut halfway] {
        let mut rest = Vec::new();
        // Bus time: the paused clock jumps to the server's deadline once all tasks wait.
        let closed = tokio::time::timeout(Duration::from_secs(3600), conn.read_to_end(&mut rest))
            .await
            .expect("the server still holds the connection of a client that sent no request");
        assert_eq!(closed.unwrap(), 0, "no answer to an unfinished request");
    }
    server.abort();
}
