//! `application/x-www-form-urlencoded` serialization (WHATWG URL §5.2, as
//! RFC 6749 Appendix B requires): `*-._` and alphanumerics stay, space
//! becomes `+`, everything else is percent-encoded as UTF-8 bytes.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_encode};

use super::{Out, Sink};

const FORM: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'*')
    .remove(b'-')
    .remove(b'.')
    .remove(b'_');

/// Writes `value` form-urlencoded.
pub(crate) fn encode(sink: &mut impl Out, value: &str) {
    for chunk in percent_encode(value.as_bytes(), FORM) {
        if chunk == "%20" {
            sink.put(b"+");
        } else {
            sink.put_str(chunk);
        }
    }
}

/// The length of `value` form-urlencoded.
#[cfg(test)]
pub(crate) fn encoded_len(value: &str) -> usize {
    let mut c = Sink::counter();
    encode(&mut c, value);
    c.len()
}

/// Writes `&name=value` (without the `&` for the first pair). `name` is one
/// of this crate's parameter names (unreserved characters only) and is
/// written as is; `value` is encoded.
pub(crate) fn pair(sink: &mut Sink<'_>, first: &mut bool, name: &'static str, value: &str) {
    debug_assert!(name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'));
    if !core::mem::replace(first, false) {
        sink.put(b"&");
    }
    sink.put_str(name);
    sink.put(b"=");
    encode(sink, value);
}

/// [`pair`] with a caller's parameter name, which is encoded too.
pub(crate) fn pair_encoded(sink: &mut Sink<'_>, first: &mut bool, name: &str, value: &str) {
    if !core::mem::replace(first, false) {
        sink.put(b"&");
    }
    encode(sink, name);
    sink.put(b"=");
    encode(sink, value);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(s: &str) -> std::string::String {
        let mut b = [0u8; 256];
        let mut sink = Sink::new(&mut b);
        encode(&mut sink, s);
        let n = sink.len();
        assert_eq!(encoded_len(s), n);
        std::string::String::from_utf8(b[..n].to_vec()).unwrap()
    }

    #[test]
    fn form_urlencoding() {
        assert_eq!(enc("s6BhdRkqt3"), "s6BhdRkqt3");
        assert_eq!(enc("a b+c"), "a+b%2Bc");
        assert_eq!(enc("*-._~"), "*-._%7E");
        assert_eq!(
            enc(":/?#[]@!$&'()=%"),
            "%3A%2F%3F%23%5B%5D%40%21%24%26%27%28%29%3D%25"
        );
        assert_eq!(enc("é"), "%C3%A9");
    }
}
