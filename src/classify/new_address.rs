//! The new address a change-of-address notice gives, and the words that
//! tell the person's own new address from a colleague or an office the
//! notice refers us to.

use super::address::is_role_mailbox;
use super::pattern::Pattern;
use super::report::Report;
use super::text;
use std::sync::LazyLock;

/// The new address a change-of-address notice gives: the first address
/// after words that announce the person's own new address ("my new
/// address:", "my address has changed"), else, when the notice asks to
/// update an address book, the first address it names; never the
/// sender's own or the old one, and never one the notice refers us to
/// instead ("for orders contact sales@…", "wenden Sie sich an info@…"):
/// moving a subscription to a colleague or an office's shared mailbox
/// would send the newsletter to someone who never asked for it.
pub(super) fn new_address(report: &Report, old: Option<&str>) -> Option<String> {
    let own: Vec<String> = text::addresses_in(&report.to).collect();
    let usable = |a: &String| {
        !old.is_some_and(|o| o.eq_ignore_ascii_case(a))
            && !report
                .from_address
                .as_deref()
                .is_some_and(|f| f.eq_ignore_ascii_case(a))
            && !own.iter().any(|o| o.eq_ignore_ascii_case(a))
    };
    let body = &report.body;
    // Offsets in `lower` are offsets in `body`: only ASCII is folded.
    let lower = body.to_ascii_lowercase();
    // Whether referral words stand in the 80 bytes before the address's
    // first place at or after `from`.
    let referred = |address: &str, from: usize| {
        let needle = address.to_ascii_lowercase();
        lower[from..].find(&needle).is_some_and(|rel| {
            let at = from + rel;
            let start = text::floor_char_boundary(body, at.saturating_sub(80)).max(from);
            let window = &body[start..at];
            let selves: Vec<_> = SELF_REFERENCE
                .find_iter(window)
                .map(|m| m.start()..m.end())
                .collect();
            REFERRAL.find_iter(window).any(|m| {
                !selves
                    .iter()
                    .any(|own| own.start <= m.start() && m.end() <= own.end)
            })
        })
    };
    NEW_ADDRESS_CUE
        .find_iter(body)
        .find_map(|cue| {
            let end = text::floor_char_boundary(body, cue.end() + 160);
            addresses_after_cue(&body[cue.end()..end])
                .find(|a| usable(a) && !referred(a, cue.end()))
        })
        .or_else(|| {
            UPDATE_ADDRESS_BOOK.is_match(body).then(|| {
                text::addresses_in(body)
                    .find(|a| usable(a) && !is_role_mailbox(a) && !referred(a, 0))
            })?
        })
}

/// Whether the notice announces its own sender's address as the new one
/// ("old address: x, new address: y" written from y).
pub(super) fn names_sender_as_new(report: &Report) -> bool {
    report
        .from_address
        .as_deref()
        .is_some_and(|from| announced_as_new(report, from))
}

/// Whether `address` is the first one after words that announce a new
/// address ("my new address: x"), rather than one the new-address reader
/// only took from a request to update an address book.
pub(super) fn announced_as_new(report: &Report, address: &str) -> bool {
    let body = &report.body;
    NEW_ADDRESS_CUE.find_iter(body).any(|cue| {
        let end = text::floor_char_boundary(body, cue.end() + 160);
        addresses_after_cue(&body[cue.end()..end])
            .next()
            .is_some_and(|a| a.eq_ignore_ascii_case(address))
    })
}

/// The addresses after a new-address cue that may be the new one: not the
/// old address the cue belongs to ("the new address of x is y").
fn addresses_after_cue(after: &str) -> impl Iterator<Item = String> + '_ {
    let mut found = text::addresses_in(after).peekable();
    let trimmed = after.trim_start();
    let names_old = trimmed
        .as_bytes()
        .get(..3)
        .is_some_and(|head| head.eq_ignore_ascii_case(b"of "))
        && found.peek().is_some_and(|first| {
            let rest = trimmed[3..].trim_start_matches(|c: char| {
                c.is_whitespace() || matches!(c, '<' | '"' | '\'' | '«' | '“')
            });
            rest.get(..first.len())
                .is_some_and(|head| head.eq_ignore_ascii_case(first))
        });
    found.skip(usize::from(names_old))
}

/// Whether the text calls `address` the old one: "old address: x", "your
/// message to x", "x is no longer in use", "기존 주소: x".
pub(super) fn named_as_old(report: &Report, address: &str) -> bool {
    let body = &report.body;
    let lower = body.to_ascii_lowercase();
    let Some(at) = lower.find(&address.to_ascii_lowercase()) else {
        return false;
    };
    let start = text::floor_char_boundary(body, at.saturating_sub(60));
    let end = text::floor_char_boundary(body, at + address.len() + 60);
    OLD_BEFORE.is_match(&body[start..at]) || OLD_AFTER.is_match(&body[at + address.len()..end])
}

