//! Splitting a secret and rebuilding it, with every check that makes a wrong result impossible
//! to miss: one set, no duplicates, at least K shares, and the digest over the result.

use super::envelope::{secret_digest, SetId, Share, ShareFingerprint, MAX_SHARES, SECRET_LEN};
use super::error::{list, ShareError, ShareProblem};
use crate::secret::SecretBytes;
use vsss_rs::Gf256;

/// The shares of one split, index order.
#[derive(Debug)]
pub struct ShareSet {
    /// The random set id.
    pub set_id: SetId,
    /// The shares, index 1..=N.
    pub shares: Vec<Share>,
}

/// Splits `secret` (16–64 bytes) into `count` shares, any `threshold` of which rebuild it.
pub fn split(secret: &SecretBytes, threshold: u8, count: u8) -> Result<ShareSet, ShareError> {
    if !(2..=MAX_SHARES).contains(&count) || threshold < 2 || threshold > count {
        return Err(ShareError::Split(format!(
            "{threshold} of {count} is not allowed: Keyrite needs 2 ≤ K ≤ N ≤ {MAX_SHARES}"
        )));
    }
    if !SECRET_LEN.contains(&secret.len()) {
        return Err(ShareError::Split(format!(
            "the secret is {} bytes; Keyrite splits secrets of 16 to 64 bytes",
            secret.len()
        )));
    }
    let mut id = [0u8; 8];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut id);
    let set_id = SetId(id);
    let digest = secret_digest(&set_id, threshold, count, secret.expose());
    let raw = Gf256::split_bytes(threshold as usize, count as usize, secret.expose(), OsRng10)
        .map_err(|e| ShareError::Split(format!("the Shamir library refused: {e:?}")))?;
    let mut shares = Vec::with_capacity(raw.len());
    for (i, mut r) in raw.into_iter().enumerate() {
        // vsss-rs numbers participants 1, 2, …; the layout is [x, y…].
        let index = i as u8 + 1;
        let ok = r.first() == Some(&index) && r.len() == secret.len() + 1;
        let value = SecretBytes::from_slice(r.get(1..).unwrap_or(&[]));
        zeroize::Zeroize::zeroize(&mut r);
        if !ok {
            return Err(ShareError::Split(format!(
                "the Shamir library numbered share {index} unexpectedly"
            )));
        }
        shares.push(Share {
            set_id,
            threshold,
            count,
            index,
            digest,
            value,
        });
    }
    Ok(ShareSet { set_id, shares })
}

/// What a successful combine proves.
#[derive(Debug)]
pub struct Rebuilt {
    /// The secret. Never print it; `--check-only` prints `digest_words` instead.
    pub secret: SecretBytes,
    /// The set.
    pub set_id: SetId,
    /// K and N.
    pub threshold: u8,
    /// N.
    pub count: u8,
    /// Indices of the shares given, ascending.
    pub indices: Vec<u8>,
    /// The set's recorded digest, as words (what `combine --check-only` prints).
    pub digest_words: String,
    /// Each given share's fingerprint, by index.
    pub fingerprints: Vec<(u8, ShareFingerprint)>,
}

