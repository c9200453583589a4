//! The PostgreSQL state store's part of the policy limits (bapply(1),
//! POLICY LIMITS): `--good` resets and the contacts of `--scope list`, the
//! SQL of SQLite's (`state_limits`) with arrays for its rows.

use super::schema::{GOOD_CATEGORY, GOOD_MESSAGE};
use super::state_backend::{ListContact, Result};
use super::state_postgres::{INSERT_CHUNK, PostgresState, owned};

/// This run's `--good` addresses: a temporary table, gone with the run's
/// transaction.
const RUN_GOOD: &str =
    "CREATE TEMP TABLE IF NOT EXISTS run_good (address TEXT PRIMARY KEY) ON COMMIT DROP";

impl PostgresState {
    pub(super) fn link_list_contacts(&self, rows: &[ListContact<'_>]) -> Result<()> {
        let r = self.with_client(|client| {
            for chunk in rows.chunks(INSERT_CHUNK) {
                let address: Vec<String> = chunk.iter().map(|r| owned(r.address)).collect();
                let list_id: Vec<String> = chunk.iter().map(|r| owned(r.list_id)).collect();
                let contact: Vec<i64> = chunk.iter().map(|r| r.contact_id).collect();
                client.execute(
                    "INSERT INTO list_contact (address, list_id, contact) \
                     SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[]) \
                     ON CONFLICT (address, list_id) DO NOTHING",
                    &[&address, &list_id, &contact],
                )?;
            }
            Ok(())
        });
        self.map(r)
    }

    pub(super) fn stage_good(&self, addresses: &[String]) -> Result<()> {
        let r = self.with_client(|client| {
            client.batch_execute(RUN_GOOD)?;
            for chunk in addresses.chunks(INSERT_CHUNK) {
                let chunk: Vec<String> = chunk.iter().map(|a| owned(a)).collect();
                client.execute(
                    "INSERT INTO run_good (address) SELECT * FROM unnest($1::text[]) \
                     ON CONFLICT (address) DO NOTHING",
                    &[&chunk],
                )?;
            }
            Ok(())
        });
        self.map(r)
    }

    pub(super) fn apply_good(&self, now: i64) -> Result<u64> {
        let r = self.with_client(|client| {
            client.batch_execute(RUN_GOOD)?;
            let n = client.execute(
                "INSERT INTO event (contact, message, category, at)
                 SELECT e.contact, $1::bigint, $2::text, MAX(e.at) FROM event e
                 WHERE e.contact IN (
                     SELECT c.id FROM run_good g JOIN contact c ON c.key = 'addr:' || g.address
                     UNION
                     SELECT l.contact FROM run_good g JOIN list_contact l
                         ON l.address = g.address)
                   AND e.at <= $3
                 GROUP BY e.contact
                 ON CONFLICT (contact, message) DO UPDATE SET at = excluded.at",
                &[&GOOD_MESSAGE, &GOOD_CATEGORY, &now],
            )?;
            client.batch_execute("DELETE FROM run_good")?;
            Ok(n)
        });
        self.map(r)
    }
}
