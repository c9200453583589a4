//! Whether a message is a delivery notice at all: its structure, its
//! sender, its subject or the opening words mail servers write.

use super::pattern::Pattern;
use super::person;
use super::report::Report;
use super::text::floor_char_boundary;
use std::sync::LazyLock;

/// Whether the sender is a mail system's (MAILER-DAEMON, postmaster, a
/// null return path).
pub fn from_a_daemon(report: &Report) -> bool {
    BOUNCE_SENDER.is_match(&report.from)
}

/// Whether the message looks like a delivery report of some kind.
pub fn is_bounce_like(report: &Report) -> bool {
    if report.receipt && !report.has_dsn {
        return false;
    }
    // A notice a tool passes on attached whole, under a subject of its
    // own (Sympa's "A bounce message from list x", a help desk's).
    if report.has_report_structure() || is_pec_receipt(report) || report.attached_notice {
        return true;
    }
    // Exchange marks every notice it writes, whatever the language of its
    // subject and text (and sets Auto-Submitted: auto-replied on it too).
    if report.header("X-MS-Exchange-Message-Is-Ndr").is_some() {
        return true;
    }
    // A server's warning to a mailbox's owner that it is nearly full
    // comes from the postmaster but returns nothing: no mail failed.
    if report.returned.is_none() && QUOTA_WARNING_SUBJECT.is_match(&report.subject) {
        return false;
    }
    if BOUNCE_SENDER.is_match(&report.from) && sender_is_a_daemon(report) {
        return true;
    }
    // Mail that carries an unsubscribe link and a return path of its own,
    // and returns nothing (a courier's "delivery attempt failed", a lure
    // styled as a bounce), is a sender's mailing, not a report: notices
    // come from a null or daemon return path, or return our message.
    if report.returned.is_none()
        && report.header("List-Unsubscribe").is_some()
        && report
            .header("Return-Path")
            .is_some_and(|path| path.trim().trim_matches(['<', '>']).contains('@'))
    {
        return false;
    }
    let notice_subject = BOUNCE_SUBJECT.find(&report.subject).or_else(|| {
        sender_is_a_daemon(report)
            .then(|| DAEMON_NOTICE_SUBJECT.find(&report.subject))
            .flatten()
    });
    // A company's own mail about an account, from no mail daemon and with
    // a return path of its own, that returns nothing and whose subject
    // names no failed delivery (a billing reminder that mail "will be
    // rejected (undeliverable, mailbox disabled)"), or a person's reply
    // about one ("Re: Invoice … delivery failed?"): its words are news,
    // not a report. A saved copy without the Return-Path the final
    // delivery adds says nothing either way: a notice comes from a
    // daemon, so a person's From decides.
    if (notice_subject.is_none() || person::replying_subject(&report.subject))
        && report.returned.is_none()
        && !sender_is_a_daemon(report)
        && report
            .header("Return-Path")
            .is_none_or(|path| path.trim().trim_matches(['<', '>']).contains('@'))
    {
        return false;
    }
    (notice_subject.is_some()
        || (BOUNCE_INTRO.is_match(&report.body[..floor_char_boundary(&report.body, 6000)])
            && !person::answered_automatically(report)))
        // A list's own mail that explains bounces returns no message; a
        // bounce that a list passed on (or that kept the header of the list
        // mail it returns) still does, or opens with a notice's subject.
        && (!person::sent_to_a_list(report)
            || report.returned.is_some()
            || notice_subject.is_some_and(|m| report.subject[..m.start].trim().is_empty()))
}

/// Italian certified mail's (PEC) delivery receipts and non-delivery
/// notices name their kind in a header of their own; its acceptance
/// receipts (our provider took the message) are no report about a
/// recipient.
fn is_pec_receipt(report: &Report) -> bool {
    report.header("X-Ricevuta").is_some_and(|kind| {
        matches!(
            kind.trim().to_ascii_lowercase().as_str(),
            "avvenuta-consegna" | "errore-consegna" | "preavviso-errore-consegna"
        )
    })
}

/// A daemon's name on the From line is a notice's mark when its address
/// is a daemon's too, or the mail returns a message or has a null return
/// path: phishing ("Postmaster <no-reply@webmail-check.example>: your
/// mailbox is full") borrows the name and nothing else.
fn sender_is_a_daemon(report: &Report) -> bool {
    report
        .from_address
        .as_deref()
        .is_none_or(|address| BOUNCE_SENDER.is_match(address))
        || report.returned.is_some()
        || report
            .header("Return-Path")
            .is_some_and(|path| path.trim() == "<>")
}

