//! Who is calling: the bootstrap token, password login (JSON and HTML form), session cookies,
//! rotation, logout, CSRF, session expiry, disabled accounts, login throttling, roles, script
//! ownership, and the identity scripts see as `ctx.user` — including scripts that try to
//! change it.

mod accounts;
mod helpers;
mod login;
mod ownership;
