//! A plugin for the host's tests. Its contacts get their names from
//! `update-contact-info`, numbered by how many times it ran for them, so
//! that a test sees when (and how often) the host calls it. Messages to a
//! contact are commands that try what a sandboxed plugin may or may not
//! do (files, environment, network), and the contact answers what
//! happened.

use gatehouse_guest::{Contact, NetworkInfo, Plugin, Roster, TextMessage, session};

struct Probe;

impl Plugin for Probe {
    fn gateway_info() -> NetworkInfo {
        NetworkInfo::new("Probe network", "probe").field_required("username", "User name")
    }

    fn login() -> Result<String, String> {
        Ok("probing".to_owned())
    }

    /// Two contacts, added without names.
    fn fill_roster() -> Result<(), String> {
        for id in ["a", "b"] {
            let contact = Roster::by_legacy_id(id).map_err(|e| e.to_string())?;
            contact.add_to_roster().map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    fn update_contact_info(contact: &Contact) -> Result<(), String> {
        let id = contact.legacy_id();
        let key = format!("updates:{id}");
        let count = session::kv_get(&key)
            .and_then(|v| String::from_utf8(v).ok())
            .and_then(|s| s.parse::<u32>().ok())
            .unwrap_or(0)
            + 1;
        session::kv_set(&key, count.to_string().as_bytes()).map_err(|e| e.to_string())?;
        contact.set_name(Some(&format!("{id} updated {count}")));
        Ok(())
    }

    fn on_text(contact: &Contact, message: TextMessage) -> Result<Option<String>, String> {
        let words: Vec<&str> = message.body.splitn(3, ' ').collect();
        let answer = match words.as_slice() {
            ["file", path] => match std::fs::read(path) {
                Ok(bytes) => format!("read {} bytes", bytes.len()),
                Err(e) => format!("file refused: {e}"),
            },
            ["env", name] => match std::env::var(name) {
                Ok(value) => format!("env {name}={value}"),
                Err(e) => format!("env refused: {e}"),
            },
            ["open", host, port] => match port.parse().map(|port| session::open_stream(host, port))
            {
                Ok(Ok(id)) => format!("opened {id}"),
                Ok(Err(e)) => format!("open refused: {}", e.reason()),
                Err(_) => "bad port".to_owned(),
            },
            ["opentls", host, port] => match port
                .parse()
                .map(|port| session::open_tls_stream(host, port))
            {
                Ok(Ok(id)) => format!("opened {id}"),
                Ok(Err(e)) => format!("open refused: {}", e.reason()),
                Err(_) => "bad port".to_owned(),
            },
            ["get", authority, path] => match http_get(authority, path) {
                Ok(body) => format!("got: {body}"),
                Err(e) => format!("http refused: {e}"),
            },
            ["send", id, text] => match id
                .parse()
                .map(|id| session::stream_write(id, text.as_bytes()))
            {
                Ok(Ok(())) => return Ok(None),
                Ok(Err(e)) => format!("send refused: {}", e.reason()),
                Err(_) => "bad id".to_owned(),
            },
            _ => format!("unknown: {}", message.body),
        };
        contact.send_text(&answer).map_err(|e| e.to_string())?;
        Ok(None)
    }

    fn on_stream_data(stream: u32, data: Vec<u8>) {
        report(&format!(
            "data {stream}: {}",
            String::from_utf8_lossy(&data)
        ));
    }

    fn on_stream_closed(stream: u32, reason: Option<String>) {
        report(&format!(
            "closed {stream}: {}",
            reason.unwrap_or_else(|| "by the peer".into())
        ));
    }
}

/// An HTTP GET through wasi:http; the body as text.
fn http_get(authority: &str, path: &str) -> Result<String, String> {
    use wasi::http::{outgoing_handler, types};
    let request = types::OutgoingRequest::new(types::Fields::new());
    request
        .set_scheme(Some(&types::Scheme::Http))
        .map_err(|()| "bad scheme")?;
    request
        .set_authority(Some(authority))
        .map_err(|()| "bad authority")?;
    request
        .set_path_with_query(Some(path))
        .map_err(|()| "bad path")?;
    let pending = outgoing_handler::handle(request, None).map_err(|e| format!("{e:?}"))?;
    pending.subscribe().block();
    let response = pending
        .get()
        .ok_or("no response")?
        .map_err(|()| "response taken")?
        .map_err(|e| format!("{e:?}"))?;
    let body = response.consume().map_err(|()| "no body")?;
    let stream = body.stream().map_err(|()| "no body stream")?;
    let mut bytes = Vec::new();
    loop {
        match stream.blocking_read(4096) {
            Ok(chunk) => bytes.extend(chunk),
            Err(wasi::io::streams::StreamError::Closed) => break,
            Err(e) => return Err(format!("{e:?}")),
        }
    }
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// Says something from contact `a`.
fn report(text: &str) {
    if let Ok(contact) = Roster::by_legacy_id("a") {
        let _ = contact.send_text(text);
    }
}

gatehouse_guest::export_plugin!(Probe);
