use mail_parser::MimeHeaders;
fn main() {
    let path = std::env::args().nth(1).unwrap();
    let bytes = std::fs::read(path).unwrap();
    let p = mail_parser::MessageParser::new()
        .with_minimal_headers()
        .with_message_ids();
    let m = p.parse(&bytes).unwrap();
    for (i, part) in m.parts.iter().enumerate() {
        println!(
            "{i} {:?} {:?} len={}",
            part.content_type()
                .map(|c| (c.ctype().to_string(), c.subtype().map(|s| s.to_string()))),
            std::mem::discriminant(&part.body),
            part.contents().len()
        );
    }
}
