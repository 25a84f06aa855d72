package keydir

import (
	"errors"
	"fmt"
	"slices"
	"testing"
)

func TestBuilder_Add(t *testing.T) {
	tests := []struct {
		name    string
		keys    []string
		wantErr error // from the last Add; earlier ones must succeed
	}{
		{"empty", nil, nil},
		{"ascending", []string{"", "\x00", "a", "a\x00", "b", "\xff"}, nil},
		{"duplicate", []string{"a", "b", "b"}, ErrUnsorted},
		{"descending", []string{"a", "c", "b"}, ErrUnsorted},
		{"prefix after longer key", []string{"ab", "a"}, ErrUnsorted},
		{"empty key after a key", []string{"a", ""}, ErrUnsorted},
		{"too large", []string{"a", "b" + string(make([]byte, MaxKeyBytes))}, ErrKeyTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := NewBuilder(len(tt.keys))
			for i, k := range tt.keys {
				err := b.Add([]byte(k), ent(uint64(i+1)))
				if i < len(tt.keys)-1 || tt.wantErr == nil {
					if err != nil {
						t.Fatalf("Add(%q): %v", k, err)
					}
				} else if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Add(%q) = %v, want %v", k, err, tt.wantErr)
				}
			}
			m := b.Map()
			mustCheck(t, m)
			want := tt.keys
			if tt.wantErr != nil {
				want = want[:len(want)-1] // a refused key is not added
			}
			if got := ascendAll(m, nil, nil, 100); !slices.Equal(got, want) {
				t.Fatalf("Ascend = %q, want %q", got, want)
			}
			for i, k := range want {
				if e, ok := m.Get([]byte(k)); !ok || e != ent(uint64(i+1)) {
					t.Fatalf("Get(%q) = %+v, %v", k, e, ok)
				}
			}
		})
	}
}

func TestBuilder_MapThenMutate(t *testing.T) {
	c := defaultConfig()
	c.maxBlock = 8
	b := newBuilder(0, c)
	var want []string
	for i := range 100 {
		k := fmt.Sprintf("k%03d", i*2)
		if err := b.Add([]byte(k), ent(uint64(i+1))); err != nil {
			t.Fatal(err)
		}
		want = append(want, k)
	}
	m := b.Map()
	if b.Map() != m {
		t.Fatal("second Map call returned another Map")
	}
	mustCheck(t, m)
	for i := range 100 {
		k := fmt.Sprintf("k%03d", i*2+1)
		m.Put([]byte(k), ent(uint64(1000+i)))
		want = append(want, k)
	}
	m.Delete([]byte("k000"))
	want = slices.DeleteFunc(want, func(s string) bool { return s == "k000" })
	slices.Sort(want)
	mustCheck(t, m)
	if got := ascendAll(m, nil, nil, 1000); !slices.Equal(got, want) {
		t.Fatalf("Ascend after mutations: %d keys, want %d", len(got), len(want))
	}

	defer func() {
		if recover() == nil {
			t.Fatal("Add after Map did not panic")
		}
	}()
	b.Add([]byte("z"), ent(1))
}
