//! Any text as a search query: segmenting it never panics, every term is
//! a non-empty run of non-empty words without spaces (the databases'
//! query syntax is built from them), and every word of the query is a
//! word of the same text indexed as a document — so a ticket is always
//! found by searching its own words.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let document = kefu_app::search::document(text);
    let indexed: std::collections::HashSet<&str> = document.split(' ').collect();
    for term in kefu_app::search::query(text) {
        assert!(!term.is_empty());
        for word in &term {
            assert!(!word.is_empty(), "an empty word in {text:?}");
            assert!(
                !word.contains(char::is_whitespace),
                "{word:?} from {text:?}"
            );
            assert!(
                indexed.contains(word.as_str()),
                "{word:?} from {text:?} is not in the document {document:?}"
            );
        }
    }
});
