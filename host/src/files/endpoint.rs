//! The host's own file endpoint (`[files] listen`): serves the shelf's
//! files by GET and HEAD, streamed from disk, and nothing else. A URL's
//! last two segments name the file (its token, then its name), so a
//! reverse proxy may put any path before them. Names are checked as the
//! shelf wrote them: no way out of the folder.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use futures::StreamExt;
use http_body_util::{BodyExt, StreamBody, combinators::UnsyncBoxBody};
use hyper::body::{Bytes, Frame};
use tokio::io::AsyncReadExt;

use super::{Shelf, file_name, media_type_of};

/// How often expired files are looked for.
const PRUNE_INTERVAL: Duration = Duration::from_secs(3600);
/// What is read from disk at a time.
const CHUNK: usize = 64 * 1024;

/// The endpoint could not listen.
#[derive(Debug, thiserror::Error)]
#[error("the file endpoint cannot listen on {address}: {source}")]
pub struct ServeError {
    address: SocketAddr,
    source: std::io::Error,
}

type Body = UnsyncBoxBody<Bytes, std::io::Error>;

/// The endpoint at work; it stops when this is dropped.
#[derive(Debug)]
pub struct Serving(#[allow(dead_code)] AbortOnDrop);

/// Listens on `address` and serves the shelf until the returned guard is
/// dropped; prunes it hourly.
pub async fn serve(address: SocketAddr, shelf: Arc<Shelf>) -> Result<Serving, ServeError> {
    // A host started again in the same process (the tests) finds the port
    // still held a moment by the endpoint it replaced.
    let mut attempts = 0;
    let listener = loop {
        match tokio::net::TcpListener::bind(address).await {
            Ok(listener) => break listener,
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse && attempts < 50 => {
                attempts += 1;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(source) => return Err(ServeError { address, source }),
        }
    };
    tracing::info!(%address, dir = %shelf.dir().display(), "file endpoint listening");
    Ok(Serving(AbortOnDrop(tokio::spawn(async move {
        let pruning = shelf.clone();
        let _pruner = AbortOnDrop(tokio::spawn(async move {
            loop {
                let shelf = pruning.clone();
                let removed =
                    tokio::task::spawn_blocking(move || shelf.prune(SystemTime::now())).await;
                tracing::debug!(?removed, "file shelf pruned");
                tokio::time::sleep(PRUNE_INTERVAL).await;
            }
        }));
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                continue;
            };
            let dir = shelf.dir().to_owned();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |request| {
                    let dir = dir.clone();
                    async move { Ok::<_, Infallible>(answer(&dir, request).await) }
                });
                let io = hyper_util::rt::TokioIo::new(tcp);
                if let Err(e) = hyper::server::conn::http1::Builder::new()
                    .serve_connection(io, service)
                    .await
                {
                    tracing::debug!(error = %e, "file endpoint connection");
                }
            });
        }
    }))))
}

#[derive(Debug)]
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The file a request's path names, if it names one the shelf holds.
fn file_of(dir: &Path, path: &str) -> Option<PathBuf> {
    let mut segments = path.rsplit('/');
    let encoded = segments.next()?;
    let token = segments.next()?;
    if token.len() != 32 || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let name = percent_encoding::percent_decode_str(encoded)
        .decode_utf8()
        .ok()?;
    (file_name(&name) == name).then(|| dir.join(token).join(name.as_ref()))
}

async fn answer(
    dir: &Path,
    request: hyper::Request<hyper::body::Incoming>,
) -> hyper::Response<Body> {
    let status = |code: http::StatusCode| {
        let mut response = hyper::Response::new(empty());
        *response.status_mut() = code;
        response
    };
    let head = match *request.method() {
        http::Method::GET => false,
        http::Method::HEAD => true,
        _ => return status(http::StatusCode::METHOD_NOT_ALLOWED),
    };
    let Some(path) = file_of(dir, request.uri().path()) else {
        return status(http::StatusCode::NOT_FOUND);
    };
    let Ok(file) = tokio::fs::File::open(&path).await else {
        return status(http::StatusCode::NOT_FOUND);
    };
    let Ok(size) = file.metadata().await.map(|m| m.len()) else {
        return status(http::StatusCode::NOT_FOUND);
    };
    let media_type = media_type_of(&path.to_string_lossy());
    let body = if head {
        empty()
    } else {
        let chunks = futures::stream::unfold(Some(file), |file| async move {
            let mut file = file?;
            let mut buffer = vec![0u8; CHUNK];
            match file.read(&mut buffer).await {
                Ok(0) => None,
                Ok(n) => {
                    buffer.truncate(n);
                    Some((Ok(Frame::data(Bytes::from(buffer))), Some(file)))
                }
                Err(e) => Some((Err(e), None)),
            }
        });
        BodyExt::boxed_unsync(StreamBody::new(chunks.boxed()))
    };
    hyper::Response::builder()
        .header(http::header::CONTENT_TYPE, media_type)
        .header(http::header::CONTENT_LENGTH, size)
        .header("x-content-type-options", "nosniff")
        .header(
            http::header::CACHE_CONTROL,
            "public, max-age=31536000, immutable",
        )
        .body(body)
        .unwrap_or_else(|_| status(http::StatusCode::INTERNAL_SERVER_ERROR))
}

fn empty() -> Body {
    BodyExt::boxed_unsync(http_body_util::Empty::new().map_err(|never| match never {}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_shelf_s_names_are_served() {
        let dir = Path::new("/srv/files");
        let token = "0123456789abcdef0123456789abcdef";
        assert_eq!(
            file_of(dir, &format!("/prefix/{token}/a%20b.txt")),
            Some(dir.join(token).join("a b.txt"))
        );
        for bad in [
            format!("/{token}/..%2Fetc%2Fpasswd"),
            format!("/{token}/.scratch-x"),
            format!("/{token}/%2e%2e"),
            "/../a.txt".to_owned(),
            "/short/a.txt".to_owned(),
        ] {
            assert_eq!(file_of(dir, &bad), None, "{bad}");
        }
    }
}
