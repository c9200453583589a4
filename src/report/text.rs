//! The report as aligned text for a terminal or cron mail (breport(1),
//! OUTPUT). Domains and diagnostics are strangers' text: control
//! characters are escaped so that they cannot move the cursor or recolour
//! the terminal.

use super::Summary;
use std::io::{self, Write};

/// Which tables to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    All,
    Category,
    Reason,
    Domain,
    Day,
}

/// Colour or plain text.
#[derive(Debug, Clone, Copy)]
pub struct Style {
    pub color: bool,
}

impl Style {
    fn heading(&self, s: &str) -> String {
        if self.color {
            format!("\x1b[1m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    }
    fn alarm(&self, s: &str) -> String {
        if self.color {
            format!("\x1b[1;31m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    }
}

/// Control characters escaped.
pub(crate) fn printable(s: &str) -> String {
    if s.chars().any(char::is_control) {
        s.escape_debug().to_string()
    } else {
        s.to_string()
    }
}

/// A share (0 to 1) as a percentage with one decimal.
pub(crate) fn percent(share: f64) -> String {
    format!("{:.1}%", share * 100.0)
}

/// A table: a heading line, then the rows with columns padded to the
/// widest cell; the columns in `left` left-aligned, the others
/// right-aligned.
fn table(
    out: &mut dyn Write,
    style: Style,
    header: &[&str],
    left: &[usize],
    rows: &[Vec<String>],
) -> io::Result<()> {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: &[String]| -> String {
        let mut s = String::new();
        let last = cells.len() - 1;
        for (i, (c, w)) in cells.iter().zip(&widths).enumerate() {
            let pad = w.saturating_sub(c.chars().count());
            if i > 0 {
                s.push_str("  ");
            }
            if left.contains(&i) {
                s.push_str(c);
                if i < last {
                    s.extend(std::iter::repeat_n(' ', pad));
                }
            } else {
                s.extend(std::iter::repeat_n(' ', pad));
                s.push_str(c);
            }
        }
        s
    };
    let head: Vec<String> = header.iter().map(|h| h.to_string()).collect();
    writeln!(out, "{}", style.heading(&line(&head)))?;
    for r in rows {
        writeln!(out, "{}", line(r))?;
    }
    Ok(())
}

/// Writes the report, or one table of it.
pub fn write(out: &mut dyn Write, s: &Summary, section: Section, style: Style) -> io::Result<()> {
    let all = section == Section::All;
    if all {
        let period = match (&s.first_day, &s.last_day) {
            (Some(a), Some(b)) if a == b => format!(", {a}"),
            (Some(a), Some(b)) => format!(", {a} to {b}"),
            _ => String::new(),
        };
        writeln!(
            out,
            "{}",
            style.heading(&format!(
                "{} records{period}: {} delivery failures",
                s.records, s.failures
            ))
        )?;
        let mut notes = Vec::new();
        if s.left_out > 0 {
            notes.push(format!("{} outside --since/--until left out", s.left_out));
        }
        if s.undated > 0 {
            notes.push(format!("{} without a date", s.undated));
        }
        if s.no_recipient > 0 {
            notes.push(format!("{} without an address", s.no_recipient));
        }
        if !notes.is_empty() {
            writeln!(out, "({})", notes.join("; "))?;
        }
        let side = &s.sender_side;
        let line = format!(
            "Sender side: {} blocked, {} of failures; {} complaints; {} reports",
            side.blocked,
            percent(side.share_of_failures),
            side.complaint,
            side.report
        );
        writeln!(
            out,
            "{}",
            if side.blocked > 0 {
                style.alarm(&line)
            } else {
                line
            }
        )?;
    }
    let gap = |out: &mut dyn Write| if all { writeln!(out) } else { Ok(()) };
    if all || section == Section::Category {
        gap(out)?;
        let rows: Vec<Vec<String>> = s
            .categories
            .iter()
            .map(|r| vec![r.name.to_string(), r.count.to_string(), percent(r.share)])
            .collect();
        table(out, style, &["category", "records", "share"], &[0], &rows)?;
    }
    if all || section == Section::Reason {
        gap(out)?;
        let rows: Vec<Vec<String>> = s
            .reasons
            .iter()
            .map(|r| vec![r.name.to_string(), r.count.to_string(), percent(r.share)])
            .collect();
        table(out, style, &["reason", "records", "share"], &[0], &rows)?;
    }
    if all || section == Section::Domain {
        gap(out)?;
        let rows: Vec<Vec<String>> = s
            .domains
            .iter()
            .map(|d| {
                vec![
                    printable(&d.domain),
                    d.failures.to_string(),
                    d.hard.to_string(),
                    d.soft.to_string(),
                    d.blocked.to_string(),
                    format!("{} ({})", d.reason, d.reason_count),
                ]
            })
            .collect();
        let head = format!("domain (failures >= {})", s.min_count);
        table(
            out,
            style,
            &[&head, "failures", "hard", "soft", "blocked", "mostly"],
            &[0, 5],
            &rows,
        )?;
        if s.domains_not_shown > 0 {
            writeln!(
                out,
                "({} more domains with failures not shown)",
                s.domains_not_shown
            )?;
        }
    }
    if all || section == Section::Day {
        gap(out)?;
        // Columns for the categories that occur, most frequent first.
        let cats: Vec<&str> = s.categories.iter().map(|r| r.name).take(8).collect();
        let rows: Vec<Vec<String>> = s
            .days
            .iter()
            .map(|d| {
                let mut row = vec![d.day.clone(), d.records.to_string(), d.failures.to_string()];
                row.extend(
                    cats.iter()
                        .map(|c| d.categories.get(c).copied().unwrap_or(0).to_string()),
                );
                row
            })
            .collect();
        let mut head = vec!["day (UTC)", "records", "failures"];
        head.extend(&cats);
        table(out, style, &head, &[0], &rows)?;
    }
    if all {
        gap(out)?;
        let rows: Vec<Vec<String>> = s
            .diagnostics
            .iter()
            .map(|d| {
                vec![
                    d.count.to_string(),
                    d.category.to_string(),
                    printable(&d.text),
                ]
            })
            .collect();
        table(
            out,
            style,
            &["records", "category", "diagnostic (masked)"],
            &[1, 2],
            &rows,
        )?;
    }
    Ok(())
}
