//! The main listener (HTTP or HTTPS) and the optional admin listener, started over one `AppState`.

use std::sync::Arc;

use actix_web::dev::ServerHandle;
use tokio::task::JoinHandle;

use super::{signals, ServerError};
use crate::http::{self, AppState, CertificateStore};
use crate::hub::Hub;
use crate::settings::Settings;

type ServerTask = JoinHandle<std::io::Result<()>>;

/// The running listeners.
pub(super) struct Listeners {
    state: Arc<AppState>,
    main: ServerHandle,
    main_task: ServerTask,
    admin: Option<(ServerHandle, ServerTask)>,
}

impl Listeners {
    /// Binds every listener and logs where it listens; TLS files are read first.
    pub(super) fn start(hub: Arc<Hub>, settings: Settings) -> Result<Self, ServerError> {
        let listen = settings.listener.listen.clone();
        let admin_listen = settings.listener.admin_listen.clone();
        let certificates = match &settings.listener.tls {
            Some((cert, key)) => Some(CertificateStore::load(cert, key).map_err(ServerError::Tls)?),
            None => None,
        };
        let tls = certificates
            .as_ref()
            .map(|store| store.server_config())
            .transpose()
            .map_err(ServerError::Tls)?;
        let scheme = if tls.is_some() { "https" } else { "http" };
        let state = AppState::new(hub, settings);
        let (server, addresses) =
            http::bind(state.clone(), tls).map_err(|source| ServerError::Listen {
                address: listen,
                source,
            })?;
        if let Some(store) = certificates {
            tokio::spawn(signals::reload_certificates_on_hangup(store));
        }
        let admin = match &admin_listen {
            Some(address) => Some(start_admin(&state, address)?),
            None => None,
        };
        for address in &addresses {
            tracing::info!("Quicksilver listening on {scheme}://{address}");
        }
        Ok(Self {
            state,
            main: server.handle(),
            main_task: tokio::spawn(server),
            admin,
        })
    }

    /// The main listener's handle, to pause and stop it.
    pub(super) fn main(&self) -> &ServerHandle {
        &self.main
    }

    /// Once the main listener is stopping: stops the admin listener and waits for both to end.
    /// Returns the state, which the caller keeps until the history is closed.
    pub(super) async fn finish(self) -> Result<Arc<AppState>, ServerError> {
        if let Some((admin, admin_task)) = self.admin {
            admin.stop(false).await;
            let _ = admin_task.await;
        }
        self.main_task
            .await
            .map_err(ServerError::Task)?
            .map_err(ServerError::Server)?;
        Ok(self.state)
    }
}

fn start_admin(
    state: &Arc<AppState>,
    address: &str,
) -> Result<(ServerHandle, ServerTask), ServerError> {
    let (admin, addresses) =
        http::admin::bind(state.clone(), address).map_err(|source| ServerError::AdminListen {
            address: address.to_owned(),
            source,
        })?;
    for address in &addresses {
        tracing::info!("admin listener (metrics, health) on http://{address}");
    }
    Ok((admin.handle(), tokio::spawn(admin)))
}