static BOUNCE_SENDER: LazyLock<Pattern> = LazyLock::new(|| {
    super::text::regex(
        r"(?i)\bmail(?:er)?-?daemon\b|\bmdaemon@|\bmicrosoftexchange[0-9a-f]{32}@|post_?master|mail delivery (?:sub)?system|mail administrator|mmdf|\bsmtp gateway|\bdelivery[-_ ]?(?:notification|status)|\bbounce[-_ ]?notification|^\s*<?>?\s*$|<\s*>\s*$",
    )
});
/// The subject of a mailbox quota warning (Zimbra, Oracle Messaging
/// Server, Dovecot's quota-warning scripts, hosting panels).
static QUOTA_WARNING_SUBJECT: LazyLock<Pattern> = LazyLock::new(|| {
    super::text::regex(
        r"(?i)\b(?:over ?)?quota[- ]?(?:warning|alert|notice|notification|reminder)\b|\b(?:warning|avertissement|avviso|aviso|warnung)\b.{0,20}\bquot[ae]\b|\bquote warnung\b|\bmailbox (?:is )?(?:almost|nearly) full\b|\bbo[iî]te aux lettres (?:est )?(?:bient[oô]t|presque) (?:pleine|satur[ée]e)|\bpostfach (?:ist )?fast voll|\bbrevl[åa]da (?:är )?n[äa]stan full|\bpostkasse (?:er )?n(?:æ|e)sten full?d?|\bbuz[oó]n (?:est[aá] )?casi lleno|\bcasella (?:è )?quasi piena|\bmailbox (?:is )?bijna vol|\bpostvak (?:is )?bijna vol|\bcaixa (?:postal )?(?:est[aá] )?quase cheia",
    )
});
/// Whether a subject is a failure notice's ("Undeliverable: …",
/// "Returned mail", "Unzustellbar").
pub fn is_bounce_subject(subject: &str) -> bool {
    BOUNCE_SUBJECT.is_match(subject)
}

static BOUNCE_SUBJECT: LazyLock<Pattern> = LazyLock::new(|| {
    super::text::regex(
        r"(?i)undeliver|undelivered|mensaje devuelto|correo devuelto|mensagem devolvida|delivery (?:status notification|failure|failed|has failed|notification|problem|report)|returned mail|returning message|mail delivery failed|failure notice|non[- ]?delivery|could not be delivered|could not be forwarded|could(?:n't| not) deliver|not delivered|delivery error|bounced|bounce action notification|\b(?:(?:hard|soft) bounce|bounce notification):|\b(?:hard|soft) bounce report\b|rejected|mail system error|permanent error|delayed mail|^\s*delivery delayed:|warning: could not send|nondeliverable|unable to deliver|message you sent|delivery final failure|notification d'[eé]tat de remise|unzustellbar|nicht zustellbar|non recapitabile|mancata consegna|no se puede entregar|non remis|onbestelbaar|ej levererbart|kan ikke leveres|nie można dostarczyć|não é possível entregar|nedoručitelné|kézbesíthetetlen|teslim edilemedi|не удается доставить|error de entrega|\bpost to \S+ denied\b|^\s*denied post to\b|\buser unknown\b|(?:配信|配送|送信)(?:エラー|失敗|不能)|受信拒否|未達|退信|投递失败|发送失败|반송된\s*메일|반송\s*메일|(?:메일|전송|발송)\s*반송|\[\s*반송\s*\]|전송\s*실패|(?:스팸|메일)\s*차단\s*(?:알림|안내)|수신\s*거부되었|메일\s*수신\s*거부\s*(?:알림|안내)|메일이\s*차단되었|메일이?\s*반송\s*되었|(?:письмо|сообщение|message)\s+не\s+доставлено|^\s*не\s+доставлено\s*:|nedoručen[áéý]\s+(?:zpráva|e-?mail|pošta|správa)|(?:zpráva|správa|e-?mail)\s+(?:nebyla\s+)?nedoručen|^\s*(?:message|messaggio|nachricht)\s+(?:held|trattenuto|zurückgehalten)\b|لم\s+يتم\s+التسليم|غير\s+قابل\s+للتسليم|تعذر\s+التسليم|לא\s+נמסר(?:$|[^\p{L}])|לא\s+ניתן\s+למסור|تحویل\s+داده\s+نشد|\[held\s+for\s+review\]",
    )
});
/// Subjects a person may write as well ("Message blocked", a shop's
/// "一部のお客様に配信されませんでした"): a notice's only from a mail
/// system's address or a null return path, or with our message returned.
static DAEMON_NOTICE_SUBJECT: LazyLock<Pattern> = LazyLock::new(|| {
    super::text::regex(r"(?i)\bmessage\s+blocked\b|(?:配信|配送)(?:でき|され)ませんでした")
});
static BOUNCE_INTRO: LazyLock<Pattern> = LazyLock::new(|| {
    super::text::regex(
        r"(?i)this is the qmail-send program|created automatically by mail delivery software|this is the mail system at host|the following addresses had permanent fatal errors|delivery to the following recipients? failed|(?:could not|cannot|can not) be delivered to|your message (?:could not|couldn't|wasn't|was not) (?:be )?delivered|i'm afraid i wasn't able to deliver|delivery has failed to these recipients|your message did not reach some or all|the original message was received at|this is an automatically generated delivery status notification|unable to deliver (?:your )?message|message delivery failed|permanent error|the error that the other server returned|sorry, we were unable to deliver|undeliverable|smtp error from remote mail server|delivery status notification|requested action not taken:|was\s+not\s+distributed\s+to\s+the|not\s+accepted\s+by\s+the\s+moderator|has\s+blocked\s+(?:a|the|your)\s+message\s+you\s+sent",
    )
});
