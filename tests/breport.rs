//! breport, run as the real binary: its counts against an independent
//! count of the same records (the bundled fixtures through bclassify, and
//! a generated set), alerts and exit codes, errors, and the HTML page in a
//! real headless Chromium (no console errors, no network requests, a
//! screenshot that is not blank, one bar per top domain).

use crate::support::{self, Run, find_program, repo_root, run, skip};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

const BRE: &str = env!("CARGO_BIN_EXE_breport");

fn breport(args: &[&str], stdin: Option<&[u8]>, dir: &Path) -> Run {
    run(BRE, args, stdin, dir)
}

/// One record as bclassify writes it (the fields breport reads, and a few it
/// does not).
fn record(recipient: Option<&str>, category: &str, reason: &str, date: &str, diag: &str) -> String {
    json!({
        "v": 1, "source": {"path": "t.mbox", "index": 0}, "message_id": null,
        "date": date, "recipient": recipient, "category": category, "reason": reason,
        "bounce": null, "action": "failed", "status": null, "smtp_code": null,
        "diagnostic": diag, "remote_mta": null, "reporting_mta": null, "mta": null,
        "rule": "test", "evidence": null, "feedback_type": null, "new_address": null,
        "subscriber": null, "original": {}
    })
    .to_string()
}

/// The bundled fixtures (fixtures/<category>/*.eml) through bclassify.
fn sample_records(dir: &Path) -> PathBuf {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(repo_root().join("fixtures")).unwrap() {
        let p = entry.unwrap().path();
        if p.is_dir() && p.file_name().unwrap() != "lab" {
            for f in std::fs::read_dir(&p).unwrap() {
                let f = f.unwrap().path();
                if f.extension().is_some_and(|e| e == "eml") {
                    files.push(f.display().to_string());
                }
            }
        }
    }
    files.sort();
    let args: Vec<&str> = files.iter().map(String::as_str).collect();
    let r = run(env!("CARGO_BIN_EXE_bclassify"), &args, None, dir);
    assert!(!r.out.stdout.is_empty(), "{r}");
    let path = dir.join("sample.jsonl");
    std::fs::write(&path, &r.out.stdout).unwrap();
    path
}

const FAILURES: &[&str] = &["hard", "soft", "blocked", "failed", "virus"];

/// What breport should say, counted here with serde_json alone.
struct Expected {
    records: u64,
    failures: u64,
    categories: BTreeMap<String, u64>,
    reasons: BTreeMap<String, u64>,
    /// Failures per receiving domain.
    domains: BTreeMap<String, u64>,
    /// Records per day.
    days: BTreeMap<String, u64>,
}

fn expected(jsonl: &str) -> Expected {
    let mut e = Expected {
        records: 0,
        failures: 0,
        categories: BTreeMap::new(),
        reasons: BTreeMap::new(),
        domains: BTreeMap::new(),
        days: BTreeMap::new(),
    };
    for line in jsonl.lines().filter(|l| !l.trim().is_empty()) {
        let v: Value = serde_json::from_str(line).unwrap();
        let cat = v["category"].as_str().unwrap().to_string();
        let failure = FAILURES.contains(&cat.as_str());
        e.records += 1;
        e.failures += u64::from(failure);
        *e.reasons
            .entry(v["reason"].as_str().unwrap().into())
            .or_default() += 1;
        *e.categories.entry(cat).or_default() += 1;
        if let Some(r) = v["recipient"].as_str()
            && failure
        {
            let domain = r.rsplit('@').next().unwrap().to_lowercase();
            *e.domains.entry(domain).or_default() += 1;
        }
        if let Some(d) = v["date"].as_str() {
            *e.days.entry(d[..10].to_string()).or_default() += 1;
        }
    }
    e
}

fn rows(v: &Value, key: &str) -> BTreeMap<String, u64> {
    v[key]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["name"].as_str().unwrap().to_string(),
                r["count"].as_u64().unwrap(),
            )
        })
        .collect()
}

