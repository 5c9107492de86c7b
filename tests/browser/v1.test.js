// Chromium as a Mercure 1.0 client (issue #19, ../shared/protocol.md Part B) against a hub started
// with nothing but the development key for both roles, anonymous subscribers and the resource
// identifier `https://localhost/.well-known/mercure` (tests/clients.rs `browser_v1`). No UI: the
// page is any document of the hub's origin, so that EventSource and fetch are same-origin.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import {
  HUB, HUB_URL, V1_AUDIENCE, V1_PUBLISHER, atJwt, grant, publishWith, token, until, launchBrowser, watchErrors,
} from './lib.js';

const COOKIE = '__Secure-mercure_access_token';
const random = () => randomBytes(8).toString('hex');
let context;
let page;
let errors;

before(async () => {
  context = await launchBrowser();
  page = await context.newPage();
  errors = watchErrors(page);
  // Any page of the hub's origin will do (the hub answers 404 for /): scripts run in it.
  await page.goto(`${HUB_URL}/`);
});
after(async () => {
  await context?.close();
});

async function restartHub() {
  const response = await fetch(`${process.env.CONTROL_URL}/restart`, { method: 'POST' });
  assert.equal(response.status, 204, 'the test driver restarted the hub');
}

function url(params) {
  const url = new URL(HUB);
  for (const [name, value] of params) url.searchParams.append(name, value);
  return url.href;
}

// Opens `window.sources[name]` on `href` and waits until it is open; events are kept in
// `window.received[name]` as { id, type, data }.
async function open(name, href) {
  await page.evaluate(([name, href]) => {
    window.sources ??= {};
    window.received ??= {};
    window.opens ??= {};
    window.received[name] = [];
    window.opens[name] = 0;
    const source = new EventSource(href);
    source.onopen = () => { window.opens[name] += 1; };
    source.onmessage = (event) => window.received[name].push({ id: event.lastEventId, type: event.type, data: event.data });
    window.sources[name] = source;
  }, [name, href]);
  await until(() => page.evaluate((name) => window.opens[name] === 1, name), 10000, `${name} open`);
}

const received = (name) => page.evaluate((name) => window.received[name], name);
const close = (name) => page.evaluate((name) => window.sources[name].close(), name);

test('the resource identifier is the configured one (B-TOK-6)', () => {
  assert.equal(V1_AUDIENCE, 'https://localhost/.well-known/mercure');
});

test('the 1.0 cookie authorizes a match_urlpattern EventSource; it catches up exactly after a restart (B-AUTH-5, B-MT, B-AD-6, B-HIST-2, B-HIST-7, X-7)', async () => {
  const subscriber = atJwt([
    grant(['subscribe'], [{ match: 'https://example.com/books/:id', match_type: 'urlpattern' }]),
  ]);
  // `__Secure-` cookies need the Secure attribute; Chromium accepts and sends them on
  // http://127.0.0.1, a potentially trustworthy origin.
  await page.evaluate(([name, jwt]) => {
    document.cookie = `${name}=${jwt}; Path=/.well-known/mercure; Secure; SameSite=Strict`;
  }, [COOKIE, subscriber]);
  const cookies = await context.cookies(HUB);
  assert.ok(cookies.some((c) => c.name === COOKIE && c.secure), `the ${COOKIE} cookie is stored`);

  const requests = [];
  page.on('request', async (request) => {
    if (request.url().includes('match_urlpattern=')) {
      const headers = await request.allHeaders();
      requests.push({ cookie: headers.cookie ?? '', lastEventId: headers['last-event-id'] ?? null });
    }
  });
  const responses = [];
  page.on('response', async (response) => {
    if (response.url().includes('match_urlpattern=')) {
      responses.push({ status: response.status(), cursor: await response.headerValue('mercure-last-event-id') });
    }
  });

  await open('books', url([['match_urlpattern', 'https://example.com/books/:id']]));
  assert.ok(requests[0].cookie.includes(`${COOKIE}=`), 'Chromium sent the __Secure- cookie over http://127.0.0.1');
  assert.equal(requests[0].lastEventId, null, 'the first request has no cursor');

  const prefix = `v1-${random()}`;
  // Private, so only the cookie's grant can deliver it; retry 2 s so that the browser
  // reconnects only after the events below are published.
  await publishWith(V1_PUBLISHER, 'https://example.com/books/1', 'private book 1', { id: `${prefix}-1`, private: 'on', retry: 2000 });
  await publishWith(V1_PUBLISHER, 'https://example.com/authors/1', 'not a book', { id: `${prefix}-x` });
  await until(async () => (await received('books')).length >= 1, 10000, 'the private update');

  await restartHub();
  // Published while the browser is disconnected: only the history can deliver them.
  await publishWith(V1_PUBLISHER, 'https://example.com/books/2', 'private book 2', { id: `${prefix}-2`, private: 'on' });
  await publishWith(V1_PUBLISHER, 'https://example.com/books/3', 'public book 3', { id: `${prefix}-3` });
  await until(() => page.evaluate(() => window.opens.books === 2), 15000, 'the automatic reconnection');
  await publishWith(V1_PUBLISHER, 'https://example.com/books/4', 'private book 4', { id: `${prefix}-4`, private: 'on' });
  await until(async () => (await received('books')).length >= 4, 10000, 'four events');
  await page.waitForTimeout(300);
  assert.deepEqual(
    (await received('books')).map((e) => [e.id, e.data]),
    [
      [`${prefix}-1`, 'private book 1'],
      [`${prefix}-2`, 'private book 2'],
      [`${prefix}-3`, 'public book 3'],
      [`${prefix}-4`, 'private book 4'],
    ],
    'no loss, no duplicate, nothing unmatched',
  );
  assert.equal(requests.length, 2);
  assert.equal(requests[1].lastEventId, `${prefix}-1`, 'the browser reconnected with Last-Event-ID');
  assert.ok(requests[1].cookie.includes(`${COOKIE}=`), 'and with the cookie');
  assert.deepEqual(responses, [
    { status: 200, cursor: null },
    { status: 200, cursor: `${prefix}-1` },
  ], 'Mercure-Last-Event-ID answers the reconnection only (B-HIST-7)');
  await close('books');
});

