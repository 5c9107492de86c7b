//! Server-Sent Events framing (protocol.md A-SSE-4, A-SSE-5).

use bytes::{BufMut, Bytes, BytesMut};

use super::Update;

/// Encodes an update as one complete SSE event: `event:`, `retry:`, `id:`, `data:` lines, blank line.
pub fn encode(update: &Update) -> Bytes {
    let mut frame = BytesMut::with_capacity(update.data.len() + update.id.len() + 32);
    if let Some(event_type) = update.event_type.as_deref().filter(|t| !t.is_empty()) {
        field(&mut frame, "event", event_type);
    }
    if update.retry > 0 {
        field(&mut frame, "retry", &update.retry.to_string());
    }
    field(&mut frame, "id", &update.id);
    for line in data_lines(&update.data) {
        field(&mut frame, "data", line);
    }
    frame.put_u8(b'\n');
    frame.freeze()
}

fn field(frame: &mut BytesMut, name: &str, value: &str) {
    frame.put_slice(name.as_bytes());
    frame.put_slice(b": ");
    frame.put_slice(value.as_bytes());
    frame.put_u8(b'\n');
}

/// Splits on CRLF, lone CR and lone LF; empty data is one empty line.
fn data_lines(data: &str) -> impl Iterator<Item = &str> {
    let mut rest = Some(data);
    std::iter::from_fn(move || {
        let text = rest?;
        match text.find(['\r', '\n']) {
            Some(end) => {
                let skip = if text[end..].starts_with("\r\n") {
                    2
                } else {
                    1
                };
                rest = Some(&text[end + skip..]);
                Some(&text[..end])
            }
            None => {
                rest = None;
                Some(text)
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn update(id: &str, data: &str) -> Update {
        Update {
            id: id.into(),
            topics: vec!["t".into()],
            data: data.into(),
            private: false,
            event_type: None,
            retry: 0,
        }
    }

    fn text(update: &Update) -> String {
        String::from_utf8(encode(update).to_vec()).expect("utf8")
    }

    #[test]
    fn reference_byte_example() {
        let mut first = update("b", "Hello World");
        first.event_type = Some("test".into());
        let mut second = update("c", "Great");
        second.retry = 1;
        assert_eq!(
            format!(":\n{}{}", text(&first), text(&second)),
            ":\nevent: test\nid: b\ndata: Hello World\n\nretry: 1\nid: c\ndata: Great\n\n"
        );
    }

    #[test]
    fn data_is_split_on_every_line_ending() {
        assert_eq!(
            text(&update("1", "a\r\nb\rc\nd")),
            "id: 1\ndata: a\ndata: b\ndata: c\ndata: d\n\n"
        );
        assert_eq!(text(&update("1", "")), "id: 1\ndata: \n\n");
        assert_eq!(text(&update("1", "x\n")), "id: 1\ndata: x\ndata: \n\n");
        assert_eq!(
            text(&update("1", "\r\n\r\n")),
            "id: 1\ndata: \ndata: \ndata: \n\n"
        );
    }

    #[test]
    fn empty_type_and_zero_retry_are_omitted() {
        let mut u = update("1", "x");
        u.event_type = Some(String::new());
        assert_eq!(text(&u), "id: 1\ndata: x\n\n");
    }

    #[test]
    fn data_cannot_inject_fields() {
        let u = update("1", "x\n\nid: forged\r\nevent: evil");
        let encoded = text(&u);
        assert!(encoded
            .lines()
            .filter(|l| !l.is_empty())
            .all(|l| l.starts_with("id: 1") || l.starts_with("data: ")));
        assert!(encoded.ends_with("data: event: evil\n\n"));
    }
}