/// Words just before an address that make it the old one.
static OLD_BEFORE: LazyLock<Pattern> = LazyLock::new(|| {
    text::regex(
        r"(?i)(?:\b(?:message|mail|e-?mail)\s+(?:sent\s+)?(?:to|for)|\bforwarding\s+for|(?:\b(?:old|previous|former|alte|bisherige|ancienne|antigua|anterior|vecchio|oude|stary)|старый|прежний|기존|이전|旧|παλι[άα])\s*(?:e-?mail[- ]?|메일\s*|почтовый\s+)?(?:address|adresse|direcci[óo]n|indirizzo|adres|адрес|주소|アドレス|διε[ύυ]θυνση)?\s*[:：]?)\s*<?$",
    )
});

/// Words just after an address that make it the old one.
static OLD_AFTER: LazyLock<Pattern> = LazyLock::new(|| {
    text::regex(
        r"(?i)^[>)]?\s*(?:is|was|has\s+been|will\s+be)\s+(?:no\s+longer|retired|closed|deactivated|discontinued|disabled|deleted|(?:shut|switched|turned)\s+(?:down|off))\b",
    )
});

/// The person's own new address is announced, in the languages of the
/// change-of-address rules (Hebrew, Turkish and Arabic: "הכתובת החדשה",
/// "yeni adresim", "عنواني الجديد").
static NEW_ADDRESS_CUE: LazyLock<Pattern> = LazyLock::new(|| {
    text::regex(
        r"(?i)\b(?:new|neue[nr]?|nouvelle|nueva|nuevo|nuovo|nieuwe?|nova|novo|nowy)\s+(?:e-?mail[- ]?)?(?:address|adresse|adres|dirección|direccion|correo|indirizzo|endereço|adres)|\b(?:my|our|his|her)\s+(?:own\s+)?e-?mail\s+address\s+(?:has\s+)?(?:changed|moved)\b|\b(?:send|direct|redirect|forward)\s+(?:all\s+)?(?:future\s+|further\s+)?(?:your\s+|the\s+)?(?:e-?mails?|mails?|messages|correspondence|newsletters?|bulletins?|updates|magazine|digest)\s+to\b|\b(?:write\s+to|reach|contact|e-?mail)\s+me\s+(?:(?:personally|privately|directly|now)\s+)?(?:at|on|under|via)\b|\bupdate\s+(?:me|my\s+(?:e-?mail\s+)?address|my\s+details)\s+to\b|\b(?:schicken|senden)\s+sie\s+(?:mir\s+)?(?:den\s+newsletter|die\s+e-?mails?|ihre\s+e-?mails?)\s+(?:bitte\s+)?(?:k[üu]nftig|zuk[üu]nftig|ab\s+sofort)\s+an\b|\bd['’]ora\s+in\s+poi\s+scrivetemi\s+a\b|\b(?:nieuwsbrief|mails?|e-?mails?|berichten|post)\s+voortaan\s+(?:\S+\s+){0,2}?(?:sturen|mailen|versturen)\s+naar\b|\be-?mail-?adres\s+wijzigt\s+(?:\S+\s+){0,5}?naar\b|\bi\s+can\s+(?:now\s+|still\s+|also\s+)?be\s+reached\s+(?:personally\s+|privately\s+)?(?:at|on|via)\b|địa\s+chỉ\s+(?:e-?mail\s+)?mới|\balamat\s+(?:e-?mail\s+)?baru\b|\balamat\s+(?:e-?mail\s+|emel\s+)?saya\s+yang\s+baru\b|\buusi\s+(?:sähköposti)?osoitteeni\s+on\b|\berreichen\s+sie\s+mich\s+(?:(?:ab\s+sofort|ab\s+jetzt|k[üu]nftig|zuk[üu]nftig|weiterhin|nun|jetzt|privat|gerne|gern)\s+)*(?:unter|an)\b|\bschreiben\s+sie\s+(?:mir|uns)\s+(?:(?:bitte|ab\s+sofort|k[üu]nftig|zuk[üu]nftig|privat|gerne|gern)\s+)*(?:an|unter)\b|כתובת(?:י|ה)?\s+החדשה|\byeni\s+(?:e-?posta\s+)?adres(?:im|i)?\b|\bbundan\s+sonra\s+bana\b|(?:mano|mana|minu|moje|moja|moj)\s+(?:nauj(?:as|asis)|jaunā|uus|nová|nova)\s+(?:el\.\s+pašto\s+|e-?pasta\s+|e-?posti\s+|e-?mailová\s+|e-?mail\s+)?(?:adresas|adrese|aadress|adresa)|νέα\s+(?:μου\s+)?(?:ηλεκτρονική\s+)?διεύθυνση|\b(?:novo|nuevo)\s+e-?mail\b|\b(?:nový|nová)\s+(?:e-?mail|adresa)\b|új\s+(?:e-?mail[- ]?)?cím(?:em|e)?|\bnoua\s+(?:mea\s+|sa\s+|lui\s+|ei\s+)?adres(?:ă|a\b)|(?:邮箱|邮件地址|电子邮件|郵箱|信箱)已(?:更换|变更|更改|更換|變更)[为為]|(?:\butiliser|[ée]crire|[ée]crivez(?:-moi)?)\s+(?:[àa]\s+)?(?:dor[ée]navant|d[ée]sormais)\b|\bmin\s+(?:nye|nya)\s+(?:e-?mail-?|e-?post-?)?(?:adresse|adress)\b|\bnår\s+m(?:i|e)g\s+(?:(?:privat|nu|i\s+fortsättningen|fortsättningsvis|framöver|istället|heretter|fremover|i\s+stedet)\s+)*på|\btavoitat\s+minut\s+(?:jatkossa\s+|nyt\s+)?osoitteesta|\bkan\s+nås\s+på|\b(?:kan\s+jeg\s+)?kontaktes\s+på\s|\bnås\s+(?:mottagaren\s+|jag\s+)?på\s|\btræffes\s+på|\bme\s+(?:joindre|contacter|[ée]crire)\s+(?:à|a)\s+(?:mon\s+adresse\s+(?:personnelle|priv[ée]e)|ma\s+nouvelle\s+adresse)|(?:个人|個人|新的?)(?:邮箱|信箱|郵箱|邮件地址)[:：]?|(?:新しい|新|変更後の?)(?:メール)?アドレス(?:は|[:：])?|(?:旧|old)\s*[:：]\s*\S+@\S+[\s/／|、,，]*(?:新|new)\s*[:：]|새\s*(?:메일\s*)?주소|개인\s*(?:이)?메일(?:\s*주소)?|عنوان(?:ي|ه|ها)?\s+(?:البريد\s+)?الجديد|(?:ال)?بريد(?:ي|ه|ها)?\s+الجديد|לפנות\s+אלי(?:י)?\s+בכתובת|อีเมลใหม่|လိပ်စာအသစ်|\bstuur\s+(?:asseblief\s+)?(?:voortaan\s+)?(?:die\s+|my\s+)?(?:nuusbrief|e-?posse|pos|boodskappe)\s+(?:voortaan\s+)?na\b|\bnuwe\s+e-?(?:pos)?adres\b|\bkuanzia\s+sasa\s+(?:tumieni|tumia|niandikie|mniandikie)\b|\banwani\s+(?:yangu\s+)?mpya\b|புதிய\s+மின்னஞ்சல்\s+முகவரி|नया\s+(?:ई-?मेल|ईमेल)\s+(?:पता|आईडी)|নতুন\s+(?:ই-?মেইল|ইমেইল)\s+ঠিকানা|نیا\s+ای\s*میل\s+(?:پتہ|ایڈریس)|\bbago\s+kong\s+e-?mail|\bbagong\s+e-?mail|(?:^|[^\p{L}])нов(?:ый|ого|ая|ой|ое|ий|а|ої|е|у|ую)\s+(?:[\w-]+\s+){0,2}?(?:адрес[аиу]?|e-?mail|ящик|пошта|скринька)",
    )
});

