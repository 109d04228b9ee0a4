//! A plain HTTP/1.1 GET over loopback, enough to fetch what the gateway's
//! file endpoint serves and look at every byte of the answer.

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// An HTTP answer, whole.
#[derive(Debug)]
pub struct Answer {
    /// The status code.
    pub status: u16,
    /// The header fields, names lowercased.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl Answer {
    /// The first value of header `name` (lowercase).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Sends `method` to an `http://host:port/path` URL with `Connection:
/// close` and reads the answer to its end.
pub async fn request(method: &str, url: &str) -> Answer {
    let rest = url.strip_prefix("http://").expect("an http:// URL");
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    let mut tcp = tokio::net::TcpStream::connect(authority)
        .await
        .expect("connect to the file endpoint");
    let head =
        format!("{method} /{path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n");
    tcp.write_all(head.as_bytes())
        .await
        .expect("send the request");
    let mut raw = Vec::new();
    tcp.read_to_end(&mut raw).await.expect("read the answer");
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("an answer head");
    let head = String::from_utf8_lossy(&raw[..end]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .expect("a status line");
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    Answer {
        status,
        headers,
        body: raw[end + 4..].to_vec(),
    }
}

/// GETs a URL.
pub async fn get(url: &str) -> Answer {
    request("GET", url).await
}
