//! The report as one self-contained HTML page (breport(1), `--html`):
//! inline CSS and SVG charts, no scripts, no fetches, light and dark, narrow
//! screens. The page is a minijinja template (`report.html`) with HTML
//! escaping on for every value; the charts' geometry is worked out here, so
//! the template only places rectangles and labels.

use super::Error;
use super::summary::Summary;
use super::text::percent;
use minijinja::{AutoEscape, Environment, context};
use serde::Serialize;

const TEMPLATE: &str = include_str!("report.html");

/// Width of every chart's drawing, in SVG units (it scales to the page).
const WIDTH: f64 = 720.0;
/// Height of the plot area of the chart over time.
const DAYS_HEIGHT: f64 = 200.0;
/// Categories drawn with their own colour over time (all of them); the
/// rest would be "other".
const STACKED: usize = 16;
/// Height of one bar of a bar chart, and the gap below it.
const BAR: f64 = 18.0;
const BAR_GAP: f64 = 6.0;
/// Left margin of a bar chart, for its labels.
const LABEL: f64 = 230.0;
/// Bars of the reasons chart.
const REASON_BARS: usize = 12;

#[derive(Serialize)]
struct Segment {
    y: f64,
    h: f64,
    class: &'static str,
    title: String,
}

#[derive(Serialize)]
struct Column {
    x: f64,
    w: f64,
    segments: Vec<Segment>,
}

#[derive(Serialize)]
struct Bar {
    y: f64,
    w: f64,
    label: String,
    value: String,
    title: String,
    class: String,
}

#[derive(Serialize)]
struct Tick {
    y: f64,
    label: String,
}

#[derive(Serialize)]
struct LegendItem {
    class: &'static str,
    name: &'static str,
}

/// A category's colour class: the category itself for the ones drawn, or
/// `other`.
fn class_of(name: &'static str, drawn: &[&'static str]) -> &'static str {
    if drawn.contains(&name) { name } else { "other" }
}

fn bars<'a>(items: impl Iterator<Item = (String, u64, String, String)> + 'a) -> (Vec<Bar>, f64) {
    let items: Vec<_> = items.collect();
    let max = items.iter().map(|i| i.1).max().unwrap_or(0).max(1) as f64;
    let bars: Vec<Bar> = items
        .into_iter()
        .enumerate()
        .map(|(i, (label, n, title, class))| Bar {
            y: i as f64 * (BAR + BAR_GAP),
            w: ((WIDTH - LABEL - 70.0) * n as f64 / max).max(1.0),
            value: n.to_string(),
            label: shorten(&label, 34),
            title,
            class,
        })
        .collect();
    let h = bars.len() as f64 * (BAR + BAR_GAP);
    (bars, h.max(BAR))
}

/// At most `n` characters, with an ellipsis when cut.
fn shorten(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(n - 1).collect();
        t.push('…');
        t
    }
}

