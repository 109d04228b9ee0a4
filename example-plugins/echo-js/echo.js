// The echo network (shared/ECHO.md) in JavaScript, built with
// componentize-js (SpiderMonkey) from the npm registry: `npm run build`.
//
// A legacy network that lives inside the plugin: every message the user
// sends to a contact comes back from it, and commands (`/nick`, `/avatar`,
// `/burst`…) exercise the host's imports. It behaves exactly like the Rust
// build in `example-plugins/echo`, so the same end-to-end tests run against
// both.
//
// Two rules of the contract shape this file:
// - an exception escaping an export traps the instance (the host restarts it
//   and tells the user it crashed): the result-returning exports throw only
//   strings (their `err`), the others catch and log;
// - contact handles are host resources, owned by the plugin (those it looks
//   up and those the exports receive): `withContact` disposes each as soon
//   as it is done instead of waiting for the garbage collector.

import * as groups from "gatehouse:gateway/groups@0.3.1";
import * as roster from "gatehouse:gateway/roster@0.3.1";
import * as session from "gatehouse:gateway/session@0.3.1";

const MAX_CONTACTS = 100000;
const SHOWS = ["online", "away", "xa", "dnd", "offline"];

/** A failure told to the user: the export's `err`. */
class Refused extends Error {}

/** The text of a host `error` variant (`{ tag: "invalid", val: "…" }`). */
function reason(error) {
  if (error && typeof error === "object" && "val" in error) {
    return String(error.val);
  }
  if (error && typeof error === "object" && "payload" in error) {
    return reason(error.payload);
  }
  return String(error);
}

/** Calls a host import whose result is `result<_, error>`; a refusal
 * becomes `Refused` with the host's reason. */
function host(call) {
  try {
    return call();
  } catch (e) {
    throw new Refused(reason(e));
  }
}

/** Runs `f` on an owned contact handle, then gives the handle back. */
function withContact(contact, f) {
  try {
    return f(contact);
  } finally {
    contact[Symbol.dispose]?.();
  }
}

/** Runs an export's body: a `Refused` becomes the export's `err`. */
function refusing(f) {
  try {
    return f();
  } catch (e) {
    if (e instanceof Refused) {
      throw e.message;
    }
    throw e;
  }
}

function registrationValue(name) {
  const found = session.registration().find(([key]) => key === name);
  return found ? found[1] : null;
}

/** The `contacts` field as a number, with the echo network's bounds. */
function contactCount(value) {
  const text = (value ?? "3").trim();
  if (/^[0-9]+$/.test(text) && Number(text) <= MAX_CONTACTS) {
    return Number(text);
  }
  throw new Refused(`contacts must be a whole number from 0 to ${MAX_CONTACTS}, not ${JSON.stringify(text)}`);
}

