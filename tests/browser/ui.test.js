// The debugger UI, clicked through in Chromium. Screenshots go to RESULTS_DIR
// (target/browser-results/ when run by cargo test) for review.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { HUB_URL, HUB_KEY_FOR_UI, publish, token, launchBrowser, watchErrors, resultsDir } from './lib.js';

let context;
let page;
let errors;

before(async () => {
  context = await launchBrowser();
  page = await context.newPage();
  errors = watchErrors(page);
});
after(async () => {
  await context?.close();
});

const shot = (name) => page.screenshot({ path: join(resultsDir(), `${name}.png`), fullPage: true });
const text = (selector) => page.locator(selector).innerText();

test('the UI loads from the hub with no error under its CSP', async () => {
  const response = await page.goto(`${HUB_URL}/.well-known/mercure/ui`);
  assert.equal(response.status(), 200);
  assert.equal(new URL(page.url()).pathname, '/.well-known/mercure/ui/', 'redirected to the slash');
  assert.equal(response.headers()['content-security-policy'], "default-src 'self'");
  await page.waitForSelector('body[data-ready="true"]');
  await page.waitForFunction(() => document.getElementById('config-info').textContent.includes('subscription API on'));
  assert.equal(await page.inputValue('#hub-url'), `${HUB_URL}/.well-known/mercure`);
  assert.match(await text('#token-claims'), /my-private-topic/, 'the development token, decoded');
  await shot('ui-1-loaded');
  assert.deepEqual(errors, []);
});

test('sign a token in the page, subscribe, publish, see the event', async () => {
  await page.locator('#token-panel details summary').click();
  await page.fill('#sign-claims', JSON.stringify({ mercure: { publish: ['*'], subscribe: ['*'], payload: { user: 'ui-test' } } }));
  await page.fill('#sign-secret', HUB_KEY_FOR_UI);
  await page.click('#sign-token');
  await page.waitForFunction(() => document.getElementById('token-claims').textContent.includes('ui-test'));
  assert.match(await text('#token-remarks'), /no exp/);

  await page.check('#auth-header');
  await page.fill('#sub-topics', 'https://example.com/ui/{id}');
  await page.fill('#sub-last-event-id', '');
  await page.click('#subscribe-button');
  await page.waitForFunction(() => document.getElementById('sub-status').textContent.startsWith('Subscribed'));

  await page.fill('#pub-topics', 'https://example.com/ui/1');
  await page.fill('#pub-data', '{"hello": "from the UI"}');
  await page.check('#pub-private');
  await page.fill('#pub-id', 'ui-event-1');
  await page.fill('#pub-type', 'greeting');
  await page.fill('#pub-retry', '1500');
  await page.click('#publish-button');
  await page.waitForFunction(() => document.getElementById('pub-result').textContent === 'Published: ui-event-1');
  await page.waitForSelector('#events .event');
  const event = page.locator('#events .event').first();
  assert.equal(await event.locator('.event-id').innerText(), 'ui-event-1');
  assert.equal(await event.locator('.event-type').innerText(), 'greeting');
  assert.equal(await event.locator('.event-data').innerText(), '{"hello": "from the UI"}');
  await shot('ui-2-published');
});

test('resume from an id', async () => {
  await page.locator('#events .event-id', { hasText: 'ui-event-1' }).click();
  assert.equal(await page.inputValue('#sub-last-event-id'), 'ui-event-1');
  await page.click('#unsubscribe-button');
  await publish('https://example.com/ui/2', 'missed while unsubscribed', { id: 'ui-event-2' });
  await page.click('#clear-events');
  await page.click('#subscribe-button');
  await page.waitForSelector('#events .event');
  await page.waitForTimeout(300);
  const ids = await page.locator('#events .event-id').allInnerTexts();
  assert.deepEqual(ids, ['ui-event-2'], 'only what came after the cursor');
  await shot('ui-3-resumed');
});

test('cookie mode with the native EventSource', async () => {
  await page.click('#set-cookie');
  assert.ok(await page.isChecked('#auth-cookie'));
  await page.fill('#sub-last-event-id', '');
  await page.fill('#sub-types', 'greeting');
  await page.click('#clear-events');
  await page.click('#subscribe-button');
  await page.waitForFunction(() => document.getElementById('sub-status').textContent.startsWith('Subscribed'));
  await page.fill('#pub-id', 'ui-event-3');
  await page.click('#publish-button');
  await page.waitForFunction(() => document.getElementById('pub-result').textContent === 'Published: ui-event-3');
  await page.waitForSelector('#events .event');
  assert.deepEqual(await page.locator('#events .event-id').allInnerTexts(), ['ui-event-3'], 'private, through the cookie');
  await page.click('#unsubscribe-button');
  await page.click('#clear-cookie');
  assert.equal((await context.cookies()).filter((c) => c.name === 'mercureAuthorization').length, 0);
  await page.check('#auth-header');
});

