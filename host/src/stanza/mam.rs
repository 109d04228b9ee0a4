//! XEP-0313 Message Archive Management (v2, `urn:xmpp:mam:2`) with
//! XEP-0059 Result Set Management, for the rooms' archives: a query read
//! into what it asks, each archived message forwarded as a result, and
//! the `<fin/>` that ends the answer. The payloads are xmpp-parsers'.

use jid::{BareJid, Jid};
use minidom::Element;
use xmpp_parsers::{
    data_forms::DataForm,
    delay::Delay,
    forwarding::Forwarded,
    mam::{Fin, Query, QueryId, Result_},
    message::Message,
    rsm::{First, SetResult},
};

use super::{in_namespace, ns, presence::timestamp};

/// The most results one page gives, whatever the query asks.
pub const MAX_PAGE: u32 = 250;
/// A page's size when the query does not say.
pub const DEFAULT_PAGE: u32 = 50;

/// What a MAM query asks of an archive.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Request {
    /// The query's id, echoed in each result.
    pub query_id: Option<String>,
    /// Messages dated at or after (seconds since the epoch).
    pub start: Option<i64>,
    /// Messages dated at or before.
    pub end: Option<i64>,
    /// Only messages from this JID (an occupant's in a room).
    pub with: Option<String>,
    /// RSM `<after>`: the page after this archive id.
    pub after: Option<String>,
    /// RSM `<before>`: the page before this archive id (empty: the last
    /// page).
    pub before: Option<String>,
    /// How many at most.
    pub max: u32,
}

/// Reads a `<query xmlns='urn:xmpp:mam:2'/>`; Err is the `bad-request`
/// text.
pub fn parse(payload: &Element) -> Result<Request, String> {
    let query = Query::try_from(payload.clone()).map_err(|e| format!("not a MAM query: {e}"))?;
    let mut request = Request {
        query_id: query.queryid.map(|q| q.0),
        max: DEFAULT_PAGE,
        ..Request::default()
    };
    if let Some(form) = &query.form {
        read_form(form, &mut request)?;
    }
    if let Some(set) = query.set {
        if let Some(max) = set.max {
            request.max = u32::try_from(max).unwrap_or(MAX_PAGE);
        }
        request.after = set.after;
        request.before = set.before;
    }
    request.max = request.max.min(MAX_PAGE);
    Ok(request)
}

fn read_form(form: &DataForm, request: &mut Request) -> Result<(), String> {
    for field in &form.fields {
        let value = field.values.first().map(String::as_str);
        let date = |v: Option<&str>| -> Result<Option<i64>, String> {
            v.map(|text| {
                chrono::DateTime::parse_from_rfc3339(text)
                    .map(|d| d.timestamp())
                    .map_err(|e| format!("{text:?} is not a date: {e}"))
            })
            .transpose()
        };
        match field.var.as_deref() {
            Some("start") => request.start = date(value)?,
            Some("end") => request.end = date(value)?,
            Some("with") => request.with = value.map(str::to_owned),
            Some("FORM_TYPE") | None => {}
            Some(other) if other.starts_with("urn:") => {}
            Some(other) => return Err(format!("the field {other:?} is not supported")),
        }
    }
    Ok(())
}

/// One archived message as a result of query `query_id`, to `to`.
pub fn result(
    from: &BareJid,
    to: Jid,
    query_id: Option<&str>,
    archive_id: &str,
    at: i64,
    mut message: Message,
) -> Message {
    message.to = None;
    let delay = u64::try_from(at)
        .ok()
        .and_then(timestamp)
        .map(|stamp| Delay {
            from: Some(from.clone().into()),
            stamp,
            data: None,
        });
    let result: Element = Result_ {
        id: archive_id.to_owned(),
        queryid: query_id.map(|q| QueryId(q.to_owned())),
        forwarded: Forwarded { delay, message },
    }
    .into();
    // A forwarded stanza is a client's (RFC 6120 namespaces): the archive
    // holds it as the component sent it.
    let result = in_namespace(&result, ns::COMPONENT, ns::CLIENT);
    let mut wrapper = Message::new(Some(to));
    wrapper.from = Some(from.clone().into());
    wrapper.payloads.push(result);
    wrapper
}

/// The `<fin/>` that ends an answer: the page's first and last archive
/// ids, the count, and whether it reached the end.
pub fn fin(first: Option<&str>, last: Option<&str>, count: u64, complete: bool) -> Element {
    Fin {
        complete,
        set: SetResult {
            first: first.map(|item| First {
                index: None,
                item: item.to_owned(),
            }),
            last: last.map(str::to_owned),
            count: usize::try_from(count).ok(),
        },
    }
    .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(xml: &str) -> Result<Request, String> {
        parse(&xml.parse::<Element>().unwrap())
    }

    #[test]
    fn a_query_reads_its_form_and_page() {
        let request = query(
            "<query xmlns='urn:xmpp:mam:2' queryid='q1'>\
             <x xmlns='jabber:x:data' type='submit'>\
             <field var='FORM_TYPE' type='hidden'><value>urn:xmpp:mam:2</value></field>\
             <field var='start'><value>2026-01-01T00:00:00Z</value></field></x>\
             <set xmlns='http://jabber.org/protocol/rsm'><max>10</max><before/></set></query>",
        )
        .unwrap();
        assert_eq!(request.query_id.as_deref(), Some("q1"));
        assert_eq!(request.start, Some(1_767_225_600));
        assert_eq!(request.max, 10);
        assert_eq!(
            request.before.as_deref(),
            Some(""),
            "an empty before: the last page"
        );
        assert_eq!(request.after, None);
    }

    #[test]
    fn pages_are_capped_and_bad_dates_refused() {
        let big = query(
            "<query xmlns='urn:xmpp:mam:2'><set xmlns='http://jabber.org/protocol/rsm'><max>100000</max></set></query>",
        )
        .unwrap();
        assert_eq!(big.max, MAX_PAGE);
        assert_eq!(
            query("<query xmlns='urn:xmpp:mam:2'/>").unwrap().max,
            DEFAULT_PAGE
        );
        assert!(
            query(
                "<query xmlns='urn:xmpp:mam:2'><x xmlns='jabber:x:data' type='submit'>\
                 <field var='start'><value>yesterday</value></field></x></query>"
            )
            .is_err()
        );
    }
}
