//! Every `.dhi` example in docs/language.md parses.

#[test]
fn every_language_example_parses() {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/language.md")).unwrap();
    let mut examples = Vec::new();
    let mut current: Option<String> = None;
    for line in doc.lines() {
        match (&mut current, line.trim_start()) {
            (None, "```dhi") => current = Some(String::new()),
            (None, l) if l.starts_with("```") => current = Some("\u{0}skip".into()),
            (Some(_), "```") => {
                let block = current.take().unwrap();
                if !block.starts_with('\u{0}') {
                    examples.push(block);
                }
            }
            (Some(block), _) => {
                block.push_str(line);
                block.push('\n');
            }
            (None, _) => {}
        }
    }
    assert!(examples.len() >= 12, "found {} examples", examples.len());
    for (i, ex) in examples.iter().enumerate() {
        if let Err(d) = dhib::lang::syntax::parse("example.dhi", ex) {
            panic!("example {i} does not parse: {}\n{ex}", d.message);
        }
    }
}
