//! The patterns the prose scanner reads a notice with: address lines,
//! sentences that name the failed address, and words that give a reason.

use super::super::pattern::Pattern;
use std::sync::LazyLock;

/// A line that is only an address (with the decorations reports use),
/// optionally followed by the start of the diagnostic.
pub(super) static ADDRESS_LINE: LazyLock<Pattern> = LazyLock::new(|| {
    super::super::text::regex(
        r#"(?x)^\s*(?:[*•]\s+|--?\s+)?(?:(?P<label>RCPT\s+TO|To|An|Recipient(?:\s+address)?|Failed\s+recipient|Original-Recipient|Final-Recipient|Error-for|RFC-?822|Address|Adresse|Empfänger|Empfaenger|Destinataire|Destinatário|Получатель|Адрес\s+получателя|Адресат|(?:宛先|送信先|あて先)(?:メール)?(?:アドレス)?|受信者(?:アドレス)?|收件人(?:地址)?|받는\s*사람|받는\s*분|받는이|수신자(?:\s*주소)?|수신\s*주소|수신인|נמען|כתובת\s+הנמען|گیرنده|المستلم|المرسل\s+إليه)(?:\s*\([A-Za-z][A-Za-z\s-]{0,20}\)|\s*/\s*\p{L}[\p{L}-]{0,29}(?:\s+\p{L}[\p{L}-]{0,29})?)?(?:\s*[:：]|\x{a0}[\s\x{a0}]*)\s*(?:rfc822\s*;\s*)?)?
        # A label may carry a gloss: "수신자(Recipient):", "Empfänger / Recipient:".
        # Exchange and MailEnable write "[SMTP:addr]".
        # A quoted local part stays whole: qmail's <"olena.k"@example.ua>:
        \[?(?:SMTP:)?<?"?(?P<addr>(?:"[^"\r\n<>@]{1,64}"|[^\s<>"():;,\[\]]+)@[^\s<>"():;,\[\]]+)"?>?\]?
        (?:\s*\((?:expanded\s+from|generated\s+from|by\s+way\s+of)[^)]*\))?
        \s*(?P<sep>:|\.\.\.|-\s|,)?\s*(?P<rest>.*)$"#,
    )
});

/// A label over a list of several recipients on one line ("Intended
/// Recipients: <a>, <b>", as Haraka writes it): group `list` holds
/// addresses and separators only.
pub(super) static RECIPIENT_LIST_LINE: LazyLock<Pattern> = LazyLock::new(|| {
    super::super::text::regex(
        r#"(?i)^\s*(?:intended\s+|failed\s+|undeliverable\s+|rejected\s+)?recipients?(?:\(s\))?\s*:\s*(?P<list><?[^\s<>",;@]+@[^\s<>",;]+>?(?:\s*[,;]\s*<?[^\s<>",;@]+@[^\s<>",;]+>?)+)\s*[,;]?\s*$"#,
    )
});

/// The groups of `ADDRESS_SENTENCE` that hold the address, one per
/// alternative (a test checks the list against the pattern).
pub(super) const SENTENCE_ADDRESS_GROUPS: [&str; 20] = [
    "a1", "a2", "a3", "a4", "a5", "a6", "a7", "a8", "a9", "a10", "a11", "a12", "a13", "a14", "a15",
    "a16", "a17", "a18", "a19", "a20",
];

