//! A plugin for the host's tests. Its contacts get their names from
//! `update-contact-info`, numbered by how many times it ran for them, so
//! that a test sees when (and how often) the host calls it. Messages to a
//! contact are commands that try what a sandboxed plugin may or may not
//! do (files, environment, network), and the contact answers what
//! happened. `get`, `sleep` and `talk` run as tasks of the SDK's async
//! layer, answering when what they wait for arrives (the task keeps the
//! contact the message came to). `contacts`, `text`, `avatar` and `vcard`
//! try the operator's caps; `crash`, `spin`, `hog`, `presences N`,
//! `flood N`, `bigid N`, `bigerror N` and `block MS` are a hostile plugin's attacks (`block` waits in the host);
//! `echo TEXT` answers TEXT; `from ID TEXT` has a new contact write, its
//! puppet named by the probe's id mapping (`@name` → `at-name`).

mod calls;
mod group_calls;

use gatehouse_guest::{
    Contact, Error, FormValues, NetworkInfo, Plugin, Roster, Show, TextMessage, Vcard, http,
    session, task,
};

/// What one instance remembers: the last registrant it checked (to show
/// whether a registration check sees what an earlier one left).
struct Probe {
    last_registrant: Option<String>,
}

impl Plugin for Probe {
    fn new() -> Self {
        Probe {
            last_registrant: None,
        }
    }

    /// `whos-first` is refused with the name of the last registrant this
    /// instance checked; any other name is accepted and remembered.
    /// `slow-MS` takes MS milliseconds.
    fn validate_registration(&mut self, form: &FormValues) -> Result<(), Error> {
        let username = form
            .iter()
            .find(|(var, _)| var == "username")
            .map(|(_, value)| value.clone())
            .unwrap_or_default();
        // `slow-MS`: a check that takes MS milliseconds (a wait in the
        // host), to show that nobody else waits for it.
        if let Some(ms) = username
            .strip_prefix("slow-")
            .and_then(|ms| ms.parse().ok())
        {
            std::thread::sleep(std::time::Duration::from_millis(ms));
        }
        if username == "whos-first" {
            let before = self.last_registrant.as_deref().unwrap_or("nobody");
            return Err(format!("checked before you: {before}").into());
        }
        self.last_registrant = Some(username);
        Ok(())
    }

    fn gateway_info(&mut self) -> NetworkInfo {
        NetworkInfo::new("Probe network", "probe").field_required("username", "User name")
    }

    fn login(&mut self) -> Result<String, Error> {
        Ok("probing".to_owned())
    }

    /// Two contacts, added without names.
    fn fill_roster(&mut self) -> Result<(), Error> {
        for id in ["a", "b"] {
            Roster::by_legacy_id(id)?.add_to_roster()?;
        }
        Ok(())
    }

    /// Ids written `@name` are handles whose puppets are `at-name`; others
    /// keep the XEP-0106 escape.
    fn legacy_id_to_jid_username(&mut self, legacy_id: &str) -> Option<String> {
        legacy_id.strip_prefix('@').map(|name| format!("at-{name}"))
    }

    fn update_contact_info(&mut self, contact: Contact) -> Result<(), Error> {
        let id = contact.legacy_id();
        let key = format!("updates:{id}");
        let count = session::kv_get(&key)
            .and_then(|v| String::from_utf8(v).ok())
            .and_then(|s| s.parse::<u32>().ok())
            .unwrap_or(0)
            + 1;
        session::kv_set(&key, count.to_string().as_bytes())?;
        contact.set_name(Some(&format!("{id} updated {count}")));
        Ok(())
    }

