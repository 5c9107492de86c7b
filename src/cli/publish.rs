//! `quicksilver publish`: POST an update to a running hub and print its id.

use anyhow::{bail, Context};

use super::client::{http_client, runtime, HubArgs, Role};

#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  quicksilver publish --topic https://example.com/books/1 --data '{\"title\":\"Dune\"}'
  QUICKSILVER_TOKEN=$(cat publisher.jwt) quicksilver publish --hub https://hub.example.com \\
      --topic https://example.com/books/1 --private --data 'secret'")]
pub struct PublishArgs {
    /// Topic of the update; the first is canonical, the others alternates. Repeatable.
    #[arg(long, value_name = "TOPIC", required = true)]
    pub topic: Vec<String>,
    /// The update's content (the SSE `data`).
    #[arg(long, value_name = "DATA")]
    pub data: Option<String>,
    /// Deliver only to subscribers whose token grants one of the topics.
    #[arg(long)]
    pub private: bool,
    /// The update's id (default: one chosen by the hub).
    #[arg(long, value_name = "ID")]
    pub id: Option<String>,
    /// The SSE event type.
    #[arg(long = "type", value_name = "TYPE")]
    pub event_type: Option<String>,
    /// Reconnection delay suggested to subscribers, in milliseconds.
    #[arg(long, value_name = "MILLISECONDS")]
    pub retry: Option<u64>,
    #[command(flatten)]
    pub hub: HubArgs,
}

pub(super) fn run(args: &PublishArgs) -> anyhow::Result<()> {
    let url = args.hub.url()?;
    let token = args.hub.token(&Role::Publish(&args.topic))?;
    let body = form(args);
    let id = runtime()?.block_on(async {
        let mut request = http_client()?
            .post(url.clone())
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request
            .send()
            .await
            .with_context(|| format!("cannot reach the hub at {url}"))?;
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        if status != reqwest::StatusCode::OK {
            bail!("the hub answered {status}: {}", text.trim());
        }
        Ok(text)
    })?;
    println!("{}", id.trim());
    Ok(())
}

fn form(args: &PublishArgs) -> String {
    let mut form = url::form_urlencoded::Serializer::new(String::new());
    for topic in &args.topic {
        form.append_pair("topic", topic);
    }
    let retry = args.retry.map(|r| r.to_string());
    let optional = [
        ("data", args.data.as_deref()),
        ("id", args.id.as_deref()),
        ("type", args.event_type.as_deref()),
        ("retry", retry.as_deref()),
        ("private", args.private.then_some("on")),
    ];
    for (name, value) in optional {
        if let Some(value) = value {
            form.append_pair(name, value);
        }
    }
    form.finish()
}
