//! The SQLite state store's part of the policy limits (bapply(1), POLICY
//! LIMITS): `--good` resets and the contacts of `--scope list`, kept apart
//! from the store's core (`state_sqlite`); PostgreSQL's are in
//! `state_postgres_limits`, in the same SQL with its parameters.

use super::schema::{GOOD_CATEGORY, GOOD_MESSAGE};
pub(crate) use super::state_backend::ListContact;
use super::state_backend::Result;
use super::state_sqlite::{INSERT_CHUNK, SqliteState, multi_insert};

impl SqliteState {
    /// Remembers which address and list each `--scope list` contact is,
    /// for [`SqliteState::apply_good`]; known ones are left as they are.
    pub(super) fn link_list_contacts(&self, rows: &[ListContact<'_>]) -> Result<()> {
        let r = (|| {
            for chunk in rows.chunks(INSERT_CHUNK) {
                let mut st = self.conn.prepare_cached(&format!(
                    "{} ON CONFLICT (address, list_id) DO NOTHING",
                    multi_insert(
                        "INSERT INTO list_contact (address, list_id, contact) VALUES ",
                        3,
                        chunk.len()
                    )
                ))?;
                for (i, row) in chunk.iter().enumerate() {
                    st.raw_bind_parameter(3 * i + 1, row.address)?;
                    st.raw_bind_parameter(3 * i + 2, row.list_id)?;
                    st.raw_bind_parameter(3 * i + 3, row.contact_id)?;
                }
                st.raw_execute()?;
            }
            Ok(())
        })();
        self.map(r)
    }

    /// Adds addresses of `--good` (normalised) to this run's set; a chunk
    /// at a time, so that a large file never sits in memory whole.
    pub(super) fn stage_good(&self, addresses: &[String]) -> Result<()> {
        let r = (|| {
            self.conn.execute_batch(
                "CREATE TEMP TABLE IF NOT EXISTS run_good (address TEXT PRIMARY KEY)",
            )?;
            for chunk in addresses.chunks(INSERT_CHUNK) {
                let mut st = self.conn.prepare_cached(&format!(
                    "{} ON CONFLICT (address) DO NOTHING",
                    multi_insert("INSERT INTO run_good (address) VALUES ", 1, chunk.len())
                ))?;
                for (i, a) in chunk.iter().enumerate() {
                    st.raw_bind_parameter(i + 1, a.as_str())?;
                }
                st.raw_execute()?;
            }
            Ok(())
        })();
        self.map(r)
    }

    /// Resets every contact of the staged `--good` addresses (the address
    /// itself and, under `--scope list`, each of its lists): a `good` event
    /// dated at the contact's latest known event up to `now` clears every
    /// count up to it, so the events this run adds still count (and an
    /// event dated in the future, which anyone can forge, cannot stretch
    /// the reset ahead of the run). Returns the contacts reset. Contacts
    /// keyed by subscriber id are not reached.
    pub(super) fn apply_good(&self, now: i64) -> Result<u64> {
        let r = (|| {
            self.conn.execute_batch(
                "CREATE TEMP TABLE IF NOT EXISTS run_good (address TEXT PRIMARY KEY)",
            )?;
            let n = self.conn.execute(
                "INSERT INTO event (contact, message, category, at)
                 SELECT e.contact, ?1, ?2, MAX(e.at) FROM event e
                 WHERE e.contact IN (
                     SELECT c.id FROM run_good g JOIN contact c ON c.key = 'addr:' || g.address
                     UNION
                     SELECT l.contact FROM run_good g JOIN list_contact l
                         ON l.address = g.address)
                   AND e.at <= ?3
                 GROUP BY e.contact
                 ON CONFLICT (contact, message) DO UPDATE SET at = excluded.at",
                rusqlite::params![GOOD_MESSAGE, GOOD_CATEGORY, now],
            )?;
            self.conn.execute_batch("DELETE FROM run_good")?;
            Ok(n as u64)
        })();
        self.map(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apply::state::{KnownEvent, Location, NewEvent, Store};
    use crate::record::Category;
    use std::time::Duration;

    fn events(store: &Store) -> Vec<KnownEvent> {
        let mut out = Vec::new();
        store.known_events(0, 10, &mut out).unwrap();
        out
    }

    /// A good address resets its own contact and its list contacts, at
    /// their latest event; other contacts keep their counts.
    #[test]
    fn good_resets_the_address_on_every_list() {
        let store = Store::open(Location::Memory, Duration::from_secs(1)).unwrap();
        let keys = [
            "addr:a@example.org",
            "list:4:news:addr:a@example.org",
            "addr:b@example.org",
        ];
        let ids = store.resolve_contacts(keys.into_iter()).unwrap();
        store
            .link_list_contacts(&[ListContact {
                address: "a@example.org",
                list_id: "news",
                contact_id: ids[1],
            }])
            .unwrap();
        let mut rows: Vec<NewEvent> = ids
            .iter()
            .enumerate()
            .map(|(i, &contact_id)| NewEvent {
                contact_id,
                message: i as i64 + 1,
                category: Category::Soft,
                at: 100 * (i as i64 + 1),
            })
            .collect();
        store.insert_events(&mut rows).unwrap();
        store.stage_good(&["a@example.org".into()]).unwrap();
        assert_eq!(store.apply_good(1000).unwrap(), 2);
        // Again: the reset moves, it is not added twice; an event dated
        // after the run does not take it along.
        let mut future = vec![NewEvent {
            contact_id: ids[0],
            message: 99,
            category: Category::Soft,
            at: 5000,
        }];
        store.insert_events(&mut future).unwrap();
        store.stage_good(&["a@example.org".into()]).unwrap();
        assert_eq!(store.apply_good(1000).unwrap(), 2);
        let good: Vec<(u32, i64)> = events(&store)
            .iter()
            .filter(|e| e.good)
            .map(|e| (e.position, e.at))
            .collect();
        assert_eq!(good, [(0, 100), (1, 200)]);
    }
}