fn check_counts(path: &Path, dir: &Path, min_count: u64) -> Value {
    let text = std::fs::read_to_string(path).unwrap();
    let e = expected(&text);
    let r = breport(
        &[
            path.to_str().unwrap(),
            "--json",
            "--min-count",
            &min_count.to_string(),
            "--top",
            "1000",
        ],
        None,
        dir,
    );
    r.expect_code(0);
    let v: Value = serde_json::from_str(&r.stdout()).unwrap_or_else(|err| panic!("{r}: {err}"));
    assert_eq!(v["records"], e.records, "{r}");
    assert_eq!(v["failures"], e.failures, "{r}");
    assert_eq!(rows(&v, "categories"), e.categories, "{r}");
    assert_eq!(rows(&v, "reasons"), e.reasons, "{r}");
    assert_eq!(
        v["sender_side"]["blocked"],
        e.categories.get("blocked").copied().unwrap_or(0)
    );
    let domains: BTreeMap<String, u64> = v["domains"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["domain"].as_str().unwrap().to_string(),
                d["failures"].as_u64().unwrap(),
            )
        })
        .collect();
    let past_floor: BTreeMap<String, u64> = e
        .domains
        .iter()
        .filter(|(_, n)| **n >= min_count)
        .map(|(d, n)| (d.clone(), *n))
        .collect();
    assert_eq!(domains, past_floor, "{r}");
    assert_eq!(
        v["domains_not_shown"],
        (e.domains.len() - past_floor.len()) as u64
    );
    let days: BTreeMap<String, u64> = v["days"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["day"].as_str().unwrap().to_string(),
                d["records"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(days, e.days, "{r}");
    v
}

#[test]
fn counts_of_the_bundled_sample_equal_an_independent_count() {
    let dir = tempfile::tempdir().unwrap();
    let sample = sample_records(dir.path());
    let v = check_counts(&sample, dir.path(), 2);
    assert!(v["records"].as_u64().unwrap() > 50, "{v}");
    // The text summary says the same totals, aligned.
    let r = breport(
        &[sample.to_str().unwrap(), "--color", "never"],
        None,
        dir.path(),
    );
    r.expect_code(0);
    let first = r.stdout().lines().next().unwrap().to_string();
    assert!(
        first.starts_with(&format!("{} records", v["records"])),
        "{r}"
    );
    assert!(!r.stdout().contains('\x1b'), "no colour with --color never");
    let r = breport(
        &[sample.to_str().unwrap(), "--color", "always"],
        None,
        dir.path(),
    );
    assert!(
        r.expect_code(0).stdout().contains("\x1b[1m"),
        "colour with --color always: {r}"
    );
    // Per table: only that table.
    let r = breport(
        &[sample.to_str().unwrap(), "--by", "category"],
        None,
        dir.path(),
    );
    let out = r.expect_code(0).stdout();
    assert!(out.starts_with("category"), "{r}");
    assert_eq!(out.lines().count(), rows(&v, "categories").len() + 1, "{r}");
    let widths: std::collections::BTreeSet<usize> =
        out.lines().map(|l| l.chars().count()).collect();
    assert_eq!(widths.len(), 1, "columns not aligned: {r}");
}

#[test]
fn counts_of_a_generated_set_equal_an_independent_count() {
    let dir = tempfile::tempdir().unwrap();
    let cats = [
        ("hard", "userunknown"),
        ("soft", "mailboxfull"),
        ("blocked", "blocked"),
        ("blocked", "spamdetected"),
        ("delivered", "delivered"),
        ("complaint", "feedback"),
        ("autoreply", "vacation"),
    ];
    let mut lines = Vec::new();
    for i in 0..3000u64 {
        let (c, r) = cats[(i * 7 + i / 5) as usize % cats.len()];
        let to = format!("user{i}@Host{}.Example.com", i % 13);
        let date = format!("2026-0{}-{:02}T{:02}:00:00Z", 1 + i % 3, 1 + i % 28, i % 24);
        let recipient = if i % 101 == 0 {
            None
        } else {
            Some(to.as_str())
        };
        lines.push(record(
            recipient,
            c,
            r,
            &date,
            &format!("550 5.7.1 <{to}> refused id {i}"),
        ));
    }
    let path = dir.path().join("gen.jsonl");
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    let v = check_counts(&path, dir.path(), 5);
    // One refusal to many addresses is one diagnostic.
    assert_eq!(
        v["diagnostics"][0]["text"], "550 5.7.1 <address> refused id #",
        "{v}"
    );
    assert_eq!(v["no_recipient"], 30);
    // --since/--until count exactly the records of those days.
    let r = breport(
        &[
            path.to_str().unwrap(),
            "--json",
            "--since",
            "2026-02-01",
            "--until",
            "2026-02-28",
        ],
        None,
        dir.path(),
    );
    let w: Value = serde_json::from_str(&r.expect_code(0).stdout()).unwrap();
    let in_feb = lines.iter().filter(|l| l.contains("\"2026-02-")).count() as u64;
    assert_eq!(w["records"], in_feb, "{r}");
    assert_eq!(w["left_out"], 3000 - in_feb, "{r}");
    // The same records on stdin, and through `-`.
    let bytes = std::fs::read(&path).unwrap();
    let r = breport(&["--json", "-"], Some(&bytes), dir.path());
    let x: Value = serde_json::from_str(&r.expect_code(0).stdout()).unwrap();
    assert_eq!(x["records"], 3000);
}

/// 100 records: `blocked` blocked ones, at blocked.example; the rest hard
/// at other.example.
fn alert_set(blocked: usize) -> Vec<u8> {
    let mut s = String::new();
    for i in 0..100 {
        let (to, c, r) = if i < blocked {
            (format!("b{i}@blocked.example"), "blocked", "blocked")
        } else {
            (format!("h{i}@other.example"), "hard", "userunknown")
        };
        s.push_str(&record(Some(&to), c, r, "2026-11-02T10:00:00Z", "550 no"));
        s.push('\n');
    }
    s.into_bytes()
}

#[test]
fn alerts_fire_past_their_threshold_and_exit_one() {
    let dir = tempfile::tempdir().unwrap();
    let eleven = alert_set(11);
    let r = breport(&["--alert", "blocked>10%"], Some(&eleven), dir.path());
    r.expect_code(1);
    let err = r.stderr();
    assert_eq!(err.lines().count(), 1, "one line per fired alert: {r}");
    assert!(
        err.starts_with("breport: alert blocked>10%: 11 of 100 records"),
        "{r}"
    );
    assert!(
        r.stdout().starts_with("100 records"),
        "the summary still comes: {r}"
    );

    let ten = alert_set(10);
    let r = breport(
        &["--alert", "blocked>10%", "--alert", "hard>95%"],
        Some(&ten),
        dir.path(),
    );
    r.expect_code(0);
    assert_eq!(r.stderr(), "", "{r}");

    // Two of three fire: two lines.
    let r = breport(
        &[
            "--alert",
            "blocked>10",
            "--alert",
            "complaint>0.1%",
            "--alert",
            "failures>99%",
        ],
        Some(&eleven),
        dir.path(),
    );
    r.expect_code(1);
    assert_eq!(r.stderr().lines().count(), 2, "{r}");

    // Per domain: blocked.example is all blocked, other.example none.
    let r = breport(
        &["--alert", "domain:blocked>30%"],
        Some(&eleven),
        dir.path(),
    );
    r.expect_code(1);
    assert!(
        r.stderr()
            .contains("blocked.example: 11 of 11 records (100.0%)"),
        "{r}"
    );
    assert!(!r.stderr().contains("other.example"), "{r}");
    // ... not below the floor: 3 failures are not a trend.
    let three = alert_set(3);
    breport(&["--alert", "domain:blocked>30%"], Some(&three), dir.path()).expect_code(0);
    breport(
        &["--alert", "domain:blocked>30%", "--min-count", "3"],
        Some(&three),
        dir.path(),
    )
    .expect_code(1);

    // --json carries the verdicts.
    let r = breport(
        &["--json", "--alert", "blocked>10%"],
        Some(&eleven),
        dir.path(),
    );
    let v: Value = serde_json::from_str(&r.expect_code(1).stdout()).unwrap();
    assert_eq!(v["alerts"][0]["fired"], true, "{r}");
}

#[test]
fn errors_name_the_input_and_exit_per_sysexits() {
    let dir = tempfile::tempdir().unwrap();
    let good = record(
        Some("a@example.com"),
        "hard",
        "userunknown",
        "2026-11-02T10:00:00Z",
        "x",
    );
    let r = breport(
        &["--alert", "blocked>>1"],
        Some(good.as_bytes()),
        dir.path(),
    );
    r.expect_code(64);
    assert!(r.stderr().contains("alert"), "{r}");
    breport(&["--since", "yesterday"], Some(good.as_bytes()), dir.path()).expect_code(64);
    let bad = format!("{good}\n{good}\n{{\"v\":1,\"category\":\"nonsense\"}}\n");
    std::fs::write(dir.path().join("bad.jsonl"), &bad).unwrap();
    let r = breport(&["bad.jsonl"], None, dir.path());
    r.expect_code(65);
    assert!(
        r.stderr().starts_with("breport: bad.jsonl: line 3: "),
        "{r}"
    );
    assert_eq!(r.stdout(), "", "nothing on stdout after an error: {r}");
    let r = breport(&["missing.jsonl"], None, dir.path());
    r.expect_code(66);
    assert!(r.stderr().contains("missing.jsonl"), "{r}");
    // Hostile text stays text: no terminal escapes from a diagnostic.
    let evil = record(
        Some("a@example.com"),
        "hard",
        "userunknown",
        "2026-11-02T10:00:00Z",
        "550 \u{1b}[31mred\u{7}",
    );
    let r = breport(&["--color", "never"], Some(evil.as_bytes()), dir.path());
    assert!(!r.expect_code(0).stdout().contains('\x1b'), "{r}");
}

// ---- the HTML page in a real browser -----------------------------------------

/// Requests that reached the proxy the browser was told to use.
struct Proxy {
    port: u16,
    seen: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl Proxy {
    fn start() -> Proxy {
        use std::io::Read;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let s = seen.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { break };
                let _ = conn.set_read_timeout(Some(std::time::Duration::from_secs(2)));
                let mut buf = [0u8; 512];
                let n = conn.read(&mut buf).unwrap_or(0);
                let line = String::from_utf8_lossy(&buf[..n])
                    .lines()
                    .next()
                    .unwrap_or("")
                    .to_string();
                s.lock().unwrap().push(line);
            }
        });
        Proxy { port, seen }
    }

    /// Requests other than Chromium's own background services.
    fn page_requests(&self) -> Vec<String> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|l| {
                let host = l.split_whitespace().nth(1).unwrap_or("");
                let host = host
                    .trim_start_matches("http://")
                    .trim_start_matches("https://");
                let host = host.split(['/', ':']).next().unwrap_or("");
                let own = [
                    ".google.com",
                    ".googleapis.com",
                    ".gstatic.com",
                    ".gvt1.com",
                    ".gvt2.com",
                ];
                !own.iter().any(|d| format!(".{host}").ends_with(d))
            })
            .cloned()
            .collect()
    }
}

