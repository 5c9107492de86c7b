// Chromium against the hub: native EventSource, cookie authorization and CORS.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { readFileSync } from 'node:fs';
import { HUB, HUB_URL, publish, token, until, launchBrowser, subscribeUrl } from './lib.js';

const UI = `${HUB_URL}/.well-known/mercure/ui/`;
let context;

before(async () => {
  context = await launchBrowser();
});
after(async () => {
  await context?.close();
});

// A page on the hub's own origin (the debugger UI), to run EventSource code in.
async function hubPage() {
  const page = await context.newPage();
  await page.goto(UI);
  return page;
}

test('native EventSource receives updates with their ids and types', async () => {
  const page = await hubPage();
  const topic = 'https://example.com/browser/native';
  await page.evaluate((url) => {
    window.events = [];
    const source = new EventSource(url);
    const keep = (event) => window.events.push({ type: event.type, id: event.lastEventId, data: event.data });
    source.onmessage = keep;
    source.addEventListener('book-updated', keep);
    window.source = source;
  }, subscribeUrl(topic));
  await until(() => page.evaluate(() => window.source.readyState === 1), 10000, 'EventSource open');
  const first = await publish(topic, 'first line\nsecond line');
  await publish(topic, '{"stock": 2}', { id: 'native-typed', type: 'book-updated' });
  const events = await until(async () => {
    const events = await page.evaluate(() => window.events);
    return events.length >= 2 && events;
  }, 10000, 'two events');
  assert.deepEqual(events, [
    { type: 'message', id: first, data: 'first line\nsecond line' },
    { type: 'book-updated', id: 'native-typed', data: '{"stock": 2}' },
  ]);
  await page.close();
});

test('the mercureAuthorization cookie authorizes private updates', async () => {
  const page = await hubPage();
  const granted = 'https://example.com/browser/cookie/granted';
  const other = 'https://example.com/browser/cookie/other';
  const jwt = token({ subscribe: [granted] });
  await page.evaluate(([url, jwt]) => {
    document.cookie = `mercureAuthorization=${jwt}; Path=/.well-known/mercure; SameSite=Strict`;
    window.events = [];
    window.source = new EventSource(url);
    window.source.onmessage = (event) => window.events.push(event.data);
  }, [subscribeUrl([granted, other]), jwt]);
  await until(() => page.evaluate(() => window.source.readyState === 1), 10000, 'EventSource open');
  await publish(other, 'private, not granted', { private: 'on' });
  await publish(granted, 'private, granted', { private: 'on' });
  await publish(other, 'public');
  const events = await until(async () => {
    const events = await page.evaluate(() => window.events);
    return events.length >= 2 && events;
  }, 10000, 'two events');
  assert.deepEqual(events, ['private, granted', 'public']);

  // An invalid cookie is refused even though the hub allows anonymous subscribers (A-AUTH-5).
  const state = await page.evaluate(async (url) => {
    document.cookie = 'mercureAuthorization=not-a-valid-token-but-long-enough-0123456789abcdef; Path=/.well-known/mercure; SameSite=Strict';
    const source = new EventSource(url);
    await new Promise((resolve) => { source.onerror = resolve; });
    const state = source.readyState;
    source.close();
    document.cookie = 'mercureAuthorization=; Path=/.well-known/mercure; Max-Age=0';
    return state;
  }, subscribeUrl(other));
  assert.equal(state, 2, 'a refused EventSource is CLOSED, not retried');
  await page.close();
});

test('a page on another origin subscribes through CORS', async () => {
  const port = Number(process.env.STATIC_PORT);
  assert.ok(port, 'STATIC_PORT must be set (and listed in the hub cors_origins)');
  const server = createServer((request, response) => {
    const path = new URL(request.url, 'http://x').pathname;
    const files = { '/cors.html': 'text/html', '/cors.js': 'text/javascript' };
    if (!files[path]) {
      response.writeHead(404).end();
      return;
    }
    response.writeHead(200, { 'Content-Type': `${files[path]}; charset=utf-8` });
    response.end(readFileSync(new URL(`./static${path}`, import.meta.url)));
  });
  await new Promise((resolve) => server.listen(port, '127.0.0.1', resolve));
  try {
    const topic = 'https://example.com/browser/cors';
    const jwt = token({ subscribe: [topic] });
    // The cookie of 127.0.0.1 (ports do not separate cookies): sent cross-origin with credentials.
    await context.addCookies([
      { name: 'mercureAuthorization', value: jwt, domain: '127.0.0.1', path: '/.well-known/mercure', sameSite: 'Strict' },
    ]);
    const page = await context.newPage();
    const query = new URLSearchParams({ hub: HUB, topic, token: jwt });
    await page.goto(`http://127.0.0.1:${port}/cors.html?${query}`);
    await until(() => page.evaluate(() => window.ready && window.ready()), 10000, 'cross-origin streams open');
    await publish(topic, 'public');
    await publish(topic, 'private', { private: 'on' });
    const received = await until(async () => {
      const r = await page.evaluate(() => window.received);
      return r.anonymous.length >= 1 && r.credentials.length >= 2 && r.header.length >= 2 && r;
    }, 10000, 'cross-origin events');
    await page.waitForTimeout(200);
    const final = await page.evaluate(() => window.received);
    assert.deepEqual(final.anonymous, ['public'], 'anonymous: public updates only');
    assert.deepEqual(final.credentials, ['public', 'private'], 'cookie with withCredentials');
    assert.deepEqual(final.header, ['public', 'private'], 'Authorization header, preflighted');
    assert.equal(received.header_status, 200);
    assert.equal(final.exposed_last_event_id, 'earliest', 'Last-Event-ID is exposed to scripts');
    assert.deepEqual(final.errors, []);
    await page.close();
    await context.clearCookies();
  } finally {
    server.close();
  }
});
