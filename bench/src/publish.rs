//! A keep-alive publishing connection: one request at a time, back to back.

use std::io::Write;

use tokio::io::AsyncWriteExt;

use super::error::BenchError;
use super::http::Conn;
use super::subscribe::status_error;
use super::target::{nchan_channel, Flavor, Target};

/// One HTTP/1.1 connection that publishes updates; reconnects after the hub closes it.
pub struct Publisher {
    target: Target,
    conn: Option<Conn>,
    index: usize,
    total: usize,
    request: Vec<u8>,
    form: Vec<u8>,
    response: Vec<u8>,
}

impl Publisher {
    /// A publisher that connects lazily, as connection `index` of `total`.
    pub fn new(target: &Target, index: usize, total: usize) -> Publisher {
        Publisher {
            target: target.clone(),
            conn: None,
            index,
            total,
            request: Vec::with_capacity(1024),
            form: Vec::with_capacity(1024),
            response: Vec::with_capacity(128),
        }
    }

    /// Connects now rather than at the first publish.
    pub async fn connect(&mut self) -> Result<(), BenchError> {
        if self.conn.is_none() {
            let stream = self.target.connect(self.index, self.total).await?;
            self.conn = Some(Conn::new(stream, 4096));
        }
        Ok(())
    }

    /// Publishes `data` to `topic`; returns the event id the hub assigned.
    pub async fn publish(&mut self, topic: &str, data: &[u8]) -> Result<&str, BenchError> {
        self.build_request(topic, data);
        self.connect().await?;
        let result = self.exchange().await;
        if result.is_err() {
            self.conn = None;
        }
        result?;
        std::str::from_utf8(&self.response)
            .map_err(|_| BenchError::Protocol("event id is not UTF-8"))
    }

    async fn exchange(&mut self) -> Result<(), BenchError> {
        let Some(conn) = self.conn.as_mut() else {
            return Err(BenchError::Closed("publish"));
        };
        conn.stream
            .write_all(&self.request)
            .await
            .map_err(BenchError::io("send publish request"))?;
        let head = conn.read_head("publish").await?;
        self.response.clear();
        conn.read_body(head.framing, "publish", &mut self.response)
            .await?;
        if head.close {
            self.conn = None;
        }
        if !(200..300).contains(&head.status) {
            return Err(status_error("publish", head.status, &self.response));
        }
        Ok(())
    }

    fn build_request(&mut self, topic: &str, data: &[u8]) {
        if self.target.flavor == Flavor::Nchan {
            return self.build_nchan_request(topic, data);
        }
        self.form.clear();
        self.form.extend_from_slice(b"topic=");
        encode_into(&mut self.form, topic.as_bytes());
        self.form.extend_from_slice(b"&data=");
        encode_into(&mut self.form, data);
        self.request.clear();
        let _ = write!(
            self.request,
            "POST {} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n",
            self.target.path,
            self.target.host,
            self.form.len()
        );
        if let Some(auth) = &self.target.publisher_auth {
            let _ = write!(self.request, "Authorization: {auth}\r\n");
        }
        self.request.extend_from_slice(b"\r\n");
        self.request.extend_from_slice(&self.form);
    }
}

impl Publisher {
    fn build_nchan_request(&mut self, topic: &str, data: &[u8]) {
        self.request.clear();
        let _ = write!(
            self.request,
            "POST /pub/{} HTTP/1.1\r\nHost: {}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n",
            nchan_channel(topic),
            self.target.host,
            data.len()
        );
        self.request.extend_from_slice(data);
    }
}

fn encode_into(out: &mut Vec<u8>, value: &[u8]) {
    for piece in url::form_urlencoded::byte_serialize(value) {
        out.extend_from_slice(piece.as_bytes());
    }
}
