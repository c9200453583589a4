//! `Str`: the string type of a record read in place. bapply reads a
//! million records a run, and a record's strings mostly need no unescaping,
//! so a `Record<Str>` borrows them from the input line and
//! owns only those that held escapes.

use serde::{Deserialize, Serialize};
use std::borrow::Cow;

/// A string that borrows from the line unless it holds escapes. (Serde
/// borrows only for a field that is itself a `Cow`, not for one inside an
/// `Option`; the newtype carries the borrow through.)
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct Str<'a>(#[serde(borrow)] pub Cow<'a, str>);

impl std::ops::Deref for Str<'_> {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl<'a> From<&'a str> for Str<'a> {
    fn from(s: &'a str) -> Self {
        Str(Cow::Borrowed(s))
    }
}

impl<'a> Str<'a> {
    /// The text, borrowed where the line allowed it.
    pub fn into_cow(self) -> Cow<'a, str> {
        self.0
    }
}
