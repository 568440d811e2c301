package main

import (
	"testing"

	. "github.com/onsi/gomega"
)

func TestReflow(t *testing.T) {
	cases := []struct {
		reason, in, want string
	}{
		{"joins the lines of a paragraph", "a Secret whose keys\nname the fields.", "a Secret whose keys name the fields."},
		{"keeps blank lines between paragraphs", "one\ntwo\n\nthree\nfour", "one two\n\nthree four"},
		{"keeps list items on their own lines", "Values:\n- Delete\n- Orphan", "Values:\n- Delete\n- Orphan"},
		{"keeps numbered items", "Steps:\n1. read\n2. write", "Steps:\n1. read\n2. write"},
		{"keeps indented lines", "Example:\n  kind: MXUser", "Example:\n  kind: MXUser"},
		{"leaves a one-line description alone", "spec is the desired connection.", "spec is the desired connection."},
		{"does not take a number in a sentence for a list", "at least\n3h apart", "at least 3h apart"},
	}
	for _, tc := range cases {
		t.Run(tc.reason, func(t *testing.T) {
			NewWithT(t).Expect(reflow(tc.in)).To(Equal(tc.want))
		})
	}
}

func TestWalkReflowsOnlyDescriptions(t *testing.T) {
	g := NewWithT(t)
	doc := map[string]any{
		"description": "top\nlevel",
		"pattern":     "^a\nb$",
		"properties": map[string]any{
			"id": map[string]any{"description": "partner\nid", "type": "string"},
		},
		"x-kubernetes-validations": []any{map[string]any{"message": "id is\nimmutable", "rule": "self == oldSelf"}},
	}
	walk(doc)
	g.Expect(doc["description"]).To(Equal("top level"))
	g.Expect(doc["pattern"]).To(Equal("^a\nb$"), "only descriptions change")
	g.Expect(doc["properties"].(map[string]any)["id"].(map[string]any)["description"]).To(Equal("partner id"))
	g.Expect(doc["x-kubernetes-validations"].([]any)[0].(map[string]any)["message"]).To(Equal("id is\nimmutable"))
}
