//! bapply never acts on a recipient that is no mailbox or a placeholder
//! (issue 14, point 4): a redacted feedback-loop complaint must not
//! unsubscribe `redacted@…`, and a recipient without `@` is no contact.
//! Such records are counted in the summary.

use crate::support::bapply::{Env, day, record, with};
use serde_json::json;

#[test]
fn placeholder_recipients_are_never_acted_on_and_are_counted() {
    let env = Env::new();
    let recs = [
        record("p1", "redacted@fbl.example.net", "complaint", &day(1)),
        record("p2", "xxxxx@example.net", "complaint", &day(1)),
        record("p3", "undisclosed-recipients", "hard", &day(1)),
        record("p4", "nobody-at-all", "hard", &day(1)),
        // The control: a real address with the same complaint.
        record("p5", "real@example.net", "complaint", &day(1)),
    ];
    let r = env.bapply(&[], &recs).expect(0);
    let rows = r.csv();
    let emails: Vec<&str> = rows.iter().map(|r| r["email"].as_str()).collect();
    assert_eq!(emails, ["real@example.net"], "{r}");
    assert!(
        r.stderr
            .contains("not a mailbox or a placeholder, never acted on: 4"),
        "{r}"
    );
}

#[test]
fn a_redacted_complaint_still_reaches_its_subscriber_id() {
    let env = Env::new();
    let rec = with(
        record("s1", "redacted@fbl.example.net", "complaint", &day(1)),
        json!({"subscriber": "sub-000777"}),
    );
    let r = env.bapply(&[], &[rec]).expect(0);
    let rows = r.csv();
    assert_eq!(rows.len(), 1, "{r}");
    assert_eq!(rows[0]["email"], "", "{r}");
    assert_eq!(rows[0]["action"], "unsubscribe", "{r}");
}
