// The Quicksilver debugger (protocol.md C.7). Plain ES modules, no dependency, no CDN.
import { FetchEventSource } from './sse.js';
import { decode, dialect, remarks, signHmac, MERCURE_DETAIL } from './jwt.js';

// C-UI-2: the development token of the reference hub. Signed (HS256) with the public development
// key; grants publish ["*"] and subscribe on the demo topics and on the subscription events.
const DEV_TOKEN =
  'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJtZXJjdXJlIjp7InB1Ymxpc2giOlsiKiJdLCJzdWJzY3JpYmUiOlsiaHR0cHM6Ly9leGFtcGxlLmNvbS9teS1wcml2YXRlLXRvcGljIiwie3NjaGVtZX06Ly97K2hvc3R9L2RlbW8vYm9va3Mve2lkfS5qc29ubGQiLCIvLndlbGwta25vd24vbWVyY3VyZS9zdWJzY3JpcHRpb25zey90b3BpY317L3N1YnNjcmliZXJ9Il0sInBheWxvYWQiOnsidXNlciI6Imh0dHBzOi8vZXhhbXBsZS5jb20vdXNlcnMvZHVuZ2xhcyIsInJlbW90ZUFkZHIiOiIxMjcuMC4wLjEifX19.m72Ipe9TxDTSuP5wyRC2iDfsvdMI33WD92ai9DBVSyY';
const SUBSCRIPTIONS_TOPIC = '/.well-known/mercure/subscriptions{/topic}{/subscriber}';

const $ = (id) => document.getElementById(id);
const lines = (text) => text.split('\n').map((l) => l.trim()).filter((l) => l !== '');
const hubConfig = {
  anonymous: true,
  subscriptions: false,
  cookieName: 'mercureAuthorization',
  v1CookieName: '__Secure-mercure_access_token',
};

function hubUrl() {
  return new URL($('hub-url').value.trim() || '/.well-known/mercure', location.href);
}

function authMode() {
  return document.querySelector('input[name="auth"]:checked').value;
}

function jwt() {
  return $('jwt').value.trim();
}

// The dialect of the typed token ('1.0' or 'classic'; 'classic' when none or unreadable): it
// decides the cookie the token is stored in.
function tokenDialect() {
  try {
    return jwt() ? dialect(decode(jwt())) : 'classic';
  } catch {
    return 'classic';
  }
}

// The selector kind of subscriptions: `topic` (classic), `match` or `match_urlpattern` (1.0).
function selectorKind() {
  return document.querySelector('input[name="selector"]:checked').value;
}

// The query parameter of the cursor in the selector kind's own dialect.
function cursorParameter(kind) {
  return kind === 'topic' ? 'lastEventID' : 'last_event_id';
}

function setStatus(element, text, kind = '') {
  element.textContent = text;
  element.className = `status ${kind}`.trim();
}

function crossOrigin(url) {
  return url.origin !== location.origin;
}

// Opens an event stream with the chosen authorization: a fetch-based reader for the header, the
// native EventSource for the cookie and anonymous modes. Returns an object with close().
function openStream(url, { lastEventId, cursorParam = 'lastEventID', types, onOpen, onEvent, onError }) {
  const mode = authMode();
  if (mode === 'header') {
    const headers = jwt() ? { Authorization: `Bearer ${jwt()}` } : {};
    const source = new FetchEventSource(url, { headers, credentials: 'omit', lastEventId });
    source.onopen = onOpen;
    source.onmessage = onEvent;
    source.onerror = (error) => {
      if (error.final) onError(`refused: HTTP ${error.status} ${error.body.trim()}`, true);
      else onError('connection lost, reconnecting with Last-Event-ID…', false);
    };
    return source;
  }
  if (lastEventId) url.searchParams.set(cursorParam, lastEventId);
  const source = new EventSource(url, { withCredentials: crossOrigin(url) });
  const listener = (event) =>
    onEvent({ type: event.type, data: event.data, id: event.lastEventId });
  source.addEventListener('message', listener);
  for (const type of types) source.addEventListener(type, listener);
  source.onopen = () => onOpen({});
  source.onerror = () => {
    if (source.readyState === EventSource.CLOSED) {
      const hint =
        mode === 'none'
          ? 'is a stale cookie set? The hub refuses an invalid cookie even for anonymous subscribers'
          : 'is the cookie set and valid for these topics?';
      onError(`refused (EventSource does not tell why; ${hint})`, true);
    } else {
      onError('connection lost, the browser reconnects with Last-Event-ID…', false);
    }
  };
  return source;
}

