//! Stanza ids the gateway makes: unguessable, so that no one can forge the
//! answer to a request of the gateway's (a roster push's refusal would turn
//! pushes off for a whole domain), and unique across restarts.
//!
//! Each id is 128 bits of a keyed hash of a counter: the key is drawn from
//! the system's random source once per process, and a hash is much cheaper
//! than a system call per stanza.

use std::sync::atomic::{AtomicU64, Ordering};

use xmpp_parsers::sha2::{Digest, Sha256};

/// Makes the gateway's stanza ids: `gh-<32 hex digits>`.
#[derive(Debug)]
pub struct StanzaIds {
    next: AtomicU64,
    key: [u8; 32],
}

impl Default for StanzaIds {
    fn default() -> Self {
        let mut key = [0u8; 32];
        if let Err(e) = getrandom::fill(&mut key) {
            // No random source at all: the clock keeps ids unique, not
            // unguessable; say so.
            tracing::error!(error = %e, "no random source: stanza ids are guessable");
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0);
            key[..16].copy_from_slice(&now.to_le_bytes());
        }
        StanzaIds {
            next: AtomicU64::new(1),
            key,
        }
    }
}

impl StanzaIds {
    /// A fresh id.
    pub fn next(&self) -> String {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let digest = Sha256::new()
            .chain_update(self.key)
            .chain_update(n.to_le_bytes())
            .finalize();
        format!("gh-{}", hex::encode(&digest[..16]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_differ_within_and_across_processes() {
        let ids = StanzaIds::default();
        let (a, b) = (ids.next(), ids.next());
        assert_ne!(a, b);
        assert_eq!(a.len(), "gh-".len() + 32);
        // Another process (another key) never makes the same first id.
        assert_ne!(StanzaIds::default().next(), a);
    }
}
