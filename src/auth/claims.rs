//! What the validator reads out of a token: the header members and claims its policy checks,
//! the checks that need nothing but the token itself (size, form, type, binding), and the
//! [`Principal`] made from the claims of a token that passed.

use std::collections::HashMap;

use serde::Deserialize;
use serde::de::{Deserializer, IgnoredAny};

use super::error::{AuthError, Reason};
use super::jwk::{Alg, MAX_KID_BYTES};
use super::jws::CompactJws;
use super::principal::{Identity, Principal};

/// Tokens longer than this are refused before any parsing.
pub(super) const MAX_TOKEN_BYTES: usize = 16 * 1024;

/// The header members the policy reads; `jsonwebtoken` reads the header again for itself.
#[derive(Deserialize)]
pub(super) struct Header {
    pub(super) alg: Option<String>,
    pub(super) kid: Option<String>,
    pub(super) typ: Option<String>,
    pub(super) crit: Option<IgnoredAny>,
}

#[derive(Deserialize)]
#[serde(untagged)]
pub(super) enum Audience {
    One(String),
    Many(Vec<String>),
}

#[derive(Deserialize, Default)]
pub(super) struct Roles {
    #[serde(default)]
    pub(super) roles: Vec<String>,
}

/// The claims the policy and the [`Identity`] use.
#[derive(Deserialize)]
pub(super) struct Claims {
    pub(super) iss: Option<String>,
    pub(super) aud: Option<Audience>,
    #[serde(default, deserialize_with = "numeric_date")]
    pub(super) exp: Option<i64>,
    #[serde(default, deserialize_with = "numeric_date")]
    pub(super) nbf: Option<i64>,
    #[serde(default, deserialize_with = "numeric_date")]
    pub(super) iat: Option<i64>,
    pub(super) typ: Option<String>,
    pub(super) cnf: Option<HashMap<String, serde_json::Value>>,
    pub(super) sub: Option<String>,
    pub(super) azp: Option<String>,
    pub(super) scope: Option<String>,
    pub(super) sid: Option<String>,
    pub(super) jti: Option<String>,
    pub(super) preferred_username: Option<String>,
    pub(super) realm_access: Option<Roles>,
    pub(super) resource_access: Option<HashMap<String, Roles>>,
    pub(super) groups: Option<Vec<String>>,
}

/// RFC 7519 NumericDate: seconds since the epoch, possibly with a fraction.
pub(super) fn numeric_date<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    let n = serde_json::Number::deserialize(d)?;
    match n.as_i64().or_else(|| {
        n.as_f64()
            .filter(|f| f.is_finite())
            .map(|f| f.floor() as i64)
    }) {
        Some(v) => Ok(Some(v)),
        None => Err(serde::de::Error::custom("NumericDate out of range")),
    }
}

/// The header as the policy needs it.
pub(super) struct TokenHeader {
    pub(super) alg: Alg,
    pub(super) kid: String,
    pub(super) typ: Option<String>,
}

/// Rule 1, form: shape and header, before any key is looked up ([`check_size`] comes first).
pub(super) fn read_header(token: &str) -> Result<TokenHeader, AuthError> {
    use Reason::*;
    let Some(jws) = CompactJws::split(token) else {
        return Err(AuthError::invalid(
            Malformed,
            "not three dot-separated parts (encrypted tokens are not accepted)",
        ));
    };
    let header: Header = CompactJws::json(jws.header)
        .map_err(|e| AuthError::invalid(Malformed, format!("header: {e}")))?;
    let alg_name = header.alg.as_deref().unwrap_or("");
    let alg = Alg::from_name(alg_name).ok_or_else(|| {
        AuthError::invalid(BadSignature, format!("alg `{alg_name}` is not accepted"))
    })?;
    if header.crit.is_some() {
        return Err(AuthError::invalid(
            Malformed,
            "the crit header names extensions this server does not implement",
        ));
    }
    let kid = header
        .kid
        .filter(|k| !k.is_empty())
        .ok_or_else(|| AuthError::invalid(Malformed, "header has no kid"))?;
    if kid.len() > MAX_KID_BYTES {
        return Err(AuthError::invalid(
            Malformed,
            format!("kid of {} bytes is longer than {MAX_KID_BYTES}", kid.len()),
        ));
    }
    Ok(TokenHeader {
        alg,
        kid,
        typ: header.typ,
    })
}