/// Sentences that name the failed address inside the prose.
pub(super) static ADDRESS_SENTENCE: LazyLock<Pattern> = LazyLock::new(|| {
    super::super::text::regex(
        r#"(?ix)(?:
            (?:delivery|message|mail|e-?mail)\s+(?:from\s+\S+\s+)?(?:to|for)\s+(?:the\s+following\s+recipients?\s+)?<?(?P<a1>[^\s<>"()]+@[^\s<>"()]+?)>?\s+(?:from\s+\d\S*\s+)?(?:failed|has\s+failed|could\s+not|couldn't|cannot|can't|can\s+not|was\s+not|wasn't|has\s+been|is\s+|was\s+(?:automatically\s+)?(?:rejected|refused|returned|bounced)|bounced|returned)
          # Gmail: "Your message wasn't delivered to x@y because …"
          | (?:message|mail|e-?mail)\s+(?:wasn't|was\s+not|couldn't\s+be|could\s+not\s+be)\s+delivered\s+to\s+<?(?P<a19>[^\s<>"()]+@[^\s<>"(),;:]*[^\s<>"().,;:])>?\s+because\b
          # "user x@y unknown", "the address x@y does not exist", "mailbox
          # x@y is full": the address between its noun and the verdict.
          | \b(?:user|address|account|mailbox|recipient)\s+<?(?P<a10>[^\s<>"()]+@[^\s<>"(),;:]*[^\s<>"().,;:])>?\s+(?:unknown|not\s+found|not\s+known|does\s+not|doesn't|is\s+not|isn't|was\s+not|wasn't|no\s+longer|has\s+been|is\s+(?:unknown|invalid|disabled|inactive|suspended|full|over|blocked|unavailable))
          # CommuniGate Pro: "Failed to deliver to '<x@y>'".
          | (?:could\s+not|couldn't|cannot|can't|unable\s+to|failed\s+to)\s+(?:be\s+)?deliver(?:ed)?\s+(?:(?:your\s+|the\s+|this\s+)?(?:message|mail|e-?mail)\s+)?to\s+(?:the\s+following\s+(?:recipients?|address(?:es)?)\s*:?\s*)?'?<?(?P<a2>[^\s<>"()']+@[^\s<>"(),;:']*[^\s<>"().,;:'])>?'?(?:[\s.,:;]|$)
          # GroupWise: "jdoe (jdoe@x) (User not found)", the user ID, the
          # address and the cause, under "undeliverable to the following".
          | ^\s*[^\s<>"()@:]+\s+\(<?(?P<a20>[^\s<>"()]+@[^\s<>"(),;:]*[^\s<>"().,;:])>?\)\s+\([^()]*(?:not\s+found|unknown|undeliverable|full|quota|disabled|expired|closed)[^()]*\)\s*$
          | \bundeliverable\s+to\s+(?:the\s+following\s*:?\s*)?<?(?P<a9>[^\s<>"()]+@[^\s<>"(),;:]*[^\s<>"().,;:])>?(?:[\s.,:;]|$)
          # "to local user x. (Originally addressed to x@y)"
          | \(originally\s+addressed\s+to\s+<?(?P<a11>[^\s<>"()]+@[^\s<>"(),;:]*[^\s<>"().,;:])>?\)
          | \byou\s+sent\s+(?:mail|a\s+message|an?\s+e-?mail)\s+to\s+<?(?P<a14>[^\s<>"()]+@[^\s<>"(),;:]*[^\s<>"().,;:])>?
          # Demon: "The following message, addressed to 'addr', failed because …"
          | \bmessage,?\s+addressed\s+to\s+['"<]?(?P<a15>[^\s<>"'()]+@[^\s<>"'(),;:]*[^\s<>"'().,;:])['">]?,?(?:\s+(?:failed|could\s+not|was\s+not|has\s+not)|\s*$)
          # Exchange 5.5 IMS: an X.400 address carrying the SMTP one.
          | \bdda:SMTP=<?(?P<a13>[^\s<>"();]+@[^\s<>"(),;:]*[^\s<>"().,;:])
          # Exim under "an undisclosed address": where it was generated from.
          | ^\s*\(generated\s+from\s+<?(?P<a12>[^\s<>"()]+@[^\s<>"(),;:]*[^\s<>"().,;:])>?\)\s*$
          # Exim under a file or pipe it failed to deliver to ("/var/mail/x"
          # on one line): the address that led there.
          | ^\s*generated\s+by\s+<?(?P<a18>[^\s<>"()]+@[^\s<>"(),;:]*[^\s<>"().,;:])>?\s*$
          | problem\s+delivering\s+(?:your\s+|the\s+)?(?:message|mail|e-?mail)\s+to\s+<?(?P<a8>[^\s<>"()]+@[^\s<>"(),;:]*[^\s<>"().,;:])>?(?:[\s.,:;]|$)
          | (?:recipient|user|address|mailbox)\s*:?\s*<(?P<a3>[^\s<>"()]+@[^\s<>"()]+?)>
          | (?:rcpt\s+to|to)\s*:\s*<(?P<a4>[^\s<>"()]+@[^\s<>"()]+?)>
          | <(?P<a5>[^\s<>"()]+@[^\s<>"()]+?)>\s*(?:\.\.\.|:)\s+\S
          | ^\s*[A-Za-z][A-Za-z0-9'.,-]*(?:\s+[A-Za-z0-9'.,()-]+){1,7}\s*:\s*<?(?P<a6>[^\s<>"()]+@[^\s<>"():;,]+?)>?\s*$
          # The same sentences in the languages of the notices we see:
          # French, German, Spanish, Portuguese, Russian.
          | (?:(?:(?:remis|délivré|distribué|livré)\s+(?:à|au\s+destinataire)
              | zugestellt\s+werden\s+an | (?:zustellung|nachricht)\s+an
              # Gateways' notices to the sender: "Ihre E-Mail an x wurde …
              # in Quarantäne verschoben", "Votre message destiné à x".
              | (?:ihre|die)\s+e-?mail\s+an | (?:destiné|adressé|envoyé)e?s?\s+à
              | (?:entregar|entregado|entregue)(?:\s+(?:el|la|o|a|su|sua|seu|tu))*(?:\s+(?:mensaje|mensagem|correo|e-?mail))?\s+(?:a|ao|para)
              | по\s+адресу | (?:адресату|получателю)
              # "Письмо, отправленное на адрес x"; Ukrainian "на адресу x".
              | (?:отправлен\w*|надіслан\w*|направлен\w*)\s+на\s+адрес(?:у)?
              # "Ваше письмо для x не может быть доставлено", "письмо на
              # адрес x задержано"; Czech and Slovak "zpráva pro x".
              | (?:письм[оа]|сообщени[ея])\s+(?:для|на\s+адрес)
              | zpráv[auy]\s+pro | správ[auy]\s+pre
              # Polish, Czech, Romanian, Portuguese, Italian, French, Dutch,
              # Scandinavian, Chinese: "message to x", "deliver to x".
              # Spanish: "El mensaje que usted envió a x no pudo ser entregado".
              | (?:mensaje|correo)\s+que\s+(?:usted\s+)?envi(?:ó|o)\s+a
              | \bha\s+enviado\s+un\s+(?:mensaje|correo)\s+a
              | wiadomo(?:ś|s)(?:ć|c)\s+do | doru(?:č|c)it\s+na\s+adresu
              | livrat(?:ă|a)?\s+(?:c(?:ă|a)tre|la) | mensagem\s+para
              | recapitare(?:\s+il\s+messaggio)?\s+a | messaggio\s+per
              # Italian certified mail (PEC): "ed indirizzato a \"x@y\"".
              | indirizzat[oa]\s+a
              | à\s+destination\s+de | bericht\s+aan
              | meldingen(?:\s+din)?\s+til | meddelandet\s+till
              # Bulgarian, Serbian and Croatian, Greek: "писмо до x",
              # "poruka za x", "μήνυμα προς x".
              | (?:писмо(?:то)?|съобщение(?:то)?)\s+до | порук[уае]\s+(?:за|на\s+адресу)
              | \bporuk[uae]\s+(?:za|na\s+adresu) | μήνυμ(?:α|ά)(?:\s+σας)?\s+(?:προς|στη\s+διεύθυνση)
              | προς\s+τον\s+παραλήπτη | (?:^|\s)ο\s+παραλήπτης
              # Vietnamese: "Không thể gửi thư tới x", with or without
              # diacritics.
              | (?:gửi|gui)\s+(?:thư|thu|email|e-mail)\s+(?:tới|toi|đến|den)
              # Arabic: "لم يتم تسليم رسالتك إلى x" (your message to x).
              | (?:رسالتك|الرسالة)\s+إلى
              # The last word stands apart from the address: "entregue a
              # agenda@x" must not read the address as "genda@x".
            )(?:\s*["<]|\s+)
            | (?:傳遞給 | 传递给 | 發送到 | 发送到 | 发送给 | 發送給 | 寄給 | 寄给)\s*["<]?
            )(?P<a7>[^\s<>"()]+@[^\s<>"(),;:]*[^\s<>"().,;:])["'>]?(?:[\s.,:;。]|$)
          # Chinese notices label the original's recipient anywhere in a
          # line (NetEase's and Coremail's HTML tables run together into
          # one): "收件人： x@y".
          | (?:收件人|收信人|收件者)\s*[:：]\s*<?(?P<a17>[^\s<>"()]+@[^\s<>"(),;:]*[^\s<>"().,;:])>?(?:[\s.,:;。]|$)
          # Turkish and Korean put the address before its word: "x adresine",
          # "x 님에게", "x 로 보내신 메일".
          | <?(?P<a16>[^\s<>"()]+@[^\s<>"(),;:]*[^\s<>"().,;:])>?\s*(?:adresine|adresindeki|님에게|님께|(?:으로|로)\s*보내신|계정[은이])
        )"#,
    )
});

/// The time stamp that opens each line of MDaemon's session transcript
/// ("Thu 2025-03-06 12:22:04.102: *  To: x@y"), with the `*` that marks
/// the lines it writes about the message rather than the SMTP exchange.
pub(super) static TRANSCRIPT_STAMP: LazyLock<Pattern> = LazyLock::new(|| {
    super::super::text::regex(
        r"^\s*(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) \d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d{1,3})?:\s+(?:\*\s+)?",
    )
});

/// What follows an address when the line only adds the time of the attempt
/// ("addr on 3/14/2025", and Exchange's translations: "am 14.03.2025",
/// "le 18/03/2024", "den 2025-03-14", "op 8-10-2025", "il", "el", "em",
/// "στις 14/5/2024").
pub(super) static DATED_REST: LazyLock<Pattern> = LazyLock::new(|| {
    super::super::text::regex(
        r"(?i)^(?:on|am|le|den|op|il|el|em|dnia|στις)\s+(?:(?:mon|tue|wed|thu|fri|sat|sun)[a-z]*,?\s+)?\d{1,4}[\s/.-]",
    )
});

/// Words that make the text after an address a reason ("addr Invalid
/// Address, ERROR_CODE :550").
pub(super) static REASON_WORDS: LazyLock<Pattern> = LazyLock::new(|| {
    super::super::text::regex(
        r"(?i)^(?:invalid|unknown|no\s+such|user\s+unknown|mailbox|error|failed|rejected|denied|refused|unavailable|not\s+(?:found|exist|valid|known))\b",
    )
});

/// A lead-in that gives the cause before the address it introduces
/// ("… could not be delivered because the recipient does not exist on
/// this server:", "… porque el destinatario no existe en este servidor:").
pub(super) static CAUSE_LEAD_IN: LazyLock<Pattern> = LazyLock::new(|| {
    super::super::text::regex(r"(?i)\b(?:because|porque|weil|parce\s+que|perch[ée]|omdat)\b")
});

/// Words that give a reason wherever they stand in a notice.
pub(super) static REASON_ANYWHERE: LazyLock<Pattern> = LazyLock::new(|| {
    super::super::text::regex(
        r"(?i)\b(?:unknown|disabled|does\s+not\s+exist|doesn't\s+exist|no\s+such|mailbox\s+(?:is\s+)?full|over\s+quota|quota|rejected|denied|refused|invalid|unavailable|suspended|inactive|blocked|expired|timed\s+out|not\s+reachable|not\s+responding|space\s+not\s+enough|not\s+enough\s+space|insufficient\s+(?:disk\s+)?space|queue\s+period|spam|(?:user|recipient|address|mailbox)\s+not\s+(?:known|found)|encountered\s+an\s+error)\b|拒否|ポリシーにより|存在しません|存在しない|宛先不明|容量|超過|迷惑メール|拒收|拒绝|不存在|已满|退信|垃圾邮件|거부|존재하지|용량|초과|차단|переполнен|не\s+существует|заблокирован|отклонен",
    )
});

/// A line that states the cause under a label of its own ("reject reason:
/// Mailbox full", "Failure reason: …", "Grund: …"): group `reason`.
pub(super) static REASON_LABEL_LINE: LazyLock<Pattern> = LazyLock::new(|| {
    super::super::text::regex(
        r"(?im)^[ \t]*(?:(?:reject(?:ion)?|failure|error|bounce|delivery\s+failure)\s+)?(?:reason|grund|raison|motif|motivo|reden|oorzaak|orsak|årsak|årsag|powód|důvod|dôvod|razlog|cauza|motiv|причина|sebep|neden)[ \t]*:[ \t]*(?P<reason>\S[^\r\n]{2,200})\r?$",
    )
});

/// Labels before an address that name the sender side or a header field.
pub(super) static HEADER_LABEL: LazyLock<Pattern> = LazyLock::new(|| {
    super::super::text::regex(
        r"(?i)\b(?:from|sender|reply|return|envelope|message-id|cc|bcc|by|author|contact|postmaster|administrator|helpdesk|support)\b",
    )
});

/// Report templates that say the recipients were refused during the SMTP
/// dialogue ("Each of the following recipients was rejected by a remote
/// mail server"): the reply answered RCPT TO even when no command is quoted.
pub(super) static RCPT_REJECTED: LazyLock<Pattern> = LazyLock::new(|| {
    super::super::text::regex(
        r"(?i)\brecipients?\s+(?:was|were)\s+rejected\s+by\s+(?:a|the)\s+remote\s+(?:mail\s+)?server",
    )
});

/// Boilerplate lines that carry no diagnostic value.
pub(super) static BOILERPLATE: LazyLock<Pattern> = LazyLock::new(|| {
    super::super::text::regex(
        r"(?i)^\s*(?:-+\s*transcript\s+of\s+session|-+\s*the\s+following\s+address|\(?other\s+mxes\s+tried|for\s+further\s+assistance|if\s+you\s+do\s+so|you\s+can\s+delete\s+your\s+own\s+text|the\s+mail\s+system\s*$|this\s+is\s+a\s+permanent\s+error|i'm\s+sorry\s+to\s+have\s+to\s+inform|i'm\s+afraid\s+i\s+wasn't\s+able|this\s+is\s+an\s+automatically\s+generated\s+delivery\s+status\s+notification|please\s+reply\s+to\s+<?postmaster@\S+>?\s*$|if\s+you\s+feel\s+this\s+message\s+to\s+be\s+in\s+error|por\s+favor,?\s+compruebe\s+que\s+la\s+direcci|please\s+(?:check|verify)\s+that\s+the\s+(?:e-?mail\s+)?address\s+is\s+correct)",
    )
});

/// A line that repeats the returned message's subject ("Subject: …",
/// "Betreff: …"): no part of the reason, though the reason may follow it.
pub(super) static SUBJECT_LABEL: LazyLock<Pattern> = LazyLock::new(|| {
    super::super::text::regex(
        r"(?i)^\s*(?:subject|betreff|objet|oggetto|asunto|assunto|тема|件名)\s*:",
    )
});

pub(super) static HEADER_SUMMARY: LazyLock<Pattern> = LazyLock::new(|| {
    super::super::text::regex(
        r"(?i)^\s*(?:[*•-]\s+)?(?:subject|sent|date|cc|betreff|gesendet|datum|objet|envoyé|asunto|enviado|oggetto|inviato)\s*:",
    )
});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_address_group_of_the_sentence_pattern_is_listed() {
        let mut named: Vec<&str> = ADDRESS_SENTENCE
            .unicode()
            .capture_names()
            .flatten()
            .collect();
        let mut listed = SENTENCE_ADDRESS_GROUPS.to_vec();
        named.sort_unstable();
        listed.sort_unstable();
        assert_eq!(named, listed);
    }
}
