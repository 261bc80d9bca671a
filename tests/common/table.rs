//! The table of recorded-style raw HTTP responses, each with its exact
//! outcome, shared by every driver's test: `tests/responses.rs` runs it
//! through `blocking::run`, `tests/async_driver.rs` through `asynch::run`.
//! Both go over [`Scripted`] streams under every [`Delivery`].

use std::cell::RefCell;
use std::rc::Rc;

use embedded_oauth2::error::{
    Buffer, CapacityError, ErrorDetails, HttpError, OAuthError, ResponseError, RetryAfter, Text,
};
use embedded_oauth2::http::{Exchange, encode_request};
use embedded_oauth2::{Error, ErrorCode, Limits, TokenType, blocking};

use super::{BASIC_ID_S, Delivery, Log, Scripted, json, wire};

/// The observable result of one exchange, owned so it outlives the buffer.
// `OAuthError` is large by design (it carries server text by value).
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Token {
        token: String,
        token_type: TokenType,
        expires_in: Option<u64>,
        scope: Option<String>,
    },
    /// The error and its free text (`ErrorDetails`).
    OAuth(OAuthError, ErrorDetails),
    Http(HttpError),
    Response(ResponseError),
    Capacity(CapacityError),
    /// Anything else (transport, config, write-zero): never expected here.
    Other(String),
}

pub fn tok(token: &str, expires_in: Option<u64>, scope: Option<&str>) -> Outcome {
    Outcome::Token {
        token: token.to_owned(),
        token_type: TokenType::Bearer,
        expires_in,
        scope: scope.map(str::to_owned),
    }
}

pub fn oauth(
    status: u16,
    code: ErrorCode,
    description: Option<&str>,
    uri: Option<&str>,
    www_authenticate: Option<&str>,
) -> Outcome {
    let mut details = ErrorDetails::default();
    details.code = Some(Text::from_str_lossy(code.as_str()));
    details.description = description.map(Text::from_str_lossy);
    details.uri = uri.map(Text::from_str_lossy);
    details.www_authenticate = www_authenticate.map(Text::from_str_lossy);
    Outcome::OAuth(OAuthError::new(status, code, None), details)
}

/// An OAuth error that came with `Retry-After`.
pub fn with_retry_after(outcome: Outcome, retry_after: RetryAfter) -> Outcome {
    match outcome {
        Outcome::OAuth(mut e, d) => {
            e.retry_after = Some(retry_after);
            Outcome::OAuth(e, d)
        }
        other => other,
    }
}

pub fn http(e: HttpError) -> Outcome {
    Outcome::Http(e)
}

pub fn resp(e: ResponseError) -> Outcome {
    Outcome::Response(e)
}

pub struct Case {
    pub name: &'static str,
    pub wire: Vec<u8>,
    pub expect: Outcome,
    /// Work buffer size.
    pub buf: usize,
}

pub const BUF: usize = 2048;

pub fn case(name: &'static str, wire: impl Into<Vec<u8>>, expect: Outcome) -> Case {
    Case {
        name,
        wire: wire.into(),
        expect,
        buf: BUF,
    }
}

impl Case {
    pub fn buf(mut self, n: usize) -> Self {
        self.buf = n;
        self
    }
}

/// A 200 response with `body` and a correct Content-Length.
pub fn ok(body: &str) -> Vec<u8> {
    json("HTTP/1.1 200 OK", body)
}

/// A minimal token body with `expires_in` set to the raw JSON `v`.
pub fn with_expires(v: &str) -> Vec<u8> {
    ok(&format!(
        r#"{{"access_token":"t0k","token_type":"Bearer","expires_in":{v}}}"#
    ))
}

/// A minimal token body with the raw JSON string `t` as access token.
pub fn with_token(t: &str) -> Vec<u8> {
    ok(&format!(
        r#"{{"access_token":"{t}","token_type":"Bearer"}}"#
    ))
}

/// One chunk of a chunked body with a chunk extension.
pub fn chunk_ext(data: &str, ext: &str) -> String {
    format!("{:x}{ext}\r\n{data}\r\n", data.len())
}

/// One chunk of a chunked body.
pub fn chunk(data: &str) -> String {
    format!("{:x}\r\n{data}\r\n", data.len())
}

pub const KEYCLOAK_TOKEN: &str = "eyJhbGciOiJSUzI1NiIsInR5cCIgOiAiSldUIiwia2lkIiA6ICJ2Y1RqIn0.eyJleHAiOjE3MDAwMDAzMDAsImlhdCI6MTcwMDAwMDAwMCwianRpIjoiNmQ0ZiIsImlzcyI6Imh0dHA6Ly9rYy9yZWFsbXMvZGV2aWNlcyJ9.c2lnbmF0dXJl";

pub const KEYCLOAK_BODY: &str = r#"{"access_token":"eyJhbGciOiJSUzI1NiIsInR5cCIgOiAiSldUIiwia2lkIiA6ICJ2Y1RqIn0.eyJleHAiOjE3MDAwMDAzMDAsImlhdCI6MTcwMDAwMDAwMCwianRpIjoiNmQ0ZiIsImlzcyI6Imh0dHA6Ly9rYy9yZWFsbXMvZGV2aWNlcyJ9.c2lnbmF0dXJl","expires_in":300,"refresh_expires_in":0,"token_type":"Bearer","id_token":null,"not-before-policy":0,"session_state":"1a2b3c4d-5e6f-7a8b-9c0d-e1f2a3b4c5d6","scope":"profile email","realm_access":{"roles":["offline_access","uma_authorization","default-roles-devices"]},"resource_access":{"account":{"roles":["manage-account","view-profile"]}},"authorization":{"permissions":[{"rsid":"7f3e","rsname":"telemetry","scopes":["write","read"]}]},"upgraded":false}"#;

