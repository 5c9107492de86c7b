// Chromium's native EventSource on a compressed stream (issue 21, ../shared/protocol.md C-HDR-3):
// the hub runs with `compression = "auto"` and a short `write_timeout`, so that each stream ends on
// its own (gzip: with its trailer) and the browser reconnects with Last-Event-ID, resuming from the
// compressed history. tests/clients.rs runs this file twice: over plain HTTP (ENCODING=gzip, what
// Chromium offers there) and over HTTPS with a self-signed certificate (ENCODING=zstd).
//
// The encoding really used is read from the hub's answers (`Content-Encoding` of every stream
// response) and the bytes on the wire from Chromium's own network events (CDP `Network.dataReceived`:
// encoded against decoded length); the events must arrive intact, in order, private ones included.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { HUB_URL, publish, token, until, launchBrowser, subscribeUrl } from './lib.js';

const ENCODING = process.env.ENCODING;
const MIN_SIZE = Number(process.env.MIN_SIZE || 512);
if (!ENCODING) throw new Error('ENCODING must be set (run through cargo test --test clients)');

let context;
let page;
let wire;

// Chromium 156 offers `gzip, deflate, br, zstd` on http://127.0.0.1 (a potentially trustworthy
// origin, like any loopback address), and the hub prefers zstd. Over plain HTTP the browser
// therefore reaches the hub by a name of its own (mapped to 127.0.0.1), as it would a real
// deployment: there it offers `gzip, deflate` only.
const NAME = 'hub.test';
const ARGS = [`--host-resolver-rules=MAP ${NAME} 127.0.0.1`, '--disable-features=HttpsUpgrades'];
const BROWSER_URL = ENCODING === 'gzip' ? HUB_URL.replace('127.0.0.1', NAME) : HUB_URL;

before(async () => {
  context = await launchBrowser({ ignoreHTTPSErrors: HUB_URL.startsWith('https:') }, ARGS);
  page = await context.newPage();
  // Any page of the hub's origin will do (the hub answers 404 for /): scripts run in it.
  await page.goto(`${BROWSER_URL}/`);
  wire = await countBytes(page);
});
after(async () => {
  await context?.close();
});

// Chromium's counts of the bytes received per request: `encoded` as on the wire (after TLS, before
// content decoding), `decoded` as handed to the page.
async function countBytes(page) {
  const counts = new Map();
  const session = await context.newCDPSession(page);
  session.on('Network.dataReceived', ({ requestId, dataLength, encodedDataLength }) => {
    const count = counts.get(requestId) ?? { encoded: 0, decoded: 0 };
    count.encoded += encodedDataLength;
    count.decoded += dataLength;
    counts.set(requestId, count);
  });
  await session.send('Network.enable');
  return counts;
}

// A JSON-LD document of about 1.3 KB: above `compression_min_size`, so deflated.
function large(n) {
  const items = Array.from({ length: 30 }, (_, i) => ({ '@id': `/books/${n}-${i}`, title: `Title ${i}` }));
  const body = JSON.stringify({ '@context': 'https://schema.org', '@type': 'ItemList', n, items });
  assert.ok(body.length > MIN_SIZE * 2);
  return body;
}

test(`EventSource decodes a ${ENCODING} stream, private updates and a resume from compressed history included (C-HDR-3)`, async () => {
  const topic = `https://example.com/compressed/${randomBytes(6).toString('hex')}`;
  const secure = HUB_URL.startsWith('https:') ? '; Secure' : '';
  await page.evaluate(([jwt, secure]) => {
    document.cookie = `mercureAuthorization=${jwt}; Path=/.well-known/mercure; SameSite=Strict${secure}`;
  }, [token({ subscribe: [topic] }), secure]);

  const requests = [];
  page.on('request', async (request) => {
    if (request.url().includes('topic=')) {
      const headers = await request.allHeaders();
      requests.push({
        acceptEncoding: headers['accept-encoding'] ?? '',
        lastEventId: headers['last-event-id'] ?? null,
        cookie: headers.cookie ?? '',
      });
    }
  });
  const responses = [];
  page.on('response', async (response) => {
    if (response.url().includes('topic=')) {
      const headers = await response.allHeaders();
      responses.push({
        status: response.status(),
        encoding: headers['content-encoding'] ?? null,
        vary: headers.vary ?? null,
      });
    }
  });

  await page.evaluate((href) => {
    window.received = [];
    window.opens = 0;
    window.drops = 0;
    const source = new EventSource(href);
    source.onopen = () => { window.opens += 1; };
    source.onerror = () => { window.drops += 1; };
    source.onmessage = (event) => window.received.push([event.lastEventId, event.data]);
    window.source = source;
  }, subscribeUrl(topic).replace(HUB_URL, BROWSER_URL));
  await until(() => page.evaluate(() => window.opens === 1), 10000, 'the stream open');

  const sent = [];
  const send = async (data, fields = {}) => {
    const id = await publish(topic, data, fields);
    sent.push([id, data]);
  };
  // Small (stored blocks), large (deflated), private (only the cookie's grant delivers it),
  // multi-line; the first sets a reconnection delay long enough to publish while disconnected.
  await send('small one', { retry: 2500 });
  await send(large(1));
  await send(large(2), { private: 'on' });
  await send('line one\nline two');
  await until(async () => (await page.evaluate(() => window.received.length)) >= 4, 10000, 'four live events');

  // The hub ends the stream (write_timeout); while the browser waits to reconnect, two more
  // events can only come from the history.
  await until(() => page.evaluate(() => window.drops >= 1), 20000, 'the end of the first stream');
  await send(large(3));
  await send('private small', { private: 'on' });
  assert.equal(await page.evaluate(() => window.opens), 1, 'published before the reconnection');
  await until(() => page.evaluate(() => window.opens === 2), 15000, 'the automatic reconnection');
  await send(large(4));
  await until(async () => (await page.evaluate(() => window.received.length)) >= 7, 10000, 'seven events');
  await page.waitForTimeout(300);
  await page.evaluate(() => window.source.close());

  assert.deepEqual(await page.evaluate(() => window.received), sent, 'every event intact, in order, once');
  console.log(`Chromium's Accept-Encoding on ${BROWSER_URL}: ${requests[0].acceptEncoding}`);
  assert.ok(requests.length >= 2, 'a reconnection');
  for (const request of requests) {
    assert.ok(request.acceptEncoding.split(/\s*,\s*/).includes(ENCODING), `Chromium offers ${ENCODING}: ${request.acceptEncoding}`);
    assert.ok(request.cookie.includes('mercureAuthorization='), 'the cookie went along');
  }
  assert.equal(requests[0].lastEventId, null);
  assert.equal(requests[1].lastEventId, sent[3][0], 'the browser resumed after the last event it had');
  for (const response of responses) {
    assert.equal(response.status, 200);
    assert.equal(response.encoding, ENCODING, 'the hub compressed the stream');
    assert.equal(response.vary, 'Accept-Encoding');
  }

  // On the wire: Chromium received fewer bytes than it decoded.
  const streams = [...wire.values()].filter((c) => c.decoded > 2 * MIN_SIZE);
  const encoded = streams.reduce((sum, c) => sum + c.encoded, 0);
  const decoded = streams.reduce((sum, c) => sum + c.decoded, 0);
  console.log(`${ENCODING} streams: ${encoded} bytes received for ${decoded} decoded (${(encoded / decoded).toFixed(2)})`);
  assert.ok(streams.length >= 2 && encoded > 0 && encoded < decoded, `compressed on the wire: ${encoded} < ${decoded}`);
});
