//! Mail addresses as bounce text writes them: found in prose, cleaned of
//! the brackets, quotes and punctuation around them, and cut where East
//! Asian text runs on. Total: any input gives an answer.

use super::pattern::Pattern;
use std::sync::LazyLock;

/// An address as mail text writes it, internationalised parts included
/// and a quoted local part (`"jan novak"@example.cz`, qmail's
/// `<"olena.k"@example.ua>:`),
/// but not CJK punctuation or full-width forms: Japanese and Chinese text
/// runs straight on after an address ("「x@example.jp」は、登録されて
/// いません。"), and no domain or local part contains them.
pub static ADDRESS: LazyLock<Pattern> = LazyLock::new(|| {
    // Non-ASCII letters (internationalised addresses), but not the
    // punctuation that stands around an address in running text: Latin-1's
    // no-break space, ¡ « » ¿, typographic quotes, dashes and spaces
    // (General Punctuation, but the joiners U+200C and U+200D that Persian
    // and Indic names hold), CJK and fullwidth punctuation
    // ("请检查邮件地址中“@”后面的部分").
    let part = r"\x{80}-\x{10FFFF}--[\x{A0}\x{A1}\x{AB}\x{BB}\x{BF}\x{2000}-\x{200B}\x{200E}-\x{206F}\x{3000}-\x{303F}\x{FF00}-\x{FF0F}\x{FF1A}-\x{FF20}\x{FF3B}-\x{FF40}\x{FF5B}-\x{FF65}]";
    // No word boundary to rewrite: built as written.
    Pattern::new(
        &format!(
            r#"(?:"[^"\r\n<>@]{{1,64}}"|[A-Za-z0-9!#$%&'*+/=?^_`{{|}}~.\-{part}]+)@[A-Za-z0-9\-{part}]+(?:\.[A-Za-z0-9\-{part}]+)*"#
        ),
        false,
        false,
    )
});

