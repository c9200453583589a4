use bounce_tools::classify::rules::RuleSet;
use bounce_tools::classify::{Classifier, Options, report};
use bounce_tools::input::RawMessage;
use std::time::Instant;
fn main() {
    let files: Vec<Vec<u8>> = std::env::args()
        .skip(1)
        .map(|p| std::fs::read(p).unwrap())
        .collect();
    let t = Instant::now();
    for _ in 0..5 {
        for f in &files {
            let _ = report::analyze(f, "X-Subscriber-Id");
        }
    }
    let a = t.elapsed();
    let rs = RuleSet::builtin();
    let t = Instant::now();
    let mut n = 0;
    for _ in 0..5 {
        for f in &files {
            let r = report::analyze(f, "X-Subscriber-Id");
            let m = rs.message_matches(&r);
            n += m_len(&m);
        }
    }
    let b = t.elapsed();
    let c = Classifier::new(RuleSet::builtin(), Options::default());
    let t = Instant::now();
    for _ in 0..5 {
        for f in &files {
            let _ = c.classify(&RawMessage {
                bytes: f.clone(),
                ..Default::default()
            });
        }
    }
    let d = t.elapsed();
    println!(
        "{} msgs x5: analyze {:?}, +message_matches {:?}, classify {:?} {n}",
        files.len(),
        a,
        b,
        d
    );
}
fn m_len(_m: &bounce_tools::classify::rules::Matches) -> usize {
    1
}
