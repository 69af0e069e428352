// Command moonbus runs the Moonbus daemon: it parses flags, loads the
// configuration, turns signals into calls on the daemon, and sets the exit
// code. Everything else lives in the moonbus package.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"

	"moonbus"
	"moonbus/config"
	"moonbus/proxy"
)

// fileList is the repeatable -f flag.
type fileList []string

func (f *fileList) String() string     { return strings.Join(*f, ",") }
func (f *fileList) Set(v string) error { *f = append(*f, v); return nil }

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run is main without the process exit, for tests.
func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("moonbus", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var files fileList
	fs.Var(&files, "f", "configuration file or directory (repeatable)")
	check := fs.Bool("c", false, "check the configuration and exit")
	debugMode := fs.Bool("d", false, "debug mode: foreground, debug messages on stderr")
	pidfile := fs.String("p", "", "write the process id to this file")
	version := fs.Bool("v", false, "print the version and exit")
	vv := fs.Bool("vv", false, "print the version, build options and features, and exit")
	quiet := fs.Bool("q", false, "quiet mode: no notices on start")
	fs.Bool("W", false, "master-worker mode (accepted for HAProxy habit; Moonbus is one process)")
	fs.Bool("D", false, "daemon mode (accepted for HAProxy habit; Moonbus stays in the foreground)")
	fs.Bool("Ws", false, "master-worker with systemd notify (accepted)")
	if err := fs.Parse(args); err != nil {
		return 1
	}
	if *vv {
		printVersion(stdout, true)
		return 0
	}
	if *version {
		printVersion(stdout, false)
		return 0
	}
	log := slog.New(proxy.NewMessageHandler(stderr, *debugMode))
	if len(files) == 0 {
		log.Error("No configuration file specified (use -f).")
		return 1
	}
	cfg, err := config.ParseFiles(files, config.Options{})
	if err != nil {
		reportConfigError(log, err)
		return 1
	}
	for _, w := range cfg.Warnings {
		log.Warn(fmt.Sprintf("config : parsing [%s] : %s", w.Pos, w.Msg))
	}
	if n := cfg.Global.Nbthread; n > 0 && !*check {
		// HAProxy's nbthread: how many threads (here: CPUs running Go code).
		runtime.GOMAXPROCS(n)
	}
	if *check {
		// Building the daemon compiles rules and scripts: that is part of
		// the check, exactly as haproxy -c does.
		d, err := moonbus.New(cfg, moonbus.Options{Logger: log, Stdout: stdout, Stderr: stderr, Debug: *debugMode})
		if err != nil {
			reportConfigError(log, err)
			return 1
		}
		_ = d.Stop(context.Background())
		if cfg.Global.ZeroWarning && len(cfg.Warnings) > 0 {
			log.Error("Some warnings were found and 'zero-warning' is set. Please fix them first.")
			return 1
		}
		fmt.Fprintln(stdout, "Configuration file is valid")
		return 0
	}
	d, err := moonbus.New(cfg, moonbus.Options{Logger: log, Stdout: stdout, Stderr: stderr, Debug: *debugMode})
	if err != nil {
		reportConfigError(log, err)
		return 1
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if f := os.Getenv("MOONBUS_CPUPROFILE"); f != "" {
		// Developer aid: profile the whole run (see bench/README).
		if stop, err := startCPUProfile(f); err == nil {
			defer stop()
		}
	}
	if err := d.Start(ctx); err != nil {
		log.Error(err.Error())
		return 1
	}
	pf := *pidfile
	if pf == "" {
		pf = cfg.Global.Pidfile
	}
	if pf != "" {
		if err := os.WriteFile(pf, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
			log.Warn(fmt.Sprintf("cannot write pidfile '%s': %v", pf, err))
		} else {
			defer os.Remove(pf)
		}
	}
	if !*quiet {
		log.Info("Loading success.")
	}
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP, syscall.SIGUSR1, syscall.SIGUSR2)
	for sig := range sigs {
		switch sig {
		case syscall.SIGHUP, syscall.SIGUSR2:
			ncfg, err := config.ParseFiles(files, config.Options{})
			if err != nil {
				reportConfigError(log, err)
				log.Warn("Reload failed: the configuration has errors, keeping the current one.")
				continue
			}
			if err := d.Reload(ctx, ncfg); err != nil {
				log.Error(err.Error())
			}
		default:
			log.Info(fmt.Sprintf("Proxy stopping on signal %s, waiting for in-flight work (hard-stop-after %s).", sig, d.HardStopAfter()))
			sctx, scancel := context.WithTimeout(ctx, d.HardStopAfter())
			err := d.Stop(sctx)
			scancel()
			if err != nil {
				log.Warn("hard-stop-after expired: remaining connections were closed.")
			}
			return 0
		}
	}
	return 0
}

// reportConfigError prints each error of a failed configuration load the way
// haproxy -c does, then the fatal summary line.
func reportConfigError(log *slog.Logger, err error) {
	var list config.ErrorList
	var one *config.Error
	switch {
	case errors.As(err, &list):
		for _, e := range list {
			log.Error("config : " + e.Error())
		}
	case errors.As(err, &one):
		log.Error("config : " + one.Error())
	default:
		log.Error("config : " + err.Error())
	}
	log.Error("config : Fatal errors found in configuration.")
}

func printVersion(w io.Writer, verbose bool) {
	fmt.Fprintf(w, "Moonbus version %s - https://github.com/moonbus\n", moonbus.Version)
	fmt.Fprintf(w, "Status: development branch, HAProxy configuration and Lua API compatible (2.8+ events)\n")
	if !verbose {
		return
	}
	fmt.Fprintf(w, "Running on: %s %s/%s, %d CPUs\n", runtime.Version(), runtime.GOOS, runtime.GOARCH, runtime.NumCPU())
	if bi, ok := debug.ReadBuildInfo(); ok {
		fmt.Fprintf(w, "Build options :\n  module %s %s\n", bi.Main.Path, bi.Main.Version)
		for _, s := range bi.Settings {
			if strings.HasPrefix(s.Key, "vcs") || s.Key == "-race" || s.Key == "CGO_ENABLED" {
				fmt.Fprintf(w, "  %s=%s\n", s.Key, s.Value)
			}
		}
		fmt.Fprintf(w, "Built with:\n")
		for _, dep := range bi.Deps {
			switch dep.Path {
			case "github.com/yuin/gopher-lua", "github.com/valyala/fasthttp", "github.com/nats-io/nats.go",
				"github.com/robfig/cron/v3", "github.com/wneessen/go-mail":
				fmt.Fprintf(w, "  %s %s\n", dep.Path, dep.Version)
			}
		}
	}
	fmt.Fprintf(w, "Feature list : +HTTP/1.1 +TLS +TCP +LUA(gopher-lua 5.1 with 5.3 shims) +EVENTS +RUNTIME_API +MAILERS +WEBHOOKS +CRON -HTTP2 -QUIC\n")
	fmt.Fprintf(w, "Built with Lua version : Lua 5.1 (gopher-lua)\n")
}

// startCPUProfile writes a CPU profile to file until the returned function runs.
func startCPUProfile(file string) (func(), error) {
	f, err := os.Create(file)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}
