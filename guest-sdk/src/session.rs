//! The session: the user this instance serves, and the host's services.

use crate::bindings::gatehouse::gateway::session as wit;
pub use crate::bindings::gatehouse::gateway::session::{
    close_stream, kv_delete, kv_get, kv_set, open_stream, open_tls_stream, registration,
    send_gateway_message, set_timer, stream_write, user_jid,
};

/// One value of the registration form.
pub fn registration_value(var: &str) -> Option<String> {
    wit::registration()
        .into_iter()
        .find(|(k, _)| k == var)
        .map(|(_, v)| v)
}

/// Logs a line at `level`, tagged by the host with gateway and user.
pub fn log(level: crate::LogLevel, message: &str) {
    wit::log(level, message)
}