test('active subscriptions are listed and followed', async () => {
  await page.fill('#sub-topics', 'https://example.com/ui/watched');
  await page.fill('#sub-types', '');
  await page.click('#subscribe-button');
  await page.waitForFunction(() => document.getElementById('sub-status').textContent.startsWith('Subscribed'));
  await page.click('#subs-start');
  await page.waitForFunction(() => document.getElementById('subs-status').textContent.startsWith('Following'));
  await page.waitForFunction(() => document.getElementById('subs-list').textContent.includes('https://example.com/ui/watched'));
  assert.match(await text('#subs-list'), /ui-test/, 'the payload of the subscriber token');
  // A new subscription shows up live, and disappears when it ends.
  const other = await context.newPage();
  await other.goto(`${HUB_URL}/.well-known/mercure/ui/`);
  await other.evaluate((hub) => {
    const url = new URL(hub);
    url.searchParams.append('topic', 'https://example.com/ui/second-tab');
    window.source = new EventSource(url);
  }, `${HUB_URL}/.well-known/mercure`);
  await page.waitForFunction(() => document.getElementById('subs-list').textContent.includes('second-tab'));
  await shot('ui-4-subscriptions');
  await other.close();
  await page.waitForFunction(() => !document.getElementById('subs-list').textContent.includes('second-tab'), null, { timeout: 10000 });
  await page.click('#subs-stop');
  await page.click('#unsubscribe-button');
});

test('Mercure 1.0: sign an at+jwt token, subscribe with match_urlpattern (header, then 1.0 cookie), publish', async () => {
  await page.selectOption('#sign-dialect', '1.0');
  const claims = JSON.parse(await page.inputValue('#sign-claims'));
  assert.equal(claims.aud, `${HUB_URL}/.well-known/mercure`, 'the template names this hub as the audience');
  claims.authorization_details[0].payload = { user: 'ui-v1' };
  await page.fill('#sign-claims', JSON.stringify(claims));
  await page.fill('#sign-secret', HUB_KEY_FOR_UI);
  await page.click('#sign-token');
  await page.waitForFunction(() => document.getElementById('token-claims').textContent.includes('ui-v1'));
  assert.match(await text('#token-dialect'), /Mercure 1\.0/);
  assert.match(await text('#token-remarks'), /publish \+ subscribe: \*/);
  assert.equal(JSON.parse(await text('#token-header')).typ, 'at+jwt');

  await page.check('#auth-header');
  await page.check('#sel-urlpattern');
  await page.fill('#sub-topics', 'https://example.com/ui-v1/:id');
  await page.fill('#sub-last-event-id', '');
  await page.fill('#sub-types', '');
  await page.fill('#pub-type', '');
  await page.click('#clear-events');
  await page.click('#subscribe-button');
  await page.waitForFunction(() => document.getElementById('sub-status').textContent.startsWith('Subscribed to match_urlpattern'));
  await page.fill('#pub-topics', 'https://example.com/ui-v1/1');
  await page.fill('#pub-data', 'private, 1.0');
  await page.check('#pub-private');
  await page.fill('#pub-id', 'ui-v1-1');
  await page.click('#publish-button');
  await page.waitForFunction(() => document.getElementById('pub-result').textContent === 'Published: ui-v1-1');
  await page.waitForSelector('#events .event');
  assert.deepEqual(await page.locator('#events .event-id').allInnerTexts(), ['ui-v1-1']);
  await shot('ui-5-v1-header');
  await page.click('#unsubscribe-button');

  // The native EventSource with the 1.0 cookie, resuming with last_event_id.
  await page.click('#set-cookie');
  const cookies = await context.cookies(`${HUB_URL}/.well-known/mercure`);
  assert.deepEqual(cookies.map((c) => [c.name, c.secure]), [['__Secure-mercure_access_token', true]]);
  await publish('https://example.com/ui-v1/2', 'missed', { id: 'ui-v1-2', private: 'on' });
  await page.fill('#sub-last-event-id', 'ui-v1-1');
  await page.click('#clear-events');
  const requests = [];
  page.on('request', (request) => {
    if (request.url().includes('match_urlpattern=')) requests.push(request.url());
  });
  await page.click('#subscribe-button');
  await page.waitForSelector('#events .event');
  await page.waitForTimeout(300);
  assert.deepEqual(await page.locator('#events .event-id').allInnerTexts(), ['ui-v1-2'], 'private, through the 1.0 cookie');
  assert.equal(new URL(requests.at(-1)).searchParams.get('last_event_id'), 'ui-v1-1');
  await shot('ui-6-v1-cookie');
  await page.click('#unsubscribe-button');
  await page.click('#clear-cookie');
  assert.deepEqual(await context.cookies(`${HUB_URL}/.well-known/mercure`), []);
  await page.check('#auth-header');
  await page.check('#sel-topic');
  await page.uncheck('#pub-private');
});

test('the same UI at /.well-known/mercure/debug/ with its config.json', async () => {
  const response = await page.goto(`${HUB_URL}/.well-known/mercure/debug/`);
  assert.equal(response.status(), 200);
  await page.waitForSelector('body[data-ready="true"]');
  const config = await page.evaluate(async () => {
    const response = await fetch('config.json');
    return { cache: response.headers.get('Cache-Control'), body: await response.json() };
  });
  assert.deepEqual(config, {
    cache: 'no-store',
    body: {
      playground: false,
      anonymous: true,
      subscriptions: true,
      cookieName: 'mercureAuthorization',
      v1CookieName: '__Secure-mercure_access_token',
    },
  });
  const csp = errors.filter((e) => /Content Security Policy|Refused to/i.test(e));
  assert.deepEqual(csp, [], 'nothing blocked by the CSP');
});
