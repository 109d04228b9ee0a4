// {{name}}: a Gatehouse gateway plugin.
//
// The host calls the functions of `plugin` on behalf of one user. A result
// export returns its value or throws a string (its error); an exception of
// any other kind traps the instance, which the host restarts. See the
// plugin guide (docs/plugin-guide.md in Gatehouse) for each call.

import * as roster from "gatehouse:gateway/roster@{{version}}";
import * as session from "gatehouse:gateway/session@{{version}}";

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
    const contact = roster.byLegacyId("example", null);
    try {
      contact.setName("Example contact");
      contact.setPresence("online", null, null);
      contact.addToRoster();
    } catch (e) {
      throw `cannot fill the roster: ${e?.val ?? e}`;
    } finally {
      contact[Symbol.dispose]?.();
    }
  },
  jidUsernameToLegacyId(_username, unescaped) {
    return unescaped;
  },
  // The user wrote to a contact: send it to the network here. This
  // skeleton answers with the same text.
  onText(contact, message) {
    try {
      contact.sendText(`you said: ${message.body}`, { legacyMsgId: null, when: null, replyTo: null, carbon: false });
    } catch (e) {
      throw `cannot answer: ${e?.val ?? e}`;
    }
    return null;
  },
  updateContactInfo(_contact) {},
  fetchVcard(_contact) {},
  onTimer(_token) {},
  onStreamData(_id, _data) {},
  onStreamClosed(_id, _reason) {},
  onChatState(_contact, _state) {},
  onDisplayed(_contact, _ids) {},
  onCorrect(_contact, _id, _body) {},
  onRetract(_contact, _id) {},
  onReact(_contact, _id, _emojis) {},
};
