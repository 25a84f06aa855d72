package client

import (
	"context"
	"fmt"
	"testing"

	"google.golang.org/grpc/balancer"
	"google.golang.org/grpc/balancer/base"
	"google.golang.org/grpc/resolver"

	caskadev1 "github.com/caskade/caskade/api/v1"
)

// fakeSC is a SubConn the picker only compares.
type fakeSC struct {
	balancer.SubConn
	addr string
}

// buildPicker returns a picker over addrs with leader marked ("" none).
func buildPicker(addrs []string, leader string, authoritative bool) *picker {
	ready := map[balancer.SubConn]base.SubConnInfo{}
	for _, a := range addrs {
		ready[&fakeSC{addr: a}] = base.SubConnInfo{Address: resolver.Address{Addr: a}}
	}
	pb := &pickerBuilder{view: newView(false), leader: leader, authoritative: authoritative}
	return pb.Build(base.PickerBuildInfo{ReadySCs: ready}).(*picker)
}

func TestPicker_Pick(t *testing.T) {
	nodes := []string{"n1:1", "n2:1", "n3:1"}
	stale := context.WithValue(context.Background(), consistencyKey{}, ConsistencyStale)
	lin := context.Background()
	tests := []struct {
		name          string
		addrs         []string
		leader        string
		authoritative bool
		method        string
		ctx           context.Context
		want          map[string]int // picks per address of 6 calls; nil: errNoLeader
	}{
		{"put to leader", nodes, "n2:1", true, caskadev1.KV_Put_FullMethodName, lin, map[string]int{"n2:1": 6}},
		{"linearizable get to leader", nodes, "n2:1", true, caskadev1.KV_Get_FullMethodName, lin, map[string]int{"n2:1": 6}},
		{"stale get to followers", nodes, "n2:1", true, caskadev1.KV_Get_FullMethodName, stale, map[string]int{"n1:1": 3, "n3:1": 3}},
		{"stale consume stream to followers", nodes, "n2:1", true, caskadev1.Log_ConsumeStream_FullMethodName, stale, map[string]int{"n1:1": 3, "n3:1": 3}},
		{"stale get, leader alone", []string{"n2:1"}, "n2:1", true, caskadev1.KV_Get_FullMethodName, stale, map[string]int{"n2:1": 6}},
		{"stale put still to leader", nodes, "n2:1", true, caskadev1.KV_Put_FullMethodName, stale, map[string]int{"n2:1": 6}},
		{"get servers anywhere", nodes, "n2:1", true, caskadev1.Cluster_GetServers_FullMethodName, lin, map[string]int{"n1:1": 2, "n2:1": 2, "n3:1": 2}},
		{"status to leader", nodes, "n2:1", true, caskadev1.Cluster_Status_FullMethodName, lin, map[string]int{"n2:1": 6}},
		{"put, leader lost", []string{"n1:1", "n3:1"}, "n2:1", true, caskadev1.KV_Put_FullMethodName, lin, nil},
		{"put, election", nodes, "", true, caskadev1.KV_Put_FullMethodName, lin, nil},
		{"status, election", nodes, "", true, caskadev1.Cluster_Status_FullMethodName, lin, map[string]int{"n1:1": 2, "n2:1": 2, "n3:1": 2}},
		{"put, seeds only", nodes, "", false, caskadev1.KV_Put_FullMethodName, lin, map[string]int{"n1:1": 2, "n2:1": 2, "n3:1": 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := buildPicker(tt.addrs, tt.leader, tt.authoritative)
			got := map[string]int{}
			for range 6 {
				ci := &callInfo{cons: consistencyOf(tt.ctx)}
				res, err := p.Pick(balancer.PickInfo{FullMethodName: tt.method, Ctx: context.WithValue(tt.ctx, callInfoKey{}, ci)})
				if tt.want == nil {
					if err != errNoLeader || !ci.noLeader.Load() {
						t.Fatalf("pick: %v, %v; want errNoLeader", res, err)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				addr := res.SubConn.(*fakeSC).addr
				if ci.address() != addr {
					t.Fatalf("callInfo says %q, picked %q", ci.address(), addr)
				}
				got[addr]++
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Fatalf("picks %v, want %v", got, tt.want)
			}
		})
	}
}

// BenchmarkPicker_Pick is the picker's cost per call.
func BenchmarkPicker_Pick(b *testing.B) {
	p := buildPicker([]string{"n1:1", "n2:1", "n3:1"}, "n2:1", true)
	for _, bc := range []struct {
		name, method string
		cons         Consistency
	}{
		{"write", caskadev1.KV_Put_FullMethodName, ConsistencyLinearizable},
		{"stale", caskadev1.KV_Get_FullMethodName, ConsistencyStale},
	} {
		b.Run(bc.name, func(b *testing.B) {
			ctx := context.WithValue(context.Background(), callInfoKey{}, &callInfo{cons: bc.cons})
			info := balancer.PickInfo{FullMethodName: bc.method, Ctx: ctx}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := p.Pick(info); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