/// Runs headless Chromium on `page` with `what` (`--dump-dom`,
/// `--screenshot=FILE`), every request through `proxy`; returns stdout and
/// stderr.
fn chromium(
    bin: &Path,
    page: &Path,
    what: &str,
    proxy: &Proxy,
    profile: &Path,
) -> (String, String) {
    let out = std::process::Command::new(bin)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-default-apps",
            "--hide-scrollbars",
            "--enable-logging=stderr",
            "--v=0",
            "--window-size=900,1600",
            &format!("--user-data-dir={}", profile.display()),
            &format!("--proxy-server=http://127.0.0.1:{}", proxy.port),
            "--proxy-bypass-list=<-loopback>",
            what,
        ])
        .arg(format!("file://{}", page.display()))
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn console_lines(stderr: &str) -> Vec<&str> {
    stderr.lines().filter(|l| l.contains(":CONSOLE")).collect()
}

/// Distinct colours of a PNG.
fn colours(png_path: &Path) -> usize {
    let decoder = png::Decoder::new(std::io::BufReader::new(
        std::fs::File::open(png_path).unwrap(),
    ));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    let px = info.color_type.samples();
    let mut set = std::collections::HashSet::new();
    for p in buf[..info.buffer_size()].chunks(px) {
        set.insert(p.to_vec());
        if set.len() > 100 {
            break;
        }
    }
    set.len()
}

