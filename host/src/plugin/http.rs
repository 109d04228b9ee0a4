//! Outgoing HTTP (wasi:http) for plugins, through the same grants as
//! streams: a request to an authority not in the gateway's `allow` list
//! fails with `HTTP-request-denied` before any connection is made.

use http::uri::Scheme;
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody, WasiHttpHooks};

use super::grants::Grant;

/// The wasi:http hooks of one instance: its grants.
pub struct HttpGrants {
    grants: Vec<Grant>,
}

impl HttpGrants {
    /// Hooks that let requests reach `grants` only.
    pub fn new(grants: Vec<Grant>) -> Self {
        HttpGrants { grants }
    }
}

type ResponseFuture = Box<
    dyn Future<
            Output = Result<
                (
                    http::Response<WasiBody>,
                    Box<dyn Future<Output = Result<(), Error>> + Send>,
                ),
                Error,
            >,
        > + Send,
>;

impl WasiHttpHooks for HttpGrants {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        fut: Box<dyn Future<Output = Result<(), Error>> + Send>,
    ) -> ResponseFuture {
        let uri = request.uri();
        let host = uri.host().unwrap_or_default().to_owned();
        let default_port = if uri.scheme() == Some(&Scheme::HTTP) {
            80
        } else {
            443
        };
        let port = uri.port_u16().unwrap_or(default_port);
        if !self.grants.iter().any(|g| g.allows(&host, port)) {
            tracing::warn!(host, port, "a plugin was denied an HTTP request");
            return Box::new(async { Err(Error::HttpRequestDenied) });
        }
        _ = fut;
        Box::new(async move {
            use http_body_util::BodyExt;
            let (response, io) = wasmtime_wasi_http::default_send_request(request, options).await?;
            Ok((
                response.map(BodyExt::boxed_unsync),
                Box::new(io) as Box<dyn Future<Output = Result<(), Error>> + Send>,
            ))
        })
    }
}