/// Writes the page for `s`.
pub fn render(s: &Summary, generated: &str) -> Result<String, Error> {
    // The categories over time: the most frequent drawn, the rest "other".
    let drawn: Vec<&'static str> = s.categories.iter().take(STACKED).map(|r| r.name).collect();
    let mut legend: Vec<LegendItem> = drawn
        .iter()
        .map(|n| LegendItem { class: n, name: n })
        .collect();
    if s.categories.len() > STACKED {
        legend.push(LegendItem {
            class: "other",
            name: "other",
        });
    }
    let max_day = s.days.iter().map(|d| d.records).max().unwrap_or(0).max(1) as f64;
    let n = s.days.len().max(1) as f64;
    let step = WIDTH / n;
    let columns: Vec<Column> = s
        .days
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let mut y = DAYS_HEIGHT;
            let mut segments: Vec<Segment> = Vec::new();
            let mut other = 0u64;
            for r in &s.categories {
                let count = d.categories.get(r.name).copied().unwrap_or(0);
                if count == 0 {
                    continue;
                }
                if class_of(r.name, &drawn) == "other" {
                    other += count;
                    continue;
                }
                let h = DAYS_HEIGHT * count as f64 / max_day;
                y -= h;
                segments.push(Segment {
                    y,
                    h,
                    class: r.name,
                    title: format!("{}: {count} {}", d.day, r.name),
                });
            }
            if other > 0 {
                let h = DAYS_HEIGHT * other as f64 / max_day;
                y -= h;
                segments.push(Segment {
                    y,
                    h,
                    class: "other",
                    title: format!("{}: {other} other", d.day),
                });
            }
            Column {
                x: i as f64 * step + step * 0.1,
                w: (step * 0.8).max(0.5),
                segments,
            }
        })
        .collect();
    let ticks: Vec<Tick> = [0.0, 0.5, 1.0]
        .iter()
        .map(|f| Tick {
            y: DAYS_HEIGHT - DAYS_HEIGHT * f,
            label: format!("{:.0}", max_day * f),
        })
        .collect();
    let (domain_bars, domains_height) = bars(s.domains.iter().map(|d| {
        (
            d.domain.clone(),
            d.failures,
            format!(
                "{}: {} failures ({} hard, {} soft, {} blocked), mostly {}",
                d.domain, d.failures, d.hard, d.soft, d.blocked, d.reason
            ),
            if d.blocked * 2 > d.failures {
                "blocked"
            } else {
                "failures"
            }
            .to_string(),
        )
    }));
    let (reason_bars, reasons_height) = bars(s.reasons.iter().take(REASON_BARS).map(|r| {
        let cat = r
            .name
            .parse::<crate::record::Reason>()
            .map(|x| x.default_category().as_str())
            .unwrap_or("other");
        (
            r.name.to_string(),
            r.count,
            format!("{}: {} records ({})", r.name, r.count, percent(r.share)),
            cat.to_string(),
        )
    }));
    let first_label = s.days.first().map(|d| d.day.clone()).unwrap_or_default();
    let last_label = s.days.last().map(|d| d.day.clone()).unwrap_or_default();
    let mut env = Environment::new();
    env.set_auto_escape_callback(|_| AutoEscape::Html);
    env.add_template("report.html", TEMPLATE)
        .map_err(|e| Error::Template(e.to_string()))?;
    let tmpl = env
        .get_template("report.html")
        .map_err(|e| Error::Template(e.to_string()))?;
    let pct = |f: f64| percent(f);
    tmpl.render(context! {
        s => s,
        generated => generated,
        blocked_share => pct(s.sender_side.share_of_failures),
        categories => s.categories.iter().map(|r| (r.name, r.count, pct(r.share))).collect::<Vec<_>>(),
        reasons => s.reasons.iter().map(|r| (r.name, r.count, pct(r.share))).collect::<Vec<_>>(),
        width => WIDTH,
        label => LABEL,
        days_height => DAYS_HEIGHT,
        columns => columns,
        ticks => ticks,
        legend => legend,
        first_label => first_label,
        last_label => last_label,
        domain_bars => domain_bars,
        domains_height => domains_height,
        reason_bars => reason_bars,
        reasons_height => reasons_height,
        bar => BAR,
        fired => s.alerts.iter().filter(|a| a.fired).map(|a| a.message()).collect::<Vec<_>>(),
    })
    .map_err(|e| Error::Template(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{DayRange, Limits, Options, summarise};

    /// Strangers' text in domains and diagnostics comes out as text: no
    /// element, attribute or URL of theirs reaches the page.
    #[test]
    fn values_are_escaped() {
        let mut input = String::new();
        for i in 0..5 {
            input.push_str(&format!(
                r#"{{"v":1,"category":"blocked","reason":"blocked","rule":"r","date":"2026-11-02T00:00:00Z","recipient":"a{i}@x\"><script>alert(1)</script>.example","diagnostic":"550 <img src=http://fetch.example/x onerror=alert(1)> & \"quoted\""}}"#
            ));
            input.push('\n');
        }
        let opts = Options {
            inputs: Vec::new(),
            range: DayRange::default(),
            limits: Limits {
                min_count: 1,
                top: 10,
            },
            alerts: vec!["domain:blocked>1%".parse().unwrap()],
        };
        let s = summarise(&opts, &mut input.as_bytes()).unwrap();
        let page = render(&s, "now").unwrap();
        assert!(!page.contains("<script"), "a script element from a record");
        assert!(!page.contains("<img"), "an img element from a record");
        assert!(page.contains("&lt;script&gt;"), "the domain is not shown");
        assert!(page.contains("&lt;img"), "the diagnostic is not shown");
        assert!(
            !page.contains("http://fetch.example"),
            "a URL of theirs unescaped"
        );
        assert_eq!(page.matches("class=\"domain-bar").count(), s.domains.len());
    }
}
