//! `export_plugin!`: the glue from the WIT exports to a [`crate::Plugin`].

/// Exports a [`Plugin`](crate::Plugin) implementation as the component's `plugin`
/// interface.
#[macro_export]
#[rustfmt::skip]
macro_rules! export_plugin {
    ($plugin:ty) => {
        const _: () = {
            use $crate::bindings::exports::gatehouse::gateway::plugin as __exports;
            use $crate::bindings::gatehouse::gateway::roster::Contact as __Contact;
            struct __GatehouseExport;
            fn __prepare() {
                $crate::set_mapping(<$plugin as $crate::Plugin>::legacy_id_to_jid_username);
            }
            impl __exports::Guest for __GatehouseExport {
                fn gateway_info() -> $crate::NetworkInfo {
                    <$plugin as $crate::Plugin>::gateway_info()
                }
                fn validate_registration(form: $crate::FormValues) -> Result<(), String> {
                    __prepare();
                    <$plugin as $crate::Plugin>::validate_registration(&form)
                }
                fn login() -> Result<String, String> {
                    __prepare();
                    <$plugin as $crate::Plugin>::login()
                }
                fn logout() {
                    __prepare();
                    <$plugin as $crate::Plugin>::logout()
                }
                fn fill_roster() -> Result<(), String> {
                    __prepare();
                    <$plugin as $crate::Plugin>::fill_roster()
                }
                fn jid_username_to_legacy_id(
                    username: String,
                    unescaped: String,
                ) -> Result<String, String> {
                    __prepare();
                    <$plugin as $crate::Plugin>::jid_username_to_legacy_id(&username, &unescaped)
                }
                fn on_text(
                    contact: &__Contact,
                    message: $crate::TextMessage,
                ) -> Result<Option<String>, String> {
                    __prepare();
                    let contact =
                        $crate::Contact::from_borrow(contact).map_err(|e| e.to_string())?;
                    <$plugin as $crate::Plugin>::on_text(&contact, message)
                }
                fn update_contact_info(contact: &__Contact) -> Result<(), String> {
                    __prepare();
                    let contact = $crate::Contact::from_borrow(contact).map_err(|e| e.to_string())?;
                    <$plugin as $crate::Plugin>::update_contact_info(&contact)
                }
                fn fetch_vcard(contact: &__Contact) -> Result<(), String> {
                    __prepare();
                    let contact = $crate::Contact::from_borrow(contact).map_err(|e| e.to_string())?;
                    <$plugin as $crate::Plugin>::fetch_vcard(&contact)
                }
                fn on_timer(token: String) {
                    __prepare();
                    if !$crate::task::on_timer(&token) {
                        <$plugin as $crate::Plugin>::on_timer(&token)
                    }
                }
                fn on_stream_data(id: u32, data: Vec<u8>) {
                    __prepare();
                    if !$crate::task::on_stream_data(id, &data) {
                        <$plugin as $crate::Plugin>::on_stream_data(id, data)
                    }
                }
                fn on_stream_closed(id: u32, reason: Option<String>) {
                    __prepare();
                    if !$crate::task::on_stream_closed(id, reason.clone()) {
                        <$plugin as $crate::Plugin>::on_stream_closed(id, reason)
                    }
                }
                fn on_chat_state(contact: &__Contact, state: $crate::ChatState) {
                    __prepare();
                    if let Ok(contact) = $crate::Contact::from_borrow(contact) {
                        <$plugin as $crate::Plugin>::on_chat_state(&contact, state)
                    }
                }
                fn on_displayed(contact: &__Contact, legacy_msg_ids: Vec<String>) {
                    __prepare();
                    if let Ok(contact) = $crate::Contact::from_borrow(contact) {
                        <$plugin as $crate::Plugin>::on_displayed(&contact, legacy_msg_ids)
                    }
                }
                fn on_correct(
                    contact: &__Contact,
                    legacy_msg_id: String,
                    body: String,
                ) -> Result<(), String> {
                    __prepare();
                    let contact =
                        $crate::Contact::from_borrow(contact).map_err(|e| e.to_string())?;
                    <$plugin as $crate::Plugin>::on_correct(&contact, &legacy_msg_id, &body)
                }
                fn on_retract(contact: &__Contact, legacy_msg_id: String) -> Result<(), String> {
                    __prepare();
                    let contact =
                        $crate::Contact::from_borrow(contact).map_err(|e| e.to_string())?;
                    <$plugin as $crate::Plugin>::on_retract(&contact, &legacy_msg_id)
                }
                fn on_react(
                    contact: &__Contact,
                    legacy_msg_id: String,
                    emojis: Vec<String>,
                ) -> Result<(), String> {
                    __prepare();
                    let contact =
                        $crate::Contact::from_borrow(contact).map_err(|e| e.to_string())?;
                    <$plugin as $crate::Plugin>::on_react(&contact, &legacy_msg_id, emojis)
                }
            }
            $crate::bindings::export_bindings!(__GatehouseExport with_types_in $crate::bindings);
        };
    };
}
