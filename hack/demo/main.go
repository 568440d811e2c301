// Command demo shows mx-operator doing its job on a machine with no cluster and no MX account.
//
// It starts a local control plane (the envtest kube-apiserver and etcd), the MX sandbox on a
// loopback port and the real manager binary built from main.go, installs the CRDs, applies the
// manifests in hack/demo/manifests, plays the end user where a person would act (answering an
// MFA challenge, authorising an OAuth connection), and prints a live table of the members until
// Ctrl-C. With --exit-when-settled it exits 0 once every member reached the state its
// demo.mxoperator.dev/expect annotation names, and 1 otherwise.
//
// Run it with `make demo`.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	var opts options
	flag.BoolVar(&opts.exitWhenSettled, "exit-when-settled", false,
		"exit 0 once every demo member reached its expected state (non-zero on timeout)")
	flag.DurationVar(&opts.timeout, "timeout", 5*time.Minute,
		"with --exit-when-settled, how long to wait for the members to settle")
	flag.DurationVar(&opts.aggregation, "aggregation-duration", 3*time.Second,
		"how long one aggregation takes in the MX sandbox")
	flag.BoolVar(&opts.plain, "plain", false, "print plain lines even on a terminal")
	flag.Parse()

	// One channel for both signals, registered before the first can come, so that a second
	// Ctrl-C sent the moment the first is noticed is never lost.
	signals := make(chan os.Signal, 2)
	signal.Notify(signals, os.Interrupt, syscall.SIGTERM)
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	go func() {
		<-signals
		stop()
		// A second Ctrl-C while cleaning up: stop waiting, kill every child process and remove
		// every directory the demo and its control plane made.
		<-signals
		fmt.Fprintln(os.Stderr, "\ndemo: interrupted again, exiting without waiting for cleanup")
		forceCleanup()
		os.Exit(130)
	}()

	opts.out = os.Stdout
	opts.tty = !opts.plain && isTerminal(os.Stdout)
	err := run(ctx, opts)
	switch {
	case err == nil:
		return
	case errors.Is(err, errNotSettled):
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	default:
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(2)
	}
}

// isTerminal reports whether f is a character device (a terminal), where the table is redrawn in
// place; elsewhere the demo prints a line per change.
func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
