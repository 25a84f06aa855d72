package main

import (
	"strings"
	"testing"
)

func TestCheck(t *testing.T) {
	svc := "apiVersion: v1\nkind: Service\nmetadata:\n  name: s\nspec:\n  clusterIP: None\n"
	tests := []struct {
		name    string
		in      string
		want    int
		wantErr string // "" means no error
	}{
		{"one object", svc, 1, ""},
		{"two objects and a comment-only document", "---\n# Source: a\n" + svc + "---\n# Source: b (empty)\n---\n" + svc, 2, ""},
		{"unknown field", "apiVersion: v1\nkind: Service\nmetadata:\n  name: s\nspec:\n  clusterIp: None\n", 0, `unknown field "spec.clusterIp"`},
		{"duplicate field", "apiVersion: v1\nkind: Service\nmetadata:\n  name: s\n  name: t\n", 0, "already set"},
		{"wrong type", "apiVersion: apps/v1\nkind: StatefulSet\nmetadata:\n  name: st\nspec:\n  replicas: three\n", 0, "StatefulSet \"st\""},
		{"kind the chart does not make", "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n", 0, "not a kind the chart makes"},
		{"old apiVersion", "apiVersion: policy/v1beta1\nkind: PodDisruptionBudget\nmetadata:\n  name: p\n", 0, "not a kind the chart makes"},
		{"not YAML", "apiVersion: [\n", 0, "document 1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n, err := check(strings.NewReader(tc.in))
			if tc.wantErr == "" {
				if err != nil || n != tc.want {
					t.Fatalf("check = %d, %v; want %d, nil", n, err, tc.want)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("check = %d, %v; want an error containing %q", n, err, tc.wantErr)
			}
		})
	}
}