// ---- Settings and cookie ------------------------------------------------------------------------

// The cookie of each dialect: the classic `cookie_name` and the 1.0 one (B-AUTH-5).
function cookieNames() {
  return [...new Set([hubConfig.cookieName, hubConfig.v1CookieName])];
}

function cookieStatus() {
  const visible = cookieNames().filter((name) =>
    document.cookie.split(';').some((c) => c.trim().startsWith(`${name}=`)),
  );
  $('cookie-status').textContent = visible.length
    ? `Cookie visible to this page: ${visible.join(', ')}.`
    : `No ${cookieNames().join(' or ')} cookie visible to this page (an HttpOnly cookie is sent but not shown).`;
}

function setCookie(name, value, maxAge) {
  const url = hubUrl();
  if (crossOrigin(url)) {
    $('cookie-status').textContent =
      'The hub is on another origin: its cookie must be set by your application on the hub’s domain.';
    return;
  }
  // `__Secure-` cookies need the Secure attribute, which browsers accept on https and on
  // localhost / 127.0.0.1.
  const secure = location.protocol === 'https:' || name.startsWith('__Secure-') ? '; Secure' : '';
  const age = maxAge === undefined ? '' : `; Max-Age=${maxAge}`;
  document.cookie = `${name}=${value}; Path=${url.pathname}; SameSite=Strict${secure}${age}`;
  cookieStatus();
}

$('set-cookie').addEventListener('click', () => {
  if (!jwt()) return ($('cookie-status').textContent = 'Type a JWT first.');
  // One cookie at a time: the hub reads the classic name first.
  const name = tokenDialect() === '1.0' ? hubConfig.v1CookieName : hubConfig.cookieName;
  for (const other of cookieNames()) if (other !== name) setCookie(other, '', 0);
  setCookie(name, jwt());
  $('auth-cookie').checked = true;
});
$('clear-cookie').addEventListener('click', () => {
  for (const name of cookieNames()) setCookie(name, '', 0);
});

// ---- Token --------------------------------------------------------------------------------------

function showToken() {
  $('token-dialect').textContent = jwt()
    ? `Token dialect: ${tokenDialect() === '1.0' ? 'Mercure 1.0' : 'classic'}.`
    : '';
  const list = $('token-remarks');
  list.replaceChildren();
  $('token-header').textContent = '';
  $('token-claims').textContent = '';
  if (!jwt()) {
    list.append(item('No token: anonymous.'));
    return;
  }
  try {
    const token = decode(jwt());
    $('token-header').textContent = JSON.stringify(token.header, null, 2);
    $('token-claims').textContent = JSON.stringify(token.claims, null, 2);
    for (const note of remarks(token)) list.append(item(note));
  } catch (error) {
    list.append(item(`Not a valid JWT: ${error.message}`, 'error'));
  }
}

function item(text, className) {
  const li = document.createElement('li');
  li.textContent = text;
  if (className) li.className = className;
  return li;
}

$('jwt').addEventListener('input', showToken);
// A template of the chosen dialect's claims, unless the claims were edited.
const CLAIMS_TEMPLATES = {
  classic: () => ({ mercure: { publish: ['*'], subscribe: ['*'] } }),
  '1.0': () => ({
    iss: 'https://localhost',
    aud: hubUrl().href,
    exp: Math.floor(Date.now() / 1000) + 3600,
    authorization_details: [{ type: MERCURE_DETAIL, actions: ['publish', 'subscribe'], topics: [{ match: '*' }] }],
  }),
};
$('sign-dialect').addEventListener('change', () => {
  $('sign-claims').value = JSON.stringify(CLAIMS_TEMPLATES[$('sign-dialect').value](), null, 1);
});
$('sign-token').addEventListener('click', async () => {
  try {
    const claims = JSON.parse($('sign-claims').value);
    const typ = $('sign-dialect').value === '1.0' ? 'at+jwt' : 'JWT';
    $('jwt').value = await signHmac(claims, $('sign-secret').value, $('sign-alg').value, typ);
    $('sign-status').textContent = 'Signed: the JWT field now holds the new token.';
    showToken();
  } catch (error) {
    $('sign-status').textContent = `Cannot sign: ${error.message}`;
  }
});

// ---- Discover -----------------------------------------------------------------------------------

