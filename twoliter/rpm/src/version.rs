//! RPM version comparison (`rpmvercmp`) and dependency range matching.

use std::cmp::Ordering;

/// `RPMSENSE_LESS`.
pub(crate) const SENSE_LESS: u32 = 1 << 1;
/// `RPMSENSE_GREATER`.
pub(crate) const SENSE_GREATER: u32 = 1 << 2;
/// `RPMSENSE_EQUAL`.
pub(crate) const SENSE_EQUAL: u32 = 1 << 3;
/// `RPMSENSE_RPMLIB`: an `rpmlib(...)` feature requirement.
pub(crate) const SENSE_RPMLIB: u32 = 1 << 24;
/// `RPMSENSE_MISSINGOK`: a weak dependency hint.
pub(crate) const SENSE_MISSINGOK: u32 = 1 << 19;
/// The comparison bits of dependency flags.
pub(crate) const SENSE_MASK: u32 = SENSE_LESS | SENSE_GREATER | SENSE_EQUAL;

/// Compares two version (or release) strings the way rpm's `rpmvercmp` does: alternating
/// numeric and alphabetic segments, `~` sorts before anything (pre-releases), `^` after the
/// end of a version (post-release snapshots).
pub fn rpmvercmp(a: &str, b: &str) -> Ordering {
    if a == b {
        return Ordering::Equal;
    }
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0usize, 0usize);
    let separator = |c: u8| !c.is_ascii_alphanumeric() && c != b'~' && c != b'^';
    loop {
        while i < a.len() && separator(a[i]) {
            i += 1;
        }
        while j < b.len() && separator(b[j]) {
            j += 1;
        }
        let (ca, cb) = (a.get(i).copied(), b.get(j).copied());
        if ca == Some(b'~') || cb == Some(b'~') {
            if ca != Some(b'~') {
                return Ordering::Greater;
            }
            if cb != Some(b'~') {
                return Ordering::Less;
            }
            i += 1;
            j += 1;
            continue;
        }
        if ca == Some(b'^') || cb == Some(b'^') {
            if ca.is_none() {
                return Ordering::Less;
            }
            if cb.is_none() {
                return Ordering::Greater;
            }
            if ca != Some(b'^') {
                return Ordering::Greater;
            }
            if cb != Some(b'^') {
                return Ordering::Less;
            }
            i += 1;
            j += 1;
            continue;
        }
        let (Some(first), Some(_)) = (ca, cb) else {
            break;
        };
        let numeric = first.is_ascii_digit();
        let in_segment = |c: u8| {
            if numeric {
                c.is_ascii_digit()
            } else {
                c.is_ascii_alphabetic()
            }
        };
        let mut ie = i;
        while ie < a.len() && in_segment(a[ie]) {
            ie += 1;
        }
        let mut je = j;
        while je < b.len() && in_segment(b[je]) {
            je += 1;
        }
        let (sa, sb) = (&a[i..ie], &b[j..je]);
        if sb.is_empty() {
            // Segments of different types: numeric is newer than alphabetic.
            return if numeric {
                Ordering::Greater
            } else {
                Ordering::Less
            };
        }
        let order = if numeric {
            let trim = |s: &[u8]| -> usize { s.iter().take_while(|&&c| c == b'0').count() };
            let (sa, sb) = (&sa[trim(sa)..], &sb[trim(sb)..]);
            sa.len().cmp(&sb.len()).then_with(|| sa.cmp(sb))
        } else {
            sa.cmp(sb)
        };
        if order != Ordering::Equal {
            return order;
        }
        i = ie;
        j = je;
    }
    match (i >= a.len(), j >= b.len()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Less,
        (false, _) => Ordering::Greater,
    }
}

/// An `[epoch:]version[-release]` triple as written in dependency versions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Evr<'a> {
    pub epoch: u32,
    pub version: &'a str,
    pub release: Option<&'a str>,
}

