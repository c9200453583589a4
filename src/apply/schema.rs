//! The state database's schema (the state store's): its tables, its version
//! (`PRAGMA user_version`; for PostgreSQL the `meta` row `schema_version`),
//! and the migrations from versions 1 and 2. Written once, in SQLite's
//! dialect; PostgreSQL gets the same text through [`for_postgres`].

/// The schema version this bapply writes (`PRAGMA user_version`); a state
/// with a higher one is refused.
pub const SCHEMA_VERSION: i64 = 3;

/// What version 3 added (`--scope list`): a state of an older version
/// lacks these until its next run migrates it.
pub(super) const ADDED_IN_V3: &[(&str, Option<&str>)] =
    &[("list_contact", None), ("emitted", Some("list_id"))];

/// The `message` of the `event` row that records a `--good` reset of a
/// contact (category `good`), one per contact: "good" in ASCII.
pub(super) const GOOD_MESSAGE: i64 = 0x676f_6f64;

/// The `event` category of a `--good` reset.
pub(super) const GOOD_CATEGORY: &str = "good";

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
            "list_id",
        ],
    ),
    ("list_contact", &["address", "list_id", "contact"]),
];

/// The `emitted` table of schema version 2, for [`MIGRATE_V1`], and with
/// the columns version 3 added for [`SCHEMA`].
macro_rules! emitted_table {
    ($($added:literal)?) => {
        concat!("CREATE TABLE IF NOT EXISTS emitted (
    contact    INTEGER NOT NULL,
    ukey       TEXT NOT NULL,
    emitted_at INTEGER NOT NULL,
    email TEXT, action TEXT NOT NULL, category TEXT NOT NULL,
    reason TEXT NOT NULL, status TEXT, count INTEGER NOT NULL,
    first_seen TEXT NOT NULL, last_seen TEXT NOT NULL, subscriber TEXT,
    new_email TEXT, rule TEXT NOT NULL, evidence TEXT,
    dest TEXT NOT NULL DEFAULT '',
", $($added,)? "    PRIMARY KEY (contact, ukey, dest)
) WITHOUT ROWID;
")
    };
}

pub(super) const SCHEMA: &str = concat!(
    "
-- `key` is `addr:ADDRESS` or `id:SUBSCRIBER`, under `--scope list`
-- prefixed with `list:N:LIST-ID:` (N the List-Id's length in bytes) when
-- the record names a list; `id` is what events and emitted updates refer
-- to, assigned from meta `next_contact`.
CREATE TABLE IF NOT EXISTS contact (
    key TEXT PRIMARY KEY,
    id  INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta (
    name  TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
-- One row per (contact, bounce message); `message` is a 64-bit hash of the
-- message's identity, `at` its date in Unix seconds. A row of category
-- `good` (message GOOD_MESSAGE) is a `--good` reset: it clears every count
-- of the contact up to `at`.
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
-- which count for every destination; `list_id` is the List-Id of the
-- update under `--scope list`, NULL otherwise.
",
    emitted_table!("    list_id TEXT,\n"),
    "
-- Under `--scope list` a contact is one (List-Id, address): this maps an
-- address to its contacts of every list, so that `--good` reaches them all.
-- (BIGINT: 64-bit in PostgreSQL too; INTEGER affinity in SQLite.)
CREATE TABLE IF NOT EXISTS list_contact (
    address TEXT NOT NULL,
    list_id TEXT NOT NULL,
    contact BIGINT NOT NULL,
    PRIMARY KEY (address, list_id)
);
PRAGMA user_version = 3;
"
);

/// Version 3 adds the List-Id of `--scope list` to emitted updates, and
/// the table `list_contact` (created by [`SCHEMA`]). Portable SQL.
pub(super) const MIGRATE_V2: &str = "
ALTER TABLE emitted ADD COLUMN list_id TEXT;
";

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

/// The first schema version a PostgreSQL state has: the migrations from
/// versions before it are SQLite's only.
pub(super) const POSTGRES_FIRST_VERSION: i64 = 2;

/// The `meta` row that holds a PostgreSQL state's schema version (SQLite's
/// is `PRAGMA user_version`).
pub(super) const POSTGRES_VERSION_ROW: &str = "schema_version";

/// The migrations a PostgreSQL state may need, by the version each
/// upgrades from, in SQLite's dialect (see [`for_postgres`]).
pub(super) const POSTGRES_MIGRATIONS: &[(i64, &str)] = &[(2, MIGRATE_V2)];

/// [`SCHEMA`] or a migration in PostgreSQL's dialect: the same tables and
/// columns, 64-bit `BIGINT` where SQLite's `INTEGER` is 64 bits, without
/// SQLite's `WITHOUT ROWID` (PostgreSQL tables have no rowid) and `PRAGMA`
/// lines (the version is written to `meta`).
pub(super) fn for_postgres(sqlite: &str) -> String {
    let mut sql = String::with_capacity(sqlite.len() + 64);
    for line in sqlite.lines() {
        if line.trim_start().starts_with("PRAGMA ") {
            continue;
        }
        sql.push_str(
            &line
                .replace(") WITHOUT ROWID", ")")
                .replace("INTEGER", "BIGINT"),
        );
        sql.push('\n');
    }
    sql
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postgres_gets_the_same_tables_in_its_types() {
        let pg = for_postgres(SCHEMA);
        assert!(!pg.contains("WITHOUT ROWID") && !pg.contains("PRAGMA"));
        assert!(!pg.contains("INTEGER"));
        for (table, columns) in TABLES {
            assert!(pg.contains(&format!("CREATE TABLE IF NOT EXISTS {table} (")));
            for c in *columns {
                assert!(pg.contains(&format!("{c} ")), "{table}.{c}");
            }
        }
        assert!(pg.contains("message  BIGINT NOT NULL"));
        assert!(pg.contains("PRIMARY KEY (contact, message)\n);"));
    }
}
