package server

import (
	"math"
	"testing"
)

func TestSnapshotDue(t *testing.T) {
	tests := []struct {
		name       string
		minEntries uint64
		since      logSince
		lastSize   uint64
		slack      uint64
		want       bool
	}{
		{"no snapshot yet, too few entries", 1024, logSince{1023, 1 << 20}, 0, 0, false},
		{"no snapshot yet, enough entries", 1024, logSince{1024, 100}, 0, 0, true},
		{"enough entries, log smaller than the snapshot", 1024, logSince{5000, 1 << 20}, 8 << 20, 0, false},
		{"enough entries, log as large as the snapshot", 1024, logSince{30000, 8 << 20}, 8 << 20, 0, true},
		{"log larger than the snapshot, too few entries", 1024, logSince{1000, 64 << 20}, 8 << 20, 0, false},
		{"huge state, small entries: bounded by the entry limit", 1024, logSince{1024 * snapshotMaxLogFactor, 50 << 20}, 1 << 30, 0, true},
		{"huge state, just under the entry limit", 1024, logSince{1024*snapshotMaxLogFactor - 1, 50 << 20}, 1 << 30, 0, false},
		{"large state: the log's memory caps the wait", 1024, logSince{200000, snapshotMaxLogBytes}, 273 << 20, 0, true},
		{"large state, log just under the cap", 1024, logSince{200000, snapshotMaxLogBytes - 1}, 273 << 20, 0, false},
		{"minEntries 1", 1, logSince{1, 10}, 10, 0, true},
		{"minEntries 0 behaves as 1", 0, logSince{0, 0}, 0, 0, false},
		{"log as large as the snapshot, under its slack", 1024, logSince{30000, 8 << 20}, 8 << 20, 25, false},
		{"log as large as the snapshot and its slack", 1024, logSince{30000, 10 << 20}, 8 << 20, 25, true},
		{"large state: the cap plus the slack", 1024, logSince{200000, snapshotMaxLogBytes + snapshotMaxLogBytes/100*49}, 273 << 20, 49, true},
		{"large state: just under the cap plus the slack", 1024, logSince{200000, snapshotMaxLogBytes + snapshotMaxLogBytes/100*49 - 1}, 273 << 20, 49, false},
		{"small state: slack on nothing, minEntries decides", 1024, logSince{1024, 0}, 0, 49, true},
		{"the entry limit ignores the slack", 1024, logSince{1024 * snapshotMaxLogFactor, 50 << 20}, 1 << 30, 49, true},
		{"huge minEntries: the limit does not overflow", math.MaxUint64 / 2, logSince{math.MaxUint64 / 2, 1}, 2, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := snapshotDue(tt.minEntries, tt.since, tt.lastSize, tt.slack); got != tt.want {
				t.Errorf("snapshotDue(%d, %+v, %d, %d) = %v, want %v", tt.minEntries, tt.since, tt.lastSize, tt.slack, got, tt.want)
			}
		})
	}
}

// Nodes draw different slacks, so that they do not all snapshot at the
// same index; a slack never reaches snapshotSlackPercent.
func TestDrawSnapshotSlack(t *testing.T) {
	seen := map[uint64]bool{}
	for range 1000 {
		s := drawSnapshotSlack()
		if s >= snapshotSlackPercent {
			t.Fatalf("drawSnapshotSlack() = %d, want < %d", s, snapshotSlackPercent)
		}
		seen[s] = true
	}
	if len(seen) < snapshotSlackPercent/2 {
		t.Errorf("1000 draws gave %d different slacks, want most of the %d", len(seen), snapshotSlackPercent)
	}
}
