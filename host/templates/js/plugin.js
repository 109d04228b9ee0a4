// {{name}}: a Gatehouse gateway plugin.
//
// The host calls the functions of `plugin` on behalf of one user. A result
// export returns its value or throws a string (its error); an exception of
// any other kind traps the instance, which the host restarts. Contacts are
// host resources the plugin owns, those it looks up and those the exports
// receive: `withContact` gives each back when done. See the plugin guide
// (docs/plugin-guide.md in Gatehouse) for each call.

import * as roster from "gatehouse:gateway/roster@{{version}}";
import * as session from "gatehouse:gateway/session@{{version}}";

/** Runs `f` on an owned contact handle, then gives the handle back. */
function withContact(contact, f) {
  try {
    return f(contact);
  } finally {
    contact[Symbol.dispose]?.();
  }
}

function registrationValue(name) {
  const found = session.registration().find(([key]) => key === name);
  return found ? found[1] : null;
}

export const plugin = {
  // The network's name and the registration form users fill.
  gatewayInfo() {
    return {
      name: "{{name}}",
      networkType: "{{name}}",
      instructions: "Enter your {{name}} user name.",
      registrationFields: [
        { var: "username", label: "User name", kind: "text-single", required: true, defaultValue: null },
      ],
    };
  },
  validateRegistration(_form) {},
  // Connect to the network here; the text is the gateway's status.
  login() {
    return `logged in as ${registrationValue("username")}`;
  },
  logout() {},
  // Put the user's contacts in their XMPP roster.
  fillRoster() {
    try {
      withContact(roster.byLegacyId("example"), (contact) => {
        contact.setName("Example contact");
        contact.setPresence("online", null, null);
        contact.addToRoster();
      });
    } catch (e) {
      throw `cannot fill the roster: ${e?.val ?? e}`;
    }
  },
  // The JID local part of a new contact's id; null: its XEP-0106 escape.
  legacyIdToJidUsername(_legacyId) {
    return null;
  },
  jidUsernameToLegacyId(_username, unescaped) {
    return unescaped;
  },
  // The user wrote to a contact: send it to the network here. This
  // skeleton answers with the same text.
  onText(contact, message) {
    return withContact(contact, (contact) => {
      try {
        contact.sendText(`you said: ${message.body}`, { legacyMsgId: null, when: null, replyTo: null, carbon: false });
      } catch (e) {
        throw `cannot answer: ${e?.val ?? e}`;
      }
      return null;
    });
  },
  updateContactInfo(contact) {
    withContact(contact, () => {});
  },
  fetchVcard(contact) {
    withContact(contact, () => {});
  },
  onTimer(_token) {},
  onStreamData(_id, _data) {},
  onStreamClosed(_id, _reason) {},
  // The head of the answer to `session.httpRequest(…)`; its body follows
  // as onStreamData / onStreamClosed with the same id.
  onHttpResponse(_id, _response) {},
  onChatState(contact, _state) {
    withContact(contact, () => {});
  },
  onDisplayed(contact, _ids) {
    withContact(contact, () => {});
  },
  onCorrect(contact, _id, _body) {
    withContact(contact, () => {});
  },
  onRetract(contact, _id) {
    withContact(contact, () => {});
  },
  onReact(contact, _id, _emojis) {
    withContact(contact, () => {});
  },

  // Groups: look them up with `groups.byLegacyId` in `fillBookmarks` and
  // `addToBookmarks` them; the host serves them as MUC rooms.
  fillBookmarks() {},
  fillParticipants(muc) {
    withContact(muc, () => {});
  },
  updateMucInfo(muc) {
    withContact(muc, () => {});
  },
  backfill(muc, _before) {
    withContact(muc, () => {});
  },
  onLeaveGroup(muc) {
    withContact(muc, () => {});
    throw "this network does not let you leave a group from XMPP yet";
  },
  jidUsernameToMucLegacyId(_username, unescaped) {
    throw `there is no group ${unescaped}`;
  },
  mucLegacyIdToJidUsername(_legacyId) {
    return null;
  },
  onMucText(muc, _message) {
    withContact(muc, () => {});
    throw "this network does not take group messages yet";
  },
  onMucCorrect(muc, _id, _body) {
    withContact(muc, () => {});
  },
  onMucRetract(muc, _id) {
    withContact(muc, () => {});
  },
  onMucReact(muc, _id, _emojis) {
    withContact(muc, () => {});
  },
  onMucDisplayed(muc, _id) {
    withContact(muc, () => {});
  },
  onMucChatState(muc, _state) {
    withContact(muc, () => {});
  },
};
