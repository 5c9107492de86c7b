//! The hub under test: where to connect, how to authenticate, which process to watch.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use tokio::net::{TcpSocket, TcpStream};

use super::error::BenchError;

/// Connections per source address before spreading over 127.0.0.x (the ephemeral range holds ~28k).
const PER_SOURCE_ADDRESS: usize = 20_000;

/// Which publish/subscribe API the hub speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Flavor {
    /// The Mercure protocol: `POST path` with a form, `GET path?topic=…`.
    #[default]
    Mercure,
    /// Nginx + Nchan, for comparison: `POST /pub/<channel>` with the raw payload,
    /// `GET /sub/<channel>`; a channel is the topic with non-alphanumerics replaced by `_`.
    /// Exact selectors only; no event ids are returned, so `resume` cannot run.
    Nchan,
}

/// The Nchan channel id for a topic.
pub fn nchan_channel(topic: &str) -> String {
    topic
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

/// A Mercure hub endpoint and the credentials to use against it.
#[derive(Debug, Clone)]
pub struct Target {
    /// Resolved address of the hub.
    pub addr: SocketAddr,
    /// Value of the `Host` header.
    pub host: String,
    /// Path of the Mercure endpoint, e.g. `/.well-known/mercure`.
    pub path: String,
    /// `Authorization` header value for publishing (`Bearer …`), if any.
    pub publisher_auth: Option<String>,
    /// `Authorization` header value for subscribing, if any (anonymous otherwise).
    pub subscriber_auth: Option<String>,
    /// The same for 1.0 subscriptions (`match_urlpattern=…`): a 1.0 access token for the
    /// hub's derived resource identifier (`resource_identifier`).
    pub subscriber_auth_v1: Option<String>,
    /// Process id of the hub, for CPU and RSS figures.
    pub hub_pid: Option<u32>,
    /// Process id of a proxy in front of the hub (fanout reports its CPU too).
    pub proxy_pid: Option<u32>,
    /// New connections per second (subscribers and publishers alike).
    pub connect_rate: u32,
    /// Print a progress line on stderr every few seconds.
    pub progress: bool,
    pub flavor: Flavor,
}

impl Target {
    /// Parses `http://host:port[/path]`; an empty path or `/` means `/.well-known/mercure`.
    pub async fn new(url: &str) -> Result<Target, BenchError> {
        let bad = |reason: &str| BenchError::HubUrl {
            url: url.to_string(),
            reason: reason.to_string(),
        };
        let parsed = url::Url::parse(url).map_err(|e| bad(&e.to_string()))?;
        if parsed.scheme() != "http" {
            return Err(bad("only plain http:// is supported"));
        }
        let host = parsed.host_str().ok_or_else(|| bad("no host"))?;
        let port = parsed.port_or_known_default().unwrap_or(80);
        let addr = tokio::net::lookup_host((host, port))
            .await
            .map_err(|e| bad(&e.to_string()))?
            .next()
            .ok_or_else(|| bad("host does not resolve"))?;
        let path = match parsed.path() {
            "" | "/" => "/.well-known/mercure".to_string(),
            p => p.to_string(),
        };
        let host = match parsed.port() {
            Some(p) => format!("{host}:{p}"),
            None => host.to_string(),
        };
        Ok(Target {
            addr,
            host,
            path,
            publisher_auth: None,
            subscriber_auth: None,
            subscriber_auth_v1: None,
            hub_pid: None,
            proxy_pid: None,
            connect_rate: 5_000,
            progress: false,
            flavor: Flavor::Mercure,
        })
    }

    /// Signs the publisher (and, given a key, subscriber) tokens with HS256 secrets.
    pub fn with_keys(
        mut self,
        publisher_key: Option<&str>,
        subscriber_key: Option<&str>,
    ) -> Result<Target, BenchError> {
        if let Some(key) = publisher_key {
            self.publisher_auth = Some(format!("Bearer {}", super::token::publisher(key)?));
        }
        if let Some(key) = subscriber_key {
            self.subscriber_auth = Some(format!("Bearer {}", super::token::subscriber(key)?));
            let v1 = super::token::subscriber_v1(key, &self.resource_identifier())?;
            self.subscriber_auth_v1 = Some(format!("Bearer {v1}"));
        }
        Ok(self)
    }

    /// The resource identifier a hub derives from this target's requests when it has none
    /// configured: `http://<Host>/.well-known/mercure` (the `aud` of 1.0 tokens).
    pub fn resource_identifier(&self) -> String {
        format!("http://{}/.well-known/mercure", self.host)
    }

    /// Opens connection number `index` of a scenario that opens `total` connections in all.
    pub async fn connect(&self, index: usize, total: usize) -> Result<TcpStream, BenchError> {
        let stream = match source_address(self.addr.ip(), index, total) {
            Some(source) => self.connect_from(source).await?,
            None => TcpStream::connect(self.addr)
                .await
                .map_err(BenchError::io("connect"))?,
        };
        stream
            .set_nodelay(true)
            .map_err(BenchError::io("set TCP_NODELAY"))?;
        Ok(stream)
    }

    async fn connect_from(&self, source: IpAddr) -> Result<TcpStream, BenchError> {
        let socket = TcpSocket::new_v4().map_err(BenchError::io("socket"))?;
        socket
            .bind(SocketAddr::new(source, 0))
            .map_err(BenchError::io("bind source address"))?;
        socket
            .connect(self.addr)
            .await
            .map_err(BenchError::io("connect"))
    }

    /// Interval between two connection attempts.
    pub fn connect_interval(&self) -> Duration {
        Duration::from_secs_f64(1.0 / f64::from(self.connect_rate.max(1)))
    }
}

/// Above ~28k connections to one loopback address, spread the sources over 127.0.0.x.
fn source_address(hub: IpAddr, index: usize, total: usize) -> Option<IpAddr> {
    if total <= PER_SOURCE_ADDRESS || !hub.is_loopback() || !hub.is_ipv4() {
        return None;
    }
    let spread = total.div_ceil(PER_SOURCE_ADDRESS);
    let last = 1 + (index % spread).min(253) as u8;
    Some(IpAddr::V4(Ipv4Addr::new(127, 0, 0, last)))
}

/// Raises the soft limit on open files to the hard limit; returns the new soft limit.
pub fn raise_fd_limit() -> Result<libc::rlim_t, BenchError> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct passed by pointer.
    let got = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) };
    if got != 0 {
        return Err(BenchError::io("getrlimit")(std::io::Error::last_os_error()));
    }
    limit.rlim_cur = limit.rlim_max;
    // SAFETY: as above.
    let set = unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) };
    if set != 0 {
        return Err(BenchError::io("setrlimit")(std::io::Error::last_os_error()));
    }
    Ok(limit.rlim_cur)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_spread_only_for_many_loopback_connections() {
        let lo = IpAddr::V4(Ipv4Addr::LOCALHOST);
        assert_eq!(source_address(lo, 5, 1000), None);
        assert_eq!(
            source_address(lo, 1, 50_000),
            Some(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)))
        );
        let other = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
        assert_eq!(source_address(other, 1, 50_000), None);
    }
}