pub(super) fn check_size(token: &str) -> Result<(), AuthError> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(AuthError::invalid(
            Reason::Malformed,
            format!(
                "token of {} bytes is over the {MAX_TOKEN_BYTES}-byte limit",
                token.len()
            ),
        ));
    }
    Ok(())
}

/// Rule 3, type: an access token, not an ID, refresh or logout token.
pub(super) fn check_type(header: &TokenHeader, c: &Claims) -> Result<(), AuthError> {
    if let Some(typ) = header.typ.as_deref() {
        let typ = typ.to_ascii_lowercase();
        let typ = typ.strip_prefix("application/").unwrap_or(&typ);
        if typ != "jwt" && typ != "at+jwt" {
            return Err(AuthError::invalid(
                Reason::WrongType,
                format!("header typ `{typ}` is not JWT or at+jwt"),
            ));
        }
    }
    // Keycloak names its access tokens `Bearer`, and a DPoP-bound one `DPoP`; its other tokens
    // are `ID`, `Refresh`, `Offline` and `Logout`.
    let bound = c.cnf.as_ref().is_some_and(|cnf| cnf.contains_key("jkt"));
    match c.typ.as_deref() {
        None | Some("Bearer") => Ok(()),
        Some("DPoP") if bound => Ok(()),
        Some("DPoP") => Err(AuthError::invalid(
            Reason::WrongType,
            "typ `DPoP` on a token bound to no DPoP key (no cnf.jkt)",
        )),
        Some(typ) => Err(AuthError::invalid(
            Reason::WrongType,
            format!("typ `{typ}` is not Bearer or DPoP"),
        )),
    }
}

/// The member of `cnf` in which Keycloak names the kind of key `jkt` binds.
const KC_JKT_TYPE: &str = "kc-jkt-type";

/// Rule 5, binding: a token bound to a key (`cnf`, RFC 7800) is useless to a thief only if the
/// binding is checked. The key a DPoP-bound token names (`cnf.jkt`, RFC 9449 §6.1) is given
/// back, for the gate to check each request's proof against; a token bound any other way (a
/// client certificate, RFC 8705) is refused, because this server cannot check that binding.
///
/// Keycloak writes beside `jkt` a member of its own naming what the key binds, `kc-jkt-type`:
/// `DPoP`. That one is read; any other member, or another `kc-jkt-type`, is a binding this server
/// cannot check.
pub(super) fn check_binding(c: &Claims) -> Result<Option<String>, AuthError> {
    let Some(cnf) = &c.cnf else { return Ok(None) };
    // How many members beside `jkt` are read: none, or Keycloak's `kc-jkt-type` naming DPoP.
    let annotated = match cnf.get(KC_JKT_TYPE) {
        None => Some(0),
        Some(kind) if kind == "DPoP" => Some(1),
        Some(_) => None,
    };
    let only_jkt = annotated.is_some_and(|extra| cnf.len() == 1 + extra);
    if let (true, Some(jkt)) = (only_jkt, cnf.get("jkt")) {
        return match jkt.as_str() {
            Some(jkt) if !jkt.is_empty() => Ok(Some(jkt.to_owned())),
            _ => Err(AuthError::invalid(
                Reason::Malformed,
                "cnf.jkt is not a thumbprint string",
            )),
        };
    }
    let mut members: Vec<&str> = cnf.keys().map(String::as_str).collect();
    members.sort_unstable();
    Err(AuthError::invalid(
        Reason::SenderConstrained,
        format!("the token is bound by cnf {members:?}, which this server cannot check"),
    ))
}

pub(super) fn audiences(aud: Option<Audience>) -> Vec<String> {
    match aud {
        None => Vec::new(),
        Some(Audience::One(a)) => vec![a],
        Some(Audience::Many(a)) => a,
    }
}

pub(super) fn principal(c: Claims, kid: String, jkt: Option<String>) -> Principal {
    Principal::new(Identity {
        jkt,
        subject: c.sub,
        client_id: c.azp,
        username: c.preferred_username,
        // RFC 6749 §3.3: scope tokens are separated by single spaces (U+0020) only.
        scopes: c
            .scope
            .unwrap_or_default()
            .split(' ')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
        realm_roles: c.realm_access.unwrap_or_default().roles,
        client_roles: c
            .resource_access
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| (k, v.roles))
            .collect(),
        groups: c.groups.unwrap_or_default(),
        session_id: c.sid,
        token_id: c.jti,
        kid,
        exp: c.exp.unwrap_or_default(),
        access: Default::default(),
    })
}
