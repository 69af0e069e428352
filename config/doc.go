// Package config reads Moonbus configuration files: HAProxy's configuration
// language (sections, keywords, quoting, environment variables, conditional
// blocks, defaults inheritance) plus Moonbus's own sections (webhook, nats)
// and keywords (auto-weight, email-alert group-wait/subject-prefix, mailer
// TLS and AUTH). It owns the tokenizer, the typed model (model.go), the
// validation of references between sections and the error texts, which carry
// file:line in HAProxy's style ("parsing [app.cfg:12] : ...").
//
// Entry points: ParseFiles (files and directories, as "moonbus -f") and Parse
// (one in-memory file, for tests). Both return every fatal error of the run
// as an ErrorList and non-fatal messages in Config.Warnings. The runtime API
// reuses Tokenize, SplitArgs and ParseServerParams (for "add server").
//
// Conventions of the model:
//   - Every proxy in Config.Proxies is fully resolved: it starts from a deep
//     copy of its defaults section (trimmed to what its side can use) and
//     its own lines are applied on top. Rule lines of a named defaults
//     section therefore come first in the proxy's lists.
//   - Documented defaults are filled in (server inter 2s, rise 2, fall 3,
//     weight 1; retries 3; tune.bufsize 16384; Lua timeouts; log len 1024...),
//     so a consumer uses the values as they are. Zero timeouts mean "unset".
//   - Rules, ACLs, switching rules and check rules are kept as tokenized
//     Lines for the proxy package to compile; see the Words convention on
//     Proxy. Sample expressions are not parsed here.
//   - Proxy and server IDs are assigned like HAProxy: explicit ones are
//     kept, the others get the lowest free numbers in declaration order.
//   - Secrets (mailer, NATS and stats passwords, tokens, webhook secrets)
//     are never marshalled to JSON and never appear in error texts.
//
// HAProxy keywords Moonbus does not implement are refused with an error that
// says so; process-level keywords that do not apply to a Go daemon are
// accepted with one warning each. The lists live in keywords.go.
//
// The package has no global mutable state; the environment changes made by
// setenv and friends apply to a copy (Config.Env), never to the process.
package config
