//! A contact's avatar (XEP-0084, XEP-0153) and profile (XEP-0292,
//! XEP-0054): set by the plugin, stored by the host, served to the user's
//! clients on request and announced when they change.

use super::{ContactId, Roster, RosterError};
use crate::sender::{Pace, Supersedes};
use crate::stanza::avatar::{self, AvatarInfo};
use crate::stanza::vcard::VCard;
use crate::store::AvatarRow;

/// An avatar as the store keeps it: the bytes, with what `info` read of
/// them.
pub(crate) fn avatar_row(info: &AvatarInfo, data: Vec<u8>) -> AvatarRow {
    AvatarRow {
        hash: info.hash.clone(),
        mime: info.mime.clone(),
        width: info.width,
        height: info.height,
        data,
    }
}

/// What clients learn of a stored avatar before fetching it.
pub(crate) fn avatar_info(row: &AvatarRow) -> AvatarInfo {
    AvatarInfo {
        hash: row.hash.clone(),
        mime: row.mime.clone(),
        bytes: row.data.len(),
        width: row.width,
        height: row.height,
    }
}

impl Roster {
    /// Sets (or, with `None`, removes) a contact's avatar. The same
    /// `unique_id`, or the same image, changes nothing and sends nothing.
    pub fn set_avatar(
        &mut self,
        id: ContactId,
        data: Option<Vec<u8>>,
        unique_id: Option<String>,
    ) -> Result<(), RosterError> {
        if let Some(bytes) = &data {
            self.within_limit("an avatar", bytes.len(), self.gateway.config.max_avatar_kb)?;
        }
        self.room_for("an avatar")?;
        let contact = self.contact(id)?;
        if unique_id.is_some()
            && contact.avatar_unique_id == unique_id
            && contact.avatar_hash.is_some() == data.is_some()
        {
            return Ok(());
        }
        let info = match &data {
            Some(bytes) => Some(AvatarInfo::of(bytes).map_err(RosterError::Invalid)?),
            None => None,
        };
        let hash = info.as_ref().map(|i| i.hash.clone());
        let changed = contact.avatar_hash != hash;
        let row_id = contact.row_id;
        match (&info, data) {
            (Some(info), Some(bytes)) if changed => {
                let avatar = avatar_row(info, bytes);
                self.gateway
                    .store
                    .put_contact_avatar(row_id, &avatar, unique_id.as_deref())?;
            }
            _ => self.gateway.store.set_contact_avatar(
                row_id,
                hash.as_deref(),
                unique_id.as_deref(),
            )?,
        }
        let contact = self.contact_mut(id)?;
        contact.avatar_hash = hash;
        contact.avatar_unique_id = unique_id;
        if changed && contact.in_roster {
            let jid = contact.jid.clone();
            self.out.paced(
                avatar::metadata_event(jid, self.user.clone().into(), info.as_ref()),
                Pace::Update,
                Some(Supersedes::Avatar(row_id)),
            );
            if self.contacts[id].presence.is_some() {
                self.send_presence(id);
            }
        }
        Ok(())
    }

    /// Sets a contact's profile.
    pub fn set_vcard(&mut self, id: ContactId, vcard: VCard) -> Result<(), RosterError> {
        let row_id = self.contact(id)?.row_id;
        let json =
            serde_json::to_string(&vcard).map_err(|e| RosterError::Invalid(e.to_string()))?;
        self.within_limit("a profile", json.len(), self.gateway.config.max_vcard_kb)?;
        self.gateway.store.set_contact_vcard(row_id, &json)?;
        let contact = self.contact_mut(id)?;
        contact.vcard = Some(vcard);
        contact.vcard_fetched = true;
        Ok(())
    }

    /// Whether the plugin must be asked for a contact's profile before it
    /// is served; asking is recorded, so it happens once.
    pub fn needs_vcard_fetch(&mut self, id: ContactId) -> Result<bool, RosterError> {
        let contact = self.contact(id)?;
        if contact.vcard_fetched {
            return Ok(false);
        }
        let row_id = contact.row_id;
        self.gateway.store.set_vcard_fetched(row_id)?;
        self.contact_mut(id)?.vcard_fetched = true;
        Ok(true)
    }

    /// A contact's avatar, with its bytes, if it has one.
    pub fn avatar(&self, id: ContactId) -> Result<Option<AvatarRow>, RosterError> {
        match &self.contact(id)?.avatar_hash {
            Some(hash) => Ok(self.gateway.store.avatar(hash)?),
            None => Ok(None),
        }
    }
}
