//! Progress notifications of a tool call.

use std::sync::Arc;

use serde_json::{Value, json};

/// Reports progress for one request (MCP "Progress"): the `notifications/progress` params go to
/// a sink the transport provides. The sink must never block: a notification the client is too
/// slow to take is skipped, never the result.
#[derive(Clone)]
pub struct Progress {
    token: Value,
    sink: Arc<dyn Fn(Value) + Send + Sync>,
}

impl std::fmt::Debug for Progress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Progress")
            .field("token", &self.token)
            .finish()
    }
}

impl Progress {
    pub fn new(token: Value, sink: impl Fn(Value) + Send + Sync + 'static) -> Self {
        Progress {
            token,
            sink: Arc::new(sink),
        }
    }

    pub fn report(&self, progress: u64, total: u64, message: &str) {
        (self.sink)(json!({
            "progressToken": self.token, "progress": progress, "total": total, "message": message,
        }));
    }
}
