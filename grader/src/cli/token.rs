//! `grader token create|list|revoke`: the bearer tokens both services accept (they share the
//! database). A token is shown once, when created; only its hash is stored.

use std::io::Write;

use anyhow::{Result, bail};
use clap::{Args, Subcommand};
use store::{Scope, TenantId};

use super::EXIT_OK;
use super::db::DbArgs;
use store::cli::DbUrlArgs;

/// Arguments of `grader token`.
#[derive(Args, Debug)]
pub struct TokenArgs {
    #[command(subcommand)]
    command: TokenCommand,
}

#[derive(Subcommand, Debug)]
enum TokenCommand {
    /// Create a token for a school; prints the token alone on the last line of stdout.
    Create {
        /// What the token may do: render, scan, results or admin (repeat for several).
        #[arg(long = "scope", required = true, value_name = "SCOPE")]
        scopes: Vec<Scope>,
        /// What the token is for (shown by `grader token list`).
        #[arg(long)]
        label: Option<String>,
        #[command(flatten)]
        db: DbArgs,
    },
    /// List tokens (never their secrets), of one school or of all.
    List {
        /// Only this school's tokens.
        #[arg(long)]
        tenant: Option<String>,
        /// One JSON object per token on stdout.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        db: DbUrlArgs,
    },
    /// Revoke a token by its id (as `grader token list` shows it).
    Revoke {
        /// The token's id.
        id: String,
        #[command(flatten)]
        db: DbUrlArgs,
    },
}

/// Runs the subcommand.
pub fn run(args: TokenArgs) -> Result<u8> {
    let rt = store::runtime()?;
    match args.command {
        TokenCommand::Create { scopes, label, db } => {
            let tenant = db.tenant()?;
            let token = rt.block_on(async {
                let store = db.open().await?;
                let token = store.create_token(&tenant, &scopes, label.as_deref()).await;
                store.close().await;
                anyhow::Ok(token?)
            })?;
            let scopes: Vec<String> = scopes.iter().map(Scope::to_string).collect();
            eprintln!(
                "grader: token {} for school {tenant} ({}); it is shown only now: keep it",
                token.id,
                scopes.join(", ")
            );
            let mut out = super::output::stdout();
            writeln!(out, "{}", token.token)?;
            out.flush()?;
        }
        TokenCommand::List { tenant, json, db } => {
            let tenant = tenant.as_deref().map(TenantId::new).transpose()?;
            let tokens = rt.block_on(async {
                let store = db.open().await?;
                let tokens = store.tokens(tenant.as_ref()).await;
                store.close().await;
                anyhow::Ok(tokens?)
            })?;
            let mut out = super::output::stdout();
            for t in &tokens {
                if json {
                    serde_json::to_writer(&mut out, t)?;
                    writeln!(out)?;
                    continue;
                }
                let scopes: Vec<String> = t.scopes.iter().map(Scope::to_string).collect();
                let state = if t.revoked_at.is_some() {
                    "revoked"
                } else {
                    "active"
                };
                writeln!(
                    out,
                    "{}  {}  {}  {state}  {}",
                    t.id,
                    t.tenant,
                    scopes.join(","),
                    t.label.as_deref().unwrap_or("")
                )?;
            }
            out.flush()?;
            if !json {
                eprintln!("grader: {} tokens", tokens.len());
            }
        }
        TokenCommand::Revoke { id, db } => {
            let revoked = rt.block_on(async {
                let store = db.open().await?;
                let revoked = store.revoke_token(&id).await;
                store.close().await;
                anyhow::Ok(revoked?)
            })?;
            if !revoked {
                bail!("no active token {id:?} (see grader token list)");
            }
            eprintln!("grader: token {id} revoked");
        }
    }
    Ok(EXIT_OK)
}
