// Served by a static server on another port than the hub: every request to the hub is
// cross-origin. Parameters: ?hub=<hub URL>&topic=<topic>&token=<JWT for the header>.
const params = new URLSearchParams(location.search);
const url = new URL(params.get('hub'));
url.searchParams.append('topic', params.get('topic'));
const received = { anonymous: [], credentials: [], header: [], errors: [], header_status: null, exposed_last_event_id: null };
window.received = received;

// 1. Native EventSource without credentials: anonymous, public updates only.
const anonymous = new EventSource(url);
anonymous.onmessage = (event) => received.anonymous.push(event.data);
anonymous.onerror = () => received.errors.push(`anonymous: readyState ${anonymous.readyState}`);

// 2. Native EventSource with credentials: the mercureAuthorization cookie of 127.0.0.1 goes along.
const credentials = new EventSource(url, { withCredentials: true });
credentials.onmessage = (event) => received.credentials.push(event.data);
credentials.onerror = () => received.errors.push(`credentials: readyState ${credentials.readyState}`);

// 3. fetch with an Authorization header (a preflighted request), read as a stream.
const withCursor = new URL(url);
withCursor.searchParams.append('lastEventID', 'earliest');
fetch(withCursor, { headers: { Authorization: `Bearer ${params.get('token')}` } })
  .then(async (response) => {
    received.header_status = response.status;
    received.exposed_last_event_id = response.headers.get('Last-Event-ID');
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = '';
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      buffer += decoder.decode(value, { stream: true });
      let end;
      while ((end = buffer.indexOf('\n')) !== -1) {
        const line = buffer.slice(0, end);
        buffer = buffer.slice(end + 1);
        if (line.startsWith('data: ')) received.header.push(line.slice(6));
      }
    }
  })
  .catch((error) => received.errors.push(`header: ${error}`));

window.ready = () => anonymous.readyState === 1 && credentials.readyState === 1 && received.header_status !== null;