impl<'a> Evr<'a> {
    /// Splits `E:V-R`; a missing epoch is 0, a missing release is `None`.
    pub fn parse(s: &'a str) -> Self {
        let (epoch, rest) = match s.split_once(':') {
            Some((e, rest)) if !e.is_empty() && e.bytes().all(|c| c.is_ascii_digit()) => {
                (e.parse().unwrap_or(u32::MAX), rest)
            }
            _ => (0, s),
        };
        let (version, release) = match rest.rsplit_once('-') {
            Some((v, r)) => (v, Some(r)),
            None => (rest, None),
        };
        Evr {
            epoch,
            version,
            release,
        }
    }

    /// Compares like rpm's `rpmdsCompare`: releases only when both sides have one.
    pub fn compare(&self, other: &Evr<'_>) -> Ordering {
        self.epoch
            .cmp(&other.epoch)
            .then_with(|| rpmvercmp(self.version, other.version))
            .then_with(|| match (self.release, other.release) {
                (Some(a), Some(b)) => rpmvercmp(a, b),
                _ => Ordering::Equal,
            })
    }
}

/// Whether a provided capability `(provide_flags, provide_version)` satisfies a required range
/// `(require_flags, require_version)` of the same name. Unversioned sides always match.
pub(crate) fn ranges_overlap(
    provide_flags: u32,
    provide_version: &str,
    require_flags: u32,
    require_version: &str,
) -> bool {
    let (pf, rf) = (provide_flags & SENSE_MASK, require_flags & SENSE_MASK);
    if pf == 0 || rf == 0 || provide_version.is_empty() || require_version.is_empty() {
        return true;
    }
    let sense = Evr::parse(provide_version).compare(&Evr::parse(require_version));
    match sense {
        Ordering::Less => pf & SENSE_GREATER != 0 || rf & SENSE_LESS != 0,
        Ordering::Greater => pf & SENSE_LESS != 0 || rf & SENSE_GREATER != 0,
        Ordering::Equal => {
            (pf & SENSE_EQUAL != 0 && rf & SENSE_EQUAL != 0)
                || (pf & SENSE_LESS != 0 && rf & SENSE_LESS != 0)
                || (pf & SENSE_GREATER != 0 && rf & SENSE_GREATER != 0)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vercmp_matches_rpm() {
        let cases = [
            ("1.0", "1.0", Ordering::Equal),
            ("1.0", "2.0", Ordering::Less),
            ("2.0.1", "2.0", Ordering::Greater),
            ("1.0010", "1.9", Ordering::Greater),
            ("1.05", "1.5", Ordering::Equal),
            ("1.0a", "1.0", Ordering::Greater),
            ("a", "1", Ordering::Less),
            ("1.0~rc1", "1.0", Ordering::Less),
            ("1.0~rc1", "1.0~rc2", Ordering::Less),
            ("1.0^git1", "1.0", Ordering::Greater),
            ("1.0^git1", "1.0.1", Ordering::Less),
            ("1_0", "1.0", Ordering::Equal),
        ];
        for (a, b, want) in cases {
            assert_eq!(rpmvercmp(a, b), want, "{a} vs {b}");
            assert_eq!(rpmvercmp(b, a), want.reverse(), "{b} vs {a}");
        }
    }

    #[test]
    fn ranges() {
        let ge = SENSE_GREATER | SENSE_EQUAL;
        assert!(ranges_overlap(SENSE_EQUAL, "2.0-1", ge, "1.5"));
        assert!(!ranges_overlap(SENSE_EQUAL, "1.0-1", ge, "1.5"));
        assert!(ranges_overlap(0, "", ge, "1.5"));
        assert!(ranges_overlap(SENSE_EQUAL, "1:1.0-1", ge, "2.0"));
        assert!(ranges_overlap(SENSE_EQUAL, "1.5-3", SENSE_EQUAL, "1.5"));
        assert!(!ranges_overlap(SENSE_EQUAL, "1.5-3", SENSE_LESS, "1.5"));
    }
}
