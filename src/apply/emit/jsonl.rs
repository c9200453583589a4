//! JSON Lines writer: one update object per line, the CSV columns as fields
//! (null where the CSV cell is empty).

use super::super::update::Update;
use std::io::{self, Write};

pub(super) fn write<'u, W: Write>(
    mut out: W,
    updates: impl IntoIterator<Item = Update<'u>>,
) -> io::Result<()> {
    for u in updates {
        serde_json::to_writer(&mut out, &u).map_err(io::Error::from)?;
        out.write_all(b"\n")?;
    }
    out.flush()
}
