// Package crds embeds mx-operator's CustomResourceDefinitions (MXUser and MXMember), so that a
// test installs them without knowing where this module lies on disk. The YAML files beside this
// one are a copy of config/crd/bases that `make manifests` refreshes; this package's test fails
// when they differ. Most users want mxtest.CRDs or mxtest.InstallCRDs instead.
package crds

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"sort"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
)

//go:embed *.yaml
var files embed.FS

// Files returns the embedded YAML files by name (mx.mxoperator.dev_mxusers.yaml, ...).
func Files() map[string][]byte {
	out := map[string][]byte{}
	entries, _ := fs.ReadDir(files, ".")
	for _, e := range entries {
		b, err := files.ReadFile(e.Name())
		if err == nil {
			out[e.Name()] = b
		}
	}
	return out
}

// Decode returns a new copy of every embedded CustomResourceDefinition, ordered by name. The
// caller may modify them (envtest does, when it creates them).
func Decode() ([]*apiextensionsv1.CustomResourceDefinition, error) {
	var out []*apiextensionsv1.CustomResourceDefinition
	for name, data := range Files() {
		dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
		for {
			crd := &apiextensionsv1.CustomResourceDefinition{}
			err := dec.Decode(crd)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return nil, fmt.Errorf("decoding %s: %w", name, err)
			}
			if crd.Name == "" {
				continue
			}
			if crd.Kind != "CustomResourceDefinition" {
				return nil, fmt.Errorf("%s holds a %s, not a CustomResourceDefinition", name, crd.Kind)
			}
			out = append(out, crd)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}
