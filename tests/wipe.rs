//! The wiping promises, checked on the bytes themselves: a `Token`, a
//! `ClientSecret` and a `BearerHeader` leave nothing of their secret in
//! their memory once dropped, and a `Token` replaced by a shorter one keeps
//! nothing of the old one.
//!
//! The crate has no `unsafe`; this test needs it to look at memory after a
//! destructor ran. Each value sits in a `ManuallyDrop`, so its storage stays
//! valid after `ManuallyDrop::drop`; only the bytes of the secret's own
//! array are read (found by their offset while the value was alive), which
//! are initialised `u8`s whatever the destructor does. Each test fails when
//! the `Drop` impl (or the wipe in `Token::set`) is removed.

use core::mem::ManuallyDrop;
use core::ptr;

use embedded_oauth2::http::parse_token_response;
use embedded_oauth2::{ClientSecret, Instant, RefreshPolicy, Token};

/// Where `inner` (a slice inside `outer`'s memory) starts, from `outer`.
fn offset_in<T>(outer: &T, inner: &[u8]) -> usize {
    let start = outer as *const T as usize;
    let at = inner.as_ptr() as usize;
    let offset = at - start;
    assert!(
        offset + inner.len() <= size_of::<T>(),
        "not inside the value"
    );
    offset
}

/// `len` bytes at `offset` inside `value`'s storage, read without creating
/// a reference to the (possibly dropped) value.
fn bytes_at<T>(value: &ManuallyDrop<T>, offset: usize, len: usize) -> Vec<u8> {
    let base = ptr::from_ref(value).cast::<u8>();
    (0..len)
        // SAFETY: `offset + len` is inside the value's storage (checked by
        // `offset_in`), which `ManuallyDrop` keeps allocated; those bytes
        // are a `u8` array's elements, always initialised.
        .map(|i| unsafe { ptr::read_volatile(base.add(offset + i)) })
        .collect()
}

fn token_with(access: &str, scope: &str) -> Token<64, 32> {
    let body = format!(
        r#"{{"access_token":"{access}","token_type":"Bearer","expires_in":3600,"scope":"{scope}"}}"#
    );
    let mut work = [0u8; 256];
    let resp = parse_token_response(200, body.as_bytes(), &mut work).unwrap();
    let mut token = Token::new();
    token
        .set(&resp, Instant::from_secs(1), &RefreshPolicy::new())
        .unwrap();
    token
}

#[test]
fn a_dropped_token_leaves_no_byte_of_itself() {
    let access = "tok-7f3a9c2e5b1d4f6a8c0e2b4d6f8a1c3e";
    let scope = "receipts:write";
    let mut token = ManuallyDrop::new(token_with(access, scope));
    assert_eq!(token.expose_secret(), access);
    let at = offset_in(&*token, token.expose_secret().as_bytes());
    assert_eq!(bytes_at(&token, at, access.len()), access.as_bytes());
    let scope_at = offset_in(&*token, token.scope().unwrap().as_bytes());
    assert_eq!(bytes_at(&token, scope_at, scope.len()), scope.as_bytes());

    // SAFETY: dropped once, and only its bytes are read afterwards.
    unsafe { ManuallyDrop::drop(&mut token) };
    assert_eq!(bytes_at(&token, at, access.len()), vec![0; access.len()]);
    assert_eq!(
        bytes_at(&token, scope_at, scope.len()),
        vec![0; scope.len()]
    );
}

#[test]
fn a_replaced_token_keeps_nothing_of_the_old_one() {
    let old = "old-token-0123456789abcdefghijklmnopqrstuv";
    let new = "new-token";
    let mut token = ManuallyDrop::new(token_with(old, "a b c d e f g"));
    let at = offset_in(&*token, token.expose_secret().as_bytes());
    let scope_at = offset_in(&*token, token.scope().unwrap().as_bytes());
    let mut work = [0u8; 256];
    let body = format!(r#"{{"access_token":"{new}","token_type":"Bearer","scope":"x"}}"#);
    let resp = parse_token_response(200, body.as_bytes(), &mut work).unwrap();
    token
        .set(&resp, Instant::from_secs(2), &RefreshPolicy::new())
        .unwrap();
    assert_eq!(token.expose_secret(), new);
    let mut expected = new.as_bytes().to_vec();
    expected.resize(old.len(), 0);
    assert_eq!(bytes_at(&token, at, old.len()), expected);
    let mut expected = b"x".to_vec();
    expected.resize("a b c d e f g".len(), 0);
    assert_eq!(bytes_at(&token, scope_at, expected.len()), expected);
    // SAFETY: dropped once, never used again.
    unsafe { ManuallyDrop::drop(&mut token) };
}

#[test]
fn a_cleared_token_leaves_no_byte_of_itself() {
    let access = "tok-cleared-0123456789";
    let mut token = ManuallyDrop::new(token_with(access, "s"));
    let at = offset_in(&*token, token.expose_secret().as_bytes());
    token.clear();
    assert!(token.is_empty());
    assert_eq!(bytes_at(&token, at, access.len()), vec![0; access.len()]);
    // SAFETY: dropped once, never used again.
    unsafe { ManuallyDrop::drop(&mut token) };
}

#[test]
fn a_dropped_client_secret_leaves_no_byte_of_itself() {
    let secret = "s3cr3t-value-!%+/=-0123456789";
    let mut s = ManuallyDrop::new(ClientSecret::<64>::new(secret).unwrap());
    let at = offset_in(&*s, s.expose_secret().as_bytes());
    assert_eq!(bytes_at(&s, at, secret.len()), secret.as_bytes());
    // SAFETY: dropped once, and only its bytes are read afterwards.
    unsafe { ManuallyDrop::drop(&mut s) };
    assert_eq!(bytes_at(&s, at, secret.len()), vec![0; secret.len()]);
}

#[test]
fn a_dropped_bearer_header_leaves_no_byte_of_itself() {
    let access = "tok-header-9f8e7d6c5b4a";
    let token = token_with(access, "s");
    let mut header = ManuallyDrop::new(token.bearer::<96>().unwrap());
    let value = format!("Bearer {access}");
    assert_eq!(header.as_str(), value);
    let at = offset_in(&*header, header.as_str().as_bytes());
    // SAFETY: dropped once, and only its bytes are read afterwards.
    unsafe { ManuallyDrop::drop(&mut header) };
    assert_eq!(bytes_at(&header, at, value.len()), vec![0; value.len()]);
}
