//! Stanza ids the gateway makes: unique across restarts, so that an answer
//! to a stanza sent before a restart is never taken for one sent after.

use std::sync::atomic::{AtomicU64, Ordering};

/// Makes the gateway's stanza ids: `gh-<seed>-<n>`.
#[derive(Debug)]
pub struct StanzaIds {
    next: AtomicU64,
    prefix: String,
}

impl Default for StanzaIds {
    fn default() -> Self {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0)
            ^ u64::from(std::process::id()).rotate_left(32);
        StanzaIds {
            next: AtomicU64::new(1),
            prefix: format!("{:x}", seed & 0xffff_ffff),
        }
    }
}

impl StanzaIds {
    /// A fresh id.
    pub fn next(&self) -> String {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        format!("gh-{}-{n}", self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_differ() {
        let ids = StanzaIds::default();
        assert_ne!(ids.next(), ids.next());
    }
}