function parseLinks(header) {
  const links = [];
  for (const match of (header || '').matchAll(/<([^>]*)>((?:\s*;\s*[^;,]+)*)/g)) {
    const params = {};
    for (const param of match[2].split(';').slice(1)) {
      const [key, ...rest] = param.split('=');
      params[key.trim().toLowerCase()] = rest.join('=').trim().replace(/^"|"$/g, '');
    }
    links.push({ url: match[1], ...params });
  }
  return links;
}

$('discover-button').addEventListener('click', async () => {
  const status = $('discover-status');
  try {
    const target = new URL($('discover-url').value.trim(), location.href);
    const response = await fetch(target, { credentials: 'include' });
    const links = parseLinks(response.headers.get('Link'));
    const hub = links.find((l) => (l.rel || '').split(/\s+/).includes('mercure'));
    const self = links.find((l) => (l.rel || '').split(/\s+/).includes('self'));
    if (!hub) {
      status.textContent = `HTTP ${response.status}: no Link rel="mercure" header (cross-origin, it must be exposed by CORS).`;
      return;
    }
    $('hub-url').value = new URL(hub.url, target).href;
    $('sub-topics').value = self ? new URL(self.url, target).href : target.href;
    if (hub['last-event-id']) $('sub-last-event-id').value = hub['last-event-id'];
    status.textContent = `Found the hub ${$('hub-url').value}; topic ${$('sub-topics').value}.`;
  } catch (error) {
    status.textContent = `Discovery failed: ${error.message}`;
  }
});

// ---- Subscribe ----------------------------------------------------------------------------------

let subscription = null;

function renderEvent(event) {
  const li = document.createElement('li');
  li.className = 'event';
  const meta = document.createElement('div');
  meta.className = 'meta';
  const id = document.createElement('button');
  id.type = 'button';
  id.className = 'event-id link';
  id.title = 'Resume from this id';
  id.textContent = event.id || '(no id)';
  id.addEventListener('click', () => {
    $('sub-last-event-id').value = event.id;
  });
  const type = document.createElement('span');
  type.className = 'event-type';
  type.textContent = event.type;
  const time = document.createElement('span');
  time.className = 'muted';
  time.textContent = new Date().toLocaleTimeString();
  meta.append(id, ' ', type, ' ', time);
  const data = document.createElement('pre');
  data.className = 'event-data';
  data.textContent = event.data;
  li.append(meta, data);
  $('events').prepend(li);
}

function subscribe() {
  unsubscribe();
  const topics = lines($('sub-topics').value);
  if (topics.length === 0) return setStatus($('sub-status'), 'Give at least one selector.', 'error');
  const kind = selectorKind();
  const url = hubUrl();
  for (const topic of topics) url.searchParams.append(kind, topic);
  const types = $('sub-types').value.split(',').map((t) => t.trim()).filter(Boolean);
  const publishedType = $('pub-type').value.trim();
  if (publishedType && !types.includes(publishedType)) types.push(publishedType);
  setStatus($('sub-status'), 'Connecting…');
  subscription = openStream(url, {
    lastEventId: $('sub-last-event-id').value.trim(),
    cursorParam: cursorParameter(kind),
    types,
    onOpen: () => setStatus($('sub-status'), `Subscribed to ${kind} ${topics.join(', ')}.`, 'ok'),
    onEvent: renderEvent,
    onError: (text, final) => {
      setStatus($('sub-status'), text, final ? 'error' : '');
      if (final) unsubscribe(false);
    },
  });
  $('unsubscribe-button').disabled = false;
}

function unsubscribe(reset = true) {
  if (subscription) subscription.close();
  subscription = null;
  $('unsubscribe-button').disabled = true;
  if (reset) setStatus($('sub-status'), 'Not subscribed.');
}

$('subscribe-button').addEventListener('click', subscribe);
$('unsubscribe-button').addEventListener('click', () => unsubscribe());
$('clear-events').addEventListener('click', () => $('events').replaceChildren());

// ---- Publish ------------------------------------------------------------------------------------