test('fetch reads Mercure-Last-Event-ID of a 1.0 request with last_event_id (B-HIST-7, X-8)', async () => {
  const topic = `https://example.com/books/cursor-${random()}`;
  const id = `cursor-${random()}`;
  await publishWith(V1_PUBLISHER, topic, 'a known event', { id });
  const heads = await page.evaluate(async (hrefs) => {
    const heads = [];
    for (const href of hrefs) {
      const controller = new AbortController();
      const response = await fetch(href, { signal: controller.signal, headers: { Accept: 'text/event-stream' } });
      heads.push({
        status: response.status,
        type: response.headers.get('Content-Type'),
        v1: response.headers.get('Mercure-Last-Event-ID'),
        classic: response.headers.get('Last-Event-ID'),
      });
      controller.abort();
    }
    return heads;
  }, [
    url([['match', topic], ['last_event_id', id]]),
    url([['match', topic], ['last_event_id', 'urn:never-published']]),
    url([['match', topic], ['last_event_id', '']]),
    url([['topic', topic], ['lastEventID', id]]),
  ]);
  const stream = 'text/event-stream';
  assert.deepEqual(heads, [
    { status: 200, type: stream, v1: id, classic: null },
    { status: 200, type: stream, v1: 'earliest', classic: null },
    { status: 200, type: stream, v1: 'earliest', classic: null },
    { status: 200, type: stream, v1: null, classic: id },
  ]);
});

// The equivalent of the reference's browser conformance suite, in the 1.0 dialect (match and
// match_urlpattern, public and private updates), with the classic suite's topic selectors on the
// same running hub: each case subscribes, publishes with a 1.0 publisher token and again with the
// reference's classic one, and checks that the update arrives (within 2 s) exactly when it
// must.
const cases = () => {
  const r = Array.from({ length: 4 }, random);
  return [
    { name: 'match: raw string', params: [['match', r[0]]], topics: [r[0]], received: true },
    { name: 'match: one of several topics', params: [['match', r[1]]], topics: [random(), r[1]], received: true },
    { name: 'match: several selectors', params: [['match', 'foo'], ['match', r[2]]], topics: [r[2]], received: true },
    { name: 'match: URI', params: [['match', `https://example.net/foo/${r[3]}`]], topics: [`https://example.net/foo/${r[3]}`], received: true },
    { name: 'match_urlpattern', params: [['match_urlpattern', 'https://example.net/foo/:random']], topics: [`https://example.net/foo/${r[3]}`], received: true },
    { name: 'match is exact, not a template', params: [['match', 'https://example.net/foo/{random}']], topics: [`https://example.net/foo/${r[3]}`], received: false },
    { name: 'match: nonmatching raw string', params: [['match', 'another-name']], topics: ['will-not-match'], received: false },
    { name: 'match_urlpattern: nonmatching', params: [['match_urlpattern', 'https://example.net/bar/:var']], topics: [`https://example.net/foo/${r[3]}`], received: false },
    { name: 'match: private, anonymous', params: [['match', r[0]]], topics: [r[0]], private: true, received: false },
    { name: 'match_urlpattern: private, anonymous', params: [['match_urlpattern', 'https://example.net/foo/:random']], topics: [`https://example.net/foo/${r[3]}`], private: true, received: false },
    { name: 'classic topic: URI template', params: [['topic', 'https://example.net/foo/{random}']], topics: [`https://example.net/foo/${r[3]}`], received: true },
    { name: 'classic topic: raw string', params: [['topic', r[0]]], topics: [r[0]], received: true },
    { name: 'classic topic: private, anonymous', params: [['topic', r[0]]], topics: [r[0]], private: true, received: false },
  ];
};

