//! Attacker-controlled text made safe for a terminal: bounce messages are
//! written by strangers, and the summary, warnings and errors that quote
//! them go to a person's terminal.

/// Escapes control characters so that attacker-controlled text cannot move
/// the cursor or recolour the terminal that reads the summary.
pub(crate) fn printable(s: &str) -> String {
    if s.chars().any(|c| c.is_control()) {
        s.escape_debug().to_string()
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::printable;

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(printable("a@b.example"), "a@b.example");
        assert_eq!(printable("é ü"), "é ü");
        assert_eq!(printable("a\x1b[31mb\n"), "a\\u{1b}[31mb\\n");
    }
}
