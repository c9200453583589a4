//! Aggregate reports about our own sending, read from an attachment:
//! DMARC aggregate reports (RFC 7489 appendix C, XML) and SMTP TLS reports
//! (RFC 8460, JSON), bare, gzip-compressed or (DMARC) in a zip archive.
//! They become one record of category `report` with what the report says
//! (bounce-tools(7), CATEGORIES).
//!
//! Attachments are attacker-controlled: decompression stops at
//! [`MAX_DECOMPRESSED`] bytes and a zip archive is read for at most
//! [`MAX_ZIP_ENTRIES`] entries, so a zip or gzip bomb costs nothing.

use crate::record::AggregateReport;
use chrono::{DateTime, Utc};
use std::io::{Cursor, Read};

/// Largest decompressed report read (16 MiB); a larger one is ignored.
pub(crate) const MAX_DECOMPRESSED: u64 = 16 << 20;
/// Entries of a zip archive looked at before giving up.
pub(crate) const MAX_ZIP_ENTRIES: usize = 8;
/// Longest text kept from a report field, in characters.
const MAX_FIELD_CHARS: usize = 200;

/// Whether an attachment may hold an aggregate report, from its media
/// type and file name.
pub(crate) fn is_candidate(kind: &str, subtype: &str, filename: Option<&str>) -> bool {
    let name = filename.unwrap_or("").to_ascii_lowercase();
    let named = [".xml", ".xml.gz", ".gz", ".zip", ".json", ".json.gz"]
        .iter()
        .any(|e| name.ends_with(e));
    match (kind, subtype) {
        // RFC 8460's types, and the bare `tlsrpt` and `json` some
        // reporters write instead.
        ("application", "tlsrpt+json" | "tlsrpt+gzip" | "tlsrpt" | "json") => true,
        ("application", "gzip" | "x-gzip" | "zip" | "x-zip" | "x-zip-compressed" | "xml")
        | ("text", "xml") => true,
        ("application", "octet-stream") => named,
        _ => false,
    }
}

/// The report an attachment holds, or `None` when it is none (or too big,
/// or broken).
pub(crate) fn read(bytes: &[u8]) -> Option<AggregateReport> {
    let text = unpack(bytes)?;
    let text = String::from_utf8_lossy(&text);
    let body = text.trim_start_matches('\u{feff}').trim_start();
    if body.starts_with('<') {
        dmarc(body)
    } else if body.starts_with('{') {
        tlsrpt(body)
    } else {
        None
    }
}

/// The bytes of the report: as they are, gunzipped, or the first XML or
/// JSON entry of a zip archive, never more than [`MAX_DECOMPRESSED`].
fn unpack(bytes: &[u8]) -> Option<Vec<u8>> {
    if bytes.starts_with(&[0x1f, 0x8b]) {
        // Some reporters (Mimecast) end the file with a line break after
        // the gzip member; read as a further member it is an error, so the
        // first member alone is the report then.
        bounded(flate2::read::MultiGzDecoder::new(bytes))
            .or_else(|| bounded(flate2::read::GzDecoder::new(bytes)))
    } else if bytes.starts_with(b"PK\x03\x04") {
        let mut archive = zip::ZipArchive::new(Cursor::new(bytes)).ok()?;
        for i in 0..archive.len().min(MAX_ZIP_ENTRIES) {
            let entry = archive.by_index(i).ok()?;
            let name = entry.name().ok()?.to_ascii_lowercase();
            if entry.is_file()
                && (name.ends_with(".xml") || name.ends_with(".json"))
                && entry.size() <= MAX_DECOMPRESSED
            {
                return bounded(entry);
            }
        }
        None
    } else if bytes.len() as u64 <= MAX_DECOMPRESSED {
        Some(bytes.to_vec())
    } else {
        None
    }
}

/// Reads at most [`MAX_DECOMPRESSED`] bytes; more means no report.
fn bounded(reader: impl Read) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    reader
        .take(MAX_DECOMPRESSED + 1)
        .read_to_end(&mut out)
        .ok()?;
    (out.len() as u64 <= MAX_DECOMPRESSED).then_some(out)
}

