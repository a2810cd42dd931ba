package main

import (
	"testing"
	"time"
)

func TestGroupsRelease(t *testing.T) {
	t0 := time.Unix(1000, 0)
	ms := time.Millisecond
	tests := []struct {
		name     string
		arrivals []time.Duration // since t0
		at       time.Duration   // release at t0 + at
		want     int             // released
	}{
		{"none waiting", nil, 10 * ms, 0},
		{"not yet due", []time.Duration{0}, 3 * ms, 0},
		{"due exactly", []time.Duration{0}, 4 * ms, 1},
		{"due in arrival order", []time.Duration{0, ms, 2 * ms, 5 * ms}, 6 * ms, 3},
		{"all due", []time.Duration{0, ms}, time.Second, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := &groups{delay: 4 * ms}
			var dones []<-chan struct{}
			for _, a := range tc.arrivals {
				dones = append(dones, g.hold(t0.Add(a)))
			}
			if got := g.release(t0.Add(tc.at)); got != tc.want {
				t.Fatalf("release = %d, want %d", got, tc.want)
			}
			for i, d := range dones {
				select {
				case <-d:
					if i >= tc.want {
						t.Errorf("request %d answered before it was due", i)
					}
				default:
					if i < tc.want {
						t.Errorf("request %d not answered", i)
					}
				}
			}
			if left := len(g.queue); left != len(tc.arrivals)-tc.want {
				t.Errorf("%d left waiting, want %d", left, len(tc.arrivals)-tc.want)
			}
		})
	}
}
