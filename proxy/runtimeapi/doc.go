// Package runtimeapi is Moonbus's runtime API: HAProxy's stats socket (CLI).
//
// A Server binds the "stats socket" lines of the global section (unix sockets
// with their "mode" permissions, "ipv4@host:port" and plain "host:port"
// addresses), and speaks HAProxy's framing (reference §6.1): one command line
// per connection in the default non-interactive mode, ';' between commands,
// backslash escapes, the "prompt" interactive modes, "<<" payloads, the idle
// "stats timeout", and a reply per command that always ends with one empty
// line and never contains one. Access levels (user, operator, admin) come from
// the socket's "level" and can only be lowered ("operator", "user").
//
// Commands are a table of Command values (words, minimum level, usage,
// handler); components register more with Register or Options.Extra (Lua's
// core.register_cli, "show alerts"). Execute runs a command line without a
// socket (the NATS bridge, tests).
//
// The commands reply with HAProxy's texts: show info, show stat (the CSV
// built by proxy.StatRow), show servers state, show backend, show table,
// clear table, set server, enable/disable server|health|agent|frontend,
// set/get weight, set maxconn, add/del server (dynamic servers), shutdown
// sessions server, wait, clear counters, show sess, show errors, get/set var,
// show cli level, operator, user, echo, show version, help, prompt, quit —
// plus ours: "show events [json] [<n>]", the bus history.
package runtimeapi
