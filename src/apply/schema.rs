//! The state database's schema (the state store's): its tables, its version
//! (`PRAGMA user_version`), and the migration from version 1.

/// The schema version this bapply writes (`PRAGMA user_version`); a state
/// with a higher one is refused.
pub const SCHEMA_VERSION: i64 = 2;

/// The tables of a state and the columns each must have.
pub(super) const TABLES: &[(&str, &[&str])] = &[
    ("contact", &["key", "id"]),
    ("meta", &["name", "value"]),
    ("event", &["contact", "message", "category", "at"]),
    (
        "emitted",
        &[
            "contact",
            "ukey",
            "emitted_at",
            "email",
            "action",
            "category",
            "reason",
            "status",
            "count",
            "first_seen",
            "last_seen",
            "subscriber",
            "new_email",
            "rule",
            "evidence",
            "dest",
        ],
    ),
];

/// The `emitted` table of schema version 2, for [`SCHEMA`] and
/// [`MIGRATE_V1`] alike.
macro_rules! emitted_table {
    () => {
        "CREATE TABLE IF NOT EXISTS emitted (
    contact    INTEGER NOT NULL,
    ukey       TEXT NOT NULL,
    emitted_at INTEGER NOT NULL,
    email TEXT, action TEXT NOT NULL, category TEXT NOT NULL,
    reason TEXT NOT NULL, status TEXT, count INTEGER NOT NULL,
    first_seen TEXT NOT NULL, last_seen TEXT NOT NULL, subscriber TEXT,
    new_email TEXT, rule TEXT NOT NULL, evidence TEXT,
    dest TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (contact, ukey, dest)
) WITHOUT ROWID;
"
    };
}

pub(super) const SCHEMA: &str = concat!(
    "
-- `key` is `addr:ADDRESS` or `id:SUBSCRIBER`; `id` is what events and
-- emitted updates refer to, assigned from meta `next_contact`.
CREATE TABLE IF NOT EXISTS contact (
    key TEXT PRIMARY KEY,
    id  INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta (
    name  TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
-- One row per (contact, bounce message); `message` is a 64-bit hash of the
-- message's identity, `at` its date in Unix seconds.
CREATE TABLE IF NOT EXISTS event (
    contact  INTEGER NOT NULL,
    message  INTEGER NOT NULL,
    category TEXT NOT NULL,
    at       INTEGER NOT NULL,
    PRIMARY KEY (contact, message)
) WITHOUT ROWID;
-- What was emitted, so each update goes out once to each destination;
-- `ukey` (the update key) tells updates of one contact apart (`block`,
-- `manual:challenge`, `change-address:NEW`); `dest` is where it went
-- (`output`, or `target:` and the database), '' for rows of version 1,
-- which count for every destination.
",
    emitted_table!(),
    "PRAGMA user_version = 2;
"
);

/// Version 1 kept one `emitted` row per update whatever its destination,
/// so a review written to a file (`--force --format csv`) made a later
/// `--apply` skip those rows (issue 15). Its rows move to version 2 with
/// `dest` '' (emitted everywhere, as they were).
pub(super) const MIGRATE_V1: &str = concat!(
    "
ALTER TABLE emitted RENAME TO emitted_v1;
",
    emitted_table!(),
    "INSERT INTO emitted SELECT *, '' FROM emitted_v1;
DROP TABLE emitted_v1;
"
);
