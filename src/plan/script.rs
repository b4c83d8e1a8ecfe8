//! The standalone script for a DBA: one transaction, the cutoff as a literal.

use super::{fmt_time, Names, Plan, Stmt};
use crate::config::settings::Settings;
use crate::sql::dialect::Binder;
use crate::sql::templates::{self, render};

impl Plan {
    /// A standalone script with the cutoff as a literal: deletes, in one transaction,
    /// exactly the users `run` deletes at this cutoff.
    pub fn script(&self, settings: &Settings, eligible: Option<u64>) -> String {
        let backend = self.backend;
        let n = Names::new(backend, &settings.schema, &self.children);
        let mut b = Binder::literals(backend, settings.cutoff);
        let pick = n.pick(&self.formats, &mut b, false, false, false, true, false);
        let recheck = if backend.has_row_locks() {
            n.recheck(&self.formats, &mut b).sql
        } else {
            String::new()
        };
        let strs = |v: &[Stmt]| v.iter().map(|s| s.sql.clone()).collect::<Vec<_>>();
        // The batch table, as in each batch (no cursor: it takes every eligible user at once).
        let setup: Vec<String> = vec![self.create_batch.sql.clone()];
        let teardown: Vec<String> = strs(&self.drop_batch);
        let lock = strs(&n.lock_children(&self.formats, &mut b));
        let deletes: Vec<String> = self.deletes.iter().map(|d| d.stmt.sql.clone()).collect();
        let text = render(&templates::Script {
            version: env!("CARGO_PKG_VERSION"),
            as_of: fmt_time(settings.as_of),
            retention_days: settings.retention_days,
            cutoff: fmt_time(settings.cutoff),
            preset: &settings.preset,
            backend: backend.name(),
            database: settings
                .database
                .as_ref()
                .map(|d| d.to_string())
                .unwrap_or_else(|| "-".into()),
            eligible: eligible
                .map(|e| e.to_string())
                .unwrap_or_else(|| "unknown".into()),
            begin: backend.begin(),
            setup: setup.iter().map(String::as_str).collect(),
            pick: &pick.sql,
            lock_children: lock.iter().map(String::as_str).collect(),
            recheck: &recheck,
            deletes: deletes.iter().map(String::as_str).collect(),
            teardown: teardown.iter().map(String::as_str).collect(),
        });
        crate::error::redact(&format!("{text}\n"))
    }
}
