//! IRC lines (RFC 1459/2812, IRCv3 message tags): reading them out of a
//! byte stream, parsing them, and writing the user's text as lines that fit.
//!
//! Everything here takes input from a server nobody vouched for: no
//! indexing, no unwrap, bounded buffers. A garbage line parses to `None`
//! and is skipped; it never traps the plugin.

/// The longest line kept: 8191 bytes of IRCv3 tags plus a 512-byte message.
/// A longer run of bytes without a newline is dropped up to the next one.
const MAX_LINE: usize = 8191 + 512;

/// Bytes from the server, cut into lines.
#[derive(Debug, Default)]
pub struct LineBuffer {
    pending: Vec<u8>,
    /// Inside an over-long line: drop bytes up to the next newline.
    discarding: bool,
}

impl LineBuffer {
    /// Adds bytes; returns the complete lines they finish, decoded, without
    /// their CR LF. Empty lines are dropped.
    pub fn push(&mut self, data: &[u8]) -> Vec<String> {
        let mut lines = Vec::new();
        for chunk in data.split_inclusive(|&b| b == b'\n') {
            let complete = chunk.last() == Some(&b'\n');
            let body = chunk.strip_suffix(b"\n").unwrap_or(chunk);
            if self.discarding {
                if complete {
                    self.discarding = false;
                }
                continue;
            }
            if self.pending.len() + body.len() > MAX_LINE {
                self.pending.clear();
                self.discarding = !complete;
                continue;
            }
            self.pending.extend_from_slice(body);
            if complete {
                let line = std::mem::take(&mut self.pending);
                let line = line.strip_suffix(b"\r").unwrap_or(&line);
                if !line.is_empty() {
                    lines.push(decode(line));
                }
            }
        }
        lines
    }
}

/// IRC has no declared encoding: UTF-8 when the bytes are UTF-8, else
/// Latin-1 (what most older clients send), so no byte is ever refused.
pub fn decode(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(text) => text.to_owned(),
        Err(_) => bytes.iter().map(|&b| char::from(b)).collect(),
    }
}

/// One parsed line: `@tags :source COMMAND param param :trailing`.
#[derive(Debug, PartialEq, Eq)]
pub struct Line<'a> {
    /// The IRCv3 tags, unparsed (nothing here needs them).
    pub tags: Option<&'a str>,
    /// `nick!user@host` or a server name.
    pub source: Option<&'a str>,
    /// The command or the three-digit numeric, as sent.
    pub command: &'a str,
    /// The parameters, the trailing one included.
    pub params: Vec<&'a str>,
}

impl<'a> Line<'a> {
    /// Parses a line (without CR LF); `None` if it is not IRC.
    pub fn parse(line: &'a str) -> Option<Line<'a>> {
        let mut rest = line.trim_start_matches(' ');
        let tags = match rest.strip_prefix('@') {
            Some(after) => {
                let (tags, after) = after.split_once(' ')?;
                rest = after.trim_start_matches(' ');
                Some(tags)
            }
            None => None,
        };
        let source = match rest.strip_prefix(':') {
            Some(after) => {
                let (source, after) = after.split_once(' ')?;
                rest = after.trim_start_matches(' ');
                Some(source)
            }
            None => None,
        };
        let (command, mut rest) = rest.split_once(' ').unwrap_or((rest, ""));
        if command.is_empty() || !command.chars().all(|c| c.is_ascii_alphanumeric()) {
            return None;
        }
        let mut params = Vec::new();
        loop {
            rest = rest.trim_start_matches(' ');
            if rest.is_empty() {
                break;
            }
            if let Some(trailing) = rest.strip_prefix(':') {
                params.push(trailing);
                break;
            }
            let (param, after) = rest.split_once(' ').unwrap_or((rest, ""));
            params.push(param);
            rest = after;
        }
        Some(Line {
            tags,
            source,
            command,
            params,
        })
    }

    /// The nick of a `nick!user@host` source; `None` for a server.
    pub fn nick(&self) -> Option<&'a str> {
        let source = self.source?;
        match source.split_once('!') {
            Some((nick, _)) => Some(nick),
            None if !source.contains('.') => Some(source),
            None => None,
        }
    }

    /// Parameter `i`, or "".
    pub fn param(&self, i: usize) -> &'a str {
        self.params.get(i).copied().unwrap_or("")
    }
}

/// A nick folded for comparison (RFC 1459 case mapping: `[]\~` are the
/// upper case of `{}|^`), so that `Bob`, `bob` and `BOB` are one contact.
pub fn fold(nick: &str) -> String {
    nick.chars()
        .map(|c| match c {
            '[' => '{',
            ']' => '}',
            '\\' => '|',
            '~' => '^',
            c => c.to_ascii_lowercase(),
        })
        .collect()
}

