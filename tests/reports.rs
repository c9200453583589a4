//! Reports about our own sending are never a subscriber's wish (issue 14):
//! ARF `not-spam` and `auth-failure`, DMARC aggregate reports (XML bare,
//! gzip, zip) and SMTP TLS reports give category `report` through
//! bclassify, and bapply's default policy does nothing with them, while an
//! ARF `abuse` complaint still unsubscribes.

use crate::support::bapply::Env;
use crate::support::{repo_root, run};

/// bclassify's records for a fixture.
fn classify(fixture: &str) -> (Vec<serde_json::Value>, Vec<u8>) {
    let path = repo_root().join("fixtures").join(fixture);
    let r = run(
        env!("CARGO_BIN_EXE_bclassify"),
        &[path.to_str().unwrap()],
        None,
        &repo_root(),
    );
    r.expect_code(0);
    (r.records(), r.out.stdout.clone())
}

#[test]
fn arf_not_spam_and_auth_failure_give_no_unsubscribe() {
    let env = Env::new();
    for (fixture, feedback_type) in [
        ("report/001-arf-not-spam.eml", "not-spam"),
        ("report/002-arf-auth-failure-dmarc.eml", "auth-failure"),
    ] {
        let (records, lines) = classify(fixture);
        assert_eq!(records.len(), 1, "{fixture}");
        assert_eq!(records[0]["category"], "report", "{fixture}");
        assert_eq!(records[0]["reason"], "report", "{fixture}");
        assert_eq!(records[0]["feedback_type"], feedback_type, "{fixture}");
        let r = env.bapply_raw(&[], &lines).expect(0);
        assert!(r.csv().is_empty(), "{fixture}: no update\n{r}");
    }
    // The control: an ARF abuse report about a subscriber unsubscribes.
    let (records, lines) = classify("complaint/001-arf-abuse.eml");
    assert_eq!(records[0]["category"], "complaint");
    let r = env.bapply_raw(&[], &lines).expect(0);
    let rows = r.csv();
    assert_eq!(rows.len(), 1, "{r}");
    assert_eq!(rows[0]["action"], "unsubscribe", "{r}");
}

#[test]
fn dmarc_aggregate_and_tls_reports_are_reports_without_action() {
    let env = Env::new();
    for (fixture, kind, pass, fail) in [
        ("report/003-dmarc-aggregate-xml-gz.eml", "dmarc", 4180, 0),
        ("report/004-dmarc-aggregate-xml.eml", "dmarc", 41, 2),
        ("report/005-dmarc-aggregate-zip.eml", "dmarc", 41, 2),
        ("report/006-tlsrpt-gzip.eml", "tlsrpt", 5326, 303),
        ("report/007-tlsrpt-json.eml", "tlsrpt", 5326, 303),
    ] {
        let (records, lines) = classify(fixture);
        assert_eq!(records.len(), 1, "{fixture}");
        let rec = &records[0];
        assert_eq!(rec["category"], "report", "{fixture}");
        assert_eq!(rec["recipient"], serde_json::Value::Null, "{fixture}");
        assert_eq!(rec["mta"], kind, "{fixture}");
        assert_eq!(rec["report"]["kind"], kind, "{fixture}");
        assert_eq!(
            rec["report"]["policy_domain"], "lists.example.com",
            "{fixture}"
        );
        assert!(rec["report"]["organization"].is_string(), "{fixture}");
        assert!(rec["report"]["begin"].is_string(), "{fixture}");
        assert!(rec["report"]["end"].is_string(), "{fixture}");
        assert_eq!(rec["report"]["pass"], pass, "{fixture}");
        assert_eq!(rec["report"]["fail"], fail, "{fixture}");
        let r = env.bapply_raw(&[], &lines).expect(0);
        assert!(r.csv().is_empty(), "{fixture}: no update\n{r}");
    }
}
