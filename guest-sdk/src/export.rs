//! `export_plugin!`: the glue from the WIT exports to a [`crate::Plugin`].

/// Exports a [`Plugin`](crate::Plugin) implementation as the component's `plugin`
/// interface.
///
/// The instance's one plugin value is made with [`Plugin::new`](crate::Plugin::new)
/// on the host's first call and kept in a thread-local until the instance
/// goes; each export borrows it for the handler it calls. Events of the
/// [`task`](crate::task) layer (its timers, streams and HTTP requests) go
/// to the waiting task first and never reach the plugin's handlers.
#[macro_export]
#[rustfmt::skip]
macro_rules! export_plugin {
    ($plugin:ty) => {
        const _: () = {
            use $crate::bindings::exports::gatehouse::gateway::plugin as __exports;
            use $crate::bindings::gatehouse::gateway::roster::Contact as __Contact;
            use $crate::bindings::gatehouse::gateway::groups::Muc as __Muc;
            ::std::thread_local! {
                static __PLUGIN: ::core::cell::RefCell<::core::option::Option<$plugin>> =
                    const { ::core::cell::RefCell::new(::core::option::Option::None) };
            }
            /// Runs `f` on the plugin, made on first use.
            fn __with<R>(f: impl FnOnce(&mut $plugin) -> R) -> R {
                $crate::install_panic_hook();
                __PLUGIN.with(|cell| {
                    let mut plugin = cell.borrow_mut();
                    f(plugin.get_or_insert_with(<$plugin as $crate::Plugin>::new))
                })
            }
            struct __GatehouseExport;
            impl __exports::Guest for __GatehouseExport {
                fn gateway_info() -> $crate::NetworkInfo {
                    __with(|p| <$plugin as $crate::Plugin>::gateway_info(p))
                }
                fn validate_registration(form: $crate::FormValues) -> Result<(), String> {
                    __with(|p| $crate::wit_result(<$plugin as $crate::Plugin>::validate_registration(p, &form)))
                }
                fn login() -> Result<String, String> {
                    __with(|p| $crate::wit_result(<$plugin as $crate::Plugin>::login(p)))
                }
                fn logout() {
                    __with(|p| <$plugin as $crate::Plugin>::logout(p))
                }
                fn fill_roster() -> Result<(), String> {
                    __with(|p| $crate::wit_result(<$plugin as $crate::Plugin>::fill_roster(p)))
                }
                fn legacy_id_to_jid_username(legacy_id: String) -> Option<String> {
                    __with(|p| <$plugin as $crate::Plugin>::legacy_id_to_jid_username(p, &legacy_id))
                }
                fn jid_username_to_legacy_id(
                    username: String,
                    unescaped: String,
                ) -> Result<String, String> {
                    __with(|p| $crate::wit_result(<$plugin as $crate::Plugin>::jid_username_to_legacy_id(p, &username, &unescaped)))
                }
                fn on_text(
                    contact: __Contact,
                    message: $crate::TextMessage,
                ) -> Result<Option<String>, String> {
                    let contact = $crate::Contact::from(contact);
                    __with(|p| $crate::wit_result(<$plugin as $crate::Plugin>::on_text(p, contact, message)))
                }
                fn update_contact_info(contact: __Contact) -> Result<(), String> {
                    let contact = $crate::Contact::from(contact);
                    __with(|p| $crate::wit_result(<$plugin as $crate::Plugin>::update_contact_info(p, contact)))
                }
                fn fetch_vcard(contact: __Contact) -> Result<(), String> {
                    let contact = $crate::Contact::from(contact);
                    __with(|p| $crate::wit_result(<$plugin as $crate::Plugin>::fetch_vcard(p, contact)))
                }
                fn on_timer(token: String) {
                    $crate::install_panic_hook();
                    if !$crate::task::on_timer(&token) {
                        __with(|p| <$plugin as $crate::Plugin>::on_timer(p, &token))
                    }
                }
                fn on_stream_data(id: u32, data: Vec<u8>) {
                    $crate::install_panic_hook();
                    if !$crate::task::on_stream_data(id, &data) {
                        __with(|p| <$plugin as $crate::Plugin>::on_stream_data(p, id, data))
                    }
                }
                fn on_stream_closed(id: u32, reason: Option<String>) {
                    $crate::install_panic_hook();
                    if !$crate::task::on_stream_closed(id, reason.clone()) {
                        __with(|p| <$plugin as $crate::Plugin>::on_stream_closed(p, id, reason))
                    }
                }
                fn on_http_response(
                    id: u32,
                    response: Result<$crate::HttpResponse, String>,
                ) {
                    $crate::install_panic_hook();
                    if let Some(response) = $crate::task::on_http_response(id, response) {
                        __with(|p| <$plugin as $crate::Plugin>::on_http_response(p, id, response))
                    }
                }
                fn on_chat_state(contact: __Contact, state: $crate::ChatState) {
                    let contact = $crate::Contact::from(contact);
                    __with(|p| <$plugin as $crate::Plugin>::on_chat_state(p, contact, state))
                }
                fn on_displayed(contact: __Contact, legacy_msg_ids: Vec<String>) {
                    let contact = $crate::Contact::from(contact);
                    __with(|p| <$plugin as $crate::Plugin>::on_displayed(p, contact, legacy_msg_ids))
                }
                fn on_correct(
                    contact: __Contact,
                    legacy_msg_id: String,
                    body: String,
                ) -> Result<(), String> {
                    let contact = $crate::Contact::from(contact);
                    __with(|p| $crate::wit_result(<$plugin as $crate::Plugin>::on_correct(p, contact, &legacy_msg_id, &body)))
                }
                fn on_retract(contact: __Contact, legacy_msg_id: String) -> Result<(), String> {
                    let contact = $crate::Contact::from(contact);
                    __with(|p| $crate::wit_result(<$plugin as $crate::Plugin>::on_retract(p, contact, &legacy_msg_id)))
                }
                fn on_react(
                    contact: __Contact,
                    legacy_msg_id: String,
                    emojis: Vec<String>,
                ) -> Result<(), String> {
                    let contact = $crate::Contact::from(contact);
                    __with(|p| $crate::wit_result(<$plugin as $crate::Plugin>::on_react(p, contact, &legacy_msg_id, emojis)))
                }
                fn fill_bookmarks() -> Result<(), String> {
                    __with(|p| $crate::wit_result(<$plugin as $crate::Plugin>::fill_bookmarks(p)))
                }
                fn fill_participants(muc: __Muc) -> Result<(), String> {
                    let muc = $crate::Muc::from(muc);
                    __with(|p| $crate::wit_result(<$plugin as $crate::Plugin>::fill_participants(p, muc)))
                }
                fn update_muc_info(muc: __Muc) -> Result<(), String> {
                    let muc = $crate::Muc::from(muc);
                    __with(|p| $crate::wit_result(<$plugin as $crate::Plugin>::update_muc_info(p, muc)))
                }
                fn backfill(muc: __Muc, before: Option<$crate::groups::ArchiveBound>) -> Result<(), String> {
                    let muc = $crate::Muc::from(muc);
                    __with(|p| $crate::wit_result(<$plugin as $crate::Plugin>::backfill(p, muc, before)))
                }
                fn on_leave_group(muc: __Muc) -> Result<(), String> {
                    let muc = $crate::Muc::from(muc);
                    __with(|p| $crate::wit_result(<$plugin as $crate::Plugin>::on_leave_group(p, muc)))
                }
                fn jid_username_to_muc_legacy_id(
                    username: String,
                    unescaped: String,
                ) -> Result<String, String> {
                    __with(|p| $crate::wit_result(<$plugin as $crate::Plugin>::jid_username_to_muc_legacy_id(p, &username, &unescaped)))
                }
                fn muc_legacy_id_to_jid_username(legacy_id: String) -> Option<String> {
                    __with(|p| <$plugin as $crate::Plugin>::muc_legacy_id_to_jid_username(p, &legacy_id))
                }
                fn on_muc_text(muc: __Muc, message: $crate::TextMessage) -> Result<Option<String>, String> {
                    let muc = $crate::Muc::from(muc);
                    __with(|p| $crate::wit_result(<$plugin as $crate::Plugin>::on_muc_text(p, muc, message)))
                }
                fn on_muc_correct(muc: __Muc, legacy_msg_id: String, body: String) -> Result<(), String> {
                    let muc = $crate::Muc::from(muc);
                    __with(|p| $crate::wit_result(<$plugin as $crate::Plugin>::on_muc_correct(p, muc, &legacy_msg_id, &body)))
                }
                fn on_muc_retract(muc: __Muc, legacy_msg_id: String) -> Result<(), String> {
                    let muc = $crate::Muc::from(muc);
                    __with(|p| $crate::wit_result(<$plugin as $crate::Plugin>::on_muc_retract(p, muc, &legacy_msg_id)))
                }
                fn on_muc_react(muc: __Muc, legacy_msg_id: String, emojis: Vec<String>) -> Result<(), String> {
                    let muc = $crate::Muc::from(muc);
                    __with(|p| $crate::wit_result(<$plugin as $crate::Plugin>::on_muc_react(p, muc, &legacy_msg_id, emojis)))
                }
                fn on_muc_displayed(muc: __Muc, legacy_msg_id: String) {
                    let muc = $crate::Muc::from(muc);
                    __with(|p| <$plugin as $crate::Plugin>::on_muc_displayed(p, muc, &legacy_msg_id))
                }
                fn on_muc_chat_state(muc: __Muc, state: $crate::ChatState) {
                    let muc = $crate::Muc::from(muc);
                    __with(|p| <$plugin as $crate::Plugin>::on_muc_chat_state(p, muc, state))
                }
            }
            $crate::bindings::export_bindings!(__GatehouseExport with_types_in $crate::bindings);
        };
    };
}