/// Checks a set and rebuilds its secret. Refuses (naming the share) a mix of sets, a
/// duplicate, fewer than K shares, or a result that does not match the recorded digest; with
/// more than K shares it names the share(s) that do not fit.
pub fn combine(shares: &[Share]) -> Result<Rebuilt, ShareError> {
    let first = shares.first().ok_or(ShareError::NoShares)?;
    let set = first.set_id.to_string();
    let mut indices: Vec<u8> = Vec::with_capacity(shares.len());
    for (pos, s) in shares.iter().enumerate() {
        let problem = if s.set_id != first.set_id {
            Some(ShareProblem::OtherSet {
                expected: set.clone(),
            })
        } else if s.threshold != first.threshold || s.count != first.count {
            Some(ShareProblem::Disagrees {
                field: "threshold or share count",
            })
        } else if s.value.len() != first.value.len() {
            Some(ShareProblem::Disagrees {
                field: "secret length",
            })
        } else if s.digest != first.digest {
            Some(ShareProblem::Disagrees {
                field: "secret digest",
            })
        } else if indices.contains(&s.index) {
            Some(ShareProblem::Duplicate)
        } else {
            None
        };
        if let Some(problem) = problem {
            return Err(ShareError::Share {
                share: s.label(Some(pos + 1)),
                problem,
            });
        }
        indices.push(s.index);
    }
    let k = first.threshold as usize;
    let mut sorted: Vec<&Share> = shares.iter().collect();
    sorted.sort_by_key(|s| s.index);
    let all: Vec<u8> = sorted.iter().map(|s| s.index).collect();
    if shares.len() < k {
        return Err(ShareError::TooFew {
            set,
            threshold: first.threshold,
            got: shares.len(),
            indices: list(&all),
            missing: k - shares.len(),
        });
    }
    // Find a K-subset that rebuilds the digest; the first one tried is usually it.
    let mut good: Option<(Vec<usize>, SecretBytes)> = None;
    for subset in Subsets::new(sorted.len(), k) {
        let secret = interpolate(&subset.iter().map(|i| sorted[*i]).collect::<Vec<_>>())?;
        if secret_digest(&first.set_id, first.threshold, first.count, secret.expose())
            == first.digest
        {
            good = Some((subset, secret));
            break;
        }
    }
    let Some((good_set, secret)) = good else {
        return Err(ShareError::DigestMismatch {
            set,
            indices: list(&all),
        });
    };
    // Every share outside the good subset must fit with K−1 of it.
    let mut bad = Vec::new();
    for (i, s) in sorted.iter().enumerate() {
        if good_set.contains(&i) {
            continue;
        }
        let mut trial: Vec<&Share> = good_set[..k - 1].iter().map(|j| sorted[*j]).collect();
        trial.push(s);
        let r = interpolate(&trial)?;
        if r != secret {
            bad.push(i);
        }
    }
    let good_idx: Vec<u8> = good_set.iter().map(|i| sorted[*i].index).collect();
    match bad.as_slice() {
        [] => {}
        [one] => {
            let pos = shares
                .iter()
                .position(|s| s.index == sorted[*one].index)
                .map(|p| p + 1);
            return Err(ShareError::Share {
                share: sorted[*one].label(pos),
                problem: ShareProblem::Inconsistent {
                    good: list(&good_idx),
                },
            });
        }
        many => {
            let b: Vec<u8> = many.iter().map(|i| sorted[*i].index).collect();
            return Err(ShareError::SeveralInconsistent {
                set,
                bad: list(&b),
                good: list(&good_idx),
            });
        }
    }
    Ok(Rebuilt {
        digest_words: crate::words::to_words(&first.digest),
        set_id: first.set_id,
        threshold: first.threshold,
        count: first.count,
        indices: all,
        fingerprints: sorted.iter().map(|s| (s.index, s.fingerprint())).collect(),
        secret,
    })
}

/// Lagrange interpolation at 0 over exactly the given shares (vsss-rs `combine_bytes`, which
/// does not know K: the caller passes exactly K).
fn interpolate(shares: &[&Share]) -> Result<SecretBytes, ShareError> {
    let raw: Vec<zeroize::Zeroizing<Vec<u8>>> = shares
        .iter()
        .map(|s| {
            let mut v = Vec::with_capacity(s.value.len() + 1);
            v.push(s.index);
            v.extend_from_slice(s.value.expose());
            zeroize::Zeroizing::new(v)
        })
        .collect();
    let plain: Vec<Vec<u8>> = raw.iter().map(|v| v.to_vec()).collect();
    let result = Gf256::combine_bytes(&plain);
    for mut p in plain {
        zeroize::Zeroize::zeroize(&mut p);
    }
    let mut out = result
        .map_err(|e| ShareError::Split(format!("the Shamir library refused to combine: {e:?}")))?;
    let secret = SecretBytes::from_slice(&out);
    zeroize::Zeroize::zeroize(&mut out);
    Ok(secret)
}

/// All k-element subsets of 0..n, in lexicographic order.
struct Subsets {
    n: usize,
    cur: Option<Vec<usize>>,
}

impl Subsets {
    fn new(n: usize, k: usize) -> Self {
        Self {
            n,
            cur: (k <= n).then(|| (0..k).collect()),
        }
    }
}

impl Iterator for Subsets {
    type Item = Vec<usize>;
    fn next(&mut self) -> Option<Vec<usize>> {
        let cur = self.cur.take()?;
        let k = cur.len();
        let mut next = cur.clone();
        let mut i = k;
        while i > 0 {
            i -= 1;
            if next[i] < self.n - k + i {
                next[i] += 1;
                for j in i + 1..k {
                    next[j] = next[j - 1] + 1;
                }
                self.cur = Some(next);
                break;
            }
        }
        Some(cur)
    }
}

/// The OS random generator, seen through rand_core 0.10 (vsss-rs 6's RNG traits).
pub(crate) struct OsRng10;

impl rand_core_10::TryRng for OsRng10 {
    type Error = std::convert::Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        Ok(rand::RngCore::next_u32(&mut rand::rngs::OsRng))
    }
    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        Ok(rand::RngCore::next_u64(&mut rand::rngs::OsRng))
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, dst);
        Ok(())
    }
}

impl rand_core_10::TryCryptoRng for OsRng10 {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subsets_enumerates_n_choose_k() {
        assert_eq!(Subsets::new(5, 3).count(), 10);
        assert_eq!(Subsets::new(16, 8).count(), 12870);
        assert_eq!(Subsets::new(3, 3).collect::<Vec<_>>(), vec![vec![0, 1, 2]]);
    }
}
