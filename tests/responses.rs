//! A table of recorded-style raw HTTP responses, each with its exact outcome,
//! run through `Exchange` + `blocking::run` over scripted streams that deliver
//! the bytes whole, one byte at a time, in 7-byte pieces, and in 3-byte pieces
//! interleaved with `Interrupted` errors.
//!
//! The table itself lives in `tests/common/table.rs`: `tests/async_driver.rs`
//! runs the same cases through the async driver.

mod common;

use common::table::{
    BUF, Outcome, big_token_response, case, cases, chunk, expected_request, head_len, http, ok,
    run_blocking, run_exchange, run_table, tok,
};
use common::{Delivery, Scripted, StreamError, json, wire};
use embedded_oauth2::error::{Buffer, CapacityError, HttpError};
use embedded_oauth2::http::Exchange;
use embedded_oauth2::{Error, ErrorCode, Limits, blocking};

#[test]
fn table_has_enough_cases() {
    let all = cases();
    assert!(all.len() >= 35, "{}", all.len());
    println!("{} table cases", all.len());
    let mut names: Vec<_> = all.iter().map(|c| c.name).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), all.len(), "case names are unique");
}

#[test]
fn recorded_responses_whole_bytewise_chunked_and_interrupted() {
    let failures = run_table(&cases(), run_blocking);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn minimal_buffer_for_a_large_token_is_response_plus_token() {
    // What the buffer must hold: the response, then the unescaped token
    // staged behind the body. One byte less must fail with Capacity.
    let w = big_token_response(700);
    let exact = w.len() + 700;
    for delivery in Delivery::ALL {
        let ok_case = case("exact", w.clone(), tok(&"x".repeat(700), None, None)).buf(exact);
        assert_eq!(
            run_blocking(&ok_case, delivery).0,
            ok_case.expect,
            "{delivery:?}"
        );
        let short = case("short", w.clone(), tok("", None, None)).buf(exact - 1);
        match run_blocking(&short, delivery).0 {
            Outcome::Capacity(c) => assert_eq!(
                c,
                CapacityError::new(Buffer::Parse, exact, exact - 1, true),
                "{delivery:?}"
            ),
            other => panic!("{delivery:?}: {other:?}"),
        }
    }
}

#[test]
fn response_capacity_need_is_exact_at_every_size() {
    // For every buffer that holds the request and the head but not the whole
    // body, the error names the exact total; that size then succeeds.
    let w = big_token_response(600);
    let total = w.len();
    let head = head_len(&w);
    let request = expected_request().len();
    let token = "x".repeat(600);
    for size in [request.max(head + 1), total / 2 + 1, total - 1] {
        let c = case("sized", w.clone(), tok("", None, None)).buf(size);
        match run_blocking(&c, Delivery::Chunks(64)).0 {
            Outcome::Capacity(e) => assert_eq!(
                e,
                CapacityError::new(Buffer::Response, total, size, true),
                "size {size}"
            ),
            other => panic!("size {size}: {other:?}"),
        }
    }
    let c = case("fits", w, tok(&token, None, None)).buf(total + token.len());
    assert_eq!(run_blocking(&c, Delivery::Chunks(64)).0, c.expect);
}

#[test]
fn head_larger_than_a_custom_limit() {
    let w = ok(r#"{"access_token":"t","token_type":"Bearer"}"#);
    let head = head_len(&w);
    let config = common::config();
    for (limit, expect) in [
        (head - 1, http(HttpError::HeadTooLarge { limit: head - 1 })),
        (head, tok("t", None, None)),
    ] {
        for delivery in Delivery::ALL {
            let mut buf = [0u8; BUF];
            let mut stream = Scripted::new(w.clone(), delivery);
            let ex = Exchange::new(&config, &mut buf, Limits::new().with_max_head(limit)).unwrap();
            assert_eq!(
                run_exchange(&mut stream, ex),
                expect,
                "limit {limit} {delivery:?}"
            );
        }
    }
}

#[test]
fn header_count_limit_is_configurable() {
    let w = ok(r#"{"access_token":"t","token_type":"Bearer"}"#);
    // `ok` sends exactly three header fields.
    let config = common::config();
    for (limit, expect) in [
        (2, http(HttpError::TooManyHeaders { limit: 2 })),
        (3, tok("t", None, None)),
    ] {
        let mut buf = [0u8; BUF];
        let mut stream = Scripted::new(w.clone(), Delivery::Whole);
        let ex = Exchange::new(&config, &mut buf, Limits::new().with_max_headers(limit)).unwrap();
        assert_eq!(run_exchange(&mut stream, ex), expect, "limit {limit}");
    }
}

#[test]
fn body_limit_applies_to_close_delimited_and_chunked_bodies() {
    let body = r#"{"access_token":"abcdefghij","token_type":"Bearer"}"#;
    let close = format!("HTTP/1.0 200 OK\r\n\r\n{body}").into_bytes();
    let chunked = format!(
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n{}{}0\r\n\r\n",
        chunk(&body[..20]),
        chunk(&body[20..])
    )
    .into_bytes();
    let config = common::config();
    for w in [close, chunked] {
        for (limit, expect) in [
            (
                body.len() - 1,
                http(HttpError::BodyTooLarge {
                    limit: body.len() - 1,
                }),
            ),
            (body.len(), tok("abcdefghij", None, None)),
        ] {
            for delivery in Delivery::ALL {
                let mut buf = [0u8; BUF];
                let mut stream = Scripted::new(w.clone(), delivery);
                let ex =
                    Exchange::new(&config, &mut buf, Limits::new().with_max_body(limit)).unwrap();
                assert_eq!(
                    run_exchange(&mut stream, ex),
                    expect,
                    "{:?} limit {limit} {delivery:?}",
                    String::from_utf8_lossy(&w[..20])
                );
            }
        }
    }
}

#[test]
fn transport_errors_are_returned_intact() {
    let config = common::config();
    let w = ok(r#"{"access_token":"t","token_type":"Bearer"}"#);

    // Reset while reading the body.
    let mut buf = [0u8; BUF];
    let mut stream = Scripted::new(w[..w.len() - 5].to_vec(), Delivery::Chunks(7))
        .ending_with(common::AtEnd::Fail(StreamError::Reset));
    let ex = Exchange::new(&config, &mut buf, Limits::new()).unwrap();
    match blocking::run(&mut stream, ex) {
        Err(Error::Transport(StreamError::Reset)) => {}
        other => panic!("{other:?}"),
    }

    // Reset while writing the request.
    let mut buf = [0u8; BUF];
    let mut stream = Scripted::new(w.clone(), Delivery::Whole).failing_write_after(10);
    let log = stream.log();
    let ex = Exchange::new(&config, &mut buf, Limits::new()).unwrap();
    match blocking::run(&mut stream, ex) {
        Err(Error::Transport(StreamError::Reset)) => {}
        other => panic!("{other:?}"),
    }
    assert_eq!(log.borrow().written.len(), 10);
    assert_eq!(
        log.borrow().reads,
        0,
        "nothing is read after a failed write"
    );
}

#[test]
fn a_transport_that_accepts_nothing_is_write_zero() {
    struct Sink0;
    impl embedded_io::ErrorType for Sink0 {
        type Error = StreamError;
    }
    impl embedded_io::Read for Sink0 {
        fn read(&mut self, _: &mut [u8]) -> Result<usize, StreamError> {
            panic!("must not read after WriteZero")
        }
    }
    impl embedded_io::Write for Sink0 {
        fn write(&mut self, _: &[u8]) -> Result<usize, StreamError> {
            Ok(0)
        }
        fn flush(&mut self) -> Result<(), StreamError> {
            Ok(())
        }
    }
    let config = common::config();
    let mut buf = [0u8; BUF];
    let ex = Exchange::new(&config, &mut buf, Limits::new()).unwrap();
    assert!(matches!(
        blocking::run(&mut Sink0, ex),
        Err(Error::WriteZero)
    ));
}

#[test]
fn retry_after_is_parsed_from_the_head() {
    // The sans-IO reader exposes Retry-After for callers that back off.
    use embedded_oauth2::http::ResponseReader;
    let w = wire(
        "HTTP/1.1 503 Service Unavailable\r\nretry-after:  120 \r\nContent-Length: {len}\r\n\r\n",
        "busy",
    );
    let mut buf = [0u8; 256];
    let mut r = ResponseReader::new(Limits::new());
    buf[..w.len()].copy_from_slice(&w);
    assert!(r.advance(&mut buf, w.len()).unwrap());
    let head = r.head().unwrap();
    assert_eq!(
        (head.status, head.retry_after),
        (503, Some(embedded_oauth2::error::RetryAfter::Seconds(120)))
    );
    assert_eq!(r.body(&buf), b"busy");
}

/// Runs `w` through one exchange with the default config and limits.
fn exchange(w: &[u8], delivery: Delivery) -> Outcome {
    let c = case("adhoc", w.to_vec(), tok("", None, None));
    run_blocking(&c, delivery).0
}

#[test]
fn server_text_is_sanitised_and_truncated_exactly() {
    let w = json(
        "HTTP/1.1 400 Bad Request",
        &format!(
            r#"{{"error":"{}","error_description":"caf\u00e9\r\nX-Injected: 1 {}","error_uri":"https://as.example/{}"}}"#,
            "e".repeat(40),
            "z".repeat(120),
            "u".repeat(60)
        ),
    );
    for delivery in Delivery::ALL {
        let Outcome::OAuth(e, details) = exchange(&w, delivery) else {
            panic!("{delivery:?}")
        };
        assert_eq!(e.status, 400);
        let ErrorCode::Extension(code) = e.code else {
            panic!("{:?}", e.code)
        };
        assert_eq!(
            (code.as_str(), code.is_truncated()),
            ("e".repeat(24).as_str(), true)
        );
        let full = details.code.unwrap();
        assert_eq!(
            (full.as_str(), full.is_truncated()),
            ("e".repeat(40).as_str(), false)
        );
        let d = details.description.unwrap();
        // "caf" and `?` for the "é" (only printable ASCII is kept), CR and
        // LF replaced by `?`, then cut at 96 bytes.
        let expected = format!("caf???X-Injected: 1 {}", "z".repeat(76));
        assert_eq!(expected.len(), 96);
        assert_eq!((d.as_str(), d.is_truncated()), (expected.as_str(), true));
        let u = details.uri.unwrap();
        let expected = format!("https://as.example/{}", "u".repeat(64 - 19));
        assert_eq!((u.as_str(), u.is_truncated()), (expected.as_str(), true));
        assert_eq!(details.www_authenticate, None);
    }
}

#[test]
fn www_authenticate_is_kept_with_controls_replaced_and_truncated() {
    let long = format!("Basic realm=\"{}\", charset=\"UTF-8\"", "r".repeat(80));
    let w = wire(
        &format!(
            "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: {long}\r\nContent-Length: {{len}}\r\n\r\n"
        ),
        r#"{"error":"invalid_client"}"#,
    );
    let Outcome::OAuth(_, details) = exchange(&w, Delivery::Whole) else {
        panic!()
    };
    let h = details.www_authenticate.unwrap();
    assert_eq!((h.as_str(), h.is_truncated()), (&long[..64], true));
}

#[test]
fn trailer_flood_is_bounded() {
    let mut w = format!(
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n{}0\r\n",
        chunk(r#"{"access_token":"t","token_type":"Bearer"}"#)
    )
    .into_bytes();
    for i in 0..20_000 {
        w.extend_from_slice(format!("X-T-{i}: {}\r\n", "v".repeat(34)).as_bytes());
    }
    w.extend_from_slice(b"\r\n");
    // The trailer section is header fields: it should count against the
    // head limit (4096), like interim heads do. Any Http limit error would
    // do; accepting it means a server can stream fields forever.
    let got = exchange(&w, Delivery::Chunks(1024));
    assert!(
        matches!(
            got,
            Outcome::Http(HttpError::HeadTooLarge { limit: 4096 })
                | Outcome::Http(HttpError::BodyTooLarge { limit: 16384 })
        ),
        "{got:?}"
    );
}

#[test]
fn deliveries_really_split_the_response_and_reading_stops_when_complete() {
    let framed = ok(r#"{"access_token":"t","token_type":"Bearer"}"#);
    let close =
        b"HTTP/1.0 200 OK\r\n\r\n{\"access_token\":\"t\",\"token_type\":\"Bearer\"}".to_vec();
    for (w, eof_read) in [(framed, 0), (close, 1)] {
        let l = w.len();
        for (delivery, data_reads) in [
            (Delivery::Whole, 1),
            (Delivery::Bytewise, l),
            (Delivery::Chunks(7), l.div_ceil(7)),
            (Delivery::Choppy, l.div_ceil(3)),
        ] {
            let c = case("split", w.clone(), tok("t", None, None));
            let (got, log) = run_blocking(&c, delivery);
            assert_eq!(got, c.expect, "{delivery:?}");
            let log = log.borrow();
            // A Content-Length response is complete without waiting for
            // EOF (which a keep-alive server would never send).
            assert_eq!(log.reads, data_reads + eof_read, "{delivery:?} len {l}");
            assert_eq!(log.delivered, l);
        }
    }
}