/// Whether a nick is one IRC servers accept (RFC 2812, with the usual
/// length): letters, digits and `[]\`_^{|}-`, not starting with a digit or
/// `-`.
pub fn valid_nick(nick: &str) -> bool {
    let special = |c: char| "[]\\`_^{|}".contains(c);
    let mut chars = nick.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || special(c))
        && chars.all(|c| c.is_ascii_alphanumeric() || special(c) || c == '-')
        && nick.len() <= 30
}

/// A CTCP message (`\x01ACTION waves\x01`): its command and argument.
pub fn ctcp(text: &str) -> Option<(&str, &str)> {
    let inner = text.strip_prefix('\u{1}')?;
    let inner = inner.strip_suffix('\u{1}').unwrap_or(inner);
    Some(inner.split_once(' ').unwrap_or((inner, "")))
}

/// Text without mIRC formatting: bold, italics, underline, strike-through,
/// monospace, reverse, reset, and colours (`\x03F[,B]`, `\x04RRGGBB[,RRGGBB]`).
/// XMPP bodies are plain text, and the codes would show as garbage.
pub fn strip_formatting(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\u{2}' | '\u{f}' | '\u{11}' | '\u{16}' | '\u{1d}' | '\u{1e}' | '\u{1f}' => {}
            '\u{3}' => skip_colour(&mut chars, |c| c.is_ascii_digit(), 2),
            '\u{4}' => skip_colour(&mut chars, |c| c.is_ascii_hexdigit(), 6),
            c => out.push(c),
        }
    }
    out
}

/// Skips `F[,B]` after a colour code: up to `width` digits, then a comma
/// and up to `width` digits only if a digit follows the comma.
fn skip_colour(
    chars: &mut std::iter::Peekable<std::str::Chars<'_>>,
    digit: impl Fn(char) -> bool,
    width: usize,
) {
    let skip_digits = |chars: &mut std::iter::Peekable<std::str::Chars<'_>>| {
        let mut n = 0;
        while n < width && chars.peek().is_some_and(|&c| digit(c)) {
            chars.next();
            n += 1;
        }
        n
    };
    if skip_digits(chars) == 0 {
        return;
    }
    let mut ahead = chars.clone();
    if ahead.next() == Some(',') && ahead.next().is_some_and(&digit) {
        chars.next();
        skip_digits(chars);
    }
}

/// The most text bytes a `PRIVMSG target :text` may carry so that the line
/// the server relays (`:nick!user@host PRIVMSG target :text\r\n`) fits in
/// 512 bytes. The user and host parts are not known: count the most they
/// usually take (10 + 63).
pub fn max_text(nick: &str, target: &str) -> usize {
    let relayed_prefix = 1 + nick.len() + 1 + 10 + 1 + 63 + 1;
    let command = "PRIVMSG ".len() + target.len() + " :".len();
    512usize
        .saturating_sub(2 + relayed_prefix + command)
        .max(16)
}

