package crds_test

import (
	"os"
	"path/filepath"
	"testing"

	. "github.com/onsi/gomega"

	"github.com/mxoperator/mx-operator/pkg/mxtest/crds"
)

// TestEmbeddedCopyIsCurrent fails when the embedded CRDs differ from config/crd/bases: run
// `make manifests`, which refreshes the copy.
func TestEmbeddedCopyIsCurrent(t *testing.T) {
	g := NewWithT(t)
	bases, err := filepath.Glob(filepath.Join("..", "..", "..", "config", "crd", "bases", "*.yaml"))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(bases).NotTo(BeEmpty())
	want := map[string]string{}
	for _, f := range bases {
		b, err := os.ReadFile(f)
		g.Expect(err).NotTo(HaveOccurred())
		want[filepath.Base(f)] = string(b)
	}
	got := map[string]string{}
	for name, b := range crds.Files() {
		got[name] = string(b)
	}
	g.Expect(got).To(Equal(want), "pkg/mxtest/crds is stale: run `make manifests`")
}

func TestDecode(t *testing.T) {
	g := NewWithT(t)
	list, err := crds.Decode()
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(list).To(HaveLen(3))
	g.Expect(list[0].Name).To(Equal("mxmembers.mx.mxoperator.dev"))
	g.Expect(list[0].Spec.Names.Kind).To(Equal("MXMember"))
	g.Expect(list[1].Name).To(Equal("mxtransactionsyncs.mx.mxoperator.dev"))
	g.Expect(list[1].Spec.Names.Kind).To(Equal("MXTransactionSync"))
	g.Expect(list[2].Name).To(Equal("mxusers.mx.mxoperator.dev"))
	g.Expect(list[2].Spec.Names.Kind).To(Equal("MXUser"))
	g.Expect(list[0].Spec.Versions).NotTo(BeEmpty())
	g.Expect(list[0].Spec.Versions[0].Schema).NotTo(BeNil(), "the schema is decoded")

	again, err := crds.Decode()
	g.Expect(err).NotTo(HaveOccurred())
	again[0].Name = "changed"
	g.Expect(list[0].Name).To(Equal("mxmembers.mx.mxoperator.dev"), "each call returns new copies")
}
