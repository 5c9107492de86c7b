// Shared helpers of the client tests. The Rust driver (tests/clients.rs) starts the hub and sets:
// HUB_URL (http://127.0.0.1:PORT), HUB_KEY (its HS256 secret), and for the browser tests
// CONTROL_URL (POST /restart restarts the hub), STATIC_PORT, CHROMIUM_PATH and RESULTS_DIR.
import { createHmac } from 'node:crypto';
import { mkdtempSync, rmSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const HUB_URL = process.env.HUB_URL;
export const HUB = `${HUB_URL}/.well-known/mercure`;
const KEY = process.env.HUB_KEY;
if (!HUB_URL || !KEY) throw new Error('HUB_URL and HUB_KEY must be set (run through cargo test --test clients)');

const b64url = (value) => Buffer.from(value).toString('base64url');

// An HS256 token with the given `mercure` claim (and optional other claims).
export function token(mercure, extra = {}) {
  const header = b64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));
  const payload = b64url(JSON.stringify({ mercure, ...extra }));
  const signature = createHmac('sha256', KEY).update(`${header}.${payload}`).digest('base64url');
  return `${header}.${payload}.${signature}`;
}

export const PUBLISHER = token({ publish: ['*'] });

// ---- 1.0 tokens (../shared/protocol.md Part B): RFC 9068 access tokens, header `typ: at+jwt`,
// from the default trusted issuer `https://localhost`, for the hub's resource identifier
// (RESOURCE_IDENTIFIER, else the derived `<HUB_URL>/.well-known/mercure`), one hour ahead.
export const V1_ISSUER = 'https://localhost';
export const V1_AUDIENCE = process.env.RESOURCE_IDENTIFIER || HUB;
export const MERCURE_DETAIL = 'https://mercure.rocks/authorization-detail';

// One Mercure entry of `authorization_details`: topics are matchers, a string is `{match}`.
export function grant(actions, topics) {
  return {
    type: MERCURE_DETAIL,
    actions,
    topics: topics.map((topic) => (typeof topic === 'string' ? { match: topic } : topic)),
  };
}

export function atJwt(details, extra = {}) {
  const header = b64url(JSON.stringify({ alg: 'HS256', typ: 'at+jwt' }));
  const claims = {
    iss: V1_ISSUER,
    aud: V1_AUDIENCE,
    exp: Math.floor(Date.now() / 1000) + 3600,
    authorization_details: details,
    ...extra,
  };
  const payload = b64url(JSON.stringify(claims));
  const signature = createHmac('sha256', KEY).update(`${header}.${payload}`).digest('base64url');
  return `${header}.${payload}.${signature}`;
}

export const V1_PUBLISHER = atJwt([grant(['publish'], ['*'])]);

// Publishes an update; returns its id.
export async function publish(topics, data, fields = {}) {
  return publishWith(PUBLISHER, topics, data, fields);
}

// Publishes an update with the given token; returns its id.
export async function publishWith(jwt, topics, data, fields = {}) {
  const body = new URLSearchParams();
  for (const topic of [].concat(topics)) body.append('topic', topic);
  body.append('data', data);
  for (const [name, value] of Object.entries(fields)) body.append(name, String(value));
  const response = await fetch(HUB, {
    method: 'POST',
    headers: { Authorization: `Bearer ${jwt}` },
    body,
  });
  const text = await response.text();
  if (response.status !== 200) throw new Error(`publish answered ${response.status}: ${text}`);
  return text.trim();
}

export function subscribeUrl(topics, params = {}) {
  const url = new URL(HUB);
  for (const topic of [].concat(topics)) url.searchParams.append('topic', topic);
  for (const [name, value] of Object.entries(params)) url.searchParams.append(name, value);
  return url.href;
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// Polls `check` until it returns a truthy value or `ms` elapse.
export async function until(check, ms = 10000, what = 'condition') {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

// Headless Debian Chromium through playwright-core: no browser download, nothing off the machine.
// Returns a fresh browser context (its own profile directory, removed by close()); `options` are
// more playwright context options (e.g. `ignoreHTTPSErrors` for a hub's self-signed certificate),
// `args` more Chromium switches.
export async function launchBrowser(options = {}, args = []) {
  const { chromium } = await import('playwright-core');
  const profile = mkdtempSync(join(tmpdir(), 'qs-chromium-'));
  // launchPersistentContext passes --user-data-dir=<profile> itself.
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
    headless: true,
    viewport: { width: 1400, height: 1000 },
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      ...args,
    ],
    ...options,
  });
  const close = context.close.bind(context);
  context.close = async () => {
    await close();
    rmSync(profile, { recursive: true, force: true });
  };
  return context;
}

// Collects console errors and uncaught exceptions of a page (a CSP violation is one).
export function watchErrors(page) {
  const errors = [];
  page.on('console', (message) => {
    if (message.type() === 'error') errors.push(message.text());
  });
  page.on('pageerror', (error) => errors.push(String(error)));
  return errors;
}

export function resultsDir() {
  const dir = process.env.RESULTS_DIR || join(tmpdir(), 'browser-results');
  mkdirSync(dir, { recursive: true });
  return dir;
}

// The hub's secret, for the debugger's in-page signing test only.
export const HUB_KEY_FOR_UI = KEY;
