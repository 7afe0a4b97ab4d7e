//! `orch mcp`: the leader's verbs as MCP tools on stdio (rmcp, the official SDK). A
//! tool call is parsed into the verb's clap arguments ([`tools`]) and run by the same
//! function as on the command line, on the binary's own current-thread runtime; its
//! result is the verb's JSON `data` made compact ([`compact`]), an error the contract's
//! `{code, message}` as a tool error. Stdout carries the protocol only: diagnostics go to stderr.

mod call;
mod compact;
mod schema;
pub mod tools;

use crate::commands::Ctx;
use crate::error::{Error, Result};
use call::{Caller, Outcome};
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, Implementation, ListToolsResult,
    PaginatedRequestParams, ServerCapabilities, ServerConfig, Tool,
};
use rmcp::service::{RequestContext, RoleServer};
use rmcp::{ErrorData as McpError, ServerHandler, ServiceExt};
use std::sync::Arc;
use tools::Toolbox;

/// What the server tells a client about itself when it connects.
const INSTRUCTIONS: &str = "orch: the leader's verbs over a run's SQLite control plane. \
Each tool takes the flags of the `orch` verb of its name (snake_case) and returns that \
verb's JSON data; a failure is a tool error {code, message} with the CLI's codes.";

/// Serves the tools on stdin/stdout until the client closes the connection.
pub async fn serve(ctx: Arc<Ctx>) -> Result<()> {
    let server = Server {
        caller: Arc::new(Caller::new(ctx)),
        tools: Arc::new(Toolbox::new()?),
    };
    let running = server
        .serve(rmcp::transport::stdio())
        .await
        .map_err(|e| Error::internal(format!("mcp: the client did not connect: {e}")))?;
    running
        .waiting()
        .await
        .map_err(|e| Error::internal(format!("mcp: the server stopped: {e}")))?;
    Ok(())
}

#[derive(Clone)]
struct Server {
    caller: Arc<Caller>,
    tools: Arc<Toolbox>,
}

impl ServerHandler for Server {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("orch", env!("CARGO_PKG_VERSION")))
            .with_instructions(INSTRUCTIONS)
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        Ok(ListToolsResult::with_all_items(self.tools.tools()))
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        self.tools.tool(name)
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        let name = request.name.as_ref();
        let Some(parsed) = self.tools.parse(name, request.arguments.as_ref()) else {
            return Err(McpError::invalid_params(format!("no tool {name:?}"), None));
        };
        let outcome = match parsed {
            Ok(command) => self.caller.call(command, context.ct.cancelled()).await,
            Err(err) => Err(call::failure(&err)),
        };
        if let Err(error) = &outcome {
            tracing::debug!(tool = name, "{error}");
        }
        let makes_attempt = self.tools.spec(name).is_some_and(|s| s.makes_attempt);
        let outcome = outcome.map(|data| match makes_attempt {
            true => compact::made_attempt(data),
            false => data,
        });
        Ok(tool_result(outcome).into())
    }
}

/// The verb's data, made compact, as the tool's result, or its error as a tool error.
fn tool_result(outcome: Outcome) -> CallToolResult {
    match outcome {
        Ok(data) => CallToolResult::structured(compact::compact(data)),
        Err(error) => CallToolResult::structured_error(error),
    }
}
