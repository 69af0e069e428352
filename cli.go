package moonbus

import (
	"io"
	"strconv"
	"strings"

	"moonbus/config"
	"moonbus/proxy/runtimeapi"
)

// newCLI builds the runtime API of a configuration (the stats sockets).
func (d *Daemon) newCLI(cfg *config.Config) *runtimeapi.Server {
	extra := []runtimeapi.Command{{
		Words: []string{"show", "alerts"},
		Level: runtimeapi.LevelOperator,
		Usage: "show alerts [<n>]",
		Help:  "show the last alerts sent by mailers and webhooks",
		Handler: func(c *runtimeapi.Call) error {
			n := 0
			if a := c.Arg(2); a != "" {
				v, err := strconv.Atoi(a)
				if err != nil || v < 0 {
					return errBadCount
				}
				n = v
			}
			return d.ShowAlerts(c, n)
		},
	}}
	extra = append(extra, d.natsCommands()...)
	if d.lua != nil {
		for _, lc := range d.lua.CLICommands() {
			lc := lc
			extra = append(extra, runtimeapi.Command{
				Words: lc.Words, Level: runtimeapi.LevelOperator, Usage: strings.Join(lc.Words, " "), Help: lc.Usage,
				Handler: func(c *runtimeapi.Call) error { return lc.Run(c.Context(), c.Args, c.Payload, c) },
			})
		}
	}
	return runtimeapi.New(runtimeapi.Options{
		Engine:  d.Engine,
		Bus:     d.bus,
		Sockets: cfg.Global.StatsSockets,
		Timeout: cfg.Global.StatsTimeout,
		Maxconn: cfg.Global.StatsMaxconn,
		Logger:  d.log,
		Version: Version,
		Extra:   extra,
	})
}

type cliError string

func (e cliError) Error() string { return string(e) }

const errBadCount = cliError("Expects a number of alerts.")

// Execute runs runtime API commands at an access level ("user",
// "operator", "admin") without a socket, as the NATS bridge does.
func (d *Daemon) Execute(level, input string, w io.Writer) error {
	d.mu.Lock()
	cli := d.cli
	d.mu.Unlock()
	return cli.Execute(level, input, w)
}

// CLIAddrs returns the bound addresses of the stats sockets.
func (d *Daemon) CLIAddrs() []string {
	d.mu.Lock()
	cli := d.cli
	d.mu.Unlock()
	var out []string
	for _, a := range cli.Addrs() {
		out = append(out, a.String())
	}
	return out
}

// sameSockets reports whether two configurations declare the same stats
// sockets (then the runtime API keeps running across a reload).
func sameSockets(a, b []*config.Bind) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if len(a[i].Addrs) != len(b[i].Addrs) || a[i].Level != b[i].Level || a[i].Mode != b[i].Mode {
			return false
		}
		for j := range a[i].Addrs {
			if a[i].Addrs[j] != b[i].Addrs[j] {
				return false
			}
		}
	}
	return true
}
