//! The messenger of a deployment that has no WhatsApp client: it sends nothing and says so.
//! Every send fails as an account error, which pauses the sequence with the reason visible
//! (`status_reason`), keeping every enrollment where it was; template look-ups fail, so template
//! steps cannot be saved. Nothing is ever reported as sent.

use async_trait::async_trait;
use ritmo_core::channel::{Bot, Channel, TemplateInfo};
use ritmo_core::ports::{Messenger, SendError, SendReceipt};
use ritmo_core::PortError;

pub const NOT_CONFIGURED: &str =
    "WhatsApp sending is not configured in this deployment: nothing was sent";

#[derive(Debug, Clone, Copy, Default)]
pub struct MessengerNotConfigured;

#[async_trait]
impl Messenger for MessengerNotConfigured {
    async fn send_template(
        &self,
        _channel: &Channel,
        _body: &serde_json::Value,
    ) -> Result<SendReceipt, SendError> {
        Err(SendError::Account {
            code: 0,
            detail: NOT_CONFIGURED.into(),
        })
    }

    async fn start_chatbot(&self, _bot: &Bot, _body: &serde_json::Value) -> Result<(), SendError> {
        Err(SendError::Account {
            code: 0,
            detail: NOT_CONFIGURED.into(),
        })
    }

    async fn templates(&self, _channel: &Channel) -> Result<Vec<TemplateInfo>, PortError> {
        Err(PortError::new(NOT_CONFIGURED))
    }
}
