//! A Rust XMPP client for the load bench and the durability tests: one
//! user on a c2s stream over plain TCP (loopback only) built from
//! tokio-xmpp's XML stream, speaking in `minidom` elements. (tokio-xmpp's `Client` cannot serve here: this workspace builds
//! xmpp-parsers with its `component` feature, which makes every stanza it
//! serialises `jabber:component:accept`.)

use std::borrow::Cow;
use std::time::Duration;

use anyhow::{Context, bail};
use base64::Engine;
use futures::{SinkExt, StreamExt};
use minidom::Element;
use tokio::io::BufStream;
use tokio::net::TcpStream;
use tokio_xmpp::xmlstream::{ReadError, StreamHeader, Timeouts, XmlStream, initiate_stream};

/// The stanza type the client reads and writes.
pub type Stanza = Element;

const TIMEOUTS: Timeouts = Timeouts {
    read_timeout: Duration::from_secs(300),
    response_timeout: Duration::from_secs(60),
};

/// The client namespace.
pub const CLIENT: &str = "jabber:client";
const ROSTER: &str = "jabber:iq:roster";

type Stream = XmlStream<BufStream<TcpStream>, Element>;

/// A logged-in user.
pub struct User {
    stream: Stream,
}

impl User {
    /// Logs in (`local@localhost`, password = local) through `server`
    /// (`ip:port`) with SASL PLAIN, binds a resource, asks for the roster
    /// (so that roster pushes reach this resource) and sends the initial
    /// presence.
    pub async fn connect(server: &str, local: &str) -> anyhow::Result<User> {
        let tcp = TcpStream::connect(server).await?;
        tcp.set_nodelay(true)?;
        let header = || StreamHeader {
            to: Some(Cow::Borrowed("localhost")),
            from: None,
            id: None,
        };
        let pending = initiate_stream(BufStream::new(tcp), CLIENT, header(), TIMEOUTS).await?;
        let (_, mut stream) = pending.recv_features::<Element>().await?;
        let credentials =
            base64::engine::general_purpose::STANDARD.encode(format!("\0{local}\0{local}"));
        let auth: Element = format!(
            "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>{credentials}</auth>"
        )
        .parse()?;
        stream.send(&auth).await?;
        let answer = next_element(&mut stream).await?;
        if answer.name() != "success" {
            bail!("{local}: SASL refused: {}", String::from(&answer));
        }
        let pending = stream.initiate_reset().send_header(header()).await?;
        let (_, stream) = pending.recv_features::<Element>().await?;
        let mut user = User { stream };
        user.send_xml(&format!(
            "<iq xmlns='{CLIENT}' type='set' id='bind'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>\
             <resource>load</resource></bind></iq>"
        ))
        .await?;
        user.wait_for(|s| s.attr("id") == Some("bind")).await?;
        user.send_xml(&format!(
            "<iq xmlns='{CLIENT}' type='get' id='roster'><query xmlns='{ROSTER}'/></iq>"
        ))
        .await?;
        user.wait_for(|s| s.attr("id") == Some("roster")).await?;
        user.send_xml(&format!("<presence xmlns='{CLIENT}'/>"))
            .await?;
        Ok(user)
    }

    /// Sends a stanza written as XML (the caller's own, escaped text).
    pub async fn send_xml(&mut self, xml: &str) -> anyhow::Result<()> {
        let element: Element = xml.parse()?;
        self.stream.send(&element).await?;
        Ok(())
    }

    /// The next stanza (`None` once the stream ends).
    pub async fn next(&mut self) -> Option<Stanza> {
        next_element(&mut self.stream).await.ok()
    }

    /// Reads stanzas until one passes `check` (within 5 minutes).
    pub async fn wait_for(&mut self, check: impl Fn(&Stanza) -> bool) -> anyhow::Result<Stanza> {
        tokio::time::timeout(Duration::from_secs(300), async {
            while let Some(stanza) = self.next().await {
                if check(&stanza) {
                    return Ok(stanza);
                }
            }
            bail!("the stream ended")
        })
        .await
        .context("waiting for a stanza")?
    }

    /// Sends the echo network's registration form; does not wait.
    pub async fn send_registration(
        &mut self,
        gateway: &str,
        username: &str,
        contacts: u32,
    ) -> anyhow::Result<()> {
        // The values are the load client's own (digits and ASCII names).
        let field =
            |var: &str, value: &str| format!("<field var='{var}'><value>{value}</value></field>");
        let iq: Element = format!(
            "<iq xmlns='jabber:client' type='set' id='register' to='{gateway}'>\
             <query xmlns='jabber:iq:register'><x xmlns='jabber:x:data' type='submit'>{}{}{}</x>\
             </query></iq>",
            field("FORM_TYPE", "jabber:iq:register"),
            field("username", username),
            field("contacts", &contacts.to_string())
        )
        .parse()?;
        self.stream.send(&iq).await?;
        Ok(())
    }

    /// Sends a chat message (`body` is the load client's own ASCII text).
    pub async fn send_chat(&mut self, to: &str, id: String, body: &str) -> anyhow::Result<()> {
        self.send_xml(&format!(
            "<message xmlns='{CLIENT}' type='chat' to='{to}' id='{id}'><body>{body}</body></message>"
        ))
        .await
    }

    /// Answers a roster push (`iq type=set`), as a client should; returns
    /// how many items of `domain` it added.
    pub async fn ack_roster_push(
        &mut self,
        stanza: &Stanza,
        domain: &str,
    ) -> anyhow::Result<usize> {
        if !stanza.is("iq", CLIENT) || stanza.attr("type") != Some("set") {
            return Ok(0);
        }
        let Some(query) = stanza.get_child("query", ROSTER) else {
            return Ok(0);
        };
        let added = query
            .children()
            .filter(|item| {
                item.attr("jid")
                    .is_some_and(|j| j.ends_with(&format!("@{domain}")))
                    && item.attr("subscription") != Some("remove")
            })
            .count();
        let id = stanza
            .attr("id")
            .unwrap_or_default()
            .replace('\'', "&apos;");
        self.send_xml(&format!("<iq xmlns='{CLIENT}' type='result' id='{id}'/>"))
            .await?;
        Ok(added)
    }
}

/// The next top-level element of a stream, past soft timeouts.
async fn next_element(stream: &mut Stream) -> anyhow::Result<Element> {
    loop {
        match stream.next().await {
            Some(Ok(element)) => return Ok(element),
            Some(Err(ReadError::SoftTimeout)) => continue,
            Some(Err(e)) => bail!("reading the stream: {e:?}"),
            None => bail!("the stream ended"),
        }
    }
}

/// The body of a chat message from `from_domain`, if it is one.
pub fn chat_body(stanza: &Stanza, from_domain: &str) -> Option<String> {
    if !stanza.is("message", CLIENT) {
        return None;
    }
    let from = stanza.attr("from")?;
    let domain = from.split('/').next()?.rsplit('@').next()?;
    if domain != from_domain {
        return None;
    }
    stanza.get_child("body", CLIENT).map(Element::text)
}

/// Whether a stanza is the gateway's status presence of a logged-in user.
pub fn logged_in(stanza: &Stanza, gateway: &str) -> bool {
    stanza.is("presence", CLIENT)
        && stanza.attr("from") == Some(gateway)
        && stanza
            .get_child("status", CLIENT)
            .is_some_and(|s| s.text().contains("logged in"))
}
