// Chromium's own EventSource reconnection across a hub restart (same port, same data directory):
// it resumes with Last-Event-ID and nothing published meanwhile is lost.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HUB_URL, publish, until, launchBrowser, subscribeUrl } from './lib.js';

async function restartHub() {
  const response = await fetch(`${process.env.CONTROL_URL}/restart`, { method: 'POST' });
  assert.equal(response.status, 204, 'the test driver restarted the hub');
}

test('EventSource resumes after a hub restart without losing events', async () => {
  const context = await launchBrowser();
  try {
    const page = await context.newPage();
    const reconnections = [];
    page.on('request', async (request) => {
      if (request.url().includes('/.well-known/mercure?')) {
        reconnections.push((await request.allHeaders())['last-event-id'] ?? null);
      }
    });
    await page.goto(`${HUB_URL}/.well-known/mercure/ui/`);
    const topic = 'https://example.com/browser/restart';
    await page.evaluate((url) => {
      window.events = [];
      window.opens = 0;
      window.source = new EventSource(url);
      window.source.onopen = () => { window.opens += 1; };
      window.source.onmessage = (event) => window.events.push(event.lastEventId);
    }, subscribeUrl(topic));
    await until(() => page.evaluate(() => window.opens === 1), 10000, 'EventSource open');

    // retry: 2 s, so that the browser reconnects only after the events below are published.
    await publish(topic, 'before', { id: 'restart-1', retry: 2000 });
    await until(() => page.evaluate(() => window.events.length === 1), 10000, 'the first event');

    await restartHub();
    // Published while the browser is disconnected: only the history can deliver them.
    for (const id of ['restart-2', 'restart-3', 'restart-4']) await publish(topic, 'meanwhile', { id });
    await until(() => page.evaluate(() => window.opens === 2), 15000, 'the automatic reconnection');
    await publish(topic, 'after', { id: 'restart-5' });
    const events = await until(async () => {
      const events = await page.evaluate(() => window.events);
      return events.length >= 5 && events;
    }, 10000, 'five events');
    await page.waitForTimeout(300);
    assert.deepEqual(await page.evaluate(() => window.events), ['restart-1', 'restart-2', 'restart-3', 'restart-4', 'restart-5']);
    assert.equal(events.length, 5);
    assert.equal(reconnections[0], null, 'the first request has no cursor');
    assert.equal(reconnections.at(-1), 'restart-1', 'the browser reconnected with Last-Event-ID');
  } finally {
    await context.close();
  }
});