// UTF-8 by hand: QuickJS (componentize-qjs) has no TextEncoder/TextDecoder,
// and this file stays buildable with either engine.
const utf8 = {
  encode(text) {
    const out = [];
    for (const ch of text) {
      const c = ch.codePointAt(0);
      if (c < 0x80) out.push(c);
      else if (c < 0x800) out.push(0xc0 | (c >> 6), 0x80 | (c & 63));
      else if (c < 0x10000) out.push(0xe0 | (c >> 12), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
      else out.push(0xf0 | (c >> 18), 0x80 | ((c >> 12) & 63), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
    }
    return new Uint8Array(out);
  },
};
const fromUtf8 = {
  /** Decodes UTF-8; a malformed sequence becomes U+FFFD. */
  decode(bytes) {
    let text = "";
    for (let i = 0; i < bytes.length; ) {
      const b = bytes[i];
      const len = b < 0x80 ? 1 : b >= 0xf0 && b < 0xf8 ? 4 : b >= 0xe0 ? 3 : b >= 0xc0 ? 2 : 0;
      let c = len === 1 ? b : len === 2 ? b & 31 : len === 3 ? b & 15 : b & 7;
      let ok = len > 0 && i + len <= bytes.length;
      for (let k = 1; ok && k < len; k++) {
        ok = (bytes[i + k] & 0xc0) === 0x80;
        c = (c << 6) | (bytes[i + k] & 63);
      }
      ok = ok && c <= 0x10ffff;
      text += ok ? String.fromCodePoint(c) : "\ufffd";
      i += ok ? len : 1;
    }
    return text;
  },
};

/** Bumps a counter of the key-value store by `n`; returns its first new
 * value. Counters live there so that legacy ids never repeat, even across
 * restarts and reloads. */
function nextCounter(key, n = 1) {
  const raw = session.kvGet(key);
  const current = raw == null ? 0 : Number(fromUtf8.decode(raw)) || 0;
  try {
    session.kvSet(key, utf8.encode(String(current + n)));
  } catch (e) {
    session.log("error", `cannot save counter ${key}: ${reason(e)}`);
  }
  return current + 1;
}

function options(legacyMsgId = null, replyTo = null, carbon = false) {
  return { legacyMsgId, when: null, replyTo, carbon };
}

function lastKey(contact) {
  return `last-message:${contact.legacyId()}`;
}

function lastMessage(contact) {
  const raw = session.kvGet(lastKey(contact));
  return raw == null ? null : fromUtf8.decode(raw);
}

/** Sends from the contact, remembering it as the contact's last message
 * (for `/correct` and `/retract`). */
function send(contact, body, legacyId, replyTo = null) {
  host(() => session.kvSet(lastKey(contact), utf8.encode(legacyId)));
  host(() => contact.sendText(body, options(legacyId, replyTo)));
}

/** Sends `body` from the contact with the next `e<k>` legacy id. */
function echo(contact, body) {
  send(contact, body, `e${nextCounter("echo-messages")}`);
}

/** An echo for an export that returns nothing: failures are logged. */
function answer(contact, text) {
  try {
    echo(contact, text);
  } catch (e) {
    session.log("warn", `cannot answer: ${e.message ?? e}`);
  }
}

function addContact(legacyId, name) {
  withContact(host(() => roster.byLegacyId(legacyId)), (contact) => {
    contact.setName(name);
    contact.setPresence("online", "echo", null);
    host(() => contact.addToRoster());
  });
}

function profile(contact) {
  const id = contact.legacyId();
  const numbered = /^c[0-9]+$/.test(id) && `c${Number(id.slice(1))}` === id;
  return {
    fullName: numbered ? `Contact ${Number(id.slice(1))}` : id,
    given: null,
    surname: null,
    birthday: null,
    phones: [],
    note: "echo contact",
    url: null,
    email: `${id}@echo.invalid`,
    country: null,
    locality: null,
  };
}

function runCommand(contact, command, n) {
  const previous = n > 1 ? `u${n - 1}` : null;
  const space = command.indexOf(" ");
  const name = space < 0 ? command : command.slice(0, space);
  const arg = space < 0 ? "" : command.slice(space + 1).trim();
  if (name === "nick" && arg) {
    contact.setName(arg);
  } else if (name === "presence") {
    const cut = arg.indexOf(" ");
    const show = cut < 0 ? arg : arg.slice(0, cut);
    const status = cut < 0 ? null : arg.slice(cut + 1).trim() || null;
    if (!SHOWS.includes(show)) {
      echo(contact, `unknown presence: ${show}`);
      return;
    }
    contact.setPresence(show, status, null);
  } else if (name === "contact" && arg) {
    addContact(arg, arg);
  } else if (name === "unfriend") {
    host(() => contact.removeFromRoster());
  } else if (name === "avatar" && arg === "none") {
    host(() => contact.setAvatar(null, null));
  } else if (name === "avatar") {
    const id = contact.legacyId();
    const uniqueId = `${id}-${nextCounter(`avatar:${id}`)}`;
    host(() => contact.setAvatar(squarePng(id), uniqueId));
  } else if (name === "vcard") {
    contact.setVcard(profile(contact));
  } else if (name === "store") {
    const cut = arg.indexOf(" ");
    const key = cut < 0 ? arg : arg.slice(0, cut);
    const value = cut < 0 ? "" : arg.slice(cut + 1);
    try {
      session.kvSet(`user:${key}`, utf8.encode(value));
    } catch (e) {
      echo(contact, `not stored: ${reason(e)}`);
    }
  } else if (name === "load") {
    const value = session.kvGet(`user:${arg}`);
    echo(contact, value == null ? "(none)" : fromUtf8.decode(value));
  } else if (name === "typing") {
    contact.composing();
    session.setTimer(1000, `paused:${contact.legacyId()}`);
  } else if (name === "read") {
    if (previous == null) echo(contact, "no previous message to read");
    else host(() => contact.displayed(previous, false));
  } else if (name === "react") {
    if (previous == null) echo(contact, "no previous message to react to");
    else host(() => contact.react(previous, arg.split(/\s+/).filter(Boolean), false));
  } else if (name === "reply" && arg) {
    if (previous == null) echo(contact, "no previous message to reply to");
    else send(contact, arg, `e${nextCounter("echo-messages")}`, previous);
  } else if (name === "correct" && arg) {
    const last = lastMessage(contact);
    if (last == null) echo(contact, "nothing to correct");
    else host(() => contact.correct(last, arg, options()));
  } else if (name === "retract") {
    const last = lastMessage(contact);
    if (last == null) echo(contact, "nothing to retract");
    else host(() => contact.retract(last, false));
  } else if (name === "carbon" && arg) {
    const legacyId = `u${nextCounter("user-messages")}`;
    host(() => contact.sendText(arg, options(legacyId, null, true)));
  } else if (name === "burst") {
    if (!/^[0-9]+$/.test(arg)) {
      throw new Refused(`/burst needs a count, not ${JSON.stringify(arg)}`);
    }
    const count = Number(arg);
    const first = nextCounter("echo-messages", count);
    for (let i = 0; i < count; i++) {
      send(contact, `burst ${i + 1}`, `e${first + i}`);
    }
  } else if (name === "crash") {
    // Not a `Refused`: it escapes the export, which traps the instance.
    throw new Error("the echo network crashes on request");
  } else if (name === "spin") {
    let n = 0;
    for (;;) n = (n + 1) | 0;
  } else if (name === "hog") {
    const hoard = [];
    for (;;) hoard.push(new Uint8Array(1 << 20).fill(1));
  } else {
    echo(contact, `unknown command: /${command}`);
  }
}

export const plugin = {
  gatewayInfo() {
    return {
      name: "Echo network",
      networkType: "echo",
      instructions: "Pick any user name; every message you send to a contact comes back.",
      registrationFields: [
        { var: "username", label: "User name", kind: "text-single", required: true, defaultValue: null },
        { var: "contacts", label: "Number of contacts", kind: "text-single", required: false, defaultValue: "3" },
        { var: "groups", label: "Number of groups", kind: "text-single", required: false, defaultValue: "1" },
      ],
    };
  },

  validateRegistration(form) {
    const values = new Map(form);
    const username = values.get("username") ?? "";
    if (username === "") throw "a user name is needed";
    if (username === "fail") throw "username refused by the echo network";
    refusing(() => contactCount(values.get("contacts") ?? null));
    refusing(() => groupCount(values.get("groups") ?? null));
  },

  login() {
    const username = registrationValue("username") ?? "";
    // `crashlogin` makes login trap in the Rust build; an uncaught
    // exception does the same here.
    if (username === "crashlogin") {
      throw new Error("the echo network crashes on purpose for user crashlogin");
    }
    return `Echo network: logged in as ${username}`;
  },

  logout() {},

  fillRoster() {
    refusing(() => {
      const count = contactCount(registrationValue("contacts"));
      for (let i = 0; i < count; i++) {
        addContact(`c${i}`, `Contact ${i}`);
      }
    });
  },

  jidUsernameToLegacyId(_username, unescaped) {
    const count = refusing(() => contactCount(registrationValue("contacts")));
    const known =
      /^c[0-9]+$/.test(unescaped) && `c${Number(unescaped.slice(1))}` === unescaped && Number(unescaped.slice(1)) < count;
    if (!known) throw `${unescaped} is not a contact on the echo network`;
    return unescaped;
  },

  // The echo network's ids need no mapping: XEP-0106 escaping it is.
  legacyIdToJidUsername(_legacyId) {
    return null;
  },

  onText(contact, message) {
    return withContact(contact, (contact) => {
      const n = nextCounter("user-messages");
      const legacyId = `u${n}`;
      refusing(() => {
        if (message.body.startsWith("/")) {
          runCommand(contact, message.body.slice(1), n);
        } else {
          host(() => contact.received(legacyId));
          echo(contact, message.body);
        }
      });
      return legacyId;
    });
  },

  updateContactInfo(contact) {
    withContact(contact, () => {});
  },

  fetchVcard(contact) {
    withContact(contact, (contact) => contact.setVcard(profile(contact)));
  },

  onTimer(token) {
    if (token.startsWith("heard:")) {
      heard(token);
      return;
    }
    // `/typing` stops typing a second later.
    if (token.startsWith("paused:")) {
      try {
        withContact(roster.byLegacyId(token.slice("paused:".length)), (c) => c.paused());
      } catch (e) {
        session.log("warn", `timer ${token}: ${reason(e)}`);
      }
    }
  },

  onStreamData(_id, _data) {},

  onStreamClosed(_id, _reason) {},

  onHttpResponse(_id, _response) {},

  onChatState(contact, state) {
    withContact(contact, (contact) => answer(contact, `saw ${state}`));
  },

  onDisplayed(contact, legacyMsgIds) {
    withContact(contact, (contact) => answer(contact, `saw displayed ${legacyMsgIds.join(" ")}`));
  },

  onCorrect(contact, legacyMsgId, body) {
    withContact(contact, (contact) => refusing(() => echo(contact, `saw correction ${legacyMsgId}: ${body}`)));
  },

  onRetract(contact, legacyMsgId) {
    withContact(contact, (contact) => refusing(() => echo(contact, `saw retraction ${legacyMsgId}`)));
  },

  onReact(contact, legacyMsgId, emojis) {
    withContact(contact, (contact) =>
      refusing(() => echo(contact, `saw reactions ${legacyMsgId}: ${emojis.join(" ")}`)),
    );
  },

  // Groups (ECHO.md "Groups"), as the Rust build has them.
  fillBookmarks() {
    refusing(() => {
      const count = groupCount(registrationValue("groups"));
      for (let i = 0; i < count; i++) {
        // A group the user left stays left.
        if (session.kvGet(`group-left:g${i}`) != null) continue;
        withContact(host(() => groups.byLegacyId(`g${i}`)), (muc) => {
          describe(muc);
          host(() => muc.addToBookmarks(true));
        });
      }
    });
  },
  fillParticipants(muc) {
    withContact(muc, (muc) =>
      refusing(() => {
        withContact(muc.userParticipant(), () => {});
        for (let i = 0; i < 2; i++) withContact(contactParticipant(muc, i), () => {});
      }),
    );
  },
  updateMucInfo(muc) {
    withContact(muc, (muc) => refusing(() => describe(muc)));
  },
  backfill(muc, _before) {
    withContact(muc, () => {});
  },
  jidUsernameToMucLegacyId(_username, unescaped) {
    const count = refusing(() => groupCount(registrationValue("groups")));
    const n = Number(unescaped.slice(1));
    if (!(/^g[0-9]+$/.test(unescaped) && `g${n}` === unescaped && n < count)) {
      throw `${unescaped} is not a group on the echo network`;
    }
    return unescaped;
  },
  mucLegacyIdToJidUsername(_legacyId) {
    return null;
  },
  onMucText(muc, message) {
    return withContact(muc, (muc) => {
      const n = nextCounter("user-messages");
      refusing(() => {
        if (message.body.startsWith("/")) {
          runGroupCommand(muc, message.body.slice(1), n);
        } else {
          host(() => session.kvSet(`heard:${n}`, utf8.encode(message.body)));
          session.setTimer(0, `heard:${n}:${muc.legacyId()}`);
        }
      });
      return `u${n}`;
    });
  },
  onMucCorrect(muc, legacyMsgId, body) {
    withContact(muc, (muc) => refusing(() => say(muc, 0, `saw correction ${legacyMsgId}: ${body}`)));
  },
  onMucRetract(muc, legacyMsgId) {
    withContact(muc, (muc) => refusing(() => say(muc, 0, `saw retraction ${legacyMsgId}`)));
  },
  onMucReact(muc, legacyMsgId, emojis) {
    withContact(muc, (muc) => refusing(() => say(muc, 0, `saw reactions ${legacyMsgId}: ${emojis.join(" ")}`)));
  },
  onMucDisplayed(muc, legacyMsgId) {
    withContact(muc, (muc) => groupAnswer(muc, `saw displayed ${legacyMsgId}`));
  },
  onLeaveGroup(muc) {
    withContact(muc, (muc) =>
      refusing(() => host(() => session.kvSet(`group-left:${muc.legacyId()}`, utf8.encode("1")))),
    );
  },
  onMucChatState(muc, state) {
    withContact(muc, (muc) => groupAnswer(muc, `saw ${state}`));
  },
};

// --- Groups (ECHO.md "Groups") ------------------------------------------------

const MAX_GROUPS = 1000;

/** The `groups` field as a number, with the echo network's bounds. */
function groupCount(value) {
  const text = (value ?? "1").trim();
  if (/^[0-9]+$/.test(text) && Number(text) <= MAX_GROUPS) return Number(text);
  throw new Refused(`groups must be a whole number from 0 to ${MAX_GROUPS}, not ${JSON.stringify(text)}`);
}

/** A group's name, kind and subject (the one `/subject` set last, kept). */
function describe(muc) {
  const id = muc.legacyId();
  const name = /^g[0-9]+$/.test(id) ? `Group ${Number(id.slice(1))}` : id;
  muc.setName(name);
  muc.setType("group");
  const kept = session.kvGet(`group-subject:${id}`);
  const subject = kept == null ? `Echo ${name.toLowerCase()}` : fromUtf8.decode(kept);
  host(() => muc.setSubject(subject, "Contact 0", null));
}

/** The participant of contact `c<i>`, named `Contact <i>`. */
function contactParticipant(muc, i) {
  return withContact(host(() => roster.byLegacyId(`c${i}`)), (contact) => {
    contact.setName(`Contact ${i}`);
    return host(() => muc.participantByContact(contact));
  });
}

function groupOptions(legacyMsgId, when = null, archiveOnly = false) {
  return { legacyMsgId, when, replyTo: null, archiveOnly };
}

/** A text from `Contact <i>`, remembered as its last in the group. */
function say(muc, i, body) {
  const legacyId = `e${nextCounter("echo-messages")}`;
  host(() => session.kvSet(`group-last:${muc.legacyId()}:${i}`, utf8.encode(legacyId)));
  withContact(contactParticipant(muc, i), (p) => host(() => p.sendText(body, groupOptions(legacyId))));
}

function groupAnswer(muc, text) {
  try {
    say(muc, 0, text);
  } catch (e) {
    session.log("warn", `cannot answer: ${e.message ?? e}`);
  }
}

/** `Contact 0` hears the user's message `heard:<n>:<room>`. */
function heard(token) {
  const rest = token.slice("heard:".length);
  const colon = rest.indexOf(":");
  const n = rest.slice(0, colon);
  const room = rest.slice(colon + 1);
  const raw = session.kvGet(`heard:${n}`);
  session.kvDelete(`heard:${n}`);
  if (raw == null) return;
  try {
    withContact(host(() => groups.byLegacyId(room)), (muc) => say(muc, 0, `heard: ${fromUtf8.decode(raw)}`));
  } catch (e) {
    session.log("warn", `heard: ${e.message ?? e}`);
  }
}

function nowSeconds() {
  return BigInt(Math.floor(Date.now() / 1000));
}

/** A command's count, digits only (as the Rust build takes them). */
function countOf(name, arg) {
  if (!/^[0-9]+$/.test(arg)) throw new Refused(`/${name} needs a count, not ${JSON.stringify(arg)}`);
  return Number(arg);
}

function runGroupCommand(muc, command, n) {
  const space = command.indexOf(" ");
  const name = space < 0 ? command : command.slice(0, space);
  const arg = space < 0 ? "" : command.slice(space + 1).trim();
  const previous = n > 1 ? `u${n - 1}` : null;
  const byNick = (nick) => host(() => muc.participantByNick(nick));
  const last = () => {
    const raw = session.kvGet(`group-last:${muc.legacyId()}:0`);
    return raw == null ? null : fromUtf8.decode(raw);
  };
  if (name === "join" && arg) {
    withContact(byNick(arg), () => {});
  } else if (name === "leave" && arg) {
    withContact(byNick(arg), (p) => p.leave());
  } else if (name === "away" && arg) {
    // For the tests (not in ECHO.md): NICK goes away, with a status.
    const space = arg.indexOf(" ");
    const nick = space < 0 ? arg : arg.slice(0, space);
    const status = space < 0 ? null : arg.slice(space + 1).trim() || null;
    withContact(byNick(nick), (p) => p.setPresence("away", status));
  } else if (name === "kick" && arg) {
    withContact(byNick(arg), (p) => p.kick("echo kick"));
  } else if (name === "rename") {
    const space = arg.indexOf(" ");
    const old = space < 0 ? arg : arg.slice(0, space);
    const renamed = space < 0 ? "" : arg.slice(space + 1).trim();
    if (!renamed) return say(muc, 0, "/rename needs OLD NEW");
    withContact(byNick(old), (p) => host(() => p.setNick(renamed)));
  } else if (name === "subject") {
    host(() => session.kvSet(`group-subject:${muc.legacyId()}`, utf8.encode(arg)));
    host(() => muc.setSubject(arg, "Contact 0", nowSeconds()));
  } else if (name === "name" && arg) {
    muc.setName(arg);
  } else if (name === "avatar" && arg === "none") {
    host(() => muc.setAvatar(null, null));
  } else if (name === "avatar") {
    const id = muc.legacyId();
    host(() => muc.setAvatar(squarePng(id), `${id}-${nextCounter(`avatar:${id}`)}`));
  } else if (name === "crowd") {
    // For the load bench: N participants p1…pN join.
    const count = countOf(name, arg);
    for (let i = 1; i <= count; i++) withContact(byNick(`p${i}`), () => {});
  } else if (name === "burst") {
    const count = countOf(name, arg);
    const first = nextCounter("echo-messages", count);
    withContact(contactParticipant(muc, 0), (p) => {
      for (let i = 0; i < count; i++) host(() => p.sendText(`burst ${i + 1}`, groupOptions(`e${first + i}`)));
    });
  } else if (name === "history") {
    const count = countOf(name, arg);
    const first = nextCounter("echo-messages", count);
    withContact(contactParticipant(muc, 1), (p) => {
      for (let i = 1; i <= count; i++) {
        const ago = BigInt((count + 1 - i) * 60);
        const when = nowSeconds() > ago ? nowSeconds() - ago : 0n;
        host(() => p.sendText(`old ${i}`, groupOptions(`e${first + i - 1}`, when, true)));
      }
    });
  } else if (name === "carbon" && arg) {
    withContact(muc.userParticipant(), (p) =>
      host(() => p.sendText(arg, groupOptions(`u${nextCounter("user-messages")}`))),
    );
  } else if (name === "newgroup" && arg) {
    withContact(host(() => groups.byLegacyId(arg)), (created) => {
      describe(created);
      host(() => created.addToBookmarks(true));
    });
  } else if (name === "removed") {
    host(() => muc.removeFromBookmarks());
  } else if (name === "react") {
    if (previous == null) return say(muc, 0, "no previous message to react to");
    const emojis = arg.split(/\s+/).filter((e) => e);
    withContact(contactParticipant(muc, 0), (p) => host(() => p.react(previous, emojis)));
  } else if (name === "correct" && arg) {
    const id = last();
    if (id == null) return say(muc, 0, "nothing to correct");
    withContact(contactParticipant(muc, 0), (p) => host(() => p.correct(id, arg, groupOptions(null))));
  } else if (name === "retract") {
    const id = last();
    if (id == null) return say(muc, 0, "nothing to retract");
    withContact(contactParticipant(muc, 0), (p) => host(() => p.retract(id)));
  } else {
    say(muc, 0, `unknown command: /${command}`);
  }
}

// --- A 64×64 PNG of one colour, without zlib ---------------------------------
// The colour is the Rust build's (FNV-1a of the legacy id); the image data is
// stored uncompressed (deflate "stored" blocks), so the bytes differ from the
// Rust build's but the picture is the same.

function fnv1a(text) {
  let h = 0xcbf29ce484222325n;
  for (const b of utf8.encode(text)) {
    h = ((h ^ BigInt(b)) * 0x100000001b3n) & 0xffffffffffffffffn;
  }
  return h;
}

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(bytes) {
  let crc = 0xffffffff;
  for (const b of bytes) crc = CRC_TABLE[(crc ^ b) & 0xff] ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

function adler32(bytes) {
  let a = 1;
  let b = 0;
  for (const x of bytes) {
    a = (a + x) % 65521;
    b = (b + a) % 65521;
  }
  return ((b << 16) | a) >>> 0;
}

function u32be(n) {
  return [(n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff];
}

function chunk(kind, data) {
  const body = [...utf8.encode(kind), ...data];
  return [...u32be(data.length), ...body, ...u32be(crc32(body))];
}

function squarePng(seed) {
  const h = fnv1a(seed);
  const rgb = [Number((h >> 16n) & 0xffn), Number((h >> 8n) & 0xffn), Number(h & 0xffn)];
  const raw = [];
  for (let y = 0; y < 64; y++) {
    raw.push(0); // filter: none
    for (let x = 0; x < 64; x++) raw.push(...rgb);
  }
  // One stored block holds up to 65535 bytes; the image is 12352.
  const n = raw.length;
  const deflated = [0x78, 0x01, 1, n & 0xff, n >> 8, ~n & 0xff, (~n >> 8) & 0xff, ...raw, ...u32be(adler32(raw))];
  const header = [...u32be(64), ...u32be(64), 8, 2, 0, 0, 0];
  return new Uint8Array([
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a,
    ...chunk("IHDR", header),
    ...chunk("IDAT", deflated),
    ...chunk("IEND", []),
  ]);
}