/// Decodes RFC 6533 `\x{HEX}` escapes in utf-8 address types.
fn decode_utf8_escapes(s: &str) -> String {
    if !s.contains("\\x{") {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find("\\x{") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 3..];
        match after.find('}') {
            Some(j) => match u32::from_str_radix(&after[..j], 16)
                .ok()
                .and_then(char::from_u32)
            {
                Some(c) => {
                    out.push(c);
                    rest = &after[j + 1..];
                }
                None => {
                    out.push_str("\\x{");
                    rest = after;
                }
            },
            None => {
                out.push_str("\\x{");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Normalises an address as written in a report: drops `<>`, quotes, a
/// trailing dot or colon, lower-cases the domain. None when it is not an
/// address.
/// Punctuation of East Asian text that never stands in an address.
const FULL_WIDTH_SEPARATORS: [char; 11] = [
    '：', '，', '；', '（', '）', '「', '」', '、', '【', '】', '\u{3000}',
];

/// CJK symbols and punctuation and the full-width ASCII punctuation forms:
/// no address contains them.
fn is_cjk_punctuation(c: char) -> bool {
    matches!(c, '\u{3000}'..='\u{303F}' | '\u{FF00}'..='\u{FF0F}' | '\u{FF1A}'..='\u{FF20}' | '\u{FF3B}'..='\u{FF40}' | '\u{FF5B}'..='\u{FF65}')
}

/// The punctuation that stands around an address in running text and
/// that no address contains: Latin-1's no-break space, ¡ « » ¿, and
/// General Punctuation (typographic quotes, dashes, spaces) but the
/// zero-width joiners of Persian and Indic names.
fn is_typographic_punctuation(c: char) -> bool {
    matches!(c, '\u{A0}' | '\u{A1}' | '\u{AB}' | '\u{BB}' | '\u{BF}' | '\u{2000}'..='\u{200B}' | '\u{200E}'..='\u{206F}')
}

pub fn clean_address(raw: &str) -> Option<String> {
    let decoded = decode_utf8_escapes(raw.trim());
    let mut s = decoded.as_str();
    if let (Some(a), Some(b)) = (s.find('<'), s.rfind('>'))
        && a < b
    {
        s = &s[a + 1..b];
    }
    // A quoted local part that is not a valid dot-atom keeps its quotes:
    // without them it would be another (or no) address.
    if let Some(rest) = s.trim().strip_prefix('"')
        && let Some((local, domain)) = rest.split_once("\"@")
    {
        let dot_atom = !local.is_empty()
            && local.split('.').all(|p| {
                !p.is_empty()
                    && p.chars()
                        .all(|c| c.is_alphanumeric() || "!#$%&'*+/=?^_`{|}~-".contains(c))
            });
        let domain = domain.trim().trim_end_matches(['>', '.', ',', ';', ':']);
        if !dot_atom && !domain.is_empty() && !domain.contains(char::is_whitespace) {
            return Some(format!("\"{}\"@{}", local, domain.to_lowercase()));
        }
    }
    let mut s = s.trim();
    loop {
        let t = s
            .trim_matches(|c: char| {
                matches!(
                    c,
                    '"' | '\'' | '<' | '>' | ',' | ';' | ':' | '(' | ')' | '[' | ']'
                )
            })
            .trim_end_matches('.')
            .trim();
        if t.len() == s.len() {
            break;
        }
        s = t;
    }
    let s = s.strip_prefix("mailto:").unwrap_or(s);
    let (local, domain) = s.rsplit_once('@')?;
    // "[redacted]@x": a feedback loop's placeholder in brackets, which no
    // local part holds unquoted.
    let local = local
        .trim_matches('"')
        .trim_matches(|c: char| matches!(c, '[' | ']' | '(' | ')'));
    // East Asian text runs a label into the address with full-width
    // punctuation and no space ("收件人：x@example.cn"): the address starts
    // after it.
    let local = match local
        .char_indices()
        .rev()
        .find(|(_, c)| FULL_WIDTH_SEPARATORS.contains(c) || is_typographic_punctuation(*c))
    {
        Some((i, c)) => &local[i + c.len_utf8()..],
        None => local,
    };
    // ... and the text runs on after it ("x@example.jp」は、"): the
    // domain ends at the first CJK punctuation or full-width form.
    let domain = domain
        .split(|c| is_cjk_punctuation(c) || is_typographic_punctuation(c))
        .next()
        .unwrap_or("");
    if local.is_empty()
        || domain.is_empty()
        || s.contains(char::is_whitespace)
        || domain.contains(['@', '<', '>', '"', '/', '\\'])
        || domain.starts_with(['.', '-'])
    {
        return None;
    }
    let address = format!("{}@{}", local, domain.to_lowercase());
    // A BATV-signed address is the mailbox it signs (`prvs=TAG=local@…`).
    let plain = crate::tag::strip_batv(&address);
    Some(if plain.len() == address.len() {
        address
    } else {
        plain.to_string()
    })
}

/// Every address-looking token in the text, cleaned, in order.
pub fn addresses_in(text: &str) -> impl Iterator<Item = String> + '_ {
    ADDRESS
        .find_iter(text)
        .filter_map(|m| clean_address(m.as_str()))
}

/// Whether an address in `a` is on the domain of an address in `b`, or on
/// a parent or subdomain of it ("mx.example.org", "example.org"): the same
/// organisation's mail.
pub(crate) fn share_a_domain(a: &str, b: &str) -> bool {
    let domain = |x: &str| x.rsplit('@').next().unwrap_or("").to_ascii_lowercase();
    let theirs: Vec<String> = addresses_in(b).map(|x| domain(&x)).collect();
    addresses_in(a).any(|x| {
        let d = domain(&x);
        theirs.iter().any(|o| {
            *o == d
                || o.strip_suffix(d.as_str()).is_some_and(|p| p.ends_with('.'))
                || d.strip_suffix(o.as_str()).is_some_and(|p| p.ends_with('.'))
        })
    })
}

/// Shared, role and group mailboxes ("info@", "office@", "team-all@"):
/// where a notice sends enquiries, never one person's new address; and an
/// address that reaches several people, whose failed member is not the
/// address itself.
pub(crate) fn is_role_mailbox(address: &str) -> bool {
    let local = address.split('@').next().unwrap_or("").to_ascii_lowercase();
    let role = |word: &str| {
        matches!(
            word,
            "info"
                | "office"
                | "hello"
                | "contact"
                | "kontakt"
                | "sales"
                | "support"
                | "suporte"
                | "soporte"
                | "contato"
                | "contacto"
                | "atendimento"
                | "service"
                | "admin"
                | "enquiries"
                | "inquiries"
                | "reception"
                | "accueil"
                | "recepcion"
                | "team"
                | "help"
                | "helpdesk"
                | "orders"
                | "billing"
                | "accounts"
                | "mail"
                | "post"
                | "postmaster"
                | "webmaster"
                | "hr"
                | "jobs"
                | "careers"
                | "press"
                | "secretaria"
                | "secretariat"
                | "sekretariat"
                | "secretariaat"
                | "segreteria"
                | "obchod"
                | "verkauf"
                | "vertrieb"
                | "ventas"
                | "vendas"
                | "comercial"
                | "purchasing"
                | "procurement"
                | "einkauf"
                | "achats"
                | "compras"
                | "acquisti"
                | "marketing"
        )
    };
    // A group is named for its members: "team-all", "all.staff",
    // "alle-mitarbeiter", "everyone", "board-members",
    // "training-coordinators", "sales-team".
    let group = |word: &str| {
        matches!(
            word,
            "all"
                | "alle"
                | "tous"
                | "todos"
                | "tutti"
                | "everyone"
                | "everybody"
                | "staff"
                | "members"
                | "group"
                | "groups"
                | "list"
                | "dl"
                | "mitarbeiter"
                | "personnel"
                | "employees"
                | "team"
                | "teams"
                | "committee"
                | "board"
                | "council"
                | "coordinators"
                | "managers"
                | "officers"
                | "leads"
                | "faculty"
                | "teachers"
                | "students"
                | "volunteers"
                | "trustees"
                | "department"
                | "dept"
        )
    };
    // "alice+board@": a personal address with a detail, not a group.
    let mailbox = local.split('+').next().unwrap_or("");
    role(&local) || mailbox.split(['.', '-', '_']).any(group)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_are_named_for_their_members_not_for_a_detail() {
        assert!(is_role_mailbox("site-coordinators@example.org"));
        assert!(is_role_mailbox("sales-team@example.org"));
        assert!(is_role_mailbox("board.members@example.org"));
        assert!(!is_role_mailbox("alice+board@example.org"));
        assert!(!is_role_mailbox("bob+team@example.org"));
        assert!(!is_role_mailbox("priya.menon7@example.org"));
    }

    #[test]
    fn a_parent_or_subdomain_is_the_same_organisation() {
        assert!(share_a_domain(
            "MAILER-DAEMON@mx.example.org",
            "news@example.org"
        ));
        assert!(share_a_domain(
            "a@example.org",
            "Team <b@lists.example.org>"
        ));
        assert!(!share_a_domain(
            "postmaster@notexample.org",
            "news@example.org"
        ));
        assert!(!share_a_domain("Prenotazioni", "news@example.org"));
    }

    #[test]
    fn quoted_local_parts_are_addresses() {
        let found: Vec<String> = addresses_in(
            "<\"olena.k\"@Example.UA>:\nRemote host said: 550 Mailbox \"jan novak\"@example.cz unavailable",
        )
        .collect();
        assert_eq!(found, ["olena.k@example.ua", "\"jan novak\"@example.cz"]);
        // A quoted display name is no local part.
        let named: Vec<String> = addresses_in("From: \"Jan\" <jan@example.cz>").collect();
        assert_eq!(named, ["jan@example.cz"]);
    }

    #[test]
    fn cjk_punctuation_ends_an_address() {
        let found: Vec<String> =
            addresses_in("宛先「yuki_0413@i.example.ne.jp」は、登録されていません。（x@例え.jp）")
                .collect();
        assert_eq!(found, ["yuki_0413@i.example.ne.jp", "x@例え.jp"]);
        assert_eq!(
            clean_address("yuki_0413@i.example.ne.jp」は、登録されていません。").as_deref(),
            Some("yuki_0413@i.example.ne.jp")
        );
    }

    #[test]
    fn typographic_quotes_and_guillemets_end_an_address() {
        let found: Vec<String> = addresses_in(
            "请检查邮件地址中“@”后面的部分是否正确; «anna@example.org» “bo@例え.jp” ‘cy@example.net’",
        )
        .collect();
        assert_eq!(found, ["anna@example.org", "bo@例え.jp", "cy@example.net"]);
        assert_eq!(
            clean_address("收件人域名不存在。请检查邮件地址中“@”后面的部分"),
            None
        );
        assert_eq!(
            clean_address("“anna@example.org”，").as_deref(),
            Some("anna@example.org")
        );
    }

    #[test]
    fn cleans_addresses() {
        assert_eq!(
            clean_address("<Foo@Example.COM>").as_deref(),
            Some("Foo@example.com")
        );
        assert_eq!(clean_address("\"a@b.c\".").as_deref(), Some("a@b.c"));
        assert_eq!(clean_address("not an address"), None);
        assert_eq!(
            clean_address("rfc822; <\"a..b\"@Example.org>").as_deref(),
            Some("\"a..b\"@example.org")
        );
        assert_eq!(clean_address("@b"), None);
        // A feedback loop's bracketed placeholder keeps no stray bracket.
        assert_eq!(
            clean_address("[redacted]@Comcast.net").as_deref(),
            Some("redacted@comcast.net")
        );
        assert_eq!(
            clean_address("收件人：huang.li@Example.cn").as_deref(),
            Some("huang.li@example.cn")
        );
        assert_eq!(clean_address("用户：@example.cn"), None);
        assert_eq!(
            clean_address("用户@example.cn").as_deref(),
            Some("用户@example.cn")
        );
    }
}
