//! One pass over the database's catalog before anything runs: storage formats, foreign keys,
//! child tables, clock and indexes. `doctor` prints it all; `plan` and `run` stop on its errors.

pub mod children;
pub mod clock;
pub mod fkgraph;
pub mod introspect;
