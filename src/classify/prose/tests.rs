use super::*;

/// Exim lists each address with its own block; the last block's reply
/// is not the reason of an address above it whose block has no code.
#[test]
fn last_address_block_is_not_shared() {
    let text = "The following address(es) failed:\n\n  a@example.ie\n    Unrouteable address\n\n  b@example.com\n    host mx.example.com [192.0.2.9]\n    SMTP error from remote mail server after RCPT TO:<b@example.com>:\n    452-4.2.2 The recipient's inbox is out of storage space.\n    452 4.2.2 Please direct the recipient to the help page\n";
    let d = scan(text, &[], &[], &[]);
    let a = d
        .iter()
        .find(|d| d.recipient.as_deref() == Some("a@example.ie"))
        .unwrap();
    assert_eq!(a.diagnostic.as_deref(), Some("Unrouteable address"));
    let b = d
        .iter()
        .find(|d| d.recipient.as_deref() == Some("b@example.com"))
        .unwrap();
    assert!(
        b.diagnostic
            .as_deref()
            .unwrap()
            .contains("inbox is out of storage")
    );
}

/// Gmail's older notice lists the addresses, one per line, above one
/// reason for all of them.
#[test]
fn reason_under_a_list_of_addresses_is_each_ones() {
    let text = "Delivery to the following recipients failed permanently:\n\n     a@example.pl\n     b@example.pl\n     C@Example.PL\n\nTechnical details of permanent failure:\nDNS Error: Domain name not found\n";
    let d = scan(text, &[], &[], &[]);
    assert_eq!(d.len(), 3);
    for delivery in &d {
        assert!(
            delivery
                .diagnostic
                .as_deref()
                .unwrap()
                .contains("Domain name not found"),
            "{delivery:?}"
        );
    }
}

#[test]
fn qmail_style() {
    let text = "Hi. This is the qmail-send program at mx.example.org.\nI'm afraid I wasn't able to deliver your message to the following addresses.\n\n<nobody@example.net>:\n192.0.2.1 does not like recipient.\nRemote host said: 550 5.1.1 No such user\nGiving up on 192.0.2.1.\n\n";
    let d = scan(text, &[], &[], &[]);
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].recipient.as_deref(), Some("nobody@example.net"));
    assert_eq!(d[0].smtp_code, Some(550));
    assert_eq!(d[0].status.as_deref(), Some("5.1.1"));
}

#[test]
fn reply_quoted_above_the_address_is_the_diagnostic() {
    let text = "Error: Invalid user address\n\nError message below:\n550 - Requested action not taken: no such user here\n\nMessage details:\n  RCPT TO: mateo@example.org\n  To: mateo@example.org\n  Size (in bytes): 1824\n";
    let d = scan(text, &[], &[], &[]);
    assert_eq!(d[0].recipient.as_deref(), Some("mateo@example.org"));
    assert_eq!(d[0].smtp_code, Some(550));
    assert!(
        d[0].diagnostic
            .as_deref()
            .unwrap()
            .contains("no such user here")
    );
}

#[test]
fn exim_style_with_failed_header() {
    let text = "This message was created automatically by mail delivery software.\n\nA message that you sent could not be delivered to one or more of its\nrecipients. This is a permanent error. The following address(es) failed:\n\n  bob@example.net\n    SMTP error from remote mail server after RCPT TO:<bob@example.net>:\n    host mx.example.net [192.0.2.9]: 550 5.1.1 unknown user\n";
    let d = scan(text, &["bob@example.net".into()], &[], &[]);
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].command.as_deref(), Some("RCPT"));
    assert_eq!(d[0].remote_mta.as_deref(), Some("mx.example.net"));
    assert_eq!(d[0].status.as_deref(), Some("5.1.1"));
}

#[test]
fn reason_below_a_bare_address_is_taken_once() {
    let text = "Votre message n'a pas pu être remis :\n\n    ana@example.org\n\nRaison : adresse introuvable.\n\nRéponse du serveur : 550 5.1.1 Adresse inconnue\n";
    let d = scan(text, &[], &[], &[]);
    let diagnostic = d[0].diagnostic.as_deref().unwrap();
    assert_eq!(diagnostic.matches("adresse introuvable").count(), 1);
    assert_eq!(d[0].smtp_code, Some(550));
}

