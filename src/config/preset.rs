//! Built-in schema presets: the table and column names of schemas seen in the wild.

use serde::Serialize;

use crate::config::file::TableEntry;

/// Table and column names, unvalidated, as a preset or config file gives them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SchemaNames {
    pub users_table: String,
    pub users_id: String,
    pub users_is_anonymous: String,
    pub users_created_at: String,
    /// Users columns that count as activity (see docs/configuration.md, "Presets", for each preset's choice).
    pub users_activity: Vec<String>,
    pub sessions_table: String,
    pub sessions_user_id: String,
    pub sessions_activity: Vec<String>,
    pub accounts_enabled: bool,
    pub accounts_table: String,
    pub accounts_user_id: String,
    /// Further tables whose rows belong to a user (as `[[tables]]` entries).
    #[serde(skip)]
    pub tables: Vec<TableEntry>,
}

/// Names of the built-in presets, in the order they are listed to users.
pub const NAMES: [&str; 3] = ["default", "better-auth", "supabase"];

/// The names of a built-in preset, or `None` for an unknown name.
pub fn lookup(name: &str) -> Option<SchemaNames> {
    let s = |v: &str| v.to_string();
    match name {
        "default" => Some(SchemaNames {
            users_table: s("users"),
            users_id: s("id"),
            users_is_anonymous: s("is_anonymous"),
            users_created_at: s("created_at"),
            // A home-made schema: no activity column is assumed; set [users] activity.
            users_activity: Vec::new(),
            sessions_table: s("sessions"),
            sessions_user_id: s("user_id"),
            sessions_activity: vec![s("created_at"), s("updated_at")],
            accounts_enabled: true,
            accounts_table: s("accounts"),
            accounts_user_id: s("user_id"),
            tables: Vec::new(),
        }),
        "better-auth" => Some(SchemaNames {
            users_table: s("user"),
            users_id: s("id"),
            users_is_anonymous: s("isAnonymous"),
            users_created_at: s("createdAt"),
            // better-auth's user table has no last-activity column (`updatedAt` moves when the
            // profile changes, not at sign-in): sessions are the signal.
            users_activity: Vec::new(),
            sessions_table: s("session"),
            sessions_user_id: s("userId"),
            sessions_activity: vec![s("createdAt"), s("updatedAt")],
            accounts_enabled: true,
            accounts_table: s("account"),
            accounts_user_id: s("userId"),
            tables: Vec::new(),
        }),
        // Supabase Auth (github.com/supabase/auth, migrations/). Most tables cascade from
        // auth.users (found from the foreign keys at run time), but refresh_tokens.user_id is a
        // varchar with no foreign key: it is deleted explicitly, compared as text; and
        // flow_state.user_id has no foreign key.
        "supabase" => Some(SchemaNames {
            users_table: s("auth.users"),
            users_id: s("id"),
            users_is_anonymous: s("is_anonymous"),
            users_created_at: s("created_at"),
            // GoTrue sets auth.users.last_sign_in_at at every sign-in (anonymous ones too).
            users_activity: vec![s("last_sign_in_at")],
            sessions_table: s("auth.sessions"),
            sessions_user_id: s("user_id"),
            sessions_activity: vec![s("created_at"), s("updated_at"), s("refreshed_at")],
            accounts_enabled: false,
            accounts_table: s("auth.identities"),
            accounts_user_id: s("user_id"),
            tables: vec![
                TableEntry {
                    table: s("auth.refresh_tokens"),
                    user_column: Some(s("user_id")),
                    compare_as_text: Some(true),
                    ..TableEntry::default()
                },
                // flow_state.user_id has no foreign key either (saml_relay_states cascades from it).
                TableEntry {
                    table: s("auth.flow_state"),
                    user_column: Some(s("user_id")),
                    ..TableEntry::default()
                },
            ],
        }),
        _ => None,
    }
}
