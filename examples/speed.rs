//! Per-message cost of each classification stage, single-threaded, on the
//! given files (after one warm-up pass): `cargo run --release --example
//! speed -- FILE...`.
use bounce_tools::classify::rules::RuleSet;
use bounce_tools::classify::{Classifier, Options, analyze};
use bounce_tools::stream::RawMessage;
use std::time::Instant;

fn per_message(files: usize, rounds: usize, f: impl Fn()) -> f64 {
    let t = Instant::now();
    for _ in 0..rounds {
        f();
    }
    t.elapsed().as_secs_f64() * 1e6 / (files * rounds) as f64
}

fn main() {
    let files: Vec<Vec<u8>> = std::env::args()
        .skip(1)
        .map(|p| std::fs::read(p).unwrap())
        .collect();
    let rounds = 10;
    let n = files.len();
    let classifier = Classifier::new(RuleSet::builtin(), Options::default());
    let messages: Vec<RawMessage> = files
        .iter()
        .map(|f| RawMessage {
            bytes: f.clone(),
            ..Default::default()
        })
        .collect();
    for m in &messages {
        classifier.classify(m);
    }
    let parse = per_message(n, rounds, || {
        for f in &files {
            std::hint::black_box(mail_parser::MessageParser::default().parse(f));
        }
    });
    let analyze = per_message(n, rounds, || {
        for f in &files {
            std::hint::black_box(analyze(f, "X-Subscriber-Id"));
        }
    });
    let classify = per_message(n, rounds, || {
        for m in &messages {
            std::hint::black_box(classifier.classify(m));
        }
    });
    println!(
        "{n} messages, µs per message: mail-parser {parse:.1}, analyze {analyze:.1}, classify {classify:.1} (rules {:.1})",
        classify - analyze
    );
}
