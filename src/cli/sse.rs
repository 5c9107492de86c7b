//! A small `text/event-stream` parser (the WHATWG event stream format): enough for a client.

use serde::Serialize;

/// One dispatched event.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub(super) struct Event {
    pub id: Option<String>,
    #[serde(rename = "type")]
    pub event_type: Option<String>,
    pub data: String,
    pub retry: Option<u64>,
}

/// Feeds bytes in, gets whole events out.
#[derive(Debug, Default)]
pub(super) struct Parser {
    buffer: Vec<u8>,
    pending: Event,
    /// A field other than a comment was seen since the last dispatch.
    started: bool,
    has_data: bool,
}

impl Parser {
    /// Appends `bytes` and returns the events completed by them.
    pub(super) fn feed(&mut self, bytes: &[u8]) -> Vec<Event> {
        self.buffer.extend_from_slice(bytes);
        let mut events = Vec::new();
        while let Some(end) = self.buffer.iter().position(|&b| b == b'\n') {
            let mut line: Vec<u8> = self.buffer.drain(..=end).collect();
            line.pop();
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            if let Some(event) = self.line(&String::from_utf8_lossy(&line)) {
                events.push(event);
            }
        }
        events
    }

    fn line(&mut self, line: &str) -> Option<Event> {
        if line.is_empty() {
            return self.dispatch();
        }
        if line.starts_with(':') {
            return None;
        }
        let (field, value) = match line.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (line, ""),
        };
        self.started = true;
        match field {
            "data" => {
                if self.has_data {
                    self.pending.data.push('\n');
                }
                self.pending.data.push_str(value);
                self.has_data = true;
            }
            "id" if !value.contains('\0') => self.pending.id = Some(value.to_owned()),
            "event" => self.pending.event_type = Some(value.to_owned()),
            "retry" => self.pending.retry = value.parse().ok(),
            _ => {}
        }
        None
    }

    fn dispatch(&mut self) -> Option<Event> {
        let started = std::mem::take(&mut self.started);
        let has_data = std::mem::take(&mut self.has_data);
        let event = std::mem::take(&mut self.pending);
        (started && (has_data || event.id.is_some())).then_some(event)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_split_across_chunks() {
        let mut parser = Parser::default();
        assert!(parser.feed(b": heartbeat\n\nid: 1\nda").is_empty());
        let events = parser.feed(b"ta: a\r\ndata:b\nevent: t\nretry: 5\n\nid: 2\n\n");
        assert_eq!(
            events,
            [
                Event {
                    id: Some("1".into()),
                    event_type: Some("t".into()),
                    data: "a\nb".into(),
                    retry: Some(5),
                },
                Event {
                    id: Some("2".into()),
                    ..Event::default()
                },
            ]
        );
    }
}