#[test]
fn names_the_address_in_sentences_of_many_languages() {
    let cases = [
        "Votre message n'a pas pu être remis à ana@example.fr.\n\nMotif : adresse inexistante.\n",
        "Empfänger: ana@example.de\nGrund:     Der Empfänger ist unbekannt.\n",
        "Не удалось доставить ваше письмо по адресу ana@example.ru:\nтакого почтового ящика нет.\n",
        "No se ha podido entregar el mensaje a ana@example.es.\n\nEl buzón no existe.\n",
        "Não foi possível entregar a sua mensagem para ana@example.com.br.\n\nMotivo: usuário desconhecido.\n",
        "There was a problem delivering your message to ana@example.org. See the technical details below.\n",
    ];
    for text in cases {
        let d = scan(text, &[], &[], &[]);
        assert_eq!(d.len(), 1, "{text}");
        assert!(d[0].recipient.as_deref().unwrap().starts_with("ana@"));
        assert!(d[0].diagnostic.is_some(), "{text}");
    }
}

#[test]
fn tmp_debug_cjk() {
    let text = "The following address(es) failed:\n\n  山田太郎@例え.jp\n    host mx.例え.jp [192.0.2.121]\n    SMTP error from remote mail server after RCPT TO:<山田太郎@例え.jp>:\n    550 5.1.1 <山田太郎@例え.jp>: Recipient address rejected: User unknown in local recipient table\n\n  hanako@ドメイン.テスト\n    Unrouteable address\n\n  info@sakura-partner.co.jp\n    host mx01.sakura-partner.co.jp [192.0.2.122]\n    552 5.2.2 <info@sakura-partner.co.jp>: Mailbox full\n";
    let found: Vec<String> = crate::classify::text::addresses_in(text).collect();
    eprintln!("ADDR {found:?}");
    let failed = vec![
        "山田太郎@例え.jp".to_string(),
        "hanako@ドメイン.テスト".to_string(),
        "info@sakura-partner.co.jp".to_string(),
    ];
    for d in scan(text, &failed, &[], &[]) {
        eprintln!("DEL {:?} {:?}", d.recipient, d.diagnostic);
    }
}

/// Sendmail's transcript runs on with the next host's session; a reply
/// in it (at DATA, naming no address) is not the address above it.
#[test]
fn next_host_session_ends_a_transcript_block() {
    let text = "   ----- Transcript of session follows -----\n... while talking to mx.a.example.:\n>>> RCPT To:<p@a.example>\n<<< 550 5.1.1 <p@a.example>... User unknown\n550 5.1.1 <p@a.example>... User unknown\n... while talking to mx.b.example.:\n>>> DATA\n<<< 552 5.3.4 Message size exceeds fixed limit\n554 5.0.0 Service unavailable\n";
    let d = scan(text, &[], &[], &[]);
    let p = d
        .iter()
        .find(|d| d.recipient.as_deref() == Some("p@a.example"))
        .unwrap();
    let diagnostic = p.diagnostic.as_deref().unwrap();
    assert!(diagnostic.contains("User unknown"), "{diagnostic}");
    assert!(!diagnostic.contains("5.3.4"), "{diagnostic}");
}

/// GroupWise names each failed recipient by user ID with the address in
/// parentheses and the cause after it.
#[test]
fn groupwise_user_id_with_address_in_parentheses() {
    let text = "The message that you sent was undeliverable to the following:\n\tmbauer (mbauer@landkreis-aue.example) (User or Post Office not found)\n\nPossible causes:\n\tAddressee's address is incorrect\n";
    let d = scan(text, &[], &[], &[]);
    assert_eq!(d.len(), 1, "{d:?}");
    assert_eq!(
        d[0].recipient.as_deref(),
        Some("mbauer@landkreis-aue.example")
    );
}

/// Exim's callout report quotes our own address inside the remote
/// server's multi-line reply; the whole reply is the recipient's reason.
#[test]
fn a_multi_line_reply_stays_whole_whatever_it_quotes() {
    let text = "The following address(es) failed:\n\n  a@shop.example\n    SMTP error from remote mail server after RCPT TO:<a@shop.example>:\n    550-Verification failed for <bounces+1@news.example>\n    550-Sent:     RCPT TO:<bounces+1@news.example>\n    550-Response: 550 5.1.1 No such mailbox\n    550 Sender verify failed\n";
    let d = scan(text, &[], &[], &[]);
    let a = d
        .iter()
        .find(|d| d.recipient.as_deref() == Some("a@shop.example"))
        .unwrap();
    assert!(
        a.diagnostic
            .as_deref()
            .unwrap()
            .contains("Sender verify failed"),
        "{a:?}"
    );
}

