//! The `session` interface: the user, the gateway's messages, the
//! key-value store, streams, HTTP requests, timers and the log.

use super::{State, WitResult, stream_error};
use crate::plugin::bindings::gatehouse::gateway::{session, types};
use crate::session::SessionData;

/// The most timers a session may have pending, and the longest token.
const MAX_TIMERS: usize = 10_000;
const MAX_TIMER_TOKEN: usize = 1024;

/// Longest plugin log line kept, in bytes; the rest is cut.
const MAX_LOG_LINE: usize = 4096;

/// A plugin's log text as one line of the host's log: control characters
/// escaped (a newline cannot forge a line of the host's), and cut to
/// [`MAX_LOG_LINE`].
fn log_text(message: &str) -> String {
    let mut line = String::with_capacity(message.len().min(MAX_LOG_LINE));
    for c in message.chars() {
        if line.len() >= MAX_LOG_LINE {
            line.push('…');
            break;
        }
        if c.is_control() {
            line.extend(c.escape_default());
        } else {
            line.push(c);
        }
    }
    line
}

/// Commits the database before something leaves for the legacy network.
async fn commit(data: &SessionData) -> Result<(), types::Error> {
    data.ctx.store.commit_blocking().await.map_err(|e| {
        tracing::error!(error = %e, "cannot commit before writing to the network");
        types::Error::Other("the gateway's database is failing".into())
    })
}

impl State {
    async fn open(&mut self, host: &str, port: u16, tls: bool) -> WitResult<u32> {
        let data = match self.data() {
            Ok(data) => data,
            Err(e) => return Ok(Err(e)),
        };
        Ok(data
            .streams
            .open(host, port, tls)
            .await
            .map_err(stream_error))
    }
}

impl session::Host for State {
    async fn create_file(&mut self) -> WitResult<u32> {
        self.scratch_create()
    }

    async fn write_file(&mut self, id: u32, data: Vec<u8>) -> WitResult<()> {
        self.scratch_write(id, &data)
    }

    async fn user_jid(&mut self) -> wasmtime::Result<String> {
        Ok(self
            .data()
            .map(|d| d.roster.user().to_string())
            .unwrap_or_default())
    }

    async fn registration(&mut self) -> wasmtime::Result<Vec<(String, String)>> {
        Ok(self
            .data()
            .map(|d| d.registration.clone())
            .unwrap_or_default())
    }

    async fn send_gateway_message(&mut self, text: String) -> wasmtime::Result<()> {
        if let Ok(data) = self.data() {
            let cap = data.ctx.config.max_text_kb as usize * 1024;
            if text.len() > cap {
                tracing::warn!(user = %data.roster.user(), bytes = text.len(), "a gateway message over max_text_kb: cut");
            }
            let text = crate::plugin::cut(text, cap);
            let message = data.ctx.message_to(data.roster.user(), &text);
            data.roster.send(message);
        }
        Ok(())
    }

    async fn kv_get(&mut self, key: String) -> wasmtime::Result<Option<Vec<u8>>> {
        let Ok(data) = self.data() else {
            return Ok(None);
        };
        let user_id = data.roster.user_id();
        match data.ctx.store.kv_get(user_id, &key) {
            Ok(value) => Ok(value),
            Err(e) => {
                tracing::error!(error = %e, "kv-get failed");
                Ok(None)
            }
        }
    }

    async fn kv_set(&mut self, key: String, value: Vec<u8>) -> WitResult<()> {
        let data = match self.data() {
            Ok(data) => data,
            Err(e) => return Ok(Err(e)),
        };
        let user_id = data.roster.user_id();
        let gateway = &data.ctx;
        let cap = u64::from(gateway.config.storage_kb) * 1024;
        match gateway.store.kv_set(user_id, &key, &value, cap) {
            Ok(true) => Ok(Ok(())),
            Ok(false) => {
                tracing::warn!(gateway = %gateway.jid, user = %data.roster.user(), key, "kv-set refused: store full");
                Ok(Err(types::Error::LimitExceeded(format!(
                    "the key-value store is limited to {} KiB",
                    gateway.config.storage_kb
                ))))
            }
            // Losing a write silently would break the plugin's own
            // bookkeeping: stop the call instead.
            Err(e) => wasmtime::bail!("kv-set failed: {e}"),
        }
    }