pub fn cases() -> Vec<Case> {
    let mut v = vec![
        // ---- successful responses, provider styles --------------------------------
        case(
            "rfc6749 §4.4.3 example with a Bearer type",
            wire(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json;charset=UTF-8\r\nCache-Control: no-store\r\nPragma: no-cache\r\nContent-Length: {len}\r\n\r\n",
                "{\r\n  \"access_token\":\"2YotnFZFEjr1zCsicMWpAA\",\r\n  \"token_type\":\"Bearer\",\r\n  \"expires_in\":3600,\r\n  \"example_parameter\":\"example_value\"\r\n}",
            ),
            tok("2YotnFZFEjr1zCsicMWpAA", Some(3600), None),
        ),
        case(
            "rfc6749 §4.4.3 example verbatim (token_type example)",
            wire(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json;charset=UTF-8\r\nCache-Control: no-store\r\nPragma: no-cache\r\nContent-Length: {len}\r\n\r\n",
                r#"{"access_token":"2YotnFZFEjr1zCsicMWpAA","token_type":"example","expires_in":3600,"example_parameter":"example_value"}"#,
            ),
            resp(ResponseError::UnsupportedTokenType),
        ),
        case(
            "keycloak (quarkus, lowercase headers, many extra members)",
            wire(
                "HTTP/1.1 200 OK\r\nReferrer-Policy: no-referrer\r\nX-Frame-Options: SAMEORIGIN\r\nStrict-Transport-Security: max-age=31536000; includeSubDomains\r\nX-Content-Type-Options: nosniff\r\nX-XSS-Protection: 1; mode=block\r\ncache-control: no-store\r\npragma: no-cache\r\ncontent-type: application/json\r\ncontent-length: {len}\r\n\r\n",
                KEYCLOAK_BODY,
            ),
            tok(KEYCLOAK_TOKEN, Some(300), Some("profile email")),
        ),
        case(
            "auth0 (chunked through a CDN)",
            format!(
                "HTTP/1.1 200 OK\r\nDate: Tue, 14 Nov 2023 10:00:00 GMT\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\nCF-Ray: 8259c0d6a8b3-FRA\r\nCache-Control: no-store\r\nPragma: no-cache\r\nX-Auth0-RequestId: 1a2b3c\r\nServer: cloudflare\r\n\r\n{}{}0\r\n\r\n",
                chunk(r#"{"access_token":"eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJhdXRoMCJ9.sig-_A","#),
                chunk(r#""scope":"read:messages write:messages","expires_in":86400,"token_type":"Bearer"}"#),
            ),
            tok(
                "eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJhdXRoMCJ9.sig-_A",
                Some(86400),
                Some("read:messages write:messages"),
            ),
        ),
        case(
            "okta (rate-limit headers, set-cookie)",
            wire(
                "HTTP/1.1 200 OK\r\nDate: Tue, 14 Nov 2023 10:00:00 GMT\r\nContent-Type: application/json\r\nServer: nginx\r\nx-okta-request-id: ZVNJk2t9\r\nx-rate-limit-limit: 600\r\nx-rate-limit-remaining: 599\r\nx-rate-limit-reset: 1700000060\r\nCache-Control: no-cache, no-store\r\nPragma: no-cache\r\nExpires: 0\r\nSet-Cookie: JSESSIONID=E1; Path=/; Secure; HttpOnly\r\nContent-Length: {len}\r\n\r\n",
                r#"{"token_type":"Bearer","expires_in":3600,"access_token":"eyJraWQiOiJvIn0.eyJ2ZXIiOjF9.b2t0YQ","scope":"customScope"}"#,
            ),
            tok("eyJraWQiOiJvIn0.eyJ2ZXIiOjF9.b2t0YQ", Some(3600), Some("customScope")),
        ),
        case(
            "azure ad v1 (numeric strings)",
            wire(
                "HTTP/1.1 200 OK\r\nCache-Control: no-store, no-cache\r\nPragma: no-cache\r\nContent-Type: application/json; charset=utf-8\r\nExpires: -1\r\nStrict-Transport-Security: max-age=31536000; includeSubDomains\r\nX-Content-Type-Options: nosniff\r\nx-ms-request-id: 5b9f\r\nx-ms-ests-server: 2.1.16657.9 - NEULR1 ProdSlices\r\nP3P: CP=\"DSP CUR OTPi IND OTRi ONL FIN\"\r\nContent-Length: {len}\r\n\r\n",
                r#"{"token_type":"Bearer","expires_in":"3599","ext_expires_in":"3599","expires_on":"1700003599","not_before":"1700000000","resource":"https://graph.microsoft.com","access_token":"eyJ0eXAiOiJKV1QifQ.eyJhdWQiOiJncmFwaCJ9.YXp1cmU"}"#,
            ),
            tok("eyJ0eXAiOiJKV1QifQ.eyJhdWQiOiJncmFwaCJ9.YXp1cmU", Some(3599), None),
        ),
        case(
            "azure ad v2 (numbers, ext_expires_in)",
            ok(
                r#"{"token_type":"Bearer","expires_in":3599,"ext_expires_in":3599,"access_token":"eyJ0eXAiOiJKV1QifQ.e30.djI"}"#,
            ),
            tok("eyJ0eXAiOiJKV1QifQ.e30.djI", Some(3599), None),
        ),
        case(
            "aws cognito (no scope)",
            wire(
                "HTTP/1.1 200 OK\r\nDate: Tue, 14 Nov 2023 10:00:00 GMT\r\nContent-Type: application/json;charset=UTF-8\r\nContent-Length: {len}\r\nConnection: keep-alive\r\nx-amz-cognito-request-id: 7e1c\r\nX-Application-Context: application:prod:8443\r\nServer: Server\r\n\r\n",
                r#"{"access_token":"eyJraWQiOiJjIn0.eyJ0b2tlbl91c2UiOiJhY2Nlc3MifQ.Y29n","expires_in":3600,"token_type":"Bearer"}"#,
            ),
            tok("eyJraWQiOiJjIn0.eyJ0b2tlbl91c2UiOiJhY2Nlc3MifQ.Y29n", Some(3600), None),
        ),
        case(
            "salesforce (opaque token with `!`, issued_at as string)",
            wire(
                "HTTP/1.1 200 OK\r\nDate: Tue, 14 Nov 2023 10:00:00 GMT\r\nStrict-Transport-Security: max-age=63072000; includeSubDomains\r\nCache-Control: no-cache,must-revalidate,max-age=0,no-store,private\r\nContent-Type: application/json;charset=UTF-8\r\nVary: Accept-Encoding\r\nTransfer-Encoding: chunked\r\n\r\n",
                "",
            )
            .into_iter()
            .chain(
                format!(
                    "{}0\r\n\r\n",
                    chunk(r#"{"access_token":"00D5e000000XXXX!AQ0AQH0dMHZfz972Szmpkb58urFRkgeBGsxL_QJWwYMfAbUee","instance_url":"https://acme.my.salesforce.com","id":"https://login.salesforce.com/id/00D5e000000XXXXEAA/0055e000003E8ooAAC","token_type":"Bearer","issued_at":"1700000000000","signature":"SSSbLO/gBhmmyNUvN18ODBDFYHzakxOMgqYtu+hDPsc="}"#)
                )
                .into_bytes(),
            )
            .collect::<Vec<u8>>(),
            tok(
                "00D5e000000XXXX!AQ0AQH0dMHZfz972Szmpkb58urFRkgeBGsxL_QJWwYMfAbUee",
                None,
                None,
            ),
        ),
        case(
            "lowercase bearer",
            ok(r#"{"access_token":"abc","token_type":"bearer","expires_in":60}"#),
            tok("abc", Some(60), None),
        ),
        case(
            "uppercase BEARER",
            ok(r#"{"access_token":"abc","token_type":"BEARER","expires_in":60}"#),
            tok("abc", Some(60), None),
        ),
        case(
            "escaped slash and \\u0041 in the token",
            ok(r#"{"access_token":"a\/b\u0041c\/","token_type":"Bearer","scope":"x\/y"}"#),
            tok("a/bAc/", None, Some("x/y")),
        ),
        case(
            "nested unknown members and arrays of every JSON type",
            ok(
                r#"{"x":{"a":[1,{"b":"c\"d"}],"e":[[],{}]},"access_token":"n3st","y":[true,false,null,1.5e3,-2,"s"],"token_type":"Bearer","z":{"expires_in":-1,"access_token":""},"expires_in":120}"#,
            ),
            tok("n3st", Some(120), None),
        ),
        case(
            "whitespace everywhere and a trailing newline",
            ok(
                " \n{ \"access_token\" : \"ws\" ,\n\t\"token_type\" : \"Bearer\" , \"expires_in\" : 45 }\n",
            ),
            tok("ws", Some(45), None),
        ),
        case(
            "a string value that looks like an expires_in member",
            ok(
                r#"{"note":"\"expires_in\":5,","access_token":"q","token_type":"Bearer","expires_in":7}"#,
            ),
            tok("q", Some(7), None),
        ),
        case(
            "expires_in null",
            with_expires("null"),
            tok("t0k", None, None),
        ),
        case(
            "expires_in as a numeric string",
            with_expires("\"86400\""),
            tok("t0k", Some(86400), None),
        ),
        case(
            "expires_in of 19 digits (fits u64; capped later by the policy)",
            with_expires("9999999999999999999"),
            tok("t0k", Some(9_999_999_999_999_999_999), None),
        ),
        case(
            "empty scope is no scope",
            ok(r#"{"access_token":"t","token_type":"Bearer","scope":""}"#),
            tok("t", None, None),
        ),
        case(
            "chunked with chunk extensions and trailers",
            format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nTrailer: X-Checksum\r\n\r\n{}{}{}0;last\r\nX-Checksum: abc\r\nX-Other: 1\r\n\r\n",
                chunk_ext(r#"{"access_token":""#, ";name=value"),
                chunk_ext("ch-unk3d", ";a=1;b=\"q\""),
                chunk_ext(r#"","token_type":"Bearer","x":1}"#, " ; c"),
            ),
            tok("ch-unk3d", None, None),
        ),
        case(
            "chunked with uppercase hex sizes and a one-byte chunk",
            format!(
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\n{{\r\n2B\r\n{}\r\n0\r\n\r\n",
                r#""access_token":"hex","token_type":"Bearer"}"#,
            ),
            tok("hex", None, None),
        ),
        case(
            "close-delimited HTTP/1.0 without Content-Length",
            b"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\nServer: BaseHTTP/0.6 Python/3.11\r\n\r\n{\"access_token\":\"old-school\",\"token_type\":\"Bearer\",\"expires_in\":30}".to_vec(),
            tok("old-school", Some(30), None),
        ),
        case(
            "close-delimited HTTP/1.1 with Connection: close",
            b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Type: application/json\r\n\r\n{\"access_token\":\"closed\",\"token_type\":\"Bearer\"}".to_vec(),
            tok("closed", None, None),
        ),
        case(
            "100 Continue before the final response",
            [
                &b"HTTP/1.1 100 Continue\r\n\r\n"[..],
                &ok(r#"{"access_token":"after100","token_type":"Bearer"}"#),
            ]
            .concat(),
            tok("after100", None, None),
        ),
        case(
            "103 Early Hints before the final response",
            [
                &b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload; as=style\r\nLink: </app.js>; rel=preload\r\n\r\n"[..],
                &ok(r#"{"access_token":"after103","token_type":"Bearer"}"#),
            ]
            .concat(),
            tok("after103", None, None),
        ),
        case(
            "100 Continue and 103 Early Hints before a chunked final response",
            format!(
                "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </x>\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n{}0\r\n\r\n",
                chunk(r#"{"access_token":"both","token_type":"Bearer"}"#)
            ),
            tok("both", None, None),
        ),
        case(
            "CONTENT-LENGTH and mixed-case header names",
            wire(
                "HTTP/1.1 200 OK\r\nCONTENT-TYPE: application/json\r\nCONTENT-LENGTH: {len}\r\nCache-CONTROL: no-store\r\n\r\n",
                r#"{"access_token":"upper","token_type":"Bearer"}"#,
            ),
            tok("upper", None, None),
        ),
        case(
            "content-length with surrounding whitespace",
            wire(
                "HTTP/1.1 200 OK\r\ncontent-length: \t {len} \t\r\n\r\n",
                r#"{"access_token":"lower","token_type":"Bearer"}"#,
            ),
            tok("lower", None, None),
        ),
        case(
            "identical Content-Length values repeated",
            wire(
                "HTTP/1.1 200 OK\r\nContent-Length: {len}, {len}\r\nContent-Length: {len}\r\n\r\n",
                r#"{"access_token":"same","token_type":"Bearer"}"#,
            ),
            tok("same", None, None),
        ),
        case(
            "Transfer-Encoding chunked overrides Content-Length",
            format!(
                "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n{}0\r\n\r\n",
                chunk(r#"{"access_token":"te-wins","token_type":"Bearer"}"#)
            ),
            tok("te-wins", None, None),
        ),
        case(
            "bare LF line endings in the head",
            wire(
                "HTTP/1.1 200 OK\nContent-Type: application/json\nContent-Length: {len}\n\n",
                r#"{"access_token":"lf","token_type":"Bearer"}"#,
            ),
            tok("lf", None, None),
        ),
        // ---- OAuth error responses -------------------------------------------------
        case(
            "200 carrying an error object",
            ok(r#"{"error":"invalid_request","error_description":"grant_type missing"}"#),
            oauth(200, ErrorCode::InvalidRequest, Some("grant_type missing"), None, None),
        ),
        case(
            "400 invalid_scope with description and uri",
            json(
                "HTTP/1.1 400 Bad Request",
                r#"{"error":"invalid_scope","error_description":"Scope \"admin\" is not allowed","error_uri":"https://as.example/errors#scope"}"#,
            ),
            oauth(
                400,
                ErrorCode::InvalidScope,
                Some("Scope \"admin\" is not allowed"),
                Some("https://as.example/errors#scope"),
                None,
            ),
        ),
        case(
            "400 invalid_target (RFC 8707)",
            json(
                "HTTP/1.1 400 Bad Request",
                r#"{"error":"invalid_target","error_description":"unknown resource"}"#,
            ),
            oauth(400, ErrorCode::InvalidTarget, Some("unknown resource"), None, None),
        ),
        case(
            "401 invalid_client with WWW-Authenticate",
            wire(
                "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"x\"\r\nContent-Type: application/json\r\nContent-Length: {len}\r\n\r\n",
                r#"{"error":"invalid_client","error_description":"Client authentication failed"}"#,
            ),
            oauth(
                401,
                ErrorCode::InvalidClient,
                Some("Client authentication failed"),
                None,
                Some("Basic realm=\"x\""),
            ),
        ),
        case(
            "401 with two WWW-Authenticate fields keeps the first",
            wire(
                "HTTP/1.1 401 Unauthorized\r\nwww-authenticate: Basic realm=\"first\"\r\nWWW-Authenticate: Bearer realm=\"second\"\r\nContent-Length: {len}\r\n\r\n",
                r#"{"error":"invalid_client"}"#,
            ),
            oauth(401, ErrorCode::InvalidClient, None, None, Some("Basic realm=\"first\"")),
        ),
        case(
            "DPoP error code (RFC 9449)",
            json(
                "HTTP/1.1 400 Bad Request",
                r#"{"error":"invalid_dpop_proof","error_description":"DPoP proof required"}"#,
            ),
            oauth(
                400,
                ErrorCode::InvalidDpopProof,
                Some("DPoP proof required"),
                None,
                None,
            ),
        ),
        case(
            "extension error code",
            json(
                "HTTP/1.1 400 Bad Request",
                r#"{"error":"authorization_pending","error_description":"not yet"}"#,
            ),
            oauth(
                400,
                ErrorCode::Extension(Text::from_str_lossy("authorization_pending")),
                Some("not yet"),
                None,
                None,
            ),
        ),
        case(
            "error description with control characters, unicode and truncation",
            json(
                "HTTP/1.1 400 Bad Request",
                &format!(
                    r#"{{"error":"invalid_request","error_description":"caf\u00e9\r\nX-Injected: 1 {}"}}"#,
                    "z".repeat(120)
                ),
            ),
            oauth(
                400,
                ErrorCode::InvalidRequest,
                Some(&format!("café\r\nX-Injected: 1 {}", "z".repeat(120))),
                None,
                None,
            ),
        ),
        case(
            "400 error object in a chunked body",
            format!(
                "HTTP/1.1 400 Bad Request\r\nTransfer-Encoding: chunked\r\n\r\n{}{}0\r\n\r\n",
                chunk(r#"{"error":"unauthorized_"#),
                chunk(r#"client"}"#)
            ),
            oauth(400, ErrorCode::UnauthorizedClient, None, None, None),
        ),
        case(
            "503 with Retry-After and an OAuth error body",
            wire(
                "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 120\r\nContent-Type: application/json\r\nContent-Length: {len}\r\n\r\n",
                r#"{"error":"temporarily_unavailable","error_description":"maintenance"}"#,
            ),
            with_retry_after(
                oauth(
                    503,
                    ErrorCode::TemporarilyUnavailable,
                    Some("maintenance"),
                    None,
                    None,
                ),
                RetryAfter::Seconds(120),
            ),
        ),
        case(
            "503 with Retry-After and a plain-text body",
            wire(
                "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 30\r\nContent-Type: text/plain\r\nContent-Length: {len}\r\n\r\n",
                "Service Unavailable",
            ),
            http(HttpError::UnexpectedStatus {
                status: 503,
                retry_after: Some(RetryAfter::Seconds(30)),
            }),
        ),
        case(
            "500 with an HTML body",
            wire(
                "HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/html; charset=iso-8859-1\r\nContent-Length: {len}\r\n\r\n",
                "<!DOCTYPE html>\n<html><head><title>500 Internal Server Error</title></head><body><h1>Oops {\"error\"</h1></body></html>\n",
            ),
            http(HttpError::UnexpectedStatus { status: 500, retry_after: None }),
        ),
        case(
            "401 without a body",
            b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"x\"\r\nContent-Length: 0\r\n\r\n".to_vec(),
            http(HttpError::UnexpectedStatus { status: 401, retry_after: None }),
        ),
        case(
            "400 with an empty JSON object",
            json("HTTP/1.1 400 Bad Request", "{}"),
            http(HttpError::UnexpectedStatus { status: 400, retry_after: None }),
        ),
        // ---- hostile or broken responses -------------------------------------------
        case(
            "truncated body: Content-Length larger than what is sent",
            b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"access_token\":\"t\",\"token_type\":\"Bearer\"}".to_vec(),
            http(HttpError::UnexpectedEof),
        ),
        case(
            "truncated chunked body",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n40\r\n{\"access_token\":\"t\",".to_vec(),
            http(HttpError::UnexpectedEof),
        ),
        case(
            "chunked body without the last chunk",
            format!(
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n{}",
                chunk(r#"{"access_token":"t","token_type":"Bearer"}"#)
            ),
            http(HttpError::UnexpectedEof),
        ),
        case(
            "truncated head",
            b"HTTP/1.1 200 OK\r\nContent-Type: applica".to_vec(),
            http(HttpError::UnexpectedEof),
        ),
        case(
            "no response at all",
            Vec::new(),
            http(HttpError::UnexpectedEof),
        ),
        case(
            "lying Content-Length smaller than the JSON",
            b"HTTP/1.1 200 OK\r\nContent-Length: 30\r\n\r\n{\"access_token\":\"t\",\"token_type\":\"Bearer\"}".to_vec(),
            resp(ResponseError::Json),
        ),
        case(
            "escaped CR LF inside the token",
            with_token(r"abc\r\nX-Evil: 1"),
            resp(ResponseError::InvalidAccessToken),
        ),
        case(
            "escaped NUL inside the token",
            with_token(r"abc\u0000def"),
            resp(ResponseError::InvalidAccessToken),
        ),
        case(
            "space inside the token",
            with_token("abc def"),
            resp(ResponseError::InvalidAccessToken),
        ),
        case(
            "non-ASCII token",
            with_token("t\u{f6}ken"),
            resp(ResponseError::InvalidAccessToken),
        ),
        case(
            "missing access_token",
            ok(r#"{"token_type":"Bearer","expires_in":3600}"#),
            resp(ResponseError::MissingAccessToken),
        ),
        case(
            "empty access_token",
            with_token(""),
            resp(ResponseError::EmptyAccessToken),
        ),
        case(
            "access_token is a number",
            ok(r#"{"access_token":12345,"token_type":"Bearer"}"#),
            resp(ResponseError::WrongType),
        ),
        case(
            "missing token_type",
            ok(r#"{"access_token":"t","expires_in":3600}"#),
            resp(ResponseError::MissingTokenType),
        ),
        case(
            "token_type mac",
            ok(r#"{"access_token":"t","token_type":"mac","mac_key":"k","mac_algorithm":"hmac-sha-256"}"#),
            resp(ResponseError::UnsupportedTokenType),
        ),
        case(
            "token_type DPoP",
            ok(r#"{"access_token":"t","token_type":"DPoP","expires_in":300}"#),
            resp(ResponseError::UnsupportedTokenType),
        ),
        case(
            "negative expires_in",
            with_expires("-3600"),
            resp(ResponseError::InvalidExpiresIn),
        ),
        case(
            "zero expires_in",
            with_expires("0"),
            resp(ResponseError::InvalidExpiresIn),
        ),
        case(
            "float expires_in",
            with_expires("3600.5"),
            resp(ResponseError::InvalidExpiresIn),
        ),
        case(
            "exponent expires_in",
            with_expires("3.6e3"),
            resp(ResponseError::InvalidExpiresIn),
        ),
        case(
            "huge expires_in",
            with_expires("123456789012345678901234567890"),
            resp(ResponseError::InvalidExpiresIn),
        ),
        case(
            "expires_in just above u64::MAX",
            with_expires("18446744073709551616"),
            resp(ResponseError::InvalidExpiresIn),
        ),
        case(
            "non-numeric string expires_in",
            with_expires("\"one hour\""),
            resp(ResponseError::InvalidExpiresIn),
        ),
        case(
            "boolean expires_in",
            with_expires("true"),
            resp(ResponseError::InvalidExpiresIn),
        ),
        case(
            "scope with a forbidden character",
            ok(r#"{"access_token":"t","token_type":"Bearer","scope":"read \"all\""}"#),
            resp(ResponseError::InvalidScope),
        ),
        case(
            "deeply nested unknown member",
            ok(&format!(
                r#"{{"access_token":"t","token_type":"Bearer","x":{}1{}}}"#,
                "[".repeat(40),
                "]".repeat(40)
            )),
            resp(ResponseError::TooDeep),
        ),
        case(
            "nesting one level beyond MAX_JSON_DEPTH",
            ok(&format!(
                r#"{{"access_token":"t","token_type":"Bearer","x":{}{}}}"#,
                r#"{"a":"#.repeat(embedded_oauth2::http::MAX_JSON_DEPTH),
                "}".repeat(embedded_oauth2::http::MAX_JSON_DEPTH)
            )),
            resp(ResponseError::TooDeep),
        ),
        case(
            "nesting exactly at MAX_JSON_DEPTH is accepted",
            ok(&format!(
                r#"{{"access_token":"deep","token_type":"Bearer","x":{}1{}}}"#,
                r#"{"a":"#.repeat(embedded_oauth2::http::MAX_JSON_DEPTH - 1),
                "}".repeat(embedded_oauth2::http::MAX_JSON_DEPTH - 1)
            )),
            tok("deep", None, None),
        ),
        case(
            "200 with a body that is not JSON",
            wire(
                "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {len}\r\n\r\n",
                "<html><body>Login</body></html>",
            ),
            resp(ResponseError::Json),
        ),
        case(
            "200 with a top-level JSON string",
            ok(r#""access_token""#),
            resp(ResponseError::Json),
        ),
        case(
            "200 with a top-level JSON number",
            ok("  42"),
            resp(ResponseError::Json),
        ),
        case(
            "200 with a JSON array",
            ok(r#"[{"access_token":"t","token_type":"Bearer"}]"#),
            resp(ResponseError::Json),
        ),
        case(
            "200 with trailing garbage after the object",
            ok(r#"{"access_token":"t","token_type":"Bearer"}{"x":1}"#),
            resp(ResponseError::Json),
        ),
        case(
            "200 with an empty body",
            b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n".to_vec(),
            resp(ResponseError::Json),
        ),
        case(
            "duplicate access_token member",
            ok(r#"{"access_token":"first","token_type":"Bearer","access_token":"second"}"#),
            resp(ResponseError::DuplicateMember),
        ),
        case(
            "duplicate expires_in member",
            ok(r#"{"access_token":"t","expires_in":60,"token_type":"Bearer","expires_in":999999}"#),
            resp(ResponseError::DuplicateMember),
        ),
        case(
            "header flood (40 fields)",
            {
                let mut w = String::from("HTTP/1.1 200 OK\r\n");
                for i in 0..40 {
                    w.push_str(&format!("X-Flood-{i:02}: y\r\n"));
                }
                wire(
                    &(w + "Content-Length: {len}\r\n\r\n"),
                    r#"{"access_token":"t","token_type":"Bearer"}"#,
                )
            },
            http(HttpError::TooManyHeaders { limit: 24 }),
        ),
        case(
            "exactly 24 header fields (MAX_HEADERS) are accepted",
            {
                let mut w = String::from("HTTP/1.1 200 OK\r\n");
                for i in 0..23 {
                    w.push_str(&format!("X-Many-{i:02}: y\r\n"));
                }
                wire(
                    &(w + "Content-Length: {len}\r\n\r\n"),
                    r#"{"access_token":"many","token_type":"Bearer"}"#,
                )
            },
            tok("many", None, None),
        ),
        case(
            "head larger than the 4096-byte limit",
            wire(
                &format!(
                    "HTTP/1.1 200 OK\r\nX-Padding: {}\r\nContent-Length: {{len}}\r\n\r\n",
                    "p".repeat(4100)
                ),
                r#"{"access_token":"t","token_type":"Bearer"}"#,
            ),
            http(HttpError::HeadTooLarge { limit: 4096 }),
        )
        .buf(8192),
        case(
            "301 redirect",
            wire(
                "HTTP/1.1 301 Moved Permanently\r\nLocation: https://evil.example/token\r\nContent-Type: text/html\r\nContent-Length: {len}\r\n\r\n",
                "<a href=\"https://evil.example/token\">Moved</a>",
            ),
            http(HttpError::Redirect { status: 301 }),
        ),
        case(
            "302 redirect",
            b"HTTP/1.1 302 Found\r\nLocation: /login\r\nContent-Length: 0\r\n\r\n".to_vec(),
            http(HttpError::Redirect { status: 302 }),
        ),
        case(
            "307 redirect with a token-looking body",
            wire(
                "HTTP/1.1 307 Temporary Redirect\r\nLocation: https://other.example/token\r\nContent-Length: {len}\r\n\r\n",
                r#"{"access_token":"t","token_type":"Bearer"}"#,
            ),
            http(HttpError::Redirect { status: 307 }),
        ),
        case(
            "308 redirect without framing",
            b"HTTP/1.1 308 Permanent Redirect\r\nLocation: https://other.example/token\r\n\r\n".to_vec(),
            http(HttpError::Redirect { status: 308 }),
        ),
        case(
            "flood of 100 Continue interim responses",
            [
                b"HTTP/1.1 100 Continue\r\n\r\n".repeat(400),
                ok(r#"{"access_token":"t","token_type":"Bearer"}"#),
            ]
            .concat(),
            http(HttpError::HeadTooLarge { limit: 4096 }),
        ),
        case(
            "Transfer-Encoding chunked sent twice",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n".to_vec(),
            http(HttpError::UnsupportedTransferEncoding),
        ),
        case(
            "101 Switching Protocols",
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n".to_vec(),
            http(HttpError::UnexpectedStatus { status: 101, retry_after: None }),
        ),
        case(
            "chunk size that is not hex",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n".to_vec(),
            http(HttpError::InvalidChunk),
        ),
        case(
            "negative chunk size",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n-2\r\n{}\r\n0\r\n\r\n".to_vec(),
            http(HttpError::InvalidChunk),
        ),
        case(
            "bare CRLF as chunk size",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\r\n{}\r\n0\r\n\r\n".to_vec(),
            http(HttpError::InvalidChunk),
        ),
        case(
            "chunk size overflowing 64 bits",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000000\r\n{}\r\n0\r\n\r\n".to_vec(),
            http(HttpError::InvalidChunk),
        ),
        case(
            "chunk data not followed by CRLF",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}XX0\r\n\r\n".to_vec(),
            http(HttpError::InvalidChunk),
        ),
        case(
            "chunk-size line longer than 256 bytes",
            format!(
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2;{}\r\n{{}}\r\n0\r\n\r\n",
                "e".repeat(300)
            ),
            http(HttpError::InvalidChunk),
        ),
        case(
            "chunk size beyond the body limit",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nFFFFFF\r\n{\"access_token\":".to_vec(),
            http(HttpError::BodyTooLarge { limit: 16384 }),
        ),
        case(
            "Content-Length beyond the body limit",
            b"HTTP/1.1 200 OK\r\nContent-Length: 99999999\r\n\r\n{}".to_vec(),
            http(HttpError::BodyTooLarge { limit: 16384 }),
        ),
        case(
            "Transfer-Encoding gzip",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nContent-Length: 2\r\n\r\n{}".to_vec(),
            http(HttpError::UnsupportedTransferEncoding),
        ),
        case(
            "Transfer-Encoding gzip, chunked",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n".to_vec(),
            http(HttpError::UnsupportedTransferEncoding),
        ),
        case(
            "Transfer-Encoding chunked on HTTP/1.0",
            b"HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n".to_vec(),
            http(HttpError::UnsupportedTransferEncoding),
        ),
        case(
            "Content-Length that is not a number",
            b"HTTP/1.1 200 OK\r\nContent-Length: 12abc\r\n\r\n{}".to_vec(),
            http(HttpError::InvalidContentLength),
        ),
        case(
            "conflicting Content-Length fields",
            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 20\r\n\r\n{}".to_vec(),
            http(HttpError::InvalidContentLength),
        ),
        case(
            "status line that is not HTTP",
            b"SSH-2.0-OpenSSH_9.6\r\n\r\n".to_vec(),
            http(HttpError::Malformed),
        ),
        case(
            "non-numeric status code",
            b"HTTP/1.1 2xx OK\r\nContent-Length: 2\r\n\r\n{}".to_vec(),
            http(HttpError::Malformed),
        ),
    ];
    v.extend(capacity_cases());
    v.extend(parser_edge_cases());
    v
}

/// A 200 response whose access token is `n` bytes of `x`.
pub fn big_token_response(n: usize) -> Vec<u8> {
    with_token(&"x".repeat(n))
}

/// The length of the head (status line and fields, blank line included).
pub fn head_len(w: &[u8]) -> usize {
    w.windows(4).position(|x| x == b"\r\n\r\n").unwrap() + 4
}

fn capacity_cases() -> Vec<Case> {
    // The whole response must fit in the work buffer: with Content-Length the
    // need is known exactly as soon as the head has arrived.
    let w = big_token_response(3000);
    let total = w.len();
    // The response (head + body) fits, but the token must also be staged
    // behind the body: the whole buffer must be response + token long.
    let staged = big_token_response(700);
    let staged_need = staged.len() + 700;
    vec![
        case(
            "access token larger than the work buffer",
            w,
            Outcome::Capacity(CapacityError::new(Buffer::Response, total, BUF, true)),
        ),
        case(
            "access token fits the response but not the staging area",
            staged,
            Outcome::Capacity(CapacityError::new(Buffer::Parse, staged_need, 1024, true)),
        )
        .buf(1024),
    ]
}

/// Cases that once failed: JSON whitespace, escaped member names and UTF-16
/// surrogate pairs.
fn parser_edge_cases() -> Vec<Case> {
    vec![
        case(
            "200 with a form-feed before the object (not JSON whitespace)",
            ok("\u{c}{\"access_token\":\"t\",\"token_type\":\"Bearer\"}"),
            resp(ResponseError::Json),
        ),
        case(
            "escaped member name expires_in",
            ok(r#"{"access_token":"t","token_type":"Bearer","expires\u005fin":60}"#),
            tok("t", Some(60), None),
        ),
        case(
            "surrogate-pair escape in an unknown member",
            ok(
                r#"{"access_token":"t","token_type":"Bearer","display_name":"sensor \ud83c\udf21"}"#,
            ),
            tok("t", None, None),
        ),
    ]
}

/// Runs an exchange through the blocking driver, keeping the error details.
pub fn run_exchange<S: embedded_io::Read + embedded_io::Write>(
    stream: &mut S,
    ex: Exchange<'_>,
) -> Outcome
where
    S::Error: core::fmt::Debug,
{
    let mut details = ErrorDetails::default();
    let r = blocking::run_with_details(stream, ex, &mut details);
    outcome_with(r, details)
}

/// The outcome, without error details (they are then empty).
pub fn outcome<E: core::fmt::Debug>(
    r: Result<embedded_oauth2::http::TokenResponse<'_>, Error<E>>,
) -> Outcome {
    outcome_with(r, ErrorDetails::default())
}

/// The outcome, with the details an exchange kept.
pub fn outcome_with<E: core::fmt::Debug>(
    r: Result<embedded_oauth2::http::TokenResponse<'_>, Error<E>>,
    details: ErrorDetails,
) -> Outcome {
    match r {
        Ok(t) => Outcome::Token {
            token: t.access_token.to_owned(),
            token_type: t.token_type,
            expires_in: t.expires_in,
            scope: t.scope.map(str::to_owned),
        },
        Err(Error::OAuth(e)) => Outcome::OAuth(e, details),
        Err(Error::Http(e)) => Outcome::Http(e),
        Err(Error::Response(e)) => Outcome::Response(e),
        Err(Error::Capacity(e)) => Outcome::Capacity(e),
        Err(other) => Outcome::Other(format!("{other:?}")),
    }
}

/// The exact request the default configuration sends.
pub fn expected_request() -> Vec<u8> {
    let mut b = [0u8; 1024];
    let n = encode_request(&super::config(), &mut b).unwrap();
    b[..n].to_vec()
}

/// One case through `blocking::run` over a [`Scripted`] stream: the
/// reference every driver is compared with.
pub fn run_blocking(case: &Case, delivery: Delivery) -> (Outcome, Rc<RefCell<Log>>) {
    let config = super::config();
    let mut buf = vec![0u8; case.buf];
    let mut stream = Scripted::new(case.wire.clone(), delivery);
    let log = stream.log();
    let ex = Exchange::new(&config, &mut buf, Limits::new()).expect("the request fits");
    let out = run_exchange(&mut stream, ex);
    (out, log)
}

pub fn check_request(name: &str, delivery: Delivery, log: &Log, request: &[u8]) {
    let ctx = format!("case {name:?}, delivery {delivery:?}");
    assert!(
        log.written.starts_with(b"POST /token HTTP/1.1\r\n"),
        "{ctx}: {:?}",
        String::from_utf8_lossy(&log.written)
    );
    assert!(
        super::contains(&log.written, BASIC_ID_S.as_bytes()),
        "{ctx}"
    );
    assert_eq!(log.written, request, "{ctx}: the whole request, once");
    assert_eq!(
        log.written_at_first_read,
        Some(request.len()),
        "{ctx}: request fully written before reading"
    );
    assert!(log.flushes >= 1, "{ctx}: flushed");
}

/// Runs every case through every delivery with `run` (a driver: blocking or
/// async), checks that the request went out whole before the first read, and
/// returns every outcome that differs from the table's expectation, so that
/// one run reports all mismatches at once.
pub fn run_table(
    cases: &[Case],
    mut run: impl FnMut(&Case, Delivery) -> (Outcome, Rc<RefCell<Log>>),
) -> Vec<String> {
    let request = expected_request();
    let mut failures = Vec::new();
    for c in cases {
        for delivery in Delivery::ALL {
            let (got, log) = run(c, delivery);
            if got != c.expect {
                failures.push(format!(
                    "case {:?}, delivery {delivery:?}:\n  expected {:?}\n       got {got:?}",
                    c.name, c.expect
                ));
            }
            check_request(c.name, delivery, &log.borrow(), &request);
        }
    }
    failures
}
