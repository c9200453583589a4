//! The project's fixture messages, for unit tests that check a shortcut
//! against the plain patterns on real report texts.

/// One fixture message.
pub(crate) struct Fixture {
    pub path: std::path::PathBuf,
    pub text: String,
}

/// The fixture messages, by category and name.
pub(crate) fn fixture_texts() -> Vec<Fixture> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
    let mut out = Vec::new();
    let mut categories: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    categories.sort();
    for category in categories {
        let mut files: Vec<_> = std::fs::read_dir(category)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "eml"))
            .collect();
        files.sort();
        for path in files {
            let text = String::from_utf8_lossy(&std::fs::read(&path).unwrap()).into_owned();
            out.push(Fixture { path, text });
        }
    }
    out
}