/// Exim's failed pipe: the line above "generated by x" names the
/// delivery that failed, so it belongs to x's reason.
#[test]
fn the_pipe_above_generated_by_is_part_of_the_reason() {
    let text = "The following address(es) failed:\n\n  pipe to |/usr/local/bin/ticket-import\n    generated by support@shop.example\n    local delivery failed\n";
    let d = scan(text, &[], &[], &[]);
    let a = d
        .iter()
        .find(|d| d.recipient.as_deref() == Some("support@shop.example"))
        .unwrap();
    assert!(
        a.diagnostic.as_deref().unwrap().contains("pipe to |"),
        "{a:?}"
    );
}

/// A continuation line that opens with its own address is another
/// recipient's, not part of the reply above it.
#[test]
fn a_reply_line_opening_with_an_address_is_another_recipient() {
    let text = "The following address(es) failed:\n\n  a@shop.example\n    SMTP error from remote mail server after end of data:\n    550-The following recipients were rejected:\n    550-<a@shop.example>: mailbox full\n    550 <b@shop.example>: user unknown\n";
    let d = scan(text, &[], &[], &[]);
    assert!(
        d.iter()
            .any(|d| d.recipient.as_deref() == Some("b@shop.example")),
        "{d:?}"
    );
}

/// "Name (addr) (text)" is GroupWise's failed recipient only when the
/// text is a cause; a help desk's "Helpdesk (addr) (ext. 4411)" is not.
#[test]
fn a_contact_line_in_parentheses_is_no_recipient() {
    let text = "Your message to anna@firm.example could not be delivered: mailbox unavailable.\n\nFor help contact:\nHelpdesk (helpdesk@firm.example) (ext. 4411)\n";
    let d = scan(text, &[], &[], &[]);
    assert!(
        d.iter()
            .all(|d| d.recipient.as_deref() != Some("helpdesk@firm.example")),
        "{d:?}"
    );
}

/// Exim quotes the reply to the whole message under each address; each
/// address keeps the cause its own line of the reply gives.
#[test]
fn each_address_keeps_its_own_line_of_a_quoted_reply() {
    let text = "The following address(es) failed:\n\n  anna@corp.example\n    SMTP error from remote mail server after end of data:\n    552-anna@corp.example: 5.2.2 mailbox full, quota exceeded\n    552 bert@corp.example: 5.1.1 no such user\n  bert@corp.example\n    SMTP error from remote mail server after end of data:\n    552-anna@corp.example: 5.2.2 mailbox full, quota exceeded\n    552 bert@corp.example: 5.1.1 no such user\n";
    let d = scan(text, &[], &[], &[]);
    let of = |r: &str| {
        d.iter()
            .find(|d| d.recipient.as_deref() == Some(r))
            .and_then(|d| d.diagnostic.clone())
            .unwrap_or_default()
    };
    assert_eq!(d.len(), 2, "{d:?}");
    assert!(of("anna@corp.example").contains("mailbox full"), "{d:?}");
    assert!(!of("anna@corp.example").contains("no such user"), "{d:?}");
    assert!(of("bert@corp.example").contains("no such user"), "{d:?}");
    assert!(!of("bert@corp.example").contains("mailbox full"), "{d:?}");
}

/// A mailbox whose name starts like a reply code keeps it where no reply
/// runs into it.
#[test]
fn a_local_part_like_a_reply_code_is_kept_outside_a_reply() {
    let text = "The following address(es) failed:\n\n  500-club@rotary.example\n    host mx.rotary.example [192.0.2.1]\n    SMTP error from remote mail server after RCPT TO:<500-club@rotary.example>:\n    550 5.1.1 no such user\n";
    let d = scan(text, &[], &[], &[]);
    assert!(
        d.iter()
            .any(|d| d.recipient.as_deref() == Some("500-club@rotary.example")),
        "{d:?}"
    );
}
