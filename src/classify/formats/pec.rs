//! Italian certified mail (PEC, Posta Elettronica Certificata): the
//! provider's receipts carry `X-Ricevuta: <kind>` and a `daticert.xml`
//! part (DPR 68/2005, technical rules of DM 2 November 2005) whose
//! `<postacert tipo="…" errore="…">` says what happened to the message for
//! one recipient (`<consegna>`), with the provider's own text in
//! `<errore-esteso>`, which most providers open with an enhanced status
//! code ("5.1.1 - Aruba Pec S.p.A. - indirizzo non valido").
//!
//! The failure receipts are delivery status notifications in all but
//! syntax, so the XML is read into the DSN fields it stands for and the
//! rest of the classifier treats it as one.

use super::report_format::MtaSignature;
use crate::classify::text::find_status;

pub(crate) static FORMAT: MtaSignature = MtaSignature {
    name: "pec",
    signature: r"(?mi)^X-Ricevuta:|^X-Trasporto: posta-certificata",
};

/// The delivery-status fields a `daticert.xml` stands for, when it is a
/// receipt about delivery to a recipient: `errore-consegna` (failed),
/// `preavviso-errore-consegna` (no delivery receipt after 12 hours;
/// some providers send the final 24-hour notice under this kind too, with
/// a 5.x.x code, so the code decides), `rilevazione-virus`,
/// `avvenuta-consegna` (delivered) and `non-accettazione` (refused by the
/// sender's own provider, for every addressee). Acceptance and hand-over
/// receipts (`accettazione`, `presa-in-carico`) say nothing about delivery: `None`.
pub(crate) fn daticert_delivery_status(xml: &str) -> Option<String> {
    let root_at = xml.find("<postacert")?;
    let root = &xml[root_at..root_at + xml[root_at..].find('>')?];
    let kind = attribute(root, "tipo")?;
    let error = attribute(root, "errore").unwrap_or("");
    let extended = element(xml, "errore-esteso").unwrap_or_default();
    let stated = find_status(&extended);
    if kind == "non-accettazione" {
        return non_acceptance(xml, error, &extended, stated);
    }
    let recipient = element(xml, "consegna").or_else(|| element(xml, "destinatari"))?;
    let (action, status) = match kind {
        "errore-consegna" | "rilevazione-virus" => ("failed", stated.or_else(|| by_error(error))),
        "preavviso-errore-consegna" => match stated {
            Some(s) if s.starts_with('5') => ("failed", Some(s)),
            s => ("delayed", s.or_else(|| Some("4.4.7".into()))),
        },
        "avvenuta-consegna" => ("delivered", stated),
        _ => return None,
    };
    let diagnostic = if extended.is_empty() && error == "virus" {
        "virus detected"
    } else {
        &extended
    };
    Some(dsn_fields(
        &recipient,
        action,
        status.as_deref(),
        diagnostic,
    ))
}

/// One recipient's block of DSN fields.
fn dsn_fields(recipient: &str, action: &str, status: Option<&str>, diagnostic: &str) -> String {
    let mut dsn = format!("Final-Recipient: rfc822; {recipient}\nAction: {action}\n");
    if let Some(status) = status {
        dsn.push_str(&format!("Status: {status}\n"));
    }
    if !diagnostic.is_empty() {
        dsn.push_str(&format!("Diagnostic-Code: X-PEC; {diagnostic}\n"));
    }
    dsn
}

/// A non-acceptance receipt (`non-accettazione`): the sender's own provider
/// refused the message before it left, for every addressee (`<destinatari>`,
/// one element each). The cause stands in `<errore-esteso>` when the
/// provider fills it in, else only in the notice's text ("a causa di: …"),
/// which the prose reader gives each recipient.
fn non_acceptance(
    xml: &str,
    error: &str,
    extended: &str,
    stated: Option<String>,
) -> Option<String> {
    let status = stated.or_else(|| by_error(error));
    let mut dsn = String::new();
    let mut rest = xml;
    // Each element in turn, an empty one skipped: `element` gives `None`
    // for an empty first element, which would end a loop over it and lose
    // the addressees after it.
    while let Some(close) = rest.find("</destinatari>") {
        let after = close + "</destinatari>".len();
        if let Some(recipient) = element(&rest[..after], "destinatari") {
            dsn.push_str(&dsn_fields(
                &recipient,
                "failed",
                status.as_deref(),
                extended,
            ));
            dsn.push('\n');
        }
        rest = &rest[after..];
    }
    (!dsn.is_empty()).then_some(dsn)
}

/// The status the `errore` attribute implies when the provider's text
/// states none.
fn by_error(error: &str) -> Option<String> {
    match error {
        "no-dest" => Some("5.1.1".into()),
        "no-dominio" => Some("5.1.2".into()),
        "virus" => Some("5.7.1".into()),
        _ => None,
    }
}