    fn on_text(&mut self, contact: Contact, message: TextMessage) -> Result<Option<String>, Error> {
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
            ["get", authority, path] => {
                let url = format!("http://{authority}{path}");
                answer_later(contact, async move {
                    match http::get(&url).await {
                        Ok(response) => format!("got: {}", String::from_utf8_lossy(&response.body)),
                        Err(e) => format!("http refused: {e}"),
                    }
                });
                return Ok(None);
            }
            ["sleep", ms, text] => {
                let ms: u32 = ms.parse().map_err(|_| "bad delay")?;
                let text = text.to_string();
                answer_later(contact, async move {
                    task::sleep(ms).await;
                    format!("slept: {text}")
                });
                return Ok(None);
            }
            // After MS milliseconds, N messages `later K` (while the test
            // keeps the server away, say).
            ["later", ms, n] => {
                let ms: u32 = ms.parse().map_err(|_| "bad delay")?;
                let n: u32 = n.parse().map_err(|_| "bad count")?;
                task::spawn(async move {
                    task::sleep(ms).await;
                    for k in 1..=n {
                        let _ = contact.send_text(&format!("later {k}"));
                    }
                });
                return Ok(None);
            }
            // N timers an hour away, each with a token of LEN bytes.
            ["timers", n, len] => {
                let n: u32 = n.parse().map_err(|_| "bad count")?;
                let len: usize = len.parse().map_err(|_| "bad length")?;
                for k in 0..n {
                    let token = format!("{k:0>len$}");
                    session::set_timer(3_600_000, &token[..len.min(token.len())]);
                }
                format!("set {n} timers")
            }
            ["talk", authority, text] => {
                let (host, port) = authority.rsplit_once(':').ok_or("bad address")?;
                let port: u16 = port.parse().map_err(|_| "bad port")?;
                let stream = task::Stream::connect(host, port)?;
                stream.write(format!("{text}\n").as_bytes())?;
                answer_later(contact, async move {
                    let mut heard = Vec::new();
                    loop {
                        match stream.read().await {
                            Ok(data) => heard.extend(data),
                            Err(closed) => {
                                return format!(
                                    "heard: {} ({closed:?})",
                                    String::from_utf8_lossy(&heard)
                                );
                            }
                        }
                    }
                });
                return Ok(None);
            }
            ["send", id, text] => match id
                .parse()
                .map(|id| session::stream_write(id, text.as_bytes()))
            {
                Ok(Ok(())) => return Ok(None),
                Ok(Err(e)) => format!("send refused: {}", e.reason()),
                Err(_) => "bad id".to_owned(),
            },
            // A wait in the host (a WASI clock sleep): no WebAssembly runs,
            // so only the host's wall-clock bound can stop it.
            ["block", ms] => {
                let ms: u64 = ms.parse().map_err(|_| "bad delay".to_owned())?;
                std::thread::sleep(std::time::Duration::from_millis(ms));
                format!("woke after {ms} ms")
            }
            // A contact created now, writing: its JID shows the mapping.
            ["from", id, text] => {
                Roster::by_legacy_id(id)?.send_text(text)?;
                return Ok(None);
            }
            ["contacts", n] => match n.parse::<u32>() {
                Ok(n) => (0..n)
                    .find_map(|i| Roster::by_legacy_id(&format!("x{i}")).err())
                    .map_or_else(
                        || format!("made {n} contacts"),
                        |e| format!("contacts refused: {}", refusal(&e)),
                    ),
                Err(_) => "bad count".to_owned(),
            },
            // Sizes in bytes, to try the operator's caps.
            ["text", n] => match n.parse() {
                Ok(n) => match contact.send_text(&"t".repeat(n)) {
                    Ok(_) => "text sent".to_owned(),
                    Err(e) => format!("text refused: {}", refusal(&e)),
                },
                Err(_) => "bad size".to_owned(),
            },
            // A message whose legacy id is `n` bytes long.
            ["bigid", n] => match n.parse() {
                Ok(n) => {
                    let options = gatehouse_guest::SendOptions {
                        legacy_msg_id: Some("i".repeat(n)),
                        ..Default::default()
                    };
                    match contact.send_text_with("with a long id", options) {
                        Ok(_) => "bigid sent".to_owned(),
                        Err(e) => format!("bigid refused: {}", refusal(&e)),
                    }
                }
                Err(_) => "bad size".to_owned(),
            },
            // The message fails with a reason `n` bytes long.
            ["bigerror", n] => match n.parse() {
                Ok(n) => return Err("e".repeat(n).into()),
                Err(_) => "bad size".to_owned(),
            },
            // A name, a status, or a correction of the contact's last
            // message, `n` bytes long.
            ["name", n] => match n.parse() {
                Ok(n) => {
                    contact.set_name(Some(&"n".repeat(n)));
                    "name set".to_owned()
                }
                Err(_) => "bad size".to_owned(),
            },
            ["status", n] => match n.parse() {
                Ok(n) => {
                    contact.set_presence(Show::Away, Some(&"s".repeat(n)), None);
                    "status set".to_owned()
                }
                Err(_) => "bad size".to_owned(),
            },
            ["correct", n] => match n.parse() {
                Ok(n) => {
                    let options = gatehouse_guest::SendOptions {
                        legacy_msg_id: Some("to-correct".into()),
                        ..Default::default()
                    };
                    contact.send_text_with("to be corrected", options)?;
                    match contact.correct("to-correct", &"c".repeat(n), Default::default()) {
                        Ok(_) => "corrected".to_owned(),
                        Err(e) => format!("correction refused: {}", refusal(&e)),
                    }
                }
                Err(_) => "bad size".to_owned(),
            },
            ["avatar", n] => match n.parse() {
                Ok(n) => match contact.set_avatar(Some(&vec![0u8; n]), None) {
                    Ok(()) => "avatar set".to_owned(),
                    Err(e) => format!("avatar refused: {}", refusal(&e)),
                },
                Err(_) => "bad size".to_owned(),
            },
            ["vcard", n] => match n.parse() {
                Ok(n) => {
                    contact.set_vcard(&Vcard {
                        note: Some("v".repeat(n)),
                        ..Vcard::default()
                    });
                    "vcard given".to_owned()
                }
                Err(_) => "bad size".to_owned(),
            },
            // The fuzz target's import calls (see `calls`).
            ["calls", ..] => match calls::decode(&message.body["calls".len()..]) {
                Some(data) => {
                    let first = Roster::by_legacy_id(&contact.legacy_id())?;
                    format!("ran {} calls", calls::run(&data, first))
                }
                None => "bad hex".to_owned(),
            },
            // The groups fuzz target's calls (see `group_calls`).
            ["gcalls", ..] => match calls::decode(&message.body["gcalls".len()..]) {
                Some(data) => {
                    let first = Roster::by_legacy_id(&contact.legacy_id())?;
                    format!("ran {} calls", group_calls::run(&data, first))
                }
                None => "bad hex".to_owned(),
            },
            ["echo", ..] => message.body["echo ".len().min(message.body.len())..].to_owned(),
            // The attacks of a hostile plugin, each on the host's side.
            ["crash"] => panic!("the probe crashes on request"),
            ["spin"] => {
                let mut n = 0u64;
                loop {
                    n = std::hint::black_box(n.wrapping_add(1));
                }
            }
            ["hog"] => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(std::hint::black_box(vec![1u8; 1 << 20]));
                }
            }
            // `n` presences of the contact, each replacing the one before.
            ["presences", n] => match n.parse::<u32>() {
                Ok(n) => {
                    let shows = [Show::Away, Show::Online, Show::Dnd];
                    for i in 0..n {
                        contact.set_presence(shows[i as usize % 3], Some(&format!("p{i}")), None);
                    }
                    format!("{n} presences set")
                }
                Err(_) => "bad count".to_owned(),
            },
            // `n` messages as fast as the host takes them.
            ["flood", n] => match n.parse::<u32>() {
                Ok(n) => {
                    let refused = (1..=n)
                        .filter(|i| contact.send_text(&format!("flood {i}")).is_err())
                        .count();
                    format!("flooded {n}, {refused} refused")
                }
                Err(_) => "bad count".to_owned(),
            },
            _ => format!("unknown: {}", message.body),
        };
        contact.send_text(&answer)?;
        Ok(None)
    }

    fn on_stream_data(&mut self, stream: u32, data: Vec<u8>) {
        report(&format!(
            "data {stream}: {}",
            String::from_utf8_lossy(&data)
        ));
    }

    fn on_stream_closed(&mut self, stream: u32, reason: Option<String>) {
        report(&format!(
            "closed {stream}: {}",
            reason.unwrap_or_else(|| "by the peer".into())
        ));
    }
}

/// Runs `work` as a task; the contact, which the task keeps, says what it
/// returns.
fn answer_later(contact: Contact, work: impl Future<Output = String> + 'static) {
    task::spawn(async move {
        let answer = work.await;
        let _ = contact.send_text(&answer);
    });
}

/// A refusal as the probe tells it: the host's kind of error, then its
/// reason (`limit-exceeded: a message of 1025 bytes is over…`).
fn refusal(e: &Error) -> String {
    use gatehouse_guest::HostError as H;
    let kind = match e.host() {
        Some(H::NotFound(_)) => "not-found",
        Some(H::Invalid(_)) => "invalid",
        Some(H::LimitExceeded(_)) => "limit-exceeded",
        Some(H::Unsupported(_)) => "unsupported",
        Some(H::Denied(_)) => "denied",
        Some(H::Other(_)) => "other",
        None => "plugin",
    };
    format!("{kind}: {}", e.reason())
}

/// Says something from contact `a`.
fn report(text: &str) {
    if let Ok(contact) = Roster::by_legacy_id("a") {
        let _ = contact.send_text(text);
    }
}

gatehouse_guest::export_plugin!(Probe);
