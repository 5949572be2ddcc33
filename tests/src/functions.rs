//! Every function as its cold start builds it — each handler's own production state type, built
//! by its `State::build` around one store — and called as the runtime calls it
//! ([`common::runtime::respond`]: span, route check, deadline, error mapping).

use common::config::Config;
use common::handlers::{
    ConsoleEndpoint, audit, check_key, console_page, create_key, create_session, create_webhook, credits,
    delete_key, delete_webhook, fallback, jwks, list_keys, list_webhooks, roll_key, secret_scanning,
    test_webhook, update_account, usage, webhook_deliveries,
};
use common::routes::{Route, UNMATCHED, route_for};
use common::runtime::{Outcome, State, respond};
use common::startup::{Startup, StartupError};
use common::store::Store;
use lambda_http::{Body, Request, RequestExt, Response};
use std::future::Future;
use std::sync::Arc;

pub struct Functions {
    pub config: Config,
    pub store: Arc<dyn Store>,
    /// create-key, list-keys, delete-key, roll-key, credits, audit, usage, list-webhooks,
    /// delete-webhook and update-account share this state type.
    pub console: ConsoleEndpoint,
    pub create_webhook: create_webhook::State,
    pub test_webhook: test_webhook::State,
    pub create_session: create_session::State,
    pub check_key: check_key::State,
    pub secret_scanning: secret_scanning::State,
    pub jwks: jwks::State,
}

impl Functions {
    /// Every function's state from `config`, on `store`; the first that cannot start fails.
    pub fn new(config: Config, store: Arc<dyn Store>) -> Result<Self, StartupError> {
        let startup = || Startup::with_store(config.clone(), store.clone());
        Ok(Functions {
            console: ConsoleEndpoint::build(startup())?,
            create_session: create_session::State::build(startup())?,
            check_key: check_key::State::build(startup())?,
            create_webhook: create_webhook::State::build(startup())?,
            test_webhook: test_webhook::State::build(startup())?,
            secret_scanning: secret_scanning::State::build(startup())?,
            jwks: jwks::State::build(startup())?,
            config,
            store,
        })
    }

    async fn run<'a, S, H, F>(
        &self,
        routes: &'static [Route],
        state: &'a S,
        req: Request,
        handle: H,
    ) -> Response<Body>
    where
        H: Fn(&'a S, Request) -> F,
        F: Future<Output = Outcome>,
    {
        respond(routes, state, self.config.request_deadline, req, handle).await
    }

    pub async fn create_key(&self, req: Request) -> Response<Body> {
        self.run(&[Route::CreateKey], &self.console, req, create_key::handle)
            .await
    }
    pub async fn list_keys(&self, req: Request) -> Response<Body> {
        self.run(&[Route::ListKeys], &self.console, req, list_keys::handle)
            .await
    }
    pub async fn delete_key(&self, req: Request) -> Response<Body> {
        self.run(&[Route::DeleteKey], &self.console, req, delete_key::handle)
            .await
    }
    pub async fn roll_key(&self, req: Request) -> Response<Body> {
        self.run(&[Route::RollKey], &self.console, req, roll_key::handle)
            .await
    }
    pub async fn credits(&self, req: Request) -> Response<Body> {
        self.run(&[Route::Credits], &self.console, req, credits::handle)
            .await
    }
    pub async fn audit(&self, req: Request) -> Response<Body> {
        self.run(&[Route::Audit], &self.console, req, audit::handle).await
    }
    pub async fn usage(&self, req: Request) -> Response<Body> {
        self.run(&[Route::Usage], &self.console, req, usage::handle).await
    }
    pub async fn create_webhook(&self, req: Request) -> Response<Body> {
        self.run(
            &[Route::CreateWebhook],
            &self.create_webhook,
            req,
            create_webhook::handle,
        )
        .await
    }
    pub async fn list_webhooks(&self, req: Request) -> Response<Body> {
        self.run(&[Route::ListWebhooks], &self.console, req, list_webhooks::handle)
            .await
    }
    pub async fn delete_webhook(&self, req: Request) -> Response<Body> {
        self.run(
            &[Route::DeleteWebhook],
            &self.console,
            req,
            delete_webhook::handle,
        )
        .await
    }
    pub async fn test_webhook(&self, req: Request) -> Response<Body> {
        self.run(
            &[Route::TestWebhook],
            &self.test_webhook,
            req,
            test_webhook::handle,
        )
        .await
    }
    pub async fn webhook_deliveries(&self, req: Request) -> Response<Body> {
        self.run(
            &[Route::WebhookDeliveries],
            &self.console,
            req,
            webhook_deliveries::handle,
        )
        .await
    }
    pub async fn update_account(&self, req: Request) -> Response<Body> {
        self.run(
            &[Route::UpdateAccount],
            &self.console,
            req,
            update_account::handle,
        )
        .await
    }
    pub async fn create_session(&self, req: Request) -> Response<Body> {
        self.run(
            &[Route::CreateSession],
            &self.create_session,
            req,
            create_session::handle,
        )
        .await
    }
    pub async fn check_key(&self, req: Request) -> Response<Body> {
        self.run(&[Route::CheckKey], &self.check_key, req, check_key::handle)
            .await
    }
    pub async fn secret_scanning(&self, req: Request) -> Response<Body> {
        self.run(
            &[Route::SecretScanning],
            &self.secret_scanning,
            req,
            secret_scanning::handle,
        )
        .await
    }
    pub async fn jwks(&self, req: Request) -> Response<Body> {
        self.run(&[Route::Jwks], &self.jwks, req, jwks::handle).await
    }

    /// The request as API Gateway routes it: to the function of its route, else the fallback.
    pub async fn dispatch(&self, req: Request) -> Response<Body> {
        let (method, path) = (req.method().to_string(), req.raw_http_path().to_string());
        match route_for(&method, &path) {
            Some(Route::CreateKey) => self.create_key(req).await,
            Some(Route::ListKeys) => self.list_keys(req).await,
            Some(Route::DeleteKey) => self.delete_key(req).await,
            Some(Route::RollKey) => self.roll_key(req).await,
            Some(Route::CreateSession) => self.create_session(req).await,
            Some(Route::CheckKey) => self.check_key(req).await,
            Some(Route::Credits) => self.credits(req).await,
            Some(Route::CreateWebhook) => self.create_webhook(req).await,
            Some(Route::ListWebhooks) => self.list_webhooks(req).await,
            Some(Route::DeleteWebhook) => self.delete_webhook(req).await,
            Some(Route::UpdateAccount) => self.update_account(req).await,
            Some(Route::TestWebhook) => self.test_webhook(req).await,
            Some(Route::WebhookDeliveries) => self.webhook_deliveries(req).await,
            Some(Route::Audit) => self.audit(req).await,
            Some(Route::Usage) => self.usage(req).await,
            Some(Route::SecretScanning) => self.secret_scanning(req).await,
            Some(Route::Jwks) => self.jwks(req).await,
            Some(Route::ConsolePage | Route::ConsoleAsset) => console(req).await,
            None => fallback(req).await,
        }
    }
}

/// The console function (no state), as the runtime calls it.
pub async fn console(req: Request) -> Response<Body> {
    respond(console_page::ROUTES, &(), DEADLINE, req, console_page::handle).await
}

/// The fallback function (no state), as the runtime calls it.
pub async fn fallback(req: Request) -> Response<Body> {
    respond(UNMATCHED, &(), DEADLINE, req, fallback::handle).await
}

/// The deadline of the stateless functions (they never wait on anything).
const DEADLINE: std::time::Duration = std::time::Duration::from_secs(4);
