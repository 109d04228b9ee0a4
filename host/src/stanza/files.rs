//! A file in a message, as clients understand it (WIRE.md "Files"): the
//! URL as the body, XEP-0066 out-of-band data (what Conversations and
//! Gajim show inline), XEP-0385 SIMS and XEP-0447 stateless file sharing
//! (with XEP-0446 metadata and a XEP-0300 SHA-256), the body marked as
//! their XEP-0428 fallback; and the same read back from a user's message,
//! whichever of them their client sent.
//!
//! xmpp-parsers has OOB and the hashes, not SIMS or SFS: those are built
//! here with minidom.

use base64::Engine;
use jid::Jid;
use minidom::Element;
use xmpp_parsers::message::{Id, Lang, Message, MessageType};

use super::{ns, text, with_attr};

const OOB: &str = "jabber:x:oob";
const REFERENCE: &str = "urn:xmpp:reference:0";
const SIMS: &str = "urn:xmpp:sims:1";
const JINGLE_FT: &str = "urn:xmpp:jingle:apps:file-transfer:5";
const SFS: &str = "urn:xmpp:sfs:0";
const FILE_METADATA: &str = "urn:xmpp:file:metadata:0";
const URL_DATA: &str = "http://jabber.org/protocol/url-data";
const HASHES: &str = "urn:xmpp:hashes:2";

/// What is known of a file: what the message describes it with.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FileMeta {
    /// Its name, as shown to the user.
    pub name: Option<String>,
    /// Its media type (`image/png`).
    pub media_type: Option<String>,
    /// Its size in bytes.
    pub size: Option<u64>,
    /// Its SHA-256.
    pub sha256: Option<[u8; 32]>,
}

/// A file in a message: where it is, and what it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedFile {
    /// Its HTTP(S) URL.
    pub url: String,
    /// What the message says of it.
    pub meta: FileMeta,
}

/// The message carrying one file: its URL as the body (the fallback of
/// SFS), OOB, SIMS and SFS.
pub fn file_message(from: Jid, to: Jid, id: &str, file: &SharedFile) -> Message {
    let mut message =
        Message::new_with_type(MessageType::Chat, to).with_body(Lang::default(), file.url.clone());
    message.from = Some(from);
    message.id = Some(Id(id.to_owned()));
    attach(&mut message, file);
    message
}

/// Adds a file to a message whose body is the file's URL: OOB, SIMS and
/// SFS, and the body marked as SFS's fallback.
pub fn attach(message: &mut Message, file: &SharedFile) {
    message.payloads.push(
        Element::builder("x", OOB)
            .append(text("url", OOB, file.url.clone()))
            .build(),
    );
    message.payloads.push(sims(file));
    message.payloads.push(sfs(file));
    let fallback = Element::builder("fallback", ns::FALLBACK)
        .append(Element::builder("body", ns::FALLBACK).build())
        .build();
    message.payloads.push(with_attr(fallback, "for", SFS));
}

/// The file's metadata in the namespace `ns` (Jingle's for SIMS, XEP-0446
/// for SFS: the same children).
fn metadata(meta: &FileMeta, namespace: &str) -> Element {
    let mut file = Element::builder("file", namespace).build();
    if let Some(media_type) = &meta.media_type {
        file.append_child(text("media-type", namespace, media_type.clone()));
    }
    if let Some(name) = &meta.name {
        file.append_child(text("name", namespace, name.clone()));
    }
    if let Some(size) = meta.size {
        file.append_child(text("size", namespace, size.to_string()));
    }
    if let Some(sha256) = &meta.sha256 {
        let digest = base64::engine::general_purpose::STANDARD.encode(sha256);
        let hash = text("hash", HASHES, digest);
        file.append_child(with_attr(hash, "algo", "sha-256"));
    }
    file
}

fn sims(file: &SharedFile) -> Element {
    let source = with_attr(
        with_attr(
            Element::builder("reference", REFERENCE).build(),
            "type",
            "data",
        ),
        "uri",
        &file.url,
    );
    let sharing = Element::builder("media-sharing", SIMS)
        .append(metadata(&file.meta, JINGLE_FT))
        .append(Element::builder("sources", SIMS).append(source).build())
        .build();
    let reference = Element::builder("reference", REFERENCE)
        .append(sharing)
        .build();
    with_attr(with_attr(reference, "type", "data"), "uri", &file.url)
}

fn sfs(file: &SharedFile) -> Element {
    let source = with_attr(
        Element::builder("url-data", URL_DATA).build(),
        "target",
        &file.url,
    );
    Element::builder("file-sharing", SFS)
        .append(metadata(&file.meta, FILE_METADATA))
        .append(Element::builder("sources", SFS).append(source).build())
        .build()
}

