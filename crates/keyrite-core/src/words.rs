//! Bytes as words, for reading hashes aloud and comparing them across a room.
//!
//! One byte is one word from a fixed list of 256 short English words. Every word's first four
//! letters are unique, so a typist may stop after four letters. The list is Keyrite's own and
//! is part of the documented formats (`docs/formats/words.md`): changing it would change what
//! every record prints, so it is frozen.

/// Errors decoding words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WordsError {
    /// A word is not in the list (position is 1-based).
    #[error("word {position} \"{word}\" is not in Keyrite's word list")]
    Unknown {
        /// 1-based position of the word.
        position: usize,
        /// The word as given.
        word: String,
    },
}

/// The frozen list of 256 words; index = byte value.
pub const WORDS: [&str; 256] = [
    "acid", "acorn", "actor", "adobe", "agent", "alarm", "album", "alley", "amber", "anchor",
    "angle", "ankle", "apple", "apron", "arena", "armor", "arrow", "atlas", "attic", "audio",
    "autumn", "avenue", "award", "axis", "bacon", "badge", "bagel", "baker", "bamboo", "banjo",
    "barrel", "basin", "basket", "beach", "beard", "beaver", "bench", "berry", "bishop", "boat",
    "bonus", "border", "bottle", "boxer", "branch", "bread", "bridge", "bronze", "bubble",
    "bucket", "bundle", "butter", "cabin", "cactus", "camel", "candle", "canoe", "canvas",
    "canyon", "carbon", "carpet", "castle", "cattle", "cedar", "cellar", "cement", "chalk",
    "cherry", "cider", "circus", "clover", "cobalt", "comet", "copper", "coral", "cotton",
    "cousin", "coyote", "crater", "dagger", "dairy", "dancer", "delta", "denim", "desert",
    "dinner", "diver", "doctor", "domino", "donkey", "dragon", "drawer", "drum", "duck", "dune",
    "eagle", "earth", "easel", "echo", "elbow", "elder", "ember", "engine", "escape", "ethics",
    "fabric", "falcon", "fender", "ferry", "fiddle", "finch", "fjord", "flag", "flute", "forest",
    "fossil", "fox", "frost", "fudge", "funnel", "galaxy", "garden", "garlic", "gecko", "genius",
    "geyser", "ginger", "globe", "goblet", "gravel", "guitar", "gypsum", "hammer", "harbor",
    "hazel", "helmet", "hermit", "hobby", "honey", "hornet", "hotel", "hunter", "husky", "igloo",
    "impala", "indigo", "insect", "iris", "island", "ivory", "jacket", "jaguar", "jelly", "jigsaw",
    "jockey", "jungle", "kayak", "kernel", "kettle", "kidney", "kitten", "koala", "ladder",
    "lagoon", "laptop", "lava", "lemon", "lilac", "linen", "lizard", "locket", "lotus", "lumber",
    "magnet", "mango", "maple", "marble", "market", "meadow", "melon", "meteor", "mirror",
    "mitten", "mosaic", "muffin", "museum", "napkin", "nebula", "needle", "nephew", "nickel",
    "noodle", "north", "nugget", "nutmeg", "oasis", "ocean", "olive", "onion", "opera", "orbit",
    "orchid", "osprey", "otter", "oyster", "paddle", "palace", "panda", "parrot", "pebble",
    "pepper", "piano", "pigeon", "pillow", "planet", "plum", "pocket", "polar", "poppy", "potato",
    "prism", "puzzle", "quarry", "quiver", "rabbit", "radar", "radish", "raven", "record",
    "ribbon", "ridge", "river", "robin", "rocket", "rodeo", "ruby", "rudder", "saddle", "salmon",
    "satin", "saturn", "scarf", "season", "sled", "swan", "tango", "tiger", "toast", "topaz",
    "tulip", "venus", "wagon", "yacht", "yarn", "zebra", "zinc",
];

/// The word for one byte.
pub fn word(byte: u8) -> &'static str {
    WORDS[byte as usize]
}

/// Each byte as a word, space-separated.
pub fn to_words(bytes: &[u8]) -> String {
    bytes.iter().map(|b| word(*b)).collect::<Vec<_>>().join(" ")
}

/// The byte a word stands for: the whole word or its first four letters, any case.
pub fn byte_of(word: &str) -> Option<u8> {
    let w = word.trim().to_ascii_lowercase();
    if w.len() < 3 {
        return None;
    }
    WORDS
        .iter()
        .position(|c| *c == w || (w.len() == 4 && c.starts_with(&w)))
        .map(|i| i as u8)
}

/// Decodes space-separated words back to bytes.
pub fn from_words(text: &str) -> Result<Vec<u8>, WordsError> {
    text.split_whitespace()
        .enumerate()
        .map(|(i, w)| {
            byte_of(w).ok_or_else(|| WordsError::Unknown {
                position: i + 1,
                word: w.to_string(),
            })
        })
        .collect()
}

/// The first `n` bytes of a digest as words: a short form to read aloud.
pub fn short_words(digest: &[u8], n: usize) -> String {
    to_words(&digest[..n.min(digest.len())])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_is_sorted_unique_and_four_letter_prefixes_are_unique() {
        let mut prefixes = std::collections::BTreeSet::new();
        for w in WORDS {
            assert!(w.len() >= 3 && w.len() <= 6, "{w}");
            assert!(w.chars().all(|c| c.is_ascii_lowercase()), "{w}");
            let p: String = w.chars().take(4).collect();
            assert!(prefixes.insert(p), "duplicate prefix for {w}");
        }
        let mut sorted = WORDS;
        sorted.sort();
        assert_eq!(sorted, WORDS);
    }

    #[test]
    fn every_byte_round_trips_by_word_and_prefix() {
        for b in 0..=255u8 {
            assert_eq!(byte_of(word(b)), Some(b));
            let p: String = word(b).chars().take(4).collect();
            assert_eq!(byte_of(&p.to_uppercase()), Some(b));
        }
        let bytes = [0u8, 1, 127, 200, 255];
        assert_eq!(from_words(&to_words(&bytes)).unwrap(), bytes);
    }

    #[test]
    fn unknown_word_is_named_with_position() {
        assert_eq!(
            from_words("acid flurble").unwrap_err().to_string(),
            "word 2 \"flurble\" is not in Keyrite's word list"
        );
    }
}
