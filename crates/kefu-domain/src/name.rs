//! How people's and companies' names are ordered and compared, the way a
//! Chinese service floor expects: Chinese characters by their pinyin, so
//! 王芳 sorts among the W's next to "Wang Fang", and names that sound the
//! same (王芳, 汪芳, "WANG Fang") are offered as possible duplicates.

use pinyin::ToPinyin;

/// Surnames whose family-name reading differs from the character's most
/// common reading (曾 is read zēng as a surname, not céng).
const SURNAME_READINGS: [(char, &str); 14] = [
    ('曾', "zeng"),
    ('单', "shan"),
    ('解', "xie"),
    ('区', "ou"),
    ('查', "zha"),
    ('仇', "qiu"),
    ('朴', "piao"),
    ('乐', "yue"),
    ('覃', "qin"),
    ('翟', "zhai"),
    ('盖', "ge"),
    ('缪', "miao"),
    ('召', "shao"),
    ('种', "chong"),
];

/// Separates the pinyin part of a sort key from the name it came from;
/// below every printable character, so a shorter name sorts first.
const KEY_SEPARATOR: char = '\u{1}';

/// The name's sounds: one pinyin syllable per Chinese character and one
/// word per run of other letters and digits, lower-cased; full-width
/// letters and digits count as their ASCII forms.
pub fn syllables(name: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut word = String::new();
    for (position, c) in name.chars().map(half_width).enumerate() {
        let reading = if position == 0 {
            SURNAME_READINGS
                .iter()
                .find(|(surname, _)| *surname == c)
                .map(|(_, reading)| *reading)
                .or_else(|| c.to_pinyin().map(|p| p.plain()))
        } else {
            c.to_pinyin().map(|p| p.plain())
        };
        if let Some(reading) = reading {
            if !word.is_empty() {
                out.push(std::mem::take(&mut word));
            }
            out.push(reading.to_owned());
        } else if c.is_alphanumeric() {
            word.extend(c.to_lowercase());
        } else if !word.is_empty() {
            out.push(std::mem::take(&mut word));
        }
    }
    if !word.is_empty() {
        out.push(word);
    }
    out
}

/// The key a list sorted by name is ordered by: the syllables, then the
/// name itself (lower-cased, spaces folded) so names that sound alike
/// still have a fixed order.
pub fn sort_key(name: &str) -> String {
    let folded = name
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase();
    let mut key = syllables(name).join(" ");
    key.push(KEY_SEPARATOR);
    key.push_str(&folded);
    key
}

/// What two names that sound the same share: their syllables run
/// together ("wangfang" for 王芳, 汪芳 and "Wang Fang").
pub fn sound_key(name: &str) -> String {
    syllables(name).concat()
}

fn half_width(c: char) -> char {
    match c {
        '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
        '\u{3000}' => ' ',
        _ => c,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn chinese_names_sort_by_pinyin_among_latin_ones() {
        let mut names = vec![
            "张伟",
            "Bob",
            "李娜",
            "王芳",
            "阿杰",
            "Alice",
            "Wang Fang",
            "李",
        ];
        names.sort_by_key(|n| sort_key(n));
        assert_eq!(
            names,
            [
                "阿杰",
                "Alice",
                "Bob",
                "李",
                "李娜",
                "Wang Fang",
                "王芳",
                "张伟"
            ]
        );
    }

    #[test]
    fn surnames_are_read_as_surnames() {
        assert_eq!(syllables("曾小贤"), ["zeng", "xiao", "xian"]);
        assert_eq!(syllables("单田芳"), ["shan", "tian", "fang"]);
        // Only the first character is a surname.
        assert_eq!(syllables("王曾")[1], "ceng");
    }

    #[test]
    fn names_that_sound_alike_share_a_sound_key() {
        let key = sound_key("王芳");
        assert_eq!(key, "wangfang");
        for same in ["汪芳", "Wang Fang", "WANG　FANG", "王 芳", "ｗａｎｇ fang"] {
            assert_eq!(sound_key(same), key, "{same}");
        }
        for other in ["王芬", "Wang Fan", "王芳芳"] {
            assert_ne!(sound_key(other), key, "{other}");
        }
    }

    #[test]
    fn mixed_names_keep_every_part() {
        assert_eq!(syllables("李 Lily（销售）"), ["li", "lily", "xiao", "shou"]);
        assert_eq!(syllables("ACME 3号"), ["acme", "3", "hao"]);
        assert_eq!(sound_key(""), "");
        assert!(sort_key("").starts_with(KEY_SEPARATOR));
    }

    proptest! {
        #[test]
        fn keys_are_lower_case_and_same_sounds_sort_together(name in "[a-zA-Z 王汪芳李娜曾]{0,12}") {
            let key = sort_key(&name);
            let (sounds, rest) = key.split_once(KEY_SEPARATOR).unwrap_or_default();
            prop_assert_eq!(sounds.replace(' ', ""), sound_key(&name));
            prop_assert_eq!(rest, rest.to_lowercase());
            prop_assert!(sounds.chars().all(|c| c == ' ' || c.is_ascii_lowercase()));
        }
    }
}