/// Splits the user's text into IRC-sized pieces of at most `max` bytes:
/// one or more per line of the text, cut at a space when there is one in
/// the second half of the piece, never inside a UTF-8 character. Nothing
/// is dropped but the line breaks (and CR, NUL, which IRC cannot carry).
pub fn split_text(text: &str, max: usize) -> Vec<String> {
    let mut pieces = Vec::new();
    for line in text.split('\n') {
        let line: String = line.chars().filter(|&c| c != '\r' && c != '\0').collect();
        let mut rest = line.as_str();
        while rest.len() > max {
            let mut cut = max;
            while !rest.is_char_boundary(cut) {
                cut -= 1;
            }
            if let Some(space) = rest[..cut].rfind(' ').filter(|&s| s >= cut / 2 && s > 0) {
                cut = space;
            }
            if cut == 0 {
                // One character longer than `max` (it cannot be: max ≥ 16).
                break;
            }
            pieces.push(rest[..cut].to_owned());
            rest = &rest[cut..];
        }
        if !rest.is_empty() {
            pieces.push(rest.to_owned());
        }
    }
    pieces
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_parse_with_tags_source_and_trailing() {
        let line = Line::parse("@time=x :bob!b@host PRIVMSG romeo :hello: there ").unwrap();
        assert_eq!(line.tags, Some("time=x"));
        assert_eq!(line.source, Some("bob!b@host"));
        assert_eq!(line.nick(), Some("bob"));
        assert_eq!(line.command, "PRIVMSG");
        assert_eq!(line.params, vec!["romeo", "hello: there "]);
        let line = Line::parse("PING :irc.localhost").unwrap();
        assert_eq!((line.source, line.command), (None, "PING"));
        assert_eq!(line.param(0), "irc.localhost");
        let line = Line::parse(":irc.localhost 001 romeo :Welcome").unwrap();
        assert_eq!(line.nick(), None, "a server is not a nick");
        assert_eq!(line.param(5), "");
    }

    #[test]
    fn hostile_lines_are_refused_or_harmless() {
        for garbage in [
            "",
            " ",
            ":",
            "@",
            "@tags",
            ":source",
            ":a b!",
            "PRIV MSG",
            "\u{0}\u{1}",
            ":nick!u@h",
            "@a :b",
            "💥 boom",
            ":x 💥",
            "   :::   ",
        ] {
            let _ = Line::parse(garbage).map(|l| (l.nick(), l.param(9)));
        }
        assert!(Line::parse(":only-a-source").is_none());
        assert!(Line::parse("BAD/CMD x").is_none());
        let many = format!("CMD {}", "p ".repeat(10_000));
        assert_eq!(Line::parse(&many).unwrap().params.len(), 10_000);
    }

    #[test]
    fn the_buffer_cuts_lines_and_survives_garbage() {
        let mut buffer = LineBuffer::default();
        assert!(buffer.push(b"PING :a\r\nPRIVMSG x :hal").len() == 1);
        assert_eq!(buffer.push(b"f\r\n\r\n\n"), vec!["PRIVMSG x :half"]);
        // Invalid UTF-8 is read as Latin-1.
        assert_eq!(buffer.push(b"caf\xe9\r\n"), vec!["café"]);
        assert_eq!(buffer.push("né\r\n".as_bytes()), vec!["né"]);
        // An endless line is dropped, up to its end; the next one is kept.
        let huge = vec![b'x'; MAX_LINE * 3];
        assert!(buffer.push(&huge).is_empty());
        assert!(buffer.push(&huge).is_empty());
        assert_eq!(buffer.push(b"tail\nPING :b\n"), vec!["PING :b"]);
        assert!(buffer.pending.is_empty());
    }

    #[test]
    fn nicks_fold_and_validate() {
        assert_eq!(fold("Bob[Away]~"), "bob{away}^");
        assert_eq!(fold("BOB"), fold("bob"));
        assert!(valid_nick("romeo") && valid_nick("[m]") && valid_nick("a-1"));
        for bad in ["", "1abc", "-x", "a b", "é", "a!b", &"x".repeat(31)] {
            assert!(!valid_nick(bad), "{bad:?}");
        }
    }

    #[test]
    fn formatting_is_stripped() {
        assert_eq!(
            strip_formatting("\u{2}bold\u{2} \u{3}04red\u{3} \u{3}4,12bg\u{f} \u{1d}it"),
            "bold red bg it"
        );
        assert_eq!(
            strip_formatting("\u{3}1,x"),
            ",x",
            "a comma without digits stays"
        );
        assert_eq!(strip_formatting("\u{4}ff00ffpink"), "pink");
        assert_eq!(strip_formatting("\u{3}"), "");
        assert_eq!(strip_formatting("100\u{3}% 5"), "100% 5");
    }

    #[test]
    fn ctcp_is_recognised() {
        assert_eq!(ctcp("\u{1}ACTION waves\u{1}"), Some(("ACTION", "waves")));
        assert_eq!(ctcp("\u{1}VERSION\u{1}"), Some(("VERSION", "")));
        assert_eq!(ctcp("\u{1}"), Some(("", "")));
        assert_eq!(ctcp("plain"), None);
    }

    #[test]
    fn long_text_splits_without_breaking_characters() {
        let text = "é".repeat(300) + " and some words after " + &"🎉".repeat(100);
        let pieces = split_text(&text, 100);
        assert!(pieces.iter().all(|p| p.len() <= 100), "{pieces:?}");
        assert_eq!(pieces.concat(), text, "nothing lost");
        assert_eq!(split_text("a\r\nb\n\nc\0", 100), vec!["a", "b", "c"]);
        let words = "word ".repeat(50);
        let pieces = split_text(&words, 32);
        assert!(pieces[0].ends_with("word"), "cut at a space: {pieces:?}");
        assert_eq!(pieces.concat(), words);
        // The relayed line, with the longest usual user and host, is 512.
        let relayed = format!(
            ":romeo!{}@{} PRIVMSG bob :{}\r\n",
            "u".repeat(10),
            "h".repeat(63),
            "t".repeat(max_text("romeo", "bob"))
        );
        assert_eq!(relayed.len(), 512);
        assert!(max_text(&"n".repeat(1000), "bob") >= 16);
    }
}
