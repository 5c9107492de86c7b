// A fetch-based EventSource: the same event-stream parsing and reconnection as the browser's
// EventSource (HTML Living Standard, "Server-sent events"), but able to send request headers,
// which the native EventSource cannot. Used by the debugger to send `Authorization: Bearer`.
//
//   const source = new FetchEventSource(url, { headers: { Authorization: `Bearer ${jwt}` } });
//   source.onmessage = (event) => console.log(event.id, event.type, event.data);
//   source.close();

export const CONNECTING = 0;
export const OPEN = 1;
export const CLOSED = 2;

export class FetchEventSource {
  constructor(url, options = {}) {
    this.url = String(url);
    this.headers = options.headers || {};
    this.credentials = options.credentials || 'same-origin';
    this.lastEventId = options.lastEventId || '';
    this.retry = options.retry ?? 3000;
    this.readyState = CONNECTING;
    this.onopen = null;
    this.onmessage = null;
    this.onerror = null;
    this.controller = null;
    this.timer = null;
    this.connect();
  }

  close() {
    this.readyState = CLOSED;
    clearTimeout(this.timer);
    if (this.controller) this.controller.abort();
  }

  async connect() {
    if (this.readyState === CLOSED) return;
    this.readyState = CONNECTING;
    this.controller = new AbortController();
    const headers = { Accept: 'text/event-stream', 'Cache-Control': 'no-cache', ...this.headers };
    if (this.lastEventId) headers['Last-Event-ID'] = this.lastEventId;
    let response;
    try {
      response = await fetch(this.url, {
        headers,
        credentials: this.credentials,
        cache: 'no-store',
        signal: this.controller.signal,
      });
    } catch (error) {
      return this.reconnect(error);
    }
    const type = response.headers.get('Content-Type') || '';
    if (response.status !== 200 || !type.toLowerCase().startsWith('text/event-stream')) {
      // Like EventSource: a refusal is final, not retried.
      const body = await response.text().catch(() => '');
      this.readyState = CLOSED;
      this.emit('onerror', { status: response.status, body, final: true });
      return;
    }
    this.readyState = OPEN;
    this.emit('onopen', { status: response.status, headers: response.headers });
    try {
      await this.read(response.body);
    } catch (error) {
      return this.reconnect(error);
    }
    this.reconnect(null);
  }

  reconnect(error) {
    if (this.readyState === CLOSED) return;
    this.readyState = CONNECTING;
    this.emit('onerror', { error, final: false });
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.connect(), this.retry);
  }

  async read(body) {
    const reader = body.getReader();
    const decoder = new TextDecoder('utf-8');
    let buffer = '';
    let first = true;
    let data = '';
    let eventType = '';
    const dispatch = () => {
      if (data === '') {
        eventType = '';
        return;
      }
      const event = {
        type: eventType || 'message',
        data: data.endsWith('\n') ? data.slice(0, -1) : data,
        id: this.lastEventId,
        lastEventId: this.lastEventId,
      };
      data = '';
      eventType = '';
      this.emit('onmessage', event);
    };
    const line = (text) => {
      if (text === '') return dispatch();
      if (text.startsWith(':')) return this.emit('oncomment', text.slice(1));
      const colon = text.indexOf(':');
      const field = colon === -1 ? text : text.slice(0, colon);
      let value = colon === -1 ? '' : text.slice(colon + 1);
      if (value.startsWith(' ')) value = value.slice(1);
      if (field === 'data') data += `${value}\n`;
      else if (field === 'event') eventType = value;
      else if (field === 'id' && !value.includes('\0')) this.lastEventId = value;
      else if (field === 'retry' && /^[0-9]+$/.test(value)) this.retry = Number(value);
    };
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      buffer += decoder.decode(value, { stream: true });
      if (first && buffer.length > 0) {
        if (buffer.charCodeAt(0) === 0xfeff) buffer = buffer.slice(1);
        first = false;
      }
      for (;;) {
        const match = /\r\n|\r|\n/.exec(buffer);
        if (!match) break;
        // A lone '\r' at the end may be the first half of "\r\n": wait for more.
        if (match[0] === '\r' && match.index === buffer.length - 1) break;
        line(buffer.slice(0, match.index));
        buffer = buffer.slice(match.index + match[0].length);
      }
      if (this.readyState === CLOSED) return;
    }
  }

  emit(name, argument) {
    if (typeof this[name] === 'function') this[name](argument);
  }
}
