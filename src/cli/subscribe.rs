//! `quicksilver subscribe`: print a hub's updates as they arrive, resuming after disconnects
//! with the id of the last event received (`Last-Event-ID`); with `--compressed`, a gzip or zstd
//! stream is decoded as it arrives (issue 21 §3).

use std::io::Write;
use std::time::Duration;

use anyhow::{anyhow, Context};
use quicksilver_bench::decode::{Coding, Decoder};
use reqwest::header::{ACCEPT_ENCODING, CONTENT_ENCODING};
use reqwest::StatusCode;

use super::client::{http_client, runtime, HubArgs, Role};
use super::sse::{Event, Parser};

const FIRST_DELAY: Duration = Duration::from_millis(500);
const MAX_DELAY: Duration = Duration::from_secs(10);
/// What `--compressed` asks for: every coding the hub can send (it prefers zstd on a tie).
const CODINGS: &str = "gzip, zstd";

#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  quicksilver subscribe --topic 'https://example.com/books/{id}'
  quicksilver subscribe --topic '*' --last-event-id earliest --json | jq .data
  quicksilver subscribe --topic '*' --compressed")]
pub struct SubscribeArgs {
    /// Topic selector: an exact topic, a URI template or `*`. Repeatable.
    #[arg(long, value_name = "SELECTOR", required = true)]
    pub topic: Vec<String>,
    /// Start after this event id (`earliest` = the whole history) instead of now.
    #[arg(long, value_name = "ID")]
    pub last_event_id: Option<String>,
    /// One JSON object per event and line: {"id", "type", "data", "retry"}.
    #[arg(long)]
    pub json: bool,
    /// Exit after this many events (default: run until interrupted).
    #[arg(long, value_name = "N")]
    pub max_events: Option<u64>,
    /// Ask for a compressed stream (`Accept-Encoding: gzip, zstd`) and decode it as it arrives;
    /// a hub that answers uncompressed (`compression = "off"`) is read as usual.
    #[arg(long)]
    pub compressed: bool,
    #[command(flatten)]
    pub hub: HubArgs,
}

/// Why a connection ended.
enum Ended {
    /// `--max-events` reached.
    Done,
    /// The hub closed the stream, or the network failed: reconnect.
    Retry(String),
}

struct State {
    last_id: Option<String>,
    received: u64,
    retry: Option<Duration>,
}

pub(super) fn run(args: &SubscribeArgs) -> anyhow::Result<()> {
    let mut url = args.hub.url()?;
    for topic in &args.topic {
        url.query_pairs_mut().append_pair("topic", topic);
    }
    let client = http_client()?;
    let mut state = State {
        last_id: args.last_event_id.clone(),
        received: 0,
        retry: None,
    };
    runtime()?.block_on(async {
        let mut delay = FIRST_DELAY;
        loop {
            let before = state.received;
            match connection(args, &client, &url, &mut state).await? {
                Ended::Done => return Ok(()),
                Ended::Retry(reason) => {
                    delay = if state.received > before {
                        state.retry.unwrap_or(FIRST_DELAY)
                    } else {
                        (delay * 2).min(MAX_DELAY)
                    };
                    eprintln!("quicksilver: {reason}; reconnecting in {delay:?}");
                    tokio::time::sleep(delay).await;
                }
            }
        }
    })
}

/// One connection: `Err` for a refusal that retrying cannot fix (400, 401, 403, 404).
async fn connection(
    args: &SubscribeArgs,
    client: &reqwest::Client,
    url: &url::Url,
    state: &mut State,
) -> anyhow::Result<Ended> {
    let mut request = client
        .get(url.clone())
        .header("Accept", "text/event-stream");
    if let Some(token) = args.hub.token(&Role::Subscribe(&args.topic))? {
        request = request.bearer_auth(token);
    }
    if let Some(id) = &state.last_id {
        request = request.header("Last-Event-ID", id);
    }
    if args.compressed {
        request = request.header(ACCEPT_ENCODING, CODINGS);
    }
    let mut response = match request.send().await {
        Ok(response) => response,
        Err(error) => return Ok(Ended::Retry(format!("cannot reach the hub: {error}"))),
    };
    let status = response.status();
    if status != StatusCode::OK {
        let body = response.text().await.unwrap_or_default();
        let message = format!("the hub answered {status}: {}", body.trim());
        return match status {
            StatusCode::BAD_REQUEST
            | StatusCode::UNAUTHORIZED
            | StatusCode::FORBIDDEN
            | StatusCode::NOT_FOUND => Err(anyhow!(message)),
            _ => Ok(Ended::Retry(message)),
        };
    }
    let coding = response
        .headers()
        .get(CONTENT_ENCODING)
        .map_or(Coding::Identity, |value| Coding::parse(value.as_bytes()));
    let mut decoder = Decoder::new(coding).context("the hub's Content-Encoding")?;
    let mut parser = Parser::default();
    loop {
        let chunk = match response.chunk().await {
            Ok(Some(chunk)) => chunk,
            Ok(None) => return Ok(Ended::Retry("the hub closed the stream".into())),
            Err(error) => return Ok(Ended::Retry(format!("stream interrupted: {error}"))),
        };
        let mut events = Vec::new();
        if let Err(error) = decoder.decode(&chunk, &mut |plain| events.extend(parser.feed(plain))) {
            return Ok(Ended::Retry(format!("undecodable stream: {error}")));
        }
        for event in events {
            print_event(&event, args.json)?;
            if event.id.is_some() {
                state.last_id.clone_from(&event.id);
            }
            if let Some(retry) = event.retry {
                state.retry = Some(Duration::from_millis(retry));
            }
            state.received += 1;
            if args.max_events.is_some_and(|max| state.received >= max) {
                return Ok(Ended::Done);
            }
        }
    }
}

fn print_event(event: &Event, json: bool) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    if json {
        writeln!(out, "{}", serde_json::to_string(event)?)
    } else {
        writeln!(out, "{}", human(event))
    }
    .and_then(|()| out.flush())
    .context("writing to standard output")
}

fn human(event: &Event) -> String {
    let mut text = format!(
        "id:   {}\ntype: {}\n",
        event.id.as_deref().unwrap_or("-"),
        event.event_type.as_deref().unwrap_or("message")
    );
    let mut lines = event.data.split('\n');
    text.push_str(&format!("data: {}\n", lines.next().unwrap_or_default()));
    for line in lines {
        text.push_str(&format!("      {line}\n"));
    }
    text
}
