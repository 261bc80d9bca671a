//! Client authentication: what each method adds to the header and the body.

use base64ct::{Base64, Encoding};

use crate::credentials::{ClientAuth, Config};
use crate::encode::{Sink, form};
use crate::error::{Buffer, Error};

/// Writes the `Authorization` header *value* for the configured method
/// (`Basic …`), or nothing when the method sends no header.
pub(crate) fn write_authorization<const N: usize>(
    sink: &mut Sink<'_>,
    config: &Config<'_, N>,
) -> bool {
    let id = config.client_id.as_str();
    let (secret, encoded) = match &config.auth {
        ClientAuth::Basic(s) => (s.expose(), true),
        ClientAuth::BasicUnencoded(s) => (s.expose(), false),
        ClientAuth::Post(_) | ClientAuth::ClientIdOnly => return false,
    };
    sink.put(b"Basic ");
    // RFC 6749 §2.3.1: id and secret are form-urlencoded, joined by ':',
    // then base64-encoded. Stream the pieces through a 3-byte carry so no
    // temporary copy of the secret is made.
    let raw_len = if encoded {
        form::encoded_len(id) + 1 + form::encoded_len(secret)
    } else {
        id.len() + 1 + secret.len()
    };
    let b64_len = raw_len.div_ceil(3).saturating_mul(4);
    sink.put_with(b64_len, |out| {
        let mut enc = Base64Stream::new(out);
        if encoded {
            stream_form(&mut enc, id);
            enc.push(b":");
            stream_form(&mut enc, secret);
        } else {
            enc.push(id.as_bytes());
            enc.push(b":");
            enc.push(secret.as_bytes());
        }
        enc.finish();
    });
    true
}

fn stream_form(enc: &mut Base64Stream<'_>, value: &str) {
    // Form-encode into a small window, then feed the encoder.
    let mut window = [0u8; 48];
    for c in value.chars() {
        let mut utf8 = [0u8; 4];
        let s = c.encode_utf8(&mut utf8);
        let mut sink = Sink::new(&mut window);
        form::encode(&mut sink, s);
        let n = sink.len();
        enc.push(window.get(..n).unwrap_or_default());
    }
    zeroize::Zeroize::zeroize(&mut window);
}

/// Base64 encoder that accepts input in arbitrary pieces.
struct Base64Stream<'o> {
    out: &'o mut [u8],
    pos: usize,
    carry: [u8; 3],
    carried: usize,
}

impl<'o> Base64Stream<'o> {
    fn new(out: &'o mut [u8]) -> Self {
        Self {
            out,
            pos: 0,
            carry: [0; 3],
            carried: 0,
        }
    }

    fn push(&mut self, bytes: &[u8]) {
        for &b in bytes {
            if let Some(slot) = self.carry.get_mut(self.carried) {
                *slot = b;
            }
            self.carried += 1;
            if self.carried == 3 {
                self.flush();
            }
        }
    }

    fn flush(&mut self) {
        let input = self.carry.get(..self.carried).unwrap_or_default();
        if let Some(Ok(s)) = self
            .out
            .get_mut(self.pos..)
            .map(|dst| Base64::encode(input, dst))
        {
            self.pos += s.len();
        }
        self.carried = 0;
    }

    fn finish(mut self) {
        if self.carried > 0 {
            self.flush();
        }
        zeroize::Zeroize::zeroize(&mut self.carry);
    }
}

/// The `Authorization` header value (`Basic …`) for the configured method,
/// for firmware that sends the request with its own HTTP client.
///
/// Returns `Ok(None)` for methods that authenticate in the body.
///
/// ```
/// use embedded_oauth2::{authorization_header, ClientAuth, ClientId, ClientSecret, Config, TokenEndpoint};
/// let config = Config::new(
///     TokenEndpoint::parse("https://server.example.com/token")?,
///     ClientId::new("s6BhdRkqt3")?,
///     ClientAuth::Basic(ClientSecret::<16>::new("gX1fBat3bV")?),
/// );
/// let mut buf = [0u8; 64];
/// let value = authorization_header(&config, &mut buf)?;
/// assert_eq!(value, Some("Basic czZCaGRSa3F0MzpnWDFmQmF0M2JW"));
/// # Ok::<(), embedded_oauth2::Error>(())
/// ```
pub fn authorization_header<'b, const N: usize>(
    config: &Config<'_, N>,
    buf: &'b mut [u8],
) -> Result<Option<&'b str>, Error> {
    let mut sink = Sink::new(buf);
    if !write_authorization(&mut sink, config) {
        return Ok(None);
    }
    let n = sink.finish(Buffer::Output)?;
    let value = buf
        .get(..n)
        .and_then(|b| core::str::from_utf8(b).ok())
        .unwrap_or_default();
    Ok(Some(value))
}

