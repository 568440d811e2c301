// Command manager runs mx-operator, the Kubernetes operator for MX Platform API users and
// members. See internal/manager for its flags.
package main

import (
	"fmt"
	"os"

	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/mxoperator/mx-operator/internal/manager"
)

func main() {
	if err := manager.Run(ctrl.SetupSignalHandler(), os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "mx-operator:", err)
		os.Exit(1)
	}
}
