//! `calls HEX`: the fuzz target for the host's side of the contract
//! (`gatehouse_tests::fuzz::imports`) hands the probe arbitrary bytes,
//! which this module reads as a sequence of import calls with arbitrary
//! arguments: each call an opcode byte, then what its arguments need
//! (numbers, strings of any size and content, lists, options). The host
//! must refuse what it should with an error, and neither panic nor stall
//! nor let out a stanza the server would drop the link for.

use gatehouse_guest::{Contact, HttpRequest, LogLevel, Roster, SendOptions, Show, Vcard, session};

/// The bytes of a `calls` command, from its hex text.
pub fn decode(hex: &str) -> Option<Vec<u8>> {
    let hex = hex.trim();
    if !hex.len().is_multiple_of(2) {
        return None;
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Reads arguments from the input; past its end, zeros and empties.
pub(crate) struct Reader<'a> {
    pub(crate) data: &'a [u8],
}

impl Reader<'_> {
    pub(crate) fn done(&self) -> bool {
        self.data.is_empty()
    }

    pub(crate) fn u8(&mut self) -> u8 {
        match self.data.split_first() {
            Some((&b, rest)) => {
                self.data = rest;
                b
            }
            None => 0,
        }
    }

    pub(crate) fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.u8(), self.u8()])
    }

    pub(crate) fn u32(&mut self) -> u32 {
        u32::from_le_bytes([self.u8(), self.u8(), self.u8(), self.u8()])
    }

    pub(crate) fn u64(&mut self) -> u64 {
        u64::from(self.u32()) | (u64::from(self.u32()) << 32)
    }

    pub(crate) fn flag(&mut self) -> bool {
        self.u8() & 1 == 1
    }

    /// Bytes: a length byte then that many bytes of the input; 255 makes
    /// a large run (the next u16 times 64 bytes of the next byte), to try
    /// the host's size limits.
    pub(crate) fn bytes(&mut self) -> Vec<u8> {
        match self.u8() {
            255 => {
                let n = usize::from(self.u16()) * 64;
                vec![self.u8(); n]
            }
            len => {
                let len = usize::from(len).min(self.data.len());
                let (taken, rest) = self.data.split_at(len);
                self.data = rest;
                taken.to_vec()
            }
        }
    }

    pub(crate) fn text(&mut self) -> String {
        String::from_utf8_lossy(&self.bytes()).into_owned()
    }

    pub(crate) fn opt_text(&mut self) -> Option<String> {
        self.flag().then(|| self.text())
    }

    pub(crate) fn texts(&mut self) -> Vec<String> {
        (0..self.u8() % 40).map(|_| self.text()).collect()
    }

    pub(crate) fn show(&mut self) -> Show {
        [
            Show::Online,
            Show::Chat,
            Show::Away,
            Show::Xa,
            Show::Dnd,
            Show::Offline,
        ][usize::from(self.u8()) % 6]
    }

    fn options(&mut self) -> SendOptions {
        SendOptions {
            legacy_msg_id: self.opt_text(),
            when: self.flag().then(|| self.u64()),
            reply_to: self.opt_text(),
            carbon: self.flag(),
        }
    }
}

/// Runs the calls `data` spells, on `first` and the contacts they look
/// up; returns how many ran.
pub fn run(data: &[u8], first: Contact) -> usize {
    let mut input = Reader { data };
    let mut contacts = vec![first];
    let mut calls = 0;
    while !input.done() && calls < 10_000 {
        calls += 1;
        let op = input.u8() % 31;
        let pick = usize::from(input.u8()) % contacts.len();
        let contact = &contacts[pick];
        match op {
            0 => {
                if let Ok(found) = Roster::by_legacy_id(&input.text()) {
                    contacts.push(found);
                }
            }
            1 => {
                if let Ok(found) = Roster::by_jid(&input.text()) {
                    contacts.push(found);
                }
            }
            2 => {
                let all = Roster::contacts();
                contacts.extend(all.into_iter().take(4));
            }
            3 => contact.set_name(input.opt_text().as_deref()),
            4 => drop(contact.add_to_roster()),
            5 => drop(contact.remove_from_roster()),
            6 => {
                let avatar = input.flag().then(|| input.bytes());
                drop(contact.set_avatar(avatar.as_deref(), input.opt_text().as_deref()));
            }
            7 => contact.set_vcard(&Vcard {
                full_name: input.opt_text(),
                given: input.opt_text(),
                surname: input.opt_text(),
                birthday: input.opt_text(),
                phones: input.texts(),
                note: input.opt_text(),
                url: input.opt_text(),
                email: input.opt_text(),
                country: input.opt_text(),
                locality: input.opt_text(),
            }),
            8 => {
                let show = input.show();
                let status = input.opt_text();
                let last_seen = input.flag().then(|| input.u64());
                contact.set_presence(show, status.as_deref(), last_seen);
            }
            9 => {
                let body = input.text();
                drop(contact.send_text_with(&body, input.options()));
            }
            10 => match input.u8() % 4 {
                0 => contact.composing(),
                1 => contact.paused(),
                2 => contact.active(),
                _ => contact.inactive(),
            },
            11 => drop(contact.received(&input.text())),
            12 => drop(contact.displayed(&input.text(), input.flag())),
            13 => {
                let (id, body) = (input.text(), input.text());
                drop(contact.correct(&id, &body, input.options()));
            }
            14 => drop(contact.retract(&input.text(), input.flag())),
            15 => {
                let id = input.text();
                let emojis = input.texts();
                drop(contact.react(&id, &emojis, input.flag()));
            }
            16 => drop(session::kv_get(&input.text())),
            17 => {
                let key = input.text();
                drop(session::kv_set(&key, &input.bytes()));
            }
            18 => session::kv_delete(&input.text()),
            // No grant: the host refuses before any connection is made.
            19 => drop(session::open_stream(&input.text(), input.u16())),
            20 => drop(session::open_tls_stream(&input.text(), input.u16())),
            21 => {
                let id = input.u32();
                drop(session::stream_write(id, &input.bytes()));
            }
            22 => session::close_stream(input.u32()),
            23 => {
                let request = HttpRequest {
                    method: input.text(),
                    url: input.text(),
                    headers: (0..input.u8() % 8)
                        .map(|_| (input.text(), input.text()))
                        .collect(),
                    body: input.flag().then(|| input.bytes()),
                };
                drop(session::http_request(&request));
            }
            24 => session::set_timer(input.u32(), &input.text()),
            25 => {
                let level = [
                    LogLevel::Trace,
                    LogLevel::Debug,
                    LogLevel::Info,
                    LogLevel::Warn,
                    LogLevel::Error,
                ][usize::from(input.u8()) % 5];
                session::log(level, &input.text());
            }
            26 => session::send_gateway_message(&input.text()),
            27 => drop((session::registration(), session::user_jid())),
            28 => drop((contact.legacy_id(), contact.jid())),
            // A handle given back.
            29 => {
                if contacts.len() > 1 {
                    contacts.swap_remove(pick);
                }
            }
            _ => {
                let body = input.text();
                drop(contact.send_text(&body));
            }
        }
    }
    calls
}