    async fn kv_delete(&mut self, key: String) -> wasmtime::Result<()> {
        if let Ok(data) = self.data() {
            let user_id = data.roster.user_id();
            if let Err(e) = data.ctx.store.kv_delete(user_id, &key) {
                wasmtime::bail!("kv-delete failed: {e}");
            }
        }
        Ok(())
    }

    async fn open_stream(&mut self, host: String, port: u16) -> WitResult<u32> {
        self.open(&host, port, false).await
    }

    async fn open_tls_stream(&mut self, host: String, port: u16) -> WitResult<u32> {
        self.open(&host, port, true).await
    }

    async fn stream_write(&mut self, stream: u32, data: Vec<u8>) -> WitResult<()> {
        let d = match self.data() {
            Ok(d) => d,
            Err(e) => return Ok(Err(e)),
        };
        // What the plugin stored before telling the legacy network is
        // kept, whatever happens next.
        if let Err(e) = commit(d).await {
            return Ok(Err(e));
        }
        Ok(d.streams.write(stream, data).await.map_err(stream_error))
    }

    async fn close_stream(&mut self, stream: u32) -> wasmtime::Result<()> {
        if let Ok(data) = self.data() {
            data.streams.close(stream);
        }
        Ok(())
    }

    async fn http_request(&mut self, request: types::HttpRequest) -> WitResult<u32> {
        let d = match self.data() {
            Ok(d) => d,
            Err(e) => return Ok(Err(e)),
        };
        // As before a stream write: what the plugin stored before telling
        // the network is kept, whatever happens next.
        if let Err(e) = commit(d).await {
            return Ok(Err(e));
        }
        Ok(d.streams.http_request(request).map_err(stream_error))
    }

    async fn set_timer(&mut self, delay_ms: u32, token: String) -> wasmtime::Result<()> {
        if let Ok(data) = self.data() {
            // A timer is the plugin's own bookkeeping: a plugin that asks
            // for more than this is broken or hostile, and is stopped.
            if token.len() > MAX_TIMER_TOKEN {
                wasmtime::bail!(
                    "a timer token of {} bytes (at most {MAX_TIMER_TOKEN})",
                    token.len()
                );
            }
            if data.requested_timers.len() + data.scheduled_timers >= MAX_TIMERS {
                wasmtime::bail!("more than {MAX_TIMERS} timers");
            }
            data.requested_timers.push((delay_ms, token));
        }
        Ok(())
    }

    async fn log(&mut self, level: types::LogLevel, message: String) -> wasmtime::Result<()> {
        let (gateway, user) = match self.session() {
            Some(d) => (d.ctx.jid.to_string(), d.roster.user().to_string()),
            None => Default::default(),
        };
        let message = log_text(&message);
        match level {
            types::LogLevel::Trace => tracing::trace!(%gateway, %user, "plugin: {message}"),
            types::LogLevel::Debug => tracing::debug!(%gateway, %user, "plugin: {message}"),
            types::LogLevel::Info => tracing::info!(%gateway, %user, "plugin: {message}"),
            types::LogLevel::Warn => tracing::warn!(%gateway, %user, "plugin: {message}"),
            types::LogLevel::Error => tracing::error!(%gateway, %user, "plugin: {message}"),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_log_line_cannot_forge_another() {
        assert_eq!(
            log_text("ok\n2026-12-02 ERROR forged"),
            "ok\\n2026-12-02 ERROR forged"
        );
        assert_eq!(log_text("tab\there ✓"), "tab\\there ✓");
        let long = log_text(&"x".repeat(10_000));
        assert!(
            long.len() <= MAX_LOG_LINE + '…'.len_utf8(),
            "{}",
            long.len()
        );
    }
}