// The reference suite's own publisher token: classic claims, the development key.
const CLASSIC_PUBLISHER = token({ publish: ['*'], subscribe: ['*'] });

for (const [dialect, publisher] of [['1.0', V1_PUBLISHER], ['classic', CLASSIC_PUBLISHER]]) {
  for (const data of cases()) {
    test(`conformance (${dialect} publisher): ${data.name}`, async () => {
      const id = `conf-${random()}`;
      await open('conformance', url(data.params));
      await publishWith(publisher, data.topics, `data for\n\n  ${data.name}`, { id, ...(data.private ? { private: 'on' } : {}) });
      const got = await until(async () => {
        const events = await received('conformance');
        return events.some((e) => e.id === id) && events;
      }, data.received ? 5000 : 2000, 'the update').catch(() => []);
      await close('conformance');
      if (data.received) {
        assert.deepEqual(got.filter((e) => e.id === id), [{ id, type: 'message', data: `data for\n\n  ${data.name}` }]);
      } else {
        assert.deepEqual(got, [], 'nothing must arrive');
      }
    });
  }
}

test('one private update reaches a 1.0 cookie subscriber, a classic cookie subscriber, and not an anonymous one (X-4, X-6)', async () => {
  const topic = `https://example.com/books/both-${random()}`;
  const id = `both-${random()}`;
  // Each stream opens with one cookie only, so that it is authorized by the token meant for it:
  // the 1.0 cookie (still set, granting books/:id), then the classic one, then none.
  await open('v1', url([['match_urlpattern', 'https://example.com/books/:id']]));
  await page.evaluate((name) => {
    document.cookie = `${name}=; Path=/.well-known/mercure; Secure; Max-Age=0`;
  }, COOKIE);
  await page.evaluate((jwt) => {
    document.cookie = `mercureAuthorization=${jwt}; Path=/.well-known/mercure; SameSite=Strict`;
  }, token({ subscribe: ['https://example.com/books/{id}'] }));
  await open('classic', url([['topic', 'https://example.com/books/{id}']]));
  await page.evaluate(() => {
    document.cookie = 'mercureAuthorization=; Path=/.well-known/mercure; Max-Age=0';
  });
  await open('anonymous', url([['match', topic], ['topic', topic]]));
  await publishWith(V1_PUBLISHER, topic, 'for both dialects', { id, private: 'on' });
  await publishWith(V1_PUBLISHER, topic, 'public', { id: `${id}-public` });
  for (const name of ['v1', 'classic', 'anonymous']) {
    await until(async () => (await received(name)).some((e) => e.id === `${id}-public`), 10000, `${name}: the public update`);
  }
  const ids = async (name) => (await received(name)).map((e) => e.id);
  assert.deepEqual(await ids('v1'), [id, `${id}-public`]);
  assert.deepEqual(await ids('classic'), [id, `${id}-public`]);
  assert.deepEqual(await ids('anonymous'), [`${id}-public`], 'one event for a request with both selectors');
  for (const name of ['v1', 'classic', 'anonymous']) await close(name);
  // The 404 of the page itself, and the streams the hub restart cut, are expected.
  const expected = /404|Not Found|ERR_INCOMPLETE_CHUNKED_ENCODING/i;
  assert.deepEqual(errors.filter((e) => !expected.test(e)), [], 'no page error');
});
