//! BATV-signed addresses (draft-levine-smtp-batv): a sender that signs its
//! envelope writes `prvs=TAG=local@domain` (Microsoft `msprvs1=TAG=…`,
//! Barracuda `btv1==TAG==…`). Such an address is the same mailbox as
//! `local@domain`; reading one where a recipient is wanted gives the
//! mailbox, not the signature (bounce-tools(7), PROVENANCE).

/// Signed forms: the prefix, then the tag up to the separator.
const FORMS: [(&str, &str); 3] = [("prvs=", "="), ("msprvs1=", "="), ("btv1==", "==")];

/// `address` without a BATV signature, or `address` itself.
pub fn strip(address: &str) -> &str {
    let Some(first) = address.as_bytes().first() else {
        return address;
    };
    if !matches!(first.to_ascii_lowercase(), b'p' | b'm' | b'b') {
        return address;
    }
    for (prefix, separator) in FORMS {
        let Some(head) = address.get(..prefix.len()) else {
            continue;
        };
        if !head.eq_ignore_ascii_case(prefix) {
            continue;
        }
        let rest = &address[prefix.len()..];
        let Some(end) = rest.find(separator) else {
            continue;
        };
        let tag = &rest[..end];
        let mailbox = &rest[end + separator.len()..];
        if !tag.is_empty()
            && !tag.contains(['=', '@'])
            && mailbox.find('@').is_some_and(|at| at > 0)
        {
            return mailbox;
        }
    }
    address
}

#[cfg(test)]
mod tests {
    use super::strip;

    #[test]
    fn strips_the_signed_forms() {
        for (signed, plain) in [
            ("prvs=0891a9abd5=test@example.com", "test@example.com"),
            ("PRVS=0891A9ABD5=Test@example.com", "Test@example.com"),
            (
                "msprvs1=1202020UU5ulBw=bounces-tester@example.net",
                "bounces-tester@example.net",
            ),
            (
                "btv1==068a4973b3a==simexpand@example.org",
                "simexpand@example.org",
            ),
            ("prvs=123=a=b@example.org", "a=b@example.org"),
        ] {
            assert_eq!(strip(signed), plain);
        }
        for plain in [
            "prvs@example.org",
            "prvs==x@example.org",
            "prvs=abc@example.org",
            "prvs=abc=@example.org",
            "bob@example.org",
            "",
            "btv1=x=y@example.org",
            "mé@example.org",
        ] {
            assert_eq!(strip(plain), plain);
        }
    }
}
