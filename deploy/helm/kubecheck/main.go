// Command kubecheck reads Kubernetes manifests (a multi-document YAML
// stream, as `helm template` prints) on stdin and decodes each document
// strictly into its API type: an unknown or misplaced field, a wrong type
// or a kind the chart does not make is an error. helm lint checks the
// chart's templates and values; this checks what they render against the
// Kubernetes API. `make helm-lint` runs it:
//
//	helm template caskade deploy/helm/caskade | go run ./deploy/helm/kubecheck
package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	k8sjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

// newObject returns an empty object of the API type of apiVersion and
// kind, or nil when the chart makes no such object.
func newObject(apiVersion, kind string) any {
	switch apiVersion + " " + kind {
	case "apps/v1 StatefulSet":
		return &appsv1.StatefulSet{}
	case "v1 Service":
		return &corev1.Service{}
	case "v1 ConfigMap":
		return &corev1.ConfigMap{}
	case "policy/v1 PodDisruptionBudget":
		return &policyv1.PodDisruptionBudget{}
	}
	return nil
}

// check decodes every document of r; it returns the count of objects.
func check(r io.Reader) (int, error) {
	yr := utilyaml.NewYAMLReader(bufio.NewReader(r))
	n := 0
	for {
		doc, err := yr.Read()
		if errors.Is(err, io.EOF) {
			return n, nil
		}
		if err != nil {
			return n, fmt.Errorf("read: %w", err)
		}
		var head struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
			Metadata   struct {
				Name string `json:"name"`
			} `json:"metadata"`
		}
		if err := yaml.Unmarshal(doc, &head); err != nil {
			return n, fmt.Errorf("document %d: %w", n+1, err)
		}
		if head.Kind == "" && len(bytes.TrimSpace(stripComments(doc))) == 0 {
			continue // only comments: a template that rendered nothing
		}
		obj := newObject(head.APIVersion, head.Kind)
		if obj == nil {
			return n, fmt.Errorf("document %d: %s %q: not a kind the chart makes (apiVersion %q)", n+1, head.Kind, head.Metadata.Name, head.APIVersion)
		}
		if err := decodeStrict(doc, obj); err != nil {
			return n, fmt.Errorf("%s %q: %w", head.Kind, head.Metadata.Name, err)
		}
		n++
	}
}

// decodeStrict decodes the YAML doc into obj as the API server does:
// field names match case-sensitively, and an unknown or duplicate field
// is an error (encoding/json, under sigs.k8s.io/yaml's UnmarshalStrict,
// would take "clusterIp" for "clusterIP").
func decodeStrict(doc []byte, obj any) error {
	js, err := yaml.YAMLToJSONStrict(doc)
	if err != nil {
		return err
	}
	strict, err := k8sjson.UnmarshalStrict(js, obj, k8sjson.DisallowDuplicateFields, k8sjson.DisallowUnknownFields)
	if err != nil {
		return err
	}
	return errors.Join(strict...)
}

// stripComments drops the YAML comment lines of doc.
func stripComments(doc []byte) []byte {
	var out []byte
	for _, line := range bytes.Split(doc, []byte("\n")) {
		if t := bytes.TrimSpace(line); len(t) > 0 && t[0] != '#' {
			out = append(out, line...)
			out = append(out, '\n')
		}
	}
	return out
}

func main() {
	n, err := check(os.Stdin)
	if err != nil {
		fmt.Fprintln(os.Stderr, "kubecheck:", err)
		os.Exit(1)
	}
	if n == 0 {
		fmt.Fprintln(os.Stderr, "kubecheck: no objects on stdin")
		os.Exit(1)
	}
	fmt.Printf("kubecheck: %d objects decode strictly\n", n)
}
