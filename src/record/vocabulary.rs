//! The two vocabularies of bounce-tools(7), CATEGORIES and REASONS:
//! `Category` (what bapply acts on) and `Reason` (Sisimai's fine-grained
//! reasons plus four of our own).

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

macro_rules! string_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident = $text:literal),* $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name { $($variant),* }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),*];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),* }
            }
        }

        impl FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                match s {
                    $($text => Ok($name::$variant),)*
                    _ => Err(format!(
                        "unknown {} {:?} (expected one of: {})",
                        stringify!($name).to_lowercase(),
                        s,
                        [$($text),*].join(", ")
                    )),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

string_enum! {
    /// What a message means for the contact list (bounce-tools(7), CATEGORIES).
    Category {
        Hard = "hard",
        Soft = "soft",
        Blocked = "blocked",
        Failed = "failed",
        Undetermined = "undetermined",
        Delayed = "delayed",
        Delivered = "delivered",
        Autoreply = "autoreply",
        Challenge = "challenge",
        Complaint = "complaint",
        Report = "report",
        Unsubscribe = "unsubscribe",
        Subscribe = "subscribe",
        AddressChange = "address-change",
        Virus = "virus",
        Unknown = "unknown",
    }
}

string_enum! {
    /// Why, in Sisimai's vocabulary plus `delayed`, `challenge`,
    /// `unsubscribe`, `subscribe` and `report` (bounce-tools(7), REASONS).
    Reason {
        AuthFailure = "authfailure",
        BadReputation = "badreputation",
        Blocked = "blocked",
        ContentError = "contenterror",
        Delivered = "delivered",
        ExceedLimit = "exceedlimit",
        Expired = "expired",
        Feedback = "feedback",
        Filtered = "filtered",
        HasMoved = "hasmoved",
        HostUnknown = "hostunknown",
        MailboxFull = "mailboxfull",
        MailerError = "mailererror",
        MesgTooBig = "mesgtoobig",
        NetworkError = "networkerror",
        NoRelaying = "norelaying",
        NotAccept = "notaccept",
        NotCompliantRfc = "notcompliantrfc",
        OnHold = "onhold",
        PolicyViolation = "policyviolation",
        Rejected = "rejected",
        RequirePtr = "requireptr",
        SecurityError = "securityerror",
        SpamDetected = "spamdetected",
        Speeding = "speeding",
        Suspend = "suspend",
        SyntaxError = "syntaxerror",
        SystemError = "systemerror",
        SystemFull = "systemfull",
        TooManyConn = "toomanyconn",
        Undefined = "undefined",
        UserUnknown = "userunknown",
        Vacation = "vacation",
        VirusDetected = "virusdetected",
        Delayed = "delayed",
        Challenge = "challenge",
        Unsubscribe = "unsubscribe",
        Subscribe = "subscribe",
        Report = "report",
    }
}

string_enum! {
    /// Whether a delivery failure is permanent for the address (bounce-tools(7),
    /// REASONS).
    Bounce {
        Hard = "hard",
        Soft = "soft",
    }
}

string_enum! {
    /// Whether the bounce is one of our own mail (bounce-tools(7),
    /// PROVENANCE): it came back to a valid signed return path, or names a
    /// Message-ID from the sent log, or neither.
    Provenance {
        Signed = "signed",
        Known = "known",
        Unverified = "unverified",
    }
}

impl Category {
    /// Categories that are a notice a person or bapply acts on; `-q` exits 0
    /// for them. Only `unknown` means "not a bounce or notice".
    pub fn is_notice(self) -> bool {
        self != Category::Unknown
    }

    /// Delivery-failure categories (where `bounce` is set).
    pub fn is_failure(self) -> bool {
        matches!(
            self,
            Category::Hard
                | Category::Soft
                | Category::Blocked
                | Category::Failed
                | Category::Virus
        )
    }
}

impl Reason {
    /// The category a reason falls in when a rule does not say otherwise.
    /// The split between `hard`, `soft` and `blocked` is about whose problem
    /// it is: the address's (hard), passing (soft), or the sender's (blocked),
    /// so that a sender-side block never costs a subscriber.
    pub fn default_category(self) -> Category {
        use Reason::*;
        match self {
            UserUnknown | HostUnknown | HasMoved | NotAccept | Suspend => Category::Hard,
            MailboxFull | ExceedLimit | Expired | MailerError | MesgTooBig | NetworkError
            | Speeding | SystemError | SystemFull | TooManyConn => Category::Soft,
            AuthFailure | BadReputation | Blocked | ContentError | Filtered | NoRelaying
            | NotCompliantRfc | PolicyViolation | Rejected | RequirePtr | SecurityError
            | SpamDetected | SyntaxError => Category::Blocked,
            OnHold | Undefined => Category::Undetermined,
            VirusDetected => Category::Virus,
            Delivered => Category::Delivered,
            Delayed => Category::Delayed,
            Feedback => Category::Complaint,
            Vacation => Category::Autoreply,
            Challenge => Category::Challenge,
            Unsubscribe => Category::Unsubscribe,
            Subscribe => Category::Subscribe,
            Report => Category::Report,
        }
    }

    /// The category a record of this reason settles in once its bounce is
    /// known: a host that does not take mail now (notaccept with a 4.x
    /// status, a soft bounce) may take it later, so the address is not
    /// dead and the record must not say so.
    pub fn settled_category(self, category: Category, bounce: Option<Bounce>) -> Category {
        if self == Reason::NotAccept && category == Category::Hard && bounce == Some(Bounce::Soft) {
            Category::Soft
        } else {
            category
        }
    }

    /// bounce-tools(7), REASONS: hard for userunknown, hostunknown, hasmoved
    /// and notaccept (unless the status is temporary), soft for other
    /// delivery failures, none for what is not a failure. A change-of-address
    /// notice is no failure report, but its reason is hasmoved (SPEC §4):
    /// the old address is gone, a hard bounce in waiting.
    pub fn bounce(self, category: Category, status: Option<&str>) -> Option<Bounce> {
        use Reason::*;
        if self == HasMoved && category == Category::AddressChange {
            return Some(Bounce::Hard);
        }
        if !category.is_failure() {
            return None;
        }
        match self {
            Delivered | Delayed | Vacation | Feedback | Challenge | Unsubscribe | Subscribe
            | Report => None,
            UserUnknown | HostUnknown | HasMoved => Some(Bounce::Hard),
            NotAccept if !status.is_some_and(|s| s.starts_with('4')) => Some(Bounce::Hard),
            _ => Some(Bounce::Soft),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_every_name() {
        for c in Category::ALL {
            assert_eq!(c.as_str().parse::<Category>().unwrap(), *c);
        }
        for r in Reason::ALL {
            assert_eq!(r.as_str().parse::<Reason>().unwrap(), *r);
        }
        assert!("hardd".parse::<Category>().is_err());
    }

    #[test]
    fn a_host_refusing_for_now_is_no_dead_address() {
        let soft = Reason::NotAccept.bounce(Category::Hard, Some("4.3.2"));
        assert_eq!(
            Reason::NotAccept.settled_category(Category::Hard, soft),
            Category::Soft
        );
        let hard = Reason::NotAccept.bounce(Category::Hard, Some("5.1.10"));
        assert_eq!(
            Reason::NotAccept.settled_category(Category::Hard, hard),
            Category::Hard
        );
        // A suspended account stays hard with its soft bounce, as Sisimai has it.
        assert_eq!(
            Reason::Suspend.settled_category(Category::Hard, Some(Bounce::Soft)),
            Category::Hard
        );
    }

    #[test]
    fn bounce_follows_spec() {
        assert_eq!(
            Reason::UserUnknown.bounce(Category::Hard, Some("5.1.1")),
            Some(Bounce::Hard)
        );
        assert_eq!(
            Reason::NotAccept.bounce(Category::Hard, Some("4.3.2")),
            Some(Bounce::Soft)
        );
        assert_eq!(
            Reason::MailboxFull.bounce(Category::Soft, None),
            Some(Bounce::Soft)
        );
        assert_eq!(Reason::Vacation.bounce(Category::Autoreply, None), None);
        assert_eq!(
            Reason::HasMoved.bounce(Category::AddressChange, None),
            Some(Bounce::Hard)
        );
        assert_eq!(Reason::Undefined.bounce(Category::Unknown, None), None);
    }
}
