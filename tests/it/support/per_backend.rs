//! `backend_test!`: a test written once and run on each backend, as one test per backend whose
//! path ends in the backend's name (`suite::name::sqlite`, `::postgres`, `::mysql`), so that a
//! failure names its backend and `cargo test sqlite` runs the SQLite tests alone (no server).
//!
//! ```ignore
//! // On every backend, each test with a fresh, empty database of its own:
//! backend_test!(deletes_the_eligible, |db: &TestDb| {
//!     setup(db);
//!     assert_eq!(db.run(&["run"]).code, 0);
//! });
//! // On some backends; the database owned by the body, or only the backend (the body makes
//! // what it needs, e.g. two databases, or none):
//! backend_test!(sigterm_stops, [sqlite, postgres], |db: TestDb| signal_mid_run(db, "TERM"));
//! backend_test!(renders, [sqlite, postgres, mysql], |backend: Backend| render(backend));
//! ```
//!
//! Attributes (`#[ignore]`, doc comments) written inside the call before the name go on every
//! generated test (rustfmt leaves such a call as written, so the suites put a test's comment
//! above the call instead). The body sees the enclosing module's items (`use super::*`); a
//! backend that is not `sqlite`, `postgres` or `mysql` does not compile.

macro_rules! backend_test {
    // No list: every backend.
    ($(#[$meta:meta])* $name:ident, |$($param:tt)*) => {
        $crate::support::backend_test!(
            $(#[$meta])* $name, [sqlite, postgres, mysql], |$($param)*
        );
    };
    ($(#[$meta:meta])* $name:ident, [$($backend:ident),+ $(,)?], |$db:ident: &TestDb| $body:expr) => {
        $crate::support::backend_test!(@tests $name, [$($backend),+], {$(#[$meta])*}, backend => {
            let db = $crate::support::TestDb::new(backend);
            let $db: &$crate::support::TestDb = &db;
            $body
        });
    };
    ($(#[$meta:meta])* $name:ident, [$($backend:ident),+ $(,)?], |$db:ident: TestDb| $body:expr) => {
        $crate::support::backend_test!(@tests $name, [$($backend),+], {$(#[$meta])*}, backend => {
            let $db = $crate::support::TestDb::new(backend);
            $body
        });
    };
    ($(#[$meta:meta])* $name:ident, [$($backend:ident),+ $(,)?], |$b:ident: Backend| $body:expr) => {
        $crate::support::backend_test!(@tests $name, [$($backend),+], {$(#[$meta])*}, backend => {
            let $b: $crate::support::Backend = backend;
            $body
        });
    };
    // One module named after the test, one #[test] per backend in it.
    (@tests $name:ident, [$($backend:ident),+], $attrs:tt, $b:ident => $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            $($crate::support::backend_test!(@test $backend, $attrs, $b => $body);)+
        }
    };
    (@test $backend:ident, {$(#[$meta:meta])*}, $b:ident => $body:block) => {
        $(#[$meta])*
        #[test]
        fn $backend() {
            let $b = $crate::support::backend_test!(@backend $backend);
            $body
        }
    };
    (@backend sqlite) => {
        $crate::support::Backend::Sqlite
    };
    (@backend postgres) => {
        $crate::support::Backend::Postgres
    };
    (@backend mysql) => {
        $crate::support::Backend::Mysql
    };
}

pub(crate) use backend_test;