/// A notice that asks for an address book to be updated gives a
/// replacement for the old address.
static UPDATE_ADDRESS_BOOK: LazyLock<Pattern> = LazyLock::new(|| {
    text::regex(
        r"(?i)\bupdate\s+(?:your|the)\s+(?:records|address\s*book|contacts?|contact\s+list|distribution\s+list|mailing\s+list)|mettre\s+à\s+jour\s+votre\s+carnet|(?:adressbuch|verteiler)\s+(?:entsprechend\s+)?(?:ändern|anpassen|aktualisieren)|adresboek\s+(?:aanpassen|bijwerken)|aggiornare\s+(?:i\s+suoi|la\s+sua|la\s+vostra|i\s+vostri)\s+(?:contatti|rubrica)|actualice\s+su\s+(?:libreta|agenda)",
    )
});

/// The person pointing to themselves ("contact me at", "kontaktieren
/// Sie mich") or to our address book ("update your contact list"): no
/// referral to someone else.
static SELF_REFERENCE: LazyLock<Pattern> = LazyLock::new(|| {
    text::regex(
        r"(?i)\b(?:contact(?:ez)?|kontaktieren\s+sie|contatta(?:re)?|contacte)[\s-]*(?:me|mich|moi|mi|mij)\b|\bupdate\s+(?:your|the)\s+contacts?(?:\s+list)?\b",
    )
});

/// Words that send us to someone else: an address after them is whom
/// to ask, not where the person went.
static REFERRAL: LazyLock<Pattern> = LazyLock::new(|| {
    text::regex(
        r"(?i)\bcontact|kontaktier|wenden\s+sie\s+sich|wende\s+dich|adresser|contacte|contatt|enquir|inquir|questions|colleague|kolleg|successor|replacement|nachfolge|opvolger|vervanger|afdeling|administratie|boekhouding|\b(?:our|the)\s+(?:office|team|department)\b|vertret|remplaçant|sostitut|sustitut|collègue|collega|compañer|後任|接任|(?-i:(?:\bto\s+|^\s*)(?:(?:Mr|Mrs|Ms|Dr)\.?\s+)?\p{Lu}[\p{Ll}'-]+(?:\s+\p{Lu}[\p{Ll}'-]+)+\s+(?:at|on|via)\s)",
    )
});
