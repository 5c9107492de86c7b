// Node with the `eventsource` npm package (v3+: headers through its `fetch` option).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventSource } from 'eventsource';
import { publish, token, until, subscribeUrl } from './lib.js';

function subscribe(url, jwt, options = {}) {
  const events = [];
  const source = new EventSource(url, {
    fetch: (input, init) =>
      fetch(input, { ...init, headers: { ...init.headers, Authorization: `Bearer ${jwt}`, ...options.headers } }),
  });
  source.onmessage = (event) => events.push({ id: event.lastEventId, data: event.data });
  const opened = new Promise((resolve, reject) => {
    source.onopen = resolve;
    source.onerror = (error) => {
      if (source.readyState === EventSource.CLOSED) reject(error);
    };
  });
  return { source, events, opened };
}

test('subscribes with an Authorization header and receives private updates', async () => {
  const topic = 'https://example.com/node/private';
  const { source, events, opened } = subscribe(subscribeUrl(topic), token({ subscribe: [topic] }));
  await opened;
  await publish(topic, 'secret', { private: 'on', id: 'node-1' });
  await publish(topic, 'public', { id: 'node-2' });
  await until(() => events.length >= 2, 10000, 'two events');
  assert.deepEqual(events, [
    { id: 'node-1', data: 'secret' },
    { id: 'node-2', data: 'public' },
  ]);
  source.close();
});

test('a token without the grant gets public updates only; a bad token is refused', async () => {
  const topic = 'https://example.com/node/others';
  const { source, events, opened } = subscribe(subscribeUrl(topic), token({ subscribe: ['https://example.com/elsewhere'] }));
  await opened;
  await publish(topic, 'secret', { private: 'on' });
  await publish(topic, 'public');
  await until(() => events.length >= 1, 10000, 'the public event');
  await new Promise((resolve) => setTimeout(resolve, 200));
  assert.deepEqual(events.map((e) => e.data), ['public']);
  source.close();

  const refused = subscribe(subscribeUrl(topic), `${token({ subscribe: ['*'] })}x`);
  await assert.rejects(refused.opened, (error) => error.code === 401);
  refused.source.close();
});

test('resumes after Last-Event-ID', async () => {
  const topic = 'https://example.com/node/resume';
  const jwt = token({ subscribe: [topic] });
  const first = subscribe(subscribeUrl(topic), jwt);
  await first.opened;
  await publish(topic, 'one', { id: 'resume-1' });
  await until(() => first.events.length === 1, 10000, 'the first event');
  first.source.close();
  await publish(topic, 'two', { id: 'resume-2', private: 'on' });
  await publish(topic, 'three', { id: 'resume-3' });
  const again = subscribe(subscribeUrl(topic), jwt, { headers: { 'Last-Event-ID': 'resume-1' } });
  await again.opened;
  await until(() => again.events.length >= 2, 10000, 'the missed events');
  assert.deepEqual(again.events.map((e) => e.id), ['resume-2', 'resume-3']);
  again.source.close();
});
