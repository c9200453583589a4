//! A notice's HTML part as text.

/// The text of an HTML part, its table rows and cells kept apart.
pub(super) fn to_text(html: &str) -> String {
    mail_parser::decoders::html::html_to_text(&with_line_breaks(html))
}

/// The markup with a line break before each row, paragraph, list item or
/// table, and a non-breaking space before each cell: the converter runs a table's
/// cells together ("x@y.ruОтвет сервера:"), and a notice's recipient and
/// reason often stand in a table.
fn with_line_breaks(html: &str) -> String {
    const BLOCKS: [&str; 5] = ["tr", "p", "div", "li", "table"];
    let mut out = String::with_capacity(html.len() + html.len() / 16);
    let mut last = 0;
    for (at, _) in html.match_indices('<') {
        let rest = &html.as_bytes()[at + 1..];
        let name_len = rest
            .iter()
            .take_while(|b| b.is_ascii_alphanumeric())
            .count();
        let name = &rest[..name_len];
        // The converter keeps what a browser shows: a break or a
        // non-breaking space, not white space between tags.
        let sep = if BLOCKS
            .iter()
            .any(|b| b.as_bytes().eq_ignore_ascii_case(name))
        {
            "<br>"
        } else if name.eq_ignore_ascii_case(b"td") || name.eq_ignore_ascii_case(b"th") {
            "&nbsp;"
        } else {
            continue;
        };
        out.push_str(&html[last..at]);
        out.push_str(sep);
        last = at;
    }
    out.push_str(&html[last..]);
    out
}

/// Whether a text/html part holds markup: a closing tag, a comment or
/// doctype, or a common element ("<user@host>" in a notice is none).
pub(super) fn looks_like_html(text: &str) -> bool {
    const ELEMENTS: [&str; 12] = [
        "html", "head", "body", "p", "br", "div", "span", "table", "tr", "td", "font", "pre",
    ];
    text.match_indices('<').any(|(at, _)| {
        let rest = &text.as_bytes()[at + 1..];
        if matches!(rest.first(), Some(b'/' | b'!')) {
            return true;
        }
        let name_len = rest
            .iter()
            .take_while(|b| b.is_ascii_alphanumeric())
            .count();
        let ends = rest
            .get(name_len)
            .is_some_and(|b| matches!(b, b'>' | b'/') || b.is_ascii_whitespace());
        ends && ELEMENTS
            .iter()
            .any(|e| e.as_bytes().eq_ignore_ascii_case(&rest[..name_len]))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_cells_and_rows_stay_apart_in_html_text() {
        let html = "<table><tr><td>To</td><td>a@b.ru</td></tr><TR><td>Reply</td></tr></table>";
        assert_eq!(
            with_line_breaks(html),
            "<br><table><br><tr>&nbsp;<td>To</td>&nbsp;<td>a@b.ru</td></tr><br><TR>&nbsp;<td>Reply</td></tr></table>"
        );
        let text = mail_parser::decoders::html::html_to_text(&with_line_breaks(html));
        assert!(text.contains("a@b.ru\n"), "{text:?}");
    }
}