$('publish-button').addEventListener('click', async () => {
  const result = $('pub-result');
  const body = new URLSearchParams();
  for (const topic of lines($('pub-topics').value)) body.append('topic', topic);
  body.append('data', $('pub-data').value);
  if ($('pub-private').checked) body.append('private', 'on');
  for (const [field, id] of [['id', 'pub-id'], ['type', 'pub-type'], ['retry', 'pub-retry']]) {
    const value = $(id).value.trim();
    if (value) body.append(field, value);
  }
  // The header when a JWT is typed (it takes precedence over the cookie); otherwise the cookie,
  // which the hub accepts for publishing only from origins listed in publish_origins.
  const headers = jwt() ? { Authorization: `Bearer ${jwt()}` } : {};
  try {
    const response = await fetch(hubUrl(), {
      method: 'POST',
      headers,
      body,
      credentials: jwt() ? 'omit' : 'include',
    });
    const text = (await response.text()).trim();
    if (response.ok) setStatus(result, `Published: ${text}`, 'ok');
    else {
      const hint =
        response.status === 401 && !jwt()
          ? ' (cookie publishing needs this page’s origin in publish_origins)'
          : '';
      setStatus(result, `HTTP ${response.status}: ${text}${hint}`, 'error');
    }
  } catch (error) {
    setStatus(result, `Cannot reach the hub: ${error.message}`, 'error');
  }
});

// ---- Active subscriptions -----------------------------------------------------------------------

let presence = null;
const active = new Map();

function renderSubscriptions() {
  const rows = [...active.values()].map((s) => {
    const tr = document.createElement('tr');
    for (const text of [s.topic, s.subscriber, s.payload === undefined ? '' : JSON.stringify(s.payload)]) {
      const td = document.createElement('td');
      td.textContent = text;
      tr.append(td);
    }
    return tr;
  });
  $('subs-list').replaceChildren(...rows);
}

async function followSubscriptions() {
  stopSubscriptions();
  const status = $('subs-status');
  const mode = authMode();
  const api = new URL(`${hubUrl().href.replace(/\/$/, '')}/subscriptions`);
  let collection;
  try {
    const response = await fetch(api, {
      headers: mode === 'header' && jwt() ? { Authorization: `Bearer ${jwt()}` } : {},
      credentials: mode === 'header' ? 'omit' : 'include',
    });
    if (response.status === 404) {
      return setStatus(status, 'The hub does not serve the subscription API (subscriptions = false).', 'error');
    }
    if (!response.ok) return setStatus(status, `HTTP ${response.status}: ${(await response.text()).trim()}`, 'error');
    collection = await response.json();
  } catch (error) {
    return setStatus(status, `Cannot list the subscriptions: ${error.message}`, 'error');
  }
  active.clear();
  for (const s of collection.subscriptions) active.set(s.id, s);
  renderSubscriptions();
  const url = hubUrl();
  url.searchParams.append('topic', SUBSCRIPTIONS_TOPIC);
  presence = openStream(url, {
    lastEventId: collection.lastEventID,
    types: [],
    onOpen: () => setStatus(status, `Following: ${active.size} active at ${collection.lastEventID}.`, 'ok'),
    onEvent: (event) => {
      let s;
      try {
        s = JSON.parse(event.data);
      } catch {
        return;
      }
      if (s.active) active.set(s.id, s);
      else active.delete(s.id);
      renderSubscriptions();
      setStatus(status, `Following: ${active.size} active.`, 'ok');
    },
    onError: (text, final) => setStatus(status, text, final ? 'error' : ''),
  });
  $('subs-stop').disabled = false;
}

function stopSubscriptions() {
  if (presence) presence.close();
  presence = null;
  $('subs-stop').disabled = true;
}

$('subs-start').addEventListener('click', followSubscriptions);
$('subs-stop').addEventListener('click', stopSubscriptions);

// ---- Start --------------------------------------------------------------------------------------

async function loadConfig() {
  // C-UI-4; the document sits next to this page under both UI prefixes.
  try {
    const response = await fetch('config.json', { cache: 'no-store' });
    if (response.ok) Object.assign(hubConfig, await response.json());
    $('config-info').textContent =
      `Hub: anonymous subscribers ${hubConfig.anonymous ? 'allowed' : 'refused'}; ` +
      `subscription API ${hubConfig.subscriptions ? 'on' : 'off'}; cookie name ${hubConfig.cookieName}` +
      ` (1.0: ${hubConfig.v1CookieName}).`;
  } catch {
    $('config-info').textContent = 'Could not read the hub configuration.';
  }
  cookieStatus();
}

$('hub-url').value = new URL('/.well-known/mercure', location.origin).href;
$('jwt').value = DEV_TOKEN;
$('sub-topics').value = 'https://example.com/my-private-topic\nhttps://example.com/books/{id}';
$('pub-topics').value = 'https://example.com/my-private-topic';
$('pub-data').value = '{"hello": "world"}';
showToken();
loadConfig();
document.body.dataset.ready = 'true';