fn field(s: &str) -> Option<String> {
    let s = s.split_whitespace().collect::<Vec<_>>().join(" ");
    (!s.is_empty()).then(|| s.chars().take(MAX_FIELD_CHARS).collect())
}

fn epoch(s: &str) -> Option<String> {
    let t: i64 = s.trim().parse().ok()?;
    DateTime::<Utc>::from_timestamp(t, 0).map(|d| d.format("%Y-%m-%dT%H:%M:%SZ").to_string())
}

fn rfc3339(s: &str) -> Option<String> {
    DateTime::parse_from_rfc3339(s.trim()).ok().map(|d| {
        d.with_timezone(&Utc)
            .format("%Y-%m-%dT%H:%M:%SZ")
            .to_string()
    })
}

/// The first child element of `n` called `name`.
fn child<'a, 'i>(n: roxmltree::Node<'a, 'i>, name: &str) -> Option<roxmltree::Node<'a, 'i>> {
    n.children()
        .find(|c| c.is_element() && c.tag_name().name() == name)
}

/// A DMARC aggregate report: `<feedback>` (RFC 7489 appendix C). A row
/// passes when DKIM or SPF passed in `policy_evaluated` (DMARC's own
/// verdict), and counts `count` messages.
fn dmarc(xml: &str) -> Option<AggregateReport> {
    let doc = roxmltree::Document::parse(xml).ok()?;
    let root = doc.root_element();
    if !root.tag_name().name().eq_ignore_ascii_case("feedback") {
        return None;
    }
    let text = |n: Option<roxmltree::Node<'_, '_>>| n.and_then(|n| n.text()).and_then(field);
    let meta = child(root, "report_metadata");
    let range = meta.and_then(|m| child(m, "date_range"));
    let mut report = AggregateReport {
        kind: "dmarc".into(),
        organization: text(meta.and_then(|m| child(m, "org_name"))),
        report_id: text(meta.and_then(|m| child(m, "report_id"))),
        policy_domain: text(child(root, "policy_published").and_then(|p| child(p, "domain"))),
        begin: text(range.and_then(|r| child(r, "begin"))).and_then(|t| epoch(&t)),
        end: text(range.and_then(|r| child(r, "end"))).and_then(|t| epoch(&t)),
        pass: 0,
        fail: 0,
    };
    for record in root
        .children()
        .filter(|c| c.is_element() && c.tag_name().name() == "record")
    {
        let Some(row) = child(record, "row") else {
            continue;
        };
        let count: u64 = text(child(row, "count"))
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let evaluated = child(row, "policy_evaluated");
        let passed = ["dkim", "spf"].iter().any(|m| {
            text(evaluated.and_then(|e| child(e, m)))
                .is_some_and(|v| v.eq_ignore_ascii_case("pass"))
        });
        if passed {
            report.pass = report.pass.saturating_add(count);
        } else {
            report.fail = report.fail.saturating_add(count);
        }
    }
    Some(report)
}