/// Appends the body parameters of the configured method.
pub(crate) fn write_body_params<const N: usize>(
    sink: &mut Sink<'_>,
    first: &mut bool,
    config: &Config<'_, N>,
) {
    let id = config.client_id.as_str();
    match &config.auth {
        ClientAuth::Basic(_) | ClientAuth::BasicUnencoded(_) => {}
        ClientAuth::Post(secret) => {
            form::pair(sink, first, "client_id", id);
            form::pair(sink, first, "client_secret", secret.expose());
        }
        ClientAuth::ClientIdOnly => form::pair(sink, first, "client_id", id),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ClientId, ClientSecret, TokenEndpoint};

    fn header(id: &str, secret: &str, encoded: bool) -> std::string::String {
        let s = ClientSecret::<64>::new(secret).unwrap();
        let auth = if encoded {
            ClientAuth::Basic(s)
        } else {
            ClientAuth::BasicUnencoded(s)
        };
        let c = Config::new(
            TokenEndpoint::parse("https://h/t").unwrap(),
            ClientId::new(id).unwrap(),
            auth,
        );
        let mut buf = [0u8; 256];
        std::string::String::from(authorization_header(&c, &mut buf).unwrap().unwrap())
    }

    #[test]
    fn rfc6749_section_4_4_2_vector() {
        assert_eq!(
            header("s6BhdRkqt3", "gX1fBat3bV", true),
            "Basic czZCaGRSa3F0MzpnWDFmQmF0M2JW"
        );
        assert_eq!(
            header("s6BhdRkqt3", "gX1fBat3bV", false),
            "Basic czZCaGRSa3F0MzpnWDFmQmF0M2JW"
        );
    }

    #[test]
    fn rfc6749_section_2_3_1_reserved_characters() {
        // id "my client:1" and secret "p@ss+w%rd &=é" form-urlencode to
        // "my+client%3A1" and "p%40ss%2Bw%25rd+%26%3D%C3%A9".
        let expected = std::format!(
            "Basic {}",
            Base64::encode_string(b"my+client%3A1:p%40ss%2Bw%25rd+%26%3D%C3%A9")
        );
        assert_eq!(header("my client:1", "p@ss+w%rd &=é", true), expected);
        let raw = std::format!(
            "Basic {}",
            Base64::encode_string("my client:1:p@ss+w%rd &=é".as_bytes())
        );
        assert_eq!(header("my client:1", "p@ss+w%rd &=é", false), raw);
    }

    #[test]
    fn base64_stream_matches_one_shot_for_all_lengths() {
        let data: std::vec::Vec<u8> = (0u8..=200).collect();
        for len in 0..data.len() {
            for piece in [1usize, 2, 3, 5, 7] {
                let mut out = [0u8; 400];
                let mut enc = Base64Stream::new(&mut out);
                for c in data[..len].chunks(piece) {
                    enc.push(c);
                }
                let pos = { enc.finish_pos() };
                assert_eq!(&out[..pos], Base64::encode_string(&data[..len]).as_bytes());
            }
        }
    }

    impl Base64Stream<'_> {
        fn finish_pos(mut self) -> usize {
            if self.carried > 0 {
                self.flush();
            }
            self.pos
        }
    }

    #[test]
    fn small_buffer_reports_exact_need() {
        let c = Config::new(
            TokenEndpoint::parse("https://h/t").unwrap(),
            ClientId::new("s6BhdRkqt3").unwrap(),
            ClientAuth::Basic(ClientSecret::<64>::new("gX1fBat3bV").unwrap()),
        );
        let mut buf = [0u8; 10];
        match authorization_header(&c, &mut buf) {
            Err(Error::Capacity(e)) => {
                assert_eq!(e.needed, "Basic czZCaGRSa3F0MzpnWDFmQmF0M2JW".len())
            }
            other => panic!("{other:?}"),
        }
    }
}