/// The file a user's message shares, if it shares one: SFS first (the
/// fullest), then SIMS, then OOB (a URL, with what the others add when
/// they are there too).
pub fn shared_file(message: &Message) -> Option<SharedFile> {
    let payload =
        |name: &str, namespace: &str| message.payloads.iter().find(|p| p.is(name, namespace));
    let from_sfs = payload("file-sharing", SFS).and_then(|sharing| {
        let url = sharing
            .get_child("sources", SFS)?
            .get_child("url-data", URL_DATA)?
            .attr("target")?;
        let meta = sharing
            .get_child("file", FILE_METADATA)
            .map(|f| read_metadata(f, FILE_METADATA))
            .unwrap_or_default();
        Some(SharedFile {
            url: url.to_owned(),
            meta,
        })
    });
    let from_sims = || {
        payload("reference", REFERENCE).and_then(|reference| {
            let sharing = reference.get_child("media-sharing", SIMS)?;
            let url = sharing
                .get_child("sources", SIMS)
                .and_then(|s| s.get_child("reference", REFERENCE))
                .and_then(|r| r.attr("uri"))
                .or_else(|| reference.attr("uri"))?;
            let meta = sharing
                .get_child("file", JINGLE_FT)
                .map(|f| read_metadata(f, JINGLE_FT))
                .unwrap_or_default();
            Some(SharedFile {
                url: url.to_owned(),
                meta,
            })
        })
    };
    let from_oob = || {
        payload("x", OOB)
            .and_then(|x| x.get_child("url", OOB))
            .map(|url| SharedFile {
                url: url.text().trim().to_owned(),
                meta: FileMeta::default(),
            })
    };
    from_sfs
        .or_else(from_sims)
        .or_else(from_oob)
        .filter(|f| f.url.starts_with("https://") || f.url.starts_with("http://"))
}

fn read_metadata(file: &Element, namespace: &str) -> FileMeta {
    let child = |name: &str| file.get_child(name, namespace).map(Element::text);
    let sha256 = file
        .children()
        .filter(|c| c.is("hash", HASHES) && c.attr("algo") == Some("sha-256"))
        .find_map(|c| {
            base64::engine::general_purpose::STANDARD
                .decode(c.text().trim())
                .ok()
                .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok())
        });
    FileMeta {
        name: child("name"),
        media_type: child("media-type"),
        size: child("size").and_then(|s| s.trim().parse().ok()),
        sha256,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn photo() -> SharedFile {
        SharedFile {
            url: "https://upload.example/abc/photo.png".into(),
            meta: FileMeta {
                name: Some("photo.png".into()),
                media_type: Some("image/png".into()),
                size: Some(1234),
                sha256: Some([7; 32]),
            },
        }
    }

    fn sent() -> Element {
        file_message(
            Jid::new("c0@gw").unwrap(),
            Jid::new("u@x").unwrap(),
            "f1",
            &photo(),
        )
        .into()
    }

    #[test]
    fn the_message_carries_the_url_in_body_oob_sims_and_sfs() {
        let m = sent();
        let url = "https://upload.example/abc/photo.png";
        assert_eq!(
            m.get_child("body", ns::COMPONENT)
                .map(Element::text)
                .as_deref(),
            Some(url)
        );
        let oob = m.get_child("x", OOB).and_then(|x| x.get_child("url", OOB));
        assert_eq!(oob.map(Element::text).as_deref(), Some(url));
        let reference = m.get_child("reference", REFERENCE).expect("SIMS");
        assert_eq!(reference.attr("type"), Some("data"));
        let file = reference
            .get_child("media-sharing", SIMS)
            .and_then(|s| s.get_child("file", JINGLE_FT))
            .expect("SIMS file");
        assert_eq!(
            file.get_child("media-type", JINGLE_FT)
                .map(Element::text)
                .as_deref(),
            Some("image/png")
        );
        let hash = file.get_child("hash", HASHES).expect("a hash");
        assert_eq!(hash.attr("algo"), Some("sha-256"));
        assert_eq!(
            hash.text(),
            base64::engine::general_purpose::STANDARD.encode([7u8; 32])
        );
        let sfs = m.get_child("file-sharing", SFS).expect("SFS");
        let target = sfs
            .get_child("sources", SFS)
            .and_then(|s| s.get_child("url-data", URL_DATA))
            .and_then(|u| u.attr("target"));
        assert_eq!(target, Some(url));
        let size = sfs
            .get_child("file", FILE_METADATA)
            .and_then(|f| f.get_child("size", FILE_METADATA))
            .map(Element::text);
        assert_eq!(size.as_deref(), Some("1234"));
        let fallback = m.get_child("fallback", ns::FALLBACK).expect("fallback");
        assert_eq!(fallback.attr("for"), Some(SFS));
    }

    #[test]
    fn a_file_reads_back_from_each_of_sfs_sims_and_oob() {
        let message = Message::try_from(sent()).unwrap();
        assert_eq!(shared_file(&message), Some(photo()));
        // SIMS alone.
        let mut sims_only = message.clone();
        sims_only.payloads.retain(|p| p.is("reference", REFERENCE));
        assert_eq!(shared_file(&sims_only), Some(photo()));
        // OOB alone: the URL, nothing more.
        let mut oob_only = message.clone();
        oob_only.payloads.retain(|p| p.is("x", OOB));
        let file = shared_file(&oob_only).expect("a file");
        assert_eq!(file.url, photo().url);
        assert_eq!(file.meta, FileMeta::default());
        // No file, or no web URL.
        let mut none = message.clone();
        none.payloads.clear();
        assert_eq!(shared_file(&none), None);
        let mut odd = oob_only;
        odd.payloads = vec![
            Element::builder("x", OOB)
                .append(text("url", OOB, "file:///etc/passwd"))
                .build(),
        ];
        assert_eq!(shared_file(&odd), None);
    }
}