#[test]
fn html_page_loads_in_chromium_without_errors_or_fetches() {
    let Some(bin) = find_program(&["chromium", "chromium-browser"]) else {
        skip("chromium");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let sample = sample_records(dir.path());
    // Hostile values: markup in a diagnostic and a domain must stay text.
    let mut input = std::fs::read(&sample).unwrap();
    for i in 0..6 {
        let evil = record(
            Some(&format!(
                "x{i}@evil<img src=http://fetch.example/d.png>.example"
            )),
            "blocked",
            "blocked",
            "2026-11-02T10:00:00Z",
            "<script>console.error('injected')</script><img src=\"http://fetch.example/x.png\">",
        );
        input.extend_from_slice(evil.as_bytes());
        input.push(b'\n');
    }
    std::fs::write(&sample, &input).unwrap();
    let page = dir.path().join("report.html");
    let r = breport(
        &[
            sample.to_str().unwrap(),
            "--html",
            page.to_str().unwrap(),
            "--json",
            "--min-count",
            "2",
        ],
        None,
        dir.path(),
    );
    let v: Value = serde_json::from_str(&r.expect_code(0).stdout()).unwrap();
    let top_domains = v["domains"].as_array().unwrap().len();
    assert!(top_domains >= 3, "{v}");

    // A control page shows that the checks can see a console error and a fetch.
    let proxy = Proxy::start();
    let control = dir.path().join("control.html");
    std::fs::write(
        &control,
        "<!DOCTYPE html><p>x</p><img src=\"http://fetch.example/c.png\"><script>console.error('control')</script>",
    )
    .unwrap();
    let (_, err) = chromium(&bin, &control, "--dump-dom", &proxy, &dir.path().join("p0"));
    assert!(
        !console_lines(&err).is_empty(),
        "the control's console error is not seen:\n{err}"
    );
    assert!(
        proxy
            .page_requests()
            .iter()
            .any(|l| l.contains("fetch.example")),
        "the control's fetch is not seen: {:?}",
        proxy.seen.lock().unwrap()
    );

    let proxy = Proxy::start();
    let (dom, err) = chromium(&bin, &page, "--dump-dom", &proxy, &dir.path().join("p1"));
    assert!(
        console_lines(&err).is_empty(),
        "console messages:\n{}",
        console_lines(&err).join("\n")
    );
    assert_eq!(
        dom.matches("class=\"domain-bar").count(),
        top_domains,
        "one bar per top domain"
    );
    assert!(dom.contains("<svg id=\"days\""), "no chart over time");
    assert!(dom.matches("class=\"reason-bar").count() >= 3);
    assert!(
        !dom.contains("<img"),
        "markup from a record became an element"
    );
    assert!(
        dom.contains("evil&lt;img"),
        "the hostile domain is shown as text"
    );
    let shot = dir.path().join("shot.png");
    let (_, err) = chromium(
        &bin,
        &page,
        &format!("--screenshot={}", shot.display()),
        &proxy,
        &dir.path().join("p2"),
    );
    assert!(console_lines(&err).is_empty(), "console messages:\n{err}");
    assert!(colours(&shot) > 10, "the screenshot is blank or nearly");
    assert_eq!(
        proxy.page_requests(),
        Vec::<String>::new(),
        "the page fetched something"
    );
}

#[test]
fn man_page_and_flags_agree() {
    let man = std::fs::read_to_string(support::repo_root().join("man/breport.1")).unwrap();
    let help = breport(&["--help"], None, Path::new(".")).stdout();
    let flags: Vec<String> = help
        .lines()
        .filter(|l| l.trim_start().starts_with('-'))
        .filter_map(|l| l.split_whitespace().find(|w| w.starts_with("--")))
        .map(|w| w.trim_end_matches(',').to_string())
        .filter(|f| f != "--help" && f != "--version")
        .collect();
    assert!(flags.len() >= 9, "{help}");
    for flag in &flags {
        assert!(
            man.contains(&format!("Fl {}", &flag[1..])),
            "breport.1 does not document {flag}"
        );
    }
    for word in man.split("Fl -").skip(1) {
        let flag = format!("--{}", word.split_whitespace().next().unwrap());
        assert!(
            flags.contains(&flag),
            "breport.1 documents {flag}, which breport does not have"
        );
    }
}
