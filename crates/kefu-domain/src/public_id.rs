//! Customer-facing numbers that do not reveal how many records exist.
//!
//! Internal ids are sequential integers; showing them to customers would tell
//! a competitor how many tickets a company handles each day. A keyed Feistel
//! permutation maps each id to a different 40-bit number, printed in
//! Crockford base32 (no I, L, O, U), so two consecutive ids look unrelated
//! yet every code maps back to exactly one id.

/// The number of ids the codec can represent: 2^40, about 1.1 × 10^12.
pub const CAPACITY: u64 = 1 << 40;
const HALF_BITS: u32 = 20;
const HALF_MASK: u64 = (1 << HALF_BITS) - 1;
const ROUNDS: usize = 4;
/// Length of an encoded public id: 40 bits in 5-bit symbols.
pub const ENCODED_LEN: usize = 8;
const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// Encodes and decodes public ids under one installation's secret key.
#[derive(Clone)]
pub struct PublicIdCodec {
    round_keys: [u64; ROUNDS],
}

impl std::fmt::Debug for PublicIdCodec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PublicIdCodec { .. }")
    }
}

/// Why a text could not be read as a public id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PublicIdError {
    /// The id is at or above [`CAPACITY`].
    #[error("id {0} is too large for a public id")]
    TooLarge(u64),
    /// The text is not eight Crockford base32 symbols.
    #[error("not a valid public id")]
    Malformed,
}

impl PublicIdCodec {
    /// A codec keyed by the installation secret (any bytes; 32 random ones
    /// are generated at first start and kept in the database).
    pub fn new(secret: &[u8]) -> Self {
        let mut round_keys = [0u64; ROUNDS];
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        for (i, byte) in secret.iter().enumerate() {
            state = splitmix(state ^ (u64::from(*byte) << ((i % 8) * 8)));
        }
        for (i, key) in round_keys.iter_mut().enumerate() {
            state = splitmix(state.wrapping_add(i as u64 + 1));
            *key = state;
        }
        Self { round_keys }
    }

    /// The permuted number for `id`, before printing.
    pub fn permute(&self, id: u64) -> Result<u64, PublicIdError> {
        if id >= CAPACITY {
            return Err(PublicIdError::TooLarge(id));
        }
        let (mut left, mut right) = (id >> HALF_BITS, id & HALF_MASK);
        for key in self.round_keys {
            let next = left ^ round(right, key);
            left = right;
            right = next;
        }
        Ok((left << HALF_BITS) | right)
    }

    /// The id whose permuted number is `value`.
    pub fn unpermute(&self, value: u64) -> Result<u64, PublicIdError> {
        if value >= CAPACITY {
            return Err(PublicIdError::TooLarge(value));
        }
        let (mut left, mut right) = (value >> HALF_BITS, value & HALF_MASK);
        for key in self.round_keys.iter().rev() {
            let prev = right ^ round(left, *key);
            right = left;
            left = prev;
        }
        Ok((left << HALF_BITS) | right)
    }

    /// The eight-symbol public id for `id`.
    pub fn encode(&self, id: u64) -> Result<String, PublicIdError> {
        let mut value = self.permute(id)?;
        let mut out = [b'0'; ENCODED_LEN];
        for slot in out.iter_mut().rev() {
            *slot = ALPHABET[(value & 31) as usize];
            value >>= 5;
        }
        Ok(out.iter().map(|b| char::from(*b)).collect())
    }

    /// The id behind a public id; accepts lower case and the usual
    /// look-alikes (O→0, I/L→1) that people type when reading a code aloud.
    pub fn decode(&self, text: &str) -> Result<u64, PublicIdError> {
        let symbols: Vec<char> = text.trim().chars().filter(|c| *c != '-').collect();
        if symbols.len() != ENCODED_LEN {
            return Err(PublicIdError::Malformed);
        }
        let mut value = 0u64;
        for c in symbols {
            let c = match c.to_ascii_uppercase() {
                'O' => '0',
                'I' | 'L' => '1',
                other => other,
            };
            let digit = ALPHABET
                .iter()
                .position(|a| char::from(*a) == c)
                .ok_or(PublicIdError::Malformed)?;
            value = (value << 5) | digit as u64;
        }
        self.unpermute(value)
    }
}

fn round(half: u64, key: u64) -> u64 {
    splitmix(half ^ key) & HALF_MASK
}

fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn codec() -> PublicIdCodec {
        PublicIdCodec::new(b"test secret for the codec")
    }

    proptest! {
        #[test]
        fn decode_inverts_encode(id in 0u64..CAPACITY) {
            let c = codec();
            let text = c.encode(id).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(text.len(), ENCODED_LEN);
            prop_assert_eq!(c.decode(&text), Ok(id));
            prop_assert_eq!(c.decode(&text.to_lowercase()), Ok(id));
        }

        #[test]
        fn distinct_ids_give_distinct_codes(a in 0u64..CAPACITY, b in 0u64..CAPACITY) {
            prop_assume!(a != b);
            let c = codec();
            prop_assert_ne!(c.permute(a), c.permute(b));
        }
    }

    #[test]
    fn consecutive_ids_do_not_look_consecutive() {
        let c = codec();
        let mut close = 0;
        for id in 1..1000u64 {
            let (a, b) = (c.permute(id), c.permute(id + 1));
            if let (Ok(a), Ok(b)) = (a, b)
                && a.abs_diff(b) < 1000
            {
                close += 1;
            }
        }
        assert!(close < 5, "{close} neighbouring ids stayed close");
    }

    #[test]
    fn another_key_gives_other_codes() {
        let other = PublicIdCodec::new(b"another installation");
        let same = (1..100u64)
            .filter(|id| codec().encode(*id).ok() == other.encode(*id).ok())
            .count();
        assert!(same < 3);
    }

    #[test]
    fn rejects_bad_text_and_large_ids() {
        let c = codec();
        assert_eq!(c.decode("ABC"), Err(PublicIdError::Malformed));
        assert_eq!(c.decode("ABCDEFG!"), Err(PublicIdError::Malformed));
        assert_eq!(c.encode(CAPACITY), Err(PublicIdError::TooLarge(CAPACITY)));
    }
}