fn attribute<'a>(tag: &'a str, name: &str) -> Option<&'a str> {
    let at = tag.find(&format!(" {name}=\""))? + name.len() + 3;
    let end = tag[at..].find('"')?;
    Some(&tag[at..at + end])
}

/// The text of the first `<name …>…</name>` element, unescaped and on one
/// line (the value lands in a DSN field).
fn element(xml: &str, name: &str) -> Option<String> {
    let open = format!("<{name}");
    let mut from = 0;
    let start = loop {
        let at = from + xml[from..].find(&open)?;
        let after = at + open.len();
        match xml[after..].chars().next() {
            Some('>') => break after + 1,
            Some(c) if c.is_whitespace() => break after + xml[after..].find('>')? + 1,
            _ => from = after,
        }
    };
    let end = start + xml[start..].find(&format!("</{name}>"))?;
    let text = xml[start..end]
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&");
    let text = crate::classify::text::collapse_ws(&text);
    (!text.is_empty()).then_some(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn daticert(kind: &str, error: &str, extended: &str) -> String {
        format!(
            "<?xml version=\"1.0\"?>\n<postacert tipo=\"{kind}\" errore=\"{error}\">\n<intestazione><mittente>a@pec.example.it</mittente>\n<destinatari tipo=\"certificato\">b@pec.example.it</destinatari></intestazione>\n<dati><consegna>b@pec.example.it</consegna>\n{extended}</dati></postacert>\n"
        )
    }

    #[test]
    fn a_failure_receipt_is_a_failed_delivery_with_the_stated_code() {
        let xml = daticert(
            "errore-consegna",
            "altro",
            "<errore-esteso>5.2.2 - Provider S.p.A. - casella piena</errore-esteso>",
        );
        let dsn = daticert_delivery_status(&xml).unwrap();
        assert!(dsn.contains("Final-Recipient: rfc822; b@pec.example.it\n"));
        assert!(dsn.contains("Action: failed\nStatus: 5.2.2\n"));
        assert!(dsn.contains("Diagnostic-Code: X-PEC; 5.2.2 - Provider S.p.A. - casella piena"));
    }

    #[test]
    fn the_error_attribute_gives_the_code_when_the_text_has_none() {
        let xml = daticert("errore-consegna", "no-dest", "");
        assert!(
            daticert_delivery_status(&xml)
                .unwrap()
                .contains("Status: 5.1.1\n")
        );
        let xml = daticert("errore-consegna", "altro", "");
        assert!(!daticert_delivery_status(&xml).unwrap().contains("Status:"));
    }

    #[test]
    fn the_warning_is_a_delay_unless_its_code_is_final() {
        let warning = daticert("preavviso-errore-consegna", "altro", "");
        assert!(
            daticert_delivery_status(&warning)
                .unwrap()
                .contains("Action: delayed\nStatus: 4.4.7\n")
        );
        let final_notice = daticert(
            "preavviso-errore-consegna",
            "altro",
            "<errore-esteso>5.4.1 - non consegnato nelle prime ventiquattro ore</errore-esteso>",
        );
        assert!(
            daticert_delivery_status(&final_notice)
                .unwrap()
                .contains("Action: failed\nStatus: 5.4.1\n")
        );
    }

    #[test]
    fn a_non_acceptance_fails_every_addressee() {
        let xml = "<postacert tipo=\"non-accettazione\" errore=\"altro\"><intestazione><mittente>a@pec.example.it</mittente>\n<destinatari tipo=\"certificato\">b@pec.example.it</destinatari>\n<destinatari></destinatari>\n<destinatari tipo=\"esterno\">c@example.it</destinatari></intestazione><dati></dati></postacert>";
        let dsn = daticert_delivery_status(xml).unwrap();
        assert_eq!(
            dsn,
            "Final-Recipient: rfc822; b@pec.example.it\nAction: failed\n\nFinal-Recipient: rfc822; c@example.it\nAction: failed\n\n"
        );
    }

    #[test]
    fn acceptance_receipts_and_other_xml_say_nothing() {
        assert_eq!(
            daticert_delivery_status(&daticert("accettazione", "nessuno", "")),
            None
        );
        assert_eq!(daticert_delivery_status("<feedback><x/></feedback>"), None);
        assert_eq!(
            daticert_delivery_status("<postacert tipo=\"errore-consegna\""),
            None
        );
        // Escaped text is read as text, on one line.
        let xml = daticert(
            "errore-consegna",
            "altro",
            "<errore-esteso>5.7.1 &lt;b@pec.example.it&gt;\n rifiutato</errore-esteso>",
        );
        assert!(
            daticert_delivery_status(&xml)
                .unwrap()
                .contains("X-PEC; 5.7.1 <b@pec.example.it> rifiutato\n")
        );
    }
}
