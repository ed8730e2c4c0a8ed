//! Hashes: the entry hash chain and the RFC 9162 §2.1.1 Merkle tree head over entry hashes.

use sha2::{Digest, Sha256};

/// A SHA-256 value.
pub type Hash = [u8; 32];

/// Domain separator of entry hashes (version 1 of the journal format).
pub const ENTRY_DOMAIN: &[u8] = b"keyrite-journal/v1\n";

/// `SHA-256("keyrite-journal/v1\n" || be64(seq) || prev_hash || body)`.
pub fn entry_hash(seq: u64, prev: &Hash, body: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update(ENTRY_DOMAIN);
    h.update(seq.to_be_bytes());
    h.update(prev);
    h.update(body);
    h.finalize().into()
}

/// RFC 9162 leaf hash: `SHA-256(0x00 || entry_hash)`.
pub fn leaf_hash(entry: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(entry);
    h.finalize().into()
}

/// RFC 9162 interior node: `SHA-256(0x01 || left || right)`.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// RFC 9162 hash of the empty tree: `SHA-256()`.
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

/// Builds the Merkle tree head incrementally: the stack holds the perfect subtrees of the
/// binary decomposition of the size, so appending is O(log n) and memory O(log n).
#[derive(Debug, Clone, Default)]
pub struct TreeBuilder {
    stack: Vec<(u64, Hash)>,
    size: u64,
}

impl TreeBuilder {
    /// An empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends one entry hash as a leaf.
    pub fn push(&mut self, entry: &Hash) {
        self.push_with(entry, |_, _| {});
    }

    /// Appends one entry hash as a leaf and calls `completed(leaves, hash)` for each perfect
    /// subtree it completes (the leaf itself, then every merge), smallest first. They all end
    /// at the new leaf.
    pub fn push_with(&mut self, entry: &Hash, completed: impl FnMut(u64, &Hash)) {
        self.push_leaf_with(leaf_hash(entry), completed);
    }

    /// Appends a leaf given as its leaf hash (`leaf_hash(entry)`, computed elsewhere, e.g. on
    /// another thread).
    pub fn push_leaf(&mut self, leaf: Hash) {
        self.push_leaf_with(leaf, |_, _| {});
    }

    fn push_leaf_with(&mut self, leaf: Hash, mut completed: impl FnMut(u64, &Hash)) {
        let mut node = (1u64, leaf);
        completed(node.0, &node.1);
        while let Some(top) = self.stack.last() {
            if top.0 != node.0 {
                break;
            }
            let left = self.stack.pop().map(|t| t.1).unwrap_or_default();
            node = (node.0 * 2, node_hash(&left, &node.1));
            completed(node.0, &node.1);
        }
        self.stack.push(node);
        self.size += 1;
    }

    /// A tree of `size` leaves from its perfect subtrees, largest first (`(leaves, hash)`,
    /// the binary decomposition of `size`). `None` when they do not add up to `size`.
    pub fn from_subtrees(subtrees: Vec<(u64, Hash)>, size: u64) -> Option<Self> {
        let ok = subtrees.iter().map(|s| s.0).sum::<u64>() == size
            && subtrees.iter().all(|s| s.0.is_power_of_two())
            && subtrees.windows(2).all(|w| w[0].0 > w[1].0);
        ok.then_some(Self {
            stack: subtrees,
            size,
        })
    }

    /// Number of leaves.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The RFC 9162 Merkle Tree Hash of the leaves so far.
    pub fn root(&self) -> Hash {
        let mut iter = self.stack.iter().rev();
        let Some(last) = iter.next() else {
            return empty_root();
        };
        iter.fold(last.1, |acc, (_, left)| node_hash(left, &acc))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Straight from RFC 9162's recursive definition, to check the incremental builder.
    fn mth(leaves: &[Hash]) -> Hash {
        match leaves.len() {
            0 => empty_root(),
            1 => leaf_hash(&leaves[0]),
            n => {
                // The largest power of two smaller than n.
                let mut k = 1;
                while k * 2 < n {
                    k *= 2;
                }
                node_hash(&mth(&leaves[..k]), &mth(&leaves[k..]))
            }
        }
    }

    #[test]
    fn incremental_equals_recursive() {
        let leaves: Vec<Hash> = (0..37u8).map(|i| [i; 32]).collect();
        let mut b = TreeBuilder::new();
        assert_eq!(b.root(), empty_root());
        for n in 1..=leaves.len() {
            b.push(&leaves[n - 1]);
            assert_eq!(b.root(), mth(&leaves[..n]), "size {n}");
        }
    }

    #[test]
    fn a_tree_rebuilt_from_its_subtrees_continues_identically() {
        let leaves: Vec<Hash> = (0..300u16).map(|i| [(i % 251) as u8; 32]).collect();
        let mut whole = TreeBuilder::new();
        for l in &leaves[..277] {
            whole.push(l);
        }
        let mut rebuilt = TreeBuilder::from_subtrees(whole.stack.clone(), 277).unwrap();
        for l in &leaves[277..] {
            whole.push(l);
            rebuilt.push(l);
        }
        assert_eq!(rebuilt.root(), whole.root());
        assert_eq!(rebuilt.root(), mth(&leaves));
        // Sizes that do not add up, or are not a decomposition, are refused.
        assert!(TreeBuilder::from_subtrees(vec![(256, [0; 32])], 257).is_none());
        assert!(TreeBuilder::from_subtrees(vec![(3, [0; 32])], 3).is_none());
        assert!(TreeBuilder::from_subtrees(vec![(1, [0; 32]), (2, [0; 32])], 3).is_none());
    }

    #[test]
    fn two_leaf_root_matches_definition() {
        let mut b = TreeBuilder::new();
        b.push(&[1; 32]);
        b.push(&[2; 32]);
        assert_eq!(
            b.root(),
            node_hash(&leaf_hash(&[1; 32]), &leaf_hash(&[2; 32]))
        );
    }
}
