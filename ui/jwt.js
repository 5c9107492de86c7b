// Client-side JWT helpers for the debugger: decoding (no verification) and HS* signing with
// WebCrypto. Nothing leaves the page.

const encoder = new TextEncoder();

export function base64UrlDecode(part) {
  const base64 = part.replace(/-/g, '+').replace(/_/g, '/');
  const padded = base64 + '='.repeat((4 - (base64.length % 4)) % 4);
  const binary = atob(padded);
  const bytes = Uint8Array.from(binary, (c) => c.charCodeAt(0));
  return new TextDecoder().decode(bytes);
}

export function base64UrlEncode(bytes) {
  let binary = '';
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

// Returns { header, claims, signature } or throws an Error saying what is wrong.
export function decode(token) {
  const parts = token.trim().split('.');
  if (parts.length !== 3) throw new Error(`a JWS has 3 parts separated by dots, this has ${parts.length}`);
  let header;
  let claims;
  try {
    header = JSON.parse(base64UrlDecode(parts[0]));
  } catch (error) {
    throw new Error(`the header is not base64url JSON: ${error.message}`);
  }
  try {
    claims = JSON.parse(base64UrlDecode(parts[1]));
  } catch (error) {
    throw new Error(`the payload is not base64url JSON: ${error.message}`);
  }
  return { header, claims, signature: parts[2] };
}

// The `type` of a Mercure entry of a 1.0 token's `authorization_details`.
export const MERCURE_DETAIL = 'https://mercure.rocks/authorization-detail';

// '1.0' for an RFC 9068 access token (`typ: at+jwt`, or grants in `authorization_details`),
// else 'classic' (the `mercure` claim).
export function dialect({ header, claims }) {
  const typ = String(header.typ || '').toLowerCase();
  if (typ === 'at+jwt' || typ === 'application/at+jwt') return '1.0';
  return claims.authorization_details !== undefined ? '1.0' : 'classic';
}

// Remarks on the grants of a 1.0 token.
function v1Remarks({ header, claims }, notes) {
  const typ = String(header.typ || '').toLowerCase();
  if (typ !== 'at+jwt' && typ !== 'application/at+jwt') {
    notes.push(`typ is ${JSON.stringify(header.typ)}: a 1.0 token must be typ "at+jwt"`);
  }
  notes.push(`iss: ${claims.iss === undefined ? '(absent: the token is invalid)' : claims.iss}`);
  notes.push(`aud: ${claims.aud === undefined ? '(absent: the token is invalid)' : [].concat(claims.aud).join(', ')}`);
  const details = claims.authorization_details;
  if (!Array.isArray(details)) {
    notes.push('authorization_details must be an array: grants nothing');
    return;
  }
  const mercure = details.filter((d) => d && d.type === MERCURE_DETAIL);
  if (mercure.length === 0) notes.push(`no ${MERCURE_DETAIL} entry: grants nothing`);
  for (const detail of mercure) {
    const topics = Array.isArray(detail.topics)
      ? detail.topics.map((t) => (t && t.match_type ? `${t.match} (${t.match_type})` : t && t.match)).join(', ')
      : '(no topics)';
    const actions = Array.isArray(detail.actions) ? detail.actions.join(' + ') : '(no actions)';
    notes.push(`${actions}: ${topics}`);
    if (detail.payload !== undefined) notes.push(`payload: ${JSON.stringify(detail.payload)}`);
  }
}

// Plain-language remarks on a decoded token, as the hub would see it (without the key).
export function remarks({ header, claims }, now = Date.now() / 1000) {
  const notes = [];
  if (header.alg === 'none') notes.push('alg "none" is never accepted');
  else notes.push(`signed with ${header.alg}: the hub must be configured with this algorithm`);
  if (dialect({ header, claims }) === '1.0') {
    notes.push('Mercure 1.0 token: the grants are in authorization_details');
    v1Remarks({ header, claims }, notes);
  } else {
    classicRemarks(claims, notes);
  }
  if (typeof claims.exp === 'number') {
    const when = new Date(claims.exp * 1000).toISOString();
    notes.push(claims.exp <= now ? `EXPIRED at ${when}` : `expires at ${when}`);
  } else notes.push('no exp: never expires');
  if (typeof claims.nbf === 'number' && claims.nbf > now) {
    notes.push(`NOT VALID YET: nbf ${new Date(claims.nbf * 1000).toISOString()}`);
  }
  return notes;
}

function classicRemarks(claims, notes) {
  const mercure = claims['https://mercure.rocks/'] ?? claims.mercure;
  if (mercure === undefined) notes.push('no "mercure" claim: grants nothing (anonymous rights at most)');
  else {
    for (const member of ['publish', 'subscribe']) {
      const value = mercure[member];
      if (value === undefined || value === null) notes.push(`mercure.${member}: absent`);
      else if (!Array.isArray(value)) notes.push(`mercure.${member} must be an array: the token is invalid`);
      else notes.push(`mercure.${member}: ${value.length ? value.join(', ') : '(empty: nothing)'}`);
    }
    if (mercure.payload !== undefined) notes.push(`mercure.payload: ${JSON.stringify(mercure.payload)}`);
  }
}

const HASHES = { HS256: 'SHA-256', HS384: 'SHA-384', HS512: 'SHA-512' };

// Signs claims with a shared secret (HS256/384/512), header `typ` `JWT` (classic) or `at+jwt`
// (1.0). Needs a secure context (https or localhost).
export async function signHmac(claims, secret, alg = 'HS256', typ = 'JWT') {
  if (!HASHES[alg]) throw new Error(`only ${Object.keys(HASHES).join(', ')} can be signed here`);
  if (!globalThis.crypto || !crypto.subtle) {
    throw new Error('WebCrypto is unavailable: open the UI over https or on localhost');
  }
  const header = base64UrlEncode(encoder.encode(JSON.stringify({ alg, typ })));
  const payload = base64UrlEncode(encoder.encode(JSON.stringify(claims)));
  const key = await crypto.subtle.importKey(
    'raw',
    encoder.encode(secret),
    { name: 'HMAC', hash: HASHES[alg] },
    false,
    ['sign'],
  );
  const signature = await crypto.subtle.sign('HMAC', key, encoder.encode(`${header}.${payload}`));
  return `${header}.${payload}.${base64UrlEncode(new Uint8Array(signature))}`;
}
