//! Percent-encoding of key segments into file names.
//!
//! Every byte outside `[A-Za-z0-9_-]` is written as `%XX` (upper-case hex). The encoded form never
//! contains `.`, `/` or a leading dot, so an encoded segment is always exactly one ordinary,
//! non-hidden file name: no key can name `.`, `..` or a path outside the datastore, and the
//! datastore can use `.` as the separator between a key's file name and a metadata name, and
//! leading dots for its own bookkeeping files.

/// Whether `b` is kept as-is by [`encode_segment`].
fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'-'
}

/// Percent-encodes one key segment for use as a file name.
pub fn encode_segment(segment: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(segment.len());
    for &b in segment.as_bytes() {
        if is_unreserved(b) {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0xf)]));
        }
    }
    out
}

/// Decodes a file name written by [`encode_segment`].
///
/// Fails, with the reason, on a truncated or non-hex escape, on a byte that should have been
/// escaped, or when the result isn't UTF-8.
pub fn decode_segment(name: &str) -> Result<String, String> {
    let bytes = name.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .ok_or_else(|| format!("truncated escape at byte {i} of '{name}'"))?;
            let hi = hex_value(hex[0]);
            let lo = hex_value(hex[1]);
            match (hi, lo) {
                (Some(hi), Some(lo)) => out.push(hi << 4 | lo),
                _ => return Err(format!("invalid escape at byte {i} of '{name}'")),
            }
            i += 3;
        } else if is_unreserved(b) {
            out.push(b);
            i += 1;
        } else {
            return Err(format!(
                "byte {:?} at offset {i} of '{name}' should have been percent-encoded",
                char::from(b)
            ));
        }
    }
    String::from_utf8(out).map_err(|_| format!("'{name}' does not decode to UTF-8"))
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'A'..=b'F' => Some(b - b'A' + 10),
        b'a'..=b'f' => Some(b - b'a' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_everything_but_unreserved() {
        assert_eq!(encode_segment("abc-XYZ_09"), "abc-XYZ_09");
        assert_eq!(encode_segment("example.com/role"), "example%2Ecom%2Frole");
        assert_eq!(encode_segment(".."), "%2E%2E");
        assert_eq!(encode_segment("a b%"), "a%20b%25");
        assert_eq!(encode_segment("é"), "%C3%A9");
    }

    #[test]
    fn round_trips() {
        for s in [
            "",
            "motd",
            "node-labels",
            "example.com/role",
            "../../etc/passwd",
            "%2E",
            "a\"b",
            "tab\there",
            "ünïcödé",
            "k8s.io/cluster-autoscaler/enabled",
        ] {
            let enc = encode_segment(s);
            assert!(!enc.contains('/') && !enc.contains('.'), "{enc}");
            assert_eq!(decode_segment(&enc).as_deref(), Ok(s), "{s:?} via {enc}");
        }
        // Every single byte value that is valid UTF-8 on its own.
        for b in 0u8..128 {
            let s = String::from(char::from(b));
            assert_eq!(decode_segment(&encode_segment(&s)), Ok(s));
        }
    }

    #[test]
    fn rejects_malformed_names() {
        assert!(decode_segment("%").is_err());
        assert!(decode_segment("%4").is_err());
        assert!(decode_segment("%zz").is_err());
        assert!(decode_segment("a.b").is_err());
        assert!(decode_segment("a/b").is_err());
        assert!(decode_segment("%FF").is_err());
        assert_eq!(decode_segment("%2e").as_deref(), Ok("."));
    }
}
