//! The session: the user this instance serves, and the host's services.
//! The calls the host may refuse return [`Error`].

use crate::bindings::gatehouse::gateway::session as wit;
pub use crate::bindings::gatehouse::gateway::session::{
    close_stream, kv_delete, kv_get, registration, send_gateway_message, set_timer, user_jid,
};
use crate::{Error, HttpRequest};

/// One value of the registration form.
pub fn registration_value(var: &str) -> Option<String> {
    wit::registration()
        .into_iter()
        .find(|(k, _)| k == var)
        .map(|(_, v)| v)
}

/// Writes a value of the private key-value store, committed before this
/// returns; refused (`limit-exceeded`) past the operator's cap.
pub fn kv_set(key: &str, value: &[u8]) -> Result<(), Error> {
    Ok(wit::kv_set(key, value)?)
}

/// Opens a TCP connection to `host:port` (an address the operator
/// granted); its data comes to `Plugin::on_stream_data`. See
/// [`task::Stream`](crate::task::Stream) to `.await` it instead.
pub fn open_stream(host: &str, port: u16) -> Result<u32, Error> {
    Ok(wit::open_stream(host, port)?)
}

/// The same over TLS (the certificate must be valid for `host`).
pub fn open_tls_stream(host: &str, port: u16) -> Result<u32, Error> {
    Ok(wit::open_tls_stream(host, port)?)
}

/// Writes to a stream (queued; the order is kept).
pub fn stream_write(id: u32, data: &[u8]) -> Result<(), Error> {
    Ok(wit::stream_write(id, data)?)
}

/// Sends an HTTP request and returns its id: the head of the answer comes
/// to `Plugin::on_http_response`, the body to `on_stream_data` and its end
/// to `on_stream_closed`, under that id. [`http::fetch`](crate::http::fetch)
/// does the same for a task, which gets the whole response.
pub fn http_request(request: &HttpRequest) -> Result<u32, Error> {
    Ok(wit::http_request(request)?)
}

/// Starts a file to write in chunks ([`write_file`]) and send with
/// `Contact::send_file` and `FileSource::Written`; returns its id.
pub fn create_file() -> Result<u32, Error> {
    Ok(wit::create_file()?)
}

/// Appends to a file from [`create_file`]; refused past `max_file_mb`.
pub fn write_file(id: u32, data: &[u8]) -> Result<(), Error> {
    Ok(wit::write_file(id, data)?)
}

/// Logs a line at `level`, tagged by the host with gateway and user.
pub fn log(level: crate::LogLevel, message: &str) {
    wit::log(level, message)
}
