//! Full-text search terms for Chinese and English text.
//!
//! The databases' own full-text engines (SQLite FTS5, PostgreSQL tsvector
//! with GIN) index words separated by spaces; neither can find word
//! boundaries in Chinese. So Kefu segments text here, the same way for the
//! documents it indexes and for the queries people type: Chinese runs are
//! cut into words with jieba (documents in search mode, which also keeps the
//! shorter words inside long ones), Latin words are lower-cased and stemmed
//! (Porter 2), digits kept whole. `宽带` then finds `宽带无法上网` because
//! both hold the word 宽带, and not `宽度` just because it shares 宽.
//! Because the index is a table written in the same transaction as the
//! ticket, it can never disagree with the data after a crash.

use jieba_rs::Jieba;
use rust_stemmers::{Algorithm, Stemmer};
use std::sync::OnceLock;

fn jieba() -> &'static Jieba {
    static JIEBA: OnceLock<Jieba> = OnceLock::new();
    JIEBA.get_or_init(Jieba::new)
}

fn stemmer() -> &'static Stemmer {
    static STEMMER: OnceLock<Stemmer> = OnceLock::new();
    STEMMER.get_or_init(|| Stemmer::create(Algorithm::English))
}

/// Loads the dictionary ahead of the first search (it takes a few hundred
/// milliseconds), so no request pays for it.
pub fn warm_up() {
    let _ = jieba();
}

fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF | 0x20000..=0x2FA1F | 0x3040..=0x30FF)
}

/// Full-width ASCII (ＡＢＣ１２３) as the half-width characters it means.
fn half_width(c: char) -> char {
    match c as u32 {
        0xFF01..=0xFF5E => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
        0x3000 => ' ',
        _ => c,
    }
}

/// Words too common to narrow a search; dropped from queries only.
const STOP_WORDS: [&str; 14] = [
    "的", "了", "是", "在", "和", "我", "你", "吗", "呢", "吧", "the", "a", "an", "of",
];

#[derive(PartialEq)]
enum Run {
    Cjk,
    Word,
}

/// Splits text into runs of Chinese and of letters/digits; everything
/// else separates.
fn runs(text: &str) -> Vec<(Run, String)> {
    let mut out: Vec<(Run, String)> = Vec::new();
    for c in text.chars().map(half_width) {
        let kind = if is_cjk(c) {
            Run::Cjk
        } else if c.is_alphanumeric() {
            Run::Word
        } else {
            if out.last().is_some_and(|(_, s)| !s.is_empty()) {
                out.push((Run::Word, String::new()));
            }
            continue;
        };
        match out.last_mut() {
            Some((k, s)) if *k == kind || s.is_empty() => {
                *k = kind;
                s.push(c);
            }
            _ => out.push((kind, c.to_string())),
        }
    }
    out.retain(|(_, s)| !s.is_empty());
    out
}

fn latin_term(word: &str) -> String {
    let lower = word.to_lowercase();
    if lower.chars().all(|c| c.is_ascii_alphabetic()) {
        stemmer().stem(&lower).into_owned()
    } else {
        lower
    }
}

/// The terms of a document, space-separated, as the index stores them.
pub fn document(text: &str) -> String {
    let mut terms: Vec<String> = Vec::new();
    for (kind, run) in runs(text) {
        match kind {
            Run::Cjk => terms.extend(
                jieba()
                    .cut_for_search(&run, false)
                    .into_iter()
                    .map(str::to_owned),
            ),
            Run::Word => terms.push(latin_term(&run)),
        }
    }
    terms.join(" ")
}

/// What a query must match: each entry is a word, or a phrase of words
/// that must stand next to each other. Chinese the dictionary does not know
/// (光猫, a product name) is cut into single characters in documents and
/// queries alike; requiring them in sequence keeps 光猫 from matching any
/// text that merely holds 光 and 猫. Empty when the query holds no word.
pub fn query(text: &str) -> Vec<Vec<String>> {
    let mut out: Vec<Vec<String>> = Vec::new();
    let mut push = |term: Vec<String>| {
        let stop = term.len() == 1 && STOP_WORDS.contains(&term[0].as_str());
        if !term.is_empty() && !stop && !out.contains(&term) {
            out.push(term);
        }
    };
    for (kind, run) in runs(text) {
        match kind {
            Run::Cjk => {
                let mut letters: Vec<String> = Vec::new();
                for word in jieba().cut(&run, false) {
                    if word.chars().count() == 1 && !STOP_WORDS.contains(&word) {
                        letters.push(word.to_owned());
                        continue;
                    }
                    push(std::mem::take(&mut letters));
                    push(vec![word.to_owned()]);
                }
                push(letters);
            }
            Run::Word => push(vec![latin_term(&run)]),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn has(document: &str, term: &str) -> bool {
        document.split(' ').any(|t| t == term)
    }

    #[test]
    fn chinese_is_cut_into_words() {
        let doc = document("宽带无法上网，光猫LOS灯闪红");
        assert!(has(&doc, "宽带"), "{doc}");
        assert!(has(&doc, "上网"), "{doc}");
        assert!(has(&doc, "los"), "{doc}");
        assert!(!has(&doc, "宽"), "{doc}");
        assert_eq!(query("宽带"), vec![vec!["宽带"]]);
        assert_eq!(query("宽带的问题"), vec![vec!["宽带"], vec!["问题"]]);
        // Words the dictionary lacks must appear in sequence.
        let unknown = query("光猫");
        assert!(unknown.len() == 1, "{unknown:?}");
        let doc = document("光猫红灯");
        let phrase = unknown[0].join(" ");
        assert!(doc.contains(&phrase), "{doc} / {phrase}");
    }

    #[test]
    fn english_is_lower_cased_and_stemmed() {
        let doc = document("The modem keeps Disconnecting; connections dropped");
        assert!(has(&doc, "disconnect"), "{doc}");
        assert!(has(&doc, "connect"), "{doc}");
        assert_eq!(query("Connection"), vec![vec!["connect"]]);
        assert_eq!(query("the MODEMS"), vec![vec!["modem"]]);
    }

    #[test]
    fn mixed_text_numbers_and_full_width_characters() {
        let doc = document("订单１２３４５ 5G套餐 iPhone15");
        assert!(has(&doc, "12345"), "{doc}");
        assert!(has(&doc, "5g"), "{doc}");
        assert!(has(&doc, "套餐"), "{doc}");
        assert!(has(&doc, "iphone15"), "{doc}");
        assert!(query("  ，。!? ").is_empty());
    }
}