/// An SMTP TLS report (RFC 8460 section 4): sessions that succeeded and
/// failed, summed over its policies.
fn tlsrpt(json: &str) -> Option<AggregateReport> {
    let doc: serde_json::Value = serde_json::from_str(json).ok()?;
    let policies = doc.get("policies")?.as_array()?;
    let text = |v: Option<&serde_json::Value>| v.and_then(|v| v.as_str()).and_then(field);
    let range = doc.get("date-range");
    let mut report = AggregateReport {
        kind: "tlsrpt".into(),
        organization: text(doc.get("organization-name")),
        report_id: text(doc.get("report-id")),
        policy_domain: None,
        begin: text(range.and_then(|r| r.get("start-datetime"))).and_then(|t| rfc3339(&t)),
        end: text(range.and_then(|r| r.get("end-datetime"))).and_then(|t| rfc3339(&t)),
        pass: 0,
        fail: 0,
    };
    for p in policies {
        if report.policy_domain.is_none() {
            report.policy_domain = text(p.get("policy").and_then(|p| p.get("policy-domain")));
        }
        let summary = p.get("summary");
        let count = |name: &str| {
            summary
                .and_then(|s| s.get(name))
                .and_then(|c| c.as_u64())
                .unwrap_or(0)
        };
        report.pass = report
            .pass
            .saturating_add(count("total-successful-session-count"));
        report.fail = report
            .fail
            .saturating_add(count("total-failure-session-count"));
    }
    Some(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    const XML: &str = r#"<?xml version="1.0" encoding="UTF-8" ?>
<feedback>
  <report_metadata><org_name>mail.example.net</org_name><report_id>r-1</report_id>
    <date_range><begin>1700000000</begin><end>1700086399</end></date_range></report_metadata>
  <policy_published><domain>example.org</domain><p>none</p></policy_published>
  <record><row><source_ip>192.0.2.1</source_ip><count>3</count>
    <policy_evaluated><disposition>none</disposition><dkim>pass</dkim><spf>fail</spf></policy_evaluated></row></record>
  <record><row><source_ip>198.51.100.7</source_ip><count>2</count>
    <policy_evaluated><disposition>reject</disposition><dkim>fail</dkim><spf>fail</spf></policy_evaluated></row></record>
</feedback>"#;

    #[test]
    fn reads_dmarc_bare_and_gzip() {
        let r = read(XML.as_bytes()).unwrap();
        assert_eq!(r.kind, "dmarc");
        assert_eq!(r.organization.as_deref(), Some("mail.example.net"));
        assert_eq!(r.policy_domain.as_deref(), Some("example.org"));
        assert_eq!(r.begin.as_deref(), Some("2023-11-14T22:13:20Z"));
        assert_eq!((r.pass, r.fail), (3, 2));
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(XML.as_bytes()).unwrap();
        assert_eq!(read(&gz.finish().unwrap()), Some(r));
    }

    #[test]
    fn a_gzip_member_with_trailing_bytes_is_read() {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(XML.as_bytes()).unwrap();
        let mut bytes = gz.finish().unwrap();
        bytes.extend_from_slice(b"\r\n");
        assert_eq!(read(&bytes), read(XML.as_bytes()));
        assert!(read(&bytes).is_some());
    }

    #[test]
    fn a_gzip_bomb_is_no_report() {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        gz.write_all(b"<feedback>").unwrap();
        let zeros = vec![b' '; 1 << 20];
        for _ in 0..17 {
            gz.write_all(&zeros).unwrap();
        }
        gz.write_all(b"</feedback>").unwrap();
        let bytes = gz.finish().unwrap();
        assert!(bytes.len() < 200_000);
        assert_eq!(read(&bytes), None);
    }

    #[test]
    fn candidates_by_type_and_name() {
        assert!(is_candidate("application", "tlsrpt", None));
        assert!(is_candidate("application", "tlsrpt+gzip", None));
        assert!(is_candidate(
            "application",
            "octet-stream",
            Some("r.xml.gz")
        ));
        assert!(!is_candidate("application", "octet-stream", Some("r.pdf")));
        assert!(!is_candidate("text", "plain", None));
    }

    #[test]
    fn reads_tlsrpt() {
        let json = r#"{"organization-name":"Company-X","date-range":{"start-datetime":"2016-04-01T00:00:00Z","end-datetime":"2016-04-01T23:59:59Z"},"contact-info":"sts-reporting@company-x.example","report-id":"5065427c-23d3","policies":[{"policy":{"policy-type":"sts","policy-domain":"example.org"},"summary":{"total-successful-session-count":5326,"total-failure-session-count":303}}]}"#;
        let r = read(json.as_bytes()).unwrap();
        assert_eq!(r.kind, "tlsrpt");
        assert_eq!(r.policy_domain.as_deref(), Some("example.org"));
        assert_eq!((r.pass, r.fail), (5326, 303));
        assert_eq!(r.end.as_deref(), Some("2016-04-01T23:59:59Z"));
    }

    #[test]
    fn other_bytes_are_no_report() {
        for b in [
            &b""[..],
            b"<html></html>",
            b"{}",
            b"PK\x03\x04garbage",
            b"\x1f\x8bgarbage",
        ] {
            assert_eq!(read(b), None);
        }
    }
}
