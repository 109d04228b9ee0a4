//! The Rust SDK's async layer (`gatehouse_guest::task`): a plugin task that
//! awaits a timer or a stream resumes when the host delivers the event, and
//! the plugin's own handlers never see the layer's events.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::sandbox::{ask_probe, probe_session};

#[tokio::test]
async fn a_task_sleeps_on_a_host_timer() {
    let mut w = probe_session("").await;
    let asked = Instant::now();
    assert_eq!(ask_probe(&mut w, "sleep 300 awake").await, "slept: awake");
    assert!(
        asked.elapsed() >= Duration::from_millis(300),
        "answered before the timer fired"
    );
    // Had the timer gone to the plugin's own `on_timer` (a no-op in the
    // probe), the task would never have answered. Tasks keep working after
    // one finished.
    assert_eq!(ask_probe(&mut w, "sleep 0 again").await, "slept: again");
}

#[tokio::test]
async fn a_task_reads_a_stream_until_it_closes() {
    // A server that answers each line in two pieces, then hangs up.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut buf = [0u8; 256];
        let n = socket.read(&mut buf).await.unwrap();
        let line = String::from_utf8_lossy(&buf[..n]).trim().to_owned();
        socket.write_all(b"you said ").await.unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        socket.write_all(line.as_bytes()).await.unwrap();
    });
    let mut w = probe_session(&format!("allow = [\"127.0.0.1:{port}\"]")).await;
    assert_eq!(
        ask_probe(&mut w, &format!("talk 127.0.0.1:{port} héllo")).await,
        "heard: you said héllo (ByPeer)"
    );
}
