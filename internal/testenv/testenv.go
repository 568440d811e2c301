// Package testenv starts an envtest control plane (kube-apiserver and etcd) with the project's
// CRDs installed, for the envtest suites of this repository.
package testenv

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	goruntime "runtime"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	mxv1alpha1 "github.com/mxoperator/mx-operator/api/v1alpha1"
	"github.com/mxoperator/mx-operator/pkg/mxtest/crds"
)

// RepoRoot returns the root of the repository, found from this source file's location.
func RepoRoot() string {
	_, file, _, _ := goruntime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// Scheme returns a scheme with the Kubernetes built-in kinds, CustomResourceDefinitions and the
// mx.mxoperator.dev kinds.
func Scheme() (*runtime.Scheme, error) {
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		return nil, err
	}
	if err := apiextensionsv1.AddToScheme(s); err != nil {
		return nil, err
	}
	if err := mxv1alpha1.AddToScheme(s); err != nil {
		return nil, err
	}
	return s, nil
}

// New returns an envtest environment that installs the project's CRDs (the copy of
// config/crd/bases embedded in pkg/mxtest/crds, which `make manifests` keeps current).
// KUBEBUILDER_ASSETS must name the directory holding kube-apiserver and etcd: `make test` sets it,
// and `make envtest` prints it for running `go test` by hand.
func New() (*envtest.Environment, error) {
	assets := os.Getenv("KUBEBUILDER_ASSETS")
	if assets == "" {
		return nil, errors.New("KUBEBUILDER_ASSETS is not set: run the tests with `make test`, " +
			"or export KUBEBUILDER_ASSETS=\"$(make -s envtest)\" before `go test`")
	}
	if _, err := os.Stat(filepath.Join(assets, "kube-apiserver")); err != nil {
		return nil, fmt.Errorf("KUBEBUILDER_ASSETS=%s holds no kube-apiserver: run `make envtest`", assets)
	}
	defs, err := crds.Decode()
	if err != nil {
		return nil, err
	}
	return &envtest.Environment{
		CRDInstallOptions:     envtest.CRDInstallOptions{CRDs: defs},
		BinaryAssetsDirectory: assets,
	}, nil
}

// DecodeYAMLFiles returns every object of every multi-document YAML file in files, in order,
// skipping empty documents.
func DecodeYAMLFiles(files []string) ([]*unstructured.Unstructured, error) {
	var objs []*unstructured.Unstructured
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
		for {
			u := &unstructured.Unstructured{}
			if err := dec.Decode(&u.Object); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				return nil, fmt.Errorf("%s: %w", filepath.Base(f), err)
			}
			if len(u.Object) > 0 {
				objs = append(objs, u)
			}
		}
	}
	return objs, nil
}
