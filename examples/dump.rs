fn main() {
    let path = std::env::args().nth(1).unwrap();
    let bytes = std::fs::read(path).unwrap();
    let r = bounce_tools::classify::analyze(&bytes, "X-Subscriber-Id");
    println!("{:#?}", r.deliveries);
    println!(
        "mta={:?} kind={} dsn={} body=\n{}",
        r.mta,
        r.kind(),
        r.has_dsn,
        &r.body[..r.body.len().min(1500)]
    );
}
